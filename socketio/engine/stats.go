package engine

import "sync/atomic"

// Stats are cumulative counters of one Server, for metrics.
type Stats struct {
	// PacketsIn and BytesIn count the Engine.IO packets received and their
	// payload bytes.
	PacketsIn, BytesIn uint64
	// PacketsOut and BytesOut count the packets written to clients (over
	// websocket or in polling responses) and their payload bytes.
	PacketsOut, BytesOut uint64
	// SlowClosed counts sessions closed because the client did not keep
	// up: their send queue (messages and control frames) was full, or a
	// websocket write took longer than WriteTimeout.
	SlowClosed uint64
	// RefusedFull counts handshakes refused because MaxConnections
	// sessions were open.
	RefusedFull uint64
	// TooLarge counts client messages over MaxPayload (polling bodies
	// answered 413, websockets closed).
	TooLarge uint64
	// RejectedHandshakes counts new-session requests refused with an error
	// (bad query, disabled transport, AllowRequest, websocket origin).
	RejectedHandshakes uint64
	// ProtocolErrors counts connections failed for breaking the protocol:
	// websocket frames refused with close code 1002 or 1007, polling
	// payloads refused with 400 (empty packet, too many packets, bad
	// packet).
	ProtocolErrors uint64
	// Panics counts panics recovered in this server's sessions (each closed
	// its connection). Panics() also counts those of the shared pollers.
	Panics uint64
	// Opened and Closed count the sessions opened and closed so far.
	Opened, Closed uint64
	// PollingSessions is the number of open sessions still on HTTP
	// long-polling (a gauge, not a counter).
	PollingSessions int64
}

// counters are updated with atomic adds, once per batch on the write path.
type counters struct {
	packetsIn, bytesIn, packetsOut, bytesOut, slowClosed, rejected, refusedFull, tooLarge atomic.Uint64
	protocolErrors, panics                                                                atomic.Uint64
	opened, closed                                                                        atomic.Uint64
	polling                                                                               atomic.Int64
}

// Stats returns the server's counters so far.
func (srv *Server) Stats() Stats {
	c := &srv.counters
	return Stats{
		PacketsIn: c.packetsIn.Load(), BytesIn: c.bytesIn.Load(),
		PacketsOut: c.packetsOut.Load(), BytesOut: c.bytesOut.Load(),
		SlowClosed: c.slowClosed.Load(), RejectedHandshakes: c.rejected.Load(),
		RefusedFull: c.refusedFull.Load(), TooLarge: c.tooLarge.Load(),
		ProtocolErrors: c.protocolErrors.Load(), Panics: c.panics.Load(),
		Opened: c.opened.Load(), Closed: c.closed.Load(), PollingSessions: c.polling.Load(),
	}
}

func (c *counters) sent(pkts []packet) {
	var n uint64
	for i := range pkts {
		n += uint64(len(pkts[i].data))
	}
	c.packetsOut.Add(uint64(len(pkts)))
	c.bytesOut.Add(n)
}
