package caddymodule

import (
	"fmt"
	"strconv"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/dustin/go-humanize"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/caddy-socketio/caddy-socketio/socketio"
	"github.com/caddy-socketio/caddy-socketio/socketio/adapter"
)

// defaultRecoveryWindow is how long Caddy keeps the session of a socket
// whose connection dropped, unless configured otherwise.
const defaultRecoveryWindow = 2 * time.Minute

// Recovery configures connection state recovery
// (https://socket.io/docs/v4/connection-state-recovery). It is on by
// default in Caddy, with a 2 minute window: a client whose connection
// drops (a network blip, a Caddy reload that cut a polling request, a
// restart of the front proxy) and comes back within the window gets back
// its socket id, rooms and data, and every event it missed, in order.
// Sessions and the packet buffer live in the hub, so they survive reloads
// that keep it.
type Recovery struct {
	// Off turns recovery off: no pid, no offsets, nothing buffered.
	Off bool `json:"off,omitempty"`
	// How long the session of a dropped socket is kept, and how long an
	// event stays in the buffer. Default: 2m.
	MaxDisconnectionDuration caddy.Duration `json:"max_disconnection_duration,omitempty"`
	// Let a recovered socket connect without its connect hooks (and the
	// namespace admission check) running again. Default: false: connect
	// hooks see "recovered": true and may refuse.
	SkipMiddlewares bool `json:"skip_middlewares,omitempty"`
	// Most events buffered per namespace. Default: 200000.
	MaxPackets int `json:"max_packets,omitempty"`
	// Most bytes of events buffered per namespace. Default: 64 MiB.
	MaxBuffer int64 `json:"max_buffer,omitempty"`
	// Most sessions kept per namespace; beyond it, a dropped socket is not
	// kept. Default: 100000.
	MaxSessions int `json:"max_sessions,omitempty"`
}

// recoverySettings are the resolved recovery settings, part of the hub's
// fixed settings: changing them builds a new hub.
type recoverySettings struct {
	Window          time.Duration
	SkipMiddlewares bool  `json:",omitempty"`
	MaxPackets      int   `json:",omitempty"`
	MaxBuffer       int64 `json:",omitempty"`
	MaxSessions     int   `json:",omitempty"`
}

// recovery resolves the settings; nil when recovery is off.
func (h *Handler) recovery() *recoverySettings {
	r := h.Recovery
	if r == nil {
		r = &Recovery{}
	}
	if r.Off {
		return nil
	}
	o := adapter.RecoveryOptions{
		MaxDisconnectionDuration: time.Duration(r.MaxDisconnectionDuration),
		MaxPackets:               r.MaxPackets,
		MaxBytes:                 r.MaxBuffer,
		MaxSessions:              r.MaxSessions,
	}
	if o.MaxDisconnectionDuration == 0 {
		o.MaxDisconnectionDuration = defaultRecoveryWindow
	}
	o = o.WithDefaults()
	return &recoverySettings{
		Window: o.MaxDisconnectionDuration, SkipMiddlewares: r.SkipMiddlewares,
		MaxPackets: o.MaxPackets, MaxBuffer: o.MaxBytes, MaxSessions: o.MaxSessions,
	}
}

func (h *Handler) checkRecovery() error {
	r := h.Recovery
	if r == nil {
		return nil
	}
	if r.MaxDisconnectionDuration < 0 || r.MaxPackets < 0 || r.MaxBuffer < 0 || r.MaxSessions < 0 {
		return fmt.Errorf("recovery settings must not be negative")
	}
	return nil
}

// library is the socketio.Recovery of a new hub; expire receives the
// sessions whose window ran out.
func (r *recoverySettings) library(expire func(*socketio.Namespace, adapter.Session)) *socketio.Recovery {
	if r == nil {
		return nil
	}
	return &socketio.Recovery{
		RecoveryOptions: adapter.RecoveryOptions{
			MaxDisconnectionDuration: r.Window, MaxPackets: r.MaxPackets,
			MaxBytes: r.MaxBuffer, MaxSessions: r.MaxSessions,
		},
		SkipMiddlewares: r.SkipMiddlewares,
		OnExpire:        expire,
	}
}

