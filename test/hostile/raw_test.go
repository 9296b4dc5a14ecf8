package hostile

import (
	"bufio"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// rawWS is a websocket client on a bare TCP connection, so that an attack
// can write frames no library would (floods of control frames, invalid
// UTF-8) and read the close frame the server sends.
type rawWS struct {
	conn net.Conn
	br   *bufio.Reader
}

// dialRaw opens a websocket session ("/socket.io/?EIO=4&transport=websocket")
// with extra headers, and returns it with the HTTP status. A 101 response
// has its open packet read.
func dialRaw(addr string, header http.Header) (*rawWS, int, error) {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, 0, err
	}
	var key [16]byte
	_, _ = rand.Read(key[:])
	var b strings.Builder
	fmt.Fprintf(&b, "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: %s\r\n", addr, base64.StdEncoding.EncodeToString(key[:]))
	for k, vs := range header {
		for _, v := range vs {
			fmt.Fprintf(&b, "%s: %s\r\n", k, v)
		}
	}
	b.WriteString("\r\n")
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(conn, b.String()); err != nil {
		conn.Close()
		return nil, 0, err
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		conn.Close()
		return nil, 0, err
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		conn.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
		return nil, resp.StatusCode, fmt.Errorf("status %d: %s", resp.StatusCode, body)
	}
	c := &rawWS{conn: conn, br: br}
	op, data, err := c.readFrame()
	if err != nil || op != 1 || !strings.HasPrefix(string(data), "0{") {
		conn.Close()
		return nil, resp.StatusCode, fmt.Errorf("open packet: op %d %q %v", op, data, err)
	}
	_ = conn.SetDeadline(time.Time{})
	return c, resp.StatusCode, nil
}

// frame encodes one masked client frame.
func frame(op byte, fin bool, payload []byte) []byte {
	b0 := op
	if fin {
		b0 |= 0x80
	}
	out := []byte{b0}
	switch n := len(payload); {
	case n < 126:
		out = append(out, 0x80|byte(n))
	case n < 1<<16:
		out = append(out, 0x80|126, byte(n>>8), byte(n))
	default:
		out = append(out, 0x80|127)
		out = binary.BigEndian.AppendUint64(out, uint64(n))
	}
	mask := [4]byte{1, 2, 3, 4}
	out = append(out, mask[:]...)
	for i, c := range payload {
		out = append(out, c^mask[i%4])
	}
	return out
}

func (c *rawWS) write(b []byte, d time.Duration) error {
	_ = c.conn.SetWriteDeadline(time.Now().Add(d))
	_, err := c.conn.Write(b)
	return err
}

func (c *rawWS) sendText(s string) error { return c.write(frame(1, true, []byte(s)), 5*time.Second) }

// readFrame reads one server frame (unmasked).
func (c *rawWS) readFrame() (op byte, data []byte, err error) {
	var h [2]byte
	if _, err = io.ReadFull(c.br, h[:]); err != nil {
		return 0, nil, err
	}
	op = h[0] & 0x0f
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var e [2]byte
		if _, err = io.ReadFull(c.br, e[:]); err != nil {
			return
		}
		n = uint64(binary.BigEndian.Uint16(e[:]))
	case 127:
		var e [8]byte
		if _, err = io.ReadFull(c.br, e[:]); err != nil {
			return
		}
		n = binary.BigEndian.Uint64(e[:])
	}
	if n > 64<<20 {
		return 0, nil, errors.New("frame too large")
	}
	data = make([]byte, n)
	_, err = io.ReadFull(c.br, data)
	return
}

// closeCode reads frames (answering pings) until the close frame, and
// returns its status code; -1 when the connection ended without one.
func (c *rawWS) closeCode(t *testing.T, d time.Duration) int {
	t.Helper()
	_ = c.conn.SetReadDeadline(time.Now().Add(d))
	for i := 0; i < 10000; i++ {
		op, data, err := c.readFrame()
		if err != nil {
			t.Logf("no close frame: %v", err)
			return -1
		}
		switch op {
		case 8:
			if len(data) < 2 {
				return 1005
			}
			return int(binary.BigEndian.Uint16(data[:2]))
		case 1:
			if string(data) == "2" {
				_ = c.sendText("3")
			}
		}
	}
	return -1
}

// packet returns the next text frame that is not a ping (pings are
// answered), within the connection's read deadline.
func (c *rawWS) packet() (string, error) {
	for i := 0; i < 1000; i++ {
		op, data, err := c.readFrame()
		if err != nil {
			return "", err
		}
		switch {
		case op == 8:
			return "", errors.New("closed by the server")
		case op != 1:
		case string(data) == "2":
			_ = c.sendText("3")
		default:
			return string(data), nil
		}
	}
	return "", errors.New("no packet")
}

func (c *rawWS) Close() { _ = c.conn.Close() }
