// Package fault_test puts the Socket.IO server and the Caddy module under
// faults (slow consumers, connection bursts, failing webhook apps, reloads
// under traffic, clients that vanish, a Redis restart) and asserts a pass
// criterion for each.
//
// Sizes: `make fault` (go test -count=1 -p 1 -timeout 15m ./test/fault/)
// runs the full size; under the race detector or -short the reduced size;
// with FAULT_SOAK=1 (or -soak) the long soak variants (`make soak`).
// Timings on a shared machine are noisy: every latency criterion compares
// against a baseline measured in the same test, with wide margins, and
// counts (lost, duplicated, reordered messages, sessions) are exact.
package fault_test

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	_ "github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/caddy-socketio/caddy-socketio/caddymodule"
	"github.com/caddy-socketio/caddy-socketio/caddymodule/caddytest"
	"github.com/caddy-socketio/caddy-socketio/socketio/siotest"
)

var soakFlag = flag.Bool("soak", false, "run the long soak variants (also FAULT_SOAK=1)")

func soak() bool { return *soakFlag || os.Getenv("FAULT_SOAK") == "1" }

// size picks the figure of the current mode: reduced under the race
// detector or -short, long with -soak / FAULT_SOAK=1, full otherwise.
func size[T any](reduced, full, long T) T {
	switch {
	case soak():
		return long
	case raceEnabled || testing.Short():
		return reduced
	}
	return full
}

var ()

func TestMain(m *testing.M) {
	flag.Parse()
	if os.Getenv(burstChildEnv) != "" {
		os.Exit(burstChild())
	}
	code := m.Run()
	caddytest.RemoveStorage()
	os.Exit(code)
}

// --- measurements ---

// eventually polls cond every 10 ms until it holds or d passes.
func eventually(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, d)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// percentile of sorted durations (p in 0..100), nearest rank.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*p/100+0.5) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

func sortedCopy(d []time.Duration) []time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s
}

// latencyBound is the slowest p99 a phase under fault may have, given the
// baseline p99 of the same test: max(3x, baseline + slack).
func latencyBound(base, slack time.Duration) time.Duration {
	return max(3*base, base+slack)
}

// --- logs ---

// logRecord is one captured slog record: message, level and attributes.
type logRecord struct {
	Level slog.Level
	Msg   string
	Attrs map[string]string
}

// logCapture is a slog.Handler that keeps every record (Debug and up).
type logCapture struct {
	mu   sync.Mutex
	recs []logRecord
}

func (c *logCapture) Enabled(context.Context, slog.Level) bool { return true }
func (c *logCapture) Handle(_ context.Context, r slog.Record) error {
	rec := logRecord{Level: r.Level, Msg: r.Message, Attrs: make(map[string]string)}
	r.Attrs(func(a slog.Attr) bool {
		rec.Attrs[a.Key] = a.Value.String()
		return true
	})
	c.mu.Lock()
	c.recs = append(c.recs, rec)
	c.mu.Unlock()
	return nil
}
func (c *logCapture) WithAttrs([]slog.Attr) slog.Handler { return c }
func (c *logCapture) WithGroup(string) slog.Handler      { return c }

// find returns the records with message msg.
func (c *logCapture) find(msg string) []logRecord {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []logRecord
	for _, r := range c.recs {
		if r.Msg == msg {
			out = append(out, r)
		}
	}
	return out
}

// --- clients ---

// client is a raw websocket Socket.IO client (siotest.Client) whose writes
// may come from several goroutines (the reader answers pings).
type client struct {
	*siotest.Client
	wmu sync.Mutex
}

func (c *client) send(s string) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.Conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	return c.Write(s)
}

// dialMany opens n clients with conc dialers; every dial is bounded, the
// first error is returned and the clients already open are closed.
func dialMany(n, conc int, addr, path string) ([]*client, error) {
	clients := make([]*client, n)
	errs := make(chan error, n)
	idx := make(chan int, n)
	for i := range n {
		idx <- i
	}
	close(idx)
	var wg sync.WaitGroup
	for range min(conc, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range idx {
				c, err := siotest.Open(nil, addr, path)
				if err != nil {
					errs <- err
					return
				}
				clients[i] = &client{Client: c}
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		closeAll(clients)
		return nil, err
	}
	return clients, nil
}

func closeAll(clients []*client) {
	for _, c := range clients {
		if c != nil {
			_ = c.Conn.Close()
		}
	}
}

// --- Caddy ---

// metricsSite serves Caddy's metrics (the config's registry, where the
// caddy_socketio_* collectors are) on its own port.
func metricsSite(port int) string {
	return fmt.Sprintf("http://:%d {\n\tbind 127.0.0.1\n\tmetrics\n}\n", port)
}

func stopCaddy(t testing.TB) {
	t.Helper()
	if err := caddy.Stop(); err != nil {
		t.Errorf("stop caddy: %v", err)
	}
}

// metrics is one scrape: series name{labels} -> value.
type metrics map[string]float64

var metricsClient = &http.Client{Timeout: 5 * time.Second}

// scrape reads the Prometheus text at url, retrying a few times (a scrape
// that races a config reload may hit a closing listener).
func scrape(t testing.TB, url string) metrics {
	t.Helper()
	var last error
	for attempt := 0; attempt < 5; attempt++ {
		if attempt > 0 {
			time.Sleep(100 * time.Millisecond)
		}
		resp, err := metricsClient.Get(url)
		if err != nil {
			last = err
			continue
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			last = fmt.Errorf("status %d, %v", resp.StatusCode, err)
			continue
		}
		return parseMetrics(string(body))
	}
	t.Fatalf("scrape %s: %v", url, last)
	return nil
}

func parseMetrics(text string) metrics {
	m := make(metrics)
	for _, line := range strings.Split(text, "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		m[line[:i]] = v
	}
	return m
}

// get returns the value of name whose labels include every k="v" of
// labels (pairs), summed over matching series.
func (m metrics) get(name string, labels ...string) float64 {
	var sum float64
	for series, v := range m {
		if series != name && !strings.HasPrefix(series, name+"{") {
			continue
		}
		ok := true
		for i := 0; i+1 < len(labels); i += 2 {
			if !strings.Contains(series, labels[i]+`="`+labels[i+1]+`"`) {
				ok = false
				break
			}
		}
		if ok {
			sum += v
		}
	}
	return sum
}
