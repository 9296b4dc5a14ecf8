package hooks_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-socketio/caddy-socketio/caddymodule/hooks"
	"github.com/caddy-socketio/caddy-socketio/socketio"
)

func TestPayloadsForEveryType(t *testing.T) {
	up := newUpstream(t, func(r hookReq) (int, string) {
		switch r.Req.Type {
		case "connect":
			return 200, `{"data":{"nick":"bob","bin":{"_binary":"AQI="}},"join":["r1"]}`
		case "event":
			if r.Req.Event == "up" {
				return 200, `{"ack":[{"_binary":"AwQF"},"ok"]}`
			}
		}
		return 200, ""
	})
	_, hs, _ := setup(t, hooks.Config{Hooks: []hooks.Hook{{URL: hookURL(up)}}})
	c := dial(t, hs, queryOf("nick", "bob"), http.Header{"X-Custom": {"v1"}})
	before := time.Now()
	sid := c.Connect("/chat", `{"token":"t"}`)

	// connect
	cr := up.nextOf(t, "connect", "")
	if cr.Req.Namespace != "/chat" || cr.Req.Socket.ID != sid {
		t.Fatalf("connect request %s", cr.Body)
	}
	if cr.Req.ID == "" || cr.Header.Get("X-Socketio-Delivery") != cr.Req.ID {
		t.Fatalf("delivery id %q vs header %q", cr.Req.ID, cr.Header.Get("X-Socketio-Delivery"))
	}
	if at, err := time.Parse(time.RFC3339Nano, cr.Req.Time); err != nil || at.Before(before.Add(-time.Second)) || at.After(time.Now()) {
		t.Fatalf("time %q: %v", cr.Req.Time, err)
	}
	if ts, err := strconv.ParseInt(cr.Header.Get("X-Socketio-Timestamp"), 10, 64); err != nil || time.Since(time.Unix(ts, 0)) > 5*time.Second {
		t.Fatalf("timestamp header %q", cr.Header.Get("X-Socketio-Timestamp"))
	}
	if cr.Header.Get("Content-Type") != "application/json" || cr.Header.Get("X-Socketio-Type") != "connect" {
		t.Fatalf("headers %v", cr.Header)
	}
	if !strings.Contains(string(cr.Body), `"rooms":[]`) || !strings.Contains(string(cr.Body), `"data":null`) {
		t.Fatalf("connect socket %s", cr.Body)
	}
	if cr.Header.Get("X-Socketio-Signature") != "" {
		t.Fatal("signed without a secret")
	}
	h := cr.Req.Socket.Handshake
	if h == nil || h.Address != "127.0.0.1" || h.Headers["x-custom"] != "v1" || h.Query["nick"] != "bob" ||
		h.Auth["token"] != "t" || !strings.Contains(h.URL, "/socket.io/") || h.Secure || h.Time == "" {
		t.Fatalf("handshake %+v", h)
	}

	// binary event with an ack, answered with binary
	c.Send(`451-/chat,7["up",{"_placeholder":true,"num":0},"x"]`)
	c.SendBinary([]byte{1, 2, 3})
	er := up.nextOf(t, "event", "up")
	if !reflect.DeepEqual(er.Args, []any{map[string]any{"_binary": "AQID"}, "x"}) {
		t.Fatalf("args %s", er.Req.Args)
	}
	if er.Req.Ack == nil || !*er.Req.Ack {
		t.Fatal("ack not requested")
	}
	if !slices.Contains(er.Req.Socket.Rooms, sid) || !slices.Contains(er.Req.Socket.Rooms, "r1") {
		t.Fatalf("rooms %v", er.Req.Socket.Rooms)
	}
	wantData := map[string]any{"nick": "bob", "bin": map[string]any{"_binary": "AQI="}}
	if !reflect.DeepEqual(er.Data, wantData) {
		t.Fatalf("data %v", er.Data)
	}
	c.Expect(`461-/chat,7[{"_placeholder":true,"num":0},"ok"]`)
	c.Expect("bin:\x03\x04\x05")

	// event without an ack
	c.Emit("/chat", -1, "plain", 1.5, map[string]any{"k": []any{true, nil}})
	pr := up.nextOf(t, "event", "plain")
	if pr.Req.Ack == nil || *pr.Req.Ack || string(pr.Req.Args) != `[1.5,{"k":[true,null]}]` {
		t.Fatalf("plain event %s", pr.Body)
	}

	// disconnect: the rooms it was in before leaving, its data, the reason
	c.Send("41/chat,")
	dr := up.nextOf(t, "disconnect", "")
	if dr.Req.Reason != "client namespace disconnect" || !slices.Contains(dr.Req.Socket.Rooms, "r1") ||
		!reflect.DeepEqual(dr.Data, wantData) || dr.Req.Socket.ID != sid {
		t.Fatalf("disconnect %s", dr.Body)
	}
	if dr.Req.ID == cr.Req.ID || dr.Req.ID == er.Req.ID {
		t.Fatal("delivery ids repeat")
	}
}

