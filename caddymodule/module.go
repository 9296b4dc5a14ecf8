// Package caddymodule is the Caddy v2 glue of the Socket.IO server: the
// http.handlers.socketio module, its Caddyfile directive, the hub kept
// across config reloads, and the Prometheus metrics. The protocol itself
// lives in the socketio package, which never imports Caddy.
package caddymodule

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyevents"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/caddy-socketio/caddy-socketio/caddymodule/hooks"
	"github.com/caddy-socketio/caddy-socketio/socketio"
	"github.com/caddy-socketio/caddy-socketio/socketio/engine"
)

const (
	defaultPath         = "/socket.io/"
	defaultPingInterval = 25 * time.Second
	defaultPingTimeout  = 20 * time.Second
	// The library's defaults, spelled out for the hub fingerprint.
	defaultMaxPayload     = 1_000_000
	defaultConnectTimeout = 45 * time.Second
)

// Handler serves a Socket.IO server (Engine.IO v4 / Socket.IO v5, for the
// official socket.io-client 3.x and 4.x) under one path prefix, and the
// official browser client bundle at {path}socket.io.js. Requests outside the
// path are passed to the next handler.
//
// The server's connections, namespaces and rooms live in a "hub" that
// survives config reloads: see the hub field. Without any namespace rules the
// handler only accepts connections to the "/" namespace; the declarative
// rules under namespaces let a page such as a chat run with no backend.
type Handler struct {
	// Name of the hub: the Socket.IO server (sessions, namespaces, rooms and
	// per-socket data) this handler serves. A config reload keeps a hub, and
	// every live connection in it, when the new config has a handler with
	// the same hub name and the same path, serve_client, transports,
	// allow_upgrades, allow_eio3, websocket_compression, parser, max_payload,
	// connect_timeout, cors, adapter and recovery; when any of
	// those differ, a new hub replaces the old one and its clients reconnect
	// (losing their rooms). Default: the path (e.g. "/socket.io/").
	//
	// Two handlers of one config may only use the same hub if both set this
	// field to the same name and have identical settings; otherwise loading
	// the config fails, so two sites never share state by accident.
	Hub string `json:"hub,omitempty"`

	// URL path prefix the handler owns, with a trailing slash. Requests for
	// the prefix (and the prefix without its trailing slash) are answered
	// here; all others go to the next handler. Clients must use the same
	// value as their `path` option. Do not strip the prefix in front of this
	// handler (e.g. with handle_path). Default: "/socket.io/".
	Path string `json:"path,omitempty"`

	// Serve the official socket.io-client browser bundles at
	// {path}socket.io.js, socket.io.min.js, socket.io.esm.min.js and
	// socket.io.msgpack.min.js (with source maps), with ETag revalidation
	// and precompressed gzip/brotli variants. Default: true.
	ServeClient *bool `json:"serve_client,omitempty"`

	// Engine.IO transports accepted: "polling" (HTTP long-polling) and/or
	// "websocket". Default: both.
	Transports []string `json:"transports,omitempty"`

	// Let clients that started with polling upgrade to websocket (when both
	// transports are enabled). Default: true.
	AllowUpgrades *bool `json:"allow_upgrades,omitempty"`

	// Also accept Engine.IO v3 clients (socket.io-client 2.x), as Node's
	// allowEIO3: polling, websocket and upgrades, the client-driven
	// heartbeat and the Socket.IO v4 packet differences; they share
	// namespaces, rooms and broadcasts with 3.x/4.x clients. A v2 socket's
	// id is its Engine.IO session id (as in Node), which other clients may
	// learn: see docs/security.md. Changing it creates a new hub. Default:
	// false (such clients get HTTP 400 "Unsupported protocol version").
	AllowEIO3 bool `json:"allow_eio3,omitempty"`

	// Negotiate permessage-deflate with websocket clients that offer it
	// (browsers do; Node clients with perMessageDeflate), without context
	// takeover: messages of at least the threshold are sent compressed
	// (a broadcast is compressed once for all its recipients), compressed
	// client messages are inflated, max_payload applying to the inflated
	// size. Costs CPU (docs/benchmarks.md) for less bandwidth. Absent: off.
	// Changing it creates a new hub.
	WebSocketCompression *WebSocketCompression `json:"websocket_compression,omitempty"`
	// Socket.IO packet format: "auto" (default) serves the default parser
	// (socket.io-parser, JSON) and socket.io-msgpack-parser side by side,
	// telling them apart by each connection's first packet (text or
	// binary); clients of both kinds share namespaces and rooms, and a
	// broadcast is encoded once per parser in use. "default" or "msgpack"
	// accept only that parser; a client of the other kind is closed at its
	// first packet.
	Parser string `json:"parser,omitempty"`

	// How often the server sends a ping to each client. Sent to clients in
	// the handshake; they consider the server gone after ping_interval +
	// ping_timeout without a ping. A reload applies a new value to live
	// connections from their next ping on. Default: 25s.
	PingInterval caddy.Duration `json:"ping_interval,omitempty"`

	// How long to wait for a client's pong after a ping before closing its
	// connection ("ping timeout"). A reload applies a new value to live
	// connections. Default: 20s.
	PingTimeout caddy.Duration `json:"ping_timeout,omitempty"`

	// How long a new connection may stay without joining any namespace
	// before it is closed. Default: 45s.
	ConnectTimeout caddy.Duration `json:"connect_timeout,omitempty"`

	// Largest message a client may send, in bytes: the body of one polling
	// POST, or one websocket message. Larger ones close the connection.
	// Default: 1000000 (1 MB).
	MaxPayload int64 `json:"max_payload,omitempty"`

	// Bounds on what clients can make the hub hold or do: connections,
	// namespaces per connection, rooms per socket, attachments, event rate,
	// send queues. Every limit has a safe default (see Limits).
	Limits *Limits `json:"limits,omitempty"`

	// Cross-origin access for browsers on other origins. Without it no CORS
	// headers are sent, and a handshake (websocket or polling) whose Origin
	// header names another host than the request's Host is refused with
	// 403: only pages of the same site can connect. Requests without an
	// Origin header (native and server-side clients) are not affected.
	CORS *CORS `json:"cors,omitempty"`

	// Handshake headers the application sees, in hook requests and in the
	// HTTP API's socket listings (GET /sockets, also on the admin
	// endpoint): only these (names case-insensitive), or every header with
	// "*". Default: every header but cookie, authorization and
	// proxy-authorization, which carry the client's credentials for this
	// site. Setting it replaces that default: list cookie to pass cookies.
	ForwardHeaders []string `json:"forward_headers,omitempty"`

	// Namespaces clients may connect to besides "/" (which always exists),
	// each with optional declarative rules. A namespace is named exactly
	// (name) or by a regular expression (match), which creates namespaces on
	// demand. Connections to any other namespace are refused with
	// "Invalid namespace". A reload replaces the rules of connected sockets
	// too; sockets of a namespace the new config no longer declares are
	// disconnected.
	Namespaces []Namespace `json:"namespaces,omitempty"`

	// Where the hub keeps room membership, and how its broadcasts reach
	// the sockets of other Caddy instances: {"type": "memory"} (default,
	// one instance only) or {"type": "redis", "url": "redis://..."} to run
	// several instances as one Socket.IO cluster (see docs/scaling.md).
	// The adapter is part of the hub: changing it builds a new hub.
	AdapterRaw json.RawMessage `json:"adapter,omitempty" caddy:"namespace=socketio.adapters inline_key=type"`
	Adapter    AdapterModule   `json:"-"`

	// Webhooks: application endpoints that receive the connects, events
	// and disconnects they select, and whose replies Caddy carries out
	// (see Hook and docs/webhooks.md). When several select the same thing
	// they are called one after another, in this order. The hooks belong
	// to the hub: a reload that keeps the hub replaces them for connected
	// sockets too. If a namespace rule (join, leave, relay) and a hook both
	// handle one event, the rule runs first and answers the client's ack;
	// the hook's ack is then ignored.
	Hooks []Hook `json:"hooks,omitempty"`

	// Most webhook requests in flight at once, all hooks and sockets
	// together (connect hooks included). When it is reached, further
	// requests wait for a free slot: events wait in their socket's queue,
	// a connect waits within its hook's timeout. Default: 64.
	HookConcurrency int `json:"hook_concurrency,omitempty"`

	// Most events one socket may have waiting for its hooks. When it is
	// reached, hook_overflow decides: by default (backpressure) Caddy
	// stops reading from that client until its queue has room again, so
	// nothing is dropped. Disconnects are always queued. Default: 64.
	HookQueueSize int `json:"hook_queue_size,omitempty"`

	// Most bytes one socket's queued events may hold (as encoded for the
	// request: the JSON of their arguments, binary by its base64 size,
	// plus 256 bytes each). One event always fits an empty queue.
	// Reaching it is handled as hook_queue_size. Default: 4194304 (4 MiB).
	HookQueueBytes int64 `json:"hook_queue_bytes,omitempty"`

	// Most events and disconnects accepted and not yet delivered, all
	// sockets together; reaching it is handled as hook_queue_size (every
	// socket that adds an event is paused, by default). Bounds the memory
	// the hooks use when the application is slow or down. Default: 65536.
	HookMaxQueued int `json:"hook_max_queued,omitempty"`

	// Most bytes of all sockets' queued events together, counted as
	// hook_queue_bytes counts them. Disconnects are always queued, and a
	// paused socket may have added the one event that paused it.
	// Default: 268435456 (256 MiB).
	HookMaxQueuedBytes int64 `json:"hook_max_queued_bytes,omitempty"`

	// What happens to an event that finds its socket's queue, or all
	// queues, full: "backpressure" stops reading from that client until
	// there is room (TCP and HTTP flow control slow it down; nothing is
	// dropped; the heartbeat keeps it alive), "drop" drops the event
	// (counted in caddy_socketio_hook_dropped_events_total; a client that
	// asked for an ack gets {"error":"hook failed","reason":"queue_full"}),
	// "disconnect" drops it likewise and closes the client's connection.
	// Default: "backpressure".
	HookOverflow string `json:"hook_overflow,omitempty"`

	// How many times a disconnect hook is tried when the application is
	// unreachable, times out or answers 429 or 5xx (other hooks are tried
	// once). Default: 3.
	HookDisconnectAttempts int `json:"hook_disconnect_attempts,omitempty"`

	// Wait before the second try of a disconnect hook; it doubles for each
	// further try, up to hook_retry_backoff_max. Defaults: 100ms and 1s.
	HookRetryBackoff    caddy.Duration `json:"hook_retry_backoff,omitempty"`
	HookRetryBackoffMax caddy.Duration `json:"hook_retry_backoff_max,omitempty"`

	// Longest hook reply read, in bytes; a longer reply is a failed
	// delivery. Default: 1048576 (1 MiB).
	HookMaxReplyBytes int64 `json:"hook_max_reply_bytes,omitempty"`

	// The HTTP API the application calls to emit, make sockets join or
	// leave rooms, disconnect them, and list sockets and rooms. Not served
	// unless configured, and never without a token. The same operations
	// are on Caddy's admin API under /socketio/ (see AdminAPI).
	API *HTTPAPI `json:"api,omitempty"`

	// Connection state recovery: on by default with a 2 minute window
	// (see Recovery). Part of the hub's fixed settings.
	Recovery *Recovery `json:"recovery,omitempty"`

	// The official Socket.IO Admin UI: its admin namespace, and optionally
	// the UI itself served by Caddy (see AdminUI). Off unless configured.
	// Its settings are live: a reload applies them without a new hub.
	AdminUI *AdminUI `json:"admin_ui,omitempty"`

	adminUIPrefix  string       // adminui.go
	adminUIHandler http.Handler // the embedded UI, when served
	api            *apiMount    // api.go
	hubName        string
	key            string
	hub            *hub
	released       bool // the hub reference was given back (Cleanup)
	claimed        *claim
	logger         *zap.Logger
}

