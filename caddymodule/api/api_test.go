package api_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/caddy-socketio/caddy-socketio/caddymodule/api"
	"github.com/caddy-socketio/caddy-socketio/socketio"
)

const token = "test-token-0123456789"

// env is a socketio.Server on 127.0.0.1 and the API in front of it, mounted
// under /socketio-api/ with the prefix stripped, as the Caddy module does.
type env struct {
	srv *socketio.Server
	sio *httptest.Server
	api *httptest.Server
	h   *api.Handler
}

func newEnv(t *testing.T, opts ...api.Option) *env {
	t.Helper()
	srv := socketio.NewServer(&socketio.Options{})
	srv.Engine().SetTiming(time.Second, time.Second)
	srv.Of("/chat")
	// Sockets store what the tests give them as data.
	srv.Of("/").OnConnection(func(s *socketio.Socket) {
		s.On("setData", func(args []any, ack socketio.Ack) {
			s.SetData(args[0])
			_ = ack()
		})
	})
	h, err := api.New(srv, token, opts...)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{srv: srv, h: h, sio: httptest.NewServer(srv)}
	e.api = httptest.NewServer(http.StripPrefix("/socketio-api", h))
	t.Cleanup(func() {
		_ = srv.Close()
		e.sio.Close()
		e.api.Close()
	})
	return e
}

// call makes an API request with the token and decodes the JSON answer.
func (e *env) call(t *testing.T, method, path, body string) (int, any) {
	t.Helper()
	return e.callAuth(t, method, path, body, "Bearer "+token)
}

func (e *env) callAuth(t *testing.T, method, path, body, auth string) (int, any) {
	t.Helper()
	req, err := http.NewRequest(method, e.api.URL+"/socketio-api"+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	client := &http.Client{Timeout: waitFor}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("%s %s: content type %q", method, path, ct)
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("%s %s: answer %q: %v", method, path, raw, err)
	}
	return resp.StatusCode, v
}

func (e *env) ok(t *testing.T, method, path, body string) any {
	t.Helper()
	status, v := e.call(t, method, path, body)
	if status != http.StatusOK {
		t.Fatalf("%s %s %s: %d %v", method, path, body, status, v)
	}
	return v
}

func (e *env) client(t *testing.T, nsp string) (*wsClient, string) {
	t.Helper()
	c := dial(t, e.sio, "", nil)
	return c, c.Connect(nsp, "")
}

func TestNewRefusesNoToken(t *testing.T) {
	srv := socketio.NewServer(nil)
	defer srv.Close()
	for _, tok := range []string{"", "  "} {
		if _, err := api.New(srv, tok); err == nil {
			t.Errorf("token %q accepted", tok)
		}
	}
	if _, err := api.New(nil, "x"); err == nil {
		t.Error("nil server accepted")
	}
}

func TestAuth(t *testing.T) {
	e := newEnv(t)
	for _, auth := range []string{"", "Bearer wrong", "Bearer " + token + "x", "Basic " + token, token} {
		req, _ := http.NewRequest("GET", e.api.URL+"/socketio-api/rooms", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("auth %q: %d", auth, resp.StatusCode)
		}
	}
	// 401 comes before 404, so paths do not leak
	if status, _ := e.callAuth(t, "GET", "/nothing", "", ""); status != 401 {
		t.Fatalf("unknown path without token: %d", status)
	}
	e.ok(t, "GET", "/rooms", "")
	e.ok(t, "GET", "/rooms/", "") // a trailing slash is fine
	if st := e.h.Stats(); st.Unauthorized != 6 || st.Calls["rooms"] != 2 {
		t.Fatalf("stats %+v", st)
	}
}

