package adapter

import (
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddy-socketio/caddy-socketio/socketio/parser"
)

// Connection state recovery (socket.io 4.6+, connectionStateRecovery): an
// adapter that implements SessionStore appends an offset to every event it
// stores, keeps the sessions of sockets that left for a recoverable reason,
// and gives a reconnecting client back its id, rooms, data and the packets
// it missed. See https://socket.io/docs/v4/connection-state-recovery.

// Default bounds of RecoveryOptions.
const (
	DefaultMaxDisconnectionDuration = 2 * time.Minute
	DefaultRecoveryMaxPackets       = 200_000
	DefaultRecoveryMaxBytes         = 64 << 20
	DefaultRecoveryMaxSessions      = 100_000
)

// RecoveryOptions bound what one namespace keeps for recovery.
type RecoveryOptions struct {
	// MaxDisconnectionDuration is how long a session is kept after its
	// socket left, and how long a packet stays in the buffer. Default 2m.
	MaxDisconnectionDuration time.Duration
	// MaxPackets bounds the packets in the buffer; the oldest go first.
	// Default 200,000 (1,600 events a second over 2 minutes).
	MaxPackets int
	// MaxBytes bounds the encoded size of the packets in the buffer
	// (text, attachments and ~100 bytes of bookkeeping each). Default
	// 64 MiB.
	MaxBytes int64
	// MaxSessions bounds the sessions kept; beyond it, a socket that
	// leaves is not kept (counted in RecoveryStats.SessionsRefused).
	// Default 100,000.
	MaxSessions int
}

// WithDefaults fills the zero fields.
func (o RecoveryOptions) WithDefaults() RecoveryOptions {
	if o.MaxDisconnectionDuration <= 0 {
		o.MaxDisconnectionDuration = DefaultMaxDisconnectionDuration
	}
	if o.MaxPackets <= 0 {
		o.MaxPackets = DefaultRecoveryMaxPackets
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = DefaultRecoveryMaxBytes
	}
	if o.MaxSessions <= 0 {
		o.MaxSessions = DefaultRecoveryMaxSessions
	}
	return o
}

// Session is what is kept of a socket that left for a recoverable reason.
type Session struct {
	SID SocketID
	// PID is the private id the client got in its CONNECT reply; only that
	// client knows it.
	PID string
	// Rooms the socket was in, besides the one named by its id.
	Rooms []Room
	Data  any
	// Since is the buffer's offset when the socket first connected: the
	// packets after it are the ones a client that never saw an offset
	// missed.
	Since string
}

// MissedPacket is one packet a recovering client did not receive: its
// default-parser encoding (which sizes it), and the packet to deliver in
// whichever parser the client speaks.
type MissedPacket struct {
	Text        []byte
	Attachments [][]byte
	Encoded     *parser.Encoded
}

// RecoveryStats counts what the buffer and the session store did.
type RecoveryStats struct {
	Sessions          int    // kept now
	BufferedPackets   int    // in the buffer now
	BufferedBytes     int64  // in the buffer now
	Restored          uint64 // sessions restored
	Expired           uint64 // sessions that ran out of time
	SessionsRefused   uint64 // sockets not kept: MaxSessions reached
	EvictedForSize    uint64 // packets dropped before their time by MaxPackets or MaxBytes
	RestoreTooOld     uint64 // recoveries refused: missed packets evicted, or more than a send queue holds
	RestoreUnknownPID uint64 // recoveries with an unknown, expired or mismatched pid
}

// SessionStore is implemented by adapters that support connection state
// recovery. The socketio package calls EnableRecovery once, before any
// socket connects.
type SessionStore interface {
	// EnableRecovery turns on offsets, the packet buffer and the session
	// store. onExpire (may be nil) runs, on a timer goroutine, for each
	// session whose time ran out without being restored.
	EnableRecovery(opts RecoveryOptions, onExpire func(Session))
	// CurrentOffset is the offset of the last buffered packet.
	CurrentOffset() string
	// PersistSession keeps the session of a socket that left; false when
	// it was not kept (MaxSessions).
	PersistSession(s Session) bool
	// TakeSession removes and returns the session of pid when it is kept,
	// unexpired, and every packet after offset is still buffered (offset ""
	// means the session's Since). A session is taken at most once.
	TakeSession(pid, offset string) (Session, bool)
	// Resume calls fn with the packets s missed after offset, in order,
	// while no stored broadcast can run: fn joins the socket's rooms and
	// queues the packets, so the client gets each missed packet once and
	// before any new one, and returns true; or it changes nothing and
	// returns false to refuse the recovery. false (fn not called, or fn
	// refused) when the packets were evicted since TakeSession.
	Resume(s Session, offset string, fn func(missed []MissedPacket) bool) bool
	// RecoveryStats describes the buffer and the store.
	RecoveryStats() RecoveryStats
}

