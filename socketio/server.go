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
}

// Server is a Socket.IO server.
type Server struct {
	path           string
	serveClient    bool
	connectTimeout time.Duration
	adapterFactory adapter.Factory
	logger         *slog.Logger
	engine         *engine.Server

	limits    atomic.Pointer[Limits]
	limitHits limitCounters
	// decoded is the estimated size of the event arguments being handled,
	// decoded, right now (Limits.MaxDecodedBytesTotal); unhandled counts
	// events dropped undecoded.
	decoded   atomic.Int64
	unhandled atomic.Uint64

	mu      sync.RWMutex
	nsps    map[string]*Namespace
	parents []*ParentNamespace
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
		adapterFactory: o.Adapter,
		logger:         o.Logger,
		nsps:           make(map[string]*Namespace),
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
		if err := n.adapter.Close(); err != nil && first == nil {
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
	defer s.mu.Unlock()
	if n = s.nsps[name]; n != nil {
		return n
	}
	n = newNamespace(s, name)
	s.nsps[name] = n
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

// lookup finds or, through a parent, creates the namespace a client asks for.
func (s *Server) lookup(name string, auth map[string]any) *Namespace {
	s.mu.RLock()
	n := s.nsps[name]
	parents := s.parents
	s.mu.RUnlock()
	if n != nil {
		return n
	}
	for _, p := range parents {
		if p.match(name, auth) {
			return p.child(name)
		}
	}
	return nil
}

func (s *Server) onSession(sess *engine.Session) engine.SessionHandler {
	return (*sessionHandler)(newConn(s, sess))
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
