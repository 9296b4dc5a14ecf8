package caddymodule

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/caddy-socketio/caddy-socketio/caddymodule/caddytest"
	"github.com/caddy-socketio/caddy-socketio/socketio"
	"github.com/caddy-socketio/caddy-socketio/socketio/adapter"
	"github.com/caddy-socketio/caddy-socketio/socketio/adapter/redis/redistest"
)

// clusterSite is one "node": a site with its own hub, on the shared Redis.
func clusterSite(port int, hubName, redisURL, prefix string) string {
	return site(port, `socketio {
		hub `+hubName+`
		adapter redis `+redisURL+` {
			prefix `+prefix+`
			requests_timeout 2s
		}
		namespace / {
			join joinRoom room exclusive
			relay chatInput chatMessage
			relay shout {
				to namespace
				include_sender off
			}
		}
	}`)
}

// waitEvent reads until the event arrives in "/", or d passes; other
// packets are dropped.
func waitEvent(c *wsClient, event string, d time.Duration) ([]string, bool) {
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case p := <-c.pkts:
			if name, args := p.event(); p.Type == '2' && p.Nsp == "/" && name == event {
				out := make([]string, len(args))
				for i, a := range args {
					out[i] = string(a)
				}
				return out, true
			}
		case <-c.closed:
			return nil, false
		case <-timer.C:
			return nil, false
		}
	}
}

// quiet checks that no event arrives within d.
func quiet(t *testing.T, c *wsClient, d time.Duration) {
	t.Helper()
	if len(c.pending) > 0 {
		t.Fatalf("%s: unexpected %v", c.name, c.pending)
	}
	select {
	case p := <-c.pkts:
		t.Fatalf("%s: unexpected %s", c.name, p)
	case <-time.After(d):
	}
}

func hubNamed(t *testing.T, name string) *hub {
	t.Helper()
	var found *hub
	hubs.Range(func(_, v any) bool {
		if hb, ok := v.(*hub); ok && hb.name == name {
			found = hb
			return false
		}
		return true
	})
	if found == nil {
		t.Fatalf("no hub %s", name)
	}
	return found
}

func adapterCounters(t *testing.T, hubName string) map[string]float64 {
	t.Helper()
	reg := prometheus.NewRegistry()
	if err := registerAdapterMetrics(reg); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string]float64)
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "hub" && l.GetValue() == hubName {
					out[strings.TrimPrefix(mf.GetName(), "caddy_socketio_redis_")] = m.GetCounter().GetValue()
				}
			}
		}
	}
	return out
}

// TestCaddyRedisCluster runs two nodes (two sites, each with its own hub
// and Redis connection) on one redis-server: room relays, namespace relays
// and cluster-wide socket queries cross nodes, each delivery exactly once,
// and delivery resumes after Redis restarts.
func TestCaddyRedisCluster(t *testing.T) {
	rds := redistest.Start(t)
	pa, pb := caddytest.FreePort(t), caddytest.FreePort(t)
	t.Cleanup(func() { stopCaddy(t) })
	prefix := fmt.Sprintf("t%d", time.Now().UnixNano())
	if err := caddytest.LoadCaddyfile(t, clusterSite(pa, "node-a", rds.URL(), prefix)+clusterSite(pb, "node-b", rds.URL(), prefix)); err != nil {
		t.Fatal(err)
	}
	urlA, urlB := fmt.Sprintf("http://127.0.0.1:%d", pa), fmt.Sprintf("http://127.0.0.1:%d", pb)

	a1 := joinPlain(t, urlA, "a1")
	b1 := joinPlain(t, urlB, "b1")
	b2 := joinPlain(t, urlB, "b2")
	for c, room := range map[*wsClient]string{a1: "r1", b1: "r1", b2: "r2"} {
		jsonEq(t, c.emitAck("/", "joinRoom", map[string]any{"room": room}), `["`+room+`"]`)
	}

	// A room relay from node A reaches the room's socket on node B, and
	// the sender; not the socket in another room.
	a1.emit("/", "chatInput", chatMsg("a1", "hello from A"))
	expectChat(t, b1, "/", "chatMessage", chatMsg("a1", "hello from A"))
	expectChat(t, a1, "/", "chatMessage", chatMsg("a1", "hello from A"))
	// And back from B.
	b1.emit("/", "chatInput", chatMsg("b1", "hello from B"))
	expectChat(t, a1, "/", "chatMessage", chatMsg("b1", "hello from B"))
	expectChat(t, b1, "/", "chatMessage", chatMsg("b1", "hello from B"))
	// A namespace relay from B (sender excluded) reaches both nodes, as
	// the next event: b2 saw no chatMessage of r1 before it.
	b2.emit("/", "shout", "marker")
	a1.expectEvent("/", "shout")
	b1.expectEvent("/", "shout")
	// Exactly once: nothing more arrives.
	quiet(t, a1, 300*time.Millisecond)
	quiet(t, b1, 0)
	quiet(t, b2, 0)

	// Cluster-wide queries (what the HTTP API uses) see both nodes.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	nspA := hubNamed(t, "node-a").srv.Of("/")
	infos, err := nspA.In("r1").FetchSockets(ctx)
	if err != nil || len(infos) != 2 {
		t.Fatalf("fetch sockets in r1 from node A: %v %v", infos, err)
	}
	all, err := nspA.FetchSockets(ctx)
	if err != nil || len(all) != 3 {
		t.Fatalf("fetch all sockets from node A: %d %v", len(all), err)
	}
	// SocketsJoin from node A moves b2 (on node B) into r1.
	if err := nspA.In(socketio.Room(b2SID(t, all, infos))).SocketsJoin("r1"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		infos, err = nspA.In("r1").FetchSockets(ctx)
		if err == nil && len(infos) == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("b2 did not join r1: %v %v", infos, err)
		}
		time.Sleep(50 * time.Millisecond)
	}

	before := adapterCounters(t, "node-a")
	if before["published_total"] == 0 || before["received_total"] == 0 {
		t.Fatalf("adapter counters of node-a: %v", before)
	}

	// Redis restarts during traffic: delivery resumes once the adapters
	// reconnected.
	rds.Stop()
	a1.emit("/", "chatInput", chatMsg("a1", "while down")) // local delivery continues
	if _, ok := waitEvent(a1, "chatMessage", 5*time.Second); !ok {
		t.Fatal("local delivery stopped while Redis was down")
	}
	time.Sleep(300 * time.Millisecond)
	rds.Start()
	resumed := false
	for i := 0; i < 60 && !resumed; i++ { // up to ~30s
		a1.emit("/", "chatInput", chatMsg("a1", "after restart "+strconv.Itoa(i)))
		_, resumed = waitEvent(b1, "chatMessage", 500*time.Millisecond)
	}
	if !resumed {
		t.Fatal("cross-node delivery did not resume after Redis restarted")
	}
	after := adapterCounters(t, "node-b")
	if after["reconnects_total"] < 1 {
		t.Fatalf("node-b counters after the restart: %v", after)
	}
	t.Logf("node-a counters before restart %v; node-b after %v", before, after)
}

