package socketio_test

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-socketio/caddy-socketio/socketio"
	"github.com/caddy-socketio/caddy-socketio/socketio/engine"
	"github.com/caddy-socketio/caddy-socketio/socketio/parser"
	"github.com/caddy-socketio/caddy-socketio/socketio/siotest"
)

// mpSend writes p as a socket.io-msgpack-parser client does.
func mpSend(t *testing.T, c *wsClient, p *parser.Packet) {
	t.Helper()
	b, err := parser.EncodeMsgpack(p)
	if err != nil {
		t.Fatal(err)
	}
	c.SendBinary(b)
}

// mpRead reads the next frame, which must be one msgpack packet.
func mpRead(t *testing.T, c *wsClient) *parser.Packet {
	t.Helper()
	f := c.Read()
	b, ok := strings.CutPrefix(f, "bin:")
	if !ok {
		t.Fatalf("got text frame %q, want a binary msgpack packet", f)
	}
	p, err := parser.DecodeMsgpack([]byte(b))
	if err != nil {
		t.Fatalf("server sent an invalid msgpack packet %x: %v", b, err)
	}
	return p
}

// mixedServer serves the "join" and "say" events: say broadcasts its
// arguments to the room "r" as "said", and acks "ok".
func mixedServer(t *testing.T, mode socketio.Parser) *wsClientServer {
	srv, hs := newTestServer(t, &socketio.Options{Parser: mode})
	parsers := make(chan socketio.Parser, 8)
	srv.Of("/").OnConnection(func(s *socketio.Socket) {
		parsers <- s.Conn().Parser()
		s.On("join", func(_ []any, ack socketio.Ack) {
			_ = s.Join("r")
			if ack != nil {
				_ = ack()
			}
		})
		s.On("say", func(args []any, ack socketio.Ack) {
			_ = srv.Of("/").To("r").Emit("said", args...)
			if ack != nil {
				_ = ack("ok", []byte{0xca, 0xfe})
			}
		})
	})
	return &wsClientServer{hs: hs.URL, parsers: parsers}
}

type wsClientServer struct {
	hs      string
	parsers chan socketio.Parser
}

func (w *wsClientServer) parser(t *testing.T) socketio.Parser {
	t.Helper()
	select {
	case p := <-w.parsers:
		return p
	case <-time.After(siotest.Wait):
		t.Fatal("no connection")
	}
	return 0
}

// TestParsersShareARoom: on one server, a default-parser client and a
// socket.io-msgpack-parser client (detected by their first packet) join
// one room and exchange events both ways, binary included; each receives
// the broadcast in its own parser.
func TestParsersShareARoom(t *testing.T) {
	srv := mixedServer(t, socketio.ParserAuto)

	text := siotest.DialWS(t, srv.hs, "", nil)
	text.Connect("/", "")
	if p := srv.parser(t); p != socketio.ParserDefault {
		t.Fatalf("text client detected as %v", p)
	}
	mp := siotest.DialWS(t, srv.hs, "", nil)
	mpSend(t, mp, &parser.Packet{Type: parser.Connect, Namespace: "/"})
	if p := mpRead(t, mp); p.Type != parser.Connect || p.Data.(map[string]any)["sid"] == nil {
		t.Fatalf("msgpack CONNECT reply %+v", p)
	}
	if p := srv.parser(t); p != socketio.ParserMsgpack {
		t.Fatalf("binary client detected as %v", p)
	}

	text.Emit("/", 1, "join")
	text.Expect("431[]")
	mpSend(t, mp, &parser.Packet{Type: parser.Event, Namespace: "/", ID: 1, HasID: true, Data: []any{"join"}})
	if p := mpRead(t, mp); p.Type != parser.Ack || p.ID != 1 || !reflect.DeepEqual(p.Data, []any{}) {
		t.Fatalf("join ack %+v", p)
	}

	// msgpack -> both, with binary and a nested map.
	mpSend(t, mp, &parser.Packet{Type: parser.Event, Namespace: "/", ID: 2, HasID: true,
		Data: []any{"say", "from msgpack", []byte{1, 2, 3}, map[string]any{"n": 1.5, "big": int64(1 << 40)}}})
	want := []any{"said", "from msgpack", []byte{1, 2, 3}, map[string]any{"n": json.Number("1.5"), "big": json.Number("1099511627776")}}
	got := mpRead(t, mp)
	if got.Type != parser.Event || !reflect.DeepEqual(got.Data, want) {
		t.Fatalf("msgpack client got %+v", got)
	}
	if p := mpRead(t, mp); p.Type != parser.Ack || p.ID != 2 || !reflect.DeepEqual(p.Data, []any{"ok", []byte{0xca, 0xfe}}) {
		t.Fatalf("say ack %+v", p)
	}
	text.Expect(`451-["said","from msgpack",{"_placeholder":true,"num":0},{"big":1099511627776,"n":1.5}]`)
	text.Expect("bin:\x01\x02\x03")

	// default -> both, with binary.
	text.Send(`451-3["say","from text",{"_placeholder":true,"num":0}]`)
	text.SendBinary([]byte{9})
	text.Expect(`451-["said","from text",{"_placeholder":true,"num":0}]`)
	text.Expect("bin:\x09")
	text.Expect(`461-3["ok",{"_placeholder":true,"num":0}]`)
	text.Expect("bin:\xca\xfe")
	if p := mpRead(t, mp); p.Type != parser.Event || !reflect.DeepEqual(p.Data, []any{"said", "from text", []byte{9}}) {
		t.Fatalf("msgpack client got %+v", p)
	}

	// A server emit to one socket goes out in that socket's parser.
	mpSend(t, mp, &parser.Packet{Type: parser.Disconnect, Namespace: "/"})
	text.ExpectNothing(100 * time.Millisecond)
}

