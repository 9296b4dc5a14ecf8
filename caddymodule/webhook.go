package caddymodule

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/dustin/go-humanize"

	"github.com/caddy-socketio/caddy-socketio/caddymodule/hooks"
)

// hooksCloseTimeout bounds the drain of the queued hooks when a hub is
// destroyed (its server closed first, so the disconnect hooks are queued).
const hooksCloseTimeout = 5 * time.Second

// Hook is one application endpoint that receives the connects, events and
// disconnects it selects as signed HTTP POSTs, and whose JSON replies Caddy
// carries out (ack the client, emit to sockets or rooms, join, leave, store
// data on the socket, disconnect it, refuse the connection).
// docs/webhooks.md is the contract for the application.
type Hook struct {
	// URL the hook POSTs to, http or https. Required. Placeholders such as
	// {env.APP_URL} are replaced when the config is loaded.
	URL string `json:"url"`

	// Namespaces whose sockets the hook receives: exact names ("/",
	// "/chat"), "~" followed by a regular expression matched against the
	// namespace name, or "*". Default: all namespaces.
	Namespaces []string `json:"namespaces,omitempty"`

	// Events the hook receives: "connect", "disconnect", event names
	// ("chatInput"), or "*" for all of them. Default: all.
	Events []string `json:"events,omitempty"`

	// Secret that signs every request (X-Socketio-Signature: "sha256=" +
	// hex HMAC-SHA256 of timestamp "." body). Placeholders such as
	// {env.SOCKETIO_HOOK_SECRET} are replaced when the config is loaded, so
	// the secret need not be written in the config. Default: unsigned.
	Secret string `json:"secret,omitempty"`

	// Timeout of one request, from sending it to the end of the reply body;
	// a connect hook also waits for a free request slot within it. A
	// connecting client waits at most this long per connect hook.
	// Default: 5s.
	Timeout caddy.Duration `json:"timeout,omitempty"`

	// What a connect does when this hook fails (unreachable, timeout,
	// status other than 2xx, invalid reply): "deny" refuses the connection
	// (connect_error "hook failed"), "allow" accepts it as if the app had
	// answered an empty body. Default: "deny".
	OnError string `json:"on_error,omitempty"`

	// Batch, when above 1, sends the hook's events and disconnects of
	// several sockets in one POST of type "batch" (at most this many),
	// the reply carrying one reply per event (docs/webhooks.md). Each
	// socket's are still delivered one at a time, in order. Default: off.
	Batch int `json:"batch,omitempty"`

	// Extra request headers, e.g. {"X-Api-Key": ["{env.APP_KEY}"]}
	// (placeholders are replaced when the config is loaded). Content-Type
	// and X-Socketio-* are reserved.
	Header http.Header `json:"header,omitempty"`
}

// hooksConfig returns the dispatcher configuration of the handler, with the
// placeholders of URLs, secrets and header values replaced, validated.
func (h *Handler) hooksConfig() (hooks.Config, error) {
	repl := caddy.NewReplacer()
	cfg := hooks.Config{
		Concurrency:        h.HookConcurrency,
		QueueSize:          h.HookQueueSize,
		QueueBytes:         h.HookQueueBytes,
		MaxQueued:          h.HookMaxQueued,
		MaxQueuedBytes:     h.HookMaxQueuedBytes,
		Overflow:           h.HookOverflow,
		DisconnectAttempts: h.HookDisconnectAttempts,
		RetryBackoff:       time.Duration(h.HookRetryBackoff),
		RetryBackoffMax:    time.Duration(h.HookRetryBackoffMax),
		MaxReplyBytes:      h.HookMaxReplyBytes,
		ForwardHeaders:     h.ForwardHeaders,
	}
	for _, hk := range h.Hooks {
		c := hooks.Hook{
			URL:        repl.ReplaceKnown(hk.URL, ""),
			Namespaces: hk.Namespaces,
			Events:     hk.Events,
			Secret:     repl.ReplaceKnown(hk.Secret, ""),
			Timeout:    time.Duration(hk.Timeout),
			OnError:    hk.OnError,
			Batch:      hk.Batch,
		}
		if hk.Secret != "" && c.Secret == "" {
			return cfg, fmt.Errorf("hook %s: secret %q is empty once its placeholders are replaced", hookLabel(c.URL), hk.Secret)
		}
		if len(hk.Header) > 0 {
			c.Header = make(http.Header, len(hk.Header))
			for k, vs := range hk.Header {
				for _, v := range vs {
					c.Header.Add(k, repl.ReplaceKnown(v, ""))
				}
			}
		}
		cfg.Hooks = append(cfg.Hooks, c)
	}
	if err := cfg.Validate(); err != nil {
		return cfg, fmt.Errorf("hooks: %w", err)
	}
	return cfg, nil
}

