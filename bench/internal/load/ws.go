package load

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// WebSocket opcodes (RFC 6455 §5.2).
const (
	opContinuation = 0x0
	opText         = 0x1
	opBinary       = 0x2
	opClose        = 0x8
	opPing         = 0x9
	opPong         = 0xA
)

const wsGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// maxMessage bounds one reassembled message; the servers under test refuse
// anything above 1 MB anyway.
const maxMessage = 4 << 20

var (
	errClosed   = errors.New("websocket closed by the server")
	errProtocol = errors.New("websocket protocol error")
)

// wsConn is the client side of one WebSocket connection, kept lean for
// thousands of connections: one bufio.Reader whose size is chosen per
// scenario, messages that fit in it are returned without copying, and writes
// go out as one masked frame per message from a small reusable buffer.
//
// One goroutine reads (next); any goroutine may write.
type wsConn struct {
	nc      net.Conn
	br      *bufio.Reader
	pending int    // bytes of the last returned message still buffered in br
	msg     []byte // reassembly buffer for fragmented or large messages

	wmu          sync.Mutex
	wbuf         []byte
	maskState    uint32
	writeTimeout time.Duration
}

// dialWS opens a TCP connection with d and performs the WebSocket handshake
// for path (which includes the query string). ctx bounds the whole handshake.
func dialWS(ctx context.Context, d *net.Dialer, addr, path string, readBuf int) (*wsConn, error) {
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	c, err := handshakeWS(ctx, nc, addr, path, readBuf)
	if err != nil {
		_ = nc.Close()
		return nil, err
	}
	return c, nil
}

func handshakeWS(ctx context.Context, nc net.Conn, host, path string, readBuf int) (*wsConn, error) {
	if dl, ok := ctx.Deadline(); ok {
		_ = nc.SetDeadline(dl)
	}
	var raw [16]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return nil, err
	}
	key := base64.StdEncoding.EncodeToString(raw[:])
	req := "GET " + path + " HTTP/1.1\r\nHost: " + host +
		"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + key +
		"\r\nSec-WebSocket-Version: 13\r\n\r\n"
	if _, err := io.WriteString(nc, req); err != nil {
		return nil, err
	}
	if readBuf < 256 {
		readBuf = 256
	}
	br := bufio.NewReaderSize(nc, readBuf)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return nil, fmt.Errorf("websocket handshake: %w", err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
		_ = resp.Body.Close()
		return nil, fmt.Errorf("websocket handshake: %s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	if !strings.EqualFold(resp.Header.Get("Upgrade"), "websocket") {
		return nil, fmt.Errorf("websocket handshake: Upgrade header %q", resp.Header.Get("Upgrade"))
	}
	if got, want := resp.Header.Get("Sec-WebSocket-Accept"), acceptKey(key); got != want {
		return nil, fmt.Errorf("websocket handshake: Sec-WebSocket-Accept %q, want %q", got, want)
	}
	_ = nc.SetDeadline(time.Time{})
	seed := binary.LittleEndian.Uint32(raw[:4]) | 1
	return &wsConn{nc: nc, br: br, maskState: seed, wbuf: make([]byte, 0, 128)}, nil
}

func acceptKey(key string) string {
	h := sha1.Sum([]byte(key + wsGUID))
	return base64.StdEncoding.EncodeToString(h[:])
}

