package parser

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// msgpackDecodeCases are packets as socket.io-client 4.8 with
// socket.io-msgpack-parser 3.0 sends them: the bytes are notepack.io's
// encoding of the packet objects in each comment (2.2, the parser's
// dependency, and 3.0 write the same bytes for them, except where noted).
var msgpackDecodeCases = []struct {
	name string
	hex  string
	want *Packet
}{
	{"connect", // {type:0, nsp:"/"}
		"82a47479706500a36e7370a12f",
		&Packet{Type: Connect, Namespace: "/"}},
	{"connect with auth", // {type:0, data:{token:"abc"}, nsp:"/admin"}
		"83a47479706500a46461746181a5746f6b656ea3616263a36e7370a62f61646d696e",
		&Packet{Type: Connect, Namespace: "/admin", Data: map[string]any{"token": "abc"}}},
	{"event with options", // {type:2, data:["hello",1,1.5,-7,null,true,{a:[1,2]}], options:{compress:true}, nsp:"/"}
		"84a47479706502a46461746197a568656c6c6f01cb3ff8000000000000f9c0c381a161920102a76f7074696f6e7381a8636f6d7072657373c3a36e7370a12f",
		&Packet{Type: Event, Namespace: "/", Data: []any{"hello", json.Number("1"), json.Number("1.5"), json.Number("-7"), nil, true,
			map[string]any{"a": []any{json.Number("1"), json.Number("2")}}}}},
	{"event with ack id and a Buffer", // {type:2, data:["ev",Buffer<01 02 03>], options:{compress:true}, id:12, nsp:"/"}
		"85a47479706502a46461746192a26576c403010203a76f7074696f6e7381a8636f6d7072657373c3a269640ca36e7370a12f",
		&Packet{Type: Event, Namespace: "/", ID: 12, HasID: true, Data: []any{"ev", []byte{1, 2, 3}}}},
	{"ack with an ArrayBuffer", // {type:3, data:["ok",ArrayBuffer<09 08>], nsp:"/chat", id:300}, notepack.io 3
		"84a47479706503a46461746192a26f6bc4020908a36e7370a52f63686174a26964cd012c",
		&Packet{Type: Ack, Namespace: "/chat", ID: 300, HasID: true, Data: []any{"ok", []byte{9, 8}}}},
	{"ack with an ArrayBuffer, notepack 2", // the same in notepack.io 2.2 (ext 8, type 0)
		"84a47479706503a46461746192a26f6bc702000908a36e7370a52f63686174a26964cd012c",
		&Packet{Type: Ack, Namespace: "/chat", ID: 300, HasID: true, Data: []any{"ok", []byte{9, 8}}}},
	{"disconnect", // {type:1, nsp:"/"}
		"82a47479706501a36e7370a12f",
		&Packet{Type: Disconnect, Namespace: "/"}},
	{"date", // {type:2, data:["d", new Date(1700000000123)], nsp:"/"}, notepack.io 3
		"83a47479706502a46461746192a164d7ff1d5353006553f100a36e7370a12f",
		&Packet{Type: Event, Namespace: "/", Data: []any{"d", time.UnixMilli(1700000000123).UTC()}}},
	{"date, notepack 2", // {type:2, data:["t", new Date(1700000000123)], nsp:"/"}, notepack.io 2.2
		"83a47479706502a46461746192a174d7000000018bcfe5687ba36e7370a12f",
		&Packet{Type: Event, Namespace: "/", Data: []any{"t", time.UnixMilli(1700000000123).UTC()}}},
	{"date before 1970, notepack 2", // {type:2, data:["d", new Date(-1)], nsp:"/"}
		"83a47479706502a46461746192a164d700ffffffffffffffffa36e7370a12f",
		&Packet{Type: Event, Namespace: "/", Data: []any{"d", time.UnixMilli(-1).UTC()}}},
	{"wide numbers", // {type:2, data:["n",4294967296,-2147483649,0.1,-0], nsp:"/"}
		"83a47479706502a46461746195a16ecf0000000100000000d3ffffffff7fffffffcb3fb999999999999a00a36e7370a12f",
		&Packet{Type: Event, Namespace: "/", Data: []any{"n", json.Number("4294967296"), json.Number("-2147483649"), json.Number("0.1"), json.Number("0")}}},
	{"numeric event name and undefined", // {type:2, data:[42, undefined], nsp:"/", extra: undefined}
		"84a47479706502a46461746192" + "2a" + "d40000" + "a36e7370a12f" + "a5657874726" + "1d40000",
		&Packet{Type: Event, Namespace: "/", Data: []any{json.Number("42"), nil}}},
	{"float32, NaN, integer map key", // {type:3, data:[float32 2.5, NaN, {1:"x"}], nsp:"/", id:0}
		"84a47479706503a46461746193ca40200000cb7ff8000000000000" + "8101a178" + "a36e7370a12fa2696400",
		&Packet{Type: Ack, Namespace: "/", HasID: true, Data: []any{json.Number("2.5"), nil, map[string]any{"1": "x"}}}},
}

