// Package adaptertest is the conformance suite every adapter.Adapter must
// pass. It drives adapters with fake sockets that record what they receive,
// so it checks what clients would observe: who receives a broadcast, how
// many times, and what membership queries answer.
package adaptertest

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddy-socketio/caddy-socketio/socketio/adapter"
	"github.com/caddy-socketio/caddy-socketio/socketio/parser"
)

// Cluster creates the nodes of one test cluster. For a single-node adapter
// MaxNodes is 1; cluster adapters return every node on a shared bus.
type Cluster struct {
	// NewNode creates one node's adapter for the namespace nsp.
	NewNode func(nsp adapter.Namespace) (adapter.Adapter, error)
	// MaxNodes is how many nodes NewNode may create (1 for local adapters).
	MaxNodes int
	// Settle waits until messages published so far have reached every
	// node (nil for synchronous adapters).
	Settle func()
}

// Run runs the suite. newCluster is called once per subtest and must clean
// up with t.Cleanup.
func Run(t *testing.T, newCluster func(t *testing.T) Cluster) {
	for _, tc := range []struct {
		name  string
		nodes int
		fn    func(t *testing.T, c *harness)
	}{
		{"membership", 1, testMembership},
		{"broadcast all", 1, testBroadcastAll},
		{"broadcast one room", 1, testBroadcastRoom},
		{"several rooms deliver once", 1, testSeveralRooms},
		{"except", 1, testExcept},
		{"volatile flag reaches sockets", 1, testVolatile},
		{"broadcast with ack", 1, testBroadcastWithAck},
		{"fetch sockets", 1, testFetchSockets},
		{"sockets join and leave", 1, testSocketsJoinLeave},
		{"disconnect sockets", 1, testDisconnectSockets},
		{"all rooms", 1, testAllRooms},
		{"del all cleans up", 1, testDelAll},
		{"cross-node broadcast", 2, testCrossBroadcast},
		{"cross-node broadcast with ack", 2, testCrossBroadcastWithAck},
		{"cross-node fetch sockets", 2, testCrossFetch},
		{"cross-node join, leave, disconnect", 2, testCrossSelection},
		{"cross-node all rooms and server count", 2, testCrossRooms},
		{"cross-node server-side emit", 2, testCrossServerSideEmit},
		{"local flag stays local", 2, testLocal},
		{"recovery: offsets, sessions, missed packets", 1, testRecovery},
		{"recovery: refusals and expiry", 1, testRecoveryRefusals},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCluster(t)
			if c.MaxNodes < tc.nodes {
				t.Skipf("needs %d nodes; this adapter is single-node", tc.nodes)
			}
			h := &harness{t: t, cluster: c}
			for i := 0; i < tc.nodes; i++ {
				h.addNode()
			}
			tc.fn(t, h)
		})
	}
}

type harness struct {
	t       *testing.T
	cluster Cluster
	nodes   []*node
}

type node struct {
	nsp     *fakeNamespace
	adapter adapter.Adapter
}

func (h *harness) addNode() *node {
	h.t.Helper()
	ns := &fakeNamespace{name: "/"}
	a, err := h.cluster.NewNode(ns)
	if err != nil {
		h.t.Fatalf("new node: %v", err)
	}
	h.t.Cleanup(func() { _ = a.Close() })
	n := &node{nsp: ns, adapter: a}
	h.nodes = append(h.nodes, n)
	return n
}

func (h *harness) settle() {
	if h.cluster.Settle != nil {
		h.cluster.Settle()
	}
}

// socket creates a fake socket on node i, in its own room and rooms.
func (h *harness) socket(i int, id string, rooms ...adapter.Room) *FakeSocket {
	n := h.nodes[i]
	s := &FakeSocket{id: adapter.SocketID(id), a: n.adapter}
	n.nsp.add(s)
	s.Join(append([]adapter.Room{adapter.Room(id)}, rooms...)...)
	return s
}

