//go:build linux

package engine

import (
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/gorilla/websocket"
)

// TestEpollWaitFailures: a failing epoll_wait is retried; one that keeps
// failing hands its connections to blocking readers, which go on serving
// them, and new connections are read blocked too. Nothing panics.
func TestEpollWaitFailures(t *testing.T) {
	if blockingReads.Load() {
		t.Skip("blocking reads")
	}
	e := newEnv(t, slowPing)
	c, _, _ := e.wsHandshake("")
	eventually(t, "registered", func() bool { return pollRegistered() == 1 })
	defer resetPollers()
	defer epollWaitHook.Store(nil)

	var calls atomic.Int32
	transient := func(epfd int, ev []syscall.EpollEvent) (int, error) {
		if calls.Add(1) <= 3 {
			return 0, syscall.EBADF
		}
		return syscall.EpollWait(epfd, ev, 0)
	}
	epollWaitHook.Store(&transient)
	writeWS(t, c, websocket.TextMessage, "4one")
	if _, m := readWSSkipPing(t, c); m != "4one" {
		t.Fatalf("echo %q", m)
	}
	if n := calls.Load(); n < 4 {
		t.Fatalf("epoll_wait called %d times", n)
	}
	if pollRegistered() != 1 {
		t.Fatal("connection left the poller after transient failures")
	}

	broken := func(int, []syscall.EpollEvent) (int, error) { calls.Add(1); return 0, syscall.EIO }
	epollWaitHook.Store(&broken)
	writeWS(t, c, websocket.TextMessage, "4two") // wakes the poller, which fails for good
	if _, m := readWSSkipPing(t, c); m != "4two" {
		t.Fatalf("echo after the poller failed: %q", m)
	}
	eventually(t, "moved to a blocking reader", func() bool { return pollRegistered() == 0 })
	writeWS(t, c, websocket.TextMessage, "4three")
	if _, m := readWSSkipPing(t, c); m != "4three" {
		t.Fatalf("echo %q", m)
	}
	c2, _, _ := e.wsHandshake("")
	writeWS(t, c2, websocket.TextMessage, "4new")
	if _, m := readWSSkipPing(t, c2); m != "4new" {
		t.Fatalf("new connection: %q", m)
	}
	if n := pollRegistered(); n != 0 {
		t.Fatalf("%d connections registered with a broken poller", n)
	}
}

// resetPollers drops broken pollers so that later tests get new ones.
func resetPollers() {
	for _, p := range pollers {
		if p.broken.Load() {
			p.file.Close()
		}
	}
	pollers = nil
	pollersOnce = sync.Once{}
}
