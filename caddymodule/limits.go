package caddymodule

import (
	"fmt"
	"strconv"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/dustin/go-humanize"

	"github.com/caddy-socketio/caddy-socketio/socketio"
)

// Limits bound what clients can make a hub hold or do. Every limit has a
// safe default; each hit is logged once per connection or socket (the
// connections limit at most every 10 s) and counted in
// caddy_socketio_limit_hits_total{limit=...}. A value of -1 ("off" in the
// Caddyfile) removes a limit. The message size limit is max_payload and the
// webhook limits are the hook_* settings.
type Limits struct {
	// Most open connections (Engine.IO sessions) of the hub. A handshake
	// beyond it gets HTTP 503 "Too many connections" with Retry-After: 5,
	// which the official client treats as a connection error and retries
	// with its backoff; open connections are not affected. A reload applies
	// a new value at once. Default: 90% of the process's open-file limit
	// (none where that is unknown), so that the site keeps file descriptors
	// for its other requests. Counted as limit="connections".
	MaxConnections int `json:"max_connections,omitempty"`

	// Most namespaces one connection may join at once. A further CONNECT
	// gets connect_error "Too many namespaces"; the connection and its
	// other namespaces stay. Reloadable. Default: 32. limit="namespaces".
	MaxNamespaces int `json:"max_namespaces,omitempty"`

	// Most rooms a socket may be in, its own room included, whoever asks:
	// join rules, hook replies, the HTTP API. A join beyond it is refused
	// (a join rule answers the client's ack with null). Reloadable; sockets
	// keep rooms they already have. Default: 256. limit="rooms".
	MaxRoomsPerSocket int `json:"max_rooms_per_socket,omitempty"`

	// Most binary attachments one packet may announce. A packet with more
	// closes its connection, like any malformed packet. Reloadable.
	// Default: 10 (Node's default). limit="attachments".
	MaxAttachments int `json:"max_attachments,omitempty"`

	// Events per second one socket may send on average (a token bucket of
	// event_burst events). A socket that goes over is disconnected: its
	// client gets "io server disconnect" and does not reconnect on its
	// own; hooks see the reason "rate limit exceeded". Reloadable. Default:
	// no limit. limit="event_rate".
	EventRate float64 `json:"event_rate,omitempty"`

	// Bucket size for event_rate: how many events a socket may send in a
	// burst. Default: event_rate rounded up.
	EventBurst int `json:"event_burst,omitempty"`

	// Most namespaces matched by a `namespace ~<regexp>` pattern alive at
	// once in the hub. Such a namespace is created when the first socket
	// passes the connect hooks and removed when its last socket leaves; a
	// CONNECT that would create one more gets connect_error "Too many
	// dynamic namespaces". Namespaces declared by name do not count.
	// Reloadable. Default: 10000. limit="dynamic_namespaces".
	MaxDynamicNamespaces int `json:"max_dynamic_namespaces,omitempty"`

	// Namespace CONNECT packets per second one connection may send on
	// average (a token bucket of namespace_connect_burst). A CONNECT over
	// it gets connect_error "Too many namespace connects" before any
	// namespace is looked up or hook called; the connection stays. -1
	// (off) removes it. Reloadable. Default: 10 per second.
	// limit="namespace_connect_rate".
	NamespaceConnectRate float64 `json:"namespace_connect_rate,omitempty"`

	// Largest namespace CONNECT packet in bytes, most of it the client's
	// auth payload, which the socket keeps for its life (hooks and the API
	// show it). A larger one gets connect_error "Connect payload too
	// large"; the connection stays. Reloadable. Default: 16KiB.
	// limit="connect_bytes".
	MaxConnectBytes int `json:"max_connect_bytes,omitempty"`

	// Bucket size for namespace_connect_rate. Default: 32 (a client may
	// connect to max_namespaces' default at once).
	NamespaceConnectBurst int `json:"namespace_connect_burst,omitempty"`

	// Most memory the decoded arguments of one event may take, as
	// estimated from its JSON text before decoding (the text plus 48 bytes
	// per value). Arguments are only decoded for rules that read them (ack,
	// join, leave, relay with to field or payload) and never for hooks or
	// plain relays, which pass the client's bytes on; events nobody handles
	// are dropped undecoded. An event over it disconnects its socket: the
	// client gets "io server disconnect", hooks see the reason "decoded
	// size limit exceeded". Reloadable. Default: 16 MiB.
	// limit="decoded".
	MaxDecodedBytes int64 `json:"max_decoded_bytes,omitempty"`

	// The same for all connections of the hub together, counting the
	// events being handled at the same moment. Reloadable. Default:
	// 128 MiB. limit="decoded".
	MaxDecodedBytesTotal int64 `json:"max_decoded_bytes_total,omitempty"`

	// Most messages waiting to be written to one connection. A client that
	// lets them pile up (it stops reading, or reads slower than it is sent
	// to) is disconnected with the log line "send queue full, closing slow
	// client", so that it cannot hold memory or slow others down; volatile
	// emits to it are dropped instead. Changing it builds a new hub.
	// Default: 4096. limit="send_queue" (also counted in
	// caddy_socketio_slow_client_disconnects_total).
	SendQueueSize int `json:"send_queue_size,omitempty"`

	// Most bytes waiting to be written to one connection; the same as
	// send_queue_size, in bytes. At least max_payload. Changing it builds a
	// new hub. Default: 16 MiB.
	SendQueueBytes int64 `json:"send_queue_bytes,omitempty"`

	// How long a client may take to send one polling POST body once its
	// headers are in (Caddy sets no read timeout by default, and a body is
	// read as it arrives, never allocated at its announced length). Over
	// it the POST gets 400 and the connection is closed ("transport
	// error"). Changing it builds a new hub. Default: 10s.
	PostReadTimeout caddy.Duration `json:"post_read_timeout,omitempty"`

	// Most packets one polling POST body may carry. A body with more gets
	// 400 and closes its connection ("parse error") before any of its
	// packets is handled; so does an empty packet (a run of separators),
	// refused where it is found. Changing it builds a new hub. Default:
	// 10000 (the official client sends all it has buffered, up to
	// max_payload, in one body). Counted in
	// caddy_socketio_protocol_errors_total.
	MaxPayloadPackets int `json:"max_payload_packets,omitempty"`

	// Most bytes of headers and query string a handshake may carry: a
	// connection keeps them for its lifetime (socket.handshake, hooks). A
	// bigger handshake gets HTTP 431. Changing it builds a new hub.
	// Default: 32KiB. Counted in caddy_socketio_rejected_handshakes_total.
	MaxHandshakeBytes int64 `json:"max_handshake_bytes,omitempty"`
}