// next returns the next text or binary message. Control frames are handled
// on the way (ping answered, pong ignored, close reported as errClosed). The
// returned slice is only valid until the following call.
func (c *wsConn) next() (op byte, p []byte, err error) {
	if c.pending > 0 {
		if _, err := c.br.Discard(c.pending); err != nil {
			return 0, nil, err
		}
		c.pending = 0
	}
	c.msg = c.msg[:0]
	var msgOp byte
	fragmented := false
	for {
		hdr, err := c.br.Peek(2)
		if err != nil {
			return 0, nil, err
		}
		fin := hdr[0]&0x80 != 0
		op := hdr[0] & 0x0f
		if hdr[0]&0x70 != 0 {
			return 0, nil, fmt.Errorf("%w: reserved bits set", errProtocol)
		}
		masked := hdr[1]&0x80 != 0
		n := uint64(hdr[1] & 0x7f)
		hlen := 2
		switch n {
		case 126:
			hlen = 4
		case 127:
			hlen = 10
		}
		if masked {
			hlen += 4
		}
		if hdr, err = c.br.Peek(hlen); err != nil {
			return 0, nil, err
		}
		switch n {
		case 126:
			n = uint64(binary.BigEndian.Uint16(hdr[2:4]))
		case 127:
			n = binary.BigEndian.Uint64(hdr[2:10])
		}
		var key [4]byte
		if masked {
			copy(key[:], hdr[hlen-4:hlen])
		}
		if _, err := c.br.Discard(hlen); err != nil {
			return 0, nil, err
		}
		if n > maxMessage || uint64(len(c.msg))+n > maxMessage {
			return 0, nil, fmt.Errorf("%w: message of %d bytes", errProtocol, n)
		}
		if op >= opClose {
			if n > 125 || !fin {
				return 0, nil, fmt.Errorf("%w: bad control frame", errProtocol)
			}
			var ctl [125]byte
			body := ctl[:n]
			if _, err := io.ReadFull(c.br, body); err != nil {
				return 0, nil, err
			}
			if masked {
				maskBytes(key, 0, body)
			}
			switch op {
			case opPing:
				if err := c.write(opPong, body); err != nil {
					return 0, nil, err
				}
			case opPong:
			case opClose:
				_ = c.write(opClose, nil)
				return 0, nil, errClosed
			default:
				return 0, nil, fmt.Errorf("%w: opcode %d", errProtocol, op)
			}
			continue
		}
		switch op {
		case opContinuation:
			if !fragmented {
				return 0, nil, fmt.Errorf("%w: unexpected continuation", errProtocol)
			}
		case opText, opBinary:
			if fragmented {
				return 0, nil, fmt.Errorf("%w: new message inside a fragmented one", errProtocol)
			}
			msgOp = op
		default:
			return 0, nil, fmt.Errorf("%w: opcode %d", errProtocol, op)
		}
		if fin && !fragmented && !masked && int(n) <= c.br.Size() {
			// Fast path: the whole message sits in the read buffer.
			p, err := c.br.Peek(int(n))
			if err != nil {
				return 0, nil, err
			}
			c.pending = int(n)
			return msgOp, p, nil
		}
		start := len(c.msg)
		c.msg = slices.Grow(c.msg, int(n))[:start+int(n)]
		if _, err := io.ReadFull(c.br, c.msg[start:]); err != nil {
			return 0, nil, err
		}
		if masked {
			maskBytes(key, 0, c.msg[start:])
		}
		if fin {
			return msgOp, c.msg, nil
		}
		fragmented = true
	}
}

// write sends p as one masked frame with opcode op.
func (c *wsConn) write(op byte, p []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	b := c.wbuf[:0]
	b = append(b, 0x80|op)
	switch n := len(p); {
	case n <= 125:
		b = append(b, 0x80|byte(n))
	case n <= 0xffff:
		b = append(b, 0x80|126, byte(n>>8), byte(n))
	default:
		b = append(b, 0x80|127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	// xorshift32: mask keys only need to be unpredictable to intermediaries,
	// and there are none on loopback.
	x := c.maskState
	x ^= x << 13
	x ^= x >> 17
	x ^= x << 5
	c.maskState = x
	var key [4]byte
	binary.LittleEndian.PutUint32(key[:], x)
	b = append(b, key[:]...)
	start := len(b)
	b = append(b, p...)
	maskBytes(key, 0, b[start:])
	if cap(b) <= 64<<10 {
		c.wbuf = b // keep the buffer unless one huge message grew it
	}
	if c.writeTimeout > 0 {
		_ = c.nc.SetWriteDeadline(time.Now().Add(c.writeTimeout))
	}
	_, err := c.nc.Write(b)
	return err
}

// maskBytes XORs b with key, starting at key offset pos.
func maskBytes(key [4]byte, pos int, b []byte) {
	for i := range b {
		b[i] ^= key[(pos+i)&3]
	}
}

func (c *wsConn) close() error { return c.nc.Close() }

// closeHandshake closes like a browser: a close frame, then wait (at most
// timeout) for the server's close frame or end of stream, then close. The
// server closes the TCP connection first, so TIME_WAIT stays on its side:
// a load generator that closed first would fill its own port space with
// TIME_WAIT sockets and spend its CPU searching for free ports.
func (c *wsConn) closeHandshake(timeout time.Duration) error {
	if err := c.write(opClose, []byte{0x03, 0xe8}); err != nil {
		return c.nc.Close()
	}
	_ = c.nc.SetReadDeadline(time.Now().Add(timeout))
	for i := 0; i < 1024; i++ { // bounded by the deadline; the count is a backstop
		if _, _, err := c.next(); err != nil {
			break
		}
	}
	return c.nc.Close()
}
