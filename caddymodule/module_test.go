package caddymodule

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/prometheus/client_golang/prometheus"
)

// TestServeHTTPRouting: requests under the path reach the hub, the path
// without its slash too, anything else goes to the next handler.
func TestServeHTTPRouting(t *testing.T) {
	h := parseHandler(t, "socketio {\n path /rt\n}")
	hb, _ := startHub(t, "t-routing", h)
	h.hub = hb
	next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		w.WriteHeader(http.StatusTeapot)
		return nil
	})
	cases := []struct {
		path string
		want int
	}{
		{"/rt/socket.io.js", http.StatusOK},
		{"/rt/?EIO=4&transport=polling", http.StatusOK},
		{"/rt?EIO=4&transport=polling", http.StatusOK},
		{"/rtx/socket.io.js", http.StatusTeapot},
		{"/socket.io/socket.io.js", http.StatusTeapot},
		{"/", http.StatusTeapot},
	}
	for _, tc := range cases {
		t.Run(tc.path, func(t *testing.T) {
			rec := httptest.NewRecorder()
			if err := h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, tc.path, nil), next); err != nil {
				t.Fatal(err)
			}
			if rec.Code != tc.want {
				t.Fatalf("status %d, want %d", rec.Code, tc.want)
			}
		})
	}
}

func TestServeClientOff(t *testing.T) {
	_, url := startHub(t, "t-noclient", parseHandler(t, "socketio {\n serve_client off\n}"))
	res, err := http.Get(url + "/socket.io/socket.io.js")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode == http.StatusOK {
		t.Fatalf("bundle served with serve_client off: %d %.60q", res.StatusCode, body)
	}
	_, url = startHub(t, "t-client", parseHandler(t, "socketio"))
	res, err = http.Get(url + "/socket.io/socket.io.js")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("bundle not served by default: %d", res.StatusCode)
	}
}

func TestEngineMetrics(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	for range 2 { // a second handler of the same config registers again
		if err := registerMetrics(reg); err != nil {
			t.Fatal(err)
		}
	}
	_, url := startHub(t, "t-engine", parseHandler(t, chatCaddyfile))
	a := joinChat(t, url, "a")
	a.emitAck("/", "joinRoom", "r")
	res, err := http.Get(url + "/socket.io/?EIO=4&transport=carrier-pigeon")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()

	families, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather (pedantic): %v", err)
	}
	got := make(map[string]float64)
	for _, f := range families {
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "hub" && l.GetValue() == "t-engine" {
					got[f.GetName()] = m.GetGauge().GetValue() + m.GetCounter().GetValue()
				}
			}
		}
	}
	if got["caddy_socketio_sessions"] != 1 {
		t.Errorf("sessions = %v, want 1 (%v)", got["caddy_socketio_sessions"], got)
	}
	for _, name := range []string{"caddy_socketio_packets_received_total", "caddy_socketio_packets_sent_total",
		"caddy_socketio_received_bytes_total", "caddy_socketio_sent_bytes_total"} {
		if got[name] <= 0 {
			t.Errorf("%s = %v, want > 0", name, got[name])
		}
	}
	if got["caddy_socketio_rejected_handshakes_total"] != 1 {
		t.Errorf("rejected handshakes = %v, want 1", got["caddy_socketio_rejected_handshakes_total"])
	}
	if _, ok := got["caddy_socketio_slow_client_disconnects_total"]; !ok {
		t.Errorf("slow_client_disconnects_total missing")
	}
}