// CORS configures Cross-Origin Resource Sharing for the polling transport
// and the handshake, and the Origin check of websocket handshakes.
type CORS struct {
	// Origins allowed to connect, e.g. "https://app.example.com". "*"
	// allows any origin. With origins other than "*", websocket handshakes
	// from a browser on an origin not listed are refused with 403 (list
	// the site's own origin too if its pages connect). Empty: same origin
	// only (see Handler.CORS).
	Origins []string `json:"origins,omitempty"`

	// Allow credentials (cookies, HTTP authentication) on cross-origin
	// requests: sends Access-Control-Allow-Credentials: true. Refused with
	// origins "*" (any site could then act with the user's cookies).
	// Default: false.
	Credentials bool `json:"credentials,omitempty"`
}

// CaddyModule returns the Caddy module information.
func (Handler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.socketio",
		New: func() caddy.Module { return new(Handler) },
	}
}

// Provision fills in defaults, compiles the namespace rules and acquires the
// hub from the process-wide pool. On a reload that reuses the hub, the new
// live settings (ping timing, rules, logger) are applied once the new config
// has started, so a config that fails to load changes nothing.
func (h *Handler) Provision(ctx caddy.Context) error {
	h.logger = ctx.Logger()
	h.applyDefaults()
	if err := h.check(); err != nil {
		return err
	}
	rules, err := compileRules(h.Namespaces)
	if err != nil {
		return err
	}
	if err := registerMetrics(ctx.GetMetricsRegistry()); err != nil {
		return err
	}
	if err := registerWebhookMetrics(ctx.GetMetricsRegistry()); err != nil { // webhook_metrics.go
		return err
	}
	hookCfg, err := h.hooksConfig() // webhook.go
	if err != nil {
		return err
	}
	apiToken, err := h.apiToken() // api.go
	if err != nil {
		return err
	}
	if err := h.loadAdapter(ctx); err != nil { // adapter.go
		return err
	}
	adminOpts, err := h.adminOptions(ctx) // adminui.go
	if err != nil {
		return err
	}
	h.provisionAdminUI()

	h.hubName = h.Hub
	if h.hubName == "" {
		h.hubName = h.Path
	}
	// ctx.Done() is the same channel for every module of one config load
	// (the config's root context is the only cancelable one in the chain),
	// and differs between loads: it identifies the config.
	c, err := claimHub(h.hubName, ctx.Done(), h.Hub != "", h.fingerprint(true))
	if err != nil {
		return err
	}
	h.claimed = c

	live := &liveSettings{
		pingInterval: time.Duration(h.PingInterval),
		pingTimeout:  time.Duration(h.PingTimeout),
		limits:       h.limits().library(),
		maxConns:     h.limits().maxConnections(),
		headers:      hooks.NewHeaderFilter(h.ForwardHeaders),
		rules:        rules,
		logs:         ctx.Slogger().Handler(),
		hooks:        hookCfg,
		admin:        adminOpts,
	}
	h.key = "socketio.hub." + h.hubName + "#" + h.fingerprint(false)
	if other := otherGeneration(h.hubName, h.key); other {
		h.logger.Warn("hub settings that cannot change on live connections changed; a new hub replaces the old one and its clients reconnect",
			zap.String("hub", h.hubName))
	}
	val, loaded, err := hubs.LoadOrNew(h.key, func() (caddy.Destructor, error) {
		return h.createHub(h.options(), live) // adapter.go: newHub with the adapter
	})
	if err != nil {
		return err
	}
	h.hub = val.(*hub)
	if err := h.provisionAPI(apiToken); err != nil { // api.go
		return err
	}

	if loaded {
		// Apply the new live settings only once this config runs: the
		// "started" event is emitted after every app started successfully.
		evApp, err := ctx.App("events")
		if err != nil {
			return err
		}
		hb := h.hub
		if err := evApp.(*caddyevents.App).On("started", &onEvent{func() { hb.apply(live) }}); err != nil {
			return err
		}
	}
	if srv, ok := ctx.Value(caddyhttp.ServerCtxKey).(*caddyhttp.Server); ok && srv != nil {
		srv.RegisterOnShutdown(h.hub.onServerShutdown)
	}
	h.logger.Debug("hub ready", zap.String("hub", h.hubName), zap.Bool("reused", loaded))
	return nil
}

