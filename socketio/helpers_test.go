package socketio_test

import (
	"encoding/json"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/caddy-socketio/caddy-socketio/socketio"
)

// newTestServer serves srv on 127.0.0.1 for the test's lifetime.
func newTestServer(t *testing.T, opts *socketio.Options) (*socketio.Server, *httptest.Server) {
	t.Helper()
	if opts == nil {
		opts = &socketio.Options{}
	}
	if opts.Engine.PingInterval == 0 {
		opts.Engine.PingInterval = time.Second
		opts.Engine.PingTimeout = time.Second
	}
	srv := socketio.NewServer(opts)
	hs := httptest.NewServer(srv)
	t.Cleanup(func() {
		_ = srv.Close()
		hs.Close()
	})
	return srv, hs
}

// wsClient speaks raw Engine.IO/Socket.IO frames over a websocket. A
// goroutine reads frames into a channel (answering pings), because a
// gorilla connection is unusable after a read deadline expires.
type wsClient struct {
	t      *testing.T
	conn   *websocket.Conn
	sid    string
	frames chan string // closed when the connection ends
	wmu    sync.Mutex
}

func dialWS(t *testing.T, hs *httptest.Server) *wsClient {
	t.Helper()
	url := "ws" + strings.TrimPrefix(hs.URL, "http") + "/socket.io/?EIO=4&transport=websocket"
	conn, _, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	c := &wsClient{t: t, conn: conn, frames: make(chan string, 1024)}
	go c.readLoop()
	open := c.read()
	if !strings.HasPrefix(open, "0{") {
		t.Fatalf("open packet %q", open)
	}
	var hs0 struct{ Sid string }
	if err := json.Unmarshal([]byte(open[1:]), &hs0); err != nil {
		t.Fatal(err)
	}
	c.sid = hs0.Sid
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
			c.write(websocket.TextMessage, []byte("3"))
		default:
			c.frames <- string(data)
		}
	}
}

// connect joins nsp and returns the socket id from the CONNECT reply.
func (c *wsClient) connect(nsp, auth string) string {
	c.t.Helper()
	prefix := "40"
	if nsp != "/" {
		prefix += nsp + ","
	}
	c.send(prefix + auth)
	reply := c.read()
	if !strings.HasPrefix(reply, prefix+`{"sid":"`) {
		c.t.Fatalf("connect reply %q", reply)
	}
	var body struct{ Sid string }
	if err := json.Unmarshal([]byte(strings.TrimPrefix(reply, prefix)), &body); err != nil {
		c.t.Fatal(err)
	}
	return body.Sid
}

func (c *wsClient) write(typ int, b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
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

// read returns the next text frame, or a binary payload prefixed by "bin:".
func (c *wsClient) read() string {
	c.t.Helper()
	select {
	case f, ok := <-c.frames:
		if !ok {
			c.t.Fatal("connection closed")
		}
		return f
	case <-time.After(3 * time.Second):
		c.t.Fatal("no frame within 3s")
	}
	return ""
}

// expectNothing checks that no frame other than pings arrives within d.
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

// expectClosed checks that the server closes the connection soon.
func (c *wsClient) expectClosed() {
	c.t.Helper()
	deadline := time.After(3 * time.Second)
	for {
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
