package engine

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
)

// packetType is an Engine.IO packet type, carried on the wire as one ASCII
// digit (github.com/socketio/engine.io-protocol).
type packetType byte

const (
	packetOpen    packetType = '0'
	packetClose   packetType = '1'
	packetPing    packetType = '2'
	packetPong    packetType = '3'
	packetMessage packetType = '4'
	packetUpgrade packetType = '5'
	packetNoop    packetType = '6'

	// packetWSPong is not an Engine.IO packet: it is a websocket-level pong
	// control frame queued in answer to a websocket ping frame. It only ever
	// appears in the queue of a session whose transport is websocket.
	packetWSPong packetType = 0xff
)

// recordSeparator joins packets in a long-polling payload (§1.3).
const recordSeparator = 0x1e

// errDecode is wrapped by every decoding error.
var errDecode = errors.New("engine: invalid packet")

// packet is one decoded or to-be-encoded Engine.IO packet. binary is only
// meaningful for packetMessage.
type packet struct {
	typ    packetType
	data   []byte
	binary bool
}

// decodePacket decodes one text-encoded packet: a type digit followed by
// UTF-8 data, or "b" followed by base64 for a binary message (§1.2, §1.3).
// data aliases b (capacity capped) except for binary messages, which get a
// fresh slice.
func decodePacket(b []byte) (packet, error) {
	if len(b) == 0 {
		return packet{}, fmt.Errorf("decoding packet: empty: %w", errDecode)
	}
	c := b[0]
	if c == 'b' {
		data, err := decodeBase64(b[1:])
		if err != nil {
			return packet{}, fmt.Errorf("decoding binary packet: %w", err)
		}
		return packet{typ: packetMessage, data: data, binary: true}, nil
	}
	if c < '0' || c > '6' {
		return packet{}, fmt.Errorf("decoding packet: type %q: %w", c, errDecode)
	}
	return packet{typ: packetType(c), data: b[1:len(b):len(b)]}, nil
}

// nextSegment splits the first packet off a long-polling payload: seg is
// the bytes before the first 0x1e (capacity capped), rest what follows it
// (nil when there was no separator).
func nextSegment(b []byte) (seg, rest []byte) {
	i := bytes.IndexByte(b, recordSeparator)
	if i < 0 {
		return b[:len(b):len(b)], nil
	}
	return b[:i:i], b[i+1:]
}

// errTooManyPackets: a payload over Config.MaxPayloadPackets.
var errTooManyPackets = fmt.Errorf("decoding payload: too many packets: %w", errDecode)

// checkPayload validates a long-polling payload (§1.3) without decoding or
// allocating anything: every packet non-empty with a known type, binary
// ones valid base64, at most maxPackets of them (0: no limit). It stops at
// the first fault, so a flood of separators is refused at its first empty
// packet. With client set, the types a client never sends over polling
// (open, upgrade, noop) are refused too. It returns the number of packets.
func checkPayload(b []byte, maxPackets int, client bool) (int, error) {
	n := 0
	for {
		var seg []byte
		seg, b = nextSegment(b)
		n++
		if maxPackets > 0 && n > maxPackets {
			return n, errTooManyPackets
		}
		if len(seg) == 0 {
			return n, fmt.Errorf("decoding payload: empty packet %d: %w", n, errDecode)
		}
		switch c := seg[0]; {
		case c == 'b':
			if !validBase64(seg[1:]) {
				return n, fmt.Errorf("decoding payload: packet %d: base64: %w", n, errDecode)
			}
		case c < '0' || c > '6':
			return n, fmt.Errorf("decoding payload: packet %d: type %q: %w", n, c, errDecode)
		case client && (packetType(c) == packetOpen || packetType(c) == packetUpgrade || packetType(c) == packetNoop):
			return n, fmt.Errorf("decoding payload: packet %d: type %q from a client: %w", n, c, errDecode)
		}
		if b == nil {
			return n, nil
		}
	}
}

// decodePayload splits a long-polling payload on 0x1e and decodes every
// packet, all or nothing (tests and fuzzing; the server checks a payload
// with checkPayload, then decodes it one packet at a time).
func decodePayload(b []byte) ([]packet, error) {
	n, err := checkPayload(b, 0, false)
	if err != nil {
		return nil, err
	}
	pkts := make([]packet, 0, n)
	for len(b) > 0 {
		var seg []byte
		seg, b = nextSegment(b)
		p, err := decodePacket(seg)
		if err != nil {
			return nil, fmt.Errorf("decoding payload: %w", err)
		}
		pkts = append(pkts, p)
	}
	return pkts, nil
}

// appendPacket appends the long-polling (text) encoding of p to dst: binary
// messages become "b" + standard base64, everything else type digit + data.
func appendPacket(dst []byte, p packet) []byte {
	if p.typ == packetMessage && p.binary {
		dst = append(dst, 'b')
		return base64.StdEncoding.AppendEncode(dst, p.data)
	}
	dst = append(dst, byte(p.typ))
	return append(dst, p.data...)
}

// encodedLen is len(appendPacket(nil, p)).
func encodedLen(p packet) int {
	if p.typ == packetMessage && p.binary {
		return 1 + base64.StdEncoding.EncodedLen(len(p.data))
	}
	return 1 + len(p.data)
}

// appendPayload appends the long-polling payload for pkts (joined by 0x1e,
// no trailing separator). Websocket-only control items are skipped.
func appendPayload(dst []byte, pkts []packet) []byte {
	first := true
	for _, p := range pkts {
		if p.typ == packetWSPong {
			continue
		}
		if !first {
			dst = append(dst, recordSeparator)
		}
		first = false
		dst = appendPacket(dst, p)
	}
	return dst
}

// payloadLen is len(appendPayload(nil, pkts)).
func payloadLen(pkts []packet) int {
	n := 0
	for _, p := range pkts {
		if p.typ == packetWSPong {
			continue
		}
		if n > 0 {
			n++
		}
		n += encodedLen(p)
	}
	return n
}

// validBase64 reports whether decodeBase64 accepts s, without decoding:
// after trailing '=' are stripped, only the standard and URL-safe alphabets
// and CR/LF, and not one dangling character in the last group.
func validBase64(s []byte) bool {
	for len(s) > 0 && s[len(s)-1] == '=' {
		s = s[:len(s)-1]
	}
	n := 0
	for _, c := range s {
		switch {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9',
			c == '+', c == '/', c == '-', c == '_':
			n++
		case c == '\r' || c == '\n':
		default:
			return false
		}
	}
	return n%4 != 1
}

// decodeBase64 decodes leniently like Node's Buffer.from(s, "base64"):
// standard or URL-safe alphabet (even mixed), padding optional, CR/LF
// ignored. Other invalid characters are an error (Node would skip them).
func decodeBase64(s []byte) ([]byte, error) {
	// Trailing padding is optional; strip it and decode raw.
	for len(s) > 0 && s[len(s)-1] == '=' {
		s = s[:len(s)-1]
	}
	if bytes.ContainsAny(s, "-_") {
		t := make([]byte, len(s))
		for i, c := range s {
			switch c {
			case '-':
				c = '+'
			case '_':
				c = '/'
			}
			t[i] = c
		}
		s = t
	}
	out := make([]byte, base64.RawStdEncoding.DecodedLen(len(s)))
	n, err := base64.RawStdEncoding.Decode(out, s)
	if err != nil {
		return nil, fmt.Errorf("base64: %v: %w", err, errDecode)
	}
	return out[:n:n], nil
}
