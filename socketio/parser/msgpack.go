package parser

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// The msgpack codec is the wire format of socket.io-msgpack-parser 3.x, the
// parser built into the official socket.io.msgpack.min.js bundle. A packet
// is one MessagePack map, written as notepack.io (2.2, the version the
// parser depends on) writes a JavaScript object, and travels as one
// Engine.IO binary message:
//
//	{"type": 2, "data": ["event", ...], "id": 7, "nsp": "/"}
//
// Only the types CONNECT to CONNECT_ERROR exist: binary needs no
// attachments, a []byte is a MessagePack bin value where it stands. "id" is
// absent when the packet asks for no ack, "data" when it carries none. Keys
// the parser does not know ("options", which the official client sends) are
// ignored.
//
// The decoder returns the same Go values as the default parser, so handlers
// need not know which parser a client uses: nil, bool, string, json.Number,
// []any, map[string]any and []byte. The differences:
//
//   - numbers: integers become json.Number in decimal; floats become
//     json.Number in JavaScript's shortest form (1.5, 1e+21), as the default
//     parser would have received them from JSON.stringify; NaN and ±Infinity,
//     which JSON cannot carry, become nil (JSON.stringify writes null);
//   - a Date (notepack.io 2.x's fixext 8 type 0, as socket.io-msgpack-parser
//     3.0 sends it, or the MessagePack timestamp extension of notepack.io
//     3.x) becomes a time.Time in UTC, to the millisecond, where the default
//     parser sees the ISO string JSON.stringify wrote; a date outside the
//     years 0000 to 9999, which time.Time cannot write as JSON, becomes nil;
//   - map keys that are integers become their decimal string, as JavaScript
//     property names do; other non-string keys are an error;
//   - undefined (notepack's fixext 1 type 0) as an object value drops the
//     key, as an array element becomes nil; notepack's legacy ArrayBuffer
//     extension (type 0) becomes []byte; any other extension becomes
//     []any{type, data} as notepack.io decodes it.
//
// Binary data aliases the decoded message (the slice's capacity ends with
// it), as attachments of the default parser alias their engine message.

// EncodeMsgpack returns the socket.io-msgpack-parser form of p, to be sent as
// one Engine.IO binary message. Data may hold the values [Encode] accepts;
// []byte anywhere becomes a bin value (the BINARY_* types are written as
// EVENT and ACK). Numbers are written as notepack.io writes a JavaScript
// number: integral values in the smallest integer form, others as float64;
// time.Time as notepack.io 2.x writes a Date (a Date on the client, to the
// millisecond); values of
// other types (structs, typed maps and slices, Marshalers) through their JSON
// form, as the client could only have seen that. The result is a new slice
// owned by the caller.
func EncodeMsgpack(p *Packet) ([]byte, error) {
	bp := textBufPool.Get().(*[]byte)
	b, err := AppendEncodeMsgpack((*bp)[:0], p)
	var out []byte
	if err == nil {
		out = slices.Clone(b)
	}
	if cap(b) <= maxPooledBuf {
		*bp = b[:0]
		textBufPool.Put(bp)
	}
	return out, err
}

// AppendEncodeMsgpack is like [EncodeMsgpack] but appends to dst. On error
// it returns dst unchanged.
func AppendEncodeMsgpack(dst []byte, p *Packet) ([]byte, error) {
	if p.RawArgs != nil {
		// Arguments kept as JSON text (a relay, Decoder.Lazy): msgpack
		// carries values, so they are decoded here, once per packet.
		args, err := p.Args()
		if err != nil {
			return dst, err
		}
		q := *p
		q.RawArgs, q.Attachments = nil, nil
		q.Data = args
		if p.Type == Event || p.Type == BinaryEvent {
			q.Data = append([]any{p.Event}, args...)
		}
		p = &q
	}
	t := p.Type
	switch t {
	case BinaryEvent:
		t = Event
	case BinaryAck:
		t = Ack
	}
	if !t.valid() {
		return dst, fmt.Errorf("encoding packet of type %d: %w", byte(p.Type), ErrUnknownType)
	}
	nsp := p.Namespace
	if nsp == "" {
		nsp = "/"
	}
	if nsp != "/" && !validNamespace(nsp) {
		return dst, fmt.Errorf("encoding %v packet for namespace %q: %w", t, nsp, ErrInvalidNamespace)
	}
	if p.HasID && p.ID > MaxAckID {
		return dst, fmt.Errorf("encoding %v packet with ack id %d: %w", t, p.ID, ErrInvalidAckID)
	}
	start := len(dst)
	n := byte(2)
	if p.Data != nil {
		n++
	}
	if p.HasID {
		n++
	}
	dst = append(dst, 0x80|n)
	dst = mpString(dst, "type")
	dst = append(dst, byte(t)) // positive fixint
	if p.Data != nil {
		dst = mpString(dst, "data")
		var err error
		if dst, err = mpValue(dst, p.Data, 0); err != nil {
			return dst[:start], fmt.Errorf("encoding %v data: %w", t, err)
		}
	}
	if p.HasID {
		dst = mpString(dst, "id")
		dst = mpUint(dst, p.ID)
	}
	dst = mpString(dst, "nsp")
	dst = mpString(dst, nsp)
	return dst, nil
}

