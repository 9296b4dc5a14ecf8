package caddymodule

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"

	"github.com/caddy-socketio/caddy-socketio/caddymodule/caddytest"
)

// TestExampleHooksCaddyfile runs Caddyfile.hooks-example, adapted with test
// ports on 127.0.0.1, with examples/webhook-app built and started as its own
// process: the two must work together as their comments say.
func TestExampleHooksCaddyfile(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs examples/webhook-app")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go toolchain in PATH")
	}
	port, appPort := caddytest.FreePort(t), caddytest.FreePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	secret, token := "example-hook-secret", "example-api-token"

	// Build and start the app.
	bin := filepath.Join(t.TempDir(), "webhook-app")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	build := exec.CommandContext(ctx, goBin, "build", "-o", bin, "../examples/webhook-app")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build webhook-app: %v\n%s", err, out)
	}
	app := exec.Command(bin)
	app.Env = append(os.Environ(),
		fmt.Sprintf("WEBHOOK_APP_LISTEN=127.0.0.1:%d", appPort),
		fmt.Sprintf("SOCKETIO_API_URL=%s/socketio-api", base),
		"SOCKETIO_HOOK_SECRET="+secret,
		"SOCKETIO_API_TOKEN="+token,
	)
	var appLog strings.Builder
	app.Stdout, app.Stderr = &appLog, &appLog
	if err := app.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = app.Process.Kill()
		_ = app.Wait()
		if t.Failed() {
			t.Logf("webhook-app output:\n%s", appLog.String())
		}
	})
	deadline := time.Now().Add(waitFor)
	for {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", appPort), time.Second)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("webhook-app not listening: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}

	// Caddy with the example Caddyfile, as documented, test ports only.
	dir := caddytest.StorageDir(t)
	t.Setenv("SOCKETIO_DEMO_ADMIN", "off")
	t.Setenv("SOCKETIO_DEMO_PORT", fmt.Sprint(port))
	t.Setenv("SOCKETIO_DEMO_BIND", "127.0.0.1")
	t.Setenv("SOCKETIO_DEMO_ROOT", "../examples/chat")
	t.Setenv("WEBHOOK_APP_PORT", fmt.Sprint(appPort))
	t.Setenv("SOCKETIO_HOOK_SECRET", secret)
	t.Setenv("SOCKETIO_API_TOKEN", token)
	src, err := os.ReadFile("../Caddyfile.hooks-example")
	if err != nil {
		t.Fatal(err)
	}
	// Keep Caddy's storage and autosave out of the home directory.
	global := "{\n\tadmin"
	if !strings.Contains(string(src), global) {
		t.Fatal("Caddyfile.hooks-example: no global admin option to add the test's storage next to")
	}
	src = []byte(strings.Replace(string(src), global,
		"{\n\tpersist_config off\n\tstorage file_system "+dir+"\n\tadmin", 1))
	cfg, _, err := caddyconfig.GetAdapter("caddyfile").Adapt(src, map[string]any{"filename": "Caddyfile.hooks-example"})
	if err != nil {
		t.Fatalf("adapt: %v", err)
	}
	t.Cleanup(func() { stopCaddy(t) })
	if err := caddy.Load(cfg, false); err != nil {
		t.Fatal(err)
	}

	// The page is served.
	if code, body := apiCall(t, "GET", base+"/", "", ""); code != 200 || !strings.Contains(body, "socket.io") {
		t.Fatalf("GET /: %d", code)
	}

	// ann and bob connect; ann watches /system.
	connectNick := func(name string) *wsClient {
		c := dialWS(t, base, name)
		c.write(`40{"nick":"` + name + `"}`)
		p := c.next(func(p sioPacket) bool { return p.Nsp == "/" && (p.Type == '0' || p.Type == '4') })
		if p.Type != '0' {
			t.Fatalf("%s refused: %s", name, p.Data)
		}
		jsonEq(t, c.expectEvent("/", "hello")[0], `{"message":"Welcome to Socket io ~"}`)
		return c
	}
	ann, bob := connectNick("ann"), connectNick("bob")
	ann.connect("/system")
	expectString(t, ann.expectEvent("/system", "message"), "Notice !")

	jsonEq(t, ann.emitAck("/", "joinRoom", map[string]any{"room": "lobby"}), `["lobby"]`)
	// The app announces the join through Caddy's API.
	expectString(t, ann.expectEvent("/system", "message"), "ann joined lobby")
	jsonEq(t, bob.emitAck("/", "joinRoom", map[string]any{"room": "lobby"}), `["lobby"]`)
	expectString(t, ann.expectEvent("/system", "message"), "bob joined lobby")

	ann.emit("/", "chatInput", map[string]any{"msg": "hello bob"})
	jsonEq(t, bob.expectEvent("/", "chatMessage")[0], `{"nick":"ann","msg":"hello bob"}`)
	jsonEq(t, ann.expectEvent("/", "chatMessage")[0], `{"nick":"ann","msg":"hello bob"}`)

	bob.conn.Close()
	expectString(t, ann.expectEvent("/system", "message"), "bob left lobby")
}
