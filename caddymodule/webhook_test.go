package caddymodule

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/caddy-socketio/caddy-socketio/caddymodule/caddytest"
	"github.com/caddy-socketio/caddy-socketio/caddymodule/hooks"
)

const (
	testHookSecret = "t-hook-secret"
	testAppKey     = "t-app-key"
	testAPIToken   = "t-api-token"
)

// hookApp is the application behind the hooks: a real HTTP server on
// 127.0.0.1 that checks the signature and the extra header, records what
// it received and answers like a chat app.
type hookApp struct {
	t   *testing.T
	srv *httptest.Server

	mu          sync.Mutex
	got         []hooks.Request
	paths       []string
	disconnects chan hooks.Request
}

func newHookApp(t *testing.T) *hookApp {
	a := &hookApp{t: t, disconnects: make(chan hooks.Request, 16)}
	a.srv = httptest.NewServer(http.HandlerFunc(a.serve))
	t.Cleanup(a.srv.Close)
	return a
}

func (a *hookApp) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if err := hooks.Verify([]byte(testHookSecret), r.Header.Get("X-Socketio-Timestamp"),
		r.Header.Get("X-Socketio-Signature"), body, time.Now(), 300*time.Second); err != nil {
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	if r.Header.Get("X-Api-Key") != testAppKey {
		http.Error(w, "bad key", http.StatusForbidden)
		return
	}
	var req hooks.Request
	if err := json.Unmarshal(body, &req); err != nil {
		http.Error(w, "bad body", http.StatusBadRequest)
		return
	}
	a.mu.Lock()
	a.got = append(a.got, req)
	a.paths = append(a.paths, r.URL.Path)
	a.mu.Unlock()
	var reply any
	switch {
	case req.Type == hooks.TypeConnect && req.Namespace == "/private":
		reply = map[string]any{"error": map[string]any{"message": "unauthorized", "data": map[string]any{"code": 401}}}
	case req.Type == hooks.TypeConnect:
		reply = map[string]any{
			"data": map[string]any{"nick": "n-" + req.Socket.ID[:4]},
			"join": []string{"lobby"},
			"emit": []any{map[string]any{"event": "hello", "args": []any{"welcome"}}},
		}
	case req.Type == hooks.TypeEvent && req.Event == "chatInput":
		var args []any
		_ = json.Unmarshal(req.Args, &args)
		reply = map[string]any{
			"ack":  []any{"ok " + r.URL.Path},
			"emit": []any{map[string]any{"event": "chatMessage", "args": args, "to": []string{"lobby"}}},
		}
	case req.Type == hooks.TypeDisconnect:
		a.disconnects <- req
	}
	if reply == nil {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(reply)
}

func hooksSite(port int, appURL, hookPath string) string {
	return site(port, `socketio {
		ping_interval 1s
		ping_timeout 1s
		namespace /private
		hook `+appURL+hookPath+` {
			events connect disconnect chatInput
			secret {env.SOCKETIO_TEST_HOOK_SECRET}
			header X-Api-Key {env.SOCKETIO_TEST_APP_KEY}
			timeout 2s
		}
		api /sio-api {
			token {env.SOCKETIO_TEST_API_TOKEN}
		}
	}`)
}

func setHookEnv(t *testing.T) {
	t.Setenv("SOCKETIO_TEST_HOOK_SECRET", testHookSecret)
	t.Setenv("SOCKETIO_TEST_APP_KEY", testAppKey)
	t.Setenv("SOCKETIO_TEST_API_TOKEN", testAPIToken)
}

// apiCall sends a JSON request with an optional bearer token.
func apiCall(t *testing.T, method, url, token, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	client := &http.Client{Timeout: waitFor}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func expectString(t *testing.T, args []json.RawMessage, want string) {
	t.Helper()
	var s string
	if len(args) != 1 || json.Unmarshal(args[0], &s) != nil || s != want {
		t.Fatalf("args %s, want [%q]", args, want)
	}
}

func TestCaddyHooksAndAPI(t *testing.T) {
	setHookEnv(t)
	app := newHookApp(t)
	port := caddytest.FreePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	t.Cleanup(func() { stopCaddy(t) })
	if err := caddytest.LoadCaddyfile(t, hooksSite(port, app.srv.URL, "/hook")); err != nil {
		t.Fatal(err)
	}

	// Connect hook accepting: data, join and emit from its reply.
	a, b := dialWS(t, base, "a"), dialWS(t, base, "b")
	aID := a.connect("/")
	expectString(t, a.expectEvent("/", "hello"), "welcome")
	b.connect("/")
	expectString(t, b.expectEvent("/", "hello"), "welcome")

	// Connect hook refusing.
	if msg := a.connectError("/private"); msg != "unauthorized" {
		t.Fatalf("refusal message %q", msg)
	}

	// Event hook: emit to the room both joined on connect, then ack.
	ack := a.emitAck("/", "chatInput", "hi")
	jsonEq(t, ack, `["ok /hook"]`)
	expectString(t, a.expectEvent("/", "chatMessage"), "hi")
	expectString(t, b.expectEvent("/", "chatMessage"), "hi")

	app.mu.Lock()
	var sawData bool
	for _, r := range app.got {
		if r.Type == hooks.TypeEvent && r.Socket.ID == aID {
			d, _ := r.Socket.Data.(map[string]any)
			sawData = d["nick"] == "n-"+aID[:4]
		}
	}
	app.mu.Unlock()
	if !sawData {
		t.Fatal("the event hook did not get the data the connect reply stored")
	}

	// The API through Caddy: the token is required.
	if code, body := apiCall(t, "POST", base+"/sio-api/emit", "", `{"event":"notice","args":["x"]}`); code != http.StatusUnauthorized {
		t.Fatalf("emit without token: %d %s", code, body)
	}
	if code, body := apiCall(t, "POST", base+"/sio-api/emit", "wrong", `{"event":"notice","args":["x"]}`); code != http.StatusUnauthorized {
		t.Fatalf("emit with a wrong token: %d %s", code, body)
	}
	if code, body := apiCall(t, "POST", base+"/sio-api/emit", testAPIToken, `{"event":"notice","args":["from api"],"to":["lobby"]}`); code != http.StatusOK {
		t.Fatalf("emit: %d %s", code, body)
	}
	expectString(t, a.expectEvent("/", "notice"), "from api")
	expectString(t, b.expectEvent("/", "notice"), "from api")
	code, body := apiCall(t, "GET", base+"/sio-api/rooms", testAPIToken, "")
	if code != http.StatusOK || !strings.Contains(body, `{"room":"lobby","sockets":2}`) {
		t.Fatalf("rooms: %d %s", code, body)
	}
	// Other paths are not the API's.
	if code, body := apiCall(t, "GET", base+"/sio-api-other", testAPIToken, ""); code != http.StatusNotFound || !strings.Contains(body, "not socket.io") {
		t.Fatalf("a path next to the API: %d %s", code, body)
	}

	// Metrics.
	hookURL := app.srv.URL + "/hook"
	if n := hookCounter(t, "caddy_socketio_hook_requests_total", hookURL); n < 4 {
		t.Fatalf("hook requests = %v, want >= 4", n)
	}
	if n := testutil.ToFloat64(apiRequests.WithLabelValues("/socket.io/", "emit", "401")); n < 2 {
		t.Fatalf("unauthorized emits counted %v", n)
	}
	if n := testutil.ToFloat64(apiRequests.WithLabelValues("/socket.io/", "emit", "200")); n < 1 {
		t.Fatalf("emits counted %v", n)
	}

	// A reload that keeps the hub moves connected sockets to the new hook.
	if err := caddytest.LoadCaddyfile(t, hooksSite(port, app.srv.URL, "/hook2")); err != nil {
		t.Fatal(err)
	}
	ack = a.emitAck("/", "chatInput", "after reload")
	jsonEq(t, ack, `["ok /hook2"]`)
	expectString(t, a.expectEvent("/", "chatMessage"), "after reload")

	// Disconnect hook.
	b.conn.Close()
	select {
	case req := <-app.disconnects:
		if req.Reason == "" || len(req.Socket.Rooms) == 0 {
			t.Fatalf("disconnect request %+v", req)
		}
	case <-time.After(waitFor):
		t.Fatal("no disconnect hook")
	}

	// Stopping Caddy drains: the remaining socket's disconnect hook is sent.
	stopCaddy(t)
	select {
	case req := <-app.disconnects:
		if req.Socket.ID != aID || req.Reason != "server shutting down" {
			t.Fatalf("disconnect on stop %+v", req)
		}
	case <-time.After(waitFor):
		t.Fatal("no disconnect hook on stop")
	}
}

// hookCounter reads a counter of the hook collector for one hook URL.
func hookCounter(t *testing.T, name, hook string) float64 {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(hookMetrics)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "hook" && l.GetValue() == hook {
					sum += m.GetCounter().GetValue()
				}
			}
		}
	}
	return sum
}

