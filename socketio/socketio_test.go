package socketio_test

import (
	"context"
	"errors"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddy-socketio/caddy-socketio/socketio"
)

func TestLibraryNeverImportsCaddy(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "./...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		if strings.Contains(dep, "caddyserver") || strings.HasPrefix(dep, "go.uber.org/zap") {
			t.Errorf("socketio depends on %s", dep)
		}
	}
}

func TestConnectReplyAndWelcome(t *testing.T) {
	srv, hs := newTestServer(t, nil)
	hosts := make(chan string, 1)
	srv.Of("/").OnConnection(func(s *socketio.Socket) {
		hosts <- s.Handshake().Headers["host"]
		_ = s.Emit("welcome", map[string]any{"id": s.ID(), "auth": s.Handshake().Auth})
	})
	c := dialWS(t, hs)
	id := c.Connect("/", `{"token":"abc"}`)
	if len(id) != 20 {
		t.Fatalf("socket id %q is not 20 chars", id)
	}
	if id == c.SID {
		t.Fatal("socket id must differ from the engine sid")
	}
	if host := <-hosts; host != strings.TrimPrefix(hs.URL, "http://") {
		t.Fatalf("handshake host header %q", host)
	}
	want := `42["welcome",{"auth":{"token":"abc"},"id":"` + id + `"}]`
	if got := c.Read(); got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestInvalidNamespace(t *testing.T) {
	_, hs := newTestServer(t, nil)
	c := dialWS(t, hs)
	c.Send("40/nope,")
	if got := c.Read(); got != `44/nope,{"message":"Invalid namespace"}` {
		t.Fatalf("got %q", got)
	}
	// The connection stays usable after a CONNECT_ERROR.
	c.Connect("/", "")
}

func TestMiddlewareRefusal(t *testing.T) {
	srv, hs := newTestServer(t, nil)
	srv.Of("/admin").Use(func(s *socketio.Socket) error {
		if s.Handshake().Auth["token"] == "ok" {
			return nil
		}
		if s.Handshake().Auth["token"] == "plain" {
			return errors.New("plain refusal")
		}
		return &socketio.ConnectError{Message: "not authorized", Data: map[string]any{"retryIn": 30}}
	})
	c := dialWS(t, hs)
	c.Send("40/admin,")
	if got := c.Read(); got != `44/admin,{"data":{"retryIn":30},"message":"not authorized"}` {
		t.Fatalf("got %q", got)
	}
	c.Send(`40/admin,{"token":"plain"}`)
	if got := c.Read(); got != `44/admin,{"message":"plain refusal"}` {
		t.Fatalf("got %q", got)
	}
	c.Connect("/admin", `{"token":"ok"}`)
}

func TestDynamicNamespaces(t *testing.T) {
	srv, hs := newTestServer(t, nil)
	parent := srv.OfRegexp(regexp.MustCompile(`^/room-\d+$`))
	parent.OnConnection(func(s *socketio.Socket) { _ = s.Emit("hi", s.Namespace().Name()) })
	c := dialWS(t, hs)
	c.Connect("/room-42", "")
	if got := c.Read(); got != `42/room-42,["hi","/room-42"]` {
		t.Fatalf("got %q", got)
	}
	c.Send("40/room-x,")
	if got := c.Read(); got != `44/room-x,{"message":"Invalid namespace"}` {
		t.Fatalf("got %q", got)
	}
	srv2, hs2 := newTestServer(t, nil)
	srv2.OfFunc(func(name string, auth map[string]any) bool { return auth["ok"] == true })
	c2 := dialWS(t, hs2)
	c2.Send(`40/anything,{"ok":false}`)
	if got := c2.Read(); !strings.HasPrefix(got, "44/anything,") {
		t.Fatalf("got %q", got)
	}
	c2.Connect("/anything", `{"ok":true}`)
}

func TestEventsAcksAndCatchAll(t *testing.T) {
	srv, hs := newTestServer(t, nil)
	var mu sync.Mutex
	var seen []string
	srv.Of("/").OnConnection(func(s *socketio.Socket) {
		s.OnAny(func(event string, args []any, ack socketio.Ack) {
			mu.Lock()
			seen = append(seen, event)
			mu.Unlock()
		})
		s.On("sum", func(args []any, ack socketio.Ack) {
			if ack != nil {
				_ = ack("sum", len(args))
				if err := ack("again"); !errors.Is(err, socketio.ErrAckTwice) {
					t.Errorf("second ack: %v", err)
				}
			}
		})
		s.On("7", func(args []any, ack socketio.Ack) { _ = s.Emit("seven", args...) })
		s.On("empty-ack", func(args []any, ack socketio.Ack) { _ = ack() })
	})
	c := dialWS(t, hs)
	c.Connect("/", "")
	c.Send(`4212["sum",1,2,3]`)
	if got := c.Read(); got != `4312["sum",3]` {
		t.Fatalf("ack %q", got)
	}
	c.Send(`42[7,"x"]`)
	if got := c.Read(); got != `42["seven","x"]` {
		t.Fatalf("numeric event %q", got)
	}
	c.Send(`423["empty-ack"]`)
	if got := c.Read(); got != `433[]` {
		t.Fatalf("empty ack %q", got)
	}
	mu.Lock()
	defer mu.Unlock()
	if strings.Join(seen, ",") != "sum,7,empty-ack" {
		t.Fatalf("catch-all saw %v", seen)
	}
}

func TestBinaryBothWays(t *testing.T) {
	srv, hs := newTestServer(t, nil)
	srv.Of("/").OnConnection(func(s *socketio.Socket) {
		s.On("up", func(args []any, ack socketio.Ack) { _ = ack(args...) })
	})
	c := dialWS(t, hs)
	c.Connect("/", "")
	c.Send(`452-9["up",{"a":{"_placeholder":true,"num":0},"b":[{"_placeholder":true,"num":1}]}]`)
	c.SendBinary([]byte{1, 2, 3})
	c.SendBinary([]byte{4, 5})
	if got := c.Read(); got != `462-9[{"a":{"_placeholder":true,"num":0},"b":[{"_placeholder":true,"num":1}]}]` {
		t.Fatalf("binary ack %q", got)
	}
	if got := c.Read(); got != "bin:\x01\x02\x03" {
		t.Fatalf("attachment 0 %q", got)
	}
	if got := c.Read(); got != "bin:\x04\x05" {
		t.Fatalf("attachment 1 %q", got)
	}
}

func TestBadInputClosesOnlyThatConnection(t *testing.T) {
	cases := map[string][]string{
		"event before connect":       {`42["x"]`},
		"undecodable socket.io":      {"40", `42{}`},
		"garbage json":               {"40", `42abc["x"]`},
		"reserved event name":        {"40", `42["disconnect"]`},
		"connect twice":              {"40", "40"},
		"connect_error from client":  {"40", `44{"message":"x"}`},
		"too many attachments":       {"40", `4511-["x"]`},
		"binary when none expected":  {"40", "bin"},
		"event for another nsp":      {"40", `42/other,["x"]`},
		"unknown socket.io type":     {"40", `49`},
		"connect with array payload": {`40[1]`},
		"json nested too deep":       {"40", `42["x",` + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + `]`},
		"json cut short":             {"40", `42["x",{"a":[1,2`},
	}
	for name, frames := range cases {
		t.Run(name, func(t *testing.T) {
			_, hs := newTestServer(t, nil)
			other := dialWS(t, hs)
			other.Connect("/", "")
			c := dialWS(t, hs)
			for i, f := range frames {
				if f == "bin" {
					c.SendBinary([]byte{1})
					continue
				}
				c.Send(f)
				if f == "40" && i == 0 {
					c.Read()
				}
			}
			c.ExpectClosed()
			// Everyone else is still served.
			other.Send(`421["nothing"]`)
			other.ExpectNothing(100 * time.Millisecond)
		})
	}
}

func TestRooms(t *testing.T) {
	srv, hs := newTestServer(t, nil)
	nsp := srv.Of("/")
	nsp.OnConnection(func(s *socketio.Socket) {
		s.On("join", func(args []any, ack socketio.Ack) {
			for _, a := range args {
				s.Join(socketio.Room(a.(string)))
			}
			_ = ack()
		})
		s.On("others", func(args []any, ack socketio.Ack) {
			_ = s.To(socketio.Room(args[0].(string))).Emit("m", "others")
		})
		s.On("all", func(args []any, ack socketio.Ack) { _ = s.Broadcast().Emit("m", "broadcast") })
	})
	a, b, c := dialWS(t, hs), dialWS(t, hs), dialWS(t, hs)
	ida, idb, _ := a.Connect("/", ""), b.Connect("/", ""), c.Connect("/", "")
	a.Send(`421["join","r1","r2"]`)
	a.Read()
	b.Send(`421["join","r1"]`)
	b.Read()

	// To several rooms: a is in both but receives once; c in none.
	if err := nsp.To("r1", "r2").Emit("m", 1); err != nil {
		t.Fatal(err)
	}
	for _, cl := range []*wsClient{a, b} {
		if got := cl.Read(); got != `42["m",1]` {
			t.Fatalf("got %q", got)
		}
	}
	a.ExpectNothing(100 * time.Millisecond)
	c.ExpectNothing(50 * time.Millisecond)

	// Except and socket-id rooms.
	_ = nsp.Except("r2").Emit("m", 2)
	b.Read()
	c.Read()
	a.ExpectNothing(100 * time.Millisecond)
	_ = nsp.To(socketio.Room(idb)).Emit("m", 3)
	if got := b.Read(); got != `42["m",3]` {
		t.Fatalf("to socket id: %q", got)
	}

	// From a socket: the sender is left out.
	a.Send(`42["others","r1"]`)
	if got := b.Read(); got != `42["m","others"]` {
		t.Fatalf("got %q", got)
	}
	a.ExpectNothing(100 * time.Millisecond)
	a.Send(`42["all"]`)
	b.Read()
	c.Read()
	a.ExpectNothing(100 * time.Millisecond)

	// Rooms as the server sees them.
	s, ok := nsp.Socket(socketio.SocketID(ida))
	if !ok {
		t.Fatal("socket not found")
	}
	if rooms := s.Rooms(); len(rooms) != 3 {
		t.Fatalf("rooms %v", rooms)
	}
	infos, err := nsp.In("r1").FetchSockets(context.Background())
	if err != nil || len(infos) != 2 {
		t.Fatalf("fetch %v %v", infos, err)
	}
	if err := nsp.In("r1").SocketsJoin("vip"); err != nil {
		t.Fatal(err)
	}
	_ = nsp.To("vip").Emit("m", "vip")
	a.Read()
	b.Read()
	c.ExpectNothing(100 * time.Millisecond)
	_ = nsp.In("r1").SocketsLeave("vip")
	_ = nsp.To("vip").Emit("m", "vip")
	a.ExpectNothing(100 * time.Millisecond)
	if err := nsp.In("r2").DisconnectSockets(false); err != nil {
		t.Fatal(err)
	}
	if got := a.Read(); got != "41" {
		t.Fatalf("disconnect sockets: %q", got)
	}
}

func TestServerDisconnectKeepsOtherNamespaces(t *testing.T) {
	srv, hs := newTestServer(t, nil)
	reasons := make(chan socketio.Reason, 4)
	srv.Of("/a").OnConnection(func(s *socketio.Socket) {
		s.OnDisconnect(func(r socketio.Reason) { reasons <- r })
		s.On("bye", func([]any, socketio.Ack) { s.Disconnect(false) })
	})
	srv.Of("/b").OnConnection(func(s *socketio.Socket) {
		s.On("ping", func(_ []any, ack socketio.Ack) { _ = ack("pong") })
		s.OnDisconnect(func(r socketio.Reason) { reasons <- r })
	})
	c := dialWS(t, hs)
	c.Connect("/a", "")
	c.Connect("/b", "")
	c.Send(`42/a,["bye"]`)
	if got := c.Read(); got != "41/a," {
		t.Fatalf("got %q", got)
	}
	if r := <-reasons; r != socketio.ReasonServerNamespaceDisconnect {
		t.Fatalf("reason %q", r)
	}
	c.Send(`42/b,1["ping"]`)
	if got := c.Read(); got != `43/b,1["pong"]` {
		t.Fatalf("got %q", got)
	}
	c.Send("41/b,")
	select {
	case r := <-reasons:
		if r != socketio.ReasonClientNamespaceDisconnect {
			t.Fatalf("reason %q", r)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("no disconnect")
	}
	// Leaving the last namespace keeps the engine connection.
	c.Connect("/b", "")
}

func TestTransportCloseReason(t *testing.T) {
	srv, hs := newTestServer(t, nil)
	reasons := make(chan socketio.Reason, 1)
	srv.Of("/").OnConnection(func(s *socketio.Socket) {
		s.OnDisconnect(func(r socketio.Reason) { reasons <- r })
	})
	c := dialWS(t, hs)
	c.Connect("/", "")
	_ = c.Conn.Close()
	select {
	case r := <-reasons:
		if r != socketio.ReasonTransportClose && r != socketio.ReasonTransportError {
			t.Fatalf("reason %q", r)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("no disconnect")
	}
	if n := srv.Of("/").SocketCount(); n != 0 {
		t.Fatalf("%d sockets left", n)
	}
}

func TestEmitWithAck(t *testing.T) {
	srv, hs := newTestServer(t, nil)
	got := make(chan string, 4)
	srv.Of("/").OnConnection(func(s *socketio.Socket) {
		s.On("go", func([]any, socketio.Ack) {
			_ = s.EmitAck(200*time.Millisecond, func(args []any, err error) {
				if err != nil {
					got <- "error: " + err.Error()
					return
				}
				got <- args[0].(string)
			}, "question", 1)
		})
	})
	c := dialWS(t, hs)
	c.Connect("/", "")
	c.Send(`42["go"]`)
	q := c.Read()
	id := strings.TrimSuffix(strings.TrimPrefix(q, "42"), `["question",1]`)
	c.Send("43" + id + `["yes"]`)
	if r := <-got; r != "yes" {
		t.Fatalf("ack %q", r)
	}
	c.Send(`42["go"]`)
	c.Read()
	select {
	case r := <-got:
		if r != "error: "+socketio.ErrTimeout.Error() {
			t.Fatalf("got %q", r)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("no timeout")
	}
	// A late ACK for a timed out id is ignored.
	c.Send("43" + id + `["late"]`)
	c.ExpectNothing(50 * time.Millisecond)
}

func TestBroadcastWithAck(t *testing.T) {
	srv, hs := newTestServer(t, nil)
	nsp := srv.Of("/")
	clients := []*wsClient{dialWS(t, hs), dialWS(t, hs)}
	for _, c := range clients {
		c.Connect("/", "")
	}
	done := make(chan []any, 1)
	go func() {
		res, err := nsp.Timeout(2*time.Second).EmitWithAck(context.Background(), "q")
		if err != nil {
			t.Error(err)
		}
		done <- res
	}()
	for i, c := range clients {
		q := c.Read()
		id := strings.TrimSuffix(strings.TrimPrefix(q, "42"), `["q"]`)
		c.Send("43" + id + `["a` + string(rune('0'+i)) + `"]`)
	}
	select {
	case res := <-done:
		if len(res) != 2 {
			t.Fatalf("responses %v", res)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("no responses")
	}
	// A client that never answers: the timeout returns what arrived.
	res, err := nsp.Timeout(100*time.Millisecond).EmitWithAck(context.Background(), "q2")
	if !errors.Is(err, socketio.ErrTimeout) || len(res) != 0 {
		t.Fatalf("res %v err %v", res, err)
	}
}

func TestReservedEmitRefused(t *testing.T) {
	srv, _ := newTestServer(t, nil)
	if err := srv.Of("/").Emit("connect"); !errors.Is(err, socketio.ErrReservedEvent) {
		t.Fatalf("err %v", err)
	}
}

func TestConnectTimeout(t *testing.T) {
	_, hs := newTestServer(t, &socketio.Options{ConnectTimeout: 200 * time.Millisecond})
	c := dialWS(t, hs)
	c.ExpectClosed()
}
