package caddymodule

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics of the webhooks and the HTTP API. Like those of metrics.go they
// are package-level and continue across reloads. Labels are bounded: hub
// names and hook URLs (user info, query and fragment removed) come from the
// config; API operations and status codes from a fixed set.
var (
	apiRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "caddy", Subsystem: "socketio", Name: "api_requests_total",
		Help: `Socket.IO HTTP API requests (the api directive and the admin API), by hub, operation (emit, join, leave, disconnect, sockets, rooms, or "other") and status code.`,
	}, []string{"hub", "operation", "code"})

	hookMetrics = newHookCollector()
)

func registerWebhookMetrics(reg *prometheus.Registry) error {
	if reg == nil {
		return nil
	}
	for _, c := range []prometheus.Collector{apiRequests, hookMetrics} {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				return err
			}
		}
	}
	return nil
}

// hookCollector exports the counters of every live hub's dispatcher, read
// at scrape time. The dispatcher lives as long as its hub, across reloads,
// so its counters only grow.
type hookCollector struct {
	latency, deliveries, errs, timeouts, retries, dropped, refused, failures *prometheus.Desc
	queued, inFlight, droppedEvents                                          *prometheus.Desc
	queuedBytes, paused, pauses, pausedSeconds                               *prometheus.Desc
}

func newHookCollector() *hookCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName("caddy", "socketio", name), help, labels, nil)
	}
	return &hookCollector{
		latency:    d("hook_request_duration_seconds", "Latency of webhook requests, from sending to the end of the reply body (failures included), by hub and hook URL.", "hub", "hook"),
		deliveries: d("hook_requests_total", "Webhook requests sent (retries included), by hub and hook URL.", "hub", "hook"),
		errs:       d("hook_errors_total", "Webhook requests that failed other than by a timeout (unreachable, non-2xx status, invalid reply), by hub and hook URL.", "hub", "hook"),
		timeouts:   d("hook_timeouts_total", "Webhook requests that exceeded the hook's timeout, by hub and hook URL.", "hub", "hook"),
		retries:    d("hook_retries_total", "Webhook requests that were retries (disconnect hooks), by hub and hook URL.", "hub", "hook"),
		dropped:    d("hook_dropped_total", "Events not delivered to a hook because a queue was full or the hub was closing, by hub and hook URL.", "hub", "hook"),
		refused:    d("hook_connects_refused_total", "Connections the application refused with an error reply, by hub and hook URL.", "hub", "hook"),
		failures:   d("hook_connect_failures_total", "Connect hooks that failed, by hub, hook URL and outcome (on_error deny or allow).", "hub", "hook", "on_error"),

		queued:        d("hook_queued", "Events and disconnects accepted for the webhooks and not yet delivered, by hub.", "hub"),
		inFlight:      d("hook_requests_in_flight", "Webhook requests in flight, by hub.", "hub"),
		droppedEvents: d("hook_dropped_events_total", "Events dropped because a socket's queue (hook_queue_size, hook_queue_bytes) or all queues (hook_max_queued, hook_max_queued_bytes) were full with hook_overflow drop or disconnect, or the hub was closing, each counted once, by hub.", "hub"),
		queuedBytes:   d("hook_queued_bytes", "Bytes held by the events queued for the webhooks (as hook_queue_bytes counts them), by hub.", "hub"),
		paused:        d("hook_paused_sockets", "Sockets whose client is not read from now because their webhook queue is full (hook_overflow backpressure), by hub.", "hub"),
		pauses:        d("hook_pauses_total", "Times a socket's client stopped being read from because its webhook queue was full, by hub.", "hub"),
		pausedSeconds: d("hook_paused_seconds_total", "Time sockets spent paused by webhook backpressure, counted when each pause ends, by hub.", "hub"),
	}
}

func (c *hookCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.latency, c.deliveries, c.errs, c.timeouts, c.retries, c.dropped,
		c.refused, c.failures, c.queued, c.inFlight, c.droppedEvents, c.queuedBytes, c.paused, c.pauses, c.pausedSeconds} {
		ch <- d
	}
}

