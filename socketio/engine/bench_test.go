package engine

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// BenchmarkBroadcastWebSocket sends one message to N websocket sessions over
// real loopback connections (encode once, the same Data on every session)
// and waits until every client has read it. deliveries/s counts messages
// read by clients; allocs/recipient is every allocation of the process
// during the loop per message and session.
func BenchmarkBroadcastWebSocket(b *testing.B) {
	const n = 1000
	e := newEnv(b, slowPing)
	var received atomic.Int64
	var wg sync.WaitGroup
	sessions := make([]*Session, 0, n)
	conns := make([]*websocket.Conn, 0, n)
	for i := 0; i < n; i++ {
		d := websocket.Dialer{HandshakeTimeout: waitTimeout}
		c, _, err := d.Dial(e.wsURL("EIO=4&transport=websocket"), nil)
		if err != nil {
			b.Fatal(err)
		}
		conns = append(conns, c)
		if _, _, err := c.ReadMessage(); err != nil { // open packet
			b.Fatal(err)
		}
		select {
		case s := <-e.app.opened:
			sessions = append(sessions, s)
		case <-time.After(waitTimeout):
			b.Fatal("no session")
		}
	}
	msg := Message{Data: []byte(`2["news",{"title":"hello","body":"a broadcast to every session"}]`)}
	frame := int64(frameHeaderLen(1+len(msg.Data)) + 1 + len(msg.Data))
	for _, c := range conns {
		wg.Add(1)
		// Count bytes on the raw connection (nothing else is sent after the
		// open packet, which gorilla read): gorilla's reader allocates per
		// message, which would hide the server's own figures.
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

	b.ReportAllocs()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		for _, s := range sessions {
			if err := s.Send(msg); err != nil {
				b.Fatal(err)
			}
		}
	}
	want := int64(n) * int64(b.N) * frame
	deadline := time.Now().Add(30 * time.Second)
	for received.Load() < want {
		if time.Now().After(deadline) {
			b.Fatalf("received %d of %d bytes", received.Load(), want)
		}
		time.Sleep(100 * time.Microsecond)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	runtime.ReadMemStats(&after)
	recipients := float64(n) * float64(b.N)
	b.ReportMetric(recipients/elapsed.Seconds(), "deliveries/s")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/recipients, "allocs/recipient")
	for _, c := range conns {
		c.Close()
	}
	wg.Wait()
}
