package redis

import (
	"errors"
	"fmt"

	"github.com/caddy-socketio/caddy-socketio/socketio/adapter"
)

// The classic format of @socket.io/redis-adapter 8.x (github.com/socketio/socket.io-redis-adapter to
// §7.3, §7.5): broadcasts are MessagePack arrays [uid, packet, opts] on
// "key#nsp#" or "key#nsp#room#"; requests are JSON on "key-request#nsp#"
// except BROADCAST with acks (MessagePack); answers go to
// "key-response#nsp#" (or "key-response#nsp#uid#") and carry no type except
// those of server-side emits and broadcast acks.

// The classic request types.
const (
	classicSockets              = 0
	classicAllRooms             = 1
	classicRemoteJoin           = 2
	classicRemoteLeave          = 3
	classicRemoteDisconnect     = 4
	classicRemoteFetch          = 5
	classicServerSideEmit       = 6
	classicBroadcast            = 7
	classicBroadcastClientCount = 8
	classicBroadcastAck         = 9
)

// encodeClassic returns the payload of m and whether it goes to a
// broadcast channel (rather than the request channel).
func encodeClassic(uid string, m *adapter.ClusterMessage) (payload []byte, broadcast bool, err error) {
	switch m.Type {
	case adapter.MsgBroadcast:
		if m.RequestID == "" {
			payload, err = encodeMsgpack([]any{uid, packetObj(m.Packet, true), optsObj(m.Opts, true)})
			return payload, true, err
		}
		payload, err = encodeMsgpack(obj{
			{"uid", uid}, {"requestId", m.RequestID}, {"type", classicBroadcast},
			{"packet", packetObj(m.Packet, true)}, {"opts", optsObj(m.Opts, true)},
		})
		return payload, false, err
	case adapter.MsgSocketsJoin, adapter.MsgSocketsLeave:
		typ := classicRemoteJoin
		if m.Type == adapter.MsgSocketsLeave {
			typ = classicRemoteLeave
		}
		payload, err = encodeJSON(obj{{"uid", uid}, {"type", typ}, {"opts", optsObj(m.Opts, false)}, {"rooms", roomsOrEmpty(m.Rooms)}})
	case adapter.MsgDisconnectSockets:
		payload, err = encodeJSON(obj{{"uid", uid}, {"type", classicRemoteDisconnect}, {"opts", optsObj(m.Opts, false)}, {"close", m.Close}})
	case adapter.MsgFetchSockets:
		payload, err = encodeJSON(obj{{"uid", uid}, {"requestId", m.RequestID}, {"type", classicRemoteFetch}, {"opts", optsObj(m.Opts, false)}})
	case adapter.MsgAllRooms:
		payload, err = encodeJSON(obj{{"uid", uid}, {"requestId", m.RequestID}, {"type", classicAllRooms}})
	case adapter.MsgSockets:
		payload, err = encodeJSON(obj{{"uid", uid}, {"requestId", m.RequestID}, {"type", classicSockets}, {"rooms", roomsOrEmpty(m.Opts.Rooms)}})
	case adapter.MsgServerSideEmit:
		o := obj{{"uid", uid}}
		if m.RequestID != "" {
			o = append(o, kv{"requestId", m.RequestID})
		}
		payload, err = encodeJSON(append(o, kv{"type", classicServerSideEmit}, kv{"data", m.Args}))
	default:
		return nil, false, fmt.Errorf("classic format: cannot publish message type %d", m.Type)
	}
	return payload, false, err
}

