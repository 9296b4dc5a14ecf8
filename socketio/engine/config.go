package engine

import (
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"time"
)

// Transport is an Engine.IO transport name as it appears in the query.
type Transport string

const (
	Polling   Transport = "polling"
	WebSocket Transport = "websocket"
)

// CORS configures the headers added to every polling and handshake response,
// including errors, and the answer to OPTIONS preflights (github.com/socketio/engine.io-protocol).
// Websocket handshakes are not subject to CORS; see Config.CheckOrigin.
type CORS struct {
	// Origins allowed to read responses. "*" allows any origin (with
	// Credentials the request Origin is echoed instead, as browsers refuse
	// "*" with credentials). Empty turns CORS off: no headers are added and
	// OPTIONS is an ordinary (refused) engine request.
	Origins []string
	// Credentials adds Access-Control-Allow-Credentials: true.
	Credentials bool
	// Methods for Access-Control-Allow-Methods on preflights.
	// Default: GET,HEAD,PUT,PATCH,POST,DELETE.
	Methods []string
	// Headers for Access-Control-Allow-Headers on preflights. Default: echo
	// the request's Access-Control-Request-Headers (and add Vary).
	Headers []string
	// ExposedHeaders for Access-Control-Expose-Headers.
	ExposedHeaders []string
	// MaxAge for Access-Control-Max-Age on preflights; 0 omits it.
	MaxAge time.Duration
}

// Config configures a Server. Zero fields take the defaults documented on
// each field (applied by NewServer).
type Config struct {
	// PingInterval: how often the server sends a ping. Default 25s.
	PingInterval time.Duration
	// PingTimeout: how long to wait for the pong before closing the session
	// with "ping timeout". Default 20s.
	PingTimeout time.Duration
	// MaxPayload in bytes: the largest polling POST body and websocket
	// message accepted. Default 1_000_000.
	MaxPayload int64
	// Transports enabled; order irrelevant. Default both.
	Transports []Transport
	// AllowUpgrades from polling to websocket. Default true.
	AllowUpgrades *bool
	// UpgradeTimeout: how long a probing websocket may take to send "5".
	// Default 10s.
	UpgradeTimeout time.Duration
	// CORS headers for polling responses; off when Origins is empty.
	CORS CORS
	// CheckOrigin decides websocket handshakes with an Origin header.
	// Default: when CORS.Origins is non-empty and not "*", the Origin must be
	// one of them; otherwise allowed. Refusal: HTTP 403, plain text "Forbidden".
	CheckOrigin func(r *http.Request) bool
	// AllowRequest may refuse a handshake (new sessions only): an error
	// answers HTTP 403 {"code":4,"message":err.Error() or "Forbidden"}
	// (a refused websocket handshake gets a plain 400 with that message,
	// like Node).
	AllowRequest func(r *http.Request) error
	// RemoteAddr extracts the client address recorded in the Handshake.
	// Default: the host part of r.RemoteAddr.
	RemoteAddr func(r *http.Request) string
	// SendQueueLen: the most messages queued on one session. Default 4096.
	SendQueueLen int
	// SendQueueBytes: the most message bytes queued on one session. Default
	// 16 MiB; raised to MaxPayload if lower.
	SendQueueBytes int64
	// MaxConnections: the most open sessions. A handshake beyond it is
	// refused with HTTP 503 "Too many connections" and Retry-After: 5 (the
	// official client retries with its reconnection backoff); existing
	// sessions are not affected. Counted in Stats.RefusedFull, logged at
	// most once per 10 s. 0: no limit. SetMaxConnections changes it live.
	MaxConnections int
	// WriteTimeout: one websocket write (a batch of frames) may take this
	// long before the session is closed as a slow client (counted in
	// Stats.SlowClosed). Default 10s.
	WriteTimeout time.Duration
	// PostReadTimeout bounds reading one polling POST body: a client that
	// announces a body and sends it slower than that gets HTTP 400 and its
	// session is closed ("transport error"). It is set with
	// http.ResponseController.SetReadDeadline, so it applies even when the
	// HTTP server has no read timeout (Caddy's default). Default 10s.
	PostReadTimeout time.Duration
	// MaxHandshakeBytes: the most bytes of headers (names and values) plus
	// query string a handshake may carry; a session keeps them for its
	// lifetime (Handshake, socket.handshake). A bigger handshake is refused
	// with HTTP 431 before any session exists. Default 32 KiB (Node's HTTP
	// server refuses headers over 16 KiB).
	MaxHandshakeBytes int
	// MaxPayloadPackets: the most packets one polling POST body may carry.
	// A body with more is refused (HTTP 400, session closed with "parse
	// error") before any of its packets is delivered. Default 10,000 (the
	// official client sends everything it has buffered in one body, up to
	// maxPayload bytes: a burst of thousands of small emits is legitimate).
	MaxPayloadPackets int
	// Logger for session events. Default discards.
	Logger *slog.Logger
	// AllowEIO3 accepts Engine.IO v3 clients (socket.io-client 2.x), as
	// Node's allowEIO3: a handshake whose EIO is not "4" opens a v3 session
	// (length-prefixed polling payloads, binary as "b4<base64>" or the
	// binary payload format, binary websocket frames with a type byte, and
	// the reversed heartbeat: the client pings, the server answers pong and
	// closes the session when no ping came for PingInterval+PingTimeout).
	// Off (default): such handshakes get HTTP 400 code 5 "Unsupported
	// protocol version". See eio3.go.
	AllowEIO3 bool
	// WebSocketCompression negotiates permessage-deflate (RFC 7692) with
	// websocket clients that offer it, without context takeover (see
	// wsdeflate.go): messages of at least CompressionThreshold bytes are
	// sent compressed, compressed client messages are inflated, MaxPayload
	// applying to the inflated size. Default off, as in Node.
	WebSocketCompression bool
	// CompressionThreshold: the smallest message (frame payload, bytes)
	// sent compressed. Default 1024, as Node's perMessageDeflate.
	CompressionThreshold int
	// HTTPCompression compresses polling GET answers of at least
	// HTTPCompressionThreshold bytes with gzip or deflate when the request's
	// Accept-Encoding allows (Node's httpCompression, which is on there by
	// default). Off by default; behind Caddy leave it off and use the
	// `encode` directive (httpcompress.go).
	HTTPCompression bool
	// HTTPCompressionThreshold: the smallest body compressed. Default 1024.
	HTTPCompressionThreshold int
	// OnSession is called for every new session, before the open packet is
	// sent, and returns the handler of its traffic. Required. It may call
	// s.Send (those messages follow the open packet) and s.Close.
	OnSession func(s *Session) SessionHandler
}

