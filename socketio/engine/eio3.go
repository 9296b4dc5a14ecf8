package engine

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"unicode/utf8"
)

// Engine.IO protocol v3, for socket.io-client 2.x (engine.io-client 3.x),
// accepted when Config.AllowEIO3 is set, as Node's allowEIO3 does. It differs
// from v4 (github.com/socketio/engine.io-protocol, the v3 revision) in:
//
//   - long-polling payloads: every packet is prefixed with its length and a
//     colon ("<len>:<packet>"), the length counted in UTF-16 code units as a
//     JavaScript string has them; binary messages are "b4<base64>" in text
//     payloads. A client that did not ask for base64 (no "b64" in its
//     handshake query) gets the binary payload format whenever a response
//     holds a binary message, and may POST it (application/octet-stream):
//     per packet a 0 (string) or 1 (binary) byte, the length as one byte per
//     decimal digit, 0xff, then the packet (a binary one starts with the
//     type byte 4);
//   - websocket binary frames start with the packet type byte (4); base64
//     text frames are "b4<base64>";
//   - the heartbeat goes the other way: the client pings, the server answers
//     with a pong, and the session closes with "ping timeout" when no ping
//     came for PingInterval+PingTimeout.
//
// The open packet, the upgrade (2probe, 3probe, 5) and the close and noop
// packets are the same.

// isEIO3 reports whether a request speaks v3: like Node, anything but
// EIO=4 (a missing EIO included).
func isEIO3(q url.Values) bool { return q.Get("EIO") != "4" }

// Protocol returns the session's Engine.IO protocol revision: 4, or 3 for a
// client admitted by Config.AllowEIO3.
func (s *Session) Protocol() int {
	if s.eio3 {
		return 3
	}
	return 4
}

// decodePacketV3 decodes one v3 text packet: a type digit then data, or
// "b4" then base64 for a binary message.
func decodePacketV3(b []byte) (packet, error) {
	if len(b) > 0 && b[0] == 'b' {
		if len(b) < 2 || b[1] != byte(packetMessage) {
			return packet{}, fmt.Errorf("decoding v3 binary packet: not a message: %w", errDecode)
		}
		data, err := decodeBase64(b[2:])
		if err != nil {
			return packet{}, fmt.Errorf("decoding v3 binary packet: %w", err)
		}
		return packet{typ: packetMessage, data: data, binary: true}, nil
	}
	return decodePacket(b)
}

// decodeFrame decodes one websocket data message of c's protocol.
func (c *wsConn) decodeFrame(op byte, data []byte) (packet, error) {
	switch {
	case op == opBinary && c.eio3:
		// v3: the type byte, then the data; only messages are binary.
		if len(data) == 0 || data[0] != 4 {
			return packet{}, fmt.Errorf("decoding v3 binary frame: %w", errDecode)
		}
		return packet{typ: packetMessage, data: data[1:len(data):len(data)], binary: true}, nil
	case op == opBinary:
		return packet{typ: packetMessage, data: data, binary: true}, nil
	case c.eio3:
		return decodePacketV3(data)
	}
	return decodePacket(data)
}

// maxLenDigits bounds the length prefix of a v3 payload packet (a POST body
// is at most MaxPayload bytes anyway).
const maxLenDigits = 10

