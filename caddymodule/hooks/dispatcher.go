package hooks

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddy-socketio/caddy-socketio/socketio"
	"github.com/caddy-socketio/caddy-socketio/socketio/adapter"
)

// Dispatcher delivers a Socket.IO server's connects, events and disconnects
// to the configured hooks and applies their replies. Register Middleware
// and OnConnection on every namespace (and parent namespace) it should
// serve; which hooks run is decided per namespace by the configuration in
// force, which Update can replace while sockets stay connected.
type Dispatcher struct {
	log    *slog.Logger
	client *http.Client
	own    *http.Transport // the transport New made, if it did

	cur atomic.Pointer[compiled]
	sem atomic.Pointer[chan struct{}]

	// ctx is cancelled when Close gives up draining: requests in flight
	// are aborted and queued items fail at once.
	ctx    context.Context
	cancel context.CancelFunc

	// life guards closed and the workers' WaitGroup: enqueue adds a worker
	// only under the read lock while not closed.
	life   sync.RWMutex
	closed bool
	wg     sync.WaitGroup

	queued      atomic.Int64
	queuedBytes atomic.Int64
	inflight    atomic.Int64
	dropped     atomic.Uint64
	dropLog     logLimiter

	// Backpressure: sockets paused now, pauses so far, and the time paused
	// sockets have spent resumed (nanoseconds).
	paused     atomic.Int64
	pauses     atomic.Uint64
	pausedNano atomic.Int64
	pauseLog   logLimiter
	// gwait holds the paused sockets that wait for the queues together to
	// get under MaxQueued and MaxQueuedBytes.
	gmu   sync.Mutex
	gwait map[*sock]struct{}

	// pending holds, from the connect middleware to OnConnection, each
	// socket whose connect hooks accepted it, with what the replies asked
	// for that needs a connected socket (joins, emits...).
	pmu     sync.Mutex
	pending map[socketio.SocketID]*pendingConnect

	smu   sync.Mutex
	stats map[string]*hookStats
	order []*hookStats

	idPrefix string
	idSeq    atomic.Uint64
}

// pendingTimeout is how long a socket that its connect hooks accepted may
// take to get connected (OnConnection). Past it, the connection is taken
// as abandoned (the client left while the hooks ran, or a later middleware
// refused it): the disconnect hooks get reason "connect aborted", so an
// app that counted the connect can count it out.
var pendingTimeout = 10 * time.Second

// ReasonConnectAborted is the disconnect reason of a socket whose connect
// hooks accepted it but that never got connected.
const ReasonConnectAborted = "connect aborted"

type pendingConnect struct {
	s          *socketio.Socket
	timer      *time.Timer
	leave      []string
	join       []string
	emit       []Emit
	disconnect bool
}

// item is one connect, event or disconnect on its way to its hooks.
type item struct {
	typ    string
	hooks  []*hook
	cfg    *compiled
	at     time.Time
	event  string
	args   json.RawMessage // an event's arguments, encoded when queued
	size   int64           // bytes counted against the queue bounds
	ack    socketio.Ack
	reason string
	// recoverable: a disconnect whose session is kept for recovery.
	recoverable bool
	// expired is set for TypeExpire, whose socket no longer exists.
	expired *expiredSession
}

type expiredSession struct {
	nsp  string
	sess adapter.Session
}

// itemOverhead is what an item counts beyond its encoded arguments: the
// request envelope and the item itself.
const itemOverhead = 256

// Failure reasons, sent to clients in error acks and connect errors.
const (
	reasonTimeout      = "timeout"
	reasonUnavailable  = "unavailable"
	reasonStatus       = "status"
	reasonInvalidReply = "invalid_reply"
	reasonQueueFull    = "queue_full"
	reasonClosed       = "closed"
)

// New validates cfg and returns a Dispatcher. A nil logger discards logs.
func New(cfg Config, logger *slog.Logger) (*Dispatcher, error) {
	c, err := compile(cfg)
	if err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	var prefix [6]byte
	if _, err := rand.Read(prefix[:]); err != nil {
		return nil, err
	}
	d := &Dispatcher{
		log:      logger,
		pending:  make(map[socketio.SocketID]*pendingConnect),
		gwait:    make(map[*sock]struct{}),
		stats:    make(map[string]*hookStats),
		idPrefix: hex.EncodeToString(prefix[:]),
	}
	rt := c.cfg.Transport
	if rt == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = c.cfg.Concurrency
		t.MaxIdleConns = max(100, 2*c.cfg.Concurrency)
		d.own, rt = t, t
	}
	d.client = &http.Client{
		Transport: rt,
		// A redirect is a failed delivery: the body would not follow it.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	d.ctx, d.cancel = context.WithCancel(context.Background())
	d.attachStats(c)
	sem := make(chan struct{}, c.cfg.Concurrency)
	d.sem.Store(&sem)
	d.cur.Store(c)
	return d, nil
}

