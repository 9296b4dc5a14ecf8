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
	"io"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Client is one websocket connection joined to the "/" namespace.
type Client struct {
	Conn net.Conn
	// R buffers reads; set it to nil to measure idle memory without it.
	R *bufio.Reader
}

// Dial opens a websocket Engine.IO session at addr (host:port) under path
// (such as "/socket.io/") and connects it to "/".
func Dial(tb testing.TB, addr, path string) *Client {
	tb.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		tb.Fatal(err)
	}
	var key [16]byte
	_, _ = rand.Read(key[:])
	req := "GET " + path + "?EIO=4&transport=websocket HTTP/1.1\r\nHost: " + addr +
		"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " +
		base64.StdEncoding.EncodeToString(key[:]) + "\r\n\r\n"
	if _, err := io.WriteString(conn, req); err != nil {
		tb.Fatal(err)
	}
	c := &Client{Conn: conn, R: bufio.NewReaderSize(conn, 512)}
	status, err := c.R.ReadString('\n')
	if err != nil || !strings.Contains(status, " 101 ") {
		tb.Fatalf("upgrade: %q %v", status, err)
	}
	for i := 0; i < 100; i++ {
		line, err := c.R.ReadString('\n')
		if err != nil {
			tb.Fatal(err)
		}
		if line == "\r\n" {
			break
		}
	}
	if open := c.ReadFrame(tb); !strings.HasPrefix(open, "0{") {
		tb.Fatalf("open %q", open)
	}
	c.WriteText(tb, "40")
	if reply := c.ReadFrame(tb); !strings.HasPrefix(reply, "40{") {
		tb.Fatalf("connect %q", reply)
	}
	return c
}

// ReadFrame reads one server frame and returns its payload.
func (c *Client) ReadFrame(tb testing.TB) string {
	tb.Helper()
	_ = c.Conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	var h [2]byte
	if _, err := io.ReadFull(c.R, h[:]); err != nil {
		tb.Fatal(err)
	}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var l [2]byte
		_, _ = io.ReadFull(c.R, l[:])
		n = uint64(binary.BigEndian.Uint16(l[:]))
	case 127:
		var l [8]byte
		_, _ = io.ReadFull(c.R, l[:])
		n = binary.BigEndian.Uint64(l[:])
	}
	if n > 1<<20 {
		tb.Fatalf("frame of %d bytes", n)
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(c.R, buf); err != nil {
		tb.Fatal(err)
	}
	return string(buf)
}

// WriteText sends a masked text frame (payloads under 126 bytes).
func (c *Client) WriteText(tb testing.TB, s string) {
	tb.Helper()
	if len(s) >= 126 {
		tb.Fatalf("frame too long for WriteText: %d bytes", len(s))
	}
	frame := []byte{0x81, 0x80 | byte(len(s)), 1, 2, 3, 4}
	for i := 0; i < len(s); i++ {
		frame = append(frame, s[i]^frame[2+i%4])
	}
	if _, err := c.Conn.Write(frame); err != nil {
		tb.Fatal(err)
	}
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
