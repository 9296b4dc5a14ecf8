package admin

import (
	"context"
	"crypto/subtle"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/caddy-socketio/caddy-socketio/socketio"
)

// Texts of the connect errors the UI shows; "invalid credentials" is the
// one it recognises (it then asks for the password again).
const (
	errInvalidCredentials = "invalid credentials"
	errTooManyLogins      = "too many login attempts, retry later"
)

// maxFieldLen bounds the username, password and session id read from a
// CONNECT (bcrypt itself ignores bytes past 72).
const maxFieldLen = 256

// authenticate is the admin namespace's middleware.
func (a *Instrumentation) authenticate(s *socketio.Socket) error {
	cfg := a.cfg.Load()
	if cfg == nil {
		return &socketio.ConnectError{Message: "Invalid namespace"}
	}
	basic := cfg.opts.Auth
	if basic == nil {
		return nil
	}
	auth := s.Handshake().Auth
	if sid, _ := auth["sessionId"].(string); sid != "" && len(sid) <= maxFieldLen && a.sessions.valid(sid) {
		return nil
	}
	user, _ := auth["username"].(string)
	pass, _ := auth["password"].(string)
	if len(user) > maxFieldLen || len(pass) > maxFieldLen {
		a.loginFailed(cfg, s, "field too long")
		return &socketio.ConnectError{Message: errInvalidCredentials}
	}
	select {
	case a.logins <- struct{}{}:
	default:
		a.loginFailed(cfg, s, "too many logins in flight")
		return &socketio.ConnectError{Message: errTooManyLogins}
	}
	// Compare the password even for a wrong username, so that the answer
	// takes as long either way.
	passErr := bcrypt.CompareHashAndPassword(basic.PasswordHash, []byte(pass))
	<-a.logins
	userOK := subtle.ConstantTimeCompare([]byte(user), []byte(basic.Username)) == 1
	if !userOK || passErr != nil {
		a.loginFailed(cfg, s, "wrong username or password")
		return &socketio.ConnectError{Message: errInvalidCredentials}
	}
	return nil
}

// loginFailed logs a refused login, at most once per 10 s.
func (a *Instrumentation) loginFailed(cfg *config, s *socketio.Socket, why string) {
	now := time.Now().UnixNano()
	last := a.failedLogged.Load()
	if now-last < int64(10*time.Second) || !a.failedLogged.CompareAndSwap(last, now) {
		return
	}
	cfg.log.Warn("admin UI login refused", "nsp", a.nsp.Name(), "address", s.Handshake().Address, "reason", why)
}

// onAdminConnection serves one admin socket: its session, the config,
// the socket list in development mode, and the actions.
func (a *Instrumentation) onAdminConnection(s *socketio.Socket) {
	a.localAdmins.Add(1)
	var left atomic.Bool
	leave := func() {
		if left.CompareAndSwap(false, true) {
			a.localAdmins.Add(-1)
		}
	}
	s.OnDisconnect(func(socketio.Reason) { leave() })
	if !s.Connected() { // gone before the handler above was registered
		leave()
		return
	}
	cfg := a.cfg.Load()
	if cfg == nil {
		s.Disconnect(false)
		return
	}
	if cfg.opts.Auth != nil {
		auth := s.Handshake().Auth
		if sid, _ := auth["sessionId"].(string); sid == "" || len(sid) > maxFieldLen || !a.sessions.valid(sid) {
			// Authenticated with the password: a session lets the UI
			// reconnect after a page reload without asking again.
			_ = s.Emit("session", a.sessions.create())
		}
	}
	if !cfg.opts.ReadOnly {
		a.registerActions(s)
	}
	_ = s.Emit("config", map[string]any{"supportedFeatures": cfg.features})
	if !cfg.opts.Production {
		// Gathering the other nodes' sockets waits for their answers: not
		// on the connection's read goroutine.
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = s.Emit("all_sockets", a.allSockets(ctx))
		}()
	}
}

// action is one UI action, relayed to the other nodes as its arguments.
type action struct {
	kind   string // "emit", "join", "leave", "_disconnect"
	nsp    string
	filter string // room selecting the sockets ("" for all; a socket id for one)
	room   string // join, leave
	close  bool   // _disconnect
	event  string // emit
	args   []any  // emit
}

