// Package hostile runs the attacks of a hostile, anonymous client against a
// real Caddy built from ./cmd/caddy, at the default limits: each test
// checks that the process lives, that a canary client in the same namespace
// keeps getting its ack-echo within 2 s during and after the attack, that
// the process's resident memory grows less than a fixed budget, and for
// the isolation and origin attacks that the forbidden thing did not happen.
// A test whose attack never got through the handshake fails.
package hostile

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddy-socketio/caddy-socketio/socketio/siotest"
)

// rssBudget is the resident memory an attack may add to Caddy.
const rssBudget = 64 << 20

var caddyBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "hostile-caddy-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	caddyBin = filepath.Join(dir, "caddy")
	build := exec.Command("go", "build", "-o", caddyBin, "./cmd/caddy")
	build.Dir = "../.."
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building caddy:", err)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// caddyProc is one running Caddy.
type caddyProc struct {
	t        *testing.T
	cmd      *exec.Cmd
	port     int
	URL      string // http://127.0.0.1:port
	adminURL string
	logs     *syncBuffer
	done     chan struct{}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// defaultSocketio is the site's socketio block at the default limits: an
// ack-echo for the canary in "/" and in the dynamic namespaces, and the
// room rules the isolation attacks need.
const defaultSocketio = `socketio {
		namespace / {
			ack echo
			join joinRoom room
			relay toRoom roomMessage {
				to field room
			}
		}
		namespace ~^/room-\d+$ {
			ack echo
		}
	}`

// startCaddy runs Caddy with a site on a free loopback port whose body is
// site (a socketio block and anything else), and waits until it answers.
func startCaddy(t *testing.T, site string) *caddyProc {
	t.Helper()
	port := freePort(t)
	adminPort := freePort(t)
	home := t.TempDir()
	caddyfile := fmt.Sprintf(`{
	admin 127.0.0.1:%d
	storage file_system %s
	log {
		level WARN
	}
}
http://127.0.0.1:%d {
	bind 127.0.0.1
	%s
}
`, adminPort, filepath.Join(home, "data"), port, site)
	cf := filepath.Join(home, "Caddyfile")
	if err := os.WriteFile(cf, []byte(caddyfile), 0o600); err != nil {
		t.Fatal(err)
	}
	p := &caddyProc{t: t, port: port, URL: "http://127.0.0.1:" + strconv.Itoa(port), logs: new(syncBuffer), done: make(chan struct{}),
		adminURL: "http://127.0.0.1:" + strconv.Itoa(adminPort)}
	p.cmd = exec.Command(caddyBin, "run", "--config", cf, "--adapter", "caddyfile")
	p.cmd.Env = append(os.Environ(), "HOME="+home, "XDG_CONFIG_HOME="+home+"/config", "XDG_DATA_HOME="+home+"/data")
	p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("caddy logs:\n%s", tail(p.logs.String(), 4000))
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", p.addr(), time.Second)
		if err == nil {
			c.Close()
			break
		}
		select {
		case <-p.done:
			t.Fatalf("caddy exited: %s", p.logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("caddy not listening: %s", p.logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return p
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

func (p *caddyProc) addr() string { return "127.0.0.1:" + strconv.Itoa(p.port) }

// alive fails the test when the process has exited.
func (p *caddyProc) alive() {
	p.t.Helper()
	select {
	case <-p.done:
		p.t.Fatalf("caddy died: %s", tail(p.logs.String(), 4000))
	default:
	}
}

// rss is the process's resident memory in bytes (VmRSS).
func (p *caddyProc) rss() int64 {
	p.t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		p.alive()
		p.t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				p.t.Fatal(err)
			}
			return kb << 10
		}
	}
	p.t.Fatal("no VmRSS")
	return 0
}

// heap is the Go heap in use of the process (go_memstats_heap_inuse_bytes
// on the admin endpoint's /metrics). Unlike RSS it counts memory allocated
// and not yet touched.
func (p *caddyProc) heap() int64 {
	p.t.Helper()
	resp, err := http.Get(p.adminURL + "/metrics")
	if err != nil {
		p.alive()
		p.t.Fatalf("metrics: %v", err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "go_memstats_heap_inuse_bytes "); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			if err != nil {
				p.t.Fatal(err)
			}
			return int64(v)
		}
	}
	p.t.Fatal("no go_memstats_heap_inuse_bytes in /metrics")
	return 0
}

// canary is a well-behaved client whose ack-echo must be answered within
// 2 s, in namespace nsp.
type canary struct {
	t   *testing.T
	nsp string
	c   *siotest.WSClient
	id  int
}

func newCanary(t *testing.T, p *caddyProc, nsp string) *canary {
	t.Helper()
	c := siotest.DialWS(t, p.URL, "", nil)
	c.Connect(nsp, "")
	k := &canary{t: t, nsp: nsp, c: c}
	k.check("before the attack")
	return k
}

// check sends one echo and waits 2 s for its ack.
func (k *canary) check(when string) {
	k.t.Helper()
	k.id++
	k.c.Emit(k.nsp, k.id, "echo", k.id)
	want := "43" + siotest.NspPrefix(k.nsp) + strconv.Itoa(k.id) + "[" + strconv.Itoa(k.id) + "]"
	deadline := time.After(2 * time.Second)
	for {
		select {
		case f, ok := <-k.frames():
			if !ok {
				k.t.Fatalf("canary disconnected %s", when)
			}
			if f == want {
				return
			}
		case <-deadline:
			k.t.Fatalf("canary: no ack-echo within 2 s %s", when)
		}
	}
}

func (k *canary) frames() <-chan string { return k.c.Frames() }

// watch runs attack in its own goroutine while the canary checks every
// 250 ms and the RSS is sampled; then checks once more after it, and
// asserts the process lives and its RSS grew less than rssBudget over
// base. It returns the peak growth.
func watch(t *testing.T, p *caddyProc, k *canary, limit time.Duration, attack func(stop <-chan struct{})) int64 {
	t.Helper()
	base, baseHeap := p.rss(), p.heap()
	peakHeap := int64(0)
	done := make(chan struct{})
	stop := make(chan struct{})
	go func() {
		defer close(done)
		attack(stop)
	}()
	peak := int64(0)
	timeout := time.After(limit)
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for running := true; running; {
		select {
		case <-done:
			running = false
		case <-timeout:
			close(stop)
			<-done
			running = false
		case <-tick.C:
			p.alive()
			peak = max(peak, p.rss()-base)
			peakHeap = max(peakHeap, p.heap()-baseHeap)
			k.check("during the attack")
		}
	}
	time.Sleep(500 * time.Millisecond)
	p.alive()
	peak = max(peak, p.rss()-base)
	peakHeap = max(peakHeap, p.heap()-baseHeap)
	k.check("after the attack")
	mb := func(n int64) float64 { return float64(n) / (1 << 20) }
	t.Logf("RSS: base %.1f MB, peak growth %.1f MB; heap in use: base %.1f MB, peak growth %.1f MB (budget %d MB each)",
		mb(base), mb(peak), mb(baseHeap), mb(peakHeap), rssBudget>>20)
	if peak > rssBudget {
		t.Errorf("RSS grew by %.1f MB, over the %d MB budget", mb(peak), rssBudget>>20)
	}
	if peakHeap > rssBudget {
		t.Errorf("heap in use grew by %.1f MB, over the %d MB budget", mb(peakHeap), rssBudget>>20)
	}
	return peak
}
