package engine

import (
	"bytes"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

func allowEIO3(c *Config) { c.AllowEIO3 = true }

func TestEIO3RefusedByDefault(t *testing.T) {
	e := newEnv(t, nil)
	for _, q := range []string{"EIO=3&transport=polling", "transport=polling"} {
		r := e.do("GET", q, "")
		if r.status != 400 || r.body != `{"code":5,"message":"Unsupported protocol version"}` {
			t.Fatalf("%s: %d %q", q, r.status, r.body)
		}
	}
}

func TestEIO3PollingSession(t *testing.T) {
	e := newEnv(t, func(c *Config) { allowEIO3(c); slowPing(c) })
	r := e.do("GET", "EIO=3&transport=polling&b64=1", "")
	n, open, _ := strings.Cut(r.body, ":")
	if r.status != 200 || !strings.HasPrefix(open, "0{") || n != itoa(len(open)) {
		t.Fatalf("handshake: %d %q", r.status, r.body)
	}
	s := e.app.waitOpened(t)
	if s.Protocol() != 3 {
		t.Fatalf("protocol %d", s.Protocol())
	}
	sid := s.ID()
	q := "EIO=3&transport=polling&sid=" + sid
	// A v4 request on a v3 session is a protocol mismatch.
	if r := e.do("GET", "EIO=4&transport=polling&sid="+sid, ""); r.status != 400 {
		t.Fatalf("EIO=4 on a v3 session: %d", r.status)
	}
	// Two packets, one with astral characters (2 UTF-16 units each), an
	// empty one (skipped) and a base64 binary one.
	body := "5:4é😀x" + "0:" + "6:b4AQID" + "1:2"
	if r := e.do("POST", q, body); r.status != 200 || r.body != "ok" {
		t.Fatalf("post: %d %q", r.status, r.body)
	}
	r = e.do("GET", q, "")
	want := "5:4é😀x" + "6:b4AQID" + "1:3"
	if r.body != want || r.header.Get("Content-Type") != "text/plain; charset=UTF-8" {
		t.Fatalf("echo: %q (%s), want %q", r.body, r.header.Get("Content-Type"), want)
	}
	// Bad lengths close the session with a parse error.
	if r := e.do("POST", q, "9:4abc"); r.status != 400 {
		t.Fatalf("short packet: %d", r.status)
	}
	if reason := e.app.waitClosed(t, sid); reason != ReasonParseError {
		t.Fatalf("reason %q", reason)
	}
}

func itoa(n int) string {
	var b []byte
	if n == 0 {
		return "0"
	}
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

func TestEIO3BinaryPayload(t *testing.T) {
	e := newEnv(t, func(c *Config) { allowEIO3(c); slowPing(c) })
	r := e.do("GET", "EIO=3&transport=polling", "")
	if r.status != 200 {
		t.Fatalf("handshake %d", r.status)
	}
	sid := e.app.waitOpened(t).ID()
	q := "EIO=3&transport=polling&sid=" + sid
	// "40"-ish text packet then a binary one: 0 <digits> ff <text>,
	// 1 <digits> ff 04 <data>.
	body := []byte{0, 3, 0xff, '4', 'h', 'i', 1, 4, 0xff, 4, 0, 0xff, 7}
	r = e.do("POST", q, string(body), "Content-Type", "application/octet-stream")
	if r.status != 200 {
		t.Fatalf("binary post: %d", r.status)
	}
	r = e.do("GET", q, "")
	if r.header.Get("Content-Type") != "application/octet-stream" || r.body != string(body) {
		t.Fatalf("echo: %s %x", r.header.Get("Content-Type"), r.body)
	}
	// A binary packet that is not a message is refused.
	r = e.do("POST", q, string([]byte{1, 2, 0xff, 2, 1}), "Content-Type", "application/octet-stream")
	if r.status != 400 {
		t.Fatalf("binary ping: %d", r.status)
	}
}

func TestEIO3Heartbeat(t *testing.T) {
	e := newEnv(t, func(c *Config) {
		allowEIO3(c)
		c.PingInterval, c.PingTimeout = 200*time.Millisecond, 200*time.Millisecond
	})
	c := e.mustDial("EIO=3&transport=websocket")
	if _, msg := readWS(t, c); !strings.HasPrefix(msg, "0{") {
		t.Fatalf("open %q", msg)
	}
	s := e.app.waitOpened(t)
	// The server never pings; the client's pings keep the session alive
	// past PingInterval+PingTimeout.
	for i := 0; i < 5; i++ {
		time.Sleep(150 * time.Millisecond)
		writeWS(t, c, websocket.TextMessage, "2")
		if _, msg := readWS(t, c); msg != "3" {
			t.Fatalf("pong: %q", msg)
		}
	}
	// Binary frames carry the type byte.
	writeWS(t, c, websocket.BinaryMessage, "\x04\x01\x02")
	if mt, msg := readWS(t, c); mt != websocket.BinaryMessage || msg != "\x04\x01\x02" {
		t.Fatalf("binary echo %d %q", mt, msg)
	}
	// No ping for PingInterval+PingTimeout: ping timeout.
	start := time.Now()
	if reason := e.app.waitClosed(t, s.ID()); reason != ReasonPingTimeout {
		t.Fatalf("reason %q", reason)
	}
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Fatalf("closed after %v, before PingInterval+PingTimeout", d)
	}
}

func TestEIO3PongIsInvalid(t *testing.T) {
	e := newEnv(t, allowEIO3)
	c := e.mustDial("EIO=3&transport=websocket&b64=1")
	readWS(t, c)
	s := e.app.waitOpened(t)
	writeWS(t, c, websocket.TextMessage, "b4AQI=")
	if mt, msg := readWS(t, c); mt != websocket.TextMessage || msg != "b4AQI=" {
		t.Fatalf("b64 echo %d %q", mt, msg)
	}
	writeWS(t, c, websocket.TextMessage, "3")
	if reason := e.app.waitClosed(t, s.ID()); reason != ReasonTransportError {
		t.Fatalf("reason %q", reason)
	}
}

func TestEIO3Upgrade(t *testing.T) {
	e := newEnv(t, func(c *Config) { allowEIO3(c); slowPing(c) })
	r := e.do("GET", "EIO=3&transport=polling", "")
	if !strings.Contains(r.body, `"upgrades":["websocket"]`) {
		t.Fatalf("handshake %q", r.body)
	}
	s := e.app.waitOpened(t)
	c := e.mustDial("EIO=3&transport=websocket&sid=" + s.ID())
	writeWS(t, c, websocket.TextMessage, "2probe")
	if _, msg := readWS(t, c); msg != "3probe" {
		t.Fatalf("probe %q", msg)
	}
	writeWS(t, c, websocket.TextMessage, "5")
	eventually(t, "upgraded", func() bool { return s.Transport() == WebSocket })
	writeWS(t, c, websocket.BinaryMessage, "\x04z")
	if mt, msg := readWS(t, c); mt != websocket.BinaryMessage || msg != "\x04z" {
		t.Fatalf("binary echo %d %q", mt, msg)
	}
}

func TestDecodePayloadV3(t *testing.T) {
	for _, bad := range []string{"", ":", "1", "a:4", "2:4", "5:4é😀", "12345678901:4", "2:b5AA", "2:4😀"} {
		if _, err := decodePayloadV3([]byte(bad), 0); err == nil {
			t.Errorf("%q decoded", bad)
		}
	}
	pkts, err := decodePayloadV3([]byte("0:"), 0)
	if err != nil || len(pkts) != 0 {
		t.Fatalf("0: -> %v %v", pkts, err)
	}
	for _, bad := range [][]byte{{0}, {0, 0xff}, {0, 5, 0xff, '4'}, {1, 1, 0xff, 3}, {0, 10, 0xff}} {
		if _, err := decodeBinaryPayloadV3(bad, 0); err == nil {
			t.Errorf("%x decoded", bad)
		}
	}
}

func FuzzDecodePayloadV3(f *testing.F) {
	f.Add([]byte("5:4é😀x0:6:b4AQID1:2"), false)
	f.Add([]byte{0, 3, 0xff, '4', 'h', 'i', 1, 4, 0xff, 4, 0, 0xff, 7}, true)
	f.Fuzz(func(t *testing.T, b []byte, binary bool) {
		var pkts []packet
		var err error
		if binary {
			pkts, err = decodeBinaryPayloadV3(b, 0)
		} else {
			pkts, err = decodePayloadV3(b, 0)
		}
		if err != nil {
			return
		}
		// A packet cap refuses exactly the payloads with more packets.
		for _, max := range []int{1, 2, 3} {
			var capped []packet
			var cerr error
			if binary {
				capped, cerr = decodeBinaryPayloadV3(b, max)
			} else {
				capped, cerr = decodePayloadV3(b, max)
			}
			if over := len(pkts) > max; over != errors.Is(cerr, errTooManyPackets) || (!over && (cerr != nil || len(capped) != len(pkts))) {
				t.Fatalf("cap %d, %d packets: %d, %v", max, len(pkts), len(capped), cerr)
			}
		}
		// What decodes re-encodes (text, or binary payload) and decodes to
		// the same packets.
		for _, bin := range []bool{false, true} {
			rec := httptestRecorder()
			writePayloadV3(rec, nil, pkts, bin)
			var again []packet
			if rec.Header().Get("Content-Type") == "application/octet-stream" {
				again, err = decodeBinaryPayloadV3(rec.body.Bytes(), 0)
			} else if rec.body.Len() > 0 {
				again, err = decodePayloadV3(rec.body.Bytes(), 0)
			}
			if err != nil {
				t.Fatalf("re-decoding %q: %v", rec.body.Bytes(), err)
			}
			if len(again) != len(pkts) {
				t.Fatalf("%d packets then %d", len(pkts), len(again))
			}
			for i := range pkts {
				if !samePacket(pkts[i], again[i]) {
					t.Fatalf("packet %d: %+v then %+v", i, pkts[i], again[i])
				}
			}
		}
	})
}

type recorder struct {
	h    http.Header
	body bytes.Buffer
}

func httptestRecorder() *recorder               { return &recorder{h: http.Header{}} }
func (r *recorder) Header() http.Header         { return r.h }
func (r *recorder) Write(b []byte) (int, error) { return r.body.Write(b) }
func (r *recorder) WriteHeader(int)             {}

// TestEIO3PayloadPacketCap: MaxPayloadPackets holds for v3 bodies, text and
// binary: one packet more is refused (400, session closed with a parse
// error, none of its packets delivered), found before the decoder has
// built more than the cap; exactly the cap is delivered.
func TestEIO3PayloadPacketCap(t *testing.T) {
	const max = 100
	e := newEnv(t, func(c *Config) { allowEIO3(c); slowPing(c); c.MaxPayloadPackets = max })
	var mu sync.Mutex
	got := 0
	e.app.setOnMessage(func(*Session, []byte, bool) bool {
		mu.Lock()
		got++
		mu.Unlock()
		return true
	})
	delivered := func() int {
		mu.Lock()
		defer mu.Unlock()
		return got
	}
	text := func(n int) string { return strings.Repeat("2:4x", n) }
	bin := func(n int) string { return strings.Repeat(string([]byte{1, 2, 0xff, 4, 'x'}), n) }
	for _, tc := range []struct {
		name, body, ctype string
	}{
		{"text", text(max + 1), "text/plain;charset=UTF-8"},
		{"binary", bin(max + 1), "application/octet-stream"},
	} {
		e.do("GET", "EIO=3&transport=polling", "")
		sid := e.app.waitOpened(t).ID()
		q := "EIO=3&transport=polling&sid=" + sid
		if r := e.do("POST", q, tc.body, "Content-Type", tc.ctype); r.status != 400 {
			t.Fatalf("%s: %d packets: %d", tc.name, max+1, r.status)
		}
		if reason := e.app.waitClosed(t, sid); reason != ReasonParseError {
			t.Fatalf("%s: reason %q", tc.name, reason)
		}
	}
	if n := delivered(); n != 0 {
		t.Fatalf("%d packets delivered from refused bodies", n)
	}
	for _, tc := range []struct {
		name, body, ctype string
	}{
		{"text", text(max), "text/plain;charset=UTF-8"},
		{"binary", bin(max), "application/octet-stream"},
	} {
		before := delivered()
		e.do("GET", "EIO=3&transport=polling", "")
		sid := e.app.waitOpened(t).ID()
		q := "EIO=3&transport=polling&sid=" + sid
		if r := e.do("POST", q, tc.body, "Content-Type", tc.ctype); r.status != 200 || delivered()-before != max {
			t.Fatalf("%s: %d packets: %d, %d delivered", tc.name, max, r.status, delivered()-before)
		}
	}

	// The decoders stop at the cap: a 1 MB body of 3-byte packets does not
	// become 300,000 decoded packets first.
	many := []byte(strings.Repeat("1:4", 300_000))
	if a := testing.AllocsPerRun(3, func() {
		if _, err := decodePayloadV3(many, 10_000); !errors.Is(err, errTooManyPackets) {
			t.Fatalf("text: %v", err)
		}
	}); a > 40 {
		t.Fatalf("refusing 300,000 packets over a cap of 10,000: %v allocations", a)
	}
	manyBin := bytes.Repeat([]byte{1, 1, 0xff, 4}, 300_000)
	if _, err := decodeBinaryPayloadV3(manyBin, 10_000); !errors.Is(err, errTooManyPackets) {
		t.Fatalf("binary: %v", err)
	}
}

// TestEIO3PingFloodHoldsOnePong: a v3 client decides how often it pings;
// pings that arrive while a pong is still queued are answered by that
// pong, so a client pinging without reading holds one pong, not one per
// ping beyond the send queue limits. Once taken, the next ping gets its own.
func TestEIO3PingFloodHoldsOnePong(t *testing.T) {
	e := newEnv(t, func(c *Config) { allowEIO3(c); slowPing(c); c.SendQueueLen = 16; c.MaxPayloadPackets = 1000 })
	e.do("GET", "EIO=3&transport=polling", "")
	s := e.app.waitOpened(t)
	q := "EIO=3&transport=polling&sid=" + s.ID()
	for range 5 {
		if r := e.do("POST", q, strings.Repeat("1:2", 1000)); r.status != 200 {
			t.Fatalf("pings: %d %q", r.status, r.body)
		}
	}
	s.mu.Lock()
	n, closed := len(s.queue), s.closed
	s.mu.Unlock()
	if n != 1 || closed {
		t.Fatalf("after 5,000 pings: %d packets queued, closed %v", n, closed)
	}
	if r := e.do("GET", q, ""); r.status != 200 || r.body != "1:3" {
		t.Fatalf("GET: %d %q", r.status, r.body)
	}
	if r := e.do("POST", q, "1:2"); r.status != 200 {
		t.Fatalf("ping: %d", r.status)
	}
	if r := e.do("GET", q, ""); r.body != "1:3" {
		t.Fatalf("second pong: %q", r.body)
	}
}

// TestEIO3CloseCodes: refused frames of a v3 websocket client get their
// close code like v4 ones (the close frame reaches the client, the rest is
// drained), with deflate too. (A panic's 1011 goes through the same writer;
// it is not repeated here, as the panic log is rate-limited process-wide
// and TestPanicClosesOnlyThatConnection checks that line.)
func TestEIO3CloseCodes(t *testing.T) {
	e := newEnv(t, func(c *Config) { allowEIO3(c); compressionOn(c); c.MaxPayload = 1000 })
	f := func(fin bool, op byte, p string) []byte { return clientFrame(fin, op, []byte(p), testMask) }
	z := deflatePayload("", []byte("4caf\xc3("), false)
	zf := clientFrame(true, opText, z, testMask)
	zf[0] |= 0x40
	for _, tc := range []struct {
		name  string
		frame []byte
		code  uint16
	}{
		{"invalid UTF-8", f(true, opText, "4caf\xc3("), 1007},
		{"compressed, invalid UTF-8 once inflated", zf, 1007},
		{"unmasked", []byte{0x81, 0x02, '4', 'x'}, 1002},
		{"too big", f(true, opBinary, "\x04"+strings.Repeat("x", 1000)), 1009},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, res := dialDeflate(t, e, "EIO=3&transport=websocket")
			if !strings.HasPrefix(res.Header.Get("Sec-Websocket-Extensions"), "permessage-deflate") {
				t.Fatal("deflate not negotiated")
			}
			if _, m := readWS(t, c); !strings.HasPrefix(m, "0{") {
				t.Fatalf("open %q", m)
			}
			s := e.app.waitOpened(t)
			if s.Protocol() != 3 {
				t.Fatalf("protocol %d", s.Protocol())
			}
			if _, err := c.NetConn().Write(tc.frame); err != nil {
				t.Fatal(err)
			}
			expectCloseCode(t, c.NetConn(), tc.code)
			if r := e.app.waitClosed(t, s.ID()); r != ReasonTransportError {
				t.Fatalf("reason %q", r)
			}
		})
	}
}
