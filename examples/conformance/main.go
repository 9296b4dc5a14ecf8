// Command conformance serves the fixed application of
// examples/conformance/README.md on the socketio library alone: the target of
// the interop tests, the benchmarks and external conformance suites.
//
//	go run ./examples/conformance [-addr 127.0.0.1:3000] [-suite] [-allow-eio3] [-websocket-compression] [-parser auto|default|msgpack]
//
// Clients of the default parser and of socket.io-msgpack-parser are both
// served, detected per connection (-parser auto); -parser pins one.
//
// With -suite it serves instead the small app the official
// socket.io-protocol and engine.io-protocol test suites expect, including a
// bare Engine.IO echo endpoint at /engine.io/.
package main

import (
	"errors"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/caddy-socketio/caddy-socketio/socketio"
	"github.com/caddy-socketio/caddy-socketio/socketio/engine"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:3000", "listen address (port 0 picks a free port)")
	pingInterval := flag.Duration("ping-interval", 2*time.Second, "Engine.IO ping interval")
	pingTimeout := flag.Duration("ping-timeout", 2*time.Second, "Engine.IO ping timeout")
	maxPayload := flag.Int64("max-payload", 1_000_000, "largest accepted message or polling body, in bytes")
	connectTimeout := flag.Duration("connect-timeout", 45*time.Second, "close connections that join no namespace within this time")
	allowEIO3 := flag.Bool("allow-eio3", false, "also accept Engine.IO v3 clients (socket.io-client 2.x), as Node's allowEIO3")
	wsCompression := flag.Bool("websocket-compression", false, "negotiate permessage-deflate with websocket clients that offer it")
	compressionThreshold := flag.Int("compression-threshold", 1024, "smallest websocket message sent compressed, in bytes (with -websocket-compression)")
	recovery := flag.Duration("recovery", 0, "connection state recovery with this window (0: off); recovered sockets skip middlewares, as in Node")
	suite := flag.Bool("suite", false, "serve the app of the official socket.io-protocol/engine.io-protocol test suites")
	verbose := flag.Bool("v", false, "debug logs on stderr")
	parserName := flag.String("parser", "auto", "packet format: auto (both, detected per connection), default or msgpack")
	flag.Parse()
	parsers := map[string]socketio.Parser{"auto": socketio.ParserAuto, "default": socketio.ParserDefault, "msgpack": socketio.ParserMsgpack}
	parser, ok := parsers[*parserName]
	if !ok {
		log.Fatalf("unknown -parser %q (want auto, default or msgpack)", *parserName)
	}

	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	if *suite {
		*pingInterval, *pingTimeout, *maxPayload = 300*time.Millisecond, 200*time.Millisecond, 1_000_000
		if !isFlagSet("connect-timeout") {
			*connectTimeout = time.Second
		}
	}
	ec := engine.Config{PingInterval: *pingInterval, PingTimeout: *pingTimeout, MaxPayload: *maxPayload, AllowEIO3: *allowEIO3,
		WebSocketCompression: *wsCompression, CompressionThreshold: *compressionThreshold}
	opts := &socketio.Options{Engine: ec, ConnectTimeout: *connectTimeout, Logger: logger, Parser: parser}
	if *recovery > 0 {
		opts.Recovery = &socketio.Recovery{SkipMiddlewares: true}
		opts.Recovery.MaxDisconnectionDuration = *recovery
	}
	srv := socketio.NewServer(opts)

	mux := http.NewServeMux()
	mux.Handle("/socket.io/", srv)
	if *suite {
		suiteApp(srv)
		ec.OnSession = func(*engine.Session) engine.SessionHandler { return echo{} }
		ec.Logger = logger
		mux.Handle("/engine.io/", engine.NewServer(ec))
	} else {
		conformanceApp(srv)
	}

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("listening on %s\n", ln.Addr())
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
}