func TestDecodeMsgpack(t *testing.T) {
	for _, tc := range msgpackDecodeCases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := DecodeMsgpack(unhex(t, tc.hex))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(p, tc.want) {
				t.Fatalf("got  %#v\nwant %#v", p, tc.want)
			}
		})
	}
}

// TestDecodeMsgpackLikeJSON: for the same client data, a handler gets the
// same Go values from either parser (the package doc's promise).
func TestDecodeMsgpackLikeJSON(t *testing.T) {
	fromJSON, err := (&Decoder{}).DecodeText([]byte(`2["hello",1,1.5,-7,null,true,{"a":[1,2]}]`))
	if err != nil {
		t.Fatal(err)
	}
	fromMsgpack, err := DecodeMsgpack(unhex(t, msgpackDecodeCases[2].hex))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(fromJSON.Data, fromMsgpack.Data) {
		t.Fatalf("JSON gives %#v, msgpack %#v", fromJSON.Data, fromMsgpack.Data)
	}
}

func TestDecodeMsgpackErrors(t *testing.T) {
	deep := strings.Repeat("91", maxDepth+1) + "c0"
	cases := []struct {
		name string
		hex  string
		want error
	}{
		{"empty", "", ErrInvalidPayload},
		{"not a map", "92a47479706500", ErrInvalidPayload},
		{"trailing bytes", "82a47479706500a36e7370a12f00", ErrInvalidPayload},
		{"truncated", "82a47479706500a36e7370a1", ErrInvalidPayload},
		{"type 5 (no binary types)", "83a47479706505a46461746191a178a36e7370a12f", ErrUnknownType},
		{"type -1", "82a474797065ffa36e7370a12f", ErrUnknownType},
		{"type as string", "82a474797065a130a36e7370a12f", ErrUnknownType},
		{"type 2.5", "82a474797065cb4004000000000000a36e7370a12f", ErrUnknownType},
		{"no nsp", "81a47479706500", ErrInvalidNamespace},
		{"nsp not a string", "82a47479706500a36e737001", ErrInvalidNamespace},
		{"nsp without slash", "82a47479706500a36e7370a161", ErrInvalidNamespace},
		{"negative id", "84a47479706502a46461746191a178a36e7370a12fa26964ff", ErrInvalidAckID},
		{"id above 2^53-1", "84a47479706502a46461746191a178a36e7370a12fa26964cf0020000000000000", ErrInvalidAckID},
		{"null id", "84a47479706502a46461746191a178a36e7370a12fa26964c0", ErrInvalidAckID},
		{"event without data", "82a47479706502a36e7370a12f", ErrInvalidPayload},
		{"event data not an array", "83a47479706502a46461746181a178c0a36e7370a12f", ErrInvalidPayload},
		{"event with an empty array", "83a47479706502a46461746190a36e7370a12f", ErrInvalidPayload},
		{"reserved event name", "83a47479706502a46461746191aa646973636f6e6e656374a36e7370a12f", ErrInvalidPayload},
		{"event name is a map", "83a47479706502a4646174619180a36e7370a12f", ErrInvalidPayload},
		{"connect data is an array", "83a47479706500a46461746190a36e7370a12f", ErrInvalidPayload},
		{"connect data null", "83a47479706500a464617461c0a36e7370a12f", ErrInvalidPayload},
		{"disconnect with data", "83a47479706501a46461746190a36e7370a12f", ErrInvalidPayload},
		{"ack data not an array", "84a47479706503a464617461c3a36e7370a12fa2696401", ErrInvalidPayload},
		{"array32 claiming 4G elements", "dd ffffffff", ErrInvalidPayload},
		{"map32 claiming 4G entries", "df ffffffff", ErrInvalidPayload},
		{"str32 claiming 4 GB", "db ffffffff 61", ErrInvalidPayload},
		{"bin32 claiming 4 GB", "c6 ffffffff 61", ErrInvalidPayload},
		{"ext32 claiming 4 GB", "c9 ffffffff 01 61", ErrInvalidPayload},
		{"never-used byte 0xc1", "c1", ErrInvalidPayload},
		{"map key is an array", "81 90 c0", ErrInvalidPayload},
		{"map key is a float", "81 cb3ff8000000000000 c0", ErrInvalidPayload},
		{"nested deeper than the limit", deep, ErrInvalidPayload},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := DecodeMsgpack(unhex(t, strings.ReplaceAll(tc.hex, " ", "")))
			if !errors.Is(err, tc.want) || !errors.Is(err, ErrInvalidPacket) {
				t.Fatalf("got %v, %v; want %v", p, err, tc.want)
			}
		})
	}
}

