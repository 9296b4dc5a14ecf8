// Package hooks forwards a Socket.IO server's connects, events and
// disconnects to an application over HTTP (webhooks) and carries out what
// the application answers: acknowledgements, emits, joins, leaves, socket
// data, disconnects and connection refusals. docs/webhooks.md is the
// contract for application authors; this comment is the contract for the
// code that wires a Dispatcher in.
//
// Wiring: New(cfg, logger), then register Middleware and OnConnection on
// every namespace to serve (InstallNamespace, InstallParent for dynamic
// namespaces, now and later). Which hooks apply is decided per namespace
// name at run time, so registering them everywhere is fine. Keep one
// Dispatcher for the life of the socketio.Server and call Update on a
// config reload: handlers registered on connected sockets keep working
// and pick up the new hooks. After closing the server, Close drains.
//
// Semantics:
//
//   - Connect hooks run in the namespace middleware, before the client
//     gets its CONNECT (or CONNECT_ERROR): they block that connection only,
//     for at most the hook's timeout (waiting for a request slot included).
//     A reply's data is set at once; its leave, join, emit and disconnect
//     are applied by the OnConnection handler, which runs right after the
//     client was told it is connected and before the next packet of that
//     connection is read, so they are in place before its first event.
//     Socket.Join needs a connected socket, hence the split. A socket its
//     connect hooks accepted that is not connected within 10s (a later
//     middleware refused it, or its connection died meanwhile) gets its
//     disconnect hooks with reason "connect aborted", so apps that count
//     connects for presence stay right.
//   - Event and disconnect hooks of one socket are delivered one at a time,
//     in order, by a worker goroutine that exists while the socket's queue
//     is not empty; sockets are served in parallel, with at most
//     Config.Concurrency requests in flight overall. The socket's read path
//     only queues.
//   - Several hooks selecting the same thing are called one after another
//     in config order, each reply applied before the next hook is called
//     (it sees the data and rooms the previous reply set). On connect, the
//     first refusal (or failure under on_error deny) stops the chain (and
//     sends "connect aborted" if an earlier hook had accepted). For
//     an event, the first reply carrying "ack" answers the client; the acks
//     of later replies are ignored; every other action of every reply
//     applies.
//   - A reply is applied in this order: data, leave, join, emit, ack,
//     disconnect.
//   - When an event's hooks fail (unreachable, timeout, non-2xx, invalid
//     reply) and no reply acknowledged it, a client that asked for an ack
//     gets one argument: {"error":"hook failed","reason":R} with R one of
//     timeout, unavailable, status, invalid_reply. A 2xx reply without
//     "ack" sends no acknowledgement, as a Node handler that never calls
//     its callback.
//   - A full queue (Config.QueueSize and QueueBytes for the socket,
//     MaxQueued and MaxQueuedBytes for all) applies Config.Overflow: by
//     default (backpressure) the event is queued and the socket's
//     connection stops being read (socketio.Conn.PauseReads) until there
//     is room again; with drop or disconnect the event is dropped, counted
//     in Stats, and acked with reason queue_full when the client asked for
//     an ack (disconnect also closes the connection). Events are held as
//     the JSON of their arguments, encoded when queued. Disconnects are
//     always queued and are retried (Config.DisconnectAttempts, backoff
//     RetryBackoff doubling to RetryBackoffMax) on timeouts, network
//     errors, 429 and 5xx, with the same delivery id.
//   - Events queued before a disconnect are still delivered after it, in
//     order, before the disconnect hook; their actions that need the
//     socket (join, emit to it, ack) then do nothing.
package hooks
