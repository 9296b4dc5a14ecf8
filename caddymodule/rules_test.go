package caddymodule

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-socketio/caddy-socketio/socketio"
	"github.com/caddy-socketio/caddy-socketio/socketio/siotest"
	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// chatCaddyfile is the rule set of Caddyfile.example, plus a few extra rules.
const chatCaddyfile = `socketio {
	ping_interval 1s
	ping_timeout 1s
	namespace / {
		greet hello ` + "`" + `{"message":"Welcome to Socket io ~"}` + "`" + `
		join joinRoom room exclusive
		join subscribe room
		leave leaveRoom room
		relay chatInput chatMessage
		relay shout {
			to namespace
			include_sender off
		}
	}
	namespace /system {
		greet message "Notice !"
		greet numbers 1 2.5 true null
	}
	namespace ~^/room-\d+$ {
		relay chatInput chatMessage {
			to namespace
		}
	}
}`

// parseHandler runs the Caddyfile parser on a socketio block.
func parseHandler(t *testing.T, src string) *Handler {
	t.Helper()
	h := new(Handler)
	if err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(src)); err != nil {
		t.Fatalf("parse: %v", err)
	}
	h.applyDefaults()
	if err := h.check(); err != nil {
		t.Fatalf("check: %v", err)
	}
	return h
}

func liveOf(t *testing.T, h *Handler, logs slog.Handler) *liveSettings {
	t.Helper()
	rules, err := compileRules(h.Namespaces)
	if err != nil {
		t.Fatal(err)
	}
	if logs == nil {
		logs = slog.DiscardHandler
	}
	return &liveSettings{
		pingInterval: time.Duration(h.PingInterval),
		pingTimeout:  time.Duration(h.PingTimeout),
		limits:       h.limits().library(),
		maxConns:     h.limits().maxConnections(),
		rules:        rules,
		logs:         logs,
	}
}

// startHub serves a hub built from h on 127.0.0.1, without Caddy. The hub
// is in the pool, like the hubs of Caddy configs (the metrics read it there).
func startHub(t *testing.T, name string, h *Handler) (*hub, string) {
	t.Helper()
	live := liveOf(t, h, nil)
	val, loaded, err := hubs.LoadOrNew(name, func() (caddy.Destructor, error) {
		return newHub(name, name, h.options(), live), nil
	})
	if err != nil || loaded {
		t.Fatalf("hub %s: loaded=%v err=%v", name, loaded, err)
	}
	hb := val.(*hub)
	ts := httptest.NewServer(hb.srv)
	t.Cleanup(func() {
		if _, err := hubs.Delete(name); err != nil { // destructs: closes the hub
			t.Error(err)
		}
		ts.Close()
	})
	return hb, ts.URL
}

// joinChat dials a client, connects it to "/" and consumes the greeting.
func joinChat(t *testing.T, url, name string) *wsClient {
	t.Helper()
	c := dialWS(t, url, name)
	c.connect("/")
	c.expectEvent("/", "hello")
	return c
}

func chatMsg(nick, msg string) map[string]any { return map[string]any{"nick": nick, "msg": msg} }

// expectChat waits for chatMessage and checks its payload: the event must be
// the next one in the namespace.
func expectChat(t *testing.T, c *wsClient, nsp, event string, want map[string]any) {
	t.Helper()
	args := c.expectEvent(nsp, event)
	if len(args) != 1 {
		t.Fatalf("%s: %s with %d args, want 1", c.name, event, len(args))
	}
	jsonEq(t, args[0], mustJSON(t, want))
}

func TestGreet(t *testing.T) {
	_, url := startHub(t, "t-greet", parseHandler(t, chatCaddyfile))
	c := dialWS(t, url, "a")
	c.connect("/")
	args := c.expectEvent("/", "hello")
	if len(args) != 1 {
		t.Fatalf("hello with %d args", len(args))
	}
	jsonEq(t, args[0], `{"message":"Welcome to Socket io ~"}`)

	c.connect("/system")
	args = c.expectEvent("/system", "message")
	if len(args) != 1 {
		t.Fatalf("message with %d args", len(args))
	}
	jsonEq(t, args[0], `"Notice !"`)
	jsonEq(t, json.RawMessage(mustJSON(t, c.expectEvent("/system", "numbers"))), `[1, 2.5, true, null]`)
}

