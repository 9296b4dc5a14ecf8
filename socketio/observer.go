package socketio

import (
	"slices"
	"sync/atomic"
)

// Observer is told about a server's sockets as they connect, change rooms,
// exchange events, change transport and leave, and about namespaces as they
// are created: what instrumentation such as the Admin UI (package
// socketio/admin) needs. Nil fields are skipped.
//
// The functions run synchronously on the goroutine making the change
// (usually the connection's read goroutine), never while the server holds
// one of its locks; they must be quick and must not block.
type Observer struct {
	// NamespaceCreated runs once for every namespace created after the
	// observer was registered (Server.Namespaces lists the earlier ones).
	NamespaceCreated func(n *Namespace)
	// SocketConnected runs when a socket has joined its namespace (and
	// its own room), before the namespace's connection handlers.
	SocketConnected func(s *Socket)
	// SocketDisconnected runs once a socket has left its namespace and
	// its rooms (after RoomLeft for each of them).
	SocketDisconnected func(s *Socket, reason Reason)
	// RoomJoined and RoomLeft run when a socket enters a room it was not
	// in, and leaves a room it was in: its own room on connect and
	// disconnect included, whoever asked (the socket's handlers, a
	// broadcast operator, another node of the cluster).
	RoomJoined func(s *Socket, room Room)
	RoomLeft   func(s *Socket, room Room)
	// EventReceived runs for every event a client sends, before the
	// socket's handlers; EventSent for every event sent to one socket
	// with Socket.Emit or Socket.EmitAck (not for broadcasts, as Node's
	// onAnyOutgoing). args must not be modified.
	EventReceived func(s *Socket, event string, args []any)
	EventSent     func(s *Socket, event string, args []any)
	// TransportUpgraded runs when a connection moved from polling to
	// websocket, once for each of its sockets.
	TransportUpgraded func(s *Socket)
	// DataChanged runs after Socket.SetData, with the new value.
	DataChanged func(s *Socket, data any)
}

// observers is the copy-on-write list of a server's observers.
type observers struct {
	list atomic.Pointer[[]*Observer]
}

func (o *observers) load() []*Observer {
	if p := o.list.Load(); p != nil {
		return *p
	}
	return nil
}

// Observe registers o; the returned function removes it again.
func (s *Server) Observe(o *Observer) (remove func()) {
	for {
		old := s.observers.list.Load()
		var cur []*Observer
		if old != nil {
			cur = *old
		}
		next := append(cur[:len(cur):len(cur)], o)
		if s.observers.list.CompareAndSwap(old, &next) {
			break
		}
	}
	return func() {
		for {
			old := s.observers.list.Load()
			if old == nil {
				return
			}
			i := slices.Index(*old, o)
			if i < 0 {
				return
			}
			next := slices.Delete(slices.Clone(*old), i, i+1)
			if s.observers.list.CompareAndSwap(old, &next) {
				return
			}
		}
	}
}

func (s *Server) observing() bool { return len(s.observers.load()) > 0 }

func (s *Server) notifyNamespace(n *Namespace) {
	for _, o := range s.observers.load() {
		if o.NamespaceCreated != nil {
			o.NamespaceCreated(n)
		}
	}
}

func (s *Socket) notifyConnected() {
	for _, o := range s.nsp.srv.observers.load() {
		if o.SocketConnected != nil {
			o.SocketConnected(s)
		}
	}
}

func (s *Socket) notifyDisconnected(reason Reason) {
	for _, o := range s.nsp.srv.observers.load() {
		if o.SocketDisconnected != nil {
			o.SocketDisconnected(s, reason)
		}
	}
}

func (s *Socket) notifyRooms(joined bool, rooms []Room) {
	if len(rooms) == 0 {
		return
	}
	for _, o := range s.nsp.srv.observers.load() {
		fn := o.RoomLeft
		if joined {
			fn = o.RoomJoined
		}
		if fn == nil {
			continue
		}
		for _, r := range rooms {
			fn(s, r)
		}
	}
}

func (s *Socket) notifyEvent(sent bool, event string, args []any) {
	for _, o := range s.nsp.srv.observers.load() {
		fn := o.EventReceived
		if sent {
			fn = o.EventSent
		}
		if fn != nil {
			fn(s, event, args)
		}
	}
}

func (s *Socket) notifyData(data any) {
	for _, o := range s.nsp.srv.observers.load() {
		if o.DataChanged != nil {
			o.DataChanged(s, data)
		}
	}
}

func (s *Socket) notifyUpgraded() {
	for _, o := range s.nsp.srv.observers.load() {
		if o.TransportUpgraded != nil {
			o.TransportUpgraded(s)
		}
	}
}
