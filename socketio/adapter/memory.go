package adapter

import (
	"context"
	"hash/maphash"
	"sync"

	"github.com/caddy-socketio/caddy-socketio/socketio/parser"
)

// shardCount spreads room and socket indexes over independent locks so that
// joins, leaves and broadcasts on different rooms do not contend.
const shardCount = 32

var seed = maphash.MakeSeed()

func shardOf(s string) int { return int(maphash.String(seed, s) % shardCount) }

type roomShard struct {
	mu    sync.RWMutex
	rooms map[Room]map[SocketID]Socket
}

type member struct {
	sock  Socket
	rooms map[Room]struct{}
}

type sidShard struct {
	mu   sync.RWMutex
	sids map[SocketID]*member
}

// Memory is the single-node adapter: room membership in sharded maps, both
// room → sockets and socket → rooms, so leaving every room on disconnect
// costs one lookup per room.
//
// Lock order: a socket's sid shard, then room shards. Broadcasts take one
// shard lock at a time, in read mode, and never while delivering.
type Memory struct {
	nsp   Namespace
	rooms [shardCount]roomShard
	sids  [shardCount]sidShard
}

// NewMemory is the Factory of the in-memory adapter.
func NewMemory(nsp Namespace) (Adapter, error) {
	m := &Memory{nsp: nsp}
	for i := range m.rooms {
		m.rooms[i].rooms = make(map[Room]map[SocketID]Socket)
		m.sids[i].sids = make(map[SocketID]*member)
	}
	return m, nil
}

// AddAll implements Adapter.
func (m *Memory) AddAll(s Socket, rooms []Room) {
	id := s.ID()
	ss := &m.sids[shardOf(string(id))]
	ss.mu.Lock()
	defer ss.mu.Unlock()
	mem := ss.sids[id]
	if mem == nil {
		mem = &member{sock: s, rooms: make(map[Room]struct{}, len(rooms))}
		ss.sids[id] = mem
	}
	for _, room := range rooms {
		if _, ok := mem.rooms[room]; ok {
			continue
		}
		mem.rooms[room] = struct{}{}
		rs := &m.rooms[shardOf(string(room))]
		rs.mu.Lock()
		set := rs.rooms[room]
		if set == nil {
			set = make(map[SocketID]Socket)
			rs.rooms[room] = set
		}
		set[id] = s
		rs.mu.Unlock()
	}
}

// Del implements Adapter.
func (m *Memory) Del(id SocketID, room Room) {
	ss := &m.sids[shardOf(string(id))]
	ss.mu.Lock()
	defer ss.mu.Unlock()
	mem := ss.sids[id]
	if mem == nil {
		return
	}
	if _, ok := mem.rooms[room]; !ok {
		return
	}
	delete(mem.rooms, room)
	m.delFromRoom(id, room)
}

// DelAll implements Adapter.
func (m *Memory) DelAll(id SocketID) {
	ss := &m.sids[shardOf(string(id))]
	ss.mu.Lock()
	defer ss.mu.Unlock()
	mem := ss.sids[id]
	if mem == nil {
		return
	}
	delete(ss.sids, id)
	for room := range mem.rooms {
		m.delFromRoom(id, room)
	}
}

func (m *Memory) delFromRoom(id SocketID, room Room) {
	rs := &m.rooms[shardOf(string(room))]
	rs.mu.Lock()
	if set := rs.rooms[room]; set != nil {
		delete(set, id)
		if len(set) == 0 {
			delete(rs.rooms, room)
		}
	}
	rs.mu.Unlock()
}

// SocketRooms implements Adapter.
func (m *Memory) SocketRooms(id SocketID) []Room {
	ss := &m.sids[shardOf(string(id))]
	ss.mu.RLock()
	defer ss.mu.RUnlock()
	mem := ss.sids[id]
	if mem == nil {
		return nil
	}
	rooms := make([]Room, 0, len(mem.rooms))
	for r := range mem.rooms {
		rooms = append(rooms, r)
	}
	return rooms
}

// LocalRooms implements Adapter.
func (m *Memory) LocalRooms() map[Room]int {
	out := make(map[Room]int)
	for i := range m.rooms {
		rs := &m.rooms[i]
		rs.mu.RLock()
		for r, set := range rs.rooms {
			out[r] = len(set)
		}
		rs.mu.RUnlock()
	}
	return out
}

// recipients pools the slices that carry a broadcast's recipients from under
// the shard locks to the delivery loop, so a broadcast allocates nothing per
// recipient once warm.
var recipients = sync.Pool{New: func() any { s := make([]Socket, 0, 256); return &s }}

var idSets = sync.Pool{New: func() any { return make(map[SocketID]struct{}) }}

