package socketio

import (
	"bytes"
	"encoding/json"

	"github.com/caddy-socketio/caddy-socketio/socketio/parser"
)

// Events are decoded lazily: the connection's decoder keeps an event's
// arguments as the JSON text the client sent (parser.Decoder.Lazy), checked
// but not decoded. They are decoded, counting against Limits.MaxDecodedBytes,
// only when a handler needs Go values (On, OnAny, RawEvent.Decode); events
// that no handler wants are dropped undecoded (Server.UnhandledEvents), and
// handlers that only route an event (OnRaw, OnAnyRaw) can forward its bytes
// with BroadcastOperator.EmitRaw.

// RawEvent is an event as its client sent it: the name, and the arguments
// as JSON text, not decoded. It is valid during the handler call only;
// the slices it returns stay valid (and must not be modified) after it.
type RawEvent struct {
	s *Socket
	p *parser.Packet

	decoded bool
	args    []any
	err     error
	charged int64 // bytes counted against MaxDecodedBytesTotal
}

// RawHandler handles one event without decoding its arguments.
type RawHandler func(ev *RawEvent, ack Ack)

// AnyRawHandler handles every event without decoding its arguments; it
// runs before the OnAny and event handlers. It reports whether it wanted
// the event: an event that no handler wanted is counted in
// Server.UnhandledEvents.
type AnyRawHandler func(ev *RawEvent, ack Ack) (handled bool)

// Event is the event name.
func (e *RawEvent) Event() string {
	if e.p.RawArgs != nil {
		return e.p.Event
	}
	data, _ := e.p.Data.([]any)
	if len(data) == 0 {
		return ""
	}
	return eventName(data[0])
}

// Socket is the socket that received the event.
func (e *RawEvent) Socket() *Socket { return e.s }

// Namespace is the name of the event's namespace.
func (e *RawEvent) Namespace() string { return e.s.nsp.name }

// Args returns the arguments, after the event name, as the JSON text of an
// array, as the client sent them. In an event with attachments
// (Attachments not empty, or Binary), each attachment stands in the text as
// the protocol's placeholder {"_placeholder":true,"num":<index>};
// parser.RewritePlaceholders replaces them.
func (e *RawEvent) Args() json.RawMessage {
	if e.p.RawArgs == nil {
		e.encodeDecoded()
	}
	return e.p.RawArgs
}

// Attachments returns the binary attachments the placeholders of Args name.
func (e *RawEvent) Attachments() [][]byte {
	if e.p.RawArgs == nil {
		e.encodeDecoded()
	}
	return e.p.Attachments
}

// Binary reports whether the client sent the event as a BINARY_EVENT: only
// then do placeholders in Args stand for attachments.
func (e *RawEvent) Binary() bool {
	if e.p.RawArgs == nil {
		e.encodeDecoded()
	}
	return e.p.Type == parser.BinaryEvent
}

// encodeDecoded gives a packet that arrived decoded (a codec without lazy
// decoding) the text form of its arguments.
func (e *RawEvent) encodeDecoded() {
	args, _ := e.p.Args()
	if args == nil {
		args = []any{}
	}
	text, atts, err := parser.Encode(&parser.Packet{Type: parser.Ack, Data: args})
	q := *e.p
	if i := bytes.IndexByte(text, '['); err == nil && i >= 0 {
		q.RawArgs, q.Attachments = text[i:], atts
	} else {
		q.RawArgs = json.RawMessage("[]")
	}
	q.Type = parser.Event
	if len(atts) > 0 {
		q.Type = parser.BinaryEvent
	}
	q.Event = e.Event()
	e.p = &q
}

// Decode returns the arguments as Go values, as an EventHandler gets them.
// They are decoded once per event, whoever asks first, counting against
// Limits.MaxDecodedBytes and MaxDecodedBytesTotal: over them it returns
// ErrDecodeLimit and disconnects the socket.
func (e *RawEvent) Decode() ([]any, error) {
	if !e.decoded {
		e.decoded = true
		e.args, e.charged, e.err = e.s.decodeArgs(e.p)
	}
	return e.args, e.err
}

// release gives back what Decode counted against MaxDecodedBytesTotal.
func (e *RawEvent) release() {
	if e.charged > 0 {
		e.s.nsp.srv.decoded.Add(-e.charged)
		e.charged = 0
	}
}

// decodeArgs decodes the arguments of an event or ack packet after checking
// their estimated decoded size against the limits; charged is what was
// added to the server's total, to be given back once handled.
func (s *Socket) decodeArgs(p *parser.Packet) (args []any, charged int64, err error) {
	if p.RawArgs == nil { // decoded already by the codec
		args, err = p.Args()
		return args, 0, err
	}
	srv := s.nsp.srv
	l := srv.limits.Load()
	size := int64(parser.DecodedSize(p.RawArgs))
	over := l.MaxDecodedBytes > 0 && size > int64(l.MaxDecodedBytes)
	if !over && l.MaxDecodedBytesTotal > 0 {
		if srv.decoded.Add(size) > int64(l.MaxDecodedBytesTotal) {
			srv.decoded.Add(-size)
			over = true
		} else {
			charged = size
		}
	}
	if over {
		srv.limitHits.decoded.Add(1)
		if firstHit(&s.logged, loggedDecoded) {
			srv.logger.Warn("limit hit: event arguments too large to decode, disconnecting socket",
				"limit", "max_decoded_bytes", "socket", string(s.id), "nsp", s.nsp.name,
				"estimate", size, "max", l.MaxDecodedBytes, "max_total", l.MaxDecodedBytesTotal)
		}
		s.disconnectWith(ReasonDecodeLimit)
		return nil, 0, ErrDecodeLimit
	}
	args, err = p.Args()
	if err != nil { // cannot happen: the lazy decoder checked the text
		srv.logger.Debug("event arguments do not decode", "socket", string(s.id), "err", err)
	}
	return args, charged, err
}

