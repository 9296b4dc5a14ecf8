package engine

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// pauseOn makes the app pause a session's reads when it gets "pause", and
// echo everything else.
func pauseOn(e *env) {
	e.app.setOnMessage(func(s *Session, data []byte, _ bool) bool {
		if string(data) == "pause" {
			s.PauseReads()
			return true
		}
		return false
	})
}

// Websocket: a paused session stops dispatching, keeps its heartbeat while
// its reader is held (the pong is behind the held message), does not slow
// another session, and goes on in order once resumed.
func TestPauseReadsWebSocket(t *testing.T) { testPauseReadsWebSocket(t) }

// The same with the blocking reader (TLS, platforms without epoll).
func TestPauseReadsWebSocketBlockingReader(t *testing.T) {
	blockingReads.Store(true)
	defer blockingReads.Store(false)
	testPauseReadsWebSocket(t)
}

func testPauseReadsWebSocket(t *testing.T) {
	e := newEnv(t, nil) // ping every 300ms, timeout 200ms
	pauseOn(e)
	c, s, _ := e.wsHandshake("")

	writeWS(t, c, websocket.TextMessage, "4pause")
	writeWS(t, c, websocket.TextMessage, "4a")
	writeWS(t, c, websocket.TextMessage, "4b")
	eventually(t, "reader held", s.readerHeld)

	// Pings keep coming; the client answers (its pongs wait behind "a").
	// Several heartbeat periods pass without a close.
	start := time.Now()
	for pings := 0; pings < 4; pings++ {
		mt, b := readWS(t, c)
		if mt != websocket.TextMessage || string(b) != "2" {
			t.Fatalf("paused session sent %q", b)
		}
		writeWS(t, c, websocket.TextMessage, "3")
	}
	if d := time.Since(start); d < 600*time.Millisecond {
		t.Fatalf("4 pings in %v", d)
	}
	// Another session echoes at once.
	other, _, _ := e.wsHandshake("")
	start = time.Now()
	writeWS(t, other, websocket.TextMessage, "4x")
	if _, m := readWSSkipPing(t, other); m != "4x" {
		t.Fatalf("other session got %q", m)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("other session answered in %v", d)
	}
	select {
	case <-s.Done():
		t.Fatal("paused session closed")
	default:
	}

	s.ResumeReads()
	select {
	case <-s.Done():
		t.Fatalf("closed before resume: %s", e.app.waitClosed(t, s.ID()))
	default:
	}
	for _, want := range []string{"4a", "4b"} {
		if _, m := readWSSkipPing(t, c); m != want {
			t.Fatalf("after resume got %q, want %q\n%s", m, want, e.logs.String())
		}
	}
	// Alive after the backlog of pongs was read: two more heartbeats.
	for pings := 0; pings < 2; pings++ {
		if _, m := readWS(t, c); m != "2" {
			t.Fatalf("got %q", m)
		}
		writeWS(t, c, websocket.TextMessage, "3")
	}
	writeWS(t, c, websocket.TextMessage, "4c")
	if _, m := readWSSkipPing(t, c); m != "4c" {
		t.Fatalf("got %q", m)
	}
}

// A paused websocket whose peer goes away is still closed: the pings
// written to it fail.
func TestPauseReadsWebSocketPeerGone(t *testing.T) {
	e := newEnv(t, nil)
	pauseOn(e)
	c, s, _ := e.wsHandshake("")
	writeWS(t, c, websocket.TextMessage, "4pause")
	writeWS(t, c, websocket.TextMessage, "4a")
	eventually(t, "reader held", s.readerHeld)
	c.Close()
	r := e.app.waitClosed(t, s.ID())
	if r != ReasonTransportClose && r != ReasonTransportError {
		t.Fatalf("reason %q", r)
	}
}

// Polling: the POST's response is held while paused, GETs still carry the
// pings, and the session stays open; resuming answers the POST.
func TestPauseReadsPolling(t *testing.T) {
	e := newEnv(t, nil)
	pauseOn(e)
	sid, s := e.handshake()
	posted := make(chan resp, 1)
	go func() { posted <- e.post(sid, "4pause\x1e4a") }()
	eventually(t, "reader held", s.readerHeld)
	mustNotRespond(t, posted, 100*time.Millisecond)

	pings := 0
	deadline := time.Now().Add(1500 * time.Millisecond)
	for time.Now().Before(deadline) {
		r := e.get(sid)
		if r.status != 200 {
			t.Fatalf("GET while paused: %d %q", r.status, r.body)
		}
		if strings.Contains(r.body, "4a") {
			t.Fatal("paused session dispatched")
		}
		pings += strings.Count(r.body, "2")
	}
	if pings < 2 {
		t.Fatalf("%d pings while paused", pings)
	}
	select {
	case r := <-posted:
		t.Fatalf("POST answered while paused: %v", r)
	case <-s.Done():
		t.Fatal("paused session closed")
	default:
	}
	s.ResumeReads()
	if r := waitResp(t, posted); r.status != 200 {
		t.Fatalf("POST: %d", r.status)
	}
	if r := e.get(sid); !strings.Contains(r.body, "4a") {
		t.Fatalf("after resume GET %q", r.body)
	}
}

// A held POST whose client goes away closes the session.
func TestPauseReadsPollingClientGone(t *testing.T) {
	e := newEnv(t, slowPing)
	pauseOn(e)
	sid, s := e.handshake()
	ctx, cancel := context.WithCancel(context.Background())
	go e.doCtx(ctx, "POST", "EIO=4&transport=polling&sid="+sid, "4pause\x1e4a")
	eventually(t, "reader held", s.readerHeld)
	cancel()
	if r := e.app.waitClosed(t, s.ID()); r != ReasonTransportClose {
		t.Fatalf("reason %q", r)
	}
}

// Without a pause a missing pong still closes the session.
func TestPauseReadsNotHeldPingTimeout(t *testing.T) {
	e := newEnv(t, nil)
	pauseOn(e)
	c, s, _ := e.wsHandshake("")
	writeWS(t, c, websocket.TextMessage, "4pause") // paused, but no reader held
	if r := e.app.waitClosed(t, s.ID()); r != ReasonPingTimeout {
		t.Fatalf("reason %q", r)
	}
}
