package socketio

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddy-socketio/caddy-socketio/socketio/engine"
	"github.com/caddy-socketio/caddy-socketio/socketio/parser"
)

// Conn is one Engine.IO connection of a client, carrying one socket per
// namespace it joined (what Node calls the Client).
type Conn struct {
	srv     *Server
	session *engine.Session
	// dec is only used from the session's message callbacks, which the
	// engine never runs concurrently.
	dec parser.Decoder
	// codec is the client's parser: codecDefault or codecMsgpack, or
	// codecUnknown until its first message tells (ParserAuto). Written
	// once by the read goroutine, read by broadcasters.
	codec atomic.Uint32

	// headers and query are built once per connection and shared, read-only,
	// by the handshakes of its sockets.
	headers map[string]string
	query   map[string]string
	address string
	eio3    bool // Engine.IO v3, Socket.IO v4 (socket.io-client 2.x; eio3.go)

	logged atomic.Uint32 // limits logged for this connection (firstHit)
	// msgLen is the size of the message being dispatched (CONNECT size
	// check); only the message callbacks use it.
	msgLen int
	// nspRate is the bucket of Limits.NamespaceConnectRate; only the
	// message callbacks (never concurrent) use it.
	nspRate rateBucket

	// delivering counts deliver calls in progress. A full send queue
	// closes the session from inside deliver; the sockets' close (and the
	// disconnect handlers, which may broadcast) then runs on its own
	// goroutine, as the deliverer may hold the recovery buffer's lock.
	delivering atomic.Int32

	mu sync.Mutex
	// sockets, one per namespace joined: a slice, as a client joins one or
	// a few namespaces (a map would cost an idle connection ~250 bytes).
	sockets []*Socket
	// connectTimer closes the connection if no namespace is joined in
	// time; nil once one is (so an idle connection does not keep it).
	connectTimer *time.Timer
}

func newConn(s *Server, sess *engine.Session) *Conn {
	c := &Conn{srv: s, session: sess, eio3: sess.Protocol() == 3}
	c.dec.MaxAttachments = s.Limits().MaxAttachments
	switch s.parser {
	case ParserDefault:
		c.codec.Store(codecDefault)
	case ParserMsgpack:
		c.codec.Store(codecMsgpack)
	}
	c.dec.Lazy = true // arguments stay JSON text until a handler wants them (raw.go)
	hs := sess.Handshake()
	c.headers = make(map[string]string, len(hs.Header))
	for k, v := range hs.Header {
		c.headers[lowerHeaderName(k)] = strings.Join(v, ", ")
	}
	if hs.Host != "" {
		// net/http moves Host out of the header map; Node keeps it there.
		c.headers["host"] = hs.Host
	}
	c.query = make(map[string]string, len(hs.Query))
	for k, v := range hs.Query {
		if len(v) > 0 {
			c.query[k] = v[0]
		}
	}
	c.address = hs.RemoteAddr
	if host, _, err := net.SplitHostPort(c.address); err == nil {
		c.address = host
	}
	sess.DropHandshakeMaps() // c.headers and c.query are the copies in use

	c.mu.Lock() // the timer may fire before newConn returns
	defer c.mu.Unlock()
	c.connectTimer = time.AfterFunc(s.connectTimeout, func() {
		defer sess.Recover("connect timer")
		c.mu.Lock()
		n := len(c.sockets)
		c.mu.Unlock()
		if n == 0 {
			s.logger.Debug("no namespace joined in time, closing", "sid", sess.ID())
			sess.Close(engine.ReasonForcedClose)
		}
	})
	return c
}

// ID is the Engine.IO session id (not a socket id).
func (c *Conn) ID() string { return c.session.ID() }

// Transport is the transport in use: "polling" or "websocket".
func (c *Conn) Transport() string { return string(c.session.Transport()) }

// Close closes the whole connection without sending DISCONNECT packets:
// every socket on it leaves with reason "forced close" and the client
// reconnects on its own.
func (c *Conn) Close() { c.session.Close(engine.ReasonForcedClose) }

// sessionHandler receives the engine's callbacks for a Conn without making
// them part of Conn's exported API.
type sessionHandler Conn

