package engine

import (
	"bufio"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Websocket opcodes (RFC 6455 §5.2).
const (
	opText   = 0x1
	opBinary = 0x2
	opClose  = 0x8
	opPong   = 0xA
)

// closeNormal is a close frame with status 1000.
var closeNormal = []byte{0x80 | opClose, 2, 0x03, 0xe8}

// closeFrame returns the close frame with status code (0: 1000).
func closeFrame(code uint16) []byte {
	if code == 0 {
		return closeNormal
	}
	return []byte{0x80 | opClose, 2, byte(code >> 8), byte(code)}
}

// closeWriteTimeout bounds writing a close frame or a probe reply.
const closeWriteTimeout = 2 * time.Second

// closeLinger bounds how long a closed websocket keeps reading (and
// discarding) what the client still sends, waiting for it to close.
const closeLinger = 2 * time.Second

// wsConn is one websocket connection. gorilla only performs the handshake;
// then its *websocket.Conn is dropped (with the buffers it took over from
// net/http) and we read and write frames on the net.Conn ourselves.
//
// Writing: every frame is written by exactly one goroutine at a time: the
// reader while the websocket is a probe, then the session's writer
// goroutine. A refused client frame (protocol error, bad UTF-8, message too
// big) is answered by the session's writer too, with the close frame after
// what it is writing (see refuse).
//
// Reading: one reader at a time, with no buffer kept while idle (see serve).
type wsConn struct {
	nc  net.Conn
	b64 bool // client asked for binary as base64 text frames (§1.11)
	// vectored: net.Buffers.WriteTo on nc is one writev under the write lock,
	// so big payloads can be written without copying and still atomically.
	vectored bool
	// eio3: Engine.IO v3 framing (eio3.go).
	eio3 bool
	// deflate: permessage-deflate negotiated (wsdeflate.go).
	deflate          bool
	deflates         *deflateCache
	deflateThreshold int

	// Reader state, only touched by the current reader.
	s      *Session
	active bool // the session's transport; false while probing an upgrade
	// draining: the session is closed and its writer is sending the close
	// frame; what the client still sends is read and discarded until it
	// closes (see closeGracefully).
	draining bool
	// discard: a client frame was refused; the stream cannot be parsed any
	// more, so every byte that follows is dropped unread until the client
	// closes or closeLinger ends the connection.
	discard bool
	// The close handshake: sentClose is set by the writer once our close
	// frame is out, gotClose by the reader when the client's arrives.
	// Whoever sees both closes the TCP connection at once: the server
	// closes first (RFC 6455 §7.1.1), so TIME_WAIT stays on our side.
	sentClose, gotClose atomic.Bool
	fr                  wsReader
	poll                pollConn // readiness registration (Linux epoll); empty elsewhere
}

// hijackWriter lets gorilla hijack through wrappers that only offer Unwrap
// (Caddy's, for example) by going through http.ResponseController.
type hijackWriter struct {
	http.ResponseWriter
	rc *http.ResponseController
}

func (h hijackWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) { return h.rc.Hijack() }

// upgrade performs the websocket handshake. On failure gorilla has already
// answered the request.
func (srv *Server) upgrade(w http.ResponseWriter, r *http.Request, b64 bool) (*wsConn, error) {
	rc := http.NewResponseController(w)
	// Drop server read/write deadlines: they would survive the hijack.
	_ = rc.SetReadDeadline(time.Time{})
	_ = rc.SetWriteDeadline(time.Time{})
	upgrader, deflate := &srv.upgrader, srv.deflateOK(r)
	if deflate {
		upgrader = &srv.upgraderDeflate
	}
	conn, err := upgrader.Upgrade(hijackWriter{w, rc}, r, nil)
	if err != nil {
		return nil, err
	}
	// gorilla refuses a client that sent bytes before the handshake
	// completed (they would sit in the hijacked bufio.Reader), so nothing is
	// buffered in conn: keep the net.Conn and let conn and its buffers go.
	nc := conn.NetConn()
	c := &wsConn{nc: nc, b64: b64}
	if deflate {
		c.deflate, c.fr.deflate = true, true
		c.deflates, c.deflateThreshold = &srv.deflates, srv.cfg.CompressionThreshold
	}
	switch nc.(type) {
	case *net.TCPConn, *net.UnixConn:
		c.vectored = true
	}
	return c, nil
}

// writeFrame writes one frame directly; only for whoever is the connection's
// single writer at that moment (the probe's reader goroutine).
func (c *wsConn) writeFrame(op byte, payload []byte) error {
	b := appendFrameHeader(make([]byte, 0, 10+len(payload)), op, len(payload))
	b = append(b, payload...)
	_ = c.nc.SetWriteDeadline(time.Now().Add(closeWriteTimeout))
	_, err := c.nc.Write(b)
	return err
}

// closeNow sends a close frame (best effort) and closes the connection. Only
// for the connection's single writer.
func (c *wsConn) closeNow() {
	_ = c.nc.SetWriteDeadline(time.Now().Add(closeWriteTimeout))
	_, _ = c.nc.Write(closeNormal)
	c.close()
}

// closeGracefully sends a close frame after everything queued and ends our
// side of the TCP connection (FIN). The reader, draining, closes the
// connection when the client closes; closeLinger bounds the wait. Closing
// at once would make the kernel answer the client's unread data (say, a
// flood of events in flight) with RST, and the client would lose the frames
// just written: a DISCONNECT, the close frame. Only for the connection's
// single writer.
func (c *wsConn) closeGracefully(code uint16) {
	_ = c.nc.SetWriteDeadline(time.Now().Add(closeWriteTimeout))
	_, err := c.nc.Write(closeFrame(code))
	c.sentClose.Store(true)
	if err != nil || c.gotClose.Load() {
		c.close() // failed, or the handshake is complete
		return
	}
	cw, ok := c.nc.(interface{ CloseWrite() error })
	if !ok || cw.CloseWrite() != nil {
		c.close()
		return
	}
	time.AfterFunc(closeLinger, c.close)
}

// clientClosed records the client's close frame; it closes the connection
// when ours is out already.
func (c *wsConn) clientClosed() {
	c.gotClose.Store(true)
	if c.sentClose.Load() {
		c.close()
	}
}

// close drops the connection (and its readiness registration). Idempotent.
func (c *wsConn) close() {
	c.unregister()
	c.nc.Close()
}

func appendFrameHeader(b []byte, op byte, n int) []byte {
	b = append(b, 0x80|op) // FIN; server frames are not masked
	switch {
	case n < 126:
		return append(b, byte(n))
	case n <= 0xffff:
		return append(b, 126, byte(n>>8), byte(n))
	default:
		u := uint64(n)
		return append(b, 127, byte(u>>56), byte(u>>48), byte(u>>40), byte(u>>32),
			byte(u>>24), byte(u>>16), byte(u>>8), byte(u))
	}
}

func frameHeaderLen(n int) int {
	switch {
	case n < 126:
		return 2
	case n <= 0xffff:
		return 4
	default:
		return 10
	}
}

// frameOf describes the frame of p: opcode, the prefix before p.data, and
// whether p.data goes base64-encoded.
func (c *wsConn) frameOf(p packet) (op byte, prefix string, b64 bool, n int) {
	switch {
	case p.typ == packetWSPong:
		return opPong, "", false, len(p.data)
	case p.typ == packetMessage && p.binary && c.b64:
		prefix = "b"
		if c.eio3 {
			prefix = "b4" // v3 (eio3.go)
		}
		return opText, prefix, true, len(prefix) + base64.StdEncoding.EncodedLen(len(p.data))
	case p.typ == packetMessage && p.binary:
		if c.eio3 {
			return opBinary, "\x04", false, 1 + len(p.data) // v3: the type byte
		}
		return opBinary, "", false, len(p.data)
	default:
		return opText, typePrefix[p.typ&7], false, 1 + len(p.data)
	}
}

// typePrefix is the type digit of each text packet, as strings (no
// allocation when appended).
var typePrefix = [8]string{"0", "1", "2", "3", "4", "5", "6", "7"}

// bigPayload: payloads at least this long are not copied into the batch
// buffer when the connection can write vectors atomically.
const bigPayload = 16 << 10

var (
	smallBufs = sync.Pool{New: func() any { b := make([]byte, 0, 4<<10); return &b }}
	largeBufs = sync.Pool{New: func() any { b := make([]byte, 0, 64<<10); return &b }}
)

func getBuf(n int) (*[]byte, []byte) {
	switch {
	case n <= 4<<10:
		bp := smallBufs.Get().(*[]byte)
		return bp, (*bp)[:0]
	case n <= 64<<10:
		bp := largeBufs.Get().(*[]byte)
		return bp, (*bp)[:0]
	}
	return nil, make([]byte, 0, n)
}

func putBuf(bp *[]byte, b []byte) {
	if bp == nil {
		return
	}
	*bp = b[:0]
	if cap(b) <= 4<<10 {
		smallBufs.Put(bp)
	} else {
		largeBufs.Put(bp)
	}
}

// writePackets writes all pkts as websocket frames with one Write (or one
// writev), under one deadline.
func (c *wsConn) writePackets(pkts []packet, timeout time.Duration) error {
	if c.deflate {
		return c.writeDeflated(pkts, timeout)
	}
	total, direct := 0, 0
	for _, p := range pkts {
		_, _, b64, n := c.frameOf(p)
		total += frameHeaderLen(n) + n
		if c.vectored && !b64 && len(p.data) >= bigPayload {
			direct += len(p.data)
		}
	}
	if direct > 0 {
		return c.writeVectored(pkts, total-direct, timeout)
	}
	bp, buf := getBuf(total)
	for _, p := range pkts {
		buf = c.appendFrame(buf, p)
	}
	_ = c.nc.SetWriteDeadline(time.Now().Add(timeout))
	_, err := c.nc.Write(buf)
	putBuf(bp, buf)
	return err
}

func (c *wsConn) appendFrame(buf []byte, p packet) []byte {
	op, prefix, b64, n := c.frameOf(p)
	buf = appendFrameHeader(buf, op, n)
	buf = append(buf, prefix...)
	if b64 {
		return base64.StdEncoding.AppendEncode(buf, p.data)
	}
	return append(buf, p.data...)
}

// writeVectored is writePackets when some payloads are big: those are not
// copied but passed to one writev; scratch (size bytes) holds the rest.
func (c *wsConn) writeVectored(pkts []packet, size int, timeout time.Duration) error {
	bp, buf := getBuf(size)
	var bufs net.Buffers
	seg := 0 // start of the part of buf not yet in bufs
	for _, p := range pkts {
		op, prefix, b64, n := c.frameOf(p)
		if b64 || len(p.data) < bigPayload {
			buf = c.appendFrame(buf, p)
			continue
		}
		buf = appendFrameHeader(buf, op, n)
		buf = append(buf, prefix...)
		// buf never grows past its precomputed size, so the slices handed
		// to bufs stay valid.
		bufs = append(bufs, buf[seg:len(buf):len(buf)], p.data)
		seg = len(buf)
	}
	if seg < len(buf) {
		bufs = append(bufs, buf[seg:])
	}
	_ = c.nc.SetWriteDeadline(time.Now().Add(timeout))
	_, err := bufs.WriteTo(c.nc)
	putBuf(bp, buf)
	return err
}

// writeLoop is the session's websocket writer. It is started (by whoever
// makes the queue non-empty, under mu, via writing=true) only when there is
// something to write and exits when the queue is empty. No lock is held
// while writing. It also performs the close: close frame, then TCP close.
func (s *Session) writeLoop() {
	timeout := s.srv.cfg.WriteTimeout
	for {
		s.mu.Lock()
		ws := s.ws
		if len(s.queue) == 0 {
			s.writing = false
			sendClose, code := s.closeFrame, s.closeCode
			s.closeFrame = false
			s.mu.Unlock()
			if sendClose {
				ws.closeGracefully(code)
			}
			return
		}
		pkts := s.takeQueueLocked()
		s.mu.Unlock()

		err := ws.writePackets(pkts, timeout)
		if err == nil {
			s.srv.counters.sent(pkts)
		}

		s.mu.Lock()
		s.recycleLocked(pkts)
		if err != nil {
			s.writing = false
			s.closeFrame = false
		}
		s.mu.Unlock()
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				s.writeTimedOut()
			} else {
				s.srv.log.Debug("engine websocket write failed", "sid", s.id, "error", err)
			}
			s.close(writeErrorReason(err), false)
			ws.close()
			return
		}
	}
}

