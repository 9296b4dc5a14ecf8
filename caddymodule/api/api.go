// Package api is the HTTP API an application calls to act on a Socket.IO
// server: emit (optionally waiting for acknowledgements), make sockets join
// or leave rooms, disconnect them, list sockets and rooms. It is an
// http.Handler for paths relative to its mount point ("/emit", "/join",
// "/leave", "/disconnect", "/sockets", "/rooms"); the caller strips its
// prefix. Every request needs "Authorization: Bearer <token>". Binary values
// travel as {"_binary": "<base64>"}, as in the hooks. docs/webhooks.md
// documents the requests and answers.
package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/caddy-socketio/caddy-socketio/caddymodule/hooks"
	"github.com/caddy-socketio/caddy-socketio/socketio"
)

// Defaults of the options.
const (
	DefaultMaxBodyBytes  = 1 << 20
	DefaultMaxAckTimeout = time.Minute
	// fetchTimeout bounds listing sockets and rooms across nodes.
	fetchTimeout = 5 * time.Second
)

// Operations, the keys of Stats.Calls and Stats.Errors.
const (
	OpEmit       = "emit"
	OpJoin       = "join"
	OpLeave      = "leave"
	OpDisconnect = "disconnect"
	OpSockets    = "sockets"
	OpRooms      = "rooms"
)

var ops = []string{OpEmit, OpJoin, OpLeave, OpDisconnect, OpSockets, OpRooms}

// Handler serves the API for one socketio.Server.
type Handler struct {
	srv           *socketio.Server
	tokenSum      [sha256.Size]byte
	trusted       bool // NewTrusted: the caller authenticates
	maxBody       int64
	maxAckTimeout time.Duration
	log           *slog.Logger
	headers       func() *hooks.HeaderFilter

	calls        map[string]*atomic.Uint64
	errs         map[string]*atomic.Uint64
	unauthorized atomic.Uint64
	notFound     atomic.Uint64
}

// Option changes a Handler's defaults.
type Option func(*Handler)

// WithMaxBodyBytes bounds request bodies (default 1 MiB); a longer one is
// answered 413.
func WithMaxBodyBytes(n int64) Option {
	return func(h *Handler) {
		if n > 0 {
			h.maxBody = n
		}
	}
}

// WithMaxAckTimeout bounds the ack_timeout of an emit (default 1 minute).
func WithMaxAckTimeout(d time.Duration) Option {
	return func(h *Handler) {
		if d > 0 {
			h.maxAckTimeout = d
		}
	}
}

// WithHeaderFilter sets the filter of the handshake headers GET /sockets
// shows, read at each request (default: the nil hooks.HeaderFilter, which
// leaves out cookie, authorization and proxy-authorization).
func WithHeaderFilter(f func() *hooks.HeaderFilter) Option {
	return func(h *Handler) {
		if f != nil {
			h.headers = f
		}
	}
}

// WithLogger sets the logger (default: discarded).
func WithLogger(l *slog.Logger) Option {
	return func(h *Handler) {
		if l != nil {
			h.log = l
		}
	}
}

// New returns the API handler for srv. The token is required: every request
// must carry "Authorization: Bearer <token>".
func New(srv *socketio.Server, token string, opts ...Option) (*Handler, error) {
	if srv == nil {
		return nil, errors.New("api: no server")
	}
	if strings.TrimSpace(token) == "" {
		return nil, errors.New("api: a token is required")
	}
	h := newHandler(srv, opts)
	h.tokenSum = sha256.Sum256([]byte(token))
	return h, nil
}

// NewTrusted returns the API handler for srv without a token, for a caller
// that authenticates requests itself before passing them on (Caddy's admin
// endpoint, which is local and privileged). Never serve it on its own.
func NewTrusted(srv *socketio.Server, opts ...Option) *Handler {
	h := newHandler(srv, opts)
	h.trusted = true
	return h
}

func newHandler(srv *socketio.Server, opts []Option) *Handler {
	h := &Handler{
		srv:           srv,
		maxBody:       DefaultMaxBodyBytes,
		maxAckTimeout: DefaultMaxAckTimeout,
		log:           slog.New(slog.NewTextHandler(io.Discard, nil)),
		headers:       func() *hooks.HeaderFilter { return nil },
		calls:         make(map[string]*atomic.Uint64, len(ops)),
		errs:          make(map[string]*atomic.Uint64, len(ops)),
	}
	for _, op := range ops {
		h.calls[op], h.errs[op] = new(atomic.Uint64), new(atomic.Uint64)
	}
	for _, o := range opts {
		o(h)
	}
	return h
}

