package engine

import (
	"context"
	"errors"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

var sidRe = regexp.MustCompile(`^[A-Za-z0-9_-]{20}$`)

func TestHandshakePolling(t *testing.T) {
	e := newEnv(t, nil)
	r := e.do("GET", "EIO=4&transport=polling&t=abc&foo=bar", "")
	if r.status != 200 {
		t.Fatalf("status %d", r.status)
	}
	for k, v := range map[string]string{
		"Content-Type":   "text/plain; charset=UTF-8",
		"Cache-Control":  "no-store",
		"Content-Length": strconv.Itoa(len(r.body)),
	} {
		if got := r.header.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	o := parseOpen(t, r.body)
	if !sidRe.MatchString(o.SID) {
		t.Errorf("sid %q", o.SID)
	}
	if strings.Join(o.Upgrades, ",") != "websocket" || o.PingInterval != 300 || o.PingTimeout != 200 || o.MaxPayload != 1000000 {
		t.Errorf("open %+v", o)
	}
	want := `0{"sid":"` + o.SID + `","upgrades":["websocket"],"pingInterval":300,"pingTimeout":200,"maxPayload":1000000}`
	if r.body != want {
		t.Errorf("body %q\nwant %q", r.body, want)
	}
	s := e.app.waitOpened(t)
	hs := s.Handshake()
	if hs.Query.Get("foo") != "bar" || hs.RemoteAddr != "127.0.0.1" || hs.XDomain || hs.Secure ||
		!strings.HasPrefix(hs.URL, "/engine.io/?") || hs.Host == "" || hs.Time.IsZero() {
		t.Errorf("handshake %+v", hs)
	}
	if s.Transport() != Polling {
		t.Errorf("transport %s", s.Transport())
	}
}

func TestHandshakeUpgradesDisabled(t *testing.T) {
	f := false
	e := newEnv(t, func(c *Config) { c.AllowUpgrades = &f })
	r := e.do("GET", "EIO=4&transport=polling", "")
	if o := parseOpen(t, r.body); len(o.Upgrades) != 0 {
		t.Errorf("upgrades %v", o.Upgrades)
	}
}

func TestErrorCodes(t *testing.T) {
	e := newEnv(t, slowPing)
	sid, _ := e.handshake()
	tests := []struct {
		name, method, query string
		status              int
		body                string
	}{
		{"no transport", "GET", "EIO=4", 400, `{"code":0,"message":"Transport unknown"}`},
		{"unknown transport", "GET", "EIO=4&transport=tobi", 400, `{"code":0,"message":"Transport unknown"}`},
		{"no EIO", "GET", "transport=polling", 400, `{"code":5,"message":"Unsupported protocol version"}`},
		{"EIO abc", "GET", "EIO=abc&transport=polling", 400, `{"code":5,"message":"Unsupported protocol version"}`},
		{"EIO 3", "GET", "EIO=3&transport=polling", 400, `{"code":5,"message":"Unsupported protocol version"}`},
		{"unknown sid", "GET", "EIO=4&transport=polling&sid=nope", 400, `{"code":1,"message":"Session ID unknown"}`},
		{"unknown sid POST", "POST", "EIO=4&transport=polling&sid=nope", 400, `{"code":1,"message":"Session ID unknown"}`},
		{"POST handshake", "POST", "EIO=4&transport=polling", 400, `{"code":2,"message":"Bad handshake method"}`},
		{"PUT handshake", "PUT", "EIO=4&transport=polling", 400, `{"code":2,"message":"Bad handshake method"}`},
		{"OPTIONS without CORS", "OPTIONS", "EIO=4&transport=polling", 400, `{"code":2,"message":"Bad handshake method"}`},
		{"websocket without upgrade", "GET", "EIO=4&transport=websocket", 400, `{"code":3,"message":"Bad request"}`},
		{"JSONP", "GET", "EIO=4&transport=polling&j=0", 400, `{"code":3,"message":"Bad request"}`},
		{"transport before EIO", "GET", "EIO=3&transport=x", 400, `{"code":0,"message":"Transport unknown"}`},
		{"sid before method", "PUT", "EIO=4&transport=polling&sid=nope", 400, `{"code":1,"message":"Session ID unknown"}`},
		{"websocket on polling sid", "GET", "EIO=4&transport=websocket&sid=" + sid, 400, `{"code":3,"message":"Bad request"}`},
		{"EIO mismatch on sid", "GET", "EIO=3&transport=polling&sid=" + sid, 400, `{"code":3,"message":"Bad request"}`},
		{"PUT on live sid", "PUT", "EIO=4&transport=polling&sid=" + sid, 500, ``},
		{"DELETE on live sid", "DELETE", "EIO=4&transport=polling&sid=" + sid, 500, ``},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(tc.method, tc.query, "")
			if r.status != tc.status || r.body != tc.body {
				t.Fatalf("got %d %q, want %d %q", r.status, r.body, tc.status, tc.body)
			}
			if tc.body != "" {
				if ct := r.header.Get("Content-Type"); ct != "application/json" {
					t.Errorf("Content-Type %q", ct)
				}
			}
		})
	}
	// The session survived the 500s.
	if r := e.post(sid, "4x"); r.status != 200 || r.body != "ok" {
		t.Fatalf("post after errors: %d %q", r.status, r.body)
	}
}

