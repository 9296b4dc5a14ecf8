package socketio

import (
	"errors"
	"net"
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

	// headers and query are built once per connection and shared, read-only,
	// by the handshakes of its sockets.
	headers map[string]string
	query   map[string]string
	address string

	logged atomic.Uint32 // limits logged for this connection (firstHit)

	mu sync.Mutex
	// sockets, one per namespace joined: a slice, as a client joins one or
	// a few namespaces (a map would cost an idle connection ~250 bytes).
	sockets []*Socket
	// connectTimer closes the connection if no namespace is joined in
	// time; nil once one is (so an idle connection does not keep it).
	connectTimer *time.Timer
}

func newConn(s *Server, sess *engine.Session) *Conn {
	c := &Conn{srv: s, session: sess}
	c.dec.MaxAttachments = s.Limits().MaxAttachments
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
	var p *parser.Packet
	var err error
	if binary {
		p, err = c.dec.DecodeBinary(data)
	} else {
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
		c.dispatch(p)
	}
}

func (h *sessionHandler) OnClose(_ *engine.Session, reason engine.Reason) {
	c := (*Conn)(h)
	c.mu.Lock()
	c.stopConnectTimerLocked()
	c.mu.Unlock()
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
		// and closes the connection (protocol.md §3.4).
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
	nsp := c.srv.lookup(name, auth)
	if nsp == nil {
		c.sendConnectError(name, &ConnectError{Message: "Invalid namespace"})
		return
	}
	nsp.add(c, auth)
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

// sendPacket encodes and queues one packet for this connection alone.
func (c *Conn) sendPacket(p *parser.Packet, volatile bool) error {
	text, atts, err := parser.Encode(p)
	if err != nil {
		return err
	}
	return c.deliver(text, atts, volatile)
}

// deliver queues an encoded packet and its attachments as one unit.
func (c *Conn) deliver(text []byte, atts [][]byte, volatile bool) error {
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
