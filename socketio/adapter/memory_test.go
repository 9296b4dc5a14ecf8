package adapter_test

import (
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/caddy-socketio/caddy-socketio/socketio/adapter"
	"github.com/caddy-socketio/caddy-socketio/socketio/adapter/adaptertest"
)

func TestMemory(t *testing.T) {
	adaptertest.Run(t, func(*testing.T) adaptertest.Cluster {
		return adaptertest.Cluster{NewNode: adapter.NewMemory, MaxNodes: 1}
	})
}

type idSocket struct {
	adapter.Socket
	id adapter.SocketID
}

func (s *idSocket) ID() adapter.SocketID { return s.id }

// TestMemoryRoomShapes walks rooms through one member (kept inline), many,
// back to one and none, and a socket through few rooms (a slice) and many
// (a map), checking every view of the index on the way.
func TestMemoryRoomShapes(t *testing.T) {
	a, _ := adapter.NewMemory(nil)
	m := a.(*adapter.Memory)
	socks := make([]*idSocket, 4)
	for i := range socks {
		socks[i] = &idSocket{id: adapter.SocketID(fmt.Sprint("s", i))}
		m.AddAll(socks[i], []adapter.Room{adapter.Room(socks[i].id)})
	}
	sel := func(rooms, except []adapter.Room) string {
		var ids []string
		for _, s := range m.Select(nil, &adapter.BroadcastOptions{Rooms: rooms, Except: except}) {
			ids = append(ids, string(s.ID()))
		}
		sort.Strings(ids)
		return strings.Join(ids, ",")
	}
	check := func(what, got, want string) {
		t.Helper()
		if got != want {
			t.Fatalf("%s: %q, want %q", what, got, want)
		}
	}
	check("own room", sel([]adapter.Room{"s1"}, nil), "s1")
	check("own room except itself", sel([]adapter.Room{"s1"}, []adapter.Room{"s1"}), "")
	for i := range 3 {
		m.AddAll(socks[i], []adapter.Room{"r"})
	}
	m.AddAll(socks[0], []adapter.Room{"r"}) // again: no duplicate
	check("room of 3", sel([]adapter.Room{"r"}, nil), "s0,s1,s2")
	check("room of 3 except s1", sel([]adapter.Room{"r"}, []adapter.Room{"s1"}), "s0,s2")
	check("two rooms", sel([]adapter.Room{"r", "s3"}, []adapter.Room{"s0"}), "s1,s2,s3")
	check("all except r", sel(nil, []adapter.Room{"r"}), "s3")
	check("counts", fmt.Sprint(m.LocalRooms()["r"], m.LocalRooms()["s2"]), "3 1")
	m.Del("s0", "r")
	m.Del("s2", "r")
	check("back to one", sel([]adapter.Room{"r"}, nil), "s1")
	m.Del("s1", "r")
	if _, ok := m.LocalRooms()["r"]; ok {
		t.Fatal("empty room listed")
	}
	check("gone", sel([]adapter.Room{"r"}, nil), "")
	m.AddAll(socks[3], []adapter.Room{"r"})
	check("again", sel([]adapter.Room{"r"}, nil), "s3")

	var many []adapter.Room
	for i := range 20 {
		many = append(many, adapter.Room(fmt.Sprint("m", i)))
	}
	m.AddAll(socks[0], many[:5])
	m.AddAll(socks[0], many[5:])
	m.Del("s0", "m3")
	m.Del("s0", "m17")
	rooms := m.SocketRooms("s0")
	if len(rooms) != 19 { // 18 of many and its own
		t.Fatalf("%d rooms: %v", len(rooms), rooms)
	}
	check("many rooms", sel([]adapter.Room{"m4", "m3"}, nil), "s0")
	m.DelAll("s0")
	if len(m.SocketRooms("s0")) != 0 || len(m.LocalRooms()) != 4 { // s1..s3 and r
		t.Fatalf("after DelAll: %v", m.LocalRooms())
	}
	m.DelAll("s1")
	m.AddAll(socks[2], many[:3])
	m.Del("s2", many[1])
	check("few rooms", fmt.Sprint(len(m.SocketRooms("s2"))), "3")
}
