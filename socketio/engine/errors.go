package engine

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
)

// Reason is why a session closed, with the exact text the Node server
// reports (socket.io surfaces it as the disconnect reason).
type Reason string

const (
	// ReasonTransportClose: the client closed the transport (websocket close
	// frame or EOF, or a "1" packet).
	ReasonTransportClose Reason = "transport close"
	// ReasonTransportError: protocol violation (duplicate GET/POST, client
	// ping, binary POST), network error, write timeout or full send queue.
	ReasonTransportError Reason = "transport error"
	// ReasonPingTimeout: no pong within PingTimeout after a ping.
	ReasonPingTimeout Reason = "ping timeout"
	// ReasonParseError: an undecodable Engine.IO packet.
	ReasonParseError Reason = "parse error"
	// ReasonForcedClose: the application closed the session.
	ReasonForcedClose Reason = "forced close"
	// ReasonServerShuttingDown: Server.Shutdown.
	ReasonServerShuttingDown Reason = "server shutting down"
)

// ErrorCode is one of the engine's HTTP error codes (github.com/socketio/engine.io-protocol).
type ErrorCode int

const (
	CodeUnknownTransport           ErrorCode = 0 // "Transport unknown"
	CodeUnknownSID                 ErrorCode = 1 // "Session ID unknown"
	CodeBadHandshakeMethod         ErrorCode = 2 // "Bad handshake method"
	CodeBadRequest                 ErrorCode = 3 // "Bad request"
	CodeForbidden                  ErrorCode = 4 // "Forbidden" (HTTP 403)
	CodeUnsupportedProtocolVersion ErrorCode = 5 // "Unsupported protocol version"
)

var errorMessages = [...]string{
	CodeUnknownTransport:           "Transport unknown",
	CodeUnknownSID:                 "Session ID unknown",
	CodeBadHandshakeMethod:         "Bad handshake method",
	CodeBadRequest:                 "Bad request",
	CodeForbidden:                  "Forbidden",
	CodeUnsupportedProtocolVersion: "Unsupported protocol version",
}

// Message returns the exact wire message of the code.
func (c ErrorCode) Message() string {
	if c >= 0 && int(c) < len(errorMessages) {
		return errorMessages[c]
	}
	return "Unknown error"
}

// String returns the message.
func (c ErrorCode) String() string { return c.Message() }

// Status is the HTTP status of a polling error response: 403 for
// CodeForbidden, 400 otherwise.
func (c ErrorCode) Status() int {
	if c == CodeForbidden {
		return http.StatusForbidden
	}
	return http.StatusBadRequest
}

var (
	// ErrClosed is returned by Send on a closed session.
	ErrClosed = errors.New("engine: session closed")
	// ErrQueueFull is returned by Send when the message would overflow the
	// session's send queue; the session has been closed.
	ErrQueueFull = errors.New("engine: send queue full")
)

// writeError answers a polling/handshake request with the JSON error body
// {"code":N,"message":"..."} (§1.9). msg overrides the code's message.
func writeError(w http.ResponseWriter, code ErrorCode, msg string) {
	writeErrorStatus(w, code.Status(), code, msg)
}

func writeErrorStatus(w http.ResponseWriter, status int, code ErrorCode, msg string) {
	if msg == "" {
		msg = code.Message()
	}
	m := jsonString(msg)
	body := make([]byte, 0, 24+len(m))
	body = append(body, `{"code":`...)
	body = strconv.AppendInt(body, int64(code), 10)
	body = append(body, `,"message":`...)
	body = append(body, m...)
	body = append(body, '}')
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// jsonString encodes s as a JSON string literal without HTML escaping, like
// JSON.stringify.
func jsonString(s string) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	return bytes.TrimSuffix(b.Bytes(), []byte{'\n'})
}

// writeUpgradeError answers a refused websocket upgrade like Node's
// abortUpgrade: status 400 whatever the code, plain message body, and the
// connection is closed.
func writeUpgradeError(w http.ResponseWriter, status int, msg string) {
	h := w.Header()
	h.Set("Connection", "close")
	h.Set("Content-Type", "text/html")
	h.Set("Content-Length", strconv.Itoa(len(msg)))
	w.WriteHeader(status)
	_, _ = w.Write([]byte(msg))
}

// writeEmpty answers with a bodiless status (duplicate GET/POST 400, 413, 500).
func writeEmpty(w http.ResponseWriter, status int) {
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(status)
}