func TestRelayBinary(t *testing.T) {
	_, url := startHub(t, "t-binary", parseHandler(t, chatCaddyfile))
	a, b := joinChat(t, url, "a"), joinChat(t, url, "b")
	a.emitAck("/", "joinRoom", "r")
	b.emitAck("/", "joinRoom", "r")
	// BINARY_EVENT with one attachment: the placeholder, then the bytes.
	a.write(`451-["chatInput",{"nick":"a","file":{"_placeholder":true,"num":0}}]`)
	a.writeFrame(websocket.BinaryMessage, []byte{0, 1, 2, 0xff})
	p := b.next(func(p sioPacket) bool { return p.Type == '5' })
	if p.Attachments != 1 {
		t.Fatalf("binary event %s announces %d attachments, want 1", p, p.Attachments)
	}
	jsonEq(t, p.Data, `["chatMessage",{"nick":"a","file":{"_placeholder":true,"num":0}}]`)
	att := b.next(func(p sioPacket) bool { return p.Type == 'b' })
	if !bytes.Equal(att.Data, []byte{0, 1, 2, 0xff}) {
		t.Fatalf("attachment %x", []byte(att.Data))
	}
}

func TestJoinExclusiveAndRelayToRooms(t *testing.T) {
	_, url := startHub(t, "t-join", parseHandler(t, chatCaddyfile))
	a, b, c := joinChat(t, url, "a"), joinChat(t, url, "b"), joinChat(t, url, "c")

	jsonEq(t, a.emitAck("/", "joinRoom", map[string]any{"room": "r1"}), `["r1"]`)
	jsonEq(t, b.emitAck("/", "joinRoom", map[string]any{"room": "r1"}), `["r1"]`)
	jsonEq(t, c.emitAck("/", "joinRoom", map[string]any{"room": "r2"}), `["r2"]`)

	// The ack comes after the broadcast was queued for every recipient.
	jsonEq(t, a.emitAck("/", "chatInput", chatMsg("a", "hi r1")), `[]`)
	expectChat(t, a, "/", "chatMessage", chatMsg("a", "hi r1")) // include_sender: on
	expectChat(t, b, "/", "chatMessage", chatMsg("a", "hi r1"))
	// c is in another room: its next chat message is its own marker.
	c.emitAck("/", "chatInput", chatMsg("c", "marker"))
	expectChat(t, c, "/", "chatMessage", chatMsg("c", "marker"))

	// Exclusive join: b leaves r1 for r2.
	jsonEq(t, b.emitAck("/", "joinRoom", map[string]any{"room": "r2"}), `["r2"]`)
	a.emitAck("/", "chatInput", chatMsg("a", "second"))
	expectChat(t, a, "/", "chatMessage", chatMsg("a", "second"))
	c.emitAck("/", "chatInput", chatMsg("c", "marker2"))
	expectChat(t, b, "/", "chatMessage", chatMsg("c", "marker2"))
	expectChat(t, c, "/", "chatMessage", chatMsg("c", "marker2"))
}

func TestJoinNonExclusiveAndLeave(t *testing.T) {
	_, url := startHub(t, "t-leave", parseHandler(t, chatCaddyfile))
	a, b, c := joinChat(t, url, "a"), joinChat(t, url, "b"), joinChat(t, url, "c")
	jsonEq(t, a.emitAck("/", "subscribe", map[string]any{"room": "r1"}), `["r1"]`)
	jsonEq(t, a.emitAck("/", "subscribe", "r2"), `["r2"]`) // a string argument is the room
	b.emitAck("/", "joinRoom", map[string]any{"room": "r1"})
	c.emitAck("/", "joinRoom", map[string]any{"room": "r2"})

	// a is in r1 and r2: both rooms get it, a gets it once.
	a.emitAck("/", "chatInput", chatMsg("a", "both"))
	expectChat(t, b, "/", "chatMessage", chatMsg("a", "both"))
	expectChat(t, c, "/", "chatMessage", chatMsg("a", "both"))
	expectChat(t, a, "/", "chatMessage", chatMsg("a", "both"))
	a.emitAck("/", "chatInput", chatMsg("a", "again"))
	expectChat(t, a, "/", "chatMessage", chatMsg("a", "again")) // no duplicate of "both"
	expectChat(t, b, "/", "chatMessage", chatMsg("a", "again"))
	expectChat(t, c, "/", "chatMessage", chatMsg("a", "again"))

	jsonEq(t, a.emitAck("/", "leaveRoom", map[string]any{"room": "r1"}), `["r1"]`)
	a.emitAck("/", "chatInput", chatMsg("a", "r2 only"))
	expectChat(t, a, "/", "chatMessage", chatMsg("a", "r2 only"))
	expectChat(t, c, "/", "chatMessage", chatMsg("a", "r2 only"))
	b.emitAck("/", "chatInput", chatMsg("b", "marker"))
	expectChat(t, b, "/", "chatMessage", chatMsg("b", "marker"))

	// In no room at all, a relay reaches nobody (not the whole namespace).
	a.emitAck("/", "leaveRoom", "r2")
	a.emitAck("/", "chatInput", chatMsg("a", "nobody"))
	b.emitAck("/", "chatInput", chatMsg("b", "marker2"))
	expectChat(t, b, "/", "chatMessage", chatMsg("b", "marker2"))
	c.emitAck("/", "joinRoom", map[string]any{"room": "r1"})
	c.emitAck("/", "chatInput", chatMsg("c", "marker3"))
	expectChat(t, c, "/", "chatMessage", chatMsg("c", "marker3"))
	a.emitAck("/", "joinRoom", map[string]any{"room": "r9"})
	a.emitAck("/", "chatInput", chatMsg("a", "marker4"))
	expectChat(t, a, "/", "chatMessage", chatMsg("a", "marker4"))
}