// decodePayloadV3 decodes a v3 text payload: "<len>:<packet>" repeated, len
// in UTF-16 code units. Empty packets ("0:") are skipped as Node does; an
// empty body is invalid. More than maxPackets packets (0: no limit) is
// errTooManyPackets, found before the packet after the last allowed one is
// decoded, so a body of many tiny packets never costs more than maxPackets.
func decodePayloadV3(b []byte, maxPackets int) ([]packet, error) {
	if len(b) == 0 {
		return nil, fmt.Errorf("decoding v3 payload: empty: %w", errDecode)
	}
	var pkts []packet
	for len(b) > 0 {
		n, i := 0, 0
		for ; i < len(b) && b[i] != ':'; i++ {
			c := b[i]
			if c < '0' || c > '9' || i >= maxLenDigits {
				return nil, fmt.Errorf("decoding v3 payload: length: %w", errDecode)
			}
			n = n*10 + int(c-'0')
		}
		if i == 0 || i == len(b) {
			return nil, fmt.Errorf("decoding v3 payload: length: %w", errDecode)
		}
		b = b[i+1:]
		// Take n UTF-16 code units' worth of bytes.
		end, units := 0, 0
		for units < n && end < len(b) {
			r, size := utf8.DecodeRune(b[end:])
			end += size
			units++
			if r > 0xffff {
				units++
			}
		}
		if units != n {
			return nil, fmt.Errorf("decoding v3 payload: packet shorter than its length: %w", errDecode)
		}
		seg := b[:end:end]
		b = b[end:]
		if n == 0 {
			continue
		}
		if maxPackets > 0 && len(pkts) >= maxPackets {
			return nil, errTooManyPackets
		}
		p, err := decodePacketV3(seg)
		if err != nil {
			return nil, fmt.Errorf("decoding v3 payload: %w", err)
		}
		pkts = append(pkts, p)
	}
	return pkts, nil
}

// decodeBinaryPayloadV3 decodes a v3 binary payload (a POST with
// Content-Type application/octet-stream), at most maxPackets packets like
// decodePayloadV3.
func decodeBinaryPayloadV3(b []byte, maxPackets int) ([]packet, error) {
	var pkts []packet
	for len(b) > 0 {
		if maxPackets > 0 && len(pkts) >= maxPackets {
			return nil, errTooManyPackets
		}
		isString := b[0] == 0
		n, i := 0, 1
		for ; i < len(b) && b[i] != 0xff; i++ {
			if b[i] > 9 || i > maxLenDigits {
				return nil, fmt.Errorf("decoding v3 binary payload: length: %w", errDecode)
			}
			n = n*10 + int(b[i])
		}
		if i == 1 || i == len(b) {
			return nil, fmt.Errorf("decoding v3 binary payload: length: %w", errDecode)
		}
		b = b[i+1:]
		if n > len(b) {
			return nil, fmt.Errorf("decoding v3 binary payload: packet shorter than its length: %w", errDecode)
		}
		msg := b[:n:n]
		b = b[n:]
		var p packet
		var err error
		if isString {
			p, err = decodePacketV3(msg)
		} else if n == 0 || msg[0] != 4 {
			err = fmt.Errorf("binary packet not a message: %w", errDecode)
		} else {
			p = packet{typ: packetMessage, data: msg[1:], binary: true}
		}
		if err != nil {
			return nil, fmt.Errorf("decoding v3 binary payload: %w", err)
		}
		pkts = append(pkts, p)
	}
	if len(pkts) == 0 {
		return nil, fmt.Errorf("decoding v3 binary payload: empty: %w", errDecode)
	}
	return pkts, nil
}

// utf16Len is the length of UTF-8 text b as a JavaScript string (invalid
// bytes count one unit each, as the U+FFFD Node decodes them to).
func utf16Len(b []byte) int {
	n := 0
	for i := 0; i < len(b); {
		c := b[i]
		if c < utf8.RuneSelf {
			i++
			n++
			continue
		}
		r, size := utf8.DecodeRune(b[i:])
		i += size
		n++
		if r > 0xffff {
			n++
		}
	}
	return n
}

// appendTextPacketV3 appends one packet of a v3 text payload, with its
// length prefix.
func appendTextPacketV3(dst []byte, head []byte, p packet) []byte {
	switch {
	case head != nil:
		dst = strconv.AppendInt(dst, int64(utf16Len(head)), 10)
		dst = append(dst, ':')
		return append(dst, head...)
	case p.typ == packetMessage && p.binary:
		dst = strconv.AppendInt(dst, int64(2+base64.StdEncoding.EncodedLen(len(p.data))), 10)
		dst = append(dst, ':', 'b', byte(packetMessage))
		return base64.StdEncoding.AppendEncode(dst, p.data)
	}
	dst = strconv.AppendInt(dst, int64(1+utf16Len(p.data)), 10)
	dst = append(dst, ':', byte(p.typ))
	return append(dst, p.data...)
}

