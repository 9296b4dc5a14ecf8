// Package parser implements the Socket.IO protocol v5 packet codec (the
// "default parser" of socket.io-parser): packet types, namespace, ack id, JSON
// data and binary attachments. It does no I/O: the Engine.IO layer hands it
// the payloads of engine "message" packets and sends what it returns.
//
// Text produced by [Encode] and consumed by [Decoder.DecodeText] never
// carries the Engine.IO message prefix "4"; each attachment travels as its
// own engine binary message.
//
// Reference: github.com/socketio/socket.io-protocol
package parser

import (
	"encoding/json"
	"errors"
	"strconv"
)

// Type is the Socket.IO packet type, the first character of every packet.
type Type byte

// The Socket.IO v5 packet types (github.com/socketio/socket.io-protocol). The numeric value is the
// digit written on the wire.
const (
	// Connect asks to join a namespace (client) or accepts the request (server).
	Connect Type = iota
	// Disconnect leaves a namespace; it never carries data.
	Disconnect
	// Event carries [name, args...].
	Event
	// Ack answers an Event that asked for an acknowledgement.
	Ack
	// ConnectError refuses a Connect.
	ConnectError
	// BinaryEvent is an Event whose data holds attachments.
	BinaryEvent
	// BinaryAck is an Ack whose data holds attachments.
	BinaryAck
)

// typeNames holds the wire-spec names, indexed by Type.
var typeNames = [...]string{
	Connect:      "CONNECT",
	Disconnect:   "DISCONNECT",
	Event:        "EVENT",
	Ack:          "ACK",
	ConnectError: "CONNECT_ERROR",
	BinaryEvent:  "BINARY_EVENT",
	BinaryAck:    "BINARY_ACK",
}

// String returns the name the protocol specification uses for t, such as
// "CONNECT_ERROR", or "Type(n)" for a value outside the protocol.
func (t Type) String() string {
	if int(t) < len(typeNames) {
		return typeNames[t]
	}
	return "Type(" + strconv.Itoa(int(t)) + ")"
}

// valid reports whether t is one of the seven protocol types.
func (t Type) valid() bool { return t <= BinaryAck }

// MaxAttachments is the default limit on the number of binary attachments of
// one packet. It matches socket.io-parser's maxAttachments default, so it is
// also the most a stock peer accepts: [Encode] never produces more.
const MaxAttachments = 10

// MaxAckID is the largest ack id accepted or produced: 2^53-1, the largest
// integer a JavaScript peer represents exactly (Number.MAX_SAFE_INTEGER).
// A larger id would be rounded on the other side and the ack would be lost,
// so it is rejected instead (the official Node server).
const MaxAckID = 1<<53 - 1

// Packet is one Socket.IO packet.
//
// Data holds the JSON value of the packet. After decoding it is one of nil,
// bool, json.Number, string, []any or map[string]any (nested freely), plus
// []byte where an attachment placeholder stood. For encoding, see [Encode].
type Packet struct {
	// Type is the packet type. A decoded BINARY_EVENT or BINARY_ACK keeps
	// its binary type; callers treat it like Event or Ack.
	Type Type
	// Namespace is the namespace the packet belongs to, such as "/admin".
	// It is "/" when absent on the wire and never empty after decoding;
	// Encode treats "" as "/".
	Namespace string
	// ID is the ack id: on an Event, the sender wants an Ack with this id;
	// on an Ack, the id being answered. Meaningful only when HasID is set.
	ID uint64
	// HasID reports whether the packet carries an ack id (0 is a valid id).
	HasID bool
	// Data is the packet payload; nil means none.
	Data any

	// RawArgs, when not nil, holds the arguments of an EVENT or ACK (and
	// their binary forms) as the JSON text of an array, not decoded, and
	// Data is nil: a [Decoder] with Lazy set returns events and acks so,
	// checked as thoroughly as Data would be, and [AppendEncode] writes
	// them as they are (no decode, no re-encode). For an EVENT the array
	// holds the arguments after the name, which is in Event. Attachment
	// placeholders stay in the text; Attachments holds what they name.
	// [Packet.Args] decodes them.
	RawArgs json.RawMessage
	// Event is the event name of an EVENT whose RawArgs is set.
	Event string
	// Attachments are the binary attachments RawArgs' placeholders name,
	// in order. Encoding a packet with more than zero writes the binary
	// type.
	Attachments [][]byte
}

// ErrInvalidPacket is the error every decoding and encoding failure of this
// package matches with errors.Is. The finer sentinels below all wrap it.
var ErrInvalidPacket = errors.New("invalid socket.io packet")

// Finer sentinels; each one satisfies errors.Is(err, ErrInvalidPacket).
var (
	// ErrUnknownType reports a type digit outside 0..6.
	ErrUnknownType = sentinel("unknown packet type")
	// ErrInvalidAttachments reports a malformed attachment count ("5x-",
	// missing "-") or a placeholder that does not name a received attachment.
	ErrInvalidAttachments = sentinel("invalid attachments")
	// ErrTooManyAttachments reports more attachments than the limit: the
	// Decoder's MaxAttachments when decoding, MaxAttachments when encoding.
	ErrTooManyAttachments = sentinel("too many attachments")
	// ErrInvalidNamespace reports a namespace that cannot be written or read
	// back unchanged.
	ErrInvalidNamespace = sentinel("invalid namespace")
	// ErrInvalidAckID reports an ack id above MaxAckID.
	ErrInvalidAckID = sentinel("invalid ack id")
	// ErrInvalidPayload reports data that is not JSON, is followed by
	// garbage, or does not have the shape its packet type requires
	// (github.com/socketio/socket.io-protocol); on encode, data that cannot be written as JSON.
	ErrInvalidPayload = sentinel("invalid payload")
	// ErrUnexpectedText reports a text message while a binary packet still
	// waits for attachments.
	ErrUnexpectedText = sentinel("text message while waiting for attachments")
	// ErrUnexpectedBinary reports a binary message when no attachment is
	// expected.
	ErrUnexpectedBinary = sentinel("binary message without a pending binary packet")
)

// wrappedError is a sentinel that also matches ErrInvalidPacket, so callers
// that only care whether the peer spoke garbage need a single check.
type wrappedError struct{ msg string }

func (e *wrappedError) Error() string { return ErrInvalidPacket.Error() + ": " + e.msg }
func (e *wrappedError) Unwrap() error { return ErrInvalidPacket }

func sentinel(msg string) error { return &wrappedError{msg} }

// IsReservedEvent reports whether name is an event name that neither side may
// emit (github.com/socketio/socket.io-protocol): connect, connect_error, disconnect, disconnecting,
// newListener and removeListener. An incoming EVENT named so is invalid.
func IsReservedEvent(name string) bool {
	switch name {
	case "connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener":
		return true
	}
	return false
}