// serve reads c for s from now on and returns at once (it is called at the
// end of ServeHTTP, which then returns and lets net/http drop its
// per-connection state). probing: c is probing an upgrade of a polling
// session (§1.8); it becomes the session's transport on "5".
//
// With a readiness poller (Linux, TCP) no goroutine waits for an idle
// connection: when bytes arrive a read worker reads them with a pooled
// buffer until none are left, dispatches, and re-arms. Otherwise one
// goroutine reads, blocked, with a small buffer of its own.
func (c *wsConn) serve(s *Session, probing bool) {
	c.s, c.active = s, !probing
	c.fr.limit = s.srv.cfg.MaxPayload
	if !blockingReads.Load() && c.register() {
		return
	}
	go c.readBlocking()
}

// blockingReads makes serve use the blocking reader always (tests).
var blockingReads atomic.Bool

// blockingReadSize: the per-connection read buffer when reading blocked.
// Small, because it is kept while idle; bigger messages take more reads.
const blockingReadSize = 1 << 10

func (c *wsConn) readBlocking() {
	defer c.recoverRead()
	buf := make([]byte, blockingReadSize)
	for {
		n, err := c.nc.Read(buf)
		if n > 0 && !c.onData(buf[:n]) {
			return
		}
		if err != nil {
			c.readFailed(readErrorReason(err))
			return
		}
	}
}

