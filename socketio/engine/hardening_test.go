package engine

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/caddy-socketio/caddy-socketio/socketio/siotest"
)

// Hostile clients against the engine: each test checks the bound holds
// (memory measured with siotest.HeapInUse where the attack is about
// memory), what the client sees, and that the metric counts it.

// rawWS opens a websocket-only session with gorilla (the handshake and
// the open packet) and returns the raw connection, for writing frames by
// hand and reading the server's frames without gorilla's checks. rcvBuf > 0
// shrinks the client's receive buffer (a client that reads nothing then
// blocks the server's writes soon).
func (e *env) rawWS(rcvBuf int) (net.Conn, *Session) {
	e.t.Helper()
	d := websocket.Dialer{HandshakeTimeout: waitTimeout, NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err == nil && rcvBuf > 0 {
			_ = c.(*net.TCPConn).SetReadBuffer(rcvBuf)
		}
		return c, err
	}}
	c, _, err := d.Dial(e.wsURL("EIO=4&transport=websocket"), nil)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { c.Close() })
	if _, m := readWS(e.t, c); !strings.HasPrefix(m, "0{") {
		e.t.Fatalf("open %q", m)
	}
	return c.NetConn(), e.app.waitOpened(e.t)
}

// readServerFrame reads one unmasked server frame from r.
func readServerFrame(r io.Reader) (op byte, payload []byte, err error) {
	var h [2]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return 0, nil, err
	}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var l [2]byte
		if _, err := io.ReadFull(r, l[:]); err != nil {
			return 0, nil, err
		}
		n = uint64(binary.BigEndian.Uint16(l[:]))
	case 127:
		var l [8]byte
		if _, err := io.ReadFull(r, l[:]); err != nil {
			return 0, nil, err
		}
		n = binary.BigEndian.Uint64(l[:])
	}
	if n > 1<<20 {
		return 0, nil, fmt.Errorf("frame of %d bytes", n)
	}
	payload = make([]byte, n)
	_, err = io.ReadFull(r, payload)
	return h[0] & 0x0f, payload, err
}

// expectCloseCode reads server frames until a close frame and checks its
// code: the close frame must arrive (a reset or EOF without it fails).
func expectCloseCode(t *testing.T, nc net.Conn, want uint16) {
	t.Helper()
	_ = nc.SetReadDeadline(time.Now().Add(waitTimeout))
	br := bufio.NewReader(nc)
	for i := 0; i < 1000; i++ {
		op, p, err := readServerFrame(br)
		if err != nil {
			t.Fatalf("no close frame %d: %v", want, err)
		}
		if op != opClose {
			continue
		}
		if len(p) < 2 {
			t.Fatalf("close frame %q, want code %d", p, want)
		}
		if got := binary.BigEndian.Uint16(p); got != want {
			t.Fatalf("close code %d, want %d", got, want)
		}
		return
	}
	t.Fatal("no close frame")
}