// Update replaces the hooks and limits for everything that happens from now
// on; connected sockets keep their queues, and what is already queued goes
// to the hooks selected when it was queued. Config.Transport is fixed by
// New. A smaller Concurrency applies as the requests in flight finish.
func (d *Dispatcher) Update(cfg Config) error {
	c, err := compile(cfg)
	if err != nil {
		return err
	}
	d.attachStats(c)
	if old := d.cur.Load(); old.cfg.Concurrency != c.cfg.Concurrency {
		sem := make(chan struct{}, c.cfg.Concurrency)
		d.sem.Store(&sem)
	}
	d.cur.Store(c)
	return nil
}

func (d *Dispatcher) attachStats(c *compiled) {
	d.smu.Lock()
	defer d.smu.Unlock()
	for _, h := range c.hooks {
		st := d.stats[h.name]
		if st == nil {
			st = newHookStats(h.name)
			d.stats[h.name] = st
			d.order = append(d.order, st)
		}
		h.stats = st
	}
}

// Stats returns a snapshot of the counters.
func (d *Dispatcher) Stats() Stats {
	d.smu.Lock()
	order := append([]*hookStats(nil), d.order...)
	d.smu.Unlock()
	out := Stats{Queued: d.queued.Load(), QueuedBytes: d.queuedBytes.Load(), InFlight: d.inflight.Load(),
		Dropped: d.dropped.Load(), Paused: d.paused.Load(), Pauses: d.pauses.Load(),
		PausedSeconds: time.Duration(d.pausedNano.Load()).Seconds()}
	for _, st := range order {
		out.Hooks = append(out.Hooks, st.snapshot())
	}
	return out
}

// Middleware returns the connect middleware: it calls the connect hooks of
// the socket's namespace before the client is told it is connected.
// Register it with Namespace.Use or ParentNamespace.Use, after the
// middlewares that may refuse the connection without asking the app (such
// as the hub's namespace check), so the app is not asked in vain.
func (d *Dispatcher) Middleware() socketio.Middleware { return d.onConnect }

// OnConnection returns the connection handler: it applies what the connect
// hooks asked for that needs a connected socket (leave, join, emit,
// disconnect) and registers the socket's event and disconnect handlers.
// Register it with Namespace.OnConnection or ParentNamespace.OnConnection,
// before other connection handlers that may emit or join.
func (d *Dispatcher) OnConnection() func(*socketio.Socket) { return d.onConnection }

// InstallNamespace registers Middleware and OnConnection on ns.
func (d *Dispatcher) InstallNamespace(ns *socketio.Namespace) {
	ns.Use(d.Middleware())
	ns.OnConnection(d.OnConnection())
}

// InstallParent registers Middleware and OnConnection on p, so every
// namespace it creates, now or later, is served.
func (d *Dispatcher) InstallParent(p *socketio.ParentNamespace) {
	p.Use(d.Middleware())
	p.OnConnection(d.OnConnection())
}

// Close stops queueing (later events are dropped and counted; connects
// whose hooks cannot run fail as the hook's on_error says) and waits until
// the queued events and disconnects are delivered or ctx is done; then the
// requests still in flight are cancelled and what is left in the queues is
// dropped. Close the socketio.Server first, so the disconnect hooks of its
// sockets are queued before the drain. It returns ctx.Err() when the
// deadline cut the drain short.
func (d *Dispatcher) Close(ctx context.Context) error {
	d.life.Lock()
	d.closed = true
	d.life.Unlock()
	done := make(chan struct{})
	go func() {
		d.wg.Wait()
		close(done)
	}()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = ctx.Err()
		d.cancel()
		// Cancelled requests and backoff waits return at once, and queued
		// items then fail without a request; this wait is a safety bound.
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			d.log.Warn("hook workers still running after close")
		}
	}
	d.cancel()
	if d.own != nil {
		d.own.CloseIdleConnections()
	}
	return err
}

func (d *Dispatcher) newID() string {
	return d.idPrefix + "-" + strconv.FormatUint(d.idSeq.Add(1), 36)
}

