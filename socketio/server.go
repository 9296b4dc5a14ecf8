// Package socketio is a Socket.IO v5 server (Engine.IO v4) for the official
// socket.io-client 4.x: namespaces, rooms, acknowledgements, binary
// attachments, broadcasts encoded once for every recipient.
//
// A Server is an http.Handler for its path (default "/socket.io/"). Event
// handlers run on the connection's read goroutine, in the order the client
// sent its packets; a handler that blocks delays only its own connection.
package socketio

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddy-socketio/caddy-socketio/socketio/adapter"
	"github.com/caddy-socketio/caddy-socketio/socketio/clientdist"
	"github.com/caddy-socketio/caddy-socketio/socketio/engine"
)

// Options configure a Server. The zero value is usable.
type Options struct {
	// Path is the URL path prefix the server owns. Default "/socket.io/".
	Path string
	// DisableClient stops serving the official client bundle at
	// {Path}socket.io.js (and the .min.js, .esm.min.js, .msgpack.min.js
	// variants with their source maps).
	DisableClient bool
	// Engine configures Engine.IO: heartbeat, payload limit, transports,
	// CORS, send queue bounds. Its OnSession is set by the Server.
	Engine engine.Config
	// ConnectTimeout closes an Engine.IO connection that has joined no
	// namespace this long after its handshake. Default 45s.
	ConnectTimeout time.Duration
	// Adapter creates each namespace's adapter. Default adapter.NewMemory.
	Adapter adapter.Factory
	// Logger receives the server's logs. Default: discarded.
	Logger *slog.Logger
	// Limits bound namespaces per connection, rooms per socket,
	// attachments per packet and the event rate; see Limits.
	Limits Limits
	// Parser selects the packet format: ParserAuto (the zero value)
	// detects it per connection, serving default-parser and
	// socket.io-msgpack-parser clients side by side; ParserDefault or
	// ParserMsgpack accept only that one.
	Parser Parser
	// Recovery turns on connection state recovery (nil: off); see
	// Recovery.
	Recovery *Recovery
	// CleanupEmptyChildNamespaces removes a namespace created by a
	// ParentNamespace (OfFunc, OfRegexp) when its last socket leaves, and
	// closes its adapter, as Node's option of the same name does. Without
	// it children stay once created (they still count against
	// Limits.MaxDynamicNamespaces). See ParentNamespace.KeepEmptyChildren.
	CleanupEmptyChildNamespaces bool
}

// Recovery configures connection state recovery, the Socket.IO 4.6+
// feature (connectionStateRecovery in Node,
// https://socket.io/docs/v4/connection-state-recovery): the CONNECT reply
// carries a private id (pid), every stored event carries an offset as its
// last argument, and a client that reconnects with {pid, offset} in its
// CONNECT auth within MaxDisconnectionDuration gets back its socket id,
// rooms and data, then every stored packet it missed, in order and before
// any new packet; Socket.Recovered is then true.
//
// Stored packets are events without acknowledgement that are not volatile,
// broadcast or emitted to one socket (as in Node). A session is kept only
// when the socket left for a reason the client did not choose and the
// server did not force with a DISCONNECT packet (transport error or close,
// ping timeout, forced close, server shutting down, forced server close). A
// pid is taken at most once: a pid of a connected socket, or a forged,
// unknown or expired one, gets a fresh session; so does a client that
// missed more packets than the send queue holds (Engine.SendQueueLen
// messages, half of Engine.SendQueueBytes), or whose missed packets were
// evicted from the buffer.
//
// The namespace's adapter must implement adapter.SessionStore (the memory
// adapter does; the Redis adapters through their local part, so a client
// must come back to the node it left). The bounds are per namespace: see
// adapter.RecoveryOptions.
type Recovery struct {
	adapter.RecoveryOptions
	// SkipMiddlewares lets a recovered socket connect without running the
	// namespace's middlewares again. Node's default is true; here the zero
	// value runs them, so an application can refuse a recovered socket.
	SkipMiddlewares bool
	// OnExpire, when set, runs (on a timer goroutine) for each kept session
	// whose time ran out without being recovered: its socket is gone for
	// good.
	OnExpire func(nsp *Namespace, s adapter.Session)
}

// Server is a Socket.IO server.
type Server struct {
	path           string
	serveClient    bool
	connectTimeout time.Duration
	parser         Parser
	adapterFactory adapter.Factory
	logger         *slog.Logger
	engine         *engine.Server

	recovery  *Recovery
	limits    atomic.Pointer[Limits]
	limitHits limitCounters
	observers observers

	cleanupEmpty bool
	// decoded is the estimated size of the event arguments being handled,
	// decoded, right now (Limits.MaxDecodedBytesTotal); unhandled counts
	// events dropped undecoded.
	decoded   atomic.Int64
	unhandled atomic.Uint64

	mu      sync.RWMutex
	nsps    map[string]*Namespace // the live namespaces
	parents []*ParentNamespace
	dynamic int // live children of parents not told KeepEmptyChildren
}

