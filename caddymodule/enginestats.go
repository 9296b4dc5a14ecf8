package caddymodule

import (
	"github.com/caddy-socketio/caddy-socketio/socketio/engine"
)

// engineCounters are the cumulative Engine.IO counters the metrics export.
type engineCounters engine.Stats

func (c *engineCounters) add(o engineCounters) {
	c.PacketsIn += o.PacketsIn
	c.PacketsOut += o.PacketsOut
	c.BytesIn += o.BytesIn
	c.BytesOut += o.BytesOut
	c.SlowClosed += o.SlowClosed
	c.RejectedHandshakes += o.RejectedHandshakes
	c.RefusedFull += o.RefusedFull
	c.TooLarge += o.TooLarge
	c.ProtocolErrors += o.ProtocolErrors
	c.Panics += o.Panics
}

// readEngineCounters reads the engine's counters (atomics, cheap: called at
// scrape time only).
func readEngineCounters(e *engine.Server) engineCounters { return engineCounters(e.Stats()) }
