package hooks_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/caddy-socketio/caddy-socketio/caddymodule/hooks"
)

// Handshake values and event names chosen to break out of a JSON string or
// forge a log line reach the app as plain data: the request body keeps its
// structure and every value arrives byte for byte.
func TestHostileValuesStayData(t *testing.T) {
	up := newUpstream(t, nil)
	_, hs, _ := setup(t, hooks.Config{Hooks: []hooks.Hook{{URL: hookURL(up)}}})

	evil := map[string]string{
		"quote":   `","admin":true,"x":"`,
		"newline": "a\nlevel=ERROR msg=\"forged\"\r\n{\"type\":\"connect\"}",
		"unicode": "\u2028\u2029</script><script>alert(1)</script>\x00\x7f",
		"brace":   `}]}` + "\\",
	}
	var kv []string
	for k, v := range evil {
		kv = append(kv, k, v)
	}
	header := http.Header{
		"X-Evil":          {`","admin":true,"x":"`},
		"X-Socketio-Type": {"disconnect"}, // cannot pose as Caddy's own headers
	}
	c := dial(t, hs, queryOf(kv...), header)
	c.Connect("/chat", `{"token":"\",\"admin\":true"}`)
	cr := up.nextOf(t, "connect", "")

	var raw map[string]json.RawMessage
	if err := json.Unmarshal(cr.Body, &raw); err != nil {
		t.Fatalf("body %s: %v", cr.Body, err)
	}
	if _, forged := raw["admin"]; forged {
		t.Fatalf("a value broke out of its string: %s", cr.Body)
	}
	h := cr.Req.Socket.Handshake
	for k, v := range evil {
		if h.Query[k] != v {
			t.Errorf("query %s = %q, want %q", k, h.Query[k], v)
		}
	}
	if h.Headers["x-evil"] != header.Get("X-Evil") || h.Auth["token"] != `","admin":true` {
		t.Errorf("handshake %+v", h)
	}
	if cr.Header.Get("X-Socketio-Type") != "connect" {
		t.Errorf("request type header %q: a client header leaked into the hook request", cr.Header.Get("X-Socketio-Type"))
	}

	// An event name and args that look like JSON structure.
	name := `x","type":"connect","y":"`
	c.Emit("/chat", -1, name, `"]}`, map[string]any{`"`: "\n"})
	er := up.nextOf(t, "event", name)
	if er.Req.Type != "event" || len(er.Args) != 2 || er.Args[0] != `"]}` {
		t.Fatalf("event request %s", er.Body)
	}
}
