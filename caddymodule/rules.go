package caddymodule

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/caddy-socketio/caddy-socketio/socketio"
	"github.com/caddy-socketio/caddy-socketio/socketio/parser"
)

// Namespace declares a namespace clients may connect to and the rules the
// server applies to its sockets. Rules let simple apps (a chat, a
// notification channel) run with no backend; all of them are optional.
type Namespace struct {
	// Exact name of the namespace, starting with "/", e.g. "/chat". Set
	// either name or match. "/" always exists; declare it only to give it
	// rules.
	Name string `json:"name,omitempty"`

	// Regular expression (Go RE2 syntax) for dynamic namespaces, e.g.
	// "^/room-\\d+$": a client asking for a namespace whose name matches
	// creates it. Anchor it with ^ and $ to match whole names. Exact names
	// are looked up first, then patterns in the order they are listed. Each
	// pattern is one metrics label, whatever the names it matches.
	Match string `json:"match,omitempty"`

	// Events emitted to each socket as soon as it connects, in order.
	Greet []GreetRule `json:"greet,omitempty"`

	// Events that make the sender join a room.
	Join []JoinRule `json:"join,omitempty"`

	// Events that make the sender leave a room.
	Leave []LeaveRule `json:"leave,omitempty"`

	// Events re-emitted to other sockets of the namespace.
	Relay []RelayRule `json:"relay,omitempty"`

	// Events acknowledged with their own arguments.
	Ack []AckRule `json:"ack,omitempty"`
}

// AckRule acknowledges an event with the arguments it carried (binary
// attachments included): an echo, e.g. for latency probes. Clients that ask
// for no acknowledgement get nothing. When other rules handle the same
// event, the ack rule's answer is the one the client gets.
type AckRule struct {
	// Name of the event the client emits, e.g. "ping-echo". Required.
	Event string `json:"event"`
}

// GreetRule emits one event to each socket that connects.
type GreetRule struct {
	// Name of the event emitted, e.g. "hello". Required.
	Event string `json:"event"`

	// Arguments of the event, as JSON values, e.g. [{"message":"Welcome"}]
	// or ["Notice !"]. Default: none.
	Args []json.RawMessage `json:"args,omitempty"`
}

// JoinRule makes a socket join the room named in an event it emits. The
// private room of another socket (its id), on any node of the cluster, is
// refused: a name shaped like a socket id (20 characters of letters,
// digits, "-" and "_") other than the sender's own is checked with the
// adapter, and refused if that socket exists or the check fails. Names
// longer than 256 bytes and joins beyond max_rooms_per_socket are refused
// too. If the client asks for an acknowledgement, it gets the room name, or
// null when the join was refused. Joins run before leaves and relays of the same event.
type JoinRule struct {
	// Name of the event the client emits, e.g. "joinRoom". Required.
	Event string `json:"event"`

	// Property of the event's first argument that holds the room name, when
	// that argument is an object: "room" takes the room from
	// {"room":"lobby"}. When the first argument is a string or a number it
	// is the room name itself, whatever this field says.
	Field string `json:"field,omitempty"`

	// Leave every other room first (the socket's own id room excepted), so
	// the socket is in one room at a time, as in the classic chat example.
	// Default: false.
	Exclusive bool `json:"exclusive,omitempty"`
}

// LeaveRule makes a socket leave the room named in an event it emits. If the
// client asks for an acknowledgement, it gets the room name (null when the
// event named no valid room).
type LeaveRule struct {
	// Name of the event the client emits, e.g. "leaveRoom". Required.
	Event string `json:"event"`

	// Property of the event's first argument that holds the room name; see
	// JoinRule.
	Field string `json:"field,omitempty"`
}

