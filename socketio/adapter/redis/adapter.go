package redis

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/caddy-socketio/caddy-socketio/socketio/adapter"
)

// Adapter is the adapter of one namespace on one server: an
// adapter.Cluster whose transport is the Broker. In the sharded format with
// a dynamic subscription mode it also follows the namespace's rooms, to
// subscribe to the channel of each room this server has.
type Adapter struct {
	*adapter.Cluster
	t *transport

	// Sharded dynamic mode: room channels subscribed, and a sweeper that
	// unsubscribes those of rooms gone since.
	dynamic   bool
	roomMu    sync.Mutex
	roomSubs  map[adapter.Room]struct{}
	closed    bool // under roomMu
	roomsGone atomic.Bool
	stop      chan struct{}
	wg        sync.WaitGroup
	closeOnce sync.Once
}

// roomSweepInterval is how often a sharded adapter drops the channels of
// rooms that no longer have local members. Until then their messages are
// received and find no recipient, which is harmless.
const roomSweepInterval = time.Second

// NewAdapter is an adapter.Factory: pass broker.NewAdapter as
// socketio.Options.Adapter. It subscribes to the namespace's channels and
// waits for Redis to confirm, up to RequestsTimeout; while Redis is
// unreachable it returns at once with an adapter that serves local sockets
// and joins the cluster when Redis is back.
func (b *Broker) NewAdapter(nsp adapter.Namespace) (adapter.Adapter, error) {
	if b.ctx.Err() != nil {
		return nil, ErrClosed
	}
	name := nsp.Name()
	t := &transport{b: b, nsp: name, sharded: b.opts.Sharded, mode: b.opts.SubscriptionMode}
	copts := adapter.ClusterOptions{RequestsTimeout: b.opts.RequestsTimeout, Logger: b.log}
	if b.opts.Sharded {
		copts.UID = adapter.RandomHexID()
		copts.AllRoomsViaFetch = true
	} else {
		copts.UID = randomAlnum(6)
		copts.NewRequestID = func() string { return randomAlnum(6) }
		copts.SelectionsOnReceipt = true
	}
	t.uid = copts.UID
	t.channels(b.opts.Key, b.opts.PublishOnSpecificResponseChannel)
	a := &Adapter{t: t, stop: make(chan struct{})}
	a.Cluster = adapter.NewCluster(nsp, t, copts)
	t.cluster = a.Cluster

	var waits []<-chan struct{}
	for _, s := range t.subscriptions() {
		waits = append(waits, b.subscribe(s.kind, s.channel, t))
	}
	if b.opts.Sharded && b.opts.SubscriptionMode != Static {
		a.dynamic = true
		a.roomSubs = make(map[adapter.Room]struct{})
		a.wg.Add(1)
		go a.sweepRooms()
	}
	if b.healthy.Load() {
		timer := time.NewTimer(b.opts.RequestsTimeout)
		defer timer.Stop()
	wait:
		for _, w := range waits {
			select {
			case <-w:
			case <-timer.C:
				b.log.Warn("redis adapter: subscription not confirmed in time", "nsp", name)
				break wait
			case <-b.ctx.Done():
				break wait
			}
		}
	}
	return a, nil
}

// UID is the server's identifier for this namespace on the bus.
func (a *Adapter) UID() string { return a.t.uid }

// AddAll implements adapter.Adapter; in the sharded dynamic modes a room
// seen for the first time gets its channel subscribed.
func (a *Adapter) AddAll(s adapter.Socket, rooms []adapter.Room) {
	a.Cluster.AddAll(s, rooms)
	if !a.dynamic {
		return
	}
	for _, r := range rooms {
		if !a.t.roomHasChannel(r) {
			continue
		}
		a.roomMu.Lock()
		if _, ok := a.roomSubs[r]; !ok && !a.closed {
			a.roomSubs[r] = struct{}{}
			a.t.b.subscribe(subShard, a.t.roomChannel(r), a.t)
		}
		a.roomMu.Unlock()
	}
}

// Del implements adapter.Adapter.
func (a *Adapter) Del(id adapter.SocketID, room adapter.Room) {
	a.Cluster.Del(id, room)
	if a.dynamic {
		a.roomsGone.Store(true)
	}
}

// DelAll implements adapter.Adapter.
func (a *Adapter) DelAll(id adapter.SocketID) {
	a.Cluster.DelAll(id)
	if a.dynamic {
		a.roomsGone.Store(true)
	}
}

func (a *Adapter) sweepRooms() {
	defer a.wg.Done()
	tick := time.NewTicker(roomSweepInterval)
	defer tick.Stop()
	for {
		select {
		case <-a.stop:
			return
		case <-tick.C:
		}
		if !a.roomsGone.Swap(false) {
			continue
		}
		// Under roomMu so that a concurrent AddAll, which adds to the
		// membership before taking roomMu, either is seen here or
		// resubscribes after.
		a.roomMu.Lock()
		local := a.LocalRooms()
		for r := range a.roomSubs {
			if local[r] == 0 {
				delete(a.roomSubs, r)
				a.t.b.unsubscribe(subShard, a.t.roomChannel(r))
			}
		}
		a.roomMu.Unlock()
	}
}

