package hooks

import (
	"encoding/base64"
	"fmt"
)

// BinaryKey is the only property of the JSON object that stands for binary
// data in hook requests, replies and the HTTP API: {"_binary": "<base64>"}.
const BinaryKey = "_binary"

// EncodeBinary returns v with every []byte inside it (v itself, or nested
// in []any and map[string]any values) replaced by {"_binary": "<base64>"},
// ready for encoding/json. v is not modified; parts without binary are
// shared, not copied.
func EncodeBinary(v any) any {
	switch t := v.(type) {
	case []byte:
		return map[string]any{BinaryKey: base64.StdEncoding.EncodeToString(t)}
	case []any:
		if !hasBinary(t, 0) {
			return t
		}
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = EncodeBinary(e)
		}
		return out
	case map[string]any:
		if !hasBinary(t, 0) {
			return t
		}
		out := make(map[string]any, len(t))
		for k, e := range t {
			out[k] = EncodeBinary(e)
		}
		return out
	}
	return v
}

// maxWireDepth bounds the nesting walked, as encoding/json's decoder does.
const maxWireDepth = 10000

func hasBinary(v any, depth int) bool {
	if depth > maxWireDepth {
		return false
	}
	switch t := v.(type) {
	case []byte:
		return true
	case []any:
		for _, e := range t {
			if hasBinary(e, depth+1) {
				return true
			}
		}
	case map[string]any:
		for _, e := range t {
			if hasBinary(e, depth+1) {
				return true
			}
		}
	}
	return false
}

// DecodeBinary is the inverse of EncodeBinary for decoded JSON: every object
// whose only property is "_binary" with a base64 string (standard alphabet,
// padded or not) becomes a []byte. An object with "_binary" that is not
// such a value is an error. v may be modified in place.
func DecodeBinary(v any) (any, error) {
	return decodeBinary(v, 0)
}

func decodeBinary(v any, depth int) (any, error) {
	if depth > maxWireDepth {
		return nil, fmt.Errorf("value nested deeper than %d levels", maxWireDepth)
	}
	switch t := v.(type) {
	case []any:
		for i, e := range t {
			d, err := decodeBinary(e, depth+1)
			if err != nil {
				return nil, err
			}
			t[i] = d
		}
		return t, nil
	case map[string]any:
		if raw, ok := t[BinaryKey]; ok {
			s, isStr := raw.(string)
			if len(t) != 1 || !isStr {
				return nil, fmt.Errorf(`a %q object must have one property, a base64 string`, BinaryKey)
			}
			b, err := base64.StdEncoding.DecodeString(s)
			if err != nil {
				b, err = base64.RawStdEncoding.DecodeString(s)
			}
			if err != nil {
				return nil, fmt.Errorf("%s: invalid base64: %w", BinaryKey, err)
			}
			return b, nil
		}
		for k, e := range t {
			d, err := decodeBinary(e, depth+1)
			if err != nil {
				return nil, err
			}
			t[k] = d
		}
		return t, nil
	}
	return v, nil
}
