package parser

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"unicode/utf8"
)

// Lazy decoding (Decoder.Lazy): an EVENT or ACK keeps the JSON text of its
// arguments, checked but not decoded, until something needs their values.
// Decoded, an array of small numbers takes about 17 times its wire size
// ([]any of json.Number); as text it takes its wire size. Relays forward the
// text as it came ([AppendEncode] with RawArgs), and events nobody handles
// are dropped without ever being decoded.

// splitEvent reads the event name at the start of data, the JSON text of an
// EVENT's data array (already checked by json.Valid), and returns it with
// the index of the comma after it (or of the closing bracket when there are
// no arguments).
func splitEvent(data []byte) (name string, sep int, err error) {
	i := skipSpace(data, 0)
	if i >= len(data) || data[i] != '[' {
		return "", 0, fmt.Errorf("%w: event data must be a non-empty array", ErrInvalidPayload)
	}
	i = skipSpace(data, i+1)
	if i >= len(data) || data[i] == ']' {
		return "", 0, fmt.Errorf("%w: event data must be a non-empty array", ErrInvalidPayload)
	}
	var end int
	switch c := data[i]; {
	case c == '"':
		end = stringEnd(data, i)
		tok := data[i:end]
		if bytes.IndexByte(tok, '\\') < 0 && utf8.Valid(tok) {
			name = string(tok[1 : len(tok)-1])
		} else if err := json.Unmarshal(tok, &name); err != nil {
			return "", 0, fmt.Errorf("%w: event name: %w", ErrInvalidPayload, err)
		}
		if IsReservedEvent(name) {
			return "", 0, fmt.Errorf("%w: reserved event name %q", ErrInvalidPayload, name)
		}
	case c == '-' || isDigit(c):
		end = literalEnd(data, i)
		name = string(data[i:end])
	default:
		return "", 0, fmt.Errorf("%w: event name must be a string or a number", ErrInvalidPayload)
	}
	sep = skipSpace(data, end) // ',' or ']': data is valid JSON
	return name, sep, nil
}

// checkArray reports whether data (valid JSON) is an array.
func checkArray(data []byte) error {
	if i := skipSpace(data, 0); i >= len(data) || data[i] != '[' {
		return fmt.Errorf("%w: ack data must be an array", ErrInvalidPayload)
	}
	return nil
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// stringEnd returns the index after the JSON string starting at b[i] ('"').
func stringEnd(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return len(b)
}

// literalEnd returns the index after the number, true, false or null at b[i].
func literalEnd(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ',', ']', '}', ':', ' ', '\t', '\n', '\r':
			return i
		}
		i++
	}
	return i
}

// phSpan is the span of one attachment placeholder object in JSON text.
type phSpan struct {
	start, end int
	num        int // -1: not a valid index
}

// findPlaceholders walks data (valid JSON) and returns the placeholder
// objects a reader of socket.io-parser's reconstructPacket would replace:
// any object whose last "_placeholder" member is true. Nested objects of a
// placeholder are not placeholders themselves (the whole object goes). n is
// the number of attachments; a placeholder whose num is not an integer in
// [0, n) gets num -1.
func findPlaceholders(data []byte, n int) []phSpan {
	w := phWalker{b: data, n: n}
	w.value(skipSpace(data, 0), 0)
	return w.found
}

type phWalker struct {
	b     []byte
	n     int
	found []phSpan
}

// value walks the value at b[i] and returns the index after it.
func (w *phWalker) value(i, depth int) int {
	b := w.b
	if i >= len(b) || depth > maxDepth {
		return len(b)
	}
	switch b[i] {
	case '"':
		return stringEnd(b, i)
	case '[':
		i = skipSpace(b, i+1)
		if i < len(b) && b[i] == ']' {
			return i + 1
		}
		for i < len(b) {
			i = skipSpace(b, w.value(i, depth+1))
			if i >= len(b) || b[i] == ']' {
				return i + 1
			}
			i = skipSpace(b, i+1) // ','
		}
		return len(b)
	case '{':
		return w.object(i, depth)
	}
	return literalEnd(b, i)
}

func (w *phWalker) object(start, depth int) int {
	b := w.b
	mark := len(w.found)
	var isPH bool
	num := -1
	i := skipSpace(b, start+1)
	if i < len(b) && b[i] == '}' {
		return i + 1
	}
	for i < len(b) {
		kEnd := stringEnd(b, i)
		key := b[i:kEnd]
		i = skipSpace(b, kEnd)
		i = skipSpace(b, i+1) // ':'
		vStart := i
		i = w.value(i, depth+1)
		val := b[vStart:i]
		switch keyName(key) {
		case "_placeholder":
			isPH = string(val) == "true"
		case "num":
			num = w.index(val)
		}
		i = skipSpace(b, i)
		if i >= len(b) || b[i] == '}' {
			i++
			break
		}
		i = skipSpace(b, i+1) // ','
	}
	if isPH {
		w.found = append(w.found[:mark], phSpan{start, min(i, len(b)), num})
	}
	return min(i, len(b))
}

// keyName returns the member name of a JSON string token, unescaped only
// when needed (a hostile client may write "\u005fplaceholder").
func keyName(tok []byte) string {
	if len(tok) < 2 {
		return ""
	}
	if bytes.IndexByte(tok, '\\') < 0 {
		s := tok[1 : len(tok)-1]
		switch string(s) { // no allocation for the comparisons
		case "_placeholder":
			return "_placeholder"
		case "num":
			return "num"
		}
		return ""
	}
	var s string
	_ = json.Unmarshal(tok, &s)
	return s
}