func isFlagSet(name string) bool {
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// conformanceApp installs rules R1–R11 on "/", "/custom" and "/private".
func conformanceApp(srv *socketio.Server) {
	private := srv.Of("/private")
	private.Use(func(s *socketio.Socket) error {
		if s.Handshake().Auth["token"] != "secret" {
			return errors.New("unauthorized")
		}
		return nil
	})
	for _, nsp := range []*socketio.Namespace{srv.Of("/"), srv.Of("/custom"), private} {
		nsp.OnConnection(func(s *socketio.Socket) { rules(nsp, s) })
	}
}

func rules(nsp *socketio.Namespace, s *socketio.Socket) {
	_ = s.Emit("welcome", map[string]any{"id": s.ID(), "nsp": nsp.Name(), "auth": s.Handshake().Auth})

	s.On("echo", func(args []any, _ socketio.Ack) { _ = s.Emit("echo-back", args...) })
	s.On("ack-echo", func(args []any, ack socketio.Ack) {
		if ack != nil {
			_ = ack(args...)
		}
	})
	s.On("join", func(args []any, ack socketio.Ack) {
		room := field(args, "room")
		s.Join(socketio.Room(room))
		if ack != nil {
			_ = ack(room)
		}
	})
	s.On("leave", func(args []any, ack socketio.Ack) {
		room := field(args, "room")
		s.Leave(socketio.Room(room))
		if ack != nil {
			_ = ack(room)
		}
	})
	s.On("to-room", func(args []any, _ socketio.Ack) {
		_ = nsp.To(socketio.Room(field(args, "room"))).Emit("room-message", payload(args))
	})
	s.On("to-room-others", func(args []any, _ socketio.Ack) {
		_ = s.To(socketio.Room(field(args, "room"))).Emit("room-message", payload(args))
	})
	s.On("broadcast", func(args []any, _ socketio.Ack) {
		var p any
		if len(args) > 0 {
			p = args[0]
		}
		_ = nsp.Emit("broadcast-message", p)
	})
	s.On("ask", func(args []any, _ socketio.Ack) {
		var p any
		if len(args) > 0 {
			p = args[0]
		}
		_ = s.EmitAck(5*time.Second, func(answer []any, err error) {
			if err != nil {
				_ = s.Emit("answer-timeout", p)
				return
			}
			_ = s.Emit("answer", answer...)
		}, "question", p)
	})
	s.On("server-disconnect", func([]any, socketio.Ack) { s.Disconnect(false) })
	s.On("drop", func([]any, socketio.Ack) { s.Conn().Close() })
}

// field reads a string field of the first argument, an object.
func field(args []any, key string) string {
	if len(args) == 0 {
		return ""
	}
	m, _ := args[0].(map[string]any)
	v, _ := m[key].(string)
	return v
}

func payload(args []any) any {
	if len(args) == 0 {
		return nil
	}
	m, _ := args[0].(map[string]any)
	return m["payload"]
}

// suiteApp is the app of the official test suites: "auth" echoes the CONNECT
// payload, "message" and "message-with-ack" echo their arguments on "/".
func suiteApp(srv *socketio.Server) {
	for _, nsp := range []*socketio.Namespace{srv.Of("/"), srv.Of("/custom")} {
		root := nsp.Name() == "/"
		nsp.OnConnection(func(s *socketio.Socket) {
			// The suites read each frame with a fresh one-shot listener, so
			// a frame that arrives in the same TCP read as the CONNECT
			// reply is lost to them; Node happens to write "auth" one
			// event-loop turn later. Emit it a moment after the reply.
			time.AfterFunc(5*time.Millisecond, func() { _ = s.Emit("auth", s.Handshake().Auth) })
			if !root {
				return
			}
			s.On("message", func(args []any, _ socketio.Ack) { _ = s.Emit("message-back", args...) })
			s.On("message-with-ack", func(args []any, ack socketio.Ack) {
				if ack != nil {
					_ = ack(args...)
				}
			})
		})
	}
}

// echo sends every Engine.IO message straight back.
type echo struct{}

func (echo) OnMessage(s *engine.Session, data []byte, binary bool) {
	_ = s.Send(engine.Message{Data: data, Binary: binary})
}

func (echo) OnClose(*engine.Session, engine.Reason) {}
