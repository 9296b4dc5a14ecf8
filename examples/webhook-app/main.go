// Command webhook-app is the seed tutorial's chat written as an ordinary
// HTTP application behind Caddy's Socket.IO hooks and API (standard library
// only; any language would do). Caddy holds the connections; this app
// decides:
//
//   - connect on "/": the nick comes from the auth payload ({nick}) or the
//     query (?nick=), stored as the socket's data; the client is greeted
//     with "hello". Connect on "/system": the "Notice !" message.
//   - joinRoom {room}: leave the previous room, join this one, ack the room
//     name, and push "<nick> joined <room>" to "/system" through the API.
//   - leaveRoom: leave the current room.
//   - chatInput {msg, nick?}: chatMessage {nick, msg} to everyone in the
//     sender's room, the sender included.
//   - disconnect: "<nick> left <room>" to "/system" through the API.
//
// Run it next to Caddy with Caddyfile.hooks-example (see README.md):
//
//	SOCKETIO_HOOK_SECRET=... SOCKETIO_API_TOKEN=... go run ./examples/webhook-app
package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"log"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// signatureWindow rejects requests whose timestamp is further from now, so a
// captured request cannot be replayed later.
const signatureWindow = 300 * time.Second

func main() {
	listen := flag.String("listen", envOr("WEBHOOK_APP_LISTEN", "127.0.0.1:3000"), "address to serve the hook on")
	apiURL := flag.String("api", envOr("SOCKETIO_API_URL", "http://127.0.0.1:8080/socketio-api"), "base URL of Caddy's Socket.IO API")
	flag.Parse()
	a := newApp(os.Getenv("SOCKETIO_HOOK_SECRET"), *apiURL, os.Getenv("SOCKETIO_API_TOKEN"), log.Default())
	if a.secret == nil {
		log.Print("warning: SOCKETIO_HOOK_SECRET is not set, hook requests are not verified")
	}
	if a.token == "" {
		log.Print("warning: SOCKETIO_API_TOKEN is not set, /system notices are not sent")
	}
	srv := &http.Server{
		Addr:              *listen,
		Handler:           a.routes(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      10 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	log.Printf("webhook app on http://%s/socketio, API at %s", *listen, *apiURL)
	log.Fatal(srv.ListenAndServe())
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

type app struct {
	secret []byte
	apiURL string
	token  string
	client *http.Client
	log    *log.Logger

	// notices bounds the API calls in flight; more are dropped.
	notices chan struct{}
	wg      sync.WaitGroup

	// seen remembers recent delivery ids: a disconnect hook is retried
	// with the same id when the reply got lost, and must count once.
	mu       sync.Mutex
	seen     map[string]bool
	seenList []string
}

func newApp(secret, apiURL, token string, logger *log.Logger) *app {
	a := &app{
		apiURL:  strings.TrimRight(apiURL, "/"),
		token:   token,
		client:  &http.Client{Timeout: 5 * time.Second},
		log:     logger,
		notices: make(chan struct{}, 8),
		seen:    make(map[string]bool),
	}
	if secret != "" {
		a.secret = []byte(secret)
	}
	return a
}

func (a *app) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /socketio", a.hook)
	// POST /notice with a text body pushes it to every "/system" socket.
	mux.HandleFunc("POST /notice", func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(io.LimitReader(r.Body, 1000))
		if err != nil || len(bytes.TrimSpace(b)) == 0 {
			http.Error(w, "text body required", http.StatusBadRequest)
			return
		}
		if err := a.notify(r.Context(), string(bytes.TrimSpace(b))); err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	// POST /ask with a text body asks every "/system" socket (event "ask",
	// with an ack) and answers with what each one acknowledged, all
	// arguments, and the sockets that did not answer within 5s.
	mux.HandleFunc("POST /ask", func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(io.LimitReader(r.Body, 1000))
		if err != nil || len(bytes.TrimSpace(b)) == 0 {
			http.Error(w, "text body required", http.StatusBadRequest)
			return
		}
		res, err := a.ask(r.Context(), string(bytes.TrimSpace(b)))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(res)
	})
	return mux
}

// --- the hook contract (docs/webhooks.md) ---

type hookRequest struct {
	Type      string `json:"type"`
	ID        string `json:"id"`
	Namespace string `json:"namespace"`
	Socket    struct {
		ID        string          `json:"id"`
		Rooms     []string        `json:"rooms"`
		Data      json.RawMessage `json:"data"`
		Handshake struct {
			Query map[string]string `json:"query"`
			Auth  map[string]any    `json:"auth"`
		} `json:"handshake"`
	} `json:"socket"`
	Event  string            `json:"event"`
	Args   []json.RawMessage `json:"args"`
	Ack    bool              `json:"ack"`
	Reason string            `json:"reason"`
}

type reply struct {
	Ack   []any      `json:"ack,omitempty"`
	Emit  []emit     `json:"emit,omitempty"`
	Join  []string   `json:"join,omitempty"`
	Leave []string   `json:"leave,omitempty"`
	Data  *userData  `json:"data,omitempty"`
	Error *connError `json:"error,omitempty"`
}

type emit struct {
	Event string   `json:"event"`
	Args  []any    `json:"args,omitempty"`
	To    []string `json:"to,omitempty"`
}

type connError struct {
	Message string `json:"message"`
}

// userData is what the app keeps in each socket's data.
type userData struct {
	Nick string `json:"nick"`
	Room string `json:"room,omitempty"`
}

// verify checks the signature and the timestamp window.
func (a *app) verify(r *http.Request, body []byte) bool {
	if a.secret == nil {
		return true
	}
	ts := r.Header.Get("X-Socketio-Timestamp")
	n, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return false
	}
	if d := time.Since(time.Unix(n, 0)); d > signatureWindow || d < -signatureWindow {
		return false
	}
	m := hmac.New(sha256.New, a.secret)
	m.Write([]byte(ts + "."))
	m.Write(body)
	want := "sha256=" + hex.EncodeToString(m.Sum(nil))
	return hmac.Equal([]byte(r.Header.Get("X-Socketio-Signature")), []byte(want))
}

// firstTime reports whether a delivery id is new (bounded memory).
func (a *app) firstTime(id string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.seen[id] {
		return false
	}
	a.seen[id] = true
	a.seenList = append(a.seenList, id)
	if len(a.seenList) > 4096 {
		delete(a.seen, a.seenList[0])
		a.seenList = a.seenList[1:]
	}
	return true
}

func (a *app) hook(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
	if err != nil {
		http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
		return
	}
	if !a.verify(r, body) {
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	var req hookRequest
	if err := json.Unmarshal(body, &req); err != nil {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	if !a.firstTime(req.ID) {
		w.WriteHeader(http.StatusNoContent) // a retry of something done
		return
	}
	var data userData
	_ = json.Unmarshal(req.Socket.Data, &data) // null or absent: zero

	var out *reply
	switch req.Type {
	case "connect":
		out = a.connect(&req)
	case "event":
		out = a.event(&req, data)
	case "disconnect":
		if data.Room != "" {
			a.notifyAsync(data.Nick + " left " + data.Room)
		}
		a.log.Printf("%s (%s) left %s: %s", data.Nick, req.Socket.ID, req.Namespace, req.Reason)
	}
	if out == nil {
		w.WriteHeader(http.StatusNoContent) // no action
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}

func (a *app) connect(req *hookRequest) *reply {
	switch req.Namespace {
	case "/":
		nick, _ := req.Socket.Handshake.Auth["nick"].(string)
		if nick == "" {
			nick = req.Socket.Handshake.Query["nick"]
		}
		nick = clean(nick, 32)
		if nick == "" {
			nick = "anonymous"
		}
		a.log.Printf("%s (%s) connected", nick, req.Socket.ID)
		return &reply{
			Data: &userData{Nick: nick},
			Emit: []emit{{Event: "hello", Args: []any{map[string]string{"message": "Welcome to Socket io ~"}}}},
		}
	case "/system":
		return &reply{Emit: []emit{{Event: "message", Args: []any{"Notice !"}}}}
	}
	return nil
}

func (a *app) event(req *hookRequest, data userData) *reply {
	var arg struct {
		Room string `json:"room"`
		Msg  string `json:"msg"`
		Nick string `json:"nick"`
	}
	if len(req.Args) > 0 {
		if err := json.Unmarshal(req.Args[0], &arg); err != nil {
			// the tutorial also allows socket.emit("joinRoom", "lobby")
			_ = json.Unmarshal(req.Args[0], &arg.Room)
		}
	}
	switch req.Event {
	case "joinRoom":
		room := clean(arg.Room, 64)
		if room == "" {
			return ackIf(req, nil)
		}
		out := &reply{Join: []string{room}}
		if data.Room != "" && data.Room != room {
			out.Leave = []string{data.Room}
		}
		data.Room = room
		out.Data = &data
		if req.Ack {
			out.Ack = []any{room}
		}
		a.notifyAsync(data.Nick + " joined " + room)
		return out
	case "leaveRoom":
		if data.Room == "" {
			return ackIf(req, nil)
		}
		out := &reply{Leave: []string{data.Room}, Data: &userData{Nick: data.Nick}}
		if req.Ack {
			out.Ack = []any{data.Room}
		}
		return out
	case "chatInput":
		msg := clean(arg.Msg, 1000)
		if msg == "" {
			return nil
		}
		nick := clean(arg.Nick, 32)
		if nick == "" {
			nick = data.Nick
		}
		m := map[string]string{"nick": nick, "msg": msg}
		if data.Room == "" {
			// not in a room: only the sender sees it, with a hint
			return &reply{Emit: []emit{{Event: "chatMessage", Args: []any{map[string]string{"nick": "system", "msg": "join a room first"}}}}}
		}
		return &reply{Emit: []emit{{Event: "chatMessage", Args: []any{m}, To: []string{data.Room}}}}
	}
	return nil
}

// ackIf answers null to a client waiting for an ack (a refused join).
func ackIf(req *hookRequest, v any) *reply {
	if !req.Ack {
		return nil
	}
	return &reply{Ack: []any{v}}
}

// clean trims s and cuts it to n runes; control characters are dropped.
func clean(s string, n int) string {
	s = strings.TrimSpace(s)
	var b strings.Builder
	for _, r := range s {
		if r < 0x20 || r == 0x7f || r == utf8.RuneError {
			continue
		}
		if n == 0 {
			break
		}
		b.WriteRune(r)
		n--
	}
	return b.String()
}

// --- the API (app -> Caddy) ---

// notify pushes a notice to every "/system" socket.
func (a *app) notify(ctx context.Context, text string) error {
	if a.token == "" {
		return errors.New("no API token")
	}
	body, _ := json.Marshal(map[string]any{"namespace": "/system", "event": "message", "args": []any{text}})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.apiURL+"/emit", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+a.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := a.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return nil // nobody has connected to /system yet
	case resp.StatusCode != http.StatusOK:
		return errors.New("API: " + resp.Status + ": " + string(bytes.TrimSpace(msg)))
	}
	return nil
}

// askResult is the answer of POST /emit with ack_timeout: one entry per
// socket that acknowledged, with all its arguments (binary as
// {"_binary": "<base64>"}), and the sockets that did not answer in time.
type askResult struct {
	OK   bool `json:"ok"`
	Acks []struct {
		Socket *string           `json:"socket"`
		Args   []json.RawMessage `json:"args"`
	} `json:"acks"`
	TimedOut []string `json:"timed_out"`
}

// ask emits "ask" to every "/system" socket and waits up to 5s for their
// acknowledgements.
func (a *app) ask(ctx context.Context, text string) (*askResult, error) {
	if a.token == "" {
		return nil, errors.New("no API token")
	}
	body, _ := json.Marshal(map[string]any{"namespace": "/system", "event": "ask", "args": []any{text}, "ack_timeout": "5s"})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.apiURL+"/emit", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+a.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := a.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return nil, errors.New("API: " + resp.Status + ": " + string(bytes.TrimSpace(msg)))
	}
	var out askResult
	if err := json.Unmarshal(msg, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// notifyAsync sends a notice without delaying the hook's reply; when too
// many are in flight the notice is dropped.
func (a *app) notifyAsync(text string) {
	if a.token == "" {
		return
	}
	select {
	case a.notices <- struct{}{}:
	default:
		a.log.Printf("notice dropped: %s", text)
		return
	}
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		defer func() { <-a.notices }()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := a.notify(ctx, text); err != nil {
			a.log.Printf("notice %q: %v", text, err)
		}
	}()
}
