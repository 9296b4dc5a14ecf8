// Package redis is the Redis transport of the cluster adapter: it lets
// several Socket.IO servers, Go or Node, share rooms and broadcasts through
// Redis pub/sub, speaking the wire format of @socket.io/redis-adapter 8.x
// (classic, PUBLISH/PSUBSCRIBE) or of its sharded variant (Redis ≥ 7,
// SPUBLISH/SSUBSCRIBE), and accepting what @socket.io/redis-emitter 5.x
// publishes (github.com/socketio/socket.io-redis-adapter).
//
// The protocol itself (requests, answers, acknowledgements) is
// adapter.Cluster; this package encodes its messages and moves them.
//
//	client := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:6379"})
//	broker, err := redis.New(ctx, client, redis.Options{Logger: logger})
//	if err != nil { ... } // Redis unreachable: errors.Is(err, redis.ErrUnreachable)
//	defer broker.Close()
//	srv := socketio.NewServer(&socketio.Options{Adapter: broker.NewAdapter})
//
// Failures: New fails when Redis does not answer a PING. Once running, a
// lost connection does not stop local delivery: publishes fail and are
// counted (Stats), the subscription connection is re-established with
// backoff and every channel resubscribed, and requests to other nodes end
// with adapter.ErrTimeout and what was collected.
package redis

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/caddy-socketio/caddy-socketio/socketio/adapter"
)

// SubscriptionMode chooses the channels of the sharded format (github.com/socketio/socket.io-redis-adapter); it has no effect on the classic format.
type SubscriptionMode string

// The sharded adapter's subscription modes.
const (
	// Dynamic (default): a broadcast to exactly one room that is not a
	// socket id goes to that room's own channel, which only the servers
	// that have the room subscribe to.
	Dynamic SubscriptionMode = "dynamic"
	// DynamicPrivate also gives socket-id rooms their own channel.
	DynamicPrivate SubscriptionMode = "dynamic-private"
	// Static uses only the namespace channel and one response channel per
	// server.
	Static SubscriptionMode = "static"
)

// Options configure a Broker. The zero value is the classic Node format
// with its defaults.
type Options struct {
	// Key prefixes every channel name, as the Node adapter's key option.
	// Every server of a cluster must use the same. Default "socket.io".
	Key string
	// RequestsTimeout bounds how long a request to the other servers
	// (fetch sockets, all rooms, server-side emit with acknowledgement)
	// waits for their answers, and how long acknowledgements of a broadcast
	// without its own timeout are collected. Also bounds the PING in New
	// when its context has no deadline, and each publish. Default 5s.
	RequestsTimeout time.Duration
	// PublishOnSpecificResponseChannel sends answers to the requesting
	// server's own response channel instead of the shared one (classic
	// format; the Node option of the same name). Answers are received on
	// both either way.
	PublishOnSpecificResponseChannel bool
	// Sharded speaks the format of createShardedAdapter with
	// SPUBLISH/SSUBSCRIBE. Needs Redis 7 or later; New fails otherwise.
	// Node servers in the cluster must use the sharded adapter too, and
	// the Redis emitter cannot reach sharded servers.
	Sharded bool
	// SubscriptionMode of the sharded format. Default Dynamic.
	SubscriptionMode SubscriptionMode
	// PublishQueue is how many messages may wait to be published. A
	// publish that finds the queue full waits up to one second, then the
	// message is dropped and counted. Default 4096.
	PublishQueue int
	// Logger receives connection state changes (Warn when Redis is lost,
	// Info when it is back) and per-message problems at Debug. Default:
	// discarded.
	Logger *slog.Logger
}

// Stats are a Broker's counters since New.
type Stats struct {
	// Published counts messages Redis accepted.
	Published uint64
	// Received counts messages received on subscribed channels.
	Received uint64
	// Errors counts failed publishes, lost subscription connections and
	// messages that could not be decoded.
	Errors uint64
	// Reconnects counts subscription connections re-established after a
	// loss.
	Reconnects uint64
	// Dropped counts messages that were never published (queue full,
	// publish failed).
	Dropped uint64
}

