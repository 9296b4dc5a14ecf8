package engine

import (
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// BenchmarkDeflateBroadcast broadcasts a 2 KB chat-like JSON message to 200
// websocket sessions over loopback, without and with permessage-deflate,
// and reports the bytes written per delivery, the server process's CPU time
// (user+system, from getrusage, so the reading clients count too) per
// delivery and compressions per broadcast.
func BenchmarkDeflateBroadcast(b *testing.B) {
	var sb strings.Builder
	sb.WriteString(`2["messages",[`)
	for i := 0; sb.Len() < 2000; i++ {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString(`{"room":"lobby","user":"alice","text":"see you at the meeting at three","id":`)
		sb.WriteString(itoa(1000 + i))
		sb.WriteString(`}`)
	}
	sb.WriteString(`]]`)
	data := []byte(sb.String())
	for _, on := range []bool{false, true} {
		name := "off"
		if on {
			name = "on"
		}
		b.Run(name, func(b *testing.B) { benchDeflateBroadcast(b, data, on) })
	}
}

func benchDeflateBroadcast(b *testing.B, data []byte, on bool) {
	const n = 200
	e := newEnv(b, func(c *Config) { c.WebSocketCompression = on; slowPing(c) })
	var received atomic.Int64
	var wg sync.WaitGroup
	sessions := make([]*Session, 0, n)
	conns := make([]*websocket.Conn, 0, n)
	for i := 0; i < n; i++ {
		d := websocket.Dialer{HandshakeTimeout: waitTimeout, EnableCompression: true}
		c, _, err := d.Dial(e.wsURL("EIO=4&transport=websocket"), nil)
		if err != nil {
			b.Fatal(err)
		}
		conns = append(conns, c)
		if _, _, err := c.ReadMessage(); err != nil {
			b.Fatal(err)
		}
		sessions = append(sessions, e.app.waitOpened(b))
	}
	// The size of one frame as sent, measured on one session.
	var frame int64
	{
		nc := conns[0].NetConn()
		_ = sessions[0].Send(Message{Data: data})
		buf := make([]byte, 64<<10)
		_ = nc.SetReadDeadline(time.Now().Add(waitTimeout))
		m, err := nc.Read(buf)
		if err != nil {
			b.Fatal(err)
		}
		_ = nc.SetReadDeadline(time.Time{})
		frame = int64(m)
	}
	for _, c := range conns {
		wg.Add(1)
		nc := c.NetConn()
		buf := make([]byte, 32<<10)
		go func() {
			defer wg.Done()
			for {
				m, err := nc.Read(buf)
				if err != nil {
					return
				}
				received.Add(int64(m))
			}
		}()
	}
	msg := Message{Data: data}
	var ru0, ru1 syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	compressions := deflateCompressions.Load()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		if i%256 == 255 { // stay well inside the send queues
			behind := int64(n) * int64(i-512) * frame
			for k := 0; received.Load() < behind && k < 600_000; k++ {
				time.Sleep(100 * time.Microsecond)
			}
		}
		// A fresh copy per broadcast, as the encoder makes one.
		m := Message{Data: append([]byte(nil), msg.Data...)}
		for _, s := range sessions {
			if err := s.Send(m); err != nil {
				b.Fatal(err)
			}
		}
	}
	want := int64(n) * int64(b.N) * frame
	deadline := time.Now().Add(60 * time.Second)
	for received.Load() < want {
		if time.Now().After(deadline) {
			b.Fatalf("received %d of %d bytes", received.Load(), want)
		}
		time.Sleep(100 * time.Microsecond)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
	deliveries := float64(n) * float64(b.N)
	cpu := time.Duration(ru1.Utime.Nano() + ru1.Stime.Nano() - ru0.Utime.Nano() - ru0.Stime.Nano())
	b.ReportMetric(deliveries/elapsed.Seconds(), "deliveries/s")
	b.ReportMetric(float64(frame), "wire-bytes/delivery")
	b.ReportMetric(float64(cpu.Microseconds())/deliveries, "cpu-µs/delivery")
	b.ReportMetric(float64(deflateCompressions.Load()-compressions)/float64(b.N), "compressions/broadcast")
	for _, c := range conns {
		c.Close()
	}
	wg.Wait()
}

// BenchmarkInflate inflates a compressed 100 KB JSON client message.
func BenchmarkInflate(b *testing.B) {
	var sb strings.Builder
	for i := 0; sb.Len() < 100_000; i++ {
		sb.WriteString(`{"user":"alice","text":"hello there, how are you?","n":`)
		sb.WriteString(itoa(i))
		sb.WriteString(`},`)
	}
	z := deflatePayload("4", []byte(sb.String()), false)
	b.SetBytes(int64(sb.Len()))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := inflate(z, 1_000_000); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDeflatePayload compresses one 2 KB chat-like JSON message: the
// cost per message that is not shared (an emit to one socket, an ack).
func BenchmarkDeflatePayload(b *testing.B) {
	var sb strings.Builder
	for i := 0; sb.Len() < 2000; i++ {
		sb.WriteString(`{"room":"lobby","user":"alice","text":"see you at the meeting at three","id":`)
		sb.WriteString(itoa(1000 + i))
		sb.WriteString(`},`)
	}
	data := []byte(sb.String())
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		deflatePayload("4", data, false)
	}
}
