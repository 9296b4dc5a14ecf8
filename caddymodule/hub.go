package caddymodule

import (
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddy-socketio/caddy-socketio/caddymodule/hooks"
	"github.com/caddy-socketio/caddy-socketio/socketio"
	"github.com/caddy-socketio/caddy-socketio/socketio/adapter"
	"github.com/caddy-socketio/caddy-socketio/socketio/admin"
)

// hubs holds every live hub of the process, keyed by hub name and the
// fingerprint of its fixed settings. Consecutive configs share a hub; it is
// destroyed (Destruct) when the last config using it is unloaded.
var hubs = caddy.NewUsagePool()

// hub is one Socket.IO server and the settings a reload can swap under it.
// It must not keep anything scoped to one config (loggers, metrics
// registries, caddy.Context): those are re-injected by apply.
type hub struct {
	name string
	key  string
	srv  *socketio.Server
	logs *swapHandler
	log  *slog.Logger

	// rules are the namespace rules in force; every socket's event handler
	// and every namespace connection reads them here, so storing a new set
	// changes the behaviour of connected sockets too.
	rules atomic.Pointer[ruleSet]

	// headers filters the handshake headers the API shows (forward_headers).
	headers atomic.Pointer[hooks.HeaderFilter]

	// cluster is the Redis adapter's connection (nil: memory adapter);
	// see adapter.go. Closed after the server.
	cluster     HubAdapter
	clusterLogs *swapHandler // the adapter's logger

	// dispatcher delivers the webhooks (webhook.go). It lives as long as
	// the hub; a reload updates its hooks.
	dispatcher *hooks.Dispatcher

	// admins are the Admin UI namespaces ever instrumented on this hub
	// (adminui.go), by namespace; only the configured one is running.
	adminMu sync.Mutex
	admins  map[string]*admin.Instrumentation

	// adminAPI serves the HTTP API's operations on Caddy's admin endpoint
	// (admin.go); built on first use, then kept with the hub.
	adminAPI func() http.Handler

	closeOnce sync.Once
}

// liveSettings are the settings a reload applies to a live hub.
type liveSettings struct {
	pingInterval time.Duration
	pingTimeout  time.Duration
	limits       socketio.Limits
	maxConns     int
	rules        *ruleSet
	headers      *hooks.HeaderFilter // forward_headers
	logs         slog.Handler
	hooks        hooks.Config   // webhook.go
	admin        *admin.Options // adminui.go; nil: no Admin UI
}

func newHub(name, key string, opts socketio.Options, live *liveSettings) *hub {
	hb := &hub{name: name, key: key, logs: newSwapHandler(live.logs)}
	hb.adminAPI = trustedAPI(hb)
	hb.log = slog.New(hb.logs)
	hb.rules.Store(live.rules)
	hb.headers.Store(live.headers)
	// The server keeps this logger for its lifetime; the swap handler lets
	// each config's logger take over.
	opts.Logger = hb.log
	if opts.Recovery != nil {
		r := *opts.Recovery
		// A session whose window ran out: the hooks selecting disconnects
		// get "expire" (the dispatcher is set just below, before any socket
		// can connect).
		r.OnExpire = func(n *socketio.Namespace, sess adapter.Session) { hb.dispatcher.Expired(n, sess) }
		opts.Recovery = &r
	}
	if len(opts.Engine.CORS.Origins) == 0 {
		// Same origin only: a page of another site must not open sessions
		// with the cookies of this one (origin.go).
		oc := &originCheck{log: hb.log}
		opts.Engine.CheckOrigin, opts.Engine.AllowRequest = oc.websocket, oc.polling
	}
	hb.srv = socketio.NewServer(&opts)
	hb.startHooks(live.hooks)

	root := hb.srv.Of("/")
	// The dispatcher's middleware runs after the hub's admission check,
	// its connection handler before the rules' (hooks package doc).
	hb.dispatcher.InstallNamespace(root)
	root.OnConnection(hb.onConnection)
	// Every other namespace is created on demand, once a socket passed the
	// admission check and the connect hooks, through two parents that
	// consult the rules in force: names listed in the config stay once
	// created; names matched by a pattern are removed with their last
	// socket and count against max_dynamic_namespaces.
	named := hb.srv.OfFunc(func(name string, _ map[string]any) bool {
		nr := hb.rules.Load().lookup(name)
		return nr != nil && nr.re == nil
	})
	named.KeepEmptyChildren()
	dyn := hb.srv.OfFunc(func(name string, _ map[string]any) bool {
		nr := hb.rules.Load().lookup(name)
		return nr != nil && nr.re != nil
	})
	for _, p := range []*socketio.ParentNamespace{named, dyn} {
		p.Use(hb.admit)
		hb.dispatcher.InstallParent(p)
		p.OnConnection(hb.onConnection)
	}
	hb.applyAdmin(live.admin)
	return hb
}

