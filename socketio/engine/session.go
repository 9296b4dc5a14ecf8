package engine

import (
	"sync"
	"time"
)

// SessionHandler receives one session's traffic.
//
// OnMessage is called in arrival order and never concurrently for one
// session (from the websocket read goroutine or the polling POST handler);
// it may call s.Send and s.Close. data is owned by the callee. OnMessage may
// block, which stalls reading from that client only.
//
// OnClose is called exactly once, never concurrently with OnMessage, after
// which no OnMessage follows. When the session closes while OnMessage runs
// (for example OnMessage itself calls s.Close), OnClose runs right after
// OnMessage returns, on the same goroutine; otherwise it runs on the
// goroutine that closed the session. Done() is closed before OnClose runs.
type SessionHandler interface {
	OnMessage(s *Session, data []byte, binary bool)
	OnClose(s *Session, reason Reason)
}

// UpgradeHandler may be implemented by a SessionHandler to learn that its
// session moved from polling to websocket. OnUpgrade runs once, on the
// websocket's read goroutine, right after the switch; it may run while a
// last polling OnMessage is still running and must not block.
type UpgradeHandler interface {
	OnUpgrade(s *Session)
}

// Message is one Engine.IO "message" packet payload (without the "4" type
// char). The same Data slice may be queued on many sessions and must not be
// modified afterwards.
type Message struct {
	Data   []byte
	Binary bool
}

// pollCloseTimeout bounds how long a gracefully closed polling session waits
// for the GET that carries its close packet (Node: 30 s). A variable for tests.
var pollCloseTimeout = 30 * time.Second

// Session is one Engine.IO connection (a sid), over polling, websocket, or
// polling upgraded to websocket.
//
// Every send goes through one bounded queue (queue/queueBytes). Over
// websocket a writer goroutine exists only while the queue is non-empty; it
// takes everything and writes it with one Write. Over polling the pending
// GET takes everything. When a Send would overflow the queue the session is
// closed with ReasonTransportError ("send queue full, closing slow client"
// is logged once) and Send returns ErrQueueFull; SendVolatile drops instead.
type Session struct {
	srv       *Server
	id        string
	handshake *Handshake
	// eio3: an Engine.IO v3 session (Config.AllowEIO3; eio3.go); b64: its
	// polling client asked for binary as base64 (no binary payloads).
	eio3, b64 bool
	done      chan struct{} // closed by close(), under mu

	// recvMu serializes inbound dispatch (OnMessage, and OnSession at the
	// start) between the websocket reader and polling POST handlers. Send and
	// Close never take it, so holding it across a handler call cannot
	// deadlock with anything the handler may call.
	recvMu sync.Mutex

	mu             sync.Mutex
	closed         bool
	reason         Reason
	handler        SessionHandler // nil until OnSession returns
	inDispatch     bool           // a handler callback (OnSession/OnMessage) is running
	onClosePending bool           // closed during a callback: OnClose runs when it returns
	overflowed     bool
	tooLargeLogged bool

	transport Transport
	// queue is a pooled buffer (sendqueue.go), nil while nothing is queued;
	// the writer or the GET that takes it hands it back once written.
	queue      []packet
	queueBytes int64
	// pongAt is 1 + the index in queue of the websocket pong not yet taken
	// by the writer, 0 if none: a newer ping replaces its payload (RFC 6455
	// §5.5.3 lets us answer only the latest ping), so a client that pings
	// without reading holds at most one pending pong.
	pongAt int
	// pongV3Queued: an Engine.IO v3 pong ("3", the answer to a client's
	// ping) is in queue, not yet taken; further pings until it is taken
	// are answered by it (eio3.go onPingV3), so a v3 client that pings
	// without reading holds at most one pending pong too.
	pongV3Queued bool

	// polling
	poll       *pollWait   // the pending GET, if any; queue is empty while it is set
	postActive bool        // a POST is being handled
	lingering  bool        // closed gracefully, waiting for a GET to carry "1"
	linger     *time.Timer // bounds lingering

	// websocket (transport == WebSocket)
	ws         *wsConn
	writing    bool   // a writer goroutine runs (or the handshake holds the writer)
	closeFrame bool   // the writer must end with a close frame and close ws
	closeCode  uint16 // the close frame's status code; 0: 1000

	// upgrade
	probe        *wsConn // the websocket probing an upgrade
	probed       bool    // "2probe" seen on probe: answer GETs with noop at once
	upgradeTimer *time.Timer

	// heartbeat
	hb            *time.Timer
	hbGen         uint64
	awaitingPong  bool
	pongRefreshed bool

	gate readGate // PauseReads (readgate.go)
}