// appendBinaryPacketV3 appends one packet of a v3 binary payload.
func appendBinaryPacketV3(dst []byte, head []byte, p packet) []byte {
	kind, n := byte(0), len(head)
	if head == nil {
		n = 1 + len(p.data)
		if p.typ == packetMessage && p.binary {
			kind = 1
		}
	}
	dst = append(dst, kind)
	var digits [20]byte
	for _, d := range strconv.AppendInt(digits[:0], int64(n), 10) {
		dst = append(dst, d-'0')
	}
	dst = append(dst, 0xff)
	switch {
	case head != nil:
		return append(dst, head...)
	case kind == 1:
		dst = append(dst, 4)
	default:
		dst = append(dst, byte(p.typ))
	}
	return append(dst, p.data...)
}

// writePayloadV3 writes the 200 answer of a GET of a v3 session: head (the
// handshake's open packet, or nil) then pkts. binaryOK: the client takes the
// binary payload format, used when pkts hold a binary message.
func writePayloadV3(w http.ResponseWriter, head []byte, pkts []packet, binaryOK bool) {
	binary := false
	n := len(head) + 12
	for _, p := range pkts {
		if p.typ == packetWSPong {
			continue
		}
		n += 14 + encodedLen(p)
		binary = binary || (binaryOK && p.typ == packetMessage && p.binary)
	}
	appendOne := appendTextPacketV3
	ctype := "text/plain; charset=UTF-8"
	if binary {
		appendOne, ctype = appendBinaryPacketV3, "application/octet-stream"
	}
	bp, b := getBuf(n)
	if len(head) > 0 {
		b = appendOne(b, head, packet{})
	}
	for _, p := range pkts {
		if p.typ != packetWSPong {
			b = appendOne(b, nil, p)
		}
	}
	h := w.Header()
	h.Set("Content-Type", ctype)
	h.Set("Content-Length", strconv.Itoa(len(b)))
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
	putBuf(bp, b)
}

// receiveV3 decodes and delivers a v3 client's POST body: all its packets,
// at most maxPackets, or none.
func (s *Session) receiveV3(w http.ResponseWriter, r *http.Request, body []byte, binaryBody bool, maxPackets int) {
	pkts, err := s.decodeRequestPayload(body, binaryBody, maxPackets)
	if err == nil {
		for _, p := range pkts {
			if p.typ == packetOpen || p.typ == packetUpgrade || p.typ == packetNoop {
				err = errDecode // never valid from a client over polling
			}
		}
	}
	if err != nil {
		s.protocolError(err)
		s.close(ReasonParseError, false)
		writeEmpty(w, http.StatusBadRequest)
		return
	}
	s.receivePost(r.Context(), func() bool { return s.receive(pkts...) })
	writeOK(w)
}

// decodeRequestPayload decodes a POST body of s's protocol; binaryBody: its
// Content-Type is application/octet-stream.
func (s *Session) decodeRequestPayload(body []byte, binaryBody bool, maxPackets int) ([]packet, error) {
	switch {
	case !s.eio3:
		return decodePayload(body)
	case binaryBody:
		return decodeBinaryPayloadV3(body, maxPackets)
	}
	return decodePayloadV3(body, maxPackets)
}

// onPingV3 answers a v3 client's ping with a pong and re-arms the ping
// timeout; called from receiveOne with s.mu held, which it releases. The
// client decides how often it pings: a pong still queued answers the pings
// that follow it (a v3 pong carries nothing), and a new one counts against
// the send queue limits like a message (over them the client is closed as
// a slow one), so pinging without reading holds at most one pong. It
// reports whether the session is still open.
func (s *Session) onPingV3() bool {
	s.armHeartbeatLocked(s.srv.pingInterval() + s.srv.pingTimeout())
	if s.pongV3Queued {
		s.mu.Unlock()
		return true
	}
	if s.overLimitLocked(1, 0) {
		s.overflowLocked(1, 0) // unlocks
		return false
	}
	s.pongV3Queued = true
	start := s.enqueueLocked(packet{typ: packetPong})
	s.mu.Unlock()
	if start {
		s.startWriter()
	}
	return true
}
