package socketio_test

import (
	"bufio"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"io"
	"net"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-socketio/caddy-socketio/socketio"
	"github.com/caddy-socketio/caddy-socketio/socketio/engine"
)

// rawClient is a minimal websocket client for benchmarks: after the
// handshake it keeps only the net.Conn, so measuring the server's memory is
// not drowned by client-side buffers.
type rawClient struct {
	conn net.Conn
	br   *bufio.Reader
}

func dialRaw(tb testing.TB, addr string) *rawClient {
	tb.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		tb.Fatal(err)
	}
	var key [16]byte
	_, _ = rand.Read(key[:])
	req := "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: " + addr +
		"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " +
		base64.StdEncoding.EncodeToString(key[:]) + "\r\n\r\n"
	if _, err := io.WriteString(conn, req); err != nil {
		tb.Fatal(err)
	}
	c := &rawClient{conn: conn, br: bufio.NewReaderSize(conn, 512)}
	for {
		line, err := c.br.ReadString('\n')
		if err != nil {
			tb.Fatal(err)
		}
		if line == "\r\n" {
			break
		}
	}
	if open := c.readFrame(tb); !strings.HasPrefix(open, "0{") {
		tb.Fatalf("open %q", open)
	}
	c.writeFrame(tb, "40")
	if reply := c.readFrame(tb); !strings.HasPrefix(reply, "40{") {
		tb.Fatalf("connect %q", reply)
	}
	return c
}

func (c *rawClient) readFrame(tb testing.TB) string {
	var h [2]byte
	if _, err := io.ReadFull(c.br, h[:]); err != nil {
		tb.Fatal(err)
	}
	n := int(h[1] & 0x7f)
	switch n {
	case 126:
		var l [2]byte
		_, _ = io.ReadFull(c.br, l[:])
		n = int(binary.BigEndian.Uint16(l[:]))
	case 127:
		var l [8]byte
		_, _ = io.ReadFull(c.br, l[:])
		n = int(binary.BigEndian.Uint64(l[:]))
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(c.br, buf); err != nil {
		tb.Fatal(err)
	}
	return string(buf)
}

// writeFrame sends a masked text frame (payloads < 126 bytes).
func (c *rawClient) writeFrame(tb testing.TB, s string) {
	frame := []byte{0x81, 0x80 | byte(len(s)), 1, 2, 3, 4}
	for i := 0; i < len(s); i++ {
		frame = append(frame, s[i]^frame[2+i%4])
	}
	if _, err := c.conn.Write(frame); err != nil {
		tb.Fatal(err)
	}
}

func benchServer(tb testing.TB) (*socketio.Server, string) {
	srv := socketio.NewServer(&socketio.Options{Engine: engine.Config{PingInterval: time.Hour, PingTimeout: time.Hour}})
	hs := httptest.NewServer(srv)
	tb.Cleanup(func() {
		_ = srv.Close()
		hs.Close()
	})
	return srv, strings.TrimPrefix(hs.URL, "http://")
}

// BenchmarkBroadcastRoom1000 fans one event out to 1,000 websocket clients
// in one room over loopback; deliveries/s counts frames the clients read.
func BenchmarkBroadcastRoom1000(b *testing.B) {
	const n = 1000
	srv, addr := benchServer(b)
	nsp := srv.Of("/")
	clients := make([]*rawClient, n)
	for i := range clients {
		clients[i] = dialRaw(b, addr)
	}
	if err := nsp.SocketsJoin("room"); err != nil {
		b.Fatal(err)
	}
	payload := map[string]any{"text": "hello everyone in the room", "n": 1}
	// Every frame is the same size, so counting bytes counts deliveries.
	frame := 2 + len(`42["room-message",{"n":1,"text":"hello everyone in the room"}]`)
	var received atomic.Int64
	var wg sync.WaitGroup
	want := int64(b.N) * int64(frame)
	for _, c := range clients {
		wg.Add(1)
		go func(c *rawClient) {
			defer wg.Done()
			buf := make([]byte, 32<<10)
			var got int64
			_ = c.conn.SetReadDeadline(time.Now().Add(5 * time.Minute))
			for got < want {
				m, err := c.br.Read(buf)
				if err != nil {
					return
				}
				got += int64(m)
			}
			received.Add(got)
		}(c)
	}
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		if err := nsp.To("room").Emit("room-message", payload); err != nil {
			b.Fatal(err)
		}
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if received.Load() != want*n {
		b.Fatalf("received %d bytes, want %d", received.Load(), want*n)
	}
	b.ReportMetric(float64(n*b.N)/elapsed.Seconds(), "deliveries/s")
	for _, c := range clients {
		_ = c.conn.Close()
	}
}

// BenchmarkIdleConnMemory measures the memory the process gains per idle
// websocket connection joined to "/" (server side plus a bare client
// net.Conn, which is a few hundred bytes).
func BenchmarkIdleConnMemory(b *testing.B) {
	const n = 2000
	for i := 0; i < b.N; i++ {
		srv, addr := benchServer(b)
		before, stackBefore := memInUse(), stackInUse()
		clients := make([]*rawClient, n)
		for j := range clients {
			clients[j] = dialRaw(b, addr)
			clients[j].br = nil
		}
		for srv.Of("/").SocketCount() < n {
			time.Sleep(time.Millisecond)
		}
		after, stackAfter := memInUse(), stackInUse()
		b.ReportMetric(float64(after-before)/n, "bytes/conn")
		b.ReportMetric(float64(stackAfter-stackBefore)/n, "stack-bytes/conn")
		for _, c := range clients {
			_ = c.conn.Close()
		}
	}
}

func stackInUse() uint64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.StackInuse
}

func memInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse + m.StackInuse
}
