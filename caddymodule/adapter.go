package caddymodule

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/prometheus/client_golang/prometheus"
	goredis "github.com/redis/go-redis/v9"

	"github.com/caddy-socketio/caddy-socketio/socketio"
	"github.com/caddy-socketio/caddy-socketio/socketio/adapter"
	"github.com/caddy-socketio/caddy-socketio/socketio/adapter/redis"
)

func init() {
	caddy.RegisterModule(MemoryAdapter{})
	caddy.RegisterModule(RedisAdapter{})
}

// AdapterModule is a module of the socketio.adapters namespace: it decides
// where a hub keeps room membership and how its broadcasts reach the
// sockets of other Caddy instances. memory and redis are built in; a
// third-party module registered as socketio.adapters.<name> is used with
// "adapter": {"type": "<name>", ...} in JSON, and in the Caddyfile as
// `adapter <name> ...` when it also implements caddyfile.Unmarshaler (its
// UnmarshalCaddyfile gets the tokens from <name> on).
type AdapterModule interface {
	caddy.Module
	// Identity describes the adapter's settings for the hub fingerprint:
	// changing them builds a new hub (a reload otherwise keeps the hub and
	// its adapter). "" is the in-memory adapter.
	Identity() string
	// Open creates the adapter's state for a new hub: it runs once per hub
	// (not per config load), and the hub closes what it returns after its
	// server. A nil HubAdapter means the in-memory adapter. log is the
	// hub's logger.
	Open(log *slog.Logger) (HubAdapter, error)
}

// HubAdapter is an adapter's state for one hub.
type HubAdapter interface {
	// Factory creates each namespace's adapter (see socketio/adapter and
	// its adaptertest suite, which an adapter should pass).
	Factory() adapter.Factory
	// Close releases the state once the hub's server is closed.
	Close() error
}

// MemoryAdapter keeps rooms in the memory of this Caddy instance: broadcasts
// reach only the sockets connected to it. This is the default.
type MemoryAdapter struct{}

// CaddyModule returns the Caddy module information.
func (MemoryAdapter) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "socketio.adapters.memory",
		New: func() caddy.Module { return new(MemoryAdapter) },
	}
}

// Identity implements AdapterModule.
func (*MemoryAdapter) Identity() string { return "" }

// Open implements AdapterModule: the in-memory adapter needs no state.
func (*MemoryAdapter) Open(*slog.Logger) (HubAdapter, error) { return nil, nil }

// RedisAdapter connects the hub to other Socket.IO servers (other Caddy
// instances, or Node servers using @socket.io/redis-adapter 8.x) through
// Redis pub/sub: room broadcasts, relays, namespace-wide emits and the
// cluster-wide socket queries (fetch sockets, join/leave/disconnect by room)
// reach the sockets of every server. Every server of one cluster must use
// the same Redis, prefix and sharded setting.
//
// The connection belongs to the hub, so it survives config reloads that
// keep the hub; changing any setting here builds a new hub (its clients
// reconnect). If Redis does not answer when the hub is created, loading
// the config fails with "redis adapter: cannot reach <url>: ...". Once
// running, losing Redis does not stop local delivery: publishes fail (and
// are counted in the metrics) and the subscription is re-established with
// backoff when Redis is back.
//
// Clients using HTTP long-polling must reach the same instance for every
// request of a session: put a load balancer with sticky sessions in front
// (see docs/scaling.md), or let clients use websocket only.
type RedisAdapter struct {
	// The Redis server, as a URL: redis://[[user]:password@]host[:port][/db],
	// rediss:// for TLS, or unix:///path/to/redis.sock. Options of go-redis
	// may be given as query parameters (e.g. ?dial_timeout=3s).
	// Placeholders such as {env.REDIS_URL} are replaced. Required.
	URL string `json:"url,omitempty"`

	// Prefix of every pub/sub channel name: the `key` option of the Node
	// adapter. Servers sharing a Redis form one cluster per prefix.
	// Default: "socket.io".
	Prefix string `json:"prefix,omitempty"`

	// How long a request to the other servers (fetch sockets, rooms,
	// emit with acknowledgement) waits for their answers; also bounds the
	// connection check at start and each publish. Default: 5s.
	RequestsTimeout caddy.Duration `json:"requests_timeout,omitempty"`

	// Use sharded pub/sub (SPUBLISH/SSUBSCRIBE, Redis 7 or later), the
	// format of Node's createShardedAdapter. Default: false (classic
	// PUBLISH/PSUBSCRIBE, compatible with @socket.io/redis-emitter).
	Sharded bool `json:"sharded,omitempty"`

	// Channels of the sharded format: "dynamic" (default; a broadcast to one
	// room uses that room's channel), "dynamic-private" (socket id rooms
	// too) or "static" (one channel per namespace).
	SubscriptionMode string `json:"subscription_mode,omitempty"`

	// Skip verification of the server's TLS certificate with rediss://.
	// For testing only. Default: false.
	TLSInsecureSkipVerify bool `json:"tls_insecure_skip_verify,omitempty"`

	url      string // URL with placeholders replaced
	redacted string // url without its password, for messages
	opts     *goredis.Options
}

