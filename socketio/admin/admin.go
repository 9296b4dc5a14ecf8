// Package admin is the server side of the official Socket.IO Admin UI
// (the @socket.io/admin-ui npm package, https://admin.socket.io): what
// instrument(io, options) does for a Node server.
//
// Instrument adds the admin namespace ("/admin" by default) to a
// socketio.Server. The UI connects to it, optionally with basic
// authentication (a username and a bcrypt hash, as in Node), and gets:
//
//   - "config" with the supported features (actions, aggregated events,
//     all events in development mode);
//   - "server_stats" every two seconds from every node: serverId,
//     hostname, pid, uptime, clientsCount, pollingClientsCount,
//     aggregatedEvents (connections, disconnections, packets and bytes in
//     and out per second) and namespaces with their socket counts;
//   - in development mode only, as in Node: "all_sockets" on connect, then
//     "socket_connected", "socket_updated" (transport upgrades, SetData),
//     "socket_disconnected", "room_joined", "room_left", and the event
//     traces "event_received" and "event_sent".
//
// Unless ReadOnly is set it carries out the UI's actions: "emit", "join",
// "leave" and "_disconnect", each for a namespace and optionally a room
// (a socket id for one socket).
//
// In a cluster (an adapter such as socketio/adapter/redis) every node that
// is instrumented on the same namespace reports as its own server: its
// stats and socket events are broadcast to the admin sockets of every node
// through the admin namespace's adapter, the socket list is gathered from
// every node with a server-side emit, and actions are relayed to every
// node the same way, so they reach namespaces that exist on other nodes
// only.
package admin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/caddy-socketio/caddy-socketio/socketio"
)

// DefaultNamespace is the namespace the Admin UI connects to by default.
const DefaultNamespace = "/admin"

// Options configure an instrumented server.
type Options struct {
	// Namespace of the admin connection. Default "/admin". It cannot be
	// changed by Update.
	Namespace string
	// Auth, when set, requires the UI's username and password. Without it
	// NoAuth must be true: as in Node, running without authentication is a
	// decision, not a default.
	Auth *BasicAuth
	// NoAuth accepts every admin connection (Auth must be nil).
	NoAuth bool
	// ReadOnly advertises no actions and ignores them.
	ReadOnly bool
	// Production mode sends only the server stats: no socket lists, no
	// socket, room or event traces (Node's mode "production"). The
	// default, development mode, sends them all, which broadcasts every
	// connect, disconnect, room change and event to the admin namespace
	// (through the adapter, so to Redis in a cluster) while an admin UI is
	// connected anywhere in the cluster.
	Production bool
	// ServerID names this node in the UI's server list. Default
	// "<hostname>#<pid>", unique for each process of a host.
	ServerID string
	// StatsInterval between two "server_stats". Default 2s, as in Node.
	StatsInterval time.Duration
	// Logger receives failed logins (at most one line per 10 s) and
	// errors. Default: discarded.
	Logger *slog.Logger
}

// BasicAuth is the username and password the UI must send.
type BasicAuth struct {
	Username string
	// PasswordHash is a bcrypt hash ($2a$, $2b$ or $2y$), such as the
	// output of bcrypt.GenerateFromPassword or `caddy hash-password`
	// (decoded from its base64).
	PasswordHash []byte
}

// Features the UI knows (the supportedFeatures of "config").
const (
	featureEmit             = "EMIT"
	featureJoin             = "JOIN"
	featureLeave            = "LEAVE"
	featureDisconnect       = "DISCONNECT"
	featureMJoin            = "MJOIN"
	featureMLeave           = "MLEAVE"
	featureMDisconnect      = "MDISCONNECT"
	featureAggregatedEvents = "AGGREGATED_EVENTS"
	featureAllEvents        = "ALL_EVENTS"
)

// Server-side emit events between the nodes' admin namespaces.
const (
	relaySockets = "admin:sockets" // ack: this node's serialized sockets
	relayAction  = "admin:action"  // an action to apply to local sockets
)

