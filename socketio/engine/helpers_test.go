package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

const waitTimeout = 5 * time.Second

type closeEvent struct {
	s      *Session
	reason Reason
}

// testApp is an echo SessionHandler: every message goes straight back, text
// as text, binary as binary. Hooks let tests intercept.
type testApp struct {
	opened chan *Session
	closed chan closeEvent

	mu        sync.Mutex
	onMessage func(s *Session, data []byte, binary bool) bool // true: handled, no echo
	reasons   map[string]Reason
}

func newTestApp() *testApp {
	return &testApp{
		opened:  make(chan *Session, 4096),
		closed:  make(chan closeEvent, 4096),
		reasons: make(map[string]Reason),
	}
}

func (a *testApp) onSession(s *Session) SessionHandler {
	a.opened <- s
	return a
}

func (a *testApp) OnMessage(s *Session, data []byte, binary bool) {
	a.mu.Lock()
	hook := a.onMessage
	a.mu.Unlock()
	if hook != nil && hook(s, data, binary) {
		return
	}
	_ = s.Send(Message{Data: data, Binary: binary})
}

func (a *testApp) OnClose(s *Session, reason Reason) {
	a.mu.Lock()
	if _, dup := a.reasons[s.ID()]; dup {
		panic("OnClose twice for " + s.ID())
	}
	a.reasons[s.ID()] = reason
	a.mu.Unlock()
	a.closed <- closeEvent{s, reason}
}

func (a *testApp) setOnMessage(f func(s *Session, data []byte, binary bool) bool) {
	a.mu.Lock()
	a.onMessage = f
	a.mu.Unlock()
}

// waitOpened returns the next session opened.
func (a *testApp) waitOpened(t testing.TB) *Session {
	t.Helper()
	select {
	case s := <-a.opened:
		return s
	case <-time.After(waitTimeout):
		t.Fatal("timeout waiting for a session")
		return nil
	}
}

// waitClosed waits for the close of sid and returns its reason.
func (a *testApp) waitClosed(t testing.TB, sid string) Reason {
	t.Helper()
	deadline := time.After(waitTimeout)
	for {
		a.mu.Lock()
		r, ok := a.reasons[sid]
		a.mu.Unlock()
		if ok {
			return r
		}
		select {
		case <-a.closed:
		case <-time.After(10 * time.Millisecond):
		case <-deadline:
			t.Fatalf("timeout waiting for close of %s", sid)
			return ""
		}
	}
}

type env struct {
	t      testing.TB
	srv    *Server
	app    *testApp
	hs     *httptest.Server
	base   string // http://127.0.0.1:port/engine.io/
	client *http.Client
	logs   *logBuffer
}

type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// newEnv starts an engine on 127.0.0.1 at /engine.io/ with an echo app and
// ping 300 ms / 200 ms like the official suite, unless mod changes it.
func newEnv(t testing.TB, mod func(*Config)) *env {
	t.Helper()
	return newEnvListener(t, mod, nil)
}

// newEnvListener is newEnv with a wrapped listener.
func newEnvListener(t testing.TB, mod func(*Config), wrap func(net.Listener) net.Listener) *env {
	t.Helper()
	app := newTestApp()
	logs := &logBuffer{}
	cfg := Config{
		PingInterval: 300 * time.Millisecond,
		PingTimeout:  200 * time.Millisecond,
		OnSession:    app.onSession,
		Logger:       slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if mod != nil {
		mod(&cfg)
	}
	srv := NewServer(cfg)
	mux := http.NewServeMux()
	mux.Handle("/engine.io/", srv)
	hs := httptest.NewUnstartedServer(mux)
	if wrap != nil {
		hs.Listener = wrap(hs.Listener)
	}
	hs.Start()
	tr := &http.Transport{MaxIdleConnsPerHost: 16}
	e := &env{t: t, srv: srv, app: app, hs: hs, base: hs.URL + "/engine.io/",
		client: &http.Client{Transport: tr, Timeout: waitTimeout}, logs: logs}
	t.Cleanup(func() {
		srv.Shutdown()
		tr.CloseIdleConnections()
		hs.CloseClientConnections()
		hs.Close()
	})
	return e
}

// slowEnv: heartbeat long enough not to interfere with multi-step tests.
func slowPing(c *Config) {
	c.PingInterval = 5 * time.Second
	c.PingTimeout = 5 * time.Second
}

type resp struct {
	status int
	header http.Header
	body   string
}

func (e *env) do(method, query, body string, hdr ...string) resp {
	e.t.Helper()
	return e.doCtx(context.Background(), method, query, body, hdr...)
}

func (e *env) doCtx(ctx context.Context, method, query, body string, hdr ...string) resp {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, e.base+"?"+query, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "text/plain;charset=UTF-8")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := e.client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return resp{}
		}
		e.t.Fatalf("%s %s: %v", method, query, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatalf("%s %s: reading body: %v", method, query, err)
	}
	return resp{res.StatusCode, res.Header, string(b)}
}

// get/post on a session.
func (e *env) get(sid string) resp {
	e.t.Helper()
	return e.do("GET", "EIO=4&transport=polling&sid="+sid, "")
}
func (e *env) post(sid, body string) resp {
	e.t.Helper()
	return e.do("POST", "EIO=4&transport=polling&sid="+sid, body)
}

