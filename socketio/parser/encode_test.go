package parser

import (
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
)

// Field order of these structs is the order Node writes the keys in, which
// a map[string]any cannot keep.
type connectReply struct {
	SID string `json:"sid"`
	PID string `json:"pid,omitempty"`
}

type connectErrorData struct {
	Message string `json:"message"`
	Data    any    `json:"data,omitempty"`
}

func blobs(n int) []any {
	a := []any{"many"}
	for range n {
		a = append(a, []byte{byte(len(a))})
	}
	return a
}

var encodeCases = []struct {
	name        string
	packet      Packet
	text        string
	attachments [][]byte
}{
	// github.com/socketio/socket.io-protocol, without the engine "4".
	{"connect root without auth", Packet{Type: Connect, Namespace: "/"}, "0", nil},
	{"connect with empty namespace means root", Packet{Type: Connect}, "0", nil},
	{"connect root with auth", Packet{Type: Connect, Data: obj{"token": "s3cr3t"}}, `0{"token":"s3cr3t"}`, nil},
	{"connect admin", Packet{Type: Connect, Namespace: "/admin"}, "0/admin,", nil},
	{"connect admin with auth", Packet{Type: Connect, Namespace: "/admin", Data: obj{"token": "s3cr3t"}},
		`0/admin,{"token":"s3cr3t"}`, nil},
	{"server accepts root", Packet{Type: Connect, Data: connectReply{SID: "qR7v2LwZbN0cX5aTAAAD"}},
		`0{"sid":"qR7v2LwZbN0cX5aTAAAD"}`, nil},
	{"server accepts with recovery", Packet{Type: Connect, Data: connectReply{SID: "qR7v2LwZbN0cX5aTAAAD", PID: "m1Zk8uQe3pVt0yBhAAAE"}},
		`0{"sid":"qR7v2LwZbN0cX5aTAAAD","pid":"m1Zk8uQe3pVt0yBhAAAE"}`, nil},
	{"server accepts admin", Packet{Type: Connect, Namespace: "/admin", Data: obj{"sid": "Jd2kPq9XwE4rTz7uAAAF"}},
		`0/admin,{"sid":"Jd2kPq9XwE4rTz7uAAAF"}`, nil},
	{"namespace refused", Packet{Type: ConnectError, Namespace: "/random", Data: connectErrorData{Message: "Invalid namespace"}},
		`4/random,{"message":"Invalid namespace"}`, nil},
	{"middleware refused with data", Packet{Type: ConnectError, Data: connectErrorData{Message: "not authorized", Data: obj{"retryIn": 30}}},
		`4{"message":"not authorized","data":{"retryIn":30}}`, nil},
	{"connect_error without data", Packet{Type: ConnectError}, "4", nil},
	{"connect_error with string data", Packet{Type: ConnectError, Data: "boom"}, `4"boom"`, nil},
	{"event", Packet{Type: Event, Data: arr{"chat", "hi there"}}, `2["chat","hi there"]`, nil},
	{"event in admin", Packet{Type: Event, Namespace: "/admin", Data: arr{"chat", "hi there"}}, `2/admin,["chat","hi there"]`, nil},
	{"event with numeric name", Packet{Type: Event, Data: arr{7, "x"}}, `2[7,"x"]`, nil},
	{"event asking for ack 12", Packet{Type: Event, ID: 12, HasID: true, Data: arr{"getUser", 42}}, `212["getUser",42]`, nil},
	{"event in admin asking for ack 12", Packet{Type: Event, Namespace: "/admin", ID: 12, HasID: true, Data: arr{"getUser", 42}},
		`2/admin,12["getUser",42]`, nil},
	{"event asking for ack 0", Packet{Type: Event, HasID: true, Data: arr{"x"}}, `20["x"]`, nil},
	{"event with largest ack id", Packet{Type: Event, ID: MaxAckID, HasID: true, Data: arr{"x"}}, `29007199254740991["x"]`, nil},
	{"ack for id 12", Packet{Type: Ack, ID: 12, HasID: true, Data: arr{obj{"name": "ann"}}}, `312[{"name":"ann"}]`, nil},
	{"empty ack in admin", Packet{Type: Ack, Namespace: "/admin", ID: 12, HasID: true, Data: arr{}}, `3/admin,12[]`, nil},
	{"binary event with one attachment", Packet{Type: Event, Data: arr{"upload", blob0}},
		`51-["upload",{"_placeholder":true,"num":0}]`, [][]byte{blob0}},
	{"binary ack id 3 with two attachments", Packet{Type: Ack, ID: 3, HasID: true, Data: arr{blob0, blob1}},
		`62-3[{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`, [][]byte{blob0, blob1}},
	{"binary event in admin with ack 9", Packet{Type: Event, Namespace: "/admin", ID: 9, HasID: true, Data: arr{"up", blob0}},
		`51-/admin,9["up",{"_placeholder":true,"num":0}]`, [][]byte{blob0}},
	{"leave root", Packet{Type: Disconnect}, "1", nil},
	{"leave admin", Packet{Type: Disconnect, Namespace: "/admin"}, "1/admin,", nil},

	// Attachments.
	{"binary event type chosen by the caller", Packet{Type: BinaryEvent, Data: arr{"upload", blob0}},
		`51-["upload",{"_placeholder":true,"num":0}]`, [][]byte{blob0}},
	{"binary event without blobs becomes an event", Packet{Type: BinaryEvent, Data: arr{"x"}}, `2["x"]`, nil},
	{"binary ack without blobs becomes an ack", Packet{Type: BinaryAck, ID: 1, HasID: true, Data: arr{}}, `31[]`, nil},
	{"placeholders depth first in key order",
		Packet{Type: Event, Data: arr{"deep", obj{"z": blob2, "a": arr{1, obj{"b": blob1}}}, arr{arr{blob0}}}},
		`53-["deep",{"a":[1,{"b":{"_placeholder":true,"num":0}}],"z":{"_placeholder":true,"num":1}},[[{"_placeholder":true,"num":2}]]]`,
		[][]byte{blob1, blob2, blob0}},
	{"same blob twice is two attachments", Packet{Type: Event, Data: arr{"x", blob0, blob0}},
		`52-["x",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`, [][]byte{blob0, blob0}},
	{"nil blob is an empty attachment", Packet{Type: Event, Data: arr{"x", []byte(nil)}},
		`51-["x",{"_placeholder":true,"num":0}]`, [][]byte{nil}},
	{"ten attachments", Packet{Type: Event, Data: blobs(10)},
		`510-["many"` + strings.Repeat(`,{"_placeholder":true,"num":N}`, 10) + `]`, nil}, // filled in by the test
	{"blob in a struct is base64", Packet{Type: Event, Data: arr{"s", struct {
		B []byte `json:"b"`
	}{blob1}}}, `2["s",{"b":"AQIDBA=="}]`, nil},
	{"blob in a typed map is base64", Packet{Type: Event, Data: arr{"s", map[string][]byte{"b": blob1}}}, `2["s",{"b":"AQIDBA=="}]`, nil},
	{"blob in connect data is base64", Packet{Type: Connect, Data: obj{"b": blob1}}, `0{"b":"AQIDBA=="}`, nil},

	// JSON as JSON.stringify writes it.
	{"no HTML escaping", Packet{Type: Event, Data: arr{"m", "<b>&amp;</b>", obj{"<": ">"}}}, `2["m","<b>&amp;</b>",{"<":">"}]`, nil},
	{"no HTML escaping in the encoding/json path", Packet{Type: Event, Data: arr{"m", map[string]string{"<": "&"}}}, `2["m",{"<":"&"}]`, nil},
	{"unicode and record separator", Packet{Type: Event, Data: arr{"m", "a\x1eb é 日本 😀 \u2028"}},
		"2[\"m\",\"a\\u001eb é 日本 😀 \u2028\"]", nil},
	{"control characters", Packet{Type: Event, Data: arr{"m", "\"\\\b\f\n\r\t\x00\x1f\x7f/"}},
		`2["m","\"\\\b\f\n\r\t\u0000\u001f` + "\x7f" + `/"]`, nil},
	{"invalid UTF-8", Packet{Type: Event, Data: arr{"m", "a\xffb"}}, `2["m","a\ufffdb"]`, nil},
	{"numbers", Packet{Type: Event, Data: arr{"n", 1.5, 100.0, 1e21, 1e-7, float32(0.1), -3, uint8(255), int64(-1 << 62), uint64(1 << 63)}},
		`2["n",1.5,100,1e+21,1e-7,0.1,-3,255,-4611686018427387904,9223372036854775808]`, nil},
	{"json.Number verbatim", Packet{Type: Event, Data: arr{"n", num("1.50"), num("12345678901234567890"), num("")}},
		`2["n",1.50,12345678901234567890,0]`, nil},
	{"json.RawMessage verbatim", Packet{Type: Event, Data: arr{"r", json.RawMessage(`{"b":1,"a":[2, 3]}`)}},
		`2["r",{"b":1,"a":[2, 3]}]`, nil},
	{"literals and nil", Packet{Type: Ack, Data: arr{nil, true, false, arr(nil), obj(nil), obj{}}}, `3[null,true,false,null,null,{}]`, nil},
	{"map keys sorted", Packet{Type: Event, Data: arr{"m", obj{"b": 1, "a": 2, "c": obj{"y": 1, "x": 2}}}}, `2["m",{"a":2,"b":1,"c":{"x":2,"y":1}}]`, nil},
	{"many map keys", Packet{Type: Event, Data: arr{"m", obj{"k": 0, "j": 0, "i": 0, "h": 0, "g": 0, "f": 0, "e": 0, "d": 0, "c": 0, "b": 0, "a": 0}}},
		`2["m",{"a":0,"b":0,"c":0,"d":0,"e":0,"f":0,"g":0,"h":0,"i":0,"j":0,"k":0}]`, nil},
}

