package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// waitFor bounds every wait of these tests.
const waitFor = 5 * time.Second

// wsClient speaks raw Engine.IO/Socket.IO frames over a websocket, as in
// socketio/helpers_test.go.
type wsClient struct {
	t      testing.TB
	conn   *websocket.Conn
	frames chan string
	wmu    sync.Mutex
}

func dial(t testing.TB, hs *httptest.Server, query string, header http.Header) *wsClient {
	t.Helper()
	u := "ws" + strings.TrimPrefix(hs.URL, "http") + "/socket.io/?EIO=4&transport=websocket"
	if query != "" {
		u += "&" + query
	}
	d := websocket.Dialer{HandshakeTimeout: waitFor}
	conn, _, err := d.Dial(u, header)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	c := &wsClient{t: t, conn: conn, frames: make(chan string, 4096)}
	go c.readLoop()
	if open := c.read(); !strings.HasPrefix(open, "0{") {
		t.Fatalf("open packet %q", open)
	}
	return c
}

func (c *wsClient) readLoop() {
	defer close(c.frames)
	for {
		typ, data, err := c.conn.ReadMessage()
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

func prefix(nsp string) string {
	if nsp == "/" {
		return ""
	}
	return nsp + ","
}

// connect joins nsp and returns the socket id.
func (c *wsClient) connect(nsp, auth string) string {
	c.t.Helper()
	reply := c.connectRaw(nsp, auth)
	p := "40" + prefix(nsp)
	if !strings.HasPrefix(reply, p+`{"sid":"`) {
		c.t.Fatalf("connect reply %q", reply)
	}
	var body struct{ Sid string }
	if err := json.Unmarshal([]byte(strings.TrimPrefix(reply, p)), &body); err != nil {
		c.t.Fatal(err)
	}
	return body.Sid
}

// connectRaw sends CONNECT and returns the first reply.
func (c *wsClient) connectRaw(nsp, auth string) string {
	c.t.Helper()
	c.send("40" + prefix(nsp) + auth)
	return c.read()
}

func (c *wsClient) write(typ int, b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.conn.SetWriteDeadline(time.Now().Add(waitFor))
	return c.conn.WriteMessage(typ, b)
}

func (c *wsClient) send(text string) {
	c.t.Helper()
	if err := c.write(websocket.TextMessage, []byte(text)); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

func (c *wsClient) sendBinary(b []byte) {
	c.t.Helper()
	if err := c.write(websocket.BinaryMessage, b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// emit sends an event; ackID < 0 asks for no ack.
func (c *wsClient) emit(nsp string, ackID int, event string, args ...any) {
	c.t.Helper()
	data, err := json.Marshal(append([]any{event}, args...))
	if err != nil {
		c.t.Fatal(err)
	}
	id := ""
	if ackID >= 0 {
		id = itoa(ackID)
	}
	c.send("42" + prefix(nsp) + id + string(data))
}

func itoa(i int) string {
	b, _ := json.Marshal(i)
	return string(b)
}

func (c *wsClient) read() string {
	c.t.Helper()
	select {
	case f, ok := <-c.frames:
		if !ok {
			c.t.Fatal("connection closed")
		}
		return f
	case <-time.After(waitFor):
		c.t.Fatal("no frame in time")
	}
	return ""
}

// expectNothing checks that no frame arrives within d.
func (c *wsClient) expectNothing(d time.Duration) {
	c.t.Helper()
	select {
	case f, ok := <-c.frames:
		if ok {
			c.t.Fatalf("unexpected frame %q", f)
		}
	case <-time.After(d):
	}
}

// expect reads a frame and compares it.
func (c *wsClient) expect(want string) {
	c.t.Helper()
	if got := c.read(); got != want {
		c.t.Fatalf("got %q, want %q", got, want)
	}
}

// expectClosed checks that the server closes the connection soon.
func (c *wsClient) expectClosed() {
	c.t.Helper()
	deadline := time.After(waitFor)
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
}
