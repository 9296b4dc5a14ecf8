package redis

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/caddy-socketio/caddy-socketio/socketio/adapter/redis/redistest"
)

// redisServer is the test's own redis-server (redistest.Server) with
// helpers that make clients and brokers on it.
type redisServer struct{ *redistest.Server }

func startRedis(t testing.TB) *redisServer { return &redisServer{redistest.Start(t)} }

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func (s *redisServer) client(t testing.TB) *goredis.Client {
	c := goredis.NewClient(&goredis.Options{Addr: s.Addr()})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// node is one server of a test cluster: its own client and Broker.
func (s *redisServer) broker(t testing.TB, opts Options) *Broker {
	t.Helper()
	c := s.client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	b, err := New(ctx, c, opts)
	if err != nil {
		t.Fatalf("new broker: %v", err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

// settle lets the brokers' messages reach each other: everything queued is
// published, then each broker sees a token it sent itself after that.
func settle(brokers ...*Broker) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, b := range brokers {
		if err := b.Flush(ctx); err != nil {
			return fmt.Errorf("flush: %w", err)
		}
	}
	for _, b := range brokers {
		if err := b.Sync(ctx); err != nil {
			return fmt.Errorf("sync: %w", err)
		}
	}
	return nil
}

func uniqueKey() string { return "t" + randomAlnum(8) }