func TestErrorInvalidOrigin(t *testing.T) {
	e := newEnv(t, nil)
	// net/http refuses most control characters itself; exercise the check.
	if !invalidHeaderValue("a\x01b") || !invalidHeaderValue("\x7f") || invalidHeaderValue("https://x\t\xe9") {
		t.Fatal("invalidHeaderValue")
	}
	r := e.do("GET", "EIO=4&transport=polling", "", "Origin", "http://ok.example")
	if r.status != 200 {
		t.Fatalf("status %d", r.status)
	}
}

func TestErrorTransportDisabled(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Transports = []Transport{WebSocket} })
	r := e.do("GET", "EIO=4&transport=polling", "")
	if r.status != 400 || r.body != `{"code":0,"message":"Transport unknown"}` {
		t.Fatalf("got %d %q", r.status, r.body)
	}
	_, _, o := e.wsHandshake("")
	if len(o.Upgrades) != 0 {
		t.Fatalf("upgrades %v", o.Upgrades)
	}

	e2 := newEnv(t, func(c *Config) { c.Transports = []Transport{Polling} })
	if o := parseOpen(t, e2.do("GET", "EIO=4&transport=polling", "").body); len(o.Upgrades) != 0 {
		t.Fatalf("polling-only upgrades %v", o.Upgrades)
	}
	_, res, err := e2.dial("EIO=4&transport=websocket")
	if err == nil || res == nil || res.StatusCode != 400 {
		t.Fatalf("websocket on polling-only server: %v %v", err, res)
	}
	if b := readAll(res); b != "Transport unknown" {
		t.Fatalf("body %q", b)
	}
}

func TestErrorForbidden(t *testing.T) {
	e := newEnv(t, func(c *Config) {
		c.AllowRequest = func(r *http.Request) error {
			switch r.URL.Query().Get("who") {
			case "bad":
				return errors.New("no <entry>")
			case "anon":
				return errors.New("")
			}
			return nil
		}
	})
	r := e.do("GET", "EIO=4&transport=polling&who=bad", "")
	if r.status != 403 || r.body != `{"code":4,"message":"no <entry>"}` || r.header.Get("Content-Type") != "application/json" {
		t.Fatalf("got %d %q", r.status, r.body)
	}
	r = e.do("GET", "EIO=4&transport=polling&who=anon", "")
	if r.status != 403 || r.body != `{"code":4,"message":"Forbidden"}` {
		t.Fatalf("got %d %q", r.status, r.body)
	}
	// AllowRequest runs before the EIO check, as in Node.
	r = e.do("GET", "EIO=3&transport=polling&who=bad", "")
	if r.status != 403 {
		t.Fatalf("EIO=3 refused: %d %q", r.status, r.body)
	}
	if r := e.do("GET", "EIO=4&transport=polling&who=ok", ""); r.status != 200 {
		t.Fatalf("allowed: %d", r.status)
	}
	// A refused websocket handshake is a plain 400 with the message.
	_, res, err := e.dial("EIO=4&transport=websocket&who=bad")
	if err == nil || res == nil || res.StatusCode != 400 || readAll(res) != "no <entry>" {
		t.Fatalf("websocket refusal: %v %v", err, res)
	}
}

