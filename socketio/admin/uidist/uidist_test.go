package uidist

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// The embedded files are the ones SHA256SUMS lists, byte for byte.
func TestFilesMatchSums(t *testing.T) {
	sums, err := files.Open("admin-ui/SHA256SUMS")
	if err != nil {
		t.Fatal(err)
	}
	defer sums.Close()
	n := 0
	sc := bufio.NewScanner(sums)
	for sc.Scan() {
		want, name, ok := strings.Cut(sc.Text(), "  ")
		if !ok {
			t.Fatalf("line %q", sc.Text())
		}
		data, err := files.ReadFile("admin-ui/" + name)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(data)
		if hex.EncodeToString(sum[:]) != want {
			t.Errorf("%s differs from SHA256SUMS", name)
		}
		n++
	}
	if n < 5 {
		t.Fatalf("only %d files listed", n)
	}
}

func TestHandler(t *testing.T) {
	hs := httptest.NewServer(Handler("/ui/"))
	defer hs.Close()
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	res, err := noRedirect.Get(hs.URL + "/ui")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusMovedPermanently || res.Header.Get("Location") != "/ui/" {
		t.Fatalf("/ui: %d %q", res.StatusCode, res.Header.Get("Location"))
	}

	index, _ := files.ReadFile("admin-ui/dist/index.html")
	res, err = http.Get(hs.URL + "/ui/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || string(body) != string(index) || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("/ui/: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	etag := res.Header.Get("ETag")
	req, _ := http.NewRequest("GET", hs.URL+"/ui/index.html", nil)
	req.Header.Set("If-None-Match", etag)
	res, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusNotModified {
		t.Fatalf("revalidation: %d", res.StatusCode)
	}

	for path, status := range map[string]int{
		"/ui/favicon.png":     200,
		"/ui/nope.js":         404,
		"/ui/../admin-ui":     404,
		"/ui/css/":            404,
		"/elsewhere/index.js": 404,
	} {
		res, err := http.Get(hs.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != status {
			t.Errorf("%s: %d, want %d", path, res.StatusCode, status)
		}
	}
	res, err = http.Post(hs.URL+"/ui/", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("POST: %d", res.StatusCode)
	}
}
