// Package adapter owns room membership and fan-out for one namespace.
//
// The socketio package creates one Adapter per namespace through a Factory and
// implements the small call-up interfaces Namespace and Socket, so an adapter
// that receives a broadcast from another node (Redis) can deliver it to local
// sockets without importing socketio. Every adapter must pass the suite in
// adapter/adaptertest.
package adapter

import (
	"context"
	"errors"
	"time"

	"github.com/caddy-socketio/caddy-socketio/socketio/parser"
)

// Room names a set of sockets inside one namespace. Every socket is also in
// the room named by its own id.
type Room string

// SocketID is a Socket.IO socket id (20 characters, unique per namespace
// connection).
type SocketID string

// Flags modify a broadcast.
type Flags struct {
	// Volatile packets are dropped for recipients whose send queue is full,
	// instead of disconnecting them.
	Volatile bool `json:"volatile,omitempty"`
	// Local broadcasts reach only this node's sockets.
	Local bool `json:"local,omitempty"`
	// Timeout bounds a broadcast with acknowledgements (cluster requests).
	Timeout time.Duration `json:"-"`
}

// BroadcastOptions select the recipients of a broadcast or of a selection
// operation (fetch, join, leave, disconnect).
type BroadcastOptions struct {
	// Rooms: sockets in any of these rooms; empty means every socket.
	Rooms []Room
	// Except: sockets in any of these rooms are left out.
	Except []Room
	Flags  Flags
}

// Handshake is the socket handshake as the Node server exposes it
// (socket.handshake); it crosses node boundaries in fetch-sockets answers and
// is sent to webhooks, so its JSON shape follows Node's.
type Handshake struct {
	// Headers of the handshake request, lower-case names, repeated values joined by ", ".
	Headers map[string]string `json:"headers"`
	// Time of the handshake as a string (Date.toString in Node; RFC 1123 here).
	Time string `json:"time"`
	// Address is the client's IP address.
	Address string `json:"address"`
	// XDomain is true when the request carried an Origin header.
	XDomain bool `json:"xdomain"`
	// Secure is true when the connection used TLS.
	Secure bool `json:"secure"`
	// Issued is the handshake time in milliseconds since the Unix epoch.
	Issued int64 `json:"issued"`
	// URL is the request URI of the handshake.
	URL string `json:"url"`
	// Query holds the handshake query parameters (first value of each).
	Query map[string]string `json:"query"`
	// Auth is the CONNECT payload of this namespace ({} when none).
	Auth map[string]any `json:"auth"`
}

// SocketInfo describes a socket anywhere in the cluster.
type SocketInfo struct {
	ID        SocketID   `json:"id"`
	Handshake *Handshake `json:"handshake"`
	Rooms     []Room     `json:"rooms"`
	Data      any        `json:"data"`
}

// Socket is the adapter's view of one local socket, implemented by
// socketio.Socket. Its methods may be called from any goroutine and must not
// block on network I/O.
type Socket interface {
	ID() SocketID
	// Deliver queues a broadcast packet on the socket's connection, in the
	// parser that connection speaks: p encodes itself once per parser, on
	// first use, and the bytes are shared by every recipient of that
	// parser. When the connection's send queue is full, a volatile packet
	// is dropped and a non-volatile one closes that connection.
	Deliver(p *parser.Encoded, volatile bool)
	// ExpectAck registers fn for the client's ACK carrying id.
	ExpectAck(id uint64, fn func(args []any))
	// Join and Leave change the socket's rooms (through the adapter).
	// Join may refuse (a per-socket room limit): it then joins none of
	// rooms and returns an error.
	Join(rooms ...Room) error
	Leave(room Room)
	// Disconnect disconnects the socket from its namespace, and closes its
	// whole connection when close is true.
	Disconnect(close bool)
	// Info describes the socket for fetch-sockets answers.
	Info() SocketInfo
}

// Namespace is the adapter's view of the namespace it serves, implemented by
// socketio.Namespace.
type Namespace interface {
	Name() string
	// HandleServerSideEmit is called for an event another node emitted to
	// the servers of this namespace; ack is nil when no answer is expected.
	HandleServerSideEmit(args []any, ack func(args []any))
}

// Adapter stores one namespace's room membership and delivers broadcasts.
// Membership calls (AddAll, Del, DelAll) and queries about local sockets are
// called from connection goroutines and must be cheap and non-blocking.
// Methods taking a context may talk to other nodes; they return ctx.Err() or
// ErrTimeout when nodes do not answer in time, with what was collected so far.
type Adapter interface {
	// AddAll adds a local socket to rooms.
	AddAll(s Socket, rooms []Room)
	// Del removes a local socket from one room.
	Del(id SocketID, room Room)
	// DelAll removes a local socket from every room (on disconnect).
	DelAll(id SocketID)
	// SocketRooms lists the rooms of a local socket (nil if unknown).
	SocketRooms(id SocketID) []Room
	// LocalRooms returns this node's rooms with their local member counts.
	LocalRooms() map[Room]int

	// Broadcast delivers p to every selected socket once, encoded once per
	// parser its recipients speak (parser.Encoded). If p cannot be encoded
	// no recipient of that parser receives it and the error is returned.
	Broadcast(p *parser.Packet, opts BroadcastOptions) error
	// BroadcastWithAck is Broadcast for a packet whose ID is set: every
	// recipient expects an ACK with that id. clientCount is called once per
	// node with the number of sockets that node delivered to and their ids
	// (nil when the node did not say: a Node.js server); ack is called with
	// each client's socket id ("" when unknown) and all its ACK arguments
	// (only the first from a Node.js server, which forwards no more).
	BroadcastWithAck(p *parser.Packet, opts BroadcastOptions, clientCount func(n int, ids []SocketID), ack func(from SocketID, args []any)) error
	// ServerCount is the number of nodes serving this namespace (1 alone).
	ServerCount(ctx context.Context) (int, error)

	// FetchSockets describes the selected sockets of every node.
	FetchSockets(ctx context.Context, opts BroadcastOptions) ([]SocketInfo, error)
	// AddSockets makes the selected sockets of every node join rooms.
	AddSockets(opts BroadcastOptions, rooms []Room) error
	// DelSockets makes the selected sockets of every node leave rooms.
	DelSockets(opts BroadcastOptions, rooms []Room) error
	// DisconnectSockets disconnects the selected sockets of every node.
	DisconnectSockets(opts BroadcastOptions, close bool) error
	// AllRooms lists the rooms of every node.
	AllRooms(ctx context.Context) ([]Room, error)
	// ServerSideEmit sends an event to the other nodes' namespace; with a
	// non-nil ack, each node's answer is passed to it (the first argument of
	// its reply, as the Node adapter does).
	ServerSideEmit(args []any, ack func(args []any)) error

	// Close releases the adapter's resources.
	Close() error
}

// Factory creates the adapter of one namespace.
type Factory func(nsp Namespace) (Adapter, error)

// ErrTimeout reports that some nodes did not answer a request in time.
var ErrTimeout = errors.New("adapter: operation has timed out")
