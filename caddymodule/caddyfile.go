package caddymodule

import (
	"encoding/json"
	"slices"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/dustin/go-humanize"
)

func init() {
	caddy.RegisterModule(Handler{})
	httpcaddyfile.RegisterHandlerDirective("socketio", parseCaddyfile)
	// Inside encode and the auth directives, before handle, route,
	// reverse_proxy and file_server, so a catch-all later in the site does
	// not shadow it and users need neither `order` nor `route`.
	httpcaddyfile.RegisterDirectiveOrder("socketio", httpcaddyfile.After, "encode")
}

func parseCaddyfile(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	m := new(Handler)
	err := m.UnmarshalCaddyfile(h.Dispenser)
	return m, err
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens. Syntax:
//
//	socketio [<matcher>] {
//	    hub              <name>
//	    path             <prefix>
//	    serve_client     on|off
//	    transports       polling|websocket...
//	    allow_upgrades   on|off
//	    allow_eio3       on|off
//	    websocket_compression on|off [{
//	        threshold <size>
//	    }]
//	    parser           auto|default|msgpack
//	    ping_interval    <duration>
//	    ping_timeout     <duration>
//	    connect_timeout  <duration>
//	    max_payload      <size>
//	    cors_origins     <origin...>
//	    cors_credentials [on|off]
//	    forward_headers  <name...>|*
//	    limits {
//	        max_connections        <n>|off
//	        max_namespaces         <n>|off
//	        max_dynamic_namespaces <n>|off
//	        namespace_connect_rate <per_second> [<burst>] | off
//	        max_connect_bytes      <size>
//	        max_rooms_per_socket   <n>|off
//	        max_attachments        <n>|off
//	        event_rate             <per_second> [<burst>]
//	        send_queue_size        <n>
//	        send_queue_bytes       <size>
//	        post_read_timeout      <duration>
//	        max_payload_packets    <n>
//	        max_handshake_bytes    <size>
//	        max_decoded_bytes       <size>|off
//	        max_decoded_bytes_total <size>|off
//	    }
//	    recovery off|on|<max_disconnection_duration> [{
//	        skip_middlewares on|off
//	        max_packets      <n>
//	        max_buffer       <size>
//	        max_sessions     <n>
//	    }]
//	    adapter memory | adapter redis <url> [{
//	        prefix                   <prefix>
//	        requests_timeout         <duration>
//	        sharded                  on|off
//	        subscription_mode        dynamic|dynamic-private|static
//	        tls_insecure_skip_verify [on|off]
//	    }]
//	    hook <url> [{
//	        namespaces <name>|~<regexp>|*...
//	        events     connect|disconnect|<event>|*...
//	        secret     <secret>
//	        timeout    <duration>
//	        on_error   deny|allow
//	        header     <name> <value>
//	        batch      <n>
//	    }]
//	    hook_concurrency         <n>
//	    hook_queue_size          <n>
//	    hook_queue_bytes         <size>
//	    hook_max_queued          <n>
//	    hook_max_queued_bytes    <size>
//	    hook_overflow            backpressure|drop|disconnect
//	    hook_disconnect_attempts <n>
//	    hook_retry_backoff       <duration>
//	    hook_retry_backoff_max   <duration>
//	    hook_max_reply_bytes     <size>
//	    api <path> {
//	        token <token>
//	    }
//	    admin_ui [<namespace>] {
//	        username       <name>
//	        password_hash  <bcrypt hash>
//	        mode           development|production
//	        read_only      [on|off]
//	        server_id      <id>
//	        serve_ui       <path>
//	        allow_insecure [on|off]
//	    }
//	    namespace <name>|~<regexp> {
//	        greet <event> [<arg>...]
//	        join  <event> <field> [exclusive]
//	        leave <event> <field>
//	        relay <event> [<emit_as>] [{
//	            to             rooms|namespace|field <name>
//	            payload        <field>
//	            include_sender on|off
//	        }]
//	        ack   <event>
//	    }
//	}
//
// Every subdirective is optional and the block may be left out: a bare
// `socketio` serves Socket.IO at /socket.io/ with the "/" namespace only.
// The directive is ordered after encode, so it needs no `order` option and
// no `route` block. Requests outside the path go to the next handler; a
// matcher (e.g. `socketio /socket.io/*`) narrows it further, but note that
// `socketio /socket.io/` (no `*`) would match that exact path only.
//
//   - hub: the name of the Socket.IO server (connections, namespaces,
//     rooms) this handler serves; a reload keeps the hub, and every live
//     connection, when the name and the settings path, serve_client,
//     transports, allow_upgrades, allow_eio3, websocket_compression, parser,
//     max_payload, connect_timeout and cors_* are
//     unchanged. Default: the path. Two handlers of one config may share a
//     hub only by both naming it explicitly, with identical settings.
//   - path: the URL prefix owned by the handler, with a trailing slash
//     (added if missing). Default: /socket.io/. Clients use the same value
//     as their `path` option. Do not strip it in front (handle_path).
//   - serve_client: serve the official client bundles at
//     {path}socket.io.js (and .min.js, .esm.min.js, .msgpack.min.js, with
//     source maps), with ETag and precompressed gzip/br. Default: on.
//   - transports: the Engine.IO transports accepted. Default: both.
//   - allow_upgrades: let polling clients upgrade to websocket. Default: on.
//   - allow_eio3: also accept socket.io-client 2.x (Engine.IO v3), as
//     Node's allowEIO3; they share namespaces and rooms with 3.x/4.x
//     clients. Default: off (HTTP 400 "Unsupported protocol version").
//   - websocket_compression: negotiate permessage-deflate with websocket
//     clients that offer it, without context takeover; messages of at
//     least threshold (a size; default 1KiB) go compressed, a broadcast
//     compressed once for all recipients; max_payload applies to the
//     inflated size. Default: off.
//   - parser: the Socket.IO packet format. auto (default) serves clients of
//     the default parser and of socket.io-msgpack-parser (the served
//     socket.io.msgpack.min.js) side by side, detected per connection by
//     its first packet (text or binary), sharing namespaces and rooms;
//     default or msgpack accept only that one.
//   - ping_interval, ping_timeout: heartbeat, as Caddy durations (25s, 1m).
//     Defaults: 25s and 20s. A reload applies them to live connections.
//   - connect_timeout: how long a connection may stay without joining a
//     namespace. Default: 45s.
//   - max_payload: the largest message a client may send, as a size (1MB,
//     512KiB, or bytes). Default: 1MB (1000000 bytes).
//   - cors_origins: origins allowed cross-origin (may be repeated; * for
//     any). Websocket handshakes from other browser origins are refused.
//     Without it, only pages of the same host may connect: a websocket or
//     polling handshake whose Origin header names another host than the
//     request's Host gets 403; requests without Origin are not affected.
//   - cors_credentials: allow cookies on cross-origin requests. Refused
//     together with cors_origins *.
//   - forward_headers: the handshake headers hooks and the HTTP API's
//     socket listings show (case-insensitive; * for all; may be repeated).
//     Default: all but cookie, authorization and proxy-authorization.
//     A list replaces that default: name cookie in it to pass cookies.
//   - limits: bounds on what clients can make the hub hold or do, each
//     with a safe default (Limits, and the README's limits table):
//     max_dynamic_namespaces (default 10000) namespaces matched by a
//     pattern alive at once, each created once a socket passed the connect
//     hooks and removed with its last socket; namespace_connect_rate
//     (default 10/s, burst 32) namespace CONNECTs per connection;
//     max_connect_bytes (16KiB) the largest CONNECT (its auth payload);
//     post_read_timeout (10s) bounds reading a polling POST body;
//     max_payload_packets (10000) caps the packets of one POST body;
//     max_handshake_bytes (32KiB) caps the headers and query a connection
//     keeps (changing these three builds a new hub); max_decoded_bytes
//     (16MiB) and max_decoded_bytes_total (128MiB) what the decoded
//     arguments of one event, and of all events being handled, may take
//     (arguments stay JSON text unless a rule reads them); the others as
//     documented on Limits.
//   - recovery: connection state recovery (socket.io 4.6+), ON by default
//     with a 2m window: a client whose connection drops and that comes back
//     within the window gets back its socket id, rooms and data, then every
//     event it missed, in order (socket.recovered is true). off turns it
//     off; a duration sets the window (also how long events are buffered).
//     skip_middlewares (default off) lets a recovered socket connect
//     without its connect hooks running again; with it off, connect hooks
//     get "recovered": true and may refuse. max_packets (200000),
//     max_buffer (64MiB) and max_sessions (100000) bound the buffer and the
//     kept sessions per namespace; a client whose missed events were
//     evicted gets a fresh session. Sessions live in the hub, so they
//     survive reloads that keep it; changing recovery builds a new hub.
//     With adapter redis, a client recovers on the node it left (sticky
//     sessions). See docs/webhooks.md for the hook lifecycle.
//   - adapter: where rooms live. memory (default): this instance only.
//     redis <url>: several Caddy instances (or Node servers with
//     @socket.io/redis-adapter) share rooms and broadcasts through Redis.
//     The URL carries the password and TLS (redis://:pass@host:6379/0,
//     rediss://host); prefix is the channel prefix (default socket.io),
//     requests_timeout bounds cluster-wide queries (default 5s), sharded
//     uses SPUBLISH/SSUBSCRIBE (Redis 7+). adapter <name> ... uses a
//     third-party module of the socketio.adapters namespace
//     (AdapterModule) that parses its own Caddyfile tokens. Redis must answer when the hub is
//     created, or loading the config fails. Polling clients need sticky
//     sessions in front (docs/scaling.md).
//   - hook: a webhook (docs/webhooks.md, README.md): the
//     connects, events and disconnects it selects are POSTed to <url>, and
//     its JSON reply is carried out (ack, emit, join, leave, data,
//     disconnect, refuse). namespaces (default all) and events (default *)
//     select; secret signs the requests (HMAC-SHA256); timeout bounds one
//     request (default 5s); on_error says whether a connect whose hook
//     failed is refused (deny, default) or accepted (allow); header adds a
//     request header (repeatable); batch <n> sends up to n events and
//     disconnects of different sockets in one POST of type "batch" (each
//     socket's still in order; docs/webhooks.md). Several hooks are called
//     in file order.
//     If a namespace rule and a hook handle one event, the rule runs first
//     and its ack wins.
//   - hook_concurrency (default 64): hook requests in flight at once; more
//     wait for a slot. hook_queue_size (64) and hook_queue_bytes (4MiB)
//     per socket, hook_max_queued (65536) and hook_max_queued_bytes
//     (256MiB) overall bound the events waiting (bytes as encoded for the
//     request). What a full queue does is hook_overflow's choice:
//     backpressure (default) stops reading from that client until there
//     is room, so nothing is dropped; drop drops the event, counted, acked
//     with reason queue_full; disconnect drops it and closes the client.
//     Disconnect hooks are always queued.
//     hook_disconnect_attempts (3), hook_retry_backoff (100ms) and
//     hook_retry_backoff_max (1s) retry disconnect hooks;
//     hook_max_reply_bytes (1MiB) bounds a reply.
//   - api: serves the HTTP API (emit, join, leave, disconnect, sockets,
//     rooms) under <path>, for requests with "Authorization: Bearer
//     <token>". token is required and must not be empty. The same
//     operations are on the admin endpoint under /socketio/ (AdminAPI).
//   - admin_ui: the official Socket.IO Admin UI (@socket.io/admin-ui)
//     works against this hub: the admin namespace it connects to (default
//     /admin; not a namespace declared below) with the UI's config, server
//     stats, socket lists, live socket, room and event traces, and its
//     actions (disconnect, join, leave, emit). username and password_hash
//     require the UI's login; password_hash is a bcrypt hash as `caddy
//     hash-password` prints it (or base64-encoded, as older versions
//     printed it). Without them, loading the config fails unless every
//     listener of the server is a loopback address or allow_insecure is
//     set. mode development (default, as in Node) sends every socket, room
//     change and event to the connected UIs (through Redis in a cluster);
//     production sends only each instance's stats. read_only offers no
//     actions. server_id names this instance in the UI's server list
//     (default <hostname>#<pid>); with the Redis adapter each instance is
//     listed. serve_ui serves the UI itself, embedded unmodified, under
//     <path> (e.g. /socket.io-admin/): open it and enter the page's own
//     origin as the server URL. A reload applies admin_ui without
//     disconnecting anyone; removing it disconnects the UIs. Off by
//     default.
//   - secret, header values, the hook URL and token may use placeholders
//     such as {env.SOCKETIO_HOOK_SECRET}, replaced when the config loads;
//     so may admin_ui's username and password_hash.
//   - namespace: declares a namespace clients may connect to besides "/"
//     (always present; declare it only to give it rules). `~<regexp>`
//     declares dynamic namespaces: any name matching the Go regular
//     expression, e.g. `namespace ~^/room-\d+$`. Exact names win over
//     patterns; patterns are tried in order. Clients connecting to any
//     other namespace get connect_error "Invalid namespace". Rules:
//   - greet: emit <event> to every socket as soon as it connects. Each
//     <arg> is one argument: a JSON value if it parses as JSON (42, true,
//     {"a":1}), otherwise a string. If all the args joined by single spaces
//     form one JSON value, that value is the only argument, so an unquoted
//     object with spaces works; quoting it in backticks is clearer:
//     greet hello `{"message":"Welcome to Socket io ~"}`. To send a string
//     that looks like JSON, quote it as JSON in backticks: `"42"`.
//   - join: on <event>, join the room named by the <field> property of the
//     first argument (or by the first argument itself if it is a string or
//     number); with exclusive, leave every other room first (the socket's
//     own id room excepted). The client's ack, if requested, gets the room
//     name (null if refused: no room, another socket's id on any node (a
//     name shaped like a socket id is checked with the adapter; a failed
//     check refuses it), over 256 bytes, or over max_rooms_per_socket).
//   - leave: on <event>, leave the room named as for join.
//   - relay: on <event>, emit <emit_as> (default: the same name) with the
//     same arguments to `to rooms` (default: every room the sender is in,
//     its own id room excepted; nobody if it is in none) or `to namespace`
//     (the whole namespace) or `to field <name>` (the room named by the
//     <name> property of the first argument, or by the first argument
//     itself if it is a string or number, as for join; the sender need not
//     be in it; another socket's id on any node or a name over 256 bytes
//     reaches nobody). payload <field> sends the <field> property of the first
//     argument as the only argument instead (nothing is sent if the first
//     argument is not an object with that property). include_sender
//     (default on) says whether the sender gets its own event (when it is
//     in the room). The client's ack, if requested, has no arguments.
//   - ack: on <event>, acknowledge with the same arguments (an echo, e.g.
//     for latency probes); its answer wins over the other rules' acks.
//
// For example, this relay turns to-room({"room":"r1","payload":"hi"}) into
// room-message("hi") for every socket in room r1:
//
//	relay to-room room-message {
//	    to      field room
//	    payload payload
//	}
//
// For one event, ack answers first, then join rules run, then leave, then
// relay; so
// `join chatInput room` and `relay chatInput chatMessage` together deliver
// the message to the room just joined.
func (h *Handler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the directive name
	if d.NextArg() {
		return d.ArgErr()
	}
	seen := make(map[string]int) // namespace name/pattern -> line
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch opt := d.Val(); opt {
		case "hub":
			if !d.AllArgs(&h.Hub) {
				return d.ArgErr()
			}
		case "path":
			if !d.AllArgs(&h.Path) {
				return d.ArgErr()
			}
			if !strings.HasPrefix(h.Path, "/") {
				return d.Errf("path must start with /: %q", h.Path)
			}
		case "serve_client":
			b, err := parseOnOff(d)
			if err != nil {
				return err
			}
			h.ServeClient = &b
		case "allow_upgrades":
			b, err := parseOnOff(d)
			if err != nil {
				return err
			}
			h.AllowUpgrades = &b
		case "allow_eio3":
			b, err := parseOnOff(d)
			if err != nil {
				return err
			}
			h.AllowEIO3 = b
		case "websocket_compression":
			on, err := parseOnOff(d)
			if err != nil {
				return err
			}
			c := &WebSocketCompression{}
			for nesting := d.Nesting(); d.NextBlock(nesting); {
				switch d.Val() {
				case "threshold":
					var v string
					if !d.AllArgs(&v) {
						return d.ArgErr()
					}
					n, err := humanize.ParseBytes(v)
					if err != nil || n == 0 || n > 1<<30 {
						return d.Errf("websocket_compression threshold: invalid size %q", v)
					}
					c.Threshold = int64(n)
				default:
					return d.Errf("websocket_compression: unknown option %q", d.Val())
				}
			}
			h.WebSocketCompression = nil
			if on {
				h.WebSocketCompression = c
			}
		case "parser":
			var v string
			if !d.AllArgs(&v) {
				return d.ArgErr()
			}
			if _, err := parseParser(v); err != nil {
				return d.Err(err.Error())
			}
			h.Parser = v
		case "transports":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.ArgErr()
			}
			for _, t := range args {
				if t != "polling" && t != "websocket" {
					return d.Errf("unknown transport %q (want polling and/or websocket)", t)
				}
			}
			h.Transports = append(h.Transports, args...)
		case "ping_interval", "ping_timeout", "connect_timeout":
			var v string
			if !d.AllArgs(&v) {
				return d.ArgErr()
			}
			dur, err := caddy.ParseDuration(v)
			if err != nil {
				return d.Errf("%s: %v", opt, err)
			}
			if dur <= 0 {
				return d.Errf("%s must be positive", opt)
			}
			switch opt {
			case "ping_interval":
				h.PingInterval = caddy.Duration(dur)
			case "ping_timeout":
				h.PingTimeout = caddy.Duration(dur)
			default:
				h.ConnectTimeout = caddy.Duration(dur)
			}
		case "max_payload":
			var v string
			if !d.AllArgs(&v) {
				return d.ArgErr()
			}
			n, err := humanize.ParseBytes(v)
			if err != nil {
				return d.Errf("max_payload: %v", err)
			}
			if n == 0 || n > 1<<40 {
				return d.Errf("max_payload out of range: %q", v)
			}
			h.MaxPayload = int64(n)
		case "cors_origins":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.ArgErr()
			}
			if h.CORS == nil {
				h.CORS = new(CORS)
			}
			h.CORS.Origins = append(h.CORS.Origins, args...)
		case "cors_credentials":
			b, err := parseFlag(d)
			if err != nil {
				return err
			}
			if h.CORS == nil {
				h.CORS = new(CORS)
			}
			h.CORS.Credentials = b
		case "recovery":
			if err := parseRecovery(d, h); err != nil { // recovery.go
				return err
			}
		case "forward_headers":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.ArgErr()
			}
			h.ForwardHeaders = append(h.ForwardHeaders, args...)
		case "limits":
			if err := parseLimits(d, h); err != nil { // limits.go
				return err
			}
		case "adapter":
			if err := h.unmarshalAdapter(d); err != nil { // adapter.go
				return err
			}
		case "hook": // webhook.go
			if err := parseHook(d, h); err != nil {
				return err
			}
		case "hook_concurrency", "hook_queue_size", "hook_max_queued", "hook_disconnect_attempts",
			"hook_retry_backoff", "hook_retry_backoff_max", "hook_max_reply_bytes",
			"hook_queue_bytes", "hook_max_queued_bytes", "hook_overflow":
			if err := parseHookLimit(d, h, opt); err != nil { // webhook.go
				return err
			}
		case "api": // api.go
			if err := parseAPI(d, h); err != nil {
				return err
			}
		case "admin_ui": // adminui.go
			if err := parseAdminUI(d, h); err != nil {
				return err
			}
		case "namespace":
			var name string
			if !d.NextArg() {
				return d.ArgErr()
			}
			name = d.Val()
			if d.NextArg() {
				return d.ArgErr()
			}
			if line, dup := seen[name]; dup {
				return d.Errf("namespace %s already declared on line %d", name, line)
			}
			seen[name] = d.Line()
			ns, err := parseNamespace(d, name)
			if err != nil {
				return err
			}
			h.Namespaces = append(h.Namespaces, ns)
		default:
			return d.Errf("unrecognized socketio option %q", opt)
		}
	}
	if h.CORS != nil && h.CORS.Credentials && slices.Contains(h.CORS.Origins, "*") {
		return d.Err("cors_origins * with cors_credentials would let every site use your users' " +
			"cookies and HTTP authentication; list the origins allowed instead")
	}
	return nil
}

