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

	mu           sync.Mutex
	sockets      map[string]*Socket // by namespace name
	connectTimer *time.Timer
}

func newConn(s *Server, sess *engine.Session) *Conn {
	c := &Conn{srv: s, session: sess, sockets: make(map[string]*Socket)}
	c.dec.MaxAttachments = s.Limits().MaxAttachments
	hs := sess.Handshake()
	c.headers = make(map[string]string, len(hs.Header))
	for k, v := range hs.Header {
		c.headers[strings.ToLower(k)] = strings.Join(v, ", ")
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
	c.connectTimer.Stop()
	for _, s := range c.takeSockets() {
		s.onClose(reasonOf(reason))
	}
	c.dec.Reset()
}

func (c *Conn) takeSockets() []*Socket {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]*Socket, 0, len(c.sockets))
	for _, s := range c.sockets {
		out = append(out, s)
	}
	return out
}

func (c *Conn) dispatch(p *parser.Packet) {
	c.mu.Lock()
	s := c.sockets[p.Namespace]
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
	if _, dup := c.sockets[s.nsp.name]; dup {
		return false
	}
	c.sockets[s.nsp.name] = s
	c.connectTimer.Stop()
	return true
}

func (c *Conn) remove(s *Socket) {
	c.mu.Lock()
	if c.sockets[s.nsp.name] == s {
		delete(c.sockets, s.nsp.name)
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
