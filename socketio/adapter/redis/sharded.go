package redis

import (
	"errors"
	"fmt"

	"github.com/caddy-socketio/caddy-socketio/socketio/adapter"
)

// The sharded format (createShardedAdapter, github.com/socketio/socket.io-redis-adapter): every
// message is {type, data, uid, nsp}, JSON unless data holds binary (then
// MessagePack), published with SPUBLISH on "key#nsp#", on a room's channel
// "key#nsp#room#" (dynamic modes, broadcasts without acks to exactly one
// room) or, for answers, on the requester's "key#nsp#uid#".

// The sharded message types (socket.io-adapter's ClusterAdapter).
const (
	shardedBroadcast              = 3
	shardedSocketsJoin            = 4
	shardedSocketsLeave           = 5
	shardedDisconnectSockets      = 6
	shardedFetchSockets           = 7
	shardedFetchSocketsResponse   = 8
	shardedServerSideEmit         = 9
	shardedServerSideEmitResponse = 10
	shardedBroadcastClientCount   = 11
	shardedBroadcastAck           = 12
)

// encodeSharded returns the wire form of m from server uid in namespace
// nsp.
func encodeSharded(uid, nsp string, m *adapter.ClusterMessage) ([]byte, error) {
	var typ int
	var data obj
	binary := false
	switch m.Type {
	case adapter.MsgBroadcast:
		typ = shardedBroadcast
		data = obj{{"packet", packetObj(m.Packet, false)}}
		if m.RequestID != "" {
			data = append(data, kv{"requestId", m.RequestID})
		}
		data = append(data, kv{"opts", optsObj(m.Opts, true)})
		binary = true
	case adapter.MsgSocketsJoin, adapter.MsgSocketsLeave:
		typ = shardedSocketsJoin
		if m.Type == adapter.MsgSocketsLeave {
			typ = shardedSocketsLeave
		}
		data = obj{{"opts", optsObj(m.Opts, true)}, {"rooms", roomsOrEmpty(m.Rooms)}}
	case adapter.MsgDisconnectSockets:
		typ = shardedDisconnectSockets
		data = obj{{"opts", optsObj(m.Opts, true)}, {"close", m.Close}}
	case adapter.MsgFetchSockets:
		typ = shardedFetchSockets
		data = obj{{"opts", optsObj(m.Opts, true)}, {"requestId", m.RequestID}}
	case adapter.MsgFetchSocketsResponse:
		typ = shardedFetchSocketsResponse
		data = obj{{"requestId", m.RequestID}, {"sockets", socketsObj(m.Sockets)}}
		binary = true
	case adapter.MsgServerSideEmit:
		typ = shardedServerSideEmit
		if m.RequestID != "" {
			data = obj{{"requestId", m.RequestID}}
		}
		data = append(data, kv{"packet", m.Args})
		binary = true
	case adapter.MsgServerSideEmitResponse:
		typ = shardedServerSideEmitResponse
		data = obj{{"requestId", m.RequestID}, {"packet", first(m.Args)}}
		binary = true
	case adapter.MsgBroadcastClientCount:
		typ = shardedBroadcastClientCount
		data = obj{{"requestId", m.RequestID}, {"clientCount", m.ClientCount}}
		if m.SocketIDs != nil {
			data = append(data, kv{"socketIds", socketIDsAny(m.SocketIDs)})
		}
	case adapter.MsgBroadcastAck:
		typ = shardedBroadcastAck
		data = append(obj{{"requestId", m.RequestID}, {"packet", first(m.Args)}}, ackExtra(m)...)
		binary = true
	default:
		return nil, fmt.Errorf("sharded format: message type %d: %w", m.Type, ErrUnsupported)
	}
	msg := obj{{"type", typ}, {"data", data}, {"uid", uid}, {"nsp", nsp}}
	if binary && hasBinary(data, 0) {
		return encodeMsgpack(msg)
	}
	return encodeJSON(msg)
}

func (t *transport) publishSharded(m *adapter.ClusterMessage) error {
	payload, err := encodeSharded(t.uid, t.nsp, m)
	if err != nil {
		if errors.Is(err, ErrUnsupported) {
			return err
		}
		return fmt.Errorf("redis adapter: encoding: %w", err)
	}
	channel := t.main
	// A broadcast with acks always uses the main channel: the server count
	// covers every server, not only those that have the room.
	if m.Type == adapter.MsgBroadcast && m.RequestID == "" && len(m.Opts.Rooms) == 1 && t.roomHasChannel(m.Opts.Rooms[0]) {
		channel = t.roomChannel(m.Opts.Rooms[0])
	}
	return t.b.publish(true, channel, payload, m.OnDropped)
}

func (t *transport) respondSharded(to string, m *adapter.ClusterMessage) error {
	payload, err := encodeSharded(t.uid, t.nsp, m)
	if err != nil {
		return fmt.Errorf("redis adapter: encoding: %w", err)
	}
	return t.b.publish(true, t.main+to+"#", payload, nil)
}

// decodeSharded reads a message; those of other namespaces, heartbeats and
// unknown types give a nil message.
func (t *transport) decodeSharded(payload []byte) (*adapter.ClusterMessage, error) {
	v, err := decodeAny(payload)
	if err != nil {
		return nil, err
	}
	r := asMap(v)
	if r == nil {
		return nil, fmt.Errorf("message is %T, not an object", v)
	}
	if nsp, ok := r["nsp"].(string); ok && nsp != t.nsp {
		return nil, nil
	}
	typ, ok := asInt(r["type"])
	if !ok {
		return nil, errors.New("message without type")
	}
	d := asMap(r["data"])
	m := &adapter.ClusterMessage{UID: asString(r["uid"]), RequestID: asString(d["requestId"])}
	switch typ {
	case shardedBroadcast:
		m.Type = adapter.MsgBroadcast
		if m.Packet, err = asPacket(d["packet"]); err != nil {
			return nil, err
		}
		m.Opts = asOpts(d["opts"])
	case shardedSocketsJoin, shardedSocketsLeave:
		m.Type = adapter.MsgSocketsJoin
		if typ == shardedSocketsLeave {
			m.Type = adapter.MsgSocketsLeave
		}
		m.Opts, m.Rooms = asOpts(d["opts"]), asRooms(d["rooms"])
	case shardedDisconnectSockets:
		m.Type = adapter.MsgDisconnectSockets
		m.Opts, m.Close = asOpts(d["opts"]), asBool(d["close"])
	case shardedFetchSockets:
		m.Type = adapter.MsgFetchSockets
		m.Opts = asOpts(d["opts"])
	case shardedFetchSocketsResponse:
		m.Type = adapter.MsgFetchSocketsResponse
		m.Sockets = asSockets(d["sockets"])
	case shardedServerSideEmit:
		m.Type = adapter.MsgServerSideEmit
		m.Args, _ = d["packet"].([]any)
	case shardedServerSideEmitResponse:
		m.Type = adapter.MsgServerSideEmitResponse
		m.Args = []any{d["packet"]}
	case shardedBroadcastClientCount:
		m.Type = adapter.MsgBroadcastClientCount
		n, _ := asInt(d["clientCount"])
		m.ClientCount = int(n)
		m.SocketIDs = asSocketIDs(d["socketIds"])
	case shardedBroadcastAck:
		m.Type = adapter.MsgBroadcastAck
		m.Args, m.Socket = ackArgs(d["packet"], d["args"]), adapter.SocketID(asString(d["socket"]))
	default:
		return nil, nil // heartbeats, adapter close, newer types
	}
	return m, nil
}