func (h *sessionHandler) OnMessage(_ *engine.Session, data []byte, binary bool) {
	c := (*Conn)(h)
	codec := c.codec.Load()
	if codec == codecUnknown {
		// The first Socket.IO packet tells the parser: the default
		// parser's CONNECT is text, socket.io-msgpack-parser's is binary.
		codec = codecDefault
		if binary {
			codec = codecMsgpack
		}
		c.codec.Store(codec)
	}
	var p *parser.Packet
	var err error
	switch {
	case codec == codecMsgpack && binary:
		p, err = parser.DecodeMsgpack(data)
	case codec == codecMsgpack:
		err = fmt.Errorf("text message from a msgpack client: %w", parser.ErrUnexpectedText)
	case binary:
		p, err = c.dec.DecodeBinary(data)
	default:
		p, err = c.dec.DecodeText(data)
	}
	if err != nil {
		// Node closes the connection on a packet it cannot decode; the
		// sockets see "forced close".
		if errors.Is(err, parser.ErrTooManyAttachments) {
			c.srv.limitHits.attachments.Add(1)
			c.srv.logger.Warn("limit hit: too many attachments, closing connection",
				"limit", "max_attachments", "sid", c.ID(), "max", c.dec.MaxAttachments)
		}
		c.srv.logger.Debug("invalid packet, closing connection", "sid", c.ID(), "err", err)
		c.session.Close(engine.ReasonForcedClose)
		return
	}
	if p != nil {
		c.msgLen = len(data)
		c.dispatch(p)
	}
}

// OnUpgrade implements engine.UpgradeHandler.
func (h *sessionHandler) OnUpgrade(*engine.Session) {
	c := (*Conn)(h)
	if !c.srv.observing() {
		return
	}
	for _, s := range c.takeSockets() {
		s.notifyUpgraded()
	}
}

func (h *sessionHandler) OnClose(_ *engine.Session, reason engine.Reason) {
	c := (*Conn)(h)
	c.mu.Lock()
	c.stopConnectTimerLocked()
	c.mu.Unlock()
	if c.delivering.Load() > 0 {
		go c.closeSockets(reason)
		return
	}
	c.closeSockets(reason)
}

func (c *Conn) closeSockets(reason engine.Reason) {
	for _, s := range c.takeSockets() {
		s.onClose(reasonOf(reason))
	}
	c.dec.Reset()
}

func (c *Conn) takeSockets() []*Socket {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*Socket(nil), c.sockets...)
}

// socketLocked returns the socket of namespace nsp, or nil.
func (c *Conn) socketLocked(nsp string) *Socket {
	for _, s := range c.sockets {
		if s.nsp.name == nsp {
			return s
		}
	}
	return nil
}

func (c *Conn) stopConnectTimerLocked() {
	if c.connectTimer != nil {
		c.connectTimer.Stop()
		c.connectTimer = nil
	}
}

func (c *Conn) dispatch(p *parser.Packet) {
	var v3auth map[string]any
	if c.eio3 {
		p.Namespace, v3auth = v3Namespace(p.Namespace)
		if p.Type == parser.Connect {
			p.Data = v3auth
		}
	}
	c.mu.Lock()
	s := c.socketLocked(p.Namespace)
	c.mu.Unlock()
	switch {
	case s == nil && p.Type == parser.Connect:
		c.connect(p.Namespace, p.Data)
	case s != nil && p.Type != parser.Connect && p.Type != parser.ConnectError:
		s.onPacket(p)
	default:
		// A packet for a namespace not joined, a second CONNECT, or a
		// CONNECT_ERROR from a client: Node calls this an invalid state
		// and closes the connection (github.com/socketio/socket.io-protocol).
		c.srv.logger.Debug("invalid state, closing connection", "sid", c.ID(), "type", p.Type.String(), "nsp", p.Namespace)
		c.closeWith(ReasonForcedServerClose)
	}
}