func TestCaddyHooksConnectFailure(t *testing.T) {
	setHookEnv(t)
	port := caddytest.FreePort(t)
	dead := fmt.Sprintf("http://127.0.0.1:%d/hook", caddytest.FreePort(t)) // nothing listens
	t.Cleanup(func() { stopCaddy(t) })
	cfg := func(onError string) string {
		return site(port, `socketio {
			hook `+dead+` {
				events connect
				timeout 1s
				on_error `+onError+`
			}
		}`)
	}
	if err := caddytest.LoadCaddyfile(t, cfg("deny")); err != nil {
		t.Fatal(err)
	}
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	if msg := dialWS(t, base, "a").connectError("/"); msg != "hook failed" {
		t.Fatalf("deny: %q", msg)
	}
	if err := caddytest.LoadCaddyfile(t, cfg("allow")); err != nil {
		t.Fatal(err)
	}
	dialWS(t, base, "b").connect("/")
	if n := hookCounter(t, "caddy_socketio_hook_errors_total", dead); n < 2 {
		t.Fatalf("hook errors = %v", n)
	}
}

func TestCaddyAPIConfigErrors(t *testing.T) {
	port := caddytest.FreePort(t)
	t.Cleanup(func() { stopCaddy(t) })
	t.Setenv("SOCKETIO_TEST_EMPTY", "")
	err := caddytest.LoadCaddyfile(t, site(port, `socketio {
		api /sio-api {
			token {env.SOCKETIO_TEST_EMPTY}
		}
	}`))
	if err == nil || !strings.Contains(err.Error(), "empty once its placeholders are replaced") {
		t.Fatalf("empty token: %v", err)
	}
	err = caddytest.LoadCaddyfile(t, site(port, `socketio {
		api /socket.io/api {
			token t
		}
	}`))
	if err == nil || !strings.Contains(err.Error(), "overlaps the Socket.IO path") {
		t.Fatalf("overlapping path: %v", err)
	}
	if refs := poolRefs(); len(refs) != 0 {
		t.Fatalf("failed loads left hubs: %v", refs)
	}
}

