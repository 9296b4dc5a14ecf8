package engine

import (
	"bytes"
	"compress/flate"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

func compressionOn(c *Config) {
	c.WebSocketCompression = true
	slowPing(c)
}

// byteCountListener counts the bytes the server reads and writes.
type byteCountListener struct {
	net.Listener
	in, out *atomic.Int64
}

func (l byteCountListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &byteCountConn{c, l.in, l.out}, nil
}

type byteCountConn struct {
	net.Conn
	in, out *atomic.Int64
}

func (c *byteCountConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.in.Add(int64(n))
	return n, err
}

func (c *byteCountConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	c.out.Add(int64(n))
	return n, err
}

func dialDeflate(t testing.TB, e *env, query string) (*websocket.Conn, *http.Response) {
	t.Helper()
	d := websocket.Dialer{HandshakeTimeout: waitTimeout, EnableCompression: true}
	c, res, err := d.Dial(e.wsURL(query), nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c, res
}

func TestDeflateNegotiation(t *testing.T) {
	for _, on := range []bool{false, true} {
		e := newEnv(t, func(c *Config) { c.WebSocketCompression = on })
		_, res := dialDeflate(t, e, "EIO=4&transport=websocket")
		got := res.Header.Get("Sec-Websocket-Extensions")
		if on != strings.HasPrefix(got, "permessage-deflate") {
			t.Fatalf("compression %v: extensions %q", on, got)
		}
	}
	for _, tc := range []struct {
		h  string
		ok bool
	}{
		{"permessage-deflate; client_max_window_bits", true},
		{"x-foo, permessage-deflate", true},
		{"permessage-deflate; server_max_window_bits=10", false},
		{`permessage-deflate; client_max_window_bits="15"`, false},
		{"x-webkit-deflate-frame", false},
	} {
		h := http.Header{"Sec-Websocket-Extensions": {tc.h}}
		if offersDeflate(h) != tc.ok {
			t.Errorf("%q: %v", tc.h, !tc.ok)
		}
	}
}

// A 100 KB JSON message round-trips compressed both ways, and far fewer
// bytes cross the wire than without compression.
func TestDeflateRoundTripAndWireBytes(t *testing.T) {
	var msg strings.Builder
	msg.WriteString(`4[`)
	for i := 0; msg.Len() < 100_000; i++ {
		if i > 0 {
			msg.WriteByte(',')
		}
		msg.WriteString(`{"user":"alice","text":"hello there, how are you?","n":`)
		msg.WriteString(itoa(i))
		msg.WriteString(`}`)
	}
	msg.WriteString(`]`)
	wire := map[bool]int64{}
	for _, on := range []bool{false, true} {
		var in, out atomic.Int64
		e := newEnvListener(t, func(c *Config) { c.WebSocketCompression = on; slowPing(c) },
			func(l net.Listener) net.Listener { return byteCountListener{l, &in, &out} })
		c, _ := dialDeflate(t, e, "EIO=4&transport=websocket")
		readWS(t, c) // open
		e.app.waitOpened(t)
		in.Store(0)
		out.Store(0)
		writeWS(t, c, websocket.TextMessage, msg.String())
		if _, got := readWS(t, c); got != msg.String() {
			t.Fatalf("compression %v: echo differs (%d bytes)", on, len(got))
		}
		wire[on] = in.Load() + out.Load()
	}
	t.Logf("100 KB JSON echo: %d bytes on the wire uncompressed, %d compressed", wire[false], wire[true])
	if wire[true]*5 > wire[false] {
		t.Fatalf("compressed %d bytes, uncompressed %d: less than 5x smaller", wire[true], wire[false])
	}
}

// A deflate bomb (2 MB of zeros in a few KB) over MaxPayload is closed
// with 1009 without inflating it whole.
func TestDeflateBomb(t *testing.T) {
	e := newEnv(t, func(c *Config) { compressionOn(c); c.MaxPayload = 100_000 })
	c, _ := dialDeflate(t, e, "EIO=4&transport=websocket")
	readWS(t, c)
	s := e.app.waitOpened(t)
	writeWS(t, c, websocket.TextMessage, "4"+strings.Repeat("0", 2_000_000))
	err := expectWSClosed(t, c)
	if !websocket.IsCloseError(err, closeMessageTooBig) {
		t.Fatalf("close: %v", err)
	}
	if r := e.app.waitClosed(t, s.ID()); r != ReasonTransportError {
		t.Fatalf("reason %q", r)
	}
	if e.srv.Stats().TooLarge != 1 {
		t.Fatalf("TooLarge %d", e.srv.Stats().TooLarge)
	}

	// The inflater stops at the limit: memory allocated stays near it.
	var zbuf bytes.Buffer
	w, _ := flate.NewWriter(&zbuf, flate.BestSpeed)
	_, _ = w.Write(make([]byte, 20<<20))
	_ = w.Flush()
	bomb := zbuf.Bytes()[:zbuf.Len()-4]
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	if _, err := inflate(bomb, 1_000_000); err != errInflateTooBig {
		t.Fatalf("20 MB bomb (%d bytes): %v", len(bomb), err)
	}
	runtime.ReadMemStats(&after)
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 4<<20 {
		t.Fatalf("inflating a 20 MB bomb with a 1 MB limit allocated %d bytes", alloc)
	}
}

func TestDeflateCorrupt(t *testing.T) {
	if _, err := inflate([]byte{0xff, 0xff, 0xff}, 1000); err != errInflateCorrupt {
		t.Fatalf("corrupt: %v", err)
	}
	out, err := inflate(deflatePayload("4", []byte("hello"), false), 1000)
	if err != nil || string(out) != "4hello" {
		t.Fatalf("%q %v", out, err)
	}
	// Exactly at the limit is fine.
	if out, err := inflate(deflatePayload("", bytes.Repeat([]byte("a"), 1000), false), 1000); err != nil || len(out) != 1000 {
		t.Fatalf("at the limit: %d %v", len(out), err)
	}
}

// A message queued on many sessions (a broadcast) is compressed once for
// all recipients with the same framing.
func TestDeflateBroadcastCompressedOnce(t *testing.T) {
	e := newEnv(t, compressionOn)
	const n = 8
	var conns []*websocket.Conn
	var sessions []*Session
	for i := 0; i < n; i++ {
		c, _ := dialDeflate(t, e, "EIO=4&transport=websocket")
		readWS(t, c)
		conns = append(conns, c)
		sessions = append(sessions, e.app.waitOpened(t))
	}
	data := []byte(`2["news",` + `"` + strings.Repeat("broadcast ", 500) + `"]`)
	before := deflateCompressions.Load()
	for _, s := range sessions {
		if err := s.Send(Message{Data: data}); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range conns {
		if _, got := readWS(t, c); got != "4"+string(data) {
			t.Fatalf("got %d bytes", len(got))
		}
	}
	if d := deflateCompressions.Load() - before; d != 1 {
		t.Fatalf("%d compressions for one broadcast to %d sessions", d, n)
	}
	// Many broadcasts of one size queued at once: still one compression
	// each (allocations of one size class are evenly spaced in memory).
	before = deflateCompressions.Load()
	const m = 200
	for i := 0; i < m; i++ {
		d := append([]byte(nil), data...)
		for _, s := range sessions {
			if err := s.Send(Message{Data: d}); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, c := range conns {
		for i := 0; i < m; i++ {
			readWS(t, c)
		}
	}
	if d := deflateCompressions.Load() - before; d != m {
		t.Fatalf("%d compressions for %d broadcasts to %d sessions", d, m, n)
	}
	// Small messages are not compressed.
	before = deflateCompressions.Load()
	_ = sessions[0].Send(Message{Data: []byte("small")})
	if _, got := readWS(t, conns[0]); got != "4small" {
		t.Fatalf("small: %q", got)
	}
	if d := deflateCompressions.Load() - before; d != 0 {
		t.Fatalf("small message compressed")
	}
}

func FuzzInflate(f *testing.F) {
	f.Add(deflatePayload("4", []byte(`["hello",{"a":1}]`), false))
	f.Add([]byte{0x00, 0x00, 0xff, 0xff})
	f.Add([]byte{0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		const limit = 1 << 16
		out, err := inflate(b, limit)
		if err == nil && len(out) > limit {
			t.Fatalf("inflated %d bytes over the %d limit", len(out), limit)
		}
		if len(b) <= limit {
			again, err := inflate(deflatePayload("", b, false), limit)
			if err != nil || !bytes.Equal(again, b) {
				t.Fatalf("round trip of %d bytes: %v", len(b), err)
			}
		}
	})
}

// rawDeflateWS is rawWS with permessage-deflate negotiated: the frames
// written to the returned connection are the test's own.
func (e *env) rawDeflateWS() (net.Conn, *Session) {
	e.t.Helper()
	c, res := dialDeflate(e.t, e, "EIO=4&transport=websocket")
	if !strings.HasPrefix(res.Header.Get("Sec-Websocket-Extensions"), "permessage-deflate") {
		e.t.Fatalf("deflate not negotiated: %q", res.Header.Get("Sec-Websocket-Extensions"))
	}
	if _, m := readWS(e.t, c); !strings.HasPrefix(m, "0{") {
		e.t.Fatalf("open %q", m)
	}
	return c.NetConn(), e.app.waitOpened(e.t)
}

// TestDeflateFrameChecks: with permessage-deflate negotiated, the frame
// checks still hold. A compressed text message is checked for UTF-8 once
// inflated (1007), not before (the compressed bytes are not UTF-8); a
// compressed binary message is not checked; RSV1 is only allowed on the
// first frame of a data message (1002 elsewhere); corrupt data gets 1007.
func TestDeflateFrameChecks(t *testing.T) {
	e := newEnv(t, func(c *Config) { compressionOn(c); c.MaxPayload = 1000 })
	z := func(s string) []byte { return deflatePayload("", []byte(s), false) }
	rsv1 := func(frame []byte) []byte { frame[0] |= 0x40; return frame }
	f := func(fin bool, op byte, p []byte) []byte { return clientFrame(fin, op, p, testMask) }
	cat := func(frames ...[]byte) []byte { return bytes.Join(frames, nil) }
	bad := z("4caf\xc3(")
	for _, tc := range []struct {
		name  string
		frame []byte
		code  uint16
	}{
		{"compressed text, invalid UTF-8 once inflated", rsv1(f(true, opText, bad)), 1007},
		{"compressed text in fragments, invalid UTF-8 once inflated",
			cat(rsv1(f(false, opText, bad[:2])), f(true, opContinuation, bad[2:])), 1007},
		{"RSV1 on a continuation frame",
			cat(rsv1(f(false, opText, bad[:2])), rsv1(f(true, opContinuation, bad[2:]))), 1002},
		{"RSV1 on a ping", rsv1(f(true, opPing, nil)), 1002},
		{"RSV2", append([]byte{0xa1}, f(true, opText, []byte("4x"))[1:]...), 1002},
		{"corrupt compressed data", rsv1(f(true, opText, []byte{0xff, 0xff, 0xff})), 1007},
		{"too big once inflated", rsv1(f(true, opText, z("4"+strings.Repeat("x", 1000)))), 1009},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nc, s := e.rawDeflateWS()
			if _, err := nc.Write(tc.frame); err != nil {
				t.Fatal(err)
			}
			expectCloseCode(t, nc, tc.code)
			if r := e.app.waitClosed(t, s.ID()); r != ReasonTransportError {
				t.Fatalf("reason %q", r)
			}
		})
	}

	// Valid ones are delivered: compressed text (its compressed bytes are
	// not UTF-8), in fragments, and compressed binary that is not UTF-8.
	for _, tc := range []struct {
		name  string
		frame []byte
		want  string
	}{
		{"compressed text", rsv1(f(true, opText, z("4café"))), "café"},
		{"compressed text in fragments", cat(rsv1(f(false, opText, z("4ü€")[:1])), f(true, opContinuation, z("4ü€")[1:])), "ü€"},
		{"compressed binary, not UTF-8", rsv1(f(true, opBinary, z("\xff\xfe"))), "\xff\xfe"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := make(chan string, 1)
			e.app.setOnMessage(func(s *Session, data []byte, binary bool) bool {
				got <- string(data)
				return true
			})
			defer e.app.setOnMessage(nil)
			nc, _ := e.rawDeflateWS()
			if _, err := nc.Write(tc.frame); err != nil {
				t.Fatal(err)
			}
			select {
			case m := <-got:
				if m != tc.want {
					t.Fatalf("got %q, want %q", m, tc.want)
				}
			case <-time.After(waitTimeout):
				t.Fatal("message not delivered")
			}
		})
	}
}
