package engine

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/gorilla/websocket"
)

func TestMaxConnections(t *testing.T) {
	e := newEnv(t, func(c *Config) { slowPing(c); c.MaxConnections = 2 })
	sid1, _ := e.handshake()
	ws, _, _ := e.wsHandshake("")

	// Both transports are refused with 503 before any upgrade.
	r := e.do("GET", "EIO=4&transport=polling", "")
	if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") != "5" {
		t.Fatalf("polling handshake when full: %d %v", r.status, r.header)
	}
	var body struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	}
	if err := json.Unmarshal([]byte(r.body), &body); err != nil || body.Message != "Too many connections" {
		t.Fatalf("body %q", r.body)
	}
	_, res, err := e.dial("EIO=4&transport=websocket")
	if err == nil || res == nil || res.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("websocket handshake when full: %v %v", err, res)
	}
	if st := e.srv.Stats(); st.RefusedFull != 2 {
		t.Fatalf("RefusedFull %d, want 2", st.RefusedFull)
	}
	if n := strings.Count(e.logs.String(), "max connections reached"); n != 1 {
		t.Fatalf("logged %d times, want at most once per 10 s", n)
	}
	// Open sessions are unaffected.
	writeWS(t, ws, websocket.TextMessage, "4still")
	if _, m := readWS(t, ws); m != "4still" {
		t.Fatalf("echo %q", m)
	}
	if r := e.post(sid1, "4hi"); r.status != 200 {
		t.Fatalf("post on an open session: %d", r.status)
	}

	// A closed session frees its slot; a raised limit applies at once.
	ws.Close()
	eventually(t, "session count 1", func() bool { return e.srv.SessionCount() == 1 })
	e.handshake()
	e.srv.SetMaxConnections(3)
	e.handshake()
	if r := e.do("GET", "EIO=4&transport=polling", ""); r.status != http.StatusServiceUnavailable {
		t.Fatalf("4th session: %d", r.status)
	}
	e.srv.SetMaxConnections(0) // no limit
	e.handshake()
}

func TestTooLargeCountedAndLoggedOnce(t *testing.T) {
	e := newEnv(t, func(c *Config) { slowPing(c); c.MaxPayload = 100 })
	sid, _ := e.handshake()
	for range 3 {
		if r := e.post(sid, "4"+strings.Repeat("x", 100)); r.status != 413 {
			t.Fatalf("status %d", r.status)
		}
	}
	c, _, _ := e.wsHandshake("")
	writeWS(t, c, websocket.TextMessage, "4"+strings.Repeat("x", 100))
	expectWSClosed(t, c)
	eventually(t, "4 hits", func() bool { return e.srv.Stats().TooLarge == 4 })
	eventually(t, "2 log lines", func() bool { return strings.Count(e.logs.String(), "message over max_payload") == 2 })
	if n := strings.Count(e.logs.String(), "message over max_payload"); n != 2 {
		t.Fatalf("logged %d times, want once per session (2)", n)
	}
}
