package socketio

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddy-socketio/caddy-socketio/socketio/adapter"
)

// Middleware runs for every socket connecting to a namespace, before it is
// connected, on the connection's read goroutine. Returning an error refuses
// the connection: the client gets connect_error with the error's text, or
// with Message and Data when the error is a *ConnectError.
type Middleware func(s *Socket) error

// Namespace is a communication channel multiplexed over the connections of
// one server ("/" always exists).
type Namespace struct {
	name    string
	srv     *Server
	parent  *ParentNamespace // set for namespaces created by a ParentNamespace
	adapter adapter.Adapter
	// store is the adapter's session store when recovery is on (nil: off).
	store adapter.SessionStore

	// ackIDs numbers the acks this server asks for in this namespace, as
	// Node does (one counter per namespace, shared by all its sockets).
	ackIDs atomic.Uint64

	// The handler slices are copied on write, so readers take them under a
	// read lock and iterate without it.
	mu           sync.RWMutex
	middlewares  []Middleware
	onConnection []func(*Socket)
	onServerEmit []func(args []any, ack func(args []any))
	sockets      map[SocketID]*Socket
}

func newNamespace(srv *Server, name string) *Namespace {
	n := &Namespace{name: name, srv: srv, sockets: make(map[SocketID]*Socket)}
	a, err := srv.adapterFactory(n)
	if err != nil {
		// Of cannot fail; a namespace whose adapter could not start still
		// serves its local sockets.
		srv.logger.Error("adapter failed, namespace falls back to the memory adapter", "nsp", name, "err", err)
		a, _ = adapter.NewMemory(n)
	}
	n.adapter = a
	if r := srv.recovery; r != nil {
		if st, ok := a.(adapter.SessionStore); ok {
			var onExpire func(adapter.Session)
			if r.OnExpire != nil {
				onExpire = func(sess adapter.Session) { r.OnExpire(n, sess) }
			}
			st.EnableRecovery(r.RecoveryOptions, onExpire)
			n.store = st
		} else {
			srv.logger.Warn("the adapter cannot recover sessions, connection state recovery is off for this namespace", "nsp", name)
		}
	}
	return n
}

// RecoveryStats describes the namespace's recovery buffer and sessions
// (zero when recovery is off).
func (n *Namespace) RecoveryStats() adapter.RecoveryStats {
	if n.store == nil {
		return adapter.RecoveryStats{}
	}
	return n.store.RecoveryStats()
}

// Name is the namespace's name, such as "/" or "/chat".
func (n *Namespace) Name() string { return n.name }

// Server is the server the namespace belongs to.
func (n *Namespace) Server() *Server { return n.srv }

// Adapter is the namespace's adapter.
func (n *Namespace) Adapter() adapter.Adapter { return n.adapter }

// Use adds a connect middleware; middlewares run in the order added.
func (n *Namespace) Use(mw Middleware) {
	n.mu.Lock()
	n.middlewares = append(n.middlewares[:len(n.middlewares):len(n.middlewares)], mw)
	n.mu.Unlock()
}

// OnConnection registers fn to run for every socket that connects, after
// the client was told it is connected.
func (n *Namespace) OnConnection(fn func(s *Socket)) {
	n.mu.Lock()
	n.onConnection = append(n.onConnection[:len(n.onConnection):len(n.onConnection)], fn)
	n.mu.Unlock()
}

// OnServerSideEmit registers fn for events other nodes send with
// ServerSideEmit; ack is nil when the sender expects no answer.
func (n *Namespace) OnServerSideEmit(fn func(args []any, ack func(args []any))) {
	n.mu.Lock()
	n.onServerEmit = append(n.onServerEmit[:len(n.onServerEmit):len(n.onServerEmit)], fn)
	n.mu.Unlock()
}

// HandleServerSideEmit implements adapter.Namespace.
func (n *Namespace) HandleServerSideEmit(args []any, ack func(args []any)) {
	n.mu.RLock()
	fns := n.onServerEmit
	n.mu.RUnlock()
	for _, fn := range fns {
		fn(args, ack)
	}
}

