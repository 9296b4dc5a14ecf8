//go:build !linux

package engine

// pollConn is empty without a readiness poller: every websocket is read by
// a goroutine of its own (readBlocking).
type pollConn struct{}

func (c *wsConn) register() bool { return false }
func (c *wsConn) unregister()    {}

// pollRegistered is the number of connections registered with the poller.
func pollRegistered() int { return 0 }
