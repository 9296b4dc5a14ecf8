package adapter

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddy-socketio/caddy-socketio/socketio/parser"
)

// MessageType is the kind of a ClusterMessage. The values are this
// package's own; each transport maps them to its wire format (the classic
// and the sharded Redis adapters number them differently, github.com/socketio/socket.io-redis-adapter
// and §7.4).
type MessageType uint8

// The cluster message kinds. Requests carry a RequestID when the sender
// waits for answers; responses carry the RequestID they answer.
const (
	// MsgBroadcast carries Packet and Opts; with a RequestID the sender
	// collects acknowledgements (MsgBroadcastClientCount, MsgBroadcastAck).
	MsgBroadcast MessageType = iota + 1
	// MsgSocketsJoin makes the sockets selected by Opts join Rooms.
	MsgSocketsJoin
	// MsgSocketsLeave makes the sockets selected by Opts leave Rooms.
	MsgSocketsLeave
	// MsgDisconnectSockets disconnects the sockets selected by Opts (Close:
	// their whole connection).
	MsgDisconnectSockets
	// MsgFetchSockets asks for the sockets selected by Opts.
	MsgFetchSockets
	// MsgFetchSocketsResponse answers with Sockets.
	MsgFetchSocketsResponse
	// MsgServerSideEmit carries Args (event name first); with a RequestID
	// each node answers with MsgServerSideEmitResponse.
	MsgServerSideEmit
	// MsgServerSideEmitResponse carries one node's answer in Args[0].
	MsgServerSideEmitResponse
	// MsgBroadcastClientCount tells how many local sockets a node delivered
	// an acknowledged broadcast to (ClientCount).
	MsgBroadcastClientCount
	// MsgBroadcastAck carries one client's acknowledgement (its first
	// argument) in Args[0].
	MsgBroadcastAck
	// MsgAllRooms asks for every node's rooms.
	MsgAllRooms
	// MsgAllRoomsResponse answers with Rooms.
	MsgAllRoomsResponse
	// MsgSockets asks for the ids of the sockets in Opts.Rooms (the classic
	// Redis adapter's SOCKETS request).
	MsgSockets
	// MsgSocketsResponse answers with SocketIDs.
	MsgSocketsResponse
)

// ClusterMessage is one message of the cluster protocol, independent of how
// a transport encodes it.
type ClusterMessage struct {
	Type MessageType
	// UID identifies the sending node's adapter ("emitter" for the Redis
	// emitter, "" when the wire did not say).
	UID string
	// RequestID links responses to their request.
	RequestID   string
	Packet      *parser.Packet
	Opts        BroadcastOptions
	Rooms       []Room
	Close       bool
	Args        []any
	Sockets     []SocketInfo
	SocketIDs   []SocketID
	ClientCount int
	// Socket is the socket that answered a MsgBroadcastAck ("" when the
	// node did not say). Our nodes send it, all the ack's arguments (Node
	// forwards the first only) and, with MsgBroadcastClientCount, the ids
	// of the sockets delivered to (SocketIDs), in fields the Node adapters
	// do not read.
	Socket SocketID
	// OnDropped, when set on a published message, is called (from any
	// goroutine, at most once) if the transport accepted the message but
	// then gave up sending it.
	OnDropped func()
}

// Transport moves cluster messages between the nodes serving one
// namespace. Cluster calls it from the goroutines of its callers and from
// the goroutine that delivers incoming messages; it must be safe for
// concurrent use.
//
// The transport delivers every incoming message to Cluster.HandleMessage,
// in the order the bus delivered them, and should not deliver the next one
// before HandleMessage returns. It may deliver a node's own messages back
// to it: Cluster recognises them by UID.
type Transport interface {
	// Publish sends msg to every node serving the namespace. It encodes msg
	// before returning (msg may be reused afterwards) and must not block on
	// the network: a message that cannot be sent yet is queued. An error
	// means msg was not sent (encoding failed, queue full, closed).
	Publish(msg *ClusterMessage) error
	// PublishResponse sends msg, which answers a request, to the node whose
	// adapter has the UID to. Same rules as Publish.
	PublishResponse(to string, msg *ClusterMessage) error
	// ServerCount is the number of nodes serving the namespace, this one
	// included.
	ServerCount(ctx context.Context) (int, error)
}