// onConnect is the connect middleware.
func (d *Dispatcher) onConnect(s *socketio.Socket) error {
	c := d.cur.Load()
	nsp := s.Namespace().Name()
	hs := c.selectHooks(nsp, TypeConnect)
	if len(hs) == 0 {
		return nil
	}
	it := &item{typ: TypeConnect, cfg: c, at: time.Now()}
	pc := &pendingConnect{s: s}
	accepted := false // by an earlier hook of the chain
	for _, h := range hs {
		id := d.newID()
		body := d.body(h, it, s, id, nil, roomStrings(s.RestoredRooms()))
		r, herr := d.call(h, it, id, body, 1)
		if herr != nil {
			if h.allow {
				h.stats.failAllow.Add(1)
				h.stats.warn(d.log, "connect hook failed, connection allowed (on_error allow)",
					"hook", h.name, "nsp", nsp, "reason", herr.reason, "error", herr.err)
				continue
			}
			h.stats.failDenied.Add(1)
			h.stats.warn(d.log, "connect hook failed, connection refused (on_error deny)",
				"hook", h.name, "nsp", nsp, "reason", herr.reason, "error", herr.err)
			if accepted {
				d.aborted(s)
			}
			return &socketio.ConnectError{Message: "hook failed", Data: map[string]any{"reason": herr.reason}}
		}
		if r.err != nil {
			h.stats.refused.Add(1)
			if accepted {
				d.aborted(s)
			}
			msg := r.err.Message
			if msg == "" {
				msg = "connection refused"
			}
			return &socketio.ConnectError{Message: msg, Data: r.err.Data}
		}
		if r.hasData {
			s.SetData(r.data)
		}
		pc.leave = append(pc.leave, r.leave...)
		pc.join = append(pc.join, r.join...)
		pc.emit = append(pc.emit, r.emit...)
		pc.disconnect = pc.disconnect || r.disconnect
		accepted = true
	}
	if !accepted { // every hook failed and on_error allowed it: nothing to do
		return nil
	}
	d.pmu.Lock()
	d.pending[s.ID()] = pc
	pc.timer = time.AfterFunc(pendingTimeout, func() { d.abandon(s.ID()) })
	d.pmu.Unlock()
	return nil
}

func (d *Dispatcher) takePending(id socketio.SocketID) *pendingConnect {
	d.pmu.Lock()
	defer d.pmu.Unlock()
	pc := d.pending[id]
	if pc != nil {
		delete(d.pending, id)
		pc.timer.Stop()
	}
	return pc
}

// abandon is called pendingTimeout after a socket's connect hooks
// accepted it: if OnConnection has not taken it yet, it never will.
func (d *Dispatcher) abandon(id socketio.SocketID) {
	pc := d.takePending(id)
	if pc == nil || pc.s.Connected() {
		return
	}
	d.aborted(pc.s)
}

// aborted sends the disconnect hooks, reason "connect aborted", of a socket
// some connect hook accepted but that will never be connected.
func (d *Dispatcher) aborted(s *socketio.Socket) {
	c := d.cur.Load()
	hs := c.selectHooks(s.Namespace().Name(), TypeDisconnect)
	if len(hs) == 0 {
		return
	}
	k := &sock{d: d, s: s}
	it := &item{typ: TypeDisconnect, hooks: hs, cfg: c, at: time.Now(), reason: ReasonConnectAborted}
	if !k.enqueue(it, true) {
		d.drop(it, reasonClosed)
	}
}

