// Package engine implements the server side of the Engine.IO protocol v4
// (github.com/socketio/engine.io-protocol): handshake, sessions, heartbeat, HTTP long-polling,
// websocket, the polling→websocket upgrade and CORS. It carries opaque
// messages and knows nothing of Socket.IO. EIO=3 is refused unless
// Config.AllowEIO3 is set (eio3.go); JSONP always is.
package engine

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// Server is an http.Handler for everything under one engine path
// (e.g. /socket.io/).
type Server struct {
	cfg       Config
	log       *slog.Logger
	upgrader  websocket.Upgrader
	polling   bool // transport enabled
	websocket bool // transport enabled

	// upgraderDeflate also negotiates permessage-deflate (wsdeflate.go).
	upgraderDeflate websocket.Upgrader
	deflates        deflateCache

	pingIntervalNs atomic.Int64
	pingTimeoutNs  atomic.Int64
	open           atomic.Int64
	counters       counters
	maxConns       atomic.Int64 // Config.MaxConnections; 0: none
	fullLoggedNs   atomic.Int64 // when "too many connections" was last logged

	mu           sync.RWMutex
	sessions     map[string]*Session // open sessions and lingering polling ones
	shuttingDown bool
}

// SendQueueBounds are the send queue bounds of every session (messages,
// bytes), defaults applied.
func (s *Server) SendQueueBounds() (int, int64) { return s.cfg.SendQueueLen, s.cfg.SendQueueBytes }

// NewServer returns a server for cfg with the defaults applied. It panics if
// cfg.OnSession is nil.
func NewServer(cfg Config) *Server {
	if cfg.OnSession == nil {
		panic("engine: Config.OnSession is required")
	}
	cfg.applyDefaults()
	srv := &Server{
		cfg:      cfg,
		log:      cfg.Logger,
		sessions: make(map[string]*Session),
	}
	for _, t := range cfg.Transports {
		switch t {
		case Polling:
			srv.polling = true
		case WebSocket:
			srv.websocket = true
		}
	}
	srv.upgrader = websocket.Upgrader{
		// gorilla only performs the handshake (we read and write frames on
		// the net.Conn ourselves). 0: it takes over net/http's hijacked
		// bufio.Reader instead of allocating one; both are dropped with its
		// *websocket.Conn right after the handshake.
		ReadBufferSize: 0,
		// With a pool gorilla allocates no per-connection write buffer.
		WriteBufferPool:   &sync.Pool{},
		EnableCompression: false,
		// Origins are checked before upgrading (Config.CheckOrigin).
		CheckOrigin: func(*http.Request) bool { return true },
		Error: func(w http.ResponseWriter, _ *http.Request, status int, reason error) {
			writeUpgradeError(w, status, http.StatusText(status))
		},
	}
	srv.upgraderDeflate = srv.upgrader
	srv.upgraderDeflate.EnableCompression = true
	srv.SetTiming(cfg.PingInterval, cfg.PingTimeout)
	srv.SetMaxConnections(cfg.MaxConnections)
	return srv
}

// SetMaxConnections changes Config.MaxConnections (config reloads); it
// applies to handshakes from now on. 0 or less: no limit.
func (srv *Server) SetMaxConnections(n int) { srv.maxConns.Store(int64(max(n, 0))) }

// full reports whether MaxConnections sessions are open, and then counts
// and (at most once per 10 s) logs the refusal.
func (srv *Server) full() bool {
	limit := srv.maxConns.Load()
	if limit == 0 || srv.open.Load() < limit {
		return false
	}
	srv.limitRefused()
	return true
}

func (srv *Server) limitRefused() {
	n := srv.counters.refusedFull.Add(1)
	now := time.Now().UnixNano()
	last := srv.fullLoggedNs.Load()
	if now-last >= int64(10*time.Second) && srv.fullLoggedNs.CompareAndSwap(last, now) {
		srv.log.Warn("max connections reached, refusing new sessions",
			"limit", srv.maxConns.Load(), "refused_total", n)
	}
}

// writeFull refuses a handshake because the server is full (before any
// websocket upgrade, so both transports get a plain HTTP answer).
func writeFull(w http.ResponseWriter) {
	w.Header().Set("Retry-After", "5")
	writeErrorStatus(w, http.StatusServiceUnavailable, CodeBadRequest, "Too many connections")
}

// SetTiming changes the heartbeat for config reloads: it applies to pings
// scheduled from now on and to new handshakes. Zero values keep the current
// setting.
func (srv *Server) SetTiming(pingInterval, pingTimeout time.Duration) {
	if pingInterval > 0 {
		srv.pingIntervalNs.Store(int64(pingInterval))
	}
	if pingTimeout > 0 {
		srv.pingTimeoutNs.Store(int64(pingTimeout))
	}
}

