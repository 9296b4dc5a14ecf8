package engine

import (
	"bytes"
	"runtime"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// writeRaw writes client frames on c's connection in pieces, pausing between
// them so the server gets them in separate reads.
func writeRaw(t *testing.T, c *websocket.Conn, pieces ...[]byte) {
	t.Helper()
	for i, p := range pieces {
		if i > 0 {
			time.Sleep(5 * time.Millisecond)
		}
		if _, err := c.NetConn().Write(p); err != nil {
			t.Fatal(err)
		}
	}
}

// TestWebSocketSplitFrames: frames split across reads, fragmented messages
// with a ping in between, and messages bigger than a read buffer.
func TestWebSocketSplitFrames(t *testing.T) {
	e := newEnv(t, func(c *Config) { slowPing(c); c.MaxPayload = 1 << 20 })
	c, _, _ := e.wsHandshake("")
	pongs := make(chan string, 1)
	c.SetPongHandler(func(d string) error { pongs <- d; return nil })

	f := clientFrame(true, opText, []byte("4hello"), testMask)
	writeRaw(t, c, f[:1], f[1:4], f[4:9], f[9:])
	if _, m := readWS(t, c); m != "4hello" {
		t.Fatalf("echo %q", m)
	}

	frag := bytes.Join([][]byte{
		clientFrame(false, opText, []byte("4wor"), testMask),
		clientFrame(true, opPing, []byte("pi"), testMask),
		clientFrame(true, opContinuation, []byte("ld"), testMask),
	}, nil)
	writeRaw(t, c, frag[:7], frag[7:13], frag[13:])
	if _, m := readWS(t, c); m != "4world" {
		t.Fatalf("echo %q", m)
	}
	select {
	case d := <-pongs:
		if d != "pi" {
			t.Fatalf("pong %q", d)
		}
	case <-time.After(waitTimeout):
		t.Fatal("no pong")
	}

	big := bytes.Repeat([]byte("0123456789"), 50_000) // 500 kB: many reads
	f = clientFrame(true, opBinary, big, testMask)
	writeRaw(t, c, f[:3], f[3:100_000], f[100_000:])
	if mt, m := readWS(t, c); mt != websocket.BinaryMessage || m != string(big) {
		t.Fatalf("echo type %d len %d", mt, len(m))
	}
	// Several messages in one write.
	two := append(clientFrame(true, opText, []byte("4a"), testMask), clientFrame(true, opText, []byte("4b"), testMask)...)
	writeRaw(t, c, two)
	for _, want := range []string{"4a", "4b"} {
		if _, m := readWS(t, c); m != want {
			t.Fatalf("echo %q, want %q", m, want)
		}
	}
}

// TestWebSocketProtocolErrors: a bad frame gets a close frame with the code,
// then the connection is dropped and the session closes as a transport error.
func TestWebSocketProtocolErrors(t *testing.T) {
	e := newEnv(t, func(c *Config) { slowPing(c); c.MaxPayload = 100 })
	for _, tc := range []struct {
		name  string
		frame []byte
		code  int
	}{
		{"unmasked", []byte{0x81, 0x02, '4', 'x'}, websocket.CloseProtocolError},
		{"reserved bits", append([]byte{0xc1}, clientFrame(true, opText, []byte("4x"), testMask)[1:]...), websocket.CloseProtocolError},
		{"unknown opcode", clientFrame(true, 0x3, []byte("4x"), testMask), websocket.CloseProtocolError},
		{"lone continuation", clientFrame(true, opContinuation, []byte("4x"), testMask), websocket.CloseProtocolError},
		{"fragmented ping", clientFrame(false, opPing, nil, testMask), websocket.CloseProtocolError},
		{"too big in fragments", append(clientFrame(false, opText, bytes.Repeat([]byte("4"), 60), testMask),
			clientFrame(true, opContinuation, bytes.Repeat([]byte("x"), 41), testMask)...), websocket.CloseMessageTooBig},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, s, _ := e.wsHandshake("")
			writeRaw(t, c, tc.frame)
			if err := expectWSClosed(t, c); !websocket.IsCloseError(err, tc.code) {
				t.Fatalf("close: %v", err)
			}
			if r := e.app.waitClosed(t, s.ID()); r != ReasonTransportError {
				t.Fatalf("reason %q", r)
			}
		})
	}
	eventually(t, "registrations gone", func() bool { return pollRegistered() == 0 })
}

