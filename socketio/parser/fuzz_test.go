package parser

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// The seeds of both fuzzers are the table cases of decode_test.go, which hold
// every example of github.com/socketio/socket.io-protocol They are added with f.Add and
// also kept as files under testdata/fuzz so the corpus lives in the repo;
// TestSeedCorpusFiles checks the two stay in step (-update-corpus rewrites
// the files).
var updateCorpus = flag.Bool("update-corpus", false, "rewrite the fuzz seed files under testdata/fuzz")

type textSeed struct {
	name string
	text []byte
}

type attachmentSeed struct {
	name       string
	text       []byte
	n          byte
	a0, a1, a2 []byte
}

func textSeeds() []textSeed {
	var s []textSeed
	for _, tc := range decodeCases {
		s = append(s, textSeed{tc.name, []byte(tc.text)})
	}
	for _, tc := range decodeErrorCases {
		s = append(s, textSeed{"invalid " + tc.name, []byte(tc.text)})
	}
	return s
}

func attachmentSeeds() []attachmentSeed {
	var s []attachmentSeed
	add := func(name, text string, atts [][]byte) {
		seed := attachmentSeed{name: name, text: []byte(text), n: byte(len(atts))}
		chunks := append(atts, nil, nil, nil)
		seed.a0, seed.a1, seed.a2 = chunks[0], chunks[1], chunks[2]
		s = append(s, seed)
	}
	for _, tc := range decodeCases {
		if len(tc.attachments) <= 3 && (len(tc.attachments) > 0 || tc.text[0] == '5' || tc.text[0] == '6') {
			add(tc.name, tc.text, tc.attachments)
		}
	}
	for _, tc := range decodeErrorCases {
		if len(tc.attachments) > 0 {
			add("invalid "+tc.name, tc.text, tc.attachments)
		}
	}
	add("binary when none expected", `2["x"]`, [][]byte{blob0})
	add("one attachment missing", `62-3[{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`, [][]byte{blob0})
	add("one attachment too many", `51-["upload",{"_placeholder":true,"num":0}]`, [][]byte{blob0, blob1})
	return s
}

func FuzzDecodeText(f *testing.F) {
	for _, s := range textSeeds() {
		f.Add(s.text)
	}
	f.Fuzz(func(t *testing.T, text []byte) {
		var d Decoder
		p, err := d.DecodeText(text)
		if err != nil {
			if p != nil || !errors.Is(err, ErrInvalidPacket) {
				t.Fatalf("DecodeText(%q) = %v, %v: an error must come alone and match ErrInvalidPacket", text, p, err)
			}
			return
		}
		checkLazy(t, text, nil, p, err)
		if p == nil {
			return // a binary packet waiting for attachments
		}
		checkRoundTrip(t, p)
	})
}

func FuzzDecodeWithAttachments(f *testing.F) {
	for _, s := range attachmentSeeds() {
		f.Add(s.text, s.n, s.a0, s.a1, s.a2)
	}
	f.Fuzz(func(t *testing.T, text []byte, n byte, a0, a1, a2 []byte) {
		chunks := [][]byte{a0, a1, a2}[:n%4]
		var d Decoder
		p, err := d.DecodeText(text)
		for _, c := range chunks {
			if p != nil || err != nil {
				// Complete or failed: the decoder is idle again.
				if q, e := d.DecodeBinary(c); q != nil || !errors.Is(e, ErrUnexpectedBinary) {
					t.Fatalf("DecodeBinary on an idle decoder = %v, %v", q, e)
				}
				continue
			}
			p, err = d.DecodeBinary(c)
		}
		checkLazy(t, text, chunks, p, err)
		if err != nil {
			if p != nil || !errors.Is(err, ErrInvalidPacket) {
				t.Fatalf("decode = %v, %v: an error must come alone and match ErrInvalidPacket", p, err)
			}
			return
		}
		if p != nil {
			checkRoundTrip(t, p)
		}
	})
}

// checkLazy decodes text and chunks again with a Lazy decoder: it must
// accept and refuse exactly what the eager one did (want, wantErr), its
// arguments must decode to the same values, and encoding the lazy packet
// (the raw path, no decode) must give a packet that decodes to them too.
func checkLazy(t *testing.T, text []byte, chunks [][]byte, want *Packet, wantErr error) {
	t.Helper()
	d := Decoder{Lazy: true}
	p, err := d.DecodeText(text)
	for _, c := range chunks {
		if p != nil || err != nil {
			break
		}
		p, err = d.DecodeBinary(c)
	}
	if err != nil && want == nil && wantErr == nil {
		// The eager decoder checks placeholders once the attachments
		// are in; the lazy one checks them against the announced count
		// at once.
		return
	}
	if (err != nil) != (wantErr != nil) || (p == nil) != (want == nil) {
		t.Fatalf("lazy decode of %q = %v, %v; eager = %v, %v", text, p, err, want, wantErr)
	}
	if err != nil {
		if !errors.Is(err, ErrInvalidPacket) {
			t.Fatalf("lazy decode error %v does not match ErrInvalidPacket", err)
		}
		return
	}
	if p == nil {
		return
	}
	if p.RawArgs == nil {
		if !reflect.DeepEqual(p, want) {
			t.Fatalf("lazy decode of %q (not lazy) = %#v, want %#v", text, p, want)
		}
		return
	}
	if size := DecodedSize(p.RawArgs); size < len(p.RawArgs) {
		t.Fatalf("DecodedSize(%q) = %d", p.RawArgs, size)
	}
	got, err := p.WithData()
	if err != nil {
		t.Fatalf("lazy packet of %q does not decode: %v", text, err)
	}
	if !reflect.DeepEqual(nameAsString(got), nameAsString(want)) {
		t.Fatalf("lazy decode of %q:\n got %#v\nwant %#v", text, got, want)
	}
	enc, atts, err := Encode(p)
	if err != nil {
		t.Fatalf("Encode(lazy %#v): %v", p, err)
	}
	var e Decoder
	q, err := e.DecodeText(enc)
	for _, a := range atts {
		if err != nil || q != nil {
			break
		}
		q, err = e.DecodeBinary(a)
	}
	if err != nil || q == nil {
		t.Fatalf("decoding the raw encoding %q: %v, %v", enc, q, err)
	}
	if !reflect.DeepEqual(nameAsString(normalize(q)), nameAsString(normalize(want))) {
		t.Fatalf("raw encoding %q of %q:\n got %#v\nwant %#v", enc, text, q, want)
	}
}