// index reads a placeholder's num as JavaScript would index an array with
// it: any number equal to an integer in [0, n).
func (w *phWalker) index(val []byte) int {
	if len(val) == 0 || !(val[0] == '-' || isDigit(val[0])) {
		return -1
	}
	f, err := strconv.ParseFloat(string(val), 64)
	if err != nil || f != math.Trunc(f) || f < 0 || f >= float64(w.n) {
		return -1
	}
	return int(f)
}

// checkPlaceholders fails when a placeholder in data does not name one of n
// attachments, as substitute does for decoded data.
func checkPlaceholders(data []byte, n int) error {
	if bytes.Contains(data, []byte("placeholder")) || bytes.Contains(data, []byte(`\u`)) {
		for _, ph := range findPlaceholders(data, n) {
			if ph.num < 0 {
				return fmt.Errorf("%w: placeholder %s with %d attachments", ErrInvalidAttachments, data[ph.start:ph.end], n)
			}
		}
	}
	return nil
}

// RewritePlaceholders appends args, the JSON text of a binary packet's
// arguments (an [Packet.RawArgs] with n attachments), to dst with every
// attachment placeholder replaced by what repl appends for its attachment
// index; text without placeholders is appended unchanged. It fails when a
// placeholder does not name one of the n attachments.
func RewritePlaceholders(dst, args []byte, n int, repl func(dst []byte, num int) []byte) ([]byte, error) {
	last := 0
	for _, ph := range findPlaceholders(args, n) {
		if ph.num < 0 {
			return dst, fmt.Errorf("%w: placeholder %s with %d attachments", ErrInvalidAttachments, args[ph.start:ph.end], n)
		}
		dst = append(dst, args[last:ph.start]...)
		dst = repl(dst, ph.num)
		last = ph.end
	}
	return append(dst, args[last:]...), nil
}

// DecodedSize estimates the bytes the decoded form of the JSON text b
// takes in memory: its length plus 48 bytes per value (the interface in
// its []any or map, the string or json.Number header, map overhead). An
// array of one-digit numbers comes out at about 25 times its length, close
// to what decoding it really costs. It does not decode and allocates
// nothing.
func DecodedSize(b []byte) int {
	values := 1
	inString := false
	for i := 0; i < len(b); i++ {
		c := b[i]
		if inString {
			switch c {
			case '\\':
				i++
			case '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case ',', ':', '[', '{':
			values++
		}
	}
	return len(b) + 48*values
}

// Args returns the arguments of an EVENT (without its name) or ACK packet as
// Go values, the way [Decoder.DecodeText] returns Data: decoded from
// RawArgs when the packet is lazy, with placeholders replaced by their
// attachments for the binary types, or taken from Data otherwise.
func (p *Packet) Args() ([]any, error) {
	if p.RawArgs == nil {
		data, _ := p.Data.([]any)
		if (p.Type == Event || p.Type == BinaryEvent) && len(data) > 0 {
			return data[1:], nil
		}
		return data, nil
	}
	v, err := decodeJSON(p.RawArgs)
	if err != nil {
		return nil, fmt.Errorf("decoding %v arguments: %w", p.Type, err)
	}
	if p.Type == BinaryEvent || p.Type == BinaryAck {
		if v, err = substitute(v, p.Attachments); err != nil {
			return nil, fmt.Errorf("decoding %v arguments: %w", p.Type, err)
		}
	}
	args, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("decoding %v arguments: %w: not an array", p.Type, ErrInvalidPayload)
	}
	return args, nil
}

// appendRaw writes the data of a lazy EVENT or ACK: [Event, args...] or
// [args...] from RawArgs. RawArgs must be a JSON array.
func appendRaw(dst []byte, p *Packet, t Type) ([]byte, error) {
	raw := p.RawArgs
	if !json.Valid(raw) {
		return dst, fmt.Errorf("%w: RawArgs is not valid JSON", ErrInvalidPayload)
	}
	i := skipSpace(raw, 0)
	if i >= len(raw) || raw[i] != '[' {
		return dst, fmt.Errorf("%w: RawArgs is not a JSON array", ErrInvalidPayload)
	}
	if t != Event {
		return append(dst, raw[i:]...), nil
	}
	dst = append(dst, '[')
	dst = appendString(dst, p.Event)
	if j := skipSpace(raw, i+1); j < len(raw) && raw[j] != ']' {
		dst = append(dst, ',')
		dst = append(dst, raw[j:]...)
	} else {
		dst = append(dst, ']')
	}
	// Trailing whitespace after the closing bracket is harmless JSON.
	return dst, nil
}

// WithData returns p when its RawArgs is nil, or else a copy of p with the
// arguments decoded into Data ([Event, args...] for an EVENT) and no
// RawArgs, Event or Attachments: the form a codec that needs Go values
// (MessagePack, a cluster adapter) works with.
func (p *Packet) WithData() (*Packet, error) {
	if p.RawArgs == nil {
		return p, nil
	}
	args, err := p.Args()
	if err != nil {
		return nil, err
	}
	q := &Packet{Type: p.Type, Namespace: p.Namespace, ID: p.ID, HasID: p.HasID, Data: args}
	if p.Type == Event || p.Type == BinaryEvent {
		data := make([]any, 1+len(args))
		data[0] = p.Event
		copy(data[1:], args)
		q.Data = data
	}
	return q, nil
}