// CaddyModule returns the Caddy module information.
func (RedisAdapter) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "socketio.adapters.redis",
		New: func() caddy.Module { return new(RedisAdapter) },
	}
}

// Provision resolves placeholders and parses the URL. It does not connect:
// the connection is made when a hub is created (see open).
func (r *RedisAdapter) Provision(caddy.Context) error {
	r.url = caddy.NewReplacer().ReplaceAll(r.URL, "")
	if r.url == "" {
		return errors.New("redis adapter: url is required")
	}
	opts, err := goredis.ParseURL(r.url)
	if err != nil {
		return fmt.Errorf("redis adapter: url: %w", err)
	}
	if r.TLSInsecureSkipVerify {
		if opts.TLSConfig == nil {
			return errors.New("redis adapter: tls_insecure_skip_verify needs a rediss:// url")
		}
		opts.TLSConfig.InsecureSkipVerify = true
	}
	r.opts = opts
	r.redacted = r.url
	if u, err := url.Parse(r.url); err == nil {
		r.redacted = u.Redacted()
	}
	return nil
}

// Validate checks the settings.
func (r *RedisAdapter) Validate() error {
	switch redis.SubscriptionMode(r.SubscriptionMode) {
	case "", redis.Dynamic, redis.DynamicPrivate, redis.Static:
	default:
		return fmt.Errorf("redis adapter: unknown subscription_mode %q (want dynamic, dynamic-private or static)", r.SubscriptionMode)
	}
	if r.RequestsTimeout < 0 {
		return errors.New("redis adapter: requests_timeout must not be negative")
	}
	return nil
}

func (r *RedisAdapter) brokerOptions(log *slog.Logger) redis.Options {
	o := redis.Options{
		Key:              r.Prefix,
		RequestsTimeout:  time.Duration(r.RequestsTimeout),
		Sharded:          r.Sharded,
		SubscriptionMode: redis.SubscriptionMode(r.SubscriptionMode),
		Logger:           log,
	}
	if o.Key == "" {
		o.Key = "socket.io"
	}
	if o.RequestsTimeout <= 0 {
		o.RequestsTimeout = 5 * time.Second
	}
	if o.SubscriptionMode == "" {
		o.SubscriptionMode = redis.Dynamic
	}
	return o
}

// Identity implements AdapterModule.
func (r *RedisAdapter) Identity() string {
	b, err := json.Marshal(struct {
		Type, URL string
		Options   redis.Options
		Insecure  bool
	}{"redis", r.url, r.brokerOptions(nil), r.TLSInsecureSkipVerify})
	if err != nil { // cannot happen: plain data
		panic(err)
	}
	return string(b)
}

// Open implements AdapterModule: it connects to Redis.
func (r *RedisAdapter) Open(log *slog.Logger) (HubAdapter, error) {
	opts := *r.opts
	if r.opts.TLSConfig != nil {
		opts.TLSConfig = r.opts.TLSConfig.Clone()
	}
	client := goredis.NewClient(&opts)
	bo := r.brokerOptions(log)
	ctx, cancel := context.WithTimeout(context.Background(), bo.RequestsTimeout)
	defer cancel()
	broker, err := redis.New(ctx, client, bo)
	if err != nil {
		_ = client.Close()
		if errors.Is(err, redis.ErrUnreachable) {
			// The broker's message repeats the sentinel; keep the cause.
			cause := strings.TrimPrefix(err.Error(), redis.ErrUnreachable.Error()+": ")
			return nil, fmt.Errorf("redis adapter: cannot reach %s: %s", r.redacted, cause)
		}
		return nil, err
	}
	log.Info("redis adapter connected", "url", r.redacted, "prefix", bo.Key, "sharded", bo.Sharded)
	return &cluster{factory: broker.NewAdapter, broker: broker, client: client}, nil
}

