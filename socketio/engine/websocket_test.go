package engine

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

func TestHandshakeWebSocket(t *testing.T) {
	e := newEnv(t, nil)
	c, s, o := e.wsHandshake("")
	if len(o.Upgrades) != 0 || o.Upgrades == nil || o.PingInterval != 300 || o.PingTimeout != 200 || o.MaxPayload != 1000000 {
		t.Fatalf("open %+v", o)
	}
	if s.ID() != o.SID || !sidRe.MatchString(o.SID) || s.Transport() != WebSocket {
		t.Fatalf("session %s %s", s.ID(), s.Transport())
	}
	writeWS(t, c, websocket.TextMessage, "4hello")
	if mt, m := readWSSkipPing(t, c); mt != websocket.TextMessage || m != "4hello" {
		t.Fatalf("echo %d %q", mt, m)
	}
}

func TestWebSocketRefused(t *testing.T) {
	e := newEnv(t, func(c *Config) {
		slowPing(c)
		c.CheckOrigin = func(r *http.Request) bool { return r.Header.Get("Origin") != "http://evil.example" }
	})
	for _, tc := range []struct{ name, query, body string }{
		{"unknown sid", "EIO=4&transport=websocket&sid=nope", "Session ID unknown"},
		{"bad EIO", "EIO=3&transport=websocket", "Unsupported protocol version"},
		{"no transport", "EIO=4", "Transport unknown"},
		{"JSONP", "EIO=4&transport=websocket&j=1", "Bad request"},
		{"polling upgrade", "EIO=4&transport=polling", "Bad request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, res, err := e.dial(tc.query)
			if err == nil || res == nil {
				t.Fatalf("dial: %v", err)
			}
			if b := readAll(res); res.StatusCode != 400 || b != tc.body || res.Header.Get("Content-Type") != "text/html" {
				t.Fatalf("got %d %q %v", res.StatusCode, b, res.Header)
			}
		})
	}
	t.Run("origin", func(t *testing.T) {
		d := websocket.Dialer{HandshakeTimeout: waitTimeout}
		_, res, err := d.Dial(e.wsURL("EIO=4&transport=websocket"), http.Header{"Origin": {"http://evil.example"}})
		if err == nil || res == nil || res.StatusCode != 403 || readAll(res) != "Forbidden" {
			t.Fatalf("dial: %v %v", err, res)
		}
	})
}

func TestDefaultCheckOrigin(t *testing.T) {
	e := newEnv(t, func(c *Config) { slowPing(c); c.CORS.Origins = []string{"http://a.example"} })
	d := websocket.Dialer{HandshakeTimeout: waitTimeout}
	_, res, err := d.Dial(e.wsURL("EIO=4&transport=websocket"), http.Header{"Origin": {"http://b.example"}})
	if err == nil || res.StatusCode != 403 {
		t.Fatalf("foreign origin: %v", err)
	}
	c, _, err := d.Dial(e.wsURL("EIO=4&transport=websocket"), http.Header{"Origin": {"http://a.example"}})
	if err != nil {
		t.Fatalf("allowed origin: %v", err)
	}
	c.Close()
}

// upgrade runs the §1.8 dance on a polling session and returns the websocket.
func (e *env) upgrade(sid string, s *Session) *websocket.Conn {
	t := e.t
	t.Helper()
	held := e.getAsync(sid)
	eventually(t, "held GET", func() bool { s.mu.Lock(); defer s.mu.Unlock(); return s.poll != nil })
	c := e.mustDial("EIO=4&transport=websocket&sid=" + sid)
	writeWS(t, c, websocket.TextMessage, "2probe")
	if _, m := readWS(t, c); m != "3probe" {
		t.Fatalf("probe answer %q", m)
	}
	if r := waitResp(t, held); r.status != 200 || r.body != "6" {
		t.Fatalf("held GET during upgrade: %d %q", r.status, r.body)
	}
	// While upgrading a GET is answered at once with a noop.
	if r := e.get(sid); r.body != "6" {
		t.Fatalf("GET while upgrading %q", r.body)
	}
	writeWS(t, c, websocket.TextMessage, "5")
	return c
}

