package socketio

import (
	"context"
	"encoding/json"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddy-socketio/caddy-socketio/socketio/adapter"
	"github.com/caddy-socketio/caddy-socketio/socketio/parser"
)

// Ack answers a client's acknowledgement request. It sends at most once;
// later calls return ErrAckTwice.
type Ack func(args ...any) error

// EventHandler handles one event. args are the decoded JSON values (nil,
// bool, json.Number, string, []any, map[string]any) with binary attachments
// as []byte. ack is nil when the client asked for no acknowledgement.
type EventHandler func(args []any, ack Ack)

// AnyHandler handles every event; it runs before the event's own handlers.
type AnyHandler func(event string, args []any, ack Ack)

// pendingAck waits for a client's ACK to an emit of ours.
type pendingAck struct {
	fn      func(args []any, err error)
	timer   *time.Timer // nil without a per-emit timeout
	expires time.Time   // zero without a deadline; used to sweep broadcast acks
}

// maxPendingAcks bounds the acks a client can leave unanswered before
// expired ones are swept.
const maxPendingAcks = 1024

// Socket is one client connected to one namespace.
type Socket struct {
	id        SocketID
	nsp       *Namespace
	conn      *Conn
	handshake *Handshake

	// life serialises connecting, joining rooms and closing, so that a
	// socket that is closing never ends up back in a room or namespace.
	life      sync.Mutex
	connected atomic.Bool

	mu   sync.Mutex
	data any
	// handlers in registration order: a flat, append-only slice (a map of
	// slices cost an idle socket with a dozen handlers ~800 bytes).
	handlers        []namedHandler
	anyHandlers     []AnyHandler
	anyRawHandlers  []AnyRawHandler
	onDisconnecting []func(Reason)
	onDisconnect    []func(Reason)
	acks            map[uint64]pendingAck

	// Recovery (Options.Recovery): pid is the private session id sent in
	// the CONNECT reply, since the buffer offset when the session began,
	// recovered whether this socket took over a kept session, kept whether
	// its session was kept when it left.
	pid       string
	since     string
	recovered bool
	restored  []Room // the session's rooms, when recovered
	kept      atomic.Bool

	rate   rateBucket    // Limits.EventRate; only the read path uses it
	logged atomic.Uint32 // limits logged for this socket (firstHit)
}

func newSocket(n *Namespace, c *Conn, auth map[string]any) *Socket {
	id := SocketID(newID())
	if c.eio3 {
		id = v3SocketID(n.name, c.ID())
	}
	return &Socket{
		id:        id,
		nsp:       n,
		conn:      c,
		handshake: c.handshake(auth),
	}
}

// ID is the socket's id, also the name of a room only it is in.
func (s *Socket) ID() SocketID { return s.id }

// Namespace is the namespace the socket is connected to.
func (s *Socket) Namespace() *Namespace { return s.nsp }

// Conn is the Engine.IO connection the socket travels on.
func (s *Socket) Conn() *Conn { return s.conn }

// Handshake describes the client's connection request.
func (s *Socket) Handshake() *Handshake { return s.handshake }

// Connected reports whether the socket is still in its namespace.
func (s *Socket) Connected() bool { return s.connected.Load() }

// Recovered reports whether the socket took over the session of a socket
// that left (connection state recovery): same id, rooms and data, and the
// missed packets were sent before any new one.
func (s *Socket) Recovered() bool { return s.recovered }

// RestoredRooms lists the rooms a recovered socket gets back, its own id
// room included: what Rooms lists once it is connected. Middlewares run
// before the rooms are rejoined, so they read them here. nil when the
// socket was not recovered.
func (s *Socket) RestoredRooms() []Room {
	if !s.recovered {
		return nil
	}
	return append([]Room{Room(s.id)}, s.restored...)
}

// Recoverable reports, once the socket has left, whether its session was
// kept for recovery: its client may come back as the same socket within
// Recovery.MaxDisconnectionDuration.
func (s *Socket) Recoverable() bool { return s.kept.Load() }

