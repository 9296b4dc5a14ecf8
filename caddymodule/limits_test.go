package caddymodule

import (
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// limitHits reads caddy_socketio_limit_hits_total for one hub and limit.
func limitHits(t *testing.T, hub, limit string) float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	if err := registerMetrics(reg); err != nil {
		t.Fatal(err)
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather (pedantic): %v", err)
	}
	for _, f := range families {
		if f.GetName() != "caddy_socketio_limit_hits_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["hub"] == hub && labels["limit"] == limit {
				return m.GetCounter().GetValue()
			}
		}
	}
	t.Fatalf("no limit_hits_total{hub=%q,limit=%q}", hub, limit)
	return 0
}

func TestLimitsFromCaddyfile(t *testing.T) {
	src := strings.Replace(chatCaddyfile, "ping_timeout 1s", `ping_timeout 1s
	limits {
		max_connections 2
		max_namespaces 1
		max_rooms_per_socket 3
		event_rate 5 5
	}`, 1)
	hb, url := startHub(t, "t-limits", parseHandler(t, src))
	a := joinChat(t, url, "a")
	b := joinChat(t, url, "b")

	// max_connections: a third client is refused before the upgrade.
	res, err := http.Get(url + "/socket.io/?EIO=4&transport=polling")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("third connection: %d", res.StatusCode)
	}
	// max_namespaces: a second namespace on one connection.
	if msg := a.connectError("/system"); msg != "Too many namespaces" {
		t.Fatalf("connect_error %q", msg)
	}
	// max_rooms_per_socket through a join rule: own room + 2.
	a.emitAck("/", "subscribe", "r1")
	a.emitAck("/", "subscribe", "r2")
	if got := string(a.emitAck("/", "subscribe", "r3")); got != "[null]" {
		t.Fatalf("join over the limit answered %s", got)
	}
	// event_rate: b floods and is cut off; a is unaffected.
	for range 20 {
		b.emit("/", "shout", "x")
	}
	b.expectDisconnect("/")
	a.assertOpen()

	for limit, want := range map[string]float64{"connections": 1, "namespaces": 1, "rooms": 1, "event_rate": 1} {
		if got := limitHits(t, "t-limits", limit); got != want {
			t.Errorf("limit_hits_total{limit=%q} = %v, want %v", limit, got, want)
		}
	}

	// A reload lifts the connection limit on the live hub.
	live := liveOf(t, parseHandler(t, chatCaddyfile), nil)
	hb.apply(live)
	c := joinChat(t, url, "c")
	c.assertOpen()
}
