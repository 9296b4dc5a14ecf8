package caddymodule

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddy-socketio/caddy-socketio/caddymodule/caddytest"
)

// These tests run Caddy in-process (caddy.Load), with the admin endpoint off
// and every listener on 127.0.0.1. They must not run in parallel: Caddy has
// one running config per process.

func TestMain(m *testing.M) {
	code := m.Run()
	caddytest.RemoveStorage()
	os.Exit(code)
}

func site(port int, socketio string) string {
	return fmt.Sprintf(`http://:%d {
	bind 127.0.0.1
	%s
	respond "not socket.io" 404
}
`, port, socketio)
}

// poolRefs lists the hubs in the pool with their reference counts.
func poolRefs() map[string]int {
	out := make(map[string]int)
	hubs.Range(func(k, _ any) bool {
		n, _ := hubs.References(k)
		out[k.(string)] = n
		return true
	})
	return out
}

func stopCaddy(t testing.TB) {
	t.Helper()
	if err := caddy.Stop(); err != nil {
		t.Errorf("stop: %v", err)
	}
	if refs := poolRefs(); len(refs) != 0 {
		t.Errorf("hubs left after stop: %v", refs)
	}
}

func TestCaddyHubClaims(t *testing.T) {
	p1, p2 := caddytest.FreePort(t), caddytest.FreePort(t)
	t.Cleanup(func() { stopCaddy(t) })

	err := caddytest.LoadCaddyfile(t, site(p1, "socketio")+site(p2, "socketio"))
	if err == nil || !strings.Contains(err.Error(), `hub "/socket.io/" is already used by another socketio handler in this config`) {
		t.Fatalf("two sites with the default hub: err = %v", err)
	}
	if refs := poolRefs(); len(refs) != 0 {
		t.Fatalf("a failed load left hubs behind: %v", refs)
	}

	err = caddytest.LoadCaddyfile(t, site(p1, "socketio {\n hub one\n}")+site(p2, "socketio {\n hub one\n ping_interval 5s\n}"))
	if err == nil || !strings.Contains(err.Error(), `sharing hub "one" must have identical settings`) {
		t.Fatalf("explicit shared hub with different settings: err = %v", err)
	}
	shared := `socketio {
		hub one
		namespace / {
			join joinRoom room
			relay chatInput chatMessage
		}
	}`
	err = caddytest.LoadCaddyfile(t, site(p1, shared)+site(p2, shared))
	if err != nil {
		t.Fatalf("explicit shared hub: %v", err)
	}
	refs := poolRefs()
	if len(refs) != 1 {
		t.Fatalf("pool = %v, want one hub", refs)
	}
	for _, n := range refs {
		if n != 2 {
			t.Fatalf("pool = %v, want 2 references", refs)
		}
	}
	// Both sites serve the same hub: a room spans them.
	a := joinPlain(t, fmt.Sprintf("http://127.0.0.1:%d", p1), "a")
	b := joinPlain(t, fmt.Sprintf("http://127.0.0.1:%d", p2), "b")
	a.emitAck("/", "joinRoom", "r")
	b.emitAck("/", "joinRoom", "r")
	a.emitAck("/", "chatInput", chatMsg("a", "across sites"))
	expectChat(t, b, "/", "chatMessage", chatMsg("a", "across sites"))

	// Distinct names: two hubs.
	if err := caddytest.LoadCaddyfile(t, site(p1, "socketio {\n hub one\n}")+site(p2, "socketio {\n hub two\n}")); err != nil {
		t.Fatalf("distinct hubs: %v", err)
	}
	if refs := poolRefs(); len(refs) != 2 {
		t.Fatalf("pool = %v, want two hubs", refs)
	}
}

// joinPlain connects to "/" of a handler without rules.
func joinPlain(t *testing.T, url, name string) *wsClient {
	t.Helper()
	c := dialWS(t, url, name)
	c.connect("/")
	return c
}

func reloadSite(port int, greet, extra string) string {
	return site(port, `socketio {
		hub chat
		ping_interval 1s
		ping_timeout 1s
		`+extra+`
		namespace / {
			greet hello "`+greet+`"
			join joinRoom room exclusive
			relay chatInput chatMessage
		}
		namespace /system {
			greet message "Notice !"
		}
	}`)
}

