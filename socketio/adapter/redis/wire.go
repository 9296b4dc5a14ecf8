package redis

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/caddy-socketio/caddy-socketio/socketio/adapter"
	"github.com/caddy-socketio/caddy-socketio/socketio/parser"
)

// Pieces shared by the classic and the sharded wire formats: building the
// packet, options and socket objects Node writes, and reading them back
// from the generic values JSON and MessagePack decode into.

// packetObj is a Socket.IO packet as the Node adapters publish it:
// {type, data, nsp} (the classic adapter sets nsp before publishing; the
// sharded one does not).
func packetObj(p *parser.Packet, withNsp bool) obj {
	if p.RawArgs != nil { // adapter.Cluster decodes them before publishing
		if q, err := p.WithData(); err == nil {
			p = q
		}
	}
	o := obj{{"type", int(eventType(p.Type))}, {"data", p.Data}}
	if withNsp {
		nsp := p.Namespace
		if nsp == "" {
			nsp = "/"
		}
		o = append(o, kv{"nsp", nsp})
	}
	return o
}

// eventType publishes binary types as their plain form, as Node does (the
// encoder decides about attachments for each recipient).
func eventType(t parser.Type) parser.Type {
	switch t {
	case parser.BinaryEvent:
		return parser.Event
	case parser.BinaryAck:
		return parser.Ack
	}
	return t
}

func roomsOrEmpty(r []adapter.Room) []adapter.Room {
	if r == nil {
		return []adapter.Room{}
	}
	return r
}

// flagsObj writes the flags Node puts on the wire: volatile and the ack
// timeout in milliseconds. Local never leaves the node.
func flagsObj(f adapter.Flags) obj {
	o := obj{}
	if f.Volatile {
		o = append(o, kv{"volatile", true})
	}
	if f.Timeout > 0 {
		o = append(o, kv{"timeout", f.Timeout.Milliseconds()})
	}
	return o
}

// optsObj is {rooms, except[, flags]}.
func optsObj(o adapter.BroadcastOptions, withFlags bool) obj {
	out := obj{{"rooms", roomsOrEmpty(o.Rooms)}, {"except", roomsOrEmpty(o.Except)}}
	if withFlags {
		out = append(out, kv{"flags", flagsObj(o.Flags)})
	}
	return out
}

// socketObj is a fetch-sockets answer entry: {id, handshake, rooms, data}.
func socketObj(s adapter.SocketInfo) obj {
	var hs any
	if s.Handshake != nil {
		h := s.Handshake
		hs = obj{
			{"headers", stringMap(h.Headers)},
			{"time", h.Time},
			{"address", h.Address},
			{"xdomain", h.XDomain},
			{"secure", h.Secure},
			{"issued", h.Issued},
			{"url", h.URL},
			{"query", stringMap(h.Query)},
			{"auth", anyMap(h.Auth)},
		}
	}
	return obj{{"id", string(s.ID)}, {"handshake", hs}, {"rooms", roomsOrEmpty(s.Rooms)}, {"data", s.Data}}
}

func socketsObj(infos []adapter.SocketInfo) []any {
	out := make([]any, len(infos))
	for i, s := range infos {
		out[i] = socketObj(s)
	}
	return out
}

func stringMap(m map[string]string) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func anyMap(m map[string]any) map[string]any {
	if m == nil {
		return map[string]any{}
	}
	return m
}

// Reading generic values.

func asMap(v any) map[string]any { m, _ := v.(map[string]any); return m }

func asString(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case json.Number:
		return string(v)
	case []byte:
		return string(v)
	}
	return ""
}

func asInt(v any) (int64, bool) {
	switch v := v.(type) {
	case json.Number:
		if i, err := v.Int64(); err == nil {
			return i, true
		}
		if f, err := v.Float64(); err == nil {
			return int64(f), true
		}
	case string:
		if i, err := strconv.ParseInt(v, 10, 64); err == nil {
			return i, true
		}
	}
	return 0, false
}

func asBool(v any) bool { b, _ := v.(bool); return b }

// asRooms reads an array of room names (numbers are rooms too in JS).
func asRooms(v any) []adapter.Room {
	a, _ := v.([]any)
	if a == nil {
		return nil
	}
	out := make([]adapter.Room, 0, len(a))
	for _, x := range a {
		if x == nil {
			continue
		}
		out = append(out, adapter.Room(asString(x)))
	}
	return out
}

