package engine

import (
	"encoding/binary"
	"unicode/utf8"
)

// More websocket opcodes (RFC 6455 §5.2); opText, opBinary, opClose and
// opPong are in websocket.go.
const (
	opContinuation = 0x0
	opPing         = 0x9
)

// Close codes (RFC 6455 §7.4.1) we send on a bad client frame.
const (
	closeProtocolError = 1002
	closeInvalidData   = 1007 // text that is not UTF-8
	closeMessageTooBig = 1009
)

// wsFrameError is a client frame we refuse: the connection gets a close
// frame with code, what the client still sends is drained, then it ends
// (the session closes with ReasonTransportError, as it did when gorilla
// read; see wsConn.refuse).
type wsFrameError struct {
	code uint16
	msg  string
}

func (e *wsFrameError) Error() string { return "websocket: " + e.msg }

func protocolError(msg string) error { return &wsFrameError{closeProtocolError, msg} }

// frameErrorCode is the close code answering err.
func frameErrorCode(err error) uint16 {
	if fe, ok := err.(*wsFrameError); ok {
		return fe.code
	}
	return closeProtocolError
}

// wsReader decodes the frames a client sends (RFC 6455 §5), incrementally:
// it is fed whatever a read returned and keeps only what a frame split
// across reads needs (a partial header, the message so far). It owns no read
// buffer, so an idle connection costs just this struct.
//
// Checked like gorilla did: client frames must be masked; no reserved bits
// (but RSV1 on the first frame of a data message when permessage-deflate
// was negotiated: wsdeflate.go); known opcodes only; control frames
// unfragmented with at most 125 bytes; continuation frames only inside a
// message and no new message inside one; close frames with a valid code and
// UTF-8 reason. A message longer than limit (the sum of its fragments) is
// refused with close code 1009; a text message (all its fragments together)
// or a close reason that is not valid UTF-8 with 1007 (RFC 6455 §8.1);
// anything else with 1002.
type wsReader struct {
	limit int64 // largest message; <= 0: none
	// deflate: permessage-deflate was negotiated, RSV1 marks a compressed
	// message (wsdeflate.go); compressed: the message in progress is;
	// inflate: the data message just returned must be inflated.
	deflate, compressed, inflate bool

	hdr    [14]byte // a header split across reads
	hdrLen uint8    // bytes of it collected so far

	inFrame bool // a header was read; remain payload bytes follow
	op      byte // opcode of the current frame
	fin     bool
	mask    [4]byte
	maskOff uint8 // index in mask of the next payload byte
	remain  int64

	msgOp  byte  // opText or opBinary while a data message is in progress
	msgLen int64 // bytes of that message announced so far
	msg    []byte
	ctl    []byte // payload of the current control frame so far
}

// next consumes bytes from b until it completes a data message or a control
// frame, and returns its opcode (opText, opBinary, opClose, opPing, opPong)
// and payload, a new slice the caller owns. op 0: b was consumed entirely
// without completing one. n is the number of bytes of b consumed; on an
// error the connection must be dropped.
func (r *wsReader) next(b []byte) (op byte, data []byte, n int, err error) {
	r.inflate = false
	for {
		if !r.inFrame {
			if n == len(b) {
				return 0, nil, n, nil
			}
			k, err := r.header(b[n:])
			n += k
			if err != nil {
				return 0, nil, n, err
			}
			if !r.inFrame {
				return 0, nil, n, nil // the header continues in the next read
			}
		}
		avail := int64(len(b) - n)
		take := min(avail, r.remain)
		chunk := b[n : n+int(take)]
		n += int(take)
		r.remain -= take
		control := r.op >= opClose
		if control {
			r.ctl = r.appendUnmasked(r.ctl, chunk, int(take+r.remain))
		} else {
			if r.msg == nil {
				// Exact when the whole frame is here; otherwise grow as
				// bytes arrive rather than trusting the announced length.
				r.msg = make([]byte, 0, int(take+min(r.remain, 512)))
			}
			r.msg = r.appendUnmasked(r.msg, chunk, 0)
		}
		if r.remain > 0 {
			return 0, nil, n, nil // the payload continues in the next read
		}
		r.inFrame = false
		if control {
			data, r.ctl = r.ctl, nil
			if data == nil {
				data = []byte{}
			}
			if r.op == opClose {
				if err := checkCloseFrame(data); err != nil {
					return 0, nil, n, err
				}
			}
			return r.op, data, n, nil
		}
		if r.fin {
			op, data = r.msgOp, r.msg
			r.inflate, r.compressed = r.compressed, false
			r.msgOp, r.msgLen, r.msg = 0, 0, nil
			if op == opText && !r.inflate && !validUTF8(data) { // compressed: checked once inflated
				return 0, nil, n, &wsFrameError{closeInvalidData, "invalid UTF-8 in a text message"}
			}
			return op, data, n, nil
		}
	}
}