func mpString(dst []byte, s string) []byte {
	// notepack.io writes the UTF-8 of a JavaScript string; a Go string
	// holding invalid UTF-8 gets U+FFFD, as the JSON codec writes it.
	if !utf8.ValidString(s) {
		s = string([]rune(s)) // invalid bytes become U+FFFD
	}
	n := len(s)
	switch {
	case n < 0x20:
		dst = append(dst, 0xa0|byte(n))
	case n < 0x100:
		dst = append(dst, 0xd9, byte(n))
	case n < 0x10000:
		dst = append(dst, 0xda)
		dst = binary.BigEndian.AppendUint16(dst, uint16(n))
	default:
		dst = append(dst, 0xdb)
		dst = binary.BigEndian.AppendUint32(dst, uint32(n))
	}
	return append(dst, s...)
}

func mpBin(dst []byte, b []byte) []byte {
	n := len(b)
	switch {
	case n < 0x100:
		dst = append(dst, 0xc4, byte(n))
	case n < 0x10000:
		dst = append(dst, 0xc5)
		dst = binary.BigEndian.AppendUint16(dst, uint16(n))
	default:
		dst = append(dst, 0xc6)
		dst = binary.BigEndian.AppendUint32(dst, uint32(n))
	}
	return append(dst, b...)
}

func mpUint(dst []byte, u uint64) []byte {
	switch {
	case u < 0x80:
		return append(dst, byte(u))
	case u < 0x100:
		return append(dst, 0xcc, byte(u))
	case u < 0x10000:
		return binary.BigEndian.AppendUint16(append(dst, 0xcd), uint16(u))
	case u < 0x100000000:
		return binary.BigEndian.AppendUint32(append(dst, 0xce), uint32(u))
	}
	return binary.BigEndian.AppendUint64(append(dst, 0xcf), u)
}

func mpInt(dst []byte, i int64) []byte {
	switch {
	case i >= 0:
		return mpUint(dst, uint64(i))
	case i >= -0x20:
		return append(dst, byte(i)) // negative fixint
	case i >= -0x80:
		return append(dst, 0xd0, byte(i))
	case i >= -0x8000:
		return binary.BigEndian.AppendUint16(append(dst, 0xd1), uint16(i))
	case i >= -0x80000000:
		return binary.BigEndian.AppendUint32(append(dst, 0xd2), uint32(i))
	}
	return binary.BigEndian.AppendUint64(append(dst, 0xd3), uint64(i))
}

// mpFloat writes a number as notepack.io does: an integral value in the
// smallest integer form (so -0 is 0), anything else, NaN and ±Infinity
// included, as float64.
func mpFloat(dst []byte, f float64) []byte {
	if f == math.Trunc(f) && !math.IsInf(f, 0) {
		if f >= 0 && f < 1<<64 {
			return mpUint(dst, uint64(f))
		}
		if f < 0 && f >= -(1<<63) {
			return mpInt(dst, int64(f))
		}
	}
	return binary.BigEndian.AppendUint64(append(dst, 0xcb), math.Float64bits(f))
}

func mpNumber(dst []byte, n json.Number) ([]byte, error) {
	s := string(n)
	if s == "" {
		return append(dst, 0), nil // as encoding/json writes it: 0
	}
	if !validNumber(s) {
		return dst, fmt.Errorf("%w: invalid json.Number %q", ErrInvalidPayload, s)
	}
	if i, err := strconv.ParseInt(s, 10, 64); err == nil {
		return mpInt(dst, i), nil
	}
	if u, err := strconv.ParseUint(s, 10, 64); err == nil {
		return mpUint(dst, u), nil
	}
	f, _ := strconv.ParseFloat(s, 64) // out of range gives ±Inf, as JavaScript reads it
	return mpFloat(dst, f), nil
}

