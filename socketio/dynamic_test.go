package socketio_test

import (
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/caddy-socketio/caddy-socketio/socketio"
	"github.com/caddy-socketio/caddy-socketio/socketio/siotest"
)

// A refused connect to a dynamic namespace creates nothing: the child is
// provisional until a socket passes the middlewares.
func TestDynamicNamespaceCreatedOnlyOnceAccepted(t *testing.T) {
	srv, hs := newTestServer(t, &socketio.Options{CleanupEmptyChildNamespaces: true})
	p := srv.OfRegexp(regexp.MustCompile(`^/room-\d+$`))
	var seen []string
	p.Use(func(s *socketio.Socket) error {
		// The middleware sees its namespace, which is not listed yet.
		if _, ok := srv.Namespace(s.Namespace().Name()); ok {
			t.Errorf("namespace %s listed before a socket was accepted", s.Namespace().Name())
		}
		seen = append(seen, s.Namespace().Name())
		if s.Handshake().Auth["token"] != "ok" {
			return errors.New("not allowed")
		}
		return nil
	})
	c := dialWS(t, hs)
	if got := c.ConnectRaw("/room-1", `{"token":"no"}`); got != `44/room-1,{"message":"not allowed"}` {
		t.Fatalf("got %q", got)
	}
	if _, ok := srv.Namespace("/room-1"); ok || len(p.Children()) != 0 || srv.DynamicNamespaces() != 0 {
		t.Fatal("a refused connect left its namespace behind")
	}
	c.Connect("/room-1", `{"token":"ok"}`)
	if _, ok := srv.Namespace("/room-1"); !ok || len(p.Children()) != 1 || srv.DynamicNamespaces() != 1 {
		t.Fatal("accepted connect did not create the namespace")
	}
	// The last socket leaving removes it.
	c.Send("41/room-1,")
	waitFor(t, "namespace removed", func() bool {
		_, ok := srv.Namespace("/room-1")
		return !ok && len(p.Children()) == 0 && srv.DynamicNamespaces() == 0
	})
	if len(seen) != 2 {
		t.Fatalf("middleware ran %d times", len(seen))
	}
}

// Without CleanupEmptyChildNamespaces children stay; two sockets share one.
func TestDynamicNamespaceKeptWithoutCleanup(t *testing.T) {
	srv, hs := newTestServer(t, nil)
	p := srv.OfRegexp(regexp.MustCompile(`^/r\d$`))
	a, b := dialWS(t, hs), dialWS(t, hs)
	a.Connect("/r1", "")
	b.Connect("/r1", "")
	if len(p.Children()) != 1 {
		t.Fatalf("%d children", len(p.Children()))
	}
	a.Send("41/r1,")
	b.Send("41/r1,")
	time.Sleep(50 * time.Millisecond)
	if _, ok := srv.Namespace("/r1"); !ok {
		t.Fatal("child removed without CleanupEmptyChildNamespaces")
	}
}

func TestMaxDynamicNamespaces(t *testing.T) {
	logs := new(siotest.LogBuffer)
	srv, hs := newTestServer(t, &socketio.Options{
		CleanupEmptyChildNamespaces: true,
		Limits:                      socketio.Limits{MaxDynamicNamespaces: 3},
		Logger:                      slogTo(logs),
	})
	srv.OfRegexp(regexp.MustCompile(`^/d\d+$`))
	fixed := srv.OfRegexp(regexp.MustCompile(`^/fixed$`))
	fixed.KeepEmptyChildren()
	c := dialWS(t, hs)
	for i := range 3 {
		c.Connect(fmt.Sprintf("/d%d", i), "")
	}
	if got := c.ConnectRaw("/d3", ""); got != `44/d3,{"message":"Too many dynamic namespaces"}` {
		t.Fatalf("got %q", got)
	}
	dialWS(t, hs).Connect("/d1", "") // existing namespaces are still joined
	c.Connect("/fixed", "")
	c.Send("41/d0,")
	waitFor(t, "room for one more", func() bool { return srv.DynamicNamespaces() == 2 })
	c.Connect("/d3", "")
	if st := srv.LimitStats(); st.DynamicNamespaces != 1 {
		t.Fatalf("dynamic_namespaces hits %d, want 1", st.DynamicNamespaces)
	}
	if n := logs.Count("too many dynamic namespaces"); n != 1 {
		t.Fatalf("logged %d times", n)
	}
}

