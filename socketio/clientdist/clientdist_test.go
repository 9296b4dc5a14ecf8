package clientdist

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
)

func embedded(t *testing.T, name string) []byte {
	t.Helper()
	b, err := files.ReadFile(dir + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func sums(t *testing.T) map[string]string {
	t.Helper()
	m := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(embedded(t, "SHA256SUMS")))
	for sc.Scan() {
		sum, name, ok := strings.Cut(sc.Text(), "  ")
		if !ok {
			t.Fatalf("bad SHA256SUMS line %q", sc.Text())
		}
		m[name] = sum
	}
	return m
}

func serve(t *testing.T, method, name string, hdr map[string]string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(method, "/socket.io/"+name+"?x=1", nil)
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	if !Serve(w, r, name) {
		t.Fatalf("Serve(%q) = false", name)
	}
	return w
}

func wantType(name string) string {
	if strings.HasSuffix(name, ".map") {
		return "application/json; charset=utf-8"
	}
	return "application/javascript; charset=utf-8"
}

func TestNames(t *testing.T) {
	want := []string{
		"socket.io.js", "socket.io.js.map",
		"socket.io.min.js", "socket.io.min.js.map",
		"socket.io.esm.min.js", "socket.io.esm.min.js.map",
		"socket.io.msgpack.min.js", "socket.io.msgpack.min.js.map",
	}
	got := Names()
	if !slices.Equal(got, want) {
		t.Fatalf("Names() = %v", got)
	}
	got[0] = "mutated"
	if Names()[0] != "socket.io.js" {
		t.Fatal("Names() exposes internal slice")
	}
	s := sums(t)
	if len(s) != len(want) {
		t.Fatalf("SHA256SUMS has %d entries, want %d", len(s), len(want))
	}
}

func TestEmbeddedFiles(t *testing.T) {
	for _, f := range []string{"LICENSE", "README.md", "VERSION", "SHA256SUMS"} {
		if len(embedded(t, f)) == 0 {
			t.Errorf("%s is empty", f)
		}
	}
	if !bytes.Contains(embedded(t, "LICENSE"), []byte("MIT License")) {
		t.Error("LICENSE is not the MIT licence")
	}
	// Nothing unexpected embedded (e.g. a leftover staging dir).
	entries, err := fs.ReadDir(files, "socket.io-client")
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 4+3*len(names) {
		t.Errorf("embedded dir has %d entries, want %d", len(entries), 4+3*len(names))
	}
}

func TestServeAll(t *testing.T) {
	s := sums(t)
	for _, name := range Names() {
		t.Run(name, func(t *testing.T) {
			w := serve(t, http.MethodGet, name, nil)
			if w.Code != http.StatusOK {
				t.Fatalf("status %d", w.Code)
			}
			h := w.Header()
			for k, v := range map[string]string{
				"Content-Type":   wantType(name),
				"Cache-Control":  "public, max-age=0",
				"ETag":           `"` + Version + `"`,
				"Vary":           "Accept-Encoding",
				"Content-Length": strconv.Itoa(w.Body.Len()),
			} {
				if got := h.Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
			if ce := h.Get("Content-Encoding"); ce != "" {
				t.Errorf("Content-Encoding = %q without Accept-Encoding", ce)
			}
			body := w.Body.Bytes()
			if !bytes.Equal(body, embedded(t, name)) {
				t.Fatal("body differs from embedded original")
			}
			sum := sha256.Sum256(body)
			if got := hex.EncodeToString(sum[:]); got != s[name] {
				t.Errorf("sha256 %s, SHA256SUMS says %s", got, s[name])
			}
			if strings.HasSuffix(name, ".js") {
				want := "//# sourceMappingURL=" + name + ".map"
				if !strings.HasSuffix(strings.TrimRight(string(body), "\r\n"), want) {
					t.Errorf("bundle does not end with %q", want)
				}
			} else if !json.Valid(body) {
				t.Error("source map is not valid JSON")
			}
		})
	}
}

func TestVersionMatchesLockfile(t *testing.T) {
	const lockfile = "../../test/interop/package-lock.json"
	data, err := os.ReadFile(lockfile)
	if errors.Is(err, fs.ErrNotExist) {
		t.Skip("!!! SKIPPED: " + lockfile + " does not exist yet; cannot check Version against the interop lockfile !!!")
	}
	if err != nil {
		t.Fatal(err)
	}
	var lock struct {
		Packages map[string]struct {
			Version string `json:"version"`
		} `json:"packages"`
	}
	if err := json.Unmarshal(data, &lock); err != nil {
		t.Fatal(err)
	}
	want := lock.Packages["node_modules/socket.io-client"].Version
	if want == "" {
		t.Fatalf("%s has no node_modules/socket.io-client version", lockfile)
	}
	if Version != want {
		t.Fatalf("embedded socket.io-client %s, lockfile has %s; run node scripts/fetch-client.mjs", Version, want)
	}
}

func TestNotModified(t *testing.T) {
	strong := `"` + Version + `"`
	cases := []struct {
		inm  string
		want int
	}{
		{strong, 304},
		{"W/" + strong, 304},
		{`"abc", ` + strong, 304},
		{`W/"abc",W/` + strong + `, "x"`, 304},
		{"*", 304},
		{`"0.0.0"`, 200},
		{`W/"0.0.0", "1.2.3"`, 200},
		{Version, 200}, // unquoted
		{`"` + Version, 200},
		{"", 200},
	}
	for _, c := range cases {
		w := serve(t, http.MethodGet, "socket.io.min.js", map[string]string{
			"If-None-Match":   c.inm,
			"Accept-Encoding": "gzip, br",
		})
		if w.Code != c.want {
			t.Errorf("If-None-Match %q: status %d, want %d", c.inm, w.Code, c.want)
			continue
		}
		h := w.Header()
		if h.Get("ETag") != strong || h.Get("Cache-Control") != "public, max-age=0" || h.Get("Vary") != "Accept-Encoding" {
			t.Errorf("If-None-Match %q: headers %v", c.inm, h)
		}
		if c.want == 304 {
			if w.Body.Len() != 0 {
				t.Errorf("304 with %d-byte body", w.Body.Len())
			}
			if h.Get("Content-Length") != "" || h.Get("Content-Encoding") != "" {
				t.Errorf("304 with entity headers %v", h)
			}
		}
	}
	// Several If-None-Match header lines.
	r := httptest.NewRequest("GET", "/socket.io/socket.io.js", nil)
	r.Header.Add("If-None-Match", `"nope"`)
	r.Header.Add("If-None-Match", "W/"+strong)
	w := httptest.NewRecorder()
	Serve(w, r, "socket.io.js")
	if w.Code != 304 {
		t.Errorf("multi-line If-None-Match: status %d", w.Code)
	}
}

func TestEncoding(t *testing.T) {
	cases := []struct {
		ae   string
		want string // "", "gzip", "br"
	}{
		{"", ""},
		{"gzip", "gzip"},
		{"x-gzip", "gzip"},
		{"GZIP", "gzip"},
		{"br", "br"},
		{"gzip, deflate, br", "br"},
		{"gzip, deflate, br, zstd", "br"},
		{"deflate", ""},
		{"identity", ""},
		{"*", "br"},
		{"br;q=0, *", "gzip"},
		{"*;q=0", ""}, // everything refused: originals anyway
		{"br;q=0, gzip;q=0", ""},
		{"br;q=0", ""},
		{"br;q=0.0, gzip", "gzip"},
		{"br;q=0.000, gzip;q=0.001", "gzip"},
		{"gzip;q=0, br", "br"},
		{"gzip;q=1.0, br;q=0.5", "gzip"},
		{"gzip;q=0.5, br;q=0.5", "br"},
		{"gzip;q=0.5", "gzip"},           // implicit identity does not beat a listed coding
		{"identity;q=1, gzip;q=0.5", ""}, // explicit identity preferred
		{"identity;q=0, gzip;q=0.5", "gzip"},
		{"br ; q=0.9 , gzip ; Q=1", "gzip"},
		{"br;q=abc, gzip", "gzip"}, // malformed q is refused
		{"br;q=1.5, gzip", "gzip"},
		{"br;level=5;q=0.2, gzip;q=0.1", "br"},
		{",,br,,", "br"},
	}
	for _, name := range []string{"socket.io.js", "socket.io.min.js.map"} {
		orig := embedded(t, name)
		for _, c := range cases {
			w := serve(t, http.MethodGet, name, map[string]string{"Accept-Encoding": c.ae})
			h := w.Header()
			body := w.Body.Bytes()
			if got := h.Get("Content-Encoding"); got != c.want {
				t.Errorf("%s Accept-Encoding %q: Content-Encoding %q, want %q", name, c.ae, got, c.want)
				continue
			}
			if h.Get("Content-Length") != strconv.Itoa(len(body)) {
				t.Errorf("%s %q: Content-Length %s for %d bytes", name, c.ae, h.Get("Content-Length"), len(body))
			}
			if h.Get("Vary") != "Accept-Encoding" || h.Get("Content-Type") != wantType(name) {
				t.Errorf("%s %q: headers %v", name, c.ae, h)
			}
			switch c.want {
			case "":
				if !bytes.Equal(body, orig) {
					t.Errorf("%s %q: identity body differs", name, c.ae)
				}
			case "gzip":
				zr, err := gzip.NewReader(bytes.NewReader(body))
				if err != nil {
					t.Fatal(err)
				}
				plain, err := io.ReadAll(zr)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(plain, orig) {
					t.Errorf("%s %q: gunzipped body differs from original", name, c.ae)
				}
				if len(body) >= len(orig) {
					t.Errorf("%s: gzip not smaller", name)
				}
			case "br":
				if !bytes.Equal(body, embedded(t, name+".br")) {
					t.Errorf("%s %q: body is not the embedded .br", name, c.ae)
				}
				if bytes.Equal(body, orig) || len(body) >= len(orig) {
					t.Errorf("%s: br body not compressed", name)
				}
				if len(body) >= len(embedded(t, name+".gz")) {
					t.Errorf("%s: br not smaller than gzip", name)
				}
			}
		}
	}
}

func TestVaryMerged(t *testing.T) {
	r := httptest.NewRequest("GET", "/socket.io/socket.io.js", nil)
	w := httptest.NewRecorder()
	w.Header().Set("Vary", "Origin")
	Serve(w, r, "socket.io.js")
	if got := w.Header().Values("Vary"); !slices.Equal(got, []string{"Origin", "Accept-Encoding"}) {
		t.Errorf("Vary = %v", got)
	}
	w = httptest.NewRecorder()
	w.Header().Set("Vary", "Origin, accept-encoding")
	Serve(w, r, "socket.io.js")
	if got := w.Header().Values("Vary"); len(got) != 1 {
		t.Errorf("Vary duplicated: %v", got)
	}
}

// recordingWriter records whether anything was done to it.
type recordingWriter struct {
	hdr     http.Header
	touched bool
	writes  [][]byte
}

func (w *recordingWriter) Header() http.Header { return w.hdr }
func (w *recordingWriter) WriteHeader(int)     { w.touched = true }
func (w *recordingWriter) Write(p []byte) (int, error) {
	w.touched = true
	w.writes = append(w.writes, p)
	return len(p), nil
}

func TestUnknownName(t *testing.T) {
	for _, name := range []string{
		"", "socket.io", "socket.io.js.gz", "socket.io.js.br", "socket.io.min.js.map.gz",
		"LICENSE", "VERSION", "README.md", "SHA256SUMS", "../VERSION", "socket.io-client/socket.io.js",
		"/socket.io.js", "socket.io.JS", "socket.io.js ", "socket.io.msgpack.js", "socket.io.esm.js",
	} {
		w := &recordingWriter{hdr: http.Header{}}
		r := httptest.NewRequest("GET", "/socket.io/x", nil)
		if Serve(w, r, name) {
			t.Errorf("Serve(%q) = true", name)
		}
		if w.touched || len(w.hdr) != 0 {
			t.Errorf("Serve(%q) wrote something: %v", name, w.hdr)
		}
	}
}

func TestMethods(t *testing.T) {
	for _, m := range []string{"GET", "POST", "PUT", "DELETE", "OPTIONS"} {
		w := serve(t, m, "socket.io.js", nil)
		if w.Code != 200 || !bytes.Equal(w.Body.Bytes(), embedded(t, "socket.io.js")) {
			t.Errorf("%s: status %d, %d bytes", m, w.Code, w.Body.Len())
		}
	}
}

func TestHEAD(t *testing.T) {
	for ae, file := range map[string]string{"": "socket.io.esm.min.js", "gzip": "socket.io.esm.min.js.gz", "br": "socket.io.esm.min.js.br"} {
		w := serve(t, http.MethodHead, "socket.io.esm.min.js", map[string]string{"Accept-Encoding": ae})
		h := w.Header()
		if w.Code != 200 || w.Body.Len() != 0 {
			t.Errorf("HEAD %q: status %d, %d body bytes", ae, w.Code, w.Body.Len())
		}
		if h.Get("Content-Length") != strconv.Itoa(len(embedded(t, file))) || h.Get("Content-Encoding") != ae ||
			h.Get("Content-Type") != wantType(file) || h.Get("ETag") == "" || h.Get("Vary") != "Accept-Encoding" {
			t.Errorf("HEAD %q: headers %v", ae, h)
		}
	}
	w := serve(t, http.MethodHead, "socket.io.js", map[string]string{"If-None-Match": `W/"` + Version + `"`})
	if w.Code != 304 {
		t.Errorf("HEAD If-None-Match: status %d", w.Code)
	}
}

// TestRealServer goes through net/http to check the headers survive a real connection.
func TestRealServer(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := strings.TrimPrefix(r.URL.Path, "/socket.io/")
		if !Serve(w, r, name) {
			http.Error(w, "fallthrough", http.StatusBadRequest)
		}
	}))
	defer srv.Close()
	client := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	defer client.CloseIdleConnections()

	for _, c := range []struct{ method, name, ae, file string }{
		{"GET", "socket.io.min.js", "", "socket.io.min.js"},
		{"GET", "socket.io.min.js", "gzip", "socket.io.min.js.gz"},
		{"GET", "socket.io.js.map", "gzip, br", "socket.io.js.map.br"},
		{"POST", "socket.io.msgpack.min.js", "br", "socket.io.msgpack.min.js.br"},
		{"HEAD", "socket.io.js", "gzip", ""},
	} {
		req, _ := http.NewRequest(c.method, srv.URL+"/socket.io/"+c.name+"?EIO=4", nil)
		if c.ae != "" {
			req.Header.Set("Accept-Encoding", c.ae)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != 200 {
			t.Fatalf("%s %s: status %d", c.method, c.name, resp.StatusCode)
		}
		if c.method == "HEAD" {
			if len(body) != 0 || resp.ContentLength != int64(len(embedded(t, "socket.io.js.gz"))) {
				t.Errorf("HEAD: %d body bytes, Content-Length %d", len(body), resp.ContentLength)
			}
			continue
		}
		if !bytes.Equal(body, embedded(t, c.file)) || resp.ContentLength != int64(len(body)) {
			t.Errorf("%s %s %q: got %d bytes (Content-Length %d), want %s", c.method, c.name, c.ae, len(body), resp.ContentLength, c.file)
		}
	}

	resp, err := client.Get(srv.URL + "/socket.io/socket.io.js.gz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Errorf("unknown name: status %d", resp.StatusCode)
	}
}