func mpLen(dst []byte, n int, fix, b16, b32 byte) []byte {
	switch {
	case n < 0x10:
		return append(dst, fix|byte(n))
	case n < 0x10000:
		return binary.BigEndian.AppendUint16(append(dst, b16), uint16(n))
	}
	return binary.BigEndian.AppendUint32(append(dst, b32), uint32(n))
}

// mpTime writes t as notepack.io 2.x writes a Date (fixext 8, type 0, the
// milliseconds since the epoch as a signed 64-bit integer):
// socket.io-msgpack-parser 3.0 depends on notepack.io 2.2, whose decoder does
// not know the timestamp extension, while 3.x still reads this form.
func mpTime(dst []byte, t time.Time) []byte {
	dst = append(dst, 0xd7, 0x00)
	return binary.BigEndian.AppendUint64(dst, uint64(t.UnixMilli()))
}

func mpValue(dst []byte, v any, depth int) ([]byte, error) {
	switch v := v.(type) {
	case nil:
		return append(dst, 0xc0), nil
	case string:
		return mpString(dst, v), nil
	case bool:
		if v {
			return append(dst, 0xc3), nil
		}
		return append(dst, 0xc2), nil
	case json.Number:
		return mpNumber(dst, v)
	case float64:
		return mpFloat(dst, v), nil
	case float32:
		return mpFloat(dst, float64(v)), nil
	case int:
		return mpInt(dst, int64(v)), nil
	case int64:
		return mpInt(dst, v), nil
	case int32:
		return mpInt(dst, int64(v)), nil
	case int16:
		return mpInt(dst, int64(v)), nil
	case int8:
		return mpInt(dst, int64(v)), nil
	case uint:
		return mpUint(dst, uint64(v)), nil
	case uint64:
		return mpUint(dst, v), nil
	case uint32:
		return mpUint(dst, uint64(v)), nil
	case uint16:
		return mpUint(dst, uint64(v)), nil
	case uint8:
		return mpUint(dst, uint64(v)), nil
	case []byte:
		if v == nil {
			return append(dst, 0xc0), nil
		}
		return mpBin(dst, v), nil
	case time.Time:
		return mpTime(dst, v), nil
	case []any:
		if v == nil {
			return append(dst, 0xc0), nil
		}
		if depth >= maxDepth {
			return dst, errTooDeep
		}
		dst = mpLen(dst, len(v), 0x90, 0xdc, 0xdd)
		for _, e := range v {
			var err error
			if dst, err = mpValue(dst, e, depth+1); err != nil {
				return dst, err
			}
		}
		return dst, nil
	case map[string]any:
		if v == nil {
			return append(dst, 0xc0), nil
		}
		if depth >= maxDepth {
			return dst, errTooDeep
		}
		// Sorted keys, as the JSON codec writes them: Go maps have no order.
		var small [8]string
		keys := small[:0]
		for k := range v {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		dst = mpLen(dst, len(keys), 0x80, 0xde, 0xdf)
		for _, k := range keys {
			dst = mpString(dst, k)
			var err error
			if dst, err = mpValue(dst, v[k], depth+1); err != nil {
				return dst, err
			}
		}
		return dst, nil
	case json.RawMessage:
		if v == nil {
			return append(dst, 0xc0), nil
		}
		g, err := decodeJSON(v)
		if err != nil {
			return dst, err
		}
		return mpValue(dst, g, depth+1)
	}
	// Everything else goes through its JSON form: what a default-parser
	// client receives, in MessagePack.
	je := jsonEncoderPool.Get().(*jsonEncoder)
	err := je.enc.Encode(v)
	var g any
	if err == nil {
		g, err = decodeJSON(je.buf.Bytes())
	} else {
		err = fmt.Errorf("%w: %w", ErrInvalidPayload, err)
	}
	if je.buf.Cap() <= maxPooledBuf {
		je.buf.Reset()
		jsonEncoderPool.Put(je)
	}
	if err != nil {
		return dst, err
	}
	return mpValue(dst, g, depth+1)
}

// DecodeMsgpack decodes one socket.io-msgpack-parser packet: the payload of
// one Engine.IO binary message. It checks what socket.io-msgpack-parser's
// decoder checks (type CONNECT to CONNECT_ERROR, a string nsp, an integer
// id, the data shape of the type) and what the default parser checks on top
// (a valid namespace, an ack id up to MaxAckID, no reserved event name).
//
// The returned packet's []byte values alias b; b must not be modified
// afterwards.
func DecodeMsgpack(b []byte) (*Packet, error) {
	d := mpDecoder{b: b}
	v, err := d.value(0)
	if err != nil {
		return nil, fmt.Errorf("decoding msgpack packet: %w", err)
	}
	if d.i != len(b) {
		return nil, fmt.Errorf("decoding msgpack packet: %w: %d trailing bytes", ErrInvalidPayload, len(b)-d.i)
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("decoding msgpack packet: %w: not a map", ErrInvalidPayload)
	}
	t, ok := mpInteger(m["type"])
	if !ok || t < int64(Connect) || t > int64(ConnectError) {
		return nil, fmt.Errorf("decoding msgpack packet: type %v: %w", m["type"], ErrUnknownType)
	}
	p := &Packet{Type: Type(t)}
	nsp, ok := m["nsp"].(string)
	if !ok || !validNamespace(nsp) {
		return nil, fmt.Errorf("decoding %v: namespace %v: %w", p.Type, m["nsp"], ErrInvalidNamespace)
	}
	p.Namespace = nsp
	if idv, has := m["id"]; has {
		id, ok := mpInteger(idv)
		if !ok || id < 0 || id > MaxAckID {
			return nil, fmt.Errorf("decoding %v: ack id %v: %w", p.Type, idv, ErrInvalidAckID)
		}
		p.ID, p.HasID = uint64(id), true
	}
	data, present := m["data"]
	if err := validateData(p.Type, data, present); err != nil {
		return nil, fmt.Errorf("decoding %v data: %w", p.Type, err)
	}
	p.Data = data
	return p, nil
}

// mpInteger reads a decoded number that JavaScript's Number.isInteger
// accepts, as an int64.
func mpInteger(v any) (int64, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, false
	}
	if i, err := n.Int64(); err == nil {
		return i, true
	}
	f, err := strconv.ParseFloat(string(n), 64)
	if err != nil || f != math.Trunc(f) || math.Abs(f) > 1<<62 {
		return 0, false
	}
	return int64(f), true
}