// NewServer returns a Server with the namespace "/" already created.
func NewServer(opts *Options) *Server {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Path == "" {
		o.Path = "/socket.io/"
	}
	if !strings.HasSuffix(o.Path, "/") {
		o.Path += "/"
	}
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = 45 * time.Second
	}
	if o.Adapter == nil {
		o.Adapter = adapter.NewMemory
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s := &Server{
		path:           o.Path,
		serveClient:    !o.DisableClient,
		connectTimeout: o.ConnectTimeout,
		parser:         o.Parser,
		adapterFactory: o.Adapter,
		logger:         o.Logger,
		nsps:           make(map[string]*Namespace),
		cleanupEmpty:   o.CleanupEmptyChildNamespaces,
	}
	if o.Recovery != nil {
		r := *o.Recovery
		r.RecoveryOptions = r.RecoveryOptions.WithDefaults()
		s.recovery = &r
	}
	s.SetLimits(o.Limits)
	ec := o.Engine
	if ec.Logger == nil {
		ec.Logger = o.Logger
	}
	ec.OnSession = s.onSession
	s.engine = engine.NewServer(ec)
	s.Of("/")
	return s
}

// Engine returns the Engine.IO server underneath.
func (s *Server) Engine() *engine.Server { return s.engine }

// ServeHTTP serves the client bundle and every Engine.IO request under the
// server's path; anything else gets 404.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rest, ok := strings.CutPrefix(r.URL.Path, s.path)
	if !ok {
		if r.URL.Path+"/" != s.path {
			http.NotFound(w, r)
			return
		}
		rest = ""
	}
	if rest != "" && s.serveClient && clientdist.Serve(w, r, rest) {
		return
	}
	s.engine.ServeHTTP(w, r)
}

// Close disconnects every client (reason "server shutting down") and
// releases the namespaces' adapters.
func (s *Server) Close() error {
	s.engine.Shutdown()
	s.mu.Lock()
	nsps := make([]*Namespace, 0, len(s.nsps))
	for _, n := range s.nsps {
		nsps = append(nsps, n)
	}
	s.mu.Unlock()
	var first error
	for _, n := range nsps {
		if err := n.adp().Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// Of returns the namespace called name, creating it if needed. A missing
// leading slash is added.
func (s *Server) Of(name string) *Namespace {
	name = normalizeNsp(name)
	s.mu.RLock()
	n := s.nsps[name]
	s.mu.RUnlock()
	if n != nil {
		return n
	}
	s.mu.Lock()
	if n = s.nsps[name]; n != nil {
		s.mu.Unlock()
		return n
	}
	n = newNamespace(s, name)
	s.nsps[name] = n
	s.mu.Unlock()
	s.notifyNamespace(n)
	return n
}

// Namespace returns an existing namespace.
func (s *Server) Namespace(name string) (*Namespace, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	n, ok := s.nsps[normalizeNsp(name)]
	return n, ok
}

// Namespaces lists the existing namespaces.
func (s *Server) Namespaces() []*Namespace {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]*Namespace, 0, len(s.nsps))
	for _, n := range s.nsps {
		out = append(out, n)
	}
	return out
}

// OfFunc declares dynamic namespaces: a client connecting to a namespace
// that does not exist yet creates it when match returns true. The returned
// parent applies its middlewares and connection handlers to every namespace
// it creates.
func (s *Server) OfFunc(match func(name string, auth map[string]any) bool) *ParentNamespace {
	p := &ParentNamespace{srv: s, match: match, children: make(map[string]*Namespace)}
	s.mu.Lock()
	s.parents = append(s.parents, p)
	s.mu.Unlock()
	return p
}

// OfRegexp declares dynamic namespaces whose names match re.
func (s *Server) OfRegexp(re *regexp.Regexp) *ParentNamespace {
	return s.OfFunc(func(name string, _ map[string]any) bool { return re.MatchString(name) })
}

// lookup finds the namespace a client asks for, or through a parent the
// provisional child it may create (ParentNamespace). A child comes with a
// reference for the connecting socket (Namespace.add releases it). errFull:
// Limits.MaxDynamicNamespaces is reached.
func (s *Server) lookup(name string, auth map[string]any) (*Namespace, error) {
	s.mu.RLock()
	n := s.nsps[name]
	if n != nil && n.parent != nil {
		// Under the read lock: release removes a child only under the
		// write lock, after checking that no reference was taken.
		n.refs.Add(1)
	}
	parents := s.parents
	s.mu.RUnlock()
	if n != nil {
		return n, nil
	}
	for _, p := range parents {
		if p.match(name, auth) {
			c, ok := p.child(name)
			if !ok {
				return nil, errDynamicFull
			}
			return c, nil
		}
	}
	return nil, nil
}

var errDynamicFull = errors.New("socketio: too many dynamic namespaces")

// dynamicFullLocked reports whether Limits.MaxDynamicNamespaces is reached;
// s.mu is held.
func (s *Server) dynamicFullLocked() bool {
	limit := s.Limits().MaxDynamicNamespaces
	return limit > 0 && s.dynamic >= limit
}

// DynamicNamespaces is the number of child namespaces alive that count
// against Limits.MaxDynamicNamespaces.
func (s *Server) DynamicNamespaces() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.dynamic
}

func (s *Server) onSession(sess *engine.Session) engine.SessionHandler {
	c := newConn(s, sess)
	if c.eio3 {
		// Socket.IO v4 (client 2.x): "/" is joined without a CONNECT.
		c.connect("/", map[string]any{})
	}
	return (*sessionHandler)(c)
}

func normalizeNsp(name string) string {
	if !strings.HasPrefix(name, "/") {
		return "/" + name
	}
	return name
}

// newID returns a 20-character unguessable id (15 random bytes, URL-safe
// base64), the shape Node uses and the sharded Redis adapter expects.
func newID() string {
	var b [15]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("socketio: crypto/rand failed: " + err.Error())
	}
	return base64.URLEncoding.EncodeToString(b[:])
}