// onConnection is the connection handler.
func (d *Dispatcher) onConnection(s *socketio.Socket) {
	nsp := s.Namespace().Name()
	k := &sock{d: d, s: s}
	pc := d.takePending(s.ID())

	var fired atomic.Bool
	fire := func(reason socketio.Reason) {
		if !fired.CompareAndSwap(false, true) {
			return
		}
		c := d.cur.Load()
		hs := c.selectHooks(nsp, TypeDisconnect)
		if len(hs) == 0 {
			return
		}
		it := &item{typ: TypeDisconnect, hooks: hs, cfg: c, at: time.Now(), reason: string(reason),
			recoverable: s.Recoverable()}
		if !k.enqueue(it, true) {
			d.drop(it, reasonClosed)
		}
	}
	s.OnDisconnecting(func(socketio.Reason) { k.snapshotRooms() })
	s.OnDisconnect(fire)
	// Events are taken undecoded: the request carries the client's JSON
	// text (args.go), and events without hooks cost nothing.
	s.OnAnyRaw(func(ev *socketio.RawEvent, ack socketio.Ack) bool {
		c := d.cur.Load()
		event := ev.Event()
		hs := c.selectHooks(nsp, event)
		if len(hs) == 0 {
			return false
		}
		it := &item{typ: TypeEvent, hooks: hs, cfg: c, at: time.Now(), event: event, ack: ack}
		// Held as the request will carry them: the client's JSON text,
		// binary attachments as {"_binary": base64} (args.go).
		it.args = d.encodeArgs(event, rawArgs{json: ev.Args(), attachments: ev.Attachments(), binary: ev.Binary()})
		it.size = int64(len(it.args)+len(event)) + itemOverhead
		if !k.enqueue(it, false) {
			reason := reasonQueueFull
			if d.isClosed() {
				reason = reasonClosed
			}
			d.drop(it, reason)
			if reason == reasonQueueFull && c.cfg.Overflow == OverflowDisconnect {
				s.Disconnect(true)
			}
		}
		return true
	})
	if pc != nil {
		for _, r := range pc.leave {
			s.Leave(socketio.Room(r))
		}
		if len(pc.join) > 0 {
			_ = s.Join(toRooms(pc.join)...) // a refusal (max_rooms_per_socket) is logged and counted by the library
		}
		for _, e := range pc.emit {
			d.emit(s, e)
		}
		if pc.disconnect {
			s.Disconnect(false)
		}
	}
	if !s.Connected() {
		// Closed before OnDisconnect was registered: it may never run.
		fire(socketio.ReasonTransportClose)
	}
}

func (d *Dispatcher) isClosed() bool {
	d.life.RLock()
	defer d.life.RUnlock()
	return d.closed
}

// drop gives up an item that could not be queued.
func (d *Dispatcher) drop(it *item, reason string) {
	d.dropped.Add(1)
	for _, h := range it.hooks {
		h.stats.dropped.Add(1)
	}
	if d.dropLog.allow() {
		d.log.Warn("hook event dropped (logged at most once a second)", "type", it.typ, "event", it.event,
			"reason", reason, "dropped_total", d.dropped.Load())
	}
	if it.ack != nil {
		_ = it.ack(errorAck(reason))
	}
}

// errorAck is the argument a client's ack callback gets when its event's
// hooks failed.
func errorAck(reason string) map[string]any {
	return map[string]any{"error": "hook failed", "reason": reason}
}

// sock is the per-socket FIFO of items; one worker goroutine runs while it
// is not empty.
type sock struct {
	d *Dispatcher
	s *socketio.Socket

	mu       sync.Mutex
	q        []*item
	bytes    int64 // of the queued items and the one being delivered
	running  bool
	rooms    []string // snapshot taken while disconnecting
	paused   bool     // reads of the connection paused by this queue
	pausedAt time.Time
}

func (k *sock) snapshotRooms() {
	rooms := roomStrings(k.s.Rooms())
	k.mu.Lock()
	k.rooms = rooms
	k.mu.Unlock()
}

// Expired queues the "expire" request of a session whose recovery window
// ran out (socketio.Recovery.OnExpire), for the hooks selecting
// disconnects; it is retried like a disconnect.
func (d *Dispatcher) Expired(nsp *socketio.Namespace, sess adapter.Session) {
	c := d.cur.Load()
	hs := c.selectHooks(nsp.Name(), TypeDisconnect)
	if len(hs) == 0 {
		return
	}
	k := &sock{d: d, rooms: roomStrings(append([]socketio.Room{socketio.Room(sess.SID)}, sess.Rooms...))}
	it := &item{typ: TypeExpire, hooks: hs, cfg: c, at: time.Now(), expired: &expiredSession{nsp.Name(), sess}}
	if !k.enqueue(it, true) {
		d.drop(it, reasonClosed)
	}
}

