package hostile

import (
	"strings"
	"testing"
	"time"

	"github.com/caddy-socketio/caddy-socketio/socketio/adapter/redis/redistest"
	"github.com/caddy-socketio/caddy-socketio/socketio/siotest"
)

// Attack 5: on a two-node cluster (two Caddy processes, one Redis), a
// client on node A tries to join and relay into the private room (the
// socket id) of a socket on node B.
func TestCrossNodePrivateRoom(t *testing.T) {
	r := redistest.Start(t)
	site := strings.Replace(defaultSocketio, "socketio {", "socketio {\n\t\tadapter redis "+r.URL()+" {\n\t\t\tprefix hostile\n\t\t}", 1)
	a := startCaddy(t, site)
	b := startCaddy(t, site)
	k := newCanary(t, a, "/")

	victim := siotest.DialWS(t, b.URL, "", nil)
	victimID := victim.Connect("/", "")
	victim.Emit("/", 1, "joinRoom", map[string]any{"room": "lobby"})
	expectFrame(t, victim, `431["lobby"]`)

	var joinAck string
	watch(t, a, k, 30*time.Second, func(<-chan struct{}) {
		c, _, err := dialRaw(a.addr(), nil)
		if err != nil {
			t.Errorf("dial: %v", err)
			return
		}
		defer c.Close()
		_ = c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		if c.sendText("40") != nil {
			return
		}
		if s, err := c.packet(); err != nil || !strings.HasPrefix(s, "40{") {
			t.Errorf("connect: %q %v", s, err)
			return
		}
		_ = c.sendText(`421["joinRoom",{"room":"` + victimID + `"}]`)
		joinAck, _ = c.packet()
		_ = c.sendText(`42["toRoom",{"room":"` + victimID + `","text":"FORBIDDEN"}]`)
		// The control: a public room on the other node is reached.
		_ = c.sendText(`42["toRoom",{"room":"lobby","text":"allowed"}]`)
	})
	if joinAck != `431[null]` {
		t.Errorf("join of the other node's socket id answered %q, want 431[null]", joinAck)
	}
	deadline := time.After(5 * time.Second)
	for {
		select {
		case f, ok := <-victim.Frames():
			if !ok {
				t.Fatal("victim disconnected")
			}
			if strings.Contains(f, "FORBIDDEN") {
				t.Fatalf("the relay into the victim's private room arrived: %s", f)
			}
			if strings.Contains(f, "allowed") {
				return // cross-node delivery works, and the private one did not come first
			}
		case <-deadline:
			t.Fatal("the control relay to lobby did not arrive on the other node: the attack proves nothing")
		}
	}
}

func expectFrame(t *testing.T, c *siotest.WSClient, want string) {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case f, ok := <-c.Frames():
			if !ok {
				t.Fatal("disconnected")
			}
			if f == want {
				return
			}
		case <-deadline:
			t.Fatalf("no %q", want)
		}
	}
}