func asOpts(v any) adapter.BroadcastOptions {
	m := asMap(v)
	o := adapter.BroadcastOptions{Rooms: asRooms(m["rooms"]), Except: asRooms(m["except"])}
	if f := asMap(m["flags"]); f != nil {
		o.Flags.Volatile = asBool(f["volatile"])
		if ms, ok := asInt(f["timeout"]); ok && ms > 0 {
			o.Flags.Timeout = time.Duration(ms) * time.Millisecond
		}
	}
	return o
}

// asPacket reads an EVENT packet {type, data, nsp}; a missing nsp is "/".
func asPacket(v any) (*parser.Packet, error) {
	m := asMap(v)
	if m == nil {
		return nil, fmt.Errorf("packet is %T, not an object", v)
	}
	t, ok := asInt(m["type"])
	if !ok {
		return nil, fmt.Errorf("packet without type")
	}
	p := &parser.Packet{Type: parser.Type(t), Namespace: "/", Data: m["data"]}
	switch p.Type {
	case parser.Event, parser.BinaryEvent:
		p.Type = parser.Event
	default:
		return nil, fmt.Errorf("packet of type %d", t)
	}
	if _, ok := p.Data.([]any); !ok {
		return nil, fmt.Errorf("event data is %T, not an array", p.Data)
	}
	if nsp, ok := m["nsp"].(string); ok {
		p.Namespace = nsp
	}
	return p, nil
}

// asSockets reads fetch-sockets answers, leniently: Node's handshake
// headers and query values may be arrays.
func asSockets(v any) []adapter.SocketInfo {
	a, _ := v.([]any)
	out := make([]adapter.SocketInfo, 0, len(a))
	for _, x := range a {
		m := asMap(x)
		if m == nil {
			continue
		}
		info := adapter.SocketInfo{ID: adapter.SocketID(asString(m["id"])), Rooms: asRooms(m["rooms"]), Data: m["data"]}
		if h := asMap(m["handshake"]); h != nil {
			hs := &adapter.Handshake{
				Headers: asStringMap(h["headers"], ", "),
				Time:    asString(h["time"]),
				Address: asString(h["address"]),
				XDomain: asBool(h["xdomain"]),
				Secure:  asBool(h["secure"]),
				URL:     asString(h["url"]),
				Query:   asStringMap(h["query"], ""),
				Auth:    asMap(h["auth"]),
			}
			hs.Issued, _ = asInt(h["issued"])
			if hs.Auth == nil {
				hs.Auth = map[string]any{}
			}
			info.Handshake = hs
		}
		out = append(out, info)
	}
	return out
}

// asStringMap reads an object of strings; array values are joined with
// sep, or reduced to their first element when sep is "".
func asStringMap(v any, sep string) map[string]string {
	m := asMap(v)
	out := make(map[string]string, len(m))
	for k, x := range m {
		switch x := x.(type) {
		case []any:
			parts := make([]string, 0, len(x))
			for _, p := range x {
				parts = append(parts, asString(p))
			}
			if sep == "" {
				if len(parts) > 0 {
					out[k] = parts[0]
				}
			} else {
				out[k] = strings.Join(parts, sep)
			}
		default:
			out[k] = asString(x)
		}
	}
	return out
}

func asSocketIDs(v any) []adapter.SocketID {
	a, _ := v.([]any)
	out := make([]adapter.SocketID, 0, len(a))
	for _, x := range a {
		if s, ok := x.(string); ok {
			out = append(out, adapter.SocketID(s))
		}
	}
	return out
}

func socketIDsAny(ids []adapter.SocketID) []any {
	out := make([]any, len(ids))
	for i, id := range ids {
		out[i] = string(id)
	}
	return out
}

// isJSON tells the two encodings apart as the Node adapters do: a message
// starting with '{' is JSON, anything else MessagePack.
func isJSON(b []byte) bool { return len(b) > 0 && b[0] == '{' }

// decodeAny decodes a JSON or MessagePack message.
func decodeAny(b []byte) (any, error) {
	if isJSON(b) {
		return decodeJSON(b)
	}
	return decodeMsgpack(b)
}
