package engine

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"net"
	"testing"
	"time"
)

// Seeds live in testdata/fuzz/<FuzzName>/ (examples from github.com/socketio/engine.io-protocol).

func FuzzDecodePacket(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := decodePacket(b)
		if len(b) > 0 && b[0] == 'b' {
			// checkPayload validates base64 without decoding it.
			if got := validBase64(b[1:]); got != (err == nil) {
				t.Fatalf("%q: validBase64 %v, decodeBase64 %v", b, got, err)
			}
		}
		if err != nil {
			return
		}
		enc := appendPacket(nil, p)
		if len(enc) != encodedLen(p) {
			t.Fatalf("encodedLen %d, encoded %d", encodedLen(p), len(enc))
		}
		if !p.binary && !bytes.Equal(enc, b) {
			t.Fatalf("text packet %q re-encoded as %q", b, enc)
		}
		p2, err := decodePacket(enc)
		if err != nil {
			t.Fatalf("re-decoding %q: %v", enc, err)
		}
		if !samePacket(p, p2) {
			t.Fatalf("%q: %+v then %+v", b, p, p2)
		}
		checkFrames(t, []packet{p})
	})
}

func FuzzDecodePayload(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		pkts, err := decodePayload(b)
		// The server checks a client's payload with checkPayload, then
		// decodes its packets one by one: the check must accept exactly
		// what decodes, and count its packets.
		n, cerr := checkPayload(b, 0, false)
		if (cerr == nil) != (err == nil) {
			t.Fatalf("%q: checkPayload %v, decodePayload %v", b, cerr, err)
		}
		if max := 3; cerr == nil && n > max {
			if n2, err := checkPayload(b, max, false); !errors.Is(err, errTooManyPackets) || n2 != max+1 {
				t.Fatalf("%q: %d packets over a limit of %d: %d, %v", b, n, max, n2, err)
			}
		}
		if err != nil {
			return
		}
		if n != len(pkts) {
			t.Fatalf("%q: checkPayload counted %d packets, decoded %d", b, n, len(pkts))
		}
		enc := appendPayload(nil, pkts)
		if len(enc) != payloadLen(pkts) {
			t.Fatalf("payloadLen %d, encoded %d", payloadLen(pkts), len(enc))
		}
		hasBinary := false
		for _, p := range pkts {
			hasBinary = hasBinary || p.binary
		}
		if !hasBinary && !bytes.Equal(enc, b) {
			t.Fatalf("payload %q re-encoded as %q", b, enc)
		}
		pkts2, err := decodePayload(enc)
		if err != nil {
			t.Fatalf("re-decoding %q: %v", enc, err)
		}
		if len(pkts2) != len(pkts) {
			t.Fatalf("%d packets then %d", len(pkts), len(pkts2))
		}
		for i := range pkts {
			if !samePacket(pkts[i], pkts2[i]) {
				t.Fatalf("packet %d: %+v then %+v", i, pkts[i], pkts2[i])
			}
			// Decoded data must not share capacity with its neighbours.
			if d := pkts[i].data; cap(d) != len(d) {
				t.Fatalf("packet %d: len %d cap %d", i, len(d), cap(d))
			}
		}
		checkFrames(t, pkts)
	})
}

func samePacket(a, b packet) bool {
	return a.typ == b.typ && a.binary == b.binary && bytes.Equal(a.data, b.data)
}

// bufConn records writes; enough of net.Conn for wsConn.writePackets.
type bufConn struct {
	net.Conn
	buf    bytes.Buffer
	writes int
}

func (c *bufConn) Write(b []byte) (int, error)      { c.writes++; return c.buf.Write(b) }
func (c *bufConn) SetWriteDeadline(time.Time) error { return nil }

// checkFrames writes pkts as websocket frames (plain and b64) with one Write
// and parses them back.
func checkFrames(t *testing.T, pkts []packet) {
	t.Helper()
	for _, b64 := range []bool{false, true} {
		nc := &bufConn{}
		c := &wsConn{nc: nc, b64: b64}
		if err := c.writePackets(pkts, time.Second); err != nil {
			t.Fatal(err)
		}
		if nc.writes != 1 {
			t.Fatalf("%d writes", nc.writes)
		}
		b := nc.buf.Bytes()
		for i, p := range pkts {
			op, payload, rest, ok := parseFrame(b)
			if !ok {
				t.Fatalf("frame %d: truncated", i)
			}
			b = rest
			wantOp, want := byte(opText), append([]byte{byte(p.typ)}, p.data...)
			if p.binary {
				if b64 {
					want = append([]byte{'b'}, base64.StdEncoding.EncodeToString(p.data)...)
				} else {
					wantOp, want = opBinary, p.data
				}
			}
			if op != wantOp || !bytes.Equal(payload, want) {
				t.Fatalf("frame %d: op %d %q, want %d %q", i, op, payload, wantOp, want)
			}
		}
		if len(b) != 0 {
			t.Fatalf("%d trailing bytes", len(b))
		}
	}
}

func parseFrame(b []byte) (op byte, payload, rest []byte, ok bool) {
	if len(b) < 2 || b[0]&0xf0 != 0x80 || b[1]&0x80 != 0 {
		return 0, nil, nil, false
	}
	op = b[0] & 0x0f
	n, h := uint64(b[1]), 2
	switch n {
	case 126:
		if len(b) < 4 {
			return 0, nil, nil, false
		}
		n, h = uint64(binary.BigEndian.Uint16(b[2:])), 4
		if n < 126 {
			return 0, nil, nil, false // not minimal
		}
	case 127:
		if len(b) < 10 {
			return 0, nil, nil, false
		}
		n, h = binary.BigEndian.Uint64(b[2:]), 10
		if n <= 0xffff {
			return 0, nil, nil, false
		}
	}
	if uint64(len(b)-h) < n {
		return 0, nil, nil, false
	}
	return op, b[h : h+int(n)], b[h+int(n):], true
}
