package hooks_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/caddy-socketio/caddy-socketio/caddymodule/hooks"
	"github.com/caddy-socketio/caddy-socketio/socketio"
	"github.com/caddy-socketio/caddy-socketio/socketio/siotest"
)

// waitFor bounds every wait of these tests.
const waitFor = siotest.Wait

// setup serves a socketio.Server on 127.0.0.1 with the dispatcher installed
// on "/", "/chat", "/other" and the dynamic namespaces "/dyn-*".
func setup(t testing.TB, cfg hooks.Config) (*socketio.Server, *httptest.Server, *hooks.Dispatcher) {
	t.Helper()
	d, err := hooks.New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := socketio.NewServer(&socketio.Options{})
	srv.Engine().SetTiming(time.Second, time.Second)
	for _, n := range []string{"/", "/chat", "/other"} {
		d.InstallNamespace(srv.Of(n))
	}
	d.InstallParent(srv.OfRegexp(regexp.MustCompile(`^/dyn-`)))
	hs := httptest.NewServer(srv)
	t.Cleanup(func() {
		_ = srv.Close()
		hs.Close()
		ctx, cancel := context.WithTimeout(context.Background(), waitFor)
		defer cancel()
		_ = d.Close(ctx)
	})
	return srv, hs, d
}

// hookReq is one request an upstream received.
type hookReq struct {
	Ctx    context.Context // the request's, done when the dispatcher gives up
	Header http.Header
	Body   []byte
	Req    hooks.Request
	Args   []any
	Data   any
}

// upstream is an app on 127.0.0.1 that records hook requests and answers
// with reply (an empty body when reply is nil or returns "").
type upstream struct {
	*httptest.Server
	mu    sync.Mutex
	reqs  []hookReq
	got   chan hookReq
	reply func(r hookReq) (status int, body string)
}

func newUpstream(t testing.TB, reply func(r hookReq) (int, string)) *upstream {
	t.Helper()
	u := &upstream{got: make(chan hookReq, 4096), reply: reply}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		hr := hookReq{Ctx: r.Context(), Header: r.Header.Clone(), Body: body}
		if err := json.Unmarshal(body, &hr.Req); err != nil {
			t.Errorf("hook body %q: %v", body, err)
		}
		if len(hr.Req.Args) > 0 {
			_ = json.Unmarshal(hr.Req.Args, &hr.Args)
		}
		hr.Data = hr.Req.Socket.Data
		u.mu.Lock()
		u.reqs = append(u.reqs, hr)
		u.mu.Unlock()
		select {
		case u.got <- hr:
		default:
		}
		status, out := http.StatusOK, ""
		if u.reply != nil {
			status, out = u.reply(hr)
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, out)
	}))
	t.Cleanup(u.Close)
	return u
}

// next returns the next request received, failing after waitFor.
func (u *upstream) next(t testing.TB) hookReq {
	t.Helper()
	select {
	case r := <-u.got:
		return r
	case <-time.After(waitFor):
		t.Fatal("no hook request")
	}
	return hookReq{}
}

// nextOf skips requests until one of type typ (and event, if set).
func (u *upstream) nextOf(t testing.TB, typ, event string) hookReq {
	t.Helper()
	deadline := time.After(waitFor)
	for i := 0; i < 1000; i++ {
		select {
		case r := <-u.got:
			if r.Req.Type == typ && (event == "" || r.Req.Event == event) {
				return r
			}
		case <-deadline:
			t.Fatalf("no %s %s hook request", typ, event)
		}
	}
	t.Fatal("too many requests")
	return hookReq{}
}

func (u *upstream) none(t testing.TB, d time.Duration) {
	t.Helper()
	select {
	case r := <-u.got:
		t.Fatalf("unexpected hook request %s", r.Body)
	case <-time.After(d):
	}
}

// wsClient speaks raw Engine.IO/Socket.IO frames over a websocket.
type wsClient = siotest.WSClient

func dial(t testing.TB, hs *httptest.Server, query string, header http.Header) *wsClient {
	t.Helper()
	return siotest.DialWS(t, hs.URL, query, header)
}

func hookURL(u *upstream) string { return u.URL + "/hook" }

func mustJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func queryOf(kv ...string) string {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	return v.Encode()
}
