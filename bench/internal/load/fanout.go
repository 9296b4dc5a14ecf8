package load

import (
	"context"
	"fmt"
	"math"
	"math/bits"
	"sync/atomic"
	"time"
)

// fanout is the shared state of one fan-out run. Subscriber goroutines only
// touch atomics, the shared histogram and their own slot.
type fanout struct {
	cfg   *Config
	base  time.Time // stamps carry nanoseconds since base
	n     uint64    // subscribers
	subs  []fanSub
	notif chan struct{}

	delivered    atomic.Uint64 // capacity-phase room-message frames received
	latDelivered atomic.Uint64 // latency-phase frames received
	lat          atomic.Pointer[latPhase]
	hist         Histogram
	stopping     atomic.Bool
	dropped      atomic.Int64 // subscribers whose connection ended early
}

// fanSub is one subscriber's own counters, written only by its reader.
type fanSub struct {
	dups, bad int64
	_         [48]byte // keep neighbours off the same cache line
}

// latPhase is published (atomically) when the latency phase starts.
type latPhase struct {
	m    uint64     // sequences 0..m-1
	seen [][]uint64 // per subscriber, one bit per sequence
}

// Fanout runs the fan-out scenario: N subscribers join one room (R4); a
// publisher outside the room sends `to-room` (R6) as fast as the window of
// in-flight messages allows, measuring room-message deliveries per second at
// the subscribers; then a latency phase at a fixed rate below capacity checks
// end-to-end latency and that every subscriber gets every message once.
func Fanout(ctx context.Context, cfg Config) *Result {
	r := NewResult("fanout", cfg.Label, cfg.Addr)
	r.Set("subscribers", cfg.N)
	r.Set("payload_bytes", cfg.Payload)
	r.Set("inflight", cfg.Inflight)
	if cfg.N <= 0 || cfg.Inflight <= 0 || cfg.Duration <= 0 {
		r.Fail(fmt.Errorf("fanout needs -n, -inflight and -duration > 0"))
		return r
	}
	if cfg.Room == "" {
		cfg.Room = "bench"
	}
	if cfg.DrainTimeout <= 0 {
		cfg.DrainTimeout = 10 * time.Second
	}
	f := &fanout{cfg: &cfg, base: time.Now(), n: uint64(cfg.N), subs: make([]fanSub, cfg.N), notif: make(chan struct{}, 1)}

	d := cfg.dialer(4096)
	t0 := time.Now()
	p := openPool(ctx, cfg.N, cfg.connectConcurrency(), func(int) (*Client, error) {
		c, err := d.Connect(ctx, true)
		if err != nil {
			return nil, err
		}
		c.SetReadDeadline(time.Now().Add(d.Timeout))
		if err := c.Join(1, cfg.Room); err != nil {
			_ = c.Close()
			return nil, err
		}
		c.SetReadDeadline(time.Time{})
		return c, nil
	}, f.receive)
	defer p.closeAll(5 * time.Second)
	defer f.stopping.Store(true)
	if err := p.waitReady(ctx); err != nil {
		r.Fail(err)
		return r
	}
	if n := p.failed.Load(); n > 0 {
		r.Fail(fmt.Errorf("%d of %d subscribers failed to connect and join: %v", n, cfg.N, p.firstErr()))
		return r
	}
	r.Set("setup_s", time.Since(t0).Seconds())
	cfg.logf("fanout %s: %d subscribers joined %q in %.1fs", cfg.Label, cfg.N, cfg.Room, time.Since(t0).Seconds())

	pub, err := d.Connect(ctx, true)
	if err != nil {
		r.Fail(fmt.Errorf("publisher: %w", err))
		return r
	}
	pub.SetWriteTimeout(10 * time.Second)
	go readLoop(pub)
	defer pub.Close()

	// Capacity phase.
	sent, rate, err := f.capacity(ctx, pub, r)
	if err != nil {
		r.Fail(err)
		return r
	}
	want := sent * f.n
	f.drain(ctx, &f.delivered, want)
	got := f.delivered.Load()
	r.Set("capacity_missing", int64(want)-int64(got))
	cfg.logf("fanout %s: capacity %.0f deliveries/s (%.1f messages/s), missing after drain %d",
		cfg.Label, rate, rate/float64(cfg.N), int64(want)-int64(got))

	// Latency phase.
	if cfg.LatencyDuration > 0 {
		if err := f.latency(ctx, pub, rate/float64(cfg.N), r); err != nil {
			r.Fail(err)
			return r
		}
	}
	f.stopping.Store(true)
	p.closeAll(5 * time.Second)
	if ls := f.lat.Load(); ls != nil {
		var lost, dups, bad int64
		for i := range f.subs {
			var seen uint64
			for _, w := range ls.seen[i] {
				seen += uint64(bits.OnesCount64(w))
			}
			lost += int64(ls.m - seen)
			dups += f.subs[i].dups
			bad += f.subs[i].bad
		}
		r.Set("lost", lost)
		r.Set("dups", dups)
		r.Set("unexpected", bad)
		if lost == 0 && dups == 0 && bad == 0 {
			r.Set("delivery_check", "ok")
		} else {
			r.Set("delivery_check", "FAIL")
		}
	}
	r.Set("dropped", f.dropped.Load())
	if n := f.dropped.Load(); n > 0 {
		r.Fail(fmt.Errorf("%d subscribers were disconnected during the run", n))
		return r
	}
	r.Set("ok", true)
	return r
}

