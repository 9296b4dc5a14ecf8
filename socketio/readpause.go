package socketio

// PauseReads stops reading this connection's packets after the one being
// handled until ResumeReads (calls nest): every namespace of the
// connection waits, as they share it. It is how a consumer that queues a
// client's events (the webhook dispatcher) applies backpressure: TCP and
// HTTP flow control then slow the client down, nothing is dropped, and
// other connections are not affected. The heartbeat keeps a paused
// connection alive while its transport works (see engine.Session.PauseReads).
func (c *Conn) PauseReads() { c.session.PauseReads() }

// ResumeReads undoes one PauseReads.
func (c *Conn) ResumeReads() { c.session.ResumeReads() }

// ReadsPaused reports whether PauseReads is in force.
func (c *Conn) ReadsPaused() bool { return c.session.ReadsPaused() }