func (l *Limits) check() error {
	for name, v := range map[string]int{
		"max_connections": l.MaxConnections, "max_namespaces": l.MaxNamespaces,
		"max_rooms_per_socket": l.MaxRoomsPerSocket, "max_attachments": l.MaxAttachments,
		"event_burst": l.EventBurst, "send_queue_size": l.SendQueueSize,
		"max_dynamic_namespaces": l.MaxDynamicNamespaces, "max_connect_bytes": l.MaxConnectBytes, "namespace_connect_burst": l.NamespaceConnectBurst,
	} {
		if v < -1 {
			return fmt.Errorf("limits: %s must be positive, or -1 for no limit", name)
		}
	}
	switch {
	case l.EventRate < 0:
		return fmt.Errorf("limits: event_rate must not be negative")
	case l.NamespaceConnectRate < 0 && l.NamespaceConnectRate != -1:
		return fmt.Errorf("limits: namespace_connect_rate must be positive, or -1 for no limit")
	case l.SendQueueSize == -1:
		return fmt.Errorf("limits: send_queue_size cannot be turned off")
	case l.SendQueueBytes < 0:
		return fmt.Errorf("limits: send_queue_bytes must not be negative")
	case l.PostReadTimeout < 0:
		return fmt.Errorf("limits: post_read_timeout must not be negative")
	case l.MaxPayloadPackets < 0:
		return fmt.Errorf("limits: max_payload_packets must be positive")
	case l.MaxHandshakeBytes < 0 || l.MaxHandshakeBytes > 1<<30:
		return fmt.Errorf("limits: max_handshake_bytes must be positive and at most 1GiB")
	case l.MaxDecodedBytes < -1 || l.MaxDecodedBytes > 1<<40:
		return fmt.Errorf("limits: max_decoded_bytes must be a size, or -1 for no limit")
	case l.MaxDecodedBytesTotal < -1 || l.MaxDecodedBytesTotal > 1<<40:
		return fmt.Errorf("limits: max_decoded_bytes_total must be a size, or -1 for no limit")
	}
	return nil
}

// library returns the socketio limits (its zero values are the same
// defaults, its negative values turn limits off, as here).
func (l *Limits) library() socketio.Limits {
	return socketio.Limits{
		MaxNamespaces:     l.MaxNamespaces,
		MaxRoomsPerSocket: l.MaxRoomsPerSocket,
		MaxAttachments:    l.MaxAttachments,
		EventRate:         l.EventRate,
		EventBurst:        l.EventBurst,

		MaxDynamicNamespaces:  l.MaxDynamicNamespaces,
		NamespaceConnectRate:  l.NamespaceConnectRate,
		NamespaceConnectBurst: l.NamespaceConnectBurst,
		MaxConnectBytes:       l.MaxConnectBytes,

		MaxDecodedBytes:      int(l.MaxDecodedBytes),
		MaxDecodedBytesTotal: int(l.MaxDecodedBytesTotal),
	}
}

// maxConnections resolves MaxConnections: 0 means no limit to the engine.
func (l *Limits) maxConnections() int {
	switch {
	case l.MaxConnections > 0:
		return l.MaxConnections
	case l.MaxConnections < 0:
		return 0
	}
	if n := openFileLimit(); n > 0 {
		return int(n * 9 / 10)
	}
	return 0
}

