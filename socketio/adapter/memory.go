package adapter

import (
	"bytes"
	"context"
	"hash/maphash"
	"strconv"
	"sync"
	"time"

	"github.com/caddy-socketio/caddy-socketio/socketio/parser"
)

// shardCount spreads room and socket indexes over independent locks so that
// joins, leaves and broadcasts on different rooms do not contend.
const shardCount = 32

var seed = maphash.MakeSeed()

func shardOf(s string) int { return int(maphash.String(seed, s) % shardCount) }

type roomShard struct {
	mu    sync.RWMutex
	rooms map[Room]roomSet
}

// roomSet is the sockets of one room. Most rooms hold a single socket (every
// socket is in the room named by its ID), so one member is kept inline and a
// map is only made for a second one: an idle connection then costs a map
// slot instead of a map.
type roomSet struct {
	id   SocketID
	sock Socket              // the only member, when m is nil
	m    map[SocketID]Socket // every member, once there were two
}

func (r *roomSet) len() int {
	if r.m != nil {
		return len(r.m)
	}
	if r.sock != nil {
		return 1
	}
	return 0
}

func (r *roomSet) add(id SocketID, s Socket) {
	switch {
	case r.m != nil:
		r.m[id] = s
	case r.sock == nil || r.id == id:
		r.id, r.sock = id, s
	default:
		r.m = map[SocketID]Socket{r.id: r.sock, id: s}
		r.id, r.sock = "", nil
	}
}

func (r *roomSet) del(id SocketID) {
	if r.m != nil {
		delete(r.m, id)
	} else if r.sock != nil && r.id == id {
		r.id, r.sock = "", nil
	}
}

// addIDs adds the IDs of the members to set.
func (r *roomSet) addIDs(set map[SocketID]struct{}) {
	if r.m == nil {
		if r.sock != nil {
			set[r.id] = struct{}{}
		}
		return
	}
	for id := range r.m {
		set[id] = struct{}{}
	}
}

// member is one socket and its rooms: a short slice while it is in few
// rooms, a map beyond.
type member struct {
	sock  Socket
	rooms []Room
	many  map[Room]struct{} // instead of rooms, beyond memberRoomsMax
}

const memberRoomsMax = 8

func (m *member) has(room Room) bool {
	if m.many != nil {
		_, ok := m.many[room]
		return ok
	}
	for _, r := range m.rooms {
		if r == room {
			return true
		}
	}
	return false
}

func (m *member) add(room Room) {
	if m.many != nil {
		m.many[room] = struct{}{}
		return
	}
	if len(m.rooms) < memberRoomsMax {
		m.rooms = append(m.rooms, room)
		return
	}
	m.many = make(map[Room]struct{}, 2*memberRoomsMax)
	for _, r := range m.rooms {
		m.many[r] = struct{}{}
	}
	m.many[room] = struct{}{}
	m.rooms = nil
}

func (m *member) del(room Room) {
	if m.many != nil {
		delete(m.many, room)
		return
	}
	for i, r := range m.rooms {
		if r == room {
			last := len(m.rooms) - 1
			m.rooms[i] = m.rooms[last]
			m.rooms[last] = ""
			m.rooms = m.rooms[:last]
			return
		}
	}
}

// list appends the member's rooms to dst.
func (m *member) list(dst []Room) []Room {
	if m.many == nil {
		return append(dst, m.rooms...)
	}
	for r := range m.many {
		dst = append(dst, r)
	}
	return dst
}

func (m *member) count() int {
	if m.many != nil {
		return len(m.many)
	}
	return len(m.rooms)
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
	rec   *recoveryBuffer // nil unless EnableRecovery was called
	rooms [shardCount]roomShard
	sids  [shardCount]sidShard
}

