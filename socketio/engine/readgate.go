package engine

import (
	"context"
	"sync"
)

// Pausing reads: backpressure from whoever consumes a session's messages.
//
// PauseReads asks the session to stop handing message packets to
// OnMessage; the packet being dispatched finishes, and the next message
// packet waits, on the goroutine that read it, until ResumeReads or the
// close of the session. The reader does not read on meanwhile: a websocket
// is not re-armed (or its blocking reader stays blocked), so the TCP
// window closes and the client's writes slow down; a polling POST's
// response is held, so the client sends no further POST. Other sessions are
// never involved: each has its own reader.
//
// Heartbeat. A reader held at the gate cannot see the client's pong, which
// is a data packet behind the messages the client already sent. While the
// reader is held, a missing pong does not close the session: pings go on
// being sent every ping interval, and the session is still closed when
// the transport really fails: a websocket write that fails (the peer reset
// or closed the connection; a peer that vanished without a reset is found
// by TCP's own retransmission timeout), or the client of a held polling
// POST going away (its request context ends). When reads resume the pong
// gets one more ping timeout to arrive.
//
// Pauses nest: reads resume when every PauseReads has had its ResumeReads.
type readGate struct {
	mu      sync.Mutex
	pauses  int
	resume  chan struct{} // closed when pauses drops to zero; nil while not paused
	holding bool          // a reader is waiting at the gate
	postCtx context.Context
}

// PauseReads stops dispatching the session's message packets after the
// one being dispatched, until ResumeReads. It never blocks.
func (s *Session) PauseReads() {
	g := &s.gate
	g.mu.Lock()
	if g.pauses == 0 {
		g.resume = make(chan struct{})
	}
	g.pauses++
	g.mu.Unlock()
}

// ResumeReads undoes one PauseReads. Extra calls do nothing.
func (s *Session) ResumeReads() {
	g := &s.gate
	g.mu.Lock()
	if g.pauses > 0 {
		g.pauses--
		if g.pauses == 0 {
			close(g.resume)
			g.resume = nil
		}
	}
	g.mu.Unlock()
}

// ReadsPaused reports whether PauseReads is in force.
func (s *Session) ReadsPaused() bool {
	s.gate.mu.Lock()
	defer s.gate.mu.Unlock()
	return s.gate.pauses > 0
}

// readerHeld reports whether a reader is waiting at the gate (the heartbeat
// then tolerates a missing pong).
func (s *Session) readerHeld() bool {
	s.gate.mu.Lock()
	defer s.gate.mu.Unlock()
	return s.gate.holding
}

// waitReads returns at once when reads are not paused; otherwise it waits
// until they resume (true) or the session closes (false). Called with
// recvMu held, before a message packet is dispatched.
func (s *Session) waitReads() bool {
	g := &s.gate
	g.mu.Lock()
	ch := g.resume
	if ch == nil {
		g.mu.Unlock()
		return true
	}
	g.holding = true
	var gone <-chan struct{}
	if g.postCtx != nil {
		gone = g.postCtx.Done()
	}
	g.mu.Unlock()
	ok := true
	select {
	case <-ch:
	case <-s.done:
		ok = false
	case <-gone:
		// The client of the held POST went away.
		s.close(ReasonTransportClose, false)
		ok = false
	}
	// Clear holding and re-arm under mu, so that no heartbeat sees the
	// reader released with the old deadline.
	s.mu.Lock()
	g.mu.Lock()
	g.holding = false
	g.mu.Unlock()
	if ok && !s.closed && s.awaitingPong {
		// The pong may be right behind what the client sent meanwhile.
		s.pongRefreshed = true
		s.armHeartbeatLocked(s.srv.pingTimeout())
	}
	s.mu.Unlock()
	return ok
}

// receivePost runs receive, the delivery of a polling POST's packets: while
// they are held at the gate, the end of the request (the client went away)
// closes the session.
func (s *Session) receivePost(ctx context.Context, receive func() bool) bool {
	s.gate.mu.Lock()
	s.gate.postCtx = ctx
	s.gate.mu.Unlock()
	defer func() {
		s.gate.mu.Lock()
		s.gate.postCtx = nil
		s.gate.mu.Unlock()
	}()
	return receive()
}

// gateOpenLocked is called with mu held before a message packet is
// dispatched: when reads are paused it waits (mu released) and reports
// with mu held whether the session is still open.
func (s *Session) gateOpenLocked() bool {
	s.gate.mu.Lock()
	paused := s.gate.resume != nil
	s.gate.mu.Unlock()
	if !paused {
		return true
	}
	s.mu.Unlock()
	ok := s.waitReads()
	s.mu.Lock()
	if !ok || s.closed {
		s.mu.Unlock()
		return false
	}
	return true
}
