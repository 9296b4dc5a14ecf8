package caddymodule

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// waitFor bounds every wait in these tests.
const waitFor = 5 * time.Second

// sioPacket is a Socket.IO packet as the test client sees it.
type sioPacket struct {
	// '0' connect, '1' disconnect, '2' event, '3' ack, '4' connect_error,
	// '5' binary event, '6' binary ack; 'b' is a binary attachment frame.
	Type        byte
	Attachments int // announced by a binary event or ack
	Nsp         string
	AckID       int // -1 when absent
	Data        json.RawMessage
	// Offset is the connection state recovery offset the server appended
	// to an event (the hub's recovery is on by default), taken out of Data
	// so that tests see the arguments the application emitted.
	Offset string
}

func (p sioPacket) String() string {
	return fmt.Sprintf("%c %s id=%d %s", p.Type, p.Nsp, p.AckID, p.Data)
}

// event returns the event name and arguments of an EVENT packet.
func (p sioPacket) event() (string, []json.RawMessage) {
	var arr []json.RawMessage
	if p.Type != '2' || json.Unmarshal(p.Data, &arr) != nil || len(arr) == 0 {
		return "", nil
	}
	var name string
	_ = json.Unmarshal(arr[0], &name)
	return name, arr[1:]
}

// wsClient speaks Engine.IO v4 / Socket.IO v5 over a websocket, raw: it
// answers pings and queues every Socket.IO packet it receives.
type wsClient struct {
	t      *testing.T
	name   string
	conn   *websocket.Conn
	wmu    sync.Mutex
	pkts   chan sioPacket
	closed chan struct{} // closed when the connection ends
	nextID int
	// pending holds received packets no wait has taken yet; only the
	// test goroutine uses it.
	pending []sioPacket
	open    struct {
		SID                       string
		PingInterval, PingTimeout int
	} // the handshake
}

func dialWS(t *testing.T, baseURL, name string) *wsClient {
	t.Helper()
	u, err := url.Parse(baseURL)
	if err != nil {
		t.Fatal(err)
	}
	u.Scheme = "ws"
	u.Path = "/socket.io/"
	u.RawQuery = "EIO=4&transport=websocket"
	d := websocket.Dialer{HandshakeTimeout: waitFor}
	var conn *websocket.Conn
	// A connection made while Caddy switches configs may be reset: on
	// Linux each config listens on its own SO_REUSEPORT socket, and
	// connections still queued on the old one are reset when it closes.
	// Real clients retry; so do we, a bounded number of times.
	for attempt := 0; attempt < 3; attempt++ {
		if conn, _, err = d.Dial(u.String(), nil); err == nil {
			break
		}
		t.Logf("%s: dial attempt %d: %v", name, attempt+1, err)
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("%s: dial: %v", name, err)
	}
	c := &wsClient{t: t, name: name, conn: conn, pkts: make(chan sioPacket, 1024), closed: make(chan struct{})}
	_ = conn.SetReadDeadline(time.Now().Add(waitFor))
	_, open, err := conn.ReadMessage()
	if err != nil || len(open) == 0 || open[0] != '0' {
		t.Fatalf("%s: open packet: %q %v", name, open, err)
	}
	if err := json.Unmarshal(open[1:], &c.open); err != nil {
		t.Fatalf("%s: open packet: %v", name, err)
	}
	_ = conn.SetReadDeadline(time.Time{})
	go c.read()
	t.Cleanup(func() { c.conn.Close() })
	return c
}

func (c *wsClient) read() {
	defer close(c.closed)
	recovering := make(map[string]bool) // namespaces whose CONNECT reply had a pid
	for {
		typ, msg, err := c.conn.ReadMessage()
		if err != nil {
			return
		}
		s := string(msg)
		switch {
		case typ == websocket.BinaryMessage:
			c.pkts <- sioPacket{Type: 'b', AckID: -1, Data: json.RawMessage(msg)}
		case s == "2":
			c.write("3")
		case strings.HasPrefix(s, "4"):
			p, err := parseSIO(s[1:])
			if err != nil {
				c.t.Errorf("%s: bad packet %q: %v", c.name, s, err)
				return
			}
			if p.Type == '0' && strings.Contains(string(p.Data), `"pid":`) {
				recovering[p.Nsp] = true
			}
			if (p.Type == '2' || p.Type == '5') && p.AckID < 0 && recovering[p.Nsp] {
				p.takeOffset()
			}
			select {
			case c.pkts <- p:
			default:
				c.t.Errorf("%s: packet queue full", c.name)
				return
			}
		}
	}
}

// takeOffset moves the trailing string argument of an event to Offset, as
// the official client records it (it also passes it to the listener).
func (p *sioPacket) takeOffset() {
	var arr []json.RawMessage
	if json.Unmarshal(p.Data, &arr) != nil || len(arr) < 2 {
		return
	}
	var off string
	if json.Unmarshal(arr[len(arr)-1], &off) != nil {
		return
	}
	// Cut the last element out of the text, keeping the rest byte for byte.
	i := bytes.LastIndex(p.Data, arr[len(arr)-1])
	head := bytes.TrimRight(p.Data[:i], " \t\r\n")
	head = bytes.TrimRight(bytes.TrimSuffix(head, []byte(",")), " \t\r\n")
	p.Data, p.Offset = append(slices.Clip(head), ']'), off
}