// b2SID finds the socket of the full list that is not in r1.
func b2SID(t *testing.T, all, inR1 []adapter.SocketInfo) string {
	t.Helper()
	in := make(map[string]bool)
	for _, s := range inR1 {
		in[string(s.ID)] = true
	}
	for _, s := range all {
		if !in[string(s.ID)] {
			return string(s.ID)
		}
	}
	t.Fatal("no socket outside r1")
	return ""
}

// TestCaddyRedisUnreachable: a config whose Redis does not answer fails to
// load with a clear error, and leaves no hub behind.
func TestCaddyRedisUnreachable(t *testing.T) {
	port, dead := caddytest.FreePort(t), caddytest.FreePort(t)
	t.Cleanup(func() { stopCaddy(t) })
	src := site(port, fmt.Sprintf(`socketio {
		adapter redis redis://:secret@127.0.0.1:%d/0 {
			requests_timeout 1s
		}
	}`, dead))
	start := time.Now()
	err := caddytest.LoadCaddyfile(t, src)
	want := fmt.Sprintf("redis adapter: cannot reach redis://:xxxxx@127.0.0.1:%d/0: ", dead)
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("err = %v, want %q", err, want)
	}
	if strings.Contains(err.Error(), "secret") {
		t.Fatalf("the password leaked into the error: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("took %v", d)
	}
	if refs := poolRefs(); len(refs) != 0 {
		t.Fatalf("a failed load left hubs behind: %v", refs)
	}
}

// A webhook reply on one node that emits to a room reaches the room's
// sockets on the other node.
func TestCaddyRedisClusterHookReply(t *testing.T) {
	rds := redistest.Start(t)
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct{ Type, Event string }
		_ = json.NewDecoder(r.Body).Decode(&req)
		if req.Type == "event" && req.Event == "announce" {
			_, _ = io.WriteString(w, `{"emit":[{"event":"news","args":["from a hook on A"],"to":["r1"]}]}`)
		}
	}))
	t.Cleanup(app.Close)
	pa, pb := caddytest.FreePort(t), caddytest.FreePort(t)
	t.Cleanup(func() { stopCaddy(t) })
	prefix := fmt.Sprintf("t%d", time.Now().UnixNano())
	nodeA := site(pa, `socketio {
		hub node-a
		adapter redis `+rds.URL()+` {
			prefix `+prefix+`
		}
		hook `+app.URL+` {
			events announce
		}
		namespace / {
			join joinRoom room
		}
	}`)
	if err := caddytest.LoadCaddyfile(t, nodeA+clusterSite(pb, "node-b", rds.URL(), prefix)); err != nil {
		t.Fatal(err)
	}
	a1 := joinPlain(t, fmt.Sprintf("http://127.0.0.1:%d", pa), "a1")
	b1 := joinPlain(t, fmt.Sprintf("http://127.0.0.1:%d", pb), "b1")
	b2 := joinPlain(t, fmt.Sprintf("http://127.0.0.1:%d", pb), "b2")
	jsonEq(t, b1.emitAck("/", "joinRoom", map[string]any{"room": "r1"}), `["r1"]`)
	jsonEq(t, b2.emitAck("/", "joinRoom", map[string]any{"room": "r2"}), `["r2"]`)
	a1.emit("/", "announce")
	args := b1.expectEvent("/", "news")
	jsonEq(t, args[0], `"from a hook on A"`)
	quiet(t, b1, 300*time.Millisecond)
	quiet(t, b2, 0)
	quiet(t, a1, 0)
}
