package load

import (
	"context"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Config holds every scenario's knobs; each scenario reads the ones it needs.
type Config struct {
	Addr      string   // server host:port (127.0.0.1:PORT)
	Label     string   // peer name copied into the result (node, go, caddy…)
	Sources   []net.IP // local addresses to spread connections over
	ServerPID int      // for RSS (idle) and server CPU readings; 0: unknown

	N int // fanout: subscribers; idle: connections
	C int // echo: concurrent clients; churn: concurrent workers

	Warmup          time.Duration // run but not measured, before Duration
	Duration        time.Duration // measured window (fanout: capacity phase)
	LatencyDuration time.Duration // fanout latency phase
	Rate            string        // fanout latency-phase rate: "50%" of capacity or messages/s
	Inflight        int           // fanout capacity phase: messages in flight at most
	Payload         int           // bytes of the payload string (fanout, echo)
	Room            string        // fanout room name

	ConnectConcurrency int           // connects in progress at once while ramping up
	ConnectTimeout     time.Duration // one full connect
	Settle             time.Duration // idle: wait before reading the RSS
	Hold               time.Duration // idle: then keep the connections open this long, counting drops and pings
	DrainTimeout       time.Duration // fanout: wait for late deliveries

	Log io.Writer // progress lines; nil: discarded
}

func (cfg *Config) logf(format string, args ...any) {
	if cfg.Log != nil {
		fmt.Fprintf(cfg.Log, format+"\n", args...)
	}
}

func (cfg *Config) dialer(readBuf int) *Dialer {
	timeout := cfg.ConnectTimeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	return &Dialer{Addr: cfg.Addr, Sources: cfg.Sources, ReadBuf: readBuf, Timeout: timeout}
}

func (cfg *Config) connectConcurrency() int {
	if cfg.ConnectConcurrency > 0 {
		return cfg.ConnectConcurrency
	}
	return 100
}

// ParseRate reads "50%" (of capacity) or a plain number of messages/s.
func ParseRate(s string, capacity float64) (float64, error) {
	s = strings.TrimSpace(s)
	if p, ok := strings.CutSuffix(s, "%"); ok {
		f, err := strconv.ParseFloat(p, 64)
		if err != nil || f <= 0 {
			return 0, fmt.Errorf("rate %q: want N%% or messages/s", s)
		}
		return capacity * f / 100, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f <= 0 {
		return 0, fmt.Errorf("rate %q: want N%% or messages/s", s)
	}
	return f, nil
}

// pool opens n connections, at most conc at a time, and runs each one's life
// on its own goroutine: setup (connect and whatever the scenario adds), then
// serve (usually a read loop) until the connection is closed.
type pool struct {
	clients []*Client
	ready   sync.WaitGroup // setups done (failed or not)
	done    sync.WaitGroup // goroutines finished
	opened  atomic.Int64
	failed  atomic.Int64
	errMu   sync.Mutex
	firstEr error
}

func (p *pool) fail(err error) {
	p.failed.Add(1)
	p.errMu.Lock()
	if p.firstEr == nil {
		p.firstEr = err
	}
	p.errMu.Unlock()
}

func (p *pool) firstErr() error {
	p.errMu.Lock()
	defer p.errMu.Unlock()
	return p.firstEr
}

func openPool(ctx context.Context, n, conc int,
	setup func(i int) (*Client, error), serve func(i int, c *Client)) *pool {
	p := &pool{clients: make([]*Client, n)}
	sem := make(chan struct{}, conc)
	for i := 0; i < n; i++ {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return p
		}
		p.ready.Add(1)
		p.done.Add(1)
		go func() {
			defer p.done.Done()
			c, err := setup(i)
			<-sem
			if err != nil {
				p.fail(err)
				p.ready.Done()
				return
			}
			p.clients[i] = c
			p.opened.Add(1)
			p.ready.Done()
			serve(i, c)
		}()
	}
	return p
}

// waitReady waits for every setup to finish, bounded by ctx.
func (p *pool) waitReady(ctx context.Context) error {
	ch := make(chan struct{})
	go func() { p.ready.Wait(); close(ch) }()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("connecting: %w", ctx.Err())
	}
}

// closeAll closes every open connection and waits (bounded) for the
// goroutines to end. Call after waitReady returned nil.
func (p *pool) closeAll(timeout time.Duration) {
	for _, c := range p.clients {
		if c != nil {
			_ = c.Close()
		}
	}
	ch := make(chan struct{})
	go func() { p.done.Wait(); close(ch) }()
	select {
	case <-ch:
	case <-time.After(timeout):
	}
}

// readLoop reads and drops frames until the connection ends (pings are
// answered by Next). It keeps idle connections and publishers alive.
func readLoop(c *Client) { _ = readUntilError(c) }

// readUntilError is readLoop returning the error that ended it.
func readUntilError(c *Client) error {
	for {
		if _, err := c.Next(); err != nil {
			return err
		}
	}
}

// pings is the number of Engine.IO pings the open clients received so far.
// Call after waitReady returned nil.
func (p *pool) pings() int64 {
	var n int64
	for _, c := range p.clients {
		if c != nil {
			n += int64(c.Pings())
		}
	}
	return n
}

// sleepUntil sleeps until t or ctx ends; false means ctx ended.
func sleepUntil(ctx context.Context, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err() == nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-ctx.Done():
		return false
	}
}