// TestEncodeMsgpackNotepack compares with the bytes notepack.io 2.2 (the
// dependency of socket.io-msgpack-parser 3.0) writes for the packet objects
// a Node server sends (same key order).
func TestEncodeMsgpackNotepack(t *testing.T) {
	cases := []struct {
		name string
		p    *Packet
		hex  string
	}{
		{"connect", // {type:0, data:{sid:"abc"}, nsp:"/"}
			&Packet{Type: Connect, Data: map[string]any{"sid": "abc"}},
			"83a47479706500a46461746181a3736964a3616263a36e7370a12f"},
		{"binary event with id", // {type:2, data:["m",1,1.5,-300,Buffer<01 02>,{a:null,b:true}], id:5, nsp:"/x"}
			&Packet{Type: BinaryEvent, Namespace: "/x", ID: 5, HasID: true,
				Data: []any{"m", 1, json.Number("1.5"), int64(-300), []byte{1, 2}, map[string]any{"b": true, "a": nil}}},
			"84a47479706502a46461746196a16d01cb3ff8000000000000d1fed4c402010282a161c0a162c3a2696405a36e7370a22f78"},
		{"connect error", // {type:4, data:{message:"Invalid namespace"}, nsp:"/nope"}
			&Packet{Type: ConnectError, Namespace: "/nope", Data: map[string]any{"message": "Invalid namespace"}},
			"83a47479706504a46461746181a76d657373616765b1496e76616c6964206e616d657370616365a36e7370a52f6e6f7065"},
		{"date", // {type:2, data:["t", new Date(1700000000123)], nsp:"/"}, notepack.io 2.2
			&Packet{Type: Event, Data: []any{"t", time.UnixMilli(1700000000123).Add(456 * time.Microsecond)}},
			"83a47479706502a46461746192a174d7000000018bcfe5687ba36e7370a12f"},
		{"disconnect", // {type:1, nsp:"/"}
			&Packet{Type: Disconnect},
			"82a47479706501a36e7370a12f"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b, err := EncodeMsgpack(tc.p)
			if err != nil {
				t.Fatal(err)
			}
			if got := hex.EncodeToString(b); got != tc.hex {
				t.Fatalf("got  %s\nwant %s", got, tc.hex)
			}
		})
	}
}

func TestMsgpackRoundTrip(t *testing.T) {
	big := bytes.Repeat([]byte{7}, 70000)
	long := strings.Repeat("é", 40000)
	many := make([]any, 70000)
	for i := range many {
		many[i] = json.Number("3")
	}
	wide := map[string]any{}
	for i := range 20 {
		wide[string(rune('a'+i))] = json.Number("-40")
	}
	cases := []*Packet{
		{Type: Connect, Namespace: "/", Data: map[string]any{"token": "x", "n": json.Number("12345678901234567890")}},
		{Type: Event, Namespace: "/a", Data: []any{"e", json.Number("-9007199254740991"), json.Number("1e+21"), json.Number("1.25"), "", nil, false}},
		{Type: Event, Namespace: "/", ID: 1<<53 - 1, HasID: true, Data: []any{"bin", []byte{}, big, []any{[]byte("x")}, map[string]any{"k": []byte{0}}}},
		{Type: Ack, Namespace: "/", ID: 0, HasID: true, Data: []any{long, many, wide}},
		{Type: ConnectError, Namespace: "/", Data: "just a string"},
		{Type: Disconnect, Namespace: "/x"},
		{Type: Event, Namespace: "/", Data: []any{"t", time.Unix(1<<35, 0).UTC(), time.Unix(-5, 0).UTC(), time.UnixMilli(5007).UTC(), time.UnixMilli(-62167219200000).UTC(), time.UnixMilli(253402300799999).UTC()}},
	}
	for _, p := range cases {
		b, err := EncodeMsgpack(p)
		if err != nil {
			t.Fatalf("%v: %v", p.Type, err)
		}
		q, err := DecodeMsgpack(b)
		if err != nil {
			t.Fatalf("%v: %v", p.Type, err)
		}
		if !reflect.DeepEqual(p, q) {
			t.Fatalf("%v: round trip changed the packet", p.Type)
		}
	}
}