// nameAsString writes an event's numeric name as the string handlers see.
func nameAsString(p *Packet) *Packet {
	q := *p
	if data, ok := q.Data.([]any); ok && len(data) > 0 && (q.Type == Event || q.Type == BinaryEvent) {
		if n, ok := data[0].(json.Number); ok {
			d := append([]any{string(n)}, data[1:]...)
			q.Data = d
		}
	}
	return &q
}

// checkRoundTrip encodes a decoded packet and decodes the result again; the
// two packets must be equal up to normalize.
func checkRoundTrip(t *testing.T, p *Packet) {
	t.Helper()
	if p.Namespace == "" {
		t.Fatalf("decoded packet %#v has an empty namespace", p)
	}
	text, atts, err := Encode(p)
	if err != nil {
		t.Fatalf("Encode(%#v): %v", p, err)
	}
	if bytes.IndexByte(text, 0x1e) >= 0 {
		t.Fatalf("Encode(%#v) = %q: a raw 0x1e would break polling framing", p, text)
	}
	var d Decoder
	q, err := d.DecodeText(text)
	for i, a := range atts {
		if err != nil || q != nil {
			t.Fatalf("decoding %q again: %v, %v before attachment %d of %d", text, q, err, i, len(atts))
		}
		q, err = d.DecodeBinary(a)
	}
	if err != nil || q == nil {
		t.Fatalf("decoding %q again: %v, %v", text, q, err)
	}
	if !reflect.DeepEqual(normalize(p), normalize(q)) {
		t.Fatalf("round trip via %q:\n got %#v\nwant %#v", text, q, p)
	}
}

// normalize maps BINARY_EVENT/BINARY_ACK to EVENT/ACK: Encode picks the type
// from the content, so a "50-" packet comes back as an EVENT. json.Number needs
// no normalising since Encode writes it verbatim, so the comparison stays
// strict about number text.
func normalize(p *Packet) *Packet {
	q := *p
	switch q.Type {
	case BinaryEvent:
		q.Type = Event
	case BinaryAck:
		q.Type = Ack
	}
	return &q
}

// corpusFile renders values in the "go test fuzz v1" format.
func corpusFile(values ...any) []byte {
	var b strings.Builder
	b.WriteString("go test fuzz v1\n")
	for _, v := range values {
		switch v := v.(type) {
		case []byte:
			fmt.Fprintf(&b, "[]byte(%s)\n", strconv.Quote(string(v)))
		case byte:
			fmt.Fprintf(&b, "byte(%q)\n", v)
		default:
			panic(fmt.Sprintf("corpusFile: unsupported %T", v))
		}
	}
	return []byte(b.String())
}

func seedFileName(name string) string {
	return "seed-" + strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			return r
		}
		if r >= 'A' && r <= 'Z' {
			return r + 'a' - 'A'
		}
		return '-'
	}, name)
}

func TestSeedCorpusFiles(t *testing.T) {
	files := map[string][]byte{}
	for _, s := range textSeeds() {
		files[filepath.Join("FuzzDecodeText", seedFileName(s.name))] = corpusFile(s.text)
	}
	for _, s := range attachmentSeeds() {
		files[filepath.Join("FuzzDecodeWithAttachments", seedFileName(s.name))] = corpusFile(s.text, s.n, s.a0, s.a1, s.a2)
	}
	for name, want := range files {
		path := filepath.Join("testdata", "fuzz", name)
		if *updateCorpus {
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, want, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("seed file %s is missing or stale (run go test -run TestSeedCorpusFiles -update-corpus): %v", path, err)
		}
	}
}

func TestDeepestDecodableDataEncodes(t *testing.T) {
	// encoding/json refuses nesting beyond 10000; Encode must accept
	// everything up to that, or decoded packets could not be forwarded.
	const depth = 10000
	text := `2["x",` + strings.Repeat("[", depth-1) + strings.Repeat("]", depth-1) + `]`
	var d Decoder
	p, err := d.DecodeText([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	checkRoundTrip(t, p)
	if _, err := d.DecodeText([]byte(`2["x",` + strings.Repeat("[", depth) + strings.Repeat("]", depth) + `]`)); err == nil {
		t.Fatal("nesting beyond 10000 decoded; maxDepth no longer matches encoding/json")
	}
}