// Data returns the value stored with SetData.
func (s *Socket) Data() any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.data
}

// SetData stores an arbitrary value with the socket; it is included when
// sockets are fetched (and must then marshal to JSON).
func (s *Socket) SetData(v any) {
	s.mu.Lock()
	s.data = v
	s.mu.Unlock()
	if s.nsp.srv.observing() {
		s.notifyData(v)
	}
}

// On registers h for event.
func (s *Socket) On(event string, h EventHandler) {
	s.mu.Lock()
	s.handlers = append(s.handlers, namedHandler{event: event, h: h})
	s.mu.Unlock()
}

type namedHandler struct {
	event string
	h     EventHandler
	raw   RawHandler // instead of h, for OnRaw
}

// OnAny registers h for every event.
func (s *Socket) OnAny(h AnyHandler) {
	s.mu.Lock()
	s.anyHandlers = append(s.anyHandlers, h)
	s.mu.Unlock()
}

// OnDisconnecting registers fn to run when the socket is about to leave,
// while it is still in its rooms.
func (s *Socket) OnDisconnecting(fn func(reason Reason)) {
	s.mu.Lock()
	s.onDisconnecting = append(s.onDisconnecting, fn)
	s.mu.Unlock()
}

// OnDisconnect registers fn to run once the socket has left.
func (s *Socket) OnDisconnect(fn func(reason Reason)) {
	s.mu.Lock()
	s.onDisconnect = append(s.onDisconnect, fn)
	s.mu.Unlock()
}

// Join adds the socket to rooms. It returns ErrTooManyRooms, joining none
// of them, when that would put the socket in more than
// Limits.MaxRoomsPerSocket rooms.
func (s *Socket) Join(rooms ...Room) error {
	if !s.nsp.srv.observing() {
		return s.join(rooms, nil)
	}
	var added []Room
	err := s.join(rooms, &added)
	s.notifyRooms(true, added)
	return err
}

// join adds the socket to rooms; with added non-nil, it stores there the
// rooms the socket was not in before.
func (s *Socket) join(rooms []Room, added *[]Room) error {
	s.life.Lock()
	defer s.life.Unlock()
	if !s.connected.Load() {
		return nil
	}
	if added != nil {
		have := s.nsp.adp().SocketRooms(s.id)
		for i, r := range rooms {
			if !slices.Contains(have, r) && !slices.Contains(rooms[:i], r) {
				*added = append(*added, r)
			}
		}
	}
	if limit := s.nsp.srv.Limits().MaxRoomsPerSocket; limit > 0 {
		have := s.nsp.adp().SocketRooms(s.id)
		n := len(have)
		for i, r := range rooms {
			if !slices.Contains(have, r) && !slices.Contains(rooms[:i], r) {
				n++
			}
		}
		if n > limit {
			s.nsp.srv.limitHits.rooms.Add(1)
			if firstHit(&s.logged, loggedRooms) {
				s.nsp.srv.logger.Warn("limit hit: too many rooms for one socket",
					"limit", "max_rooms_per_socket", "socket", string(s.id), "nsp", s.nsp.name, "max", limit)
			}
			if added != nil {
				*added = nil
			}
			return ErrTooManyRooms
		}
	}
	s.nsp.adp().AddAll(s, rooms)
	return nil
}

// Leave removes the socket from room.
func (s *Socket) Leave(room Room) {
	if !s.nsp.srv.observing() {
		s.nsp.adp().Del(s.id, room)
		return
	}
	was := slices.Contains(s.nsp.adp().SocketRooms(s.id), room)
	s.nsp.adp().Del(s.id, room)
	if was {
		s.notifyRooms(false, []Room{room})
	}
}

// Rooms lists the rooms the socket is in, its own id included.
func (s *Socket) Rooms() []Room { return s.nsp.adp().SocketRooms(s.id) }

