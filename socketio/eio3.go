package socketio

import (
	"net/url"
	"strings"

	"github.com/caddy-socketio/caddy-socketio/socketio/parser"
)

// Socket.IO protocol v4, spoken by socket.io-client 2.x over Engine.IO v3
// (engine.Config.AllowEIO3), differs from v5 as Node's socket.io 4.x
// handles it (github.com/socketio/socket.io-protocol, the v4 revision):
//
//   - the default namespace is joined without a CONNECT from the client:
//     the server connects "/" as soon as the Engine.IO session opens;
//   - a CONNECT carries no auth object: the namespace may end with a query
//     ("/chat?token=abc"), whose parameters become Handshake.Auth (strings);
//   - the server's CONNECT reply has no payload (no sid);
//   - a middleware refusal is an ERROR packet whose payload is the error's
//     Data or, without Data, its message as a JSON string;
//   - a socket's id is the Engine.IO session id (on "/") or "<nsp>#<sid>", the
//     id the client computes on its side.
//
// Events, acks, binary attachments and DISCONNECT are encoded the same, so
// one broadcast encoding serves v2 and v4 clients alike.

// Protocol is the Engine.IO protocol revision of the connection: 4, or 3
// for a socket.io-client 2.x admitted by engine.Config.AllowEIO3.
func (c *Conn) Protocol() int { return c.session.Protocol() }

// v3Namespace splits a v3 packet's namespace from its query.
func v3Namespace(nsp string) (name string, auth map[string]any) {
	name, query, ok := strings.Cut(nsp, "?")
	if name == "" {
		name = "/"
	}
	if !ok {
		return name, nil
	}
	auth = map[string]any{}
	if v, err := url.ParseQuery(query); err == nil {
		for k, vs := range v {
			auth[k] = vs[len(vs)-1]
		}
	}
	return name, auth
}

// v3SocketID is the id Node gives a v3 socket, the one the client computes.
func v3SocketID(nsp, sid string) SocketID {
	if nsp == "/" {
		return SocketID(sid)
	}
	return SocketID(nsp + "#" + sid)
}

// sendMiddlewareError refuses a socket a middleware turned down.
func (c *Conn) sendMiddlewareError(nsp string, e *ConnectError) {
	if !c.eio3 {
		c.sendConnectError(nsp, e)
		return
	}
	var data any = e.Message
	if e.Data != nil {
		data = e.Data
	}
	_ = c.sendPacket(&parser.Packet{Type: parser.ConnectError, Namespace: nsp, Data: data}, false)
}