func parseNamespace(d *caddyfile.Dispenser, name string) (Namespace, error) {
	var ns Namespace
	if pattern, ok := strings.CutPrefix(name, "~"); ok {
		if pattern == "" {
			return ns, d.Errf("namespace ~: empty pattern")
		}
		ns.Match = pattern
	} else {
		if !strings.HasPrefix(name, "/") {
			return ns, d.Errf("namespace name must start with / (or ~ for a pattern): %q", name)
		}
		ns.Name = name
	}
	// Check the pattern here so the error carries the line.
	if _, err := compileNamespace(Namespace{Name: ns.Name, Match: ns.Match}); err != nil {
		return ns, d.Errf("namespace %s: %v", name, err)
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		rule := d.Val()
		switch rule {
		case "greet":
			if !d.NextArg() {
				return ns, d.ArgErr()
			}
			g := GreetRule{Event: d.Val()}
			g.Args = greetArgs(d.RemainingArgs())
			ns.Greet = append(ns.Greet, g)
		case "join":
			args := d.RemainingArgs()
			if len(args) < 2 || len(args) > 3 {
				return ns, d.ArgErr()
			}
			j := JoinRule{Event: args[0], Field: args[1]}
			if len(args) == 3 {
				if args[2] != "exclusive" {
					return ns, d.Errf("join: unexpected %q (want exclusive)", args[2])
				}
				j.Exclusive = true
			}
			ns.Join = append(ns.Join, j)
		case "leave":
			var l LeaveRule
			if !d.AllArgs(&l.Event, &l.Field) {
				return ns, d.ArgErr()
			}
			ns.Leave = append(ns.Leave, l)
		case "relay":
			args := d.RemainingArgs()
			if len(args) < 1 || len(args) > 2 {
				return ns, d.ArgErr()
			}
			r := RelayRule{Event: args[0]}
			if len(args) == 2 {
				r.Emit = args[1]
			}
			for inner := d.Nesting(); d.NextBlock(inner); {
				switch d.Val() {
				case "to":
					args := d.RemainingArgs()
					switch {
					case len(args) == 1 && (args[0] == relayToRooms || args[0] == relayToNamespace):
						r.To = args[0]
					case len(args) == 2 && args[0] == relayToField:
						r.To, r.RoomField = args[0], args[1]
					case len(args) == 1 && args[0] == relayToField:
						return ns, d.Errf("relay to field: want the name of the property holding the room")
					case len(args) == 0 || len(args) > 2:
						return ns, d.ArgErr()
					default:
						return ns, d.Errf("relay to: want rooms, namespace or field <name>, not %q", strings.Join(args, " "))
					}
				case "payload":
					if !d.AllArgs(&r.PayloadField) {
						return ns, d.ArgErr()
					}
				case "include_sender":
					b, err := parseOnOff(d)
					if err != nil {
						return ns, err
					}
					r.IncludeSender = &b
				default:
					return ns, d.Errf("unrecognized relay option %q", d.Val())
				}
			}
			ns.Relay = append(ns.Relay, r)
		case "ack":
			var a AckRule
			if !d.AllArgs(&a.Event) {
				return ns, d.ArgErr()
			}
			ns.Ack = append(ns.Ack, a)
		default:
			return ns, d.Errf("unrecognized namespace rule %q (want greet, join, leave, relay or ack)", rule)
		}
		// Event names, reserved names and the like, checked with the line.
		if _, err := compileNamespace(ns); err != nil {
			return ns, d.Errf("namespace %s: %v", name, err)
		}
	}
	return ns, nil
}

