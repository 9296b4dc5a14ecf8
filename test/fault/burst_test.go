package fault_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"net/http/httptest"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-socketio/caddy-socketio/socketio"
	"github.com/caddy-socketio/caddy-socketio/socketio/engine"
	"github.com/caddy-socketio/caddy-socketio/socketio/siotest"
)

// The clients of TestBurstConnect run in a child process (this test binary
// again, with burstChildEnv set): 10,000 connections in one process would
// need 20,000 descriptors, more than the usual hard limit.
const burstChildEnv = "FAULT_BURST_CHILD"

// burstReport is what the child prints once every dial ended.
type burstReport struct {
	Connected int
	Failed    int
	FirstErr  string
	ElapsedMs int64
	P99Ms     int64 // one connect (TCP, upgrade, open, CONNECT and its ack)
}

// TestBurstConnect: 10,000 websocket clients connect at once (1,000
// dialers, source addresses spread over 127.0.0.2-11) to the library
// server. Pass: every CONNECT is acknowledged within the bound, the server
// counts every session and socket, and both return to 0 after the clients
// close, with goroutines back to where they started.
func TestBurstConnect(t *testing.T) {
	var (
		n     = size(1000, 10000, 15000)
		conc  = size(200, 1000, 1000)
		bound = size(60*time.Second, 60*time.Second, 120*time.Second)
	)
	srv := socketio.NewServer(&socketio.Options{
		// No pings during the test: the child's clients do not answer them.
		Engine: engine.Config{PingInterval: 10 * time.Minute, PingTimeout: time.Minute},
	})
	hs := httptest.NewServer(srv)
	t.Cleanup(func() {
		_ = srv.Close()
		hs.Close()
	})
	addr := hs.Listener.Addr().String()
	goroutines := siotest.SettledGoroutines()

	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), burstChildEnv+"="+addr,
		"FAULT_BURST_N="+strconv.Itoa(n), "FAULT_BURST_CONC="+strconv.Itoa(conc))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	// Whatever happens, the child ends: stdin closed, then killed (by its
	// own pid) if it lingers.
	defer func() {
		_ = stdin.Close()
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	}()

	reports := make(chan burstReport, 1)
	go func() {
		var r burstReport
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if json.Unmarshal(sc.Bytes(), &r) == nil && r.Connected+r.Failed > 0 {
				reports <- r
				break
			}
		}
		for sc.Scan() { // drain
		}
		close(reports)
	}()
	var r burstReport
	select {
	case rep, ok := <-reports:
		if !ok {
			t.Fatal("the client process ended without a report")
		}
		r = rep
	case <-time.After(bound + 30*time.Second):
		t.Fatalf("no report from the client process within %v", bound+30*time.Second)
	}
	wall := time.Since(start)
	t.Logf("%d clients, %d dialers: %d connected, %d failed in %v (child start included: %v); one connect p99 %dms",
		n, conc, r.Connected, r.Failed, time.Duration(r.ElapsedMs)*time.Millisecond, wall, r.P99Ms)
	if r.Failed != 0 || r.Connected != n {
		t.Fatalf("%d of %d connected; first error: %s", r.Connected, n, r.FirstErr)
	}
	if el := time.Duration(r.ElapsedMs) * time.Millisecond; el > bound {
		t.Fatalf("connecting took %v, bound %v", el, bound)
	}
	if s, k := srv.Engine().SessionCount(), srv.Of("/").SocketCount(); s != n || k != n {
		t.Fatalf("server counts %d sessions and %d sockets, want %d", s, k, n)
	}

	closed := time.Now()
	_ = stdin.Close()
	eventually(t, "sessions back to 0", 60*time.Second, func() bool {
		return srv.Engine().SessionCount() == 0 && srv.Of("/").SocketCount() == 0
	})
	t.Logf("sessions back to 0 %v after the clients began closing", time.Since(closed))
	siotest.WaitGoroutines(t, goroutines+10, 30*time.Second)
}

// burstChild is the child process of TestBurstConnect: it dials, prints a
// burstReport line, holds the connections until stdin closes, then closes
// them and exits.
func burstChild() int {
	addr := os.Getenv(burstChildEnv)
	n, _ := strconv.Atoi(os.Getenv("FAULT_BURST_N"))
	conc, _ := strconv.Atoi(os.Getenv("FAULT_BURST_CONC"))
	if n <= 0 || conc <= 0 {
		fmt.Fprintln(os.Stderr, "burst child: bad parameters")
		return 2
	}
	// Ten source addresses, so that no single one runs short of ephemeral
	// ports (the machine may be busy with other tests).
	dialers := make([]*net.Dialer, 10)
	for i := range dialers {
		dialers[i] = &net.Dialer{Timeout: 20 * time.Second, LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(2+i))}}
	}
	conns := make([]net.Conn, n)
	took := make([]time.Duration, n)
	var (
		next     atomic.Int64
		failed   atomic.Int64
		errOnce  sync.Once
		firstErr string
		wg       sync.WaitGroup
	)
	start := time.Now()
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				t0 := time.Now()
				c, err := siotest.Open(dialers[i%len(dialers)], addr, "/socket.io/")
				if err != nil {
					failed.Add(1)
					errOnce.Do(func() { firstErr = err.Error() })
					continue
				}
				took[i] = time.Since(t0)
				conns[i] = c.Conn
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	var ok []time.Duration
	for i, c := range conns {
		if c != nil {
			ok = append(ok, took[i])
		}
	}
	ok = sortedCopy(ok)
	rep := burstReport{Connected: len(ok), Failed: int(failed.Load()), FirstErr: firstErr,
		ElapsedMs: elapsed.Milliseconds(), P99Ms: percentile(ok, 99).Milliseconds()}
	b, _ := json.Marshal(rep)
	fmt.Println(string(b))
	// Hold until the parent closes stdin (bounded).
	done := make(chan struct{})
	go func() {
		buf := make([]byte, 64)
		for {
			if _, err := os.Stdin.Read(buf); err != nil {
				close(done)
				return
			}
		}
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Minute):
	}
	for _, c := range conns {
		if c != nil {
			_ = c.Close()
		}
	}
	return 0
}