var (
	// ErrUnreachable reports that Redis did not answer when the Broker
	// started.
	ErrUnreachable = errors.New("redis adapter: redis unreachable")
	// ErrQueueFull reports a message dropped because the publish queue
	// stayed full (Redis too slow or unreachable).
	ErrQueueFull = errors.New("redis adapter: publish queue full, message dropped")
	// ErrClosed reports use of a closed Broker.
	ErrClosed = errors.New("redis adapter: closed")
	// ErrUnsupported reports a request the chosen wire format cannot carry.
	ErrUnsupported = errors.New("redis adapter: not supported by this wire format")
)

const (
	healthCheckInterval = 15 * time.Second
	minBackoff          = 50 * time.Millisecond
	maxBackoff          = 2 * time.Second
	enqueueWait         = time.Second
	maxBatch            = 256
)

// Broker is one server's connection to the cluster: a subscription
// connection with its receive goroutine and a publish queue drained by one
// goroutine, shared by the adapters of every namespace (NewAdapter). The
// caller owns the Redis client and closes it after the Broker.
type Broker struct {
	client goredis.UniversalClient
	opts   Options
	log    *slog.Logger
	id     string

	ctx    context.Context // canceled by Close; every goroutine watches it
	cancel context.CancelFunc
	wg     sync.WaitGroup

	pubq chan pubItem

	psMu sync.Mutex
	ps   *goredis.PubSub

	// subscriptions: what this Broker wants subscribed, and the changes
	// the subscriber goroutine still has to send.
	subMu   sync.Mutex
	subs    map[string]subKind
	ops     []subOp
	waiters map[string][]chan struct{}
	subWake chan struct{}
	healthy atomic.Bool // the subscription connection works

	routeMu  sync.RWMutex
	routes   map[string]*transport
	patterns map[string]*transport

	syncCh string
	syncMu sync.Mutex
	syncs  map[string]chan struct{}

	published, received, errors, reconnects, dropped atomic.Uint64
	pubFailing                                       atomic.Bool
}

type subKind uint8

const (
	subChannel subKind = iota + 1
	subPattern
	subShard
)

type subOp struct {
	kind        subKind
	channel     string
	unsubscribe bool
}

type pubItem struct {
	sharded   bool
	channel   string
	payload   []byte
	onDropped func()
	marker    chan struct{} // Flush: closed when reached, nothing published
}

// New connects a Broker to Redis. It fails with ErrUnreachable when Redis
// does not answer a PING within ctx (or RequestsTimeout when ctx has no
// deadline), and when Sharded is set on a Redis older than 7.
func New(ctx context.Context, client goredis.UniversalClient, opts Options) (*Broker, error) {
	if opts.Key == "" {
		opts.Key = "socket.io"
	}
	if opts.RequestsTimeout <= 0 {
		opts.RequestsTimeout = 5 * time.Second
	}
	if opts.SubscriptionMode == "" {
		opts.SubscriptionMode = Dynamic
	}
	switch opts.SubscriptionMode {
	case Dynamic, DynamicPrivate, Static:
	default:
		return nil, fmt.Errorf("redis adapter: unknown subscription mode %q", opts.SubscriptionMode)
	}
	if opts.PublishQueue <= 0 {
		opts.PublishQueue = 4096
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, opts.RequestsTimeout)
		defer cancel()
	}
	if err := client.Ping(ctx).Err(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnreachable, err)
	}
	if opts.Sharded {
		if err := checkShardedSupport(ctx, client); err != nil {
			return nil, err
		}
	}
	b := &Broker{
		client:   client,
		opts:     opts,
		log:      opts.Logger,
		id:       adapter.RandomHexID(),
		pubq:     make(chan pubItem, opts.PublishQueue),
		subs:     make(map[string]subKind),
		waiters:  make(map[string][]chan struct{}),
		subWake:  make(chan struct{}, 1),
		routes:   make(map[string]*transport),
		patterns: make(map[string]*transport),
		syncs:    make(map[string]chan struct{}),
	}
	b.ctx, b.cancel = context.WithCancel(context.Background())
	b.ps = b.newPubSub()
	b.healthy.Store(true)
	b.syncCh = opts.Key + "-sync#" + b.id + "#"
	b.subscribe(b.shardKind(), b.syncCh, nil)
	b.wg.Add(3)
	go b.receiveLoop()
	go b.subscriber()
	go b.publisher()
	b.log.Info("redis adapter started", "key", opts.Key, "sharded", opts.Sharded)
	return b, nil
}