func TestPollingEcho(t *testing.T) {
	e := newEnv(t, slowPing)
	sid, _ := e.handshake()
	r := e.post(sid, "4hello")
	if r.status != 200 || r.body != "ok" || r.header.Get("Content-Type") != "text/html" ||
		r.header.Get("Content-Length") != "2" || r.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("post: %d %q %v", r.status, r.body, r.header)
	}
	if r := e.get(sid); r.status != 200 || r.body != "4hello" {
		t.Fatalf("get: %d %q", r.status, r.body)
	}
}

func TestPollingPayloadRoundTrip(t *testing.T) {
	e := newEnv(t, slowPing)
	sid, _ := e.handshake()
	for _, body := range []string{
		"4test1\x1e4test2\x1e4test3",
		"4hello\x1ebAQIDBA==",
		"4é😀\x1eb\x1e4",
	} {
		if r := e.post(sid, body); r.status != 200 {
			t.Fatalf("post %q: %d", body, r.status)
		}
		if r := e.get(sid); r.body != body {
			t.Fatalf("got %q, want %q", r.body, body)
		}
	}
	// Lenient base64 in: URL-safe, no padding. Out: standard with padding.
	e.post(sid, "b-_8\x1ebAQIDBA")
	if r := e.get(sid); r.body != "b+/8=\x1ebAQIDBA==" {
		t.Fatalf("lenient base64: %q", r.body)
	}
}

func TestPollingSendsFromOnSession(t *testing.T) {
	app := newTestApp()
	e := newEnv(t, func(c *Config) {
		slowPing(c)
		c.OnSession = func(s *Session) SessionHandler {
			_ = s.Send(Message{Data: []byte("welcome")}, Message{Data: []byte{1, 2}, Binary: true})
			return app
		}
	})
	r := e.do("GET", "EIO=4&transport=polling", "")
	parts := strings.Split(r.body, "\x1e")
	if len(parts) != 3 || parts[1] != "4welcome" || parts[2] != "bAQI=" {
		t.Fatalf("handshake body %q", r.body)
	}
}

func TestPollingParseError(t *testing.T) {
	for _, body := range []string{"abc", "", "4ok\x1e", "bAQ!", "4a\x1e9x", "5", "6", "0"} {
		t.Run(strings.ReplaceAll(body, "\x1e", "|"), func(t *testing.T) {
			e := newEnv(t, slowPing)
			sid, s := e.handshake()
			got := ""
			e.app.setOnMessage(func(_ *Session, d []byte, _ bool) bool { got += string(d); return true })
			if r := e.post(sid, body); r.status != 400 {
				t.Fatalf("post: %d %q", r.status, r.body)
			}
			if r := e.get(sid); r.status != 400 || !strings.Contains(r.body, `"code":1`) {
				t.Fatalf("get: %d %q", r.status, r.body)
			}
			if reason := e.app.waitClosed(t, s.ID()); reason != ReasonParseError {
				t.Fatalf("reason %q", reason)
			}
			if got != "" {
				t.Fatalf("delivered %q from an invalid payload", got)
			}
		})
	}
}