// mpDecoder reads MessagePack from b. Every length is checked against what
// is left of b before anything is allocated, so a hostile header claiming
// gigabytes fails at once, and every element takes at least one byte of b,
// so the decoded value stays proportional to the message (bounded by the
// engine's max_payload).
type mpDecoder struct {
	b []byte
	i int
}

var errTruncated = fmt.Errorf("%w: truncated msgpack", ErrInvalidPayload)

// undefined is what notepack.io's undefined (fixext 1, type 0) decodes to
// before the container it sits in decides what it means.
type undefinedT struct{}

var undefined any = undefinedT{}

func (d *mpDecoder) take(n int) ([]byte, error) {
	if n < 0 || n > len(d.b)-d.i {
		return nil, errTruncated
	}
	s := d.b[d.i : d.i+n : d.i+n]
	d.i += n
	return s, nil
}

func (d *mpDecoder) uint(n int) (uint64, error) {
	s, err := d.take(n)
	if err != nil {
		return 0, err
	}
	var u uint64
	for _, c := range s {
		u = u<<8 | uint64(c)
	}
	return u, nil
}

// length reads an n-byte length and checks that at least min(length, what
// each element needs) bytes remain.
func (d *mpDecoder) length(n int) (int, error) {
	u, err := d.uint(n)
	if err != nil {
		return 0, err
	}
	if u > uint64(len(d.b)-d.i) {
		return 0, errTruncated
	}
	return int(u), nil
}