func TestErrors(t *testing.T) {
	e := newEnv(t, api.WithMaxBodyBytes(200), api.WithMaxAckTimeout(10*time.Second))
	for _, tc := range []struct {
		method, path, body string
		status             int
	}{
		{"GET", "/nothing", "", 404},
		{"POST", "/", "", 404},
		{"GET", "/emit", "", 405},
		{"POST", "/sockets", "", 405},
		{"POST", "/emit", "{", 400},
		{"POST", "/emit", "", 400},
		{"POST", "/emit", `[]`, 400},
		{"POST", "/emit", `{"event":"m","bogus":1}`, 400},
		{"POST", "/emit", `{"event":"m"} {}`, 400},
		{"POST", "/emit", `{"event":"m","args":["` + strings.Repeat("x", 300) + `"]}`, 413},
		{"POST", "/emit", `{"event":"m","namespace":"/nope"}`, 404},
		{"POST", "/emit", `{"args":[1]}`, 400},
		{"POST", "/emit", `{"event":"connect"}`, 400},
		{"POST", "/emit", `{"event":"m","ack_timeout":"soon"}`, 400},
		{"POST", "/emit", `{"event":"m","ack_timeout":"1m"}`, 400},
		{"POST", "/emit", `{"event":"m","args":[{"_binary":"%%"}]}`, 400},
		{"POST", "/join", `{"rooms":["r"]}`, 400},
		{"POST", "/join", `{"in":["x"]}`, 400},
		{"POST", "/join", `{"in":[""],"rooms":["r"]}`, 400},
		{"POST", "/leave", `{"sockets":["x"],"rooms":[""]}`, 400},
		{"POST", "/disconnect", `{"namespace":"/nope","in":["x"]}`, 404},
		{"POST", "/disconnect", `{"in":["x"],"rooms":["r"]}`, 400},
		{"GET", "/sockets?namespace=/nope", "", 404},
		{"GET", "/sockets?nsp=/", "", 400},
		{"GET", "/rooms?room=x", "", 400},
	} {
		status, v := e.call(t, tc.method, tc.path, tc.body)
		msg, _ := v.(map[string]any)["error"].(string)
		if status != tc.status || msg == "" {
			t.Errorf("%s %s %.40s: %d %v, want %d", tc.method, tc.path, tc.body, status, v, tc.status)
		}
	}
	st := e.h.Stats()
	if st.NotFound != 2 || st.Calls["emit"] != 13 || st.Errors["emit"] != 13 || st.Calls["join"] != 3 {
		t.Fatalf("stats %+v", st)
	}
}

func TestEmit(t *testing.T) {
	e := newEnv(t)
	a, aid := e.client(t, "/")
	b, _ := e.client(t, "/")
	c, _ := e.client(t, "/chat")
	e.ok(t, "POST", "/join", `{"sockets":["`+aid+`"],"rooms":["r"]}`)

	// the whole namespace, binary included
	if v := e.ok(t, "POST", "/emit", `{"event":"m","args":["all",{"_binary":"AQI="}]}`); !reflect.DeepEqual(v, map[string]any{"ok": true}) {
		t.Fatalf("answer %v", v)
	}
	for _, cl := range []*wsClient{a, b} {
		cl.Expect(`451-["m","all",{"_placeholder":true,"num":0}]`)
		cl.Expect("bin:\x01\x02")
	}
	// to a room, to a socket id, except a room, volatile
	e.ok(t, "POST", "/emit", `{"event":"m","args":["room"],"to":["r"]}`)
	a.Expect(`42["m","room"]`)
	e.ok(t, "POST", "/emit", `{"event":"m","args":["id"],"to":["`+aid+`"]}`)
	a.Expect(`42["m","id"]`)
	e.ok(t, "POST", "/emit", `{"event":"m","args":["except"],"except":["r"],"volatile":true}`)
	b.Expect(`42["m","except"]`)
	// another namespace
	e.ok(t, "POST", "/emit", `{"namespace":"/chat","event":"m","args":[1.5]}`)
	c.Expect(`42/chat,["m",1.5]`)
	e.ok(t, "POST", "/emit", `{"namespace":"chat","event":"m","args":[{"n":12345678901234567890}]}`)
	c.Expect(`42/chat,["m",{"n":12345678901234567890}]`) // numbers kept as written

	a.ExpectNothing(100 * time.Millisecond)
	b.ExpectNothing(0)
	c.ExpectNothing(0)
}

// answerAcks answers every event that asks for an ack with reply.
func answerAcks(t *testing.T, c *wsClient, reply string, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		f := c.Read()
		if !strings.HasPrefix(f, "42") {
			t.Fatalf("frame %q", f)
		}
		id := f[2:strings.IndexByte(f, '[')]
		c.Send("43" + id + reply)
	}
}