func TestPollingParallelGET(t *testing.T) {
	e := newEnv(t, slowPing)
	sid, s := e.handshake()
	first := e.getAsync(sid)
	eventually(t, "held GET", func() bool { s.mu.Lock(); defer s.mu.Unlock(); return s.poll != nil })
	if r := e.get(sid); r.status != 400 || r.body != "" {
		t.Fatalf("second GET: %d %q", r.status, r.body)
	}
	if r := waitResp(t, first); r.status != 200 || r.body != "1" {
		t.Fatalf("first GET: %d %q", r.status, r.body)
	}
	if r := e.get(sid); r.status != 400 {
		t.Fatalf("third GET: %d", r.status)
	}
	if reason := e.app.waitClosed(t, sid); reason != ReasonTransportError {
		t.Fatalf("reason %q", reason)
	}
}

func TestPollingConcurrentPOST(t *testing.T) {
	e := newEnv(t, slowPing)
	sid, _ := e.handshake()
	entered, release := make(chan struct{}), make(chan struct{})
	e.app.setOnMessage(func(_ *Session, d []byte, _ bool) bool {
		if string(d) == "block" {
			close(entered)
			select {
			case <-release:
			case <-time.After(waitTimeout):
			}
		}
		return true
	})
	first := make(chan resp, 1)
	go func() {
		req, _ := http.NewRequest("POST", e.base+"?EIO=4&transport=polling&sid="+sid, strings.NewReader("4block"))
		res, err := e.client.Do(req)
		if err != nil {
			first <- resp{status: -1}
			return
		}
		res.Body.Close()
		first <- resp{status: res.StatusCode}
	}()
	select {
	case <-entered:
	case <-time.After(waitTimeout):
		t.Fatal("first POST not dispatched")
	}
	if r := e.post(sid, "4x"); r.status != 400 || r.body != "" {
		t.Fatalf("second POST: %d %q", r.status, r.body)
	}
	close(release)
	if r := waitResp(t, first); r.status != 200 {
		t.Fatalf("first POST: %d", r.status)
	}
	if reason := e.app.waitClosed(t, sid); reason != ReasonTransportError {
		t.Fatalf("reason %q", reason)
	}
}

func TestPollingOctetStream(t *testing.T) {
	e := newEnv(t, slowPing)
	sid, _ := e.handshake()
	r := e.do("POST", "EIO=4&transport=polling&sid="+sid, "4x", "Content-Type", "application/octet-stream")
	if r.status != 400 {
		t.Fatalf("status %d", r.status)
	}
	if reason := e.app.waitClosed(t, sid); reason != ReasonTransportError {
		t.Fatalf("reason %q", reason)
	}
}

func TestPollingMaxPayload(t *testing.T) {
	e := newEnv(t, func(c *Config) { slowPing(c); c.MaxPayload = 100 })
	sid, s := e.handshake()
	if r := e.post(sid, "4"+strings.Repeat("x", 100)); r.status != 413 {
		t.Fatalf("status %d", r.status)
	}
	// Chunked body (no Content-Length) too.
	req, _ := http.NewRequest("POST", e.base+"?EIO=4&transport=polling&sid="+sid,
		struct{ *strings.Reader }{strings.NewReader("4" + strings.Repeat("y", 200))})
	res, err := e.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 413 {
		t.Fatalf("chunked status %d", res.StatusCode)
	}
	// Node leaves the session open; exactly MaxPayload is fine.
	if r := e.post(sid, "4"+strings.Repeat("z", 99)); r.status != 200 {
		t.Fatalf("max-size post: %d", r.status)
	}
	if r := e.get(sid); r.body != "4"+strings.Repeat("z", 99) {
		t.Fatalf("get %q", r.body)
	}
	select {
	case <-s.Done():
		t.Fatal("session closed")
	default:
	}
}

