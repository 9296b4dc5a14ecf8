package socketio

import (
	"errors"
	"sync/atomic"
	"time"
)

// Limits bound what one client can make the server hold or do. Each hit is
// counted (Server.LimitStats) and logged at Warn level once per connection
// or socket, with its sid or socket id. Zero fields take the defaults given
// on each field; a negative value turns a limit off. Server.SetLimits
// changes them on a live server.
//
// Engine.IO limits (connections, payload size, send queue) are in
// engine.Config: MaxConnections, MaxPayload, SendQueueLen/SendQueueBytes.
type Limits struct {
	// MaxNamespaces: the most namespaces one connection may join at once.
	// A CONNECT beyond it gets CONNECT_ERROR {"message":"Too many
	// namespaces"}; the connection and its other sockets stay. Default 32.
	MaxNamespaces int
	// MaxRoomsPerSocket: the most rooms a socket may be in, its own room
	// included. A join that would exceed it joins none of its rooms:
	// Socket.Join returns ErrTooManyRooms, SocketsJoin (the HTTP API, hook
	// replies, other nodes) skips that socket. Default 256.
	MaxRoomsPerSocket int
	// MaxAttachments: the most binary attachments one packet may announce.
	// A packet announcing more closes its connection (every socket on it
	// sees "forced close"), as any undecodable packet does. Default 10.
	MaxAttachments int
	// EventRate: events per second one socket may send, on average, with
	// bursts of up to EventBurst (a token bucket; acks to the server's own
	// emits are not counted). A socket that goes over is disconnected: the
	// client gets a DISCONNECT packet ("io server disconnect", no automatic
	// reconnection) and the server's handlers see ReasonRateLimited.
	// Default 0: no limit.
	EventRate float64
	// EventBurst: the bucket size for EventRate. Default: EventRate
	// rounded up, at least 1.
	EventBurst int
	// MaxDynamicNamespaces: the most child namespaces (created by a
	// ParentNamespace) alive at once in the server. A CONNECT that would
	// create one more gets CONNECT_ERROR {"message":"Too many dynamic
	// namespaces"}; namespaces that exist are joined as usual. Children of
	// a parent told KeepEmptyChildren are not counted. Default 10000.
	MaxDynamicNamespaces int
	// NamespaceConnectRate: CONNECT packets per second one connection may
	// send, on average, with bursts of up to NamespaceConnectBurst (a token
	// bucket). A CONNECT over it gets CONNECT_ERROR {"message":"Too many
	// namespace connects"} before any namespace is looked up or middleware
	// runs; the connection and its sockets stay. Default 10 per second.
	NamespaceConnectRate float64
	// MaxConnectBytes: the largest CONNECT packet (its auth payload, which
	// the socket keeps in its handshake for its whole life). A larger one
	// gets CONNECT_ERROR {"message":"Connect payload too large"}; the
	// connection stays. Default 16 KiB.
	MaxConnectBytes int
	// NamespaceConnectBurst: the bucket size for NamespaceConnectRate.
	// Default 32 (MaxNamespaces' default: a client may join all its
	// namespaces at once).
	NamespaceConnectBurst int
	// MaxDecodedBytes: the most memory, estimated by parser.DecodedSize
	// before decoding (the text plus 48 bytes per JSON value), that the
	// decoded arguments of one event or ack may take. Arguments stay JSON
	// text until a handler needs their values (On, OnAny, RawEvent.Decode);
	// connections deliver one event at a time, so this bounds what one
	// connection can make the server hold in decoded arguments. An event
	// over it is not decoded: its socket is disconnected as for EventRate,
	// with ReasonDecodeLimit, and RawEvent.Decode returns ErrDecodeLimit.
	// Default 16 MiB (a 1 MB event of small numbers needs about 25 MiB).
	MaxDecodedBytes int
	// MaxDecodedBytesTotal: the same bound for all connections of the
	// server together, counting the events being handled at once. Default
	// 128 MiB.
	MaxDecodedBytesTotal int
}

// Limit defaults.
const (
	DefaultMaxNamespaces     = 32
	DefaultMaxRoomsPerSocket = 256
	DefaultMaxAttachments    = 10

	DefaultMaxDynamicNamespaces  = 10000
	DefaultNamespaceConnectRate  = 10
	DefaultNamespaceConnectBurst = 32
	DefaultMaxConnectBytes       = 16 << 10

	DefaultMaxDecodedBytes      = 16 << 20
	DefaultMaxDecodedBytesTotal = 128 << 20
)

// ReasonDecodeLimit: the socket sent an event whose decoded arguments would
// exceed Limits.MaxDecodedBytes or MaxDecodedBytesTotal. Not a reason the
// Node server has; the client sees "io server disconnect".
const ReasonDecodeLimit Reason = "decoded size limit exceeded"

// ErrDecodeLimit: RawEvent.Decode refused to decode arguments over
// Limits.MaxDecodedBytes or MaxDecodedBytesTotal; the socket was
// disconnected.
var ErrDecodeLimit = errors.New("socketio: decoded arguments over the limit")

// ReasonRateLimited: the socket sent events faster than Limits.EventRate.
// Not a reason the Node server has; the client sees "io server disconnect".
const ReasonRateLimited Reason = "rate limit exceeded"