func TestEmitWithAcks(t *testing.T) {
	e := newEnv(t)
	a, aid := e.client(t, "/")
	b, bid := e.client(t, "/")
	silent, silentID := e.client(t, "/")
	e.ok(t, "POST", "/join", `{"sockets":["`+aid+`","`+bid+`"],"rooms":["r"]}`)
	aID, bID := aid, bid

	call := func(body string) chan any {
		ch := make(chan any, 1)
		go func() {
			req, _ := http.NewRequest("POST", e.api.URL+"/socketio-api/emit", strings.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+token)
			resp, err := (&http.Client{Timeout: waitFor}).Do(req)
			if err != nil {
				ch <- err
				return
			}
			defer resp.Body.Close()
			var v any
			_ = json.NewDecoder(resp.Body).Decode(&v)
			ch <- v
		}()
		return ch
	}
	wait := func(ch chan any) map[string]any {
		t.Helper()
		select {
		case v := <-ch:
			m, ok := v.(map[string]any)
			if !ok {
				t.Fatalf("answer %v", v)
			}
			return m
		case <-time.After(waitFor):
			t.Fatal("no answer")
		}
		return nil
	}

	// every selected client answers: one ack per socket, with its id and
	// every argument, binary as {"_binary": ...}
	ch := call(`{"event":"q","to":["r"],"ack_timeout":"3s"}`)
	answerAcks(t, a, `["from-a",{"n":42},"third"]`, 1)
	f := b.Read()
	id := f[2:strings.IndexByte(f, '[')]
	b.Send("461-" + id + `["re",{"n":42},{"_placeholder":true,"num":0}]`)
	b.SendBinary([]byte{9})
	m := wait(ch)
	bySocket := func(m map[string]any) map[string]any {
		out := map[string]any{}
		acks, _ := m["acks"].([]any)
		for _, x := range acks {
			r, _ := x.(map[string]any)
			sid, _ := r["socket"].(string)
			out[sid] = r["args"]
		}
		return out
	}
	got := bySocket(m)
	want := map[string]any{
		aID: []any{"from-a", map[string]any{"n": float64(42)}, "third"},
		bID: []any{"re", map[string]any{"n": float64(42)}, map[string]any{"_binary": "CQ=="}},
	}
	if !reflect.DeepEqual(got, want) || !reflect.DeepEqual(m["timed_out"], []any{}) {
		t.Fatalf("answer %v", m)
	}

	// one client never answers: what arrived, and the one that timed out
	start := time.Now()
	ch = call(`{"event":"q","ack_timeout":"300ms"}`)
	answerAcks(t, a, `["a2"]`, 1)
	answerAcks(t, b, `["b2"]`, 1)
	if f := silent.Read(); !strings.HasPrefix(f, `42`) {
		t.Fatalf("silent got %q", f)
	}
	m = wait(ch)
	if el := time.Since(start); el < 300*time.Millisecond {
		t.Fatalf("answered after %v", el)
	}
	if got := bySocket(m); len(got) != 2 || !reflect.DeepEqual(got[aID], []any{"a2"}) ||
		!reflect.DeepEqual(m["timed_out"], []any{silentID}) {
		t.Fatalf("answer %v", m)
	}

	// nobody selected: an empty list at once
	m = wait(call(`{"event":"q","to":["empty-room"],"ack_timeout":"5s"}`))
	if acks, ok := m["acks"].([]any); !ok || len(acks) != 0 || !reflect.DeepEqual(m["timed_out"], []any{}) {
		t.Fatalf("answer %v", m)
	}
}