// OnRaw registers h for event; its arguments are not decoded for it.
func (s *Socket) OnRaw(event string, h RawHandler) {
	s.mu.Lock()
	s.handlers = append(s.handlers, namedHandler{event: event, raw: h})
	s.mu.Unlock()
}

// OnAnyRaw registers h for every event; their arguments are not decoded
// for it.
func (s *Socket) OnAnyRaw(h AnyRawHandler) {
	s.mu.Lock()
	s.anyRawHandlers = append(s.anyRawHandlers, h)
	s.mu.Unlock()
}

// onEvent runs the handlers of one event: OnAnyRaw, OnAny, then On and
// OnRaw in registration order. Arguments are decoded only if an OnAny or
// On handler is among them; an event no handler wants is dropped.
func (s *Socket) onEvent(p *parser.Packet) {
	event := p.Event
	if p.RawArgs == nil {
		data, _ := p.Data.([]any)
		if len(data) > 0 {
			event = eventName(data[0])
		}
	}
	if p.RawArgs == nil {
		if data, _ := p.Data.([]any); len(data) == 0 {
			return
		}
	}
	if s.nsp.srv.observing() {
		s.observeEvent(p, event)
	}
	s.mu.Lock()
	anyRaws := s.anyRawHandlers
	anys := s.anyHandlers
	hs := s.handlers // append-only: the first len(hs) never change
	s.mu.Unlock()
	named, decode, raw := false, len(anys) > 0, len(anyRaws) > 0
	for _, nh := range hs {
		if nh.event == event {
			named = true
			decode = decode || nh.h != nil
			raw = raw || nh.raw != nil
		}
	}
	srv := s.nsp.srv
	if !named && len(anys) == 0 && len(anyRaws) == 0 {
		srv.unhandled.Add(1)
		return
	}
	if !raw {
		s.onDecodedEvent(p, event, anys, hs)
		return
	}
	ev := &RawEvent{s: s, p: p}
	defer ev.release()
	var ack Ack
	if p.HasID {
		ack = s.ackFunc(p.ID)
	}
	handled := named || len(anys) > 0
	for _, h := range anyRaws {
		if h(ev, ack) {
			handled = true
		}
		if ev.err != nil {
			return // refused by the decode limit: the socket is gone
		}
	}
	if !handled {
		srv.unhandled.Add(1)
		return
	}
	var args []any
	if decode {
		var err error
		if args, err = ev.Decode(); err != nil {
			return
		}
	}
	for _, h := range anys {
		h(event, args, ack)
	}
	for _, nh := range hs {
		if nh.event != event {
			continue
		}
		if nh.raw != nil {
			nh.raw(ev, ack)
		} else {
			nh.h(args, ack)
		}
	}
}

// onDecodedEvent is onEvent for a socket without raw handlers for the
// event: no RawEvent is needed.
func (s *Socket) onDecodedEvent(p *parser.Packet, event string, anys []AnyHandler, hs []namedHandler) {
	args, charged, err := s.decodeArgs(p)
	if charged > 0 {
		defer s.nsp.srv.decoded.Add(-charged)
	}
	if err != nil {
		return
	}
	var ack Ack
	if p.HasID {
		ack = s.ackFunc(p.ID)
	}
	for _, h := range anys {
		h(event, args, ack)
	}
	for _, nh := range hs {
		if nh.event == event {
			nh.h(args, ack)
		}
	}
}

// onAck hands a client's ACK to the emit waiting for it; an ACK nobody
// waits for is dropped undecoded.
func (s *Socket) onAck(p *parser.Packet) {
	s.mu.Lock()
	pa, ok := s.acks[p.ID]
	delete(s.acks, p.ID)
	s.mu.Unlock()
	if !ok {
		return // unknown or already timed out: ignored, as in Node
	}
	if pa.timer != nil {
		pa.timer.Stop()
	}
	args, charged, err := s.decodeArgs(p)
	if charged > 0 {
		defer s.nsp.srv.decoded.Add(-charged)
	}
	if err != nil {
		pa.fn(nil, err)
		return
	}
	pa.fn(args, nil)
}

// EmitRaw sends an event whose arguments are JSON text, such as a
// RawEvent's Args and Attachments, to the selected sockets: the text is
// written as it is, without decoding and encoding it again. args must be a
// JSON array (it is checked); placeholders in it name attachments.
func (b *BroadcastOperator) EmitRaw(event string, args json.RawMessage, attachments [][]byte) error {
	if isReserved(event) {
		return ErrReservedEvent
	}
	t := parser.Event
	if len(attachments) > 0 {
		t = parser.BinaryEvent
	}
	p := &parser.Packet{Type: t, Namespace: b.nsp.name, Event: event, RawArgs: args, Attachments: attachments}
	if args == nil {
		p.RawArgs = json.RawMessage("[]")
	}
	return b.nsp.adp().Broadcast(p, b.options())
}

// observeEvent tells the observers (the Admin UI's event traces) about a
// received event, with its arguments decoded for them unless that would
// take more than Limits.MaxDecodedBytes (then without arguments).
func (s *Socket) observeEvent(p *parser.Packet, event string) {
	var args []any
	if l := s.nsp.srv.limits.Load(); p.RawArgs == nil || l.MaxDecodedBytes <= 0 ||
		parser.DecodedSize(p.RawArgs) <= l.MaxDecodedBytes {
		args, _ = p.Args()
	}
	s.notifyEvent(false, event, args)
}