// hookLabel is the metrics label and log name of a hook URL: without user
// info, query and fragment, so that secrets passed in the URL stay out of
// metrics and the label set stays bounded by the config.
func hookLabel(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		if i := strings.IndexAny(raw, "?#"); i >= 0 {
			raw = raw[:i]
		}
		if i := strings.LastIndex(raw, "@"); i >= 0 {
			if j := strings.Index(raw, "://"); j >= 0 && j < i {
				raw = raw[:j+3] + raw[i+1:]
			}
		}
		return raw
	}
	u.User = nil
	u.RawQuery, u.ForceQuery = "", false
	u.Fragment, u.RawFragment = "", ""
	return u.String()
}

// startHooks creates the hub's dispatcher. It is registered on "/" and on
// the parent of every other namespace by newHub, between the hub's own
// admission middleware and its rules' connection handler. A config that
// could not be applied (it was validated at Provision, so this does not
// happen) leaves the dispatcher without hooks.
func (hb *hub) startHooks(cfg hooks.Config) {
	d, err := hooks.New(cfg, hb.log)
	if err != nil {
		hb.log.Error("webhooks not started", "hub", hb.name, "error", err)
		d, _ = hooks.New(hooks.Config{}, hb.log)
	}
	hb.dispatcher = d
}

// updateHooks makes a reloaded config's hooks and limits live.
func (hb *hub) updateHooks(cfg hooks.Config) {
	if hb.dispatcher == nil {
		return
	}
	if err := hb.dispatcher.Update(cfg); err != nil {
		hb.log.Error("webhooks not updated", "hub", hb.name, "error", err)
	}
}

// closeHooks drains the hooks queued before the hub's server closed (the
// disconnect hooks of its sockets), for at most hooksCloseTimeout.
func (hb *hub) closeHooks() {
	if hb.dispatcher == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), hooksCloseTimeout)
	defer cancel()
	if err := hb.dispatcher.Close(ctx); err != nil {
		hb.log.Warn("webhooks not all delivered before the deadline", "hub", hb.name, "error", err)
	}
}

// parseHook parses a `hook <url> { ... }` block.
func parseHook(d *caddyfile.Dispenser, h *Handler) error {
	var hk Hook
	if !d.NextArg() {
		return d.ArgErr()
	}
	hk.URL = d.Val()
	if d.NextArg() {
		return d.ArgErr()
	}
	line := d.Line()
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch opt := d.Val(); opt {
		case "namespaces":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.ArgErr()
			}
			hk.Namespaces = append(hk.Namespaces, args...)
		case "events":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.ArgErr()
			}
			hk.Events = append(hk.Events, args...)
		case "secret":
			if !d.AllArgs(&hk.Secret) {
				return d.ArgErr()
			}
			if hk.Secret == "" {
				return d.Errf("hook secret: empty value")
			}
		case "timeout":
			var v string
			if !d.AllArgs(&v) {
				return d.ArgErr()
			}
			dur, err := caddy.ParseDuration(v)
			if err != nil {
				return d.Errf("hook timeout: %v", err)
			}
			if dur <= 0 {
				return d.Errf("hook timeout must be positive")
			}
			hk.Timeout = caddy.Duration(dur)
		case "on_error":
			if !d.AllArgs(&hk.OnError) {
				return d.ArgErr()
			}
			if hk.OnError != hooks.OnErrorDeny && hk.OnError != hooks.OnErrorAllow {
				return d.Errf("hook on_error: want deny or allow, not %q", hk.OnError)
			}
		case "batch":
			var v string
			if !d.AllArgs(&v) {
				return d.ArgErr()
			}
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > 10000 {
				return d.Errf("hook batch: want 1 to 10000, not %q", v)
			}
			hk.Batch = n
		case "header":
			var k, v string
			if !d.AllArgs(&k, &v) {
				return d.ArgErr()
			}
			if hk.Header == nil {
				hk.Header = make(http.Header)
			}
			hk.Header.Add(k, v)
		default:
			return d.Errf("unrecognized hook option %q", opt)
		}
	}
	// Check what can be checked before placeholders are replaced, so the
	// error carries the line.
	check := hooks.Hook{URL: hk.URL, Namespaces: hk.Namespaces, Events: hk.Events,
		Timeout: time.Duration(hk.Timeout), OnError: hk.OnError, Header: hk.Header}
	if strings.Contains(check.URL, "{") {
		check.URL = "http://placeholder.invalid/"
	}
	if err := (hooks.Config{Hooks: []hooks.Hook{check}}).Validate(); err != nil {
		if inner := errors.Unwrap(err); inner != nil {
			err = inner
		}
		return d.Errf("hook %s (line %d): %v", hookLabel(hk.URL), line, err)
	}
	h.Hooks = append(h.Hooks, hk)
	return nil
}

