package caddymodule

import (
	"context"
	"log/slog"
	"sync/atomic"
)

// swapHandler is a slog.Handler that forwards to a handler which can be
// replaced at any time. The socketio library keeps the *slog.Logger it was
// created with for the life of the hub, but each Caddy config has its own
// logger (whose writers may be closed when that config is unloaded): a
// reload swaps the target to the new config's handler.
//
// Handlers derived with WithAttrs/WithGroup share the swappable target and
// re-derive from it lazily when it changes.
type swapHandler struct {
	target *atomic.Pointer[handlerBox] // shared by every derived handler
	derive []func(slog.Handler) slog.Handler
	cache  atomic.Pointer[derivedHandler]
}

type handlerBox struct{ h slog.Handler }

type derivedHandler struct {
	from *handlerBox
	h    slog.Handler
}

func newSwapHandler(h slog.Handler) *swapHandler {
	s := &swapHandler{target: new(atomic.Pointer[handlerBox])}
	s.set(h)
	return s
}

// set replaces the target of s and of every handler derived from it.
func (s *swapHandler) set(h slog.Handler) {
	if h == nil {
		h = slog.DiscardHandler
	}
	s.target.Store(&handlerBox{h})
}

func (s *swapHandler) current() slog.Handler {
	box := s.target.Load()
	if len(s.derive) == 0 {
		return box.h
	}
	if d := s.cache.Load(); d != nil && d.from == box {
		return d.h
	}
	h := box.h
	for _, f := range s.derive {
		h = f(h)
	}
	s.cache.Store(&derivedHandler{from: box, h: h})
	return h
}

func (s *swapHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return s.current().Enabled(ctx, l)
}

func (s *swapHandler) Handle(ctx context.Context, r slog.Record) error {
	return s.current().Handle(ctx, r)
}

func (s *swapHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return s.with(func(h slog.Handler) slog.Handler { return h.WithAttrs(attrs) })
}

func (s *swapHandler) WithGroup(name string) slog.Handler {
	return s.with(func(h slog.Handler) slog.Handler { return h.WithGroup(name) })
}

func (s *swapHandler) with(f func(slog.Handler) slog.Handler) *swapHandler {
	d := make([]func(slog.Handler) slog.Handler, len(s.derive), len(s.derive)+1)
	copy(d, s.derive)
	return &swapHandler{target: s.target, derive: append(d, f)}
}

var _ slog.Handler = (*swapHandler)(nil)