// TestEncodeMsgpackValues: Go values that are not the decoder's own types
// are written as a JavaScript client would receive them.
func TestEncodeMsgpackValues(t *testing.T) {
	type point struct {
		X int    `json:"x"`
		B []byte `json:"b"`
	}
	p := &Packet{Type: Event, Data: []any{"v", 3.0, float32(0.5), math.Inf(1), uint8(200), point{X: 1, B: []byte{1}},
		json.RawMessage(`{"r":[1]}`), "\xff", -0.0}}
	b, err := EncodeMsgpack(p)
	if err != nil {
		t.Fatal(err)
	}
	q, err := DecodeMsgpack(b)
	if err != nil {
		t.Fatal(err)
	}
	want := []any{"v", json.Number("3"), json.Number("0.5"), nil, json.Number("200"),
		map[string]any{"x": json.Number("1"), "b": "AQ=="},
		map[string]any{"r": []any{json.Number("1")}}, "\ufffd", json.Number("0")}
	if !reflect.DeepEqual(q.Data, want) {
		t.Fatalf("got  %#v\nwant %#v", q.Data, want)
	}

	selfRef := []any{"x", nil}
	selfRef[1] = selfRef
	if _, err := EncodeMsgpack(&Packet{Type: Event, Data: selfRef}); !errors.Is(err, ErrInvalidPayload) {
		t.Fatalf("self-referencing data: %v", err)
	}
	for _, bad := range []*Packet{
		{Type: 7},
		{Type: Event, Namespace: "bad", Data: []any{"x"}},
		{Type: Ack, HasID: true, ID: 1 << 53, Data: []any{}},
		{Type: Event, Data: []any{"x", json.Number("1x")}},
		{Type: Event, Data: []any{"x", func() {}}},
	} {
		if _, err := EncodeMsgpack(bad); !errors.Is(err, ErrInvalidPacket) {
			t.Errorf("%+v: got %v", bad, err)
		}
	}
}

// TestEncodedOncePerParser: an Encoded runs each encoder at most once however
// many goroutines ask, and only the encoders asked for.
func TestEncodedOncePerParser(t *testing.T) {
	e := NewEncoded(&Packet{Type: Event, Data: []any{"x", []byte{1}}})
	var wg sync.WaitGroup
	texts := make([][]byte, 8)
	for i := range 8 {
		wg.Go(func() { texts[i], _, _ = e.Default() })
	}
	wg.Wait()
	for _, tx := range texts {
		if &tx[0] != &texts[0][0] {
			t.Fatal("the default encoding was done more than once")
		}
	}
	if e.msgpack.done.Load() {
		t.Fatal("msgpack encoded without a msgpack recipient")
	}
	m1, _ := e.Msgpack()
	m2, _ := e.Msgpack()
	if &m1[0] != &m2[0] {
		t.Fatal("the msgpack encoding was done twice")
	}
	if e.Err() != nil {
		t.Fatal(e.Err())
	}
	bad := NewEncoded(&Packet{Type: Event, Data: []any{"x", math.NaN()}})
	if bad.Err() != nil {
		t.Fatal("error before any encoding")
	}
	if _, err := bad.Msgpack(); err != nil {
		t.Fatalf("msgpack carries NaN as notepack does: %v", err)
	}
	if _, _, err := bad.Default(); err == nil || !errors.Is(bad.Err(), ErrInvalidPayload) {
		t.Fatalf("JSON cannot carry NaN: %v, %v", err, bad.Err())
	}
}
