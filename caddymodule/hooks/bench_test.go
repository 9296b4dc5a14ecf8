package hooks_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/caddy-socketio/caddy-socketio/caddymodule/hooks"
	"github.com/caddy-socketio/caddy-socketio/socketio"
)

// trivialUpstream reads the body and answers reply; it counts requests.
func trivialUpstream(b *testing.B, reply string) (*httptest.Server, *atomic.Int64) {
	var n atomic.Int64
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		n.Add(1)
		_, _ = io.WriteString(w, reply)
	}))
	b.Cleanup(hs.Close)
	return hs, &n
}

// BenchmarkForward100Clients measures events/s forwarded to a trivial
// upstream by 100 websocket clients emitting as fast as they can, at two
// Concurrency settings.
func BenchmarkForward100Clients(b *testing.B) {
	for _, conc := range []int{8, 64} {
		b.Run("concurrency="+strconv.Itoa(conc), func(b *testing.B) { benchForward(b, conc, 0) })
	}
	for _, batch := range []int{100} {
		b.Run("concurrency=8/batch="+strconv.Itoa(batch), func(b *testing.B) { benchForward(b, 8, batch) })
	}
}

// batchUpstream answers batches with one null reply per event; it counts
// events.
func batchUpstream(b *testing.B) (*httptest.Server, *atomic.Int64) {
	var n atomic.Int64
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		k := bytes.Count(body, []byte(`{"type":"event"`))
		n.Add(int64(k))
		out := make([]byte, 0, 16+5*k)
		out = append(out, `{"replies":[`...)
		for i := range k {
			if i > 0 {
				out = append(out, ',')
			}
			out = append(out, "null"...)
		}
		out = append(out, "]}"...)
		_, _ = w.Write(out)
	}))
	b.Cleanup(hs.Close)
	return hs, &n
}

func benchForward(b *testing.B, concurrency, batch int) {
	const clients = 100
	up, got := trivialUpstream(b, "")
	if batch > 0 {
		up, got = batchUpstream(b)
	}
	_, hs, d := setup(b, hooks.Config{
		Concurrency: concurrency,
		QueueSize:   1 << 20, MaxQueued: 1 << 30, // measure throughput, not pauses
		Hooks: []hooks.Hook{{URL: up.URL, Events: []string{"e"}, Batch: batch}},
	})
	cs := make([]*wsClient, clients)
	for i := range cs {
		cs[i] = dial(b, hs, "", nil)
		cs[i].Connect("/", "")
	}
	per := max(1, (b.N+clients-1)/clients)
	total := int64(per * clients)
	msg := []byte(`42["e",{"msg":"hello","nick":"bench"}]`)
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for _, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < per; j++ {
				if err := c.Write(websocket.TextMessage, msg); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	deadline := time.Now().Add(60 * time.Second)
	for got.Load() < total && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	el := time.Since(start)
	b.StopTimer()
	if got.Load() < total {
		b.Fatalf("%d of %d delivered", got.Load(), total)
	}
	if st := d.Stats(); st.Dropped != 0 || st.Hooks[0].Errors != 0 {
		b.Fatalf("stats %+v", st)
	}
	b.ReportMetric(float64(total)/el.Seconds(), "events/s")
}

// BenchmarkHookAckRoundTrip: emit with an ack answered by the hook's reply.
// http-µs/op is the hook request alone, as the dispatcher measures it.
func BenchmarkHookAckRoundTrip(b *testing.B) {
	up, _ := trivialUpstream(b, `{"ack":[1]}`)
	_, hs, d := setup(b, hooks.Config{Hooks: []hooks.Hook{{URL: up.URL, Events: []string{"e"}}}})
	benchAckRoundTrip(b, hs, "e")
	if l := d.Stats().Hooks[0].Latency; l.Count > 0 {
		b.ReportMetric(l.Sum/float64(l.Count)*1e6, "http-µs/op")
	}
}

// BenchmarkNativeAckRoundTrip: the same round trip answered by a Go
// handler in the server, the baseline the hook adds to.
func BenchmarkNativeAckRoundTrip(b *testing.B) {
	_, hs, _ := setup(b, hooks.Config{})
	benchAckRoundTrip(b, hs, "n")
}

func benchAckRoundTrip(b *testing.B, hs *httptest.Server, event string) {
	srv := hs.Config.Handler.(*socketio.Server)
	srv.Of("/").OnConnection(func(s *socketio.Socket) {
		s.On("n", func(_ []any, ack socketio.Ack) { _ = ack(1) })
	})
	c := dial(b, hs, "", nil)
	c.Connect("/", "")
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		id := strconv.Itoa(i)
		c.Send(`42` + id + `["` + event + `",{"msg":"hello","nick":"bench"}]`)
		if got := c.Read(); got != "43"+id+"[1]" {
			b.Fatalf("got %q", got)
		}
	}
}

// BenchmarkBareHTTPParallel: the HTTP ceiling of this machine, Go clients
// POSTing hook-sized bodies to the trivial upstream from 8 and 64
// goroutines, to compare with BenchmarkForward100Clients.
func BenchmarkBareHTTPParallel(b *testing.B) {
	for _, par := range []int{8, 64} {
		b.Run("goroutines="+strconv.Itoa(par), func(b *testing.B) {
			up, _ := trivialUpstream(b, "")
			body := bytes.Repeat([]byte("x"), 700)
			tr := http.DefaultTransport.(*http.Transport).Clone()
			tr.MaxIdleConnsPerHost = par
			client := &http.Client{Transport: tr}
			per := max(1, (b.N+par-1)/par)
			b.ResetTimer()
			start := time.Now()
			var wg sync.WaitGroup
			for g := 0; g < par; g++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := 0; i < per; i++ {
						resp, err := client.Post(up.URL, "application/json", bytes.NewReader(body))
						if err != nil {
							b.Error(err)
							return
						}
						_, _ = io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
					}
				}()
			}
			wg.Wait()
			b.ReportMetric(float64(per*par)/time.Since(start).Seconds(), "req/s")
		})
	}
}

// BenchmarkBareHTTPRoundTrip: a Go HTTP client POSTing a hook-sized body to
// the same trivial upstream, what the hook's own request costs at least.
func BenchmarkBareHTTPRoundTrip(b *testing.B) {
	up, _ := trivialUpstream(b, `{"ack":[1]}`)
	body := bytes.Repeat([]byte("x"), 700) // about a hook request's size
	client := &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		resp, err := client.Post(up.URL, "application/json", bytes.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
}
