package engine

import (
	"bufio"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"syscall"
	"time"

	"github.com/gorilla/websocket"
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

// closeWriteTimeout bounds writing a close frame or a probe reply.
const closeWriteTimeout = 2 * time.Second

// closeLinger bounds how long a closed websocket keeps reading (and
// discarding) what the client still sends, waiting for it to close.
const closeLinger = 2 * time.Second

// wsConn is one websocket connection. gorilla reads (frames, masking,
// control frames, read limit); we write.
//
// Writing: after the upgrade every data frame is written by us on the raw
// net.Conn, by exactly one goroutine at a time: the reader goroutine while
// the websocket is a probe, then the session's writer goroutine. gorilla
// itself never writes, because the ping and close handlers are replaced;
// the exception is a close frame it sends on a protocol error or an
// over-long message (WriteControl). That is one Write call on the net.Conn,
// and a net.Conn Write (TCP or TLS) holds the connection's write lock for its
// whole length, so it cannot land in the middle of one of our frames; it is
// also the end of the connection, so whatever follows does not matter.
// (WriteControl also resets the write deadline; the connection is dying then.)
type wsConn struct {
	conn *websocket.Conn
	nc   net.Conn
	b64  bool // client asked for binary as base64 text frames (§1.11)
	// vectored: net.Buffers.WriteTo on nc is one writev under the write lock,
	// so big payloads can be written without copying and still atomically.
	vectored bool
	// ended is closed once the session's writer is done with the
	// connection (close frame sent, or the connection aborted); the reader
	// waits for it before closing, so a close frame is not cut off.
	ended     chan struct{}
	endedOnce sync.Once
}

func (c *wsConn) end() {
	c.endedOnce.Do(func() {
		if c.ended != nil { // nil in tests that build a bare wsConn
			close(c.ended)
		}
	})
}

// abort drops the TCP connection at once (broken or too slow a client).
func (c *wsConn) abort() {
	c.nc.Close()
	c.end()
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
	conn, err := srv.upgrader.Upgrade(hijackWriter{w, rc}, r, nil)
	if err != nil {
		return nil, err
	}
	conn.SetReadLimit(srv.cfg.MaxPayload)
	nc := conn.NetConn()
	c := &wsConn{conn: conn, nc: nc, b64: b64, ended: make(chan struct{})}
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
	c.nc.Close()
}

// closeGracefully sends a close frame after everything queued and ends our
// side of the TCP connection (FIN), leaving the socket open for the reader
// to drain until the client closes or closeLinger passes; the reader then
// closes it. Closing at once would make the kernel answer the client's
// unread data (say, a flood of events in flight) with RST, and the client
// would lose the frames just written: a DISCONNECT, the close frame. Only for
// the connection's single writer.
func (c *wsConn) closeGracefully() {
	defer c.end()
	_ = c.nc.SetWriteDeadline(time.Now().Add(closeWriteTimeout))
	_, err := c.nc.Write(closeNormal)
	cw, ok := c.nc.(interface{ CloseWrite() error })
	if err != nil || !ok || cw.CloseWrite() != nil {
		c.nc.Close()
		return
	}
	_ = c.nc.SetReadDeadline(time.Now().Add(closeLinger))
}

// drain reads and discards until the connection fails: the client closed,
// the writer's closeGracefully deadline passed, or the writer closed it.
// The fallback deadline covers a writer still flushing a slow client.
func (c *wsConn) drain(writeTimeout time.Duration) {
	_ = c.nc.SetReadDeadline(time.Now().Add(writeTimeout + closeWriteTimeout + closeLinger))
	for i := 0; i < 1<<20; i++ { // bounded by the deadline; the count is a backstop
		if _, _, err := c.conn.NextReader(); err != nil {
			return
		}
	}
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

// frameOf describes the frame of p: opcode, the prefix byte before p.data
// (0 for none), and whether p.data goes base64-encoded.
func (c *wsConn) frameOf(p packet) (op byte, prefix byte, b64 bool, n int) {
	switch {
	case p.typ == packetWSPong:
		return opPong, 0, false, len(p.data)
	case p.typ == packetMessage && p.binary && c.b64:
		return opText, 'b', true, 1 + base64.StdEncoding.EncodedLen(len(p.data))
	case p.typ == packetMessage && p.binary:
		return opBinary, 0, false, len(p.data)
	default:
		return opText, byte(p.typ), false, 1 + len(p.data)
	}
}

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
	if prefix != 0 {
		buf = append(buf, prefix)
	}
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
		if prefix != 0 {
			buf = append(buf, prefix)
		}
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
			sendClose := s.closeFrame
			s.closeFrame = false
			s.mu.Unlock()
			if sendClose {
				ws.closeGracefully()
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
			s.srv.log.Debug("engine websocket write failed", "sid", s.id, "error", err)
			s.close(writeErrorReason(err), false)
			ws.abort()
			return
		}
	}
}

