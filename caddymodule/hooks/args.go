package hooks

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"unicode/utf8"

	"github.com/caddy-socketio/caddy-socketio/socketio/parser"
)

// rawArgs are an event's arguments as the client sent them: the JSON text
// of an array and, for a binary event, the attachments its placeholders
// name. The dispatcher never decodes them to build a request.
type rawArgs struct {
	json        json.RawMessage
	attachments [][]byte
	binary      bool
}

// requestJSON returns the "args" of the event's hook request: the client's
// text itself, with each attachment placeholder replaced by
// {"_binary":"<base64>"}. It is the same JSON value the decoded arguments
// encode to (EncodeBinary); where the text could differ in value from that
// (invalid UTF-8, which decoding turns into U+FFFD, or surrogate escapes,
// which decoding turns into U+FFFD when alone), the arguments are decoded
// and encoded instead, as before lazy decoding.
func (a rawArgs) requestJSON() ([]byte, error) {
	raw := a.json
	if len(raw) == 0 {
		return []byte("[]"), nil
	}
	if utf8.Valid(raw) && !hasSurrogateEscape(raw) {
		if !a.binary {
			return raw, nil
		}
		extra := 0
		for _, b := range a.attachments {
			extra += base64.StdEncoding.EncodedLen(len(b)) + len(`{"_binary":""}`)
		}
		out, err := parser.RewritePlaceholders(make([]byte, 0, len(raw)+extra), raw, len(a.attachments),
			func(dst []byte, num int) []byte {
				dst = append(dst, `{"`+BinaryKey+`":"`...)
				dst = base64.StdEncoding.AppendEncode(dst, a.attachments[num])
				return append(dst, `"}`...)
			})
		if err == nil {
			return out, nil
		}
	}
	return a.decodedJSON()
}

// decodedJSON decodes the arguments and encodes them again.
func (a rawArgs) decodedJSON() ([]byte, error) {
	t := parser.Event
	if a.binary {
		t = parser.BinaryEvent
	}
	p := &parser.Packet{Type: t, RawArgs: a.json, Attachments: a.attachments}
	args, err := p.Args()
	if err != nil {
		return nil, err
	}
	if args == nil {
		args = []any{}
	}
	return marshal(EncodeBinary(args))
}

// hasSurrogateEscape reports whether b may hold a \uD800-\uDFFF escape.
func hasSurrogateEscape(b []byte) bool {
	for {
		i := bytes.Index(b, []byte(`\u`))
		if i < 0 || i+3 > len(b)-1 {
			return false
		}
		if (b[i+2] == 'd' || b[i+2] == 'D') && bytes.IndexByte([]byte("89abcdefABCDEF"), b[i+3]) >= 0 {
			return true
		}
		b = b[i+2:]
	}
}