// recoveryBuffer is the memory adapter's packet buffer and session store.
//
// mu is held across a stored broadcast's append, recipient selection and
// queueing, and across Resume, so the buffer's order is the order every
// socket receives stored packets in and a resume sits between two
// broadcasts. Queueing never blocks (Socket.Deliver), so the hold is short;
// it does serialise stored broadcasts of one namespace.
type recoveryBuffer struct {
	opts     RecoveryOptions
	onExpire func(Session)

	mu      sync.Mutex
	seq     uint64 // offset of the last packet pushed
	evicted uint64 // offset of the last packet evicted (all up to it are gone)
	pkts    []stored
	head    int
	bytes   int64

	smu      sync.Mutex
	sessions map[string]*keptSession

	restored, expired, refused, evictedSize, tooOld, unknown atomic.Uint64
}

type stored struct {
	seq    uint64
	at     time.Time
	rooms  []Room
	except []Room
	enc    *parser.Encoded
	text   []byte
	atts   [][]byte
	size   int64
}

type keptSession struct {
	s     Session
	timer *time.Timer
}

func newRecoveryBuffer(opts RecoveryOptions, onExpire func(Session)) *recoveryBuffer {
	// Offsets start at the clock so that a restarted process does not reuse
	// the offsets of the previous one.
	start := uint64(time.Now().UnixNano())
	return &recoveryBuffer{
		opts: opts.WithDefaults(), onExpire: onExpire,
		seq: start, evicted: start,
		sessions: make(map[string]*keptSession),
	}
}

func formatOffset(seq uint64) string { return strconv.FormatUint(seq, 36) }

func parseOffset(s string) (uint64, bool) {
	if s == "" || len(s) > 13 {
		return 0, false
	}
	v, err := strconv.ParseUint(s, 36, 64)
	return v, err == nil
}

// storable reports whether a broadcast is buffered, as Node's
// SessionAwareAdapter decides: events without an acknowledgement that are
// not volatile.
func storable(p *parser.Packet, opts *BroadcastOptions) bool {
	return (p.Type == parser.Event || p.Type == parser.BinaryEvent) && !p.HasID && !opts.Flags.Volatile
}

// pushLocked appends a packet; mu held.
func (r *recoveryBuffer) pushLocked(now time.Time, opts *BroadcastOptions, enc *parser.Encoded, text []byte, atts [][]byte) {
	// The entry (~100 bytes), the encoded packet, the copied room lists.
	size := int64(len(text)) + 100 + int64(16*(len(opts.Rooms)+len(opts.Except)))
	for _, a := range atts {
		size += int64(len(a))
	}
	r.pkts = append(r.pkts, stored{
		seq: r.seq, at: now,
		rooms:  append([]Room(nil), opts.Rooms...),
		except: append([]Room(nil), opts.Except...),
		enc:    enc, text: text, atts: atts, size: size,
	})
	r.bytes += size
	cutoff := now.Add(-r.opts.MaxDisconnectionDuration)
	for r.head < len(r.pkts) {
		e := &r.pkts[r.head]
		n := len(r.pkts) - r.head
		old := e.at.Before(cutoff)
		if !old && n <= r.opts.MaxPackets && r.bytes <= r.opts.MaxBytes {
			break
		}
		if !old {
			r.evictedSize.Add(1)
		}
		r.evicted = e.seq
		r.bytes -= e.size
		*e = stored{}
		r.head++
	}
	if r.head > 1024 && r.head > len(r.pkts)/2 {
		n := copy(r.pkts, r.pkts[r.head:])
		clear(r.pkts[n:])
		r.pkts = r.pkts[:n]
		r.head = 0
	}
}

