package load

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

func TestParsePacket(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Packet
	}{
		{"2", Packet{EIO: '2', Nsp: "/", ID: -1, Data: []byte{}}},
		{"3probe", Packet{EIO: '3', Nsp: "/", ID: -1, Data: []byte("probe")}},
		{`0{"sid":"x"}`, Packet{EIO: '0', Nsp: "/", ID: -1, Data: []byte(`{"sid":"x"}`)}},
		{"40", Packet{EIO: '4', SIO: '0', Nsp: "/", ID: -1, Data: []byte{}}},
		{`40{"token":"s3cr3t"}`, Packet{EIO: '4', SIO: '0', Nsp: "/", ID: -1, Data: []byte(`{"token":"s3cr3t"}`)}},
		{"40/admin,", Packet{EIO: '4', SIO: '0', Nsp: "/admin", ID: -1, Data: []byte{}}},
		{"41/custom", Packet{EIO: '4', SIO: '1', Nsp: "/custom", ID: -1}},
		{`42["chat","hi there"]`, Packet{EIO: '4', SIO: '2', Nsp: "/", ID: -1, Data: []byte(`["chat","hi there"]`)}},
		{`42/admin,12["getUser",42]`, Packet{EIO: '4', SIO: '2', Nsp: "/admin", ID: 12, Data: []byte(`["getUser",42]`)}},
		{`4312[{"name":"ann"}]`, Packet{EIO: '4', SIO: '3', Nsp: "/", ID: 12, Data: []byte(`[{"name":"ann"}]`)}},
		{`43/admin,12[]`, Packet{EIO: '4', SIO: '3', Nsp: "/admin", ID: 12, Data: []byte(`[]`)}},
		{`451-["echo",{"_placeholder":true,"num":0}]`, Packet{EIO: '4', SIO: '5', Attachments: 1, Nsp: "/", ID: -1,
			Data: []byte(`["echo",{"_placeholder":true,"num":0}]`)}},
		{`44/random,{"message":"Invalid namespace"}`, Packet{EIO: '4', SIO: '4', Nsp: "/random", ID: -1,
			Data: []byte(`{"message":"Invalid namespace"}`)}},
	} {
		got, err := ParsePacket([]byte(tc.in))
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		if got.EIO != tc.want.EIO || got.SIO != tc.want.SIO || got.Attachments != tc.want.Attachments ||
			got.Nsp != tc.want.Nsp || got.ID != tc.want.ID || !bytes.Equal(got.Data, tc.want.Data) {
			t.Errorf("%q: got %+v (data %q), want %+v (data %q)", tc.in, got, got.Data, tc.want, tc.want.Data)
		}
	}
	for _, bad := range []string{"", "7", "abc", "49", "45", "45x-[]"} {
		if _, err := ParsePacket([]byte(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestAppendFrames(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{string(AppendConnect(nil, "/", nil)), "40"},
		{string(AppendConnect(nil, "/admin", []byte(`{"token":"s3cr3t"}`))), `40/admin,{"token":"s3cr3t"}`},
		{string(AppendEvent(nil, "/", -1, "chat", []byte(`"hi there"`))), `42["chat","hi there"]`},
		{string(AppendEvent(nil, "/admin", 12, "getUser", []byte("42"))), `42/admin,12["getUser",42]`},
		{string(AppendEvent(nil, "/", 0, "ack-echo")), `420["ack-echo"]`},
		{string(AppendJSONString(nil, "a\"b\\c\n\x01é")), `"a\"b\\c\u000a\u0001é"`},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}

func TestStamp(t *testing.T) {
	payload := AppendStamp(nil, 'L', 12345, 987654321, 40)
	if len(payload) != 40 || !strings.HasPrefix(string(payload), "L12345:987654321:x") {
		t.Fatalf("stamp %q", payload)
	}
	frame := `42["room-message","` + string(payload) + `"]`
	kind, seq, ts, ok := ScanStamp([]byte(frame))
	if !ok || kind != 'L' || seq != 12345 || ts != 987654321 {
		t.Fatalf("ScanStamp(%q) = %c %d %d %v", frame, kind, seq, ts, ok)
	}
	// No padding needed: the stamp is longer than size.
	short := AppendStamp(nil, 'C', 0, 0, 0)
	if string(short) != "C0:0:" {
		t.Fatalf("stamp %q", short)
	}
	if _, _, _, ok := ScanStamp([]byte(`42["room-message","C0:0:"]`)); !ok {
		t.Fatal("minimal stamp not found")
	}
	for _, bad := range []string{
		`42["welcome",{}]`, `42["room-message",{"a":1}]`, `42["room-message","C:1:"]`,
		`42["room-message","C1:"]`, `42["room-message","C1:2"]`, `42["room-message","C1x2:"]`, `2`,
	} {
		if _, _, _, ok := ScanStamp([]byte(bad)); ok {
			t.Errorf("ScanStamp(%q) matched", bad)
		}
	}
}

func TestScanAck(t *testing.T) {
	id, data, ok := ScanAck([]byte(`4317["bench"]`))
	if !ok || id != 17 || string(data) != `["bench"]` {
		t.Fatalf("got %d %q %v", id, data, ok)
	}
	for _, bad := range []string{`43[]`, `42["x"]`, `4317`, `43/admin,1[]`, `4`} {
		if _, _, ok := ScanAck([]byte(bad)); ok {
			t.Errorf("ScanAck(%q) matched", bad)
		}
	}
}

// serverFrame encodes a frame as a server sends it: unmasked.
func serverFrame(fin bool, op byte, p []byte) []byte {
	b0 := op
	if fin {
		b0 |= 0x80
	}
	b := []byte{b0}
	switch n := len(p); {
	case n <= 125:
		b = append(b, byte(n))
	case n <= 0xffff:
		b = append(b, 126, byte(n>>8), byte(n))
	default:
		b = append(b, 127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	return append(b, p...)
}

// readClientFrame decodes one frame from the client and checks it is masked.
func readClientFrame(t *testing.T, r *bufio.Reader) (op byte, p []byte) {
	op, p, _ = readClientFrameKey(t, r)
	return op, p
}

func readClientFrameKey(t *testing.T, r *bufio.Reader) (op byte, p []byte, key [4]byte) {
	t.Helper()
	var h [2]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		t.Fatal(err)
	}
	if h[0]&0x80 == 0 || h[1]&0x80 == 0 {
		t.Fatalf("client frame without FIN or mask: % x", h)
	}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var x [2]byte
		_, _ = io.ReadFull(r, x[:])
		n = uint64(binary.BigEndian.Uint16(x[:]))
	case 127:
		var x [8]byte
		_, _ = io.ReadFull(r, x[:])
		n = binary.BigEndian.Uint64(x[:])
	}
	_, _ = io.ReadFull(r, key[:])
	p = make([]byte, n)
	if _, err := io.ReadFull(r, p); err != nil {
		t.Fatal(err)
	}
	maskBytes(key, 0, p)
	return h[0] & 0x0f, p, key
}

func pipeConn(t *testing.T, readBuf int) (*wsConn, net.Conn, *bufio.Reader) {
	t.Helper()
	cli, srv := net.Pipe()
	t.Cleanup(func() { cli.Close(); srv.Close() })
	_ = srv.SetDeadline(time.Now().Add(5 * time.Second))
	_ = cli.SetDeadline(time.Now().Add(5 * time.Second))
	return &wsConn{nc: cli, br: bufio.NewReaderSize(cli, readBuf), maskState: 0x9e3779b9}, srv, bufio.NewReader(srv)
}

func TestWSReadFrames(t *testing.T) {
	c, srv, sr := pipeConn(t, 64)
	big := bytes.Repeat([]byte("y"), 70000) // 64-bit length, slow path
	mid := bytes.Repeat([]byte("m"), 300)   // 16-bit length, bigger than the 64-byte buffer
	var stream []byte
	stream = append(stream, serverFrame(true, opText, []byte("4hello"))...)
	stream = append(stream, serverFrame(false, opText, []byte("42[\"a"))...)
	stream = append(stream, serverFrame(true, opPing, []byte("pp"))...) // control frame inside a fragmented message
	stream = append(stream, serverFrame(false, opContinuation, []byte("bc"))...)
	stream = append(stream, serverFrame(true, opContinuation, []byte("\"]"))...)
	stream = append(stream, serverFrame(true, opBinary, []byte{1, 2, 3})...)
	stream = append(stream, serverFrame(true, opText, mid)...)
	stream = append(stream, serverFrame(true, opText, big)...)
	stream = append(stream, serverFrame(true, opText, nil)...)
	stream = append(stream, serverFrame(true, opClose, []byte{0x03, 0xe8})...)
	go func() { _, _ = srv.Write(stream) }()

	pong := make(chan []byte, 1)
	go func() {
		op, p := readClientFrame(t, sr)
		if op != opPong {
			t.Errorf("client answered a ping with opcode %d", op)
		}
		pong <- p
		_, _ = readClientFrame(t, sr) // the close reply
	}()
	for i, want := range []struct {
		op byte
		p  []byte
	}{
		{opText, []byte("4hello")}, {opText, []byte(`42["abc"]`)}, {opBinary, []byte{1, 2, 3}},
		{opText, mid}, {opText, big}, {opText, []byte{}},
	} {
		op, p, err := c.next()
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if op != want.op || !bytes.Equal(p, want.p) {
			t.Fatalf("message %d: got op %d %q, want op %d %q", i, op, clip(p), want.op, clip(want.p))
		}
	}
	if p := <-pong; string(p) != "pp" {
		t.Fatalf("pong payload %q", p)
	}
	if _, _, err := c.next(); !errors.Is(err, errClosed) {
		t.Fatalf("after close frame: %v", err)
	}
}

func TestWSReadErrors(t *testing.T) {
	for name, frame := range map[string][]byte{
		"continuation first": serverFrame(true, opContinuation, []byte("x")),
		"reserved bits":      {0xC1, 0x00},
		"long control frame": serverFrame(true, opPing, bytes.Repeat([]byte("p"), 126)),
		"unknown opcode":     serverFrame(true, 0x3, nil),
		"too large":          {0x81, 127, 0, 0, 0, 1, 0, 0, 0, 0},
	} {
		t.Run(name, func(t *testing.T) {
			c, srv, _ := pipeConn(t, 256)
			go func() { _, _ = srv.Write(frame) }()
			if _, _, err := c.next(); !errors.Is(err, errProtocol) {
				t.Fatalf("got %v, want a protocol error", err)
			}
		})
	}
}

func TestWSWriteFrames(t *testing.T) {
	c, _, sr := pipeConn(t, 256)
	msgs := [][]byte{[]byte("40"), bytes.Repeat([]byte("a"), 200), bytes.Repeat([]byte("b"), 70000), {}}
	go func() {
		for _, m := range msgs {
			if err := c.write(opText, m); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	keys := map[[4]byte]bool{}
	for i, want := range msgs {
		op, p, key := readClientFrameKey(t, sr)
		if op != opText || !bytes.Equal(p, want) {
			t.Fatalf("frame %d: op %d %q", i, op, clip(p))
		}
		keys[key] = true
	}
	if len(keys) < 2 {
		t.Fatal("the mask key does not change between frames")
	}
}

func TestWSHandshake(t *testing.T) {
	cli, srv := net.Pipe()
	defer cli.Close()
	defer srv.Close()
	go func() {
		br := bufio.NewReader(srv)
		var key string
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				return
			}
			if v, ok := strings.CutPrefix(line, "Sec-WebSocket-Key: "); ok {
				key = strings.TrimSpace(v)
			}
			if line == "\r\n" {
				break
			}
		}
		resp := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
			"Sec-WebSocket-Accept: " + acceptKey(key) + "\r\n\r\n"
		// The open packet arrives in the same segment as the response.
		_, _ = srv.Write(append([]byte(resp), serverFrame(true, opText, []byte(`0{"sid":"abc"}`))...))
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := handshakeWS(ctx, cli, "127.0.0.1:1", enginePath, 256)
	if err != nil {
		t.Fatal(err)
	}
	_, p, err := c.next()
	if err != nil || string(p) != `0{"sid":"abc"}` {
		t.Fatalf("first message %q, %v", p, err)
	}
	// RFC 6455 §1.3 example.
	if got := acceptKey("dGhlIHNhbXBsZSBub25jZQ=="); got != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
		t.Fatalf("acceptKey: %s", got)
	}
}

func TestHistogram(t *testing.T) {
	var h Histogram
	if h.Quantile(0.5) != 0 {
		t.Fatal("empty histogram")
	}
	for i := 1; i <= 1000; i++ {
		h.Record(time.Duration(i) * time.Microsecond)
	}
	for _, tc := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 500 * time.Microsecond}, {0.99, 990 * time.Microsecond}, {1, 1000 * time.Microsecond}} {
		got := h.Quantile(tc.q)
		if diff := float64(got-tc.want) / float64(tc.want); diff < -0.02 || diff > 0.02 {
			t.Errorf("q%.2f = %v, want %v ±2%%", tc.q, got, tc.want)
		}
	}
	if h.Count() != 1000 || h.Max() != time.Millisecond {
		t.Fatalf("count %d max %v", h.Count(), h.Max())
	}
	// Bucket bounds are contiguous and increasing.
	for i := 1; i < histBuckets; i++ {
		if histLow(i) <= histLow(i-1) {
			t.Fatalf("bucket %d starts at %d, bucket %d at %d", i, histLow(i), i-1, histLow(i-1))
		}
		if histIndex(histLow(i)) != i || histIndex(histLow(i)-1) != i-1 {
			t.Fatalf("bucket %d: index of its bounds", i)
		}
	}
	h.Record(time.Hour) // beyond the range: last bucket
	if h.Max() != time.Hour {
		t.Fatal("max")
	}
}

func TestParseSourcesAndRate(t *testing.T) {
	ips, err := ParseSources("127.0.0.2-127.0.0.4, 127.0.1.1")
	if err != nil || len(ips) != 4 || ips[0].String() != "127.0.0.2" || ips[2].String() != "127.0.0.4" || ips[3].String() != "127.0.1.1" {
		t.Fatalf("got %v, %v", ips, err)
	}
	for _, bad := range []string{"10.0.0.1", "127.0.0.5-127.0.0.2", "127.0.0.1-127.0.1.2", "x"} {
		if _, err := ParseSources(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if r, err := ParseRate("50%", 300); err != nil || r != 150 {
		t.Fatalf("50%% of 300: %v %v", r, err)
	}
	if r, err := ParseRate("20", 300); err != nil || r != 20 {
		t.Fatalf("20: %v %v", r, err)
	}
	for _, bad := range []string{"", "x%", "-1", "0%"} {
		if _, err := ParseRate(bad, 1); err == nil {
			t.Errorf("rate %q accepted", bad)
		}
	}
}

func TestReport(t *testing.T) {
	in := `not json
{"scenario":"fanout","label":"node","ok":true,"subscribers":1000,"deliveries_per_sec":100000,"p50_ms":2,"p99_ms":5,"lost":0,"dups":0}
{"scenario":"fanout","label":"go","ok":true,"subscribers":1000,"deliveries_per_sec":150000,"p50_ms":1,"p99_ms":4,"lost":0,"dups":0}
{"scenario":"fanout","label":"node","ok":true,"subscribers":1000,"deliveries_per_sec":110000,"p50_ms":2,"p99_ms":7,"lost":0,"dups":0}
{"scenario":"fanout","label":"go","ok":true,"subscribers":1000,"deliveries_per_sec":170000,"p50_ms":1,"p99_ms":4,"lost":3,"dups":0}
{"scenario":"fanout","label":"go","ok":false,"subscribers":1000,"error":"x"}
{"scenario":"idle","label":"go","ok":true,"conns":100,"kb_per_conn":8.25}
{"scenario":"idle","label":"node","ok":true,"conns":100,"kb_per_conn":16.5}
`
	var out strings.Builder
	if err := Report(strings.NewReader(in), &out, "node"); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	for _, want := range []string{
		"| scenario | metric | node | go |",
		"| fanout 1000 subscribers | deliveries/s | 105,000 | 160,000 (1.52×) |",
		"| fanout 1000 subscribers | lost (worst run) | 0 | 3 |",
		"| idle 100 connections | KB per connection | 16.5 | 8.2 (0.50×) |",
		"fanout 1000 subscribers, go: 1 failed run(s) left out",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("report lacks %q:\n%s", want, got)
		}
	}
}
