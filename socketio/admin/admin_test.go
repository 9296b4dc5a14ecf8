package admin_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"golang.org/x/crypto/bcrypt"

	"github.com/caddy-socketio/caddy-socketio/socketio"
	"github.com/caddy-socketio/caddy-socketio/socketio/admin"
	"github.com/caddy-socketio/caddy-socketio/socketio/siotest"
)

func newServer(t *testing.T, opts *socketio.Options) (*socketio.Server, *httptest.Server) {
	t.Helper()
	if opts == nil {
		opts = &socketio.Options{}
	}
	opts.Engine.PingInterval = 5 * time.Second
	opts.Engine.PingTimeout = 5 * time.Second
	srv := socketio.NewServer(opts)
	hs := httptest.NewServer(srv)
	t.Cleanup(func() {
		_ = srv.Close()
		hs.Close()
	})
	return srv, hs
}

func instrument(t *testing.T, srv *socketio.Server, opts admin.Options) *admin.Instrumentation {
	t.Helper()
	if opts.StatsInterval == 0 {
		opts.StatsInterval = 100 * time.Millisecond
	}
	a, err := admin.Instrument(srv, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Stop)
	return a
}

// event is one EVENT packet of the admin namespace.
type event struct {
	name string
	args []json.RawMessage
}

// next returns the next admin event called name, skipping the others
// (stats arrive at any time).
func next(t *testing.T, c *siotest.WSClient, name string) event {
	t.Helper()
	for range 500 {
		f := c.Read()
		body, ok := strings.CutPrefix(f, "42/admin,")
		if !ok {
			continue
		}
		var raw []json.RawMessage
		if err := json.Unmarshal([]byte(body), &raw); err != nil {
			t.Fatalf("frame %q: %v", f, err)
		}
		var n string
		_ = json.Unmarshal(raw[0], &n)
		if n == name {
			return event{n, raw[1:]}
		}
	}
	t.Fatalf("no %q event", name)
	return event{}
}

func (e event) arg(t *testing.T, i int, v any) {
	t.Helper()
	if err := json.Unmarshal(e.args[i], v); err != nil {
		t.Fatalf("%s arg %d %s: %v", e.name, i, e.args[i], err)
	}
}

type serialized struct {
	ID        string   `json:"id"`
	ClientID  string   `json:"clientId"`
	Transport string   `json:"transport"`
	Nsp       string   `json:"nsp"`
	Rooms     []string `json:"rooms"`
	Handshake struct {
		Address string            `json:"address"`
		Headers map[string]string `json:"headers"`
		Issued  int64             `json:"issued"`
	} `json:"handshake"`
}

func joinOnEvent(srv *socketio.Server) {
	srv.Of("/").OnConnection(func(s *socketio.Socket) {
		s.On("join", func(args []any, ack socketio.Ack) {
			_ = s.Join(socketio.Room(args[0].(string)))
			if ack != nil {
				_ = ack()
			}
		})
	})
}

func TestOptionsValidated(t *testing.T) {
	srv, _ := newServer(t, nil)
	if _, err := admin.Instrument(srv, admin.Options{}); err == nil {
		t.Fatal("no Auth and no NoAuth accepted")
	}
	if _, err := admin.Instrument(srv, admin.Options{Auth: &admin.BasicAuth{Username: "a", PasswordHash: []byte("plain")}}); err == nil {
		t.Fatal("a password that is not a bcrypt hash accepted")
	}
}

