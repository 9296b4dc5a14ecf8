package engine

import (
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
)

// HTTP compression of polling responses (Config.HTTPCompression), as Node's
// engine.io httpCompression: a GET answer of at least the threshold is sent
// gzip- or deflate-encoded when the request's Accept-Encoding allows it.
// Off by default here; behind Caddy, leave it off and let the `encode`
// directive do it (it also covers the client bundle and everything else).
//
// It is a ResponseWriter wrapper around polling GETs, so the payload
// writers stay as they are: they set Content-Length and write the whole
// body in one Write, which this wrapper compresses.

// acceptedEncoding picks gzip or deflate from Accept-Encoding ("" for
// none), preferring gzip as Node does; q=0 refuses an encoding.
func acceptedEncoding(h string) string {
	gz, df := false, false
	for _, part := range strings.Split(h, ",") {
		name, params, _ := strings.Cut(part, ";")
		name = strings.ToLower(strings.TrimSpace(name))
		if q, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
			if f, err := strconv.ParseFloat(strings.TrimSpace(q), 64); err == nil && f == 0 {
				continue
			}
		}
		switch name {
		case "gzip", "*":
			gz = true
		case "deflate":
			df = true
		}
	}
	switch {
	case gz:
		return "gzip"
	case df:
		return "deflate"
	}
	return ""
}

type compressingWriter struct {
	http.ResponseWriter
	enc       string
	threshold int
	status    int
}

// compressPolling wraps w for a polling GET when compression is on and the
// client accepts an encoding.
func (srv *Server) compressPolling(w http.ResponseWriter, r *http.Request) http.ResponseWriter {
	if !srv.cfg.HTTPCompression || r.Method != http.MethodGet {
		return w
	}
	enc := acceptedEncoding(r.Header.Get("Accept-Encoding"))
	if enc == "" {
		return w
	}
	return &compressingWriter{ResponseWriter: w, enc: enc, threshold: srv.cfg.HTTPCompressionThreshold}
}

func (c *compressingWriter) WriteHeader(status int) {
	if status != http.StatusOK {
		c.ResponseWriter.WriteHeader(status)
		c.status = -1 // passed through
		return
	}
	c.status = status // held until the body is known
}

func (c *compressingWriter) Write(b []byte) (int, error) {
	if c.status != http.StatusOK {
		return c.ResponseWriter.Write(b)
	}
	c.status = -1
	h := c.Header()
	h.Add("Vary", "Accept-Encoding")
	if len(b) < c.threshold {
		c.ResponseWriter.WriteHeader(http.StatusOK)
		return c.ResponseWriter.Write(b)
	}
	z := compressBody(c.enc, b)
	h.Set("Content-Encoding", c.enc)
	h.Set("Content-Length", strconv.Itoa(len(z)))
	c.ResponseWriter.WriteHeader(http.StatusOK)
	if _, err := c.ResponseWriter.Write(z); err != nil {
		return 0, err
	}
	return len(b), nil
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (c *compressingWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }

var (
	gzipWriters = sync.Pool{New: func() any { return gzip.NewWriter(nil) }}
	zlibWriters = sync.Pool{New: func() any { return zlib.NewWriter(nil) }}
)

type resetWriteCloser interface {
	io.WriteCloser
	Reset(io.Writer)
}

func compressBody(enc string, b []byte) []byte {
	pool := &gzipWriters
	if enc == "deflate" {
		pool = &zlibWriters
	}
	var out bytes.Buffer
	out.Grow(len(b)/3 + 64)
	zw := pool.Get().(resetWriteCloser)
	zw.Reset(&out)
	_, _ = zw.Write(b)
	_ = zw.Close()
	zw.Reset(io.Discard)
	pool.Put(zw)
	return out.Bytes()
}