func TestPollingHeartbeat(t *testing.T) {
	e := newEnv(t, nil)
	sid, _ := e.handshake()
	for i := 0; i < 3; i++ {
		start := time.Now()
		r := e.get(sid)
		if r.status != 200 || r.body != "2" {
			t.Fatalf("round %d: GET %d %q", i, r.status, r.body)
		}
		if d := time.Since(start); i > 0 && d < 200*time.Millisecond {
			t.Errorf("round %d: ping after %v, want about 300ms", i, d)
		}
		if r := e.post(sid, "3"); r.status != 200 {
			t.Fatalf("round %d: pong %d", i, r.status)
		}
	}
}

func TestPollingPingTimeout(t *testing.T) {
	e := newEnv(t, nil)
	sid, _ := e.handshake()
	time.Sleep(700 * time.Millisecond)
	if r := e.get(sid); r.status != 400 || !strings.Contains(r.body, `"code":1`) {
		t.Fatalf("GET %d %q", r.status, r.body)
	}
	if reason := e.app.waitClosed(t, sid); reason != ReasonPingTimeout {
		t.Fatalf("reason %q", reason)
	}
}

func TestPollingPingTimeoutHeldGET(t *testing.T) {
	e := newEnv(t, nil)
	sid, _ := e.handshake()
	if r := e.get(sid); r.body != "2" {
		t.Fatalf("ping %q", r.body)
	}
	// Do not pong: the held GET gets the close packet.
	if r := waitResp(t, e.getAsync(sid)); r.status != 200 || r.body != "1" {
		t.Fatalf("held GET: %d %q", r.status, r.body)
	}
	if reason := e.app.waitClosed(t, sid); reason != ReasonPingTimeout {
		t.Fatalf("reason %q", reason)
	}
}

func TestPollingClientClose(t *testing.T) {
	e := newEnv(t, slowPing)
	sid, s := e.handshake()
	held := e.getAsync(sid)
	eventually(t, "held GET", func() bool { s.mu.Lock(); defer s.mu.Unlock(); return s.poll != nil })
	if r := e.post(sid, "1"); r.status != 200 || r.body != "ok" {
		t.Fatalf("post: %d %q", r.status, r.body)
	}
	if r := waitResp(t, held); r.status != 200 || r.body != "6" {
		t.Fatalf("held GET: %d %q", r.status, r.body)
	}
	if r := e.get(sid); r.status != 400 {
		t.Fatalf("next GET: %d", r.status)
	}
	if reason := e.app.waitClosed(t, sid); reason != ReasonTransportClose {
		t.Fatalf("reason %q", reason)
	}
}

func TestPollingClientPing(t *testing.T) {
	e := newEnv(t, slowPing)
	sid, _ := e.handshake()
	e.post(sid, "2")
	if reason := e.app.waitClosed(t, sid); reason != ReasonTransportError {
		t.Fatalf("reason %q", reason)
	}
	if r := e.get(sid); r.status != 400 {
		t.Fatalf("GET %d", r.status)
	}
}

func TestPollingAbortedGET(t *testing.T) {
	e := newEnv(t, slowPing)
	sid, s := e.handshake()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		e.doCtx(ctx, "GET", "EIO=4&transport=polling&sid="+sid, "")
	}()
	eventually(t, "held GET", func() bool { s.mu.Lock(); defer s.mu.Unlock(); return s.poll != nil })
	cancel()
	<-done
	if reason := e.app.waitClosed(t, sid); reason != ReasonTransportError {
		t.Fatalf("reason %q", reason)
	}
}

