package hooks

import (
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// LatencyBounds are the upper bounds, in seconds, of the request latency
// histogram of every hook.
var LatencyBounds = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// Stats is a snapshot of the dispatcher's counters. Counters only grow for
// the dispatcher's lifetime, across Update calls, so they map directly to
// Prometheus counters.
type Stats struct {
	// Queued is the number of events and disconnects accepted and not yet
	// done (waiting in a socket's queue or being delivered); InFlight the
	// number of hook requests in flight.
	Queued   int64
	InFlight int64
	// QueuedBytes is what the queued events hold, as QueueBytes counts it.
	QueuedBytes int64
	// Paused is the number of sockets whose reads are paused now by
	// backpressure (overflow "backpressure"); Pauses counts the pauses so
	// far, PausedSeconds the time the ended ones lasted.
	Paused        int64
	Pauses        uint64
	PausedSeconds float64
	// Dropped counts the events not delivered because a queue was full or
	// the dispatcher was closed (each counted once, whatever the number of
	// hooks that selected it).
	Dropped uint64
	// Hooks has one entry per hook URL ever configured, in the order first
	// configured. Hooks with the same URL share one entry.
	Hooks []HookStats
}

// HookStats are the counters of one hook URL.
type HookStats struct {
	// URL of the hook, without user info: the metrics label.
	URL string
	// Deliveries counts requests sent, retries included.
	Deliveries uint64
	// Errors counts requests that failed other than by timing out: the app
	// was unreachable, answered a status other than 2xx, or an invalid
	// reply.
	Errors uint64
	// Timeouts counts requests that exceeded the hook's timeout.
	Timeouts uint64
	// Retries counts the requests that were retries (disconnect hooks).
	Retries uint64
	// Dropped counts the events for this hook dropped because a queue was
	// full or the dispatcher was closed.
	Dropped uint64
	// Refused counts connects the app refused with an "error" reply.
	Refused uint64
	// FailDenied and FailAllowed count connects whose hook failed, refused
	// (on_error deny) or let through (on_error allow).
	FailDenied  uint64
	FailAllowed uint64
	// Latency of the requests that got a response or failed (not those
	// never sent), from sending to the end of the reply body.
	Latency Histogram
}

// Histogram is a latency distribution in the shape Prometheus wants.
type Histogram struct {
	// Bounds are the bucket upper bounds in seconds (LatencyBounds).
	Bounds []float64
	// Counts[i] is the number of observations <= Bounds[i] (cumulative).
	Counts []uint64
	// Count and Sum (seconds) cover every observation, +Inf included.
	Count uint64
	Sum   float64
}

type hookStats struct {
	url                   string
	deliveries, errors    atomic.Uint64
	timeouts, retries     atomic.Uint64
	dropped, refused      atomic.Uint64
	failDenied, failAllow atomic.Uint64

	failLog logLimiter

	mu     sync.Mutex
	counts []uint64 // per bucket, not cumulative; one more for +Inf
	count  uint64
	sum    float64
}

func newHookStats(url string) *hookStats {
	return &hookStats{url: url, counts: make([]uint64, len(LatencyBounds)+1)}
}

func (s *hookStats) observe(d time.Duration) {
	sec := d.Seconds()
	i := 0
	for i < len(LatencyBounds) && sec > LatencyBounds[i] {
		i++
	}
	s.mu.Lock()
	s.counts[i]++
	s.count++
	s.sum += sec
	s.mu.Unlock()
}

func (s *hookStats) snapshot() HookStats {
	out := HookStats{
		URL:         s.url,
		Deliveries:  s.deliveries.Load(),
		Errors:      s.errors.Load(),
		Timeouts:    s.timeouts.Load(),
		Retries:     s.retries.Load(),
		Dropped:     s.dropped.Load(),
		Refused:     s.refused.Load(),
		FailDenied:  s.failDenied.Load(),
		FailAllowed: s.failAllow.Load(),
	}
	s.mu.Lock()
	h := Histogram{
		Bounds: append([]float64(nil), LatencyBounds...),
		Counts: make([]uint64, len(LatencyBounds)),
		Count:  s.count,
		Sum:    s.sum,
	}
	var cum uint64
	for i := range LatencyBounds {
		cum += s.counts[i]
		h.Counts[i] = cum
	}
	s.mu.Unlock()
	out.Latency = h
	return out
}

// warn logs a hook failure, at most once a second per hook: an app that is
// down would otherwise log once per event.
func (s *hookStats) warn(log *slog.Logger, msg string, args ...any) {
	if s.failLog.allow() {
		log.Warn(msg+" (logged at most once a second per hook)", args...)
	}
}

// logLimiter allows one log line a second.
type logLimiter struct{ last atomic.Int64 }

func (l *logLimiter) allow() bool { return l.allowEvery(time.Second) }

// allowEvery allows one log line per interval.
func (l *logLimiter) allowEvery(interval time.Duration) bool {
	now := time.Now().UnixNano()
	last := l.last.Load()
	return now-last >= int64(interval) && l.last.CompareAndSwap(last, now)
}
