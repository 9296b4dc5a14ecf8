package socketio_test

import (
	"encoding/json"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-socketio/caddy-socketio/socketio"
	"github.com/caddy-socketio/caddy-socketio/socketio/engine"
	"github.com/caddy-socketio/caddy-socketio/socketio/siotest"
)

// smallNumbers is an EVENT of about size bytes whose one argument is an
// array of one-digit numbers: the worst case of decoding (a []any of
// json.Number takes about 25 times the text).
func smallNumbers(event string, size int) string {
	var b strings.Builder
	b.Grow(size + 32)
	b.WriteString(`42["` + event + `",[`)
	for b.Len() < size {
		b.WriteString("1,2,3,4,5,6,7,8,9,")
	}
	b.WriteString("0]]")
	return b.String()
}

// TestUnhandledEventsAreNotDecoded: two sockets send 1 MB events of small
// numbers that no handler wants. They are dropped undecoded and counted:
// the server allocates about their wire size, not the ~25 MB each would
// take decoded, and the heap never grows by more than a few of them.
func TestUnhandledEventsAreNotDecoded(t *testing.T) {
	// A long heartbeat: the clients' pongs queue behind their flood.
	srv, hs := newTestServer(t, &socketio.Options{Engine: engine.Config{PingInterval: time.Minute, PingTimeout: time.Minute}})
	handled := make(chan struct{}, 1)
	srv.Of("/").OnConnection(func(s *socketio.Socket) {
		s.On("other", func([]any, socketio.Ack) { handled <- struct{}{} })
	})
	perSocket := 20
	if raceEnabled {
		perSocket = 4 // the detector slows reading 900 kB frames tenfold
	}
	msg := smallNumbers("flood", 900_000)
	clients := []*wsClient{dialWS(t, hs), dialWS(t, hs)}
	for _, c := range clients {
		c.Connect("/", "")
	}

	base := siotest.HeapInUse()
	var peak atomic.Uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // samples the heap while the events are handled
		defer wg.Done()
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			if m.HeapInuse > peak.Load() {
				peak.Store(m.HeapInuse)
			}
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	var sent sync.WaitGroup
	for _, c := range clients {
		sent.Add(1)
		go func() {
			defer sent.Done()
			for range perSocket {
				if err := c.Write(1, []byte(msg)); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	sent.Wait()
	deadline := time.Now().Add(30 * time.Second)
	for srv.UnhandledEvents() < uint64(2*perSocket) && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	close(stop)
	wg.Wait()

	if n := srv.UnhandledEvents(); n != uint64(2*perSocket) {
		t.Fatalf("UnhandledEvents = %d, want %d", n, 2*perSocket)
	}
	wire := uint64(2 * perSocket * len(msg))
	alloc := after.TotalAlloc - before.TotalAlloc
	growth := int64(peak.Load()) - int64(base)
	t.Logf("%d MB sent; allocated %d MB; heap peak %+d MB over %d MB", wire>>20, alloc>>20, growth>>20, base>>20)
	// Websocket reading (its growing frame buffer), the client's writes
	// and the checked copy of the text cost several times the wire size
	// (about 8); decoding would add about 25 times.
	if alloc > 14*wire {
		t.Errorf("allocated %d bytes for %d bytes of unhandled events", alloc, wire)
	}
	if growth > 48<<20 {
		t.Errorf("heap grew by %d MB while dropping unhandled events", growth>>20)
	}
	// The connections still work.
	clients[0].Send(`42["other"]`)
	select {
	case <-handled:
	case <-time.After(5 * time.Second):
		t.Fatal("handled event not delivered")
	}
}

func TestDecodeLimit(t *testing.T) {
	for _, tc := range []struct {
		name   string
		limits socketio.Limits
	}{
		{"per connection", socketio.Limits{MaxDecodedBytes: 1 << 20}},
		{"server total", socketio.Limits{MaxDecodedBytes: -1, MaxDecodedBytesTotal: 1 << 20}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, logs, hs := limitServer(t, tc.limits)
			var calls atomic.Int32
			reasons := make(chan socketio.Reason, 1)
			srv.Of("/").OnConnection(func(s *socketio.Socket) {
				s.On("big", func(args []any, ack socketio.Ack) {
					calls.Add(1)
					_ = ack(len(args))
				})
				s.OnDisconnect(func(r socketio.Reason) { reasons <- r })
			})
			c := dialWS(t, hs)
			c.Connect("/", "")
			// Under the limit (a 20 kB event is ~500 kB decoded): handled.
			c.Send(strings.Replace(smallNumbers("big", 20_000), `42["big"`, `421["big"`, 1))
			c.Expect(`431[1]`)
			// Over it: refused before decoding, the socket disconnected.
			c.Send(strings.Replace(smallNumbers("big", 200_000), `42["big"`, `422["big"`, 1))
			c.Expect(`41`)
			if r := <-reasons; r != socketio.ReasonDecodeLimit {
				t.Fatalf("reason %q", r)
			}
			if n := calls.Load(); n != 1 {
				t.Fatalf("handler ran %d times, want 1", n)
			}
			if st := srv.LimitStats(); st.Decoded != 1 {
				t.Fatalf("decoded hits %d, want 1", st.Decoded)
			}
			if n := logs.Count("too large to decode"); n != 1 {
				t.Fatalf("logged %d times, want 1", n)
			}
			// Nothing stays counted against the total.
			c.Connect("/", "")
			c.Send(strings.Replace(smallNumbers("big", 20_000), `42["big"`, `423["big"`, 1))
			c.Expect(`433[1]`)
		})
	}
}

// TestRawHandlers: OnRaw and OnAnyRaw get the arguments as the client wrote
// them, EmitRaw forwards them (attachments included) without decoding, and
// an event that every OnAnyRaw handler declines is counted as unhandled.
func TestRawHandlers(t *testing.T) {
	srv, hs := newTestServer(t, nil)
	type got struct {
		event, args string
		atts        int
		binary      bool
	}
	raws := make(chan got, 4)
	srv.Of("/").OnConnection(func(s *socketio.Socket) {
		s.OnAnyRaw(func(ev *socketio.RawEvent, ack socketio.Ack) bool {
			if ev.Event() != "fwd" {
				return false
			}
			raws <- got{ev.Event(), string(ev.Args()), len(ev.Attachments()), ev.Binary()}
			if err := s.Broadcast().EmitRaw("out", ev.Args(), ev.Attachments()); err != nil {
				t.Error(err)
			}
			return true
		})
		s.OnRaw("both", func(ev *socketio.RawEvent, ack socketio.Ack) {
			args, err := ev.Decode()
			if err != nil {
				t.Error(err)
			}
			if ack != nil {
				_ = ack(args...)
			}
		})
		s.On("both", func(args []any, _ socketio.Ack) {
			raws <- got{"both(decoded)", mustJSON(t, args), 0, false}
		})
	})
	a, b := dialWS(t, hs), dialWS(t, hs)
	a.Connect("/", "")
	b.Connect("/", "")

	a.Send(`42["fwd", 1 , {"z":1,"a":[true,null]} ,"\u00e9"]`)
	if g := <-raws; g != (got{"fwd", `[ 1 , {"z":1,"a":[true,null]} ,"\u00e9"]`, 0, false}) {
		t.Fatalf("raw event %+v", g)
	}
	b.Expect(`42["out",1 , {"z":1,"a":[true,null]} ,"\u00e9"]`)

	a.Send(`451-["fwd",{"_placeholder":true,"num":0},"x"]`)
	a.SendBinary([]byte{1, 2, 3})
	if g := <-raws; g != (got{"fwd", `[{"_placeholder":true,"num":0},"x"]`, 1, true}) {
		t.Fatalf("raw binary event %+v", g)
	}
	b.Expect(`451-["out",{"_placeholder":true,"num":0},"x"]`)
	b.Expect("bin:\x01\x02\x03")

	a.Send(`427["both",{"k":[1,2]}]`)
	a.Expect(`437[{"k":[1,2]}]`)
	if g := <-raws; g.args != `[{"k":[1,2]}]` {
		t.Fatalf("decoded handler got %+v", g)
	}

	before := srv.UnhandledEvents()
	a.Send(`42["nobody",[1,2,3]]`)
	a.Send(`42["both"]`) // a later event is still handled: the count is settled
	<-raws
	if n := srv.UnhandledEvents() - before; n != 1 {
		t.Fatalf("unhandled %d, want 1", n)
	}
	b.ExpectNothing(100 * time.Millisecond)
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
