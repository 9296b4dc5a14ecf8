package redis

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/vmihailenco/msgpack/v5"
	"github.com/vmihailenco/msgpack/v5/msgpcode"

	"github.com/caddy-socketio/caddy-socketio/socketio/adapter"
)

// The adapter's messages are MessagePack as notepack.io writes it
// (github.com/socketio/socket.io-redis-adapter). vmihailenco/msgpack reads and writes the
// tokens; this file decides what they become, because notepack and Go
// disagree on a few things:
//
//   - JavaScript objects have ordered string keys: obj keeps the order
//     Node uses, so messages are byte-identical to Node's.
//   - undefined is fixext1 type 0 (d4 00 00): an object key holding it is
//     absent, an array element is null.
//   - notepack 2.x writes ArrayBuffers as ext type 0: they are []byte.
//   - Dates (timestamp ext −1, or notepack 2.x's fixext8 type 0 holding
//     milliseconds) become the string JSON.stringify would send a client.
//   - numbers become json.Number, as in the rest of the library.

// obj is a JavaScript object with ordered keys, for the messages we build.
type obj []kv

type kv struct {
	k string
	v any
}

// maxMsgpackDepth bounds nesting so hostile input cannot exhaust the stack.
const maxMsgpackDepth = 1000

var errMsgpackDepth = errors.New("msgpack: nesting too deep")

var encPool = sync.Pool{New: func() any {
	b := &bytes.Buffer{}
	e := msgpack.NewEncoder(b)
	return &msgpackEncoder{buf: b, enc: e}
}}

type msgpackEncoder struct {
	buf *bytes.Buffer
	enc *msgpack.Encoder
}

// encodeMsgpack returns the MessagePack form of v, as notepack would write
// the equivalent JavaScript value.
func encodeMsgpack(v any) ([]byte, error) {
	e := encPool.Get().(*msgpackEncoder)
	e.buf.Reset()
	err := e.value(v, 0)
	var out []byte
	if err == nil {
		out = bytes.Clone(e.buf.Bytes())
	}
	if e.buf.Cap() <= 64<<10 {
		encPool.Put(e)
	}
	return out, err
}

func (e *msgpackEncoder) value(v any, depth int) error {
	if depth > maxMsgpackDepth {
		return errMsgpackDepth
	}
	enc := e.enc
	switch v := v.(type) {
	case nil:
		return enc.EncodeNil()
	case obj:
		if err := enc.EncodeMapLen(len(v)); err != nil {
			return err
		}
		for _, f := range v {
			if err := enc.EncodeString(f.k); err != nil {
				return err
			}
			if err := e.value(f.v, depth+1); err != nil {
				return err
			}
		}
		return nil
	case string:
		return enc.EncodeString(v)
	case adapter.Room:
		return enc.EncodeString(string(v))
	case adapter.SocketID:
		return enc.EncodeString(string(v))
	case bool:
		return enc.EncodeBool(v)
	case []byte:
		if v == nil {
			return enc.EncodeNil()
		}
		return enc.EncodeBytes(v)
	case json.Number:
		return e.number(v)
	case int:
		return enc.EncodeInt(int64(v))
	case int8:
		return enc.EncodeInt(int64(v))
	case int16:
		return enc.EncodeInt(int64(v))
	case int32:
		return enc.EncodeInt(int64(v))
	case int64:
		return enc.EncodeInt(v)
	case uint:
		return enc.EncodeUint(uint64(v))
	case uint8:
		return enc.EncodeUint(uint64(v))
	case uint16:
		return enc.EncodeUint(uint64(v))
	case uint32:
		return enc.EncodeUint(uint64(v))
	case uint64:
		return enc.EncodeUint(v)
	case float32:
		return e.float(float64(v))
	case float64:
		return e.float(v)
	case []any:
		if v == nil {
			return enc.EncodeNil()
		}
		if err := enc.EncodeArrayLen(len(v)); err != nil {
			return err
		}
		for _, x := range v {
			if err := e.value(x, depth+1); err != nil {
				return err
			}
		}
		return nil
	case []adapter.Room:
		if err := enc.EncodeArrayLen(len(v)); err != nil {
			return err
		}
		for _, r := range v {
			if err := enc.EncodeString(string(r)); err != nil {
				return err
			}
		}
		return nil
	case []string:
		if err := enc.EncodeArrayLen(len(v)); err != nil {
			return err
		}
		for _, s := range v {
			if err := enc.EncodeString(s); err != nil {
				return err
			}
		}
		return nil
	case map[string]any:
		if v == nil {
			return enc.EncodeNil()
		}
		// Go maps have no order; sorted keys keep the output stable.
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		if err := enc.EncodeMapLen(len(keys)); err != nil {
			return err
		}
		for _, k := range keys {
			if err := enc.EncodeString(k); err != nil {
				return err
			}
			if err := e.value(v[k], depth+1); err != nil {
				return err
			}
		}
		return nil
	case json.RawMessage:
		g, err := decodeJSON(v)
		if err != nil {
			return err
		}
		return e.value(g, depth+1)
	case time.Time:
		// JSON.stringify of a Date, which is what a client would see.
		return enc.EncodeString(jsDate(v))
	}
	// Structs, typed maps and slices: through their JSON form, as the Node
	// server would only ever see that.
	rv := reflect.ValueOf(v)
	if rv.Kind() == reflect.Pointer && rv.IsNil() {
		return enc.EncodeNil()
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("msgpack: encoding %T: %w", v, err)
	}
	g, err := decodeJSON(raw)
	if err != nil {
		return err
	}
	return e.value(g, depth+1)
}

