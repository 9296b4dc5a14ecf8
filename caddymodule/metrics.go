package caddymodule

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/caddy-socketio/caddy-socketio/socketio"
	"github.com/caddy-socketio/caddy-socketio/socketio/engine"
)

// The collectors are package-level so that their values continue across
// config reloads and are shared by every handler: each config has its own
// registry and registers the same collectors (see registerMetrics). Labels
// are bounded: hub names and namespace names/patterns come from the config,
// never from clients.
var (
	connectedSockets = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: "caddy", Subsystem: "socketio", Name: "connected_sockets",
		Help: "Socket.IO sockets currently connected, by hub and namespace (dynamic namespaces count under their pattern).",
	}, []string{"hub", "namespace"})

	broadcasts = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "caddy", Subsystem: "socketio", Name: "broadcasts_total",
		Help: "Broadcasts emitted by relay rules, by hub and namespace.",
	}, []string{"hub", "namespace"})

	engineMetrics = newEngineCollector()
)

func registerMetrics(reg *prometheus.Registry) error {
	if reg == nil {
		return nil
	}
	for _, c := range []prometheus.Collector{connectedSockets, broadcasts, engineMetrics, recoveryMetrics} {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) { // another handler of this config registered it: fine
				return err
			}
		}
	}
	return nil
}

// engineCollector exports the Engine.IO counters of every live hub. They are
// read from the engine at scrape time, so they cost nothing on the hot path.
// Hubs that share a name (briefly, while a new hub replaces one whose fixed
// settings changed) are summed.
type engineCollector struct {
	sessions, packetsIn, packetsOut, bytesIn, bytesOut, slowClosed, rejected *prometheus.Desc
	limitHits, protocolErrors, panics, unhandled                             *prometheus.Desc
}

// hubDesc describes a caddy_socketio_<name> metric labelled by hub.
func hubDesc(name, help string) *prometheus.Desc {
	return prometheus.NewDesc(prometheus.BuildFQName("caddy", "socketio", name), help, []string{"hub"}, nil)
}

func newEngineCollector() *engineCollector {
	d := hubDesc
	return &engineCollector{
		sessions:   d("sessions", "Open Engine.IO sessions (client connections), by hub."),
		packetsIn:  d("packets_received_total", "Engine.IO packets received from clients, by hub."),
		packetsOut: d("packets_sent_total", "Engine.IO packets sent to clients, by hub."),
		bytesIn:    d("received_bytes_total", "Engine.IO payload bytes received from clients, by hub."),
		bytesOut:   d("sent_bytes_total", "Engine.IO payload bytes sent to clients, by hub."),
		slowClosed: d("slow_client_disconnects_total", "Connections closed because the client did not keep up (its send queue was full, or a websocket write took longer than 10 s), by hub."),
		rejected:   d("rejected_handshakes_total", "Engine.IO handshakes refused (bad query, disabled transport, websocket origin, headers over max_handshake_bytes), by hub."),
		protocolErrors: d("protocol_errors_total", "Connections failed for breaking the protocol: websocket frames refused with close code 1002 or 1007, "+
			"polling bodies refused with 400 (empty packet, over max_payload_packets, bad packet), by hub."),
		panics: prometheus.NewDesc(prometheus.BuildFQName("caddy", "socketio", "panics_total"),
			"Panics recovered in Socket.IO connection goroutines and handlers, process-wide; each closed its connection and was logged at ERROR with its stack.",
			nil, nil),
		unhandled: d("unhandled_events_total", "Client events dropped undecoded because no rule, hook or handler wanted them, by hub."),
		limitHits: prometheus.NewDesc(prometheus.BuildFQName("caddy", "socketio", "limit_hits_total"),
			"Times a limit was hit, by hub and limit: connections (handshakes refused), payload (messages over max_payload), "+
				"send_queue (slow clients disconnected), namespaces, rooms, attachments, event_rate (sockets disconnected), "+
				"dynamic_namespaces, namespace_connect_rate and connect_bytes (namespace connects refused), "+
				"decoded (sockets disconnected by max_decoded_bytes or max_decoded_bytes_total), "+
				"hook_queue (hook events dropped: hook_queue_size or hook_max_queued).",
			[]string{"hub", "limit"}, nil),
	}
}