// ClusterOptions configure a Cluster.
type ClusterOptions struct {
	// UID identifies this node's adapter of the namespace on the bus; it
	// must be unique in the cluster. Default: 16 random hex characters.
	UID string
	// RequestsTimeout bounds requests that wait for other nodes (fetch
	// sockets, all rooms, server-side emit with ack) and how long the
	// acknowledgements of a broadcast without Flags.Timeout are collected.
	// Default 5s.
	RequestsTimeout time.Duration
	// SelectionsOnReceipt: join, leave and disconnect requests are applied
	// when the bus brings them back, on this node as on the others, and not
	// before publishing. This is how the classic Redis adapter works
	// (github.com/socketio/socket.io-redis-adapter); the local part is still applied if the message
	// could not be published.
	SelectionsOnReceipt bool
	// AllRoomsViaFetch: the wire has no all-rooms request (the sharded
	// Redis adapter), so AllRooms collects the rooms of every socket with a
	// fetch-sockets request instead.
	AllRoomsViaFetch bool
	// NewRequestID returns a fresh request id. Default: 16 random hex
	// characters.
	NewRequestID func() string
	// Logger receives debug logs about requests. Default: discarded.
	Logger *slog.Logger
}

// ErrClosed reports an operation on a closed adapter.
var ErrClosed = errors.New("adapter: closed")

// AckIDAllocator is implemented by a Namespace that numbers the
// acknowledgements its sockets expect. A Cluster uses it for broadcasts with
// acknowledgements coming from other nodes, which travel without an ack id
// (Node assigns one on every node); without it, the Cluster numbers them
// from 2^52 up so that they cannot meet the namespace's own counter.
type AckIDAllocator interface {
	NextAckID() uint64
}

// remoteAckIDBase starts the ack ids of remote broadcasts when the
// namespace does not allocate them (AckIDAllocator), far above any id a
// namespace counter reaches and below parser.MaxAckID.
const remoteAckIDBase = 1 << 52

// Cluster is an Adapter for one node of a cluster: it keeps this node's
// membership in an embedded Memory and relays broadcasts and selection
// requests to the other nodes through a Transport. The protocol (message
// kinds, request ids, counting answers, acknowledgements, applying remote
// operations to local sockets) lives here once; transports only encode
// messages and move bytes.
type Cluster struct {
	*Memory
	nsp    Namespace
	t      Transport
	opts   ClusterOptions
	ackIDs atomic.Uint64

	ctx    context.Context // canceled by Close; bounds background requests
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	requests map[string]*pendingRequest
	acks     map[string]*ackRequest
}

type pendingRequest struct {
	mu         sync.Mutex
	expected   int
	got        int
	finished   bool
	done       chan struct{}
	onResponse func(*ClusterMessage)
}

type ackRequest struct {
	clientCount func(int, []SocketID)
	ack         func(SocketID, []any)
}