func (e *msgpackEncoder) number(n json.Number) error {
	s := string(n)
	if i, err := strconv.ParseInt(s, 10, 64); err == nil {
		return e.enc.EncodeInt(i)
	}
	if u, err := strconv.ParseUint(s, 10, 64); err == nil {
		return e.enc.EncodeUint(u)
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return fmt.Errorf("msgpack: invalid number %q", s)
	}
	return e.float(f)
}

// float writes a number as notepack does: integers in the smallest integer
// form, anything else as float64.
func (e *msgpackEncoder) float(f float64) error {
	if f == math.Trunc(f) && !math.IsInf(f, 0) && math.Abs(f) < 1<<63 && !(f == 0 && math.Signbit(f)) {
		if f >= 0 {
			return e.enc.EncodeUint(uint64(f))
		}
		return e.enc.EncodeInt(int64(f))
	}
	return e.enc.EncodeFloat64(f)
}

// jsDate formats t as Date.prototype.toJSON does.
func jsDate(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000Z")
}

// decodeJSON decodes JSON into the library's generic types (json.Number
// for numbers).
func decodeJSON(b []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	if d.More() {
		return nil, errors.New("json: trailing data")
	}
	return v, nil
}

// decodeMsgpack decodes one MessagePack value into nil, bool, json.Number,
// string, []byte, []any and map[string]any.
func decodeMsgpack(b []byte) (any, error) {
	r := bytes.NewReader(b)
	d := msgpack.NewDecoder(r)
	v, _, err := decodeValue(d, r, 0)
	if err != nil {
		return nil, err
	}
	if r.Len() != 0 {
		return nil, errors.New("msgpack: trailing data")
	}
	return v, nil
}

