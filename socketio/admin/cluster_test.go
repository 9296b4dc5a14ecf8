package admin_test

import (
	"context"
	"slices"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/caddy-socketio/caddy-socketio/socketio"
	"github.com/caddy-socketio/caddy-socketio/socketio/adapter/redis"
	"github.com/caddy-socketio/caddy-socketio/socketio/adapter/redis/redistest"
	"github.com/caddy-socketio/caddy-socketio/socketio/admin"
	"github.com/caddy-socketio/caddy-socketio/socketio/siotest"
)

// Two servers on one Redis: an admin UI connected to one of them sees both
// servers, the sockets of both, and disconnects a socket of the other.
func TestCluster(t *testing.T) {
	rs := redistest.Start(t)
	key := "admintest"
	node := func(id string) (*socketio.Server, string) {
		c := goredis.NewClient(&goredis.Options{Addr: rs.Addr()})
		t.Cleanup(func() { _ = c.Close() })
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		b, err := redis.New(ctx, c, redis.Options{Key: key, RequestsTimeout: 3 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = b.Close() })
		srv, hs := newServer(t, &socketio.Options{Adapter: b.NewAdapter})
		instrument(t, srv, admin.Options{NoAuth: true, ServerID: id})
		return srv, hs.URL
	}
	_, urlA := node("node-a")
	srvB, urlB := node("node-b")

	ua := siotest.DialWS(t, urlA, "", nil)
	idA := ua.Connect("/", "")
	ub := siotest.DialWS(t, urlB, "", nil)
	idB := ub.Connect("/", "")

	adm := siotest.DialWS(t, urlA, "", nil)
	adm.Connect("/admin", "")
	var all []serialized
	next(t, adm, "all_sockets").arg(t, 0, &all)
	ids := []string{}
	for _, s := range all {
		if s.Nsp == "/" {
			ids = append(ids, s.ID)
		}
	}
	slices.Sort(ids)
	want := []string{idA, idB}
	slices.Sort(want)
	if !slices.Equal(ids, want) {
		t.Fatalf("all_sockets of / %v, want %v", ids, want)
	}
	for _, s := range all {
		if s.ID == idB && (len(s.ClientID) != 12 || s.Transport != "websocket") {
			t.Fatalf("remote socket %+v", s)
		}
	}

	servers := map[string]bool{}
	for range 50 {
		var st struct{ ServerID string }
		next(t, adm, "server_stats").arg(t, 0, &st)
		servers[st.ServerID] = true
		if len(servers) == 2 {
			break
		}
	}
	if !servers["node-a"] || !servers["node-b"] {
		t.Fatalf("servers seen %v", servers)
	}

	// A socket connecting to node B shows up at the UI on node A.
	ub2 := siotest.DialWS(t, urlB, "", nil)
	idB2 := ub2.Connect("/", "")
	for range 20 {
		var s serialized
		next(t, adm, "socket_connected").arg(t, 0, &s)
		if s.ID == idB2 {
			break
		}
	}

	// Disconnect, from node A's UI, the socket on node B.
	adm.Emit("/admin", -1, "_disconnect", "/", false, idB)
	ub.Expect("41")
	for range 20 {
		var id string
		next(t, adm, "socket_disconnected").arg(t, 1, &id)
		if id == idB {
			break
		}
	}
	if _, ok := srvB.Of("/").Socket(socketio.SocketID(idB2)); !ok {
		t.Fatal("the other socket of node B was disconnected too")
	}
	ua.ExpectNothing(100 * time.Millisecond)
}