func TestRelayToNamespaceWithoutSender(t *testing.T) {
	_, url := startHub(t, "t-shout", parseHandler(t, chatCaddyfile))
	a, b, c := joinChat(t, url, "a"), joinChat(t, url, "b"), joinChat(t, url, "c")
	jsonEq(t, a.emitAck("/", "shout", map[string]any{"n": 1}, "two"), `[]`)
	for _, cl := range []*wsClient{b, c} {
		args := cl.expectEvent("/", "shout")
		if len(args) != 2 {
			t.Fatalf("%s: shout with %d args, want 2", cl.name, len(args))
		}
		jsonEq(t, args[0], `{"n":1}`)
		jsonEq(t, args[1], `"two"`)
	}
	// include_sender off: a's next event is its own marker.
	a.emitAck("/", "joinRoom", map[string]any{"room": "solo"})
	a.emitAck("/", "chatInput", chatMsg("a", "marker"))
	expectChat(t, a, "/", "chatMessage", chatMsg("a", "marker"))
}

// benchCaddyfile serves the conformance app's rules R1, R3, R4 and R6 (what
// bench/run.sh gives the Caddy peer), plus a direct-message relay.
const benchCaddyfile = `socketio {
	namespace / {
		greet welcome ` + "`{}`" + `
		join join room
		ack ack-echo
		relay to-room room-message {
			to field room
			payload payload
		}
		relay dm {
			to field to
			include_sender off
		}
		relay ack-and-relay
		ack ack-and-relay
	}
}`

