package engine

import (
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync/atomic"
	"time"
)

// Panics.
//
// Every goroutine the engine starts (epoll pollers, read workers, blocking
// readers, writers, timers) and every call into the application
// (Config.OnSession, SessionHandler.OnMessage and OnClose) recovers a
// panic: the connection concerned is closed (a websocket gets close code
// 1011), the panic is logged at ERROR with its stack (at most one line a
// second, with the number suppressed meanwhile) and counted in
// Stats.Panics and Panics. One faulty handler or engine bug costs one
// connection, never the process.

// closeInternalError is the websocket close code of a connection closed
// because of a panic (RFC 6455 §7.4.1).
const closeInternalError = 1011

var panicsTotal atomic.Uint64

// Panics returns the number of panics the engine recovered in this process,
// whichever Server they belonged to (the pollers are shared by all).
func Panics() uint64 { return panicsTotal.Load() }

// logLimiter lets one log line through per interval and counts the others.
type logLimiter struct {
	lastNs     atomic.Int64
	suppressed atomic.Uint64
}

// allow reports whether to log now, and how many lines were suppressed
// since the last one.
func (l *logLimiter) allow(every time.Duration) (bool, uint64) {
	now := time.Now().UnixNano()
	last := l.lastNs.Load()
	if now-last < int64(every) || !l.lastNs.CompareAndSwap(last, now) {
		l.suppressed.Add(1)
		return false, 0
	}
	return true, l.suppressed.Swap(0)
}

var panicLog logLimiter

// recovered counts and logs a recovered panic r (srv may be nil for the
// shared pollers). It must be called from the deferred function that
// recovered, so that the stack is the panicking one.
func (srv *Server) recovered(r any, where, sid string) {
	panicsTotal.Add(1)
	log := slog.Default()
	if srv != nil {
		srv.counters.panics.Add(1)
		log = srv.log
	}
	if ok, suppressed := panicLog.allow(time.Second); ok {
		log.Error("engine: panic recovered, closing the connection",
			"where", where, "sid", sid, "panic", fmt.Sprint(r),
			"stack", string(debug.Stack()), "suppressed_since_last", suppressed)
	}
}

// recoverClose is deferred by the goroutines and timers of a session: on a
// panic the session is closed (its websocket dropped).
func (s *Session) recoverClose(where string) {
	if r := recover(); r != nil {
		s.srv.recovered(r, where, s.id)
		s.close(ReasonTransportError, false)
	}
}

// Recover is for goroutines and timers the application runs on behalf of a
// session (acknowledgement timeouts, connect timers): deferred directly
// (defer s.Recover("what")), it recovers a panic, logs and counts it like
// the engine's own, and closes the session.
func (s *Session) Recover(where string) {
	if r := recover(); r != nil {
		s.srv.recovered(r, where, s.id)
		s.closeWithCode(ReasonTransportError, false, closeInternalError)
	}
}

// recoverRead is deferred by websocket readers: on a panic the connection
// is closed (the session with it, unless c is an upgrade probe).
func (c *wsConn) recoverRead() {
	if r := recover(); r != nil {
		c.panicked(r)
	}
}

func (c *wsConn) panicked(r any) {
	s := c.s
	if s == nil {
		panicsTotal.Add(1)
		c.close()
		return
	}
	s.srv.recovered(r, "websocket reader", s.id)
	if c.active {
		s.close(ReasonTransportError, false)
	} else {
		s.endProbe(c)
	}
	c.close()
}

// callOnSession runs Config.OnSession; on a panic it reports it and
// returns a nil handler.
func (s *Session) callOnSession() (h SessionHandler, panicked bool) {
	defer func() {
		if r := recover(); r != nil {
			s.srv.recovered(r, "OnSession", s.id)
			h, panicked = nil, true
		}
	}()
	return s.srv.cfg.OnSession(s), false
}

// callOnMessage runs h.OnMessage and reports whether it panicked.
func (s *Session) callOnMessage(h SessionHandler, data []byte, binary bool) (panicked bool) {
	defer func() {
		if r := recover(); r != nil {
			s.srv.recovered(r, "OnMessage", s.id)
			panicked = true
		}
	}()
	h.OnMessage(s, data, binary)
	return false
}

// callOnClose runs h.OnClose; a panic is reported (the session is closed
// already).
func (s *Session) callOnClose(h SessionHandler, reason Reason) {
	defer func() {
		if r := recover(); r != nil {
			s.srv.recovered(r, "OnClose", s.id)
		}
	}()
	h.OnClose(s, reason)
}