// applyAdmin starts, updates or stops the Admin UI namespace. A namespace
// the config no longer names is stopped (it refuses connections), and
// started again if a later config names it again.
func (hb *hub) applyAdmin(opts *admin.Options) {
	hb.adminMu.Lock()
	defer hb.adminMu.Unlock()
	want := ""
	if opts != nil {
		want = opts.Namespace
		o := *opts
		o.Logger = hb.log.With("hub", hb.name)
		if a := hb.admins[want]; a != nil {
			if err := a.Update(o); err != nil {
				hb.log.Error("admin UI settings not applied", "hub", hb.name, "error", err)
			}
		} else if a, err := admin.Instrument(hb.srv, o); err != nil {
			hb.log.Error("admin UI not started", "hub", hb.name, "error", err)
		} else {
			if hb.admins == nil {
				hb.admins = make(map[string]*admin.Instrumentation)
			}
			hb.admins[want] = a
		}
	}
	for nsp, a := range hb.admins {
		if nsp != want {
			a.Stop()
		}
	}
}

// isAdminNamespace reports whether name is an Admin UI namespace of the hub.
func (hb *hub) isAdminNamespace(name string) bool {
	hb.adminMu.Lock()
	defer hb.adminMu.Unlock()
	_, ok := hb.admins[name]
	return ok
}

// apply makes live the settings of a config that has started.
func (hb *hub) apply(live *liveSettings) {
	hb.logs.set(live.logs)
	if hb.clusterLogs != nil {
		hb.clusterLogs.set(live.logs)
	}
	hb.srv.Engine().SetTiming(live.pingInterval, live.pingTimeout)
	hb.srv.Engine().SetMaxConnections(live.maxConns)
	hb.srv.SetLimits(live.limits)
	hb.rules.Store(live.rules)
	hb.headers.Store(live.headers)
	hb.updateHooks(live.hooks)
	hb.applyAdmin(live.admin)
	for _, n := range hb.srv.Namespaces() {
		if n.Name() == "/" || live.rules.lookup(n.Name()) != nil || n.SocketCount() == 0 || hb.isAdminNamespace(n.Name()) {
			continue
		}
		hb.log.Info("namespace no longer configured, disconnecting its sockets",
			"hub", hb.name, "nsp", n.Name(), "sockets", n.SocketCount())
		if err := n.DisconnectSockets(false); err != nil {
			hb.log.Warn("disconnecting sockets failed", "hub", hb.name, "nsp", n.Name(), "error", err)
		}
	}
	hb.log.Debug("hub settings applied", "hub", hb.name,
		"ping_interval", live.pingInterval, "ping_timeout", live.pingTimeout)
}

// admit refuses connections to a namespace the rules in force no longer
// declare (the namespace was created under an earlier config).
func (hb *hub) admit(s *socketio.Socket) error {
	if hb.rules.Load().lookup(s.Namespace().Name()) == nil {
		return &socketio.ConnectError{Message: "Invalid namespace"}
	}
	return nil
}