// pollWait is a held GET. The completer sets pkts and closes done, under
// Session.mu, after clearing Session.poll.
type pollWait struct {
	done chan struct{}
	pkts []packet
}

// ID returns the sid (20 URL-safe base64 chars).
func (s *Session) ID() string { return s.id }

// Handshake returns the request that created the session.
func (s *Session) Handshake() *Handshake { return s.handshake }

// DropHandshakeMaps forgets the handshake's Header and Query, for an owner
// that has copied what it needs (package socketio keeps Node-style maps),
// so that an idle session does not hold them twice. Handshake().Header and
// .Query are nil afterwards. Call it from Config.OnSession, before anything
// else can read the handshake.
func (s *Session) DropHandshakeMaps() { s.handshake.Header, s.handshake.Query = nil, nil }

// Done is closed when the session closes.
func (s *Session) Done() <-chan struct{} { return s.done }

// Transport returns the current transport (polling until an upgrade completes).
func (s *Session) Transport() Transport {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.transport
}

// Close closes the session from the server side; OnClose gets reason.
// With ReasonForcedClose everything already queued is still delivered before
// the close (polling: the next GET gets it followed by "1"; websocket: the
// frames, then a close frame). Other reasons discard the queue.
func (s *Session) Close(reason Reason) {
	s.close(reason, false)
}

// Send queues msgs atomically (all or none; no other sender's message lands
// between them) and never blocks. It returns ErrClosed on a closed session
// and ErrQueueFull when the queue limits (Config.SendQueueLen,
// Config.SendQueueBytes) would be exceeded; the session is then closed with
// ReasonTransportError, because a client that does not read is too slow to
// keep.
func (s *Session) Send(msgs ...Message) error {
	if len(msgs) == 0 {
		return nil
	}
	n := msgBytes(msgs)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	if s.overLimitLocked(len(msgs), n) {
		s.overflowLocked(len(msgs), n) // unlocks
		return ErrQueueFull
	}
	s.appendLocked(msgs, n)
	start := s.flushLocked()
	s.mu.Unlock()
	if start {
		s.startWriter()
	}
	return nil
}

// SendVolatile queues msgs like Send but drops them (returning false) instead
// of closing the session when they would overflow the queue, and also when
// the session cannot write right now: closed, in the middle of an upgrade, or
// on polling without a pending GET (as Node's volatile emit does).
func (s *Session) SendVolatile(msgs ...Message) bool {
	if len(msgs) == 0 {
		return true
	}
	n := msgBytes(msgs)
	cfg := &s.srv.cfg
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.probe != nil ||
		(s.transport == Polling && s.poll == nil) ||
		len(s.queue)+len(msgs) > cfg.SendQueueLen || s.queueBytes+n > cfg.SendQueueBytes {
		return false
	}
	s.appendLocked(msgs, n)
	if s.flushLocked() {
		s.startWriter()
	}
	return true
}

// overLimitLocked reports whether k more packets of n bytes would overflow
// the send queue.
func (s *Session) overLimitLocked(k int, n int64) bool {
	cfg := &s.srv.cfg
	return len(s.queue)+k > cfg.SendQueueLen || s.queueBytes+n > cfg.SendQueueBytes
}

// overflowLocked closes a slow client whose queue would overflow by k
// packets of n bytes: counted and logged once. It unlocks s.mu.
func (s *Session) overflowLocked(k int, n int64) {
	qn, qb, logIt := len(s.queue), s.queueBytes, !s.overflowed
	s.overflowed = true
	s.mu.Unlock()
	if logIt {
		s.srv.counters.slowClosed.Add(1)
		s.srv.log.Warn("send queue full, closing slow client",
			"sid", s.id, "queued", qn, "queued_bytes", qb, "adding", k, "adding_bytes", n)
	}
	s.close(ReasonTransportError, false)
}

// writeTimedOut counts and logs (once) a websocket write that took longer
// than WriteTimeout: the client does not read, a slow client like one whose
// queue is full.
func (s *Session) writeTimedOut() {
	s.mu.Lock()
	logIt := !s.overflowed
	s.overflowed = true
	s.mu.Unlock()
	if logIt {
		s.srv.counters.slowClosed.Add(1)
		s.srv.log.Warn("websocket write timed out, closing slow client",
			"sid", s.id, "write_timeout", s.srv.cfg.WriteTimeout)
	}
}

