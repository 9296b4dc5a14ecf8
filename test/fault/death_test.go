package fault_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-socketio/caddy-socketio/socketio"
	"github.com/caddy-socketio/caddy-socketio/socketio/engine"
	"github.com/caddy-socketio/caddy-socketio/socketio/siotest"
)

// pollClient is a long-polling Engine.IO client on its own HTTP transport,
// whose connection can be reset.
type pollClient struct {
	base, sid string
	hc        *http.Client
	tr        *http.Transport
	mu        sync.Mutex
	conns     []net.Conn
}

func newPollClient(base string) *pollClient {
	p := &pollClient{base: base}
	p.tr = &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := (&net.Dialer{Timeout: 10 * time.Second}).DialContext(ctx, network, addr)
			if err == nil {
				p.mu.Lock()
				p.conns = append(p.conns, c)
				p.mu.Unlock()
			}
			return c, err
		},
		MaxConnsPerHost: 2,
	}
	p.hc = &http.Client{Transport: p.tr, Timeout: 10 * time.Second}
	return p
}

func (p *pollClient) do(method, body string) (string, error) {
	u := p.base + "/socket.io/?EIO=4&transport=polling"
	if p.sid != "" {
		u += "&sid=" + p.sid
	}
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		return "", err
	}
	resp, err := p.hc.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("%s: status %d %q", method, resp.StatusCode, b)
	}
	return string(b), err
}

// connect: handshake, CONNECT to "/", and its reply.
func (p *pollClient) connect() error {
	open, err := p.do(http.MethodGet, "")
	if err != nil {
		return err
	}
	i := strings.Index(open, `"sid":"`)
	if i < 0 || len(open) < i+27 {
		return fmt.Errorf("handshake %q", open)
	}
	p.sid = open[i+7 : i+27]
	if _, err := p.do(http.MethodPost, "40"); err != nil {
		return err
	}
	reply, err := p.do(http.MethodGet, "")
	if err != nil {
		return err
	}
	if !strings.HasPrefix(reply, "40{") {
		return fmt.Errorf("connect reply %q", reply)
	}
	return nil
}