// loadWithAdmin loads sites with the admin endpoint on 127.0.0.1:adminPort.
func loadWithAdmin(t *testing.T, adminPort int, sites string) error {
	t.Helper()
	src := fmt.Sprintf(`{
	admin 127.0.0.1:%d
	persist_config off
	auto_https off
	storage file_system %s
	log {
		level ERROR
	}
}
%s`, adminPort, caddytest.StorageDir(t), sites)
	cfg, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(src), nil)
	if err != nil {
		t.Fatalf("adapt: %v", err)
	}
	return caddy.Load(cfg, true)
}

func TestCaddyAdminAPI(t *testing.T) {
	port, adminPort := caddytest.FreePort(t), caddytest.FreePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	admin := fmt.Sprintf("http://127.0.0.1:%d/socketio", adminPort)
	t.Cleanup(func() { stopCaddy(t) })
	if err := loadWithAdmin(t, adminPort, site(port, "socketio {\n\t\thub chat\n\t}")); err != nil {
		t.Fatal(err)
	}
	a := dialWS(t, base, "a")
	a.connect("/")
	emits := apiRequests.WithLabelValues("chat", "emit", "200")
	emitsBefore := testutil.ToFloat64(emits)

	code, body := apiCall(t, "GET", admin+"/", "", "")
	if code != http.StatusOK || !strings.Contains(body, `"hub":"chat"`) {
		t.Fatalf("hubs: %d %s", code, body)
	}
	// No token needed; the hub may be left out when only one is live.
	if code, body := apiCall(t, "POST", admin+"/emit", "", `{"event":"fromAdmin","args":[1]}`); code != http.StatusOK {
		t.Fatalf("admin emit: %d %s", code, body)
	}
	jsonEq(t, a.expectEvent("/", "fromAdmin")[0], `1`)
	if code, body := apiCall(t, "POST", admin+"/emit?hub=chat", "", `{"event":"fromAdmin","args":[2]}`); code != http.StatusOK {
		t.Fatalf("admin emit to a named hub: %d %s", code, body)
	}
	jsonEq(t, a.expectEvent("/", "fromAdmin")[0], `2`)
	code, body = apiCall(t, "GET", admin+"/sockets?hub=chat&namespace=/", "", "")
	if code != http.StatusOK || !strings.Contains(body, `"id"`) {
		t.Fatalf("admin sockets: %d %s", code, body)
	}
	if code, body := apiCall(t, "POST", admin+"/emit?hub=nope", "", `{"event":"x"}`); code != http.StatusNotFound {
		t.Fatalf("unknown hub: %d %s", code, body)
	}
	if code, body := apiCall(t, "POST", admin+"/nope", "", `{}`); code != http.StatusNotFound {
		t.Fatalf("unknown operation: %d %s", code, body)
	}
	if n := testutil.ToFloat64(emits) - emitsBefore; n != 2 {
		t.Fatalf("admin emits counted %v", n)
	}
}

func TestHookLabel(t *testing.T) {
	for in, want := range map[string]string{
		"https://user:pass@h.example/p?token=x#f": "https://h.example/p",
		"http://127.0.0.1:3000/socketio":          "http://127.0.0.1:3000/socketio",
	} {
		if got := hookLabel(in); got != want {
			t.Errorf("hookLabel(%q) = %q, want %q", in, got, want)
		}
	}
}
