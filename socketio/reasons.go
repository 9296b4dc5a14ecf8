package socketio

import (
	"errors"

	"github.com/caddy-socketio/caddy-socketio/socketio/adapter"
	"github.com/caddy-socketio/caddy-socketio/socketio/engine"
)

// Reason says why a socket left its namespace; the text is exactly what the
// Node server reports.
type Reason string

// Disconnect reasons, as the Node server reports them (github.com/socketio/socket.io-protocol).
const (
	ReasonTransportError            Reason = "transport error"
	ReasonTransportClose            Reason = "transport close"
	ReasonForcedClose               Reason = "forced close"
	ReasonPingTimeout               Reason = "ping timeout"
	ReasonParseError                Reason = "parse error"
	ReasonServerShuttingDown        Reason = "server shutting down"
	ReasonForcedServerClose         Reason = "forced server close"
	ReasonClientNamespaceDisconnect Reason = "client namespace disconnect"
	ReasonServerNamespaceDisconnect Reason = "server namespace disconnect"
)

// Room names a set of sockets in one namespace; every socket is in the room
// named by its own id.
type Room = adapter.Room

// SocketID is a socket's id in its namespace.
type SocketID = adapter.SocketID

// Handshake is what a socket's client sent when it connected.
type Handshake = adapter.Handshake

// Errors returned by the library.
var (
	// ErrReservedEvent: the event name is reserved by the protocol (connect,
	// connect_error, disconnect, disconnecting, newListener, removeListener).
	ErrReservedEvent = errors.New("socketio: reserved event name")
	// ErrDisconnected: the socket left its namespace before the operation
	// completed (for example, before the client acknowledged an emit).
	ErrDisconnected = errors.New("socketio: socket disconnected")
	// ErrTimeout: the client did not acknowledge in time.
	ErrTimeout = errors.New("socketio: operation has timed out")
	// ErrAckTwice: an acknowledgement callback was called more than once.
	ErrAckTwice = errors.New("socketio: ack already sent")
)

// ConnectError refuses a namespace connection from a middleware: the client
// gets connect_error with Message, and Data when it is not nil.
type ConnectError struct {
	Message string
	Data    any
}

func (e *ConnectError) Error() string { return e.Message }

func reasonOf(r engine.Reason) Reason { return Reason(r) }
