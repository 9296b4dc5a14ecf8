//go:build linux

package engine

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Reading websockets without a goroutine per idle connection.
//
// A plain *net.TCPConn's descriptor is added to one of a few epoll
// instances (EPOLLIN|EPOLLRDHUP|EPOLLONESHOT), with a unique 64-bit token as
// the event data rather than the descriptor number, so a stale event can
// never be taken for a new connection that reuses the number. Each epoll
// instance is itself a non-blocking descriptor watched by Go's runtime
// poller, so the goroutine draining it parks like any network read (no OS
// thread blocked in epoll_wait). Every ready connection goes to a read
// worker (an idle one, or a new goroutine) that reads with a pooled buffer
// until the socket is empty, feeds the frame reader, dispatches in order,
// and re-arms with EPOLL_CTL_MOD. EPOLLONESHOT keeps a connection to one
// worker at a time, so a handler that blocks stalls its own connection only.
//
// All syscalls on a connection's descriptor (read, epoll_ctl) run inside
// its syscall.RawConn Read or Control, which hold a reference on the
// descriptor: it cannot be closed, and its number reused, meanwhile.
// Closing (wsConn.close) removes the token and the registration first.

// pollConn is a wsConn's registration.
type pollConn struct {
	regMu  sync.Mutex // guards registering against closing
	closed bool       // close was called: never register
	p      *poller    // nil: not registered
	rc     syscall.RawConn
	token  uint64
	mu     sync.Mutex // held by onReadable: orders successive bursts
	// moved: the poller failed and a blocking reader took the connection
	// over (under mu); a late readiness event must not read it.
	moved bool
}

type poller struct {
	epfd  int
	file  *os.File // epfd, in Go's runtime poller
	rc    syscall.RawConn
	mu    sync.Mutex
	conns map[uint64]*wsConn
	// broken: epoll_wait kept failing; the poller gave its connections to
	// blocking readers and takes no new ones.
	broken atomic.Bool
}

// epollWaitHook, when set, replaces epoll_wait (tests inject failures).
var epollWaitHook atomic.Pointer[func(epfd int, events []syscall.EpollEvent) (int, error)]

func epollWait(epfd int, events []syscall.EpollEvent) (int, error) {
	if h := epollWaitHook.Load(); h != nil {
		return (*h)(epfd, events)
	}
	return syscall.EpollWait(epfd, events, 0)
}

// A failing epoll_wait is retried after pollRetryMin, doubling up to
// pollRetryMax; after pollMaxFailures failures in a row the poller is
// given up (about a second and a half of retries).
const (
	pollRetryMin    = time.Millisecond
	pollRetryMax    = time.Second
	pollMaxFailures = 10
)

var pollLog logLimiter

var (
	pollersOnce sync.Once
	pollers     []*poller // nil when epoll is unavailable
	pollToken   atomic.Uint64
)

const pollEvents = syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLONESHOT

// pollReadSize is the size of the pooled read buffers of onReadable.
const pollReadSize = 16 << 10

var pollBufs = sync.Pool{New: func() any { b := make([]byte, pollReadSize); return &b }}

func startPollers() {
	n := min(max(runtime.GOMAXPROCS(0)/8, 1), 4)
	ps := make([]*poller, 0, n)
	for range n {
		p, err := newPoller()
		if err != nil {
			slog.Default().Debug("engine: epoll unavailable, reading websockets with a goroutine each", "error", err)
			return
		}
		ps = append(ps, p)
	}
	for _, p := range ps {
		go p.run()
	}
	pollers = ps
}

func newPoller() (*poller, error) {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("epoll_create1", err)
	}
	if err := syscall.SetNonblock(epfd, true); err != nil {
		syscall.Close(epfd)
		return nil, os.NewSyscallError("setnonblock", err)
	}
	f := os.NewFile(uintptr(epfd), "epoll")
	// Only a file in the runtime poller takes deadlines: this checks that
	// waiting on it parks the goroutine instead of failing.
	if err := f.SetReadDeadline(time.Time{}); err != nil {
		f.Close()
		return nil, err
	}
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, err
	}
	return &poller{epfd: epfd, file: f, rc: rc, conns: make(map[uint64]*wsConn)}, nil
}