func msgBytes(msgs []Message) int64 {
	var n int64
	for i := range msgs {
		n += int64(len(msgs[i].Data))
	}
	return n
}

func (s *Session) appendLocked(msgs []Message, n int64) {
	s.reserveLocked(len(msgs))
	for _, m := range msgs {
		s.queue = append(s.queue, packet{typ: packetMessage, data: m.Data, binary: m.Binary})
	}
	s.queueBytes += n
}

// enqueueLocked queues a heartbeat ping; like every packet it takes a
// place in the queue (SendQueueLen).
func (s *Session) enqueueLocked(p packet) bool {
	s.reserveLocked(1)
	s.queue = append(s.queue, p)
	s.queueBytes += int64(len(p.data))
	return s.flushLocked()
}

// queuePongLocked queues the answer to a websocket ping: it replaces the
// payload of a pong still waiting in the queue, or adds one. Pongs count
// against the queue limits like messages; over them, overflow reports that
// the client must be closed as a slow one.
func (s *Session) queuePongLocked(data []byte) (startWriter, overflow bool) {
	n := int64(len(data))
	if s.pongAt > 0 {
		old := &s.queue[s.pongAt-1]
		if s.queueBytes-int64(len(old.data))+n > s.srv.cfg.SendQueueBytes {
			return false, true
		}
		s.queueBytes += n - int64(len(old.data))
		old.data = data
		return false, false // the writer is due already
	}
	if s.overLimitLocked(1, n) {
		return false, true
	}
	s.reserveLocked(1)
	s.queue = append(s.queue, packet{typ: packetWSPong, data: data})
	s.pongAt = len(s.queue)
	s.queueBytes += n
	return s.flushLocked(), false
}

// flushLocked hands the queue to the transport: it completes a pending GET,
// or reports that a websocket writer goroutine must be started (the caller
// starts it after unlocking).
func (s *Session) flushLocked() (startWriter bool) {
	if len(s.queue) == 0 && !s.closeFrame {
		return false
	}
	switch s.transport {
	case WebSocket:
		if s.ws != nil && !s.writing {
			s.writing = true
			return true
		}
	case Polling:
		if s.poll != nil && len(s.queue) > 0 {
			s.completePollLocked(s.takeQueueLocked())
		}
	}
	return false
}

func (s *Session) takeQueueLocked() []packet {
	q := s.queue
	s.queue = nil
	s.queueBytes = 0
	s.pongAt = 0
	s.pongV3Queued = false
	return q
}

// recycleLocked hands a written queue back to the pools (it also drops the
// references to message data). The session keeps nothing: see sendqueue.go.
func (s *Session) recycleLocked(q []packet) {
	putQueue(q)
}

func (s *Session) completePollLocked(pkts []packet) {
	p := s.poll
	s.poll = nil
	p.pkts = pkts
	close(p.done)
}

// takeLingerLocked returns what the last GET of a gracefully closed polling
// session carries: the queue then "1" (Node sends "6\x1e1" when nothing else
// is left), and ends the lingering.
func (s *Session) takeLingerLocked() []packet {
	pkts := s.takeQueueLocked()
	if len(pkts) == 0 {
		pkts = append(pkts, packet{typ: packetNoop})
	}
	pkts = append(pkts, packet{typ: packetClose})
	s.lingering = false
	if s.linger != nil {
		s.linger.Stop()
		s.linger = nil
	}
	return pkts
}

// endLinger forgets a gracefully closed polling session whose last GET never
// came (or on Shutdown).
func (s *Session) endLinger() {
	defer s.recoverClose("linger timer")
	s.mu.Lock()
	was := s.lingering
	if was {
		s.lingering = false
		if s.linger != nil {
			s.linger.Stop()
			s.linger = nil
		}
		putQueue(s.queue)
		s.queue, s.queueBytes, s.pongAt, s.pongV3Queued = nil, 0, 0, false
	}
	s.mu.Unlock()
	if was {
		s.srv.forget(s)
	}
}

// close closes the session once. noopPoll: a pending GET gets "6" instead of
// "1" (the client itself sent "1" over polling, §1.6).
func (s *Session) close(reason Reason, noopPoll bool) {
	s.closeWithCode(reason, noopPoll, 0)
}