// parseHookLimit parses one of the hook_* limits shared by all hooks.
func parseHookLimit(d *caddyfile.Dispenser, h *Handler, opt string) error {
	var v string
	if !d.AllArgs(&v) {
		return d.ArgErr()
	}
	switch opt {
	case "hook_overflow":
		switch v {
		case hooks.OverflowBackpressure, hooks.OverflowDrop, hooks.OverflowDisconnect:
			h.HookOverflow = v
		default:
			return d.Errf("hook_overflow: want backpressure, drop or disconnect, not %q", v)
		}
	case "hook_queue_bytes", "hook_max_queued_bytes":
		n, err := humanize.ParseBytes(v)
		if err != nil {
			return d.Errf("%s: %v", opt, err)
		}
		if n == 0 || n > 1<<40 {
			return d.Errf("%s out of range: %q", opt, v)
		}
		if opt == "hook_queue_bytes" {
			h.HookQueueBytes = int64(n)
		} else {
			h.HookMaxQueuedBytes = int64(n)
		}
	case "hook_retry_backoff", "hook_retry_backoff_max":
		dur, err := caddy.ParseDuration(v)
		if err != nil {
			return d.Errf("%s: %v", opt, err)
		}
		if dur <= 0 {
			return d.Errf("%s must be positive", opt)
		}
		if opt == "hook_retry_backoff" {
			h.HookRetryBackoff = caddy.Duration(dur)
		} else {
			h.HookRetryBackoffMax = caddy.Duration(dur)
		}
	case "hook_max_reply_bytes":
		n, err := humanize.ParseBytes(v)
		if err != nil {
			return d.Errf("%s: %v", opt, err)
		}
		if n == 0 || n > 1<<40 {
			return d.Errf("%s out of range: %q", opt, v)
		}
		h.HookMaxReplyBytes = int64(n)
	default:
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 || n > 1<<30 {
			return d.Errf("%s: want a positive integer, not %q", opt, v)
		}
		switch opt {
		case "hook_concurrency":
			h.HookConcurrency = n
		case "hook_queue_size":
			h.HookQueueSize = n
		case "hook_max_queued":
			h.HookMaxQueued = n
		case "hook_disconnect_attempts":
			h.HookDisconnectAttempts = n
		default:
			return d.Errf("unrecognized socketio option %q", opt)
		}
	}
	return nil
}

// webhookSettings are the hook and API settings, for the fingerprint that
// two handlers sharing a hub must agree on.
func (h *Handler) webhookSettings() any {
	if len(h.Hooks) == 0 && h.API == nil && h.HookConcurrency == 0 && h.HookQueueSize == 0 &&
		h.HookMaxQueued == 0 && h.HookDisconnectAttempts == 0 && h.HookRetryBackoff == 0 &&
		h.HookRetryBackoffMax == 0 && h.HookMaxReplyBytes == 0 && h.HookQueueBytes == 0 &&
		h.HookMaxQueuedBytes == 0 && h.HookOverflow == "" {
		return nil
	}
	return []any{h.Hooks, h.HookConcurrency, h.HookQueueSize, h.HookMaxQueued, h.HookDisconnectAttempts,
		h.HookRetryBackoff, h.HookRetryBackoffMax, h.HookMaxReplyBytes, h.API,
		h.HookQueueBytes, h.HookMaxQueuedBytes, h.HookOverflow}
}