func TestUpgrade(t *testing.T) {
	e := newEnv(t, slowPing)
	sid, s := e.handshake()
	c := e.upgrade(sid, s)
	writeWS(t, c, websocket.TextMessage, "4hello")
	if _, m := readWS(t, c); m != "4hello" {
		t.Fatalf("echo %q", m)
	}
	if s.Transport() != WebSocket {
		t.Fatalf("transport %s", s.Transport())
	}
	// Polling on an upgraded sid: code 3, session untouched.
	if r := e.get(sid); r.status != 400 || r.body != `{"code":3,"message":"Bad request"}` {
		t.Fatalf("GET after upgrade: %d %q", r.status, r.body)
	}
	if r := e.post(sid, "4x"); r.status != 400 {
		t.Fatalf("POST after upgrade: %d", r.status)
	}
	// A second websocket for the sid is closed.
	c2 := e.mustDial("EIO=4&transport=websocket&sid=" + sid)
	expectWSClosed(t, c2)
	writeWS(t, c, websocket.TextMessage, "4still")
	if _, m := readWS(t, c); m != "4still" {
		t.Fatalf("echo %q", m)
	}
	select {
	case <-s.Done():
		t.Fatal("session closed")
	default:
	}
}

func TestUpgradeFlushesQueue(t *testing.T) {
	e := newEnv(t, slowPing)
	sid, s := e.handshake()
	held := e.getAsync(sid)
	eventually(t, "held GET", func() bool { s.mu.Lock(); defer s.mu.Unlock(); return s.poll != nil })
	c := e.mustDial("EIO=4&transport=websocket&sid=" + sid)
	writeWS(t, c, websocket.TextMessage, "2probe")
	readWS(t, c)
	waitResp(t, held)
	// Queued while the client has paused polling: goes out over the websocket.
	_ = s.Send(Message{Data: []byte("a")}, Message{Data: []byte{9}, Binary: true})
	writeWS(t, c, websocket.TextMessage, "5")
	if mt, m := readWS(t, c); mt != websocket.TextMessage || m != "4a" {
		t.Fatalf("first %d %q", mt, m)
	}
	if mt, m := readWS(t, c); mt != websocket.BinaryMessage || m != "\x09" {
		t.Fatalf("second %d %q", mt, m)
	}
}

func TestUpgradeProbeFailures(t *testing.T) {
	e := newEnv(t, func(c *Config) { slowPing(c); c.UpgradeTimeout = 200 * time.Millisecond })
	sid, s := e.handshake()
	t.Run("other packet closes the probe", func(t *testing.T) {
		c := e.mustDial("EIO=4&transport=websocket&sid=" + sid)
		writeWS(t, c, websocket.TextMessage, "4x")
		expectWSClosed(t, c)
	})
	t.Run("timeout closes the probe", func(t *testing.T) {
		c := e.mustDial("EIO=4&transport=websocket&sid=" + sid)
		writeWS(t, c, websocket.TextMessage, "2probe")
		readWS(t, c)
		start := time.Now()
		expectWSClosed(t, c)
		if d := time.Since(start); d < 100*time.Millisecond {
			t.Fatalf("closed after %v", d)
		}
		// Not upgrading anymore: GETs are held again.
		eventually(t, "probe gone", func() bool { s.mu.Lock(); defer s.mu.Unlock(); return s.probe == nil })
		held := e.getAsync(sid)
		mustNotRespond(t, held, 100*time.Millisecond)
		if r := e.post(sid, "4ok"); r.status != 200 {
			t.Fatalf("post %d", r.status)
		}
		if r := waitResp(t, held); r.body != "4ok" {
			t.Fatalf("echo %q", r.body)
		}
	})
	t.Run("concurrent probe is closed", func(t *testing.T) {
		c1 := e.mustDial("EIO=4&transport=websocket&sid=" + sid)
		eventually(t, "probe", func() bool { s.mu.Lock(); defer s.mu.Unlock(); return s.probe != nil })
		c2 := e.mustDial("EIO=4&transport=websocket&sid=" + sid)
		expectWSClosed(t, c2)
		c1.Close()
	})
	// Polling still works.
	if r := e.post(sid, "4ok2"); r.status != 200 {
		t.Fatalf("post %d", r.status)
	}
	if r := e.get(sid); r.body != "4ok2" {
		t.Fatalf("echo %q", r.body)
	}
	select {
	case <-s.Done():
		t.Fatal("session closed")
	default:
	}
}

