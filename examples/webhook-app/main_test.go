package main

import (
	"context"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caddy-socketio/caddy-socketio/caddymodule/api"
	"github.com/caddy-socketio/caddy-socketio/caddymodule/hooks"
	"github.com/caddy-socketio/caddy-socketio/socketio"
)

const (
	testSecret = "hook-secret"
	testToken  = "api-token"
)

// stack runs what Caddyfile.hooks-example sets up, on 127.0.0.1: a
// Socket.IO server whose hooks call the app, and the API the app calls.
func stack(t *testing.T) (*httptest.Server, *httptest.Server) {
	t.Helper()
	srv := socketio.NewServer(&socketio.Options{})
	srv.Engine().SetTiming(time.Second, time.Second)
	h, err := api.New(srv, testToken)
	if err != nil {
		t.Fatal(err)
	}
	apiSrv := httptest.NewServer(http.StripPrefix("/socketio-api", h))
	a := newApp(testSecret, apiSrv.URL+"/socketio-api", testToken, log.New(io.Discard, "", 0))
	appSrv := httptest.NewServer(a.routes())
	d, err := hooks.New(hooks.Config{Hooks: []hooks.Hook{{
		URL:        appSrv.URL + "/socketio",
		Namespaces: []string{"/", "/system"},
		Events:     []string{"connect", "disconnect", "joinRoom", "leaveRoom", "chatInput"},
		Secret:     testSecret,
		Timeout:    5 * time.Second,
	}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	d.InstallNamespace(srv.Of("/"))
	d.InstallNamespace(srv.Of("/system"))
	sio := httptest.NewServer(srv)
	t.Cleanup(func() {
		_ = srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), waitFor)
		defer cancel()
		_ = d.Close(ctx)
		sio.Close()
		a.wg.Wait()
		apiSrv.Close()
		appSrv.Close()
	})
	return sio, appSrv
}

// readN reads n frames and returns them sorted: frames from the hook's
// reply and from the API may arrive in either order.
func readN(c *wsClient, n int) []string {
	out := make([]string, 0, n)
	for i := 0; i < n; i++ {
		out = append(out, c.Read())
	}
	slices.Sort(out)
	return out
}

func TestChatThroughHooksAndAPI(t *testing.T) {
	sio, _ := stack(t)
	hello := `42["hello",{"message":"Welcome to Socket io ~"}]`

	ann := dial(t, sio, "", nil)
	ann.Connect("/", `{"nick":"ann"}`)
	ann.Expect(hello)
	ann.Connect("/system", "")
	ann.Expect(`42/system,["message","Notice !"]`)

	bob := dial(t, sio, "nick=bob", nil)
	bob.Connect("/", "")
	bob.Expect(hello)

	ann.Emit("/", 1, "joinRoom", map[string]any{"room": "lobby"})
	if got := readN(ann, 2); !slices.Equal(got, []string{`42/system,["message","ann joined lobby"]`, `431["lobby"]`}) {
		t.Fatalf("ann got %q", got)
	}
	bob.Emit("/", 1, "joinRoom", map[string]any{"room": "lobby"})
	bob.Expect(`431["lobby"]`)
	ann.Expect(`42/system,["message","bob joined lobby"]`)

	// chat fan-out to the room, the sender included
	ann.Emit("/", -1, "chatInput", map[string]any{"msg": "hi"})
	ann.Expect(`42["chatMessage",{"msg":"hi","nick":"ann"}]`)
	bob.Expect(`42["chatMessage",{"msg":"hi","nick":"ann"}]`)
	bob.Emit("/", -1, "chatInput", map[string]any{"msg": "yo", "nick": "bobby"})
	ann.Expect(`42["chatMessage",{"msg":"yo","nick":"bobby"}]`)
	bob.Expect(`42["chatMessage",{"msg":"yo","nick":"bobby"}]`)

	// bob moves to another room (the ack comes once the move is done): ann's
	// messages no longer reach him
	bob.Emit("/", 2, "joinRoom", "other")
	bob.Expect(`432["other"]`)
	ann.Expect(`42/system,["message","bob joined other"]`)
	ann.Emit("/", -1, "chatInput", map[string]any{"msg": "alone"})
	ann.Expect(`42["chatMessage",{"msg":"alone","nick":"ann"}]`)
	bob.ExpectNothing(100 * time.Millisecond)

	// outside a room, only the sender gets a hint
	carl := dial(t, sio, "", nil)
	carl.Connect("/", "")
	carl.Expect(hello)
	carl.Emit("/", -1, "chatInput", map[string]any{"msg": "anyone?"})
	carl.Expect(`42["chatMessage",{"msg":"join a room first","nick":"system"}]`)

	// leaving: the disconnect hook pushes a notice through the API
	_ = bob.Conn.Close()
	ann.Expect(`42/system,["message","bob left other"]`)
	ann.ExpectNothing(100 * time.Millisecond)
}

func TestHookRequestsAreVerified(t *testing.T) {
	_, appSrv := stack(t)
	body := `{"type":"connect","id":"x1","namespace":"/","socket":{"id":"s"}}`
	now := strconv.FormatInt(time.Now().Unix(), 10)
	stale := strconv.FormatInt(time.Now().Add(-10*time.Minute).Unix(), 10)
	for name, tc := range map[string]struct {
		ts, sig string
		status  int
	}{
		"unsigned":      {now, "", 401},
		"wrong secret":  {now, hooks.Sign([]byte("other"), now, []byte(body)), 401},
		"stale":         {stale, hooks.Sign([]byte(testSecret), stale, []byte(body)), 401},
		"bad timestamp": {"soon", hooks.Sign([]byte(testSecret), "soon", []byte(body)), 401},
		"good":          {now, hooks.Sign([]byte(testSecret), now, []byte(body)), 200},
	} {
		req, _ := http.NewRequest("POST", appSrv.URL+"/socketio", strings.NewReader(body))
		req.Header.Set("X-Socketio-Timestamp", tc.ts)
		req.Header.Set("X-Socketio-Signature", tc.sig)
		resp, err := (&http.Client{Timeout: waitFor}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.status {
			t.Errorf("%s: %d, want %d", name, resp.StatusCode, tc.status)
		}
	}
}

func TestClean(t *testing.T) {
	for in, want := range map[string]string{
		"  ann ":       "ann",
		"a\x00b\nc":    "abc",
		"ééééé":        "éééé",
		"\x7f":         "",
		"longer name!": "long",
	} {
		if got := clean(in, 4); got != want {
			t.Errorf("clean(%q) = %q, want %q", in, got, want)
		}
	}
}

// POST /ask: the app asks every /system socket through the API and gets
// every argument of each ack back, with the socket's id.
func TestAskThroughAPI(t *testing.T) {
	sio, appSrv := stack(t)
	ann := dial(t, sio, "", nil)
	ann.Connect("/", `{"nick":"ann"}`)
	ann.Read() // hello
	sid := ann.Connect("/system", "")
	ann.Read() // the notice

	type result struct {
		status int
		body   string
	}
	done := make(chan result, 1)
	go func() {
		resp, err := http.Post(appSrv.URL+"/ask", "text/plain", strings.NewReader("ready?"))
		if err != nil {
			done <- result{body: err.Error()}
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		done <- result{resp.StatusCode, string(b)}
	}()
	f := ann.Read()
	if !strings.HasPrefix(f, "42/system,") || !strings.HasSuffix(f, `["ask","ready?"]`) {
		t.Fatalf("ann got %q", f)
	}
	id := strings.TrimSuffix(strings.TrimPrefix(f, "42/system,"), `["ask","ready?"]`)
	ann.Send("43/system," + id + `["yes",{"n":1},3]`)
	var r result
	select {
	case r = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("no answer from /ask")
	}
	want := `{"ok":true,"acks":[{"socket":"` + sid + `","args":["yes",{"n":1},3]}],"timed_out":[]}`
	if r.status != 200 || strings.TrimSpace(r.body) != want {
		t.Fatalf("/ask: %d %s, want %s", r.status, r.body, want)
	}
}