// TestCloseCodesReachClient: every refused frame gets its close code, and
// the close frame reaches the client even while it is still sending (the
// server drains instead of resetting).
func TestCloseCodesReachClient(t *testing.T) {
	const limit = 1000
	e := newEnv(t, func(c *Config) { slowPing(c); c.MaxPayload = limit })
	f := func(fin bool, op byte, p string) []byte { return clientFrame(fin, op, []byte(p), testMask) }
	cat := func(frames ...[]byte) []byte { return bytes.Join(frames, nil) }
	for _, tc := range []struct {
		name  string
		frame []byte
		code  uint16
	}{
		{"invalid UTF-8", f(true, opText, "4caf\xc3("), 1007},
		{"invalid UTF-8 across fragments", cat(f(false, opText, "4caf\xc3"), f(true, opContinuation, "e")), 1007},
		{"invalid UTF-8 in a close reason", f(true, opClose, "\x03\xe8\xff"), 1007},
		{"unmasked", []byte{0x81, 0x02, '4', 'x'}, 1002},
		{"reserved bits", append([]byte{0xc1}, f(true, opText, "4x")[1:]...), 1002},
		{"unknown opcode", f(true, 0x3, "4x"), 1002},
		{"fragmented ping", f(false, opPing, ""), 1002},
		{"ping over 125 bytes", f(true, opPing, strings.Repeat("p", 126)), 1002},
		{"too big", f(true, opText, "4"+strings.Repeat("x", limit)), 1009},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nc, s := e.rawWS(0)
			if _, err := nc.Write(tc.frame); err != nil {
				t.Fatal(err)
			}
			expectCloseCode(t, nc, tc.code)
			if r := e.app.waitClosed(t, s.ID()); r != ReasonTransportError {
				t.Fatalf("reason %q", r)
			}
		})
	}
	if st := e.srv.Stats(); st.ProtocolErrors != 8 || st.TooLarge != 1 {
		t.Fatalf("protocol errors %d (want 8), too large %d (want 1)", st.ProtocolErrors, st.TooLarge)
	}

	// A big message still streaming in: the rest is drained, not reset.
	t.Run("too big while sending", func(t *testing.T) {
		e := newEnv(t, slowPing) // max_payload 1 MB
		nc, _ := e.rawWS(0)
		// Echoes the client does not read yet: the server's send queue
		// holds them (and the close frame after them) when it refuses the
		// big message. Closing at once would reset the connection and
		// discard all of it.
		echo := clientFrame(true, opBinary, bytes.Repeat([]byte("e"), 900_000), testMask)
		for range 2 {
			if _, err := nc.Write(echo); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(200 * time.Millisecond)
		const size = 4 << 20
		hdr := binary.BigEndian.AppendUint64([]byte{0x82, 0x80 | 127}, size)
		hdr = append(hdr, testMask[:]...)
		var wg sync.WaitGroup
		wg.Add(1)
		go func() { // the client goes on sending what it announced
			defer wg.Done()
			_ = nc.SetWriteDeadline(time.Now().Add(waitTimeout))
			if _, err := nc.Write(hdr); err != nil {
				return
			}
			chunk := make([]byte, 64<<10)
			for sent := 0; sent < size; sent += len(chunk) {
				if _, err := nc.Write(chunk); err != nil {
					return
				}
			}
		}()
		// Read only once everything is sent: a server that closed at once
		// would have reset the connection, and the close frame with it.
		wg.Wait()
		expectCloseCode(t, nc, 1009)
	})
}

// TestPanicClosesOnlyThatConnection: a handler that panics closes its own
// connection (websocket: close code 1011; polling: the session ends), the
// panic is logged with its stack and counted, and others are served.
func TestPanicClosesOnlyThatConnection(t *testing.T) {
	e := newEnv(t, slowPing)
	e.app.setOnMessage(func(s *Session, data []byte, binary bool) bool {
		if string(data) == "panic" {
			panic("handler bug")
		}
		return false
	})
	before := Panics()
	other, _, _ := e.wsHandshake("")

	nc, s := e.rawWS(0)
	if _, err := nc.Write(clientFrame(true, opText, []byte("4panic"), testMask)); err != nil {
		t.Fatal(err)
	}
	expectCloseCode(t, nc, closeInternalError)
	if r := e.app.waitClosed(t, s.ID()); r != ReasonTransportError {
		t.Fatalf("reason %q", r)
	}

	sid, _ := e.handshake()
	if r := e.post(sid, "4panic"); r.status != 200 {
		t.Fatalf("POST: %d", r.status)
	}
	if r := e.app.waitClosed(t, sid); r != ReasonTransportError {
		t.Fatalf("polling reason %q", r)
	}
	if r := e.get(sid); r.status != 400 {
		t.Fatalf("GET after the panic: %d %q", r.status, r.body)
	}

	// The others are served.
	writeWS(t, other, websocket.TextMessage, "4still here")
	if _, m := readWSSkipPing(t, other); m != "4still here" {
		t.Fatalf("echo %q", m)
	}
	sid2, _ := e.handshake()
	if r := e.post(sid2, "4hi"); r.status != 200 {
		t.Fatalf("POST: %d", r.status)
	}
	if r := e.get(sid2); r.body != "4hi" {
		t.Fatalf("GET %q", r.body)
	}
	if n := e.srv.Stats().Panics; n != 2 {
		t.Fatalf("Stats.Panics %d, want 2", n)
	}
	if n := Panics() - before; n != 2 {
		t.Fatalf("Panics() grew by %d, want 2", n)
	}
	logs := e.logs.String()
	if !strings.Contains(logs, "level=ERROR") || !strings.Contains(logs, "handler bug") || !strings.Contains(logs, "hardening_test.go") {
		t.Fatalf("panic not logged at ERROR with its stack:\n%s", logs)
	}
}

