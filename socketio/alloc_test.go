package socketio_test

import (
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-socketio/caddy-socketio/socketio"
	"github.com/caddy-socketio/caddy-socketio/socketio/engine"
	"github.com/caddy-socketio/caddy-socketio/socketio/siotest"
)

// TestBroadcastAllocsPerRecipient: a room broadcast allocates a few objects
// per broadcast (the operator, the packet, its encoding) and none per
// recipient in steady state. It broadcasts to a room of 20 and to one of 220
// websocket clients (loopback, in this process, readers that allocate
// nothing) and compares the allocations: the difference is what the 200
// extra recipients cost. Allocation counts do not depend on timing (a slow
// writer only makes queues longer, and those come from pools), so this holds
// on a busy machine; under -race sync.Pool drops items on purpose and the
// test is skipped.
func TestBroadcastAllocsPerRecipient(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items at random under -race")
	}
	const small, big = 20, 220
	srv, hs := newTestServer(t, &socketio.Options{Engine: engine.Config{PingInterval: time.Hour, PingTimeout: time.Hour}})
	addr := strings.TrimPrefix(hs.URL, "http://")
	nsp := srv.Of("/")
	clients := make([]*siotest.Client, big)
	for i := range clients {
		if i == small {
			if err := nsp.SocketsJoin("small"); err != nil {
				t.Fatal(err)
			}
		}
		clients[i] = siotest.Dial(t, addr, "/socket.io/")
	}
	if err := nsp.SocketsJoin("big"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, c := range clients {
			_ = c.Conn.Close()
		}
	})

	payload := map[string]any{"text": "hello everyone in the room", "n": 1}
	frame := int64(2 + len(`42["room-message",{"n":1,"text":"hello everyone in the room"}]`))
	var read, want atomic.Int64
	done := make(chan struct{}, 1)
	for _, c := range clients {
		buf := make([]byte, 4<<10)
		_ = c.Conn.SetReadDeadline(time.Time{})
		go func() {
			for {
				m, err := c.R.Read(buf)
				if err != nil {
					return
				}
				if read.Add(int64(m)) == want.Load() {
					done <- struct{}{}
				}
			}
		}()
	}
	timeout := time.NewTimer(time.Hour) // reset per round: time.After would allocate
	defer timeout.Stop()
	// Eight broadcasts back to back per round, so queues also hold several
	// frames when writers lag.
	const perRound = 8
	round := func(room string, members int) func() {
		return func() {
			want.Add(perRound * int64(members) * frame)
			for range perRound {
				if err := nsp.To(socketio.Room(room)).Emit("room-message", payload); err != nil {
					t.Fatal(err)
				}
			}
			timeout.Reset(10 * time.Second)
			select {
			case <-done:
			case <-timeout.C:
				t.Fatalf("clients read %d of %d bytes", read.Load(), want.Load())
			}
		}
	}
	measure := func(room string, members int) float64 {
		f := round(room, members)
		for range 3 { // warm the pools, the goroutine free list, sudogs
			f()
		}
		return testing.AllocsPerRun(20, f) / perRound
	}
	aSmall := measure("small", small)
	aBig := measure("big", big)
	perRecipient := (aBig - aSmall) / (big - small)
	t.Logf("allocations per broadcast: %.2f to %d clients, %.2f to %d; %.4f per extra recipient",
		aSmall, small, aBig, big, perRecipient)
	// Old figure: about one per recipient (a closure per writer start) plus
	// queue regrowth. Allow a stray allocation per round.
	if perRecipient > 0.005 {
		t.Errorf("%.4f allocations per recipient (%.2f per broadcast to %d, %.2f to %d), want 0",
			perRecipient, aSmall, small, aBig, big)
	}
}