func (srv *Server) pingInterval() time.Duration { return time.Duration(srv.pingIntervalNs.Load()) }
func (srv *Server) pingTimeout() time.Duration  { return time.Duration(srv.pingTimeoutNs.Load()) }

// SessionCount returns the number of open sessions.
func (srv *Server) SessionCount() int { return int(srv.open.Load()) }

// Shutdown closes every session with ReasonServerShuttingDown (websocket:
// close frame then TCP close; polling: a held GET gets "1"). Later requests
// with a sid get code 1 and handshakes get 503. Idempotent; it does not wait
// for close frames to be written.
func (srv *Server) Shutdown() {
	srv.mu.Lock()
	srv.shuttingDown = true
	list := make([]*Session, 0, len(srv.sessions))
	for _, s := range srv.sessions {
		list = append(list, s)
	}
	srv.mu.Unlock()
	for _, s := range list {
		s.close(ReasonServerShuttingDown, false)
		s.endLinger()
	}
}

// ReleasePolls answers every held polling GET with a noop, so clients poll
// again at once (useful before the HTTP server that holds those requests
// shuts down, e.g. on a Caddy config reload). Sessions stay open.
func (srv *Server) ReleasePolls() {
	srv.mu.RLock()
	list := make([]*Session, 0, len(srv.sessions))
	for _, s := range srv.sessions {
		list = append(list, s)
	}
	srv.mu.RUnlock()
	for _, s := range list {
		s.mu.Lock()
		if s.poll != nil {
			s.completePollLocked([]packet{{typ: packetNoop}})
		}
		s.mu.Unlock()
	}
}

func (srv *Server) lookup(sid string) *Session {
	srv.mu.RLock()
	s := srv.sessions[sid]
	srv.mu.RUnlock()
	return s
}

// register adds a new session: errShuttingDown once shutting down,
// errFull at MaxConnections.
func (srv *Server) register(s *Session) error {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if srv.shuttingDown {
		return errShuttingDown
	}
	if _, dup := srv.sessions[s.id]; dup { // 120 random bits: never, but be safe
		return errShuttingDown
	}
	// The check before the handshake (full) lets a few concurrent ones
	// through; this one is exact.
	if limit := srv.maxConns.Load(); limit > 0 && srv.open.Load() >= limit {
		go srv.limitRefused() // not under srv.mu: it may log
		return errFull
	}
	srv.sessions[s.id] = s
	srv.open.Add(1)
	srv.counters.opened.Add(1)
	if s.transport == Polling {
		srv.counters.polling.Add(1)
	}
	return nil
}

var (
	errShuttingDown = errors.New("engine: shutting down")
	errFull         = errors.New("engine: too many connections")
)

// sessionClosed is called once per session by close(); polling: the session
// was still on long-polling.
func (srv *Server) sessionClosed(s *Session, forget, polling bool) {
	srv.open.Add(-1)
	srv.counters.closed.Add(1)
	if polling {
		srv.counters.polling.Add(-1)
	}
	if forget {
		srv.forget(s)
	}
}

func (srv *Server) forget(s *Session) {
	srv.mu.Lock()
	if srv.sessions[s.id] == s {
		delete(srv.sessions, s.id)
	}
	srv.mu.Unlock()
}

func newSID() (string, error) {
	var b [15]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return base64.URLEncoding.EncodeToString(b[:]), nil
}