// pollUntil polls (answering pings) until stop is set; the GET in flight
// then completes and nothing more is sent.
func (p *pollClient) pollUntil(stop *atomic.Bool) error {
	for !stop.Load() {
		body, err := p.do(http.MethodGet, "")
		if err != nil {
			return err
		}
		if stop.Load() {
			return nil
		}
		for _, pkt := range strings.Split(body, "\x1e") {
			if pkt == "2" {
				if _, err := p.do(http.MethodPost, "3"); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// reset closes every connection of the client with SO_LINGER 0 (RST).
func (p *pollClient) reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		_ = c.(*net.TCPConn).SetLinger(0)
		_ = c.Close()
	}
}

func (p *pollClient) close() {
	p.reset()
	p.tr.CloseIdleConnections()
}

// TestAbruptClientDeath: clients vanish without closing, four ways:
// websocket that stops reading and never pongs (ws-silent), websocket
// reset with SO_LINGER 0 (ws-reset), polling that stops polling
// (poll-stop), polling whose held GET is reset (poll-reset). Ping 200ms /
// 200ms. Pass: every socket's disconnect handler runs within pingInterval
// + pingTimeout + margin of the vanishing, with the reason of its kind;
// engine sessions, the namespace's sockets and its rooms go back to zero;
// goroutines back to where they started.
func TestAbruptClientDeath(t *testing.T) {
	var (
		wsPerKind   = size(20, 200, 2000)
		pollPerKind = size(10, 50, 300)
		// A polling client answers a ping with a GET and a POST; with 200ms
		// to do so, a few hundred of them on two shared cores would time
		// out while alive. The soak size uses a longer heartbeat.
		pingInterval = size(200*time.Millisecond, 200*time.Millisecond, 500*time.Millisecond)
		pingTimeout  = size(200*time.Millisecond, 200*time.Millisecond, 500*time.Millisecond)
		margin       = size(2*time.Second, time.Second, 2*time.Second)
	)
	// The reasons each kind may end with. A reset websocket is seen as a
	// closed transport; a reset held poll is "transport error" as in Node
	// ("poll connection closed prematurely"), or a ping timeout when the
	// reset fell between two GETs.
	kinds := map[string][]socketio.Reason{
		"ws-silent":  {socketio.ReasonPingTimeout},
		"ws-reset":   {socketio.ReasonTransportClose},
		"poll-stop":  {socketio.ReasonPingTimeout},
		"poll-reset": {socketio.ReasonTransportError, socketio.ReasonPingTimeout},
	}
	// Clients connect with a relaxed heartbeat, so that a slow setup on a
	// busy machine kills nobody; the short one is set once all are in.
	srv := socketio.NewServer(&socketio.Options{
		Engine: engine.Config{PingInterval: time.Second, PingTimeout: 5 * time.Second},
	})
	type disc struct {
		reason socketio.Reason
		at     time.Time
	}
	var (
		dmu   sync.Mutex
		discs = make(map[string]disc) // by the kind-index auth field
	)
	nsp := srv.Of("/")
	nsp.OnConnection(func(s *socketio.Socket) {
		s.Join("all")
		s.Join(socketio.Room("room-" + s.ID()[:2]))
		s.OnDisconnect(func(r socketio.Reason) {
			dmu.Lock()
			discs[string(s.ID())] = disc{r, time.Now()}
			dmu.Unlock()
		})
	})
	hs := httptest.NewServer(srv)
	t.Cleanup(func() {
		_ = srv.Close()
		hs.Close()
	})
	addr := hs.Listener.Addr().String()
	goroutines := siotest.SettledGoroutines()

	var stop atomic.Bool
	var wg sync.WaitGroup
	var cerr atomic.Value
	fail := func(err error) { cerr.CompareAndSwap(nil, err) }
	kindOf := make(map[string]string) // socket id -> kind
	var kmu sync.Mutex

	// Websocket clients answer pings until stop.
	var wsSilent, wsReset []*siotest.Client
	for i := 0; i < 2*wsPerKind; i++ {
		c, err := siotest.Open(nil, addr, "/socket.io/")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Conn.Close()
		kind := "ws-silent"
		if i%2 == 1 {
			kind = "ws-reset"
			wsReset = append(wsReset, c)
		} else {
			wsSilent = append(wsSilent, c)
		}
		kmu.Lock()
		kindOf[c.SocketID] = kind
		kmu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				f, err := c.Next(0)
				if stop.Load() {
					return // stops reading; never pongs again
				}
				if err != nil {
					fail(fmt.Errorf("%s client before the end: %w", kind, err))
					return
				}
				if f == "2" {
					if err := c.Write("3"); err != nil {
						fail(err)
						return
					}
				}
			}
		}()
	}
	// Polling clients poll until stop.
	var polls []*pollClient
	var pollReset []*pollClient
	for i := 0; i < 2*pollPerKind; i++ {
		p := newPollClient(hs.URL)
		defer p.close()
		if err := p.connect(); err != nil {
			t.Fatal(err)
		}
		polls = append(polls, p)
		kind := "poll-stop"
		if i%2 == 1 {
			kind = "poll-reset"
			pollReset = append(pollReset, p)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := p.pollUntil(&stop); err != nil && !stop.Load() {
				fail(fmt.Errorf("%s client before the end: %w", kind, err))
			}
		}()
	}
	// Polling sockets are not mapped to their client; poll-reset ones are
	// told apart from poll-stop ones by their reason below.
	total := 2*wsPerKind + 2*pollPerKind
	deadline := time.Now().Add(30 * time.Second)
	for nsp.SocketCount() != total {
		if time.Now().After(deadline) {
			dmu.Lock()
			t.Fatalf("%d of %d sockets connected, %d disconnected (%v); client error: %v", nsp.SocketCount(), total, len(discs), discs, cerr.Load())
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The short heartbeat applies from each session's next ping on (at
	// most a second away); then let a few short heartbeats pass: everyone
	// is alive and answering.
	srv.Engine().SetTiming(pingInterval, pingTimeout)
	time.Sleep(time.Second + 2*(pingInterval+pingTimeout))
	if e := cerr.Load(); e != nil {
		dmu.Lock()
		t.Fatalf("%v (disconnected before the end: %v)", e, discs)
	}
	if n := len(discs); n != 0 {
		t.Fatalf("%d sockets disconnected before the clients vanished", n)
	}
	rooms := len(nsp.Adapter().LocalRooms())

	// Vanish.
	vanished := time.Now()
	stop.Store(true)
	for _, c := range wsReset {
		_ = c.Conn.(*net.TCPConn).SetLinger(0)
		_ = c.Conn.Close()
	}
	for _, p := range pollReset {
		p.reset()
	}
	bound := pingInterval + pingTimeout + margin
	eventually(t, "every disconnect handler ran", bound+5*time.Second, func() bool {
		dmu.Lock()
		defer dmu.Unlock()
		return len(discs) == total
	})
	waitDone(t, &wg, 10*time.Second, "client goroutines")

	// Reasons and timing per kind.
	type stat struct {
		n       int
		worst   time.Duration
		reasons map[socketio.Reason]int
	}
	stats := make(map[string]*stat)
	dmu.Lock()
	for id, d := range discs {
		kind, ok := kindOf[id]
		if !ok {
			kind = "polling" // stopped or reset: told apart by reason below
		}
		st := stats[kind]
		if st == nil {
			st = &stat{reasons: make(map[socketio.Reason]int)}
			stats[kind] = st
		}
		st.n++
		st.reasons[d.reason]++
		st.worst = max(st.worst, d.at.Sub(vanished))
	}
	dmu.Unlock()
	kinds["polling"] = append(kinds["poll-stop"], kinds["poll-reset"]...)
	for _, kind := range []string{"ws-silent", "ws-reset", "polling"} {
		st := stats[kind]
		if st == nil {
			st = &stat{}
		}
		t.Logf("%s: %d freed, slowest %v after vanishing, reasons %v", kind, st.n, st.worst, st.reasons)
		for r := range st.reasons {
			if !slices.Contains(kinds[kind], r) {
				t.Errorf("%s: reason %q, want one of %q", kind, r, kinds[kind])
			}
		}
		if st.worst > bound {
			t.Errorf("%s: freed %v after vanishing, bound %v", kind, st.worst, bound)
		}
	}
	// Every socket of every kind was freed; among polling ones, only the
	// reset ones may end with "transport error".
	for kind, n := range map[string]int{"ws-silent": wsPerKind, "ws-reset": wsPerKind, "polling": 2 * pollPerKind} {
		if st := stats[kind]; st == nil || st.n != n {
			t.Errorf("%s: %+v freed, want %d", kind, st, n)
		}
	}
	if st := stats["polling"]; st != nil && st.reasons[socketio.ReasonTransportError] > pollPerKind {
		t.Errorf("polling: %d transport errors, but only %d polls were reset", st.reasons[socketio.ReasonTransportError], pollPerKind)
	}
	if s, k, r := srv.Engine().SessionCount(), nsp.SocketCount(), len(nsp.Adapter().LocalRooms()); s != 0 || k != 0 || r != 0 {
		t.Fatalf("after the deaths: %d sessions, %d sockets, %d rooms (%d before)", s, k, r, rooms)
	}
	t.Logf("%d sockets in %d rooms freed within %v (ping %v + %v, margin %v)", total, rooms, bound, pingInterval, pingTimeout, margin)
	for _, c := range wsSilent {
		_ = c.Conn.Close()
	}
	for _, p := range polls {
		p.close()
	}
	siotest.WaitGoroutines(t, goroutines+5, 15*time.Second)
}