// run drains the epoll instance as long as the process lives. epoll_wait
// cannot fail short of a broken runtime or kernel; if it does (or the loop
// panics), it is retried with a backoff, and after pollMaxFailures failures
// in a row the poller hands its connections to blocking readers (abandon).
func (p *poller) run() {
	events := make([]syscall.EpollEvent, 128)
	ready := make([]*wsConn, 0, len(events))
	fails, wait := 0, pollRetryMin
	for {
		err := p.wait(events, &ready)
		if err == nil {
			fails, wait = 0, pollRetryMin
			continue
		}
		fails++
		if fails >= pollMaxFailures {
			p.abandon(err)
			return
		}
		if ok, suppressed := pollLog.allow(time.Second); ok {
			slog.Default().Error("engine: epoll_wait failed, retrying",
				"error", err.Error(), "failures", fails, "suppressed_since_last", suppressed)
		}
		time.Sleep(wait)
		wait = min(2*wait, pollRetryMax)
	}
}

// wait waits for ready connections once and dispatches them.
func (p *poller) wait(events []syscall.EpollEvent, ready *[]*wsConn) (err error) {
	defer func() {
		if r := recover(); r != nil {
			(*Server)(nil).recovered(r, "epoll poller", "")
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	var n int
	var werr error
	err = p.rc.Read(func(fd uintptr) bool {
		n, werr = epollWait(int(fd), events)
		if werr == syscall.EINTR {
			n, werr = 0, nil
		}
		return n > 0 || werr != nil // nothing ready: park until epfd is readable
	})
	if err == nil && werr != nil {
		err = os.NewSyscallError("epoll_wait", werr)
	}
	if err != nil {
		return err
	}
	rs := (*ready)[:0]
	p.mu.Lock()
	for i := range events[:n] {
		if c := p.conns[eventToken(&events[i])]; c != nil {
			rs = append(rs, c)
		}
	}
	p.mu.Unlock()
	for _, c := range rs {
		dispatchReady(c)
	}
	clear(rs)
	*ready = rs
	return nil
}

// abandon gives up a poller whose epoll_wait keeps failing: every
// connection registered with it is read by a goroutine of its own from now
// on (readBlocking), and new connections are not registered with it.
func (p *poller) abandon(err error) {
	p.broken.Store(true)
	p.mu.Lock()
	conns := make([]*wsConn, 0, len(p.conns))
	for _, c := range p.conns {
		conns = append(conns, c)
	}
	p.mu.Unlock()
	slog.Default().Error("engine: epoll_wait keeps failing, reading its websockets with a goroutine each",
		"error", err.Error(), "connections", len(conns))
	for _, c := range conns {
		go c.moveToBlocking(p)
	}
}

// moveToBlocking takes c from the failed poller p and reads it blocked.
// Holding poll.mu waits for a burst being read to end (its re-arm is
// skipped, see rearm); moved makes a late event a no-op.
func (c *wsConn) moveToBlocking(p *poller) {
	c.poll.mu.Lock()
	c.poll.regMu.Lock()
	if c.poll.closed || c.poll.p != p {
		c.poll.regMu.Unlock()
		c.poll.mu.Unlock()
		return
	}
	c.poll.p = nil
	c.poll.moved = true
	p.mu.Lock()
	delete(p.conns, c.poll.token)
	p.mu.Unlock()
	_ = c.poll.rc.Control(func(fd uintptr) {
		_ = syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_DEL, int(fd), nil)
	})
	c.poll.regMu.Unlock()
	c.poll.mu.Unlock()
	c.readBlocking()
}

func eventToken(ev *syscall.EpollEvent) uint64 {
	return uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32
}

func epollEvent(token uint64) syscall.EpollEvent {
	return syscall.EpollEvent{Events: pollEvents, Fd: int32(uint32(token)), Pad: int32(uint32(token >> 32))}
}

// Read workers. A goroutine that finished a burst waits a little for the
// next ready connection, so that its stack, grown by the handlers, is
// reused: a fresh goroutine per event spent a tenth of the echo benchmark
// growing stacks. A ready connection goes to an idle worker if one is
// waiting, else to a new goroutine, so a handler that blocks only holds
// its own worker.
var (
	readyConns  = make(chan *wsConn) // unbuffered: taken by a waiting worker or not at all
	idleWorkers atomic.Int32
)

const (
	maxIdleWorkers = 64
	workerIdleTime = 2 * time.Second
)

func dispatchReady(c *wsConn) {
	select {
	case readyConns <- c:
	default:
		go readWorker(c)
	}
}

func readWorker(c *wsConn) {
	var idle *time.Timer
	for {
		c.onReadableSafe()
		c = nil
		if idleWorkers.Add(1) > maxIdleWorkers {
			idleWorkers.Add(-1)
			return
		}
		if idle == nil {
			idle = time.NewTimer(workerIdleTime)
		} else {
			idle.Reset(workerIdleTime)
		}
		select {
		case c = <-readyConns:
			idleWorkers.Add(-1)
			idle.Stop()
		case <-idle.C:
			idleWorkers.Add(-1)
			return
		}
	}
}

// register hands c to a poller; false: c must be read by a goroutine.
func (c *wsConn) register() bool {
	tc, ok := c.nc.(*net.TCPConn)
	if !ok {
		return false // TLS, unix sockets, wrapped connections
	}
	pollersOnce.Do(startPollers)
	if pollers == nil {
		return false
	}
	token := pollToken.Add(1)
	p := pollers[token%uint64(len(pollers))]
	if p.broken.Load() {
		return false
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return false
	}
	c.poll.regMu.Lock()
	defer c.poll.regMu.Unlock()
	if c.poll.closed {
		return false // the blocking reader sees the closed connection at once
	}
	c.poll.rc, c.poll.p, c.poll.token = rc, p, token
	p.mu.Lock()
	p.conns[token] = c
	p.mu.Unlock()
	// From here on an event may start onReadable at once.
	var cerr error
	err = rc.Control(func(fd uintptr) {
		ev := epollEvent(token)
		cerr = syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_ADD, int(fd), &ev)
	})
	if err != nil || cerr != nil {
		p.mu.Lock()
		delete(p.conns, token)
		p.mu.Unlock()
		c.poll.p = nil
		return false // epoll refused it: read blocked
	}
	return true
}