// RelayRule re-emits an event a client sends, with the same arguments
// (binary attachments included) or one property of the first argument, to
// other sockets. If the client asks for an acknowledgement, it gets one with
// no arguments once the event is queued.
type RelayRule struct {
	// Name of the event the client emits, e.g. "chatInput". Required.
	Event string `json:"event"`

	// Name of the event emitted to the recipients, e.g. "chatMessage".
	// Default: the same as event.
	Emit string `json:"emit,omitempty"`

	// Recipients: "rooms" (default) for every socket in any room the sender
	// is in, its own id room excepted; a sender in no room reaches nobody.
	// "namespace" for every socket of the namespace. "field" for every
	// socket in the room named by the room_field property of the first
	// argument (or by the first argument itself if it is a string or a
	// number), whether or not the sender is in it; names refused by join
	// rules (another socket's id on any node, over 256 bytes) reach nobody.
	To string `json:"to,omitempty"`

	// With to "field": the property of the first argument that names the
	// room, e.g. "room" for {"room":"lobby","payload":"hi"}. Required then,
	// refused otherwise.
	RoomField string `json:"room_field,omitempty"`

	// Property of the first argument sent as the only argument, e.g.
	// "payload" sends "hi" for {"room":"lobby","payload":"hi"}. When the
	// first argument is not an object or lacks it, nothing is sent. Default:
	// all the arguments as they came.
	PayloadField string `json:"payload_field,omitempty"`

	// Whether the sender receives the event too. Default: true.
	IncludeSender *bool `json:"include_sender,omitempty"`
}

const (
	relayToRooms     = "rooms"
	relayToNamespace = "namespace"
	relayToField     = "field"

	// maxRoomLen bounds the room names clients can create through join rules.
	maxRoomLen = 256
)

// ruleSet is the compiled form of Handler.Namespaces. It is immutable; a
// reload stores a new one in the hub.
type ruleSet struct {
	root     *nsRules // "/", empty rules unless configured
	exact    map[string]*nsRules
	patterns []*nsRules
}

type nsRules struct {
	label  string // metrics label: the name, or "~" + the pattern
	re     *regexp.Regexp
	greet  []greeting
	events map[string]*eventRules
}

type eventRules struct {
	ack    bool
	joins  []JoinRule
	leaves []LeaveRule
	relays []relayRule
}

type relayRule struct {
	emit          string
	toNamespace   bool
	roomField     string // to "field"
	payloadField  string
	includeSender bool
}

type greeting struct {
	event string
	args  []any
}

// lookup returns the rules of a namespace, or nil when the namespace is not
// declared.
func (rs *ruleSet) lookup(name string) *nsRules {
	if name == "/" {
		return rs.root
	}
	if nr := rs.exact[name]; nr != nil {
		return nr
	}
	for _, nr := range rs.patterns {
		if nr.re.MatchString(name) {
			return nr
		}
	}
	return nil
}

func compileRules(nss []Namespace) (*ruleSet, error) {
	rs := &ruleSet{exact: make(map[string]*nsRules)}
	seenPatterns := make(map[string]bool)
	for i, ns := range nss {
		nr, err := compileNamespace(ns)
		if err != nil {
			return nil, fmt.Errorf("namespaces[%d]: %w", i, err)
		}
		switch {
		case nr.re != nil:
			if seenPatterns[ns.Match] {
				return nil, fmt.Errorf("namespaces[%d]: pattern %q declared twice", i, ns.Match)
			}
			seenPatterns[ns.Match] = true
			rs.patterns = append(rs.patterns, nr)
		default:
			if rs.exact[ns.Name] != nil {
				return nil, fmt.Errorf("namespaces[%d]: namespace %q declared twice", i, ns.Name)
			}
			rs.exact[ns.Name] = nr
		}
	}
	rs.root = rs.exact["/"]
	delete(rs.exact, "/")
	if rs.root == nil {
		rs.root = &nsRules{label: "/"}
	}
	return rs, nil
}