type hookSums struct {
	deliveries, errs, timeouts, retries, dropped, refused, denied, allowed uint64
	count                                                                  uint64
	sum                                                                    float64
	buckets                                                                map[float64]uint64
}

type hubSums struct {
	queued, inFlight float64
	dropped          uint64
	queuedBytes      float64
	paused           float64
	pauses           uint64
	pausedSeconds    float64
	hooks            map[string]*hookSums
	order            []string
}

func (c *hookCollector) Collect(ch chan<- prometheus.Metric) {
	byHub := make(map[string]*hubSums)
	var order []string
	hubs.Range(func(_, v any) bool {
		hb, ok := v.(*hub)
		if !ok || hb.dispatcher == nil {
			return true
		}
		s := byHub[hb.name]
		if s == nil {
			s = &hubSums{hooks: make(map[string]*hookSums)}
			byHub[hb.name] = s
			order = append(order, hb.name)
		}
		st := hb.dispatcher.Stats()
		s.queued += float64(st.Queued)
		s.inFlight += float64(st.InFlight)
		s.dropped += st.Dropped
		s.queuedBytes += float64(st.QueuedBytes)
		s.paused += float64(st.Paused)
		s.pauses += st.Pauses
		s.pausedSeconds += st.PausedSeconds
		for _, hs := range st.Hooks {
			label := hookLabel(hs.URL)
			k := s.hooks[label]
			if k == nil {
				k = &hookSums{buckets: make(map[float64]uint64)}
				s.hooks[label] = k
				s.order = append(s.order, label)
			}
			k.deliveries += hs.Deliveries
			k.errs += hs.Errors
			k.timeouts += hs.Timeouts
			k.retries += hs.Retries
			k.dropped += hs.Dropped
			k.refused += hs.Refused
			k.denied += hs.FailDenied
			k.allowed += hs.FailAllowed
			k.count += hs.Latency.Count
			k.sum += hs.Latency.Sum
			for i, b := range hs.Latency.Bounds {
				if i < len(hs.Latency.Counts) {
					k.buckets[b] += hs.Latency.Counts[i]
				}
			}
		}
		return true
	})
	for _, name := range order {
		s := byHub[name]
		ch <- prometheus.MustNewConstMetric(c.queued, prometheus.GaugeValue, s.queued, name)
		ch <- prometheus.MustNewConstMetric(c.inFlight, prometheus.GaugeValue, s.inFlight, name)
		ch <- prometheus.MustNewConstMetric(c.droppedEvents, prometheus.CounterValue, float64(s.dropped), name)
		ch <- prometheus.MustNewConstMetric(c.queuedBytes, prometheus.GaugeValue, s.queuedBytes, name)
		ch <- prometheus.MustNewConstMetric(c.paused, prometheus.GaugeValue, s.paused, name)
		ch <- prometheus.MustNewConstMetric(c.pauses, prometheus.CounterValue, float64(s.pauses), name)
		ch <- prometheus.MustNewConstMetric(c.pausedSeconds, prometheus.CounterValue, s.pausedSeconds, name)
		for _, label := range s.order {
			k := s.hooks[label]
			counter := func(d *prometheus.Desc, v uint64, extra ...string) {
				ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), append([]string{name, label}, extra...)...)
			}
			counter(c.deliveries, k.deliveries)
			counter(c.errs, k.errs)
			counter(c.timeouts, k.timeouts)
			counter(c.retries, k.retries)
			counter(c.dropped, k.dropped)
			counter(c.refused, k.refused)
			counter(c.failures, k.denied, "deny")
			counter(c.failures, k.allowed, "allow")
			ch <- prometheus.MustNewConstHistogram(c.latency, k.count, k.sum, k.buckets, name, label)
		}
	}
}

var _ prometheus.Collector = (*hookCollector)(nil)