// Validate checks the provisioned configuration.
func (h *Handler) Validate() error {
	if err := h.check(); err != nil {
		return err
	}
	_, err := compileRules(h.Namespaces)
	return err
}

// Cleanup releases the hub. When no config uses it any more (Caddy stops,
// or the new config has no handler for it), the hub is closed: every client
// gets a clean close and reconnects (to the next Caddy process, if any).
func (h *Handler) Cleanup() error {
	if h.claimed != nil {
		h.claimed.release()
		h.claimed = nil
	}
	// h.hub stays set: the old server may still be finishing requests with
	// this handler (held polls, a connection accepted during the switch).
	// Once the hub is destroyed it answers them as shutting down.
	if h.hub == nil || h.released {
		return nil
	}
	h.released = true
	_, err := hubs.Delete(h.key)
	return err
}

// ServeHTTP answers Socket.IO requests under the path and passes all others
// to next.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	p := r.URL.Path
	if h.api != nil && h.api.owns(p) { // api.go
		h.api.h.ServeHTTP(w, r)
		return nil
	}
	if h.serveAdminUI(w, r) { // adminui.go
		return nil
	}
	if !strings.HasPrefix(p, h.Path) && p+"/" != h.Path {
		return next.ServeHTTP(w, r)
	}
	h.hub.srv.ServeHTTP(w, r)
	return nil
}

