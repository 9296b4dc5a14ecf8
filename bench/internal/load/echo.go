package load

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"time"
)

// Echo runs C clients, each doing `ack-echo` round trips (R3) back to back:
// emit with an ack id, wait for that ack, repeat. Round trips that start after
// the warm-up and end inside the measured window count.
func Echo(ctx context.Context, cfg Config) *Result {
	r := NewResult("echo", cfg.Label, cfg.Addr)
	r.Set("clients", cfg.C)
	r.Set("payload_bytes", cfg.Payload)
	if cfg.C <= 0 || cfg.Duration <= 0 {
		r.Fail(fmt.Errorf("echo needs -c and -duration > 0"))
		return r
	}
	d := cfg.dialer(4096)
	p := openPool(ctx, cfg.C, cfg.connectConcurrency(), func(int) (*Client, error) {
		return d.Connect(ctx, true)
	}, func(int, *Client) {})
	defer p.closeAll(5 * time.Second)
	if err := p.waitReady(ctx); err != nil {
		r.Fail(err)
		return r
	}
	if n := p.failed.Load(); n > 0 {
		r.Fail(fmt.Errorf("%d of %d clients failed to connect: %v", n, cfg.C, p.firstErr()))
		return r
	}

	arg := AppendJSONString(nil, strings.Repeat("x", cfg.Payload))
	want := append(append([]byte{'['}, arg...), ']')
	var hist Histogram
	counts := make([]int64, cfg.C)
	errs := make([]error, cfg.C)
	start := time.Now()
	warmEnd := start.Add(cfg.Warmup)
	end := warmEnd.Add(cfg.Duration)
	var m0 cpuMark
	var markOnce sync.Once
	time.AfterFunc(cfg.Warmup, func() { markOnce.Do(func() { m0 = markCPU(cfg.ServerPID) }) })
	var wg sync.WaitGroup
	for i, c := range p.clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.SetWriteTimeout(10 * time.Second)
			c.SetReadDeadline(end.Add(10 * time.Second))
			for id := uint64(1); ; id++ {
				t := time.Now()
				if !t.Before(end) || ctx.Err() != nil {
					return
				}
				c.Buf = AppendEvent(c.Buf[:0], "/", int64(id), "ack-echo", arg)
				if err := c.Send(c.Buf); err != nil {
					errs[i] = err
					return
				}
				for {
					frame, err := c.Next()
					if err != nil {
						errs[i] = err
						return
					}
					if got, data, ok := ScanAck(frame); ok && got == id {
						if !bytes.Equal(data, want) {
							errs[i] = fmt.Errorf("ack-echo answered %q", clip(data))
							return
						}
						break
					}
				}
				done := time.Now()
				if !t.Before(warmEnd) && !done.After(end) {
					counts[i]++
					hist.Record(done.Sub(t))
				}
			}
		}()
	}
	wg.Wait()
	markOnce.Do(func() { m0 = markCPU(cfg.ServerPID) })
	m1 := markCPU(cfg.ServerPID)
	var total, nerr int64
	var firstErr error
	for i := range counts {
		total += counts[i]
		if errs[i] != nil {
			nerr++
			if firstErr == nil {
				firstErr = errs[i]
			}
		}
	}
	rate := float64(total) / cfg.Duration.Seconds()
	client, server := cpuSince(m0, m1)
	r.Set("round_trips", total)
	r.Set("round_trips_per_sec", rate)
	r.Set("p50_ms", ms(hist.Quantile(0.50)))
	r.Set("p99_ms", ms(hist.Quantile(0.99)))
	r.Set("max_ms", ms(hist.Max()))
	r.Set("errors", nerr)
	r.Set("client_cpu", client)
	if server >= 0 {
		r.Set("server_cpu", server)
	}
	if nerr > 0 {
		r.Fail(fmt.Errorf("%d clients failed: %v", nerr, firstErr))
		return r
	}
	r.Set("ok", true)
	return r
}