func TestPollingServerClose(t *testing.T) {
	old := pollCloseTimeout
	t.Cleanup(func() { pollCloseTimeout = old })
	pollCloseTimeout = 200 * time.Millisecond

	e := newEnv(t, slowPing)
	t.Run("held GET gets queue then 1", func(t *testing.T) {
		sid, s := e.handshake()
		held := e.getAsync(sid)
		eventually(t, "held GET", func() bool { s.mu.Lock(); defer s.mu.Unlock(); return s.poll != nil })
		s.Close(ReasonForcedClose)
		if r := waitResp(t, held); r.body != "1" {
			t.Fatalf("held GET %q", r.body)
		}
		if r := e.get(sid); r.status != 400 {
			t.Fatalf("after: %d", r.status)
		}
	})
	t.Run("next GET gets queue then 1", func(t *testing.T) {
		sid, s := e.handshake()
		_ = s.Send(Message{Data: []byte("bye")})
		s.Close(ReasonForcedClose)
		if e.app.waitClosed(t, sid) != ReasonForcedClose {
			t.Fatal("reason")
		}
		if err := s.Send(Message{Data: []byte("x")}); err != ErrClosed {
			t.Fatalf("send after close: %v", err)
		}
		if r := e.post(sid, "4ignored"); r.status != 200 {
			t.Fatalf("post while closing: %d", r.status)
		}
		if r := e.get(sid); r.body != "4bye\x1e1" {
			t.Fatalf("GET %q", r.body)
		}
		if r := e.get(sid); r.status != 400 {
			t.Fatalf("after: %d", r.status)
		}
	})
	t.Run("empty queue gets 6 then 1", func(t *testing.T) {
		sid, s := e.handshake()
		s.Close(ReasonForcedClose)
		if r := e.get(sid); r.body != "6\x1e1" {
			t.Fatalf("GET %q", r.body)
		}
	})
	t.Run("gives up after the grace period", func(t *testing.T) {
		sid, s := e.handshake()
		s.Close(ReasonForcedClose)
		eventually(t, "forgotten", func() bool { return e.srv.lookup(sid) == nil })
		if r := e.get(sid); r.status != 400 {
			t.Fatalf("GET %d", r.status)
		}
	})
	t.Run("other reasons forget at once", func(t *testing.T) {
		sid, s := e.handshake()
		_ = s.Send(Message{Data: []byte("lost")})
		s.Close(ReasonParseError)
		if r := e.get(sid); r.status != 400 {
			t.Fatalf("GET %d %q", r.status, r.body)
		}
	})
	eventually(t, "no sessions", func() bool { return e.srv.SessionCount() == 0 && e.srv.mapLen() == 0 })
}

func TestPollingSendVolatile(t *testing.T) {
	e := newEnv(t, slowPing)
	sid, s := e.handshake()
	if s.SendVolatile(Message{Data: []byte("x")}) {
		t.Fatal("volatile accepted without a pending GET")
	}
	held := e.getAsync(sid)
	eventually(t, "held GET", func() bool { s.mu.Lock(); defer s.mu.Unlock(); return s.poll != nil })
	if !s.SendVolatile(Message{Data: []byte("v")}) {
		t.Fatal("volatile refused with a pending GET")
	}
	if r := waitResp(t, held); r.body != "4v" {
		t.Fatalf("GET %q", r.body)
	}
}

func TestPollingQueueOverflow(t *testing.T) {
	e := newEnv(t, func(c *Config) { slowPing(c); c.SendQueueLen = 3 })
	sid, s := e.handshake()
	for i := 0; i < 3; i++ {
		if err := s.Send(Message{Data: []byte("m")}); err != nil {
			t.Fatal(err)
		}
	}
	if s.SendVolatile(Message{Data: []byte("v")}) {
		t.Fatal("volatile over the limit")
	}
	if err := s.Send(Message{Data: []byte("m")}); err != ErrQueueFull {
		t.Fatalf("overflow: %v", err)
	}
	if err := s.Send(Message{Data: []byte("m")}); err != ErrClosed {
		t.Fatalf("after overflow: %v", err)
	}
	if r := e.app.waitClosed(t, sid); r != ReasonTransportError {
		t.Fatalf("reason %q", r)
	}
	if n := strings.Count(e.logs.String(), "send queue full, closing slow client"); n != 1 {
		t.Fatalf("logged %d times:\n%s", n, e.logs.String())
	}
}

