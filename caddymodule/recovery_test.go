package caddymodule

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddy-socketio/caddy-socketio/caddymodule/caddytest"
	"github.com/caddy-socketio/caddy-socketio/caddymodule/hooks"
)

// recoveryApp records the hook requests; its connect reply joins "lobby",
// stores data and greets, and it refuses recovered connects when refuse is set.
type recoveryApp struct {
	mu     sync.Mutex
	got    []hooks.Request
	refuse bool
	reqs   chan hooks.Request
}

func (a *recoveryApp) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var req hooks.Request
	if json.Unmarshal(body, &req) != nil {
		http.Error(w, "bad body", http.StatusBadRequest)
		return
	}
	a.mu.Lock()
	a.got = append(a.got, req)
	refuse := a.refuse
	a.mu.Unlock()
	a.reqs <- req
	var reply any
	switch {
	case req.Type == hooks.TypeConnect && req.Recovered && refuse:
		reply = map[string]any{"error": map[string]any{"message": "not again"}}
	case req.Type == hooks.TypeConnect && !req.Recovered:
		reply = map[string]any{"data": map[string]any{"nick": "n1"}, "join": []string{"lobby"},
			"emit": []any{map[string]any{"event": "hello", "args": []any{"welcome"}}}}
	}
	if reply == nil {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(reply)
}

func (a *recoveryApp) next(t *testing.T, typ string) hooks.Request {
	t.Helper()
	timeout := time.After(waitFor)
	for {
		select {
		case r := <-a.reqs:
			if r.Type == typ {
				return r
			}
		case <-timeout:
			t.Fatalf("no %s hook", typ)
		}
	}
}

// connectAuth sends CONNECT with auth and returns the reply packet.
func (c *wsClient) connectAuth(auth string) sioPacket {
	c.t.Helper()
	c.write("40" + auth)
	return c.next(func(p sioPacket) bool { return p.Nsp == "/" && (p.Type == '0' || p.Type == '4') })
}

func recoverySite(port int, appURL string) string {
	return site(port, `socketio {
		ping_interval 1s
		ping_timeout 1s
		recovery 1500ms
		hook `+appURL+` {
			events connect disconnect
			timeout 2s
		}
	}`)
}

// TestCaddyRecoveryHooksAndReload drops a client, reloads Caddy, and
// recovers it on the new config: the hooks see the whole lifecycle.
func TestCaddyRecoveryHooksAndReload(t *testing.T) {
	app := &recoveryApp{reqs: make(chan hooks.Request, 64)}
	appSrv := httptest.NewServer(app)
	t.Cleanup(appSrv.Close)
	port := caddytest.FreePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	t.Cleanup(func() { stopCaddy(t) })
	if err := caddytest.LoadCaddyfile(t, recoverySite(port, appSrv.URL)); err != nil {
		t.Fatal(err)
	}

	a := dialWS(t, base, "a")
	reply := a.connectAuth("")
	var ids struct{ SID, PID string }
	if reply.Type != '0' || json.Unmarshal(reply.Data, &ids) != nil || ids.PID == "" {
		t.Fatalf("connect reply %s: no pid (recovery is on by default)", reply)
	}
	if r := app.next(t, hooks.TypeConnect); r.Recovered {
		t.Fatal("a first connect reported recovered")
	}
	hello := a.next(func(p sioPacket) bool { return p.Type == '2' })
	if hello.Offset == "" {
		t.Fatalf("greeting without offset: %s", hello)
	}

	// The transport drops: the disconnect hook says the socket may come back.
	_ = a.conn.Close()
	if r := app.next(t, hooks.TypeDisconnect); !r.Recoverable || r.Socket.ID != ids.SID {
		t.Fatalf("disconnect hook %+v, want recoverable", r)
	}

	// A reload that keeps the hub (ping_interval is a live setting) keeps
	// the session.
	if err := caddytest.LoadCaddyfile(t, strings.Replace(recoverySite(port, appSrv.URL), "ping_interval 1s", "ping_interval 2s", 1)); err != nil {
		t.Fatal(err)
	}
	b := dialWS(t, base, "b")
	reply = b.connectAuth(fmt.Sprintf(`{"pid":%q,"offset":%q}`, ids.PID, hello.Offset))
	var ids2 struct{ SID, PID string }
	if reply.Type != '0' || json.Unmarshal(reply.Data, &ids2) != nil || ids2 != ids {
		t.Fatalf("recovery reply %s, want sid %s pid %s", reply, ids.SID, ids.PID)
	}
	r := app.next(t, hooks.TypeConnect)
	if !r.Recovered || r.Socket.ID != ids.SID || !slices.Contains(r.Socket.Rooms, "lobby") {
		t.Fatalf("recovered connect hook %+v", r)
	}
	if d, _ := r.Socket.Data.(map[string]any); d["nick"] != "n1" {
		t.Fatalf("restored data %v", r.Socket.Data)
	}

	// Dropped again, and not back within the window: disconnect, then expire.
	_ = b.conn.Close()
	if r := app.next(t, hooks.TypeDisconnect); !r.Recoverable {
		t.Fatalf("second disconnect %+v", r)
	}
	r = app.next(t, hooks.TypeExpire)
	if r.Socket.ID != ids.SID || !slices.Contains(r.Socket.Rooms, "lobby") || r.Namespace != "/" {
		t.Fatalf("expire hook %+v", r)
	}
	c := dialWS(t, base, "c")
	reply = c.connectAuth(fmt.Sprintf(`{"pid":%q}`, ids.PID))
	var ids3 struct{ SID, PID string }
	_ = json.Unmarshal(reply.Data, &ids3)
	if ids3.SID == ids.SID {
		t.Fatal("recovered after the window")
	}

	// The app may refuse a recovered socket.
	app.mu.Lock()
	app.refuse = true
	app.mu.Unlock()
	app.next(t, hooks.TypeConnect)
	hello = c.next(func(p sioPacket) bool { return p.Type == '2' })
	_ = c.conn.Close()
	app.next(t, hooks.TypeDisconnect)
	d := dialWS(t, base, "d")
	if reply := d.connectAuth(fmt.Sprintf(`{"pid":%q,"offset":%q}`, ids3.PID, hello.Offset)); reply.Type != '4' {
		t.Fatalf("refused recovery answered %s", reply)
	}
}