func TestAckAndRelayToField(t *testing.T) {
	_, url := startHub(t, "t-field", parseHandler(t, benchCaddyfile))
	ids := make(map[string]string)
	dial := func(name string) *wsClient {
		c := dialWS(t, url, name)
		ids[name] = c.connect("/")
		jsonEq(t, c.expectEvent("/", "welcome")[0], `{}`)
		return c
	}
	a, b, c := dial("a"), dial("b"), dial("c")

	// ack: the same arguments back.
	jsonEq(t, a.emitAck("/", "ack-echo", "probe", map[string]any{"n": 1}), `["probe",{"n":1}]`)
	jsonEq(t, a.emitAck("/", "ack-echo"), `[]`)
	// With a relay on the same event, the ack rule's answer wins.
	jsonEq(t, a.emitAck("/", "ack-and-relay", "x"), `["x"]`)

	jsonEq(t, a.emitAck("/", "join", map[string]any{"room": "r1"}), `["r1"]`)
	jsonEq(t, b.emitAck("/", "join", map[string]any{"room": "r1"}), `["r1"]`)
	jsonEq(t, c.emitAck("/", "join", map[string]any{"room": "r2"}), `["r2"]`)

	// to field: the room named in the message, the payload alone, the sender
	// included because it is in r1.
	jsonEq(t, a.emitAck("/", "to-room", map[string]any{"room": "r1", "payload": "hi"}), `[]`)
	for _, cl := range []*wsClient{a, b} {
		args := cl.expectEvent("/", "room-message")
		if len(args) != 1 {
			t.Fatalf("%s: room-message with %d args, want 1", cl.name, len(args))
		}
		jsonEq(t, args[0], `"hi"`)
	}
	// The sender need not be in the room: c (in r2) reaches r1, not itself.
	c.emitAck("/", "to-room", map[string]any{"room": "r1", "payload": map[string]any{"k": []int{1}}})
	jsonEq(t, b.expectEvent("/", "room-message")[0], `{"k":[1]}`)
	jsonEq(t, a.expectEvent("/", "room-message")[0], `{"k":[1]}`)
	// No payload property, no room, or a first argument that is no object:
	// nothing is sent. A marker to r2 then must be c's next event.
	c.emitAck("/", "to-room", map[string]any{"room": "r2"})
	c.emitAck("/", "to-room", map[string]any{"payload": "no room"})
	c.emitAck("/", "to-room", "r2")
	c.emitAck("/", "to-room", map[string]any{"room": "r2", "payload": "marker"})
	jsonEq(t, c.expectEvent("/", "room-message")[0], `"marker"`)

	// Another socket's id room is refused; all arguments pass without payload.
	a.emitAck("/", "dm", map[string]any{"to": ids["b"], "text": "psst"})
	a.emitAck("/", "to-room", map[string]any{"room": "r1", "payload": "marker2"})
	jsonEq(t, b.expectEvent("/", "room-message")[0], `"marker2"`)
	a.expectEvent("/", "room-message")
	a.emitAck("/", "dm", map[string]any{"to": "r2", "text": "hey"}, 2)
	args := c.expectEvent("/", "dm")
	if len(args) != 2 {
		t.Fatalf("dm with %d args, want 2", len(args))
	}
	jsonEq(t, args[0], `{"to":"r2","text":"hey"}`)
	jsonEq(t, args[1], `2`)
}

func TestJoinRefusals(t *testing.T) {
	_, url := startHub(t, "t-refuse", parseHandler(t, chatCaddyfile))
	a, b := joinChat(t, url, "a"), joinChat(t, url, "b")
	bSid := b.connect("/system") // a socket id in another namespace is just a name in "/"
	_ = bSid

	// b's socket id in "/" names b's private room.
	b2 := dialWS(t, url, "b2")
	sid := b2.connect("/")
	b2.expectEvent("/", "hello")
	cases := []struct {
		name string
		arg  any
		want string
	}{
		{"another socket's id", map[string]any{"room": sid}, `[null]`},
		{"empty name", map[string]any{"room": ""}, `[null]`},
		{"missing field", map[string]any{"other": "x"}, `[null]`},
		{"no argument", nil, `[null]`},
		{"object room", map[string]any{"room": map[string]any{"x": 1}}, `[null]`},
		{"too long", map[string]any{"room": strings.Repeat("x", maxRoomLen+1)}, `[null]`},
		{"longest", map[string]any{"room": strings.Repeat("x", maxRoomLen)}, `["` + strings.Repeat("x", maxRoomLen) + `"]`},
		{"number", 42, `["42"]`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a.t = t
			var ack json.RawMessage
			if tc.arg == nil {
				ack = a.emitAck("/", "joinRoom")
			} else {
				ack = a.emitAck("/", "joinRoom", tc.arg)
			}
			jsonEq(t, ack, tc.want)
		})
	}
	a.t = t

	// a did not get into b2's private room: b2 relays in no room.
	b2.emitAck("/", "joinRoom", map[string]any{"room": "b2-room"})
	a.emitAck("/", "joinRoom", map[string]any{"room": "a-room"})
	a.emitAck("/", "chatInput", chatMsg("a", "private?"))
	b2.emitAck("/", "chatInput", chatMsg("b2", "marker"))
	expectChat(t, b2, "/", "chatMessage", chatMsg("b2", "marker"))

	// At most max_rooms_per_socket rooms, the socket's own included.
	c := joinChat(t, url, "c")
	for i := range socketio.DefaultMaxRoomsPerSocket - 1 {
		jsonEq(t, c.emitAck("/", "subscribe", "room-"+strconv.Itoa(i)), `["room-`+strconv.Itoa(i)+`"]`)
	}
	jsonEq(t, c.emitAck("/", "subscribe", "one-too-many"), `[null]`)
	jsonEq(t, c.emitAck("/", "joinRoom", "exclusive-still-works"), `["exclusive-still-works"]`)
}