func TestNamespaceConnectRate(t *testing.T) {
	srv, hs := newTestServer(t, &socketio.Options{
		Limits: socketio.Limits{NamespaceConnectRate: 1, NamespaceConnectBurst: 3, MaxNamespaces: -1},
	})
	srv.OfRegexp(regexp.MustCompile(`^/n\d+$`))
	c := dialWS(t, hs)
	for i := range 3 {
		c.Connect(fmt.Sprintf("/n%d", i), "")
	}
	if got := c.ConnectRaw("/n9", ""); got != `44/n9,{"message":"Too many namespace connects"}` {
		t.Fatalf("got %q", got)
	}
	if _, ok := srv.Namespace("/n9"); ok {
		t.Fatal("a rate-limited connect created its namespace")
	}
	time.Sleep(1100 * time.Millisecond) // one token back
	c.Connect("/n9", "")
	if st := srv.LimitStats(); st.NamespaceConnectRate != 1 {
		t.Fatalf("hits %d", st.NamespaceConnectRate)
	}
}

// The attack of issue 11: one websocket connecting to and leaving distinct
// dynamic namespaces must leave nothing behind.
func TestDynamicNamespaceChurnLeavesNothing(t *testing.T) {
	n := 20000
	if testing.Short() || raceEnabled {
		n = 4000
	}
	srv, hs := newTestServer(t, &socketio.Options{
		CleanupEmptyChildNamespaces: true,
		Limits:                      socketio.Limits{NamespaceConnectRate: -1},
	})
	p := srv.OfRegexp(regexp.MustCompile(`^/room-\d+$`))
	refuseOdd := func(s *socketio.Socket) error {
		if strings.HasSuffix(s.Namespace().Name(), "1") {
			return errors.New("no")
		}
		return nil
	}
	p.Use(refuseOdd)
	c := dialWS(t, hs)
	c.Connect("/", "")
	churn := func(from, to int) {
		for i := from; i < to; i++ {
			name := fmt.Sprintf("/room-%d", i)
			reply := c.ConnectRaw(name, "")
			if strings.HasPrefix(reply, "40") {
				c.Send("41" + name + ",")
			}
		}
	}
	churn(0, 500) // warm up
	time.Sleep(100 * time.Millisecond)
	base := siotest.HeapInUse()
	churn(500, 500+n)
	c.Connect("/room-0", "") // a round trip: every packet before it was handled
	waitFor(t, "namespaces removed", func() bool { return srv.DynamicNamespaces() == 1 && len(p.Children()) == 1 })
	runtime.GC()
	after := siotest.HeapInUse()
	grown := int64(after) - int64(base)
	t.Logf("%d connect/disconnect cycles: heap %d -> %d bytes (%+d)", n, base, after, grown)
	// 20,000 namespaces kept would be about 100 MB.
	if grown > 4<<20 {
		t.Fatalf("heap grew by %d bytes", grown)
	}
}

func slogTo(w *siotest.LogBuffer) *slog.Logger { return slog.New(slog.NewTextHandler(w, nil)) }

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestMaxConnectBytes(t *testing.T) {
	srv, hs := newTestServer(t, &socketio.Options{Limits: socketio.Limits{MaxConnectBytes: 100}})
	c := dialWS(t, hs)
	if got := c.ConnectRaw("/", `{"a":"`+strings.Repeat("x", 100)+`"}`); got != `44{"message":"Connect payload too large"}` {
		t.Fatalf("got %q", got)
	}
	c.Connect("/", `{"a":"b"}`)
	if st := srv.LimitStats(); st.ConnectBytes != 1 {
		t.Fatalf("hits %d", st.ConnectBytes)
	}
}