func (c *Config) applyDefaults() {
	if c.PingInterval <= 0 {
		c.PingInterval = 25 * time.Second
	}
	if c.PingTimeout <= 0 {
		c.PingTimeout = 20 * time.Second
	}
	if c.MaxPayload <= 0 {
		c.MaxPayload = 1_000_000
	}
	if len(c.Transports) == 0 {
		c.Transports = []Transport{Polling, WebSocket}
	}
	if c.AllowUpgrades == nil {
		t := true
		c.AllowUpgrades = &t
	}
	if c.UpgradeTimeout <= 0 {
		c.UpgradeTimeout = 10 * time.Second
	}
	if len(c.CORS.Methods) == 0 {
		c.CORS.Methods = []string{"GET", "HEAD", "PUT", "PATCH", "POST", "DELETE"}
	}
	if c.CheckOrigin == nil {
		c.CheckOrigin = defaultCheckOrigin(c.CORS.Origins)
	}
	if c.RemoteAddr == nil {
		c.RemoteAddr = defaultRemoteAddr
	}
	if c.SendQueueLen <= 0 {
		c.SendQueueLen = 4096
	}
	if c.SendQueueBytes <= 0 {
		c.SendQueueBytes = 16 << 20
	}
	if c.SendQueueBytes < c.MaxPayload {
		c.SendQueueBytes = c.MaxPayload
	}
	if c.HTTPCompressionThreshold <= 0 {
		c.HTTPCompressionThreshold = 1024
	}
	if c.CompressionThreshold <= 0 {
		c.CompressionThreshold = 1024
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = 10 * time.Second
	}
	if c.PostReadTimeout <= 0 {
		c.PostReadTimeout = 10 * time.Second
	}
	if c.MaxHandshakeBytes <= 0 {
		c.MaxHandshakeBytes = 32 << 10
	}
	if c.MaxPayloadPackets <= 0 {
		c.MaxPayloadPackets = 10_000
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

func defaultCheckOrigin(origins []string) func(r *http.Request) bool {
	if len(origins) == 0 || contains(origins, "*") {
		return func(*http.Request) bool { return true }
	}
	allowed := append([]string(nil), origins...)
	return func(r *http.Request) bool {
		o := r.Header.Get("Origin")
		return o == "" || contains(allowed, o)
	}
}

func defaultRemoteAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func contains[T comparable](s []T, v T) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// Handshake describes the request that created a session.
type Handshake struct {
	Header     http.Header
	Query      url.Values
	RemoteAddr string
	URL        string // request URI of the handshake
	Host       string
	Secure     bool // r.TLS != nil
	Time       time.Time
	XDomain    bool // Origin header present
}

// WithDefaults returns c with the defaults applied, as NewServer uses it
// (the Caddy module's docs test compares them with its tables).
func (c Config) WithDefaults() Config {
	c.applyDefaults()
	return c
}