// Select appends to dst every local socket selected by opts, each once.
func (m *Memory) Select(dst []Socket, opts *BroadcastOptions) []Socket {
	var except map[SocketID]struct{}
	if len(opts.Except) > 0 {
		except = idSets.Get().(map[SocketID]struct{})
		defer func() { clear(except); idSets.Put(except) }()
		for _, room := range opts.Except {
			rs := &m.rooms[shardOf(string(room))]
			rs.mu.RLock()
			for id := range rs.rooms[room] {
				except[id] = struct{}{}
			}
			rs.mu.RUnlock()
		}
	}
	switch len(opts.Rooms) {
	case 0:
		for i := range m.sids {
			ss := &m.sids[i]
			ss.mu.RLock()
			for id, mem := range ss.sids {
				if _, skip := except[id]; !skip {
					dst = append(dst, mem.sock)
				}
			}
			ss.mu.RUnlock()
		}
	case 1:
		room := opts.Rooms[0]
		rs := &m.rooms[shardOf(string(room))]
		rs.mu.RLock()
		for id, s := range rs.rooms[room] {
			if _, skip := except[id]; !skip {
				dst = append(dst, s)
			}
		}
		rs.mu.RUnlock()
	default:
		// A socket in several selected rooms receives the packet once.
		seen := idSets.Get().(map[SocketID]struct{})
		defer func() { clear(seen); idSets.Put(seen) }()
		for _, room := range opts.Rooms {
			rs := &m.rooms[shardOf(string(room))]
			rs.mu.RLock()
			for id, s := range rs.rooms[room] {
				if _, skip := except[id]; skip {
					continue
				}
				if _, dup := seen[id]; dup {
					continue
				}
				seen[id] = struct{}{}
				dst = append(dst, s)
			}
			rs.mu.RUnlock()
		}
	}
	return dst
}

// apply runs fn for every selected local socket, outside any lock.
func (m *Memory) apply(opts *BroadcastOptions, fn func(Socket)) int {
	bp := recipients.Get().(*[]Socket)
	list := m.Select((*bp)[:0], opts)
	for _, s := range list {
		fn(s)
	}
	n := len(list)
	clear(list)
	*bp = list[:0]
	recipients.Put(bp)
	return n
}

// Broadcast implements Adapter.
func (m *Memory) Broadcast(p *parser.Packet, opts BroadcastOptions) error {
	text, atts, err := parser.Encode(p)
	if err != nil {
		return err
	}
	m.apply(&opts, func(s Socket) { s.Deliver(text, atts, opts.Flags.Volatile) })
	return nil
}

// BroadcastWithAck implements Adapter.
func (m *Memory) BroadcastWithAck(p *parser.Packet, opts BroadcastOptions, clientCount func(int), ack func([]any)) error {
	text, atts, err := parser.Encode(p)
	if err != nil {
		return err
	}
	n := m.apply(&opts, func(s Socket) {
		s.ExpectAck(p.ID, ack)
		s.Deliver(text, atts, opts.Flags.Volatile)
	})
	clientCount(n)
	return nil
}

// ServerCount implements Adapter: a memory adapter is alone.
func (m *Memory) ServerCount(context.Context) (int, error) { return 1, nil }

// FetchSockets implements Adapter.
func (m *Memory) FetchSockets(_ context.Context, opts BroadcastOptions) ([]SocketInfo, error) {
	var out []SocketInfo
	m.apply(&opts, func(s Socket) { out = append(out, s.Info()) })
	return out, nil
}

// AddSockets implements Adapter.
func (m *Memory) AddSockets(opts BroadcastOptions, rooms []Room) error {
	m.apply(&opts, func(s Socket) { _ = s.Join(rooms...) }) // a refusal is the socket's to log
	return nil
}

// DelSockets implements Adapter.
func (m *Memory) DelSockets(opts BroadcastOptions, rooms []Room) error {
	m.apply(&opts, func(s Socket) {
		for _, r := range rooms {
			s.Leave(r)
		}
	})
	return nil
}

// DisconnectSockets implements Adapter.
func (m *Memory) DisconnectSockets(opts BroadcastOptions, close bool) error {
	m.apply(&opts, func(s Socket) { s.Disconnect(close) })
	return nil
}

// AllRooms implements Adapter.
func (m *Memory) AllRooms(context.Context) ([]Room, error) {
	local := m.LocalRooms()
	out := make([]Room, 0, len(local))
	for r := range local {
		out = append(out, r)
	}
	return out, nil
}

// ServerSideEmit implements Adapter: there are no other nodes to reach.
func (m *Memory) ServerSideEmit([]any, func([]any)) error { return nil }

// Close implements Adapter.
func (m *Memory) Close() error { return nil }

var _ Adapter = (*Memory)(nil)