func TestCORS(t *testing.T) {
	t.Run("off", func(t *testing.T) {
		e := newEnv(t, slowPing)
		r := e.do("GET", "EIO=4&transport=polling", "", "Origin", "http://a.example")
		if r.header.Get("Access-Control-Allow-Origin") != "" || r.header.Get("Vary") != "" {
			t.Fatalf("headers %v", r.header)
		}
	})
	t.Run("star", func(t *testing.T) {
		e := newEnv(t, func(c *Config) { slowPing(c); c.CORS.Origins = []string{"*"} })
		r := e.do("GET", "EIO=4&transport=polling", "", "Origin", "http://a.example")
		if r.header.Get("Access-Control-Allow-Origin") != "*" {
			t.Fatalf("headers %v", r.header)
		}
	})
	e := newEnv(t, func(c *Config) {
		slowPing(c)
		c.CORS = CORS{
			Origins:        []string{"http://a.example", "http://b.example"},
			Credentials:    true,
			ExposedHeaders: []string{"X-One", "X-Two"},
			MaxAge:         time.Hour,
		}
	})
	check := func(t *testing.T, r resp, origin string) {
		t.Helper()
		h := r.header
		if h.Get("Access-Control-Allow-Origin") != origin || h.Get("Access-Control-Allow-Credentials") != "true" ||
			h.Get("Access-Control-Expose-Headers") != "X-One,X-Two" || !contains(h.Values("Vary"), "Origin") {
			t.Fatalf("headers %v", h)
		}
	}
	t.Run("handshake", func(t *testing.T) {
		r := e.do("GET", "EIO=4&transport=polling", "", "Origin", "http://b.example")
		check(t, r, "http://b.example")
		e.app.waitOpened(t)
	})
	t.Run("error response", func(t *testing.T) {
		r := e.do("GET", "EIO=4&transport=polling&sid=nope", "", "Origin", "http://a.example")
		if r.status != 400 {
			t.Fatal(r.status)
		}
		check(t, r, "http://a.example")
	})
	t.Run("disallowed origin", func(t *testing.T) {
		r := e.do("GET", "EIO=4&transport=polling", "", "Origin", "http://evil.example")
		check(t, r, "")
		e.app.waitOpened(t)
	})
	t.Run("preflight", func(t *testing.T) {
		r := e.do("OPTIONS", "EIO=4&transport=polling", "", "Origin", "http://a.example",
			"Access-Control-Request-Method", "POST", "Access-Control-Request-Headers", "x-token")
		h := r.header
		if r.status != 204 || h.Get("Access-Control-Allow-Origin") != "http://a.example" ||
			h.Get("Access-Control-Allow-Methods") != "GET,HEAD,PUT,PATCH,POST,DELETE" ||
			h.Get("Access-Control-Allow-Headers") != "x-token" || h.Get("Access-Control-Max-Age") != "3600" ||
			!contains(h.Values("Vary"), "Access-Control-Request-Headers") {
			t.Fatalf("preflight %d %v", r.status, h)
		}
	})
	t.Run("preflight fixed headers", func(t *testing.T) {
		e := newEnv(t, func(c *Config) {
			c.CORS = CORS{Origins: []string{"*"}, Headers: []string{"X-A", "X-B"}, Methods: []string{"GET", "POST"}}
		})
		r := e.do("OPTIONS", "", "", "Origin", "http://z.example", "Access-Control-Request-Headers", "x-token")
		h := r.header
		if r.status != 204 || h.Get("Access-Control-Allow-Origin") != "*" || h.Get("Access-Control-Allow-Headers") != "X-A,X-B" ||
			h.Get("Access-Control-Allow-Methods") != "GET,POST" || h.Get("Access-Control-Max-Age") != "" {
			t.Fatalf("preflight %d %v", r.status, h)
		}
	})
}