func TestSignatureAndHeaders(t *testing.T) {
	const secret = "s3cret"
	signed := newUpstream(t, nil)
	_, hs, _ := setup(t, hooks.Config{Hooks: []hooks.Hook{{
		URL: hookURL(signed), Secret: secret,
		Header: http.Header{"X-Api-Key": {"k1"}, "Host": {"app.internal"}},
	}}})
	c := dial(t, hs, "", nil)
	c.Connect("/", "")
	r := signed.nextOf(t, "connect", "")
	ts, sig := r.Header.Get("X-Socketio-Timestamp"), r.Header.Get("X-Socketio-Signature")
	if err := hooks.Verify([]byte(secret), ts, sig, r.Body, time.Now(), 300*time.Second); err != nil {
		t.Fatalf("verify: %v", err)
	}
	// The same check by hand, as docs/webhooks.md shows it.
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts + "." + string(r.Body)))
	if sig != "sha256="+hex.EncodeToString(m.Sum(nil)) {
		t.Fatalf("signature %q", sig)
	}
	if hooks.Verify([]byte(secret), ts, sig, append(r.Body, ' '), time.Now(), 300*time.Second) == nil {
		t.Fatal("tampered body verified")
	}
	if hooks.Verify([]byte("other"), ts, sig, r.Body, time.Now(), 300*time.Second) == nil {
		t.Fatal("wrong secret verified")
	}
	if hooks.Verify([]byte(secret), ts, sig, r.Body, time.Now().Add(301*time.Second), 300*time.Second) == nil {
		t.Fatal("replay outside the window verified")
	}
	if r.Header.Get("X-Api-Key") != "k1" {
		t.Fatalf("configured header missing: %v", r.Header)
	}
}

func TestSignKnownVector(t *testing.T) {
	// The vector of docs/webhooks.md.
	got := hooks.Sign([]byte("s3cret"), "1700000000", []byte(`{"type":"connect"}`))
	if got != "sha256=c529561012fc6de4573ff184234188aabd19700ceaa6f8362cc54e231641d6d1" {
		t.Fatal(got)
	}
}

// doReply lets a test put the reply in the event: ["do", "<reply JSON>"].
func doReply(r hookReq) (int, string) {
	if r.Req.Type == "event" && r.Req.Event == "do" && len(r.Args) > 0 {
		s, _ := r.Args[0].(string)
		return 200, s
	}
	return 200, ""
}

func TestEveryReplyAction(t *testing.T) {
	up := newUpstream(t, doReply)
	_, hs, d := setup(t, hooks.Config{Hooks: []hooks.Hook{{URL: hookURL(up), Namespaces: []string{"/chat"}}}})
	a, b, c := dial(t, hs, "", nil), dial(t, hs, "", nil), dial(t, hs, "", nil)
	_ = a.Connect("/chat", "")
	bid := b.Connect("/chat", "")
	c.Connect("/", "")

	ack := 0
	do := func(cl *wsClient, reply string) string {
		ack++
		cl.Emit("/chat", ack, "do", reply)
		return "43/chat," + strconv.Itoa(ack)
	}
	// join: the ack comes after the join is done
	a.Expect(do(a, `{"join":["r"],"ack":["joined"]}`) + `["joined"]`)
	b.Expect(do(b, `{"join":["r","r2"],"ack":["joined"]}`) + `["joined"]`)

	// emit to this socket (no to, no broadcast)
	want := do(a, `{"emit":[{"event":"m","args":["self",{"_binary":"AQ=="}]}],"ack":[]}`)
	a.Expect(`451-/chat,["m","self",{"_placeholder":true,"num":0}]`)
	a.Expect("bin:\x01")
	a.Expect(want + "[]")

	// emit to a room: everyone in it, the sender included
	want = do(a, `{"emit":[{"event":"m","args":["room"],"to":["r"]}],"ack":[]}`)
	a.Expect(`42/chat,["m","room"]`)
	a.Expect(want + "[]")
	b.Expect(`42/chat,["m","room"]`)

	// broadcast: every other socket of the namespace
	a.Expect(do(a, `{"emit":[{"event":"m","args":["b"],"broadcast":true}],"ack":[]}`) + "[]")
	b.Expect(`42/chat,["m","b"]`)

	// broadcast to a room: the others in it
	a.Expect(do(a, `{"emit":[{"event":"m","args":["bt"],"to":["r"],"broadcast":true}],"ack":[]}`) + "[]")
	b.Expect(`42/chat,["m","bt"]`)

	// except
	want = do(a, `{"emit":[{"event":"m","args":["ex"],"to":["r"],"except":["`+bid+`"]}],"ack":[]}`)
	a.Expect(`42/chat,["m","ex"]`)
	a.Expect(want + "[]")

	// to a socket id (a room)
	a.Expect(do(a, `{"emit":[{"event":"m","args":["direct"],"to":["`+bid+`"]}],"ack":[]}`) + "[]")
	b.Expect(`42/chat,["m","direct"]`)

	// another namespace: without to, all of it; an unknown one is skipped
	a.Expect(do(a, `{"emit":[{"event":"m","args":["root"],"namespace":"/"},{"event":"m","namespace":"/nowhere"}],"ack":[]}`) + "[]")
	c.Expect(`42["m","root"]`)

	// data, then sent with the next hook
	a.Expect(do(a, `{"data":{"x":1},"ack":[]}`) + "[]")
	a.Expect(do(a, `{"ack":"solo"}`) + `["solo"]`) // a non-array ack is the one argument
	if r := up.nextOf(t, "event", "do"); r.Data != nil {
		t.Fatalf("data before it was set: %v", r.Data)
	}
	for i := 0; i < 20; i++ {
		r := up.nextOf(t, "event", "do")
		if r.Args[0] == `{"ack":"solo"}` {
			if !reflect.DeepEqual(r.Data, map[string]any{"x": 1.0}) {
				t.Fatalf("data %v", r.Data)
			}
			if !slices.Contains(r.Req.Socket.Rooms, "r") {
				t.Fatalf("rooms %v", r.Req.Socket.Rooms)
			}
			break
		}
	}

	// leave, then a room emit reaches only b
	a.Expect(do(a, `{"leave":["r"],"ack":[]}`) + "[]")
	a.Expect(do(a, `{"emit":[{"event":"m","args":["after-leave"],"to":["r"]}],"ack":[]}`) + "[]")
	b.Expect(`42/chat,["m","after-leave"]`)

	// disconnect comes after the ack
	a.Expect(do(a, `{"disconnect":true,"ack":["bye"]}`) + `["bye"]`)
	a.Expect("41/chat,")
	if r := up.nextOf(t, "disconnect", ""); r.Req.Reason != "server namespace disconnect" {
		t.Fatalf("disconnect reason %q", r.Req.Reason)
	}

	a.ExpectNothing(100 * time.Millisecond)
	b.ExpectNothing(100 * time.Millisecond)
	c.ExpectNothing(100 * time.Millisecond)
	st := d.Stats()
	if len(st.Hooks) != 1 || st.Hooks[0].Errors != 0 || st.Hooks[0].Deliveries < 15 || st.Hooks[0].Latency.Count != st.Hooks[0].Deliveries {
		t.Fatalf("stats %+v", st)
	}
}

