package hooks

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// Defaults applied by New and Update to zero fields.
const (
	DefaultTimeout            = 5 * time.Second
	DefaultConcurrency        = 64
	DefaultQueueSize          = 64
	DefaultMaxQueued          = 65536
	DefaultDisconnectAttempts = 3
	DefaultRetryBackoff       = 100 * time.Millisecond
	DefaultRetryBackoffMax    = time.Second
	DefaultMaxReplyBytes      = 1 << 20
	DefaultQueueBytes         = 4 << 20
	DefaultMaxQueuedBytes     = 256 << 20
	DefaultOverflow           = OverflowBackpressure
)

// Overflow policies: what happens to a socket's event when its queue (or
// all queues together) is full.
const (
	// OverflowBackpressure queues the event and stops reading from the
	// socket's connection until its queue has room again (and the queues
	// together are under their bounds): TCP and HTTP flow control slow the
	// client down; nothing is dropped.
	OverflowBackpressure = "backpressure"
	// OverflowDrop drops the event, counted, with an error ack
	// {"error":"hook failed","reason":"queue_full"} when the client asked
	// for one.
	OverflowDrop = "drop"
	// OverflowDisconnect drops the event as OverflowDrop does and closes
	// the client's connection.
	OverflowDisconnect = "disconnect"
)

// Config configures a Dispatcher: the hooks and the limits shared by all of
// them. Zero values mean the documented default.
type Config struct {
	// The hooks, called in this order when several select the same
	// connect, event or disconnect. Default: none (the Dispatcher does
	// nothing).
	Hooks []Hook `json:"hooks,omitempty"`

	// Concurrency is the most hook requests in flight at once, all hooks
	// and sockets together (connect hooks included). Default 64.
	Concurrency int `json:"concurrency,omitempty"`

	// QueueSize is the most events one socket may have waiting for their
	// hooks (the one being delivered not counted). What happens to the
	// next one is Overflow's choice. A disconnect is always queued.
	// Default 64.
	QueueSize int `json:"queue_size,omitempty"`

	// QueueBytes bounds the bytes one socket's queued events hold (the
	// one being delivered counted), as encoded for the request: the JSON
	// of their arguments, binary counted by its base64 size, plus a fixed
	// 256 bytes each. One event is always accepted into an empty queue,
	// so a single event larger than the bound still goes through.
	// Default 4 MiB.
	QueueBytes int64 `json:"queue_bytes,omitempty"`

	// MaxQueued is the most events and disconnects accepted and not yet
	// done (queued or being delivered) in all sockets together; beyond it
	// Overflow applies as when a socket's queue is full.
	// Default 65536.
	MaxQueued int `json:"max_queued,omitempty"`

	// MaxQueuedBytes bounds the bytes of all sockets' queued events
	// together, counted as QueueBytes counts them. Disconnects are always
	// queued, and with backpressure each socket may add the event that
	// made it pause. Default 256 MiB.
	MaxQueuedBytes int64 `json:"max_queued_bytes,omitempty"`

	// Overflow is the policy for an event that finds its socket's queue,
	// or all queues together, full: "backpressure" (pause reading that
	// client until there is room; nothing is dropped), "drop" or
	// "disconnect". Default "backpressure".
	Overflow string `json:"overflow,omitempty"`

	// DisconnectAttempts is how many times a disconnect hook is tried when
	// the app is unreachable, times out or answers 429 or 5xx (apps keep
	// presence with it). Other hooks are tried once. Default 3.
	DisconnectAttempts int `json:"disconnect_attempts,omitempty"`

	// RetryBackoff is the wait before the second attempt; it doubles for
	// each further attempt up to RetryBackoffMax. Defaults 100ms and 1s.
	RetryBackoff    time.Duration `json:"retry_backoff,omitempty"`
	RetryBackoffMax time.Duration `json:"retry_backoff_max,omitempty"`

	// MaxReplyBytes bounds the reply body read from the app; a longer reply
	// is a failed delivery. Default 1 MiB.
	MaxReplyBytes int64 `json:"max_reply_bytes,omitempty"`

	// ForwardHeaders lists the handshake headers hook requests carry
	// (case-insensitive; "*" for all). Default: every header but
	// RedactedHeaders (cookie, authorization, proxy-authorization).
	ForwardHeaders []string `json:"forward_headers,omitempty"`

	// Transport makes the HTTP requests. Default: a clone of
	// http.DefaultTransport keeping Concurrency idle connections per host.
	Transport http.RoundTripper `json:"-"`
}

