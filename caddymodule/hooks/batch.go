package hooks

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
)

// Batched delivery (Hook.Batch > 1). The socket workers hand their request
// bodies to the hook's batcher and wait for their own reply; the batcher
// sends what is waiting, up to Batch bodies of different sockets, in one
// POST of type "batch", and hands each reply back. Each socket still has
// one request at a time, so its order is kept. Batches in flight are
// bounded by Concurrency like single requests; while they are all busy,
// more bodies gather for the next batch.

// BatchRequest is the body of a batched POST: the requests, each exactly
// as it would have been sent alone.
type BatchRequest struct {
	Type   string            `json:"type"` // "batch"
	ID     string            `json:"id"`
	Events []json.RawMessage `json:"events"`
}

// BatchReply is what the app answers to a batch: one reply per request,
// in the same order (null or {} for no action).
type BatchReply struct {
	Replies []json.RawMessage `json:"replies"`
}

// TypeBatch is the type of a batched request (X-Socketio-Type).
const TypeBatch = "batch"

type batcher struct {
	mu      sync.Mutex
	q       []*batchItem
	running bool
}

type batchItem struct {
	body    []byte
	attempt int
	done    chan batchResult
}

type batchResult struct {
	r   *decoded
	err *hookError
}

// batched sends body in the hook's next batch and returns its own reply.
func (d *Dispatcher) batched(h *hook, typ, id string, body []byte, attempt int) (*decoded, *hookError) {
	it := &batchItem{body: body, attempt: attempt, done: make(chan batchResult, 1)}
	b := h.batcher
	b.mu.Lock()
	b.q = append(b.q, it)
	if !b.running {
		b.running = true
		go d.runBatcher(h)
	}
	b.mu.Unlock()
	res := <-it.done
	return res.r, res.err
}

// runBatcher sends batches while bodies are waiting; it exits when none
// are.
func (d *Dispatcher) runBatcher(h *hook) {
	b := h.batcher
	maxReply := d.cur.Load().cfg.MaxReplyBytes
	for {
		// A request slot first: while none is free, bodies gather.
		sem := *d.sem.Load()
		select {
		case sem <- struct{}{}:
		case <-d.ctx.Done():
			b.mu.Lock()
			items := b.q
			b.q, b.running = nil, false
			b.mu.Unlock()
			for _, it := range items {
				it.done <- batchResult{err: &hookError{reason: reasonClosed, err: d.ctx.Err()}}
			}
			return
		}
		b.mu.Lock()
		if len(b.q) == 0 {
			b.running = false
			b.mu.Unlock()
			<-sem
			return
		}
		n := min(len(b.q), h.batch)
		items := append([]*batchItem(nil), b.q[:n]...)
		b.q = append(b.q[:0], b.q[n:]...)
		b.mu.Unlock()
		go func() {
			defer func() { <-sem }()
			d.sendBatch(h, items, maxReply)
		}()
	}
}

// sendBatch posts one batch and hands out the replies.
func (d *Dispatcher) sendBatch(h *hook, items []*batchItem, maxReply int64) {
	fail := func(herr *hookError) {
		for _, it := range items {
			it.done <- batchResult{err: herr}
		}
	}
	id := d.newID()
	var buf bytes.Buffer
	buf.WriteString(`{"type":"batch","id":`)
	buf.WriteString(strconv.Quote(id))
	buf.WriteString(`,"events":[`)
	attempt := 1
	for i, it := range items {
		if i > 0 {
			buf.WriteByte(',')
		}
		buf.Write(it.body)
		attempt = max(attempt, it.attempt)
	}
	buf.WriteString("]}")
	raw, herr := d.post(h, TypeBatch, id, buf.Bytes(), attempt, maxReply*int64(len(items)), true)
	if herr != nil {
		fail(herr)
		return
	}
	var rep BatchReply
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&rep); err != nil || len(rep.Replies) != len(items) {
		if err == nil {
			err = fmt.Errorf("batch reply has %d replies for %d requests", len(rep.Replies), len(items))
		}
		h.stats.errors.Add(1)
		fail(&hookError{reason: reasonInvalidReply, err: err})
		return
	}
	for i, it := range items {
		one := rep.Replies[i]
		if bytes.Equal(bytes.TrimSpace(one), []byte("null")) {
			one = nil
		}
		r, err := parseReply(one)
		if err != nil {
			it.done <- batchResult{err: &hookError{reason: reasonInvalidReply, err: errors.New("batch reply " + strconv.Itoa(i) + ": " + err.Error())}}
			continue
		}
		it.done <- batchResult{r: r}
	}
}
