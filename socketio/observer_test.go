package socketio_test

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/caddy-socketio/caddy-socketio/socketio"
)

// recorder collects what an Observer is told, as strings.
type recorder struct {
	mu  sync.Mutex
	got []string
}

func (r *recorder) add(s string) {
	r.mu.Lock()
	r.got = append(r.got, s)
	r.mu.Unlock()
}

func (r *recorder) wait(t *testing.T, want string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		r.mu.Lock()
		ok := slices.Contains(r.got, want)
		r.mu.Unlock()
		if ok {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	t.Fatalf("%q not observed in %q", want, r.got)
}

func (r *recorder) count(prefix string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, g := range r.got {
		if g == prefix {
			n++
		}
	}
	return n
}

// An observer sees joins of rooms the socket was not in (once), leaves of
// rooms it was in, no refused join, events both ways, every room left on
// disconnect, and nothing once removed.
func TestObserver(t *testing.T) {
	srv, hs := newTestServer(t, &socketio.Options{Limits: socketio.Limits{MaxRoomsPerSocket: 3}})
	rec := &recorder{}
	remove := srv.Observe(&socketio.Observer{
		NamespaceCreated:   func(n *socketio.Namespace) { rec.add("nsp " + n.Name()) },
		SocketConnected:    func(s *socketio.Socket) { rec.add("connected") },
		SocketDisconnected: func(s *socketio.Socket, r socketio.Reason) { rec.add("disconnected " + string(r)) },
		RoomJoined:         func(s *socketio.Socket, r socketio.Room) { rec.add("join " + string(r)) },
		RoomLeft:           func(s *socketio.Socket, r socketio.Room) { rec.add("leave " + string(r)) },
		EventReceived:      func(s *socketio.Socket, ev string, _ []any) { rec.add("in " + ev) },
		EventSent:          func(s *socketio.Socket, ev string, _ []any) { rec.add("out " + ev) },
		DataChanged:        func(s *socketio.Socket, v any) { rec.add("data " + v.(string)) },
	})
	srv.Of("/").OnConnection(func(s *socketio.Socket) {
		s.On("go", func(_ []any, _ socketio.Ack) {
			_ = s.Join("a", "b")
			_ = s.Join("a")      // already in: not observed again
			_ = s.Join("c", "d") // over the limit (own + a + b + 2): refused, not observed
			s.Leave("nowhere")   // not in it: not observed
			s.Leave("b")
			s.SetData("x")
			_ = s.Emit("done")
		})
	})
	srv.Of("/other")
	rec.wait(t, "nsp /other")

	c := dialWS(t, hs)
	id := c.Connect("/", "")
	rec.wait(t, "connected")
	rec.wait(t, "join "+id)
	c.Emit("/", -1, "go")
	c.Expect(`42["done"]`)
	rec.wait(t, "out done")
	for _, want := range []string{"in go", "join a", "join b", "leave b", "data x"} {
		rec.wait(t, want)
	}
	for _, never := range []string{"join c", "join d", "leave nowhere"} {
		if rec.count(never) != 0 {
			t.Errorf("observed %q", never)
		}
	}
	if n := rec.count("join a"); n != 1 {
		t.Errorf("join a observed %d times", n)
	}
	c.Send("41")
	rec.wait(t, "disconnected client namespace disconnect")
	rec.wait(t, "leave a")
	rec.wait(t, "leave "+id)

	remove()
	c.Connect("/", "")
	time.Sleep(50 * time.Millisecond)
	if n := rec.count("connected"); n != 1 {
		t.Fatalf("connected observed %d times after removal", n)
	}
}