// Socket returns a local socket of this namespace by id.
func (n *Namespace) Socket(id SocketID) (*Socket, bool) {
	n.mu.RLock()
	defer n.mu.RUnlock()
	s, ok := n.sockets[id]
	return s, ok
}

// Sockets lists the sockets connected to this namespace on this node.
func (n *Namespace) Sockets() []*Socket {
	n.mu.RLock()
	defer n.mu.RUnlock()
	out := make([]*Socket, 0, len(n.sockets))
	for _, s := range n.sockets {
		out = append(out, s)
	}
	return out
}

// SocketCount is the number of sockets connected to this namespace on this
// node.
func (n *Namespace) SocketCount() int {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return len(n.sockets)
}

func (n *Namespace) operator() *BroadcastOperator { return &BroadcastOperator{nsp: n} }

// To selects the sockets in any of rooms (a socket id is a room).
func (n *Namespace) To(rooms ...Room) *BroadcastOperator { return n.operator().To(rooms...) }

// In is the same as To.
func (n *Namespace) In(rooms ...Room) *BroadcastOperator { return n.To(rooms...) }

// Except leaves out the sockets in any of rooms.
func (n *Namespace) Except(rooms ...Room) *BroadcastOperator { return n.operator().Except(rooms...) }

// Volatile marks the next emit as droppable for clients that cannot take
// it now.
func (n *Namespace) Volatile() *BroadcastOperator { return n.operator().Volatile() }

// Local restricts the next operation to this node.
func (n *Namespace) Local() *BroadcastOperator { return n.operator().Local() }

// Timeout bounds the wait for acknowledgements of the next EmitWithAck.
func (n *Namespace) Timeout(d time.Duration) *BroadcastOperator { return n.operator().Timeout(d) }

// Emit sends an event to every socket of the namespace.
func (n *Namespace) Emit(event string, args ...any) error { return n.operator().Emit(event, args...) }

// EmitWithAck sends an event to every socket of the namespace and collects
// one acknowledgement per client (its first argument), until all answered
// or ctx is done.
func (n *Namespace) EmitWithAck(ctx context.Context, event string, args ...any) ([]any, error) {
	return n.operator().EmitWithAck(ctx, event, args...)
}

// FetchSockets describes every socket of the namespace, on every node.
func (n *Namespace) FetchSockets(ctx context.Context) ([]adapter.SocketInfo, error) {
	return n.operator().FetchSockets(ctx)
}

// SocketsJoin makes every socket of the namespace join rooms.
func (n *Namespace) SocketsJoin(rooms ...Room) error { return n.operator().SocketsJoin(rooms...) }

// SocketsLeave makes every socket of the namespace leave rooms.
func (n *Namespace) SocketsLeave(rooms ...Room) error { return n.operator().SocketsLeave(rooms...) }

// DisconnectSockets disconnects every socket of the namespace.
func (n *Namespace) DisconnectSockets(close bool) error { return n.operator().DisconnectSockets(close) }

// ServerSideEmit sends an event to this namespace on the other nodes.
func (n *Namespace) ServerSideEmit(event string, args ...any) error {
	if isReserved(event) {
		return ErrReservedEvent
	}
	return n.adapter.ServerSideEmit(append([]any{event}, args...), nil)
}

func (n *Namespace) nextAckID() uint64 { return n.ackIDs.Add(1) - 1 }