func checkShardedSupport(ctx context.Context, client goredis.UniversalClient) error {
	info, err := client.Info(ctx, "server").Result()
	if err != nil {
		return fmt.Errorf("%w: %w", ErrUnreachable, err)
	}
	for line := range strings.SplitSeq(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "redis_version:"); ok {
			major, _, _ := strings.Cut(v, ".")
			if n, err := strconv.Atoi(major); err == nil && n < 7 {
				return fmt.Errorf("redis adapter: sharded pub/sub needs Redis 7 or later, server is %s", v)
			}
			return nil
		}
	}
	return nil
}

func (b *Broker) shardKind() subKind {
	if b.opts.Sharded {
		return subShard
	}
	return subChannel
}

func (b *Broker) newPubSub() *goredis.PubSub {
	if b.opts.Sharded {
		return b.client.SSubscribe(b.ctx)
	}
	return b.client.Subscribe(b.ctx)
}

// Stats returns the Broker's counters.
func (b *Broker) Stats() Stats {
	return Stats{
		Published:  b.published.Load(),
		Received:   b.received.Load(),
		Errors:     b.errors.Load(),
		Reconnects: b.reconnects.Load(),
		Dropped:    b.dropped.Load(),
	}
}

// Close stops the Broker's goroutines and its subscription connection.
// Messages still queued are dropped. Adapters created by the Broker stop
// reaching other servers; close them first (socketio.Server.Close does).
func (b *Broker) Close() error {
	if b.ctx.Err() != nil {
		return nil
	}
	b.cancel()
	b.psMu.Lock()
	err := b.ps.Close()
	b.psMu.Unlock()
	b.wg.Wait()
	if errors.Is(err, goredis.ErrClosed) {
		err = nil
	}
	return err
}

// Flush waits until every message queued before the call was handed to
// Redis (or dropped).
func (b *Broker) Flush(ctx context.Context) error {
	done := make(chan struct{})
	select {
	case b.pubq <- pubItem{marker: done}:
	case <-ctx.Done():
		return ctx.Err()
	case <-b.ctx.Done():
		return ErrClosed
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-b.ctx.Done():
		return ErrClosed
	}
}

// Sync waits until every message queued before the call was published and
// every message Redis delivered to this Broker before that was handled: it
// publishes a token to itself and waits for it. Tests use Flush on every
// server, then Sync on every server, to let the cluster settle.
func (b *Broker) Sync(ctx context.Context) error {
	token := adapter.RandomHexID()
	seen := make(chan struct{})
	b.syncMu.Lock()
	b.syncs[token] = seen
	b.syncMu.Unlock()
	defer func() {
		b.syncMu.Lock()
		delete(b.syncs, token)
		b.syncMu.Unlock()
	}()
	if err := b.publish(b.opts.Sharded, b.syncCh, []byte(token), nil); err != nil {
		return err
	}
	select {
	case <-seen:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-b.ctx.Done():
		return ErrClosed
	}
}

// publish queues one message. It waits up to enqueueWait for room in the
// queue, then drops the message.
func (b *Broker) publish(sharded bool, channel string, payload []byte, onDropped func()) error {
	if b.ctx.Err() != nil {
		return ErrClosed
	}
	it := pubItem{sharded: sharded, channel: channel, payload: payload, onDropped: onDropped}
	select {
	case b.pubq <- it:
		return nil
	default:
	}
	t := time.NewTimer(enqueueWait)
	defer t.Stop()
	select {
	case b.pubq <- it:
		return nil
	case <-t.C:
		b.dropped.Add(1)
		b.log.Debug("redis publish queue full, message dropped", "channel", channel)
		return ErrQueueFull
	case <-b.ctx.Done():
		return ErrClosed
	}
}

// publisher drains the queue, sending what it finds in one pipeline, so a
// burst costs one round trip and messages keep their order.
func (b *Broker) publisher() {
	defer b.wg.Done()
	batch := make([]pubItem, 0, maxBatch)
	cmds := make([]*goredis.IntCmd, 0, maxBatch)
	for {
		select {
		case <-b.ctx.Done():
			return
		case it := <-b.pubq:
			batch = append(batch, it)
		}
	fill:
		for len(batch) < maxBatch {
			select {
			case it := <-b.pubq:
				batch = append(batch, it)
			default:
				break fill
			}
		}
		cmds = b.send(batch, cmds[:0])
		clear(batch)
		batch = batch[:0]
		clear(cmds)
	}
}