// TestParserPinned: with one parser pinned, a client of the other kind is
// closed at its first packet; with ParserMsgpack a msgpack client connects.
func TestParserPinned(t *testing.T) {
	connect, _ := parser.EncodeMsgpack(&parser.Packet{Type: parser.Connect, Namespace: "/"})

	def := mixedServer(t, socketio.ParserDefault)
	c := siotest.DialWS(t, def.hs, "", nil)
	c.SendBinary(connect)
	c.ExpectClosed()
	c = siotest.DialWS(t, def.hs, "", nil)
	c.Connect("/", "")
	if p := def.parser(t); p != socketio.ParserDefault {
		t.Fatalf("parser %v", p)
	}

	mp := mixedServer(t, socketio.ParserMsgpack)
	c = siotest.DialWS(t, mp.hs, "", nil)
	c.Send("40")
	c.ExpectClosed()
	c = siotest.DialWS(t, mp.hs, "", nil)
	c.SendBinary(connect)
	if p := mpRead(t, c); p.Type != parser.Connect {
		t.Fatalf("reply %+v", p)
	}
	if p := mp.parser(t); p != socketio.ParserMsgpack {
		t.Fatalf("parser %v", p)
	}
}

// TestMsgpackInvalidPackets: a msgpack client that sends garbage, a text
// frame, or a packet the parser refuses is closed, and a refused namespace
// gets its CONNECT_ERROR in msgpack.
func TestMsgpackInvalidPackets(t *testing.T) {
	srv := mixedServer(t, socketio.ParserAuto)
	connect, _ := parser.EncodeMsgpack(&parser.Packet{Type: parser.Connect, Namespace: "/"})
	for name, second := range map[string]func(c *wsClient){
		"garbage":    func(c *wsClient) { c.SendBinary([]byte{0xc1}) },
		"text frame": func(c *wsClient) { c.Send(`42["x"]`) },
		"type 5":     func(c *wsClient) { c.SendBinary([]byte("\x83\xa4type\x05\xa4data\x91\xa1x\xa3nsp\xa1/")) },
	} {
		t.Run(name, func(t *testing.T) {
			c := siotest.DialWS(t, srv.hs, "", nil)
			c.SendBinary(connect)
			mpRead(t, c)
			second(c)
			c.ExpectClosed()
		})
	}
	c := siotest.DialWS(t, srv.hs, "", nil)
	mpSend(t, c, &parser.Packet{Type: parser.Connect, Namespace: "/nope"})
	p := mpRead(t, c)
	if p.Type != parser.ConnectError || p.Namespace != "/nope" || !reflect.DeepEqual(p.Data, map[string]any{"message": "Invalid namespace"}) {
		t.Fatalf("got %+v", p)
	}
}

