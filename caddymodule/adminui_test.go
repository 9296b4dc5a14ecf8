package caddymodule

import (
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/caddy-socketio/caddy-socketio/caddymodule/caddytest"
	"github.com/caddy-socketio/caddy-socketio/socketio/admin/uidist"
)

// adminConnect joins the admin namespace with an auth payload and returns
// the connect error message ("" when accepted).
func (c *wsClient) adminConnect(nsp, auth string) string {
	c.t.Helper()
	c.write("40" + nspPrefix(nsp) + auth)
	p := c.next(func(p sioPacket) bool { return p.Nsp == nsp && (p.Type == '0' || p.Type == '4') })
	if p.Type == '0' {
		return ""
	}
	var v struct{ Message string }
	_ = jsonUnmarshal(p.Data, &v)
	return v.Message
}

// adminEvent waits for an admin event called name, skipping the others.
func (c *wsClient) adminEvent(nsp, name string) {
	c.t.Helper()
	for range 200 {
		p := c.next(func(p sioPacket) bool { return p.Nsp == nsp && p.Type == '2' })
		if ev, _ := p.event(); ev == name {
			return
		}
	}
	c.t.Fatalf("no %s event", name)
}

// The admin_ui subdirective in a running Caddy: the UI served from the
// embedded copy, the login with a hash in both formats Caddy's
// hash-password has printed, a reload that keeps the admin socket, and one
// that removes admin_ui.
func TestAdminUICaddy(t *testing.T) {
	port := caddytest.FreePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	t.Cleanup(func() { stopCaddy(t) })
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	conf := func(hash, extra string) string {
		return site(port, `socketio {
		`+extra+`
		admin_ui {
			username      admin
			password_hash `+hash+`
			server_id     caddy-test
			serve_ui      /socket.io-admin
		}
	}`)
	}
	if err := caddytest.LoadCaddyfile(t, conf(string(hash), "")); err != nil {
		t.Fatal(err)
	}

	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := noRedirect.Get(base + "/socket.io-admin")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusMovedPermanently || res.Header.Get("Location") != "/socket.io-admin/" {
		t.Fatalf("/socket.io-admin: %d %s", res.StatusCode, res.Header.Get("Location"))
	}
	index, _ := io.ReadAll(must(uidist.FS().Open("index.html")))
	res, err = http.Get(base + "/socket.io-admin/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || string(body) != string(index) {
		t.Fatalf("/socket.io-admin/: %d, %d bytes", res.StatusCode, len(body))
	}
	res, err = http.Get(base + "/elsewhere")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 404 {
		t.Fatalf("/elsewhere: %d", res.StatusCode)
	}

	c := dialWS(t, base, "admin")
	if msg := c.adminConnect("/admin", `{"username":"admin","password":"nope"}`); msg != "invalid credentials" {
		t.Fatalf("wrong password: %q", msg)
	}
	if msg := c.adminConnect("/admin", `{"username":"admin","password":"s3cret"}`); msg != "" {
		t.Fatalf("login: %q", msg)
	}
	c.adminEvent("/admin", "config")
	c.adminEvent("/admin", "all_sockets")
	c.adminEvent("/admin", "server_stats")

	// A reload that keeps the hub keeps the admin socket connected; the
	// base64 form of the hash (older caddy hash-password) is accepted.
	b64 := base64.StdEncoding.EncodeToString(hash)
	if err := caddytest.LoadCaddyfile(t, conf(b64, "ping_interval 20s")); err != nil {
		t.Fatal(err)
	}
	c.adminEvent("/admin", "server_stats")
	c.assertOpen()
	c2 := dialWS(t, base, "admin2")
	if msg := c2.adminConnect("/admin", `{"username":"admin","password":"s3cret"}`); msg != "" {
		t.Fatalf("login with the base64 hash: %q", msg)
	}

	// Without admin_ui the namespace is gone.
	if err := caddytest.LoadCaddyfile(t, site(port, "socketio")); err != nil {
		t.Fatal(err)
	}
	c.expectDisconnect("/admin")
	c3 := dialWS(t, base, "admin3")
	if msg := c3.adminConnect("/admin", `{"username":"admin","password":"s3cret"}`); msg != "Invalid namespace" {
		t.Fatalf("after removing admin_ui: %q", msg)
	}
	res, err = http.Get(base + "/socket.io-admin/")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 404 {
		t.Fatalf("UI still served: %d", res.StatusCode)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// An admin namespace without a password is refused on a server that
// listens beyond loopback, unless allow_insecure; on loopback it is fine.
func TestAdminUIInsecureRefused(t *testing.T) {
	port := caddytest.FreePort(t)
	t.Cleanup(func() { stopCaddy(t) })
	open := fmt.Sprintf(`http://:%d {
	socketio {
		admin_ui
	}
}
`, port)
	err := caddytest.LoadCaddyfile(t, open)
	if err == nil || !strings.Contains(err.Error(), "allow_insecure") {
		t.Fatalf("no auth on all interfaces: err = %v", err)
	}
	if err := caddytest.LoadCaddyfile(t, site(port, "socketio {\n admin_ui\n}")); err != nil {
		t.Fatalf("no auth on loopback: %v", err)
	}
	for _, bad := range []string{
		"admin_ui {\n username a\n}",
		"admin_ui {\n username a\n password_hash plain\n}",
		"admin_ui {\n serve_ui /socket.io/admin/\n}",
		"admin_ui /\n",
		"admin_ui /chat\nnamespace /chat",
	} {
		if err := caddytest.LoadCaddyfile(t, site(port, "socketio {\n"+bad+"\n}")); err == nil {
			t.Errorf("accepted: %s", bad)
		}
	}
}