func (c *Conn) connect(name string, data any) {
	auth, _ := data.(map[string]any)
	if auth == nil {
		auth = map[string]any{}
	}
	// Dispatch is sequential per connection and a namespace's add runs
	// its middlewares before returning, so the count is exact.
	if limit := c.srv.Limits().MaxNamespaces; limit > 0 {
		c.mu.Lock()
		n := len(c.sockets)
		c.mu.Unlock()
		if n >= limit {
			c.srv.limitHits.namespaces.Add(1)
			if firstHit(&c.logged, loggedNamespaces) {
				c.srv.logger.Warn("limit hit: too many namespaces on one connection",
					"limit", "max_namespaces", "sid", c.ID(), "max", limit, "nsp", name)
			}
			c.sendConnectError(name, &ConnectError{Message: "Too many namespaces"})
			return
		}
	}
	if limit := c.srv.Limits().MaxConnectBytes; limit > 0 && c.msgLen > limit {
		c.srv.limitHits.connectBytes.Add(1)
		if firstHit(&c.logged, loggedConnectBytes) {
			c.srv.logger.Warn("limit hit: CONNECT payload too large",
				"limit", "max_connect_bytes", "sid", c.ID(), "max", limit, "bytes", c.msgLen, "nsp", name)
		}
		c.sendConnectError(name, &ConnectError{Message: "Connect payload too large"})
		return
	}
	if l := c.srv.limits.Load(); l.NamespaceConnectRate > 0 && !c.nspRate.take(l.NamespaceConnectRate, l.NamespaceConnectBurst, l, time.Now()) {
		c.srv.limitHits.nspConnectRate.Add(1)
		if firstHit(&c.logged, loggedNspRate) {
			c.srv.logger.Warn("limit hit: namespace connects too fast on one connection",
				"limit", "namespace_connect_rate", "sid", c.ID(), "rate", l.NamespaceConnectRate,
				"burst", l.NamespaceConnectBurst, "nsp", name)
		}
		c.sendConnectError(name, &ConnectError{Message: "Too many namespace connects"})
		return
	}
	nsp, err := c.srv.lookup(name, auth)
	if err != nil {
		c.refuseDynamicFull(name)
		return
	}
	if nsp == nil {
		c.sendConnectError(name, &ConnectError{Message: "Invalid namespace"})
		return
	}
	nsp.add(c, auth)
}

// refuseDynamicFull answers a CONNECT that would create a namespace beyond
// Limits.MaxDynamicNamespaces.
func (c *Conn) refuseDynamicFull(name string) {
	c.srv.limitHits.dynamicNamespaces.Add(1)
	if firstHit(&c.logged, loggedDynamic) {
		c.srv.logger.Warn("limit hit: too many dynamic namespaces",
			"limit", "max_dynamic_namespaces", "sid", c.ID(), "max", c.srv.Limits().MaxDynamicNamespaces, "nsp", name)
	}
	c.sendConnectError(name, &ConnectError{Message: "Too many dynamic namespaces"})
}

// closeWith closes the connection after disconnecting its sockets with
// reason (Node's Client.close: sockets see "forced server close").
func (c *Conn) closeWith(reason Reason) {
	for _, s := range c.takeSockets() {
		s.onClose(reason)
	}
	c.session.Close(engine.ReasonForcedClose)
}

// disconnectAll sends DISCONNECT for every socket, then closes the
// connection (Socket.Disconnect(true)).
func (c *Conn) disconnectAll() {
	for _, s := range c.takeSockets() {
		s.Disconnect(false)
	}
	c.session.Close(engine.ReasonForcedClose)
}

