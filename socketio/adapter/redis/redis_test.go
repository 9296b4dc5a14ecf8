package redis

import (
	"context"
	"errors"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/caddy-socketio/caddy-socketio/socketio/adapter"
	"github.com/caddy-socketio/caddy-socketio/socketio/adapter/adaptertest"
	"github.com/caddy-socketio/caddy-socketio/socketio/parser"
)

func runSuite(t *testing.T, base Options) {
	srv := startRedis(t)
	adaptertest.Run(t, func(t *testing.T) adaptertest.Cluster {
		opts := base
		opts.Key = uniqueKey()
		var mu sync.Mutex
		var brokers []*Broker
		return adaptertest.Cluster{
			NewNode: func(nsp adapter.Namespace) (adapter.Adapter, error) {
				b := srv.broker(t, opts)
				mu.Lock()
				brokers = append(brokers, b)
				mu.Unlock()
				return b.NewAdapter(nsp)
			},
			MaxNodes: 2,
			Settle: func() {
				mu.Lock()
				bs := slices.Clone(brokers)
				mu.Unlock()
				if err := settle(bs...); err != nil {
					t.Errorf("settle: %v", err)
				}
			},
		}
	})
}

func TestSuiteClassic(t *testing.T) { runSuite(t, Options{}) }

func TestSuiteClassicSpecificResponseChannel(t *testing.T) {
	runSuite(t, Options{PublishOnSpecificResponseChannel: true})
}

func TestSuiteSharded(t *testing.T) { runSuite(t, Options{Sharded: true}) }

func TestSuiteShardedStatic(t *testing.T) {
	runSuite(t, Options{Sharded: true, SubscriptionMode: Static})
}

func TestUnreachableAtStart(t *testing.T) {
	port := freePort(t) // nothing listens there
	c := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:" + strconv.Itoa(port), MaxRetries: -1})
	defer c.Close()
	start := time.Now()
	_, err := New(context.Background(), c, Options{RequestsTimeout: time.Second})
	if !errors.Is(err, ErrUnreachable) {
		t.Fatalf("err = %v, want ErrUnreachable", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("New took %v", d)
	}
	t.Logf("error: %v", err)
}

// countingSocket counts deliveries and keeps the last text.
type countingSocket struct {
	id   adapter.SocketID
	a    adapter.Adapter
	n    atomic.Int64
	mu   sync.Mutex
	last string
	acks map[uint64]func([]any)
	gone atomic.Bool
}

func newSocket(a adapter.Adapter, id string, rooms ...adapter.Room) *countingSocket {
	s := &countingSocket{id: adapter.SocketID(id), a: a}
	a.AddAll(s, append([]adapter.Room{adapter.Room(id)}, rooms...))
	return s
}

func (s *countingSocket) ID() adapter.SocketID { return s.id }
func (s *countingSocket) Deliver(p *parser.Encoded, _ bool) {
	text, _, _ := p.Default()
	s.mu.Lock()
	s.last = string(text)
	s.mu.Unlock()
	s.n.Add(1)
}
func (s *countingSocket) ExpectAck(id uint64, fn func([]any)) {
	s.mu.Lock()
	if s.acks == nil {
		s.acks = map[uint64]func([]any){}
	}
	s.acks[id] = fn
	s.mu.Unlock()
}
func (s *countingSocket) Join(rooms ...adapter.Room) error { s.a.AddAll(s, rooms); return nil }
func (s *countingSocket) Leave(room adapter.Room)          { s.a.Del(s.id, room) }
func (s *countingSocket) Disconnect(bool)                  { s.gone.Store(true); s.a.DelAll(s.id) }
func (s *countingSocket) Info() adapter.SocketInfo {
	return adapter.SocketInfo{ID: s.id, Rooms: s.a.SocketRooms(s.id), Handshake: &adapter.Handshake{Auth: map[string]any{}}}
}
func (s *countingSocket) Last() string { s.mu.Lock(); defer s.mu.Unlock(); return s.last }

type testNsp struct {
	name  string
	mu    sync.Mutex
	emits [][]any
}

func (n *testNsp) Name() string { return n.name }
func (n *testNsp) HandleServerSideEmit(args []any, ack func([]any)) {
	n.mu.Lock()
	n.emits = append(n.emits, args)
	n.mu.Unlock()
	if ack != nil {
		ack([]any{"pong"})
	}
}

func eventually(t testing.TB, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func newNode(t testing.TB, srv *redisServer, opts Options, nsp string) (*Broker, adapter.Adapter) {
	t.Helper()
	b := srv.broker(t, opts)
	a, err := b.NewAdapter(&testNsp{name: nsp})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })
	return b, a
}

func ev(args ...any) *parser.Packet {
	return &parser.Packet{Type: parser.Event, Namespace: "/", Data: args}
}

