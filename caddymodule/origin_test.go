package caddymodule

import (
	"log/slog"
	"net/http/httptest"
	"testing"

	"github.com/caddy-socketio/caddy-socketio/caddymodule/hooks"
	"github.com/caddy-socketio/caddy-socketio/socketio"
)

func TestSameOrigin(t *testing.T) {
	for _, tc := range []struct {
		origin, host string
		want         bool
	}{
		{"http://example.com", "example.com", true},
		{"https://example.com", "example.com", true},
		{"https://Example.COM", "example.com", true},
		{"https://example.com:443", "example.com", true},
		{"http://127.0.0.1:8080", "127.0.0.1:8080", true},
		{"http://[::1]:8080", "[::1]:8080", true},
		{"https://example.com", "example.com:443", true},
		{"http://127.0.0.1:8081", "127.0.0.1:8080", false},
		{"http://127.0.0.1", "127.0.0.1:8080", false},
		{"https://evil.example", "example.com", false},
		{"https://example.com.evil.example", "example.com", false},
		{"null", "example.com", false},
		{"file://", "example.com", false},
		{"ws://example.com", "example.com", false},
	} {
		if got := sameOrigin(tc.origin, tc.host); got != tc.want {
			t.Errorf("sameOrigin(%q, %q) = %v, want %v", tc.origin, tc.host, got, tc.want)
		}
	}
	oc := &originCheck{log: slog.New(slog.DiscardHandler)}
	r := httptest.NewRequest("GET", "http://example.com/socket.io/?EIO=4&transport=polling", nil)
	if oc.polling(r) != nil || !oc.websocket(r) {
		t.Error("a request without Origin was refused")
	}
	r.Header.Set("Origin", "https://evil.example")
	if oc.polling(r) == nil || oc.websocket(r) {
		t.Error("a foreign origin was accepted")
	}
	r.Header.Set("Upgrade", "websocket")
	if oc.polling(r) != nil {
		t.Error("AllowRequest must leave websocket handshakes to CheckOrigin (403, not 400)")
	}
}

func TestHeaderFilter(t *testing.T) {
	hs := &socketio.Handshake{Headers: map[string]string{
		"cookie": "c", "authorization": "a", "proxy-authorization": "p", "user-agent": "u", "x-user": "x",
	}}
	keys := func(h *socketio.Handshake) map[string]bool {
		out := map[string]bool{}
		for k := range h.Headers {
			out[k] = true
		}
		return out
	}
	def := keys(hooks.NewHeaderFilter(nil).Handshake(hs))
	if def["cookie"] || def["authorization"] || def["proxy-authorization"] || !def["user-agent"] || !def["x-user"] {
		t.Errorf("default filter: %v", def)
	}
	if len(hs.Headers) != 5 {
		t.Error("the socket's handshake was modified")
	}
	list := keys(hooks.NewHeaderFilter([]string{"Cookie", "X-User"}).Handshake(hs))
	if len(list) != 2 || !list["cookie"] || !list["x-user"] {
		t.Errorf("allowlist: %v", list)
	}
	if all := hooks.NewHeaderFilter([]string{"*"}).Handshake(hs); all != hs {
		t.Error("* must forward the handshake as is")
	}
}