// receive is a subscriber's read loop: a prefix check and two digit scans
// per frame, no JSON decoding, no allocation.
func (f *fanout) receive(i int, c *Client) {
	s := &f.subs[i]
	for {
		frame, err := c.Next()
		if err != nil {
			if !f.stopping.Load() {
				f.dropped.Add(1)
			}
			return
		}
		kind, seq, ts, ok := ScanStamp(frame)
		if !ok {
			continue
		}
		switch kind {
		case 'C':
			if v := f.delivered.Add(1); v%f.n == 0 {
				select {
				case f.notif <- struct{}{}:
				default:
				}
			}
		case 'L':
			f.hist.Record(time.Since(f.base) - time.Duration(ts))
			ls := f.lat.Load()
			if ls == nil || seq >= ls.m {
				s.bad++
				continue
			}
			w, bit := seq/64, uint64(1)<<(seq%64)
			if ls.seen[i][w]&bit != 0 {
				s.dups++
			} else {
				ls.seen[i][w] |= bit
			}
			f.latDelivered.Add(1)
		default:
			s.bad++
		}
	}
}

// capacity publishes as fast as the in-flight window allows for
// Warmup+Duration and returns the messages sent and the deliveries/s
// measured over Duration.
func (f *fanout) capacity(ctx context.Context, pub *Client, r *Result) (sent uint64, rate float64, err error) {
	cfg := f.cfg
	window := uint64(cfg.Inflight)
	start := time.Now()
	warmEnd := start.Add(cfg.Warmup)
	end := warmEnd.Add(cfg.Duration)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var m0 cpuMark
	var d0 uint64
	measuring := cfg.Warmup <= 0
	if measuring {
		m0, d0 = markCPU(cfg.ServerPID), 0
	}
	for {
		now := time.Now()
		if !measuring && !now.Before(warmEnd) {
			m0, d0, measuring = markCPU(cfg.ServerPID), f.delivered.Load(), true
		}
		if !now.Before(end) {
			break
		}
		if ctx.Err() != nil {
			return 0, 0, ctx.Err()
		}
		if int64(sent)-int64(f.delivered.Load()/f.n) >= int64(window) {
			timer.Reset(time.Millisecond)
			select {
			case <-f.notif:
			case <-timer.C:
			case <-ctx.Done():
			}
			continue
		}
		pub.Buf = f.appendToRoom(pub.Buf[:0], 'C', sent)
		if err := pub.Send(pub.Buf); err != nil {
			return 0, 0, fmt.Errorf("publisher: %w", err)
		}
		sent++
	}
	m1 := markCPU(cfg.ServerPID)
	d1 := f.delivered.Load()
	wall := m1.at.Sub(m0.at).Seconds()
	rate = float64(d1-d0) / wall
	client, server := cpuSince(m0, m1)
	r.Set("published", sent)
	r.Set("deliveries", d1-d0)
	r.Set("measured_s", wall)
	r.Set("deliveries_per_sec", rate)
	r.Set("messages_per_sec", rate/float64(f.n))
	r.Set("client_cpu", client)
	if server >= 0 {
		r.Set("server_cpu", server)
	}
	return sent, rate, nil
}