func parseSIO(s string) (sioPacket, error) {
	p := sioPacket{Nsp: "/", AckID: -1}
	if s == "" {
		return p, fmt.Errorf("empty")
	}
	p.Type, s = s[0], s[1:]
	if p.Type == '5' || p.Type == '6' {
		n, rest, ok := strings.Cut(s, "-")
		if !ok {
			return p, fmt.Errorf("binary packet without attachment count")
		}
		p.Attachments, _ = strconv.Atoi(n)
		s = rest
	}
	if strings.HasPrefix(s, "/") {
		i := strings.IndexByte(s, ',')
		if i < 0 {
			p.Nsp, s = s, ""
		} else {
			p.Nsp, s = s[:i], s[i+1:]
		}
	}
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i > 0 {
		p.AckID, _ = strconv.Atoi(s[:i])
		s = s[i:]
	}
	p.Data = json.RawMessage(s)
	return p, nil
}

func (c *wsClient) write(s string) { c.writeFrame(websocket.TextMessage, []byte(s)) }

func (c *wsClient) writeFrame(typ int, b []byte) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.conn.SetWriteDeadline(time.Now().Add(waitFor))
	if err := c.conn.WriteMessage(typ, b); err != nil {
		c.t.Logf("%s: write: %v", c.name, err)
	}
}

func nspPrefix(nsp string) string {
	if nsp == "/" {
		return ""
	}
	return nsp + ","
}

// connect joins a namespace and returns the socket id.
func (c *wsClient) connect(nsp string) string {
	c.t.Helper()
	c.write("40" + nspPrefix(nsp))
	p := c.next(func(p sioPacket) bool { return p.Nsp == nsp && (p.Type == '0' || p.Type == '4') })
	if p.Type != '0' {
		c.t.Fatalf("%s: connect %s refused: %s", c.name, nsp, p.Data)
	}
	var v struct{ SID string }
	_ = json.Unmarshal(p.Data, &v)
	return v.SID
}

// connectError joins a namespace expecting a refusal, and returns its message.
func (c *wsClient) connectError(nsp string) string {
	c.t.Helper()
	c.write("40" + nspPrefix(nsp))
	p := c.next(func(p sioPacket) bool { return p.Nsp == nsp && (p.Type == '0' || p.Type == '4') })
	if p.Type != '4' {
		c.t.Fatalf("%s: connect %s accepted, want a refusal", c.name, nsp)
	}
	var v struct{ Message string }
	_ = json.Unmarshal(p.Data, &v)
	return v.Message
}

func (c *wsClient) emit(nsp, event string, args ...any) {
	c.t.Helper()
	c.write("42" + nspPrefix(nsp) + mustJSON(c.t, append([]any{event}, args...)))
}

// emitAck emits an event asking for an acknowledgement and waits for it.
func (c *wsClient) emitAck(nsp, event string, args ...any) json.RawMessage {
	c.t.Helper()
	id := c.nextID
	c.nextID++
	c.write("42" + nspPrefix(nsp) + strconv.Itoa(id) + mustJSON(c.t, append([]any{event}, args...)))
	p := c.next(func(p sioPacket) bool { return p.Type == '3' && p.Nsp == nsp && p.AckID == id })
	return p.Data
}

// next returns the first packet, in arrival order, that matches keep.
// Packets that do not match stay queued for later calls.
func (c *wsClient) next(keep func(sioPacket) bool) sioPacket {
	c.t.Helper()
	for i, p := range c.pending {
		if keep(p) {
			c.pending = append(c.pending[:i], c.pending[i+1:]...)
			return p
		}
	}
	// queued takes the next queued packet, if any: it reports a match, or
	// keeps a packet that does not match for later calls.
	queued := func(p sioPacket) bool {
		if keep(p) {
			return true
		}
		c.pending = append(c.pending, p)
		return false
	}
	timer := time.NewTimer(waitFor)
	defer timer.Stop()
	for {
		select {
		case p := <-c.pkts:
			if queued(p) {
				return p
			}
		case <-c.closed:
			// The reader queues every packet before it ends; select picks
			// among ready cases at random, so take what is queued first.
			for len(c.pkts) > 0 {
				if p := <-c.pkts; queued(p) {
					return p
				}
			}
			c.t.Fatalf("%s: connection closed while waiting", c.name)
		case <-timer.C:
			c.t.Fatalf("%s: timed out waiting for a packet", c.name)
		}
	}
}

// expectEvent waits for the event, failing if another event of the same
// namespace arrives first. Used with a marker event sent after the fact, it
// makes "did not receive" deterministic: the client's queue is FIFO.
func (c *wsClient) expectEvent(nsp, event string) []json.RawMessage {
	c.t.Helper()
	p := c.next(func(p sioPacket) bool { return p.Nsp == nsp && p.Type == '2' })
	name, args := p.event()
	if name != event {
		c.t.Fatalf("%s: got event %s, want %s", c.name, p, event)
	}
	return args
}

// expectDisconnect waits for a DISCONNECT packet of the namespace.
func (c *wsClient) expectDisconnect(nsp string) {
	c.t.Helper()
	c.next(func(p sioPacket) bool { return p.Nsp == nsp && p.Type == '1' })
}

// assertOpen checks that the server has not closed the connection.
func (c *wsClient) assertOpen() {
	c.t.Helper()
	select {
	case <-c.closed:
		c.t.Fatalf("%s: connection closed", c.name)
	default:
	}
}

// waitClosed waits for the server to end the connection.
func (c *wsClient) waitClosed() {
	c.t.Helper()
	select {
	case <-c.closed:
	case <-time.After(waitFor):
		c.t.Fatalf("%s: connection still open", c.name)
	}
}

func mustJSON(t *testing.T, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// jsonEq compares JSON documents semantically.
func jsonEq(t *testing.T, got json.RawMessage, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("got invalid JSON %s: %v", got, err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("want invalid JSON %s: %v", want, err)
	}
	if mustJSON(t, g) != mustJSON(t, w) {
		t.Fatalf("got %s, want %s", got, want)
	}
}

func jsonUnmarshal(raw json.RawMessage, v any) error { return json.Unmarshal(raw, v) }