func (c *engineCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.sessions, c.packetsIn, c.packetsOut, c.bytesIn, c.bytesOut, c.slowClosed, c.rejected, c.limitHits, c.protocolErrors, c.panics, c.unhandled} {
		ch <- d
	}
}

func (c *engineCollector) Collect(ch chan<- prometheus.Metric) {
	type sums struct {
		sessions  float64
		counters  engineCounters
		limits    socketio.LimitStats
		hookDrop  uint64
		unhandled uint64
	}
	byHub := make(map[string]*sums)
	var order []string
	hubs.Range(func(_, v any) bool {
		hb, ok := v.(*hub)
		if !ok {
			return true
		}
		s := byHub[hb.name]
		if s == nil {
			s = new(sums)
			byHub[hb.name] = s
			order = append(order, hb.name)
		}
		s.sessions += float64(hb.srv.Engine().SessionCount())
		s.counters.add(readEngineCounters(hb.srv.Engine()))
		l := hb.srv.LimitStats()
		s.limits.Namespaces += l.Namespaces
		s.limits.Rooms += l.Rooms
		s.limits.Attachments += l.Attachments
		s.limits.EventRate += l.EventRate
		s.limits.DynamicNamespaces += l.DynamicNamespaces
		s.limits.NamespaceConnectRate += l.NamespaceConnectRate
		s.limits.ConnectBytes += l.ConnectBytes
		s.limits.Decoded += l.Decoded
		s.unhandled += hb.srv.UnhandledEvents()
		if hb.dispatcher != nil {
			s.hookDrop += hb.dispatcher.Stats().Dropped
		}
		return true
	})
	// The engine's pollers are shared by every hub: panics are counted
	// for the process (engine.Panics), not per hub.
	ch <- prometheus.MustNewConstMetric(c.panics, prometheus.CounterValue, float64(engine.Panics()))
	for _, name := range order {
		s := byHub[name]
		ch <- prometheus.MustNewConstMetric(c.sessions, prometheus.GaugeValue, s.sessions, name)
		counter := func(d *prometheus.Desc, v uint64) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), name)
		}
		counter(c.packetsIn, s.counters.PacketsIn)
		counter(c.packetsOut, s.counters.PacketsOut)
		counter(c.bytesIn, s.counters.BytesIn)
		counter(c.bytesOut, s.counters.BytesOut)
		counter(c.slowClosed, s.counters.SlowClosed)
		counter(c.rejected, s.counters.RejectedHandshakes)
		counter(c.protocolErrors, s.counters.ProtocolErrors)
		counter(c.unhandled, s.unhandled)
		for _, hit := range []struct {
			limit string
			n     uint64
		}{
			{"connections", s.counters.RefusedFull}, {"payload", s.counters.TooLarge},
			{"send_queue", s.counters.SlowClosed}, {"namespaces", s.limits.Namespaces},
			{"rooms", s.limits.Rooms}, {"attachments", s.limits.Attachments},
			{"event_rate", s.limits.EventRate}, {"hook_queue", s.hookDrop},
			{"dynamic_namespaces", s.limits.DynamicNamespaces},
			{"namespace_connect_rate", s.limits.NamespaceConnectRate},
			{"connect_bytes", s.limits.ConnectBytes},
			{"decoded", s.limits.Decoded},
		} {
			ch <- prometheus.MustNewConstMetric(c.limitHits, prometheus.CounterValue, float64(hit.n), name, hit.limit)
		}
	}
}

var _ prometheus.Collector = (*engineCollector)(nil)
