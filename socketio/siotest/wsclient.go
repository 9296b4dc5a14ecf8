package siotest

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// Wait bounds every wait of a WSClient.
const Wait = 5 * time.Second

// WSClient speaks raw Engine.IO/Socket.IO frames over a websocket, for
// tests that check what is on the wire. A goroutine reads frames into a
// channel and answers pings, because a gorilla connection is unusable after
// a read deadline expires.
type WSClient struct {
	t    testing.TB
	Conn *websocket.Conn
	// SID is the Engine.IO session id from the open packet.
	SID    string
	frames chan string // closed when the connection ends
	wmu    sync.Mutex
}

// DialWS opens a websocket session at baseURL (http://host:port) under
// /socket.io/, with extra query parameters and headers, and reads the open
// packet. The connection is closed when the test ends.
func DialWS(t testing.TB, baseURL, query string, header http.Header) *WSClient {
	t.Helper()
	u := "ws" + strings.TrimPrefix(baseURL, "http") + "/socket.io/?EIO=4&transport=websocket"
	if query != "" {
		u += "&" + query
	}
	d := websocket.Dialer{HandshakeTimeout: Wait}
	conn, _, err := d.Dial(u, header)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	c := &WSClient{t: t, Conn: conn, frames: make(chan string, 4096)}
	go c.readLoop()
	open := c.Read()
	if !strings.HasPrefix(open, "0{") {
		t.Fatalf("open packet %q", open)
	}
	var hs struct{ Sid string }
	if err := json.Unmarshal([]byte(open[1:]), &hs); err != nil {
		t.Fatal(err)
	}
	c.SID = hs.Sid
	return c
}

func (c *WSClient) readLoop() {
	defer close(c.frames)
	for {
		typ, data, err := c.Conn.ReadMessage()
		if err != nil {
			return
		}
		switch {
		case typ == websocket.BinaryMessage:
			c.frames <- "bin:" + string(data)
		case string(data) == "2":
			_ = c.write(websocket.TextMessage, []byte("3"))
		default:
			c.frames <- string(data)
		}
	}
}

// Frames is the channel of frames Read takes from (closed when the
// connection ends), for callers that wait with their own deadline.
func (c *WSClient) Frames() <-chan string { return c.frames }

// NspPrefix is how a namespace appears in packets: nothing for "/", else
// the name and a comma.
func NspPrefix(nsp string) string {
	if nsp == "/" {
		return ""
	}
	return nsp + ","
}

// Connect joins nsp with an auth payload (JSON or "") and returns the
// socket id of the CONNECT reply.
func (c *WSClient) Connect(nsp, auth string) string {
	c.t.Helper()
	reply := c.ConnectRaw(nsp, auth)
	p := "40" + NspPrefix(nsp)
	if !strings.HasPrefix(reply, p+`{"sid":"`) {
		c.t.Fatalf("connect reply %q", reply)
	}
	var body struct{ Sid string }
	if err := json.Unmarshal([]byte(strings.TrimPrefix(reply, p)), &body); err != nil {
		c.t.Fatal(err)
	}
	return body.Sid
}

// ConnectRaw sends CONNECT and returns the first reply.
func (c *WSClient) ConnectRaw(nsp, auth string) string {
	c.t.Helper()
	c.Send("40" + NspPrefix(nsp) + auth)
	return c.Read()
}

// Write writes one frame of type typ (websocket.TextMessage or
// BinaryMessage); safe to call from several goroutines.
func (c *WSClient) Write(typ int, b []byte) error { return c.write(typ, b) }

func (c *WSClient) write(typ int, b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.Conn.SetWriteDeadline(time.Now().Add(Wait))
	return c.Conn.WriteMessage(typ, b)
}

// Send writes a text frame.
func (c *WSClient) Send(text string) {
	c.t.Helper()
	if err := c.write(websocket.TextMessage, []byte(text)); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// SendBinary writes a binary frame.
func (c *WSClient) SendBinary(b []byte) {
	c.t.Helper()
	if err := c.write(websocket.BinaryMessage, b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// Emit sends an event in nsp; ackID < 0 asks for no ack.
func (c *WSClient) Emit(nsp string, ackID int, event string, args ...any) {
	c.t.Helper()
	data, err := json.Marshal(append([]any{event}, args...))
	if err != nil {
		c.t.Fatal(err)
	}
	id := ""
	if ackID >= 0 {
		id = strconv.Itoa(ackID)
	}
	c.Send("42" + NspPrefix(nsp) + id + string(data))
}

// Read returns the next text frame, or a binary payload prefixed by "bin:".
func (c *WSClient) Read() string {
	c.t.Helper()
	select {
	case f, ok := <-c.frames:
		if !ok {
			c.t.Fatal("connection closed")
		}
		return f
	case <-time.After(Wait):
		c.t.Fatal("no frame in time")
	}
	return ""
}

// Expect reads a frame and compares it.
func (c *WSClient) Expect(want string) {
	c.t.Helper()
	if got := c.Read(); got != want {
		c.t.Fatalf("got %q, want %q", got, want)
	}
}

// ExpectNothing checks that no frame other than pings arrives within d.
func (c *WSClient) ExpectNothing(d time.Duration) {
	c.t.Helper()
	select {
	case f, ok := <-c.frames:
		if ok {
			c.t.Fatalf("unexpected frame %q", f)
		}
	case <-time.After(d):
	}
}

// ExpectClosed checks that the server closes the connection soon.
func (c *WSClient) ExpectClosed() {
	c.t.Helper()
	deadline := time.After(Wait)
	for i := 0; i < 10000; i++ {
		select {
		case _, ok := <-c.frames:
			if !ok {
				return
			}
		case <-deadline:
			c.t.Fatal("connection still open")
		}
	}
	c.t.Fatal("connection still open")
}