// NewCluster returns the adapter of nsp on this node. The transport must
// pass incoming messages to HandleMessage.
func NewCluster(nsp Namespace, t Transport, opts ClusterOptions) *Cluster {
	if opts.RequestsTimeout <= 0 {
		opts.RequestsTimeout = 5 * time.Second
	}
	if opts.NewRequestID == nil {
		opts.NewRequestID = RandomHexID
	}
	if opts.UID == "" {
		opts.UID = RandomHexID()
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	m, _ := NewMemory(nsp)
	c := &Cluster{
		Memory:   m.(*Memory),
		nsp:      nsp,
		t:        t,
		opts:     opts,
		requests: make(map[string]*pendingRequest),
		acks:     make(map[string]*ackRequest),
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.ackIDs.Store(remoteAckIDBase)
	return c
}

// UID is this node's identifier for the namespace on the bus.
func (c *Cluster) UID() string { return c.opts.UID }

// RandomHexID returns 16 random hex characters (the sharded Redis adapter's
// uid and request id format).
func RandomHexID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	const hex = "0123456789abcdef"
	var out [16]byte
	for i, v := range b {
		out[2*i], out[2*i+1] = hex[v>>4], hex[v&15]
	}
	return string(out[:])
}

func (c *Cluster) nextAckID() uint64 {
	if a, ok := c.nsp.(AckIDAllocator); ok {
		return a.NextAckID()
	}
	return c.ackIDs.Add(1)
}

func (c *Cluster) timeout(d time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return c.opts.RequestsTimeout
}

// Broadcast implements Adapter: the packet is published for the other
// nodes, then delivered to local sockets. A publish error is returned after
// local delivery.
//
// A packet whose arguments are JSON text (Packet.RawArgs, a relayed event)
// is decoded for the other nodes only, since the cluster's wire format
// carries values; local recipients get the text as it is.
func (c *Cluster) Broadcast(p *parser.Packet, opts BroadcastOptions) error {
	var perr error
	if !opts.Flags.Local {
		q, err := p.WithData()
		if err != nil {
			return err
		}
		perr = c.t.Publish(&ClusterMessage{Type: MsgBroadcast, UID: c.opts.UID, Packet: q, Opts: opts})
	}
	if err := c.Memory.Broadcast(p, opts); err != nil {
		return err
	}
	return perr
}

// BroadcastWithAck implements Adapter. Other nodes answer with their client
// count and forward their clients' acknowledgements until Flags.Timeout
// (RequestsTimeout when zero) has passed.
func (c *Cluster) BroadcastWithAck(p *parser.Packet, opts BroadcastOptions, clientCount func(int, []SocketID), ack func(SocketID, []any)) error {
	var perr error
	if !opts.Flags.Local {
		id := c.opts.NewRequestID()
		c.mu.Lock()
		c.acks[id] = &ackRequest{clientCount: clientCount, ack: ack}
		c.mu.Unlock()
		// The packet travels without an ack id: every node picks its own.
		d, err := p.WithData()
		if err != nil {
			c.forgetAck(id)
			return err
		}
		q := *d
		q.ID, q.HasID = 0, false
		perr = c.t.Publish(&ClusterMessage{Type: MsgBroadcast, UID: c.opts.UID, RequestID: id, Packet: &q, Opts: opts})
		if perr != nil {
			c.forgetAck(id)
		} else {
			time.AfterFunc(c.timeout(opts.Flags.Timeout), func() { c.forgetAck(id) })
		}
	}
	if err := c.Memory.BroadcastWithAck(p, opts, clientCount, ack); err != nil {
		return err
	}
	return perr
}

func (c *Cluster) forgetAck(id string) {
	c.mu.Lock()
	delete(c.acks, id)
	c.mu.Unlock()
}

// ServerCount implements Adapter.
func (c *Cluster) ServerCount(ctx context.Context) (int, error) { return c.t.ServerCount(ctx) }

// request publishes msg as a request and passes each answer to onResponse
// until every other node answered, the timeout passed (ErrTimeout), ctx is
// done or the adapter closes. onResponse runs on the transport's goroutine
// and never after request returned.
func (c *Cluster) request(ctx context.Context, msg *ClusterMessage, timeout time.Duration, onResponse func(*ClusterMessage)) error {
	n, err := c.t.ServerCount(ctx)
	if err != nil {
		return fmt.Errorf("counting servers: %w", err)
	}
	if n <= 1 {
		return nil
	}
	id := c.opts.NewRequestID()
	r := &pendingRequest{expected: n - 1, done: make(chan struct{}), onResponse: onResponse}
	c.mu.Lock()
	c.requests[id] = r
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.requests, id)
		c.mu.Unlock()
		r.mu.Lock()
		r.finished = true
		r.mu.Unlock()
	}()
	msg.UID, msg.RequestID = c.opts.UID, id
	if err := c.t.Publish(msg); err != nil {
		return err
	}
	timer := time.NewTimer(c.timeout(timeout))
	defer timer.Stop()
	select {
	case <-r.done:
		return nil
	case <-timer.C:
		r.mu.Lock()
		got := r.got
		r.mu.Unlock()
		return fmt.Errorf("%w: %d of %d other nodes answered", ErrTimeout, got, r.expected)
	case <-ctx.Done():
		return ctx.Err()
	case <-c.ctx.Done():
		return ErrClosed
	}
}

// FetchSockets implements Adapter.
func (c *Cluster) FetchSockets(ctx context.Context, opts BroadcastOptions) ([]SocketInfo, error) {
	out, _ := c.Memory.FetchSockets(ctx, opts)
	if opts.Flags.Local {
		return out, nil
	}
	var mu sync.Mutex
	err := c.request(ctx, &ClusterMessage{Type: MsgFetchSockets, Opts: opts}, opts.Flags.Timeout, func(m *ClusterMessage) {
		mu.Lock()
		out = append(out, m.Sockets...)
		mu.Unlock()
	})
	mu.Lock()
	defer mu.Unlock()
	return out, err
}