// encodeClassicResponse returns the payload of an answer.
func encodeClassicResponse(m *adapter.ClusterMessage) ([]byte, error) {
	switch m.Type {
	case adapter.MsgFetchSocketsResponse:
		return encodeJSON(obj{{"requestId", m.RequestID}, {"sockets", socketsObj(m.Sockets)}})
	case adapter.MsgAllRoomsResponse:
		return encodeJSON(obj{{"requestId", m.RequestID}, {"rooms", roomsOrEmpty(m.Rooms)}})
	case adapter.MsgSocketsResponse:
		return encodeJSON(obj{{"requestId", m.RequestID}, {"sockets", socketIDsAny(m.SocketIDs)}})
	case adapter.MsgServerSideEmitResponse:
		return encodeJSON(obj{{"type", classicServerSideEmit}, {"requestId", m.RequestID}, {"data", first(m.Args)}})
	case adapter.MsgBroadcastClientCount:
		o := obj{{"type", classicBroadcastClientCount}, {"requestId", m.RequestID}, {"clientCount", m.ClientCount}}
		if m.SocketIDs != nil {
			o = append(o, kv{"socketIds", socketIDsAny(m.SocketIDs)})
		}
		return encodeJSON(o)
	case adapter.MsgBroadcastAck:
		return encodeMsgpack(append(obj{{"type", classicBroadcastAck}, {"requestId", m.RequestID}, {"packet", first(m.Args)}}, ackExtra(m)...))
	}
	return nil, fmt.Errorf("classic format: cannot answer with message type %d", m.Type)
}

// ackExtra is what our nodes add to a broadcast ack, in fields the Node
// adapters do not read: the answering socket and every argument (the Node
// wire format carries the first only, in "packet").
func ackExtra(m *adapter.ClusterMessage) obj {
	var o obj
	if m.Socket != "" {
		o = append(o, kv{"socket", string(m.Socket)})
	}
	if len(m.Args) > 1 {
		o = append(o, kv{"args", m.Args})
	}
	return o
}

// ackArgs reads the arguments of a broadcast ack: "args" when a node of
// ours sent them all, else the first one in "packet".
func ackArgs(packet, args any) []any {
	if a, ok := args.([]any); ok && len(a) > 1 {
		return a
	}
	return []any{packet}
}

func first(args []any) any {
	if len(args) == 0 {
		return nil
	}
	return args[0]
}

func (t *transport) publishClassic(m *adapter.ClusterMessage) error {
	payload, broadcast, err := encodeClassic(t.uid, m)
	if err != nil {
		return fmt.Errorf("redis adapter: encoding: %w", err)
	}
	channel := t.req
	if broadcast {
		channel = t.bcast
		if len(m.Opts.Rooms) == 1 {
			channel += string(m.Opts.Rooms[0]) + "#"
		}
	}
	return t.b.publish(false, channel, payload, m.OnDropped)
}

func (t *transport) respondClassic(to string, m *adapter.ClusterMessage) error {
	payload, err := encodeClassicResponse(m)
	if err != nil {
		return fmt.Errorf("redis adapter: encoding: %w", err)
	}
	channel := t.res
	if t.specific && to != "" {
		channel += to + "#"
	}
	return t.b.publish(false, channel, payload, nil)
}

// decodeClassicBroadcast reads [uid, packet, opts] from a broadcast
// channel. Packets of other namespaces are ignored (nil message).
func (t *transport) decodeClassicBroadcast(payload []byte) (*adapter.ClusterMessage, error) {
	v, err := decodeMsgpack(payload)
	if err != nil {
		return nil, err
	}
	a, _ := v.([]any)
	if len(a) < 2 {
		return nil, fmt.Errorf("broadcast is %T of length %d, not [uid, packet, opts]", v, len(a))
	}
	p, err := asPacket(a[1])
	if err != nil {
		return nil, err
	}
	if p.Namespace != t.nsp {
		return nil, nil
	}
	m := &adapter.ClusterMessage{Type: adapter.MsgBroadcast, UID: asString(a[0]), Packet: p}
	if len(a) > 2 {
		m.Opts = asOpts(a[2])
	}
	return m, nil
}