// Development mode without authentication: config, the socket list with
// rooms, stats, and the live socket, room and event traces.
func TestDevelopmentMode(t *testing.T) {
	srv, hs := newServer(t, nil)
	joinOnEvent(srv)
	instrument(t, srv, admin.Options{NoAuth: true, ServerID: "node-a"})

	user := siotest.DialWS(t, hs.URL, "", nil)
	uid := user.Connect("/", "")
	user.Emit("/", 1, "join", "lobby")
	user.Expect("431[]")

	adm := siotest.DialWS(t, hs.URL, "", nil)
	adm.Connect("/admin", "")
	var cfg struct{ SupportedFeatures []string }
	next(t, adm, "config").arg(t, 0, &cfg)
	for _, f := range []string{"EMIT", "JOIN", "LEAVE", "DISCONNECT", "MJOIN", "MLEAVE", "MDISCONNECT", "AGGREGATED_EVENTS", "ALL_EVENTS"} {
		if !slices.Contains(cfg.SupportedFeatures, f) {
			t.Errorf("feature %s missing from %v", f, cfg.SupportedFeatures)
		}
	}
	var all []serialized
	next(t, adm, "all_sockets").arg(t, 0, &all)
	i := slices.IndexFunc(all, func(s serialized) bool { return s.ID == uid })
	if i < 0 {
		t.Fatalf("user socket %s not in all_sockets %+v", uid, all)
	}
	got := all[i]
	slices.Sort(got.Rooms)
	want := []string{uid, "lobby"}
	slices.Sort(want)
	if got.Nsp != "/" || !slices.Equal(got.Rooms, want) || got.Transport != "websocket" ||
		len(got.ClientID) != 12 || got.Handshake.Address != "127.0.0.1" || got.Handshake.Issued == 0 ||
		got.Handshake.Headers["host"] == "" {
		t.Fatalf("serialized socket %+v", got)
	}

	var stats struct {
		ServerID            string
		Hostname            string
		Pid                 int
		Uptime              float64
		ClientsCount        int
		PollingClientsCount int
		AggregatedEvents    []struct {
			Timestamp int64
			Type      string
			Count     int
		}
		Namespaces []struct {
			Name         string
			SocketsCount int
		}
	}
	next(t, adm, "server_stats").arg(t, 0, &stats)
	if stats.ServerID != "node-a" || stats.Pid == 0 || stats.Uptime <= 0 || stats.ClientsCount != 2 {
		t.Fatalf("stats %+v", stats)
	}
	counts := map[string]int{}
	for _, n := range stats.Namespaces {
		counts[n.Name] = n.SocketsCount
	}
	if counts["/"] != 1 || counts["/admin"] != 1 {
		t.Fatalf("namespaces %+v", stats.Namespaces)
	}

	// A second client: connected, joins a room, sends an event, receives
	// one, leaves.
	srv.Of("/").OnConnection(func(s *socketio.Socket) {
		s.On("ping!", func(args []any, _ socketio.Ack) { _ = s.Emit("pong!", args...) })
		s.On("name", func(args []any, _ socketio.Ack) { s.SetData(map[string]any{"name": args[0]}) })
	})
	u2 := siotest.DialWS(t, hs.URL, "", nil)
	id2 := u2.Connect("/", "")
	var conn serialized
	next(t, adm, "socket_connected").arg(t, 0, &conn)
	if conn.ID != id2 || !slices.Equal(conn.Rooms, []string{id2}) {
		t.Fatalf("socket_connected %+v", conn)
	}
	u2.Emit("/", -1, "join", "r2")
	var nsp, room, id string
	ev := next(t, adm, "room_joined")
	ev.arg(t, 0, &nsp)
	ev.arg(t, 1, &room)
	ev.arg(t, 2, &id)
	if nsp != "/" || room != "r2" || id != id2 {
		t.Fatalf("room_joined %s %s %s", nsp, room, id)
	}
	u2.Emit("/", -1, "ping!", 42)
	var args []any
	for range 5 { // the join event of above comes first
		ev = next(t, adm, "event_received")
		ev.arg(t, 2, &args)
		if len(args) > 0 && args[0] == "ping!" {
			break
		}
	}
	if len(args) != 2 || args[0] != "ping!" || args[1] != float64(42) {
		t.Fatalf("event_received args %v", args)
	}
	ev = next(t, adm, "event_sent")
	ev.arg(t, 1, &id)
	ev.arg(t, 2, &args)
	if id != id2 || len(args) != 2 || args[0] != "pong!" {
		t.Fatalf("event_sent %s %v", id, args)
	}
	u2.Emit("/", -1, "name", "ada")
	var upd struct {
		ID   string
		Nsp  string
		Data map[string]string
	}
	next(t, adm, "socket_updated").arg(t, 0, &upd)
	if upd.ID != id2 || upd.Nsp != "/" || upd.Data["name"] != "ada" {
		t.Fatalf("socket_updated %+v", upd)
	}
	u2.Send("41")
	left := map[string]bool{}
	for range 2 {
		ev = next(t, adm, "room_left")
		ev.arg(t, 1, &room)
		left[room] = true
	}
	if !left["r2"] || !left[id2] {
		t.Fatalf("room_left for %v", left)
	}
	var reason string
	ev = next(t, adm, "socket_disconnected")
	ev.arg(t, 1, &id)
	ev.arg(t, 2, &reason)
	if id != id2 || reason != "client namespace disconnect" {
		t.Fatalf("socket_disconnected %s %s", id, reason)
	}
}

