package redis

import (
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/caddy-socketio/caddy-socketio/socketio"
	"github.com/caddy-socketio/caddy-socketio/socketio/engine"
	"github.com/caddy-socketio/caddy-socketio/socketio/siotest"
)

// crossNodeServers starts two socketio servers sharing one test Redis, with
// perNode websocket clients on each, all in room "room" once settled.
func crossNodeServers(b *testing.B, perNode int) (*socketio.Namespace, []*siotest.Client) {
	srv := startRedis(b)
	opts := Options{Key: uniqueKey(), PublishQueue: 1 << 16}
	var clients []*siotest.Client
	var first *socketio.Namespace
	var brokers []*Broker
	for range 2 {
		br := srv.broker(b, opts)
		brokers = append(brokers, br)
		s := socketio.NewServer(&socketio.Options{
			Engine:  engine.Config{PingInterval: time.Hour, PingTimeout: time.Hour},
			Adapter: br.NewAdapter,
		})
		hs := httptest.NewServer(s)
		b.Cleanup(func() { _ = s.Close(); hs.Close() })
		addr := strings.TrimPrefix(hs.URL, "http://")
		for range perNode {
			clients = append(clients, siotest.Dial(b, addr, "/socket.io/"))
		}
		nsp := s.Of("/")
		if err := nsp.Local().SocketsJoin("room"); err != nil {
			b.Fatal(err)
		}
		if first == nil {
			first = nsp
		}
	}
	if err := settle(brokers...); err != nil {
		b.Fatal(err)
	}
	return first, clients
}

// BenchmarkCrossNodeSockets: 2 nodes × 1,000 real websocket clients in one
// room, one publisher on the first node; deliveries/s counts frames read by
// all 2,000 clients.
func BenchmarkCrossNodeSockets(b *testing.B) {
	nsp, clients := crossNodeServers(b, 1000)
	payload := map[string]any{"text": "hello everyone in the room", "n": 1}
	frame := 2 + len(`42["room-message",{"n":1,"text":"hello everyone in the room"}]`)
	siotest.FanOut(b, clients, frame, func() error { return nsp.To("room").Emit("room-message", payload) })
}

// BenchmarkCrossNodeLatency: one broadcast at a time to 2 × 1,000 clients;
// reports the time until the first remote client, and until the last client
// of all, read it (p50 and p99 over b.N broadcasts).
func BenchmarkCrossNodeLatency(b *testing.B) {
	nsp, clients := crossNodeServers(b, 1000)
	payload := map[string]any{"text": "hello everyone in the room", "n": 1}
	frame := 2 + len(`42["room-message",{"n":1,"text":"hello everyone in the room"}]`)
	arrived := make(chan time.Time, len(clients))
	remote := clients[1000]
	remoteAt := make(chan time.Time, 1)
	for i, c := range clients {
		go func(c *siotest.Client, watch bool) {
			buf := make([]byte, 4096)
			got := 0
			for {
				_ = c.Conn.SetReadDeadline(time.Now().Add(time.Minute))
				n, err := c.R.Read(buf)
				if err != nil {
					return
				}
				got += n
				for got >= frame {
					got -= frame
					now := time.Now()
					arrived <- now
					if watch {
						remoteAt <- now
					}
				}
			}
		}(c, i == 1000)
	}
	_ = remote
	var firstRemote, all []time.Duration
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		if err := nsp.To("room").Emit("room-message", payload); err != nil {
			b.Fatal(err)
		}
		var last time.Time
		for range clients {
			select {
			case t := <-arrived:
				last = t
			case <-time.After(30 * time.Second):
				b.Fatal("a delivery is missing")
			}
		}
		firstRemote = append(firstRemote, (<-remoteAt).Sub(start))
		all = append(all, last.Sub(start))
	}
	b.StopTimer()
	b.ReportMetric(percentile(firstRemote, 50), "remote-p50-ms")
	b.ReportMetric(percentile(all, 50), "all-p50-ms")
	b.ReportMetric(percentile(all, 99), "all-p99-ms")
}

func percentile(d []time.Duration, p int) float64 {
	slices.Sort(d)
	return float64(d[(len(d)-1)*p/100]) / float64(time.Millisecond)
}