// cluster is the adapter state a hub owns: created with the hub, closed
// after its server.
type cluster struct {
	factory adapter.Factory
	broker  *redis.Broker
	client  *goredis.Client
}

// Factory implements HubAdapter.
func (c *cluster) Factory() adapter.Factory { return c.factory }

// Close implements HubAdapter.
func (c *cluster) Close() error {
	if c == nil || c.broker == nil {
		return nil
	}
	return errors.Join(c.broker.Close(), c.client.Close())
}

// loadAdapter loads the adapter module of the config (the memory adapter
// when none is set) and registers the adapter metrics.
func (h *Handler) loadAdapter(ctx caddy.Context) error {
	if err := registerAdapterMetrics(ctx.GetMetricsRegistry()); err != nil {
		return err
	}
	if h.AdapterRaw == nil {
		h.Adapter = new(MemoryAdapter)
		return nil
	}
	mod, err := ctx.LoadModule(h, "AdapterRaw")
	if err != nil {
		return fmt.Errorf("loading adapter: %w", err)
	}
	a, ok := mod.(AdapterModule)
	if !ok {
		return fmt.Errorf("module %T is not a socketio adapter", mod)
	}
	h.Adapter = a
	return nil
}

// adapterIdentity is the adapter's part of the hub fingerprint.
func (h *Handler) adapterIdentity() string {
	if h.Adapter == nil {
		return ""
	}
	return h.Adapter.Identity()
}

// createHub builds a new hub with the adapter of the config: for Redis, it
// connects first, and fails if Redis cannot be reached.
func (h *Handler) createHub(opts socketio.Options, live *liveSettings) (*hub, error) {
	logs := newSwapHandler(live.logs)
	var ha HubAdapter
	if h.Adapter != nil {
		var err error
		if ha, err = h.Adapter.Open(slog.New(logs).With("hub", h.hubName)); err != nil {
			return nil, err
		}
	}
	if ha != nil {
		opts.Adapter = ha.Factory()
	}
	hb := newHub(h.hubName, h.key, opts, live)
	hb.cluster, hb.clusterLogs = ha, logs
	return hb, nil
}

// unmarshalAdapter parses the adapter subdirective:
//
//	adapter memory
//	adapter redis <url> {
//	    prefix                   <prefix>
//	    requests_timeout         <duration>
//	    sharded                  on|off
//	    subscription_mode        dynamic|dynamic-private|static
//	    tls_insecure_skip_verify [on|off]
//	}
func (h *Handler) unmarshalAdapter(d *caddyfile.Dispenser) error {
	if h.AdapterRaw != nil {
		return d.Err("adapter already set")
	}
	if !d.NextArg() {
		return d.ArgErr()
	}
	var mod caddy.Module
	switch typ := d.Val(); typ {
	case "memory":
		if d.NextArg() {
			return d.ArgErr()
		}
		for nesting := d.Nesting(); d.NextBlock(nesting); {
			return d.Errf("adapter memory has no options, not %q", d.Val())
		}
		mod = new(MemoryAdapter)
	case "redis":
		r := new(RedisAdapter)
		if !d.AllArgs(&r.URL) {
			return d.Errf("adapter redis: want exactly one argument, the Redis URL")
		}
		if !strings.HasPrefix(r.URL, "{") { // placeholders are resolved at load
			if _, err := goredis.ParseURL(r.URL); err != nil {
				return d.Errf("adapter redis: %v", err)
			}
		}
		for nesting := d.Nesting(); d.NextBlock(nesting); {
			switch opt := d.Val(); opt {
			case "prefix":
				if !d.AllArgs(&r.Prefix) {
					return d.ArgErr()
				}
			case "requests_timeout":
				var v string
				if !d.AllArgs(&v) {
					return d.ArgErr()
				}
				dur, err := caddy.ParseDuration(v)
				if err != nil || dur <= 0 {
					return d.Errf("requests_timeout: want a positive duration, not %q", v)
				}
				r.RequestsTimeout = caddy.Duration(dur)
			case "sharded":
				b, err := parseOnOff(d)
				if err != nil {
					return err
				}
				r.Sharded = b
			case "subscription_mode":
				if !d.AllArgs(&r.SubscriptionMode) {
					return d.ArgErr()
				}
				if err := r.Validate(); err != nil {
					return d.Err(err.Error())
				}
			case "tls_insecure_skip_verify":
				b, err := parseFlag(d)
				if err != nil {
					return err
				}
				r.TLSInsecureSkipVerify = b
			default:
				return d.Errf("unrecognized redis adapter option %q", opt)
			}
		}
		mod = r
	default:
		// A third-party adapter module (AdapterModule) that parses its own
		// tokens.
		info, err := caddy.GetModule("socketio.adapters." + typ)
		if err != nil {
			return d.Errf("unknown adapter %q (want memory, redis or a socketio.adapters module)", typ)
		}
		m := info.New()
		u, ok := m.(caddyfile.Unmarshaler)
		if !ok {
			return d.Errf("adapter %q has no Caddyfile syntax; configure it in JSON", typ)
		}
		if err := u.UnmarshalCaddyfile(d.NewFromNextSegment()); err != nil {
			return err
		}
		mod = m
	}
	name := mod.CaddyModule().ID.Name()
	h.AdapterRaw = caddyconfig.JSONModuleObject(mod, "type", name, nil)
	return nil
}

