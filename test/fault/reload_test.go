package fault_test

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-socketio/caddy-socketio/caddymodule/caddytest"
)

func reloadConfig(port, mport, version int) string {
	// What changes: the greeting (a rule) and the ping interval, both
	// reloadable (README, "Reloads and stops"); the hub is kept.
	interval := []string{"1s", "1500ms"}[version%2]
	return fmt.Sprintf(`http://:%d {
	bind 127.0.0.1
	socketio {
		hub fault-reload
		ping_interval %s
		ping_timeout 5s
		namespace / {
			greet hello "v%d"
			relay tick {
				to namespace
				include_sender off
			}
		}
	}
	respond 404
}
%s`, port, interval, version, metricsSite(mport))
}

// TestReloadUnderTraffic reloads Caddy once a second for 30 s, each config
// changing the greeting rule and the ping interval, while one client emits
// 50 ticks a second that a relay rule sends to the whole namespace. Pass:
// every reload succeeds; no client is disconnected (the engine session
// gauge stays at the client count after every reload); every client gets
// every tick exactly once and in order; the relay counter grows by exactly
// the ticks sent; a client connecting after the last reload gets its
// greeting.
func TestReloadUnderTraffic(t *testing.T) {
	var (
		nClients = size(20, 200, 1000)
		reloads  = size(5, 30, 300)
		every    = 20 * time.Millisecond
		hub      = "fault-reload"
	)
	port, mport := caddytest.FreePort(t), caddytest.FreePort(t)
	if err := caddytest.LoadCaddyfile(t, reloadConfig(port, mport, 0)); err != nil {
		t.Fatal(err)
	}
	defer stopCaddy(t)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	murl := fmt.Sprintf("http://127.0.0.1:%d/metrics", mport)

	clients, err := dialMany(nClients+1, 50, addr, "/socket.io/")
	if err != nil {
		t.Fatal(err)
	}
	defer closeAll(clients)
	sender, clients := clients[0], clients[1:]
	eventually(t, "all connected", 10*time.Second, func() bool {
		return scrape(t, murl).get("caddy_socketio_sessions", "hub", hub) == float64(nClients+1)
	})
	relays0 := scrape(t, murl).get("caddy_socketio_broadcasts_total", "hub", hub, "namespace", "/")

	// Receivers: ticks 0, 1, 2... then -1 (the end).
	type recv struct {
		n   int
		err error
	}
	recvs := make([]*recv, nClients)
	var rwg sync.WaitGroup
	for i, c := range clients {
		r := &recv{}
		recvs[i] = r
		rwg.Add(1)
		go func() {
			defer rwg.Done()
			r.err = func() error {
				for {
					f, err := c.Next(30 * time.Second)
					if err != nil {
						return fmt.Errorf("after %d ticks: %w", r.n, err)
					}
					switch {
					case f == "2":
						if err := c.send("3"); err != nil {
							return err
						}
					case strings.HasPrefix(f, `42["hello",`):
					case strings.HasPrefix(f, `42["tick",`):
						// ["tick", seq] and, with connection state recovery
						// (on by default), the offset as a last argument.
						var args []any
						if json.Unmarshal([]byte(f[2:]), &args) != nil || len(args) < 2 {
							return fmt.Errorf("bad tick %q", f)
						}
						fseq, ok := args[1].(float64)
						if !ok {
							return fmt.Errorf("bad tick %q", f)
						}
						seq := int(fseq)
						if seq == -1 {
							return nil
						}
						if seq != r.n {
							return fmt.Errorf("got tick %d, want %d", seq, r.n)
						}
						r.n++
					default:
						return fmt.Errorf("unexpected frame %.100q after %d ticks", f, r.n)
					}
				}
			}()
		}()
	}
	// The sender's own reader only answers pings (and notices a close).
	senderClosed := make(chan error, 1)
	go func() {
		for {
			f, err := sender.Next(0)
			if err != nil {
				senderClosed <- err
				return
			}
			if f == "2" {
				_ = sender.send("3")
			}
		}
	}()
	var sent atomic.Int64
	stopSend := make(chan struct{})
	sendDone := make(chan error, 1)
	go func() {
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-stopSend:
				sendDone <- sender.send(`42["tick",-1]`)
				return
			case <-tick.C:
				if err := sender.send(`42["tick",` + strconv.FormatInt(sent.Load(), 10) + `]`); err != nil {
					sendDone <- err
					return
				}
				sent.Add(1)
			}
		}
	}()

	var worstLoad time.Duration
	start := time.Now()
	for i := 1; i <= reloads; i++ {
		time.Sleep(time.Until(start.Add(time.Duration(i) * time.Second)))
		t0 := time.Now()
		if err := caddytest.LoadCaddyfile(t, reloadConfig(port, mport, i)); err != nil {
			t.Fatalf("reload %d: %v", i, err)
		}
		worstLoad = max(worstLoad, time.Since(t0))
		if n := scrape(t, murl).get("caddy_socketio_sessions", "hub", hub); n != float64(nClients+1) {
			t.Fatalf("after reload %d: %v engine sessions, want %d", i, n, nClients+1)
		}
	}
	close(stopSend)
	if err := <-sendDone; err != nil {
		t.Fatalf("sender: %v", err)
	}
	waitDone(t, &rwg, 30*time.Second, "receivers")
	n := int(sent.Load())
	for i, r := range recvs {
		if r.err != nil {
			t.Fatalf("client %d: %v", i, r.err)
		}
		if r.n != n {
			t.Fatalf("client %d got %d ticks, want %d", i, r.n, n)
		}
	}
	select {
	case err := <-senderClosed:
		t.Fatalf("the sender's connection ended: %v", err)
	default:
	}
	m := scrape(t, murl)
	if s := m.get("caddy_socketio_sessions", "hub", hub); s != float64(nClients+1) {
		t.Fatalf("%v engine sessions at the end, want %d", s, nClients+1)
	}
	relays := m.get("caddy_socketio_broadcasts_total", "hub", hub, "namespace", "/") - relays0
	if relays != float64(n+1) {
		t.Errorf("relay counter grew by %v, want %d", relays, n+1)
	}
	late, err := dialMany(1, 1, addr, "/socket.io/")
	if err != nil {
		t.Fatal(err)
	}
	defer closeAll(late)
	if f, err := late[0].Next(5 * time.Second); err != nil || !strings.HasPrefix(f, fmt.Sprintf(`42["hello","v%d"`, reloads)) { // then "]", or the recovery offset
		t.Fatalf("greeting after the last reload: %q %v", f, err)
	}
	t.Logf("%d reloads in %v (slowest load %v), %d clients each got all %d ticks in order, none disconnected",
		reloads, time.Since(start), worstLoad, nClients, n)
}
