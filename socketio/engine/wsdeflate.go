package engine

import (
	"bytes"
	"compress/flate"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// permessage-deflate (RFC 7692), opt-in with Config.WebSocketCompression.
//
// Negotiation: gorilla performs the handshake and answers an offer with
// "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
// when its Upgrader has EnableCompression; it exposes no way to tell whether
// it did, so offersDeflate applies the same rule to the request first (and
// only the compressing Upgrader is used when it holds). Offers asking for a
// smaller server window (server_max_window_bits) are declined, as the answer
// could not confirm the parameter.
//
// No context takeover, both ways: every message is compressed and inflated
// on its own, with a pooled flate writer or reader, so an idle connection
// keeps no compression state. Context takeover would keep, per connection,
// an inflate state (about 44 KB with its 32 KiB window) plus a deflate
// state (compress/flate: about 1.2 MB at level 1, 800 KB at level 6) for
// as long as the connection lives; at 10,000 connections, about 12 GB.
//
// Reading: a message with RSV1 is inflated after its frames are collected
// (its compressed size is bounded by MaxPayload plus the worst deflate
// overhead); inflating stops at MaxPayload+1 bytes, so a deflate bomb costs
// at most MaxPayload of memory and the CPU to produce it, and is refused
// with close code 1009 like any message over MaxPayload. Corrupt data gets
// 1007.
//
// Writing: messages of at least CompressionThreshold bytes are compressed
// (flate level 1, fast), the rest and control frames go uncompressed. A
// broadcast queues the same Data slice on every recipient: its compressed
// frame payload is computed once and shared by every recipient with the
// same framing (see deflateCache), not once per recipient.

// deflateOK reports whether a websocket handshake should negotiate
// permessage-deflate: the server allows it and the client offers it.
func (srv *Server) deflateOK(r *http.Request) bool {
	return srv.cfg.WebSocketCompression && offersDeflate(r.Header)
}

// offersDeflate reports whether the client offers permessage-deflate with
// parameters we can accept. Strict: any syntax it does not understand
// (quoted strings, odd characters) counts as no offer, so that it never
// says yes where gorilla's parser would say no.
func offersDeflate(h http.Header) bool {
	found := false
	for _, line := range h.Values("Sec-Websocket-Extensions") {
		if strings.ContainsAny(line, "\"\\") {
			return false
		}
		for _, ext := range strings.Split(line, ",") {
			parts := strings.Split(ext, ";")
			if strings.TrimSpace(parts[0]) != "permessage-deflate" {
				continue
			}
			for _, p := range parts[1:] {
				k, _, _ := strings.Cut(strings.TrimSpace(p), "=")
				switch strings.TrimSpace(k) {
				case "server_no_context_takeover", "client_no_context_takeover", "client_max_window_bits":
				default: // server_max_window_bits, or unknown
					return false
				}
			}
			found = true
		}
	}
	return found
}

// Inflating.

// deflateTail ends every compressed message (RFC 7692 §7.2.2).
var deflateTail = []byte{0x00, 0x00, 0xff, 0xff}

// finalBlock is an empty final stored block: appended after the tail so
// the flate reader ends cleanly (io.EOF) instead of asking for more.
var finalBlock = []byte{0x01, 0x00, 0x00, 0xff, 0xff}

type inflater struct {
	src  bytes.Reader
	fr   io.ReadCloser
	mr   multiReader
	outp *[]byte
}

// multiReader reads three slices in turn without allocating.
type multiReader struct {
	parts [3][]byte
	i     int
}

func (m *multiReader) Read(p []byte) (int, error) {
	for m.i < len(m.parts) {
		if len(m.parts[m.i]) == 0 {
			m.i++
			continue
		}
		n := copy(p, m.parts[m.i])
		m.parts[m.i] = m.parts[m.i][n:]
		return n, nil
	}
	return 0, io.EOF
}

var inflaters = sync.Pool{New: func() any { return new(inflater) }}

var (
	errInflateTooBig  = &wsFrameError{closeMessageTooBig, "message too big once inflated"}
	errInflateCorrupt = &wsFrameError{closeBadCompressedData, "invalid compressed data"}
)

// closeBadCompressedData: data inconsistent with the message type (RFC 6455
// §7.4.1), here compressed data that does not inflate.
const closeBadCompressedData = 1007

// inflate decompresses one message, stopping at limit+1 bytes (limit <= 0:
// none). The result is a new slice the caller owns.
func inflate(data []byte, limit int64) ([]byte, error) {
	inf := inflaters.Get().(*inflater)
	defer inflaters.Put(inf)
	inf.mr = multiReader{parts: [3][]byte{data, deflateTail, finalBlock}}
	if inf.fr == nil {
		inf.fr = flate.NewReader(&inf.mr)
	} else if err := inf.fr.(flate.Resetter).Reset(&inf.mr, nil); err != nil {
		return nil, errInflateCorrupt
	}
	// Grow the output as it comes (a small message stays small), up to
	// limit+1.
	out := make([]byte, 0, min(max(2*len(data), 512), 64<<10))
	for {
		if len(out) == cap(out) {
			if limit > 0 && int64(len(out)) > limit {
				return nil, errInflateTooBig
			}
			next := 2 * cap(out)
			if limit > 0 && int64(next) > limit+1 {
				next = int(limit + 1)
			}
			if next <= cap(out) {
				next = cap(out) + 1
			}
			out = append(out[:cap(out)], make([]byte, next-cap(out))...)[:len(out)]
		}
		n, err := inf.fr.Read(out[len(out):cap(out)])
		out = out[:len(out)+n]
		if limit > 0 && int64(len(out)) > limit {
			return nil, errInflateTooBig
		}
		if err == io.EOF {
			inf.mr = multiReader{}
			return out, nil
		}
		if err != nil {
			inf.mr = multiReader{}
			return nil, errInflateCorrupt
		}
	}
}

// Deflating.

// deflateLevel: compress/flate level 1 (fast, most of the gain on JSON).
const deflateLevel = flate.BestSpeed

var deflaters = sync.Pool{New: func() any {
	w, _ := flate.NewWriter(nil, deflateLevel)
	return w
}}

// deflateCompressions counts compressions (tests check that a broadcast is
// compressed once).
var deflateCompressions atomic.Uint64

// deflatePayload compresses prefix + data (data base64-encoded when b64)
// as one no-context-takeover message: the deflate stream without its
// final 00 00 ff ff.
func deflatePayload(prefix string, data []byte, b64 bool) []byte {
	deflateCompressions.Add(1)
	var out bytes.Buffer
	out.Grow(len(data)/2 + 64)
	w := deflaters.Get().(*flate.Writer)
	w.Reset(&out)
	_, _ = io.WriteString(w, prefix)
	if b64 {
		enc := base64.NewEncoder(base64.StdEncoding, w)
		_, _ = enc.Write(data)
		_ = enc.Close()
	} else {
		_, _ = w.Write(data)
	}
	_ = w.Flush()
	w.Reset(io.Discard)
	deflaters.Put(w)
	b := out.Bytes()
	return b[:len(b)-len(deflateTail)]
}

// deflateCache shares compressed frame payloads between the recipients of
// one message: every session queues the same Data slice for a broadcast, so
// (slice address, length, framing) identifies it. An entry holds the source
// slice, so its address cannot be reused for other data while cached. The
// oldest entries are dropped beyond deflateCacheEntries entries or
// deflateCacheBytes (counted as twice the source size); messages over
// deflateCacheMax are compressed per recipient and not cached. A broadcast
// is thus compressed once as long as fewer than that many broadcasts are
// waiting in send queues at once.
type deflateCache struct {
	mu    sync.Mutex
	m     map[deflateKey]*deflateEntry
	ring  []*deflateEntry // FIFO of the entries in m, oldest at head
	head  int
	bytes int
}

const (
	deflateCacheEntries = 4096
	deflateCacheBytes   = 16 << 20
	deflateCacheMax     = 256 << 10
)

type deflateKey struct {
	ptr    *byte
	n      int
	prefix string
	b64    bool
}

type deflateEntry struct {
	key   deflateKey
	src   []byte // keeps ptr allocated: no other data can get that address
	ready chan struct{}
	out   []byte
}

// get returns the compressed payload of prefix+data, computing it once for
// all callers with the same message and framing.
func (dc *deflateCache) get(prefix string, data []byte, b64 bool) []byte {
	if len(data) == 0 || len(data) > deflateCacheMax {
		return deflatePayload(prefix, data, b64)
	}
	key := deflateKey{unsafe.SliceData(data), len(data), prefix, b64}
	dc.mu.Lock()
	if e := dc.m[key]; e != nil {
		dc.mu.Unlock()
		<-e.ready
		return e.out
	}
	if dc.m == nil {
		dc.m = make(map[deflateKey]*deflateEntry)
		dc.ring = make([]*deflateEntry, 0, 64)
	}
	e := &deflateEntry{key: key, src: data, ready: make(chan struct{})}
	dc.m[key] = e
	dc.ring = append(dc.ring, e)
	dc.bytes += 2 * len(data)
	for len(dc.ring)-dc.head > deflateCacheEntries || dc.bytes > deflateCacheBytes {
		old := dc.ring[dc.head]
		dc.ring[dc.head] = nil
		dc.head++
		dc.bytes -= 2 * len(old.src)
		if dc.m[old.key] == old {
			delete(dc.m, old.key)
		}
	}
	if dc.head > 1024 && dc.head*2 > len(dc.ring) { // compact the ring
		n := copy(dc.ring, dc.ring[dc.head:])
		clear(dc.ring[n:])
		dc.ring, dc.head = dc.ring[:n], 0
	}
	dc.mu.Unlock()
	e.out = deflatePayload(prefix, data, b64)
	close(e.ready)
	return e.out
}

// writeDeflated is writePackets for a connection that negotiated
// permessage-deflate: messages of at least the threshold go compressed
// (RSV1 set), everything else as usual; one Write.
func (c *wsConn) writeDeflated(pkts []packet, timeout time.Duration) error {
	threshold := c.deflateThreshold
	var payloads [][]byte
	total := 0
	for i, p := range pkts {
		op, prefix, b64, n := c.frameOf(p)
		if p.typ == packetMessage && n >= threshold && (op == opText || op == opBinary) {
			if payloads == nil {
				payloads = make([][]byte, len(pkts))
			}
			payloads[i] = c.deflates.get(prefix, p.data, b64)
			total += frameHeaderLen(len(payloads[i])) + len(payloads[i])
			continue
		}
		total += frameHeaderLen(n) + n
	}
	bp, buf := getBuf(total)
	for i, p := range pkts {
		if payloads != nil && payloads[i] != nil {
			op, _, _, _ := c.frameOf(p)
			start := len(buf)
			buf = appendFrameHeader(buf, op, len(payloads[i]))
			buf[start] |= 0x40 // RSV1: compressed
			buf = append(buf, payloads[i]...)
			continue
		}
		buf = c.appendFrame(buf, p)
	}
	_ = c.nc.SetWriteDeadline(time.Now().Add(timeout))
	_, err := c.nc.Write(buf)
	putBuf(bp, buf)
	return err
}

// inflateFrame inflates the data message the reader just returned when it
// was compressed.
func (c *wsConn) inflateFrame(data []byte) ([]byte, error) {
	out, err := inflate(data, c.fr.limit)
	if err != nil {
		var fe *wsFrameError
		if !errors.As(err, &fe) {
			err = errInflateCorrupt
		}
		return nil, err
	}
	return out, nil
}
