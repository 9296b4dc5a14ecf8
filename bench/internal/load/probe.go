package load

import (
	"bytes"
	"context"
	"fmt"
	"time"
)

// Probe checks that the server runs the rules the benchmarks need: R1
// (welcome), R4 (join with ack), R6 (to-room, sender included) and R3
// (ack-echo). It takes a few milliseconds and gives up after 5 s.
func Probe(ctx context.Context, cfg Config) *Result {
	r := NewResult("probe", cfg.Label, cfg.Addr)
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	d := cfg.dialer(4096)
	d.Timeout = 5 * time.Second
	c, err := d.Connect(ctx, true)
	if err != nil {
		r.Fail(fmt.Errorf("connect (R1 welcome): %w", err))
		return r
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if err := c.Join(1, "probe"); err != nil {
		r.Fail(fmt.Errorf("join (R4): %w", err))
		return r
	}
	c.Buf = append(c.Buf[:0], `42["to-room",{"room":"probe","payload":"`...)
	c.Buf = AppendStamp(c.Buf, 'P', 7, 0, 0)
	c.Buf = append(c.Buf, `"}]`...)
	if err := c.Send(c.Buf); err != nil {
		r.Fail(err)
		return r
	}
	for {
		frame, err := c.Next()
		if err != nil {
			r.Fail(fmt.Errorf("to-room (R6): no room-message: %w", err))
			return r
		}
		if kind, seq, _, ok := ScanStamp(frame); ok && kind == 'P' && seq == 7 {
			break
		}
		if bytes.HasPrefix(frame, []byte(`42["room-message",`)) {
			r.Fail(fmt.Errorf("to-room (R6): got %q, want the payload string alone", clip(frame)))
			return r
		}
	}
	data, err := c.Call(2, "ack-echo", []byte(`"probe"`), []byte(`{"n":1}`))
	if err != nil {
		r.Fail(fmt.Errorf("ack-echo (R3): %w", err))
		return r
	}
	if string(data) != `["probe",{"n":1}]` {
		r.Fail(fmt.Errorf("ack-echo (R3) answered %q", clip(data)))
		return r
	}
	r.Set("ok", true)
	return r
}