// indexAfterLocked is the index of the first packet after offset seq, or
// false when packets after it were evicted or seq is not an offset of this
// buffer.
func (r *recoveryBuffer) indexAfterLocked(seq uint64) (int, bool) {
	if seq < r.evicted || seq > r.seq {
		return 0, false
	}
	// Offsets are consecutive in the buffer.
	return r.head + int(seq-r.evicted), true
}

func (r *recoveryBuffer) persist(s Session) bool {
	r.smu.Lock()
	defer r.smu.Unlock()
	if old := r.sessions[s.PID]; old != nil {
		old.timer.Stop()
		delete(r.sessions, s.PID)
	}
	if len(r.sessions) >= r.opts.MaxSessions {
		r.refused.Add(1)
		return false
	}
	k := &keptSession{s: s}
	pid := s.PID
	k.timer = time.AfterFunc(r.opts.MaxDisconnectionDuration, func() {
		r.smu.Lock()
		cur := r.sessions[pid]
		if cur == k {
			delete(r.sessions, pid)
		}
		r.smu.Unlock()
		if cur == k {
			r.expired.Add(1)
			if r.onExpire != nil {
				r.onExpire(k.s)
			}
		}
	})
	r.sessions[pid] = k
	return true
}

func (r *recoveryBuffer) take(pid, offset string) (Session, bool) {
	r.smu.Lock()
	k := r.sessions[pid]
	if k == nil || !k.timer.Stop() {
		r.smu.Unlock()
		r.unknown.Add(1)
		return Session{}, false
	}
	if offset == "" {
		offset = k.s.Since
	}
	seq, ok := parseOffset(offset)
	if ok {
		r.mu.Lock()
		_, ok = r.indexAfterLocked(seq)
		r.mu.Unlock()
	}
	if !ok {
		// The client's offset is unknown or too old: the session cannot
		// be recovered exactly, so it is dropped (Node keeps it until it
		// expires, but a fresh session is the answer either way).
		delete(r.sessions, pid)
		r.smu.Unlock()
		r.tooOld.Add(1)
		return Session{}, false
	}
	delete(r.sessions, pid)
	r.smu.Unlock()
	return k.s, true
}

func (r *recoveryBuffer) resume(s Session, offset string, fn func([]MissedPacket) bool) bool {
	if offset == "" {
		offset = s.Since
	}
	seq, ok := parseOffset(offset)
	if !ok {
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	i, ok := r.indexAfterLocked(seq)
	if !ok {
		r.tooOld.Add(1)
		return false
	}
	// The socket is also in the room named by its id.
	rooms := append(append(make([]Room, 0, len(s.Rooms)+1), s.Rooms...), Room(s.SID))
	var missed []MissedPacket
	for ; i < len(r.pkts); i++ {
		e := &r.pkts[i]
		if includes(rooms, e.rooms, e.except) {
			missed = append(missed, MissedPacket{Text: e.text, Attachments: e.atts, Encoded: e.enc})
		}
	}
	if !fn(missed) {
		r.tooOld.Add(1)
		return false
	}
	r.restored.Add(1)
	return true
}

// includes is Node's shouldIncludePacket: the session was in one of the
// packet's rooms (or the packet went to every socket) and in none of its
// excluded rooms.
func includes(session, rooms, except []Room) bool {
	in := len(rooms) == 0
	for _, r := range session {
		for _, x := range except {
			if r == x {
				return false
			}
		}
		if !in {
			for _, x := range rooms {
				if r == x {
					in = true
					break
				}
			}
		}
	}
	return in
}

func (r *recoveryBuffer) stats() RecoveryStats {
	r.smu.Lock()
	n := len(r.sessions)
	r.smu.Unlock()
	r.mu.Lock()
	pk, by := len(r.pkts)-r.head, r.bytes
	r.mu.Unlock()
	return RecoveryStats{
		Sessions: n, BufferedPackets: pk, BufferedBytes: by,
		Restored: r.restored.Load(), Expired: r.expired.Load(), SessionsRefused: r.refused.Load(),
		EvictedForSize: r.evictedSize.Load(), RestoreTooOld: r.tooOld.Load(), RestoreUnknownPID: r.unknown.Load(),
	}
}

func (r *recoveryBuffer) close() {
	r.smu.Lock()
	for pid, k := range r.sessions {
		k.timer.Stop()
		delete(r.sessions, pid)
	}
	r.smu.Unlock()
}