// ServeHTTP handles every engine request: handshakes, polls, posts,
// websockets and preflights. Checks follow Node's order: transport, Origin
// syntax, sid, method, then EIO (§1.9).
func (srv *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer srv.recoverHTTP(w, r)
	q := r.URL.Query()
	isUpgrade := websocket.IsWebSocketUpgrade(r)
	if !isUpgrade && srv.corsEnabled() {
		if r.Method == http.MethodOptions {
			srv.preflight(w, r)
			return
		}
		srv.corsHeaders(w, r)
	}
	fail := func(code ErrorCode, msg string) {
		if q.Get("sid") == "" {
			srv.counters.rejected.Add(1)
		}
		if isUpgrade {
			if msg == "" {
				msg = code.Message()
			}
			writeUpgradeError(w, http.StatusBadRequest, msg)
			return
		}
		writeError(w, code, msg)
	}

	transport := Transport(q.Get("transport"))
	if !srv.transportEnabled(transport) {
		fail(CodeUnknownTransport, "")
		return
	}
	if invalidHeaderValue(r.Header.Get("Origin")) || q.Has("j") || (isUpgrade && transport != WebSocket) {
		// Bad Origin syntax, JSONP (unsupported), or an upgrade of polling.
		fail(CodeBadRequest, "")
		return
	}

	if sid := q.Get("sid"); sid != "" {
		s := srv.lookup(sid)
		if s == nil {
			fail(CodeUnknownSID, "")
			return
		}
		if isEIO3(q) != s.eio3 { // protocol mismatch with the session
			fail(CodeBadRequest, "")
			return
		}
		if isUpgrade {
			srv.serveUpgrade(w, r, s, q)
			return
		}
		if transport != s.Transport() || transport == WebSocket {
			fail(CodeBadRequest, "")
			return
		}
		switch r.Method {
		case http.MethodGet:
			s.servePoll(srv.compressPolling(w, r), r)
		case http.MethodPost:
			s.serveData(w, r)
		default:
			writeEmpty(w, http.StatusInternalServerError)
		}
		return
	}

	if r.Method != http.MethodGet {
		fail(CodeBadHandshakeMethod, "")
		return
	}
	if handshakeSize(r) > srv.cfg.MaxHandshakeBytes {
		// Kept for the session's lifetime: refuse rather than hold it.
		srv.counters.rejected.Add(1)
		const msg = "Request Header Fields Too Large"
		if isUpgrade {
			writeUpgradeError(w, http.StatusRequestHeaderFieldsTooLarge, msg)
		} else {
			writeErrorStatus(w, http.StatusRequestHeaderFieldsTooLarge, CodeBadRequest, msg)
		}
		return
	}
	if transport == WebSocket && !isUpgrade {
		fail(CodeBadRequest, "")
		return
	}
	if srv.cfg.AllowRequest != nil {
		if err := srv.cfg.AllowRequest(r); err != nil {
			msg := err.Error()
			if msg == "" {
				msg = CodeForbidden.Message()
			}
			fail(CodeForbidden, msg)
			return
		}
	}
	if isEIO3(q) && !srv.cfg.AllowEIO3 {
		fail(CodeUnsupportedProtocolVersion, "")
		return
	}
	if srv.full() {
		writeFull(w)
		return
	}
	if isUpgrade {
		srv.serveWebSocketHandshake(w, r, q)
	} else {
		srv.servePollingHandshake(srv.compressPolling(w, r), r, q)
	}
}

func (srv *Server) transportEnabled(t Transport) bool {
	switch t {
	case Polling:
		return srv.polling
	case WebSocket:
		return srv.websocket
	}
	return false
}

// handshakeSize is what a session would keep of its handshake request:
// header names and values, and the query string.
func handshakeSize(r *http.Request) int {
	n := len(r.URL.RawQuery)
	for k, vs := range r.Header {
		for _, v := range vs {
			n += len(k) + len(v)
		}
	}
	return n
}

// invalidHeaderValue mirrors Node's checkInvalidHeaderChar.
func invalidHeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c != '\t' && (c < 0x20 || c == 0x7f) {
			return true
		}
	}
	return false
}

func (srv *Server) newSession(r *http.Request, q url.Values, t Transport) (*Session, error) {
	id, err := newSID()
	if err != nil {
		return nil, err
	}
	uri := r.RequestURI
	if uri == "" {
		uri = r.URL.RequestURI()
	}
	return &Session{
		srv: srv,
		id:  id,
		handshake: &Handshake{
			Header:     r.Header.Clone(),
			Query:      q,
			RemoteAddr: srv.cfg.RemoteAddr(r),
			URL:        uri,
			Host:       r.Host,
			Secure:     r.TLS != nil,
			Time:       time.Now(),
			XDomain:    r.Header.Get("Origin") != "",
		},
		eio3:       isEIO3(q),
		b64:        q.Get("b64") != "",
		done:       make(chan struct{}),
		transport:  t,
		inDispatch: true, // until OnSession returns (start)
	}, nil
}

// openPacket is the "0{...}" packet, keys in Node's order (§1.5).
func (srv *Server) openPacket(sid string, t Transport) []byte {
	b := make([]byte, 0, 128)
	b = append(b, `0{"sid":"`...)
	b = append(b, sid...)
	b = append(b, `","upgrades":[`...)
	if t == Polling && srv.websocket && *srv.cfg.AllowUpgrades {
		b = append(b, `"websocket"`...)
	}
	b = append(b, `],"pingInterval":`...)
	b = strconv.AppendInt(b, srv.pingInterval().Milliseconds(), 10)
	b = append(b, `,"pingTimeout":`...)
	b = strconv.AppendInt(b, srv.pingTimeout().Milliseconds(), 10)
	b = append(b, `,"maxPayload":`...)
	b = strconv.AppendInt(b, srv.cfg.MaxPayload, 10)
	return append(b, '}')
}

