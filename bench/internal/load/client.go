package load

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"sync/atomic"
	"time"
)

// enginePath is the websocket-only Engine.IO v4 handshake URL (no polling
// first: every scenario measures the websocket transport).
const enginePath = "/socket.io/?EIO=4&transport=websocket"

var pongFrame = []byte{eioPong}

// Dialer opens client connections to one server, spreading them over the
// source addresses it was given (round robin) so that many connections do
// not run out of ephemeral ports on a single 127.0.0.1.
type Dialer struct {
	Addr    string   // host:port of the server
	Sources []net.IP // local addresses; empty: let the kernel choose
	ReadBuf int      // bufio size per connection; 0: 4096
	Timeout time.Duration
	next    atomic.Uint64
}

// Client is one Engine.IO session over a websocket with one Socket.IO socket
// in the root namespace. One goroutine reads (Next); Send may be called from
// any goroutine, but the build buffer (Buf) belongs to the sending one.
type Client struct {
	ws           *wsConn
	SID          string // Engine.IO session id
	ID           string // Socket.IO socket id (CONNECT reply)
	PingInterval time.Duration
	PingTimeout  time.Duration
	Buf          []byte // scratch space for building frames
	pings        atomic.Uint32
}

type openPacket struct {
	SID          string   `json:"sid"`
	Upgrades     []string `json:"upgrades"`
	PingInterval int64    `json:"pingInterval"`
	PingTimeout  int64    `json:"pingTimeout"`
	MaxPayload   int64    `json:"maxPayload"`
}

// Connect performs the full client connect: websocket handshake, Engine.IO
// open packet, Socket.IO CONNECT to "/", the CONNECT reply and (when
// welcome is set) the app's `welcome` event (rule R1). ctx bounds it all.
func (d *Dialer) Connect(ctx context.Context, welcome bool) (*Client, error) {
	timeout := d.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	nd := net.Dialer{}
	if len(d.Sources) > 0 {
		ip := d.Sources[d.next.Add(1)%uint64(len(d.Sources))]
		nd.LocalAddr = &net.TCPAddr{IP: ip}
	}
	readBuf := d.ReadBuf
	if readBuf <= 0 {
		readBuf = 4096
	}
	ws, err := dialWS(ctx, &nd, d.Addr, enginePath, readBuf)
	if err != nil {
		return nil, err
	}
	c := &Client{ws: ws, Buf: make([]byte, 0, 64)}
	if err := c.open(ctx, welcome); err != nil {
		_ = ws.close()
		return nil, err
	}
	return c, nil
}

func (c *Client) open(ctx context.Context, welcome bool) error {
	dl, _ := ctx.Deadline()
	_ = c.ws.nc.SetReadDeadline(dl)
	defer func() { _ = c.ws.nc.SetReadDeadline(time.Time{}) }()

	frame, err := c.Next()
	if err != nil {
		return fmt.Errorf("reading open packet: %w", err)
	}
	if len(frame) == 0 || frame[0] != eioOpen {
		return fmt.Errorf("expected an open packet, got %q", clip(frame))
	}
	var op openPacket
	if err := json.Unmarshal(frame[1:], &op); err != nil {
		return fmt.Errorf("open packet %q: %w", clip(frame), err)
	}
	c.SID = op.SID
	c.PingInterval = time.Duration(op.PingInterval) * time.Millisecond
	c.PingTimeout = time.Duration(op.PingTimeout) * time.Millisecond

	if err := c.Send(AppendConnect(c.Buf[:0], "/", nil)); err != nil {
		return err
	}
	gotReply, gotWelcome := false, !welcome
	for !gotReply || !gotWelcome {
		frame, err := c.Next()
		if err != nil {
			return fmt.Errorf("waiting for the CONNECT reply and welcome: %w", err)
		}
		switch {
		case bytes.HasPrefix(frame, []byte(`40{`)):
			var body struct {
				SID string `json:"sid"`
			}
			if err := json.Unmarshal(frame[2:], &body); err != nil || body.SID == "" {
				return fmt.Errorf("CONNECT reply %q", clip(frame))
			}
			c.ID, gotReply = body.SID, true
		case bytes.HasPrefix(frame, []byte(`44`)):
			return fmt.Errorf("namespace refused: %q", clip(frame))
		case bytes.HasPrefix(frame, []byte(`42["welcome",`)):
			gotWelcome = true
		}
	}
	return nil
}

// Next returns the next text or binary frame, answering Engine.IO pings on
// the way. The slice is valid until the next call.
func (c *Client) Next() ([]byte, error) {
	for {
		op, frame, err := c.ws.next()
		if err != nil {
			return nil, err
		}
		if op == opText && len(frame) > 0 && frame[0] == eioPing {
			c.pings.Add(1)
			if err := c.ws.write(opText, pongFrame); err != nil {
				return nil, err
			}
			continue
		}
		return frame, nil
	}
}

// Pings is the number of Engine.IO pings received (and answered) so far.
func (c *Client) Pings() uint32 { return c.pings.Load() }

// Send writes one text frame.
func (c *Client) Send(frame []byte) error { return c.ws.write(opText, frame) }

// SetWriteTimeout bounds each later write.
func (c *Client) SetWriteTimeout(d time.Duration) { c.ws.writeTimeout = d }

// SetReadDeadline bounds the reads (Next) until changed; zero clears it.
func (c *Client) SetReadDeadline(t time.Time) { _ = c.ws.nc.SetReadDeadline(t) }

// Close closes the TCP connection (no close handshake).
func (c *Client) Close() error { return c.ws.close() }

// Disconnect sends a Socket.IO DISCONNECT for "/" and closes the connection,
// as the official client's socket.disconnect() does.
func (c *Client) Disconnect() error {
	_ = c.ws.write(opText, []byte{eioMessage, sioDisconnect})
	return c.ws.close()
}

// DisconnectClean is Disconnect with the websocket close handshake (at most
// 1 s), as a browser closes: see wsConn.closeHandshake.
func (c *Client) DisconnectClean() error {
	_ = c.ws.write(opText, []byte{eioMessage, sioDisconnect})
	return c.ws.closeHandshake(time.Second)
}

// Call emits event with args asking for ack id and reads until that ack
// arrives, ignoring other frames. It returns the ack's JSON array (copied).
func (c *Client) Call(id uint64, event string, args ...[]byte) ([]byte, error) {
	c.Buf = AppendEvent(c.Buf[:0], "/", int64(id), event, args...)
	if err := c.Send(c.Buf); err != nil {
		return nil, err
	}
	for {
		frame, err := c.Next()
		if err != nil {
			return nil, fmt.Errorf("waiting for the ack of %s: %w", event, err)
		}
		if got, data, ok := ScanAck(frame); ok && got == id {
			return bytes.Clone(data), nil
		}
	}
}

// Join asks the server to join room (rule R4) and waits for its ack.
func (c *Client) Join(id uint64, room string) error {
	arg := append([]byte(`{"room":`), AppendJSONString(nil, room)...)
	arg = append(arg, '}')
	data, err := c.Call(id, "join", arg)
	if err != nil {
		return err
	}
	if want := "[" + string(AppendJSONString(nil, room)) + "]"; string(data) != want {
		return fmt.Errorf("join ack %q, want %q", clip(data), want)
	}
	return nil
}