// Emit sends an event to this socket's client.
func (s *Socket) Emit(event string, args ...any) error {
	p, err := s.eventPacket(event, args)
	if err != nil {
		return err
	}
	if s.nsp.sessions() != nil {
		// As in Node: with recovery on, an event to one socket is stored
		// and carries an offset too, so the client's last offset is always
		// one the buffer knows.
		err = s.nsp.adp().Broadcast(p, adapter.BroadcastOptions{
			Rooms: []Room{Room(s.id)}, Flags: adapter.Flags{Local: true}})
	} else {
		err = s.conn.sendPacket(p, false)
	}
	if err != nil {
		return err
	}
	if s.nsp.srv.observing() {
		s.notifyEvent(true, event, args)
	}
	return nil
}

// EmitAck sends an event asking the client for an acknowledgement, without
// waiting: cb runs exactly once, with the client's arguments, or with
// ErrTimeout when timeout (if > 0) passes first, or with ErrDisconnected.
// cb runs on the connection's read goroutine or a timer's.
func (s *Socket) EmitAck(timeout time.Duration, cb func(args []any, err error), event string, args ...any) error {
	p, err := s.eventPacket(event, args)
	if err != nil {
		return err
	}
	id := s.nsp.nextAckID()
	p.ID, p.HasID = id, true
	pa := pendingAck{fn: cb}
	if timeout > 0 {
		pa.timer = time.AfterFunc(timeout, func() {
			defer s.conn.session.Recover("acknowledgement timeout callback")
			if s.takeAck(id) {
				cb(nil, ErrTimeout)
			}
		})
	}
	s.addAck(id, pa)
	if err := s.conn.sendPacket(p, false); err != nil {
		if s.takeAck(id) {
			return err
		}
		return nil
	}
	if s.nsp.srv.observing() {
		s.notifyEvent(true, event, args)
	}
	return nil
}