func (h *Handler) applyDefaults() {
	if h.Path == "" {
		h.Path = defaultPath
	}
	if !strings.HasPrefix(h.Path, "/") {
		h.Path = "/" + h.Path
	}
	if !strings.HasSuffix(h.Path, "/") {
		h.Path += "/"
	}
	if h.PingInterval == 0 {
		h.PingInterval = caddy.Duration(defaultPingInterval)
	}
	if h.PingTimeout == 0 {
		h.PingTimeout = caddy.Duration(defaultPingTimeout)
	}
}

// check validates the settings that do not need compiling; the namespace
// rules are checked by compileRules.
func (h *Handler) check() error {
	if err := h.checkRecovery(); err != nil { // recovery.go
		return err
	}
	for _, t := range h.Transports {
		if t != string(engine.Polling) && t != string(engine.WebSocket) {
			return fmt.Errorf("unknown transport %q (want polling or websocket)", t)
		}
	}
	if _, err := parseParser(h.Parser); err != nil {
		return err
	}
	switch {
	case h.PingInterval < 0:
		return fmt.Errorf("ping_interval must not be negative")
	case h.PingTimeout < 0:
		return fmt.Errorf("ping_timeout must not be negative")
	case h.ConnectTimeout < 0:
		return fmt.Errorf("connect_timeout must not be negative")
	case h.MaxPayload < 0:
		return fmt.Errorf("max_payload must not be negative")
	}
	if h.Limits != nil {
		if err := h.Limits.check(); err != nil {
			return err
		}
	}
	if h.CORS != nil {
		for _, o := range h.CORS.Origins {
			if o == "" {
				return fmt.Errorf("cors: empty origin")
			}
			if o == "*" && h.CORS.Credentials {
				return fmt.Errorf("cors: origins * with credentials would let every site use the " +
					"cookies and HTTP authentication of your users; list the origins allowed instead")
			}
		}
	}
	for _, name := range h.ForwardHeaders {
		if name == "" || strings.ContainsAny(name, " \t:") {
			return fmt.Errorf("forward_headers: invalid header name %q", name)
		}
	}
	return h.checkAdminUI() // adminui.go
}