// TestBroadcastAllocsMixedParsers: a broadcast to a room where half the
// clients use the default parser and half socket.io-msgpack-parser is
// encoded once per parser: allocations do not grow with recipients
// (compare TestBroadcastAllocsPerRecipient). An encoding per recipient
// would cost at least one allocation each.
func TestBroadcastAllocsMixedParsers(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items at random under -race")
	}
	const small, big = 20, 220 // half of each are msgpack clients
	srv, hs := newTestServer(t, &socketio.Options{Engine: engine.Config{PingInterval: time.Hour, PingTimeout: time.Hour}})
	addr := strings.TrimPrefix(hs.URL, "http://")
	nsp := srv.Of("/")
	clients := make([]*siotest.Client, big)
	for i := range clients {
		if i == small {
			if err := nsp.SocketsJoin("small"); err != nil {
				t.Fatal(err)
			}
		}
		if i%2 == 0 {
			clients[i] = siotest.Dial(t, addr, "/socket.io/")
		} else {
			clients[i] = siotest.DialMsgpack(t, addr, "/socket.io/")
		}
	}
	if err := nsp.SocketsJoin("big"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, c := range clients {
			_ = c.Conn.Close()
		}
	})

	payload := map[string]any{"text": "hello everyone in the room", "n": 1, "bin": []byte("0123456789")}
	pkt := &parser.Packet{Type: parser.Event, Namespace: "/", Data: []any{"room-message", payload}}
	text, atts, err := parser.Encode(pkt)
	if err != nil {
		t.Fatal(err)
	}
	mp, err := parser.EncodeMsgpack(pkt)
	if err != nil {
		t.Fatal(err)
	}
	// Frames under 126 bytes: a 2-byte header each.
	textBytes := int64(2+1+len(text)) + int64(2+len(atts[0]))
	mpBytes := int64(2 + len(mp))
	if len(text) >= 125 || len(mp) >= 126 {
		t.Fatal("frames too long for the byte count")
	}
	var read, want atomic.Int64
	done := make(chan struct{}, 1)
	for _, c := range clients {
		buf := make([]byte, 4<<10)
		go func() {
			for {
				m, err := c.R.Read(buf)
				if err != nil {
					return
				}
				if read.Add(int64(m)) == want.Load() {
					done <- struct{}{}
				}
			}
		}()
	}
	timeout := time.NewTimer(time.Hour)
	defer timeout.Stop()
	const perRound = 8
	round := func(room string, members int) func() {
		return func() {
			want.Add(perRound * int64(members/2) * (textBytes + mpBytes))
			for range perRound {
				if err := nsp.To(socketio.Room(room)).Emit("room-message", payload); err != nil {
					t.Fatal(err)
				}
			}
			timeout.Reset(10 * time.Second)
			select {
			case <-done:
			case <-timeout.C:
				t.Fatalf("clients read %d of %d bytes", read.Load(), want.Load())
			}
		}
	}
	measure := func(room string, members int) float64 {
		f := round(room, members)
		for range 3 {
			f()
		}
		return testing.AllocsPerRun(20, f) / perRound
	}
	aSmall := measure("small", small)
	aBig := measure("big", big)
	perRecipient := (aBig - aSmall) / (big - small)
	t.Logf("allocations per broadcast: %.2f to %d clients, %.2f to %d (half msgpack); %.4f per extra recipient",
		aSmall, small, aBig, big, perRecipient)
	if perRecipient > 0.005 {
		t.Errorf("%.4f allocations per recipient (%.2f per broadcast to %d, %.2f to %d), want 0",
			perRecipient, aSmall, small, aBig, big)
	}
	if !bytes.Contains(mp, []byte("0123456789")) {
		t.Fatal("msgpack frame lost the binary")
	}
}
