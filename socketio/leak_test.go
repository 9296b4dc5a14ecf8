package socketio_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/caddy-socketio/caddy-socketio/socketio/siotest"
)

// TestNoLeakAcrossConnectCycles connects and disconnects clients over both
// transports, cleanly and abruptly, and checks that goroutines and heap go
// back to where they started. `go test -run NoLeak -cycles 100000` is the
// long variant.
func TestNoLeakAcrossConnectCycles(t *testing.T) {
	srv, hs := newTestServer(t, nil)
	addr := strings.TrimPrefix(hs.URL, "http://")
	client := &http.Client{Timeout: 5 * time.Second}
	cycle := func(i int) {
		switch i % 3 {
		case 0: // websocket, closed by the client
			c := siotest.Dial(t, addr, "/socket.io/")
			_ = c.Conn.Close()
		case 1: // websocket, leaves the namespace first
			c := siotest.Dial(t, addr, "/socket.io/")
			c.WriteText(t, "41")
			_ = c.Conn.Close()
		case 2: // polling: handshake, CONNECT, its reply, then close
			sid := pollHandshake(t, client, hs.URL)
			pollPost(t, client, hs.URL, sid, "40")
			if body := pollGet(t, client, hs.URL, sid); !strings.HasPrefix(body, "40{") {
				t.Fatalf("connect reply %q", body)
			}
			pollPost(t, client, hs.URL, sid, "1")
		}
	}
	// Warm up pools and the HTTP client's connections, then measure.
	for i := 0; i < 60; i++ {
		cycle(i)
	}
	waitIdle(t, srv.Engine().SessionCount)
	goroutines, heap := siotest.SettledGoroutines(), siotest.HeapInUse()

	for i := 0; i < *cycles; i++ {
		cycle(i)
	}
	waitIdle(t, srv.Engine().SessionCount)
	if n := srv.Of("/").SocketCount(); n != 0 {
		t.Fatalf("%d sockets left", n)
	}
	siotest.WaitGoroutines(t, goroutines+5, 10*time.Second)
	if h := siotest.HeapInUse(); h > heap+4<<20 {
		t.Fatalf("heap grew from %d to %d bytes over %d cycles", heap, h, *cycles)
	}
}

func waitIdle(t *testing.T, sessions func() int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for sessions() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d sessions still open", sessions())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func pollHandshake(t *testing.T, c *http.Client, base string) string {
	t.Helper()
	body := pollDo(t, c, http.MethodGet, base+"/socket.io/?EIO=4&transport=polling", "")
	i := strings.Index(body, `"sid":"`)
	if i < 0 {
		t.Fatalf("handshake %q", body)
	}
	return body[i+7 : i+27]
}

func pollGet(t *testing.T, c *http.Client, base, sid string) string {
	t.Helper()
	return pollDo(t, c, http.MethodGet, base+"/socket.io/?EIO=4&transport=polling&sid="+sid, "")
}

func pollPost(t *testing.T, c *http.Client, base, sid, body string) {
	t.Helper()
	if got := pollDo(t, c, http.MethodPost, base+"/socket.io/?EIO=4&transport=polling&sid="+sid, body); got != "ok" {
		t.Fatalf("post answered %q", got)
	}
}

func pollDo(t *testing.T, c *http.Client, method, url, body string) string {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("%s %s: %d %q %v", method, url, resp.StatusCode, b, err)
	}
	return string(b)
}