func event(name string, args ...any) *parser.Packet {
	return &parser.Packet{Type: parser.Event, Namespace: "/", Data: append([]any{name}, args...)}
}

// eventually polls cond until it holds or 5 s pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// expectCounts checks how many packets each socket received, after giving
// late deliveries a moment to show up.
func expectCounts(t *testing.T, h *harness, want map[*FakeSocket]int) {
	t.Helper()
	eventually(t, "deliveries", func() bool {
		for s, n := range want {
			if s.Count() < n {
				return false
			}
		}
		return true
	})
	h.settle()
	time.Sleep(20 * time.Millisecond)
	for s, n := range want {
		if got := s.Count(); got != n {
			t.Errorf("socket %s received %d packets, want %d", s.id, got, n)
		}
	}
}

func testMembership(t *testing.T, h *harness) {
	a := h.nodes[0].adapter
	s := h.socket(0, "s1", "r1", "r2")
	rooms := a.SocketRooms(s.id)
	slices.Sort(rooms)
	if want := []adapter.Room{"r1", "r2", "s1"}; !slices.Equal(rooms, want) {
		t.Fatalf("rooms = %v, want %v", rooms, want)
	}
	a.Del(s.id, "r1")
	a.Del(s.id, "nope")
	if got := a.SocketRooms(s.id); len(got) != 2 {
		t.Fatalf("after leave rooms = %v", got)
	}
	if got := a.LocalRooms(); got["r2"] != 1 || got["r1"] != 0 {
		t.Fatalf("local rooms = %v", got)
	}
	if a.SocketRooms("unknown") != nil {
		t.Fatal("unknown socket has rooms")
	}
}

func testBroadcastAll(t *testing.T, h *harness) {
	a := h.nodes[0].adapter
	s1, s2, s3 := h.socket(0, "s1"), h.socket(0, "s2", "r"), h.socket(0, "s3")
	if err := a.Broadcast(event("hi", "x"), adapter.BroadcastOptions{}); err != nil {
		t.Fatal(err)
	}
	expectCounts(t, h, map[*FakeSocket]int{s1: 1, s2: 1, s3: 1})
	if got := s1.Last(); got != `2["hi","x"]` {
		t.Fatalf("wire text %q", got)
	}
}

func testBroadcastRoom(t *testing.T, h *harness) {
	a := h.nodes[0].adapter
	s1, s2, s3 := h.socket(0, "s1", "r"), h.socket(0, "s2", "r"), h.socket(0, "s3", "other")
	if err := a.Broadcast(event("hi"), adapter.BroadcastOptions{Rooms: []adapter.Room{"r"}}); err != nil {
		t.Fatal(err)
	}
	expectCounts(t, h, map[*FakeSocket]int{s1: 1, s2: 1, s3: 0})
	// A socket id is a room.
	if err := a.Broadcast(event("direct"), adapter.BroadcastOptions{Rooms: []adapter.Room{"s3"}}); err != nil {
		t.Fatal(err)
	}
	expectCounts(t, h, map[*FakeSocket]int{s1: 1, s2: 1, s3: 1})
}

func testSeveralRooms(t *testing.T, h *harness) {
	a := h.nodes[0].adapter
	s1, s2, s3 := h.socket(0, "s1", "a", "b", "c"), h.socket(0, "s2", "b"), h.socket(0, "s3", "d")
	if err := a.Broadcast(event("hi"), adapter.BroadcastOptions{Rooms: []adapter.Room{"a", "b", "c"}}); err != nil {
		t.Fatal(err)
	}
	expectCounts(t, h, map[*FakeSocket]int{s1: 1, s2: 1, s3: 0})
}