// readLoop reads c until it fails, in the ServeHTTP goroutine (the only
// per-connection goroutine while idle). probing: c is probing an upgrade of
// a polling session (§1.8); it becomes the session's transport on "5".
func (s *Session) readLoop(c *wsConn, probing bool) {
	active := !probing
	// Every way out of this loop ends the connection; closing it here also
	// ends a closeGracefully linger. An active connection first lets the
	// writer finish (flush, close frame), within the bounds of its writes.
	defer func() {
		if active {
			t := time.NewTimer(s.srv.cfg.WriteTimeout + closeWriteTimeout)
			select {
			case <-c.ended:
			case <-t.C:
			}
			t.Stop()
		}
		c.nc.Close()
	}()
	c.conn.SetCloseHandler(func(int, string) error { return nil }) // our writer answers
	c.conn.SetPingHandler(func(data string) error {
		if !active {
			// Only this goroutine writes on a probe.
			return c.writeFrame(opPong, []byte(data))
		}
		s.mu.Lock()
		start := false
		if !s.closed && s.ws == c {
			start = s.enqueueLocked(packet{typ: packetWSPong, data: []byte(data)})
		}
		s.mu.Unlock()
		if start {
			go s.writeLoop()
		}
		return nil
	})
	for {
		mt, data, err := c.conn.ReadMessage()
		if err != nil {
			if errors.Is(err, websocket.ErrReadLimit) {
				s.tooLarge(-1)
			}
			if active {
				s.close(readErrorReason(err), false)
			} else {
				s.endProbe(c)
				c.nc.Close()
			}
			return
		}
		var p packet
		if mt == websocket.BinaryMessage {
			p = packet{typ: packetMessage, data: data, binary: true}
		} else if p, err = decodePacket(data); err != nil {
			if active {
				s.close(ReasonParseError, false)
			} else {
				s.endProbe(c)
				c.closeNow()
			}
			return
		}
		if active {
			if !s.receive(p) {
				// Closed: the writer flushes what is queued and sends the
				// close frame; keep reading so that the client's data in
				// flight does not turn our close into a reset.
				c.drain(s.srv.cfg.WriteTimeout)
				return
			}
			continue
		}
		switch {
		case p.typ == packetPing && string(p.data) == "probe":
			if c.writeFrame(opText, []byte("3probe")) != nil || !s.probeAnswered(c) {
				s.endProbe(c)
				c.nc.Close()
				return
			}
		case p.typ == packetUpgrade:
			if !s.completeUpgrade(c) {
				c.closeNow()
				return
			}
			active = true
		default:
			// Anything else during the probe closes the probe only (§1.8).
			s.endProbe(c)
			c.closeNow()
			return
		}
	}
}

// writeErrorReason: a write that fails because the peer reset the
// connection is a "transport close", like a read that sees the reset (which
// of the two notices first is a race); a timeout (a slow client) or another
// failure is a "transport error".
func writeErrorReason(err error) Reason {
	if errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
		return ReasonTransportClose
	}
	return ReasonTransportError
}

// readErrorReason: a peer that closed or reset its connection is a
// "transport close" (Node reports a reset websocket the same way: ws only
// destroys the socket and emits close); other read failures are a
// "transport error".
func readErrorReason(err error) Reason {
	var ce *websocket.CloseError
	if errors.As(err, &ce) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) {
		return ReasonTransportClose
	}
	return ReasonTransportError
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
		if s.endProbe(c) {
			c.nc.Close() // no "5" in time: close the probe, keep polling
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
	s.mu.Unlock()
	if start {
		go s.writeLoop()
	}
	s.srv.log.Debug("engine session upgraded", "sid", s.id)
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