func TestNamespaces(t *testing.T) {
	_, url := startHub(t, "t-nsp", parseHandler(t, chatCaddyfile))
	a, b := dialWS(t, url, "a"), dialWS(t, url, "b")
	if msg := a.connectError("/nope"); msg != "Invalid namespace" {
		t.Fatalf("connect_error %q", msg)
	}
	if msg := a.connectError("/room-x"); msg != "Invalid namespace" {
		t.Fatalf("connect_error %q", msg)
	}
	a.connect("/room-7")
	b.connect("/room-7")
	b.connect("/room-8")
	a.emitAck("/room-7", "chatInput", chatMsg("a", "in 7"))
	expectChat(t, a, "/room-7", "chatMessage", chatMsg("a", "in 7"))
	expectChat(t, b, "/room-7", "chatMessage", chatMsg("a", "in 7"))
	b.emitAck("/room-8", "chatInput", chatMsg("b", "in 8"))
	expectChat(t, b, "/room-8", "chatMessage", chatMsg("b", "in 8"))
	// Rules of "/" do not apply elsewhere: no greeting in /room-7, and an
	// event without a rule is ignored (no ack, as with no handler in Node).
	a.emit("/room-7", "shout", "x")
	a.emitAck("/room-7", "chatInput", chatMsg("a", "marker"))
	expectChat(t, a, "/room-7", "chatMessage", chatMsg("a", "marker"))
	expectChat(t, b, "/room-7", "chatMessage", chatMsg("a", "marker"))
}

// TestApplySwapsRules is what a reload does to a reused hub: existing sockets
// keep their rooms and follow the new rules; namespaces no longer declared
// are disconnected; new connections see the new greeting and heartbeat.
func TestApplySwapsRules(t *testing.T) {
	hb, url := startHub(t, "t-apply", parseHandler(t, chatCaddyfile))
	a, b := joinChat(t, url, "a"), joinChat(t, url, "b")
	a.connect("/system")
	a.expectEvent("/system", "message")
	a.emitAck("/", "joinRoom", map[string]any{"room": "r1"})
	b.emitAck("/", "joinRoom", map[string]any{"room": "r1"})

	var logs siotest.LogBuffer
	next := parseHandler(t, `socketio {
		ping_interval 2s
		ping_timeout 3s
		namespace / {
			greet hello "v2"
			relay chatInput chatMessage2 {
				include_sender off
			}
		}
	}`)
	hb.apply(liveOf(t, next, slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))

	a.expectDisconnect("/system")
	a.emitAck("/", "chatInput", chatMsg("a", "after"))
	expectChat(t, b, "/", "chatMessage2", chatMsg("a", "after"))
	a.assertOpen()
	b.assertOpen()

	c := dialWS(t, url, "c")
	if c.open.PingInterval != 2000 || c.open.PingTimeout != 3000 {
		t.Fatalf("handshake after apply: %+v", c.open)
	}
	c.connect("/")
	jsonEq(t, c.expectEvent("/", "hello")[0], `"v2"`)
	if msg := c.connectError("/system"); msg != "Invalid namespace" {
		t.Fatalf("connect_error %q", msg)
	}
	// The joinRoom rule is gone: c does not get into r1.
	c.emit("/", "joinRoom", map[string]any{"room": "r1"})
	c.emitAck("/", "chatInput", chatMsg("c", "not in r1"))
	a.emitAck("/", "chatInput", chatMsg("a", "marker"))
	expectChat(t, b, "/", "chatMessage2", chatMsg("a", "marker"))
	if !strings.Contains(logs.String(), "namespace no longer configured") {
		t.Fatalf("the new logger did not get the hub's log:\n%s", logs.String())
	}
}

