package engine

import (
	"net"
	"sync/atomic"
	"testing"
	"time"
)

// sinkConn is the net.Conn of a fake websocket session: writes succeed at
// once and are counted in a sink shared by every session. Only what the
// writer uses is implemented (the embedded nil Conn panics otherwise).
type sinkConn struct {
	net.Conn
	sink *sink
}

type sink struct {
	written atomic.Int64
	want    atomic.Int64
	done    chan struct{}
}

func (c *sinkConn) Write(b []byte) (int, error) {
	if c.sink.written.Add(int64(len(b))) == c.sink.want.Load() {
		c.sink.done <- struct{}{}
	}
	return len(b), nil
}

func (c *sinkConn) SetWriteDeadline(time.Time) error { return nil }
func (c *sinkConn) Close() error                     { return nil }

// fakeSessions returns n open websocket sessions of srv writing to sk, with
// no network and no heartbeat.
func fakeSessions(srv *Server, sk *sink, n int) []*Session {
	ss := make([]*Session, n)
	for i := range ss {
		ss[i] = &Session{
			srv:       srv,
			id:        "fake",
			done:      make(chan struct{}),
			transport: WebSocket,
			ws:        &wsConn{nc: &sinkConn{sink: sk}},
			handler:   nopHandler{},
		}
	}
	return ss
}

// TestSendAllocsPerRecipient: sending an already encoded message to many
// websocket sessions allocates nothing per session in steady state: the
// queue buffers come from the pools of sendqueue.go and the writer
// goroutines start without a closure. Every message is sent k times per
// session before the writers run (GOMAXPROCS is 1 inside AllocsPerRun), so
// with k = 40 the queues also grow through three size classes each round.
// Allocation counts do not depend on timing, so this holds on a busy
// machine; under -race sync.Pool drops items on purpose and it is skipped.
func TestSendAllocsPerRecipient(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items at random under -race")
	}
	const n = 300
	srv := NewServer(Config{
		OnSession:    func(*Session) SessionHandler { return nopHandler{} },
		PingInterval: time.Hour, PingTimeout: time.Hour,
	})
	sk := &sink{done: make(chan struct{}, 1)}
	sessions := fakeSessions(srv, sk, n)
	defer func() {
		for _, s := range sessions {
			s.Close(ReasonForcedClose)
		}
	}()
	msg := Message{Data: []byte(`2["news",{"title":"hello","body":"a broadcast to every session"}]`)}
	frame := int64(frameHeaderLen(1+len(msg.Data)) + 1 + len(msg.Data))
	timeout := time.NewTimer(time.Hour) // reset per round: time.After would allocate
	defer timeout.Stop()
	round := func(k int) func() {
		return func() {
			sk.want.Add(int64(n*k) * frame)
			for range k {
				for _, s := range sessions {
					if err := s.Send(msg); err != nil {
						t.Fatal(err)
					}
				}
			}
			timeout.Reset(10 * time.Second)
			select {
			case <-sk.done:
			case <-timeout.C:
				t.Fatalf("wrote %d of %d bytes", sk.written.Load(), sk.want.Load())
			}
		}
	}
	for _, k := range []int{1, 40} {
		f := round(k)
		for range 3 { // warm the pools, the goroutine free list, sudogs
			f()
		}
		allocs := testing.AllocsPerRun(20, f)
		perRecipient := allocs / float64(n*k)
		t.Logf("%d message(s) to %d sessions: %.2f allocations per round, %.5f per recipient", k, n, allocs, perRecipient)
		// A round has n×k recipients; allow a stray allocation or two
		// (a pool emptied by a GC that happened to run meanwhile).
		if allocs > 2 {
			t.Errorf("%d message(s) to %d sessions: %.2f allocations per round (%.4f per recipient), want none per recipient",
				k, n, allocs, perRecipient)
		}
	}
}