// roomsNow is what a request reports as the socket's rooms.
func (k *sock) roomsNow() []string {
	if k.s == nil {
		return k.rooms // an expired session's
	}
	if k.s.Connected() {
		return roomStrings(k.s.Rooms())
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.rooms == nil {
		return []string{}
	}
	return k.rooms
}

// globalFull reports whether the queues together are at their bounds.
func (d *Dispatcher) globalFull(cfg *Config) bool {
	return d.queued.Load() >= int64(cfg.MaxQueued) || d.queuedBytes.Load() >= cfg.MaxQueuedBytes
}

// enqueue adds it to the socket's queue, starting the worker if needed. It
// is false when the dispatcher is closed, or when the queue (or all queues
// together) is full and the overflow policy is not backpressure, unless
// force. With backpressure a full queue pauses the connection's reads. It
// never blocks on I/O.
func (k *sock) enqueue(it *item, force bool) bool {
	d := k.d
	d.life.RLock()
	defer d.life.RUnlock()
	if d.closed {
		return false
	}
	cfg := &it.cfg.cfg
	back := cfg.Overflow == OverflowBackpressure
	k.mu.Lock()
	defer k.mu.Unlock()
	if !force && !back {
		full := len(k.q) >= cfg.QueueSize ||
			(k.bytes > 0 && k.bytes+it.size > cfg.QueueBytes) ||
			d.queued.Load() >= int64(cfg.MaxQueued) ||
			d.queuedBytes.Load()+it.size > cfg.MaxQueuedBytes
		if full {
			return false
		}
	}
	d.queued.Add(1)
	d.queuedBytes.Add(it.size)
	k.bytes += it.size
	k.q = append(k.q, it)
	if !k.running {
		k.running = true
		d.wg.Add(1)
		go k.run()
	}
	if back && !k.paused && it.typ == TypeEvent {
		own := len(k.q) >= cfg.QueueSize || k.bytes >= cfg.QueueBytes
		global := d.globalFull(cfg)
		if own || global {
			k.pauseLocked(cfg, global)
		}
	}
	return true
}

// pauseLocked pauses the reads of the socket's connection (k.mu held).
func (k *sock) pauseLocked(cfg *Config, global bool) {
	d := k.d
	k.paused, k.pausedAt = true, time.Now()
	k.s.Conn().PauseReads()
	n := d.paused.Add(1)
	d.pauses.Add(1)
	if global {
		d.gmu.Lock()
		d.gwait[k] = struct{}{}
		d.gmu.Unlock()
	}
	if d.pauseLog.allowEvery(pauseLogInterval) {
		d.log.Warn("hook queue full, reading from the client paused until its hooks catch up (logged at most once every 10s)",
			"nsp", k.s.Namespace().Name(), "socket", string(k.s.ID()), "queued", len(k.q), "queued_bytes", k.bytes,
			"queued_all", d.queued.Load(), "queued_bytes_all", d.queuedBytes.Load(),
			"queue_size", cfg.QueueSize, "queue_bytes", cfg.QueueBytes, "paused_sockets", n)
	}
}

// pauseLogInterval spaces the backpressure warnings.
const pauseLogInterval = 10 * time.Second

// maybeResume resumes the connection's reads when the queue, and all
// queues together, have room again.
func (k *sock) maybeResume() {
	d := k.d
	cfg := &d.cur.Load().cfg
	k.mu.Lock()
	if !k.paused || len(k.q) >= cfg.QueueSize || k.bytes >= cfg.QueueBytes {
		k.mu.Unlock()
		return
	}
	// Checked and registered under gmu: done releases before it looks at
	// gwait under gmu, so a release is never missed.
	d.gmu.Lock()
	if d.globalFull(cfg) {
		d.gwait[k] = struct{}{}
		d.gmu.Unlock()
		k.mu.Unlock()
		return
	}
	d.gmu.Unlock()
	k.paused = false
	since := k.pausedAt
	k.mu.Unlock()
	d.gmu.Lock()
	delete(d.gwait, k)
	d.gmu.Unlock()
	d.pausedNano.Add(int64(time.Since(since)))
	d.paused.Add(-1)
	k.s.Conn().ResumeReads()
}

// done releases what a delivered item counted, and resumes the sockets
// its room lets go on.
func (k *sock) done(it *item) {
	d := k.d
	k.mu.Lock()
	k.bytes -= it.size
	k.mu.Unlock()
	d.queuedBytes.Add(-it.size)
	d.queued.Add(-1)
	k.maybeResume()
	cfg := &d.cur.Load().cfg
	if d.globalFull(cfg) {
		return
	}
	d.gmu.Lock()
	if len(d.gwait) == 0 {
		d.gmu.Unlock()
		return
	}
	waiting := make([]*sock, 0, len(d.gwait))
	for w := range d.gwait {
		waiting = append(waiting, w)
	}
	clear(d.gwait)
	d.gmu.Unlock()
	for _, w := range waiting {
		w.maybeResume()
	}
}

func (k *sock) run() {
	defer k.d.wg.Done()
	for {
		k.mu.Lock()
		if len(k.q) == 0 {
			k.running = false
			k.q = nil
			k.mu.Unlock()
			return
		}
		it := k.q[0]
		k.q[0] = nil
		k.q = k.q[1:]
		paused := k.paused
		k.mu.Unlock()
		if paused {
			k.maybeResume() // room for one more while this one is delivered
		}
		k.d.process(k, it)
		k.done(it)
	}
}

// encodeArgs encodes an event's arguments as the request carries them.
func (d *Dispatcher) encodeArgs(event string, a rawArgs) json.RawMessage {
	b, err := a.requestJSON()
	if err != nil {
		d.log.Error("hook event arguments do not encode", "event", event, "error", err)
		b = []byte("[]")
	}
	return b
}

// process delivers one event or disconnect to its hooks, in config order,
// applying each reply before calling the next hook.
func (d *Dispatcher) process(k *sock, it *item) {
	args := it.args
	attempts := 1
	if it.typ == TypeDisconnect || it.typ == TypeExpire {
		attempts = it.cfg.cfg.DisconnectAttempts
	}
	acked := false
	failed := ""
	for _, h := range it.hooks {
		id := d.newID()
		body := d.body(h, it, k.s, id, args, k.roomsNow())
		r, herr := d.call(h, it, id, body, attempts)
		if herr != nil {
			if herr.reason == reasonClosed {
				h.stats.dropped.Add(1)
				if failed != reasonClosed {
					d.dropped.Add(1)
				}
			} else {
				nsp := ""
				if k.s != nil {
					nsp = k.s.Namespace().Name()
				} else if it.expired != nil {
					nsp = it.expired.nsp
				}
				h.stats.warn(d.log, "hook failed", "hook", h.name, "type", it.typ, "event", it.event,
					"nsp", nsp, "reason", herr.reason, "error", herr.err)
			}
			failed = herr.reason
			continue
		}
		if k.s != nil { // an expire's reply has no socket to act on
			d.apply(k.s, it, r, &acked)
		}
	}
	if it.ack != nil && !acked && failed != "" {
		_ = it.ack(errorAck(failed))
	}
}

// apply carries out a reply to an event or disconnect, in this order: data,
// leave, join, emit, ack, disconnect.
func (d *Dispatcher) apply(s *socketio.Socket, it *item, r *decoded, acked *bool) {
	if r.empty() {
		return
	}
	if r.hasData {
		s.SetData(r.data)
	}
	for _, room := range r.leave {
		s.Leave(socketio.Room(room))
	}
	if len(r.join) > 0 {
		_ = s.Join(toRooms(r.join)...) // a refusal (max_rooms_per_socket) is logged and counted by the library
	}
	for _, e := range r.emit {
		d.emit(s, e)
	}
	if r.hasAck && it.ack != nil && !*acked {
		*acked = true
		if err := it.ack(r.ack...); err != nil {
			d.log.Debug("hook ack not sent", "event", it.event, "error", err)
		}
	}
	if r.disconnect {
		s.Disconnect(false)
	}
}

// emit sends one event of a reply.
func (d *Dispatcher) emit(s *socketio.Socket, e Emit) {
	nsp := s.Namespace()
	var err error
	switch {
	case e.Namespace != "" && normalizeNsp(e.Namespace) != nsp.Name():
		other, ok := nsp.Server().Namespace(e.Namespace)
		if !ok {
			d.log.Warn("hook reply emits to an unknown namespace", "nsp", e.Namespace, "event", e.Event)
			return
		}
		err = other.To(toRooms(e.To)...).Except(toRooms(e.Except)...).Emit(e.Event, e.Args...)
	case e.Broadcast:
		err = s.To(toRooms(e.To)...).Except(toRooms(e.Except)...).Emit(e.Event, e.Args...)
	case len(e.To) > 0:
		err = nsp.To(toRooms(e.To)...).Except(toRooms(e.Except)...).Emit(e.Event, e.Args...)
	default:
		err = s.Emit(e.Event, e.Args...)
	}
	if err != nil && !errors.Is(err, socketio.ErrDisconnected) {
		d.log.Warn("hook reply emit failed", "event", e.Event, "error", err)
	}
}

func normalizeNsp(n string) string {
	if len(n) == 0 || n[0] != '/' {
		return "/" + n
	}
	return n
}

func toRooms(ss []string) []socketio.Room {
	out := make([]socketio.Room, len(ss))
	for i, s := range ss {
		out[i] = socketio.Room(s)
	}
	return out
}

func roomStrings(rs []socketio.Room) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = string(r)
	}
	return out
}