// Hook is one app endpoint and the connects, events and disconnects it
// receives.
type Hook struct {
	// URL the hook POSTs to, http or https. Required.
	URL string `json:"url"`

	// Namespaces whose sockets the hook receives: exact names ("/",
	// "/chat"), "~" followed by a regular expression matched against the
	// name ("~^/room-\\d+$"), or "*". Default: all namespaces.
	Namespaces []string `json:"namespaces,omitempty"`

	// Events the hook receives: "connect", "disconnect", event names
	// ("chatInput"), or "*" for all of them. Default: all ("*").
	Events []string `json:"events,omitempty"`

	// Secret signs every request: X-Socketio-Signature is
	// "sha256=" + hex(HMAC-SHA256(secret, timestamp + "." + body)).
	// Default: requests are not signed.
	Secret string `json:"secret,omitempty"`

	// Timeout bounds one request, from sending it to reading the whole
	// reply. A connect hook also waits for a free request slot within it.
	// Default 5s.
	Timeout time.Duration `json:"timeout,omitempty"`

	// OnError decides a connect when this hook fails (app unreachable,
	// timeout, status other than 2xx, invalid reply): "deny" refuses the
	// connection with connect_error {"message":"hook failed",
	// "data":{"reason":...}}, "allow" lets it connect as if the hook had
	// answered with an empty body. Default "deny".
	OnError string `json:"on_error,omitempty"`

	// Batch, when above 1, sends this hook's events and disconnects in
	// batches of up to Batch, several sockets in one POST of type "batch"
	// (docs/webhooks.md); each socket's still go one at a time, in order.
	// Connects are never batched. Default 0: one request per event.
	Batch int `json:"batch,omitempty"`

	// Header adds headers to every request, e.g. {"X-Api-Key": ["k"]}.
	// They cannot replace Content-Type or the X-Socketio-* headers.
	Header http.Header `json:"header,omitempty"`
}

// OnError values.
const (
	OnErrorDeny  = "deny"
	OnErrorAllow = "allow"
)

// Event type names used in Hook.Events and in the request's "type"
// ("event" for the others).
const (
	TypeConnect    = "connect"
	TypeEvent      = "event"
	TypeDisconnect = "disconnect"
	// TypeExpire ends a disconnect that was "recoverable": the recovery
	// window ran out and the socket is gone for good. Hooks selecting
	// "disconnect" receive it.
	TypeExpire = "expire"
)

// compiled is a validated Config with defaults applied.
type compiled struct {
	cfg     Config
	hooks   []*hook
	headers *HeaderFilter
}

// hook is a validated Hook.
type hook struct {
	index   int
	url     string
	name    string // the URL without user info, for logs and Stats
	allNS   bool
	ns      map[string]bool
	nsRe    []*regexp.Regexp
	allEv   bool
	events  map[string]bool
	secret  []byte
	timeout time.Duration
	allow   bool
	header  http.Header
	stats   *hookStats
	batch   int
	batcher *batcher
}

func (c Config) withDefaults() Config {
	if c.Concurrency <= 0 {
		c.Concurrency = DefaultConcurrency
	}
	if c.QueueSize <= 0 {
		c.QueueSize = DefaultQueueSize
	}
	if c.MaxQueued <= 0 {
		c.MaxQueued = DefaultMaxQueued
	}
	if c.QueueBytes <= 0 {
		c.QueueBytes = DefaultQueueBytes
	}
	if c.MaxQueuedBytes <= 0 {
		c.MaxQueuedBytes = DefaultMaxQueuedBytes
	}
	if c.Overflow == "" {
		c.Overflow = DefaultOverflow
	}
	if c.DisconnectAttempts <= 0 {
		c.DisconnectAttempts = DefaultDisconnectAttempts
	}
	if c.RetryBackoff <= 0 {
		c.RetryBackoff = DefaultRetryBackoff
	}
	if c.RetryBackoffMax <= 0 {
		c.RetryBackoffMax = DefaultRetryBackoffMax
	}
	if c.RetryBackoffMax < c.RetryBackoff {
		c.RetryBackoffMax = c.RetryBackoff
	}
	if c.MaxReplyBytes <= 0 {
		c.MaxReplyBytes = DefaultMaxReplyBytes
	}
	return c
}

// reservedHeader reports whether the dispatcher sets or the HTTP client
// manages a header, so that it cannot be configured.
func reservedHeader(canonical string) bool {
	if strings.HasPrefix(canonical, "X-Socketio-") {
		return true
	}
	switch canonical {
	case "Content-Type", "Content-Length", "Transfer-Encoding", "Connection",
		"Keep-Alive", "Te", "Trailer", "Upgrade", "Expect", "Proxy-Connection":
		return true
	}
	return false
}