// readErrorReason: a peer that closed or reset its connection is a
// "transport close" (Node reports a reset websocket the same way: ws only
// destroys the socket and emits close); other read failures are a
// "transport error".
func readErrorReason(err error) Reason {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) {
		return ReasonTransportClose
	}
	return ReasonTransportError
}

// writeErrorReason: a write that fails because the peer reset the
// connection is a "transport close" too (which side notices the reset
// first is a race); timeouts and other failures are a "transport error".
func writeErrorReason(err error) Reason {
	if errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
		return ReasonTransportClose
	}
	return ReasonTransportError
}

// onData decodes b and dispatches what it completes, in order. It reports
// whether to go on reading; false: the connection is closed or is being
// closed by someone else (the session's writer).
func (c *wsConn) onData(b []byte) bool {
	if c.discard {
		return true
	}
	for len(b) > 0 {
		op, data, n, err := c.fr.next(b)
		b = b[n:]
		if err == nil && c.fr.inflate {
			data, err = c.inflateFrame(data) // permessage-deflate
			if err == nil && op == opText && !validUTF8(data) {
				err = &wsFrameError{closeInvalidData, "invalid UTF-8 in a text message"}
			}
		}
		if err != nil {
			c.refuse(err)
			return true // drain until the client closes
		}
		switch op {
		case 0:
		case opPing:
			if !c.onPing(data) {
				return false
			}
		case opPong:
		case opClose:
			// Our writer answers with a close frame (the session closes
			// with "transport close"); a probe just goes away.
			if !c.active {
				c.readFailed(ReasonTransportClose)
				return false
			}
			c.s.close(ReasonTransportClose, false)
			c.draining = true
			c.clientClosed()
			return true
		default:
			if c.draining {
				continue // closed: the client's data in flight is dropped
			}
			if !c.onMessage(op, data) {
				return false
			}
		}
	}
	return true
}

