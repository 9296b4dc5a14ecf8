package socketio_test

import (
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/caddy-socketio/caddy-socketio/socketio"
	"github.com/caddy-socketio/caddy-socketio/socketio/engine"
)

// TestHandlerPanicClosesOnlyThatConnection: an event handler or a
// connection handler that panics costs its own connection (close code
// 1011), is counted, and the server goes on serving the others.
func TestHandlerPanicClosesOnlyThatConnection(t *testing.T) {
	srv, hs := newTestServer(t, nil)
	srv.Of("/").OnConnection(func(s *socketio.Socket) {
		s.On("boom", func([]any, socketio.Ack) { panic("event handler bug") })
		s.On("echo", func(args []any, ack socketio.Ack) { _ = ack(args...) })
	})
	srv.Of("/broken").OnConnection(func(*socketio.Socket) { panic("connection handler bug") })
	before := srv.Engine().Stats().Panics

	other := dialWS(t, hs)
	other.Connect("/", "")
	for _, first := range []string{`42["boom"]`, "40/broken,"} {
		u := "ws" + strings.TrimPrefix(hs.URL, "http") + "/socket.io/?EIO=4&transport=websocket"
		c, _, err := websocket.DefaultDialer.Dial(u, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, _, _ = c.ReadMessage() // open
		if first[1] == '2' {
			_ = c.WriteMessage(websocket.TextMessage, []byte("40"))
			_, _, _ = c.ReadMessage() // connect reply
		}
		_ = c.WriteMessage(websocket.TextMessage, []byte(first))
		for i := 0; i < 100 && err == nil; i++ {
			_, _, err = c.ReadMessage()
		}
		if !websocket.IsCloseError(err, 1011) {
			t.Fatalf("after %s: %v, want close 1011", first, err)
		}
	}
	other.Emit("/", 1, "echo", "still here")
	other.Expect(`431["still here"]`)
	if n := srv.Engine().Stats().Panics - before; n != 2 {
		t.Fatalf("%d panics counted, want 2", n)
	}
	if engine.Panics() < 2 {
		t.Fatal("process-wide count missing")
	}
}

// TestAckTimeoutPanic: a panic in an acknowledgement-timeout callback (a
// timer goroutine) closes that connection only, and is counted.
func TestAckTimeoutPanic(t *testing.T) {
	srv, hs := newTestServer(t, nil)
	srv.Of("/").OnConnection(func(s *socketio.Socket) {
		_ = s.EmitAck(10*time.Millisecond, func([]any, error) { panic("ack callback bug") }, "question")
	})
	before := srv.Engine().Stats().Panics
	u := "ws" + strings.TrimPrefix(hs.URL, "http") + "/socket.io/?EIO=4&transport=websocket"
	c, _, err := websocket.DefaultDialer.Dial(u, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_ = c.WriteMessage(websocket.TextMessage, []byte("40"))
	for i := 0; i < 100 && err == nil; i++ {
		_, _, err = c.ReadMessage() // open, connect reply, the question: never answered
	}
	if !websocket.IsCloseError(err, 1011) {
		t.Fatalf("%v, want close 1011", err)
	}
	if n := srv.Engine().Stats().Panics - before; n != 1 {
		t.Fatalf("%d panics counted, want 1", n)
	}
}
