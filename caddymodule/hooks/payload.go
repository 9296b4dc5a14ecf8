package hooks

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/caddy-socketio/caddy-socketio/socketio"
)

// Request is the JSON body POSTed to a hook. Binary values in Args and
// Socket.Data travel as {"_binary": "<base64>"}.
type Request struct {
	// Type is "connect", "event", "disconnect" or "expire" (a recoverable
	// disconnect whose recovery window ran out; sent to the hooks that
	// select disconnects).
	Type string `json:"type"`
	// ID identifies the delivery; the retries of a disconnect hook repeat
	// it, so apps can drop duplicates. It is also in X-Socketio-Delivery.
	ID string `json:"id"`
	// Time is when it happened (RFC 3339, UTC), not when it was sent.
	Time      string     `json:"time"`
	Namespace string     `json:"namespace"`
	Socket    SocketInfo `json:"socket"`
	// Event, Args and Ack are set for type "event". Ack says whether the
	// client asked for an acknowledgement.
	Event string          `json:"event,omitempty"`
	Args  json.RawMessage `json:"args,omitempty"`
	Ack   *bool           `json:"ack,omitempty"`
	// Reason is set for type "disconnect": "transport close",
	// "client namespace disconnect", "ping timeout", ...
	Reason string `json:"reason,omitempty"`
	// Recovered is set on a connect that recovered the session of a socket
	// that dropped (connection state recovery): same id, and Socket.Rooms
	// and Socket.Data are the restored ones. The hook may still refuse it.
	Recovered bool `json:"recovered,omitempty"`
	// Recoverable is set on a disconnect whose session is kept for
	// recovery: the client may come back as the same socket (a connect
	// with "recovered": true) or, when the window runs out, an "expire"
	// request follows.
	Recoverable bool `json:"recoverable,omitempty"`
}

// SocketInfo describes the socket in a Request.
type SocketInfo struct {
	ID string `json:"id"`
	// Rooms the socket is in, its own id room included ([] on connect,
	// the restored rooms on a recovered connect; on disconnect and expire,
	// the rooms it was in just before leaving).
	Rooms []string `json:"rooms"`
	// Data is the socket's data, as set by an earlier reply (or null).
	Data any `json:"data"`
	// Handshake of the connection (null on expire).
	Handshake *socketio.Handshake `json:"handshake"`
}

// Reply is the JSON object a hook may answer with (status 2xx). Every field
// is optional; an empty body means no action.
type Reply struct {
	// Ack holds the arguments of the client's acknowledgement callback
	// (type "event" with "ack": true). A value that is not an array is the
	// single argument. Absent or null: no acknowledgement from this reply.
	Ack json.RawMessage `json:"ack,omitempty"`
	// Emit sends events, in order.
	Emit []Emit `json:"emit,omitempty"`
	// Join and Leave change the socket's rooms.
	Join  []string `json:"join,omitempty"`
	Leave []string `json:"leave,omitempty"`
	// Data replaces the socket's data (null clears it); absent leaves it.
	Data json.RawMessage `json:"data,omitempty"`
	// Disconnect disconnects the socket from the namespace.
	Disconnect bool `json:"disconnect,omitempty"`
	// Error refuses a connect with connect_error; ignored for other types.
	Error *ReplyError `json:"error,omitempty"`
}

// Emit is one event a reply sends.
type Emit struct {
	Event string `json:"event"`
	Args  []any  `json:"args,omitempty"`
	// To selects the sockets in any of these rooms (socket ids are rooms),
	// the replying socket included if it is in one of them.
	To []string `json:"to,omitempty"`
	// Except leaves out the sockets in any of these rooms.
	Except []string `json:"except,omitempty"`
	// Namespace sends to another namespace (it must exist); there, without
	// To, the event goes to the whole namespace.
	Namespace string `json:"namespace,omitempty"`
	// Broadcast leaves the replying socket out: without To, the event goes
	// to every other socket of the namespace; with To, to the others in
	// those rooms.
	Broadcast bool `json:"broadcast,omitempty"`
}

// ReplyError refuses a connection.
type ReplyError struct {
	Message string `json:"message"`
	Data    any    `json:"data,omitempty"`
}

// decoded is a Reply with its JSON values decoded, binary included.
type decoded struct {
	ack        []any
	hasAck     bool
	emit       []Emit
	join       []string
	leave      []string
	data       any
	hasData    bool
	disconnect bool
	err        *ReplyError
}

func (r *decoded) empty() bool {
	return r == nil || (!r.hasAck && len(r.emit) == 0 && len(r.join) == 0 && len(r.leave) == 0 &&
		!r.hasData && !r.disconnect && r.err == nil)
}

// parseReply decodes a reply body; an empty (or all-blank) body is no
// action.
func parseReply(body []byte) (*decoded, error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return &decoded{}, nil
	}
	if body[0] != '{' {
		return nil, errors.New("reply is not a JSON object")
	}
	var r Reply
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("reply: %w", err)
	}
	if dec.More() {
		return nil, errors.New("reply: data after the JSON object")
	}
	out := &decoded{emit: r.Emit, join: r.Join, leave: r.Leave, disconnect: r.Disconnect, err: r.Error}
	if v, ok, err := rawValue(r.Ack); err != nil {
		return nil, fmt.Errorf("reply ack: %w", err)
	} else if ok && v != nil {
		out.hasAck = true
		if arr, isArr := v.([]any); isArr {
			out.ack = arr
		} else {
			out.ack = []any{v}
		}
	}
	if v, ok, err := rawValue(r.Data); err != nil {
		return nil, fmt.Errorf("reply data: %w", err)
	} else if ok {
		out.hasData, out.data = true, v
	}
	for i := range out.emit {
		e := &out.emit[i]
		if e.Event == "" {
			return nil, fmt.Errorf("reply emit %d: no event", i)
		}
		for j, a := range e.Args {
			d, err := DecodeBinary(a)
			if err != nil {
				return nil, fmt.Errorf("reply emit %d: %w", i, err)
			}
			e.Args[j] = d
		}
	}
	if out.err != nil && out.err.Data != nil {
		d, err := DecodeBinary(out.err.Data)
		if err != nil {
			return nil, fmt.Errorf("reply error: %w", err)
		}
		out.err.Data = d
	}
	return out, nil
}

// rawValue decodes a json.RawMessage field: ok is false when it was absent.
func rawValue(raw json.RawMessage) (v any, ok bool, err error) {
	if len(raw) == 0 {
		return nil, false, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return nil, false, err
	}
	v, err = DecodeBinary(v)
	if err != nil {
		return nil, false, err
	}
	return v, true, nil
}

// Sign returns the X-Socketio-Signature value for a request body sent at
// timestamp (unix seconds, as in X-Socketio-Timestamp).
func Sign(secret []byte, timestamp string, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(timestamp))
	m.Write([]byte{'.'})
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Verify checks a hook request as an app should: the signature matches (in
// constant time) and the timestamp is within window of now (300s is the
// documented choice). It is what docs/webhooks.md shows for other
// languages.
func Verify(secret []byte, timestamp, signature string, body []byte, now time.Time, window time.Duration) error {
	ts, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return errors.New("invalid timestamp")
	}
	if d := now.Sub(time.Unix(ts, 0)); d > window || d < -window {
		return errors.New("timestamp outside the window")
	}
	want := Sign(secret, timestamp, body)
	if !strings.HasPrefix(signature, "sha256=") || !hmac.Equal([]byte(signature), []byte(want)) {
		return errors.New("bad signature")
	}
	return nil
}