// maxLoginsInFlight bounds the bcrypt comparisons running at once (each
// takes tens of milliseconds of CPU by design); further attempts are
// refused until one finishes.
const maxLoginsInFlight = 4

// Instrumentation is an instrumented server. It is safe for concurrent use.
type Instrumentation struct {
	srv      *socketio.Server
	nsp      *socketio.Namespace
	hostname string
	pid      int
	sessions *sessionStore
	logins   chan struct{} // semaphore of bcrypt comparisons

	cfg atomic.Pointer[config] // nil while stopped

	// serverCount caches the admin namespace's ServerCount (refreshed at
	// every stats tick): with one node and no local admin socket, nothing
	// is broadcast.
	serverCount atomic.Int64
	// localAdmins counts this node's admin sockets (an atomic: read on
	// every traced event, where the namespace's lock would be contended).
	localAdmins atomic.Int64

	failedLogged atomic.Int64 // unix nanos of the last failed-login log line

	mu         sync.Mutex // serialises Update and Stop
	unobserve  func()
	stopTicker context.CancelFunc
	tickerDone chan struct{}

	statsMu     sync.Mutex // the ticker's; never held with mu
	baseline    counters
	baselineSet bool
}

// config is the part of Options in force, with what is derived from it.
type config struct {
	opts     Options
	features []string
	serverID string
	interval time.Duration
	log      *slog.Logger
}

var processStart = time.Now()

// Instrument adds the admin namespace to srv and starts reporting. Stop
// undoes it; Update changes the options.
func Instrument(srv *socketio.Server, opts Options) (*Instrumentation, error) {
	if opts.Namespace == "" {
		opts.Namespace = DefaultNamespace
	}
	if !strings.HasPrefix(opts.Namespace, "/") {
		opts.Namespace = "/" + opts.Namespace
	}
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	a := &Instrumentation{
		srv:      srv,
		pid:      os.Getpid(),
		sessions: newSessionStore(),
		logins:   make(chan struct{}, maxLoginsInFlight),
	}
	a.hostname, _ = os.Hostname()
	a.serverCount.Store(2) // until counted: assume others may listen
	a.nsp = srv.Of(opts.Namespace)
	a.nsp.Use(a.authenticate)
	a.nsp.OnConnection(a.onAdminConnection)
	a.nsp.OnServerSideEmit(a.onRelay)
	a.mu.Lock()
	defer a.mu.Unlock()
	a.startLocked(cfg)
	return a, nil
}