// parseLimits reads a limits block:
//
//	limits {
//		max_connections      <n>|off
//		max_namespaces       <n>|off
//		max_rooms_per_socket <n>|off
//		max_attachments      <n>|off
//		event_rate           <per_second> [<burst>]
//		max_dynamic_namespaces <n>|off
//		namespace_connect_rate <per_second> [<burst>] | off
//		max_connect_bytes    <size>
//		send_queue_size      <n>
//		send_queue_bytes     <size>
//		post_read_timeout    <duration>
//		max_payload_packets  <n>
//		max_handshake_bytes  <size>
//		max_decoded_bytes        <size>|off
//		max_decoded_bytes_total  <size>|off
//	}
func parseLimits(d *caddyfile.Dispenser, h *Handler) error {
	if d.NextArg() {
		return d.ArgErr()
	}
	if h.Limits == nil {
		h.Limits = new(Limits)
	}
	l := h.Limits
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		opt := d.Val()
		args := d.RemainingArgs()
		count := func(offOK bool) (int, error) {
			if len(args) != 1 {
				return 0, d.ArgErr()
			}
			if offOK && args[0] == "off" {
				return -1, nil
			}
			n, err := strconv.Atoi(args[0])
			if err != nil || n <= 0 || n > 1<<30 {
				return 0, d.Errf("%s: want a positive integer or off, not %q", opt, args[0])
			}
			return n, nil
		}
		var err error
		switch opt {
		case "max_connections":
			l.MaxConnections, err = count(true)
		case "max_namespaces":
			l.MaxNamespaces, err = count(true)
		case "max_rooms_per_socket":
			l.MaxRoomsPerSocket, err = count(true)
		case "max_attachments":
			l.MaxAttachments, err = count(true)
		case "send_queue_size":
			l.SendQueueSize, err = count(false)
		case "event_rate":
			if len(args) < 1 || len(args) > 2 {
				return d.ArgErr()
			}
			r, perr := strconv.ParseFloat(args[0], 64)
			if perr != nil || r <= 0 || r > 1e9 {
				return d.Errf("event_rate: want events per second > 0, not %q", args[0])
			}
			l.EventRate = r
			if len(args) == 2 {
				args = args[1:]
				l.EventBurst, err = count(false)
			}
		case "max_dynamic_namespaces":
			l.MaxDynamicNamespaces, err = count(true)
		case "namespace_connect_rate":
			if len(args) == 1 && args[0] == "off" {
				l.NamespaceConnectRate, l.NamespaceConnectBurst = -1, 0
				break
			}
			if len(args) < 1 || len(args) > 2 {
				return d.ArgErr()
			}
			r, perr := strconv.ParseFloat(args[0], 64)
			if perr != nil || r <= 0 || r > 1e9 {
				return d.Errf("namespace_connect_rate: want connects per second > 0 or off, not %q", args[0])
			}
			l.NamespaceConnectRate = r
			if len(args) == 2 {
				args = args[1:]
				l.NamespaceConnectBurst, err = count(false)
			}
		case "max_connect_bytes":
			if len(args) != 1 {
				return d.ArgErr()
			}
			n, perr := humanize.ParseBytes(args[0])
			if perr != nil || n == 0 || n > 1<<30 {
				return d.Errf("max_connect_bytes: want a size, not %q", args[0])
			}
			l.MaxConnectBytes = int(n)
		case "max_decoded_bytes", "max_decoded_bytes_total":
			if len(args) != 1 {
				return d.ArgErr()
			}
			v := int64(-1)
			if args[0] != "off" {
				n, perr := humanize.ParseBytes(args[0])
				if perr != nil || n == 0 || n > 1<<40 {
					return d.Errf("%s: want a size or off, not %q", opt, args[0])
				}
				v = int64(n)
			}
			if opt == "max_decoded_bytes" {
				l.MaxDecodedBytes = v
			} else {
				l.MaxDecodedBytesTotal = v
			}
		case "send_queue_bytes":
			if len(args) != 1 {
				return d.ArgErr()
			}
			n, perr := humanize.ParseBytes(args[0])
			if perr != nil || n == 0 || n > 1<<40 {
				return d.Errf("send_queue_bytes: want a size, not %q", args[0])
			}
			l.SendQueueBytes = int64(n)
		case "max_handshake_bytes":
			if len(args) != 1 {
				return d.ArgErr()
			}
			n, perr := humanize.ParseBytes(args[0])
			if perr != nil || n == 0 || n > 1<<30 {
				return d.Errf("max_handshake_bytes: want a size up to 1GiB, not %q", args[0])
			}
			l.MaxHandshakeBytes = int64(n)
		case "max_payload_packets":
			l.MaxPayloadPackets, err = count(false)
		case "post_read_timeout":
			if len(args) != 1 {
				return d.ArgErr()
			}
			dur, perr := caddy.ParseDuration(args[0])
			if perr != nil || dur <= 0 {
				return d.Errf("post_read_timeout: want a positive duration, not %q", args[0])
			}
			l.PostReadTimeout = caddy.Duration(dur)
		default:
			return d.Errf("limits: unknown setting %q", opt)
		}
		if err != nil {
			return err
		}
	}
	return nil
}
