package redis

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/caddy-socketio/caddy-socketio/socketio/adapter"
	"github.com/caddy-socketio/caddy-socketio/socketio/parser"
)

// Byte-exact examples from github.com/socketio/socket.io-redis-adapter
const (
	// io.to("room1").emit("hello","world") from uid Xy9Qp2 (68 bytes).
	room1HelloHex = "93 a6 58 79 39 51 70 32 83 a4 74 79 70 65 02 a4 64 61 74 61 92 a5 68 65 6c 6c 6f a5 77 6f 72 6c 64" +
		" a3 6e 73 70 a1 2f 83 a5 72 6f 6f 6d 73 91 a5 72 6f 6f 6d 31 a6 65 78 63 65 70 74 90 a5 66 6c 61 67 73 80"
	// io.emit("all",1) from the same server.
	allOneHex = "93 a6 58 79 39 51 70 32 83 a4 74 79 70 65 02 a4 64 61 74 61 92 a3 61 6c 6c 01 a3 6e 73 70 a1 2f" +
		" 83 a5 72 6f 6f 6d 73 90 a6 65 78 63 65 70 74 90 a5 66 6c 61 67 73 80"
	// emitter.emit("news", {id:1}) on socket.io#/# (61 bytes).
	emitterNewsHex = "93 a7 65 6d 69 74 74 65 72 83 a4 74 79 70 65 02 a4 64 61 74 61 92 a4 6e 65 77 73 81 a2 69 64 01" +
		" a3 6e 73 70 a1 2f 83 a5 72 6f 6f 6d 73 90 a5 66 6c 61 67 73 80 a6 65 78 63 65 70 74 90"
	// A socket.io-msgpack-parser CONNECT with data undefined (§6).
	connectUndefinedHex = "83 a4 74 79 70 65 00 a4 64 61 74 61 d4 00 00 a3 6e 73 70 a1 2f"
)

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func rooms(r ...string) []adapter.Room {
	out := make([]adapter.Room, len(r))
	for i, s := range r {
		out[i] = adapter.Room(s)
	}
	return out
}

func TestEncodeClassicBroadcastBytes(t *testing.T) {
	for _, tc := range []struct {
		name string
		p    *parser.Packet
		opts adapter.BroadcastOptions
		want string
	}{
		{"to room1 hello world", ev("hello", "world"), adapter.BroadcastOptions{Rooms: rooms("room1")}, room1HelloHex},
		{"emit all 1", ev("all", 1), adapter.BroadcastOptions{}, allOneHex},
		{"json.Number arg", ev("all", json.Number("1")), adapter.BroadcastOptions{}, allOneHex},
		{"float64 integral arg", ev("all", float64(1)), adapter.BroadcastOptions{}, allOneHex},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, broadcast, err := encodeClassic("Xy9Qp2", &adapter.ClusterMessage{Type: adapter.MsgBroadcast, Packet: tc.p, Opts: tc.opts})
			if err != nil || !broadcast {
				t.Fatalf("err %v, broadcast %v", err, broadcast)
			}
			if want := mustHex(t, tc.want); !bytes.Equal(got, want) {
				t.Fatalf("got  % x\nwant % x", got, want)
			}
		})
	}
}

func TestClassicBroadcastChannel(t *testing.T) {
	tr := &transport{nsp: "/", uid: "Xy9Qp2"}
	tr.channels("socket.io", false)
	for _, tc := range []struct {
		rooms []adapter.Room
		want  string
	}{
		{nil, "socket.io#/#"},
		{rooms("room1"), "socket.io#/#room1#"},
		{rooms("a", "b"), "socket.io#/#"},
	} {
		ch := tr.bcast
		if len(tc.rooms) == 1 {
			ch += string(tc.rooms[0]) + "#"
		}
		if ch != tc.want {
			t.Errorf("rooms %v: channel %q, want %q", tc.rooms, ch, tc.want)
		}
	}
	if tr.req != "socket.io-request#/#" || tr.res != "socket.io-response#/#" || tr.resOwn != "socket.io-response#/#Xy9Qp2#" {
		t.Fatalf("channels %q %q %q", tr.req, tr.res, tr.resOwn)
	}
	if subs := tr.subscriptions(); subs[0].channel != "socket.io#/#*" || subs[0].kind != subPattern {
		t.Fatalf("subscriptions %v", subs)
	}
}