// refuse fails the connection for a frame it cannot accept (RFC 6455 §7.1.7):
// a close frame with the error's code (1002, 1007 or 1009) goes out after
// whatever is being written, our side of the TCP connection is shut, and
// what the client still sends is drained unread; the connection ends when
// the client closes it or after closeLinger. Closing at once would reset
// the connection (unread data in our receive buffer) and destroy the close
// frame on its way, which is what a client sending a big message saw.
func (c *wsConn) refuse(err error) {
	code := frameErrorCode(err)
	s := c.s
	switch code {
	case closeMessageTooBig:
		s.tooLarge(-1)
	default:
		s.protocolError(err)
	}
	c.discard = true
	if !c.active {
		// A probe: the reader is its only writer.
		s.endProbe(c)
		_ = c.nc.SetWriteDeadline(time.Now().Add(closeWriteTimeout))
		_, werr := c.nc.Write(closeFrame(code))
		cw, ok := c.nc.(interface{ CloseWrite() error })
		if werr != nil || !ok || cw.CloseWrite() != nil {
			c.close()
			return
		}
		time.AfterFunc(closeLinger, c.close)
		return
	}
	c.draining = true
	s.closeWithCode(ReasonTransportError, false, code)
	// The writer sends the close frame and starts the linger; this bounds
	// the drain should it never get there (a write stuck until WriteTimeout).
	time.AfterFunc(s.srv.cfg.WriteTimeout+closeWriteTimeout+closeLinger, c.close)
}

