// Package siotest has a minimal websocket Socket.IO client for benchmarks:
// after the handshake it holds only a net.Conn and a small reader, so that
// measuring a server is not drowned by client-side costs. Tests that need a
// full client use the official one (test/interop) instead.
package siotest

import (
	"bufio"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-socketio/caddy-socketio/socketio/parser"
)

// Client is one websocket connection joined to the "/" namespace.
type Client struct {
	Conn net.Conn
	// R buffers reads; set it to nil to measure idle memory without it.
	R *bufio.Reader
	// SocketID is the id the server gave the socket in its CONNECT reply.
	SocketID string
}

// Dial opens a websocket Engine.IO session at addr (host:port) under path
// (such as "/socket.io/") and connects it to "/".
func Dial(tb testing.TB, addr, path string) *Client {
	tb.Helper()
	c, err := Open(nil, addr, path)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// Open is Dial for code that cannot call tb.Fatal (many dialing
// goroutines): it returns errors instead. d dials (nil: a zero
// net.Dialer), so that callers can choose the local address or set socket
// options; each step of the handshake is bounded by 10 s.
func Open(d *net.Dialer, addr, path string) (*Client, error) {
	return open(d, addr, path, false)
}

// DialMsgpack is Dial for a socket.io-msgpack-parser client: its CONNECT
// and every packet after it are binary MessagePack frames.
func DialMsgpack(tb testing.TB, addr, path string) *Client {
	tb.Helper()
	c, err := open(nil, addr, path, true)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

func open(d *net.Dialer, addr, path string, msgpack bool) (*Client, error) {
	if d == nil {
		d = &net.Dialer{Timeout: 10 * time.Second}
	}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	c, err := handshake(conn, addr, path, msgpack)
	if err != nil {
		_ = conn.Close()
		return nil, err
	}
	return c, nil
}

func handshake(conn net.Conn, addr, path string, msgpack bool) (*Client, error) {
	_ = conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	var key [16]byte
	_, _ = rand.Read(key[:])
	req := "GET " + path + "?EIO=4&transport=websocket HTTP/1.1\r\nHost: " + addr +
		"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " +
		base64.StdEncoding.EncodeToString(key[:]) + "\r\n\r\n"
	if _, err := io.WriteString(conn, req); err != nil {
		return nil, err
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	c := &Client{Conn: conn, R: bufio.NewReaderSize(conn, 512)}
	status, err := c.R.ReadString('\n')
	if err != nil || !strings.Contains(status, " 101 ") {
		return nil, fmt.Errorf("upgrade: %q %v", status, err)
	}
	for i := 0; ; i++ {
		if i == 100 {
			return nil, errors.New("upgrade: too many header lines")
		}
		line, err := c.R.ReadString('\n')
		if err != nil {
			return nil, fmt.Errorf("upgrade headers: %w", err)
		}
		if line == "\r\n" {
			break
		}
	}
	open, err := c.Next(10 * time.Second)
	if err != nil {
		return nil, fmt.Errorf("open packet: %w", err)
	}
	if !strings.HasPrefix(open, "0{") {
		return nil, fmt.Errorf("open %q", open)
	}
	if msgpack {
		// {type: 0, nsp: "/"}, as socket.io-msgpack-parser writes it.
		if err := c.WriteBinary([]byte("\x82\xa4type\x00\xa3nsp\xa1/")); err != nil {
			return nil, err
		}
		reply, err := c.Next(10 * time.Second)
		if err != nil {
			return nil, fmt.Errorf("connect reply: %w", err)
		}
		p, err := parser.DecodeMsgpack([]byte(reply))
		if err != nil || p.Type != parser.Connect {
			return nil, fmt.Errorf("connect reply %q: %v", reply, err)
		}
		c.SocketID, _ = p.Data.(map[string]any)["sid"].(string)
		_ = conn.SetDeadline(time.Time{})
		return c, nil
	}
	if err := c.Write("40"); err != nil {
		return nil, err
	}
	reply, err := c.Next(10 * time.Second)
	if err != nil {
		return nil, fmt.Errorf("connect reply: %w", err)
	}
	const prefix = `40{"sid":"`
	if !strings.HasPrefix(reply, prefix) || len(reply) < len(prefix)+20 {
		return nil, fmt.Errorf("connect %q", reply)
	}
	c.SocketID = reply[len(prefix) : len(prefix)+20]
	_ = conn.SetDeadline(time.Time{})
	return c, nil
}

// ReadFrame reads one server frame and returns its payload.
func (c *Client) ReadFrame(tb testing.TB) string {
	tb.Helper()
	f, err := c.Next(10 * time.Second)
	if err != nil {
		tb.Fatal(err)
	}
	return f
}

// Next reads one server frame within timeout (0: no deadline) and returns
// its payload. Frames over 1 MiB are refused.
func (c *Client) Next(timeout time.Duration) (string, error) {
	var dl time.Time
	if timeout > 0 {
		dl = time.Now().Add(timeout)
	}
	_ = c.Conn.SetReadDeadline(dl)
	var h [2]byte
	if _, err := io.ReadFull(c.R, h[:]); err != nil {
		return "", err
	}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var l [2]byte
		if _, err := io.ReadFull(c.R, l[:]); err != nil {
			return "", err
		}
		n = uint64(binary.BigEndian.Uint16(l[:]))
	case 127:
		var l [8]byte
		if _, err := io.ReadFull(c.R, l[:]); err != nil {
			return "", err
		}
		n = binary.BigEndian.Uint64(l[:])
	}
	if n > 1<<20 {
		return "", fmt.Errorf("frame of %d bytes", n)
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(c.R, buf); err != nil {
		return "", err
	}
	return string(buf), nil
}

// WriteText sends a masked text frame (payloads under 126 bytes).
func (c *Client) WriteText(tb testing.TB, s string) {
	tb.Helper()
	if len(s) >= 126 {
		tb.Fatalf("frame too long for WriteText: %d bytes", len(s))
	}
	if err := c.Write(s); err != nil {
		tb.Fatal(err)
	}
}

// Write sends a masked text frame. Not safe for concurrent use.
func (c *Client) Write(s string) error { return c.writeFrame(0x81, s) }

// WriteBinary sends a masked binary frame. Not safe for concurrent use.
func (c *Client) WriteBinary(b []byte) error { return c.writeFrame(0x82, string(b)) }

func (c *Client) writeFrame(op byte, s string) error {
	frame := make([]byte, 0, 14+len(s))
	switch n := len(s); {
	case n < 126:
		frame = append(frame, op, 0x80|byte(n))
	case n <= 0xffff:
		frame = append(frame, op, 0x80|126, byte(n>>8), byte(n))
	default:
		frame = append(frame, op, 0x80|127, 0, 0, 0, 0, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	mask := [4]byte{1, 2, 3, 4}
	frame = append(frame, mask[:]...)
	for i := 0; i < len(s); i++ {
		frame = append(frame, s[i]^mask[i%4])
	}
	_, err := c.Conn.Write(frame)
	return err
}

// FanOut calls emit b.N times; each call must send one frame of frameLen
// bytes (header included) to every client. It waits until every client read
// them all and reports deliveries/s and allocs/recipient (every allocation
// of the process during the loop, divided by b.N × len(clients); the readers
// allocate nothing once started). Use a ping interval longer than the
// benchmark so that no ping frame is counted.
func FanOut(b *testing.B, clients []*Client, frameLen int, emit func() error) {
	b.Helper()
	want := int64(b.N) * int64(frameLen)
	var received atomic.Int64
	var wg, ready sync.WaitGroup
	for _, c := range clients {
		wg.Add(1)
		ready.Add(1)
		buf := make([]byte, 32<<10)
		_ = c.Conn.SetReadDeadline(time.Now().Add(5 * time.Minute))
		go func(c *Client) {
			defer wg.Done()
			var got int64
			ready.Done()
			for got < want {
				m, err := c.R.Read(buf)
				if err != nil {
					break
				}
				got += int64(m)
			}
			received.Add(got)
		}(c)
	}
	ready.Wait()
	b.ReportAllocs()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		if err := emit(); err != nil {
			b.Fatal(err)
		}
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	runtime.ReadMemStats(&after)
	if got := received.Load(); got != want*int64(len(clients)) {
		b.Fatalf("clients read %d bytes, want %d", got, want*int64(len(clients)))
	}
	recipients := float64(len(clients)) * float64(b.N)
	b.ReportMetric(recipients/elapsed.Seconds(), "deliveries/s")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/recipients, "allocs/recipient")
}