func TestEncodeClassicRequests(t *testing.T) {
	for _, tc := range []struct {
		name string
		m    adapter.ClusterMessage
		want string
	}{
		{"socketsJoin", adapter.ClusterMessage{Type: adapter.MsgSocketsJoin, Opts: adapter.BroadcastOptions{Rooms: rooms("room1")}, Rooms: rooms("vip")},
			`{"uid":"Xy9Qp2","type":2,"opts":{"rooms":["room1"],"except":[]},"rooms":["vip"]}`},
		{"socketsLeave", adapter.ClusterMessage{Type: adapter.MsgSocketsLeave, Rooms: rooms("vip")},
			`{"uid":"Xy9Qp2","type":3,"opts":{"rooms":[],"except":[]},"rooms":["vip"]}`},
		{"disconnectSockets", adapter.ClusterMessage{Type: adapter.MsgDisconnectSockets, Opts: adapter.BroadcastOptions{Rooms: rooms("room1")}},
			`{"uid":"Xy9Qp2","type":4,"opts":{"rooms":["room1"],"except":[]},"close":false}`},
		{"allRooms", adapter.ClusterMessage{Type: adapter.MsgAllRooms, RequestID: "k2Lm8Q"},
			`{"uid":"Xy9Qp2","requestId":"k2Lm8Q","type":1}`},
		{"fetchSockets", adapter.ClusterMessage{Type: adapter.MsgFetchSockets, RequestID: "aB3dE9", Opts: adapter.BroadcastOptions{Rooms: rooms("room1")}},
			`{"uid":"Xy9Qp2","requestId":"aB3dE9","type":5,"opts":{"rooms":["room1"],"except":[]}}`},
		{"serverSideEmit", adapter.ClusterMessage{Type: adapter.MsgServerSideEmit, Args: []any{"config:reload", map[string]any{"v": 2}}},
			`{"uid":"Xy9Qp2","type":6,"data":["config:reload",{"v":2}]}`},
		{"serverSideEmit with ack", adapter.ClusterMessage{Type: adapter.MsgServerSideEmit, RequestID: "Zt5uV1", Args: []any{"ping"}},
			`{"uid":"Xy9Qp2","requestId":"Zt5uV1","type":6,"data":["ping"]}`},
		{"sockets", adapter.ClusterMessage{Type: adapter.MsgSockets, RequestID: "r1", Opts: adapter.BroadcastOptions{Rooms: rooms("room1")}},
			`{"uid":"Xy9Qp2","requestId":"r1","type":0,"rooms":["room1"]}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, broadcast, err := encodeClassic("Xy9Qp2", &tc.m)
			if err != nil || broadcast {
				t.Fatalf("err %v, broadcast %v", err, broadcast)
			}
			if string(got) != tc.want {
				t.Fatalf("got  %s\nwant %s", got, tc.want)
			}
			// And it decodes back to the same request.
			back, err := decodeClassicRequest(got)
			if err != nil || back == nil {
				t.Fatalf("decode: %v", err)
			}
			if back.Type != tc.m.Type || back.UID != "Xy9Qp2" || back.RequestID != tc.m.RequestID {
				t.Fatalf("decoded %+v", back)
			}
		})
	}
}

func TestEncodeClassicResponses(t *testing.T) {
	for _, tc := range []struct {
		name string
		m    adapter.ClusterMessage
		want string
	}{
		{"allRooms", adapter.ClusterMessage{Type: adapter.MsgAllRoomsResponse, RequestID: "k2Lm8Q", Rooms: rooms("room1", "qR7v2LwZbN0cX5aTAAAD")},
			`{"requestId":"k2Lm8Q","rooms":["room1","qR7v2LwZbN0cX5aTAAAD"]}`},
		{"serverSideEmit", adapter.ClusterMessage{Type: adapter.MsgServerSideEmitResponse, RequestID: "Zt5uV1", Args: []any{"pong"}},
			`{"type":6,"requestId":"Zt5uV1","data":"pong"}`},
		{"clientCount", adapter.ClusterMessage{Type: adapter.MsgBroadcastClientCount, RequestID: "q1", ClientCount: 3},
			`{"type":8,"requestId":"q1","clientCount":3}`},
		{"sockets", adapter.ClusterMessage{Type: adapter.MsgSocketsResponse, RequestID: "r1", SocketIDs: []adapter.SocketID{"a"}},
			`{"requestId":"r1","sockets":["a"]}`},
		{"fetch", adapter.ClusterMessage{Type: adapter.MsgFetchSocketsResponse, RequestID: "aB3dE9", Sockets: []adapter.SocketInfo{{
			ID: "qR7v", Rooms: rooms("qR7v", "room1"), Data: map[string]any{},
			Handshake: &adapter.Handshake{Headers: map[string]string{"host": "x"}, Time: "t", Address: "::1", Issued: 5, URL: "/socket.io/?EIO=4", Query: map[string]string{"EIO": "4"}},
		}}},
			`{"requestId":"aB3dE9","sockets":[{"id":"qR7v","handshake":{"headers":{"host":"x"},"time":"t","address":"::1","xdomain":false,"secure":false,"issued":5,"url":"/socket.io/?EIO=4","query":{"EIO":"4"},"auth":{}},"rooms":["qR7v","room1"],"data":{}}]}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := encodeClassicResponse(&tc.m)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Fatalf("got  %s\nwant %s", got, tc.want)
			}
			back, err := decodeClassicResponse(got)
			if err != nil || back == nil || back.RequestID != tc.m.RequestID {
				t.Fatalf("decode: %+v %v", back, err)
			}
		})
	}
}

