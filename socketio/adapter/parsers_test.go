package adapter_test

import (
	"fmt"
	"math"
	"testing"

	"github.com/caddy-socketio/caddy-socketio/socketio/adapter"
	"github.com/caddy-socketio/caddy-socketio/socketio/parser"
)

// parserSocket takes its broadcast in one parser, as a connection does, and
// keeps the first byte's address of what it got.
type parserSocket struct {
	adapter.Socket
	id      adapter.SocketID
	msgpack bool
	got     *byte
	err     error
}

func (s *parserSocket) ID() adapter.SocketID { return s.id }
func (s *parserSocket) Deliver(p *parser.Encoded, _ bool) {
	var b []byte
	if s.msgpack {
		b, s.err = p.Msgpack()
	} else {
		b, _, s.err = p.Default()
	}
	if len(b) > 0 {
		s.got = &b[0]
	}
}

// TestBroadcastEncodedOncePerParser: in a room of default-parser and
// msgpack recipients, every recipient of one parser gets the very same
// bytes, so each parser encoded the packet once; an encoding error reaches
// the caller.
func TestBroadcastEncodedOncePerParser(t *testing.T) {
	a, _ := adapter.NewMemory(nil)
	var socks []*parserSocket
	for i := range 10 {
		s := &parserSocket{id: adapter.SocketID(fmt.Sprint("s", i)), msgpack: i%2 == 1}
		socks = append(socks, s)
		a.AddAll(s, []adapter.Room{"r"})
	}
	p := &parser.Packet{Type: parser.Event, Namespace: "/", Data: []any{"x", []byte{1}}}
	if err := a.Broadcast(p, adapter.BroadcastOptions{Rooms: []adapter.Room{"r"}}); err != nil {
		t.Fatal(err)
	}
	first := map[bool]*byte{false: socks[0].got, true: socks[1].got}
	for _, s := range socks {
		if s.got == nil || s.got != first[s.msgpack] {
			t.Fatalf("%s (msgpack %v) got its own encoding", s.id, s.msgpack)
		}
	}
	if socks[0].got == socks[1].got {
		t.Fatal("both parsers got the same bytes")
	}

	bad := &parser.Packet{Type: parser.Event, Namespace: "/", Data: []any{"x", math.NaN()}}
	if err := a.Broadcast(bad, adapter.BroadcastOptions{Rooms: []adapter.Room{"r"}}); err == nil {
		t.Fatal("a packet the default parser cannot encode: no error")
	}
	if err := a.Broadcast(bad, adapter.BroadcastOptions{Rooms: []adapter.Room{"nobody"}}); err != nil {
		t.Fatalf("nothing to encode for an empty room: %v", err)
	}
}
