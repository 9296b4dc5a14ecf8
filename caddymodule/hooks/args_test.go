package hooks

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/caddy-socketio/caddy-socketio/socketio/parser"
)

// lazyEvent decodes one event (text, then attachments) as the server does.
func lazyEvent(t *testing.T, text string, atts ...[]byte) *parser.Packet {
	t.Helper()
	d := parser.Decoder{Lazy: true}
	p, err := d.DecodeText([]byte(text))
	for _, a := range atts {
		if err != nil {
			break
		}
		p, err = d.DecodeBinary(a)
	}
	if err != nil || p == nil {
		t.Fatalf("decoding %q: %v, %v", text, p, err)
	}
	return p
}

func argsOf(p *parser.Packet) rawArgs {
	return rawArgs{json: p.RawArgs, attachments: p.Attachments, binary: p.Type == parser.BinaryEvent}
}

// sameJSONValue decodes a and b (numbers as text) and compares the values.
func sameJSONValue(t *testing.T, a, b []byte) bool {
	t.Helper()
	dec := func(x []byte) any {
		d := json.NewDecoder(bytes.NewReader(x))
		d.UseNumber()
		var v any
		if err := d.Decode(&v); err != nil {
			t.Fatalf("%q is not JSON: %v", x, err)
		}
		return v
	}
	return reflect.DeepEqual(dec(a), dec(b))
}

// TestRequestArgsAreTheClientBytes: the "args" of a hook request are the
// client's JSON text itself (attachments as {"_binary": ...}), and that
// text is the same JSON value as the decoded-and-encoded arguments hooks
// received before lazy decoding.
func TestRequestArgsAreTheClientBytes(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		atts       [][]byte
		want       string // the exact args, "" for the decoded form
	}{
		{"no args", `2["e"]`, nil, `[]`},
		{"numbers kept as written", `2["e",1,1.50,-0,1e400,12345678901234567890]`, nil, `[1,1.50,-0,1e400,12345678901234567890]`},
		{"object key order and spaces kept", `2["e", {"z":1, "a":{"b":[true,null]}} ]`, nil, `[ {"z":1, "a":{"b":[true,null]}} ]`},
		{"escapes kept", `2["e","<é>\u00e9\n\"","\ud83d\ude00"]`, nil, ""},
		{"html not escaped", `2["e","<a href='x'>&</a>"]`, nil, `["<a href='x'>&</a>"]`},
		{"binary", `51-["e",{"_placeholder":true,"num":0},{"k":[{"_placeholder":true,"num":0}]}]`, [][]byte{{0xde, 0xad, 0xbe, 0xef}},
			`[{"_binary":"3q2+7w=="},{"k":[{"_binary":"3q2+7w=="}]}]`},
		{"binary, num written 0.0e0", `52-["e",{"num":1.0e0,"_placeholder":true},{"_placeholder":true,"num":0}]`, [][]byte{{1}, {}},
			`[{"_binary":""},{"_binary":"AQ=="}]`},
		{"placeholder in a plain event stays an object", `2["e",{"_placeholder":true,"num":0}]`, nil, `[{"_placeholder":true,"num":0}]`},
		{"lone surrogate: decoded", `2["e","\ud800"]`, nil, ""},
		{"invalid UTF-8: decoded", "2[\"e\",\"\xff\"]", nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := argsOf(lazyEvent(t, tc.text, tc.atts...))
			got, err := a.requestJSON()
			if err != nil {
				t.Fatal(err)
			}
			before, err := a.decodedJSON()
			if err != nil {
				t.Fatal(err)
			}
			if tc.want != "" && string(got) != tc.want {
				t.Fatalf("args %s, want %s", got, tc.want)
			}
			if tc.want == "" && !json.Valid(got) {
				t.Fatalf("args %q are not valid JSON", got)
			}
			if !sameJSONValue(t, got, before) {
				t.Fatalf("args %s differ in value from the decoded form %s", got, before)
			}
		})
	}
	// Where the text and the decoded form could differ, the decoded form
	// is sent, exactly as before.
	a := argsOf(lazyEvent(t, "2[\"e\",\"\xff\",\"\\ud800\"]"))
	got, _ := a.requestJSON()
	if string(got) != "[\"\ufffd\",\"\ufffd\"]" {
		t.Fatalf("args %q", got)
	}
}

// FuzzRequestArgs: for any event the lazy decoder accepts, the hook args
// are valid JSON, of the same value as the decoded arguments encoded.
func FuzzRequestArgs(f *testing.F) {
	for _, s := range []string{`2["e",1,{"a":[1,2]},"x"]`, `51-["e",{"_placeholder":true,"num":0}]`, `2["e","\ud800"]`, "2[\"e\",\"\xfe\"]"} {
		f.Add([]byte(s), []byte{1, 2})
	}
	f.Fuzz(func(t *testing.T, text, att []byte) {
		d := parser.Decoder{Lazy: true}
		p, err := d.DecodeText(text)
		if err != nil {
			return
		}
		for p == nil && err == nil {
			p, err = d.DecodeBinary(att)
		}
		if err != nil || p.RawArgs == nil || p.Event == "" && p.Type != parser.Event && p.Type != parser.BinaryEvent {
			return
		}
		if p.Type != parser.Event && p.Type != parser.BinaryEvent {
			return
		}
		a := argsOf(p)
		got, err := a.requestJSON()
		if err != nil {
			t.Fatalf("requestJSON(%q): %v", text, err)
		}
		before, err := a.decodedJSON()
		if err != nil {
			t.Fatalf("decodedJSON(%q): %v", text, err)
		}
		if !json.Valid(got) || !sameJSONValue(t, got, before) {
			t.Fatalf("args %q differ from the decoded form %q", got, before)
		}
	})
}