// WebSocketCompression configures permessage-deflate.
type WebSocketCompression struct {
	// The smallest message, in bytes, sent compressed. Default: 1024.
	Threshold int64 `json:"threshold,omitempty"`
}

// fixedSettings are the settings a live hub cannot change; they are part of
// the hub's pool key, so changing one creates a new hub.
type fixedSettings struct {
	Path           string
	ServeClient    bool
	Transports     []string
	AllowUpgrades  bool
	AllowEIO3      bool   `json:",omitempty"`
	Parser         string `json:",omitempty"` // "" for auto
	MaxPayload     int64
	SendQueueSize  int   `json:",omitempty"`
	SendQueueBytes int64 `json:",omitempty"`
	// Engine bounds on what clients send (zero: the engine's defaults).
	PostReadTimeout   time.Duration `json:",omitempty"`
	MaxPayloadPackets int           `json:",omitempty"`
	MaxHandshakeBytes int64         `json:",omitempty"`
	ConnectTimeout    time.Duration
	CORS              CORS
	Adapter           string `json:",omitempty"` // adapterIdentity

	// CompressionThreshold: 0 without websocket_compression.
	CompressionThreshold int64 `json:",omitempty"`

	Recovery *recoverySettings // nil: off
}

// fixed returns the fixed settings with defaults resolved, so that leaving
// a setting out and spelling out its default give the same hub.
func (h *Handler) fixed() fixedSettings {
	f := fixedSettings{
		Path:           h.Path,
		ServeClient:    h.ServeClient == nil || *h.ServeClient,
		AllowUpgrades:  h.AllowUpgrades == nil || *h.AllowUpgrades,
		AllowEIO3:      h.AllowEIO3,
		MaxPayload:     h.MaxPayload,
		Parser:         h.Parser,
		ConnectTimeout: time.Duration(h.ConnectTimeout),
	}
	for _, t := range []string{string(engine.Polling), string(engine.WebSocket)} {
		if len(h.Transports) == 0 || slices.Contains(h.Transports, t) {
			f.Transports = append(f.Transports, t)
		}
	}
	if f.MaxPayload == 0 {
		f.MaxPayload = defaultMaxPayload
	}
	if h.WebSocketCompression != nil {
		f.CompressionThreshold = h.WebSocketCompression.Threshold
		if f.CompressionThreshold <= 0 {
			f.CompressionThreshold = 1024
		}
	}
	if f.Parser == "auto" {
		f.Parser = ""
	}
	if h.Limits != nil { // zero: the engine's defaults, so absent and default agree
		f.SendQueueSize, f.SendQueueBytes = h.Limits.SendQueueSize, h.Limits.SendQueueBytes
		f.PostReadTimeout = time.Duration(h.Limits.PostReadTimeout)
		f.MaxPayloadPackets, f.MaxHandshakeBytes = h.Limits.MaxPayloadPackets, h.Limits.MaxHandshakeBytes
	}
	if f.ConnectTimeout == 0 {
		f.ConnectTimeout = defaultConnectTimeout
	}
	if h.CORS != nil {
		f.CORS = *h.CORS
	}
	f.Adapter = h.adapterIdentity()
	f.Recovery = h.recovery()
	return f
}

