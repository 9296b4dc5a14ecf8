// Package clientdist embeds and serves the official Socket.IO browser client bundles
// (socket.io-client's dist/ files), like the Node server's serveClient option.
//
// The bundles in socket.io-client/ are unmodified third-party files (MIT, see
// socket.io-client/LICENSE), fetched by scripts/fetch-client.mjs together with
// precompressed .gz and .br copies. CORS is not handled here; the caller applies it.
package clientdist

import (
	"embed"
	"net/http"
	"strconv"
	"strings"
	"sync"
)

//go:embed socket.io-client
var files embed.FS

const dir = "socket.io-client/"

// Version is the embedded socket.io-client version, e.g. "4.8.3".
var Version string

var names = []string{
	"socket.io.js",
	"socket.io.js.map",
	"socket.io.min.js",
	"socket.io.min.js.map",
	"socket.io.esm.min.js",
	"socket.io.esm.min.js.map",
	"socket.io.msgpack.min.js",
	"socket.io.msgpack.min.js.map",
}

const (
	ctypeJS   = "application/javascript; charset=utf-8"
	ctypeJSON = "application/json; charset=utf-8"
)

// variant is one stored encoding of a bundle.
type variant struct {
	data   []byte
	length string // Content-Length value
}

type bundle struct {
	ctype    string
	identity variant
	gzip     variant
	br       variant
}

var (
	etag, weakETag string

	// The bundles are read from the embedded FS once, on first use.
	loadOnce sync.Once
	bundles  map[string]*bundle
)

func init() {
	v, err := files.ReadFile(dir + "VERSION")
	if err != nil {
		panic("clientdist: " + err.Error())
	}
	Version = strings.TrimSpace(string(v))
	if Version == "" {
		panic("clientdist: empty VERSION")
	}
	etag = `"` + Version + `"`
	weakETag = "W/" + etag
}

func load() {
	m := make(map[string]*bundle, len(names))
	for _, name := range names {
		b := &bundle{ctype: ctypeJS}
		if strings.HasSuffix(name, ".map") {
			b.ctype = ctypeJSON
		}
		for _, x := range []struct {
			v   *variant
			ext string
		}{{&b.identity, ""}, {&b.gzip, ".gz"}, {&b.br, ".br"}} {
			data, err := files.ReadFile(dir + name + x.ext)
			if err != nil {
				panic("clientdist: " + err.Error())
			}
			*x.v = variant{data: data, length: strconv.Itoa(len(data))}
		}
		m[name] = b
	}
	bundles = m
}

// Names lists the 8 servable file names.
func Names() []string {
	return append([]string(nil), names...)
}

// Serve writes the bundle named name (one of Names(), e.g. "socket.io.min.js") to w and reports
// true; for any other name it writes nothing and reports false (the caller falls through to the engine).
//
// Any method is accepted (HEAD gets headers only). The response carries
// Cache-Control: public, max-age=0, ETag: "<Version>" and Vary: Accept-Encoding; a matching
// If-None-Match (strong or weak, in a list, or *) gets 304 with no body. The body is the
// precompressed br or gzip copy when Accept-Encoding allows it, else the original bytes.
func Serve(w http.ResponseWriter, r *http.Request, name string) bool {
	if !isName(name) {
		return false
	}
	loadOnce.Do(load)
	b := bundles[name]

	h := w.Header()
	h.Set("Cache-Control", "public, max-age=0")
	h.Set("ETag", etag)
	if !hasToken(h.Values("Vary"), "Accept-Encoding") {
		h.Add("Vary", "Accept-Encoding")
	}

	if inm := r.Header.Values("If-None-Match"); len(inm) > 0 && noneMatch(inm) {
		// RFC 9110 §15.4.5: no representation metadata (Content-Type etc.) on 304.
		w.WriteHeader(http.StatusNotModified)
		return true
	}

	v := &b.identity
	switch negotiate(r.Header.Values("Accept-Encoding")) {
	case encBr:
		v = &b.br
		h.Set("Content-Encoding", "br")
	case encGzip:
		v = &b.gzip
		h.Set("Content-Encoding", "gzip")
	}
	h.Set("Content-Type", b.ctype)
	h.Set("Content-Length", v.length)
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(v.data)
	}
	return true
}

