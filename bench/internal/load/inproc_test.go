package load

import (
	"context"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/caddy-socketio/caddy-socketio/socketio"
	"github.com/caddy-socketio/caddy-socketio/socketio/engine"
)

// startServer serves the rules the scenarios need (R1, R3, R4, R6 of the
// conformance app) from the library, in this process, on 127.0.0.1.
func startServer(t *testing.T) string {
	t.Helper()
	srv := socketio.NewServer(&socketio.Options{Engine: engine.Config{PingInterval: 25 * time.Second, PingTimeout: 20 * time.Second}})
	nsp := srv.Of("/")
	nsp.OnConnection(func(s *socketio.Socket) {
		_ = s.Emit("welcome", map[string]any{"id": s.ID(), "nsp": "/", "auth": s.Handshake().Auth})
		s.On("ack-echo", func(args []any, ack socketio.Ack) {
			if ack != nil {
				_ = ack(args...)
			}
		})
		s.On("join", func(args []any, ack socketio.Ack) {
			room := field(args, "room")
			s.Join(socketio.Room(room))
			if ack != nil {
				_ = ack(room)
			}
		})
		s.On("to-room", func(args []any, _ socketio.Ack) {
			var payload any
			if len(args) > 0 {
				m, _ := args[0].(map[string]any)
				payload = m["payload"]
			}
			_ = nsp.To(socketio.Room(field(args, "room"))).Emit("room-message", payload)
		})
	})
	hs := httptest.NewServer(srv)
	t.Cleanup(func() {
		hs.CloseClientConnections()
		_ = srv.Close()
		hs.Close()
	})
	return strings.TrimPrefix(hs.URL, "http://")
}

func field(args []any, key string) string {
	if len(args) == 0 {
		return ""
	}
	m, _ := args[0].(map[string]any)
	v, _ := m[key].(string)
	return v
}

func quickConfig(addr string) Config {
	return Config{
		Addr: addr, Label: "inproc", ServerPID: os.Getpid(),
		N: 20, C: 4, Warmup: 100 * time.Millisecond, Duration: 400 * time.Millisecond,
		LatencyDuration: 300 * time.Millisecond, Rate: "50%", Inflight: 8, Payload: 32,
		ConnectConcurrency: 10, ConnectTimeout: 5 * time.Second, DrainTimeout: 5 * time.Second,
	}
}

func wantOK(t *testing.T, r *Result) {
	t.Helper()
	line, _ := r.MarshalJSON()
	t.Logf("%s", line)
	t.Log(Human(r))
	if ok, _ := r.Get("ok").(bool); !ok {
		t.Fatalf("%s failed: %v", r.Get("scenario"), r.Get("error"))
	}
}

func TestScenariosInProcess(t *testing.T) {
	addr := startServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	t.Run("probe", func(t *testing.T) { wantOK(t, Probe(ctx, quickConfig(addr))) })
	t.Run("fanout", func(t *testing.T) {
		r := Fanout(ctx, quickConfig(addr))
		wantOK(t, r)
		if r.Get("delivery_check") != "ok" || r.Get("capacity_missing") != int64(0) {
			t.Fatalf("delivery check %v, capacity missing %v", r.Get("delivery_check"), r.Get("capacity_missing"))
		}
		if d, _ := toFloat(r.Get("deliveries_per_sec")); d <= 0 {
			t.Fatal("no deliveries")
		}
		if m, _ := r.Get("latency_messages").(uint64); m == 0 || r.Get("latency_deliveries") != m*20 {
			t.Fatalf("latency phase: %v messages, %v deliveries", r.Get("latency_messages"), r.Get("latency_deliveries"))
		}
	})
	t.Run("echo", func(t *testing.T) {
		r := Echo(ctx, quickConfig(addr))
		wantOK(t, r)
		if n, _ := r.Get("round_trips").(int64); n == 0 {
			t.Fatal("no round trips")
		}
	})
	t.Run("churn", func(t *testing.T) {
		r := Churn(ctx, quickConfig(addr))
		wantOK(t, r)
		if n, _ := r.Get("connects").(int64); n == 0 {
			t.Fatal("no connects")
		}
	})
	t.Run("idle", func(t *testing.T) {
		cfg := quickConfig(addr)
		cfg.N = 50
		cfg.Settle = 0
		r := Idle(ctx, cfg)
		wantOK(t, r)
		if r.Get("opened") != int64(50) || r.Get("kb_per_conn") == nil {
			t.Fatalf("opened %v, kb/conn %v", r.Get("opened"), r.Get("kb_per_conn"))
		}
	})
}

func TestProbeRefusesAnotherApp(t *testing.T) {
	// A server without the rules: connect works (welcome is not required
	// by Connect without it), but the probe must fail, quickly.
	srv := socketio.NewServer(nil)
	hs := httptest.NewServer(srv)
	defer hs.Close()
	defer srv.Close()
	start := time.Now()
	r := Probe(context.Background(), Config{Addr: strings.TrimPrefix(hs.URL, "http://")})
	if ok, _ := r.Get("ok").(bool); ok {
		t.Fatal("probe passed against a server without the rules")
	}
	if time.Since(start) > 8*time.Second {
		t.Fatalf("probe took %v", time.Since(start))
	}
	t.Log(r.Get("error"))
}
