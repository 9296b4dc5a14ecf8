package socketio_test

import (
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/caddy-socketio/caddy-socketio/socketio"
	"github.com/caddy-socketio/caddy-socketio/socketio/engine"
)

// A client sending events as fast as it can does not hold up the others:
// their echo round trips stay within noise of the calm baseline, with or
// without an event rate limit; with one, the flooder is cut off with its
// reason and the others are never touched by it. (Client and server share
// this process: on 2 cores the flooder and the server goroutine reading it
// take both, so the others wait for scheduler slices of about 10 ms, hence
// the margin; nothing is lost.)
func TestFloodDoesNotStallOthers(t *testing.T) {
	for _, limited := range []bool{false, true} {
		name := "no limit"
		if limited {
			name = "event_rate limit"
		}
		t.Run(name, func(t *testing.T) {
			var l socketio.Limits
			if limited {
				l = socketio.Limits{EventRate: 2000, EventBurst: 2000}
			}
			// A long heartbeat: the flooder's own pongs queue behind its
			// flood, and a ping timeout would end the flood early.
			srv, hs := newTestServer(t, &socketio.Options{
				Limits: l,
				Engine: engine.Config{PingInterval: 20 * time.Second, PingTimeout: 20 * time.Second},
			})
			var flooded atomic.Int64
			reasons := make(chan socketio.Reason, 64)
			srv.Of("/").OnConnection(func(s *socketio.Socket) {
				s.On("flood", func([]any, socketio.Ack) { flooded.Add(1) })
				s.On("echo", func(args []any, ack socketio.Ack) { _ = ack(args...) })
				s.OnDisconnect(func(r socketio.Reason) { reasons <- r })
			})
			calm := make([]*wsClient, 20)
			for i := range calm {
				calm[i] = dialWS(t, hs)
				calm[i].Connect("/", "")
			}
			flooder := dialWS(t, hs)
			flooder.Connect("/", "")

			rounds := func(n int) []time.Duration {
				var lat []time.Duration
				for r := range n {
					for i, c := range calm {
						id := r*len(calm) + i
						start := time.Now()
						c.Send("42" + strconv.Itoa(id) + `["echo",` + strconv.Itoa(id) + `]`)
						c.Expect("43" + strconv.Itoa(id) + "[" + strconv.Itoa(id) + "]")
						lat = append(lat, time.Since(start))
					}
					time.Sleep(2 * time.Millisecond) // calm: well under the rate limit
				}
				return lat
			}
			base := p99(rounds(25))

			// The flood: as fast as the connection takes it, for at most 1.5 s
			// or 300,000 events, until the server cuts it off.
			var wg sync.WaitGroup
			stop := make(chan struct{})
			wg.Add(1)
			go func() {
				defer wg.Done()
				frame := []byte(`42["flood","xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"]`)
				deadline := time.Now().Add(1500 * time.Millisecond)
				for i := 0; i < 300_000 && time.Now().Before(deadline); i++ {
					select {
					case <-stop:
						return
					default:
					}
					if flooder.Write(websocket.TextMessage, frame) != nil {
						return
					}
				}
			}()
			time.Sleep(50 * time.Millisecond) // let the flood build up
			during := p99(rounds(25))
			close(stop)
			wg.Wait()

			t.Logf("calm p99: %v before, %v during the flood; flood events handled: %d", base, during, flooded.Load())
			if limit := max(5*base, base+200*time.Millisecond); during > limit {
				t.Errorf("calm clients' p99 rose from %v to %v during the flood (limit %v)", base, during, limit)
			}
			if limited {
				select {
				case r := <-reasons:
					if r != socketio.ReasonRateLimited {
						t.Fatalf("reason %q", r)
					}
				case <-time.After(5 * time.Second):
					t.Fatal("flooder not cut off")
				}
				if n := flooded.Load(); n > 2000+2000*3 { // burst + at most 3 s of refill
					t.Errorf("%d flood events handled despite the limit", n)
				}
			} else if flooded.Load() == 0 {
				t.Error("the flood never arrived")
			}
			// Nobody else was disconnected.
			select {
			case r := <-reasons:
				t.Fatalf("another socket left: %s", r)
			default:
			}
			for _, c := range calm {
				c.ExpectNothing(0)
			}
		})
	}
}

func p99(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)*99/100]
}