// Sockets returns the ids of the sockets in any of rooms (every socket when
// rooms is empty) on every node, with the classic SOCKETS request. Other
// transports may not support it: then only answers that arrive count.
func (c *Cluster) Sockets(ctx context.Context, rooms []Room) ([]SocketID, error) {
	set := make(map[SocketID]struct{})
	c.Memory.apply(&BroadcastOptions{Rooms: rooms}, func(s Socket) { set[s.ID()] = struct{}{} })
	var mu sync.Mutex
	err := c.request(ctx, &ClusterMessage{Type: MsgSockets, Opts: BroadcastOptions{Rooms: rooms}}, 0, func(m *ClusterMessage) {
		mu.Lock()
		for _, id := range m.SocketIDs {
			set[id] = struct{}{}
		}
		mu.Unlock()
	})
	mu.Lock()
	defer mu.Unlock()
	out := make([]SocketID, 0, len(set))
	for id := range set {
		out = append(out, id)
	}
	return out, err
}

// publishSelection publishes a join, leave or disconnect request and applies
// it locally, now or when it comes back (SelectionsOnReceipt).
func (c *Cluster) publishSelection(msg *ClusterMessage, local func()) error {
	if msg.Opts.Flags.Local {
		local()
		return nil
	}
	msg.UID = c.opts.UID
	if c.opts.SelectionsOnReceipt {
		// Applied when it comes back; if it never leaves, apply it here
		// anyway (these operations are idempotent).
		var once sync.Once
		msg.OnDropped = func() { once.Do(local) }
		err := c.t.Publish(msg)
		if err != nil {
			once.Do(local)
		}
		return err
	}
	err := c.t.Publish(msg)
	local()
	return err
}

// AddSockets implements Adapter.
func (c *Cluster) AddSockets(opts BroadcastOptions, rooms []Room) error {
	return c.publishSelection(&ClusterMessage{Type: MsgSocketsJoin, Opts: opts, Rooms: rooms},
		func() { _ = c.Memory.AddSockets(opts, rooms) })
}

// DelSockets implements Adapter.
func (c *Cluster) DelSockets(opts BroadcastOptions, rooms []Room) error {
	return c.publishSelection(&ClusterMessage{Type: MsgSocketsLeave, Opts: opts, Rooms: rooms},
		func() { _ = c.Memory.DelSockets(opts, rooms) })
}

// DisconnectSockets implements Adapter.
func (c *Cluster) DisconnectSockets(opts BroadcastOptions, close bool) error {
	return c.publishSelection(&ClusterMessage{Type: MsgDisconnectSockets, Opts: opts, Close: close},
		func() { _ = c.Memory.DisconnectSockets(opts, close) })
}

// AllRooms implements Adapter.
func (c *Cluster) AllRooms(ctx context.Context) ([]Room, error) {
	set := make(map[Room]struct{})
	var err error
	if c.opts.AllRoomsViaFetch {
		var infos []SocketInfo
		infos, err = c.FetchSockets(ctx, BroadcastOptions{})
		for _, info := range infos {
			for _, r := range info.Rooms {
				set[r] = struct{}{}
			}
		}
	} else {
		for r := range c.LocalRooms() {
			set[r] = struct{}{}
		}
		var mu sync.Mutex
		err = c.request(ctx, &ClusterMessage{Type: MsgAllRooms}, 0, func(m *ClusterMessage) {
			mu.Lock()
			for _, r := range m.Rooms {
				set[r] = struct{}{}
			}
			mu.Unlock()
		})
		mu.Lock()
		defer mu.Unlock()
	}
	out := make([]Room, 0, len(set))
	for r := range set {
		out = append(out, r)
	}
	return out, err
}

// ServerSideEmit implements Adapter. With an ack, the request runs in the
// background for at most RequestsTimeout; ack is called once per answering
// node with that node's answer.
func (c *Cluster) ServerSideEmit(args []any, ack func([]any)) error {
	msg := &ClusterMessage{Type: MsgServerSideEmit, UID: c.opts.UID, Args: args}
	if ack == nil {
		return c.t.Publish(msg)
	}
	if c.ctx.Err() != nil {
		return ErrClosed
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		ctx, cancel := context.WithTimeout(c.ctx, c.opts.RequestsTimeout)
		defer cancel()
		err := c.request(ctx, msg, 0, func(m *ClusterMessage) { ack(m.Args) })
		if err != nil {
			c.opts.Logger.Debug("server-side emit: not every node answered", "nsp", c.nsp.Name(), "err", err)
		}
	}()
	return nil
}

// Close implements Adapter: pending requests return ErrClosed. It does not
// close the transport.
func (c *Cluster) Close() error {
	c.cancel()
	c.wg.Wait()
	return nil
}

