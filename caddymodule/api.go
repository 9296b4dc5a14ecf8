package caddymodule

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	sioapi "github.com/caddy-socketio/caddy-socketio/caddymodule/api"
)

// HTTPAPI mounts the HTTP API an application calls to act on the hub:
// POST {path}/emit, /join, /leave, /disconnect and GET {path}/sockets,
// /rooms (docs/webhooks.md). Every request needs
// "Authorization: Bearer <token>".
type HTTPAPI struct {
	// URL path the API is served under, e.g. "/socketio-api": requests for
	// it and below it are answered by the API (the prefix is stripped);
	// others continue as before. It must not overlap the Socket.IO path.
	// Required.
	Path string `json:"path"`

	// Bearer token every request must carry. Required and non-empty: the
	// API is never served without one. Placeholders such as
	// {env.SOCKETIO_API_TOKEN} are replaced when the config is loaded, so
	// the token need not be written in the config.
	Token string `json:"token"`
}

// apiMount serves the API of one handler (config) for its hub.
type apiMount struct {
	prefix string // without a trailing slash
	hub    string
	h      http.Handler // the API, prefix stripped
}

func (m *apiMount) owns(p string) bool {
	return p == m.prefix || strings.HasPrefix(p, m.prefix+"/")
}

// normalizeAPIPath returns the API prefix without a trailing slash.
func normalizeAPIPath(p string) string {
	for len(p) > 1 && strings.HasSuffix(p, "/") {
		p = p[:len(p)-1]
	}
	return p
}

// checkAPI checks the api settings that need no placeholders.
func (h *Handler) checkAPI() error {
	if h.API == nil {
		return nil
	}
	p := normalizeAPIPath(h.API.Path)
	switch {
	case p == "" || !strings.HasPrefix(p, "/"):
		return fmt.Errorf("api: path must start with /: %q", h.API.Path)
	case p == "/":
		return fmt.Errorf("api: path must not be /")
	case strings.HasPrefix(p+"/", h.Path) || strings.HasPrefix(h.Path, p+"/"):
		return fmt.Errorf("api: path %s overlaps the Socket.IO path %s", p, h.Path)
	case strings.TrimSpace(h.API.Token) == "":
		return fmt.Errorf("api: a token is required")
	}
	return nil
}

// apiToken checks the api settings and returns the token with its
// placeholders replaced ("" without api).
func (h *Handler) apiToken() (string, error) {
	if h.API == nil {
		return "", nil
	}
	if err := h.checkAPI(); err != nil {
		return "", err
	}
	token := caddy.NewReplacer().ReplaceKnown(h.API.Token, "")
	if strings.TrimSpace(token) == "" {
		return "", fmt.Errorf("api: token %q is empty once its placeholders are replaced (is the environment variable set?)", h.API.Token)
	}
	return token, nil
}

// provisionAPI builds the API handler for the hub.
func (h *Handler) provisionAPI(token string) error {
	if h.API == nil {
		return nil
	}
	a, err := sioapi.New(h.hub.srv, token, sioapi.WithLogger(h.hub.log), sioapi.WithHeaderFilter(h.hub.headers.Load))
	if err != nil {
		return fmt.Errorf("api: %w", err)
	}
	prefix := normalizeAPIPath(h.API.Path)
	h.api = &apiMount{
		prefix: prefix,
		hub:    h.hubName,
		h:      http.StripPrefix(prefix, countAPI(h.hubName, a)),
	}
	return nil
}

// countAPI counts the requests of an API handler by operation and status
// in caddy_socketio_api_requests_total.
func countAPI(hubName string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		if rec.status == 0 {
			rec.status = http.StatusOK
		}
		apiRequests.WithLabelValues(hubName, apiOperation(r.URL.Path), strconv.Itoa(rec.status)).Inc()
	})
}

// apiOperation is the operation label of an API path (prefix stripped):
// one of the API's operations, or "other".
func apiOperation(p string) string {
	switch op := strings.Trim(p, "/"); op {
	case sioapi.OpEmit, sioapi.OpJoin, sioapi.OpLeave, sioapi.OpDisconnect, sioapi.OpSockets, sioapi.OpRooms:
		return op
	}
	return "other"
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// parseAPI parses `api <path> { token <token> }`.
func parseAPI(d *caddyfile.Dispenser, h *Handler) error {
	if h.API != nil {
		return d.Errf("api already configured")
	}
	a := new(HTTPAPI)
	if !d.AllArgs(&a.Path) {
		return d.ArgErr()
	}
	if !strings.HasPrefix(a.Path, "/") || normalizeAPIPath(a.Path) == "/" {
		return d.Errf("api path must start with / and not be / itself: %q", a.Path)
	}
	tokenSet := false
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch opt := d.Val(); opt {
		case "token":
			if !d.AllArgs(&a.Token) {
				return d.ArgErr()
			}
			if strings.TrimSpace(a.Token) == "" {
				return d.Errf("api token is empty")
			}
			tokenSet = true
		default:
			return d.Errf("unrecognized api option %q", opt)
		}
	}
	if !tokenSet {
		return d.Errf("api %s: a token is required (token {env.SOCKETIO_API_TOKEN}); the API is never served without one", a.Path)
	}
	h.API = a
	return nil
}