// add runs the middlewares for a connecting socket and connects it. With
// recovery on, a CONNECT whose auth carries the pid of a kept session takes
// that session: the socket gets its id, rooms and data back.
func (n *Namespace) add(c *Conn, auth map[string]any) {
	var rs *restore
	if n.store != nil {
		pid, _ := auth["pid"].(string)
		offset, hasOffset := auth["offset"].(string)
		if _, present := auth["offset"]; present && !hasOffset {
			pid = "" // Node only recovers with a string offset
		}
		if _, ok := auth["pid"]; ok {
			// pid and offset are the client's recovery credentials, not
			// application data: they stay out of the handshake that
			// fetchSockets and webhooks expose.
			clean := make(map[string]any, len(auth))
			for k, v := range auth {
				if k != "pid" && k != "offset" {
					clean[k] = v
				}
			}
			auth = clean
		}
		if pid != "" {
			if sess, ok := n.store.TakeSession(pid, offset); ok {
				rs = &restore{sess: sess, offset: offset}
			}
		}
	}
	s := newSocket(n, c, auth)
	if n.store != nil {
		if rs != nil {
			s.id, s.pid, s.data, s.since, s.recovered = rs.sess.SID, rs.sess.PID, rs.sess.Data, rs.sess.Since, true
			s.restored = rs.sess.Rooms
		} else {
			s.pid = newID()
		}
	}
	skip := rs != nil && n.srv.recovery.SkipMiddlewares
	for _, mw := range n.allMiddlewares() {
		if skip {
			break
		}
		if err := mw(s); err != nil {
			var ce *ConnectError
			if !errors.As(err, &ce) {
				ce = &ConnectError{Message: err.Error()}
			}
			c.sendMiddlewareError(n.name, ce)
			return
		}
	}
	if !s.connect(rs) {
		return
	}
	if n.srv.observing() {
		s.notifyRooms(true, []Room{Room(s.id)})
		s.notifyConnected()
	}
	for _, fn := range n.allConnectionHandlers() {
		fn(s)
	}
}

func (n *Namespace) allMiddlewares() []Middleware {
	n.mu.RLock()
	own := n.middlewares
	n.mu.RUnlock()
	if n.parent == nil {
		return own
	}
	n.parent.mu.Lock()
	inherited := n.parent.middlewares
	n.parent.mu.Unlock()
	return append(inherited[:len(inherited):len(inherited)], own...)
}

func (n *Namespace) allConnectionHandlers() []func(*Socket) {
	n.mu.RLock()
	own := n.onConnection
	n.mu.RUnlock()
	if n.parent == nil {
		return own
	}
	n.parent.mu.Lock()
	inherited := n.parent.onConnection
	n.parent.mu.Unlock()
	return append(inherited[:len(inherited):len(inherited)], own...)
}

func (n *Namespace) insert(s *Socket) {
	n.mu.Lock()
	n.sockets[s.id] = s
	n.mu.Unlock()
}

func (n *Namespace) remove(s *Socket) {
	n.mu.Lock()
	if n.sockets[s.id] == s {
		delete(n.sockets, s.id)
	}
	n.mu.Unlock()
}

// ParentNamespace creates namespaces on demand (Server.OfFunc,
// Server.OfRegexp); its middlewares and connection handlers apply to every
// namespace it created, before their own.
type ParentNamespace struct {
	srv   *Server
	match func(name string, auth map[string]any) bool

	mu           sync.Mutex
	middlewares  []Middleware
	onConnection []func(*Socket)
	children     map[string]*Namespace
}

// Use adds a middleware for every child namespace.
func (p *ParentNamespace) Use(mw Middleware) {
	p.mu.Lock()
	p.middlewares = append(p.middlewares[:len(p.middlewares):len(p.middlewares)], mw)
	p.mu.Unlock()
}

// OnConnection registers fn for sockets connecting to any child namespace.
func (p *ParentNamespace) OnConnection(fn func(s *Socket)) {
	p.mu.Lock()
	p.onConnection = append(p.onConnection[:len(p.onConnection):len(p.onConnection)], fn)
	p.mu.Unlock()
}

// Children lists the namespaces created so far.
func (p *ParentNamespace) Children() []*Namespace {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]*Namespace, 0, len(p.children))
	for _, c := range p.children {
		out = append(out, c)
	}
	return out
}

// Emit sends an event to every socket of every child namespace.
func (p *ParentNamespace) Emit(event string, args ...any) error {
	for _, c := range p.Children() {
		if err := c.Emit(event, args...); err != nil {
			return err
		}
	}
	return nil
}

func (p *ParentNamespace) child(name string) *Namespace {
	p.srv.mu.Lock()
	if n := p.srv.nsps[name]; n != nil {
		p.srv.mu.Unlock()
		return n
	}
	n := newNamespace(p.srv, name)
	n.parent = p
	p.srv.nsps[name] = n
	p.mu.Lock()
	p.children[name] = n
	p.mu.Unlock()
	p.srv.mu.Unlock()
	p.srv.notifyNamespace(n)
	return n
}

var _ adapter.Namespace = (*Namespace)(nil)