// header consumes header bytes from b (non-empty); inFrame is set once the
// header is complete.
func (r *wsReader) header(b []byte) (int, error) {
	if r.hdrLen == 0 && len(b) >= 2 {
		if need := frameHeaderSize(b[0], b[1]); len(b) >= need {
			return need, r.parseHeader(b[:need])
		}
	}
	n := 0
	for {
		need := 2
		if r.hdrLen >= 2 {
			need = frameHeaderSize(r.hdr[0], r.hdr[1])
		}
		if int(r.hdrLen) == need {
			r.hdrLen = 0
			return n, r.parseHeader(r.hdr[:need])
		}
		if n == len(b) {
			return n, nil
		}
		k := copy(r.hdr[r.hdrLen:need], b[n:])
		r.hdrLen += uint8(k)
		n += k
	}
}

// frameHeaderSize is the length of the header starting with b0 b1.
func frameHeaderSize(b0, b1 byte) int {
	n := 2
	switch b1 & 0x7f {
	case 126:
		n += 2
	case 127:
		n += 8
	}
	if b1&0x80 != 0 {
		n += 4
	}
	return n
}

func (r *wsReader) parseHeader(h []byte) error {
	b0, b1 := h[0], h[1]
	rsv1 := false
	if b0&0x40 != 0 && r.deflate && b0&0x0f != opContinuation && b0&0x0f < opClose {
		rsv1, b0 = true, b0&^0x40 // a compressed data message
	}
	if b0&0x70 != 0 {
		return protocolError("reserved bits set")
	}
	if b1&0x80 == 0 {
		return protocolError("client frame not masked")
	}
	op, fin := b0&0x0f, b0&0x80 != 0
	length, i := int64(b1&0x7f), 2
	switch length {
	case 126:
		length, i = int64(binary.BigEndian.Uint16(h[2:])), 4
	case 127:
		u := binary.BigEndian.Uint64(h[2:])
		if u>>63 != 0 {
			return protocolError("invalid frame length")
		}
		length, i = int64(u), 10
	}
	switch op {
	case opClose, opPing, opPong:
		if !fin {
			return protocolError("fragmented control frame")
		}
		if length > 125 {
			return protocolError("control frame longer than 125 bytes")
		}
	case opText, opBinary, opContinuation:
		if op == opContinuation {
			if r.msgOp == 0 {
				return protocolError("continuation frame outside a message")
			}
		} else {
			if r.msgOp != 0 {
				return protocolError("new message before the previous one ended")
			}
			r.msgOp = op
			r.compressed = rsv1
		}
		if limit := r.wireLimit(); limit > 0 && length > limit-r.msgLen {
			return &wsFrameError{closeMessageTooBig, "message too big"}
		}
		r.msgLen += length
	default:
		return protocolError("unknown opcode")
	}
	copy(r.mask[:], h[i:i+4])
	r.op, r.fin, r.remain, r.maskOff, r.inFrame = op, fin, length, 0, true
	return nil
}

// appendUnmasked appends src unmasked to dst (allocating room for hint
// bytes when dst is nil).
func (r *wsReader) appendUnmasked(dst, src []byte, hint int) []byte {
	if dst == nil && hint > 0 {
		dst = make([]byte, 0, hint)
	}
	start := len(dst)
	dst = append(dst, src...)
	r.maskOff = maskBytes(r.mask, r.maskOff, dst[start:])
	return dst
}

// maskBytes XORs b with the mask starting at mask index off and returns the
// index after b.
func maskBytes(mask [4]byte, off uint8, b []byte) uint8 {
	i := 0
	if len(b) >= 16 { // 8 bytes at a time with the key rotated to off
		var k [8]byte
		for j := range k {
			k[j] = mask[(int(off)+j)&3]
		}
		key := binary.LittleEndian.Uint64(k[:])
		for ; i+8 <= len(b); i += 8 {
			binary.LittleEndian.PutUint64(b[i:], binary.LittleEndian.Uint64(b[i:])^key)
		}
	}
	for ; i < len(b); i++ {
		b[i] ^= mask[(int(off)+i)&3]
	}
	return uint8((int(off) + len(b)) & 3)
}

// checkCloseFrame validates a close frame's payload like gorilla did: empty,
// or a valid status code then a UTF-8 reason.
func checkCloseFrame(p []byte) error {
	if len(p) == 0 {
		return nil
	}
	if len(p) == 1 {
		return protocolError("close frame with a 1-byte payload")
	}
	code := binary.BigEndian.Uint16(p)
	valid := (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999)
	if !valid {
		return protocolError("invalid close code")
	}
	if !validUTF8(p[2:]) {
		return &wsFrameError{closeInvalidData, "invalid UTF-8 in close frame"}
	}
	return nil
}

// validUTF8 checks a text message or close reason. The standard library's
// utf8.Valid already skips ASCII (what Socket.IO's JSON mostly is) 8 bytes
// at a time before decoding runes; a hand-written 32-bytes-a-word loop in
// front of it measured slower (BenchmarkValidUTF8 keeps the figures: about
// 0.4 ns a byte on a typical event, against tens of µs for handling it).
func validUTF8(b []byte) bool { return utf8.Valid(b) }

// wireLimit is the largest message on the wire: limit, or for a compressed
// message limit plus the worst deflate overhead (stored blocks: 5 bytes per
// 64 KiB); its inflated size is checked against limit (wsdeflate.go).
func (r *wsReader) wireLimit() int64 {
	if r.compressed && r.limit > 0 {
		return r.limit + r.limit/1024 + 1024
	}
	return r.limit
}
