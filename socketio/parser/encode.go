package parser

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"sync"
	"unicode/utf8"
)

// maxDepth bounds the nesting of []any and map[string]any that Encode walks.
// It equals encoding/json's decoding limit, so everything the Decoder returns
// can be encoded again, while a value that contains itself fails instead of
// overflowing the stack.
const maxDepth = 10000

// maxPooledBuf is the largest buffer Encode keeps for reuse; a rare huge
// packet should not pin its memory in the pool forever.
const maxPooledBuf = 64 << 10

var textBufPool = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// Encode returns the text form of p, without the Engine.IO message prefix
// "4", and its binary attachments, to be sent as one engine text message
// followed by one engine binary message per attachment, in order.
//
// Data may hold any value encoding/json accepts. nil, bool, string,
// json.Number, json.RawMessage, the integer and float types, []byte, []any
// and map[string]any are written directly, as JSON.stringify would write them
// (compact, no HTML escaping; map keys sorted, since Go maps have no order).
// json.Number and json.RawMessage are written verbatim once checked to be
// valid JSON. Anything else (structs, typed maps and slices, Marshalers)
// goes through encoding/json with HTML escaping off.
//
// For Event and Ack, and their binary forms, each []byte that is Data itself
// or sits anywhere inside nested []any and map[string]any values becomes an
// attachment: it is replaced, depth first in the order it appears in the
// JSON, by {"_placeholder":true,"num":i}, and the packet is written as
// BinaryEvent or BinaryAck with the attachment count before "-" (github.com/socketio/socket.io-protocol). Without a []byte the plain type is written, even if p.Type is the
// binary one. A []byte reached through any other type (a struct field, a
// map[string][]byte, a [][]byte), or in the data of any other packet type,
// follows encoding/json and becomes a base64 string. More than
// MaxAttachments blobs fail with ErrTooManyAttachments, since a stock peer
// refuses them.
//
// The returned attachments alias the caller's byte slices; Data itself is
// never modified. The text is a new slice owned by the caller, so the result
// of one Encode can be queued to many recipients.
func Encode(p *Packet) (text []byte, attachments [][]byte, err error) {
	bp := textBufPool.Get().(*[]byte)
	b, attachments, err := AppendEncode((*bp)[:0], p)
	if err == nil {
		text = bytes.Clone(b)
	}
	if cap(b) <= maxPooledBuf {
		*bp = b[:0]
		textBufPool.Put(bp)
	}
	return text, attachments, err
}

// AppendEncode is like [Encode] but appends the text form of p to dst and
// returns the extended slice, for callers that keep their own buffers. On
// error it returns dst unchanged.
func AppendEncode(dst []byte, p *Packet) ([]byte, [][]byte, error) {
	t := p.Type
	if !t.valid() {
		return dst, nil, fmt.Errorf("encoding packet of type %d: %w", byte(t), ErrUnknownType)
	}
	nsp := p.Namespace
	if nsp == "" {
		nsp = "/"
	}
	if nsp != "/" && !validNamespace(nsp) {
		return dst, nil, fmt.Errorf("encoding %v packet for namespace %q: %w", t, nsp, ErrInvalidNamespace)
	}
	if p.HasID && p.ID > MaxAckID {
		return dst, nil, fmt.Errorf("encoding %v packet with ack id %d: %w", t, p.ID, ErrInvalidAckID)
	}

	// For the event and ack types, blobs become attachments and decide
	// between the plain and the binary type (github.com/socketio/socket.io-protocol). The count
	// goes before the JSON but is only known after writing it, so the
	// header is patched afterwards; walking the data once instead of
	// counting first keeps the common, blob-free broadcast cheap.
	var e encoder
	switch t {
	case Event, BinaryEvent:
		t, e.binary = Event, true
	case Ack, BinaryAck:
		t, e.binary = Ack, true
	}

	start := len(dst)
	dst = append(dst, '0'+byte(t))
	if nsp != "/" {
		// The comma is written even when nothing follows, as Node does
		// ("1/admin,"); the decoder accepts both forms.
		dst = append(dst, nsp...)
		dst = append(dst, ',')
	}
	if p.HasID {
		dst = strconv.AppendUint(dst, p.ID, 10)
	}
	if p.RawArgs != nil && e.binary {
		return appendRawPacket(dst, start, p, t)
	}
	if p.Data == nil {
		return dst, nil, nil
	}
	dst, err := e.appendValue(dst, p.Data, 0)
	if err != nil {
		return dst[:start], nil, fmt.Errorf("encoding %v data: %w", t, err)
	}
	n := len(e.attachments) // at most MaxAttachments, checked as they are found
	if n == 0 {
		return dst, nil, nil
	}
	if t == Event {
		t = BinaryEvent
	} else {
		t = BinaryAck
	}
	// n <= 10, so the count is at most two digits: "5" becomes "510-".
	var count [3]byte
	c := strconv.AppendInt(count[:0], int64(n), 10)
	c = append(c, '-')
	dst = slices.Insert(dst, start+1, c...)
	dst[start] = '0' + byte(t)
	return dst, e.attachments, nil
}

