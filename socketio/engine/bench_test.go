package engine

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// BenchmarkBroadcastWebSocket sends one message to N websocket sessions over
// real loopback connections (encode once, the same Data on every session)
// and waits until every client has read it. deliveries/s counts messages
// read by clients.
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
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Read without allocating so the numbers are the server's.
			buf := make([]byte, 512)
			for {
				_, r, err := c.NextReader()
				if err != nil {
					return
				}
				for err == nil {
					_, err = r.Read(buf)
				}
				received.Add(1)
			}
		}()
	}
	msg := Message{Data: []byte(`2["news",{"title":"hello","body":"a broadcast to every session"}]`)}

	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		for _, s := range sessions {
			if err := s.Send(msg); err != nil {
				b.Fatal(err)
			}
		}
	}
	want := int64(n) * int64(b.N)
	deadline := time.Now().Add(30 * time.Second)
	for received.Load() < want {
		if time.Now().After(deadline) {
			b.Fatalf("received %d of %d", received.Load(), want)
		}
		time.Sleep(100 * time.Microsecond)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(want)/elapsed.Seconds(), "deliveries/s")
	for _, c := range conns {
		c.Close()
	}
	wg.Wait()
}