func compileNamespace(ns Namespace) (*nsRules, error) {
	nr := &nsRules{events: make(map[string]*eventRules)}
	switch {
	case ns.Name != "" && ns.Match != "":
		return nil, fmt.Errorf("set either name or match, not both")
	case ns.Name != "":
		if !strings.HasPrefix(ns.Name, "/") {
			return nil, fmt.Errorf("namespace name %q must start with /", ns.Name)
		}
		nr.label = ns.Name
	case ns.Match != "":
		re, err := regexp.Compile(ns.Match)
		if err != nil {
			return nil, fmt.Errorf("match: %v", err)
		}
		nr.re = re
		nr.label = "~" + ns.Match
	default:
		return nil, fmt.Errorf("a namespace needs a name or a match pattern")
	}
	at := func(event string) *eventRules {
		er := nr.events[event]
		if er == nil {
			er = new(eventRules)
			nr.events[event] = er
		}
		return er
	}
	for _, g := range ns.Greet {
		if err := checkEvent("greet", g.Event); err != nil {
			return nil, err
		}
		gr := greeting{event: g.Event}
		for _, raw := range g.Args {
			v, err := decodeJSON(raw)
			if err != nil {
				return nil, fmt.Errorf("greet %s: argument %s: %v", g.Event, raw, err)
			}
			gr.args = append(gr.args, v)
		}
		nr.greet = append(nr.greet, gr)
	}
	for _, j := range ns.Join {
		if err := checkEvent("join", j.Event); err != nil {
			return nil, err
		}
		at(j.Event).joins = append(at(j.Event).joins, j)
	}
	for _, l := range ns.Leave {
		if err := checkEvent("leave", l.Event); err != nil {
			return nil, err
		}
		at(l.Event).leaves = append(at(l.Event).leaves, l)
	}
	for _, r := range ns.Relay {
		if err := checkEvent("relay", r.Event); err != nil {
			return nil, err
		}
		rr := relayRule{emit: r.Emit, payloadField: r.PayloadField, includeSender: r.IncludeSender == nil || *r.IncludeSender}
		if rr.emit == "" {
			rr.emit = r.Event
		}
		if err := checkEvent("relay emit", rr.emit); err != nil {
			return nil, err
		}
		switch r.To {
		case "", relayToRooms:
		case relayToNamespace:
			rr.toNamespace = true
		case relayToField:
			if r.RoomField == "" {
				return nil, fmt.Errorf("relay %s: to %q needs room_field", r.Event, relayToField)
			}
			rr.roomField = r.RoomField
		default:
			return nil, fmt.Errorf("relay %s: to must be %q, %q or %q, not %q", r.Event, relayToRooms, relayToNamespace, relayToField, r.To)
		}
		if r.RoomField != "" && r.To != relayToField {
			return nil, fmt.Errorf("relay %s: room_field is for to %q only", r.Event, relayToField)
		}
		at(r.Event).relays = append(at(r.Event).relays, rr)
	}
	for _, a := range ns.Ack {
		if err := checkEvent("ack", a.Event); err != nil {
			return nil, err
		}
		at(a.Event).ack = true
	}
	return nr, nil
}

func checkEvent(rule, event string) error {
	if event == "" {
		return fmt.Errorf("%s: event name required", rule)
	}
	if parser.IsReservedEvent(event) {
		return fmt.Errorf("%s: %q is a reserved event name", rule, event)
	}
	return nil
}

// decodeJSON decodes one JSON value the way the parser decodes client
// payloads (numbers as json.Number).
func decodeJSON(raw json.RawMessage) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, fmt.Errorf("more than one JSON value")
	}
	return v, nil
}

// handle runs the rules of one event a socket emitted, on the socket's read
// goroutine, and reports whether the event has rules. The arguments are
// decoded (counting against the decoded-size limit) only for the rules that
// look at their values: ack, join, leave, and relays with to field or
// payload; other relays forward the client's JSON text as it came.
func (hb *hub) handle(s *socketio.Socket, nr *nsRules, ev *socketio.RawEvent, ack socketio.Ack) bool {
	er := nr.events[ev.Event()]
	if er == nil {
		return false
	}
	// Only the first answer reaches the client (a second call returns
	// ErrAckTwice, which is ignored).
	answer := func(args ...any) {
		if ack != nil {
			_ = ack(args...)
		}
	}
	if er.ack || len(er.joins) > 0 || len(er.leaves) > 0 {
		args, err := ev.Decode()
		if err != nil {
			return true // over the decode limit: the socket is disconnected
		}
		if er.ack {
			answer(args...)
		}
		for _, j := range er.joins {
			hb.join(s, j, args, answer)
		}
		for _, l := range er.leaves {
			hb.leave(s, l, args, answer)
		}
	}
	for _, r := range er.relays {
		if !hb.relay(s, nr, r, ev, answer) {
			break
		}
	}
	return true
}

func (hb *hub) join(s *socketio.Socket, j JoinRule, args []any, answer func(...any)) {
	room, ok := roomArg(args, j.Field)
	if ok && othersPrivateRoom(s, room) {
		ok = false
	}
	if !ok {
		hb.log.Debug("join refused: no valid room", "hub", hb.name, "nsp", s.Namespace().Name(), "event", j.Event)
		answer(nil)
		return
	}
	own := socketio.Room(s.ID())
	if j.Exclusive {
		for _, r := range s.Rooms() {
			if r != own && r != room {
				s.Leave(r)
			}
		}
	}
	if s.Join(room) != nil { // max_rooms_per_socket: logged and counted by the library
		answer(nil)
		return
	}
	answer(string(room))
}