// register attaches a socket that passed its middlewares; false when the
// connection closed meanwhile.
func (c *Conn) register(s *Socket) bool {
	select {
	case <-c.session.Done():
		return false
	default:
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.socketLocked(s.nsp.name) != nil {
		return false
	}
	c.sockets = append(c.sockets, s)
	c.stopConnectTimerLocked()
	return true
}

func (c *Conn) remove(s *Socket) {
	c.mu.Lock()
	for i, x := range c.sockets {
		if x == s {
			last := len(c.sockets) - 1
			copy(c.sockets[i:], c.sockets[i+1:])
			c.sockets[last] = nil
			c.sockets = c.sockets[:last]
			break
		}
	}
	if len(c.sockets) == 0 {
		c.sockets = nil
	}
	c.mu.Unlock()
}

func (c *Conn) sendConnectError(nsp string, e *ConnectError) {
	data := map[string]any{"message": e.Message}
	if e.Data != nil {
		data["data"] = e.Data
	}
	c.sendPacket(&parser.Packet{Type: parser.ConnectError, Namespace: nsp, Data: data}, false)
}

// The parser a connection speaks (Conn.codec).
const (
	codecUnknown uint32 = iota
	codecDefault
	codecMsgpack
)

// Parser is one of the two Socket.IO packet formats the official clients
// speak: the default parser (socket.io-parser, JSON text plus binary
// attachments) and socket.io-msgpack-parser (one MessagePack binary message
// per packet).
type Parser uint8

const (
	// ParserAuto serves both: each connection speaks the parser its first
	// packet is written in (text: the default parser, binary: msgpack).
	// Clients of both kinds share namespaces and rooms; a broadcast is
	// encoded once per parser in use.
	ParserAuto Parser = iota
	// ParserDefault accepts the default parser only, as a Node server
	// without a parser option.
	ParserDefault
	// ParserMsgpack accepts socket.io-msgpack-parser only.
	ParserMsgpack
)

// String returns "auto", "default" or "msgpack".
func (p Parser) String() string {
	switch p {
	case ParserAuto:
		return "auto"
	case ParserDefault:
		return "default"
	case ParserMsgpack:
		return "msgpack"
	}
	return "Parser(" + strconv.Itoa(int(p)) + ")"
}

// Parser reports the parser this connection speaks: ParserDefault or
// ParserMsgpack, or ParserAuto before its first packet.
func (c *Conn) Parser() Parser {
	switch c.codec.Load() {
	case codecDefault:
		return ParserDefault
	case codecMsgpack:
		return ParserMsgpack
	}
	return ParserAuto
}

// sendPacket encodes and queues one packet for this connection alone.
func (c *Conn) sendPacket(p *parser.Packet, volatile bool) error {
	if c.codec.Load() == codecMsgpack {
		b, err := parser.EncodeMsgpack(p)
		if err != nil {
			return err
		}
		return c.send(volatile, engine.Message{Data: b, Binary: true})
	}
	text, atts, err := parser.Encode(p)
	if err != nil {
		return err
	}
	return c.deliver(text, atts, volatile)
}

// deliverEncoded queues a broadcast packet in this connection's parser,
// encoding it if no recipient with this parser did yet.
func (c *Conn) deliverEncoded(e *parser.Encoded, volatile bool) error {
	if c.codec.Load() == codecMsgpack {
		b, err := e.Msgpack()
		if err != nil {
			return err
		}
		return c.send(volatile, engine.Message{Data: b, Binary: true})
	}
	text, atts, err := e.Default()
	if err != nil {
		return err
	}
	return c.deliver(text, atts, volatile)
}

func (c *Conn) send(volatile bool, m engine.Message) error {
	if volatile {
		c.session.SendVolatile(m)
		return nil
	}
	return c.session.Send(m)
}

// deliver queues a packet encoded by the default parser and its attachments
// as one unit.
func (c *Conn) deliver(text []byte, atts [][]byte, volatile bool) error {
	c.delivering.Add(1)
	defer c.delivering.Add(-1)
	var buf [1 + parser.MaxAttachments]engine.Message
	msgs := append(buf[:0], engine.Message{Data: text})
	for _, a := range atts {
		msgs = append(msgs, engine.Message{Data: a, Binary: true})
	}
	if volatile {
		c.session.SendVolatile(msgs...)
		return nil
	}
	return c.session.Send(msgs...)
}

func (c *Conn) handshake(auth map[string]any) *Handshake {
	hs := c.session.Handshake()
	return &Handshake{
		Headers: c.headers,
		Time:    hs.Time.UTC().Format(time.RFC1123),
		Address: c.address,
		XDomain: hs.XDomain,
		Secure:  hs.Secure,
		Issued:  hs.Time.UnixMilli(),
		URL:     hs.URL,
		Query:   c.query,
		Auth:    auth,
	}
}

// commonHeaders maps canonical header names to Node's lower-case ones
// without allocating a string per connection for each.
var commonHeaders = func() map[string]string {
	m := make(map[string]string)
	for _, k := range []string{
		"Accept", "Accept-Encoding", "Accept-Language", "Authorization", "Cache-Control",
		"Connection", "Cookie", "Origin", "Pragma", "Referer", "Sec-Ch-Ua",
		"Sec-Ch-Ua-Mobile", "Sec-Ch-Ua-Platform", "Sec-Fetch-Dest", "Sec-Fetch-Mode",
		"Sec-Fetch-Site", "Sec-Websocket-Extensions", "Sec-Websocket-Key",
		"Sec-Websocket-Protocol", "Sec-Websocket-Version", "Upgrade", "User-Agent",
		"X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", "X-Real-Ip",
		"Via", "Content-Type", "Content-Length",
	} {
		m[k] = strings.ToLower(k)
	}
	return m
}()

func lowerHeaderName(k string) string {
	if l, ok := commonHeaders[k]; ok {
		return l
	}
	return strings.ToLower(k)
}