// hasToken reports whether the comma-separated header values contain token.
func hasToken(values []string, token string) bool {
	for _, v := range values {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

func isName(name string) bool {
	for _, n := range names {
		if n == name {
			return true
		}
	}
	return false
}

// noneMatch reports whether the If-None-Match field values match the current ETag,
// using weak comparison (RFC 9110 §13.1.2).
func noneMatch(values []string) bool {
	for _, s := range values {
		for {
			s = strings.TrimLeft(s, " \t,")
			if s == "" {
				break
			}
			if s[0] == '*' {
				return true
			}
			tag, rest, ok := scanETag(s)
			if !ok {
				break // malformed: ignore the rest of this field value
			}
			if tag == etag || tag == weakETag {
				return true
			}
			s = rest
		}
	}
	return false
}

// scanETag reads one entity-tag (W/"x" or "x") from the start of s.
func scanETag(s string) (tag, rest string, ok bool) {
	start := 0
	if strings.HasPrefix(s, "W/") {
		start = 2
	}
	if len(s) < start+2 || s[start] != '"' {
		return "", "", false
	}
	end := strings.IndexByte(s[start+1:], '"')
	if end < 0 {
		return "", "", false
	}
	end += start + 2
	return s[:end], s[end:], true
}

type encoding int

const (
	encIdentity encoding = iota
	encGzip
	encBr
)

// negotiate picks the response coding from Accept-Encoding (RFC 9110 §12.5.3): the
// acceptable (q > 0) coding with the highest q-value, ties broken as br, gzip, identity.
// "*" stands for codings not listed explicitly. identity that is not listed (or covered by
// "*") is used only when neither br nor gzip is acceptable; when every coding is refused
// the original bytes are sent anyway.
func negotiate(values []string) encoding {
	const unset = -1
	qBr, qGzip, qID, qAny := unset, unset, unset, unset
	for _, field := range values {
		for _, item := range strings.Split(field, ",") {
			coding, params, _ := strings.Cut(item, ";")
			coding = strings.TrimSpace(coding)
			if coding == "" {
				continue
			}
			q := parseQ(params)
			switch {
			case strings.EqualFold(coding, "br"):
				qBr = max(qBr, q)
			case strings.EqualFold(coding, "gzip"), strings.EqualFold(coding, "x-gzip"):
				qGzip = max(qGzip, q)
			case strings.EqualFold(coding, "identity"):
				qID = max(qID, q)
			case coding == "*":
				qAny = max(qAny, q)
			}
		}
	}
	if qBr == unset {
		qBr = qAny
	}
	if qGzip == unset {
		qGzip = qAny
	}
	if qID == unset {
		qID = qAny
	}
	best, bestQ := encIdentity, 0
	for _, c := range []struct {
		enc encoding
		q   int
	}{{encBr, qBr}, {encGzip, qGzip}, {encIdentity, qID}} {
		if c.q > bestQ {
			best, bestQ = c.enc, c.q
		}
	}
	return best
}

// parseQ returns the q parameter in thousandths (0..1000); 1000 when absent and 0 when
// malformed.
func parseQ(params string) int {
	for params != "" {
		var p string
		p, params, _ = strings.Cut(params, ";")
		k, v, ok := strings.Cut(p, "=")
		if !ok || !strings.EqualFold(strings.TrimSpace(k), "q") {
			continue
		}
		return qvalue(strings.TrimSpace(v))
	}
	return 1000
}

// qvalue parses "0", "0.5", "1.000" etc. (RFC 9110 §12.4.2) into thousandths.
func qvalue(s string) int {
	if s == "" || (s[0] != '0' && s[0] != '1') {
		return 0
	}
	whole := int(s[0] - '0')
	frac := s[1:]
	if frac != "" {
		if frac[0] != '.' || len(frac) > 4 {
			return 0
		}
		frac = frac[1:]
	}
	n := 0
	for i := 0; i < 3; i++ {
		n *= 10
		if i < len(frac) {
			d := frac[i]
			if d < '0' || d > '9' || (whole == 1 && d != '0') {
				return 0
			}
			n += int(d - '0')
		}
	}
	return whole*1000 + n
}