func newConfig(opts Options) (*config, error) {
	switch {
	case opts.Auth == nil && !opts.NoAuth:
		return nil, errors.New("admin: set Auth, or NoAuth to run the admin namespace without authentication")
	case opts.Auth != nil && opts.NoAuth:
		return nil, errors.New("admin: Auth and NoAuth are exclusive")
	case opts.Auth != nil:
		if _, err := bcrypt.Cost(opts.Auth.PasswordHash); err != nil {
			return nil, fmt.Errorf("admin: the password hash must be a valid bcrypt hash: %w", err)
		}
	}
	c := &config{opts: opts, serverID: opts.ServerID, interval: opts.StatsInterval, log: opts.Logger}
	if c.serverID == "" {
		h, _ := os.Hostname()
		c.serverID = fmt.Sprintf("%s#%d", h, os.Getpid())
	}
	if c.interval <= 0 {
		c.interval = 2 * time.Second
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if !opts.ReadOnly {
		c.features = []string{featureEmit, featureJoin, featureLeave, featureDisconnect,
			featureMJoin, featureMLeave, featureMDisconnect}
	}
	c.features = append(c.features, featureAggregatedEvents)
	if !opts.Production {
		c.features = append(c.features, featureAllEvents)
	}
	return c, nil
}

// Namespace is the admin namespace.
func (a *Instrumentation) Namespace() *socketio.Namespace { return a.nsp }

// Update applies new options (the namespace cannot change) and restarts
// reporting if it was stopped. Admin sockets already connected stay
// connected; a changed mode or ReadOnly applies to the next connections.
func (a *Instrumentation) Update(opts Options) error {
	if opts.Namespace == "" {
		opts.Namespace = a.nsp.Name()
	}
	if !strings.HasPrefix(opts.Namespace, "/") {
		opts.Namespace = "/" + opts.Namespace
	}
	if opts.Namespace != a.nsp.Name() {
		return fmt.Errorf("admin: the namespace cannot change (%s to %s)", a.nsp.Name(), opts.Namespace)
	}
	cfg, err := newConfig(opts)
	if err != nil {
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.cfg.Load() == nil {
		a.startLocked(cfg)
		return nil
	}
	old := a.cfg.Swap(cfg)
	if old.interval != cfg.interval {
		a.stopTickerLocked()
		a.startTickerLocked(cfg.interval)
	}
	return nil
}

// Stop ends the instrumentation: the admin namespace refuses connections
// ("Invalid namespace"), its sockets on this node are disconnected and
// nothing is reported any more. Update starts it again.
func (a *Instrumentation) Stop() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.cfg.Swap(nil) == nil {
		return
	}
	a.unobserve()
	a.stopTickerLocked()
	for _, s := range a.nsp.Sockets() {
		s.Disconnect(false)
	}
}

func (a *Instrumentation) startLocked(cfg *config) {
	a.cfg.Store(cfg)
	a.unobserve = a.srv.Observe(&socketio.Observer{
		SocketConnected:    a.onSocketConnected,
		SocketDisconnected: a.onSocketDisconnected,
		RoomJoined:         func(s *socketio.Socket, r socketio.Room) { a.onRoom("room_joined", s, r) },
		RoomLeft:           func(s *socketio.Socket, r socketio.Room) { a.onRoom("room_left", s, r) },
		EventReceived:      func(s *socketio.Socket, ev string, args []any) { a.onEvent("event_received", s, ev, args) },
		EventSent:          func(s *socketio.Socket, ev string, args []any) { a.onEvent("event_sent", s, ev, args) },
		TransportUpgraded:  a.onUpgrade,
		DataChanged:        a.onData,
	})
	a.startTickerLocked(cfg.interval)
}

func (a *Instrumentation) startTickerLocked(interval time.Duration) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	a.stopTicker, a.tickerDone = cancel, done
	go func() {
		defer close(done)
		t := time.NewTicker(interval)
		defer t.Stop()
		a.tick(ctx)
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				a.tick(ctx)
			}
		}
	}()
}

func (a *Instrumentation) stopTickerLocked() {
	a.stopTicker()
	<-a.tickerDone
}

// active is the configuration in force when development-mode traces are
// to be broadcast now, else nil.
func (a *Instrumentation) active() *config {
	cfg := a.cfg.Load()
	if cfg == nil || cfg.opts.Production || !a.listened() {
		return nil
	}
	return cfg
}

// listened reports whether an admin socket may be connected anywhere.
func (a *Instrumentation) listened() bool {
	return a.localAdmins.Load() > 0 || a.serverCount.Load() > 1
}

// emit broadcasts an event to the admin sockets of every node.
func (a *Instrumentation) emit(cfg *config, event string, args ...any) {
	if err := a.nsp.Emit(event, args...); err != nil {
		cfg.log.Debug("admin: broadcast failed", "event", event, "error", err)
	}
}

// timestamp is a JavaScript Date as JSON.
func timestamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

func (a *Instrumentation) onSocketConnected(s *socketio.Socket) {
	if cfg := a.active(); cfg != nil {
		a.emit(cfg, "socket_connected", serialize(s), timestamp(time.Now()))
	}
}

func (a *Instrumentation) onSocketDisconnected(s *socketio.Socket, reason socketio.Reason) {
	if cfg := a.active(); cfg != nil {
		a.emit(cfg, "socket_disconnected", s.Namespace().Name(), string(s.ID()), string(reason), timestamp(time.Now()))
	}
}