// decodeValue reads one value; absent reports JavaScript undefined.
func decodeValue(d *msgpack.Decoder, r *bytes.Reader, depth int) (v any, absent bool, err error) {
	if depth > maxMsgpackDepth {
		return nil, false, errMsgpackDepth
	}
	c, err := d.PeekCode()
	if err != nil {
		return nil, false, err
	}
	switch {
	case msgpcode.IsFixedMap(c) || c == msgpcode.Map16 || c == msgpcode.Map32:
		n, err := d.DecodeMapLen()
		if err != nil {
			return nil, false, err
		}
		m := make(map[string]any, min(n, r.Len()/2))
		for range n {
			kv, _, err := decodeValue(d, r, depth+1)
			if err != nil {
				return nil, false, err
			}
			k, ok := kv.(string)
			if !ok {
				k = fmt.Sprint(kv)
			}
			val, absent, err := decodeValue(d, r, depth+1)
			if err != nil {
				return nil, false, err
			}
			if !absent {
				m[k] = val
			}
		}
		return m, false, nil
	case msgpcode.IsFixedArray(c) || c == msgpcode.Array16 || c == msgpcode.Array32:
		n, err := d.DecodeArrayLen()
		if err != nil {
			return nil, false, err
		}
		if n < 0 {
			return nil, false, nil
		}
		a := make([]any, 0, min(n, r.Len()))
		for range n {
			val, _, err := decodeValue(d, r, depth+1)
			if err != nil {
				return nil, false, err
			}
			a = append(a, val) // undefined in an array is null, as in JSON
		}
		return a, false, nil
	case msgpcode.IsFixedString(c) || c == msgpcode.Str8 || c == msgpcode.Str16 || c == msgpcode.Str32 ||
		c == msgpcode.Bin8 || c == msgpcode.Bin16 || c == msgpcode.Bin32:
		// Read the length first: vmihailenco allocates what the header
		// claims, and a hostile header claims gigabytes.
		n, err := d.DecodeBytesLen()
		if err != nil {
			return nil, false, err
		}
		if n > r.Len() {
			return nil, false, errors.New("msgpack: truncated string or binary")
		}
		data := make([]byte, n)
		if err := d.ReadFull(data); err != nil {
			return nil, false, err
		}
		if c == msgpcode.Bin8 || c == msgpcode.Bin16 || c == msgpcode.Bin32 {
			return data, false, nil
		}
		return string(data), false, nil
	case c == msgpcode.FixExt1 || c == msgpcode.FixExt2 || c == msgpcode.FixExt4 || c == msgpcode.FixExt8 ||
		c == msgpcode.FixExt16 || c == msgpcode.Ext8 || c == msgpcode.Ext16 || c == msgpcode.Ext32:
		id, n, err := d.DecodeExtHeader()
		if err != nil {
			return nil, false, err
		}
		if n > r.Len() {
			return nil, false, errors.New("msgpack: truncated ext")
		}
		data := make([]byte, n)
		if err := d.ReadFull(data); err != nil {
			return nil, false, err
		}
		switch id {
		case 0:
			switch c {
			case msgpcode.FixExt1:
				if data[0] == 0 {
					return nil, true, nil // undefined
				}
			case msgpcode.FixExt8:
				// notepack 2.x Date: milliseconds since the epoch.
				ms := int64(binary.BigEndian.Uint64(data))
				return jsDate(time.UnixMilli(ms)), false, nil
			}
			return data, false, nil // ArrayBuffer (notepack 2.x: ext 8/16/32)
		case -1:
			t, err := decodeTimestamp(data)
			if err != nil {
				return nil, false, err
			}
			return jsDate(t), false, nil
		}
		return nil, false, nil // unknown extension: null
	}
	x, err := d.DecodeInterfaceLoose()
	if err != nil {
		return nil, false, err
	}
	switch x := x.(type) {
	case int64:
		return json.Number(strconv.FormatInt(x, 10)), false, nil
	case uint64:
		return json.Number(strconv.FormatUint(x, 10)), false, nil
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, false, nil // JSON.stringify writes null
		}
		return json.Number(strconv.FormatFloat(x, 'g', -1, 64)), false, nil
	}
	return x, false, nil
}

// decodeTimestamp reads the msgpack timestamp extension (type −1).
func decodeTimestamp(b []byte) (time.Time, error) {
	switch len(b) {
	case 4:
		return time.Unix(int64(binary.BigEndian.Uint32(b)), 0), nil
	case 8:
		v := binary.BigEndian.Uint64(b)
		return time.Unix(int64(v&0x3ffffffff), int64(v>>34)), nil
	case 12:
		return time.Unix(int64(binary.BigEndian.Uint64(b[4:])), int64(binary.BigEndian.Uint32(b))), nil
	}
	return time.Time{}, fmt.Errorf("msgpack: invalid timestamp length %d", len(b))
}

// hasBinary reports whether v holds a []byte anywhere (socket.io's
// hasBinary, used to choose msgpack over JSON in the sharded format).
func hasBinary(v any, depth int) bool {
	if depth > maxMsgpackDepth {
		return false
	}
	switch v := v.(type) {
	case []byte:
		return true
	case []any:
		for _, x := range v {
			if hasBinary(x, depth+1) {
				return true
			}
		}
	case map[string]any:
		for _, x := range v {
			if hasBinary(x, depth+1) {
				return true
			}
		}
	case obj:
		for _, f := range v {
			if hasBinary(f.v, depth+1) {
				return true
			}
		}
	}
	return false
}