// The UI's actions: _disconnect one socket (its id as the filter), join
// and leave a room, emit.
func TestActions(t *testing.T) {
	srv, hs := newServer(t, nil)
	instrument(t, srv, admin.Options{NoAuth: true})
	u1 := siotest.DialWS(t, hs.URL, "", nil)
	id1 := u1.Connect("/", "")
	u2 := siotest.DialWS(t, hs.URL, "", nil)
	id2 := u2.Connect("/", "")
	adm := siotest.DialWS(t, hs.URL, "", nil)
	adm.Connect("/admin", "")
	next(t, adm, "config")

	adm.Emit("/admin", -1, "join", "/", "vip", id1)
	next(t, adm, "room_joined")
	s1, _ := srv.Of("/").Socket(socketio.SocketID(id1))
	if !slices.Contains(s1.Rooms(), "vip") {
		t.Fatalf("rooms of %s: %v", id1, s1.Rooms())
	}
	adm.Emit("/admin", -1, "emit", "/", "vip", "hello", "world")
	u1.Expect(`42["hello","world"]`)
	adm.Emit("/admin", -1, "leave", "/", "vip", id1)
	next(t, adm, "room_left")
	if slices.Contains(s1.Rooms(), "vip") {
		t.Fatalf("still in vip: %v", s1.Rooms())
	}

	adm.Emit("/admin", -1, "_disconnect", "/", false, id2)
	u2.Expect("41")
	var id string
	next(t, adm, "socket_disconnected").arg(t, 1, &id)
	if id != id2 {
		t.Fatalf("disconnected %s, want %s", id, id2)
	}
	u1.ExpectNothing(200 * time.Millisecond) // the other socket stays
	if _, ok := srv.Of("/").Socket(socketio.SocketID(id1)); !ok {
		t.Fatal("the other socket was disconnected too")
	}
	// A namespace that does not exist is not created by an action.
	adm.Emit("/admin", -1, "_disconnect", "/nowhere", false, nil)
	time.Sleep(50 * time.Millisecond)
	if _, ok := srv.Namespace("/nowhere"); ok {
		t.Fatal("an action created a namespace")
	}
}

func TestReadOnly(t *testing.T) {
	srv, hs := newServer(t, nil)
	instrument(t, srv, admin.Options{NoAuth: true, ReadOnly: true})
	u := siotest.DialWS(t, hs.URL, "", nil)
	id := u.Connect("/", "")
	adm := siotest.DialWS(t, hs.URL, "", nil)
	adm.Connect("/admin", "")
	var cfg struct{ SupportedFeatures []string }
	next(t, adm, "config").arg(t, 0, &cfg)
	if !slices.Equal(cfg.SupportedFeatures, []string{"AGGREGATED_EVENTS", "ALL_EVENTS"}) {
		t.Fatalf("read-only features %v", cfg.SupportedFeatures)
	}
	adm.Emit("/admin", -1, "_disconnect", "/", false, id)
	u.ExpectNothing(300 * time.Millisecond)
}

// Production mode: stats only, as Node.
func TestProductionMode(t *testing.T) {
	srv, hs := newServer(t, nil)
	instrument(t, srv, admin.Options{NoAuth: true, Production: true})
	adm := siotest.DialWS(t, hs.URL, "", nil)
	adm.Connect("/admin", "")
	var cfg struct{ SupportedFeatures []string }
	next(t, adm, "config").arg(t, 0, &cfg)
	if slices.Contains(cfg.SupportedFeatures, "ALL_EVENTS") {
		t.Fatalf("production features %v", cfg.SupportedFeatures)
	}
	u := siotest.DialWS(t, hs.URL, "", nil)
	u.Connect("/", "")
	for range 3 {
		f := adm.Read()
		if !strings.HasPrefix(f, `42/admin,["server_stats"`) {
			t.Fatalf("production mode sent %q", f)
		}
	}
}

func TestBasicAuth(t *testing.T) {
	srv, hs := newServer(t, nil)
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	instrument(t, srv, admin.Options{Auth: &admin.BasicAuth{Username: "admin", PasswordHash: hash}})

	c := siotest.DialWS(t, hs.URL, "", nil)
	for _, auth := range []string{
		``,
		`{"username":"admin","password":"wrong"}`,
		`{"username":"other","password":"s3cret"}`,
		`{"sessionId":"made-up"}`,
		`{"username":"admin","password":` + `"` + strings.Repeat("x", 300) + `"}`,
	} {
		if got := c.ConnectRaw("/admin", auth); got != `44/admin,{"message":"invalid credentials"}` {
			t.Fatalf("auth %s: %q", auth, got)
		}
	}
	c.Connect("/admin", `{"username":"admin","password":"s3cret"}`)
	var session string
	next(t, c, "session").arg(t, 0, &session)
	if len(session) < 16 {
		t.Fatalf("session %q", session)
	}
	next(t, c, "config")

	// The session id alone lets the UI back in (after a page reload), and
	// no new session is handed out.
	c2 := siotest.DialWS(t, hs.URL, "", nil)
	c2.Connect("/admin", `{"sessionId":"`+session+`"}`)
	for range 20 {
		f := c2.Read()
		if strings.HasPrefix(f, `42/admin,["session"`) {
			t.Fatalf("new session after a session login: %q", f)
		}
		if strings.HasPrefix(f, `42/admin,["config"`) {
			break
		}
	}
}

