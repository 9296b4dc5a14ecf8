package hooks_test

import (
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddy-socketio/caddy-socketio/caddymodule/hooks"
)

// gatedUpstream answers events of the sockets whose first argument is
// "slow" only once released; every other request at once. Its acks echo
// the event's second argument.
func gatedUpstream(t *testing.T) (*upstream, func()) {
	release := make(chan struct{})
	var once sync.Once
	free := func() { once.Do(func() { close(release) }) }
	up := newUpstream(t, func(r hookReq) (int, string) {
		if r.Req.Type != "event" {
			return 200, ""
		}
		if len(r.Args) > 0 && r.Args[0] == "slow" {
			select {
			case <-release:
			case <-r.Ctx.Done():
			case <-time.After(waitFor):
			}
		}
		if len(r.Args) > 1 {
			return 200, `{"ack":[` + mustJSON(t, r.Args[1]) + `]}`
		}
		return 200, `{"ack":["ok"]}`
	})
	t.Cleanup(free)
	return up, free
}

func waitStats(t *testing.T, d *hooks.Dispatcher, what string, cond func(hooks.Stats) bool) hooks.Stats {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for {
		st := d.Stats()
		if cond(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("timeout waiting for %s: %+v", what, st)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// With the default policy a full queue pauses the client instead of
// dropping: every event reaches the app, in order, and is acknowledged;
// another client is not slowed down meanwhile.
func TestBackpressureDefault(t *testing.T) {
	up, free := gatedUpstream(t)
	_, hs, d := setup(t, hooks.Config{QueueSize: 2, Hooks: []hooks.Hook{{URL: hookURL(up), Events: []string{"e"}}}})
	c := dial(t, hs, "", nil)
	c.Connect("/", "")
	const n = 20
	for i := 1; i <= n; i++ {
		c.Emit("/", i, "e", "slow", i)
	}
	// 1 in flight, 2 queued: paused; the rest wait unread.
	st := waitStats(t, d, "a paused socket", func(st hooks.Stats) bool { return st.Paused == 1 })
	time.Sleep(100 * time.Millisecond)
	if st = d.Stats(); st.Queued != 3 || st.Dropped != 0 || st.Paused != 1 || st.Pauses < 1 {
		t.Fatalf("while paused: %+v", st)
	}
	// Another client goes through at once.
	o := dial(t, hs, "", nil)
	o.Connect("/", "")
	start := time.Now()
	o.Emit("/", 1, "e", "fast", "other")
	o.Expect(`431["other"]`)
	if el := time.Since(start); el > 2*time.Second {
		t.Fatalf("other client answered in %v", el)
	}
	free()
	for i := 1; i <= n; i++ {
		c.Expect("43" + strconv.Itoa(i) + "[" + strconv.Itoa(i) + "]")
	}
	st = waitStats(t, d, "resumed", func(st hooks.Stats) bool { return st.Paused == 0 && st.Queued == 0 })
	if st.Dropped != 0 || st.PausedSeconds <= 0 || st.QueuedBytes != 0 {
		t.Fatalf("after: %+v", st)
	}
	var got []int
	up.mu.Lock()
	defer up.mu.Unlock()
	for _, r := range up.reqs {
		if r.Req.Type == "event" && r.Args[0] == "slow" {
			f, _ := r.Args[1].(float64)
			got = append(got, int(f))
		}
	}
	if len(got) != n {
		t.Fatalf("app got %d events", len(got))
	}
	for i, v := range got {
		if v != i+1 {
			t.Fatalf("order %v", got)
		}
	}
}

// The per-socket byte bound pauses before the count does.
func TestBackpressureBytes(t *testing.T) {
	up, free := gatedUpstream(t)
	_, hs, d := setup(t, hooks.Config{QueueBytes: 3000, Hooks: []hooks.Hook{{URL: hookURL(up), Events: []string{"e"}}}})
	c := dial(t, hs, "", nil)
	c.Connect("/", "")
	big := strings.Repeat("x", 1000)
	for i := 1; i <= 10; i++ {
		c.Emit("/", i, "e", "slow", big)
	}
	st := waitStats(t, d, "a paused socket", func(st hooks.Stats) bool { return st.Paused == 1 })
	time.Sleep(100 * time.Millisecond)
	st = d.Stats()
	// 1000 bytes of argument + overhead each: paused at the third.
	if st.Queued != 3 || st.QueuedBytes < 3000 || st.QueuedBytes > 4000 {
		t.Fatalf("while paused: %+v", st)
	}
	free()
	for i := 1; i <= 10; i++ {
		c.Expect("43" + strconv.Itoa(i) + `["` + big + `"]`)
	}
}

// The byte bound of all queues together pauses every socket that adds to
// it, and they resume as it drains.
func TestBackpressureGlobalBytes(t *testing.T) {
	up, free := gatedUpstream(t)
	_, hs, d := setup(t, hooks.Config{MaxQueuedBytes: 3000, Hooks: []hooks.Hook{{URL: hookURL(up), Events: []string{"e"}}}})
	big := strings.Repeat("y", 1000)
	var cs []*wsClient
	for range 4 {
		c := dial(t, hs, "", nil)
		c.Connect("/", "")
		cs = append(cs, c)
	}
	for _, c := range cs {
		for i := 1; i <= 3; i++ {
			c.Emit("/", i, "e", "slow", big)
		}
	}
	st := waitStats(t, d, "paused sockets", func(st hooks.Stats) bool { return st.Paused >= 3 })
	if st.QueuedBytes > 3000+4*1400 || st.Dropped != 0 {
		t.Fatalf("while paused: %+v", st)
	}
	free()
	for _, c := range cs {
		for i := 1; i <= 3; i++ {
			c.Expect("43" + strconv.Itoa(i) + `["` + big + `"]`)
		}
	}
	waitStats(t, d, "resumed", func(st hooks.Stats) bool { return st.Paused == 0 && st.Queued == 0 })
}

// Overflow "disconnect" drops the event with an error ack and closes the
// client's connection; its disconnect hook still runs.
func TestOverflowDisconnect(t *testing.T) {
	up, free := gatedUpstream(t)
	_, hs, d := setup(t, hooks.Config{QueueSize: 1, Overflow: hooks.OverflowDisconnect, Hooks: []hooks.Hook{{URL: hookURL(up)}}})
	c := dial(t, hs, "", nil)
	c.Connect("/", "")
	c.Emit("/", 1, "e", "slow", 1)
	up.nextOf(t, "event", "e")
	for i := 2; i <= 3; i++ {
		c.Emit("/", i, "e", "slow", i)
	}
	c.Expect(`433[{"error":"hook failed","reason":"queue_full"}]`)
	free()
	up.nextOf(t, "disconnect", "")
	if st := d.Stats(); st.Dropped != 1 || st.Paused != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestOverflowInvalid(t *testing.T) {
	if err := (hooks.Config{Overflow: "wait"}).Validate(); err == nil {
		t.Fatal("overflow wait accepted")
	}
}

// While a socket is paused longer than ping interval + timeout, its
// heartbeat keeps it connected, and another socket's events and a
// broadcast reach it at normal latency; then the paused one goes on.
func TestBackpressurePausedHeartbeatAndBroadcast(t *testing.T) {
	up, free := gatedUpstream(t)
	srv, hs, d := setup(t, hooks.Config{QueueSize: 1, Hooks: []hooks.Hook{{URL: hookURL(up), Events: []string{"e"}}}})
	// setup: ping interval 1s, timeout 1s.
	c := dial(t, hs, "", nil)
	c.Connect("/", "")
	o := dial(t, hs, "", nil)
	o.Connect("/", "")
	for i := 1; i <= 5; i++ {
		c.Emit("/", i, "e", "slow", i)
	}
	waitStats(t, d, "a paused socket", func(st hooks.Stats) bool { return st.Paused == 1 })
	deadline := time.Now().Add(3 * time.Second) // > ping interval + timeout
	for i := 0; time.Now().Before(deadline); i++ {
		start := time.Now()
		o.Emit("/", i+1, "e", "fast", i)
		o.Expect("43" + strconv.Itoa(i+1) + "[" + strconv.Itoa(i) + "]")
		if err := srv.Of("/").Emit("news", i); err != nil {
			t.Fatal(err)
		}
		o.Expect(`42["news",` + strconv.Itoa(i) + `]`)
		c.Expect(`42["news",` + strconv.Itoa(i) + `]`) // the paused one still receives
		if el := time.Since(start); el > time.Second {
			t.Fatalf("round %d took %v while another socket was paused", i, el)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if st := d.Stats(); st.Paused != 1 {
		t.Fatalf("not paused any more: %+v", st)
	}
	free()
	for i := 1; i <= 5; i++ {
		c.Expect("43" + strconv.Itoa(i) + "[" + strconv.Itoa(i) + "]")
	}
}
