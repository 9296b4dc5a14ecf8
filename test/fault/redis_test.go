package fault_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/caddy-socketio/caddy-socketio/socketio"
	"github.com/caddy-socketio/caddy-socketio/socketio/adapter/redis"
	"github.com/caddy-socketio/caddy-socketio/socketio/adapter/redis/redistest"
	"github.com/caddy-socketio/caddy-socketio/socketio/engine"
	"github.com/caddy-socketio/caddy-socketio/socketio/siotest"
)

type redisNode struct {
	srv    *socketio.Server
	broker *redis.Broker
	addr   string
}

func startRedisNode(t *testing.T, url, key string) *redisNode {
	t.Helper()
	opt, err := goredis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	client := goredis.NewClient(opt)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	b, err := redis.New(ctx, client, redis.Options{Key: key, RequestsTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	srv := socketio.NewServer(&socketio.Options{
		Engine:  engine.Config{PingInterval: 10 * time.Minute, PingTimeout: time.Minute},
		Adapter: b.NewAdapter,
	})
	srv.Of("/").OnConnection(func(s *socketio.Socket) { s.Join("room") })
	hs := httptest.NewServer(srv)
	t.Cleanup(func() {
		_ = srv.Close()
		hs.Close()
		_ = b.Close()
		_ = client.Close()
	})
	return &redisNode{srv: srv, broker: b, addr: hs.Listener.Addr().String()}
}

// TestRedisRestartUnderTraffic: two servers joined by the Redis adapter,
// clients on both in one room, each server broadcasting 50 ticks a second
// to the room; redis-server is killed and started again on the same port
// (twice). Pass: local delivery never misses a tick; every client gets the
// other node's ticks in order, without duplicates, missing only ticks sent
// during the outage; cross-node delivery resumes for every client within
// the bound after Redis is back; both brokers count the reconnection; no
// goroutine is left behind and both nodes still serve new clients.
// (socketio/adapter/redis TestRedisRestart checks the adapter alone, with
// no traffic while Redis is down and no client on the wire.)
func TestRedisRestartUnderTraffic(t *testing.T) {
	var (
		perNode  = size(10, 100, 500)
		restarts = size(1, 2, 10)
		every    = 20 * time.Millisecond
		down     = 500 * time.Millisecond
		resume   = 15 * time.Second // backoff is at most 2 s; generous for a busy machine
	)
	rs := redistest.Start(t)
	var kb [6]byte
	_, _ = rand.Read(kb[:])
	key := "fault-" + hex.EncodeToString(kb[:])
	nodes := []*redisNode{startRedisNode(t, rs.URL(), key), startRedisNode(t, rs.URL(), key)}

	// Clients: per node; each records the ticks of both broadcasters.
	type recv struct {
		mu   sync.Mutex
		seqs [2][]int // by emitting node
		err  error
	}
	var (
		recvs  [2][]*recv
		rwg    sync.WaitGroup
		allCli []*client
	)
	defer func() { closeAll(allCli) }()
	for ni, n := range nodes {
		cs, err := dialMany(perNode, 25, n.addr, "/socket.io/")
		if err != nil {
			t.Fatal(err)
		}
		allCli = append(allCli, cs...)
		for _, c := range cs {
			r := &recv{}
			recvs[ni] = append(recvs[ni], r)
			rwg.Add(1)
			go func() {
				defer rwg.Done()
				var ended [2]bool
				r.err = func() error {
					for !ended[0] || !ended[1] {
						f, err := c.Next(60 * time.Second)
						if err != nil {
							return err
						}
						var from, seq int
						if _, err := fmt.Sscanf(f, `42["tick",%d,%d]`, &from, &seq); err != nil || from < 0 || from > 1 {
							return fmt.Errorf("unexpected frame %.100q", f)
						}
						if seq == -1 {
							ended[from] = true
							continue
						}
						r.mu.Lock()
						r.seqs[from] = append(r.seqs[from], seq)
						r.mu.Unlock()
					}
					return nil
				}()
			}()
		}
	}
	for _, n := range nodes {
		eventually(t, "cluster sees every client", 10*time.Second, func() bool {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			socks, err := n.srv.Of("/").FetchSockets(ctx)
			return err == nil && len(socks) == 2*perNode
		})
	}
	goroutines := siotest.SettledGoroutines()

	// Broadcasters.
	var seqs [2]atomic.Int64
	stop := make(chan struct{})
	var bwg sync.WaitGroup
	for ni, n := range nodes {
		bwg.Add(1)
		go func() {
			defer bwg.Done()
			tick := time.NewTicker(every)
			defer tick.Stop()
			for {
				select {
				case <-stop:
					return
				case <-tick.C:
					_ = n.srv.Of("/").To("room").Emit("tick", ni, seqs[ni].Load())
					seqs[ni].Add(1)
				}
			}
		}()
	}
	stopBroadcasts := func() {
		select {
		case <-stop:
		default:
			close(stop)
			bwg.Wait()
		}
	}
	defer stopBroadcasts()

	// lastRemote is the last tick client r of node ni got from the other
	// node (-1: none).
	lastRemote := func(ni int, r *recv) int {
		r.mu.Lock()
		defer r.mu.Unlock()
		s := r.seqs[1-ni]
		if len(s) == 0 {
			return -1
		}
		return s[len(s)-1]
	}
	waitRemote := func(what string, d time.Duration) time.Duration {
		t.Helper()
		start := time.Now()
		want := [2]int{int(seqs[0].Load()), int(seqs[1].Load())}
		eventually(t, what, d, func() bool {
			for ni := range nodes {
				for _, r := range recvs[ni] {
					if lastRemote(ni, r) < want[1-ni] {
						return false
					}
				}
			}
			return true
		})
		return time.Since(start)
	}
	waitRemote("cross-node delivery before the restarts", 10*time.Second)

	type window struct{ from, to [2]int } // ticks that may be lost
	var windows []window
	var resumed []time.Duration
	for round := 1; round <= restarts; round++ {
		var w window
		st0, st1 := nodes[0].broker.Stats(), nodes[1].broker.Stats()
		w.from = [2]int{int(seqs[0].Load()) - 10, int(seqs[1].Load()) - 10}
		rs.Stop()
		time.Sleep(down)
		rs.Start()
		took := waitRemote(fmt.Sprintf("round %d: cross-node delivery after the restart", round), resume)
		w.to = [2]int{int(seqs[0].Load()), int(seqs[1].Load())}
		windows = append(windows, w)
		resumed = append(resumed, took)
		eventually(t, "reconnects counted", 10*time.Second, func() bool {
			return nodes[0].broker.Stats().Reconnects > st0.Reconnects && nodes[1].broker.Stats().Reconnects > st1.Reconnects
		})
		time.Sleep(500 * time.Millisecond) // traffic after the recovery
	}
	stopBroadcasts()
	// Each node's end marker follows its ticks, through Redis too.
	for ni, n := range nodes {
		if err := n.srv.Of("/").To("room").Emit("tick", ni, -1); err != nil {
			t.Fatal(err)
		}
	}
	waitDone(t, &rwg, 30*time.Second, "receivers")

	final := [2]int{int(seqs[0].Load()), int(seqs[1].Load())}
	lostRemote := 0
	for ni := range nodes {
		for ci, r := range recvs[ni] {
			if r.err != nil {
				t.Fatalf("node %d client %d: %v", ni, ci, r.err)
			}
			// Local ticks: every one, in order.
			if got := r.seqs[ni]; len(got) != final[ni] || (len(got) > 0 && got[len(got)-1] != final[ni]-1) {
				t.Fatalf("node %d client %d: %d local ticks, want %d", ni, ci, len(got), final[ni])
			}
			for i, s := range r.seqs[ni] {
				if s != i {
					t.Fatalf("node %d client %d: local tick %d is %d", ni, ci, i, s)
				}
			}
			// Remote ticks: increasing, gaps only inside an outage window,
			// the last one there.
			from := 1 - ni
			got := r.seqs[from]
			next := 0
			for _, s := range got {
				if s < next {
					t.Fatalf("node %d client %d: remote tick %d after %d (duplicate or reordered)", ni, ci, s, next-1)
				}
				for missing := next; missing < s; missing++ {
					inWindow := false
					for _, w := range windows {
						if missing >= w.from[from] && missing < w.to[from] {
							inWindow = true
						}
					}
					if !inWindow {
						t.Fatalf("node %d client %d: remote tick %d lost outside the outages %v", ni, ci, missing, windows)
					}
					lostRemote++
				}
				next = s + 1
			}
			if next != final[from] {
				t.Fatalf("node %d client %d: last remote tick %d, want %d", ni, ci, next-1, final[from]-1)
			}
		}
	}
	t.Logf("%d clients on each of 2 nodes, %d + %d ticks; %d restarts, cross-node delivery back for every client after %v; %d remote deliveries lost during outages (%.1f per client per restart)",
		perNode, final[0], final[1], restarts, resumed, lostRemote, float64(lostRemote)/float64(2*perNode*restarts))
	t.Logf("broker stats: %+v / %+v", nodes[0].broker.Stats(), nodes[1].broker.Stats())

	// Both nodes still serve: a new client on each sees the other's
	// broadcast; nothing is left behind.
	for ni, n := range nodes {
		c, err := dialMany(1, 1, n.addr, "/socket.io/")
		if err != nil {
			t.Fatalf("node %d after the restarts: %v", ni, err)
		}
		eventually(t, "new client joined", 5*time.Second, func() bool { return n.srv.Of("/").SocketCount() == perNode+1 })
		_ = nodes[1-ni].srv.Of("/").To("room").Emit("hello", ni)
		f, err := c[0].Next(10 * time.Second)
		closeAll(c)
		if err != nil || !strings.HasPrefix(f, `42["hello",`+strconv.Itoa(ni)) {
			t.Fatalf("node %d: new client got %q %v", ni, f, err)
		}
		eventually(t, "new client gone", 5*time.Second, func() bool { return n.srv.Of("/").SocketCount() == perNode })
	}
	siotest.WaitGoroutines(t, goroutines+5, 15*time.Second)
}