func TestWebSocketParseError(t *testing.T) {
	e := newEnv(t, slowPing)
	c, s, _ := e.wsHandshake("")
	writeWS(t, c, websocket.TextMessage, "abc")
	expectWSClosed(t, c)
	if r := e.app.waitClosed(t, s.ID()); r != ReasonParseError {
		t.Fatalf("reason %q", r)
	}
}

func TestWebSocketClientPing(t *testing.T) {
	e := newEnv(t, slowPing)
	c, s, _ := e.wsHandshake("")
	writeWS(t, c, websocket.TextMessage, "2")
	expectWSClosed(t, c)
	if r := e.app.waitClosed(t, s.ID()); r != ReasonTransportError {
		t.Fatalf("reason %q", r)
	}
}

func TestWebSocketClientClosePacket(t *testing.T) {
	e := newEnv(t, slowPing)
	c, s, _ := e.wsHandshake("")
	writeWS(t, c, websocket.TextMessage, "1")
	err := expectWSClosed(t, c)
	if !websocket.IsCloseError(err, websocket.CloseNormalClosure) {
		t.Fatalf("close: %v", err)
	}
	if r := e.app.waitClosed(t, s.ID()); r != ReasonTransportClose {
		t.Fatalf("reason %q", r)
	}
}

func TestWebSocketClientCloseFrame(t *testing.T) {
	e := newEnv(t, slowPing)
	c, s, _ := e.wsHandshake("")
	_ = c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(1000, ""), time.Now().Add(time.Second))
	err := expectWSClosed(t, c)
	if !websocket.IsCloseError(err, websocket.CloseNormalClosure) {
		t.Fatalf("close echo: %v", err)
	}
	if r := e.app.waitClosed(t, s.ID()); r != ReasonTransportClose {
		t.Fatalf("reason %q", r)
	}
}

func TestWebSocketMaxPayload(t *testing.T) {
	e := newEnv(t, func(c *Config) { slowPing(c); c.MaxPayload = 100 })
	c, s, o := e.wsHandshake("")
	if o.MaxPayload != 100 {
		t.Fatalf("maxPayload %d", o.MaxPayload)
	}
	writeWS(t, c, websocket.TextMessage, "4"+strings.Repeat("x", 99)) // exactly the limit
	if _, m := readWS(t, c); len(m) != 100 {
		t.Fatalf("echo len %d", len(m))
	}
	writeWS(t, c, websocket.TextMessage, "4"+strings.Repeat("x", 100))
	expectWSClosed(t, c)
	if r := e.app.waitClosed(t, s.ID()); r != ReasonTransportError {
		t.Fatalf("reason %q", r)
	}
}

func TestWebSocketBinary(t *testing.T) {
	e := newEnv(t, slowPing)
	c, _, _ := e.wsHandshake("")
	writeWS(t, c, websocket.BinaryMessage, "\x01\x02\x03")
	if mt, m := readWS(t, c); mt != websocket.BinaryMessage || m != "\x01\x02\x03" {
		t.Fatalf("echo %d %q", mt, m)
	}
	// "b" text frames are binary messages too.
	writeWS(t, c, websocket.TextMessage, "bBAU=")
	if mt, m := readWS(t, c); mt != websocket.BinaryMessage || m != "\x04\x05" {
		t.Fatalf("echo %d %q", mt, m)
	}
	writeWS(t, c, websocket.BinaryMessage, "")
	if mt, m := readWS(t, c); mt != websocket.BinaryMessage || m != "" {
		t.Fatalf("empty echo %d %q", mt, m)
	}
}