// decodeClassicRequest reads a request: JSON, or MessagePack for BROADCAST.
// Join, leave and disconnect requests without opts are the legacy form
// that names one socket (sid); they are applied without an answer.
func decodeClassicRequest(payload []byte) (*adapter.ClusterMessage, error) {
	v, err := decodeAny(payload)
	if err != nil {
		return nil, err
	}
	r := asMap(v)
	if r == nil {
		return nil, fmt.Errorf("request is %T, not an object", v)
	}
	typ, ok := asInt(r["type"])
	if !ok {
		return nil, errors.New("request without type")
	}
	m := &adapter.ClusterMessage{UID: asString(r["uid"]), RequestID: asString(r["requestId"])}
	_, hasOpts := r["opts"]
	m.Opts = asOpts(r["opts"])
	legacyTarget := func() {
		if !hasOpts {
			m.Opts = adapter.BroadcastOptions{Rooms: []adapter.Room{adapter.Room(asString(r["sid"]))}}
		}
	}
	switch typ {
	case classicSockets:
		m.Type = adapter.MsgSockets
		m.Opts = adapter.BroadcastOptions{Rooms: asRooms(r["rooms"])}
	case classicAllRooms:
		m.Type = adapter.MsgAllRooms
	case classicRemoteJoin, classicRemoteLeave:
		m.Type = adapter.MsgSocketsJoin
		if typ == classicRemoteLeave {
			m.Type = adapter.MsgSocketsLeave
		}
		m.Rooms = asRooms(r["rooms"])
		if !hasOpts {
			m.Rooms = []adapter.Room{adapter.Room(asString(r["room"]))}
		}
		legacyTarget()
	case classicRemoteDisconnect:
		m.Type = adapter.MsgDisconnectSockets
		m.Close = asBool(r["close"])
		legacyTarget()
	case classicRemoteFetch:
		m.Type = adapter.MsgFetchSockets
	case classicServerSideEmit:
		m.Type = adapter.MsgServerSideEmit
		m.Args, _ = r["data"].([]any)
	case classicBroadcast:
		m.Type = adapter.MsgBroadcast
		if m.Packet, err = asPacket(r["packet"]); err != nil {
			return nil, err
		}
	default:
		return nil, nil // a type this version does not know
	}
	return m, nil
}

// decodeClassicResponse reads an answer. Most classic answers carry no
// type; the cluster matches them to their request by requestId, so an
// answer is decoded into every field it could fill.
func decodeClassicResponse(payload []byte) (*adapter.ClusterMessage, error) {
	v, err := decodeAny(payload)
	if err != nil {
		return nil, err
	}
	r := asMap(v)
	if r == nil {
		return nil, fmt.Errorf("response is %T, not an object", v)
	}
	m := &adapter.ClusterMessage{RequestID: asString(r["requestId"])}
	if m.RequestID == "" {
		return nil, nil
	}
	typ, hasType := asInt(r["type"])
	switch {
	case hasType && typ == classicBroadcastClientCount:
		m.Type = adapter.MsgBroadcastClientCount
		n, _ := asInt(r["clientCount"])
		m.ClientCount = int(n)
		m.SocketIDs = asSocketIDs(r["socketIds"])
	case hasType && typ == classicBroadcastAck:
		m.Type = adapter.MsgBroadcastAck
		m.Args, m.Socket = ackArgs(r["packet"], r["args"]), adapter.SocketID(asString(r["socket"]))
	case hasType && typ == classicServerSideEmit:
		m.Type = adapter.MsgServerSideEmitResponse
		m.Args = []any{r["data"]}
	case r["rooms"] != nil:
		m.Type = adapter.MsgAllRoomsResponse
		m.Rooms = asRooms(r["rooms"])
	case r["sockets"] != nil:
		// Ids (SOCKETS) or socket objects (REMOTE_FETCH).
		m.Type = adapter.MsgFetchSocketsResponse
		if a, _ := r["sockets"].([]any); len(a) > 0 {
			if _, ok := a[0].(string); ok {
				m.Type = adapter.MsgSocketsResponse
			}
		}
		m.Sockets = asSockets(r["sockets"])
		m.SocketIDs = asSocketIDs(r["sockets"])
	default:
		return nil, nil // legacy acknowledgement of a join or leave
	}
	return m, nil
}
