package parser

import (
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

type obj = map[string]any
type arr = []any
type num = json.Number

func placeholder(n int) obj { return obj{"_placeholder": true, "num": json.Number(strconv.Itoa(n))} }

var blob0 = []byte{0xde, 0xad, 0xbe, 0xef}
var blob1 = []byte{0x01, 0x02, 0x03, 0x04}
var blob2 = []byte{}

// decodeAll feeds text and then each attachment to a fresh Decoder and
// insists that only the last call returns the packet.
func decodeAll(t *testing.T, d *Decoder, text string, attachments [][]byte) (*Packet, error) {
	t.Helper()
	p, err := d.DecodeText([]byte(text))
	if err != nil || len(attachments) == 0 {
		return p, err
	}
	if p != nil {
		t.Fatalf("DecodeText returned a packet while %d attachments remain", len(attachments))
	}
	for i, a := range attachments {
		p, err = d.DecodeBinary(a)
		if err != nil {
			return p, err
		}
		if i < len(attachments)-1 && p != nil {
			t.Fatalf("DecodeBinary returned a packet after attachment %d of %d", i+1, len(attachments))
		}
	}
	return p, err
}

// The wire column of github.com/socketio/socket.io-protocol, without the engine "4".
var decodeCases = []struct {
	name        string
	text        string
	attachments [][]byte
	want        *Packet
}{
	{"connect root without auth", "0", nil, &Packet{Type: Connect, Namespace: "/"}},
	{"connect root with auth", `0{"token":"s3cr3t"}`, nil,
		&Packet{Type: Connect, Namespace: "/", Data: obj{"token": "s3cr3t"}}},
	{"connect admin", "0/admin,", nil, &Packet{Type: Connect, Namespace: "/admin"}},
	{"connect admin with auth", `0/admin,{"token":"s3cr3t"}`, nil,
		&Packet{Type: Connect, Namespace: "/admin", Data: obj{"token": "s3cr3t"}}},
	{"connect namespace without trailing comma", "0/random", nil, &Packet{Type: Connect, Namespace: "/random"}},
	{"connect explicit root namespace", "0/,", nil, &Packet{Type: Connect, Namespace: "/"}},
	{"server accepts root", `0{"sid":"qR7v2LwZbN0cX5aTAAAD"}`, nil,
		&Packet{Type: Connect, Namespace: "/", Data: obj{"sid": "qR7v2LwZbN0cX5aTAAAD"}}},
	{"server accepts with recovery", `0{"sid":"qR7v2LwZbN0cX5aTAAAD","pid":"m1Zk8uQe3pVt0yBhAAAE"}`, nil,
		&Packet{Type: Connect, Namespace: "/", Data: obj{"sid": "qR7v2LwZbN0cX5aTAAAD", "pid": "m1Zk8uQe3pVt0yBhAAAE"}}},
	{"server accepts admin", `0/admin,{"sid":"Jd2kPq9XwE4rTz7uAAAF"}`, nil,
		&Packet{Type: Connect, Namespace: "/admin", Data: obj{"sid": "Jd2kPq9XwE4rTz7uAAAF"}}},
	{"namespace refused", `4/random,{"message":"Invalid namespace"}`, nil,
		&Packet{Type: ConnectError, Namespace: "/random", Data: obj{"message": "Invalid namespace"}}},
	{"middleware refused with data", `4{"message":"not authorized","data":{"retryIn":30}}`, nil,
		&Packet{Type: ConnectError, Namespace: "/", Data: obj{"message": "not authorized", "data": obj{"retryIn": num("30")}}}},
	{"connect_error with string data", `4"boom"`, nil, &Packet{Type: ConnectError, Namespace: "/", Data: "boom"}},
	{"connect_error without data", "4", nil, &Packet{Type: ConnectError, Namespace: "/"}},
	{"event", `2["chat","hi there"]`, nil, &Packet{Type: Event, Namespace: "/", Data: arr{"chat", "hi there"}}},
	{"event in admin", `2/admin,["chat","hi there"]`, nil,
		&Packet{Type: Event, Namespace: "/admin", Data: arr{"chat", "hi there"}}},
	{"event with numeric name", `2[7,"x"]`, nil, &Packet{Type: Event, Namespace: "/", Data: arr{num("7"), "x"}}},
	{"event asking for ack 12", `212["getUser",42]`, nil,
		&Packet{Type: Event, Namespace: "/", ID: 12, HasID: true, Data: arr{"getUser", num("42")}}},
	{"event in admin asking for ack 12", `2/admin,12["getUser",42]`, nil,
		&Packet{Type: Event, Namespace: "/admin", ID: 12, HasID: true, Data: arr{"getUser", num("42")}}},
	{"event asking for ack 0", `20["x"]`, nil, &Packet{Type: Event, Namespace: "/", ID: 0, HasID: true, Data: arr{"x"}}},
	{"event with largest ack id", `29007199254740991["x"]`, nil,
		&Packet{Type: Event, Namespace: "/", ID: MaxAckID, HasID: true, Data: arr{"x"}}},
	{"ack for id 12", `312[{"name":"ann"}]`, nil,
		&Packet{Type: Ack, Namespace: "/", ID: 12, HasID: true, Data: arr{obj{"name": "ann"}}}},
	{"empty ack in admin", `3/admin,12[]`, nil, &Packet{Type: Ack, Namespace: "/admin", ID: 12, HasID: true, Data: arr{}}},
	{"binary event with one attachment", `51-["upload",{"_placeholder":true,"num":0}]`, [][]byte{blob0},
		&Packet{Type: BinaryEvent, Namespace: "/", Data: arr{"upload", blob0}}},
	{"binary ack id 3 with two attachments", `62-3[{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`, [][]byte{blob0, blob1},
		&Packet{Type: BinaryAck, Namespace: "/", ID: 3, HasID: true, Data: arr{blob0, blob1}}},
	{"binary event in admin with ack 9", `51-/admin,9["up",{"_placeholder":true,"num":0}]`, [][]byte{blob0},
		&Packet{Type: BinaryEvent, Namespace: "/admin", ID: 9, HasID: true, Data: arr{"up", blob0}}},
	{"binary event with placeholders at depth",
		`53-["deep",{"a":[1,{"b":{"_placeholder":true,"num":2}}],"c":{"_placeholder":true,"num":0}},[[{"_placeholder":true,"num":1}]]]`,
		[][]byte{blob0, blob1, blob2},
		&Packet{Type: BinaryEvent, Namespace: "/", Data: arr{"deep", obj{"a": arr{num("1"), obj{"b": blob2}}, "c": blob0}, arr{arr{blob1}}}}},
	{"binary event reusing one attachment", `51-["x",{"_placeholder":true,"num":0},{"_placeholder":true,"num":0}]`, [][]byte{blob0},
		&Packet{Type: BinaryEvent, Namespace: "/", Data: arr{"x", blob0, blob0}}},
	{"binary event with ten attachments",
		`510-["x",` + strings.TrimSuffix(strings.Repeat(`{"_placeholder":true,"num":0},`, 10), ",") + `]`,
		[][]byte{blob0, blob0, blob0, blob0, blob0, blob0, blob0, blob0, blob0, blob0},
		&Packet{Type: BinaryEvent, Namespace: "/", Data: arr{"x", blob0, blob0, blob0, blob0, blob0, blob0, blob0, blob0, blob0, blob0}}},
	{"placeholder num written as 1.0", `52-["x",{"_placeholder":true,"num":1.0}]`, [][]byte{blob0, blob1},
		&Packet{Type: BinaryEvent, Namespace: "/", Data: arr{"x", blob1}}},
	{"placeholder flag not true is plain data", `51-["x",{"_placeholder":"true","num":0},{"_placeholder":true,"num":0}]`, [][]byte{blob0},
		&Packet{Type: BinaryEvent, Namespace: "/", Data: arr{"x", obj{"_placeholder": "true", "num": num("0")}, blob0}}},
	{"binary event with zero attachments completes at once", `50-["x"]`, nil,
		&Packet{Type: BinaryEvent, Namespace: "/", Data: arr{"x"}}},
	{"placeholder in a plain event is data", `2["x",{"_placeholder":true,"num":0}]`, nil,
		&Packet{Type: Event, Namespace: "/", Data: arr{"x", placeholder(0)}}},
	{"leave root", "1", nil, &Packet{Type: Disconnect, Namespace: "/"}},
	{"leave admin", "1/admin,", nil, &Packet{Type: Disconnect, Namespace: "/admin"}},
	{"leave namespace without trailing comma", "1/custom", nil, &Packet{Type: Disconnect, Namespace: "/custom"}},
	{"unicode strings", `2["héllo","日本語","😀","\ud83d\ude00"]`, nil,
		&Packet{Type: Event, Namespace: "/", Data: arr{"héllo", "日本語", "😀", "😀"}}},
	{"record separator escaped inside a string", `2["a\u001eb"]`, nil,
		&Packet{Type: Event, Namespace: "/", Data: arr{"a\x1eb"}}},
	{"whitespace around the JSON value", "2 [\"x\"]\r\n\t ", nil, &Packet{Type: Event, Namespace: "/", Data: arr{"x"}}},
	{"big integer kept exact", `2["n",12345678901234567890,1.50]`, nil,
		&Packet{Type: Event, Namespace: "/", Data: arr{"n", num("12345678901234567890"), num("1.50")}}},
	{"ack id with leading zeros", `3007[]`, nil, &Packet{Type: Ack, Namespace: "/", ID: 7, HasID: true, Data: arr{}}},
	{"ack without id", `3[]`, nil, &Packet{Type: Ack, Namespace: "/", Data: arr{}}},
	{"namespace with unicode", `2/ünï,["x"]`, nil, &Packet{Type: Event, Namespace: "/ünï", Data: arr{"x"}}},
}

func TestDecode(t *testing.T) {
	for _, tc := range decodeCases {
		t.Run(tc.name, func(t *testing.T) {
			var d Decoder
			got, err := decodeAll(t, &d, tc.text, tc.attachments)
			if err != nil {
				t.Fatalf("decode %q: %v", tc.text, err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("decode %q:\n got %#v\nwant %#v", tc.text, got, tc.want)
			}
			// The decoder is idle again: a stray attachment is an error.
			if _, err := d.DecodeBinary([]byte{1}); !errors.Is(err, ErrUnexpectedBinary) {
				t.Fatalf("DecodeBinary after a complete packet: %v, want ErrUnexpectedBinary", err)
			}
		})
	}
}

// github.com/socketio/socket.io-protocol, plus the limits of the packet
// grammar and of binary attachments.
var decodeErrorCases = []struct {
	name        string
	text        string
	attachments [][]byte
	max         int // Decoder.MaxAttachments
	err         error
}{
	{"empty message", "", nil, 0, ErrUnknownType},
	{"unknown type abc", "abc", nil, 0, ErrUnknownType},
	{"unknown type 7", `7["x"]`, nil, 0, ErrUnknownType},
	{"unknown type minus", `-1`, nil, 0, ErrUnknownType},
	{"event with object data", `2{}`, nil, 0, ErrInvalidPayload},
	{"event with garbage before the array", `2abc["x"]`, nil, 0, ErrInvalidPayload},
	{"empty event array", `2[]`, nil, 0, ErrInvalidPayload},
	{"event named by an object", `2[{}]`, nil, 0, ErrInvalidPayload},
	{"event named by null", `2[null]`, nil, 0, ErrInvalidPayload},
	{"event named by a boolean", `2[true]`, nil, 0, ErrInvalidPayload},
	{"event named by an array", `2[["x"]]`, nil, 0, ErrInvalidPayload},
	{"event without data", `2`, nil, 0, ErrInvalidPayload},
	{"event with string data", `2"x"`, nil, 0, ErrInvalidPayload},
	{"reserved event connect", `2["connect"]`, nil, 0, ErrInvalidPayload},
	{"reserved event connect_error", `2["connect_error"]`, nil, 0, ErrInvalidPayload},
	{"reserved event disconnect", `2/admin,["disconnect"]`, nil, 0, ErrInvalidPayload},
	{"reserved event disconnecting", `2["disconnecting",1]`, nil, 0, ErrInvalidPayload},
	{"reserved event newListener", `2["newListener"]`, nil, 0, ErrInvalidPayload},
	{"reserved event removeListener", `21["removeListener"]`, nil, 0, ErrInvalidPayload},
	{"reserved name in a binary event", `51-["connect",{"_placeholder":true,"num":0}]`, nil, 0, ErrInvalidPayload},
	{"disconnect with object data", `1{}`, nil, 0, ErrInvalidPayload},
	{"disconnect with string data", `1/admin,"bye"`, nil, 0, ErrInvalidPayload},
	{"disconnect with null data", `1null`, nil, 0, ErrInvalidPayload},
	{"connect with array data", `0[]`, nil, 0, ErrInvalidPayload},
	{"connect with string data", `0"token"`, nil, 0, ErrInvalidPayload},
	{"connect with null data", `0null`, nil, 0, ErrInvalidPayload},
	{"connect_error with array data", `4["x"]`, nil, 0, ErrInvalidPayload},
	{"connect_error with number data", `4 1`, nil, 0, ErrInvalidPayload},
	{"connect_error with null data", `4null`, nil, 0, ErrInvalidPayload},
	{"ack with object data", `31{}`, nil, 0, ErrInvalidPayload},
	{"ack without data", `31`, nil, 0, ErrInvalidPayload},
	{"binary ack with object data", `61-1{"a":{"_placeholder":true,"num":0}}`, nil, 0, ErrInvalidPayload},
	{"attachment count without dash", `51["x",{"_placeholder":true,"num":0}]`, nil, 0, ErrInvalidAttachments},
	{"attachment count missing", `5["x"]`, nil, 0, ErrInvalidAttachments},
	{"attachment count empty", `5-["x"]`, nil, 0, ErrInvalidAttachments},
	{"attachment count not a number", `5x-["x"]`, nil, 0, ErrInvalidAttachments},
	{"attachment count with a sign", `5+1-["x"]`, nil, 0, ErrInvalidAttachments},
	{"attachment count at end of input", `61`, nil, 0, ErrInvalidAttachments},
	{"eleven attachments", `511-["x"]`, nil, 0, ErrTooManyAttachments},
	{"attachment count overflowing", `599999999999999999999999999-["x"]`, nil, 0, ErrTooManyAttachments},
	{"attachments above a custom limit", `52-["x"]`, nil, 1, ErrTooManyAttachments},
	{"attachment count overflowing a huge limit", `5999999999999999999999999-["x"]`, nil, math.MaxInt, ErrTooManyAttachments},
	{"placeholder num out of range", `51-["x",{"_placeholder":true,"num":1}]`, [][]byte{blob0}, 0, ErrInvalidAttachments},
	{"placeholder num negative", `51-["x",{"_placeholder":true,"num":-1}]`, [][]byte{blob0}, 0, ErrInvalidAttachments},
	{"placeholder num fractional", `52-["x",{"_placeholder":true,"num":0.5}]`, [][]byte{blob0, blob1}, 0, ErrInvalidAttachments},
	{"placeholder num a string", `51-["x",{"_placeholder":true,"num":"0"}]`, [][]byte{blob0}, 0, ErrInvalidAttachments},
	{"placeholder num missing", `51-["x",{"_placeholder":true}]`, [][]byte{blob0}, 0, ErrInvalidAttachments},
	{"placeholder nested out of range", `61-[{"a":[{"_placeholder":true,"num":3}]}]`, [][]byte{blob0}, 0, ErrInvalidAttachments},
	{"placeholder with zero attachments", `50-["x",{"_placeholder":true,"num":0}]`, nil, 0, ErrInvalidAttachments},
	{"ack id overflow", `29007199254740992["x"]`, nil, 0, ErrInvalidAckID},
	{"ack id far beyond uint64", `3123456789012345678901234567890[]`, nil, 0, ErrInvalidAckID},
	{"trailing bracket", `2["x"]]`, nil, 0, ErrInvalidPayload},
	{"trailing word", `2["x"] x`, nil, 0, ErrInvalidPayload},
	{"two JSON values", `0{}{}`, nil, 0, ErrInvalidPayload},
	{"two packets joined by a record separator", "2[\"x\"]\x1e2[\"y\"]", nil, 0, ErrInvalidPayload},
	{"truncated JSON", `2["x"`, nil, 0, ErrInvalidPayload},
	{"only whitespace after the header", `2 `, nil, 0, ErrInvalidPayload},
	{"raw control character in a string", "2[\"a\x1eb\"]", nil, 0, ErrInvalidPayload},
	{"namespace with a record separator", "0/a\x1eb,", nil, 0, ErrInvalidNamespace},
}

func TestDecodeErrors(t *testing.T) {
	for _, tc := range decodeErrorCases {
		t.Run(tc.name, func(t *testing.T) {
			d := Decoder{MaxAttachments: tc.max}
			p, err := decodeAll(t, &d, tc.text, tc.attachments)
			if !errors.Is(err, tc.err) || !errors.Is(err, ErrInvalidPacket) {
				t.Fatalf("decode %q: err %v, want %v", tc.text, err, tc.err)
			}
			if p != nil {
				t.Fatalf("decode %q: packet %#v returned with error", tc.text, p)
			}
			// After an error the decoder starts over.
			if p, err := d.DecodeText([]byte(`2["next"]`)); err != nil || p == nil {
				t.Fatalf("DecodeText after an error: %v, %v", p, err)
			}
		})
	}
}

func TestDecodeTextWhileWaitingForAttachments(t *testing.T) {
	var d Decoder
	if p, err := d.DecodeText([]byte(`52-["x",{"_placeholder":true,"num":0}]`)); p != nil || err != nil {
		t.Fatalf("DecodeText = %v, %v; want nil, nil", p, err)
	}
	if p, err := d.DecodeBinary(blob0); p != nil || err != nil {
		t.Fatalf("first DecodeBinary = %v, %v; want nil, nil", p, err)
	}
	if _, err := d.DecodeText([]byte(`2["y"]`)); !errors.Is(err, ErrUnexpectedText) || !errors.Is(err, ErrInvalidPacket) {
		t.Fatalf("DecodeText while waiting: %v, want ErrUnexpectedText", err)
	}
	// The half-received packet is gone.
	if _, err := d.DecodeBinary(blob1); !errors.Is(err, ErrUnexpectedBinary) {
		t.Fatalf("DecodeBinary after the error: %v, want ErrUnexpectedBinary", err)
	}
}

func TestDecodeBinaryWhenNoneExpected(t *testing.T) {
	var d Decoder
	if _, err := d.DecodeBinary(blob0); !errors.Is(err, ErrUnexpectedBinary) || !errors.Is(err, ErrInvalidPacket) {
		t.Fatalf("DecodeBinary on a new decoder: %v, want ErrUnexpectedBinary", err)
	}
	if _, err := d.DecodeText([]byte(`2["x"]`)); err != nil {
		t.Fatal(err)
	}
	if _, err := d.DecodeBinary(blob0); !errors.Is(err, ErrUnexpectedBinary) {
		t.Fatalf("DecodeBinary after a text packet: %v, want ErrUnexpectedBinary", err)
	}
}

func TestDecoderReset(t *testing.T) {
	var d Decoder
	if _, err := d.DecodeText([]byte(`51-["x",{"_placeholder":true,"num":0}]`)); err != nil {
		t.Fatal(err)
	}
	d.Reset()
	if _, err := d.DecodeBinary(blob0); !errors.Is(err, ErrUnexpectedBinary) {
		t.Fatalf("DecodeBinary after Reset: %v, want ErrUnexpectedBinary", err)
	}
	if p, err := d.DecodeText([]byte(`2["x"]`)); err != nil || p == nil {
		t.Fatalf("DecodeText after Reset: %v, %v", p, err)
	}
}

func TestDecoderCustomLimitAboveDefault(t *testing.T) {
	d := Decoder{MaxAttachments: 12}
	text := `511-["x"` + strings.Repeat(`,{"_placeholder":true,"num":0}`, 11) + `]`
	atts := make([][]byte, 11)
	for i := range atts {
		atts[i] = blob0
	}
	p, err := decodeAll(t, &d, text, atts)
	if err != nil || p == nil || len(p.Data.([]any)) != 12 {
		t.Fatalf("decode with MaxAttachments 12: %v, %v", p, err)
	}
}

func TestTypeString(t *testing.T) {
	want := []string{"CONNECT", "DISCONNECT", "EVENT", "ACK", "CONNECT_ERROR", "BINARY_EVENT", "BINARY_ACK", "Type(7)"}
	for i, w := range want {
		if got := Type(i).String(); got != w {
			t.Errorf("Type(%d).String() = %q, want %q", i, got, w)
		}
	}
}

func TestIsReservedEvent(t *testing.T) {
	for _, name := range []string{"connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"} {
		if !IsReservedEvent(name) {
			t.Errorf("IsReservedEvent(%q) = false", name)
		}
	}
	for _, name := range []string{"", "message", "Connect", "error", "connecting", "ping"} {
		if IsReservedEvent(name) {
			t.Errorf("IsReservedEvent(%q) = true", name)
		}
	}
}