func TestWebSocketB64(t *testing.T) {
	e := newEnv(t, slowPing)
	c, _, _ := e.wsHandshake("&b64=1")
	writeWS(t, c, websocket.BinaryMessage, "\x01\x02\x03\x04")
	if mt, m := readWS(t, c); mt != websocket.TextMessage || m != "bAQIDBA==" {
		t.Fatalf("echo %d %q", mt, m)
	}
	writeWS(t, c, websocket.TextMessage, "4text")
	if _, m := readWS(t, c); m != "4text" {
		t.Fatalf("echo %q", m)
	}
}

func TestWebSocketHeartbeat(t *testing.T) {
	e := newEnv(t, nil)
	c, s, _ := e.wsHandshake("")
	for i := 0; i < 3; i++ {
		if _, m := readWS(t, c); m != "2" {
			t.Fatalf("round %d: %q", i, m)
		}
		writeWS(t, c, websocket.TextMessage, "3")
	}
	// Stop answering: ping timeout.
	if _, m := readWS(t, c); m != "2" {
		t.Fatalf("last ping %q", m)
	}
	expectWSClosed(t, c)
	if r := e.app.waitClosed(t, s.ID()); r != ReasonPingTimeout {
		t.Fatalf("reason %q", r)
	}
}

func TestWebSocketPingFrame(t *testing.T) {
	e := newEnv(t, slowPing)
	c, _, _ := e.wsHandshake("")
	got := make(chan string, 1)
	c.SetPongHandler(func(d string) error { got <- d; return nil })
	if err := c.WriteControl(websocket.PingMessage, []byte("hi"), time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	writeWS(t, c, websocket.TextMessage, "4after")
	if _, m := readWS(t, c); m != "4after" {
		t.Fatalf("echo %q", m)
	}
	select {
	case d := <-got:
		if d != "hi" {
			t.Fatalf("pong %q", d)
		}
	case <-time.After(waitTimeout):
		t.Fatal("no pong")
	}
}

func TestWebSocketServerClose(t *testing.T) {
	e := newEnv(t, slowPing)
	c, s, _ := e.wsHandshake("")
	_ = s.Send(Message{Data: []byte("last")})
	s.Close(ReasonForcedClose)
	if _, m := readWS(t, c); m != "4last" {
		t.Fatalf("queued message %q", m)
	}
	err := expectWSClosed(t, c)
	if !websocket.IsCloseError(err, websocket.CloseNormalClosure) {
		t.Fatalf("close: %v", err)
	}
	if r := e.app.waitClosed(t, s.ID()); r != ReasonForcedClose {
		t.Fatalf("reason %q", r)
	}
	if s.SendVolatile(Message{Data: []byte("x")}) {
		t.Fatal("volatile on closed session")
	}
}

func TestCloseFromHandlers(t *testing.T) {
	app := newTestApp()
	e := newEnv(t, func(c *Config) {
		slowPing(c)
		c.OnSession = func(s *Session) SessionHandler {
			if s.Handshake().Query.Get("refuse") == "1" {
				s.Close(ReasonForcedClose)
			}
			return app.onSession(s)
		}
	})
	// Closed inside OnSession over polling: the handshake carries open then close.
	r := e.do("GET", "EIO=4&transport=polling&refuse=1", "")
	o := parseOpen(t, r.body)
	if !strings.HasSuffix(r.body, "\x1e6\x1e1") {
		t.Fatalf("body %q", r.body)
	}
	if app.waitClosed(t, o.SID) != ReasonForcedClose {
		t.Fatal("reason")
	}
	app.waitOpened(t)
	// Over websocket: open, then close frame.
	c := e.mustDial("EIO=4&transport=websocket&refuse=1")
	if _, m := readWS(t, c); !strings.HasPrefix(m, "0{") {
		t.Fatalf("open %q", m)
	}
	expectWSClosed(t, c)
	app.waitOpened(t)

	// Close inside OnMessage: OnClose follows OnMessage on the same goroutine.
	var inMsg atomic.Bool
	app.setOnMessage(func(s *Session, d []byte, _ bool) bool {
		inMsg.Store(true)
		s.Close(ReasonForcedClose)
		time.Sleep(20 * time.Millisecond)
		inMsg.Store(false)
		return true
	})
	c2 := e.mustDial("EIO=4&transport=websocket")
	readWS(t, c2)
	s2 := app.waitOpened(t)
	writeWS(t, c2, websocket.TextMessage, "4bye")
	writeWS(t, c2, websocket.TextMessage, "4never")
	if app.waitClosed(t, s2.ID()) != ReasonForcedClose || inMsg.Load() {
		t.Fatal("OnClose ran during OnMessage")
	}
	expectWSClosed(t, c2)
}

func TestShutdown(t *testing.T) {
	e := newEnv(t, slowPing)
	sid, ps := e.handshake()
	held := e.getAsync(sid)
	eventually(t, "held GET", func() bool { ps.mu.Lock(); defer ps.mu.Unlock(); return ps.poll != nil })
	c, ws, _ := e.wsHandshake("")
	sid3, s3 := e.handshake() // idle polling session
	probeSID, probeS := e.handshake()
	probe := e.mustDial("EIO=4&transport=websocket&sid=" + probeSID)
	eventually(t, "probe", func() bool { probeS.mu.Lock(); defer probeS.mu.Unlock(); return probeS.probe != nil })
	if n := e.srv.SessionCount(); n != 4 {
		t.Fatalf("count %d", n)
	}

	e.srv.Shutdown()
	e.srv.Shutdown() // idempotent

	if r := waitResp(t, held); r.body != "1" {
		t.Fatalf("held GET %q", r.body)
	}
	if err := expectWSClosed(t, c); !websocket.IsCloseError(err, websocket.CloseNormalClosure) {
		t.Fatalf("ws close: %v", err)
	}
	expectWSClosed(t, probe)
	for _, s := range []*Session{ps, ws, s3, probeS} {
		if r := e.app.waitClosed(t, s.ID()); r != ReasonServerShuttingDown {
			t.Fatalf("reason %q", r)
		}
	}
	if r := e.get(sid3); r.status != 400 || !strings.Contains(r.body, `"code":1`) {
		t.Fatalf("GET after shutdown: %d %q", r.status, r.body)
	}
	if r := e.do("GET", "EIO=4&transport=polling", ""); r.status != 503 {
		t.Fatalf("handshake after shutdown: %d", r.status)
	}
	if _, res, err := e.dial("EIO=4&transport=websocket"); err == nil || res.StatusCode != 503 {
		t.Fatalf("ws handshake after shutdown: %v", err)
	}
	if e.srv.SessionCount() != 0 || e.srv.mapLen() != 0 {
		t.Fatalf("leak: %d %d", e.srv.SessionCount(), e.srv.mapLen())
	}
}

func TestSessionCountNoLeak(t *testing.T) {
	e := newEnv(t, func(c *Config) { slowPing(c); c.UpgradeTimeout = 300 * time.Millisecond })
	var conns []*websocket.Conn
	var polls []string
	for i := 0; i < 10; i++ {
		c, _, _ := e.wsHandshake("")
		conns = append(conns, c)
		sid, s := e.handshake()
		polls = append(polls, sid)
		if i%2 == 0 {
			c := e.upgrade(sid, s)
			eventually(t, "upgraded", func() bool { return s.Transport() == WebSocket })
			c.Close() // upgraded then dropped
		}
	}
	if n := e.srv.SessionCount(); n != 15 { // 5 upgraded ones dropped already
		t.Fatalf("count %d", n)
	}
	for i, c := range conns {
		if i%2 == 0 {
			c.Close() // abrupt
		} else {
			writeWS(t, c, websocket.TextMessage, "1")
		}
	}
	for i, sid := range polls {
		if i%2 == 1 {
			e.post(sid, "1")
		}
	}
	eventually(t, "all closed", func() bool { return e.srv.SessionCount() == 0 && e.srv.mapLen() == 0 })
}

// TestSlowClient: a client that stops reading is disconnected when its queue
// overflows, while another client keeps receiving everything.
func TestSlowClient(t *testing.T) {
	e := newEnv(t, func(c *Config) {
		slowPing(c)
		c.SendQueueLen = 64
		c.SendQueueBytes = 256 << 10
		c.MaxPayload = 64 << 10
		c.WriteTimeout = 2 * time.Second
	})
	d := websocket.Dialer{HandshakeTimeout: waitTimeout, NetDial: func(network, addr string) (net.Conn, error) {
		c, err := net.Dial(network, addr)
		if err == nil {
			_ = c.(*net.TCPConn).SetReadBuffer(4096)
		}
		return c, err
	}}
	slow, _, err := d.Dial(e.wsURL("EIO=4&transport=websocket"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	readWS(t, slow) // the open packet, then never read again
	slowS := e.app.waitOpened(t)
	fast, fastS, _ := e.wsHandshake("")

	var received atomic.Int64
	readerDone := make(chan error, 1)
	go func() {
		for {
			_ = fast.SetReadDeadline(time.Now().Add(waitTimeout))
			_, m, err := fast.ReadMessage()
			if err != nil {
				readerDone <- err
				return
			}
			if len(m) != 1+8<<10 {
				readerDone <- fmt.Errorf("frame of %d bytes", len(m))
				return
			}
			received.Add(1)
		}
	}()

	payload := bytes.Repeat([]byte("s"), 8<<10)
	sent := 0
	var sendErr error
	for i := 0; i < 20000 && sendErr == nil; i++ {
		if err := fastS.Send(Message{Data: payload}); err != nil {
			t.Fatalf("fast client: %v", err)
		}
		sent++
		sendErr = slowS.Send(Message{Data: payload})
		// Pace on the fast client so that only the slow one can overflow.
		eventually(t, "fast client keeps up", func() bool { return received.Load() >= int64(sent-8) })
	}
	if !errors.Is(sendErr, ErrQueueFull) && !errors.Is(sendErr, ErrClosed) {
		t.Fatalf("slow client never overflowed: %v", sendErr)
	}
	if r := e.app.waitClosed(t, slowS.ID()); r != ReasonTransportError {
		t.Fatalf("reason %q", r)
	}
	if !strings.Contains(e.logs.String(), "send queue full, closing slow client") {
		t.Errorf("no overflow log:\n%s", e.logs.String())
	}
	eventually(t, "fast client got everything", func() bool { return received.Load() == int64(sent) })
	select {
	case err := <-readerDone:
		t.Fatalf("fast reader: %v", err)
	default:
	}
	select {
	case <-fastS.Done():
		t.Fatal("fast client closed")
	default:
	}
	t.Logf("slow client closed after %d messages", sent)
}

// countingListener wraps accepted connections to count Write calls.
type countingListener struct {
	net.Listener
	mu    sync.Mutex
	conns []*countingConn
}

type countingConn struct {
	net.Conn
	writes atomic.Int64
}

func (c *countingConn) Write(b []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(b)
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	cc := &countingConn{Conn: c}
	l.mu.Lock()
	l.conns = append(l.conns, cc)
	l.mu.Unlock()
	return cc, nil
}

// TestCoalescing: many sends while the writer is busy go out in few Writes,
// every frame intact and in order.
func TestCoalescing(t *testing.T) {
	var l *countingListener
	e := newEnvListener(t, func(c *Config) { slowPing(c); c.SendQueueLen = 1 << 20 }, func(inner net.Listener) net.Listener {
		l = &countingListener{Listener: inner}
		return l
	})
	c, s, _ := e.wsHandshake("")
	l.mu.Lock()
	cc := l.conns[len(l.conns)-1]
	l.mu.Unlock()
	before := cc.writes.Load()

	const n = 5000
	go func() {
		for i := 0; i < n; i++ {
			if i%3 == 0 {
				_ = s.Send(Message{Data: []byte(fmt.Sprintf("m%d", i))}, Message{Data: []byte{byte(i)}, Binary: true})
			} else {
				_ = s.Send(Message{Data: []byte(fmt.Sprintf("m%d", i))})
			}
		}
	}()
	for i := 0; i < n; i++ {
		if mt, m := readWS(t, c); mt != websocket.TextMessage || m != fmt.Sprintf("4m%d", i) {
			t.Fatalf("frame %d: %d %q", i, mt, m)
		}
		if i%3 == 0 {
			if mt, m := readWS(t, c); mt != websocket.BinaryMessage || m != string([]byte{byte(i)}) {
				t.Fatalf("binary frame %d: %d %q", i, mt, m)
			}
		}
	}
	writes := cc.writes.Load() - before
	t.Logf("%d messages in %d writes", n+(n+2)/3, writes)
	if writes >= n {
		t.Fatalf("no coalescing: %d writes for %d sends", writes, n)
	}
}

// TestLargeFrames checks frame lengths around the 7/16/64-bit boundaries and
// the vectored path for big payloads, mixed in one batch.
func TestLargeFrames(t *testing.T) {
	e := newEnv(t, func(c *Config) { slowPing(c); c.MaxPayload = 1 << 20 })
	for _, b64 := range []string{"", "&b64=1"} {
		c, s, _ := e.wsHandshake(b64)
		sizes := []int{0, 1, 124, 125, 126, 127, 65534, 65535, 65536, 70000, bigPayload - 1, bigPayload, 300000}
		var msgs []Message
		for i, n := range sizes {
			d := bytes.Repeat([]byte{byte('a' + i)}, n)
			msgs = append(msgs, Message{Data: d}, Message{Data: d, Binary: true})
		}
		if err := s.Send(msgs...); err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			mt, got := readWS(t, c)
			want := "4" + string(m.Data)
			wantType := websocket.TextMessage
			if m.Binary {
				if b64 != "" {
					want = "b" + base64.StdEncoding.EncodeToString(m.Data)
				} else {
					want, wantType = string(m.Data), websocket.BinaryMessage
				}
			}
			if mt != wantType || got != want {
				t.Fatalf("b64=%q len %d binary %v: got type %d len %d", b64, len(m.Data), m.Binary, mt, len(got))
			}
		}
	}
}

// A reset connection is a closed transport, as in Node; a read timeout or
// another failure is a transport error.
func TestReadErrorReason(t *testing.T) {
	reset := &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}
	for _, c := range []struct {
		err  error
		want Reason
	}{
		{io.EOF, ReasonTransportClose},
		{io.ErrUnexpectedEOF, ReasonTransportClose},
		{reset, ReasonTransportClose},
		{os.ErrDeadlineExceeded, ReasonTransportError},
		{errors.New("boom"), ReasonTransportError},
	} {
		if got := readErrorReason(c.err); got != c.want {
			t.Errorf("readErrorReason(%v) = %q, want %q", c.err, got, c.want)
		}
	}
}

func TestWriteErrorReason(t *testing.T) {
	for _, c := range []struct {
		err  error
		want Reason
	}{
		{&net.OpError{Op: "write", Net: "tcp", Err: os.NewSyscallError("write", syscall.EPIPE)}, ReasonTransportClose},
		{&net.OpError{Op: "write", Net: "tcp", Err: os.NewSyscallError("write", syscall.ECONNRESET)}, ReasonTransportClose},
		{os.ErrDeadlineExceeded, ReasonTransportError},
		{net.ErrClosed, ReasonTransportError},
	} {
		if got := writeErrorReason(c.err); got != c.want {
			t.Errorf("writeErrorReason(%v) = %q, want %q", c.err, got, c.want)
		}
	}
}