func TestJoinLeaveDisconnect(t *testing.T) {
	e := newEnv(t)
	a, aid := e.client(t, "/")
	b, bid := e.client(t, "/")
	roomsOf := func(id string) []string {
		t.Helper()
		for _, s := range e.ok(t, "GET", "/sockets", "").([]any) {
			m := s.(map[string]any)
			if m["id"] == id {
				var out []string
				for _, r := range m["rooms"].([]any) {
					out = append(out, r.(string))
				}
				return out
			}
		}
		return nil
	}
	e.ok(t, "POST", "/join", `{"sockets":["`+aid+`"],"rooms":["x","y"]}`)
	if got, want := roomsOf(aid), sorted(aid, "x", "y"); !reflect.DeepEqual(got, want) {
		t.Fatalf("rooms %v, want %v", got, want)
	}
	// in: every socket in x (only a) joins z; b is left alone
	e.ok(t, "POST", "/join", `{"in":["x"],"rooms":["z"]}`)
	e.ok(t, "POST", "/join", `{"in":["`+bid+`"],"rooms":["x"]}`)
	e.ok(t, "POST", "/leave", `{"in":["x"],"except":["z"],"rooms":["x"]}`) // b leaves x
	if got := roomsOf(bid); !reflect.DeepEqual(got, []string{bid}) {
		t.Fatalf("b rooms %v", got)
	}
	e.ok(t, "POST", "/leave", `{"sockets":["`+aid+`"],"rooms":["y"]}`)
	if got, want := roomsOf(aid), sorted(aid, "x", "z"); !reflect.DeepEqual(got, want) {
		t.Fatalf("rooms %v, want %v", got, want)
	}

	// disconnect from the namespace, then close a whole connection
	e.ok(t, "POST", "/disconnect", `{"in":["z"]}`)
	a.Expect("41")
	e.ok(t, "POST", "/disconnect", `{"sockets":["`+bid+`"],"close":true}`)
	b.Expect("41")
	b.ExpectClosed()
	if socks := e.ok(t, "GET", "/sockets", "").([]any); len(socks) != 0 {
		t.Fatalf("sockets left %v", socks)
	}
	if st := e.h.Stats(); st.Calls["join"] != 3 || st.Calls["leave"] != 2 || st.Calls["disconnect"] != 2 || st.Errors["join"] != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func sorted(s ...string) []string {
	slices.Sort(s)
	return s
}

func TestSocketsAndRooms(t *testing.T) {
	e := newEnv(t)
	a := dial(t, e.sio, "nick=ann", http.Header{"X-App": {"1"}})
	aid := a.Connect("/", `{"token":"t"}`)
	_, bid := e.client(t, "/")
	_, cid := e.client(t, "/chat")
	a.Send(`451-1["setData",{"nick":"ann","avatar":{"_placeholder":true,"num":0}}]`)
	a.SendBinary([]byte{7, 7})
	a.Expect("431[]")
	e.ok(t, "POST", "/join", `{"sockets":["`+aid+`","`+bid+`"],"rooms":["lobby"]}`)
	e.ok(t, "POST", "/join", `{"sockets":["`+aid+`"],"rooms":["vip"]}`)

	socks := e.ok(t, "GET", "/sockets", "").([]any)
	if len(socks) != 2 {
		t.Fatalf("sockets %v", socks)
	}
	var ann map[string]any
	for _, s := range socks {
		if m := s.(map[string]any); m["id"] == aid {
			ann = m
		}
	}
	if !reflect.DeepEqual(ann["data"], map[string]any{"nick": "ann", "avatar": map[string]any{"_binary": "Bwc="}}) {
		t.Fatalf("data %v", ann["data"])
	}
	hs := ann["handshake"].(map[string]any)
	if hs["address"] != "127.0.0.1" || hs["query"].(map[string]any)["nick"] != "ann" ||
		hs["headers"].(map[string]any)["x-app"] != "1" || hs["auth"].(map[string]any)["token"] != "t" {
		t.Fatalf("handshake %v", hs)
	}

	// filtered by room, several rooms allowed
	in := e.ok(t, "GET", "/sockets?room=vip", "").([]any)
	if len(in) != 1 || in[0].(map[string]any)["id"] != aid {
		t.Fatalf("in vip %v", in)
	}
	if in := e.ok(t, "GET", "/sockets?namespace=/chat", "").([]any); len(in) != 1 || in[0].(map[string]any)["id"] != cid {
		t.Fatalf("in /chat %v", in)
	}

	rooms := e.ok(t, "GET", "/rooms", "")
	want := []any{
		map[string]any{"room": "lobby", "sockets": 2.0},
		map[string]any{"room": "vip", "sockets": 1.0},
	}
	if !reflect.DeepEqual(rooms, want) {
		t.Fatalf("rooms %v", rooms)
	}
	if rooms := e.ok(t, "GET", "/rooms?namespace=%2Fchat", ""); !reflect.DeepEqual(rooms, []any{}) {
		t.Fatalf("/chat rooms %v", rooms)
	}
	if st := e.h.Stats(); st.Calls["sockets"] != 3 || st.Calls["rooms"] != 2 {
		t.Fatalf("stats %+v", st)
	}
}

// TestLargeAllowedBody checks that a body under the limit goes through.
func TestLargeAllowedBody(t *testing.T) {
	e := newEnv(t)
	c, _ := e.client(t, "/")
	big := bytes.Repeat([]byte("y"), 500_000)
	e.ok(t, "POST", "/emit", `{"event":"m","args":["`+string(big)+`"]}`)
	if f := c.Read(); len(f) < 500_000 {
		t.Fatalf("frame of %d bytes", len(f))
	}
}

// NewTrusted serves without a token (its caller authenticates); New never
// does.
func TestNewTrusted(t *testing.T) {
	srv := socketio.NewServer(nil)
	defer srv.Close()
	get := func(h http.Handler) int {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/rooms", nil))
		return rec.Code
	}
	if code := get(api.NewTrusted(srv)); code != http.StatusOK {
		t.Fatalf("trusted handler without a token: %d", code)
	}
	h, err := api.New(srv, "t")
	if err != nil {
		t.Fatal(err)
	}
	if code := get(h); code != http.StatusUnauthorized {
		t.Fatalf("token handler without a token: %d", code)
	}
}