func TestClassicBroadcastWithAckRoundTrip(t *testing.T) {
	p := ev("q", []byte{1, 2})
	p.ID, p.HasID = 9, true
	payload, broadcast, err := encodeClassic("Xy9Qp2", &adapter.ClusterMessage{
		Type: adapter.MsgBroadcast, RequestID: "Zt5uV1", Packet: p,
		Opts: adapter.BroadcastOptions{Rooms: rooms("r"), Flags: adapter.Flags{Timeout: 5 * time.Second, Volatile: true}},
	})
	if err != nil || broadcast || isJSON(payload) {
		t.Fatalf("err %v broadcast %v", err, broadcast)
	}
	m, err := decodeClassicRequest(payload)
	if err != nil {
		t.Fatal(err)
	}
	if m.Type != adapter.MsgBroadcast || m.RequestID != "Zt5uV1" || m.UID != "Xy9Qp2" ||
		m.Opts.Flags.Timeout != 5*time.Second || !m.Opts.Flags.Volatile || !reflect.DeepEqual(m.Opts.Rooms, rooms("r")) {
		t.Fatalf("decoded %+v", m)
	}
	if !reflect.DeepEqual(m.Packet.Data, []any{"q", []byte{1, 2}}) {
		t.Fatalf("data %#v", m.Packet.Data)
	}
	ack, err := encodeClassicResponse(&adapter.ClusterMessage{Type: adapter.MsgBroadcastAck, RequestID: "Zt5uV1", Args: []any{[]byte{7}}})
	if err != nil {
		t.Fatal(err)
	}
	back, err := decodeClassicResponse(ack)
	if err != nil || back.Type != adapter.MsgBroadcastAck || !reflect.DeepEqual(back.Args, []any{[]byte{7}}) {
		t.Fatalf("ack %+v %v", back, err)
	}
}

func TestDecodeEmitterBroadcast(t *testing.T) {
	tr := &transport{nsp: "/"}
	m, err := tr.decodeClassicBroadcast(mustHex(t, emitterNewsHex))
	if err != nil {
		t.Fatal(err)
	}
	if m.UID != "emitter" || m.Type != adapter.MsgBroadcast {
		t.Fatalf("message %+v", m)
	}
	want := []any{"news", map[string]any{"id": json.Number("1")}}
	if !reflect.DeepEqual(m.Packet.Data, want) || m.Packet.Namespace != "/" {
		t.Fatalf("packet %#v", m.Packet)
	}
	if len(m.Opts.Rooms) != 0 || len(m.Opts.Except) != 0 || m.Opts.Flags != (adapter.Flags{}) {
		t.Fatalf("opts %+v", m.Opts)
	}
	text, _, err := parser.Encode(m.Packet)
	if err != nil || string(text) != `2["news",{"id":1}]` {
		t.Fatalf("text %q %v", text, err)
	}
	// The same bytes for another namespace are ignored.
	if m, err := (&transport{nsp: "/admin"}).decodeClassicBroadcast(mustHex(t, emitterNewsHex)); m != nil || err != nil {
		t.Fatalf("other namespace: %+v %v", m, err)
	}
}

