package socketio_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-socketio/caddy-socketio/socketio"
	"github.com/caddy-socketio/caddy-socketio/socketio/adapter"
	"github.com/caddy-socketio/caddy-socketio/socketio/engine"
	"github.com/caddy-socketio/caddy-socketio/socketio/siotest"
)

// recoveryServer serves a namespace "/" where "join" joins a room and sets
// the socket's data, and records each connected socket.
type recoveryServer struct {
	srv     *socketio.Server
	url     string
	mu      sync.Mutex
	sockets map[string]*socketio.Socket
	expired chan adapter.Session
}

func newRecoveryServer(t *testing.T, rec socketio.Recovery) *recoveryServer {
	t.Helper()
	rs := &recoveryServer{sockets: make(map[string]*socketio.Socket), expired: make(chan adapter.Session, 16)}
	rec.OnExpire = func(_ *socketio.Namespace, s adapter.Session) { rs.expired <- s }
	srv, hs := newTestServer(t, &socketio.Options{Recovery: &rec})
	rs.srv, rs.url = srv, hs.URL
	srv.Of("/").OnConnection(func(s *socketio.Socket) {
		rs.mu.Lock()
		rs.sockets[string(s.ID())] = s
		rs.mu.Unlock()
		s.On("join", func(args []any, ack socketio.Ack) {
			room := args[0].(string)
			_ = s.Join(socketio.Room(room))
			s.SetData(map[string]any{"room": room})
			if ack != nil {
				_ = ack(room)
			}
		})
	})
	return rs
}

func (rs *recoveryServer) socket(id string) *socketio.Socket {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return rs.sockets[id]
}

// connectRecovery sends CONNECT with auth and returns sid and pid.
func connectRecovery(t *testing.T, c *wsClient, auth string) (sid, pid string) {
	t.Helper()
	reply := c.ConnectRaw("/", auth)
	var body struct{ Sid, Pid string }
	if !strings.HasPrefix(reply, "40{") || json.Unmarshal([]byte(reply[2:]), &body) != nil || body.Sid == "" || body.Pid == "" {
		t.Fatalf("connect reply %q", reply)
	}
	return body.Sid, body.Pid
}

// event decodes `42[...]` and returns the arguments.
func eventArgs(t *testing.T, frame string) []any {
	t.Helper()
	var args []any
	if !strings.HasPrefix(frame, "42[") || json.Unmarshal([]byte(frame[2:]), &args) != nil {
		t.Fatalf("not an event: %q", frame)
	}
	return args
}

func TestRecoveryRestoresSession(t *testing.T) {
	rs := newRecoveryServer(t, socketio.Recovery{})
	nsp := rs.srv.Of("/")
	a := siotest.DialWS(t, rs.url, "", nil)
	sid, pid := connectRecovery(t, a, "")
	a.Emit("/", 1, "join", "r")
	a.Expect(`431["r"]`)
	if err := nsp.To("r").Emit("m", 1); err != nil {
		t.Fatal(err)
	}
	args := eventArgs(t, a.Read())
	offset, _ := args[len(args)-1].(string)
	if len(args) != 3 || offset == "" {
		t.Fatalf("broadcast without offset: %v", args)
	}
	_ = a.Conn.Close() // the transport drops
	waitFor(t, "the session to be kept", func() bool { return nsp.RecoveryStats().Sessions == 1 })
	waitFor(t, "the old socket", func() bool { return rs.socket(sid) != nil })
	if old := rs.socket(sid); !old.Recoverable() {
		t.Fatal("the socket that dropped is not reported recoverable")
	}
	_ = nsp.To("r").Emit("m", 2)
	_ = nsp.Volatile().To("r").Emit("m", "volatile")                                     // not stored
	_, _ = nsp.To("r").Timeout(50*time.Millisecond).EmitWithAck(t.Context(), "m", "ack") // not stored
	_ = nsp.To("other").Emit("m", "other room")                                          // not for this socket
	_ = nsp.Emit("m", 3)                                                                 // everyone

	b := siotest.DialWS(t, rs.url, "", nil)
	sid2, pid2 := connectRecovery(t, b, fmt.Sprintf(`{"pid":%q,"offset":%q,"token":"x"}`, pid, offset))
	if sid2 != sid || pid2 != pid {
		t.Fatalf("recovered as %s/%s, want %s/%s", sid2, pid2, sid, pid)
	}
	for _, want := range []float64{2, 3} {
		if args := eventArgs(t, b.Read()); args[1] != want {
			t.Fatalf("missed packet %v, want %v", args, want)
		}
	}
	_ = nsp.To("r").Emit("m", 4)
	if args := eventArgs(t, b.Read()); args[1] != float64(4) {
		t.Fatalf("new packet %v", args)
	}
	waitFor(t, "the recovered socket", func() bool { return rs.socket(sid).Recovered() })
	s := rs.socket(sid)
	if !s.Recovered() || !slices.Contains(s.Rooms(), "r") || fmt.Sprint(s.Data()) != "map[room:r]" {
		t.Fatalf("recovered=%v rooms=%v data=%v", s.Recovered(), s.Rooms(), s.Data())
	}
	if _, leaked := s.Handshake().Auth["pid"]; leaked || s.Handshake().Auth["token"] != "x" {
		t.Fatalf("handshake auth %v", s.Handshake().Auth)
	}
	// Events and acks work after recovery.
	b.Emit("/", 7, "join", "r2")
	b.Expect(`437["r2"]`)
	if st := nsp.RecoveryStats(); st.Restored != 1 || st.Sessions != 0 {
		t.Fatalf("stats %+v", st)
	}

	// The pid was taken: using it again (here from a third connection
	// while the socket is live) gets a fresh session.
	c := siotest.DialWS(t, rs.url, "", nil)
	sid3, pid3 := connectRecovery(t, c, fmt.Sprintf(`{"pid":%q,"offset":%q}`, pid, offset))
	if sid3 == sid || pid3 == pid {
		t.Fatal("a live socket's pid took over its session")
	}
}