func (d *mpDecoder) value(depth int) (any, error) {
	if d.i >= len(d.b) {
		return nil, errTruncated
	}
	c := d.b[d.i]
	d.i++
	switch {
	case c < 0x80:
		return smallNumber(int64(c)), nil
	case c < 0x90:
		return d.mapOf(int(c&0x0f), depth)
	case c < 0xa0:
		return d.arrayOf(int(c&0x0f), depth)
	case c < 0xc0:
		return d.str(int(c & 0x1f))
	case c >= 0xe0:
		return smallNumber(int64(int8(c))), nil
	}
	switch c {
	case 0xc0:
		return nil, nil
	case 0xc2:
		return false, nil
	case 0xc3:
		return true, nil
	case 0xc4, 0xc5, 0xc6:
		n, err := d.length(1 << (c - 0xc4))
		if err != nil {
			return nil, err
		}
		return d.take(n)
	case 0xc7, 0xc8, 0xc9:
		n, err := d.length(1 << (c - 0xc7))
		if err != nil {
			return nil, err
		}
		return d.ext(c, n)
	case 0xca:
		u, err := d.uint(4)
		if err != nil {
			return nil, err
		}
		return jsFloat(float64(math.Float32frombits(uint32(u)))), nil
	case 0xcb:
		u, err := d.uint(8)
		if err != nil {
			return nil, err
		}
		return jsFloat(math.Float64frombits(u)), nil
	case 0xcc, 0xcd, 0xce, 0xcf:
		u, err := d.uint(1 << (c - 0xcc))
		if err != nil {
			return nil, err
		}
		if u <= math.MaxInt64 {
			return smallNumber(int64(u)), nil
		}
		return json.Number(strconv.FormatUint(u, 10)), nil
	case 0xd0, 0xd1, 0xd2, 0xd3:
		n := 1 << (c - 0xd0)
		u, err := d.uint(n)
		if err != nil {
			return nil, err
		}
		return smallNumber(int64(u<<(64-8*n)) >> (64 - 8*n)), nil // sign-extended
	case 0xd4, 0xd5, 0xd6, 0xd7, 0xd8:
		return d.ext(c, 1<<(c-0xd4))
	case 0xd9, 0xda, 0xdb:
		n, err := d.length(1 << (c - 0xd9))
		if err != nil {
			return nil, err
		}
		return d.str(n)
	case 0xdc, 0xdd:
		n, err := d.length(2 << (c - 0xdc))
		if err != nil {
			return nil, err
		}
		return d.arrayOf(n, depth)
	case 0xde, 0xdf:
		n, err := d.length(2 << (c - 0xde))
		if err != nil {
			return nil, err
		}
		return d.mapOf(n, depth)
	}
	return nil, fmt.Errorf("%w: msgpack type byte 0x%02x", ErrInvalidPayload, c)
}

// smallNumbers holds json.Number values for -32..99 boxed once, so
// decoding the common small integers allocates nothing.
var smallNumbers = func() (a [132]any) {
	for i := range a {
		a[i] = json.Number(strconv.Itoa(i - 32))
	}
	return a
}()

func smallNumber(i int64) any {
	if i >= -32 && i < 100 {
		return smallNumbers[i+32]
	}
	return json.Number(strconv.FormatInt(i, 10))
}

// jsFloat turns a float into what JSON.parse(JSON.stringify(f)) would have
// handed the default parser: a json.Number in JavaScript's form, or nil
// for NaN and ±Infinity.
func jsFloat(f float64) any {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil
	}
	if f == 0 {
		return smallNumber(0) // -0 too: JSON.stringify(-0) is "0"
	}
	b, _ := appendFloat(nil, f, 64) // finite: cannot fail
	return json.Number(b)
}

func (d *mpDecoder) str(n int) (any, error) {
	s, err := d.take(n)
	if err != nil {
		return nil, err
	}
	if !utf8.Valid(s) {
		// Node's Buffer.toString: each invalid byte becomes U+FFFD.
		return string([]rune(string(s))), nil
	}
	return string(s), nil
}

func (d *mpDecoder) arrayOf(n int, depth int) (any, error) {
	if depth >= maxDepth {
		return nil, errTooDeep
	}
	a := make([]any, n) // n <= bytes left: each element takes one at least
	for k := range a {
		v, err := d.value(depth + 1)
		if err != nil {
			return nil, err
		}
		if v == undefined {
			v = nil // as JSON.stringify writes undefined in an array
		}
		a[k] = v
	}
	return a, nil
}