// The emitter's bytes from github.com/socketio/socket.io-redis-adapter, published raw, reach a local
// socket; its JSON join request (without uid) is applied.
func TestEmitterMessages(t *testing.T) {
	srv := startRedis(t)
	b, a := newNode(t, srv, Options{}, "/")
	s := newSocket(a, "s1", "room1")
	raw := srv.client(t)
	ctx := context.Background()
	if err := raw.Publish(ctx, "socket.io#/#", mustHex(t, emitterNewsHex)).Err(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "emitter delivery", 5*time.Second, func() bool { return s.n.Load() == 1 })
	if got := s.Last(); got != `2["news",{"id":1}]` {
		t.Fatalf("delivered %q", got)
	}
	if err := raw.Publish(ctx, "socket.io-request#/#", `{"type":2,"opts":{"rooms":["room1"],"except":[]},"rooms":["vip"]}`).Err(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "emitter join", 5*time.Second, func() bool { return slices.Contains(a.SocketRooms("s1"), "vip") })
	if err := raw.Publish(ctx, "socket.io-request#/#", `{"type":4,"opts":{"rooms":["vip"],"except":[]},"close":true}`).Err(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "emitter disconnect", 5*time.Second, s.gone.Load)
	if st := b.Stats(); st.Received < 3 {
		t.Fatalf("stats %+v", st)
	}
}

// A node that is subscribed but never answers makes requests end with
// ErrTimeout and what the others answered.
func TestRequestTimeoutPartial(t *testing.T) {
	srv := startRedis(t)
	opts := Options{Key: uniqueKey(), RequestsTimeout: 300 * time.Millisecond}
	b0, a0 := newNode(t, srv, opts, "/")
	b1, a1 := newNode(t, srv, opts, "/")
	newSocket(a0, "s1")
	newSocket(a1, "s2")
	mute := srv.client(t).Subscribe(context.Background(), opts.Key+"-request#/#")
	defer mute.Close()
	if _, err := mute.Receive(context.Background()); err != nil { // subscription confirmed
		t.Fatal(err)
	}
	if err := settle(b0, b1); err != nil {
		t.Fatal(err)
	}
	if n, _ := a0.ServerCount(context.Background()); n != 3 {
		t.Fatalf("server count %d", n)
	}
	start := time.Now()
	infos, err := a0.FetchSockets(context.Background(), adapter.BroadcastOptions{})
	if !errors.Is(err, adapter.ErrTimeout) {
		t.Fatalf("err = %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("took %v", d)
	}
	var ids []string
	for _, i := range infos {
		ids = append(ids, string(i.ID))
	}
	slices.Sort(ids)
	if !slices.Equal(ids, []string{"s1", "s2"}) {
		t.Fatalf("partial result %v", ids)
	}
	t.Logf("err: %v", err)
	// A caller's context ends the wait too.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := a0.AllRooms(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("all rooms err = %v", err)
	}
}

// Server-side emit with acks: each other node's answer arrives.
func TestServerSideEmitWithAck(t *testing.T) {
	for _, sharded := range []bool{false, true} {
		srv := startRedis(t)
		opts := Options{Key: uniqueKey(), Sharded: sharded}
		b0, a0 := newNode(t, srv, opts, "/")
		b1, _ := newNode(t, srv, opts, "/")
		b2, _ := newNode(t, srv, opts, "/")
		if err := settle(b0, b1, b2); err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		var answers []any
		if err := a0.ServerSideEmit([]any{"ping", 1}, func(args []any) {
			mu.Lock()
			answers = append(answers, args...)
			mu.Unlock()
		}); err != nil {
			t.Fatal(err)
		}
		eventually(t, "two answers", 5*time.Second, func() bool { mu.Lock(); defer mu.Unlock(); return len(answers) == 2 })
		if answers[0] != "pong" {
			t.Fatalf("answers %v", answers)
		}
	}
}

// Redis restarts under traffic: local delivery goes on, cross-node
// delivery resumes after reconnection, and goroutines do not pile up.
func TestRedisRestart(t *testing.T) {
	for _, sharded := range []bool{false, true} {
		name := "classic"
		if sharded {
			name = "sharded"
		}
		t.Run(name, func(t *testing.T) { testRedisRestart(t, sharded) })
	}
}