// parseRecovery parses `recovery off|<duration> [{ ... }]`.
func parseRecovery(d *caddyfile.Dispenser, h *Handler) error {
	r := &Recovery{}
	args := d.RemainingArgs()
	switch len(args) {
	case 0:
	case 1:
		switch args[0] {
		case "off":
			r.Off = true
		case "on":
		default:
			dur, err := caddy.ParseDuration(args[0])
			if err != nil || dur <= 0 {
				return d.Errf("recovery: want off, on or a positive duration, got %q", args[0])
			}
			r.MaxDisconnectionDuration = caddy.Duration(dur)
		}
	default:
		return d.ArgErr()
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch d.Val() {
		case "skip_middlewares":
			on, err := parseOnOff(d)
			if err != nil {
				return err
			}
			r.SkipMiddlewares = on
		case "max_buffer":
			if !d.NextArg() {
				return d.ArgErr()
			}
			n, err := humanize.ParseBytes(d.Val())
			if err != nil || n == 0 {
				return d.Errf("recovery max_buffer: invalid size %q", d.Val())
			}
			r.MaxBuffer = int64(n)
		case "max_packets", "max_sessions":
			name := d.Val()
			if !d.NextArg() {
				return d.ArgErr()
			}
			n, err := strconv.Atoi(d.Val())
			if err != nil || n <= 0 {
				return d.Errf("recovery %s: want a positive number, got %q", name, d.Val())
			}
			if name == "max_packets" {
				r.MaxPackets = n
			} else {
				r.MaxSessions = n
			}
		default:
			return d.Errf("unknown recovery subdirective %q", d.Val())
		}
		if d.NextArg() {
			return d.ArgErr()
		}
	}
	h.Recovery = r
	return nil
}

// recoveryCollector exports the recovery buffers and sessions of every
// live hub (all namespaces summed), read at scrape time.
type recoveryCollector struct {
	sessions, packets, bytes, restored, expired, refused, evicted, tooOld *prometheus.Desc
}

var recoveryMetrics = func() *recoveryCollector {
	d := hubDesc
	return &recoveryCollector{
		sessions: d("recovery_sessions", "Sessions of dropped sockets kept for connection state recovery, by hub."),
		packets:  d("recovery_buffered_packets", "Events in the recovery buffers, by hub."),
		bytes:    d("recovery_buffered_bytes", "Accounted bytes of the events in the recovery buffers (max_buffer counts these), by hub."),
		restored: d("recovery_restored_total", "Sessions recovered by a reconnecting client, by hub."),
		expired:  d("recovery_expired_total", "Kept sessions whose window ran out, by hub."),
		refused:  d("recovery_sessions_refused_total", "Dropped sockets not kept because max_sessions was reached, by hub."),
		evicted:  d("recovery_evicted_packets_total", "Events evicted from a recovery buffer before their time by max_packets or max_buffer, by hub."),
		tooOld:   d("recovery_too_old_total", "Recoveries refused because events the client missed had been evicted, by hub."),
	}
}()

func (c *recoveryCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.sessions, c.packets, c.bytes, c.restored, c.expired, c.refused, c.evicted, c.tooOld} {
		ch <- d
	}
}

func (c *recoveryCollector) Collect(ch chan<- prometheus.Metric) {
	byHub := make(map[string]*adapter.RecoveryStats)
	var order []string
	hubs.Range(func(_, v any) bool {
		hb, ok := v.(*hub)
		if !ok {
			return true
		}
		s := byHub[hb.name]
		if s == nil {
			s = new(adapter.RecoveryStats)
			byHub[hb.name] = s
			order = append(order, hb.name)
		}
		for _, n := range hb.srv.Namespaces() {
			st := n.RecoveryStats()
			s.Sessions += st.Sessions
			s.BufferedPackets += st.BufferedPackets
			s.BufferedBytes += st.BufferedBytes
			s.Restored += st.Restored
			s.Expired += st.Expired
			s.SessionsRefused += st.SessionsRefused
			s.EvictedForSize += st.EvictedForSize
			s.RestoreTooOld += st.RestoreTooOld
		}
		return true
	})
	for _, name := range order {
		s := byHub[name]
		gauge := func(d *prometheus.Desc, v float64) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, name)
		}
		counter := func(d *prometheus.Desc, v uint64) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), name)
		}
		gauge(c.sessions, float64(s.Sessions))
		gauge(c.packets, float64(s.BufferedPackets))
		gauge(c.bytes, float64(s.BufferedBytes))
		counter(c.restored, s.Restored)
		counter(c.expired, s.Expired)
		counter(c.refused, s.SessionsRefused)
		counter(c.evicted, s.EvictedForSize)
		counter(c.tooOld, s.RestoreTooOld)
	}
}

var _ prometheus.Collector = (*recoveryCollector)(nil)
