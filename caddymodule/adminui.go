package caddymodule

import (
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/caddy-socketio/caddy-socketio/socketio/admin"
	"github.com/caddy-socketio/caddy-socketio/socketio/admin/uidist"
)

// AdminUI enables the official Socket.IO Admin UI (@socket.io/admin-ui,
// https://admin.socket.io) for the hub: the admin namespace it connects to
// (what instrument() adds to a Node server) and, optionally, the UI itself
// served by Caddy. Off unless configured.
type AdminUI struct {
	// Namespace the UI connects to. Default "/admin". It must not be a
	// namespace declared under namespaces.
	Namespace string `json:"namespace,omitempty"`

	// Username and PasswordHash require the UI's login. PasswordHash is a
	// bcrypt hash as `caddy hash-password` prints it ($2a$...), or
	// base64-encoded as older Caddy versions printed it. Placeholders such
	// as {env.ADMIN_UI_HASH} are replaced when the config loads. Without
	// them the namespace is open to anyone who reaches the site, which is
	// refused unless every listener of the server is on a loopback address
	// or AllowInsecure is set.
	Username     string `json:"username,omitempty"`
	PasswordHash string `json:"password_hash,omitempty"`

	// "development" (default, as in Node) sends the UI every socket, room
	// and event as they change, through the adapter (Redis) while a UI is
	// connected anywhere in the cluster; "production" sends only each
	// node's stats (the UI's dashboard and server list).
	Mode string `json:"mode,omitempty"`

	// ReadOnly offers the UI no actions (disconnect, join, leave, emit).
	ReadOnly bool `json:"read_only,omitempty"`

	// ServerID names this Caddy instance in the UI's server list. Default
	// "<hostname>#<pid>".
	ServerID string `json:"server_id,omitempty"`

	// ServeUI serves the UI (embedded, unmodified, version
	// uidist.Version) under this path prefix, e.g. "/socket.io-admin/".
	// The page asks for the server URL: the page's own origin. It must
	// not overlap the Socket.IO path or the API path. Default: not served.
	ServeUI string `json:"serve_ui,omitempty"`

	// AllowInsecure allows an admin namespace without a password on
	// listeners that are not loopback-only.
	AllowInsecure bool `json:"allow_insecure,omitempty"`
}

// adminMode values.
const (
	adminDevelopment = "development"
	adminProduction  = "production"
)

// uiPrefix is ServeUI with a trailing slash ("" when not served).
func (a *AdminUI) uiPrefix() string {
	if a == nil || a.ServeUI == "" {
		return ""
	}
	p := a.ServeUI
	if !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	if !strings.HasSuffix(p, "/") {
		p += "/"
	}
	return p
}

func (a *AdminUI) namespace() string {
	if a.Namespace == "" {
		return admin.DefaultNamespace
	}
	if !strings.HasPrefix(a.Namespace, "/") {
		return "/" + a.Namespace
	}
	return a.Namespace
}

// checkAdminUI checks the admin_ui settings that need neither placeholders
// nor the server.
func (h *Handler) checkAdminUI() error {
	a := h.AdminUI
	if a == nil {
		return nil
	}
	switch a.Mode {
	case "", adminDevelopment, adminProduction:
	default:
		return fmt.Errorf("admin_ui: mode must be development or production, not %q", a.Mode)
	}
	if (a.Username == "") != (a.PasswordHash == "") {
		return fmt.Errorf("admin_ui: username and password_hash go together")
	}
	nsp := a.namespace()
	if nsp == "/" {
		return fmt.Errorf("admin_ui: the namespace must not be /")
	}
	for _, n := range h.Namespaces {
		if n.Name == nsp {
			return fmt.Errorf("admin_ui: namespace %s is also declared as an application namespace", nsp)
		}
	}
	if p := a.uiPrefix(); p != "" {
		if p == "/" {
			return fmt.Errorf("admin_ui: serve_ui must not be /")
		}
		if strings.HasPrefix(p, h.Path) || strings.HasPrefix(h.Path, p) {
			return fmt.Errorf("admin_ui: serve_ui %s overlaps the Socket.IO path %s", p, h.Path)
		}
		if h.API != nil {
			ap := normalizeAPIPath(h.API.Path) + "/"
			if strings.HasPrefix(p, ap) || strings.HasPrefix(ap, p) {
				return fmt.Errorf("admin_ui: serve_ui %s overlaps the API path %s", p, ap)
			}
		}
	}
	return nil
}