func testExcept(t *testing.T, h *harness) {
	a := h.nodes[0].adapter
	s1, s2, s3 := h.socket(0, "s1", "r", "x"), h.socket(0, "s2", "r"), h.socket(0, "s3")
	if err := a.Broadcast(event("hi"), adapter.BroadcastOptions{Rooms: []adapter.Room{"r"}, Except: []adapter.Room{"x"}}); err != nil {
		t.Fatal(err)
	}
	expectCounts(t, h, map[*FakeSocket]int{s1: 0, s2: 1, s3: 0})
	if err := a.Broadcast(event("all-but"), adapter.BroadcastOptions{Except: []adapter.Room{"s2"}}); err != nil {
		t.Fatal(err)
	}
	expectCounts(t, h, map[*FakeSocket]int{s1: 1, s2: 1, s3: 1})
}

func testVolatile(t *testing.T, h *harness) {
	a := h.nodes[0].adapter
	s := h.socket(0, "s1")
	if err := a.Broadcast(event("v"), adapter.BroadcastOptions{Flags: adapter.Flags{Volatile: true}}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "volatile delivery", func() bool { return s.Count() == 1 })
	if !s.lastVolatile() {
		t.Fatal("volatile flag lost")
	}
}

func testBroadcastWithAck(t *testing.T, h *harness) {
	a := h.nodes[0].adapter
	s1, s2 := h.socket(0, "s1", "r"), h.socket(0, "s2", "r")
	h.socket(0, "s3")
	p := event("q")
	p.ID, p.HasID = 7, true
	var mu sync.Mutex
	counts, acks := 0, 0
	err := a.BroadcastWithAck(p, adapter.BroadcastOptions{Rooms: []adapter.Room{"r"}},
		func(n int, ids []adapter.SocketID) {
			mu.Lock()
			counts += n
			if len(ids) != n {
				t.Errorf("client count %d with ids %v", n, ids)
			}
			mu.Unlock()
		},
		func(from adapter.SocketID, args []any) {
			mu.Lock()
			acks++
			if from != "s1" && from != "s2" || len(args) != 2 {
				t.Errorf("ack from %q: %v", from, args)
			}
			mu.Unlock()
		})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "client count", func() bool { mu.Lock(); defer mu.Unlock(); return counts == 2 })
	if s1.Last() != `27["q"]` {
		t.Fatalf("wire text %q", s1.Last())
	}
	s1.Answer(7, "a", 1)
	s2.Answer(7, "b", 2)
	eventually(t, "acks", func() bool { mu.Lock(); defer mu.Unlock(); return acks == 2 })
}

func testFetchSockets(t *testing.T, h *harness) {
	a := h.nodes[0].adapter
	h.socket(0, "s1", "r")
	h.socket(0, "s2", "r")
	h.socket(0, "s3")
	got, err := a.FetchSockets(context.Background(), adapter.BroadcastOptions{Rooms: []adapter.Room{"r"}})
	if err != nil {
		t.Fatal(err)
	}
	if ids := infoIDs(got); !slices.Equal(ids, []string{"s1", "s2"}) {
		t.Fatalf("fetched %v", ids)
	}
	all, _ := a.FetchSockets(context.Background(), adapter.BroadcastOptions{Except: []adapter.Room{"s1"}})
	if ids := infoIDs(all); !slices.Equal(ids, []string{"s2", "s3"}) {
		t.Fatalf("fetched %v", ids)
	}
}