// readFailed ends reading: the peer went away, broke the protocol, or c was
// closed under the reader.
func (c *wsConn) readFailed(reason Reason) {
	if c.draining || (c.active && reason != ReasonTransportError) {
		// The client closed (or the linger ended): nothing more to read,
		// and whatever the writer still sends has no reader.
		c.s.close(reason, false)
		c.close()
		return
	}
	if c.active {
		c.s.close(reason, false) // closes c (TransportError)
		return
	}
	c.s.endProbe(c)
	c.close()
}

// onPing queues a pong with the ping's payload (on a probe, where the reader
// is the only writer, it writes it).
func (c *wsConn) onPing(data []byte) bool {
	if !c.active {
		if c.writeFrame(opPong, data) != nil {
			c.readFailed(ReasonTransportError)
			return false
		}
		return true
	}
	s := c.s
	s.mu.Lock()
	if s.closed || s.ws != c {
		s.mu.Unlock()
		return true
	}
	start, overflow := s.queuePongLocked(data)
	if overflow {
		s.overflowLocked(1, int64(len(data))) // unlocks
		return true                           // the session closed and dropped c: the read fails next
	}
	s.mu.Unlock()
	if start {
		s.startWriter()
	}
	return true
}

// onMessage handles one complete data message.
func (c *wsConn) onMessage(op byte, data []byte) bool {
	s := c.s
	p, err := c.decodeFrame(op, data)
	if err != nil {
		if c.active {
			s.close(ReasonParseError, false)
		} else {
			s.endProbe(c)
			c.closeNow()
		}
		return false
	}
	if c.active {
		if !s.receive(p) {
			// Closed: the writer flushes what is queued and sends the
			// close frame; keep reading so that the client's data in
			// flight does not turn our close into a reset.
			c.draining = true
		}
		return true
	}
	switch {
	case p.typ == packetPing && string(p.data) == "probe":
		if c.writeFrame(opText, []byte("3probe")) != nil || !s.probeAnswered(c) {
			s.endProbe(c)
			c.close()
			return false
		}
	case p.typ == packetUpgrade:
		if !s.completeUpgrade(c) {
			c.closeNow()
			return false
		}
		c.active = true
	default:
		// Anything else during the probe closes the probe only (§1.8).
		s.endProbe(c)
		c.closeNow()
		return false
	}
	return true
}

// startProbe makes c the session's upgrade probe if the session can upgrade.
func (s *Session) startProbe(c *wsConn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.transport != Polling || s.probe != nil {
		return false
	}
	s.probe = c
	s.upgradeTimer = time.AfterFunc(s.srv.cfg.UpgradeTimeout, func() {
		defer s.recoverClose("upgrade timer")
		if s.endProbe(c) {
			c.close() // no "5" in time: close the probe, keep polling
		}
	})
	return true
}

// probeAnswered: "3probe" went out on c; release a held GET with a noop so
// the client can pause polling, and do so for later GETs until the upgrade.
func (s *Session) probeAnswered(c *wsConn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.probe != c {
		return false
	}
	s.probed = true
	if s.poll != nil {
		s.completePollLocked([]packet{{typ: packetNoop}})
	}
	return true
}

// completeUpgrade switches the session to c on "5": a held GET gets a noop
// and everything queued goes out over the websocket.
func (s *Session) completeUpgrade(c *wsConn) bool {
	s.mu.Lock()
	if s.closed || s.probe != c {
		s.mu.Unlock()
		return false
	}
	s.probe, s.probed = nil, false
	if s.upgradeTimer != nil {
		s.upgradeTimer.Stop()
		s.upgradeTimer = nil
	}
	if s.poll != nil {
		s.completePollLocked([]packet{{typ: packetNoop}})
	}
	s.transport = WebSocket
	s.ws = c
	start := s.flushLocked()
	h := s.handler
	s.mu.Unlock()
	s.srv.counters.polling.Add(-1)
	if start {
		s.startWriter()
	}
	s.srv.log.Debug("engine session upgraded", "sid", s.id)
	if u, ok := h.(UpgradeHandler); ok {
		u.OnUpgrade(s)
	}
	return true
}

// endProbe forgets c as the probe; it reports whether c was the probe.
func (s *Session) endProbe(c *wsConn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.probe != c {
		return false
	}
	s.probe, s.probed = nil, false
	if s.upgradeTimer != nil {
		s.upgradeTimer.Stop()
		s.upgradeTimer = nil
	}
	return true
}