// latency publishes at a fixed rate (open loop) for LatencyDuration.
func (f *fanout) latency(ctx context.Context, pub *Client, capacity float64, r *Result) error {
	cfg := f.cfg
	rate, err := ParseRate(cfg.Rate, capacity)
	if err != nil {
		return err
	}
	rate = math.Max(rate, 1)
	m := uint64(math.Max(1, math.Round(rate*cfg.LatencyDuration.Seconds())))
	words := (m + 63) / 64
	if words*f.n*8 > 512<<20 {
		return fmt.Errorf("latency phase: %d messages to %d subscribers needs too much memory; lower -rate or -latency-duration", m, f.n)
	}
	ls := &latPhase{m: m, seen: make([][]uint64, f.n)}
	for i := range ls.seen {
		ls.seen[i] = make([]uint64, words)
	}
	f.lat.Store(ls)
	interval := time.Duration(float64(time.Second) / rate)
	m0 := markCPU(cfg.ServerPID)
	start := m0.at
	for seq := uint64(0); seq < m; seq++ {
		if !sleepUntil(ctx, start.Add(time.Duration(seq)*interval)) {
			return ctx.Err()
		}
		pub.Buf = f.appendToRoom(pub.Buf[:0], 'L', seq)
		if err := pub.Send(pub.Buf); err != nil {
			return fmt.Errorf("publisher: %w", err)
		}
	}
	pubWall := time.Since(start).Seconds()
	f.drain(ctx, &f.latDelivered, m*f.n)
	m1 := markCPU(cfg.ServerPID)
	r.Set("latency_rate", rate)
	r.Set("latency_rate_actual", float64(m)/pubWall)
	r.Set("latency_messages", m)
	r.Set("latency_deliveries", f.latDelivered.Load())
	r.Set("p50_ms", ms(f.hist.Quantile(0.50)))
	r.Set("p99_ms", ms(f.hist.Quantile(0.99)))
	r.Set("max_ms", ms(f.hist.Max()))
	client, server := cpuSince(m0, m1)
	r.Set("latency_client_cpu", client)
	if server >= 0 {
		r.Set("latency_server_cpu", server)
	}
	cfg.logf("fanout %s: latency phase %d messages at %.1f/s: p50 %.2fms p99 %.2fms",
		cfg.Label, m, rate, ms(f.hist.Quantile(0.5)), ms(f.hist.Quantile(0.99)))
	return nil
}

// appendToRoom builds `42["to-room",{"room":…,"payload":"<stamp>"}]`.
func (f *fanout) appendToRoom(dst []byte, kind byte, seq uint64) []byte {
	dst = append(dst, `42["to-room",{"room":`...)
	dst = AppendJSONString(dst, f.cfg.Room)
	dst = append(dst, `,"payload":"`...)
	dst = AppendStamp(dst, kind, seq, int64(time.Since(f.base)), f.cfg.Payload)
	return append(dst, `"}]`...)
}

// drain waits until counter reaches want, DrainTimeout passes, or ctx ends.
func (f *fanout) drain(ctx context.Context, counter *atomic.Uint64, want uint64) {
	deadline := time.Now().Add(f.cfg.DrainTimeout)
	for counter.Load() < want && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(2 * time.Millisecond)
	}
}
