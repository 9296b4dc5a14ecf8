package engine

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"
)

// wsEvent is what a reader produced: a message or control frame, or the
// close code of the error that ended the stream.
type wsEvent struct {
	op   byte
	data string
	code uint16 // error: close code sent
}

func (e wsEvent) String() string {
	if e.code != 0 {
		return fmt.Sprintf("error %d", e.code)
	}
	return fmt.Sprintf("op %d %q", e.op, e.data)
}

// feedChunks runs a wsReader over stream cut into the given chunk sizes
// (the rest in one piece) and returns what it produced.
func feedChunks(limit int64, stream []byte, sizes []int) []wsEvent {
	r := wsReader{limit: limit}
	var out []wsEvent
	feed := func(b []byte) bool {
		for len(b) > 0 {
			op, data, n, err := r.next(b)
			if n <= 0 && err == nil && op == 0 {
				panic("no progress")
			}
			b = b[n:]
			if err != nil {
				out = append(out, wsEvent{code: frameErrorCode(err)})
				return false
			}
			if op != 0 {
				out = append(out, wsEvent{op: op, data: string(data)})
			} else if len(b) != 0 {
				panic("op 0 with bytes left")
			}
		}
		return true
	}
	for _, k := range sizes {
		if len(stream) == 0 {
			break
		}
		k = min(k, len(stream))
		if !feed(stream[:k]) {
			return out
		}
		stream = stream[k:]
	}
	feed(stream)
	return out
}

// refDecode is a plain, non-incremental reading of RFC 6455 client frames
// (with the same checks) to compare wsReader against.
func refDecode(limit int64, b []byte) []wsEvent {
	var out []wsEvent
	fail := func(code uint16) []wsEvent { return append(out, wsEvent{code: code}) }
	var msgOp byte
	var msg []byte
	for {
		if len(b) < 2 {
			return out
		}
		b0, b1 := b[0], b[1]
		hl := 2
		switch b1 & 0x7f {
		case 126:
			hl += 2
		case 127:
			hl += 8
		}
		if b1&0x80 != 0 {
			hl += 4
		}
		if len(b) < hl {
			return out
		}
		if b0&0x70 != 0 || b1&0x80 == 0 {
			return fail(1002)
		}
		var length uint64
		switch b1 & 0x7f {
		case 126:
			length = uint64(binary.BigEndian.Uint16(b[2:]))
		case 127:
			length = binary.BigEndian.Uint64(b[2:])
			if length >= 1<<63 {
				return fail(1002)
			}
		default:
			length = uint64(b1 & 0x7f)
		}
		mask := b[hl-4 : hl]
		op, fin := b0&0xf, b0&0x80 != 0
		switch op {
		case 8, 9, 10:
			if !fin || length > 125 {
				return fail(1002)
			}
		case 0:
			if msgOp == 0 {
				return fail(1002)
			}
		case 1, 2:
			if msgOp != 0 {
				return fail(1002)
			}
		default:
			return fail(1002)
		}
		if op < 8 {
			if limit > 0 && uint64(len(msg))+length > uint64(limit) {
				return fail(1009)
			}
			if op != 0 {
				msgOp = op
			}
		}
		if uint64(len(b)-hl) < length {
			return out
		}
		p := bytes.Clone(b[hl : hl+int(length)])
		for i := range p {
			p[i] ^= mask[i%4]
		}
		b = b[hl+int(length):]
		if op >= 8 {
			if op == 8 && len(p) > 0 {
				code := int(binary.BigEndian.Uint16(append(p, 0))) // 1 byte: invalid code
				switch {
				case len(p) == 1 || !(code >= 1000 && code <= 1003 || code >= 1007 && code <= 1014 || code >= 3000 && code <= 4999):
					return fail(1002)
				case !utf8.Valid(p[2:]):
					return fail(1007)
				}
			}
			out = append(out, wsEvent{op: op, data: string(p)})
			continue
		}
		msg = append(msg, p...)
		if fin {
			if msgOp == opText && !utf8.Valid(msg) {
				return fail(1007)
			}
			out = append(out, wsEvent{op: msgOp, data: string(msg)})
			msgOp, msg = 0, nil
		}
	}
}

// clientFrame encodes one masked client frame.
func clientFrame(fin bool, op byte, payload []byte, mask [4]byte) []byte {
	b0 := op
	if fin {
		b0 |= 0x80
	}
	var b []byte
	switch n := len(payload); {
	case n < 126:
		b = []byte{b0, 0x80 | byte(n)}
	case n <= 0xffff:
		b = []byte{b0, 0x80 | 126, byte(n >> 8), byte(n)}
	default:
		b = binary.BigEndian.AppendUint64([]byte{b0, 0x80 | 127}, uint64(n))
	}
	b = append(b, mask[:]...)
	for i, c := range payload {
		b = append(b, c^mask[i%4])
	}
	return b
}