func (b *Broker) send(batch []pubItem, cmds []*goredis.IntCmd) []*goredis.IntCmd {
	ctx, cancel := context.WithTimeout(b.ctx, b.opts.RequestsTimeout)
	defer cancel()
	pipe := b.client.Pipeline()
	n := 0
	for _, it := range batch {
		var cmd *goredis.IntCmd
		switch {
		case it.marker != nil:
		case it.sharded:
			cmd = pipe.SPublish(ctx, it.channel, it.payload)
			n++
		default:
			cmd = pipe.Publish(ctx, it.channel, it.payload)
			n++
		}
		cmds = append(cmds, cmd)
	}
	var err error
	if n > 0 {
		_, err = pipe.Exec(ctx)
	}
	failed := 0
	for i, it := range batch {
		if it.marker != nil {
			close(it.marker)
			continue
		}
		if cmds[i].Err() != nil {
			failed++
			if it.onDropped != nil {
				it.onDropped()
			}
			continue
		}
		b.published.Add(1)
	}
	if failed > 0 {
		b.errors.Add(uint64(failed))
		b.dropped.Add(uint64(failed))
		if !b.pubFailing.Swap(true) {
			b.log.Warn("redis publish failed", "err", err, "messages", failed)
		} else {
			b.log.Debug("redis publish failed", "err", err, "messages", failed)
		}
	} else if n > 0 && b.pubFailing.Swap(false) {
		b.log.Info("redis publish works again")
	}
	return cmds
}

// subscribe records that channel (or pattern) should be subscribed and
// routed to t (nil: the Broker's own sync channel), and returns a channel
// closed when Redis confirms. The subscriber goroutine sends the command,
// so callers never block on the network.
func (b *Broker) subscribe(kind subKind, channel string, t *transport) <-chan struct{} {
	if t != nil {
		b.routeMu.Lock()
		if kind == subPattern {
			b.patterns[channel] = t
		} else {
			b.routes[channel] = t
		}
		b.routeMu.Unlock()
	}
	confirmed := make(chan struct{})
	b.subMu.Lock()
	b.subs[channel] = kind
	b.waiters[channel] = append(b.waiters[channel], confirmed)
	b.ops = append(b.ops, subOp{kind: kind, channel: channel})
	b.subMu.Unlock()
	b.wakeSubscriber()
	return confirmed
}

func (b *Broker) unsubscribe(kind subKind, channel string) {
	b.routeMu.Lock()
	if kind == subPattern {
		delete(b.patterns, channel)
	} else {
		delete(b.routes, channel)
	}
	b.routeMu.Unlock()
	b.subMu.Lock()
	delete(b.subs, channel)
	delete(b.waiters, channel)
	b.ops = append(b.ops, subOp{kind: kind, channel: channel, unsubscribe: true})
	b.subMu.Unlock()
	b.wakeSubscriber()
}

func (b *Broker) wakeSubscriber() {
	select {
	case b.subWake <- struct{}{}:
	default:
	}
}

// subscriber sends subscription changes in order. go-redis remembers them
// even when the command cannot be sent, and resubscribes everything on
// reconnection, so a failure needs no retry here.
func (b *Broker) subscriber() {
	defer b.wg.Done()
	for {
		select {
		case <-b.ctx.Done():
			return
		case <-b.subWake:
		}
		b.subMu.Lock()
		ops := b.ops
		b.ops = nil
		b.subMu.Unlock()
		b.psMu.Lock()
		ps := b.ps
		b.psMu.Unlock()
		for _, op := range ops {
			var err error
			ctx, cancel := context.WithTimeout(b.ctx, b.opts.RequestsTimeout)
			switch {
			case op.kind == subPattern && op.unsubscribe:
				err = ps.PUnsubscribe(ctx, op.channel)
			case op.kind == subPattern:
				err = ps.PSubscribe(ctx, op.channel)
			case op.kind == subShard && op.unsubscribe:
				err = ps.SUnsubscribe(ctx, op.channel)
			case op.kind == subShard:
				err = ps.SSubscribe(ctx, op.channel)
			case op.unsubscribe:
				err = ps.Unsubscribe(ctx, op.channel)
			default:
				err = ps.Subscribe(ctx, op.channel)
			}
			cancel()
			if err != nil && b.ctx.Err() == nil {
				b.log.Debug("redis subscription change not sent yet", "channel", op.channel, "err", err)
			}
		}
	}
}