// validHeaderName reports whether k is an RFC 9110 token.
func validHeaderName(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
			continue
		}
		if !strings.ContainsRune("!#$%&'*+-.^_`|~", rune(c)) {
			return false
		}
	}
	return true
}

// validHeaderValue refuses control characters other than tab.
func validHeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 0x20 && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

// Validate reports the first problem of c, without applying it.
func (c Config) Validate() error {
	_, err := compile(c)
	return err
}

func compile(c Config) (*compiled, error) {
	c = c.withDefaults()
	switch c.Overflow {
	case OverflowBackpressure, OverflowDrop, OverflowDisconnect:
	default:
		return nil, fmt.Errorf("overflow must be %s, %s or %s, not %q", OverflowBackpressure, OverflowDrop, OverflowDisconnect, c.Overflow)
	}
	out := &compiled{cfg: c, headers: NewHeaderFilter(c.ForwardHeaders)}
	for i, h := range c.Hooks {
		ch, err := compileHook(i, h)
		if err != nil {
			return nil, fmt.Errorf("hook %d (%s): %w", i, redact(h.URL), err)
		}
		out.hooks = append(out.hooks, ch)
	}
	return out, nil
}

func compileHook(i int, h Hook) (*hook, error) {
	u, err := url.Parse(h.URL)
	if err != nil {
		return nil, fmt.Errorf("invalid url: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errors.New("url must be absolute http:// or https://")
	}
	ch := &hook{
		index:   i,
		url:     h.URL,
		name:    redact(h.URL),
		ns:      map[string]bool{},
		events:  map[string]bool{},
		timeout: h.Timeout,
		header:  http.Header{},
		batch:   h.Batch,
		batcher: &batcher{},
	}
	if h.Batch < 0 || h.Batch > 10000 {
		return nil, errors.New("batch must be between 0 and 10000")
	}
	if ch.timeout < 0 {
		return nil, errors.New("timeout must not be negative")
	}
	if ch.timeout == 0 {
		ch.timeout = DefaultTimeout
	}
	switch strings.ToLower(h.OnError) {
	case "", OnErrorDeny:
	case OnErrorAllow:
		ch.allow = true
	default:
		return nil, fmt.Errorf("on_error must be %q or %q, not %q", OnErrorDeny, OnErrorAllow, h.OnError)
	}
	if h.Secret != "" {
		ch.secret = []byte(h.Secret)
	}
	if len(h.Namespaces) == 0 {
		ch.allNS = true
	}
	for _, n := range h.Namespaces {
		switch {
		case n == "*":
			ch.allNS = true
		case strings.HasPrefix(n, "~"):
			re, err := regexp.Compile(n[1:])
			if err != nil {
				return nil, fmt.Errorf("namespace pattern %q: %w", n, err)
			}
			ch.nsRe = append(ch.nsRe, re)
		case strings.HasPrefix(n, "/"):
			ch.ns[n] = true
		default:
			return nil, fmt.Errorf("namespace %q must start with / or ~, or be *", n)
		}
	}
	if len(h.Events) == 0 {
		ch.allEv = true
	}
	for _, e := range h.Events {
		switch {
		case e == "*":
			ch.allEv = true
		case e == "":
			return nil, errors.New("empty event name")
		default:
			ch.events[e] = true
		}
	}
	for k, vs := range h.Header {
		if !validHeaderName(k) {
			return nil, fmt.Errorf("invalid header name %q", k)
		}
		ck := http.CanonicalHeaderKey(k)
		if reservedHeader(ck) {
			return nil, fmt.Errorf("header %s is set by the dispatcher", ck)
		}
		for _, v := range vs {
			if !validHeaderValue(v) {
				return nil, fmt.Errorf("invalid value for header %s", ck)
			}
			if ck == "Host" {
				continue
			}
			ch.header.Add(ck, v)
		}
		if ck == "Host" && len(vs) > 0 {
			ch.header["Host"] = []string{vs[0]}
		}
	}
	return ch, nil
}

// selects reports whether the hook receives what (connect, disconnect or an
// event name) in namespace nsp.
func (h *hook) selects(nsp, what string) bool {
	if !h.allNS && !h.ns[nsp] {
		matched := false
		for _, re := range h.nsRe {
			if re.MatchString(nsp) {
				matched = true
				break
			}
		}
		if !matched {
			return false
		}
	}
	return h.allEv || h.events[what]
}

// selectHooks returns the hooks receiving what in nsp, in config order.
func (c *compiled) selectHooks(nsp, what string) []*hook {
	var out []*hook
	for _, h := range c.hooks {
		if h.selects(nsp, what) {
			out = append(out, h)
		}
	}
	return out
}

// redact drops the user info of a URL for logs and metrics labels.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	u.User = nil
	return u.String()
}