func TestConnectReplies(t *testing.T) {
	up := newUpstream(t, func(r hookReq) (int, string) {
		if r.Req.Type != "connect" {
			return 200, ""
		}
		if r.Req.Socket.Handshake.Auth["token"] != "good" {
			return 200, `{"error":{"message":"unauthorized","data":{"code":401}}}`
		}
		return 200, `{"data":{"user":7},"join":["lobby"],"emit":[{"event":"hello","args":["hi"]}]}`
	})
	_, hs, d := setup(t, hooks.Config{Hooks: []hooks.Hook{{URL: hookURL(up), Events: []string{"connect", "first"}}}})

	bad := dial(t, hs, "", nil)
	if got := bad.ConnectRaw("/chat", `{"token":"bad"}`); got != `44/chat,{"data":{"code":401},"message":"unauthorized"}` {
		t.Fatalf("refusal %q", got)
	}

	good := dial(t, hs, "", nil)
	sid := good.Connect("/chat", `{"token":"good"}`)
	good.Expect(`42/chat,["hello","hi"]`)
	// The joins are in place before the first event.
	good.Emit("/chat", -1, "first")
	r := up.nextOf(t, "event", "first")
	if !slices.Contains(r.Req.Socket.Rooms, "lobby") || !slices.Contains(r.Req.Socket.Rooms, sid) {
		t.Fatalf("rooms at the first event %v", r.Req.Socket.Rooms)
	}
	if r.Data.(map[string]any)["user"] != 7.0 {
		t.Fatalf("data %v", r.Data)
	}
	if st := d.Stats().Hooks[0]; st.Refused != 1 {
		t.Fatalf("refused %d", st.Refused)
	}
}

// deadURL returns a URL on 127.0.0.1 where nothing listens.
func deadURL(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr + "/hook"
}

func TestAppDown(t *testing.T) {
	dead := deadURL(t)
	_, hs, d := setup(t, hooks.Config{Hooks: []hooks.Hook{
		{URL: dead, Namespaces: []string{"/chat"}, OnError: "deny"},
		{URL: dead, Namespaces: []string{"/other"}, OnError: "allow"},
	}})
	c := dial(t, hs, "", nil)
	if got := c.ConnectRaw("/chat", ""); got != `44/chat,{"data":{"reason":"unavailable"},"message":"hook failed"}` {
		t.Fatalf("deny: %q", got)
	}
	c.Connect("/other", "")
	c.Emit("/other", 3, "x")
	c.Expect(`43/other,3[{"error":"hook failed","reason":"unavailable"}]`)
	st := d.Stats().Hooks[0] // both hooks share the URL, so one entry
	if st.FailDenied != 1 || st.FailAllowed != 1 || st.Errors != 3 {
		t.Fatalf("stats %+v", st)
	}
}