func testRedisRestart(t *testing.T, sharded bool) {
	srv := startRedis(t)
	opts := Options{Key: uniqueKey(), Sharded: sharded, RequestsTimeout: time.Second}
	b0, a0 := newNode(t, srv, opts, "/")
	b1, a1 := newNode(t, srv, opts, "/")
	local := newSocket(a0, "local1", "room")
	remote := newSocket(a1, "remote1", "room")
	if err := settle(b0, b1); err != nil {
		t.Fatal(err)
	}
	// Cross-node delivery works; then remember the goroutine count.
	send := func() {
		if err := a0.Broadcast(ev("tick"), adapter.BroadcastOptions{Rooms: []adapter.Room{"room"}}); err != nil && !errors.Is(err, ErrQueueFull) {
			t.Errorf("broadcast: %v", err)
		}
	}
	send()
	eventually(t, "first remote delivery", 5*time.Second, func() bool { return remote.n.Load() == 1 })
	time.Sleep(100 * time.Millisecond)
	baseline := goroutines()

	for round := 1; round <= 3; round++ {
		errsBefore := b0.Stats().Errors
		srv.Stop()
		before := local.n.Load()
		// Local delivery keeps working while Redis is away.
		for range 5 {
			send()
		}
		if got := local.n.Load() - before; got != 5 {
			t.Fatalf("round %d: local deliveries while redis is down = %d", round, got)
		}
		eventually(t, "connection loss counted", 10*time.Second, func() bool { return b0.Stats().Errors > errsBefore })
		time.Sleep(300 * time.Millisecond)
		srv.Start()
		eventually(t, "resubscribed", 15*time.Second, func() bool {
			return b0.Stats().Reconnects >= uint64(round) && b1.Stats().Reconnects >= uint64(round)
		})
		// Cross-node delivery resumes.
		r0 := remote.n.Load()
		eventually(t, "remote delivery after restart", 15*time.Second, func() bool {
			send()
			time.Sleep(50 * time.Millisecond)
			return remote.n.Load() > r0
		})
		if n, err := a0.ServerCount(context.Background()); err != nil || n != 2 {
			t.Fatalf("round %d: server count %d, %v", round, n, err)
		}
	}
	if err := settle(b0, b1); err != nil {
		t.Fatal(err)
	}
	eventually(t, "goroutines back to baseline", 10*time.Second, func() bool {
		n := goroutines()
		return n <= baseline+2
	})
	t.Logf("goroutines baseline %d, after 3 restarts %d; stats %+v / %+v", baseline, goroutines(), b0.Stats(), b1.Stats())
}

// While Redis is down, a classic join (normally applied on receipt) is
// still applied to local sockets.
func TestSelectionAppliedLocallyWhenRedisDown(t *testing.T) {
	srv := startRedis(t)
	_, a := newNode(t, srv, Options{Key: uniqueKey(), RequestsTimeout: 500 * time.Millisecond}, "/")
	newSocket(a, "s1", "room")
	srv.Stop()
	_ = a.AddSockets(adapter.BroadcastOptions{Rooms: []adapter.Room{"room"}}, []adapter.Room{"vip"})
	eventually(t, "local join", 10*time.Second, func() bool { return slices.Contains(a.SocketRooms("s1"), "vip") })
}

// Namespaces are separate: a broadcast in /admin does not reach /.
func TestNamespacesAreSeparate(t *testing.T) {
	for _, sharded := range []bool{false, true} {
		srv := startRedis(t)
		opts := Options{Key: uniqueKey(), Sharded: sharded}
		b0 := srv.broker(t, opts)
		b1 := srv.broker(t, opts)
		mk := func(b *Broker, nsp string) adapter.Adapter {
			a, err := b.NewAdapter(&testNsp{name: nsp})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = a.Close() })
			return a
		}
		admin0, root1, admin1 := mk(b0, "/admin"), mk(b1, "/"), mk(b1, "/admin")
		sRoot := newSocket(root1, "r1")
		sAdmin := newSocket(admin1, "a1")
		if err := settle(b0, b1); err != nil {
			t.Fatal(err)
		}
		p := ev("x")
		p.Namespace = "/admin"
		if err := admin0.Broadcast(p, adapter.BroadcastOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, "admin delivery", 5*time.Second, func() bool { return sAdmin.n.Load() == 1 })
		if err := settle(b0, b1); err != nil {
			t.Fatal(err)
		}
		if sRoot.n.Load() != 0 {
			t.Fatalf("sharded=%v: / received an /admin broadcast", sharded)
		}
		if got := sAdmin.Last(); got != `2/admin,["x"]` {
			t.Fatalf("text %q", got)
		}
	}
}

// The sharded dynamic mode subscribes to a room's channel while the room
// exists locally, and drops it after the room is gone.
func TestShardedRoomChannels(t *testing.T) {
	srv := startRedis(t)
	opts := Options{Key: uniqueKey(), Sharded: true}
	b0, a0 := newNode(t, srv, opts, "/")
	b1, a1 := newNode(t, srv, opts, "/")
	s := newSocket(a1, "s1", "room1")
	if err := settle(b0, b1); err != nil {
		t.Fatal(err)
	}
	raw := srv.client(t)
	ch := opts.Key + "#/#room1#"
	numsub := func() int64 {
		m, err := raw.PubSubShardNumSub(context.Background(), ch).Result()
		if err != nil {
			t.Fatal(err)
		}
		return m[ch]
	}
	eventually(t, "room channel subscribed", 5*time.Second, func() bool { return numsub() == 1 })
	if err := a0.Broadcast(ev("hello", "world"), adapter.BroadcastOptions{Rooms: []adapter.Room{"room1"}}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "room delivery", 5*time.Second, func() bool { return s.n.Load() == 1 })
	a1.Del("s1", "room1")
	eventually(t, "room channel dropped", 5*time.Second, func() bool { return numsub() == 0 })
}

func goroutines() int {
	time.Sleep(50 * time.Millisecond)
	return runtime.NumGoroutine()
}
