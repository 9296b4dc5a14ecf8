package socketio

import (
	"context"
	"sync"
	"time"

	"github.com/caddy-socketio/caddy-socketio/socketio/adapter"
	"github.com/caddy-socketio/caddy-socketio/socketio/parser"
)

// BroadcastOperator selects sockets of one namespace. It is immutable: every
// To, Except, Volatile, Local and Timeout returns a new operator, so one can
// be kept and reused.
type BroadcastOperator struct {
	nsp     *Namespace
	rooms   []Room
	except  []Room
	flags   adapter.Flags
	timeout time.Duration
}

func (b *BroadcastOperator) clone() *BroadcastOperator {
	c := *b
	c.rooms = append([]Room(nil), b.rooms...)
	c.except = append([]Room(nil), b.except...)
	return &c
}

// To adds rooms to the selection: sockets in any of them are selected, each
// once.
func (b *BroadcastOperator) To(rooms ...Room) *BroadcastOperator {
	c := b.clone()
	c.rooms = append(c.rooms, rooms...)
	return c
}

// In is the same as To.
func (b *BroadcastOperator) In(rooms ...Room) *BroadcastOperator { return b.To(rooms...) }

// Except leaves out sockets in any of rooms.
func (b *BroadcastOperator) Except(rooms ...Room) *BroadcastOperator {
	c := b.clone()
	c.except = append(c.except, rooms...)
	return c
}

// Volatile drops the event for clients whose send queue is full instead of
// disconnecting them.
func (b *BroadcastOperator) Volatile() *BroadcastOperator {
	c := b.clone()
	c.flags.Volatile = true
	return c
}

// Local restricts the operation to this node's sockets.
func (b *BroadcastOperator) Local() *BroadcastOperator {
	c := b.clone()
	c.flags.Local = true
	return c
}

// Timeout bounds EmitWithAck.
func (b *BroadcastOperator) Timeout(d time.Duration) *BroadcastOperator {
	c := b.clone()
	c.timeout = d
	c.flags.Timeout = d
	return c
}

func (b *BroadcastOperator) options() adapter.BroadcastOptions {
	return adapter.BroadcastOptions{Rooms: b.rooms, Except: b.except, Flags: b.flags}
}

func (b *BroadcastOperator) packet(event string, args []any) (*parser.Packet, error) {
	if isReserved(event) {
		return nil, ErrReservedEvent
	}
	data := make([]any, 1+len(args))
	data[0] = event
	copy(data[1:], args)
	return &parser.Packet{Type: parser.Event, Namespace: b.nsp.name, Data: data}, nil
}

// Emit sends an event to the selected sockets. The packet is encoded once
// and the same bytes are queued for every recipient.
func (b *BroadcastOperator) Emit(event string, args ...any) error {
	p, err := b.packet(event, args)
	if err != nil {
		return err
	}
	return b.nsp.adp().Broadcast(p, b.options())
}

// EmitWithAck sends an event to the selected sockets and collects one
// acknowledgement per client (its first argument, as Node does) until every
// client of every node answered, the operator's Timeout passed (ErrTimeout)
// or ctx is done (ctx.Err()). What arrived is returned in every case.
func (b *BroadcastOperator) EmitWithAck(ctx context.Context, event string, args ...any) ([]any, error) {
	acks, _, err := b.EmitWithAcks(ctx, event, args...)
	if acks == nil && err != nil {
		return nil, err
	}
	out := make([]any, len(acks))
	for i, a := range acks {
		if len(a.Args) > 0 {
			out[i] = a.Args[0]
		}
	}
	return out, err
}

// AckResponse is one client's acknowledgement of a broadcast: the socket
// that answered ("" when a node of the cluster did not say: a Node.js
// server) and every argument it passed (only the first from a Node.js
// server).
type AckResponse struct {
	Socket SocketID
	Args   []any
}

// EmitWithAcks is EmitWithAck with every argument of every
// acknowledgement and the socket that sent it. pending lists the selected
// sockets that had not answered when it returned (those of nodes that do
// not report socket ids excepted).
func (b *BroadcastOperator) EmitWithAcks(ctx context.Context, event string, args ...any) (acks []AckResponse, pending []SocketID, err error) {
	p, err := b.packet(event, args)
	if err != nil {
		return nil, nil, err
	}
	if b.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, b.timeout)
		defer cancel()
	}
	p.ID, p.HasID = b.nsp.nextAckID(), true

	var (
		mu          sync.Mutex
		responses   []AckResponse
		expected    int
		nodesCounts int
		selected    []SocketID
		done        = make(chan struct{})
		closed      bool
	)
	servers := -1
	check := func() {
		if !closed && servers >= 0 && nodesCounts == servers && len(responses) >= expected {
			closed = true
			close(done)
		}
	}
	err = b.nsp.adp().BroadcastWithAck(p, b.options(), func(n int, ids []SocketID) {
		mu.Lock()
		expected += n
		nodesCounts++
		selected = append(selected, ids...)
		check()
		mu.Unlock()
	}, func(from SocketID, a []any) {
		mu.Lock()
		if !closed {
			responses = append(responses, AckResponse{Socket: from, Args: a})
		}
		check()
		mu.Unlock()
	})
	if err != nil {
		return nil, nil, err
	}
	n, err := b.nsp.adp().ServerCount(ctx)
	if err != nil {
		return nil, nil, err
	}
	mu.Lock()
	servers = n
	check()
	mu.Unlock()

	select {
	case <-done:
	case <-ctx.Done():
	}
	mu.Lock()
	defer mu.Unlock()
	out := append([]AckResponse(nil), responses...)
	answered := make(map[SocketID]bool, len(out))
	for _, r := range out {
		answered[r.Socket] = true
	}
	for _, id := range selected {
		if !answered[id] {
			pending = append(pending, id)
		}
	}
	if !closed {
		closed = true
		if ctx.Err() == context.DeadlineExceeded && b.timeout > 0 {
			return out, pending, ErrTimeout
		}
		return out, pending, ctx.Err()
	}
	return out, pending, nil
}

// FetchSockets describes the selected sockets of every node.
func (b *BroadcastOperator) FetchSockets(ctx context.Context) ([]adapter.SocketInfo, error) {
	return b.nsp.adp().FetchSockets(ctx, b.options())
}

// SocketsJoin makes the selected sockets join rooms.
func (b *BroadcastOperator) SocketsJoin(rooms ...Room) error {
	return b.nsp.adp().AddSockets(b.options(), rooms)
}

// SocketsLeave makes the selected sockets leave rooms.
func (b *BroadcastOperator) SocketsLeave(rooms ...Room) error {
	return b.nsp.adp().DelSockets(b.options(), rooms)
}

// DisconnectSockets disconnects the selected sockets; with close their
// whole connections are closed.
func (b *BroadcastOperator) DisconnectSockets(close bool) error {
	return b.nsp.adp().DisconnectSockets(b.options(), close)
}
