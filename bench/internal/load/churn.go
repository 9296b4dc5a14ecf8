package load

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Churn runs C workers, each repeating a full connect (websocket handshake,
// open packet, CONNECT to "/", CONNECT reply and the welcome event) followed
// by a disconnect (Socket.IO DISCONNECT, then the websocket close handshake,
// as a browser does). Connects that start after
// the warm-up and finish inside the measured window count.
func Churn(ctx context.Context, cfg Config) *Result {
	r := NewResult("churn", cfg.Label, cfg.Addr)
	r.Set("workers", cfg.C)
	if cfg.C <= 0 || cfg.Duration <= 0 {
		r.Fail(fmt.Errorf("churn needs -c and -duration > 0"))
		return r
	}
	d := cfg.dialer(1024)
	var hist Histogram
	var count, nerr atomic.Int64
	var errMu sync.Mutex
	var firstErr error
	start := time.Now()
	warmEnd := start.Add(cfg.Warmup)
	end := warmEnd.Add(cfg.Duration)
	var m0 cpuMark
	var markOnce sync.Once
	time.AfterFunc(cfg.Warmup, func() { markOnce.Do(func() { m0 = markCPU(cfg.ServerPID) }) })
	var wg sync.WaitGroup
	for range cfg.C {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				t := time.Now()
				if !t.Before(end) || ctx.Err() != nil {
					return
				}
				c, err := d.Connect(ctx, true)
				if err != nil {
					nerr.Add(1)
					errMu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					errMu.Unlock()
					time.Sleep(10 * time.Millisecond) // do not spin on a refusing server
					continue
				}
				done := time.Now()
				_ = c.DisconnectClean()
				if !t.Before(warmEnd) && !done.After(end) {
					count.Add(1)
					hist.Record(done.Sub(t))
				}
			}
		}()
	}
	wg.Wait()
	markOnce.Do(func() { m0 = markCPU(cfg.ServerPID) })
	m1 := markCPU(cfg.ServerPID)
	client, server := cpuSince(m0, m1)
	r.Set("connects", count.Load())
	r.Set("connects_per_sec", float64(count.Load())/cfg.Duration.Seconds())
	r.Set("p50_ms", ms(hist.Quantile(0.50)))
	r.Set("p99_ms", ms(hist.Quantile(0.99)))
	r.Set("max_ms", ms(hist.Max()))
	r.Set("errors", nerr.Load())
	r.Set("client_cpu", client)
	if server >= 0 {
		r.Set("server_cpu", server)
	}
	if n := nerr.Load(); n > 0 {
		r.Fail(fmt.Errorf("%d connects failed: %v", n, firstErr))
		return r
	}
	r.Set("ok", true)
	return r
}