// adminOptions builds the library options: placeholders replaced, the
// hash decoded and checked, and a UI without a password refused on a
// server that listens beyond loopback (unless allow_insecure).
func (h *Handler) adminOptions(ctx caddy.Context) (*admin.Options, error) {
	a := h.AdminUI
	if a == nil {
		return nil, nil
	}
	if err := h.checkAdminUI(); err != nil {
		return nil, err
	}
	opts := &admin.Options{
		Namespace:  a.namespace(),
		ReadOnly:   a.ReadOnly,
		Production: a.Mode == adminProduction,
		ServerID:   a.ServerID,
	}
	repl := caddy.NewReplacer()
	if a.Username == "" {
		if !a.AllowInsecure {
			addrs, loopback := serverListeners(ctx)
			if !loopback {
				return nil, fmt.Errorf("admin_ui: without username and password_hash anyone reaching this server (%s) "+
					"could watch and disconnect its sockets; set them, or listen on loopback addresses only, "+
					"or set allow_insecure", strings.Join(addrs, ", "))
			}
		}
		opts.NoAuth = true
		return opts, nil
	}
	hash, err := decodePasswordHash(repl.ReplaceKnown(a.PasswordHash, ""))
	if err != nil {
		return nil, err
	}
	opts.Auth = &admin.BasicAuth{Username: repl.ReplaceKnown(a.Username, ""), PasswordHash: hash}
	return opts, nil
}

// decodePasswordHash accepts a bcrypt hash in Modular Crypt Format (what
// `caddy hash-password` prints) or base64-encoded (what it printed before
// Caddy 2.8), as Caddy's basic_auth does.
func decodePasswordHash(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "$") {
		return []byte(s), nil
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("admin_ui: password_hash is neither a bcrypt hash ($2a$...) nor base64: %v", err)
	}
	if !strings.HasPrefix(string(b), "$2") {
		return nil, fmt.Errorf("admin_ui: password_hash is not a bcrypt hash (use caddy hash-password)")
	}
	return b, nil
}

// serverListeners returns the listen addresses of the HTTP server the
// handler runs in, and whether all of them are loopback addresses. Unknown
// (no server in the context): not loopback.
func serverListeners(ctx caddy.Context) ([]string, bool) {
	srv, ok := ctx.Value(caddyhttp.ServerCtxKey).(*caddyhttp.Server)
	if !ok || srv == nil || len(srv.Listen) == 0 {
		return []string{"unknown listeners"}, false
	}
	loopback := true
	for _, l := range srv.Listen {
		na, err := caddy.ParseNetworkAddress(l)
		if err != nil {
			return srv.Listen, false
		}
		if na.IsUnixNetwork() {
			continue // a socket file: reachable through the file system only
		}
		host := na.Host
		if host != "localhost" {
			ip := net.ParseIP(strings.Trim(host, "[]"))
			if ip == nil || !ip.IsLoopback() {
				loopback = false
			}
		}
	}
	return srv.Listen, loopback
}

// serveAdminUI answers requests for the UI's prefix; false for others.
func (h *Handler) serveAdminUI(w http.ResponseWriter, r *http.Request) bool {
	if h.adminUIHandler == nil {
		return false
	}
	p := r.URL.Path
	if !strings.HasPrefix(p, h.adminUIPrefix) && p+"/" != h.adminUIPrefix {
		return false
	}
	h.adminUIHandler.ServeHTTP(w, r)
	return true
}

func (h *Handler) provisionAdminUI() {
	if p := h.AdminUI.uiPrefix(); p != "" {
		h.adminUIPrefix = p
		h.adminUIHandler = uidist.Handler(p)
	}
}

// parseAdminUI parses the admin_ui subdirective:
//
//	admin_ui [<namespace>] {
//	    username       <name>
//	    password_hash  <bcrypt hash>
//	    mode           development|production
//	    read_only
//	    server_id      <id>
//	    serve_ui       <path>
//	    allow_insecure
//	}
func parseAdminUI(d *caddyfile.Dispenser, h *Handler) error {
	if h.AdminUI != nil {
		return d.Err("admin_ui already set")
	}
	a := &AdminUI{}
	if d.NextArg() {
		a.Namespace = d.Val()
		if d.NextArg() {
			return d.ArgErr()
		}
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch opt := d.Val(); opt {
		case "username":
			if !d.AllArgs(&a.Username) {
				return d.ArgErr()
			}
		case "password_hash":
			if !d.AllArgs(&a.PasswordHash) {
				return d.ArgErr()
			}
		case "mode":
			if !d.AllArgs(&a.Mode) {
				return d.ArgErr()
			}
			if a.Mode != adminDevelopment && a.Mode != adminProduction {
				return d.Errf("mode must be development or production, not %q", a.Mode)
			}
		case "read_only":
			b, err := parseFlag(d)
			if err != nil {
				return err
			}
			a.ReadOnly = b
		case "server_id":
			if !d.AllArgs(&a.ServerID) {
				return d.ArgErr()
			}
		case "serve_ui":
			if !d.AllArgs(&a.ServeUI) {
				return d.ArgErr()
			}
		case "allow_insecure":
			b, err := parseFlag(d)
			if err != nil {
				return err
			}
			a.AllowInsecure = b
		default:
			return d.Errf("unknown admin_ui option %q", opt)
		}
	}
	h.AdminUI = a
	return nil
}