func TestEncode(t *testing.T) {
	for _, tc := range encodeCases {
		t.Run(tc.name, func(t *testing.T) {
			wantText, wantAtt := tc.text, tc.attachments
			if tc.name == "ten attachments" {
				for i := range 10 {
					wantText = strings.Replace(wantText, `"num":N`, `"num":`+string(rune('0'+i)), 1)
				}
				wantAtt = nil
				for _, b := range tc.packet.Data.([]any)[1:] {
					wantAtt = append(wantAtt, b.([]byte))
				}
			}
			text, att, err := Encode(&tc.packet)
			if err != nil {
				t.Fatalf("Encode: %v", err)
			}
			if string(text) != wantText {
				t.Fatalf("Encode text\n got %s\nwant %s", text, wantText)
			}
			if !reflect.DeepEqual(att, wantAtt) {
				t.Fatalf("Encode attachments %x, want %x", att, wantAtt)
			}
			// AppendEncode appends the same text.
			prefix := []byte("4")
			got, _, err := AppendEncode(prefix, &tc.packet)
			if err != nil || string(got) != "4"+wantText {
				t.Fatalf("AppendEncode = %q, %v", got, err)
			}
		})
	}
}

func TestEncodeErrors(t *testing.T) {
	cycle := []any{"loop", nil}
	cycle[1] = cycle
	cyclicMap := map[string]any{}
	cyclicMap["self"] = cyclicMap
	cases := []struct {
		name   string
		packet Packet
		err    error
	}{
		{"eleven attachments", Packet{Type: Event, Data: blobs(11)}, ErrTooManyAttachments},
		{"eleven attachments in an ack", Packet{Type: Ack, Data: []any{blobs(5), obj{"x": blobs(6)}}}, ErrTooManyAttachments},
		{"unknown type", Packet{Type: 7}, ErrUnknownType},
		{"namespace without slash", Packet{Type: Connect, Namespace: "admin"}, ErrInvalidNamespace},
		{"namespace with comma", Packet{Type: Connect, Namespace: "/a,b"}, ErrInvalidNamespace},
		{"namespace with record separator", Packet{Type: Event, Namespace: "/a\x1e", Data: arr{"x"}}, ErrInvalidNamespace},
		{"ack id overflow", Packet{Type: Ack, ID: MaxAckID + 1, HasID: true, Data: arr{}}, ErrInvalidAckID},
		{"NaN", Packet{Type: Event, Data: arr{"n", math.NaN()}}, ErrInvalidPayload},
		{"infinity", Packet{Type: Event, Data: arr{"n", float32(math.Inf(-1))}}, ErrInvalidPayload},
		{"invalid json.Number", Packet{Type: Event, Data: arr{"n", num("1x")}}, ErrInvalidPayload},
		{"invalid json.RawMessage", Packet{Type: Event, Data: arr{"r", json.RawMessage("{\x1e}")}}, ErrInvalidPayload},
		{"value encoding/json refuses", Packet{Type: Event, Data: arr{"c", make(chan int)}}, ErrInvalidPayload},
		{"cyclic slice in an event", Packet{Type: Event, Data: cycle}, ErrInvalidPayload},
		{"cyclic map in connect data", Packet{Type: Connect, Data: cyclicMap}, ErrInvalidPayload},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			text, att, err := Encode(&tc.packet)
			if !errors.Is(err, tc.err) || !errors.Is(err, ErrInvalidPacket) {
				t.Fatalf("Encode err = %v, want %v", err, tc.err)
			}
			if text != nil || att != nil {
				t.Fatalf("Encode returned %q, %x with an error", text, att)
			}
			got, _, _ := AppendEncode([]byte("keep"), &tc.packet)
			if string(got) != "keep" {
				t.Fatalf("AppendEncode changed dst on error: %q", got)
			}
		})
	}
}