// Stats counts the API calls.
type Stats struct {
	// Calls counts the authorized requests by operation (emit, join, leave,
	// disconnect, sockets, rooms); Errors those of them answered with a
	// 4xx or 5xx status.
	Calls  map[string]uint64
	Errors map[string]uint64
	// Unauthorized counts requests refused with 401, NotFound the
	// authorized requests for an unknown path.
	Unauthorized uint64
	NotFound     uint64
}

// Stats returns a snapshot of the counters.
func (h *Handler) Stats() Stats {
	s := Stats{
		Calls:        make(map[string]uint64, len(ops)),
		Errors:       make(map[string]uint64, len(ops)),
		Unauthorized: h.unauthorized.Load(),
		NotFound:     h.notFound.Load(),
	}
	for _, op := range ops {
		s.Calls[op] = h.calls[op].Load()
		s.Errors[op] = h.errs[op].Load()
	}
	return s
}

// apiError is an error answer.
type apiError struct {
	status int
	msg    string
}

func (e *apiError) Error() string { return e.msg }

func errorf(status int, format string, args ...any) *apiError {
	return &apiError{status: status, msg: fmt.Sprintf(format, args...)}
}

// route is one operation: its method and function.
type route struct {
	method string
	fn     func(h *Handler, w http.ResponseWriter, r *http.Request) (any, error)
}