func (d *mpDecoder) mapOf(n int, depth int) (any, error) {
	if depth >= maxDepth {
		return nil, errTooDeep
	}
	if n > (len(d.b)-d.i)/2 {
		return nil, errTruncated // each entry takes two bytes at least
	}
	m := make(map[string]any, min(n, 16))
	for range n {
		kv, err := d.value(depth + 1)
		if err != nil {
			return nil, err
		}
		var k string
		switch kv := kv.(type) {
		case string:
			k = kv
		case json.Number:
			if _, err := kv.Int64(); err != nil {
				return nil, fmt.Errorf("%w: msgpack map key %v", ErrInvalidPayload, kv)
			}
			k = string(kv)
		default:
			return nil, fmt.Errorf("%w: msgpack map key of type %T", ErrInvalidPayload, kv)
		}
		v, err := d.value(depth + 1)
		if err != nil {
			return nil, err
		}
		if v == undefined {
			delete(m, k) // JSON.stringify leaves the key out
			continue
		}
		m[k] = v
	}
	return m, nil
}

// ext decodes an extension value of n data bytes, as notepack.io does; c is
// its type byte (fixext or ext).
func (d *mpDecoder) ext(c byte, n int) (any, error) {
	tb, err := d.take(1)
	if err != nil {
		return nil, err
	}
	typ := int8(tb[0])
	data, err := d.take(n)
	if err != nil {
		return nil, err
	}
	switch typ {
	case 0:
		if c == 0xd4 {
			return undefined, nil // fixext 1 type 0: undefined
		}
		if c == 0xd7 {
			// notepack 2.x Date: milliseconds since the epoch.
			return jsDate(int64(binary.BigEndian.Uint64(data)), 0), nil
		}
		return data, nil // legacy ArrayBuffer
	case -1:
		switch n {
		case 4:
			return jsDate(int64(binary.BigEndian.Uint32(data))*1000, 0), nil
		case 8:
			u := binary.BigEndian.Uint64(data)
			return jsDate(int64(u&(1<<34-1))*1000, int64(u>>34)), nil
		case 12:
			s := int64(binary.BigEndian.Uint64(data[4:]))
			if s > maxDateMs/1000 || s < minDateMs/1000 {
				return nil, nil
			}
			return jsDate(s*1000, int64(binary.BigEndian.Uint32(data))), nil
		}
	}
	return []any{smallNumber(int64(typ)), data}, nil
}

// The dates decoded: years 0000 to 9999, which time.Time writes as JSON (a
// JavaScript Date reaches ±275760 years, but outside these years
// time.Time.MarshalJSON fails, and the packet could not be forwarded to a
// default-parser client).
const (
	minDateMs = -62167219200000 // 0000-01-01T00:00:00Z
	maxDateMs = 253402300799999 // 9999-12-31T23:59:59.999Z
)

// jsDate returns the time ms milliseconds plus ns nanoseconds after the
// epoch, to the millisecond as a JavaScript Date holds it, or nil outside
// the years 0000 to 9999 (and for an invalid timestamp).
func jsDate(ms, ns int64) any {
	if ns >= 1e9 || ms > maxDateMs || ms < minDateMs {
		return nil
	}
	ms += ns / 1e6
	if ms > maxDateMs {
		return nil
	}
	return time.UnixMilli(ms).UTC()
}

// Encoded is one packet on its way to many connections, encoded at most once
// per parser, when the first recipient using that parser needs it. It is
// safe for concurrent use.
type Encoded struct {
	// Packet is the packet; it must not be modified once the Encoded is
	// shared.
	Packet *Packet

	text, msgpack encodedOnce
}

type encodedOnce struct {
	once sync.Once
	done atomic.Bool // set once b, atts, err hold the result
	b    []byte
	atts [][]byte
	err  error
}

// NewEncoded returns p, to be encoded on first use.
func NewEncoded(p *Packet) *Encoded { return &Encoded{Packet: p} }

// Default returns p encoded by [Encode], encoding it on the first call.
func (e *Encoded) Default() (text []byte, attachments [][]byte, err error) {
	o := &e.text
	o.once.Do(func() { o.b, o.atts, o.err = Encode(e.Packet); o.done.Store(true) })
	return o.b, o.atts, o.err
}

// Msgpack returns p encoded by [EncodeMsgpack], encoding it on the first
// call.
func (e *Encoded) Msgpack() ([]byte, error) {
	o := &e.msgpack
	o.once.Do(func() { o.b, o.err = EncodeMsgpack(e.Packet); o.done.Store(true) })
	return o.b, o.err
}

// Err returns the error of the encodings completed so far, the default
// parser's first; nil when none failed (or none was needed).
func (e *Encoded) Err() error {
	if e.text.done.Load() && e.text.err != nil {
		return e.text.err
	}
	if e.msgpack.done.Load() {
		return e.msgpack.err
	}
	return nil
}
