package socketio

import (
	"context"

	"github.com/caddy-socketio/caddy-socketio/socketio/adapter"
	"github.com/caddy-socketio/caddy-socketio/socketio/parser"
)

// noAdapter is the adapter of a provisional child namespace, one that only
// has sockets running their middlewares (ParentNamespace): it has no rooms
// and reaches nobody, so a middleware that broadcasts or lists sockets
// before any socket was accepted sees an empty namespace.
type noAdapter struct{}

var noAdapterRef = adapterRef{a: noAdapter{}}

func (noAdapter) AddAll(adapter.Socket, []Room)                            {}
func (noAdapter) Del(SocketID, Room)                                       {}
func (noAdapter) DelAll(SocketID)                                          {}
func (noAdapter) SocketRooms(SocketID) []Room                              { return nil }
func (noAdapter) LocalRooms() map[Room]int                                 { return nil }
func (noAdapter) Broadcast(*parser.Packet, adapter.BroadcastOptions) error { return nil }
func (noAdapter) BroadcastWithAck(_ *parser.Packet, _ adapter.BroadcastOptions, clientCount func(int, []SocketID), _ func(SocketID, []any)) error {
	clientCount(0, nil)
	return nil
}
func (noAdapter) ServerCount(context.Context) (int, error) { return 1, nil }
func (noAdapter) FetchSockets(context.Context, adapter.BroadcastOptions) ([]adapter.SocketInfo, error) {
	return nil, nil
}
func (noAdapter) AddSockets(adapter.BroadcastOptions, []Room) error      { return nil }
func (noAdapter) DelSockets(adapter.BroadcastOptions, []Room) error      { return nil }
func (noAdapter) DisconnectSockets(adapter.BroadcastOptions, bool) error { return nil }
func (noAdapter) AllRooms(context.Context) ([]Room, error)               { return nil, nil }
func (noAdapter) ServerSideEmit([]any, func([]any)) error                { return nil }
func (noAdapter) Close() error                                           { return nil }

var _ adapter.Adapter = noAdapter{}