func (srv *Server) servePollingHandshake(w http.ResponseWriter, r *http.Request, q url.Values) {
	s, err := srv.newSession(r, q, Polling)
	if err != nil {
		writeError(w, CodeBadRequest, "")
		return
	}
	if err := srv.register(s); err != nil {
		if err == errFull {
			writeFull(w)
		} else {
			writeShuttingDown(w)
		}
		return
	}
	srv.log.Debug("engine session opened", "sid", s.id, "transport", string(Polling))
	s.start()
	// The handshake GET carries the open packet and whatever OnSession sent.
	s.mu.Lock()
	var pkts []packet
	forget := false
	switch {
	case s.lingering:
		pkts, forget = s.takeLingerLocked(), true
	case s.closed:
		pkts = []packet{{typ: packetClose}}
	default:
		pkts = s.takeQueueLocked()
	}
	s.mu.Unlock()
	if forget {
		srv.forget(s)
	}
	if s.eio3 {
		writePayloadV3(w, srv.openPacket(s.id, Polling), pkts, !s.b64)
	} else {
		writePayload(w, srv.openPacket(s.id, Polling), pkts)
	}
	putQueue(pkts)
}

func (srv *Server) serveWebSocketHandshake(w http.ResponseWriter, r *http.Request, q url.Values) {
	if !srv.cfg.CheckOrigin(r) {
		srv.counters.rejected.Add(1)
		writeUpgradeError(w, http.StatusForbidden, "Forbidden")
		return
	}
	s, err := srv.newSession(r, q, WebSocket)
	if err != nil {
		writeUpgradeError(w, http.StatusBadRequest, CodeBadRequest.Message())
		return
	}
	if srv.isShuttingDown() {
		writeShuttingDown(w)
		return
	}
	c, err := srv.upgrade(w, r, q.Get("b64") == "1")
	if err != nil {
		return
	}
	s.ws = c
	c.eio3 = s.eio3
	// Hold the writer (writing=true) until OnSession returned, so the open
	// packet is the first frame and OnSession's sends follow it in one batch.
	s.queue = append(s.queue, packet{typ: packetOpen, data: srv.openPacket(s.id, WebSocket)[1:]})
	s.writing = true
	if srv.register(s) != nil {
		c.closeNow() // shutting down, or filled up during the upgrade
		return
	}
	srv.log.Debug("engine session opened", "sid", s.id, "transport", string(WebSocket))
	s.start()
	s.mu.Lock()
	s.writing = false
	start := s.flushLocked()
	s.mu.Unlock()
	if start {
		s.startWriter()
	}
	c.serve(s, false)
}

// serveUpgrade handles a websocket carrying the sid of an existing session:
// an upgrade probe (§1.8), or a websocket that must be closed (the session is
// already on websocket or upgrading, or upgrades are disabled).
func (srv *Server) serveUpgrade(w http.ResponseWriter, r *http.Request, s *Session, q url.Values) {
	if !srv.cfg.CheckOrigin(r) {
		writeUpgradeError(w, http.StatusForbidden, "Forbidden")
		return
	}
	c, err := srv.upgrade(w, r, q.Get("b64") == "1")
	if err != nil {
		return
	}
	c.eio3 = s.eio3
	if !*srv.cfg.AllowUpgrades || !s.startProbe(c) {
		c.closeNow()
		return
	}
	c.serve(s, true)
}

func (srv *Server) isShuttingDown() bool {
	srv.mu.RLock()
	defer srv.mu.RUnlock()
	return srv.shuttingDown
}

func writeShuttingDown(w http.ResponseWriter) {
	const msg = "Server shutting down"
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(msg)))
	w.WriteHeader(http.StatusServiceUnavailable)
	_, _ = w.Write([]byte(msg))
}

// recoverHTTP is deferred by ServeHTTP: a panic while serving a request
// closes the session it named, if any, and answers 500 (net/http would
// recover it too, but leave the session half-handled).
func (srv *Server) recoverHTTP(w http.ResponseWriter, r *http.Request) {
	v := recover()
	if v == nil {
		return
	}
	if v == http.ErrAbortHandler {
		panic(v)
	}
	sid := r.URL.Query().Get("sid")
	srv.recovered(v, "HTTP handler", sid)
	if s := srv.lookup(sid); s != nil {
		s.close(ReasonTransportError, false)
	}
	if !websocket.IsWebSocketUpgrade(r) {
		writeEmpty(w, http.StatusInternalServerError)
	}
}
