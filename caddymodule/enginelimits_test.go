package caddymodule

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/caddy-socketio/caddy-socketio/socketio/engine"
)

// TestEngineLimitsFromCaddyfile: the engine bounds of the limits block reach
// the engine, and what they refuse is counted in the metrics.
func TestEngineLimitsFromCaddyfile(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	if err := registerMetrics(reg); err != nil {
		t.Fatal(err)
	}
	src := strings.Replace(chatCaddyfile, "ping_timeout 1s", `ping_timeout 1s
	limits {
		post_read_timeout 3s
		max_payload_packets 3
		max_handshake_bytes 2KiB
	}`, 1)
	h := parseHandler(t, src)
	ec := h.options().Engine
	if ec.PostReadTimeout != 3*time.Second || ec.MaxPayloadPackets != 3 || ec.MaxHandshakeBytes != 2048 {
		t.Fatalf("engine config %v %v %v", ec.PostReadTimeout, ec.MaxPayloadPackets, ec.MaxHandshakeBytes)
	}
	if h.fingerprint(false) == parseHandler(t, chatCaddyfile).fingerprint(false) {
		t.Fatal("engine limits are not part of the hub's fixed settings")
	}
	_, url := startHub(t, "t-engine-limits", h)

	// A handshake over max_handshake_bytes: 431.
	req, _ := http.NewRequest("GET", url+"/socket.io/?EIO=4&transport=polling", nil)
	req.Header.Set("X-Big", strings.Repeat("x", 2048))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("big handshake: %d", res.StatusCode)
	}
	// A POST over max_payload_packets: 400, counted.
	sid := pollingHandshake(t, url)
	res, err = http.Post(url+"/socket.io/?EIO=4&transport=polling&sid="+sid, "text/plain;charset=UTF-8",
		strings.NewReader("40\x1e3\x1e3\x1e3"))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusBadRequest {
		t.Fatalf("POST of 4 packets: %d", res.StatusCode)
	}

	got := gatherHub(t, reg, "t-engine-limits")
	if got["caddy_socketio_protocol_errors_total"] != 1 || got["caddy_socketio_rejected_handshakes_total"] != 1 {
		t.Fatalf("metrics %v", got)
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, f := range families {
		if f.GetName() == "caddy_socketio_panics_total" {
			found = true
			if v := f.GetMetric()[0].GetCounter().GetValue(); v != float64(engine.Panics()) {
				t.Fatalf("panics_total %v, engine %d", v, engine.Panics())
			}
		}
	}
	if !found {
		t.Fatal("caddy_socketio_panics_total missing")
	}
}

// pollingHandshake opens a polling session and returns its sid.
func pollingHandshake(t *testing.T, url string) string {
	t.Helper()
	res, err := http.Get(url + "/socket.io/?EIO=4&transport=polling")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var b strings.Builder
	buf := make([]byte, 512)
	n, _ := res.Body.Read(buf)
	b.Write(buf[:n])
	s := b.String()
	i := strings.Index(s, `"sid":"`)
	if res.StatusCode != 200 || i < 0 || len(s) < i+7+20 {
		t.Fatalf("handshake: %d %q", res.StatusCode, s)
	}
	return s[i+7 : i+7+20]
}

// gatherHub returns the value of every metric labelled with hub.
func gatherHub(t *testing.T, reg *prometheus.Registry, hub string) map[string]float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather (pedantic): %v", err)
	}
	got := make(map[string]float64)
	for _, f := range families {
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "hub" && l.GetValue() == hub && len(m.GetLabel()) == 1 {
					got[f.GetName()] = m.GetGauge().GetValue() + m.GetCounter().GetValue()
				}
			}
		}
	}
	return got
}