func TestEncodeShardedBytes(t *testing.T) {
	got, err := encodeSharded("3f2a9c1b7d4e5f60", "/", &adapter.ClusterMessage{
		Type: adapter.MsgBroadcast, Packet: ev("hello", "world"), Opts: adapter.BroadcastOptions{Rooms: rooms("room1")},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"type":3,"data":{"packet":{"type":2,"data":["hello","world"]},"opts":{"rooms":["room1"],"except":[],"flags":{}}},"uid":"3f2a9c1b7d4e5f60","nsp":"/"}`
	if string(got) != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	tr := &transport{nsp: "/", sharded: true, mode: Dynamic, uid: "3f2a9c1b7d4e5f60"}
	tr.channels("socket.io", false)
	if tr.main != "socket.io#/#" || tr.own != "socket.io#/#3f2a9c1b7d4e5f60#" || tr.roomChannel("room1") != "socket.io#/#room1#" {
		t.Fatalf("channels %q %q", tr.main, tr.own)
	}
	if tr.roomHasChannel("qR7v2LwZbN0cX5aTAAAD") || !tr.roomHasChannel("room1") {
		t.Fatal("dynamic mode: socket-id rooms must stay on the main channel")
	}
	m, err := tr.decodeSharded(got)
	if err != nil || m.Type != adapter.MsgBroadcast || m.UID != "3f2a9c1b7d4e5f60" || !reflect.DeepEqual(m.Opts.Rooms, rooms("room1")) {
		t.Fatalf("decoded %+v %v", m, err)
	}
	// Binary data switches to MessagePack.
	bin, err := encodeSharded("u", "/", &adapter.ClusterMessage{Type: adapter.MsgBroadcast, Packet: ev("b", []byte{1})})
	if err != nil || isJSON(bin) {
		t.Fatalf("binary broadcast: %q %v", bin, err)
	}
	m, err = tr.decodeSharded(bin)
	if err != nil || !reflect.DeepEqual(m.Packet.Data, []any{"b", []byte{1}}) {
		t.Fatalf("decoded %+v %v", m, err)
	}
	// Other namespaces are ignored.
	if m, err := (&transport{nsp: "/admin", sharded: true}).decodeSharded(got); m != nil || err != nil {
		t.Fatalf("other namespace: %+v %v", m, err)
	}
}

func TestDecodeMsgpackForms(t *testing.T) {
	ts64 := "d7 ff " + hex.EncodeToString([]byte{0, 0, 0, 0, 0, 0, 0, 1}) // 1 s, 0 ns
	for _, tc := range []struct {
		name string
		hex  string
		want any
	}{
		{"positive fixint", "05", json.Number("5")},
		{"negative fixint", "e0", json.Number("-32")},
		{"uint8", "cc ff", json.Number("255")},
		{"uint16", "cd 01 00", json.Number("256")},
		{"uint32", "ce 00 01 00 00", json.Number("65536")},
		{"uint64", "cf 00 00 00 01 00 00 00 00", json.Number("4294967296")},
		{"int8", "d0 80", json.Number("-128")},
		{"int16", "d1 ff 00", json.Number("-256")},
		{"int32", "d2 ff ff 00 00", json.Number("-65536")},
		{"int64", "d3 ff ff ff ff 00 00 00 00", json.Number("-4294967296")},
		{"float64", "cb 3f f8 00 00 00 00 00 00", json.Number("1.5")},
		{"float32", "ca 3f c0 00 00", json.Number("1.5")},
		{"fixstr", "a2 68 69", "hi"},
		{"str8", "d9 02 68 69", "hi"},
		{"str16", "da 00 02 68 69", "hi"},
		{"str32", "db 00 00 00 02 68 69", "hi"},
		{"bin8", "c4 02 01 02", []byte{1, 2}},
		{"bin16", "c5 00 02 01 02", []byte{1, 2}},
		{"bin32", "c6 00 00 00 02 01 02", []byte{1, 2}},
		{"ext8 type 0 (notepack 2 ArrayBuffer)", "c7 03 00 01 02 03", []byte{1, 2, 3}},
		{"undefined in a map is absent", connectUndefinedHex, map[string]any{"type": json.Number("0"), "nsp": "/"}},
		{"undefined in an array is null", "92 01 d4 00 00", []any{json.Number("1"), nil}},
		{"timestamp 32", "d6 ff 00 00 00 01", "1970-01-01T00:00:01.000Z"},
		{"timestamp 64", ts64, "1970-01-01T00:00:01.000Z"},
		{"timestamp 96", "c7 0c ff 00 00 00 00 00 00 00 00 00 00 00 02", "1970-01-01T00:00:02.000Z"},
		{"notepack 2 date", "d7 00 00 00 00 00 00 00 03 e8", "1970-01-01T00:00:01.000Z"},
		{"nil true false", "93 c0 c3 c2", []any{nil, true, false}},
		{"map16", "de 00 01 a1 61 01", map[string]any{"a": json.Number("1")}},
		{"array16", "dc 00 01 01", []any{json.Number("1")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := decodeMsgpack(mustHex(t, tc.hex))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %#v, want %#v", got, tc.want)
			}
		})
	}
	for _, bad := range []string{"", "92 01", "c4 05 01", "c1", "dd ff ff ff ff", "01 02"} {
		if _, err := decodeMsgpack(mustHex(t, bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestEncodeMsgpackForms(t *testing.T) {
	for _, tc := range []struct {
		name string
		v    any
		hex  string
	}{
		{"uint8", 200, "cc c8"},
		{"uint16", 300, "cd 01 2c"},
		{"negative", -33, "d0 df"},
		{"float", 1.5, "cb 3f f8 00 00 00 00 00 00"},
		{"json float", json.Number("1.5"), "cb 3f f8 00 00 00 00 00 00"},
		{"str8", strings.Repeat("x", 32), "d9 20 " + strings.Repeat("78 ", 32)},
		{"bin", []byte{1}, "c4 01 01"},
		{"sorted map", map[string]any{"b": 1, "a": true}, "82 a1 61 c3 a1 62 01"},
		{"struct via JSON", struct {
			N int `json:"n"`
		}{2}, "81 a1 6e 02"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := encodeMsgpack(tc.v)
			if err != nil {
				t.Fatal(err)
			}
			if want := mustHex(t, strings.TrimSpace(tc.hex)); !bytes.Equal(got, want) {
				t.Fatalf("got % x, want % x", got, want)
			}
		})
	}
}

func TestDecodeNodeFetchAnswer(t *testing.T) {
	raw := `{"requestId":"x","sockets":[{"id":"a","handshake":{"headers":{"host":"h","set-cookie":["a=1","b=2"]},"time":"T","address":"::1","xdomain":true,"secure":false,"issued":1700000000000,"url":"/socket.io/?EIO=4","query":{"EIO":"4","k":["1","2"]},"auth":{"token":"t"}},"rooms":["a","r"],"data":{"n":1}}]}`
	m, err := decodeClassicResponse([]byte(raw))
	if err != nil || m.Type != adapter.MsgFetchSocketsResponse || len(m.Sockets) != 1 {
		t.Fatalf("%+v %v", m, err)
	}
	s := m.Sockets[0]
	h := s.Handshake
	if s.ID != "a" || !reflect.DeepEqual(s.Rooms, rooms("a", "r")) || h.Headers["set-cookie"] != "a=1, b=2" ||
		h.Query["k"] != "1" || h.Issued != 1700000000000 || !h.XDomain || h.Auth["token"] != "t" {
		t.Fatalf("socket %+v handshake %+v", s, h)
	}
	if !reflect.DeepEqual(s.Data, map[string]any{"n": json.Number("1")}) {
		t.Fatalf("data %#v", s.Data)
	}
}

func FuzzDecode(f *testing.F) {
	for _, h := range []string{room1HelloHex, allOneHex, emitterNewsHex, connectUndefinedHex, "d6 ff 00 00 00 01", "c7 03 00 01 02 03"} {
		f.Add(mustHex(f, h))
	}
	f.Add([]byte(`{"uid":"Xy9Qp2","type":2,"opts":{"rooms":["room1"],"except":[]},"rooms":["vip"]}`))
	f.Add([]byte(`{"type":3,"data":{"packet":{"type":2,"data":["hello","world"]},"opts":{"rooms":["room1"],"except":[],"flags":{}}},"uid":"3f2a9c1b7d4e5f60","nsp":"/"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		tr := &transport{nsp: "/", sharded: true}
		_, _ = tr.decodeSharded(b)
		tr.sharded = false
		_, _ = tr.decodeClassicBroadcast(b)
		_, _ = decodeClassicRequest(b)
		_, _ = decodeClassicResponse(b)
		// What decodes as MessagePack encodes again and decodes the same.
		v, err := decodeMsgpack(b)
		if err != nil {
			return
		}
		again, err := encodeMsgpack(v)
		if err != nil {
			t.Fatalf("re-encode %#v: %v", v, err)
		}
		v2, err := decodeMsgpack(again)
		if err != nil || !reflect.DeepEqual(normalize(v), normalize(v2)) {
			t.Fatalf("round trip %#v -> %#v (%v)", v, v2, err)
		}
	})
}

// normalize makes numbers comparable across encodings (1.0 and 1).
func normalize(v any) any {
	switch v := v.(type) {
	case json.Number:
		f, _ := v.Float64()
		return f
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = normalize(x)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			out[k] = normalize(x)
		}
		return out
	}
	return v
}