// appendRawPacket writes the data of a packet whose RawArgs is set after
// the header that starts at dst[start], and the attachment count when it
// has attachments.
func appendRawPacket(dst []byte, start int, p *Packet, t Type) ([]byte, [][]byte, error) {
	dst, err := appendRaw(dst, p, t)
	if err != nil {
		return dst[:start], nil, fmt.Errorf("encoding %v data: %w", t, err)
	}
	n := len(p.Attachments)
	if n == 0 {
		return dst, nil, nil
	}
	if n > MaxAttachments {
		return dst[:start], nil, fmt.Errorf("encoding %v data: %d attachments: %w", t, n, ErrTooManyAttachments)
	}
	c := strconv.AppendInt(nil, int64(n), 10)
	c = append(c, '-')
	dst = slices.Insert(dst, start+1, c...)
	dst[start] = '0' + byte(t) + 3 // Event -> BinaryEvent, Ack -> BinaryAck
	return dst, p.Attachments, nil
}

// validNamespace reports whether nsp survives a round trip: it must start
// with "/" and cannot hold "," (the decoder ends the namespace there). Control
// characters are refused too: a namespace is echoed back to the client (in
// CONNECT_ERROR, for one), and a 0x1e in it would split the polling payload
// that carries it (github.com/socketio/engine.io-protocol).
func validNamespace(nsp string) bool {
	if len(nsp) == 0 || nsp[0] != '/' {
		return false
	}
	for i := 1; i < len(nsp); i++ {
		if c := nsp[i]; c == ',' || c < 0x20 || c == 0x7f {
			return false
		}
	}
	return true
}

var errTooDeep = fmt.Errorf("%w: data nested deeper than %d levels (or it contains itself)", ErrInvalidPayload, maxDepth)

// encoder writes JSON the way JSON.stringify does, for the dynamic types the
// codec deals in, without the reflection cost of encoding/json. When binary
// is set it turns every []byte into a placeholder and collects it.
type encoder struct {
	binary      bool
	attachments [][]byte
}

func (e *encoder) appendValue(dst []byte, v any, depth int) ([]byte, error) {
	switch v := v.(type) {
	case nil:
		return append(dst, "null"...), nil
	case string:
		return appendString(dst, v), nil
	case bool:
		return strconv.AppendBool(dst, v), nil
	case json.Number:
		return appendNumber(dst, v)
	case float64:
		return appendFloat(dst, v, 64)
	case float32:
		return appendFloat(dst, float64(v), 32)
	case int:
		return strconv.AppendInt(dst, int64(v), 10), nil
	case int64:
		return strconv.AppendInt(dst, v, 10), nil
	case int32:
		return strconv.AppendInt(dst, int64(v), 10), nil
	case int16:
		return strconv.AppendInt(dst, int64(v), 10), nil
	case int8:
		return strconv.AppendInt(dst, int64(v), 10), nil
	case uint:
		return strconv.AppendUint(dst, uint64(v), 10), nil
	case uint64:
		return strconv.AppendUint(dst, v, 10), nil
	case uint32:
		return strconv.AppendUint(dst, uint64(v), 10), nil
	case uint16:
		return strconv.AppendUint(dst, uint64(v), 10), nil
	case uint8:
		return strconv.AppendUint(dst, uint64(v), 10), nil
	case []any:
		if v == nil {
			return append(dst, "null"...), nil // as encoding/json
		}
		if depth >= maxDepth {
			return dst, errTooDeep
		}
		dst = append(dst, '[')
		for i, elem := range v {
			if i > 0 {
				dst = append(dst, ',')
			}
			var err error
			if dst, err = e.appendValue(dst, elem, depth+1); err != nil {
				return dst, err
			}
		}
		return append(dst, ']'), nil
	case map[string]any:
		if v == nil {
			return append(dst, "null"...), nil
		}
		if depth >= maxDepth {
			return dst, errTooDeep
		}
		return e.appendObject(dst, v, depth)
	case []byte:
		if e.binary {
			if len(e.attachments) == MaxAttachments {
				return dst, fmt.Errorf("more than %d blobs: %w", MaxAttachments, ErrTooManyAttachments)
			}
			dst = append(dst, `{"_placeholder":true,"num":`...)
			dst = strconv.AppendInt(dst, int64(len(e.attachments)), 10)
			if e.attachments == nil {
				e.attachments = make([][]byte, 0, 4) // most packets carry few blobs
			}
			e.attachments = append(e.attachments, v)
			return append(dst, '}'), nil
		}
		if v == nil {
			return append(dst, "null"...), nil
		}
		dst = append(dst, '"')
		dst = base64.StdEncoding.AppendEncode(dst, v)
		return append(dst, '"'), nil
	case json.RawMessage:
		if v == nil {
			return append(dst, "null"...), nil
		}
		// Invalid JSON here could carry a raw 0x1e and break polling
		// framing for every recipient, so check before writing it.
		if !json.Valid(v) {
			return dst, fmt.Errorf("%w: json.RawMessage is not valid JSON", ErrInvalidPayload)
		}
		return append(dst, v...), nil
	}
	return appendMarshaled(dst, v)
}