// Close implements adapter.Adapter: the namespace's channels are
// unsubscribed and pending requests end.
func (a *Adapter) Close() error {
	a.closeOnce.Do(func() {
		close(a.stop)
		a.wg.Wait()
		for _, s := range a.t.subscriptions() {
			a.t.b.unsubscribe(s.kind, s.channel)
		}
		a.roomMu.Lock()
		for r := range a.roomSubs {
			a.t.b.unsubscribe(subShard, a.t.roomChannel(r))
		}
		clear(a.roomSubs)
		a.closed = true
		a.roomMu.Unlock()
		_ = a.Cluster.Close()
	})
	return nil
}

// transport implements adapter.Transport for one namespace over the
// Broker, in the classic or the sharded wire format.
type transport struct {
	b       *Broker
	cluster *adapter.Cluster
	nsp     string
	uid     string
	sharded bool
	mode    SubscriptionMode

	// classic: broadcast prefix "key#nsp#", request, response and this
	// server's own response channel. sharded: main is "key#nsp#", own is
	// "key#nsp#uid#".
	bcast, req, res, resOwn string
	specific                bool
	main, own               string
}

type subscription struct {
	kind    subKind
	channel string
}

func (t *transport) channels(key string, specific bool) {
	if t.sharded {
		t.main = key + "#" + t.nsp + "#"
		t.own = t.main + t.uid + "#"
		return
	}
	t.bcast = key + "#" + t.nsp + "#"
	t.req = key + "-request#" + t.nsp + "#"
	t.res = key + "-response#" + t.nsp + "#"
	t.resOwn = t.res + t.uid + "#"
	t.specific = specific
}

func (t *transport) subscriptions() []subscription {
	if t.sharded {
		return []subscription{{subShard, t.main}, {subShard, t.own}}
	}
	return []subscription{{subPattern, t.bcast + "*"}, {subChannel, t.req}, {subChannel, t.res}, {subChannel, t.resOwn}}
}

// roomHasChannel: in the sharded dynamic modes, which rooms have their own
// channel (dynamic leaves socket ids, recognised by their 20 characters,
// on the main channel).
func (t *transport) roomHasChannel(r adapter.Room) bool {
	switch t.mode {
	case DynamicPrivate:
		return true
	case Dynamic:
		return len(r) != 20
	}
	return false
}

func (t *transport) roomChannel(r adapter.Room) string { return t.main + string(r) + "#" }

// Publish implements adapter.Transport.
func (t *transport) Publish(m *adapter.ClusterMessage) error {
	if t.sharded {
		return t.publishSharded(m)
	}
	return t.publishClassic(m)
}

// PublishResponse implements adapter.Transport.
func (t *transport) PublishResponse(to string, m *adapter.ClusterMessage) error {
	if t.sharded {
		return t.respondSharded(to, m)
	}
	return t.respondClassic(to, m)
}

// ServerCount implements adapter.Transport: the subscribers of the request
// channel (classic) or of the namespace channel (sharded), summed over
// the nodes of a Redis Cluster.
func (t *transport) ServerCount(ctx context.Context) (int, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, t.b.opts.RequestsTimeout)
		defer cancel()
	}
	count := func(ctx context.Context, c goredis.UniversalClient) (int64, error) {
		if t.sharded {
			m, err := c.PubSubShardNumSub(ctx, t.main).Result()
			return m[t.main], err
		}
		m, err := c.PubSubNumSub(ctx, t.req).Result()
		return m[t.req], err
	}
	if cc, ok := t.b.client.(*goredis.ClusterClient); ok && !t.sharded {
		var mu sync.Mutex
		var total int64
		err := cc.ForEachShard(ctx, func(ctx context.Context, c *goredis.Client) error {
			n, err := count(ctx, c)
			mu.Lock()
			total += n
			mu.Unlock()
			return err
		})
		return int(total), err
	}
	n, err := count(ctx, t.b.client)
	return int(n), err
}

// receive decodes a message of one of the namespace's channels and hands
// it to the cluster.
func (t *transport) receive(channel string, pattern bool, payload []byte) error {
	var m *adapter.ClusterMessage
	var err error
	switch {
	case t.sharded:
		m, err = t.decodeSharded(payload)
	case pattern:
		m, err = t.decodeClassicBroadcast(payload)
	case channel == t.req:
		m, err = decodeClassicRequest(payload)
	default:
		m, err = decodeClassicResponse(payload)
	}
	if err != nil || m == nil {
		return err
	}
	t.cluster.HandleMessage(m)
	return nil
}

var _ adapter.Transport = (*transport)(nil)
var _ adapter.Adapter = (*Adapter)(nil)