// slowUpstream answers after the request is cancelled or free is called.
func slowUpstream(t *testing.T) (up *upstream, free func()) {
	release := make(chan struct{})
	var once sync.Once
	up = newUpstream(t, func(r hookReq) (int, string) {
		select {
		case <-release:
		case <-r.Ctx.Done():
		case <-time.After(waitFor):
		}
		return 200, ""
	})
	free = func() { once.Do(func() { close(release) }) }
	// Registered after the upstream's Close, so it runs first.
	t.Cleanup(free)
	return up, free
}

func TestSlowAppDenyAllow(t *testing.T) {
	up, _ := slowUpstream(t)
	_, hs, d := setup(t, hooks.Config{Hooks: []hooks.Hook{
		{URL: hookURL(up), Namespaces: []string{"/chat"}, Timeout: 200 * time.Millisecond},
		{URL: up.URL + "/allow", Namespaces: []string{"/other"}, Timeout: 200 * time.Millisecond, OnError: "allow"},
	}})
	c := dial(t, hs, "", nil)
	start := time.Now()
	if got := c.ConnectRaw("/chat", ""); got != `44/chat,{"data":{"reason":"timeout"},"message":"hook failed"}` {
		t.Fatalf("deny: %q", got)
	}
	if el := time.Since(start); el < 200*time.Millisecond || el > 2*time.Second {
		t.Fatalf("refused after %v", el)
	}
	start = time.Now()
	c.Connect("/other", "")
	if el := time.Since(start); el < 200*time.Millisecond || el > 2*time.Second {
		t.Fatalf("allowed after %v", el)
	}
	// an event that times out gets the error ack
	c.Emit("/other", 1, "x")
	c.Expect(`43/other,1[{"error":"hook failed","reason":"timeout"}]`)
	st := d.Stats()
	if st.Hooks[0].Timeouts != 1 || st.Hooks[0].FailDenied != 1 || st.Hooks[1].Timeouts != 2 || st.Hooks[1].FailAllowed != 1 {
		t.Fatalf("stats %+v", st.Hooks)
	}
}

