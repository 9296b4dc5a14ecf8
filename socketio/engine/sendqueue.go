package engine

import "sync"

// Send-queue buffers and writer start-up without allocations in steady
// state.
//
// A session's queue ([]packet, 40 bytes a packet) is taken whole by its
// writer (or by a polling GET) and handed back here once written; the next
// Send takes a buffer from here. Buffers come in a few size classes, each
// kept in a sync.Pool, so a queue that grows while its writer lags trades
// its buffer for a bigger one instead of regrowing by append, and a session
// never keeps a buffer of its own while idle:
//
//   - idle session (nothing queued, no writer): no buffer at all (nil queue);
//   - while writing: at most two buffers, the one being written and the one
//     senders fill meanwhile, both back in the pools when the writer exits.
//
// What the pools hold is bounded by what was in flight at the same time in
// the recent past, and sync.Pool gives it back to the GC when it stays
// unused across two collections. Queues longer than the top class (only
// with Config.SendQueueLen above it) are ordinary slices, left to the GC.

// queueClasses are the pooled capacities, in packets (×40 bytes: 160 B,
// 640 B, 2.5 KB, 10 KB, 40 KB, 160 KB). The top one is the default
// Config.SendQueueLen.
var queueClasses = [...]int{4, 16, 64, 256, 1024, 4096}

var queuePools [len(queueClasses)]sync.Pool

// queueClass returns the index of the smallest class holding n packets, or
// -1 when n is above the top class.
func queueClass(n int) int {
	for i, c := range queueClasses {
		if n <= c {
			return i
		}
	}
	return -1
}

// getQueue returns an empty buffer with room for at least n packets. old is
// the buffer being replaced (its capacity guides growth past the top class).
func getQueue(n, old int) []packet {
	i := queueClass(n)
	if i < 0 {
		return make([]packet, 0, max(n, 2*old))
	}
	// The pools hold pointers to arrays (pointer-shaped, so Put and Get do
	// not allocate); the array length is the class.
	switch a := queuePools[i].Get().(type) {
	case *[4]packet:
		return a[:0]
	case *[16]packet:
		return a[:0]
	case *[64]packet:
		return a[:0]
	case *[256]packet:
		return a[:0]
	case *[1024]packet:
		return a[:0]
	case *[4096]packet:
		return a[:0]
	}
	return make([]packet, 0, queueClasses[i])
}

// putQueue clears q (it must not be used afterwards) and keeps it for reuse
// when its capacity is one of the classes; other slices go to the GC.
// Pooled arrays are all zero: every element past len(q) has never been set
// or was cleared before.
func putQueue(q []packet) {
	clear(q)
	q = q[:cap(q)]
	switch cap(q) {
	case 4:
		queuePools[0].Put((*[4]packet)(q))
	case 16:
		queuePools[1].Put((*[16]packet)(q))
	case 64:
		queuePools[2].Put((*[64]packet)(q))
	case 256:
		queuePools[3].Put((*[256]packet)(q))
	case 1024:
		queuePools[4].Put((*[1024]packet)(q))
	case 4096:
		queuePools[5].Put((*[4096]packet)(q))
	}
}

// reserveLocked makes room in s.queue for k more packets, moving it to a
// bigger pooled buffer when needed.
func (s *Session) reserveLocked(k int) {
	need := len(s.queue) + k
	if need <= cap(s.queue) {
		return
	}
	q := append(getQueue(need, cap(s.queue)), s.queue...)
	putQueue(s.queue)
	s.queue = q
}

// writerStart starts a session's writer goroutine without allocating:
// `go s.writeLoop()` would allocate a closure binding s every time, and a
// writer starts each time a session's queue goes from empty to non-empty.
// A writerStart's fn is its run method bound once, when the pool makes it;
// `go w.fn()` (a func value called without arguments) needs no new closure.
type writerStart struct {
	s  *Session
	fn func()
}

var writerStarts sync.Pool

func init() {
	writerStarts.New = func() any {
		w := new(writerStart)
		w.fn = w.run
		return w
	}
}

func (w *writerStart) run() {
	s := w.s
	w.s = nil
	writerStarts.Put(w)
	defer s.recoverClose("websocket writer")
	s.writeLoop()
}

// startWriter runs s.writeLoop on a new goroutine; for whoever set
// s.writing under s.mu.
func (s *Session) startWriter() {
	w := writerStarts.Get().(*writerStart)
	w.s = s
	go w.fn()
}
