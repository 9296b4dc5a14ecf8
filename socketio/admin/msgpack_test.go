package admin_test

import (
	"strings"
	"testing"
	"time"

	"github.com/caddy-socketio/caddy-socketio/socketio"
	"github.com/caddy-socketio/caddy-socketio/socketio/admin"
	"github.com/caddy-socketio/caddy-socketio/socketio/parser"
	"github.com/caddy-socketio/caddy-socketio/socketio/siotest"
)

// mpConnect connects a socket.io-msgpack-parser client to nsp and returns
// its socket id.
func mpConnect(t *testing.T, c *siotest.WSClient, nsp string) string {
	t.Helper()
	mpSend(t, c, &parser.Packet{Type: parser.Connect, Namespace: nsp})
	p := mpRead(t, c)
	m, _ := p.Data.(map[string]any)
	sid, _ := m["sid"].(string)
	if p.Type != parser.Connect || sid == "" {
		t.Fatalf("connect answer %+v", p)
	}
	return sid
}

func mpSend(t *testing.T, c *siotest.WSClient, p *parser.Packet) {
	t.Helper()
	b, err := parser.EncodeMsgpack(p)
	if err != nil {
		t.Fatal(err)
	}
	c.SendBinary(b)
}

func mpRead(t *testing.T, c *siotest.WSClient) *parser.Packet {
	t.Helper()
	f := c.Read()
	b, ok := strings.CutPrefix(f, "bin:")
	if !ok {
		t.Fatalf("got text frame %q, want a msgpack packet", f)
	}
	p, err := parser.DecodeMsgpack([]byte(b))
	if err != nil {
		t.Fatalf("invalid msgpack packet %x: %v", b, err)
	}
	return p
}

// TestMsgpackClientObserved: the Admin UI (default parser) watches a
// socket.io-msgpack-parser client: it is listed, its events (a Date and
// binary among the arguments) are traced to the UI in the default
// parser's format, and the UI's emit action reaches it in msgpack.
func TestMsgpackClientObserved(t *testing.T) {
	srv, hs := newServer(t, nil)
	srv.Of("/").OnConnection(func(s *socketio.Socket) {
		s.On("echo", func(args []any, _ socketio.Ack) { _ = s.Emit("echoed", args...) })
	})
	instrument(t, srv, admin.Options{NoAuth: true})
	adm := siotest.DialWS(t, hs.URL, "", nil)
	adm.Connect("/admin", "")
	next(t, adm, "config")

	user := siotest.DialWS(t, hs.URL, "", nil)
	uid := mpConnect(t, user, "/")
	var conn serialized
	next(t, adm, "socket_connected").arg(t, 0, &conn)
	if conn.ID != uid || conn.Transport != "websocket" {
		t.Fatalf("socket_connected %+v", conn)
	}

	when := time.Date(2024, 5, 6, 7, 8, 9, 123e6, time.UTC)
	mpSend(t, user, &parser.Packet{Type: parser.Event, Namespace: "/",
		Data: []any{"echo", "hi", when, map[string]any{"n": 1.5}}})
	if p := mpRead(t, user); p.Type != parser.Event {
		t.Fatalf("echo: %+v", p)
	}
	var args []any
	ev := next(t, adm, "event_received")
	ev.arg(t, 2, &args)
	if len(args) != 4 || args[0] != "echo" || args[1] != "hi" || args[2] != "2024-05-06T07:08:09.123Z" {
		t.Fatalf("event_received args %v", args)
	}
	ev = next(t, adm, "event_sent")
	ev.arg(t, 2, &args)
	if len(args) != 4 || args[0] != "echoed" {
		t.Fatalf("event_sent args %v", args)
	}

	// Binary from the msgpack client reaches the UI as an attachment.
	mpSend(t, user, &parser.Packet{Type: parser.Event, Namespace: "/", Data: []any{"echo", []byte{1, 2, 3}}})
	mpRead(t, user)
	for i := 0; ; i++ {
		f := adm.Read()
		if strings.HasPrefix(f, "451-/admin,") && strings.Contains(f, `"event_received"`) {
			if !strings.Contains(f, `"_placeholder":true`) {
				t.Fatalf("binary event_received %q", f)
			}
			if b := adm.Read(); b != "bin:\x01\x02\x03" {
				t.Fatalf("attachment %q", b)
			}
			break
		}
		if i > 50 {
			t.Fatal("no binary event_received")
		}
	}

	// The UI's emit action, to the msgpack client.
	adm.Emit("/admin", -1, "emit", "/", uid, "hello", "world")
	p := mpRead(t, user)
	if a, _ := p.Data.([]any); p.Type != parser.Event || len(a) != 2 || a[0] != "hello" || a[1] != "world" {
		t.Fatalf("emit action: %+v", p)
	}
}