func TestMetrics(t *testing.T) {
	_, url := startHub(t, "t-metrics", parseHandler(t, chatCaddyfile))
	root := connectedSockets.WithLabelValues("t-metrics", "/")
	dyn := connectedSockets.WithLabelValues("t-metrics", `~^/room-\d+$`)
	a, b := joinChat(t, url, "a"), joinChat(t, url, "b")
	b.connect("/room-1")
	b.connect("/room-2")
	if got := testutil.ToFloat64(root); got != 2 {
		t.Fatalf("connected sockets in / = %v, want 2", got)
	}
	if got := testutil.ToFloat64(dyn); got != 2 {
		t.Fatalf("connected sockets in the pattern = %v, want 2", got)
	}
	a.emitAck("/", "shout", "x")
	if got := testutil.ToFloat64(broadcasts.WithLabelValues("t-metrics", "/")); got != 1 {
		t.Fatalf("broadcasts = %v, want 1", got)
	}
	b.conn.Close()
	deadline := time.Now().Add(waitFor)
	for testutil.ToFloat64(root) != 1 || testutil.ToFloat64(dyn) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("after a disconnect: / = %v, pattern = %v", testutil.ToFloat64(root), testutil.ToFloat64(dyn))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestSwapHandler(t *testing.T) {
	var first, second bytes.Buffer
	sh := newSwapHandler(slog.NewTextHandler(&first, nil))
	l := slog.New(sh).With("hub", "h").WithGroup("g")
	l.Info("one", "n", 1)
	sh.set(slog.NewTextHandler(&second, nil))
	l.Info("two", "n", 2)
	if !strings.Contains(first.String(), "msg=one hub=h g.n=1") || strings.Contains(first.String(), "two") {
		t.Fatalf("first handler got %q", first.String())
	}
	if !strings.Contains(second.String(), "msg=two hub=h g.n=2") {
		t.Fatalf("second handler got %q", second.String())
	}
}

// TestCompileRulesErrors covers JSON configs the Caddyfile parser would
// have refused already.
func TestCompileRulesErrors(t *testing.T) {
	yes := true
	cases := []struct {
		name string
		nss  []Namespace
		want string
	}{
		{"no name", []Namespace{{}}, "needs a name or a match"},
		{"name and match", []Namespace{{Name: "/a", Match: "^/a$"}}, "not both"},
		{"name without slash", []Namespace{{Name: "chat"}}, "must start with /"},
		{"bad pattern", []Namespace{{Match: "("}}, "match: error parsing regexp"},
		{"duplicate name", []Namespace{{Name: "/a"}, {Name: "/a"}}, `namespace "/a" declared twice`},
		{"duplicate pattern", []Namespace{{Match: "^/a"}, {Match: "^/a"}}, `pattern "^/a" declared twice`},
		{"empty event", []Namespace{{Name: "/", Join: []JoinRule{{Field: "room"}}}}, "join: event name required"},
		{"reserved relay emit", []Namespace{{Name: "/", Relay: []RelayRule{{Event: "x", Emit: "disconnect"}}}}, `"disconnect" is a reserved event name`},
		{"relay target", []Namespace{{Name: "/", Relay: []RelayRule{{Event: "x", To: "all", IncludeSender: &yes}}}}, `to must be "rooms", "namespace" or "field"`},
		{"relay field without room_field", []Namespace{{Name: "/", Relay: []RelayRule{{Event: "x", To: "field"}}}}, `to "field" needs room_field`},
		{"relay room_field without field", []Namespace{{Name: "/", Relay: []RelayRule{{Event: "x", RoomField: "room"}}}}, `room_field is for to "field" only`},
		{"ack reserved", []Namespace{{Name: "/", Ack: []AckRule{{Event: "connect"}}}}, `ack: "connect" is a reserved event name`},
		{"greet arg", []Namespace{{Name: "/", Greet: []GreetRule{{Event: "x", Args: []json.RawMessage{json.RawMessage(`{`)}}}}}, "greet x: argument"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := compileRules(tc.nss)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

// TestRelayForwardsClientBytes: a relay re-emits the arguments as the
// client wrote them (member order, spacing and escapes kept: they are never
// decoded), and an event without rules or hooks is dropped undecoded and
// counted.
func TestRelayForwardsClientBytes(t *testing.T) {
	hb, url := startHub(t, "t-raw", parseHandler(t, chatCaddyfile))
	a, b := joinChat(t, url, "a"), joinChat(t, url, "b")
	a.write(`42["shout", {"z":1,"a":"\u00e9"} ,[2, 1]]`)
	p := b.next(func(p sioPacket) bool { return p.Type == '2' })
	if string(p.Data) != `["shout",{"z":1,"a":"\u00e9"} ,[2, 1]]` {
		t.Fatalf("relayed %s", p.Data)
	}
	before := hb.srv.UnhandledEvents()
	a.write(`42["no-rule",[1,2,3]]`)
	a.emitAck("/", "joinRoom", "r") // handled after it: the count is settled
	if n := hb.srv.UnhandledEvents() - before; n != 1 {
		t.Fatalf("unhandled events %d, want 1", n)
	}
}
