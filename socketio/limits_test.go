package socketio_test

import (
	"errors"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddy-socketio/caddy-socketio/socketio"
	"github.com/caddy-socketio/caddy-socketio/socketio/siotest"
)

func limitServer(t *testing.T, l socketio.Limits) (*socketio.Server, *siotest.LogBuffer, *httptest.Server) {
	t.Helper()
	logs := new(siotest.LogBuffer)
	srv, hs := newTestServer(t, &socketio.Options{
		Limits: l,
		Logger: slog.New(slog.NewTextHandler(logs, nil)),
	})
	return srv, logs, hs
}

func TestLimitNamespaces(t *testing.T) {
	srv, logs, url := limitServer(t, socketio.Limits{MaxNamespaces: 2})
	srv.Of("/a")
	srv.Of("/b")
	c := dialWS(t, url)
	c.Connect("/", "")
	c.Connect("/a", "")
	for range 2 {
		c.Send("40/b,")
		if got := c.Read(); got != `44/b,{"message":"Too many namespaces"}` {
			t.Fatalf("got %q", got)
		}
	}
	// The connection and its namespaces stay; leaving one makes room.
	c.Send("41/a,")
	c.Connect("/b", "")
	if st := srv.LimitStats(); st.Namespaces != 2 {
		t.Fatalf("namespaces hits %d, want 2", st.Namespaces)
	}
	if n := logs.Count("too many namespaces"); n != 1 {
		t.Fatalf("logged %d times, want once per connection", n)
	}
}

func TestLimitRoomsPerSocket(t *testing.T) {
	srv, logs, url := limitServer(t, socketio.Limits{MaxRoomsPerSocket: 3})
	sockets := make(chan *socketio.Socket, 1)
	srv.Of("/").OnConnection(func(s *socketio.Socket) { sockets <- s })
	c := dialWS(t, url)
	c.Connect("/", "")
	s := <-sockets
	if err := s.Join("a", "b"); err != nil { // own room + 2 = 3
		t.Fatal(err)
	}
	if err := s.Join("a", "c"); !errors.Is(err, socketio.ErrTooManyRooms) {
		t.Fatalf("join over the limit: %v", err)
	}
	if err := s.Join("b", "a"); err != nil { // already in: no new room
		t.Fatal(err)
	}
	if err := srv.Of("/").SocketsJoin("d"); err != nil { // the bulk join skips it
		t.Fatal(err)
	}
	if got := len(s.Rooms()); got != 3 {
		t.Fatalf("socket in %d rooms (%v), want 3", got, s.Rooms())
	}
	if st := srv.LimitStats(); st.Rooms != 2 {
		t.Fatalf("rooms hits %d, want 2", st.Rooms)
	}
	if n := logs.Count("too many rooms"); n != 1 {
		t.Fatalf("logged %d times, want once per socket", n)
	}
	// A raised limit applies to the next join.
	srv.SetLimits(socketio.Limits{MaxRoomsPerSocket: 4})
	if err := s.Join("c"); err != nil {
		t.Fatal(err)
	}
}

func TestLimitAttachments(t *testing.T) {
	srv, logs, url := limitServer(t, socketio.Limits{MaxAttachments: 2})
	got := make(chan int, 1)
	srv.Of("/").OnConnection(func(s *socketio.Socket) {
		s.On("bin", func(args []any, _ socketio.Ack) { got <- len(args) })
	})
	ok := dialWS(t, url)
	ok.Connect("/", "")
	ok.Send(`452-["bin",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`)
	ok.SendBinary([]byte{1})
	ok.SendBinary([]byte{2})
	if n := <-got; n != 2 {
		t.Fatalf("handler got %d args", n)
	}
	bad := dialWS(t, url)
	bad.Connect("/", "")
	bad.Send(`453-["bin",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1},{"_placeholder":true,"num":2}]`)
	bad.ExpectClosed()
	if st := srv.LimitStats(); st.Attachments != 1 {
		t.Fatalf("attachments hits %d, want 1", st.Attachments)
	}
	if n := logs.Count("too many attachments"); n != 1 {
		t.Fatalf("logged %d times", n)
	}
	ok.Send(`42["still-here"]`) // the other connection is unaffected
	ok.ExpectNothing(50 * time.Millisecond)
}

func TestLimitEventRate(t *testing.T) {
	srv, logs, url := limitServer(t, socketio.Limits{EventRate: 20, EventBurst: 10})
	reasons := make(chan socketio.Reason, 2)
	var mu sync.Mutex
	handled := map[string]int{}
	srv.Of("/").OnConnection(func(s *socketio.Socket) {
		s.On("msg", func(args []any, _ socketio.Ack) {
			mu.Lock()
			handled[args[0].(string)]++
			mu.Unlock()
		})
		s.OnDisconnect(func(r socketio.Reason) { reasons <- r })
	})
	calm := dialWS(t, url)
	calm.Connect("/", "")
	flood := dialWS(t, url)
	flood.Connect("/", "")

	// The burst goes through; the first event beyond it cuts the socket off.
	for range 200 {
		if flood.Write(1, []byte(`42["msg","flood"]`)) != nil {
			break // the server may already have closed it
		}
	}
	if got := flood.Read(); got != "41" {
		t.Fatalf("flooder got %q, want a DISCONNECT packet", got)
	}
	if r := <-reasons; r != socketio.ReasonRateLimited {
		t.Fatalf("reason %q", r)
	}
	// The calm client, at 10 events/s, stays connected and served.
	for range 5 {
		calm.Send(`42["msg","calm"]`)
		time.Sleep(100 * time.Millisecond)
	}
	calm.Send(`421["msg","calm"]`)
	calm.ExpectNothing(50 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	// The bucket refills (20/s) while the events arrive, so a stalled test
	// machine may let a few more than the burst pass.
	if n := handled["flood"]; n < 10 || n > 20 {
		t.Fatalf("flooder's events handled: %d, want the burst of 10 (+ refill)", n)
	}
	if handled["calm"] != 6 {
		t.Fatalf("calm events handled: %d, want 6", handled["calm"])
	}
	select {
	case r := <-reasons:
		t.Fatalf("calm client disconnected: %s", r)
	default:
	}
	if st := srv.LimitStats(); st.EventRate != 1 {
		t.Fatalf("event_rate hits %d, want 1", st.EventRate)
	}
	if n := logs.Count("event rate exceeded"); n != 1 {
		t.Fatalf("logged %d times", n)
	}
}

// A client-chosen string in a log line (here a namespace name) cannot forge
// another line: the handler quotes it.
func TestLogLinesCannotBeForged(t *testing.T) {
	_, logs, hs := limitServer(t, socketio.Limits{MaxNamespaces: 1})
	c := dialWS(t, hs)
	c.Connect("/", "")
	c.Send(`40/x" level=ERROR msg="forged,`)
	c.Read() // CONNECT_ERROR
	text := logs.String()
	if strings.Count(text, "\n") != 1 || strings.Contains(text, `msg="forged`) {
		t.Fatalf("log lines:\n%s", text)
	}
}
