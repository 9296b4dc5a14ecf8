package caddymodule

import (
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"
)

// originCheck is the default when no cors_origins are configured: a
// browser handshake (it carries an Origin header) is accepted only when
// its Origin names the host of the request, so that a page of another
// site cannot open a session with this site's cookies or HTTP
// authentication (cross-site websocket hijacking). Requests without Origin
// (native and server-side clients) are accepted.
type originCheck struct {
	log    *slog.Logger
	logged atomic.Int64 // unix nanoseconds of the last log line
}

var errForeignOrigin = errors.New("Forbidden")

// websocket is engine.Config.CheckOrigin: websocket handshakes and
// upgrades (refused with 403).
func (o *originCheck) websocket(r *http.Request) bool { return o.allowed(r) }

// polling is engine.Config.AllowRequest: polling handshakes (refused with
// 403 {"code":4,"message":"Forbidden"}). Websocket handshakes are left to
// websocket, which answers 403 where AllowRequest would answer 400.
func (o *originCheck) polling(r *http.Request) error {
	if isUpgrade(r) || o.allowed(r) {
		return nil
	}
	return errForeignOrigin
}

func (o *originCheck) allowed(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" || sameOrigin(origin, r.Host) {
		return true
	}
	// Rate-limited: one line every 10 s at most.
	now := time.Now().UnixNano()
	if last := o.logged.Load(); now-last > int64(10*time.Second) && o.logged.CompareAndSwap(last, now) {
		o.log.Warn("handshake from another origin refused (set cors_origins to allow it)",
			"origin", origin, "host", r.Host)
	}
	return false
}

func isUpgrade(r *http.Request) bool {
	return strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
}

// sameOrigin reports whether origin (scheme://host[:port]) names host (the
// Host header, host[:port]). Host names compare case-insensitively; a port
// must match when either side gives one, a default port (80 for http, 443
// for https) standing for none.
func sameOrigin(origin, host string) bool {
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return false // "null", file:, malformed
	}
	oHost, oPort := splitHostPort(u.Host)
	if oPort == defaultPort(u.Scheme) {
		oPort = ""
	}
	hHost, hPort := splitHostPort(host)
	if hPort == "80" || hPort == "443" {
		// The Host header's scheme is unknown behind a TLS-terminating
		// proxy: a default port there matches the Origin's default.
		if oPort == "" {
			hPort = ""
		}
	}
	return strings.EqualFold(oHost, hHost) && oPort == hPort
}

func splitHostPort(hp string) (host, port string) {
	if h, p, err := net.SplitHostPort(hp); err == nil {
		return strings.Trim(h, "[]"), p
	}
	return strings.Trim(hp, "[]"), ""
}

func defaultPort(scheme string) string {
	if scheme == "https" {
		return "443"
	}
	return "80"
}