// TestNoCopy checks that the embedded bytes are written directly, without a per-request copy.
func TestNoCopy(t *testing.T) {
	for _, ae := range []string{"", "gzip", "br"} {
		w := &recordingWriter{hdr: http.Header{}}
		r := httptest.NewRequest("GET", "/socket.io/socket.io.js", nil)
		r.Header.Set("Accept-Encoding", ae)
		Serve(w, r, "socket.io.js")
		if len(w.writes) != 1 {
			t.Fatalf("%d writes", len(w.writes))
		}
		b := bundles["socket.io.js"]
		want := map[string][]byte{"": b.identity.data, "gzip": b.gzip.data, "br": b.br.data}[ae]
		if &w.writes[0][0] != &want[0] {
			t.Errorf("%q: body is a copy of the stored bytes", ae)
		}
	}
}

func TestConcurrent(t *testing.T) {
	var wg sync.WaitGroup
	for i := 0; i < 32; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			name := names[i%len(names)]
			r := httptest.NewRequest("GET", "/socket.io/"+name, nil)
			r.Header.Set("Accept-Encoding", []string{"", "gzip", "br"}[i%3])
			w := httptest.NewRecorder()
			if !Serve(w, r, name) || w.Code != 200 || w.Body.Len() == 0 {
				t.Errorf("concurrent Serve(%q) failed", name)
			}
		}(i)
	}
	wg.Wait()
}

func TestQValue(t *testing.T) {
	for s, want := range map[string]int{
		"0": 0, "0.": 0, "0.5": 500, "0.05": 50, "0.001": 1, "0.0001": 0, "1": 1000, "1.": 1000,
		"1.000": 1000, "1.001": 0, "2": 0, "": 0, "abc": 0, ".5": 0, "0.5x": 0, "-1": 0,
	} {
		if got := qvalue(s); got != want {
			t.Errorf("qvalue(%q) = %d, want %d", s, got, want)
		}
	}
}

func BenchmarkServe(b *testing.B) {
	r := httptest.NewRequest("GET", "/socket.io/socket.io.min.js", nil)
	r.Header.Set("Accept-Encoding", "gzip, deflate, br")
	w := &recordingWriter{hdr: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		clear(w.hdr)
		w.writes = w.writes[:0]
		Serve(w, r, "socket.io.min.js")
	}
}