func TestCaddyReload(t *testing.T) {
	port := caddytest.FreePort(t)
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	t.Cleanup(func() { stopCaddy(t) })

	if err := caddytest.LoadCaddyfile(t, reloadSite(port, "v1", "")); err != nil {
		t.Fatal(err)
	}
	hello := func(c *wsClient) string {
		t.Helper()
		c.connect("/")
		var s string
		args := c.expectEvent("/", "hello")
		if len(args) != 1 || jsonUnmarshal(args[0], &s) != nil {
			t.Fatalf("hello %s", args)
		}
		return s
	}
	a, b := dialWS(t, url, "a"), dialWS(t, url, "b")
	if g := hello(a); g != "v1" {
		t.Fatalf("greeting %q", g)
	}
	hello(b)
	a.emitAck("/", "joinRoom", map[string]any{"room": "r1"})
	b.emitAck("/", "joinRoom", map[string]any{"room": "r1"})
	a.connect("/system")
	a.expectEvent("/system", "message")

	// Reload with live settings changed: same hub, nobody disconnected.
	if err := caddytest.LoadCaddyfile(t, reloadSite(port, "v2", "ping_interval 2s")); err != nil {
		t.Fatal(err)
	}
	if refs := poolRefs(); len(refs) != 1 {
		t.Fatalf("pool after reload = %v, want the same single hub", refs)
	}
	a.emitAck("/", "chatInput", chatMsg("a", "after reload"))
	expectChat(t, b, "/", "chatMessage", chatMsg("a", "after reload"))
	expectChat(t, a, "/", "chatMessage", chatMsg("a", "after reload"))
	a.assertOpen()
	b.assertOpen()
	c := dialWS(t, url, "c")
	if c.open.PingInterval != 2000 {
		t.Fatalf("pingInterval after reload = %d, want 2000", c.open.PingInterval)
	}
	if g := hello(c); g != "v2" {
		t.Fatalf("greeting after reload %q, want v2", g)
	}

	// A reload that fails after our handler was provisioned changes nothing.
	// (handle is ordered after socketio, so its subroute is provisioned
	// after our handler, in the same server.)
	bad := strings.Replace(reloadSite(port, "v3", "ping_interval 3s"), "respond", "handle /bad/* {\n\t\turi path_regexp ( x\n\t}\n\trespond", 1)
	if err := caddytest.LoadCaddyfile(t, bad); err == nil {
		t.Fatal("a config with an invalid regexp loaded")
	}
	d := dialWS(t, url, "d")
	if d.open.PingInterval != 2000 {
		t.Fatalf("pingInterval after a failed reload = %d, want 2000", d.open.PingInterval)
	}
	if g := hello(d); g != "v2" {
		t.Fatalf("greeting after a failed reload %q, want v2", g)
	}
	if refs := poolRefs(); len(refs) != 1 {
		t.Fatalf("pool after a failed reload = %v", refs)
	}
	for _, n := range poolRefs() {
		if n != 1 {
			t.Fatalf("references after a failed reload = %d, want 1", n)
		}
	}

	// Changing a fixed setting replaces the hub: its clients are closed
	// (and would reconnect), new clients get the new hub.
	if err := caddytest.LoadCaddyfile(t, reloadSite(port, "v4", "max_payload 2MB")); err != nil {
		t.Fatal(err)
	}
	a.waitClosed()
	b.waitClosed()
	e := dialWS(t, url, "e")
	if g := hello(e); g != "v4" {
		t.Fatalf("greeting on the new hub %q", g)
	}
	if refs := poolRefs(); len(refs) != 1 {
		t.Fatalf("pool after a fixed-setting change = %v, want only the new hub", refs)
	}

	// Removing the directive closes the hub.
	if err := caddytest.LoadCaddyfile(t, site(port, "")); err != nil {
		t.Fatal(err)
	}
	e.waitClosed()
	if refs := poolRefs(); len(refs) != 0 {
		t.Fatalf("pool without the directive = %v", refs)
	}
}