// TestPanicInOnSessionAndOnClose: the other application callbacks.
func TestPanicInOnSessionAndOnClose(t *testing.T) {
	var mu sync.Mutex
	mode := ""
	app := newTestApp()
	e := newEnv(t, func(c *Config) {
		slowPing(c)
		c.OnSession = func(s *Session) SessionHandler {
			mu.Lock()
			m := mode
			mu.Unlock()
			if m == "open" {
				panic("OnSession bug")
			}
			return app.onSession(s)
		}
	})
	e.app = app
	mu.Lock()
	mode = "open"
	mu.Unlock()
	r := e.do("GET", "EIO=4&transport=polling", "")
	if r.status != 200 || !strings.HasPrefix(r.body, "0{") || !strings.HasSuffix(r.body, "\x1e1") {
		t.Fatalf("handshake with a panicking OnSession: %d %q", r.status, r.body)
	}
	ws := e.mustDial("EIO=4&transport=websocket")
	if err := expectWSClosed(t, ws); !websocket.IsCloseError(err, closeInternalError) {
		t.Fatalf("websocket with a panicking OnSession: %v", err)
	}
	eventually(t, "no session left", func() bool { return e.srv.SessionCount() == 0 })

	mu.Lock()
	mode = ""
	mu.Unlock()
	app.setOnMessage(func(s *Session, data []byte, binary bool) bool { return false })
	c, s, _ := e.wsHandshake("")
	// OnClose of this session panics (testApp's OnClose panics on a
	// duplicate sid: fake one by recording it first).
	app.mu.Lock()
	app.reasons[s.ID()] = "fake"
	app.mu.Unlock()
	c.Close()
	eventually(t, "session closed", func() bool { return e.srv.SessionCount() == 0 })
	eventually(t, "3 panics", func() bool { return e.srv.Stats().Panics == 3 })
}

// TestPingFloodBounded: a client that sends websocket pings and never
// reads holds one pending pong, not one per ping; when its writes stall it
// is closed as a slow client.
func TestPingFloodBounded(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.PingInterval, c.PingTimeout, c.WriteTimeout = time.Minute, time.Minute, time.Minute })
	nc, s := e.rawWS(0)
	smallSendBuffer(s)
	ping := clientFrame(true, opPing, bytes.Repeat([]byte("p"), 125), testMask)
	batch := bytes.Repeat(ping, 100)
	const pings = 100_000
	base := siotest.HeapInUse()
	_ = nc.SetWriteDeadline(time.Now().Add(30 * time.Second))
	for i := 0; i < pings/100; i++ {
		if _, err := nc.Write(batch); err != nil {
			s.mu.Lock()
			st := fmt.Sprintf("closed %v writing %v queue %d bytes %d pongAt %d reg %d discard %v stats %+v", s.closed, s.writing, len(s.queue), s.queueBytes, s.pongAt, pollRegistered(), s.ws.discard, e.srv.Stats())
			s.mu.Unlock()
			t.Fatalf("after %d pings: %v\n%s\n%s", i*100, err, st, e.logs.String())
		}
	}
	// A message after the pings: once it is echoed (queued), every ping
	// before it has been read.
	if _, err := nc.Write(clientFrame(true, opText, []byte("4sync"), testMask)); err != nil {
		t.Fatal(err)
	}
	eventually(t, "all read", func() bool { return e.srv.Stats().PacketsIn >= 1 })
	s.mu.Lock()
	pongs, queued := 0, len(s.queue)
	for _, p := range s.queue {
		if p.typ == packetWSPong {
			pongs++
		}
	}
	s.mu.Unlock()
	grown := int64(siotest.HeapInUse()) - int64(base)
	t.Logf("%d pings of 125 bytes (%.1f MB) not read: heap %+.2f MB, %d pending pongs, %d queued",
		pings, float64(pings*len(ping))/1e6, float64(grown)/1e6, pongs, queued)
	if pongs > 1 {
		t.Fatalf("%d pongs pending, want at most 1", pongs)
	}
	if grown > 3<<20 {
		t.Fatalf("heap grew %d bytes", grown)
	}
	if e.srv.Stats().SlowClosed != 0 {
		t.Fatal("closed too early")
	}
}