// receiveLoop reads the subscription connection and hands each message to
// its namespace's adapter. go-redis reconnects and resubscribes when the
// connection breaks; this loop backs off while Redis is away, counts and
// logs the loss and the recovery, and pings an idle connection to notice
// a dead one.
func (b *Broker) receiveLoop() {
	defer b.wg.Done()
	backoff := minBackoff
	broken, pingSent := false, false
	for {
		b.psMu.Lock()
		ps := b.ps
		b.psMu.Unlock()
		msg, err := ps.ReceiveTimeout(b.ctx, healthCheckInterval)
		if b.ctx.Err() != nil {
			return
		}
		if err != nil {
			var ne net.Error
			if !broken && errors.As(err, &ne) && ne.Timeout() {
				if pingSent {
					// No pong for a whole interval: the connection is dead
					// without having said so.
					b.errors.Add(1)
					b.log.Warn("redis subscription connection unresponsive, reconnecting")
					b.resetPubSub()
					broken, pingSent = true, false
					continue
				}
				pingSent = true
				_ = ps.Ping(b.ctx)
				continue
			}
			if !broken {
				broken = true
				b.healthy.Store(false)
				b.errors.Add(1)
				b.log.Warn("redis subscription lost, reconnecting", "err", err)
			}
			select {
			case <-b.ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, maxBackoff)
			continue
		}
		pingSent = false
		if broken {
			broken = false
			backoff = minBackoff
			b.healthy.Store(true)
			b.reconnects.Add(1)
			b.log.Info("redis subscription restored")
		}
		switch m := msg.(type) {
		case *goredis.Message:
			b.received.Add(1)
			b.dispatch(m)
		case *goredis.Subscription:
			if strings.HasSuffix(m.Kind, "subscribe") && !strings.HasSuffix(m.Kind, "unsubscribe") {
				b.confirm(m.Channel)
			}
		}
	}
}

// resetPubSub replaces the subscription connection and subscribes it to
// everything wanted.
func (b *Broker) resetPubSub() {
	b.psMu.Lock()
	_ = b.ps.Close()
	b.ps = b.newPubSub()
	b.psMu.Unlock()
	b.subMu.Lock()
	for ch, kind := range b.subs {
		b.ops = append(b.ops, subOp{kind: kind, channel: ch})
	}
	b.subMu.Unlock()
	b.wakeSubscriber()
}

func (b *Broker) confirm(channel string) {
	b.subMu.Lock()
	ws := b.waiters[channel]
	delete(b.waiters, channel)
	b.subMu.Unlock()
	for _, w := range ws {
		close(w)
	}
}

func (b *Broker) dispatch(m *goredis.Message) {
	payload := []byte(m.Payload)
	if m.Pattern == "" && m.Channel == b.syncCh {
		b.syncMu.Lock()
		if ch := b.syncs[string(payload)]; ch != nil {
			close(ch)
			delete(b.syncs, string(payload))
		}
		b.syncMu.Unlock()
		return
	}
	b.routeMu.RLock()
	var t *transport
	if m.Pattern != "" {
		t = b.patterns[m.Pattern]
	} else {
		t = b.routes[m.Channel]
	}
	b.routeMu.RUnlock()
	if t == nil {
		return
	}
	defer func() {
		// A panicking handler (a server-side emit listener, say) must not
		// take the cluster connection down.
		if r := recover(); r != nil {
			b.errors.Add(1)
			b.log.Error("redis adapter: handling a message panicked", "nsp", t.nsp, "channel", m.Channel, "panic", r)
		}
	}()
	if err := t.receive(m.Channel, m.Pattern != "", payload); err != nil {
		b.errors.Add(1)
		b.log.Debug("redis adapter: undecodable message", "channel", m.Channel, "err", err)
	}
}

// randomAlnum returns n random alphanumeric characters (the classic
// adapter's uid and request id format).
func randomAlnum(n int) string {
	const chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = chars[int(b[i])%len(chars)]
	}
	return string(b)
}