func testSocketsJoinLeave(t *testing.T, h *harness) {
	a := h.nodes[0].adapter
	s1, s2 := h.socket(0, "s1", "r"), h.socket(0, "s2")
	if err := a.AddSockets(adapter.BroadcastOptions{Rooms: []adapter.Room{"r"}}, []adapter.Room{"vip"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "join", func() bool { return slices.Contains(a.SocketRooms(s1.id), "vip") })
	if slices.Contains(a.SocketRooms(s2.id), "vip") {
		t.Fatal("s2 joined vip")
	}
	if err := a.DelSockets(adapter.BroadcastOptions{}, []adapter.Room{"vip"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "leave", func() bool { return !slices.Contains(a.SocketRooms(s1.id), "vip") })
}

func testDisconnectSockets(t *testing.T, h *harness) {
	a := h.nodes[0].adapter
	s1, s2 := h.socket(0, "s1", "r"), h.socket(0, "s2")
	if err := a.DisconnectSockets(adapter.BroadcastOptions{Rooms: []adapter.Room{"r"}}, true); err != nil {
		t.Fatal(err)
	}
	eventually(t, "disconnect", func() bool { return s1.Disconnected() == "close" })
	if s2.Disconnected() != "" {
		t.Fatal("s2 disconnected")
	}
}

func testAllRooms(t *testing.T, h *harness) {
	a := h.nodes[0].adapter
	h.socket(0, "s1", "r1")
	h.socket(0, "s2", "r2")
	rooms, err := a.AllRooms(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(rooms)
	if want := []adapter.Room{"r1", "r2", "s1", "s2"}; !slices.Equal(rooms, want) {
		t.Fatalf("rooms %v", rooms)
	}
}

func testDelAll(t *testing.T, h *harness) {
	a := h.nodes[0].adapter
	s := h.socket(0, "s1", "r1", "r2")
	a.DelAll(s.id)
	if len(a.LocalRooms()) != 0 {
		t.Fatalf("rooms left: %v", a.LocalRooms())
	}
	if err := a.Broadcast(event("x"), adapter.BroadcastOptions{}); err != nil {
		t.Fatal(err)
	}
	h.settle()
	time.Sleep(20 * time.Millisecond)
	if s.Count() != 0 {
		t.Fatal("removed socket received a broadcast")
	}
}

func testCrossBroadcast(t *testing.T, h *harness) {
	a0 := h.nodes[0].adapter
	s1, s2 := h.socket(0, "s1", "r"), h.socket(1, "s2", "r")
	s3, s4 := h.socket(1, "s3", "r", "x"), h.socket(1, "s4")
	h.settle()
	if err := a0.Broadcast(event("hi", "there"), adapter.BroadcastOptions{Rooms: []adapter.Room{"r"}, Except: []adapter.Room{"x"}}); err != nil {
		t.Fatal(err)
	}
	expectCounts(t, h, map[*FakeSocket]int{s1: 1, s2: 1, s3: 0, s4: 0})
	if got := s2.Last(); got != `2["hi","there"]` {
		t.Fatalf("remote wire text %q", got)
	}
	if err := a0.Broadcast(event("all"), adapter.BroadcastOptions{}); err != nil {
		t.Fatal(err)
	}
	expectCounts(t, h, map[*FakeSocket]int{s1: 2, s2: 2, s3: 1, s4: 1})
	if err := a0.Broadcast(event("bin", []byte{1, 2, 3}), adapter.BroadcastOptions{Rooms: []adapter.Room{"s4"}}); err != nil {
		t.Fatal(err)
	}
	expectCounts(t, h, map[*FakeSocket]int{s1: 2, s2: 2, s3: 1, s4: 2})
	if got := s4.Last(); got != `51-["bin",{"_placeholder":true,"num":0}]` {
		t.Fatalf("remote binary wire text %q", got)
	}
}

func testCrossBroadcastWithAck(t *testing.T, h *harness) {
	a0 := h.nodes[0].adapter
	s1, s2 := h.socket(0, "s1", "r"), h.socket(1, "s2", "r")
	h.settle()
	p := event("q")
	p.ID, p.HasID = 3, true
	var mu sync.Mutex
	counts, calls := 0, 0
	var acks []any
	var ids []adapter.SocketID
	from := map[adapter.SocketID][]any{}
	err := a0.BroadcastWithAck(p, adapter.BroadcastOptions{Rooms: []adapter.Room{"r"}, Flags: adapter.Flags{Timeout: 2 * time.Second}},
		func(n int, sids []adapter.SocketID) {
			mu.Lock()
			counts += n
			calls++
			ids = append(ids, sids...)
			mu.Unlock()
		},
		func(sid adapter.SocketID, a []any) {
			mu.Lock()
			acks = append(acks, a[0])
			from[sid] = a
			mu.Unlock()
		})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "remote delivery", func() bool { return s2.Count() == 1 })
	s1.Answer(3, "one")
	// The remote node numbers the ack itself, as Node does (a Node
	// publisher sends the packet without an id): answer the id it sent.
	// Every argument crosses, binary included, with the socket's id.
	s2.Answer(ackIDOf(t, s2.Last()), "two", map[string]any{"n": 2}, []byte{1, 2, 3})
	eventually(t, "acks from both nodes", func() bool { mu.Lock(); defer mu.Unlock(); return len(acks) == 2 && calls == 2 })
	mu.Lock()
	defer mu.Unlock()
	if counts != 2 || len(ids) != 2 {
		t.Fatalf("client count %d, ids %v", counts, ids)
	}
	if a := from["s2"]; len(a) != 3 || a[0] != "two" || fmt.Sprint(a[2]) != fmt.Sprint([]byte{1, 2, 3}) {
		t.Fatalf("remote ack %#v", from)
	}
	if a := from["s1"]; len(a) != 1 || a[0] != "one" {
		t.Fatalf("local ack %#v", from)
	}
}

func testCrossFetch(t *testing.T, h *harness) {
	h.socket(0, "s1", "r")
	s2 := h.socket(1, "s2", "r")
	s2.data = map[string]any{"nick": "ann"}
	h.socket(1, "s3")
	h.settle()
	got, err := h.nodes[0].adapter.FetchSockets(context.Background(), adapter.BroadcastOptions{Rooms: []adapter.Room{"r"}})
	if err != nil {
		t.Fatal(err)
	}
	if ids := infoIDs(got); !slices.Equal(ids, []string{"s1", "s2"}) {
		t.Fatalf("fetched %v", ids)
	}
	for _, info := range got {
		if info.ID == "s2" {
			if m, _ := info.Data.(map[string]any); m["nick"] != "ann" {
				t.Fatalf("remote data %v", info.Data)
			}
			if !slices.Contains(info.Rooms, "r") {
				t.Fatalf("remote rooms %v", info.Rooms)
			}
		}
	}
}

func testCrossSelection(t *testing.T, h *harness) {
	a0, a1 := h.nodes[0].adapter, h.nodes[1].adapter
	h.socket(0, "s1", "r")
	s2, s3 := h.socket(1, "s2", "r"), h.socket(1, "s3")
	h.settle()
	if err := a0.AddSockets(adapter.BroadcastOptions{Rooms: []adapter.Room{"r"}}, []adapter.Room{"vip"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "remote join", func() bool { return slices.Contains(a1.SocketRooms(s2.id), "vip") })
	if err := a0.DelSockets(adapter.BroadcastOptions{Rooms: []adapter.Room{"vip"}}, []adapter.Room{"vip"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "remote leave", func() bool { return !slices.Contains(a1.SocketRooms(s2.id), "vip") })
	if err := a0.DisconnectSockets(adapter.BroadcastOptions{Rooms: []adapter.Room{"s3"}}, false); err != nil {
		t.Fatal(err)
	}
	eventually(t, "remote disconnect", func() bool { return s3.Disconnected() == "namespace" })
	if s2.Disconnected() != "" {
		t.Fatal("s2 disconnected")
	}
}

func testCrossRooms(t *testing.T, h *harness) {
	h.socket(0, "s1", "r1")
	h.socket(1, "s2", "r2")
	h.settle()
	rooms, err := h.nodes[0].adapter.AllRooms(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(rooms)
	rooms = slices.Compact(rooms)
	if want := []adapter.Room{"r1", "r2", "s1", "s2"}; !slices.Equal(rooms, want) {
		t.Fatalf("rooms %v", rooms)
	}
	n, err := h.nodes[0].adapter.ServerCount(context.Background())
	if err != nil || n != 2 {
		t.Fatalf("server count %d, %v", n, err)
	}
}

func testCrossServerSideEmit(t *testing.T, h *harness) {
	h.settle()
	if err := h.nodes[0].adapter.ServerSideEmit([]any{"hello", "world"}, nil); err != nil {
		t.Fatal(err)
	}
	eventually(t, "server-side emit", func() bool { return h.nodes[1].nsp.serverEmits() == 1 })
	h.settle()
	time.Sleep(20 * time.Millisecond)
	if n := h.nodes[0].nsp.serverEmits(); n != 0 {
		t.Fatalf("sender received its own server-side emit %d times", n)
	}
}

func testLocal(t *testing.T, h *harness) {
	s1, s2 := h.socket(0, "s1"), h.socket(1, "s2")
	h.settle()
	if err := h.nodes[0].adapter.Broadcast(event("x"), adapter.BroadcastOptions{Flags: adapter.Flags{Local: true}}); err != nil {
		t.Fatal(err)
	}
	expectCounts(t, h, map[*FakeSocket]int{s1: 1, s2: 0})
}

// ackIDOf reads the ack id of an EVENT packet's wire text ("2<id>[...]" or
// "2/nsp,<id>[...]").
func ackIDOf(t *testing.T, text string) uint64 {
	t.Helper()
	rest := strings.TrimPrefix(text, "2")
	if strings.HasPrefix(rest, "/") {
		_, rest, _ = strings.Cut(rest, ",")
	}
	end := strings.IndexByte(rest, '[')
	if end < 0 {
		t.Fatalf("no data in %q", text)
	}
	id, err := strconv.ParseUint(rest[:end], 10, 64)
	if err != nil {
		t.Fatalf("no ack id in %q", text)
	}
	return id
}

func infoIDs(infos []adapter.SocketInfo) []string {
	ids := make([]string, 0, len(infos))
	for _, i := range infos {
		ids = append(ids, string(i.ID))
	}
	slices.Sort(ids)
	return ids
}

// fakeNamespace records server-side emits.
type fakeNamespace struct {
	name    string
	mu      sync.Mutex
	sockets []*FakeSocket
	emits   int
}

func (n *fakeNamespace) Name() string { return n.name }

func (n *fakeNamespace) HandleServerSideEmit(args []any, ack func([]any)) {
	n.mu.Lock()
	n.emits++
	n.mu.Unlock()
	if ack != nil {
		ack([]any{fmt.Sprint(args...)})
	}
}

func (n *fakeNamespace) add(s *FakeSocket) {
	n.mu.Lock()
	n.sockets = append(n.sockets, s)
	n.mu.Unlock()
}

func (n *fakeNamespace) serverEmits() int { n.mu.Lock(); defer n.mu.Unlock(); return n.emits }

// FakeSocket records deliveries and answers acks on demand.
type FakeSocket struct {
	id   adapter.SocketID
	a    adapter.Adapter
	data any

	mu         sync.Mutex
	texts      []string
	volatile   []bool
	acks       map[uint64]func([]any)
	disconnect string
}

func (s *FakeSocket) ID() adapter.SocketID { return s.id }

func (s *FakeSocket) Deliver(p *parser.Encoded, volatile bool) {
	text, _, _ := p.Default()
	s.mu.Lock()
	s.texts = append(s.texts, string(text))
	s.volatile = append(s.volatile, volatile)
	s.mu.Unlock()
}

func (s *FakeSocket) ExpectAck(id uint64, fn func([]any)) {
	s.mu.Lock()
	if s.acks == nil {
		s.acks = make(map[uint64]func([]any))
	}
	s.acks[id] = fn
	s.mu.Unlock()
}

func (s *FakeSocket) Join(rooms ...adapter.Room) error { s.a.AddAll(s, rooms); return nil }
func (s *FakeSocket) Leave(room adapter.Room)          { s.a.Del(s.id, room) }

func (s *FakeSocket) Disconnect(close bool) {
	s.mu.Lock()
	if close {
		s.disconnect = "close"
	} else {
		s.disconnect = "namespace"
	}
	s.mu.Unlock()
	s.a.DelAll(s.id)
}

func (s *FakeSocket) Info() adapter.SocketInfo {
	return adapter.SocketInfo{ID: s.id, Rooms: s.a.SocketRooms(s.id), Data: s.data, Handshake: &adapter.Handshake{Auth: map[string]any{}}}
}

// Count is the number of packets delivered.
func (s *FakeSocket) Count() int { s.mu.Lock(); defer s.mu.Unlock(); return len(s.texts) }

// Last is the text of the last packet delivered.
func (s *FakeSocket) Last() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.texts) == 0 {
		return ""
	}
	return s.texts[len(s.texts)-1]
}

func (s *FakeSocket) lastVolatile() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.volatile) > 0 && s.volatile[len(s.volatile)-1]
}

// Disconnected is "", "namespace" or "close".
func (s *FakeSocket) Disconnected() string { s.mu.Lock(); defer s.mu.Unlock(); return s.disconnect }

// Answer plays the client acknowledging id with args.
func (s *FakeSocket) Answer(id uint64, args ...any) {
	s.mu.Lock()
	fn := s.acks[id]
	delete(s.acks, id)
	s.mu.Unlock()
	if fn != nil {
		fn(args)
	}
}

// sessionStore enables recovery on node 0, or skips the test when the
// adapter does not implement adapter.SessionStore.
func sessionStore(t *testing.T, h *harness, opts adapter.RecoveryOptions, onExpire func(adapter.Session)) adapter.SessionStore {
	t.Helper()
	st, ok := h.nodes[0].adapter.(adapter.SessionStore)
	if !ok {
		t.Skip("the adapter does not implement adapter.SessionStore")
	}
	st.EnableRecovery(opts, onExpire)
	return st
}

// lastArg is the last argument of an encoded event.
func lastArg(t *testing.T, text string) any {
	t.Helper()
	i := strings.IndexByte(text, '[')
	var args []any
	if i < 0 || json.Unmarshal([]byte(text[i:]), &args) != nil || len(args) == 0 {
		t.Fatalf("not an event: %q", text)
	}
	return args[len(args)-1]
}

func testRecovery(t *testing.T, h *harness) {
	st := sessionStore(t, h, adapter.RecoveryOptions{}, nil)
	a := h.nodes[0].adapter
	since := st.CurrentOffset()
	s1, s2 := h.socket(0, "s1", "r"), h.socket(0, "s2", "r")
	room := []adapter.Room{"r"}
	_ = a.Broadcast(event("m", 1), adapter.BroadcastOptions{Rooms: room})
	expectCounts(t, h, map[*FakeSocket]int{s1: 1, s2: 1})
	offset, ok := lastArg(t, s1.Last()).(string)
	if !ok || s1.Last() != s2.Last() {
		t.Fatalf("stored broadcast %q has no offset or differs between recipients", s1.Last())
	}
	if offset != st.CurrentOffset() {
		t.Fatalf("offset %q, current %q", offset, st.CurrentOffset())
	}
	// Volatile and acknowledged broadcasts are not stored and carry none.
	_ = a.Broadcast(event("v", 1), adapter.BroadcastOptions{Rooms: room, Flags: adapter.Flags{Volatile: true}})
	expectCounts(t, h, map[*FakeSocket]int{s1: 2, s2: 2})
	if got := s1.Last(); got != `2["v",1]` {
		t.Fatalf("volatile broadcast %q", got)
	}
	p := event("a", 1)
	p.ID, p.HasID = 9, true
	_ = a.BroadcastWithAck(p, adapter.BroadcastOptions{Rooms: room}, func(int, []adapter.SocketID) {}, func(adapter.SocketID, []any) {})
	expectCounts(t, h, map[*FakeSocket]int{s1: 3, s2: 3})
	if got := s1.Last(); got != `29["a",1]` {
		t.Fatalf("acknowledged broadcast %q", got)
	}

	// s1 leaves for a recoverable reason; what follows is partly for it.
	a.DelAll("s1")
	if !st.PersistSession(adapter.Session{SID: "s1", PID: "p1", Rooms: room, Data: "d", Since: since}) {
		t.Fatal("session not kept")
	}
	_ = a.Broadcast(event("m", 2), adapter.BroadcastOptions{Rooms: room})
	_ = a.Broadcast(event("m", 3), adapter.BroadcastOptions{Rooms: []adapter.Room{"other"}})
	_ = a.Broadcast(event("m", 4), adapter.BroadcastOptions{Except: room})
	_ = a.Broadcast(event("m", 5), adapter.BroadcastOptions{})
	_ = a.Broadcast(event("m", 6), adapter.BroadcastOptions{Rooms: []adapter.Room{"s1"}})

	if _, ok := st.TakeSession("p2", offset); ok {
		t.Fatal("an unknown pid was taken")
	}
	sess, ok := st.TakeSession("p1", offset)
	if !ok || sess.SID != "s1" || sess.Data != "d" || !slices.Equal(sess.Rooms, room) {
		t.Fatalf("session %+v, %v", sess, ok)
	}
	if _, ok := st.TakeSession("p1", offset); ok {
		t.Fatal("a session was taken twice")
	}
	var got []string
	if !st.Resume(sess, offset, func(missed []adapter.MissedPacket) bool {
		for _, m := range missed {
			got = append(got, string(m.Text))
		}
		return true
	}) {
		t.Fatal("resume failed")
	}
	if len(got) != 3 || !strings.HasPrefix(got[0], `2["m",2,`) || !strings.HasPrefix(got[1], `2["m",5,`) || !strings.HasPrefix(got[2], `2["m",6,`) {
		t.Fatalf("missed packets %q, want m 2, 5, 6", got)
	}
	// Without an offset, the packets since the session began.
	if !st.PersistSession(sess) {
		t.Fatal("session not kept")
	}
	sess, _ = st.TakeSession("p1", "")
	got = nil
	st.Resume(sess, "", func(missed []adapter.MissedPacket) bool {
		for _, m := range missed {
			got = append(got, string(m.Text))
		}
		return true
	})
	if len(got) != 4 || !strings.HasPrefix(got[0], `2["m",1,`) {
		t.Fatalf("missed packets since the start %q", got)
	}
}

func testRecoveryRefusals(t *testing.T, h *harness) {
	expired := make(chan adapter.Session, 1)
	st := sessionStore(t, h, adapter.RecoveryOptions{MaxDisconnectionDuration: 100 * time.Millisecond, MaxPackets: 2},
		func(s adapter.Session) { expired <- s })
	a := h.nodes[0].adapter
	since := st.CurrentOffset()
	st.PersistSession(adapter.Session{SID: "s1", PID: "p1", Since: since})
	for i := range 3 {
		_ = a.Broadcast(event("m", i), adapter.BroadcastOptions{})
	}
	// m 0 was evicted (MaxPackets 2): the session cannot be exact.
	if _, ok := st.TakeSession("p1", since); ok {
		t.Fatal("recovered with evicted packets")
	}
	if _, ok := st.TakeSession("p1", "zzz"); ok {
		t.Fatal("recovered with a bad offset")
	}
	st.PersistSession(adapter.Session{SID: "s2", PID: "p2", Since: st.CurrentOffset()})
	select {
	case s := <-expired:
		if s.SID != "s2" {
			t.Fatalf("expired %+v", s)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no expiry")
	}
	if _, ok := st.TakeSession("p2", ""); ok {
		t.Fatal("an expired session was taken")
	}
	if got := st.RecoveryStats(); got.Expired != 1 || got.EvictedForSize == 0 || got.Sessions != 0 {
		t.Fatalf("stats %+v", got)
	}
}
