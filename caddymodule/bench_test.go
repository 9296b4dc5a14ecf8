package caddymodule

import (
	"fmt"
	"testing"

	"github.com/caddy-socketio/caddy-socketio/caddymodule/caddytest"
	"github.com/caddy-socketio/caddy-socketio/socketio/siotest"
)

// BenchmarkCaddyBroadcastRoom1000 is socketio's BenchmarkBroadcastRoom1000
// with the clients connected through Caddy and this module: the difference
// between the two is the module's overhead on fan-out.
func BenchmarkCaddyBroadcastRoom1000(b *testing.B) {
	port := caddytest.FreePort(b)
	if err := caddytest.LoadCaddyfile(b, site(port, `socketio {
		ping_interval 1h
		ping_timeout 1h
	}`)); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { stopCaddy(b) })
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	clients := make([]*siotest.Client, 1000)
	for i := range clients {
		clients[i] = siotest.Dial(b, addr, "/socket.io/")
	}
	var h *hub
	hubs.Range(func(_, v any) bool { h, _ = v.(*hub); return h == nil })
	if h == nil {
		b.Fatal("no hub")
	}
	nsp := h.srv.Of("/")
	if err := nsp.SocketsJoin("room"); err != nil {
		b.Fatal(err)
	}
	payload := map[string]any{"text": "hello everyone in the room", "n": 1}
	frame := 2 + len(`42["room-message",{"n":1,"text":"hello everyone in the room"}]`)
	siotest.FanOut(b, clients, frame, func() error { return nsp.To("room").Emit("room-message", payload) })
	for _, c := range clients {
		_ = c.Conn.Close()
	}
}

// BenchmarkCaddyRelayRoom1000 is a relay rule's fan-out: one client emits
// "chat" and the rule re-emits it as "message" to the 1,000 clients of its
// room. Each op is one client event; deliveries/s counts frames read.
func BenchmarkCaddyRelayRoom1000(b *testing.B) {
	port := caddytest.FreePort(b)
	if err := caddytest.LoadCaddyfile(b, site(port, `socketio {
		ping_interval 1h
		ping_timeout 1h
		namespace / {
			relay chat message {
				to namespace
				include_sender off
			}
		}
	}`)); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { stopCaddy(b) })
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	sender := siotest.DialWS(b, "http://"+addr, "", nil)
	sender.Connect("/", "")
	clients := make([]*siotest.Client, 1000)
	for i := range clients {
		clients[i] = siotest.Dial(b, addr, "/socket.io/")
	}
	msg := `42["chat",{"n":1,"text":"hello everyone in the room"}]`
	frame := 2 + len(`42["message",{"n":1,"text":"hello everyone in the room"}]`)
	siotest.FanOut(b, clients, frame, func() error { sender.Send(msg); return nil })
	for _, c := range clients {
		_ = c.Conn.Close()
	}
}