// smallSendBuffer makes the server's writes to s block as soon as its
// client stops reading (a loopback send buffer grows to megabytes).
func smallSendBuffer(s *Session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_ = s.ws.nc.(*net.TCPConn).SetWriteBuffer(4096)
}

// TestPingFloodSlowClient: the stalled writer times out and the flooder is
// counted as a slow client.
func TestPingFloodSlowClient(t *testing.T) {
	e := newEnv(t, func(c *Config) { slowPing(c); c.WriteTimeout = 300 * time.Millisecond })
	nc, s := e.rawWS(0)
	smallSendBuffer(s)
	batch := bytes.Repeat(clientFrame(true, opPing, bytes.Repeat([]byte("p"), 125), testMask), 100)
	_ = nc.SetWriteDeadline(time.Now().Add(waitTimeout))
	for i := 0; i < 5000; i++ { // at most 500,000 pings
		if _, err := nc.Write(batch); err != nil {
			break
		}
		if e.srv.Stats().SlowClosed > 0 {
			break
		}
	}
	if r := e.app.waitClosed(t, s.ID()); r != ReasonTransportError {
		t.Fatalf("reason %q", r)
	}
	if n := e.srv.Stats().SlowClosed; n != 1 {
		t.Fatalf("SlowClosed %d, want 1", n)
	}
	if !strings.Contains(e.logs.String(), "closing slow client") {
		t.Fatal("not logged")
	}
}

// TestPongCountsAgainstQueue: a pong that would overflow the queue closes
// the client like any message would; a newer ping replaces a pending pong.
func TestPongCountsAgainstQueue(t *testing.T) {
	e := newEnv(t, func(c *Config) { slowPing(c); c.SendQueueLen = 2 })
	_, s := e.rawWS(0)
	s.mu.Lock()
	s.writing = true // hold the writer: everything stays queued
	s.queue = append(s.queue, packet{typ: packetMessage, data: []byte("a")})
	if start, over := s.queuePongLocked([]byte("p1")); start || over {
		t.Fatalf("first pong: start %v overflow %v", start, over)
	}
	if _, over := s.queuePongLocked([]byte("p2")); over || len(s.queue) != 2 || string(s.queue[1].data) != "p2" || s.queueBytes != 2 {
		t.Fatalf("second pong: overflow %v, queue %v, bytes %d", over, s.queue, s.queueBytes)
	}
	q := s.takeQueueLocked() // the writer took both
	if _, over := s.queuePongLocked([]byte("p3")); over || s.pongAt != 1 {
		t.Fatalf("after take: overflow %v pongAt %d", over, s.pongAt)
	}
	s.queue = append(s.queue, packet{typ: packetMessage, data: []byte("b")})
	s.pongAt = 0 // as if that pong had been taken
	_, over := s.queuePongLocked([]byte("p4"))
	s.writing = false
	s.mu.Unlock()
	putQueue(q)
	if !over {
		t.Fatal("third packet in a queue of 2: no overflow")
	}
}

// slowPost opens a raw connection and sends a POST that announces
// declared bytes and sends body.
func (e *env) slowPost(sid string, declared int, body string) net.Conn {
	e.t.Helper()
	nc, err := net.Dial("tcp", strings.TrimPrefix(e.hs.URL, "http://"))
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { nc.Close() })
	req := "POST /engine.io/?EIO=4&transport=polling&sid=" + sid + " HTTP/1.1\r\nHost: x\r\n" +
		"Content-Type: text/plain;charset=UTF-8\r\nContent-Length: " + strconv.Itoa(declared) + "\r\n\r\n" + body
	if _, err := io.WriteString(nc, req); err != nil {
		e.t.Fatal(err)
	}
	return nc
}