// NewMemory is the Factory of the in-memory adapter.
func NewMemory(nsp Namespace) (Adapter, error) {
	m := &Memory{nsp: nsp}
	for i := range m.rooms {
		m.rooms[i].rooms = make(map[Room]roomSet)
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
		mem = &member{sock: s}
		if len(rooms) <= memberRoomsMax {
			mem.rooms = make([]Room, 0, len(rooms))
		}
		ss.sids[id] = mem
	}
	for _, room := range rooms {
		if mem.has(room) {
			continue
		}
		mem.add(room)
		rs := &m.rooms[shardOf(string(room))]
		rs.mu.Lock()
		set := rs.rooms[room]
		set.add(id, s)
		rs.rooms[room] = set
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
	if !mem.has(room) {
		return
	}
	mem.del(room)
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
	var buf [memberRoomsMax]Room
	for _, room := range mem.list(buf[:0]) {
		m.delFromRoom(id, room)
	}
}

func (m *Memory) delFromRoom(id SocketID, room Room) {
	rs := &m.rooms[shardOf(string(room))]
	rs.mu.Lock()
	if set, ok := rs.rooms[room]; ok {
		set.del(id)
		if set.len() == 0 {
			delete(rs.rooms, room)
		} else {
			rs.rooms[room] = set
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
	return mem.list(make([]Room, 0, mem.count()))
}

// LocalRooms implements Adapter.
func (m *Memory) LocalRooms() map[Room]int {
	out := make(map[Room]int)
	for i := range m.rooms {
		rs := &m.rooms[i]
		rs.mu.RLock()
		for r, set := range rs.rooms {
			out[r] = set.len()
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
			set := rs.rooms[room]
			set.addIDs(except)
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
		set := rs.rooms[room]
		if set.m == nil {
			if _, skip := except[set.id]; set.sock != nil && !skip {
				dst = append(dst, set.sock)
			}
		}
		for id, s := range set.m {
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
			set := rs.rooms[room]
			add := func(id SocketID, s Socket) {
				if _, skip := except[id]; skip {
					return
				}
				if _, dup := seen[id]; dup {
					return
				}
				seen[id] = struct{}{}
				dst = append(dst, s)
			}
			if set.m == nil && set.sock != nil {
				add(set.id, set.sock)
			}
			for id, s := range set.m {
				add(id, s)
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

// Broadcast implements Adapter. With recovery enabled, an event without
// acknowledgement that is not volatile gets the next offset as its last
// argument and is buffered (the caller's packet is not modified).
func (m *Memory) Broadcast(p *parser.Packet, opts BroadcastOptions) error {
	if r := m.rec; r != nil && storable(p, &opts) {
		return m.broadcastStored(r, p, &opts)
	}
	e := parser.NewEncoded(p)
	m.apply(&opts, func(s Socket) { s.Deliver(e, opts.Flags.Volatile) })
	return e.Err()
}

func (m *Memory) broadcastStored(r *recoveryBuffer, p *parser.Packet, opts *BroadcastOptions) error {
	q := *p
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seq++
	if p.RawArgs != nil {
		// Arguments kept as the client's JSON text (a relay): the offset
		// is appended to the text, nothing is decoded.
		q.RawArgs = appendRawArg(p.RawArgs, formatOffset(r.seq))
	} else {
		data, _ := p.Data.([]any)
		d := make([]any, len(data)+1)
		copy(d, data)
		d[len(data)] = formatOffset(r.seq)
		q.Data = d
	}
	// Encoded at once for the default parser, which sizes the buffer entry;
	// a msgpack recipient encodes it once more, on first use.
	e := parser.NewEncoded(&q)
	text, atts, err := e.Default()
	if err != nil {
		r.seq--
		return err
	}
	r.pushLocked(time.Now(), opts, e, text, atts)
	m.apply(opts, func(s Socket) { s.Deliver(e, false) })
	return nil
}

// EnableRecovery implements SessionStore.
func (m *Memory) EnableRecovery(opts RecoveryOptions, onExpire func(Session)) {
	m.rec = newRecoveryBuffer(opts, onExpire)
}

// CurrentOffset implements SessionStore.
func (m *Memory) CurrentOffset() string {
	if m.rec == nil {
		return ""
	}
	m.rec.mu.Lock()
	defer m.rec.mu.Unlock()
	return formatOffset(m.rec.seq)
}

// PersistSession implements SessionStore.
func (m *Memory) PersistSession(s Session) bool {
	if m.rec == nil {
		return false
	}
	return m.rec.persist(s)
}

// TakeSession implements SessionStore.
func (m *Memory) TakeSession(pid, offset string) (Session, bool) {
	if m.rec == nil {
		return Session{}, false
	}
	return m.rec.take(pid, offset)
}

// Resume implements SessionStore.
func (m *Memory) Resume(s Session, offset string, fn func([]MissedPacket) bool) bool {
	if m.rec == nil {
		return false
	}
	return m.rec.resume(s, offset, fn)
}

// RecoveryStats implements SessionStore.
func (m *Memory) RecoveryStats() RecoveryStats {
	if m.rec == nil {
		return RecoveryStats{}
	}
	return m.rec.stats()
}

// BroadcastWithAck implements Adapter.
func (m *Memory) BroadcastWithAck(p *parser.Packet, opts BroadcastOptions, clientCount func(int, []SocketID), ack func(SocketID, []any)) error {
	e := parser.NewEncoded(p)
	var ids []SocketID
	n := m.apply(&opts, func(s Socket) {
		id := s.ID()
		ids = append(ids, id)
		s.ExpectAck(p.ID, func(args []any) { ack(id, args) })
		s.Deliver(e, opts.Flags.Volatile)
	})
	clientCount(n, ids)
	return e.Err()
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

// Close implements Adapter: kept sessions are dropped without expiry
// callbacks.
func (m *Memory) Close() error {
	if m.rec != nil {
		m.rec.close()
	}
	return nil
}

var (
	_ Adapter      = (*Memory)(nil)
	_ SessionStore = (*Memory)(nil)
)

// appendRawArg returns the JSON array text args with the string v appended
// as its last element.
func appendRawArg(args []byte, v string) []byte {
	body := bytes.TrimRight(args, " \t\r\n")
	body = bytes.TrimRight(body[:max(len(body)-1, 0)], " \t\r\n") // without "]"
	out := make([]byte, 0, len(body)+len(v)+4)
	out = append(out, body...)
	if len(body) > 0 && body[len(body)-1] != '[' {
		out = append(out, ',')
	}
	out = strconv.AppendQuote(out, v)
	return append(out, ']')
}
