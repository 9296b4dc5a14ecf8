package load

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"
)

// Idle opens N websocket connections joined to "/" (each answering pings and
// nothing else) and reads the server's RSS before and after: the memory one
// idle connection costs. With Hold it then keeps them open that long and
// reports the connections that ended meanwhile (dropped: any is a failure)
// and the Engine.IO pings they received, which shows the heartbeat kept
// flowing.
func Idle(ctx context.Context, cfg Config) *Result {
	r := NewResult("idle", cfg.Label, cfg.Addr)
	r.Set("conns", cfg.N)
	r.Set("sources", len(cfg.Sources))
	if cfg.N <= 0 {
		r.Fail(fmt.Errorf("idle needs -n > 0"))
		return r
	}
	var before int64
	if cfg.ServerPID > 0 {
		var err error
		if before, err = RSSKB(cfg.ServerPID); err != nil {
			r.Fail(err)
			return r
		}
		r.Set("rss_before_kb", before)
	}
	d := cfg.dialer(512)
	t0 := time.Now()
	var closing atomic.Bool
	var dropped atomic.Int64
	var firstDrop atomic.Value
	p := openPool(ctx, cfg.N, cfg.connectConcurrency(), func(int) (*Client, error) {
		return d.Connect(ctx, true)
	}, func(_ int, c *Client) {
		err := readUntilError(c)
		if !closing.Load() {
			dropped.Add(1)
			firstDrop.CompareAndSwap(nil, err.Error())
		}
	})
	defer func() {
		closing.Store(true)
		p.closeAll(10 * time.Second)
	}()
	if err := p.waitReady(ctx); err != nil {
		r.Fail(err)
		return r
	}
	opened := p.opened.Load()
	r.Set("opened", opened)
	r.Set("errors", p.failed.Load())
	r.Set("open_s", time.Since(t0).Seconds())
	cfg.logf("idle %s: %d of %d connections open in %.1fs", cfg.Label, opened, cfg.N, time.Since(t0).Seconds())
	if !sleepUntil(ctx, time.Now().Add(cfg.Settle)) {
		r.Fail(ctx.Err())
		return r
	}
	if cfg.ServerPID > 0 {
		after, err := RSSKB(cfg.ServerPID)
		if err != nil {
			r.Fail(err)
			return r
		}
		r.Set("rss_after_kb", after)
		if opened > 0 {
			r.Set("kb_per_conn", float64(after-before)/float64(opened))
		}
	}
	if n := p.failed.Load(); n > 0 {
		r.Fail(fmt.Errorf("%d of %d connections failed: %v", n, cfg.N, p.firstErr()))
		return r
	}
	if cfg.Hold > 0 {
		pingsBefore := p.pings()
		cfg.logf("idle %s: holding %d connections for %v", cfg.Label, opened, cfg.Hold)
		t1 := time.Now()
		if !sleepUntil(ctx, t1.Add(cfg.Hold)) {
			r.Fail(ctx.Err())
			return r
		}
		pings := p.pings() - pingsBefore
		r.Set("hold_s", time.Since(t1).Seconds())
		r.Set("dropped", dropped.Load())
		r.Set("pings", pings)
		if opened > 0 {
			r.Set("pings_per_conn", float64(pings)/float64(opened))
		}
		if cfg.ServerPID > 0 {
			if held, err := RSSKB(cfg.ServerPID); err == nil {
				r.Set("rss_held_kb", held)
			}
		}
		cfg.logf("idle %s: after %.0fs: %d dropped, %d pings answered (%.2f per connection)",
			cfg.Label, time.Since(t1).Seconds(), dropped.Load(), pings, float64(pings)/float64(max(opened, 1)))
	}
	if n := dropped.Load(); n > 0 {
		r.Fail(fmt.Errorf("%d of %d connections dropped while idle: %v", n, opened, firstDrop.Load()))
		return r
	}
	r.Set("ok", true)
	return r
}