// fingerprint hashes the fixed settings, or with all the whole handler
// config (used to check that two handlers sharing a hub agree).
func (h *Handler) fingerprint(all bool) string {
	var v any = h.fixed()
	if all {
		v = struct {
			F  fixedSettings
			PI caddy.Duration
			PT caddy.Duration
			NS []Namespace
			WH any
			L  *Limits
			A  *AdminUI `json:",omitempty"`
			FH []string
		}{h.fixed(), h.PingInterval, h.PingTimeout, h.Namespaces, h.webhookSettings(), h.Limits, h.AdminUI, h.ForwardHeaders}
	}
	b, err := json.Marshal(v)
	if err != nil { // cannot happen: plain data
		panic(err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

// options are the socketio.Server options of a new hub (fixed settings and
// the initial heartbeat).
func (h *Handler) options() socketio.Options {
	f := h.fixed()
	ec := engine.Config{
		PingInterval:   time.Duration(h.PingInterval),
		PingTimeout:    time.Duration(h.PingTimeout),
		MaxPayload:     f.MaxPayload,
		AllowUpgrades:  &f.AllowUpgrades,
		AllowEIO3:      f.AllowEIO3,
		CORS:           engine.CORS{Origins: f.CORS.Origins, Credentials: f.CORS.Credentials},
		RemoteAddr:     clientIP,
		SendQueueLen:   f.SendQueueSize,
		SendQueueBytes: f.SendQueueBytes,
		MaxConnections: h.limits().maxConnections(),

		PostReadTimeout:   f.PostReadTimeout,
		MaxPayloadPackets: f.MaxPayloadPackets,
		MaxHandshakeBytes: int(f.MaxHandshakeBytes),
	}
	ec.WebSocketCompression = f.CompressionThreshold > 0
	ec.CompressionThreshold = int(f.CompressionThreshold)
	for _, t := range f.Transports {
		ec.Transports = append(ec.Transports, engine.Transport(t))
	}
	parser, _ := parseParser(f.Parser) // checked in Validate
	return socketio.Options{
		Path:           f.Path,
		DisableClient:  !f.ServeClient,
		Parser:         parser,
		Engine:         ec,
		ConnectTimeout: f.ConnectTimeout,
		Limits:         h.limits().library(),
		Recovery:       f.Recovery.library(nil), // OnExpire is set by newHub
		// Namespaces matched by a pattern go with their last socket.
		CleanupEmptyChildNamespaces: true,
	}
}

// parseParser reads the parser setting.
func parseParser(s string) (socketio.Parser, error) {
	switch s {
	case "", "auto":
		return socketio.ParserAuto, nil
	case "default":
		return socketio.ParserDefault, nil
	case "msgpack":
		return socketio.ParserMsgpack, nil
	}
	return 0, fmt.Errorf("unknown parser %q (want auto, default or msgpack)", s)
}

// limits returns the configured limits, or all defaults.
func (h *Handler) limits() *Limits {
	if h.Limits == nil {
		return &Limits{}
	}
	return h.Limits
}

// clientIP is the handshake address: Caddy's client IP, which honours the
// server's trusted_proxies, or the TCP peer.
func clientIP(r *http.Request) string {
	if ip, ok := caddyhttp.GetVar(r.Context(), caddyhttp.ClientIPVarKey).(string); ok && ip != "" {
		return ip
	}
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return host
	}
	return r.RemoteAddr
}

// onEvent adapts a function to a caddyevents.Handler. (A struct, not a
// func type: the events app logs its handlers as JSON.)
type onEvent struct{ fn func() }

func (e *onEvent) Handle(context.Context, caddy.Event) error { e.fn(); return nil }

// Interface guards
var (
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddy.Validator             = (*Handler)(nil)
	_ caddy.CleanerUpper          = (*Handler)(nil)
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
	_ caddyfile.Unmarshaler       = (*Handler)(nil)
	_ caddyevents.Handler         = (*onEvent)(nil)
)