// TestSlowPostBounded: 200 POSTs announcing 1 MB and sending 2 bytes hold
// what arrived (a few KB each), not what they announced, and the read
// deadline ends them: 400, sessions closed, memory released.
func TestSlowPostBounded(t *testing.T) {
	const n = 200
	e := newEnv(t, func(c *Config) { slowPing(c); c.PostReadTimeout = 2 * time.Second })
	sids := make([]string, n)
	for i := range sids {
		sids[i], _ = e.handshake()
	}
	base := siotest.HeapInUse()
	start := time.Now()
	conns := make([]net.Conn, n)
	for i, sid := range sids {
		conns[i] = e.slowPost(sid, 1_000_000, "4x")
	}
	eventually(t, "every POST reading", func() bool {
		for _, sid := range sids {
			s := e.srv.lookup(sid)
			s.mu.Lock()
			active := s.postActive
			s.mu.Unlock()
			if !active {
				return false
			}
		}
		return true
	})
	held := int64(siotest.HeapInUse()) - int64(base)
	t.Logf("%d POSTs announcing 1 MB, 2 bytes sent: heap %+.2f MB", n, float64(held)/1e6)
	if held > 8<<20 {
		t.Fatalf("heap grew %d bytes while the bodies trickle", held)
	}
	for i, nc := range conns {
		_ = nc.SetReadDeadline(time.Now().Add(waitTimeout))
		res, err := http.ReadResponse(bufio.NewReader(nc), nil)
		if err != nil {
			t.Fatalf("POST %d: %v", i, err)
		}
		res.Body.Close()
		if res.StatusCode != 400 {
			t.Fatalf("POST %d: %d", i, res.StatusCode)
		}
	}
	if el := time.Since(start); el < 2*time.Second {
		t.Fatalf("answered after %v, before the read deadline", el)
	}
	for _, sid := range sids {
		if r := e.app.waitClosed(t, sid); r != ReasonTransportError {
			t.Fatalf("reason %q", r)
		}
	}
	for _, nc := range conns {
		nc.Close()
	}
	eventually(t, "sessions gone", func() bool { return e.srv.SessionCount() == 0 })
	if after := int64(siotest.HeapInUse()) - int64(base); after > 4<<20 {
		t.Fatalf("heap %+d bytes after the sessions ended", after)
	}
}

// TestPostDeadlineKeepAlive: the POST read deadline does not outlive the
// request: the keep-alive connection serves later requests after it.
func TestPostDeadlineKeepAlive(t *testing.T) {
	e := newEnv(t, func(c *Config) { slowPing(c); c.PostReadTimeout = 300 * time.Millisecond })
	sid, _ := e.handshake()
	for i := range 3 {
		if r := e.post(sid, "4m"+strconv.Itoa(i)); r.status != 200 {
			t.Fatalf("POST %d: %d", i, r.status)
		}
		time.Sleep(400 * time.Millisecond) // past the deadline, same connection
	}
	if r := e.get(sid); r.body != "4m0\x1e4m1\x1e4m2" {
		t.Fatalf("GET %q", r.body)
	}
}