// greetArgs turns Caddyfile tokens into JSON arguments: one JSON value if the
// tokens joined by single spaces form one (an unquoted object containing
// spaces), else one argument per token, JSON if it parses, else a string.
func greetArgs(tokens []string) []json.RawMessage {
	if len(tokens) == 0 {
		return nil
	}
	if joined := strings.Join(tokens, " "); len(tokens) > 1 && isOneJSONValue(joined) {
		return []json.RawMessage{json.RawMessage(joined)}
	}
	out := make([]json.RawMessage, 0, len(tokens))
	for _, t := range tokens {
		if isOneJSONValue(t) {
			out = append(out, json.RawMessage(t))
			continue
		}
		b, _ := json.Marshal(t)
		out = append(out, b)
	}
	return out
}

func isOneJSONValue(s string) bool {
	_, err := decodeJSON(json.RawMessage(s))
	return err == nil
}

// parseOnOff reads exactly one on|off argument.
//
// Every boolean of the directive is written on|off (true|false also
// accepted); those that are off by default may also be given bare to turn
// them on (parseFlag), shown as [on|off] in the syntax.
func parseOnOff(d *caddyfile.Dispenser) (bool, error) {
	var v string
	if !d.AllArgs(&v) {
		return false, d.ArgErr()
	}
	switch strings.ToLower(v) {
	case "on", "true":
		return true, nil
	case "off", "false":
		return false, nil
	}
	return false, d.Errf("want on or off, not %q", v)
}

// parseFlag reads a boolean that is off by default: bare means on.
func parseFlag(d *caddyfile.Dispenser) (bool, error) {
	if d.CountRemainingArgs() == 0 {
		return true, nil
	}
	return parseOnOff(d)
}