// The hash formats of bcrypt implementations: $2a$ (Go, caddy
// hash-password), $2b$ and $2y$ (bcryptjs, PHP).
func TestHashVariants(t *testing.T) {
	hash, _ := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	for _, v := range []string{"2a", "2b", "2y"} {
		h := []byte("$" + v + string(hash[3:]))
		srv, hs := newServer(t, nil)
		instrument(t, srv, admin.Options{Auth: &admin.BasicAuth{Username: "u", PasswordHash: h}})
		c := siotest.DialWS(t, hs.URL, "", nil)
		c.Connect("/admin", `{"username":"u","password":"pw"}`)
	}
}

func TestStopAndUpdate(t *testing.T) {
	srv, hs := newServer(t, nil)
	a := instrument(t, srv, admin.Options{NoAuth: true})
	adm := siotest.DialWS(t, hs.URL, "", nil)
	adm.Connect("/admin", "")
	a.Stop()
	for range 100 {
		if f := adm.Read(); f == "41/admin," {
			break
		}
	}
	if got := adm.ConnectRaw("/admin", ""); got != `44/admin,{"message":"Invalid namespace"}` {
		t.Fatalf("connect after Stop: %q", got)
	}
	if err := a.Update(admin.Options{Namespace: "/other", NoAuth: true}); err == nil {
		t.Fatal("namespace change accepted")
	}
	if err := a.Update(admin.Options{NoAuth: true, ReadOnly: true}); err != nil {
		t.Fatal(err)
	}
	adm.Connect("/admin", "")
	var cfg struct{ SupportedFeatures []string }
	next(t, adm, "config").arg(t, 0, &cfg)
	if slices.Contains(cfg.SupportedFeatures, "DISCONNECT") {
		t.Fatalf("read-only update not applied: %v", cfg.SupportedFeatures)
	}
}

// A polling client that upgrades is reported with its new transport.
func TestTransportUpgrade(t *testing.T) {
	srv, hs := newServer(t, nil)
	instrument(t, srv, admin.Options{NoAuth: true})
	adm := siotest.DialWS(t, hs.URL, "", nil)
	adm.Connect("/admin", "")
	next(t, adm, "config")
	var stats struct{ PollingClientsCount int }
	p := dialPolling(t, hs.URL)
	id := p.connect()
	for range 50 {
		next(t, adm, "server_stats").arg(t, 0, &stats)
		if stats.PollingClientsCount == 1 {
			break
		}
	}
	if stats.PollingClientsCount != 1 {
		t.Fatal("polling client not counted")
	}
	p.upgrade()
	var upd map[string]string
	next(t, adm, "socket_updated").arg(t, 0, &upd)
	if upd["id"] != id || upd["transport"] != "websocket" || upd["nsp"] != "/" {
		t.Fatalf("socket_updated %v", upd)
	}
}

// pollingClient is a polling client that can upgrade.
type pollingClient struct {
	t    *testing.T
	base string
	sid  string
	ws   *websocket.Conn
}

func pollDo(t *testing.T, method, url, body string) string {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 {
		t.Fatalf("%s %s: %d %s", method, url, res.StatusCode, b)
	}
	return string(b)
}

func dialPolling(t *testing.T, base string) *pollingClient {
	t.Helper()
	open := pollDo(t, "GET", base+"/socket.io/?EIO=4&transport=polling", "")
	var hs struct{ Sid string }
	if err := json.Unmarshal([]byte(strings.TrimPrefix(open, "0")), &hs); err != nil {
		t.Fatalf("open %q: %v", open, err)
	}
	return &pollingClient{t: t, base: base, sid: hs.Sid}
}

func (p *pollingClient) url() string {
	return p.base + "/socket.io/?EIO=4&transport=polling&sid=" + p.sid
}

func (p *pollingClient) connect() string {
	pollDo(p.t, "POST", p.url(), "40")
	reply := pollDo(p.t, "GET", p.url(), "")
	var body struct{ Sid string }
	if err := json.Unmarshal([]byte(strings.TrimPrefix(reply, "40")), &body); err != nil {
		p.t.Fatalf("connect reply %q: %v", reply, err)
	}
	return body.Sid
}

func (p *pollingClient) upgrade() {
	u := "ws" + strings.TrimPrefix(p.base, "http") + "/socket.io/?EIO=4&transport=websocket&sid=" + p.sid
	ws, _, err := websocket.DefaultDialer.Dial(u, nil)
	if err != nil {
		p.t.Fatal(err)
	}
	p.t.Cleanup(func() { _ = ws.Close() })
	p.ws = ws
	_ = ws.WriteMessage(websocket.TextMessage, []byte("2probe"))
	_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, m, err := ws.ReadMessage(); err != nil || string(m) != "3probe" {
		p.t.Fatalf("probe answer %q %v", m, err)
	}
	_ = ws.WriteMessage(websocket.TextMessage, []byte("5"))
}