var testMask = [4]byte{0x37, 0xfa, 0x21, 0x3d}

func TestWSReader(t *testing.T) {
	long := strings.Repeat("0123456789abcdef", 5000) // 80,000 bytes: 64-bit length
	mid := strings.Repeat("x", 300)                  // 16-bit length
	cat := func(frames ...[]byte) []byte { return bytes.Join(frames, nil) }
	f := func(fin bool, op byte, p string) []byte { return clientFrame(fin, op, []byte(p), testMask) }
	for _, tc := range []struct {
		name   string
		limit  int64
		stream []byte
		want   []wsEvent
	}{
		{"text", 0, f(true, opText, "4hello"), []wsEvent{{op: opText, data: "4hello"}}},
		{"empty binary", 0, f(true, opBinary, ""), []wsEvent{{op: opBinary, data: ""}}},
		{"16-bit length", 0, f(true, opText, mid), []wsEvent{{op: opText, data: mid}}},
		{"64-bit length", 0, f(true, opBinary, long), []wsEvent{{op: opBinary, data: long}}},
		{"several", 0, cat(f(true, opText, "4a"), f(true, opBinary, "\x01\x02"), f(true, opText, "3")),
			[]wsEvent{{op: opText, data: "4a"}, {op: opBinary, data: "\x01\x02"}, {op: opText, data: "3"}}},
		{"fragments with a ping between", 0,
			cat(f(false, opText, "4he"), f(true, opPing, "p"), f(false, opContinuation, ""), f(true, opContinuation, "llo")),
			[]wsEvent{{op: opPing, data: "p"}, {op: opText, data: "4hello"}}},
		{"pong and close", 0, cat(f(true, opPong, "x"), f(true, opClose, "\x03\xe8bye")),
			[]wsEvent{{op: opPong, data: "x"}, {op: opClose, data: "\x03\xe8bye"}}},
		{"empty close", 0, f(true, opClose, ""), []wsEvent{{op: opClose, data: ""}}},
		{"at the limit", 10, cat(f(false, opText, "01234"), f(true, opContinuation, "56789")),
			[]wsEvent{{op: opText, data: "0123456789"}}},
		{"over the limit", 10, f(true, opText, "0123456789a"), []wsEvent{{code: 1009}}},
		{"over the limit in fragments", 10, cat(f(false, opText, "012345"), f(true, opContinuation, "6789a")), []wsEvent{{code: 1009}}},
		{"unmasked", 0, []byte{0x81, 0x01, 'x'}, []wsEvent{{code: 1002}}},
		{"reserved bit", 0, append([]byte{0xc1}, f(true, opText, "x")[1:]...), []wsEvent{{code: 1002}}},
		{"unknown opcode", 0, f(true, 0x3, "x"), []wsEvent{{code: 1002}}},
		{"unknown control opcode", 0, f(true, 0xb, "x"), []wsEvent{{code: 1002}}},
		{"fragmented ping", 0, f(false, opPing, "x"), []wsEvent{{code: 1002}}},
		{"long ping", 0, f(true, opPing, mid), []wsEvent{{code: 1002}}},
		{"lone continuation", 0, f(true, opContinuation, "x"), []wsEvent{{code: 1002}}},
		{"message inside a message", 0, cat(f(false, opText, "4"), f(true, opText, "x")), []wsEvent{{code: 1002}}},
		{"close with 1 byte", 0, f(true, opClose, "\x03"), []wsEvent{{code: 1002}}},
		{"close with code 1005", 0, f(true, opClose, "\x03\xed"), []wsEvent{{code: 1002}}},
		{"close with bad UTF-8", 0, f(true, opClose, "\x03\xe8\xff"), []wsEvent{{code: 1007}}},
		{"text with bad UTF-8", 0, f(true, opText, "4caf\xc3"), []wsEvent{{code: 1007}}},
		{"binary with bad UTF-8", 0, f(true, opBinary, "\xff"), []wsEvent{{op: opBinary, data: "\xff"}}},
		{"UTF-8 split across fragments", 0, cat(f(false, opText, "4caf\xc3"), f(true, opContinuation, "\xa9")),
			[]wsEvent{{op: opText, data: "4caf\u00e9"}}},
		{"bad UTF-8 across fragments", 0, cat(f(false, opText, "4caf\xc3"), f(true, opContinuation, "e")), []wsEvent{{code: 1007}}},
		{"long text, bad UTF-8 at the end", 0, f(true, opText, mid+"\xe2\x82"), []wsEvent{{code: 1007}}},
		{"64-bit length with the top bit", 0, []byte{0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4}, []wsEvent{{code: 1002}}},
		{"partial frame", 0, f(true, opText, "4hello")[:7], nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := refDecode(tc.limit, tc.stream); fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Fatalf("reference decoder: %v", got)
			}
			want := fmt.Sprint(tc.want)
			if got := feedChunks(tc.limit, tc.stream, nil); fmt.Sprint(got) != want {
				t.Fatalf("in one piece: %v, want %v", got, want)
			}
			ones := make([]int, len(tc.stream))
			for i := range ones {
				ones[i] = 1
			}
			if got := feedChunks(tc.limit, tc.stream, ones); fmt.Sprint(got) != want {
				t.Fatalf("byte by byte: %v, want %v", got, want)
			}
			if len(tc.stream) > 2000 {
				return
			}
			for cut := 1; cut < len(tc.stream); cut++ {
				if got := feedChunks(tc.limit, tc.stream, []int{cut}); fmt.Sprint(got) != want {
					t.Fatalf("cut at %d: %v, want %v", cut, got, want)
				}
			}
		})
	}
}