// closeWithCode is close, with the status code of the websocket close frame.
// ReasonTransportError with code 0 drops the websocket at once (broken or
// too slow); with a code (a refused frame: 1002, 1007, 1009; a panic: 1011)
// the writer sends the close frame after what it is writing, then the
// connection drains what the client still sends (so that the kernel does
// not answer it with a reset that would destroy the close frame) and ends.
func (s *Session) closeWithCode(reason Reason, noopPoll bool, code uint16) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	s.reason = reason
	close(s.done)
	s.stopTimersLocked()
	graceful := reason == ReasonForcedClose
	if !graceful {
		putQueue(s.queue)
		s.queue, s.queueBytes, s.pongAt, s.pongV3Queued = nil, 0, 0, false
	}
	probe := s.probe
	s.probe, s.probed = nil, false

	callOnClose := !s.inDispatch
	if s.inDispatch {
		s.onClosePending = true
	}
	h := s.handler

	forget := true
	polling := s.transport == Polling
	var closeConn *wsConn
	startWriter := false
	switch s.transport {
	case Polling:
		if s.poll != nil {
			var pkts []packet
			if noopPoll {
				pkts = []packet{{typ: packetNoop}}
			} else {
				pkts = append(s.takeQueueLocked(), packet{typ: packetClose})
			}
			s.completePollLocked(pkts)
		} else if graceful {
			// Keep the sid alive until a GET takes the close packet (bounded).
			forget = false
			s.lingering = true
			s.linger = time.AfterFunc(pollCloseTimeout, s.endLinger)
		}
	case WebSocket:
		if reason == ReasonTransportError && code == 0 {
			// Broken or too slow: no close handshake, drop the TCP connection
			// (this also unblocks a writer stuck in Write).
			closeConn = s.ws
		} else {
			s.closeFrame = true
			s.closeCode = code
			if !s.writing {
				s.writing = true
				startWriter = true
			}
		}
	}
	s.mu.Unlock()

	s.srv.sessionClosed(s, forget, polling)
	if probe != nil {
		probe.close()
	}
	if closeConn != nil {
		closeConn.close()
	}
	if startWriter {
		s.startWriter()
	}
	s.srv.log.Debug("engine session closed", "sid", s.id, "reason", string(reason))
	if callOnClose && h != nil {
		s.callOnClose(h, reason)
	}
}

func (s *Session) stopTimersLocked() {
	if s.hb != nil {
		s.hb.Stop()
		s.hb = nil
	}
	s.hbGen++
	if s.upgradeTimer != nil {
		s.upgradeTimer.Stop()
		s.upgradeTimer = nil
	}
}

// start runs OnSession and starts the heartbeat (§1.7: it starts after the
// open packet). Called once, right after the session is registered.
func (s *Session) start() {
	s.recvMu.Lock()
	h, panicked := s.callOnSession()
	if h == nil {
		h = nopHandler{}
	}
	s.mu.Lock()
	s.handler = h
	s.inDispatch = false
	pending := s.onClosePending
	s.onClosePending = false
	reason := s.reason
	if !s.closed {
		if s.eio3 { // v3: the client pings; wait for its first ping
			s.armHeartbeatLocked(s.srv.pingInterval() + s.srv.pingTimeout())
		} else {
			s.armHeartbeatLocked(s.srv.pingInterval())
		}
	}
	s.mu.Unlock()
	s.recvMu.Unlock()
	if pending {
		s.callOnClose(h, reason)
	}
	if panicked {
		s.closeWithCode(ReasonTransportError, false, closeInternalError)
	}
}

type nopHandler struct{}

func (nopHandler) OnMessage(*Session, []byte, bool) {}
func (nopHandler) OnClose(*Session, Reason)         {}

// receive processes inbound packets in order until one closes the session.
// It reports whether the session is still open.
func (s *Session) receive(pkts ...packet) bool {
	s.recvMu.Lock()
	defer s.recvMu.Unlock()
	var n uint64
	for i := range pkts {
		n += uint64(len(pkts[i].data))
	}
	s.srv.counters.packetsIn.Add(uint64(len(pkts)))
	s.srv.counters.bytesIn.Add(n)
	for _, p := range pkts {
		if !s.receiveOne(p) {
			return false
		}
	}
	return true
}

// receivePayload processes the packets of a polling payload checked by
// checkClientPayload (count of them), in order, until one closes the
// session. Packets are decoded one at a time: nothing is allocated in
// proportion to their number.
func (s *Session) receivePayload(b []byte, count int) bool {
	s.recvMu.Lock()
	defer s.recvMu.Unlock()
	s.srv.counters.packetsIn.Add(uint64(count))
	var n uint64
	defer func() { s.srv.counters.bytesIn.Add(n) }()
	for len(b) > 0 {
		var seg []byte
		seg, b = nextSegment(b)
		p, err := decodePacket(seg)
		if err != nil { // checked already: cannot happen
			s.close(ReasonParseError, false)
			return false
		}
		n += uint64(len(p.data))
		if !s.receiveOne(p) {
			return false
		}
	}
	return true
}