// onConnection sets up a socket that connected to any namespace: metrics,
// the single event handler that runs the rules in force, and the greetings.
func (hb *hub) onConnection(s *socketio.Socket) {
	nsp := s.Namespace().Name()
	rs := hb.rules.Load()
	nr := rs.lookup(nsp)
	if nr == nil { // refused by admit; "/" always has rules
		return
	}
	gauge := connectedSockets.WithLabelValues(hb.name, nr.label)
	gauge.Inc()
	var left atomic.Bool
	leave := func() {
		if left.CompareAndSwap(false, true) {
			gauge.Dec()
		}
	}
	s.OnDisconnect(func(reason socketio.Reason) {
		leave()
		hb.log.Debug("socket disconnected", "hub", hb.name, "nsp", nsp, "reason", string(reason))
	})
	if !s.Connected() { // closed before the handler above was registered
		leave()
		return
	}

	// One handler per socket for its whole life. It runs on the
	// connection's read goroutine, one event at a time, so the cache needs
	// no lock. It gets the event undecoded: relays forward the client's
	// bytes, and events without rules are never decoded.
	cachedSet, cached := rs, nr
	s.OnAnyRaw(func(ev *socketio.RawEvent, ack socketio.Ack) bool {
		if cur := hb.rules.Load(); cur != cachedSet {
			cachedSet, cached = cur, cur.lookup(nsp)
		}
		return cached != nil && hb.handle(s, cached, ev, ack)
	})
	for _, g := range nr.greet {
		if err := s.Emit(g.event, g.args...); err != nil {
			hb.log.Debug("greeting not sent", "hub", hb.name, "nsp", nsp, "event", g.event, "error", err)
		}
	}
	hb.log.Debug("socket connected", "hub", hb.name, "nsp", nsp,
		"transport", s.Conn().Transport(), "address", s.Handshake().Address)
}

// onServerShutdown runs when an HTTP server using the hub begins to shut
// down. On a reload, held long-polling requests are answered at once so
// their clients poll again on the new server (sessions stay open); when the
// process exits, the hub is closed right away so clients get a clean close
// instead of the shutdown waiting for their held requests.
func (hb *hub) onServerShutdown() {
	if caddy.Exiting() {
		hb.close()
		return
	}
	hb.srv.Engine().ReleasePolls()
}

func (hb *hub) close() {
	hb.closeOnce.Do(func() {
		hb.applyAdmin(nil) // stops every admin namespace and its stats
		if err := hb.srv.Close(); err != nil {
			hb.log.Warn("closing hub", "hub", hb.name, "error", err)
		}
		hb.closeHooks() // the server's disconnect hooks, queued by Close
		if hb.cluster != nil {
			if err := hb.cluster.Close(); err != nil {
				hb.log.Warn("closing the hub's adapter", "hub", hb.name, "error", err)
			}
		}
		hb.log.Debug("hub closed", "hub", hb.name)
	})
}

// Destruct closes the hub when no config uses it any more: every client
// gets a clean close ("server shutting down") and reconnects.
func (hb *hub) Destruct() error {
	hb.close()
	return nil
}

// otherGeneration reports whether a hub with this name but other fixed
// settings is live (the new config will replace it).
func otherGeneration(name, key string) bool {
	found := false
	hubs.Range(func(k, v any) bool {
		if hb, ok := v.(*hub); ok && hb.name == name && k != key {
			found = true
			return false
		}
		return true
	})
	return found
}

// Claims record which config uses which hub name, so that two handlers of
// one config cannot share a hub by accident (for example two sites that
// both use the default path).
var (
	claimsMu sync.Mutex
	claims   = make(map[claimKey]*claim)
)

type claimKey struct {
	name string
	cfg  <-chan struct{} // the config's Done channel: one per config load
}

type claim struct {
	key      claimKey
	explicit bool   // the hub name was set, not derived from the path
	settings string // fingerprint of the whole handler config
	refs     int
}

func claimHub(name string, cfg <-chan struct{}, explicit bool, settings string) (*claim, error) {
	claimsMu.Lock()
	defer claimsMu.Unlock()
	k := claimKey{name, cfg}
	c := claims[k]
	if c == nil {
		c = &claim{key: k, explicit: explicit, settings: settings}
		claims[k] = c
	} else {
		switch {
		case !explicit || !c.explicit:
			return nil, fmt.Errorf("hub %q is already used by another socketio handler in this config: "+
				"give each handler its own hub name (`hub <name>`), or set the same hub name on both "+
				"(with identical settings) to share one hub on purpose", name)
		case settings != c.settings:
			return nil, fmt.Errorf("socketio handlers sharing hub %q must have identical settings", name)
		}
	}
	c.refs++
	return c, nil
}

func (c *claim) release() {
	claimsMu.Lock()
	defer claimsMu.Unlock()
	c.refs--
	if c.refs <= 0 && claims[c.key] == c {
		delete(claims, c.key)
	}
}

var _ caddy.Destructor = (*hub)(nil)