// TestSeparatorFlood: a body of separators is refused at its first empty
// packet, a body over MaxPayloadPackets before any packet is delivered;
// both 400 and a closed session.
func TestSeparatorFlood(t *testing.T) {
	flood := bytes.Repeat([]byte{recordSeparator}, 1_000_000)
	if n, err := checkPayload(flood, 10_000, true); err == nil || n != 1 {
		t.Fatalf("separators: %d packets, %v", n, err)
	}
	many := bytes.Repeat([]byte("4\x1e"), 500_000)
	if n, err := checkPayload(many[:len(many)-1], 10_000, true); !errors.Is(err, errTooManyPackets) || n != 10_001 {
		t.Fatalf("500,000 packets: %d, %v", n, err)
	}
	ok := bytes.Repeat([]byte("4ab\x1ebYWI=\x1e"), 50)
	ok = ok[:len(ok)-1]
	if a := testing.AllocsPerRun(10, func() { _, _ = checkPayload(ok, 1000, true) }); a != 0 {
		t.Fatalf("checkPayload allocates %v times", a)
	}

	e := newEnv(t, func(c *Config) { slowPing(c); c.MaxPayloadPackets = 100 })
	var got []string
	var mu sync.Mutex
	e.app.setOnMessage(func(_ *Session, d []byte, _ bool) bool {
		mu.Lock()
		got = append(got, string(d))
		mu.Unlock()
		return true
	})
	for _, tc := range []struct {
		name string
		body []byte
	}{
		{"separators", flood},
		{"101 packets", bytes.Repeat([]byte("4x\x1e"), 101)[:3*101-1]},
		{"valid then empty", []byte("4a\x1e4b\x1e\x1e4c")},
		{"bad base64", []byte("4a\x1eb!!!")},
		{"noop from a client", []byte("4a\x1e6")},
	} {
		sid, _ := e.handshake()
		base := siotest.HeapInUse()
		r := e.post(sid, string(tc.body))
		if r.status != 400 {
			t.Fatalf("%s: %d", tc.name, r.status)
		}
		if reason := e.app.waitClosed(t, sid); reason != ReasonParseError {
			t.Fatalf("%s: reason %q", tc.name, reason)
		}
		if grown := int64(siotest.HeapInUse()) - int64(base); grown > 1<<20 {
			t.Fatalf("%s: heap grew %d bytes", tc.name, grown)
		}
	}
	delivered := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(got)
	}
	if n := delivered(); n != 0 {
		t.Fatalf("%d packets delivered from refused payloads", n)
	}
	sid, _ := e.handshake()
	if r := e.post(sid, string(bytes.Repeat([]byte("4x\x1e"), 100)[:299])); r.status != 200 || delivered() != 100 {
		t.Fatalf("100 packets: %d, %d delivered", r.status, delivered())
	}
	if n := e.srv.Stats().ProtocolErrors; n != 5 {
		t.Fatalf("ProtocolErrors %d, want 5", n)
	}
}

// TestHandshakeTooBig: headers and query a session would keep are bounded.
func TestHandshakeTooBig(t *testing.T) {
	e := newEnv(t, func(c *Config) { slowPing(c); c.MaxHandshakeBytes = 4096 })
	big := strings.Repeat("x", 4096)
	if r := e.do("GET", "EIO=4&transport=polling", "", "X-Big", big); r.status != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("polling: %d %q", r.status, r.body)
	}
	if r := e.do("GET", "EIO=4&transport=polling&big="+big, ""); r.status != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("polling query: %d %q", r.status, r.body)
	}
	_, res, err := websocket.DefaultDialer.Dial(e.wsURL("EIO=4&transport=websocket"), http.Header{"X-Big": {big}})
	if err == nil || res == nil || res.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("websocket: %v %v", err, res)
	}
	e.handshake() // normal ones pass
	if n := e.srv.Stats().RejectedHandshakes; n != 3 {
		t.Fatalf("RejectedHandshakes %d", n)
	}
}

func TestReadBodyGrowsWithData(t *testing.T) {
	// Announcing 1 MB and sending 3 bytes allocates the first buffer only.
	r := io.MultiReader(strings.NewReader("4ab"), errReader{io.ErrUnexpectedEOF})
	if _, err := readBody(r, 1_000_000, 1_000_000); err == nil {
		t.Fatal("short body accepted")
	}
	for _, n := range []int{0, 1, 4095, 4096, 4097, 100_000, 1_000_000} {
		body := bytes.Repeat([]byte("y"), n)
		for _, declared := range []int64{int64(n), -1} {
			b, err := readBody(iotestOneByte{bytes.NewReader(body)}, declared, 1_000_000)
			if err != nil || !bytes.Equal(b, body) || cap(b) > max(2*n, firstBodyBuf) {
				t.Fatalf("%d bytes (declared %d): %d read, cap %d, %v", n, declared, len(b), cap(b), err)
			}
		}
	}
	b, err := readBody(bytes.NewReader(make([]byte, 2000)), -1, 1000)
	if err != nil || len(b) != 1001 {
		t.Fatalf("over max: %d, %v", len(b), err)
	}
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

// iotestOneByte reads in small pieces, like a trickling client.
type iotestOneByte struct{ r io.Reader }

func (r iotestOneByte) Read(p []byte) (int, error) { return r.r.Read(p[:min(len(p), 1000)]) }
