package redis

import (
	"fmt"
	"github.com/caddy-socketio/caddy-socketio/socketio/parser"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-socketio/caddy-socketio/socketio/adapter"
)

// benchSocket only counts what it is given.
type benchSocket struct {
	id adapter.SocketID
	n  *atomic.Int64
}

func (s *benchSocket) ID() adapter.SocketID { return s.id }
func (s *benchSocket) Deliver(p *parser.Encoded, _ bool) {
	_, _, _ = p.Default() // encoded once, by the first recipient
	s.n.Add(1)
}
func (s *benchSocket) ExpectAck(uint64, func([]any)) {}
func (s *benchSocket) Join(...adapter.Room) error    { return nil }
func (s *benchSocket) Leave(adapter.Room)            {}
func (s *benchSocket) Disconnect(bool)               {}
func (s *benchSocket) Info() adapter.SocketInfo      { return adapter.SocketInfo{ID: s.id} }

// BenchmarkCrossNodeFanout: two servers with 1,000 sockets each in one
// room; one publisher on the first broadcasts to the room. Each iteration
// is one broadcast, finished when all 2,000 sockets got it (deliveries/s
// counts both servers; remote-deliveries/s only the second).
func BenchmarkCrossNodeFanout(b *testing.B) {
	for _, sharded := range []bool{false, true} {
		b.Run(fmt.Sprintf("sharded=%v", sharded), func(b *testing.B) { benchFanout(b, sharded) })
	}
}

func benchFanout(b *testing.B, sharded bool) {
	const perNode = 1000
	srv := startRedis(b)
	opts := Options{Key: uniqueKey(), Sharded: sharded, PublishQueue: 1 << 16}
	b0, a0 := newNode(b, srv, opts, "/")
	b1, a1 := newNode(b, srv, opts, "/")
	var local, remote atomic.Int64
	for i := range perNode {
		id := fmt.Sprintf("%020d", i)
		a0.AddAll(&benchSocket{id: adapter.SocketID("a" + id[1:]), n: &local}, []adapter.Room{adapter.Room("a" + id[1:]), "room"})
		a1.AddAll(&benchSocket{id: adapter.SocketID("b" + id[1:]), n: &remote}, []adapter.Room{adapter.Room("b" + id[1:]), "room"})
	}
	if err := settle(b0, b1); err != nil {
		b.Fatal(err)
	}
	p := ev("tick", map[string]any{"seq": 1, "text": "hello world"})
	opt := adapter.BroadcastOptions{Rooms: []adapter.Room{"room"}}
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		if err := a0.Broadcast(p, opt); err != nil {
			b.Fatal(err)
		}
	}
	want := int64(b.N) * perNode
	deadline := time.Now().Add(time.Minute)
	for remote.Load() < want {
		if time.Now().After(deadline) {
			b.Fatalf("remote deliveries %d of %d", remote.Load(), want)
		}
		time.Sleep(time.Millisecond)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(local.Load()+remote.Load())/elapsed.Seconds(), "deliveries/s")
	b.ReportMetric(float64(remote.Load())/elapsed.Seconds(), "remote-deliveries/s")
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "broadcasts/s")
}