func (a *Instrumentation) registerActions(s *socketio.Socket) {
	// emit: (nsp, filter, event, ...args)
	s.On("emit", func(args []any, _ socketio.Ack) {
		if len(args) < 3 {
			return
		}
		nsp, ok1 := args[0].(string)
		filter, ok2 := optString(args[1])
		ev, ok3 := args[2].(string)
		if ok1 && ok2 && ok3 {
			a.do(action{kind: "emit", nsp: nsp, filter: filter, event: ev, args: args[3:]})
		}
	})
	// join and leave: (nsp, room, filter)
	for _, kind := range []string{"join", "leave"} {
		s.On(kind, func(args []any, _ socketio.Ack) {
			if len(args) < 2 {
				return
			}
			nsp, ok1 := args[0].(string)
			room, ok2 := args[1].(string)
			filter, ok3 := optString(argAt(args, 2))
			if ok1 && ok2 && ok3 && room != "" {
				a.do(action{kind: kind, nsp: nsp, room: room, filter: filter})
			}
		})
	}
	// _disconnect: (nsp, close, filter)
	s.On("_disconnect", func(args []any, _ socketio.Ack) {
		if len(args) < 1 {
			return
		}
		nsp, ok1 := args[0].(string)
		closeConn, _ := argAt(args, 1).(bool)
		filter, ok3 := optString(argAt(args, 2))
		if ok1 && ok3 {
			a.do(action{kind: "_disconnect", nsp: nsp, close: closeConn, filter: filter})
		}
	})
}

func argAt(args []any, i int) any {
	if i < len(args) {
		return args[i]
	}
	return nil
}

// optString accepts a string, or nothing (nil).
func optString(v any) (string, bool) {
	switch v := v.(type) {
	case nil:
		return "", true
	case string:
		return v, true
	}
	return "", false
}

// do applies an action on this node and relays it to the others.
func (a *Instrumentation) do(act action) {
	a.apply(act)
	relay := []any{relayAction, act.kind, act.nsp, act.filter, act.room, act.close, act.event}
	relay = append(relay, act.args...)
	if err := a.nsp.Adapter().ServerSideEmit(relay, nil); err != nil {
		if cfg := a.cfg.Load(); cfg != nil {
			cfg.log.Warn("admin: relaying an action to the other nodes failed", "action", act.kind, "error", err)
		}
	}
}

// apply carries out an action on this node's sockets. A namespace that
// does not exist here has no sockets here: nothing is created.
func (a *Instrumentation) apply(act action) {
	n, ok := a.srv.Namespace(act.nsp)
	if !ok {
		return
	}
	op := n.Local()
	if act.filter != "" {
		op = op.In(socketio.Room(act.filter))
	}
	var err error
	switch act.kind {
	case "emit":
		err = op.Emit(act.event, act.args...)
	case "join":
		err = op.SocketsJoin(socketio.Room(act.room))
	case "leave":
		err = op.SocketsLeave(socketio.Room(act.room))
	case "_disconnect":
		err = op.DisconnectSockets(act.close)
	}
	if err != nil {
		if cfg := a.cfg.Load(); cfg != nil {
			cfg.log.Debug("admin: action failed", "action", act.kind, "nsp", act.nsp, "error", err)
		}
	}
}

// onRelay handles the other nodes' server-side emits to the admin
// namespace.
func (a *Instrumentation) onRelay(args []any, ack func([]any)) {
	if len(args) == 0 {
		return
	}
	switch args[0] {
	case relaySockets:
		if ack != nil {
			ack([]any{a.localSockets()})
		}
	case relayAction:
		if len(args) < 7 {
			return
		}
		var act action
		act.kind, _ = args[1].(string)
		act.nsp, _ = args[2].(string)
		act.filter, _ = args[3].(string)
		act.room, _ = args[4].(string)
		act.close, _ = args[5].(bool)
		act.event, _ = args[6].(string)
		act.args = args[7:]
		a.apply(act)
	}
}