func (s *Session) receiveOne(p packet) bool {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return false
	}
	if p.typ != packetPong && s.awaitingPong && !s.pongRefreshed {
		// Like Node 6.6: traffic while waiting for the pong proves the client
		// is alive; give the pong (maybe queued behind it) one more timeout.
		s.pongRefreshed = true
		s.armHeartbeatLocked(s.srv.pingTimeout())
	}
	switch p.typ {
	case packetMessage:
		if !s.gateOpenLocked() {
			return false
		}
		s.inDispatch = true
		h := s.handler
		s.mu.Unlock()
		panicked := s.callOnMessage(h, p.data, p.binary)
		s.mu.Lock()
		s.inDispatch = false
		pending, closed, reason := s.onClosePending, s.closed, s.reason
		s.onClosePending = false
		s.mu.Unlock()
		if pending {
			s.callOnClose(h, reason)
		}
		if panicked && !closed {
			s.closeWithCode(ReasonTransportError, false, closeInternalError)
			return false
		}
		return !closed
	case packetPong:
		if s.eio3 { // v3 clients never pong ("invalid heartbeat direction")
			s.mu.Unlock()
			s.close(ReasonTransportError, false)
			return false
		}
		// Next ping pingInterval after this pong (§1.7).
		s.awaitingPong = false
		s.armHeartbeatLocked(s.srv.pingInterval())
		s.mu.Unlock()
		return true
	case packetPing:
		if s.eio3 {
			return s.onPingV3()
		}
		// v4 clients never ping ("invalid heartbeat direction").
		s.mu.Unlock()
		s.close(ReasonTransportError, false)
	case packetClose:
		s.mu.Unlock()
		s.close(ReasonTransportClose, true)
	default:
		// open, upgrade (outside a probe) and noop are not valid from a client.
		s.mu.Unlock()
		s.close(ReasonParseError, false)
	}
	return false
}

// armHeartbeatLocked (re)starts the single heartbeat timer. Each arm gets a
// generation so a callback that lost the race against a re-arm does nothing.
func (s *Session) armHeartbeatLocked(d time.Duration) {
	if s.hb != nil {
		s.hb.Stop()
	}
	s.hbGen++
	gen := s.hbGen
	s.hb = time.AfterFunc(d, func() { s.onHeartbeat(gen) })
}

func (s *Session) onHeartbeat(gen uint64) {
	defer s.recoverClose("heartbeat timer")
	s.mu.Lock()
	if s.closed || gen != s.hbGen {
		s.mu.Unlock()
		return
	}
	// v3: no ping from the client in time. A reader held by backpressure
	// (readgate.go) may hide the pong: the session stays while pings can
	// still be written.
	if (s.awaitingPong || s.eio3) && !s.readerHeld() {
		s.mu.Unlock()
		s.close(ReasonPingTimeout, false)
		return
	}
	s.awaitingPong = true
	s.pongRefreshed = false
	s.armHeartbeatLocked(s.srv.pingTimeout())
	if s.overLimitLocked(1, 0) {
		s.overflowLocked(1, 0) // unlocks
		return
	}
	start := s.enqueueLocked(packet{typ: packetPing})
	s.mu.Unlock()
	if start {
		s.startWriter()
	}
}

// tooLarge counts a client message over MaxPayload (size: its length, or
// -1 when unknown) and logs the first one of the session.
func (s *Session) tooLarge(size int64) {
	s.srv.counters.tooLarge.Add(1)
	s.mu.Lock()
	logIt := !s.tooLargeLogged
	s.tooLargeLogged = true
	s.mu.Unlock()
	if logIt {
		s.srv.log.Warn("message over max_payload refused",
			"sid", s.id, "transport", string(s.Transport()), "size", size, "max_payload", s.srv.cfg.MaxPayload)
	}
}

var protocolLog logLimiter

// protocolError counts a connection failed for breaking the protocol and
// logs it (at most one line a second for the process).
func (s *Session) protocolError(err error) {
	s.srv.counters.protocolErrors.Add(1)
	if ok, suppressed := protocolLog.allow(time.Second); ok {
		s.srv.log.Warn("engine: protocol error, closing the connection",
			"sid", s.id, "error", err.Error(), "suppressed_since_last", suppressed)
	}
}