func TestEncodeDoesNotMutateData(t *testing.T) {
	inner := obj{"file": blob1, "meta": arr{blob2, "x"}}
	data := arr{"upload", blob0, inner}
	before := arr{"upload", blob0, obj{"file": blob1, "meta": arr{blob2, "x"}}}
	text, att, err := Encode(&Packet{Type: Event, Data: data})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(data, before) {
		t.Fatalf("Encode modified Data: %#v", data)
	}
	if len(att) != 3 || &att[0][0] != &blob0[0] {
		t.Fatalf("attachments %x should alias the caller's blobs", att)
	}
	// And the result decodes back to the same data.
	var d Decoder
	p, err := decodeAll(t, &d, string(text), att)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(p.Data, before) {
		t.Fatalf("round trip:\n got %#v\nwant %#v", p.Data, before)
	}
}

// Every decode example must encode back to the same text, byte for byte,
// except where the spec's key order differs from Go's sorted map keys.
func TestDecodeEncodeRoundTrip(t *testing.T) {
	for _, tc := range decodeCases {
		t.Run(tc.name, func(t *testing.T) {
			var d Decoder
			p, err := decodeAll(t, &d, tc.text, tc.attachments)
			if err != nil {
				t.Fatal(err)
			}
			text, att, err := Encode(p)
			if err != nil {
				t.Fatal(err)
			}
			var d2 Decoder
			p2, err := decodeAll(t, &d2, string(text), att)
			if err != nil {
				t.Fatalf("decode %q again: %v", text, err)
			}
			if !reflect.DeepEqual(normalize(p), normalize(p2)) {
				t.Fatalf("round trip of %q via %q:\n got %#v\nwant %#v", tc.text, text, p2, p)
			}
		})
	}
}

func TestEncodeConcurrent(t *testing.T) {
	// Encode shares pooled buffers; -race checks they are not shared
	// between callers, and the copies must stay intact.
	done := make(chan []byte, 8)
	for i := range 8 {
		go func() {
			var last []byte
			for range 200 {
				text, _, err := Encode(&Packet{Type: Event, Data: arr{"n", i, map[string]int{"k": i}}})
				if err != nil {
					panic(err)
				}
				last = text
			}
			done <- last
		}()
	}
	seen := map[string]bool{}
	for range 8 {
		seen[string(<-done)] = true
	}
	if len(seen) != 8 {
		t.Fatalf("got %d distinct texts, want 8: %v", len(seen), seen)
	}
}
