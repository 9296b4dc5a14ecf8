package socketio_test

import (
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caddy-socketio/caddy-socketio/socketio"
	"github.com/caddy-socketio/caddy-socketio/socketio/engine"
	"github.com/caddy-socketio/caddy-socketio/socketio/siotest"
)

func benchServer(tb testing.TB) (*socketio.Server, string) {
	srv := socketio.NewServer(&socketio.Options{Engine: engine.Config{PingInterval: time.Hour, PingTimeout: time.Hour}})
	hs := httptest.NewServer(srv)
	tb.Cleanup(func() {
		_ = srv.Close()
		hs.Close()
	})
	return srv, strings.TrimPrefix(hs.URL, "http://")
}

// BenchmarkBroadcastRoom1000 fans one event out to 1,000 websocket clients
// in one room over loopback; deliveries/s counts frames the clients read.
// caddymodule's BenchmarkCaddyBroadcastRoom1000 is the same through Caddy.
func BenchmarkBroadcastRoom1000(b *testing.B) {
	srv, addr := benchServer(b)
	nsp := srv.Of("/")
	clients := make([]*siotest.Client, 1000)
	for i := range clients {
		clients[i] = siotest.Dial(b, addr, "/socket.io/")
	}
	if err := nsp.SocketsJoin("room"); err != nil {
		b.Fatal(err)
	}
	payload := map[string]any{"text": "hello everyone in the room", "n": 1}
	frame := 2 + len(`42["room-message",{"n":1,"text":"hello everyone in the room"}]`)
	siotest.FanOut(b, clients, frame, func() error { return nsp.To("room").Emit("room-message", payload) })
	for _, c := range clients {
		_ = c.Conn.Close()
	}
}

// BenchmarkIdleConnMemory measures the memory the process gains per idle
// websocket connection joined to "/" (server side plus a bare client
// net.Conn, which is a few hundred bytes).
func BenchmarkIdleConnMemory(b *testing.B) {
	const n = 2000
	for i := 0; i < b.N; i++ {
		srv, addr := benchServer(b)
		before, stackBefore := memInUse(), stackInUse()
		clients := make([]*siotest.Client, n)
		for j := range clients {
			clients[j] = siotest.Dial(b, addr, "/socket.io/")
			clients[j].R = nil
		}
		for srv.Of("/").SocketCount() < n {
			time.Sleep(time.Millisecond)
		}
		after, stackAfter := memInUse(), stackInUse()
		b.ReportMetric(float64(int64(after-before))/n, "bytes/conn")
		b.ReportMetric(float64(int64(stackAfter-stackBefore))/n, "stack-bytes/conn")
		for _, c := range clients {
			_ = c.Conn.Close()
		}
		// Let this round's sessions go before the next one measures.
		for srv.Engine().SessionCount() > 0 {
			time.Sleep(time.Millisecond)
		}
	}
}

func stackInUse() uint64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.StackInuse
}

func memInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse + m.StackInuse
}

// BenchmarkEchoAck is one client's round trip: an event with a small object
// answered by an On handler's ack with its own arguments (decoded and
// encoded again).
func BenchmarkEchoAck(b *testing.B) {
	srv, addr := benchServer(b)
	srv.Of("/").OnConnection(func(s *socketio.Socket) {
		s.On("echo", func(args []any, ack socketio.Ack) { _ = ack(args...) })
	})
	c := siotest.DialWS(b, "http://"+addr, "", nil)
	c.Connect("/", "")
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		id := strconv.Itoa(i)
		c.Send(`42` + id + `["echo",{"msg":"hello","nick":"bench","n":[1,2,3]}]`)
		if got := c.Read(); got != "43"+id+`[{"msg":"hello","n":[1,2,3],"nick":"bench"}]` {
			b.Fatalf("got %q", got)
		}
	}
}