// adapterCollector exports the Redis adapter's counters of every live hub,
// read at scrape time.
type adapterCollector struct {
	published, received, errors, reconnects, dropped *prometheus.Desc
}

var adapterMetrics = func() *adapterCollector {
	d := hubDesc
	return &adapterCollector{
		published:  d("redis_published_total", "Messages the Redis adapter published to other servers (accepted by Redis), by hub."),
		received:   d("redis_received_total", "Messages the Redis adapter received from Redis, by hub."),
		errors:     d("redis_errors_total", "Redis adapter errors: failed publishes, lost subscription connections, undecodable messages, by hub."),
		reconnects: d("redis_reconnects_total", "Redis subscription connections re-established after a loss, by hub."),
		dropped:    d("redis_dropped_total", "Messages the Redis adapter could not publish (queue full or publish failed), by hub."),
	}
}()

func registerAdapterMetrics(reg *prometheus.Registry) error {
	if reg == nil {
		return nil
	}
	if err := reg.Register(adapterMetrics); err != nil {
		var are prometheus.AlreadyRegisteredError
		if !errors.As(err, &are) {
			return err
		}
	}
	return nil
}

func (c *adapterCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.published, c.received, c.errors, c.reconnects, c.dropped} {
		ch <- d
	}
}

func (c *adapterCollector) Collect(ch chan<- prometheus.Metric) {
	byHub := make(map[string]*redis.Stats)
	var order []string
	hubs.Range(func(_, v any) bool {
		hb, ok := v.(*hub)
		cl, _ := hb.cluster.(*cluster)
		if !ok || cl == nil || cl.broker == nil {
			return true
		}
		s := byHub[hb.name]
		if s == nil {
			s = new(redis.Stats)
			byHub[hb.name] = s
			order = append(order, hb.name)
		}
		st := cl.broker.Stats()
		s.Published += st.Published
		s.Received += st.Received
		s.Errors += st.Errors
		s.Reconnects += st.Reconnects
		s.Dropped += st.Dropped
		return true
	})
	for _, name := range order {
		s := byHub[name]
		for _, m := range []struct {
			d *prometheus.Desc
			v uint64
		}{{c.published, s.Published}, {c.received, s.Received}, {c.errors, s.Errors}, {c.reconnects, s.Reconnects}, {c.dropped, s.Dropped}} {
			ch <- prometheus.MustNewConstMetric(m.d, prometheus.CounterValue, float64(m.v), name)
		}
	}
}

// Interface guards
var (
	_ AdapterModule        = (*MemoryAdapter)(nil)
	_ AdapterModule        = (*RedisAdapter)(nil)
	_ caddy.Provisioner    = (*RedisAdapter)(nil)
	_ caddy.Validator      = (*RedisAdapter)(nil)
	_ prometheus.Collector = (*adapterCollector)(nil)
)