// HandleMessage applies a message received from the bus. The transport
// calls it for every message of the namespace, one at a time. Messages from
// this node are ignored, except join, leave and disconnect requests when
// SelectionsOnReceipt is set.
func (c *Cluster) HandleMessage(m *ClusterMessage) {
	own := m.UID == c.opts.UID
	switch m.Type {
	case MsgBroadcast:
		if own || m.Packet == nil {
			return
		}
		p := m.Packet
		p.Namespace = c.nsp.Name()
		if m.RequestID == "" {
			_ = c.Memory.Broadcast(p, m.Opts)
			return
		}
		from, id := m.UID, m.RequestID
		p.ID, p.HasID = c.nextAckID(), true
		_ = c.Memory.BroadcastWithAck(p, m.Opts, func(n int, ids []SocketID) {
			c.respond(from, &ClusterMessage{Type: MsgBroadcastClientCount, RequestID: id, ClientCount: n, SocketIDs: ids})
		}, func(sid SocketID, args []any) {
			// All the arguments: the wire keeps the first where Node
			// reads it and adds the others (see Socket).
			c.respond(from, &ClusterMessage{Type: MsgBroadcastAck, RequestID: id, Args: args, Socket: sid})
		})
	case MsgSocketsJoin:
		if !own || c.opts.SelectionsOnReceipt {
			_ = c.Memory.AddSockets(m.Opts, m.Rooms)
		}
	case MsgSocketsLeave:
		if !own || c.opts.SelectionsOnReceipt {
			_ = c.Memory.DelSockets(m.Opts, m.Rooms)
		}
	case MsgDisconnectSockets:
		if !own || c.opts.SelectionsOnReceipt {
			_ = c.Memory.DisconnectSockets(m.Opts, m.Close)
		}
	case MsgFetchSockets:
		if own {
			return
		}
		infos, _ := c.Memory.FetchSockets(context.Background(), m.Opts)
		if infos == nil {
			infos = []SocketInfo{}
		}
		c.respond(m.UID, &ClusterMessage{Type: MsgFetchSocketsResponse, RequestID: m.RequestID, Sockets: infos})
	case MsgAllRooms:
		if own {
			return
		}
		local := c.LocalRooms()
		rooms := make([]Room, 0, len(local))
		for r := range local {
			rooms = append(rooms, r)
		}
		c.respond(m.UID, &ClusterMessage{Type: MsgAllRoomsResponse, RequestID: m.RequestID, Rooms: rooms})
	case MsgSockets:
		if own {
			return
		}
		ids := []SocketID{}
		c.Memory.apply(&BroadcastOptions{Rooms: m.Opts.Rooms}, func(s Socket) { ids = append(ids, s.ID()) })
		c.respond(m.UID, &ClusterMessage{Type: MsgSocketsResponse, RequestID: m.RequestID, SocketIDs: ids})
	case MsgServerSideEmit:
		if own || len(m.Args) == 0 {
			return
		}
		var ack func([]any)
		if m.RequestID != "" {
			from, id := m.UID, m.RequestID
			var once sync.Once
			ack = func(args []any) {
				once.Do(func() {
					c.respond(from, &ClusterMessage{Type: MsgServerSideEmitResponse, RequestID: id, Args: firstArg(args)})
				})
			}
		}
		c.nsp.HandleServerSideEmit(m.Args, ack)
	case MsgBroadcastClientCount, MsgBroadcastAck:
		c.mu.Lock()
		ar := c.acks[m.RequestID]
		c.mu.Unlock()
		if ar == nil {
			return
		}
		if m.Type == MsgBroadcastClientCount {
			ar.clientCount(m.ClientCount, m.SocketIDs)
		} else {
			ar.ack(m.Socket, m.Args)
		}
	case MsgFetchSocketsResponse, MsgServerSideEmitResponse, MsgAllRoomsResponse, MsgSocketsResponse:
		c.mu.Lock()
		r := c.requests[m.RequestID]
		c.mu.Unlock()
		if r == nil {
			return
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.finished || r.got >= r.expected {
			return
		}
		r.onResponse(m)
		r.got++
		if r.got == r.expected {
			close(r.done)
		}
	}
}

func (c *Cluster) respond(to string, m *ClusterMessage) {
	m.UID = c.opts.UID
	if err := c.t.PublishResponse(to, m); err != nil {
		c.opts.Logger.Debug("cluster response not sent", "nsp", c.nsp.Name(), "err", err)
	}
}

// firstArg keeps the first argument of an answer, as the Node adapters
// forward only that one.
func firstArg(args []any) []any {
	if len(args) == 0 {
		return []any{nil}
	}
	return args[:1]
}

var _ Adapter = (*Cluster)(nil)