// getAsync starts a GET and returns a channel with its answer.
func (e *env) getAsync(sid string) <-chan resp {
	ch := make(chan resp, 1)
	go func() {
		req, _ := http.NewRequest("GET", e.base+"?EIO=4&transport=polling&sid="+sid, nil)
		res, err := e.client.Do(req)
		if err != nil {
			ch <- resp{status: -1, body: err.Error()}
			return
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		ch <- resp{res.StatusCode, res.Header, string(b)}
	}()
	return ch
}

func waitResp(t testing.TB, ch <-chan resp) resp {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(waitTimeout):
		t.Fatal("timeout waiting for a response")
		return resp{}
	}
}

// mustNotRespond checks that ch stays silent for d.
func mustNotRespond(t testing.TB, ch <-chan resp, d time.Duration) {
	t.Helper()
	select {
	case r := <-ch:
		t.Fatalf("unexpected response %d %q", r.status, r.body)
	case <-time.After(d):
	}
}

type openPkt struct {
	SID          string   `json:"sid"`
	Upgrades     []string `json:"upgrades"`
	PingInterval int      `json:"pingInterval"`
	PingTimeout  int      `json:"pingTimeout"`
	MaxPayload   int      `json:"maxPayload"`
}

// jsonKeys returns the top-level keys of a JSON object in order.
func jsonKeys(t testing.TB, s string) []string {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(s))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("not an object: %q", s)
	}
	var keys []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, tok.(string))
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			t.Fatal(err)
		}
	}
	return keys
}

func parseOpen(t testing.TB, body string) openPkt {
	t.Helper()
	if !strings.HasPrefix(body, "0{") {
		t.Fatalf("not an open packet: %q", body)
	}
	js := body[1:]
	if i := strings.IndexByte(js, recordSeparator); i >= 0 {
		js = js[:i]
	}
	want := []string{"sid", "upgrades", "pingInterval", "pingTimeout", "maxPayload"}
	if got := jsonKeys(t, js); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("open keys %v, want %v", got, want)
	}
	var o openPkt
	if err := json.Unmarshal([]byte(js), &o); err != nil {
		t.Fatal(err)
	}
	return o
}

// handshake opens a polling session and returns its sid and server Session.
func (e *env) handshake() (string, *Session) {
	e.t.Helper()
	r := e.do("GET", "EIO=4&transport=polling", "")
	if r.status != 200 {
		e.t.Fatalf("handshake: %d %q", r.status, r.body)
	}
	o := parseOpen(e.t, r.body)
	s := e.app.waitOpened(e.t)
	if s.ID() != o.SID {
		e.t.Fatalf("sid %q, session %q", o.SID, s.ID())
	}
	return o.SID, s
}

func (e *env) wsURL(query string) string {
	return "ws://" + strings.TrimPrefix(e.base, "http://") + "?" + query
}

func (e *env) dial(query string) (*websocket.Conn, *http.Response, error) {
	d := websocket.Dialer{HandshakeTimeout: waitTimeout}
	c, res, err := d.Dial(e.wsURL(query), nil)
	if c != nil {
		e.t.Cleanup(func() { c.Close() })
	}
	return c, res, err
}

func (e *env) mustDial(query string) *websocket.Conn {
	e.t.Helper()
	c, res, err := e.dial(query)
	if err != nil {
		status := 0
		if res != nil {
			status = res.StatusCode
		}
		e.t.Fatalf("dial %s: %v (status %d)", query, err, status)
	}
	return c
}

func readWS(t testing.TB, c *websocket.Conn) (int, string) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(waitTimeout))
	mt, b, err := c.ReadMessage()
	if err != nil {
		t.Fatalf("ws read: %v", err)
	}
	return mt, string(b)
}

// readWSSkipPing reads the next frame that is not a ping, answering pings.
func readWSSkipPing(t testing.TB, c *websocket.Conn) (int, string) {
	t.Helper()
	for i := 0; i < 100; i++ {
		mt, s := readWS(t, c)
		if mt == websocket.TextMessage && s == "2" {
			writeWS(t, c, websocket.TextMessage, "3")
			continue
		}
		return mt, s
	}
	t.Fatal("only pings")
	return 0, ""
}

func writeWS(t testing.TB, c *websocket.Conn, mt int, s string) {
	t.Helper()
	_ = c.SetWriteDeadline(time.Now().Add(waitTimeout))
	if err := c.WriteMessage(mt, []byte(s)); err != nil {
		t.Fatalf("ws write: %v", err)
	}
}

// expectWSClosed reads until the connection fails (skipping frames) and
// returns the error.
func expectWSClosed(t testing.TB, c *websocket.Conn) error {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(waitTimeout))
	for i := 0; i < 10000; i++ {
		if _, _, err := c.ReadMessage(); err != nil {
			if ne, ok := err.(interface{ Timeout() bool }); ok && ne.Timeout() {
				t.Fatalf("websocket not closed: %v", err)
			}
			return err
		}
	}
	t.Fatal("websocket not closed")
	return nil
}

// wsHandshake opens a websocket-only session.
func (e *env) wsHandshake(extra string) (*websocket.Conn, *Session, openPkt) {
	e.t.Helper()
	c := e.mustDial("EIO=4&transport=websocket" + extra)
	mt, msg := readWS(e.t, c)
	if mt != websocket.TextMessage {
		e.t.Fatalf("open frame type %d", mt)
	}
	o := parseOpen(e.t, msg)
	s := e.app.waitOpened(e.t)
	return c, s, o
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timeout waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func readAll(res *http.Response) string {
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	return string(b)
}

func (srv *Server) mapLen() int {
	srv.mu.RLock()
	defer srv.mu.RUnlock()
	return len(srv.sessions)
}
