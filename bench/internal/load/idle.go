package load

import (
	"context"
	"fmt"
	"time"
)

// Idle opens N websocket connections joined to "/" (each answering pings and
// nothing else) and reads the server's RSS before and after: the memory one
// idle connection costs.
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
	p := openPool(ctx, cfg.N, cfg.connectConcurrency(), func(int) (*Client, error) {
		return d.Connect(ctx, true)
	}, func(_ int, c *Client) { readLoop(c) })
	defer p.closeAll(10 * time.Second)
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
	r.Set("ok", true)
	return r
}