// TestWebSocketPollRegistrations: closed websockets leave no registration
// with the poller, whoever closed them.
func TestWebSocketPollRegistrations(t *testing.T) {
	e := newEnv(t, func(c *Config) { slowPing(c); c.UpgradeTimeout = 200 * time.Millisecond })
	var conns []*websocket.Conn
	var sessions []*Session
	for range 6 {
		c, s, _ := e.wsHandshake("")
		conns, sessions = append(conns, c), append(sessions, s)
	}
	if runtime.GOOS == "linux" && !blockingReads.Load() {
		eventually(t, "registered", func() bool { return pollRegistered() == len(conns) })
	}
	sid, _ := e.handshake()
	probe := e.mustDial("EIO=4&transport=websocket&sid=" + sid) // times out
	conns[0].Close()                                            // by the client, abruptly
	writeWS(t, conns[1], websocket.TextMessage, "1")            // by the client, cleanly
	sessions[2].Close(ReasonForcedClose)                        // by the server
	_ = conns[3].WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(1000, ""), time.Now().Add(time.Second))
	expectWSClosed(t, probe)
	e.srv.Shutdown() // the rest
	eventually(t, "all closed", func() bool { return e.srv.SessionCount() == 0 && e.srv.mapLen() == 0 })
	eventually(t, "registrations gone", func() bool { return pollRegistered() == 0 })
}

// TestWebSocketBlockedHandler: a handler that blocks stalls its own
// connection only.
func TestWebSocketBlockedHandler(t *testing.T) {
	e := newEnv(t, slowPing)
	release := make(chan struct{})
	e.app.setOnMessage(func(s *Session, data []byte, binary bool) bool {
		if string(data) == "block" {
			<-release
		}
		return false
	})
	c1, _, _ := e.wsHandshake("")
	c2, _, _ := e.wsHandshake("")
	writeWS(t, c1, websocket.TextMessage, "4block")
	writeWS(t, c1, websocket.TextMessage, "4after")
	for i := range 20 {
		writeWS(t, c2, websocket.TextMessage, "4x")
		if _, m := readWS(t, c2); m != "4x" {
			t.Fatalf("round %d: %q", i, m)
		}
	}
	close(release)
	for _, want := range []string{"4block", "4after"} {
		if _, m := readWS(t, c1); m != want {
			t.Fatalf("echo %q, want %q", m, want)
		}
	}
}

// TestWebSocketBlockingReader runs the websocket tests again with the
// goroutine-per-connection reader (TLS, unix sockets, other systems).
func TestWebSocketBlockingReader(t *testing.T) {
	blockingReads.Store(true)
	defer blockingReads.Store(false)
	for name, test := range map[string]func(*testing.T){
		"HandshakeWebSocket":         TestHandshakeWebSocket,
		"Upgrade":                    TestUpgrade,
		"UpgradeFlushesQueue":        TestUpgradeFlushesQueue,
		"UpgradeProbeFailures":       TestUpgradeProbeFailures,
		"WebSocketParseError":        TestWebSocketParseError,
		"WebSocketClientPing":        TestWebSocketClientPing,
		"WebSocketClientClosePacket": TestWebSocketClientClosePacket,
		"WebSocketClientCloseFrame":  TestWebSocketClientCloseFrame,
		"WebSocketMaxPayload":        TestWebSocketMaxPayload,
		"WebSocketBinary":            TestWebSocketBinary,
		"WebSocketPingFrame":         TestWebSocketPingFrame,
		"WebSocketServerClose":       TestWebSocketServerClose,
		"CloseFromHandlers":          TestCloseFromHandlers,
		"Shutdown":                   TestShutdown,
		"SessionCountNoLeak":         TestSessionCountNoLeak,
		"LargeFrames":                TestLargeFrames,
		"WebSocketSplitFrames":       TestWebSocketSplitFrames,
		"WebSocketProtocolErrors":    TestWebSocketProtocolErrors,
		"WebSocketPollRegistrations": TestWebSocketPollRegistrations,
		"WebSocketBlockedHandler":    TestWebSocketBlockedHandler,
	} {
		t.Run(name, test)
	}
}
