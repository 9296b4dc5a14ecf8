package engine

import (
	"io"
	"mime"
	"net/http"
	"strconv"
	"time"
)

// HTTP long-polling (github.com/socketio/engine.io-protocol).

// servePoll answers a GET: at once with everything queued, or held until
// something is queued, the session closes or the client goes away.
func (s *Session) servePoll(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	if s.closed {
		if !s.lingering {
			s.mu.Unlock()
			writeError(w, CodeUnknownSID, "")
			return
		}
		pkts := s.takeLingerLocked()
		s.mu.Unlock()
		s.srv.forget(s)
		s.writePayload(w, pkts)
		return
	}
	if s.transport != Polling {
		s.mu.Unlock()
		writeError(w, CodeBadRequest, "")
		return
	}
	if s.poll != nil {
		// Overlapping GETs: the held one gets "1", this one an empty 400.
		s.mu.Unlock()
		s.close(ReasonTransportError, false)
		writeEmpty(w, http.StatusBadRequest)
		return
	}
	if len(s.queue) > 0 {
		pkts := s.takeQueueLocked()
		s.mu.Unlock()
		s.writePayload(w, pkts)
		return
	}
	if s.probed {
		// Upgrading: let the client pause polling at once (§1.8).
		s.mu.Unlock()
		s.writePayload(w, []packet{{typ: packetNoop}})
		return
	}
	p := &pollWait{done: make(chan struct{})}
	s.poll = p
	s.mu.Unlock()

	select {
	case <-p.done:
	case <-r.Context().Done():
		s.mu.Lock()
		if s.poll == p {
			// The client went away with the poll held: Node closes the
			// session ("poll connection closed prematurely").
			s.poll = nil
			s.mu.Unlock()
			s.close(ReasonTransportError, false)
			return
		}
		s.mu.Unlock()
		<-p.done // completed concurrently: already closed
	}
	s.writePayload(w, p.pkts)
}

// writePayload writes the 200 answer of a GET with pkts, which it then
// hands back to the send-queue pools (pkts must not be used afterwards).
func (s *Session) writePayload(w http.ResponseWriter, pkts []packet) {
	s.srv.counters.sent(pkts)
	if s.eio3 {
		writePayloadV3(w, nil, pkts, !s.b64)
	} else {
		writePayload(w, nil, pkts)
	}
	putQueue(pkts)
}

// writePayload writes the 200 answer of a GET: head (the handshake's open
// packet, or nil) then pkts, joined by 0x1e.
func writePayload(w http.ResponseWriter, head []byte, pkts []packet) {
	n := len(head) + payloadLen(pkts)
	if len(head) > 0 && len(pkts) > 0 {
		n++
	}
	bp, b := getBuf(n)
	b = append(b, head...)
	if len(head) > 0 && len(pkts) > 0 {
		b = append(b, recordSeparator)
	}
	b = appendPayload(b, pkts)
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=UTF-8")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
	putBuf(bp, b)
}

var okBody = []byte("ok")

func writeOK(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Type", "text/html")
	h.Set("Content-Length", "2")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(okBody)
}

// serveData handles a POST: the body is a payload of packets from the client.
func (s *Session) serveData(w http.ResponseWriter, r *http.Request) {
	cfg := &s.srv.cfg
	maxPayload := cfg.MaxPayload
	s.mu.Lock()
	if s.closed {
		lingering := s.lingering
		s.mu.Unlock()
		if !lingering {
			writeError(w, CodeUnknownSID, "")
			return
		}
		// Closed by the server, close packet not yet fetched: accept and drop,
		// so the client sees the close rather than a POST error.
		rc := bodyDeadline(w, cfg.PostReadTimeout)
		_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, maxPayload+1))
		_ = rc.SetReadDeadline(time.Time{})
		writeOK(w)
		return
	}
	if s.transport != Polling {
		s.mu.Unlock()
		writeError(w, CodeBadRequest, "")
		return
	}
	if s.postActive {
		s.mu.Unlock()
		s.close(ReasonTransportError, false)
		writeEmpty(w, http.StatusBadRequest)
		return
	}
	s.postActive = true
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.postActive = false
		s.mu.Unlock()
	}()

	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	binaryBody := mt == "application/octet-stream"
	if binaryBody && !s.eio3 {
		// Binary payloads are EIO=3 only.
		s.close(ReasonTransportError, false)
		writeEmpty(w, http.StatusBadRequest)
		return
	}
	if r.ContentLength > maxPayload {
		s.tooLarge(r.ContentLength)
		writeEmpty(w, http.StatusRequestEntityTooLarge)
		return
	}
	rc := bodyDeadline(w, cfg.PostReadTimeout)
	body, err := readBody(r.Body, r.ContentLength, maxPayload)
	// The deadline is on the connection: clear it, or it would end the
	// keep-alive connection's next request (net/http resets it only when
	// the server has a read timeout of its own).
	_ = rc.SetReadDeadline(time.Time{})
	if err != nil {
		s.srv.log.Debug("engine polling body not read", "sid", s.id, "error", err)
		s.close(ReasonTransportError, false)
		writeEmpty(w, http.StatusBadRequest)
		return
	}
	if int64(len(body)) > maxPayload {
		// Node answers 413 and leaves the session alone.
		s.tooLarge(int64(len(body)))
		writeEmpty(w, http.StatusRequestEntityTooLarge)
		return
	}
	if s.eio3 {
		s.receiveV3(w, r, body, binaryBody, cfg.MaxPayloadPackets)
		return
	}
	n, err := checkPayload(body, cfg.MaxPayloadPackets, true)
	if err != nil {
		// All or nothing: an invalid payload delivers none of its packets.
		s.protocolError(err)
		s.close(ReasonParseError, false)
		writeEmpty(w, http.StatusBadRequest)
		return
	}
	s.receivePost(r.Context(), func() bool { return s.receivePayload(body, n) })
	writeOK(w)
}

// bodyDeadline sets the read deadline of a POST body; the caller clears it
// once the body is read.
func bodyDeadline(w http.ResponseWriter, d time.Duration) *http.ResponseController {
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Now().Add(d)) // unsupported writers: no deadline
	return rc
}

// firstBodyBuf is the most a body buffer starts with, whatever length the
// request announces: it grows (doubling) with the bytes that actually
// arrive, so a client announcing a big body and sending little holds
// little.
const firstBodyBuf = 4 << 10

// readBody reads a body of declared length (-1: unknown), at most max+1
// bytes, never allocating ahead of what has arrived by more than the
// buffer's doubling.
func readBody(body io.Reader, declared, max int64) ([]byte, error) {
	limit := max + 1
	if declared >= 0 && declared < limit {
		// net/http stops at Content-Length: nothing more can come.
		limit = declared
	}
	b := make([]byte, 0, min(limit, firstBodyBuf))
	for {
		if len(b) == cap(b) {
			if int64(len(b)) >= limit {
				return b, nil
			}
			nb := make([]byte, len(b), min(int64(2*cap(b)), limit))
			copy(nb, b)
			b = nb
		}
		n, err := body.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			if declared >= 0 && int64(len(b)) < declared {
				return nil, io.ErrUnexpectedEOF
			}
			return b, nil
		}
		if err != nil {
			return nil, err
		}
	}
}