// TestWSReaderIdle: after whole frames the reader holds no buffer.
func TestWSReaderIdle(t *testing.T) {
	r := wsReader{limit: 1 << 20}
	stream := bytes.Join([][]byte{
		clientFrame(false, opBinary, []byte("ab"), testMask),
		clientFrame(true, opPing, []byte("p"), testMask),
		clientFrame(true, opContinuation, []byte("cd"), testMask),
	}, nil)
	for len(stream) > 0 {
		_, _, n, err := r.next(stream[:min(3, len(stream))])
		if err != nil {
			t.Fatal(err)
		}
		stream = stream[n:]
	}
	if r.msg != nil || r.ctl != nil || r.inFrame || r.hdrLen != 0 || r.msgOp != 0 {
		t.Fatalf("state left: %+v", r)
	}
}

func TestMaskBytes(t *testing.T) {
	for n := 0; n < 40; n++ {
		for off := uint8(0); off < 4; off++ {
			b := bytes.Repeat([]byte{0x5a}, n)
			got := maskBytes(testMask, off, b)
			for i := range b {
				if b[i] != 0x5a^testMask[(int(off)+i)%4] {
					t.Fatalf("n %d off %d: byte %d", n, off, i)
				}
			}
			if int(got) != (int(off)+n)%4 {
				t.Fatalf("n %d off %d: next %d", n, off, got)
			}
		}
	}
}

// FuzzWSFrames feeds arbitrary bytes, cut into arbitrary chunks, to the
// incremental frame reader and compares with the plain reference reading
// of the whole stream (and with the reader fed in one piece).
func FuzzWSFrames(f *testing.F) {
	f.Fuzz(func(t *testing.T, stream []byte, cuts []byte, limit uint16) {
		sizes := make([]int, len(cuts))
		for i, c := range cuts {
			sizes[i] = int(c) + 1
		}
		want := fmt.Sprint(refDecode(int64(limit), stream))
		if got := fmt.Sprint(feedChunks(int64(limit), stream, sizes)); got != want {
			t.Fatalf("chunks %v: %s, reference %s", sizes, got, want)
		}
		if got := fmt.Sprint(feedChunks(int64(limit), stream, nil)); got != want {
			t.Fatalf("one piece: %s, reference %s", got, want)
		}
	})
}

// A typical Socket.IO event, as JSON text: mostly ASCII.
var jsonEvent = []byte(`42["chat message",{"room":"lobby","user":"alice","text":"hello everyone, how is it going today?","ts":1733140800000,"tags":["greeting","casual"],"meta":{"client":"web","version":"4.8.1"}}]`)

// BenchmarkValidUTF8 is the cost of checking a text message: a typical
// event, a 16 KiB ASCII payload, the same with one accented character near
// the start (the ASCII fast path gives way to rune decoding), and 16 KiB
// of two-byte characters.
func BenchmarkValidUTF8(b *testing.B) {
	big := bytes.Repeat(jsonEvent, 16<<10/len(jsonEvent))
	accented := append([]byte(`42["café",`), big...)
	french := bytes.Repeat([]byte("é"), 8<<10)
	for _, tc := range []struct {
		name string
		b    []byte
	}{{"event", jsonEvent}, {"16KiB-ASCII", big}, {"16KiB-one-accent", accented}, {"16KiB-2-byte-runes", french}} {
		b.Run(tc.name, func(b *testing.B) {
			b.SetBytes(int64(len(tc.b)))
			for b.Loop() {
				if !validUTF8(tc.b) {
					b.Fatal("invalid")
				}
			}
		})
	}
}
