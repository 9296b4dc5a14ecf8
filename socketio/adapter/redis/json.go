package redis

import (
	"strconv"

	"github.com/caddy-socketio/caddy-socketio/socketio/adapter"
	"github.com/caddy-socketio/caddy-socketio/socketio/parser"
)

// encodeJSON writes v as JSON.stringify would: obj keys in their order,
// compact, no HTML escaping.
func encodeJSON(v any) ([]byte, error) {
	return appendJSON(make([]byte, 0, 128), v)
}

func appendJSON(dst []byte, v any) ([]byte, error) {
	switch v := v.(type) {
	case nil:
		return append(dst, "null"...), nil
	case obj:
		dst = append(dst, '{')
		for i, f := range v {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendJSONString(dst, f.k)
			dst = append(dst, ':')
			var err error
			if dst, err = appendJSON(dst, f.v); err != nil {
				return dst, err
			}
		}
		return append(dst, '}'), nil
	case []adapter.Room:
		dst = append(dst, '[')
		for i, r := range v {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendJSONString(dst, string(r))
		}
		return append(dst, ']'), nil
	case []any:
		if v == nil {
			return append(dst, "null"...), nil
		}
		dst = append(dst, '[')
		for i, x := range v {
			if i > 0 {
				dst = append(dst, ',')
			}
			var err error
			if dst, err = appendJSON(dst, x); err != nil {
				return dst, err
			}
		}
		return append(dst, ']'), nil
	case string:
		return appendJSONString(dst, v), nil
	case int:
		return strconv.AppendInt(dst, int64(v), 10), nil
	case bool:
		return strconv.AppendBool(dst, v), nil
	}
	return appendJSONValue(dst, v)
}

func appendJSONString(dst []byte, s string) []byte {
	out, _ := appendJSONValue(dst, s)
	return out
}

// appendJSONValue writes any other value with the parser's JSON writer,
// which already writes exactly what JSON.stringify would for the library's
// data types (json.Number, floats, strings, nested maps and slices): the
// data of a CONNECT packet in namespace "/" is written right after the type
// digit, which is removed.
func appendJSONValue(dst []byte, v any) ([]byte, error) {
	start := len(dst)
	out, _, err := parser.AppendEncode(dst, &parser.Packet{Type: parser.Connect, Data: v})
	if err != nil {
		return dst, err
	}
	copy(out[start:], out[start+1:])
	return out[:len(out)-1], nil
}