// ErrTooManyRooms: Socket.Join would put the socket in more rooms than
// Limits.MaxRoomsPerSocket.
var ErrTooManyRooms = errors.New("socketio: too many rooms for one socket")

// LimitStats count the hits of each limit since the server started.
type LimitStats struct {
	Namespaces  uint64 // CONNECTs refused by MaxNamespaces
	Rooms       uint64 // Joins refused by MaxRoomsPerSocket
	Attachments uint64 // packets refused by MaxAttachments
	EventRate   uint64 // sockets disconnected by EventRate
	Decoded     uint64 // sockets disconnected by MaxDecodedBytes(Total)
	// CONNECTs refused by MaxDynamicNamespaces
	DynamicNamespaces uint64
	// CONNECTs refused by NamespaceConnectRate
	NamespaceConnectRate uint64
	// CONNECTs refused by MaxConnectBytes
	ConnectBytes uint64
}

type limitCounters struct {
	namespaces, rooms, attachments, eventRate, decoded atomic.Uint64
	dynamicNamespaces, nspConnectRate                  atomic.Uint64
	connectBytes                                       atomic.Uint64
}

// resolve applies the defaults; off limits become 0 (none).
func (l Limits) resolve() Limits {
	def := func(v, d int) int {
		switch {
		case v == 0:
			return d
		case v < 0:
			return 0
		}
		return v
	}
	l.MaxNamespaces = def(l.MaxNamespaces, DefaultMaxNamespaces)
	l.MaxRoomsPerSocket = def(l.MaxRoomsPerSocket, DefaultMaxRoomsPerSocket)
	l.MaxAttachments = def(l.MaxAttachments, DefaultMaxAttachments)
	l.MaxDecodedBytes = def(l.MaxDecodedBytes, DefaultMaxDecodedBytes)
	l.MaxDecodedBytesTotal = def(l.MaxDecodedBytesTotal, DefaultMaxDecodedBytesTotal)
	if l.EventRate <= 0 {
		l.EventRate, l.EventBurst = 0, 0
	} else if l.EventBurst <= 0 {
		l.EventBurst = max(1, int(l.EventRate+0.999))
	}
	l.MaxDynamicNamespaces = def(l.MaxDynamicNamespaces, DefaultMaxDynamicNamespaces)
	l.MaxConnectBytes = def(l.MaxConnectBytes, DefaultMaxConnectBytes)
	switch {
	case l.NamespaceConnectRate < 0:
		l.NamespaceConnectRate, l.NamespaceConnectBurst = 0, 0
	case l.NamespaceConnectRate == 0:
		l.NamespaceConnectRate = DefaultNamespaceConnectRate
		if l.NamespaceConnectBurst <= 0 {
			l.NamespaceConnectBurst = DefaultNamespaceConnectBurst
		}
	case l.NamespaceConnectBurst <= 0:
		l.NamespaceConnectBurst = max(DefaultNamespaceConnectBurst, int(l.NamespaceConnectRate+0.999))
	}
	return l
}

// SetLimits replaces the limits (defaults applied). Sockets already in more
// rooms or namespaces than a lowered limit keep them; the limit applies to
// their next join. Event rate buckets start over at the new rate.
func (s *Server) SetLimits(l Limits) {
	r := l.resolve()
	s.limits.Store(&r)
}

// Limits returns the limits in force, defaults applied.
func (s *Server) Limits() Limits { return *s.limits.Load() }

// LimitStats returns how often each limit was hit.
func (s *Server) LimitStats() LimitStats {
	c := &s.limitHits
	return LimitStats{
		Namespaces: c.namespaces.Load(), Rooms: c.rooms.Load(),
		Attachments: c.attachments.Load(), EventRate: c.eventRate.Load(),
		DynamicNamespaces: c.dynamicNamespaces.Load(), NamespaceConnectRate: c.nspConnectRate.Load(),
		ConnectBytes: c.connectBytes.Load(), Decoded: c.decoded.Load(),
	}
}

// UnhandledEvents is how many events the server dropped without decoding
// them because no handler of their socket wanted them (no On or OnRaw
// handler for the name, no OnAny, and every OnAnyRaw handler declined).
func (s *Server) UnhandledEvents() uint64 { return s.unhandled.Load() }

// Which limits a connection or socket has logged already (a bit each).
const (
	loggedNamespaces uint32 = 1 << iota
	loggedRooms
	loggedDynamic
	loggedNspRate
	loggedConnectBytes
	loggedDecoded
)

// firstHit sets bit in *logged and reports whether it was clear.
func firstHit(logged *atomic.Uint32, bit uint32) bool {
	return logged.Or(bit)&bit == 0
}

// rateBucket is a socket's token bucket for Limits.EventRate. Only the
// connection's message callbacks touch it, and the engine never runs them
// concurrently, so it needs no lock.
type rateBucket struct {
	limits *Limits // the limits the bucket was filled for
	tokens float64
	last   time.Time
}

// take spends one token of a bucket refilled at rate up to burst, the
// values of l; false when the bucket is empty.
func (b *rateBucket) take(rate float64, burst int, l *Limits, now time.Time) bool {
	if b.limits != l { // first event, or the limits changed
		b.limits, b.tokens, b.last = l, float64(burst), now
	}
	b.tokens += now.Sub(b.last).Seconds() * rate
	b.last = now
	if b.tokens > float64(burst) {
		b.tokens = float64(burst)
	}
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