func (a *Instrumentation) onRoom(event string, s *socketio.Socket, room socketio.Room) {
	if cfg := a.active(); cfg != nil {
		a.emit(cfg, event, s.Namespace().Name(), string(room), string(s.ID()), timestamp(time.Now()))
	}
}

func (a *Instrumentation) onEvent(kind string, s *socketio.Socket, event string, args []any) {
	if s.Namespace() == a.nsp {
		return // the admin namespace's own traffic is not traced, as in Node
	}
	if cfg := a.active(); cfg != nil {
		all := make([]any, 0, 1+len(args))
		all = append(all, event)
		all = append(all, args...)
		a.emit(cfg, kind, s.Namespace().Name(), string(s.ID()), all, timestamp(time.Now()))
	}
}

func (a *Instrumentation) onUpgrade(s *socketio.Socket) {
	if cfg := a.active(); cfg != nil {
		a.emit(cfg, "socket_updated", map[string]any{
			"id": string(s.ID()), "nsp": s.Namespace().Name(), "transport": s.Conn().Transport(),
		})
	}
}

func (a *Instrumentation) onData(s *socketio.Socket, data any) {
	if cfg := a.active(); cfg != nil {
		if data == nil {
			data = map[string]any{}
		}
		a.emit(cfg, "socket_updated", map[string]any{
			"id": string(s.ID()), "nsp": s.Namespace().Name(), "data": data,
		})
	}
}

// serialize describes a socket as the UI expects it (Node's serialize).
func serialize(s *socketio.Socket) map[string]any {
	hs := s.Handshake()
	address := hs.Address
	if v := hs.Headers["cf-connecting-ip"]; v != "" {
		address = v
	} else if v := hs.Headers["x-forwarded-for"]; v != "" {
		address = v
	}
	clientID := s.Conn().ID()
	if len(clientID) > 12 {
		clientID = clientID[:12]
	}
	data := s.Data()
	if data == nil {
		data = map[string]any{}
	}
	rooms := s.Rooms()
	roomNames := make([]string, len(rooms))
	for i, r := range rooms {
		roomNames[i] = string(r)
	}
	return map[string]any{
		"id":        string(s.ID()),
		"clientId":  clientID,
		"transport": s.Conn().Transport(),
		"nsp":       s.Namespace().Name(),
		"data":      data,
		"handshake": map[string]any{
			"address": address,
			"headers": hs.Headers,
			"query":   hs.Query,
			"issued":  hs.Issued,
			"secure":  hs.Secure,
			"time":    hs.Time,
			"url":     hs.URL,
			"xdomain": hs.XDomain,
		},
		"rooms": roomNames,
	}
}

// localSockets serializes every socket of every namespace of this node.
func (a *Instrumentation) localSockets() []any {
	var out []any
	for _, n := range a.srv.Namespaces() {
		for _, s := range n.Sockets() {
			out = append(out, serialize(s))
		}
	}
	if out == nil {
		out = []any{}
	}
	return out
}

// allSockets gathers the sockets of every node: this node's, and the
// answers of the others to a server-side emit, until each answered or the
// wait ends.
func (a *Instrumentation) allSockets(ctx context.Context) []any {
	out := a.localSockets()
	n, err := a.nsp.Adapter().ServerCount(ctx)
	if err != nil || n <= 1 {
		return out
	}
	answers := make(chan []any, n)
	if err := a.nsp.Adapter().ServerSideEmit([]any{relaySockets}, func(args []any) {
		if len(args) > 0 {
			if list, ok := args[0].([]any); ok {
				select {
				case answers <- list:
				default:
				}
			}
		}
	}); err != nil {
		return out
	}
	for range n - 1 {
		select {
		case list := <-answers:
			out = append(out, list...)
		case <-ctx.Done():
			return out
		}
	}
	return out
}