// unregister forgets c's token and removes its descriptor from the epoll
// instance (closing it would too, unless it was duplicated); c is never
// registered after. Idempotent.
func (c *wsConn) unregister() {
	c.poll.regMu.Lock()
	defer c.poll.regMu.Unlock()
	c.poll.closed = true
	p := c.poll.p
	if p == nil {
		return
	}
	c.poll.p = nil
	p.mu.Lock()
	delete(p.conns, c.poll.token)
	p.mu.Unlock()
	_ = c.poll.rc.Control(func(fd uintptr) {
		_ = syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_DEL, int(fd), nil)
	})
}

// rearm asks for the next readiness event; false if c is closed.
func (c *wsConn) rearm() bool {
	c.poll.regMu.Lock()
	defer c.poll.regMu.Unlock()
	p := c.poll.p
	if p == nil {
		return false // unregistered: closed
	}
	if p.broken.Load() {
		return true // moveToBlocking takes c over once this burst ends
	}
	var cerr error
	err := c.poll.rc.Control(func(fd uintptr) {
		ev := epollEvent(c.poll.token)
		cerr = syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_MOD, int(fd), &ev)
	})
	return err == nil && cerr == nil
}

// onReadableSafe is onReadable on a read worker, which survives a panic
// (the connection is closed).
func (c *wsConn) onReadableSafe() {
	defer c.recoverRead()
	c.onReadable()
}

// onReadable reads everything available on c and dispatches it, then
// re-arms c (unless reading ended). It runs on a read worker.
func (c *wsConn) onReadable() {
	c.poll.mu.Lock()
	defer c.poll.mu.Unlock()
	if c.poll.moved {
		return // a blocking reader has it
	}
	bp := pollBufs.Get().(*[]byte)
	defer pollBufs.Put(bp)
	buf := *bp
	for {
		var n int
		var rerr error
		err := c.poll.rc.Read(func(fd uintptr) bool {
			for {
				n, rerr = syscall.Read(int(fd), buf)
				if rerr != syscall.EINTR {
					return true // never wait in the runtime poller
				}
			}
		})
		switch {
		case err != nil: // closed under us
			c.readFailed(ReasonTransportError)
			return
		case rerr == syscall.EAGAIN:
			if !c.rearm() {
				c.readFailed(ReasonTransportError)
			}
			return
		case rerr != nil:
			c.readFailed(readErrorReason(rerr)) // a reset is a "transport close"
			return
		case n == 0:
			c.readFailed(ReasonTransportClose)
			return
		}
		if !c.onData(buf[:n]) {
			return
		}
		if n < len(buf) {
			// Most likely drained: re-arm rather than read again for
			// EAGAIN (a level-triggered re-arm reports bytes that came in
			// meanwhile, and end of stream).
			if !c.rearm() {
				c.readFailed(ReasonTransportError)
			}
			return
		}
	}
}

// pollRegistered is the number of connections registered with the pollers.
func pollRegistered() int {
	pollersOnce.Do(startPollers)
	n := 0
	for _, p := range pollers {
		p.mu.Lock()
		n += len(p.conns)
		p.mu.Unlock()
	}
	return n
}