func (hb *hub) leave(s *socketio.Socket, l LeaveRule, args []any, answer func(...any)) {
	room, ok := roomArg(args, l.Field)
	if !ok || room == socketio.Room(s.ID()) {
		answer(nil)
		return
	}
	s.Leave(room)
	answer(string(room))
}

// relay runs one relay rule; false when the event's arguments could not be
// decoded (the socket is gone).
func (hb *hub) relay(s *socketio.Socket, nr *nsRules, r relayRule, ev *socketio.RawEvent, answer func(...any)) bool {
	nsp := s.Namespace()
	var args []any
	if r.roomField != "" || r.payloadField != "" {
		var err error
		if args, err = ev.Decode(); err != nil {
			return false
		}
	}
	var op *socketio.BroadcastOperator
	switch {
	case r.toNamespace:
		op = nsp.To()
	case r.roomField != "":
		room, ok := roomArg(args, r.roomField)
		if ok && othersPrivateRoom(s, room) {
			ok = false
		}
		if !ok {
			hb.log.Debug("relay dropped: no valid room", "hub", hb.name, "nsp", nsp.Name(), "event", r.emit)
			answer()
			return true
		}
		op = nsp.To(room)
	default:
		own := socketio.Room(s.ID())
		var rooms []socketio.Room
		for _, room := range s.Rooms() {
			if room != own {
				rooms = append(rooms, room)
			}
		}
		if len(rooms) == 0 {
			// An operator without rooms would reach the whole namespace.
			answer()
			return true
		}
		op = nsp.To(rooms...)
	}
	if !r.includeSender {
		op = op.Except(socketio.Room(s.ID()))
	}
	var err error
	if r.payloadField != "" {
		var v any
		m, ok := firstObject(args)
		if ok {
			v, ok = m[r.payloadField]
		}
		if !ok {
			hb.log.Debug("relay dropped: no payload", "hub", hb.name, "nsp", nsp.Name(), "event", r.emit)
			answer()
			return true
		}
		err = op.Emit(r.emit, v)
	} else {
		// The arguments as the client sent them: no decode, no re-encode.
		err = op.EmitRaw(r.emit, ev.Args(), ev.Attachments())
	}
	if err != nil {
		hb.log.Warn("relay failed", "hub", hb.name, "nsp", nsp.Name(), "event", r.emit, "error", err)
	} else {
		broadcasts.WithLabelValues(hb.name, nr.label).Inc()
	}
	answer()
	return true
}

// othersPrivateRoom reports whether room is, or may be, another socket's
// private room. Only names shaped like a socket id (20 characters of
// URL-safe base64, as this server and Node's base64id make them) can be;
// for those other than the sender's own id, the adapter is asked whether a
// socket with that id is in that room on any node of the cluster (a socket
// on this node is found without asking). A query that fails or times out
// refuses the name.
func othersPrivateRoom(s *socketio.Socket, room socketio.Room) bool {
	if room == socketio.Room(s.ID()) || !socketIDShaped(string(room)) {
		return false
	}
	nsp := s.Namespace()
	if _, ok := nsp.Socket(socketio.SocketID(room)); ok {
		return true
	}
	ctx, cancel := context.WithTimeout(context.Background(), privateRoomQueryTimeout)
	defer cancel()
	infos, err := nsp.In(room).FetchSockets(ctx)
	if err != nil {
		return true
	}
	for _, si := range infos {
		if string(si.ID) == string(room) {
			return true
		}
	}
	return false
}

// privateRoomQueryTimeout bounds the cluster query of othersPrivateRoom.
const privateRoomQueryTimeout = 2 * time.Second

func socketIDShaped(name string) bool {
	if len(name) != 20 {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// firstObject returns the event's first argument when it is an object.
func firstObject(args []any) (map[string]any, bool) {
	if len(args) == 0 {
		return nil, false
	}
	m, ok := args[0].(map[string]any)
	return m, ok
}

// roomArg takes the room name from an event's first argument: the argument
// itself when it is a string or number, else its property field.
func roomArg(args []any, field string) (socketio.Room, bool) {
	if len(args) == 0 {
		return "", false
	}
	v := args[0]
	if m, ok := v.(map[string]any); ok {
		if field == "" {
			return "", false
		}
		v = m[field]
	}
	var name string
	switch x := v.(type) {
	case string:
		name = x
	case json.Number:
		name = x.String()
	default:
		return "", false
	}
	if name == "" || len(name) > maxRoomLen {
		return "", false
	}
	return socketio.Room(name), true
}
