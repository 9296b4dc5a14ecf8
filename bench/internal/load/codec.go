package load

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
)

// Engine.IO v4 packet types (one char at the start of a text frame).
const (
	eioOpen    = '0'
	eioClose   = '1'
	eioPing    = '2'
	eioPong    = '3'
	eioMessage = '4'
	eioUpgrade = '5'
	eioNoop    = '6'
)

// Socket.IO v5 packet types (the char after the Engine.IO '4').
const (
	sioConnect      = '0'
	sioDisconnect   = '1'
	sioEvent        = '2'
	sioAck          = '3'
	sioConnectError = '4'
	sioBinaryEvent  = '5'
	sioBinaryAck    = '6'
)

var errPacket = errors.New("malformed packet")

// Packet is one decoded text frame: an Engine.IO packet and, for messages,
// the Socket.IO packet it carries. Slices alias the frame.
type Packet struct {
	EIO         byte   // '0'..'6'
	SIO         byte   // '0'..'6' when EIO is '4' and the message is not empty; else 0
	Attachments int    // BINARY_EVENT / BINARY_ACK only
	Nsp         string // "/" when absent
	ID          int64  // ack id, -1 when absent
	Data        []byte // JSON text after the header (or the raw Engine.IO payload when SIO is 0)
}

// ParsePacket decodes a text frame as the Socket.IO parser does (§3.2 of the
// protocol reference). It is used off the hot paths; fan-out receivers use
// ScanStamp instead.
func ParsePacket(frame []byte) (Packet, error) {
	p := Packet{ID: -1, Nsp: "/"}
	if len(frame) == 0 || frame[0] < '0' || frame[0] > '6' {
		return p, fmt.Errorf("%w: engine type in %q", errPacket, clip(frame))
	}
	p.EIO = frame[0]
	rest := frame[1:]
	if p.EIO != eioMessage || len(rest) == 0 {
		p.Data = rest
		return p, nil
	}
	if rest[0] < '0' || rest[0] > '6' {
		return p, fmt.Errorf("%w: socket.io type in %q", errPacket, clip(frame))
	}
	p.SIO = rest[0]
	rest = rest[1:]
	if p.SIO == sioBinaryEvent || p.SIO == sioBinaryAck {
		i := bytes.IndexByte(rest, '-')
		if i <= 0 {
			return p, fmt.Errorf("%w: attachments in %q", errPacket, clip(frame))
		}
		n, err := strconv.Atoi(string(rest[:i]))
		if err != nil || n < 0 {
			return p, fmt.Errorf("%w: attachments in %q", errPacket, clip(frame))
		}
		p.Attachments = n
		rest = rest[i+1:]
	}
	if len(rest) > 0 && rest[0] == '/' {
		i := bytes.IndexByte(rest, ',')
		if i < 0 {
			p.Nsp, rest = string(rest), nil
		} else {
			p.Nsp, rest = string(rest[:i]), rest[i+1:]
		}
	}
	i := 0
	for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
		i++
	}
	if i > 0 {
		id, err := strconv.ParseInt(string(rest[:i]), 10, 64)
		if err != nil {
			return p, fmt.Errorf("%w: ack id in %q", errPacket, clip(frame))
		}
		p.ID, rest = id, rest[i:]
	}
	p.Data = rest
	return p, nil
}

// AppendConnect appends a Socket.IO CONNECT for nsp ("/" or "/name") with an
// optional auth object (raw JSON, may be empty).
func AppendConnect(dst []byte, nsp string, auth []byte) []byte {
	dst = append(dst, eioMessage, sioConnect)
	dst = appendNsp(dst, nsp)
	return append(dst, auth...)
}

// AppendEvent appends `42[nsp,][id]["name",arg1,arg2...]`; args are raw JSON
// values and id < 0 means no ack is requested.
func AppendEvent(dst []byte, nsp string, id int64, name string, args ...[]byte) []byte {
	dst = append(dst, eioMessage, sioEvent)
	dst = appendNsp(dst, nsp)
	if id >= 0 {
		dst = strconv.AppendInt(dst, id, 10)
	}
	dst = append(dst, '[')
	dst = AppendJSONString(dst, name)
	for _, a := range args {
		dst = append(dst, ',')
		dst = append(dst, a...)
	}
	return append(dst, ']')
}

func appendNsp(dst []byte, nsp string) []byte {
	if nsp == "" || nsp == "/" {
		return dst
	}
	dst = append(dst, nsp...)
	return append(dst, ',')
}

// AppendJSONString appends s as a JSON string literal.
func AppendJSONString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c < 0x20:
			dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&15])
		default:
			dst = append(dst, c)
		}
	}
	return append(dst, '"')
}

// A stamp is the payload string the fan-out publisher sends: a phase letter,
// a sequence number and a send time, padded to a fixed size:
//
//	C123:4567890:xxxxxxxx
//
// kind 'C' marks the capacity phase, 'L' the latency phase; ts is
// nanoseconds since the run's start on the monotonic clock. Only characters
// that need no JSON escaping are used, so the receiver can scan the raw frame.

// AppendStamp appends the stamp (without quotes), padded with 'x' to at
// least size bytes.
func AppendStamp(dst []byte, kind byte, seq uint64, ts int64, size int) []byte {
	start := len(dst)
	dst = append(dst, kind)
	dst = strconv.AppendUint(dst, seq, 10)
	dst = append(dst, ':')
	dst = strconv.AppendInt(dst, ts, 10)
	dst = append(dst, ':')
	for len(dst)-start < size {
		dst = append(dst, 'x')
	}
	return dst
}

// roomMessagePrefix is what every R6 delivery to the root namespace starts with.
var roomMessagePrefix = []byte(`42["room-message","`)

// ScanStamp finds the stamp in a `room-message` frame without decoding JSON:
// a prefix check and two digit runs. ok is false for any other frame.
func ScanStamp(frame []byte) (kind byte, seq uint64, ts int64, ok bool) {
	if !bytes.HasPrefix(frame, roomMessagePrefix) {
		return 0, 0, 0, false
	}
	b := frame[len(roomMessagePrefix):]
	if len(b) < 4 {
		return 0, 0, 0, false
	}
	kind, b = b[0], b[1:]
	seq, b, ok = scanUint(b)
	if !ok || len(b) == 0 || b[0] != ':' {
		return 0, 0, 0, false
	}
	u, b, ok := scanUint(b[1:])
	if !ok || len(b) == 0 || b[0] != ':' {
		return 0, 0, 0, false
	}
	return kind, seq, int64(u), true
}

// ScanAck reads the ack id of a root-namespace ACK frame `43<id>[...]` and
// returns the JSON array after it.
func ScanAck(frame []byte) (id uint64, data []byte, ok bool) {
	if len(frame) < 4 || frame[0] != eioMessage || frame[1] != sioAck {
		return 0, nil, false
	}
	id, data, ok = scanUint(frame[2:])
	if !ok || len(data) == 0 || data[0] != '[' {
		return 0, nil, false
	}
	return id, data, true
}

func scanUint(b []byte) (v uint64, rest []byte, ok bool) {
	i := 0
	for i < len(b) && i < 19 && b[i] >= '0' && b[i] <= '9' {
		v = v*10 + uint64(b[i]-'0')
		i++
	}
	return v, b[i:], i > 0
}

func clip(b []byte) string {
	if len(b) > 60 {
		return string(b[:60]) + "…"
	}
	return string(b)
}
