// Command goserver is the Go side of the Redis interop tests in test/redis:
// a socketio.Server whose namespaces share Redis with Node servers
// (@socket.io/redis-adapter) and the Redis emitter.
//
//	go run ./test/redis/goserver -redis redis://127.0.0.1:6379 [-sharded] [-addr 127.0.0.1:0]
//
// It prints "listening on 127.0.0.1:PORT" once ready. Every rule answers
// through the client's acknowledgement:
//
//	join(room)                      the socket joins room → "ok"
//	to-room(room, event, ...args)   server-wide emit to room → "ok"
//	emit-all(event, ...args)        server-wide emit to the namespace → "ok"
//	fetch(room?)                    FetchSockets of the cluster → [{id, rooms, data}]
//	set-data(value)                 socket.data = value → "ok"
//	sockets-join(room, newRoom)     SocketsJoin across the cluster → "ok"
//	all-rooms()                     AllRooms → [room, ...]
//	server-count()                  ServerCount → n
//	emit-with-ack(room, event, ...) To(room).Timeout(3s).EmitWithAck → [answers] or {error}
//	server-side-emit(event, ...)    ServerSideEmit → "ok"
//	server-side-received()          the server-side emits received so far
//	stats()                         the Redis broker's counters
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/caddy-socketio/caddy-socketio/socketio"
	"github.com/caddy-socketio/caddy-socketio/socketio/adapter"
	"github.com/caddy-socketio/caddy-socketio/socketio/adapter/redis"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	redisURL := flag.String("redis", "redis://127.0.0.1:6379", "Redis URL")
	key := flag.String("key", "socket.io", "channel prefix")
	sharded := flag.Bool("sharded", false, "speak the sharded adapter format (SPUBLISH)")
	specific := flag.Bool("specific-response-channel", false, "publishOnSpecificResponseChannel")
	verbose := flag.Bool("v", false, "debug logs on stderr")
	flag.Parse()

	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	ropts, err := goredis.ParseURL(*redisURL)
	if err != nil {
		log.Fatal(err)
	}
	client := goredis.NewClient(ropts)
	defer client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	broker, err := redis.New(ctx, client, redis.Options{
		Key: *key, Sharded: *sharded, PublishOnSpecificResponseChannel: *specific,
		RequestsTimeout: 3 * time.Second, Logger: logger,
	})
	cancel()
	if err != nil {
		log.Fatal(err)
	}
	defer broker.Close()

	srv := socketio.NewServer(&socketio.Options{Adapter: broker.NewAdapter, Logger: logger})
	defer srv.Close()
	install(srv.Of("/"), broker)
	install(srv.Of("/admin"), broker)

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("listening on %s\n", ln.Addr())
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
		<-sig
		_ = hs.Close()
	}()
	if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
}

func str(args []any, i int) string {
	if i < len(args) {
		if s, ok := args[i].(string); ok {
			return s
		}
	}
	return ""
}

func reply(ack socketio.Ack, v any) {
	if ack != nil {
		_ = ack(v)
	}
}

func fail(ack socketio.Ack, err error) { reply(ack, map[string]any{"error": err.Error()}) }

func install(nsp *socketio.Namespace, broker *redis.Broker) {
	var mu sync.Mutex
	received := []any{}
	nsp.OnServerSideEmit(func(args []any, ack func([]any)) {
		mu.Lock()
		received = append(received, args)
		mu.Unlock()
		if ack != nil {
			ack([]any{"go-pong"})
		}
	})
	nsp.OnConnection(func(s *socketio.Socket) {
		s.On("join", func(args []any, ack socketio.Ack) {
			s.Join(socketio.Room(str(args, 0)))
			reply(ack, "ok")
		})
		s.On("to-room", func(args []any, ack socketio.Ack) {
			if len(args) < 2 {
				fail(ack, errors.New("to-room(room, event, ...args)"))
				return
			}
			if err := nsp.To(socketio.Room(str(args, 0))).Emit(str(args, 1), args[2:]...); err != nil {
				fail(ack, err)
				return
			}
			reply(ack, "ok")
		})
		s.On("emit-all", func(args []any, ack socketio.Ack) {
			if err := nsp.Emit(str(args, 0), args[1:]...); err != nil {
				fail(ack, err)
				return
			}
			reply(ack, "ok")
		})
		s.On("fetch", func(args []any, ack socketio.Ack) {
			op := nsp.To()
			if room := str(args, 0); room != "" {
				op = nsp.To(socketio.Room(room))
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			infos, err := op.FetchSockets(ctx)
			if err != nil {
				fail(ack, err)
				return
			}
			out := make([]any, 0, len(infos))
			for _, i := range infos {
				out = append(out, map[string]any{"id": string(i.ID), "rooms": i.Rooms, "data": i.Data, "handshake": i.Handshake})
			}
			reply(ack, out)
		})
		s.On("set-data", func(args []any, ack socketio.Ack) {
			if len(args) > 0 {
				s.SetData(args[0])
			}
			reply(ack, "ok")
		})
		s.On("sockets-join", func(args []any, ack socketio.Ack) {
			if err := nsp.To(socketio.Room(str(args, 0))).SocketsJoin(socketio.Room(str(args, 1))); err != nil {
				fail(ack, err)
				return
			}
			reply(ack, "ok")
		})
		s.On("rooms", func(_ []any, ack socketio.Ack) { reply(ack, s.Rooms()) })
		s.On("all-rooms", func(_ []any, ack socketio.Ack) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			rooms, err := nsp.Adapter().AllRooms(ctx)
			if err != nil {
				fail(ack, err)
				return
			}
			reply(ack, rooms)
		})
		s.On("server-count", func(_ []any, ack socketio.Ack) {
			n, err := nsp.Adapter().ServerCount(context.Background())
			if err != nil {
				fail(ack, err)
				return
			}
			reply(ack, n)
		})
		s.On("emit-with-ack", func(args []any, ack socketio.Ack) {
			if len(args) < 2 {
				fail(ack, errors.New("emit-with-ack(room, event, ...args)"))
				return
			}
			// The client's ack must not wait on this handler: answer from
			// another goroutine so the connection keeps reading.
			go func() {
				res, err := nsp.To(socketio.Room(str(args, 0))).Timeout(3*time.Second).EmitWithAck(context.Background(), str(args, 1), args[2:]...)
				if err != nil {
					reply(ack, map[string]any{"error": err.Error(), "responses": res})
					return
				}
				reply(ack, res)
			}()
		})
		s.On("server-side-emit", func(args []any, ack socketio.Ack) {
			if err := nsp.ServerSideEmit(str(args, 0), args[1:]...); err != nil {
				fail(ack, err)
				return
			}
			reply(ack, "ok")
		})
		s.On("server-side-emit-with-ack", func(args []any, ack socketio.Ack) {
			var amu sync.Mutex
			answers := []any{}
			if err := nsp.Adapter().ServerSideEmit(args, func(a []any) {
				amu.Lock()
				answers = append(answers, a...)
				amu.Unlock()
			}); err != nil {
				fail(ack, err)
				return
			}
			go func() {
				time.Sleep(time.Second)
				amu.Lock()
				defer amu.Unlock()
				reply(ack, answers)
			}()
		})
		s.On("server-side-received", func(_ []any, ack socketio.Ack) {
			mu.Lock()
			defer mu.Unlock()
			reply(ack, append([]any{}, received...))
		})
		s.On("stats", func(_ []any, ack socketio.Ack) { reply(ack, broker.Stats()) })
	})
}

var _ adapter.Namespace = (*socketio.Namespace)(nil)
