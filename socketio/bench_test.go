package socketio_test

import (
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caddy-socketio/caddy-socketio/socketio"
	"github.com/caddy-socketio/caddy-socketio/socketio/adapter"
	"github.com/caddy-socketio/caddy-socketio/socketio/engine"
	"github.com/caddy-socketio/caddy-socketio/socketio/siotest"
)

func benchServer(tb testing.TB) (*socketio.Server, string) { return benchServerWith(tb, nil) }

func benchServerWith(tb testing.TB, rec *socketio.Recovery) (*socketio.Server, string) {
	srv := socketio.NewServer(&socketio.Options{Engine: engine.Config{PingInterval: time.Hour, PingTimeout: time.Hour}, Recovery: rec})
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
func BenchmarkBroadcastRoom1000(b *testing.B) { benchBroadcastRoom1000(b, nil) }

// BenchmarkBroadcastRoom1000Recovery is the same with connection state
// recovery on: each broadcast also gets an offset and a place in the
// buffer, and broadcasts of the namespace are serialised.
func BenchmarkBroadcastRoom1000Recovery(b *testing.B) {
	benchBroadcastRoom1000(b, &socketio.Recovery{})
}

func benchBroadcastRoom1000(b *testing.B, rec *socketio.Recovery) {
	srv, addr := benchServerWith(b, rec)
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
	if rec != nil {
		frame += len(`,"`) + len(srv.Of("/").Adapter().(adapter.SessionStore).CurrentOffset()) + len(`"`)
	}
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

// BenchmarkRecoveryBufferMemory measures the recovery buffer of a namespace
// at 1,000 broadcasts a second kept for a 2 minute window: 120,000 stored
// room broadcasts of a 60-byte chat message (what the buffer holds in the
// steady state). It reports the heap held per packet and in all.
func BenchmarkRecoveryBufferMemory(b *testing.B) {
	const n = 1000 * 120
	for i := 0; i < b.N; i++ {
		srv := socketio.NewServer(&socketio.Options{Recovery: &socketio.Recovery{}})
		nsp := srv.Of("/")
		before := memInUse()
		msg := map[string]any{"nick": "ann", "text": "a chat message of some length"}
		for j := 0; j < n; j++ {
			if err := nsp.To("lobby").Emit("chatMessage", msg); err != nil {
				b.Fatal(err)
			}
		}
		after := memInUse()
		st := nsp.RecoveryStats()
		if st.BufferedPackets != n {
			b.Fatalf("buffered %d, want %d", st.BufferedPackets, n)
		}
		b.ReportMetric(float64(int64(after-before))/n, "heap-bytes/packet")
		b.ReportMetric(float64(int64(after-before))/(1<<20), "heap-MiB")
		b.ReportMetric(float64(st.BufferedBytes)/(1<<20), "accounted-MiB")
		_ = srv.Close()
	}
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