func TestEventFailuresAndAcks(t *testing.T) {
	up := newUpstream(t, func(r hookReq) (int, string) {
		switch r.Req.Event {
		case "e500":
			return 500, `{"ack":["ignored"]}`
		case "e404":
			return 404, ""
		case "bad":
			return 200, "not json"
		case "array":
			return 200, `[1]`
		case "badbin":
			return 200, `{"ack":[{"_binary":"!!"}]}`
		case "empty":
			return 204, ""
		case "noack":
			return 200, `{"emit":[{"event":"m"}]}`
		}
		return 200, ""
	})
	_, hs, d := setup(t, hooks.Config{Hooks: []hooks.Hook{{URL: hookURL(up)}}})
	c := dial(t, hs, "", nil)
	c.Connect("/", "")
	for i, tc := range []struct{ event, reason string }{
		{"e500", "status"}, {"e404", "status"}, {"bad", "invalid_reply"}, {"array", "invalid_reply"}, {"badbin", "invalid_reply"},
	} {
		c.Emit("/", i, tc.event)
		c.Expect(`43` + strconv.Itoa(i) + `[{"error":"hook failed","reason":"` + tc.reason + `"}]`)
	}
	// a 2xx reply without "ack" sends none
	c.Emit("/", 10, "empty")
	c.Emit("/", 11, "noack")
	c.Expect(`42["m"]`)
	c.ExpectNothing(200 * time.Millisecond)
	if st := d.Stats().Hooks[0]; st.Errors != 5 || st.Retries != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestPerSocketOrderWith50Clients(t *testing.T) {
	const clients, events, limit = 50, 20, 8
	var (
		mu          sync.Mutex
		next        = map[string]int{}
		busy        = map[string]int{}
		inFlight    int
		maxInFlight int
		maxPerSock  int
		total       atomic.Int64
		errs        []string
	)
	done := make(chan struct{})
	up := newUpstream(t, func(r hookReq) (int, string) {
		if r.Req.Type != "event" {
			return 200, ""
		}
		id := r.Req.Socket.ID
		seq, _ := strconv.Atoi(string(r.Args[0].(string)))
		mu.Lock()
		if next[id] != seq {
			errs = append(errs, id+": got "+strconv.Itoa(seq)+" want "+strconv.Itoa(next[id]))
		}
		next[id] = seq + 1
		busy[id]++
		inFlight++
		maxInFlight = max(maxInFlight, inFlight)
		maxPerSock = max(maxPerSock, busy[id])
		mu.Unlock()
		time.Sleep(time.Duration(seq%3) * time.Millisecond)
		mu.Lock()
		busy[id]--
		inFlight--
		mu.Unlock()
		if total.Add(1) == clients*events {
			close(done)
		}
		return 200, ""
	})
	_, hs, d := setup(t, hooks.Config{Concurrency: limit, Hooks: []hooks.Hook{{URL: hookURL(up), Events: []string{"seq"}}}})
	cs := make([]*wsClient, clients)
	for i := range cs {
		cs[i] = dial(t, hs, "", nil)
		cs[i].Connect("/", "")
	}
	var wg sync.WaitGroup
	for _, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < events; j++ {
				if err := c.Write(1, []byte(`42["seq","`+strconv.Itoa(j)+`"]`)); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	select {
	case <-done:
	case <-time.After(2 * waitFor):
		t.Fatalf("only %d of %d events delivered", total.Load(), clients*events)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(errs) > 0 {
		t.Fatalf("out of order: %v", errs[:min(5, len(errs))])
	}
	if len(next) != clients {
		t.Fatalf("%d sockets seen", len(next))
	}
	if maxPerSock != 1 {
		t.Fatalf("one socket had %d requests in flight", maxPerSock)
	}
	if maxInFlight < 2 || maxInFlight > limit {
		t.Fatalf("max in flight %d, want 2..%d", maxInFlight, limit)
	}
	if st := d.Stats(); st.Dropped != 0 || st.Hooks[0].Deliveries != clients*events {
		t.Fatalf("stats %+v", st)
	}
}

func TestDisconnectRetries(t *testing.T) {
	var mu sync.Mutex
	var got []hookReq
	var times []time.Time
	fails := 2
	up := newUpstream(t, func(r hookReq) (int, string) {
		if r.Req.Type != "disconnect" {
			return 200, ""
		}
		mu.Lock()
		defer mu.Unlock()
		got = append(got, r)
		times = append(times, time.Now())
		if len(got) <= fails {
			return 503, ""
		}
		return 200, ""
	})
	_, hs, d := setup(t, hooks.Config{
		RetryBackoff: 50 * time.Millisecond,
		Hooks:        []hooks.Hook{{URL: hookURL(up), Events: []string{"disconnect"}}},
	})
	c := dial(t, hs, "", nil)
	sid := c.Connect("/", "")
	_ = c.Conn.Close()
	for i := 0; i < 3; i++ {
		up.nextOf(t, "disconnect", "")
	}
	up.none(t, 300*time.Millisecond)
	mu.Lock()
	first, firstTimes := got, times
	got, fails = nil, 100
	mu.Unlock()
	for i, r := range first {
		if r.Req.ID != first[0].Req.ID || r.Header.Get("X-Socketio-Delivery") != first[0].Req.ID {
			t.Fatalf("attempt %d has delivery id %q, first %q", i+1, r.Req.ID, first[0].Req.ID)
		}
		if r.Header.Get("X-Socketio-Attempt") != strconv.Itoa(i+1) || r.Req.Socket.ID != sid || r.Req.Reason != "transport close" {
			t.Fatalf("attempt %d: %v %s", i+1, r.Header, r.Body)
		}
	}
	if gap := firstTimes[1].Sub(firstTimes[0]); gap < 50*time.Millisecond {
		t.Fatalf("first backoff %v", gap)
	}
	if gap := firstTimes[2].Sub(firstTimes[1]); gap < 100*time.Millisecond {
		t.Fatalf("second backoff %v", gap)
	}
	if st := d.Stats().Hooks[0]; st.Retries != 2 || st.Errors != 2 || st.Deliveries != 3 {
		t.Fatalf("stats %+v", st)
	}

	// An app that keeps failing gets DisconnectAttempts tries, no more.
	c2 := dial(t, hs, "", nil)
	c2.Connect("/", "")
	_ = c2.Conn.Close()
	for i := 0; i < 3; i++ {
		up.nextOf(t, "disconnect", "")
	}
	up.none(t, 1200*time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 3 {
		t.Fatalf("%d attempts", len(got))
	}
}

func TestSelectionByNamespaceAndEvent(t *testing.T) {
	a, b, c := newUpstream(t, nil), newUpstream(t, nil), newUpstream(t, nil)
	_, hs, _ := setup(t, hooks.Config{Hooks: []hooks.Hook{
		{URL: hookURL(a), Namespaces: []string{"/chat"}, Events: []string{"chatInput"}},
		{URL: hookURL(b), Namespaces: []string{`~^/dyn-\d+$`}, Events: []string{"*"}},
		{URL: hookURL(c), Namespaces: []string{"/other", "/"}, Events: []string{"connect", "disconnect"}},
	}})
	cl := dial(t, hs, "", nil)
	cl.Connect("/chat", "")
	cl.Emit("/chat", -1, "other")
	cl.Emit("/chat", -1, "chatInput", map[string]any{"msg": "hi"})
	if r := a.next(t); r.Req.Type != "event" || r.Req.Event != "chatInput" {
		t.Fatalf("a got %s", r.Body)
	}

	cl.Connect("/dyn-1", "")
	cl.Emit("/dyn-1", -1, "x")
	cl.Send("41/dyn-1,")
	for _, want := range []string{"connect", "event", "disconnect"} {
		if r := b.next(t); r.Req.Type != want || r.Req.Namespace != "/dyn-1" {
			t.Fatalf("b got %s, want %s", r.Body, want)
		}
	}

	cl.Connect("/other", "")
	cl.Emit("/other", -1, "y")
	cl.Send("41/other,")
	for _, want := range []string{"connect", "disconnect"} {
		if r := c.next(t); r.Req.Type != want || r.Req.Namespace != "/other" {
			t.Fatalf("c got %s, want %s", r.Body, want)
		}
	}
	a.none(t, 100*time.Millisecond)
	b.none(t, 0)
	c.none(t, 0)
}

func TestSeveralHooksForOneEvent(t *testing.T) {
	var failFirst atomic.Int32
	first := newUpstream(t, func(r hookReq) (int, string) {
		if r.Req.Type != "event" {
			return 200, ""
		}
		switch failFirst.Load() {
		case 1:
			return 500, ""
		case 2:
			return 200, "" // no ack
		}
		return 200, `{"ack":["first"],"data":{"a":1},"join":["j1"]}`
	})
	var secondSaw atomic.Value
	second := newUpstream(t, func(r hookReq) (int, string) {
		if r.Req.Type != "event" {
			return 200, ""
		}
		secondSaw.Store(r)
		if failFirst.Load() == 2 {
			return 500, ""
		}
		return 200, `{"ack":["second"],"emit":[{"event":"m","args":["from2"]}]}`
	})
	_, hs, _ := setup(t, hooks.Config{Hooks: []hooks.Hook{{URL: hookURL(first)}, {URL: hookURL(second)}}})
	c := dial(t, hs, "", nil)
	c.Connect("/", "")

	// both are called in order; the first ack wins, every other action applies
	c.Emit("/", 1, "e")
	c.Expect(`431["first"]`)
	c.Expect(`42["m","from2"]`)
	r := secondSaw.Load().(hookReq)
	if !reflect.DeepEqual(r.Data, map[string]any{"a": 1.0}) || !slices.Contains(r.Req.Socket.Rooms, "j1") {
		t.Fatalf("second hook saw %s", r.Body)
	}

	// the first fails: the second's ack answers
	failFirst.Store(1)
	c.Emit("/", 2, "e")
	c.Expect(`42["m","from2"]`) // a reply emits before it acks
	c.Expect(`432["second"]`)

	// no reply acks and one failed: the error ack
	failFirst.Store(2)
	c.Emit("/", 3, "e")
	c.Expect(`433[{"error":"hook failed","reason":"status"}]`)
}

func TestSeveralConnectHooksStopAtRefusal(t *testing.T) {
	first := newUpstream(t, func(r hookReq) (int, string) {
		return 200, `{"error":{"message":"no"}}`
	})
	second := newUpstream(t, nil)
	_, hs, _ := setup(t, hooks.Config{Hooks: []hooks.Hook{{URL: hookURL(first)}, {URL: hookURL(second)}}})
	c := dial(t, hs, "", nil)
	if got := c.ConnectRaw("/", ""); got != `44{"message":"no"}` {
		t.Fatalf("got %q", got)
	}
	first.next(t)
	second.none(t, 100*time.Millisecond)
}

func TestQueueFull(t *testing.T) {
	release := make(chan struct{})
	var once sync.Once
	free := func() { once.Do(func() { close(release) }) }
	up := newUpstream(t, func(r hookReq) (int, string) {
		if r.Req.Type != "event" {
			return 200, ""
		}
		select {
		case <-release:
		case <-r.Ctx.Done():
		case <-time.After(waitFor):
		}
		return 200, `{"ack":["ok"]}`
	})
	t.Cleanup(free)
	_, hs, d := setup(t, hooks.Config{QueueSize: 2, Overflow: hooks.OverflowDrop, Hooks: []hooks.Hook{{URL: hookURL(up), Events: []string{"e"}}}})
	c := dial(t, hs, "", nil)
	c.Connect("/", "")
	c.Emit("/", 1, "e")
	up.nextOf(t, "event", "e") // in flight
	for i := 2; i <= 5; i++ {
		c.Emit("/", i, "e")
	}
	// 2 and 3 wait in the queue, 4 and 5 are dropped at once
	c.Expect(`434[{"error":"hook failed","reason":"queue_full"}]`)
	c.Expect(`435[{"error":"hook failed","reason":"queue_full"}]`)
	// an event no hook selects is not queued, so never dropped
	c.Emit("/", -1, "other")
	st := d.Stats()
	if st.Dropped != 2 || st.Hooks[0].Dropped != 2 || st.Queued != 3 {
		t.Fatalf("stats %+v", st)
	}
	free()
	for i := 1; i <= 3; i++ {
		c.Expect("43" + strconv.Itoa(i) + `["ok"]`)
	}
}

func TestGlobalQueueLimit(t *testing.T) {
	release := make(chan struct{})
	var once sync.Once
	free := func() { once.Do(func() { close(release) }) }
	up := newUpstream(t, func(r hookReq) (int, string) {
		select {
		case <-release:
		case <-r.Ctx.Done():
		case <-time.After(waitFor):
		}
		return 200, `{"ack":["ok"]}`
	})
	t.Cleanup(free)
	_, hs, d := setup(t, hooks.Config{Concurrency: 1, MaxQueued: 2, Overflow: hooks.OverflowDrop, Hooks: []hooks.Hook{{URL: hookURL(up), Events: []string{"e"}}}})
	a, b := dial(t, hs, "", nil), dial(t, hs, "", nil)
	a.Connect("/", "")
	b.Connect("/", "")
	a.Emit("/", 1, "e")
	up.next(t) // a's event holds the only request slot
	b.Emit("/", 1, "e")
	deadline := time.Now().Add(waitFor)
	for d.Stats().Queued != 2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	a.Emit("/", 2, "e") // a third one, beyond MaxQueued
	a.Expect(`432[{"error":"hook failed","reason":"queue_full"}]`)
	free()
	a.Expect(`431["ok"]`)
	b.Expect(`431["ok"]`)
}

func TestCloseDrainsAndCancels(t *testing.T) {
	t.Run("drains", func(t *testing.T) {
		// One request at a time, each slow enough that the disconnects are
		// still queued when Close is called.
		up := newUpstream(t, func(r hookReq) (int, string) {
			if r.Req.Type == "disconnect" {
				time.Sleep(20 * time.Millisecond)
			}
			return 200, ""
		})
		srv, hs, d := setup(t, hooks.Config{Concurrency: 1, Hooks: []hooks.Hook{{URL: hookURL(up)}}})
		for i := 0; i < 5; i++ {
			c := dial(t, hs, "", nil)
			c.Connect("/", "")
			c.Emit("/", -1, "e")
		}
		for i := 0; i < 10; i++ { // the connects and events
			up.next(t)
		}
		_ = srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), waitFor)
		defer cancel()
		if err := d.Close(ctx); err != nil {
			t.Fatal(err)
		}
		if st := d.Stats(); st.Hooks[0].Deliveries != 15 || st.Queued != 0 || st.Dropped != 0 {
			t.Fatalf("stats after close %+v", st)
		}
		for i := 0; i < 5; i++ {
			if r := up.next(t); r.Req.Reason != "server shutting down" {
				t.Fatalf("got %s", r.Body)
			}
		}
	})
	t.Run("deadline", func(t *testing.T) {
		up, _ := slowUpstream(t)
		_, hs, d := setup(t, hooks.Config{Hooks: []hooks.Hook{{URL: hookURL(up), Events: []string{"e"}, Timeout: waitFor}}})
		c := dial(t, hs, "", nil)
		c.Connect("/", "")
		c.Emit("/", 1, "e")
		c.Emit("/", 2, "e")
		up.next(t)
		deadline := time.Now().Add(waitFor)
		for d.Stats().Queued != 2 && time.Now().Before(deadline) { // 1 in flight, 2 queued
			time.Sleep(5 * time.Millisecond)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		start := time.Now()
		if err := d.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("close: %v", err)
		}
		if el := time.Since(start); el > 2*time.Second {
			t.Fatalf("close took %v", el)
		}
		c.Expect(`431[{"error":"hook failed","reason":"closed"}]`)
		c.Expect(`432[{"error":"hook failed","reason":"closed"}]`)
		c.Emit("/", 3, "e")
		c.Expect(`433[{"error":"hook failed","reason":"closed"}]`)
		if st := d.Stats(); st.Dropped != 3 {
			t.Fatalf("stats %+v", st)
		}
	})
}

func TestUpdateKeepsSockets(t *testing.T) {
	one, two := newUpstream(t, nil), newUpstream(t, nil)
	cfg := hooks.Config{Hooks: []hooks.Hook{{URL: hookURL(one), Events: []string{"e"}}}}
	_, hs, d := setup(t, cfg)
	c := dial(t, hs, "", nil)
	c.Connect("/", "")
	c.Emit("/", -1, "e")
	one.next(t)
	if err := d.Update(hooks.Config{Concurrency: 3, Hooks: []hooks.Hook{{URL: hookURL(two), Events: []string{"e"}}}}); err != nil {
		t.Fatal(err)
	}
	c.Emit("/", -1, "e")
	two.next(t)
	one.none(t, 50*time.Millisecond)
	st := d.Stats()
	if len(st.Hooks) != 2 || st.Hooks[0].Deliveries != 1 || st.Hooks[1].Deliveries != 1 {
		t.Fatalf("stats %+v", st.Hooks)
	}
	if err := d.Update(hooks.Config{Hooks: []hooks.Hook{{URL: "ftp://x"}}}); err == nil {
		t.Fatal("invalid update accepted")
	}
}

func TestConfigValidation(t *testing.T) {
	for name, h := range map[string]hooks.Hook{
		"no url":          {},
		"relative url":    {URL: "/hook"},
		"scheme":          {URL: "ftp://127.0.0.1/"},
		"on_error":        {URL: "http://127.0.0.1/", OnError: "maybe"},
		"namespace":       {URL: "http://127.0.0.1/", Namespaces: []string{"chat"}},
		"pattern":         {URL: "http://127.0.0.1/", Namespaces: []string{"~("}},
		"event":           {URL: "http://127.0.0.1/", Events: []string{""}},
		"timeout":         {URL: "http://127.0.0.1/", Timeout: -1},
		"reserved header": {URL: "http://127.0.0.1/", Header: http.Header{"X-Socketio-Signature": {"x"}}},
		"header name":     {URL: "http://127.0.0.1/", Header: http.Header{"Bad Name": {"x"}}},
		"header value":    {URL: "http://127.0.0.1/", Header: http.Header{"X-A": {"a\nb"}}},
	} {
		if _, err := hooks.New(hooks.Config{Hooks: []hooks.Hook{h}}, nil); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	d, err := hooks.New(hooks.Config{Hooks: []hooks.Hook{{URL: "https://user:pw@app.example/h"}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if u := d.Stats().Hooks[0].URL; u != "https://app.example/h" {
		t.Fatalf("stats label %q keeps the user info", u)
	}
	_ = d.Close(context.Background())
}

func TestBinaryWireForm(t *testing.T) {
	in := []any{[]byte{1, 2}, map[string]any{"b": []byte{}, "n": json.Number("1"), "s": "x"}, "plain"}
	enc := hooks.EncodeBinary(in)
	b, _ := json.Marshal(enc)
	if string(b) != `[{"_binary":"AQI="},{"b":{"_binary":""},"n":1,"s":"x"},"plain"]` {
		t.Fatalf("encoded %s", b)
	}
	if _, ok := in[0].([]byte); !ok {
		t.Fatal("input modified")
	}
	var v any
	_ = json.Unmarshal(b, &v)
	dec, err := hooks.DecodeBinary(v)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(dec, []any{[]byte{1, 2}, map[string]any{"b": []byte{}, "n": 1.0, "s": "x"}, "plain"}) {
		t.Fatalf("decoded %#v", dec)
	}
	if got, _ := hooks.DecodeBinary(map[string]any{"_binary": "AQI"}); !reflect.DeepEqual(got, []byte{1, 2}) {
		t.Fatalf("unpadded: %v", got)
	}
	for _, bad := range []any{
		map[string]any{"_binary": 1},
		map[string]any{"_binary": "AQI=", "x": 1},
		[]any{map[string]any{"_binary": "@@"}},
	} {
		if _, err := hooks.DecodeBinary(bad); err == nil {
			t.Errorf("%v decoded", bad)
		}
	}
}

func TestConnectAbortedAfterTheHookAccepted(t *testing.T) {
	defer hooks.SetPendingTimeout(200 * time.Millisecond)()
	up := newUpstream(t, nil)
	srv, hs, _ := setup(t, hooks.Config{Hooks: []hooks.Hook{{URL: hookURL(up)}}})
	// A middleware after the dispatcher's refuses the connection.
	srv.Of("/chat").Use(func(*socketio.Socket) error { return errors.New("later refusal") })
	c := dial(t, hs, "", nil)
	if got := c.ConnectRaw("/chat", ""); got != `44/chat,{"message":"later refusal"}` {
		t.Fatalf("got %q", got)
	}
	cr := up.nextOf(t, "connect", "")
	dr := up.nextOf(t, "disconnect", "")
	if dr.Req.Reason != hooks.ReasonConnectAborted || dr.Req.Socket.ID != cr.Req.Socket.ID {
		t.Fatalf("disconnect %s", dr.Body)
	}
	// A socket that connects normally gets no such disconnect.
	c.Connect("/", "")
	up.nextOf(t, "connect", "")
	up.none(t, 400*time.Millisecond)
}

func TestLaterConnectHookRefuses(t *testing.T) {
	first := newUpstream(t, nil)
	second := newUpstream(t, func(r hookReq) (int, string) {
		if r.Req.Type == "connect" {
			return 200, `{"error":{"message":"no"}}`
		}
		return 200, ""
	})
	_, hs, _ := setup(t, hooks.Config{Hooks: []hooks.Hook{{URL: hookURL(first)}, {URL: hookURL(second)}}})
	c := dial(t, hs, "", nil)
	if got := c.ConnectRaw("/", ""); got != `44{"message":"no"}` {
		t.Fatalf("got %q", got)
	}
	// the first hook accepted the connect: it learns that it did not stick
	first.nextOf(t, "connect", "")
	if r := first.next(t); r.Req.Type != "disconnect" || r.Req.Reason != hooks.ReasonConnectAborted {
		t.Fatalf("first got %s", r.Body)
	}
}

func TestSlowHookBlocksNoReadPath(t *testing.T) {
	up, free := slowUpstream(t)
	defer free()
	fast := newUpstream(t, func(r hookReq) (int, string) { return 200, `{"ack":["fast"]}` })
	srv, hs, _ := setup(t, hooks.Config{Hooks: []hooks.Hook{
		{URL: hookURL(up), Events: []string{"slow"}, Timeout: waitFor},
		{URL: hookURL(fast), Events: []string{"fast"}},
	}})
	srv.Of("/").OnConnection(func(s *socketio.Socket) {
		s.On("native", func(_ []any, ack socketio.Ack) { _ = ack("native") })
	})
	a, b := dial(t, hs, "", nil), dial(t, hs, "", nil)
	a.Connect("/", "")
	b.Connect("/", "")
	a.Emit("/", 1, "slow")
	up.next(t) // in flight, and stays so
	start := time.Now()
	// the same socket's other handlers still run at once
	a.Emit("/", 2, "native")
	a.Expect(`432["native"]`)
	// other sockets' hooks are not held up
	b.Emit("/", 1, "fast")
	b.Expect(`431["fast"]`)
	if el := time.Since(start); el > time.Second {
		t.Fatalf("took %v", el)
	}
}