func (e *encoder) appendObject(dst []byte, m map[string]any, depth int) ([]byte, error) {
	// Sorted keys make the output deterministic and put attachments in
	// the order their placeholders appear. A small array keeps the usual
	// handful of keys off the heap.
	var small [8]string
	keys := small[:0]
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	dst = append(dst, '{')
	for i, k := range keys {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendString(dst, k)
		dst = append(dst, ':')
		var err error
		if dst, err = e.appendValue(dst, m[k], depth+1); err != nil {
			return dst, err
		}
	}
	return append(dst, '}'), nil
}

const hexDigits = "0123456789abcdef"

// appendString writes s as a JSON string the way JSON.stringify does: only
// '"', '\\' and control characters are escaped (\b \f \n \r \t by name, the
// rest as \u00xx, so 0x1e never appears raw). Invalid UTF-8, which a JS string
// cannot hold, becomes \ufffd as in encoding/json.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// appendFloat formats f like JavaScript's Number.prototype.toString (and
// encoding/json): integers without ".0", exponent form outside [1e-6, 1e21).
func appendFloat(dst []byte, f float64, bits int) ([]byte, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return dst, fmt.Errorf("%w: unsupported number %v", ErrInvalidPayload, f)
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 {
		if bits == 64 && (abs < 1e-6 || abs >= 1e21) || bits == 32 && (float32(abs) < 1e-6 || float32(abs) >= 1e21) {
			format = 'e'
		}
	}
	dst = strconv.AppendFloat(dst, f, format, -1, bits)
	if format == 'e' {
		// Go writes 1e-07 where JavaScript writes 1e-7.
		n := len(dst)
		if n >= 4 && dst[n-4] == 'e' && dst[n-3] == '-' && dst[n-2] == '0' {
			dst[n-2] = dst[n-1]
			dst = dst[:n-1]
		}
	}
	return dst, nil
}

// appendNumber writes a json.Number verbatim, so numbers the Decoder kept as
// text (big integers, exact decimals) go back out unchanged. Like
// encoding/json, the empty Number is written as 0 and an invalid one is an
// error.
func appendNumber(dst []byte, n json.Number) ([]byte, error) {
	if n == "" {
		return append(dst, '0'), nil
	}
	if !validNumber(string(n)) {
		return dst, fmt.Errorf("%w: invalid json.Number %q", ErrInvalidPayload, string(n))
	}
	return append(dst, n...), nil
}

// validNumber reports whether s is a JSON number literal (RFC 8259 §6).
func validNumber(s string) bool {
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && s[i] >= '1' && s[i] <= '9':
		for i < len(s) && isDigit(s[i]) {
			i++
		}
	default:
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		if i == len(s) || !isDigit(s[i]) {
			return false
		}
		for i < len(s) && isDigit(s[i]) {
			i++
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if i == len(s) || !isDigit(s[i]) {
			return false
		}
		for i < len(s) && isDigit(s[i]) {
			i++
		}
	}
	return i == len(s)
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// jsonEncoder is a reusable encoding/json encoder for the values the fast
// path does not know (structs, typed maps and slices, Marshalers).
type jsonEncoder struct {
	buf bytes.Buffer
	enc *json.Encoder
}

var jsonEncoderPool = sync.Pool{New: func() any {
	je := &jsonEncoder{}
	je.enc = json.NewEncoder(&je.buf)
	je.enc.SetEscapeHTML(false) // JSON.stringify does not escape <, > and &
	return je
}}

func appendMarshaled(dst []byte, v any) ([]byte, error) {
	je := jsonEncoderPool.Get().(*jsonEncoder)
	defer func() {
		if je.buf.Cap() <= maxPooledBuf {
			je.buf.Reset()
			jsonEncoderPool.Put(je)
		}
	}()
	if err := je.enc.Encode(v); err != nil {
		return dst, fmt.Errorf("%w: %w", ErrInvalidPayload, err)
	}
	// Encode terminates each value with a newline that is not part of it.
	return append(dst, bytes.TrimSuffix(je.buf.Bytes(), []byte{'\n'})...), nil
}
