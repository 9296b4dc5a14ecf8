package fault_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddy-socketio/caddy-socketio/caddymodule/caddytest"
	"github.com/caddy-socketio/caddy-socketio/socketio/siotest"
)

// TestHookBackpressureMemory: a slow app (10 s a request) and clients that
// each send a burst of 1 MB events (with acks) through its hook. With the
// default overflow (backpressure) Caddy stops reading from them once their
// queues hold hook_queue_bytes: the heap grows by no more than the
// configured byte bound plus what each paused connection may hold (the
// event that paused it, the message waiting at its reader, a partial
// message in its read buffer: three times max_payload), the queued-bytes
// metric stays within its bound, and nothing is dropped. Before the byte
// bounds and backpressure, events were held decoded, up to 64 per socket.
func TestHookBackpressureMemory(t *testing.T) {
	var (
		nClients  = size(6, 8, 16)
		perClient = 20
		eventSize = 1 << 20
		queueB    = 2 << 20 // hook_queue_bytes
		maxQB     = 8 << 20 // hook_max_queued_bytes
		hub       = "fault-backpressure"
	)
	release := make(chan struct{})
	var once sync.Once
	free := func() { once.Do(func() { close(release) }) }
	defer free()
	slowApp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select { // 10 s, or until the test ends or Caddy gives up
		case <-time.After(10 * time.Second):
		case <-release:
		case <-r.Context().Done():
			return
		}
		_, _ = w.Write([]byte(`{"ack":["late"]}`))
	}))
	defer slowApp.Close()
	defer slowApp.CloseClientConnections()

	port, mport := caddytest.FreePort(t), caddytest.FreePort(t)
	cfg := fmt.Sprintf(`http://:%d {
	bind 127.0.0.1
	socketio {
		hub %s
		ping_interval 1m
		ping_timeout 1m
		max_payload 2MB
		hook %s {
			events work
			timeout 15s
		}
		hook_queue_bytes %d
		hook_max_queued_bytes %d
		namespace /w
	}
	respond 404
}
%s`, port, hub, slowApp.URL+"/hook", queueB, maxQB, metricsSite(mport))
	if err := caddytest.LoadCaddyfile(t, cfg); err != nil {
		t.Fatal(err)
	}
	defer stopCaddy(t)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	murl := fmt.Sprintf("http://127.0.0.1:%d/metrics", mport)

	clients, err := dialMany(nClients, nClients, addr, "/socket.io/")
	if err != nil {
		t.Fatal(err)
	}
	defer closeAll(clients)
	for _, c := range clients {
		if err := c.connectNsp("/w"); err != nil {
			t.Fatal(err)
		}
	}
	baseHeap := siotest.HeapInUse()

	payload := `["work","` + strings.Repeat("x", eventSize) + `"]`
	var wg sync.WaitGroup
	for _, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perClient {
				// Blocks once Caddy stops reading (the write deadline
				// of send then ends the burst).
				if c.send(fmt.Sprintf("42/w,%d%s", i, payload)) != nil {
					return
				}
			}
		}()
	}
	// Every client paused by its queue's byte bound or the overall one.
	eventually(t, "every client paused", 20*time.Second, func() bool {
		return scrape(t, murl).get("caddy_socketio_hook_paused_sockets", "hub", hub) == float64(nClients)
	})
	time.Sleep(2 * time.Second) // let whatever else would pile up do so
	m := scrape(t, murl)
	queued := m.get("caddy_socketio_hook_queued_bytes", "hub", hub)
	heap := siotest.HeapInUse()
	perConn := 3 * 2_000_000 // event that paused it, message at the gate, partial frame
	bound := uint64(maxQB + nClients*perConn + 16<<20)
	t.Logf("%d clients x %d events of 1 MB: queued %.1f MiB (bound %d MiB), heap +%.1f MiB (bound %.1f MiB), paused %v, dropped %v",
		nClients, perClient, queued/(1<<20), maxQB>>20, float64(int64(heap)-int64(baseHeap))/(1<<20), float64(bound)/(1<<20),
		m.get("caddy_socketio_hook_paused_sockets", "hub", hub), m.get("caddy_socketio_hook_dropped_events_total", "hub", hub))
	if q := int(queued); q > maxQB+nClients*1_500_000 {
		t.Errorf("queued bytes %d over the bound %d plus one event per client", q, maxQB)
	}
	if heap > baseHeap+bound {
		t.Errorf("heap grew from %d to %d bytes, bound %d", baseHeap, heap, bound)
	}
	if d := m.get("caddy_socketio_hook_dropped_events_total", "hub", hub); d != 0 {
		t.Errorf("%v events dropped", d)
	}
	free()
	closeAll(clients)
	wg.Wait()
}