func TestRecoveryWithoutOffset(t *testing.T) {
	// A client that never received an offset sends {pid} alone: it gets
	// every stored packet since its session began.
	rs := newRecoveryServer(t, socketio.Recovery{})
	nsp := rs.srv.Of("/")
	a := siotest.DialWS(t, rs.url, "", nil)
	sid, pid := connectRecovery(t, a, "")
	_ = a.Conn.Close()
	waitFor(t, "the session to be kept", func() bool { return nsp.RecoveryStats().Sessions == 1 })
	_ = nsp.Emit("m", 1)
	b := siotest.DialWS(t, rs.url, "", nil)
	if sid2, _ := connectRecovery(t, b, fmt.Sprintf(`{"pid":%q}`, pid)); sid2 != sid {
		t.Fatal("not recovered")
	}
	if args := eventArgs(t, b.Read()); args[1] != float64(1) {
		t.Fatalf("missed packet %v", args)
	}
}

func TestRecoveryRefusals(t *testing.T) {
	rs := newRecoveryServer(t, socketio.Recovery{
		RecoveryOptions: adapter.RecoveryOptions{MaxDisconnectionDuration: 300 * time.Millisecond, MaxPackets: 3},
	})
	nsp := rs.srv.Of("/")
	fresh := func(auth string, notSID string) {
		t.Helper()
		c := siotest.DialWS(t, rs.url, "", nil)
		if sid, _ := connectRecovery(t, c, auth); sid == notSID {
			t.Fatalf("auth %s recovered the session", auth)
		}
	}
	drop := func() (sid, pid string) {
		t.Helper()
		a := siotest.DialWS(t, rs.url, "", nil)
		sid, pid = connectRecovery(t, a, "")
		before := nsp.RecoveryStats().Sessions
		_ = a.Conn.Close()
		waitFor(t, "the session to be kept", func() bool { return nsp.RecoveryStats().Sessions == before+1 })
		return sid, pid
	}

	// Forged pid, and a malformed offset.
	sid, pid := drop()
	fresh(`{"pid":"AAAAAAAAAAAAAAAAAAAA","offset":"1"}`, sid)
	fresh(fmt.Sprintf(`{"pid":%q,"offset":"not an offset"}`, pid), sid)
	// The bad offset consumed that session.
	fresh(fmt.Sprintf(`{"pid":%q}`, pid), sid)

	// Packets evicted by MaxPackets: the session cannot be exact.
	sid, pid = drop()
	for i := range 5 {
		_ = nsp.Emit("m", i)
	}
	fresh(fmt.Sprintf(`{"pid":%q}`, pid), sid)
	if st := nsp.RecoveryStats(); st.EvictedForSize == 0 || st.BufferedPackets != 3 {
		t.Fatalf("stats %+v", st)
	}

	// Expiry: the session is gone after the window, OnExpire says so.
	sid, pid = drop()
	select {
	case s := <-rs.expired:
		if string(s.SID) != sid {
			t.Fatalf("expired %s, want %s", s.SID, sid)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no expiry")
	}
	fresh(fmt.Sprintf(`{"pid":%q}`, pid), sid)

	// A client that leaves on purpose is not kept.
	a := siotest.DialWS(t, rs.url, "", nil)
	sid, _ = connectRecovery(t, a, "")
	a.Send("41")
	waitFor(t, "the socket to leave", func() bool { s := rs.socket(sid); return s != nil && !s.Connected() })
	if s := rs.socket(sid); s.Recoverable() || nsp.RecoveryStats().Sessions != 0 {
		t.Fatal("a client disconnect was kept")
	}
}

// TestRecoveryUnderTraffic drops and recovers a client many times while
// another goroutine broadcasts numbered events as fast as it can: the
// client must see every number exactly once and in order.
func TestRecoveryUnderTraffic(t *testing.T) {
	rs := newRecoveryServer(t, socketio.Recovery{})
	nsp := rs.srv.Of("/")
	const total = 3000
	var stop atomic.Bool
	done := make(chan struct{})
	a := siotest.DialWS(t, rs.url, "", nil)
	sid, pid := connectRecovery(t, a, "")
	a.Emit("/", 1, "join", "r")
	a.Expect(`431["r"]`)
	go func() {
		defer close(done)
		for i := 1; i <= total && !stop.Load(); i++ {
			_ = nsp.To("r").Emit("n", i)
			_ = nsp.To("elsewhere").Emit("n", -i)
			if i%50 == 0 {
				time.Sleep(time.Millisecond)
			}
		}
	}()
	defer func() { stop.Store(true); <-done }()
	next, offset := 1, ""
	c := a
	for drops := 0; next <= total; {
		f := c.Read()
		args := eventArgs(t, f)
		if n := int(args[1].(float64)); n != next {
			t.Fatalf("got %d, want %d (after %d drops)", n, next, drops)
		}
		offset = args[2].(string)
		next++
		if next%100 == 0 && drops < 29 {
			drops++
			_ = c.Conn.Close()
			waitFor(t, "the session to be kept", func() bool { return nsp.RecoveryStats().Sessions == 1 })
			c = siotest.DialWS(t, rs.url, "", nil)
			if s, _ := connectRecovery(t, c, fmt.Sprintf(`{"pid":%q,"offset":%q}`, pid, offset)); s != sid {
				t.Fatalf("drop %d: not recovered", drops)
			}
		}
	}
}

// TestRecoveryBeyondSendQueue: more missed packets than a send queue holds
// would get the new connection closed at once, again and again; the client
// starts afresh instead.
func TestRecoveryBeyondSendQueue(t *testing.T) {
	srv, hs := newTestServer(t, &socketio.Options{Recovery: &socketio.Recovery{}, Engine: engine.Config{SendQueueLen: 8}})
	nsp := srv.Of("/")
	drop := func() (sid, pid string) {
		a := siotest.DialWS(t, hs.URL, "", nil)
		sid, pid = connectRecovery(t, a, "")
		_ = a.Conn.Close()
		waitFor(t, "the session to be kept", func() bool { return nsp.RecoveryStats().Sessions == 1 })
		return sid, pid
	}
	sid, pid := drop()
	for i := range 3 {
		_ = nsp.Emit("m", i)
	}
	b := siotest.DialWS(t, hs.URL, "", nil)
	if got, _ := connectRecovery(t, b, fmt.Sprintf(`{"pid":%q}`, pid)); got != sid {
		t.Fatal("3 missed packets: not recovered")
	}
	_ = b.Conn.Close()
	waitFor(t, "the session to be kept", func() bool { return nsp.RecoveryStats().Sessions == 1 })
	for i := range 20 {
		_ = nsp.Emit("m", i)
	}
	c := siotest.DialWS(t, hs.URL, "", nil)
	if got, _ := connectRecovery(t, c, fmt.Sprintf(`{"pid":%q}`, pid)); got == sid {
		t.Fatal("23 missed packets with a send queue of 8: recovered")
	}
	if st := nsp.RecoveryStats(); st.RestoreTooOld != 1 {
		t.Fatalf("stats %+v", st)
	}
}