var routes = map[string]route{
	OpEmit:       {http.MethodPost, (*Handler).emit},
	OpJoin:       {http.MethodPost, (*Handler).join},
	OpLeave:      {http.MethodPost, (*Handler).leave},
	OpDisconnect: {http.MethodPost, (*Handler).disconnect},
	OpSockets:    {http.MethodGet, (*Handler).sockets},
	OpRooms:      {http.MethodGet, (*Handler).rooms},
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !h.trusted && !h.authorized(r) {
		h.unauthorized.Add(1)
		w.Header().Set("WWW-Authenticate", `Bearer realm="socketio-api"`)
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "missing or wrong token"})
		return
	}
	op := strings.Trim(r.URL.Path, "/")
	rt, ok := routes[op]
	if !ok {
		h.notFound.Add(1)
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "no such operation: /" + op})
		return
	}
	h.calls[op].Add(1)
	if r.Method != rt.method {
		h.errs[op].Add(1)
		w.Header().Set("Allow", rt.method)
		writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "use " + rt.method})
		return
	}
	out, err := rt.fn(h, w, r)
	if err != nil {
		h.errs[op].Add(1)
		var ae *apiError
		if !errors.As(err, &ae) {
			h.log.Warn("api call failed", "op", op, "error", err)
			ae = &apiError{status: http.StatusInternalServerError, msg: err.Error()}
		}
		writeJSON(w, ae.status, map[string]string{"error": ae.msg})
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// authorized compares the bearer token in constant time (of the token's
// hash, so its length does not leak either).
func (h *Handler) authorized(r *http.Request) bool {
	auth := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(auth, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	sum := sha256.Sum256([]byte(strings.TrimSpace(tok)))
	return subtle.ConstantTimeCompare(sum[:], h.tokenSum[:]) == 1
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"error":"answer does not encode as JSON"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// decode reads a JSON body into v: unknown fields, trailing data and
// invalid JSON are 400, a body over the limit 413.
func (h *Handler) decode(w http.ResponseWriter, r *http.Request, v any) error {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.maxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return errorf(http.StatusRequestEntityTooLarge, "body larger than %d bytes", h.maxBody)
		}
		return errorf(http.StatusBadRequest, "reading body: %v", err)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return errorf(http.StatusBadRequest, "invalid JSON body: %v", err)
	}
	if dec.More() {
		return errorf(http.StatusBadRequest, "invalid JSON body: data after the object")
	}
	return nil
}

// namespace finds an existing namespace ("/" when name is empty).
func (h *Handler) namespace(name string) (*socketio.Namespace, error) {
	if name == "" {
		name = "/"
	}
	n, ok := h.srv.Namespace(name)
	if !ok {
		return nil, errorf(http.StatusNotFound, "unknown namespace %q", name)
	}
	return n, nil
}

func rooms(ss []string) []socketio.Room {
	out := make([]socketio.Room, 0, len(ss))
	for _, s := range ss {
		out = append(out, socketio.Room(s))
	}
	return out
}

// emitRequest is the body of POST /emit.
type emitRequest struct {
	Namespace  string   `json:"namespace"`
	Event      string   `json:"event"`
	Args       []any    `json:"args"`
	To         []string `json:"to"`
	Except     []string `json:"except"`
	Volatile   bool     `json:"volatile"`
	AckTimeout string   `json:"ack_timeout"`
}

// emitAckReply answers POST /emit with ack_timeout: every acknowledgement
// received, with the socket that sent it and all its arguments, and the
// selected sockets that did not answer in time.
type emitAckReply struct {
	OK       bool          `json:"ok"`
	Acks     []ackResponse `json:"acks"`
	TimedOut []string      `json:"timed_out"`
}

// ackResponse is one client's acknowledgement; Socket is null when a
// Node.js server of the cluster answered for it (it forwards neither the
// socket id nor more than the first argument).
type ackResponse struct {
	Socket *string `json:"socket"`
	Args   []any   `json:"args"`
}

func (h *Handler) emit(w http.ResponseWriter, r *http.Request) (any, error) {
	var req emitRequest
	if err := h.decode(w, r, &req); err != nil {
		return nil, err
	}
	if req.Event == "" {
		return nil, errorf(http.StatusBadRequest, "event is required")
	}
	var timeout time.Duration
	if req.AckTimeout != "" {
		d, err := time.ParseDuration(req.AckTimeout)
		if err != nil || d <= 0 || d > h.maxAckTimeout {
			return nil, errorf(http.StatusBadRequest, "ack_timeout must be a duration such as \"5s\", at most %v", h.maxAckTimeout)
		}
		timeout = d
	}
	args := req.Args
	for i, a := range args {
		v, err := hooks.DecodeBinary(a)
		if err != nil {
			return nil, errorf(http.StatusBadRequest, "args[%d]: %v", i, err)
		}
		args[i] = v
	}
	nsp, err := h.namespace(req.Namespace)
	if err != nil {
		return nil, err
	}
	op := nsp.To(rooms(req.To)...).Except(rooms(req.Except)...)
	if req.Volatile {
		op = op.Volatile()
	}
	if timeout == 0 {
		if err := op.Emit(req.Event, args...); err != nil {
			return nil, emitError(err)
		}
		return okReply{OK: true}, nil
	}
	acks, pending, err := op.Timeout(timeout).EmitWithAcks(r.Context(), req.Event, args...)
	timedOut := errors.Is(err, socketio.ErrTimeout)
	if err != nil && !timedOut {
		return nil, emitError(err)
	}
	out := emitAckReply{OK: true, Acks: make([]ackResponse, 0, len(acks)), TimedOut: make([]string, 0, len(pending))}
	for _, a := range acks {
		r := ackResponse{Args: []any{}}
		if a.Socket != "" {
			id := string(a.Socket)
			r.Socket = &id
		}
		if len(a.Args) > 0 {
			r.Args, _ = hooks.EncodeBinary(a.Args).([]any)
		}
		out.Acks = append(out.Acks, r)
	}
	for _, id := range pending {
		out.TimedOut = append(out.TimedOut, string(id))
	}
	return out, nil
}

func emitError(err error) error {
	if errors.Is(err, socketio.ErrReservedEvent) {
		return errorf(http.StatusBadRequest, "reserved event name")
	}
	if errors.Is(err, context.Canceled) {
		return errorf(http.StatusServiceUnavailable, "request cancelled")
	}
	return err
}

// selection is the part of the join, leave and disconnect bodies that
// selects sockets: those with the given ids or in any of the rooms in "in"
// (a socket id is a room too), minus those in "except". One of sockets and
// in is required, so that no call acts on a whole namespace by mistake.
type selection struct {
	Namespace string   `json:"namespace"`
	Sockets   []string `json:"sockets"`
	In        []string `json:"in"`
	Except    []string `json:"except"`
}

func (h *Handler) selectSockets(s selection) (*socketio.BroadcastOperator, error) {
	if len(s.Sockets)+len(s.In) == 0 {
		return nil, errorf(http.StatusBadRequest, "sockets or in is required")
	}
	for _, x := range append(append([]string(nil), s.Sockets...), s.In...) {
		if x == "" {
			return nil, errorf(http.StatusBadRequest, "empty socket id or room")
		}
	}
	nsp, err := h.namespace(s.Namespace)
	if err != nil {
		return nil, err
	}
	sel := append(rooms(s.Sockets), rooms(s.In)...)
	return nsp.In(sel...).Except(rooms(s.Except)...), nil
}

type membershipRequest struct {
	selection
	Rooms []string `json:"rooms"`
}

type okReply struct {
	OK bool `json:"ok"`
}

func (h *Handler) membership(w http.ResponseWriter, r *http.Request, join bool) (any, error) {
	var req membershipRequest
	if err := h.decode(w, r, &req); err != nil {
		return nil, err
	}
	if len(req.Rooms) == 0 {
		return nil, errorf(http.StatusBadRequest, "rooms is required")
	}
	for _, room := range req.Rooms {
		if room == "" {
			return nil, errorf(http.StatusBadRequest, "empty room name")
		}
	}
	op, err := h.selectSockets(req.selection)
	if err != nil {
		return nil, err
	}
	if join {
		err = op.SocketsJoin(rooms(req.Rooms)...)
	} else {
		err = op.SocketsLeave(rooms(req.Rooms)...)
	}
	if err != nil {
		return nil, err
	}
	return okReply{OK: true}, nil
}

func (h *Handler) join(w http.ResponseWriter, r *http.Request) (any, error) {
	return h.membership(w, r, true)
}

func (h *Handler) leave(w http.ResponseWriter, r *http.Request) (any, error) {
	return h.membership(w, r, false)
}

type disconnectRequest struct {
	selection
	Close bool `json:"close"`
}

func (h *Handler) disconnect(w http.ResponseWriter, r *http.Request) (any, error) {
	var req disconnectRequest
	if err := h.decode(w, r, &req); err != nil {
		return nil, err
	}
	op, err := h.selectSockets(req.selection)
	if err != nil {
		return nil, err
	}
	if err := op.DisconnectSockets(req.Close); err != nil {
		return nil, err
	}
	return okReply{OK: true}, nil
}

// socketJSON is one socket in GET /sockets.
type socketJSON struct {
	ID        string              `json:"id"`
	Rooms     []string            `json:"rooms"`
	Data      any                 `json:"data"`
	Handshake *socketio.Handshake `json:"handshake"`
}

func (h *Handler) fetch(r *http.Request) ([]socketJSON, error) {
	q := r.URL.Query()
	nsp, err := h.namespace(q.Get("namespace"))
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(r.Context(), fetchTimeout)
	defer cancel()
	infos, err := nsp.In(rooms(q["room"])...).FetchSockets(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]socketJSON, 0, len(infos))
	filter := h.headers()
	for _, si := range infos {
		rs := make([]string, 0, len(si.Rooms))
		for _, room := range si.Rooms {
			rs = append(rs, string(room))
		}
		sort.Strings(rs)
		out = append(out, socketJSON{ID: string(si.ID), Rooms: rs, Data: hooks.EncodeBinary(si.Data), Handshake: filter.Handshake(si.Handshake)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

func (h *Handler) sockets(w http.ResponseWriter, r *http.Request) (any, error) {
	if err := onlyParams(r, "namespace", "room"); err != nil {
		return nil, err
	}
	return h.fetch(r)
}

// roomJSON is one room in GET /rooms.
type roomJSON struct {
	Room    string `json:"room"`
	Sockets int    `json:"sockets"`
}

// rooms lists the rooms of a namespace with their member counts, on every
// node, leaving out the rooms named after a socket id.
func (h *Handler) rooms(w http.ResponseWriter, r *http.Request) (any, error) {
	if err := onlyParams(r, "namespace"); err != nil {
		return nil, err
	}
	socks, err := h.fetch(r)
	if err != nil {
		return nil, err
	}
	counts := map[string]int{}
	ids := make(map[string]bool, len(socks))
	for _, s := range socks {
		ids[s.ID] = true
	}
	for _, s := range socks {
		for _, room := range s.Rooms {
			if !ids[room] {
				counts[room]++
			}
		}
	}
	out := make([]roomJSON, 0, len(counts))
	for room, n := range counts {
		out = append(out, roomJSON{Room: room, Sockets: n})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Room < out[j].Room })
	return out, nil
}

func onlyParams(r *http.Request, allowed ...string) error {
	for k := range r.URL.Query() {
		ok := false
		for _, a := range allowed {
			if k == a {
				ok = true
				break
			}
		}
		if !ok {
			return errorf(http.StatusBadRequest, "unknown query parameter %q", k)
		}
	}
	return nil
}
