package hooks

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/caddy-socketio/caddy-socketio/socketio"
)

// hookError is a failed delivery.
type hookError struct {
	reason string // one of the reason* constants
	status int
	err    error
}

func (e *hookError) retryable() bool {
	switch e.reason {
	case reasonTimeout, reasonUnavailable:
		return true
	case reasonStatus:
		return e.status == http.StatusTooManyRequests || e.status >= 500
	}
	return false
}

// body encodes the request for one hook.
func (d *Dispatcher) body(h *hook, it *item, s *socketio.Socket, id string, args json.RawMessage, rooms []string) []byte {
	req := Request{
		Type: it.typ,
		ID:   id,
		Time: it.at.UTC().Format(time.RFC3339Nano),
	}
	if e := it.expired; e != nil { // the socket is gone: what its session kept
		req.Namespace = e.nsp
		req.Socket = SocketInfo{ID: string(e.sess.SID), Rooms: rooms, Data: EncodeBinary(e.sess.Data)}
	} else {
		req.Namespace = s.Namespace().Name()
		req.Socket = SocketInfo{
			ID:        string(s.ID()),
			Rooms:     rooms,
			Data:      EncodeBinary(s.Data()),
			Handshake: it.cfg.headers.Handshake(s.Handshake()),
		}
	}
	switch it.typ {
	case TypeConnect:
		req.Recovered = s.Recovered()
	case TypeEvent:
		req.Event, req.Args = it.event, args
		ack := it.ack != nil
		req.Ack = &ack
	case TypeDisconnect:
		req.Reason = it.reason
		req.Recoverable = it.recoverable
	}
	b, err := marshal(&req)
	if err != nil {
		// Socket data set by other code that JSON cannot encode.
		d.log.Warn("socket data does not encode as JSON, sent as null", "hook", h.name, "error", err)
		req.Socket.Data = nil
		b, _ = marshal(&req)
	}
	return b
}

// marshal is json.Marshal without HTML escaping ("&" stays "&").
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte{'\n'}), nil
}

// call delivers body to h, trying up to attempts times with backoff while
// the failure is retryable.
func (d *Dispatcher) call(h *hook, it *item, id string, body []byte, attempts int) (*decoded, *hookError) {
	cfg := &it.cfg.cfg
	backoff := cfg.RetryBackoff
	var last *hookError
	for attempt := 1; attempt <= attempts; attempt++ {
		if attempt > 1 {
			t := time.NewTimer(backoff)
			select {
			case <-t.C:
			case <-d.ctx.Done():
				t.Stop()
				return nil, &hookError{reason: reasonClosed, err: d.ctx.Err()}
			}
			backoff = min(2*backoff, cfg.RetryBackoffMax)
			h.stats.retries.Add(1)
		}
		r, herr := d.once(h, it.typ, id, body, attempt, cfg.MaxReplyBytes)
		if herr == nil {
			return r, nil
		}
		last = herr
		if !herr.retryable() {
			break
		}
		if attempt < attempts {
			d.log.Debug("hook failed, retrying", "hook", h.name, "type", it.typ, "attempt", attempt, "reason", herr.reason)
		}
	}
	return nil, last
}

// once makes one request. A connect waits for a request slot within the
// hook's timeout; events and disconnects wait as long as needed (their
// queues are bounded) and their timeout starts with the request.
func (d *Dispatcher) once(h *hook, typ, id string, body []byte, attempt int, maxReply int64) (*decoded, *hookError) {
	if h.batch > 1 && typ != TypeConnect {
		return d.batched(h, typ, id, body, attempt)
	}
	reply, herr := d.post(h, typ, id, body, attempt, maxReply, false)
	if herr != nil {
		return nil, herr
	}
	r, err := parseReply(reply)
	if err != nil {
		h.stats.errors.Add(1)
		return nil, &hookError{reason: reasonInvalidReply, err: err}
	}
	return r, nil
}

// post makes one request and returns the reply body.
// haveSlot: the caller holds a request slot already (a batch).
func (d *Dispatcher) post(h *hook, typ, id string, body []byte, attempt int, maxReply int64, haveSlot bool) ([]byte, *hookError) {
	if d.ctx.Err() != nil {
		return nil, &hookError{reason: reasonClosed, err: d.ctx.Err()}
	}
	var (
		ctx    context.Context
		cancel context.CancelFunc
	)
	semCtx := d.ctx
	if typ == TypeConnect {
		ctx, cancel = context.WithTimeout(d.ctx, h.timeout)
		defer cancel()
		semCtx = ctx
	}
	if !haveSlot {
		sem := *d.sem.Load()
		select {
		case sem <- struct{}{}:
		case <-semCtx.Done():
			if d.ctx.Err() != nil {
				return nil, &hookError{reason: reasonClosed, err: d.ctx.Err()}
			}
			h.stats.timeouts.Add(1)
			return nil, &hookError{reason: reasonTimeout, err: errors.New("no request slot free within the timeout")}
		}
		defer func() { <-sem }()
	}
	if ctx == nil {
		ctx, cancel = context.WithTimeout(d.ctx, h.timeout)
		defer cancel()
	}
	d.inflight.Add(1)
	defer d.inflight.Add(-1)

	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.url, bytes.NewReader(body))
	if err != nil {
		h.stats.errors.Add(1)
		return nil, &hookError{reason: reasonUnavailable, err: err}
	}
	for k, vs := range h.header {
		if k == "Host" {
			req.Host = vs[0]
			continue
		}
		req.Header[k] = vs
	}
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Socketio-Delivery", id)
	req.Header.Set("X-Socketio-Timestamp", ts)
	req.Header.Set("X-Socketio-Type", typ)
	req.Header.Set("X-Socketio-Attempt", strconv.Itoa(attempt))
	if h.secret != nil {
		req.Header.Set("X-Socketio-Signature", Sign(h.secret, ts, body))
	}
	if req.Header.Get("User-Agent") == "" {
		req.Header.Set("User-Agent", "caddy-socketio-hooks/1")
	}

	h.stats.deliveries.Add(1)
	start := time.Now()
	resp, err := d.client.Do(req)
	var reply []byte
	if err == nil {
		reply, err = io.ReadAll(io.LimitReader(resp.Body, maxReply+1))
		resp.Body.Close()
	}
	h.stats.observe(time.Since(start))
	if err != nil {
		switch {
		case d.ctx.Err() != nil:
			return nil, &hookError{reason: reasonClosed, err: err}
		case errors.Is(err, context.DeadlineExceeded) || isTimeout(err):
			h.stats.timeouts.Add(1)
			return nil, &hookError{reason: reasonTimeout, err: err}
		default:
			h.stats.errors.Add(1)
			return nil, &hookError{reason: reasonUnavailable, err: err}
		}
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		h.stats.errors.Add(1)
		return nil, &hookError{reason: reasonStatus, status: resp.StatusCode, err: fmt.Errorf("status %d", resp.StatusCode)}
	}
	if int64(len(reply)) > maxReply {
		h.stats.errors.Add(1)
		return nil, &hookError{reason: reasonInvalidReply, err: fmt.Errorf("reply longer than %d bytes", maxReply)}
	}
	return reply, nil
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