// EmitWithAck sends an event and waits for the client's acknowledgement
// until ctx is done. Do not call it from this socket's own handlers: they
// run on the goroutine that reads the acknowledgement.
func (s *Socket) EmitWithAck(ctx context.Context, event string, args ...any) ([]any, error) {
	type result struct {
		args []any
		err  error
	}
	ch := make(chan result, 1)
	if err := s.EmitAck(0, func(a []any, err error) { ch <- result{a, err} }, event, args...); err != nil {
		return nil, err
	}
	select {
	case r := <-ch:
		return r.args, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (s *Socket) eventPacket(event string, args []any) (*parser.Packet, error) {
	if isReserved(event) {
		return nil, ErrReservedEvent
	}
	if !s.connected.Load() {
		return nil, ErrDisconnected
	}
	data := make([]any, 1+len(args))
	data[0] = event
	copy(data[1:], args)
	return &parser.Packet{Type: parser.Event, Namespace: s.nsp.name, Data: data}, nil
}

func (s *Socket) operator() *BroadcastOperator {
	return &BroadcastOperator{nsp: s.nsp, except: []Room{Room(s.id)}}
}

// To selects the sockets in rooms, leaving this socket out.
func (s *Socket) To(rooms ...Room) *BroadcastOperator { return s.operator().To(rooms...) }

// In is the same as To.
func (s *Socket) In(rooms ...Room) *BroadcastOperator { return s.To(rooms...) }

// Except selects every other socket of the namespace not in rooms.
func (s *Socket) Except(rooms ...Room) *BroadcastOperator { return s.operator().Except(rooms...) }

// Broadcast selects every other socket of the namespace.
func (s *Socket) Broadcast() *BroadcastOperator { return s.operator() }

// Disconnect makes the socket leave its namespace: the client gets a
// DISCONNECT packet (reason "io server disconnect" on its side). With close,
// the whole connection is closed after every namespace on it was left.
func (s *Socket) Disconnect(close bool) {
	if !s.connected.Load() {
		return
	}
	if close {
		s.conn.disconnectAll()
		return
	}
	s.disconnectWith(ReasonServerNamespaceDisconnect)
}

// disconnectWith sends DISCONNECT and leaves the namespace with reason.
func (s *Socket) disconnectWith(reason Reason) {
	_ = s.conn.sendPacket(&parser.Packet{Type: parser.Disconnect, Namespace: s.nsp.name}, false)
	s.onClose(reason)
}

// Deliver implements adapter.Socket: it queues a broadcast in the parser of
// the socket's connection.
func (s *Socket) Deliver(p *parser.Encoded, volatile bool) {
	if s.connected.Load() {
		_ = s.conn.deliverEncoded(p, volatile)
	}
}

// ExpectAck implements adapter.Socket for broadcasts with acknowledgements;
// unanswered ones are swept once their deadline (if any) has passed.
func (s *Socket) ExpectAck(id uint64, fn func(args []any)) {
	s.addAck(id, pendingAck{fn: func(args []any, err error) {
		if err == nil {
			fn(args)
		}
	}, expires: time.Now().Add(time.Minute)})
}

// Info implements adapter.Socket.
func (s *Socket) Info() adapter.SocketInfo {
	return adapter.SocketInfo{ID: s.id, Handshake: s.handshake, Rooms: s.Rooms(), Data: s.Data()}
}

func (s *Socket) addAck(id uint64, pa pendingAck) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.acks == nil {
		s.acks = make(map[uint64]pendingAck)
	}
	if len(s.acks) >= maxPendingAcks {
		now := time.Now()
		for k, v := range s.acks {
			if !v.expires.IsZero() && now.After(v.expires) {
				delete(s.acks, k)
			}
		}
	}
	s.acks[id] = pa
}

// takeAck removes a pending ack and reports whether it was still there.
func (s *Socket) takeAck(id uint64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.acks[id]; !ok {
		return false
	}
	delete(s.acks, id)
	return true
}

// restore is a kept session a connecting socket took.
type restore struct {
	sess   adapter.Session
	offset string
}

// connect attaches the socket to its connection and namespace and tells the
// client; false when the connection went away meanwhile. With rs, the
// socket rejoins its rooms and the client gets the CONNECT reply and then
// the packets it missed, with no stored broadcast in between.
func (s *Socket) connect(rs *restore) bool {
	s.life.Lock()
	defer s.life.Unlock()
	if !s.conn.register(s) {
		return false
	}
	if rs != nil {
		ok := s.nsp.sessions().Resume(rs.sess, rs.offset, func(missed []adapter.MissedPacket) bool {
			// The missed packets must fit the new connection's send queue,
			// or it would be closed as a slow client at once, again and
			// again: beyond it the client starts afresh.
			maxMsgs, maxBytes := s.nsp.srv.engine.SendQueueBounds()
			msgs, bytes := 1, int64(0)
			for _, m := range missed {
				msgs += 1 + len(m.Attachments)
				bytes += int64(len(m.Text))
				for _, a := range m.Attachments {
					bytes += int64(len(a))
				}
			}
			if msgs > maxMsgs || bytes > maxBytes/2 {
				return false
			}
			s.connected.Store(true)
			s.nsp.insert(s)
			rooms := append([]Room{Room(s.id)}, rs.sess.Rooms...)
			s.nsp.adp().AddAll(s, rooms)
			s.sendConnect()
			for _, m := range missed {
				_ = s.conn.deliverEncoded(m.Encoded, false)
			}
			return true
		})
		if ok {
			return true
		}
		// The missed packets were evicted after the session was taken, or
		// are more than the send queue holds: the client starts afresh.
		s.id, s.pid, s.since, s.recovered, s.restored = SocketID(newID()), newID(), "", false, nil
		s.mu.Lock()
		s.data = nil
		s.mu.Unlock()
	}
	if s.nsp.sessions() != nil && s.since == "" {
		s.since = s.nsp.sessions().CurrentOffset()
	}
	s.connected.Store(true)
	s.nsp.insert(s)
	s.nsp.adp().AddAll(s, []Room{Room(s.id)})
	s.sendConnect()
	return true
}

// connectReply is the CONNECT reply's payload, in Node's field order.
type connectReply struct {
	SID string `json:"sid"`
	PID string `json:"pid,omitempty"` // with recovery on
}

func (s *Socket) sendConnect() {
	reply := &parser.Packet{Type: parser.Connect, Namespace: s.nsp.name}
	if !s.conn.eio3 { // v4 (client 2.x) gets no payload
		reply.Data = connectReply{SID: string(s.id), PID: s.pid}
	}
	_ = s.conn.sendPacket(reply, false)
}

// recoverable lists the reasons after which a session is kept, as Node's
// RECOVERABLE_DISCONNECT_REASONS: the client did not leave on purpose and
// the server did not send DISCONNECT.
func recoverable(r Reason) bool {
	switch r {
	case ReasonTransportError, ReasonTransportClose, ReasonForcedClose, ReasonPingTimeout,
		ReasonServerShuttingDown, ReasonForcedServerClose:
		return true
	}
	return false
}

func (s *Socket) onPacket(p *parser.Packet) {
	switch p.Type {
	case parser.Event, parser.BinaryEvent:
		if l := s.nsp.srv.limits.Load(); l.EventRate > 0 && !s.rate.take(l.EventRate, l.EventBurst, l, time.Now()) {
			s.nsp.srv.limitHits.eventRate.Add(1)
			s.nsp.srv.logger.Warn("limit hit: event rate exceeded, disconnecting socket",
				"limit", "event_rate", "socket", string(s.id), "nsp", s.nsp.name,
				"rate", l.EventRate, "burst", l.EventBurst)
			s.disconnectWith(ReasonRateLimited)
			return
		}
		s.onEvent(p)
	case parser.Ack, parser.BinaryAck:
		s.onAck(p)
	case parser.Disconnect:
		s.onClose(ReasonClientNamespaceDisconnect)
	}
}

func (s *Socket) ackFunc(id uint64) Ack {
	var sent atomic.Bool
	return func(args ...any) error {
		if !sent.CompareAndSwap(false, true) {
			return ErrAckTwice
		}
		if args == nil {
			args = []any{}
		}
		return s.conn.sendPacket(&parser.Packet{Type: parser.Ack, Namespace: s.nsp.name, ID: id, HasID: true, Data: args}, false)
	}
}

// onClose removes the socket from its rooms, namespace and connection, and
// runs the disconnect handlers; only the first call does anything.
func (s *Socket) onClose(reason Reason) {
	s.life.Lock()
	was := s.connected.Swap(false)
	s.life.Unlock()
	if !was {
		return
	}
	s.mu.Lock()
	before := s.onDisconnecting
	s.mu.Unlock()
	for _, fn := range before {
		fn(reason)
	}
	observing := s.nsp.srv.observing()
	keep := s.nsp.sessions() != nil && recoverable(reason)
	var all, rooms []Room
	if observing || keep {
		all = s.nsp.adp().SocketRooms(s.id)
	}
	if keep {
		for _, r := range all {
			if r != Room(s.id) {
				rooms = append(rooms, r)
			}
		}
	}
	s.nsp.adp().DelAll(s.id)
	s.nsp.remove(s)
	s.conn.remove(s)
	if observing {
		s.notifyRooms(false, all)
		s.notifyDisconnected(reason)
	}
	// Kept only once the socket is out of its rooms and namespace, so a
	// client that comes back at once cannot meet its old self.
	if keep && s.nsp.sessions().PersistSession(adapter.Session{
		SID: s.id, PID: s.pid, Rooms: rooms, Data: s.Data(), Since: s.since,
	}) {
		s.kept.Store(true)
	}
	// A child namespace may go with its last socket (not while it keeps
	// sessions to recover).
	s.nsp.release()

	s.mu.Lock()
	acks := s.acks
	s.acks = nil
	after := s.onDisconnect
	s.mu.Unlock()
	for _, pa := range acks {
		if pa.timer != nil {
			pa.timer.Stop()
		}
		pa.fn(nil, ErrDisconnected)
	}
	for _, fn := range after {
		fn(reason)
	}
}

func eventName(v any) string {
	switch n := v.(type) {
	case string:
		return n
	case json.Number:
		return n.String()
	}
	return ""
}

func isReserved(event string) bool { return parser.IsReservedEvent(event) }

var _ adapter.Socket = (*Socket)(nil)
