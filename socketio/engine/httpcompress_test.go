package engine

import (
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"io"
	"net/http"
	"strings"
	"testing"
)

func TestAcceptedEncoding(t *testing.T) {
	for h, want := range map[string]string{
		"":                        "",
		"gzip, deflate, br":       "gzip",
		"deflate":                 "deflate",
		"br, deflate;q=0.5":       "deflate",
		"gzip;q=0, deflate":       "deflate",
		"GZIP":                    "gzip",
		"identity":                "",
		"gzip;q=0":                "",
		"*":                       "gzip",
		"deflate;q=1.0, gzip;q=0": "deflate",
	} {
		if got := acceptedEncoding(h); got != want {
			t.Errorf("%q: %q, want %q", h, got, want)
		}
	}
}

func TestHTTPCompressionOfPolling(t *testing.T) {
	big := strings.Repeat("a compressible message ", 100) // 2.3 KB
	for _, tc := range []struct {
		name, accept, enc string
		on                bool
	}{
		{"off", "gzip", "", false},
		{"gzip", "gzip, deflate", "gzip", true},
		{"deflate", "deflate", "deflate", true},
		{"no accept", "", "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, func(c *Config) { c.HTTPCompression = tc.on; slowPing(c) })
			sid, s := e.handshake()
			if err := s.Send(Message{Data: []byte(big)}, Message{Data: []byte("small")}); err != nil {
				t.Fatal(err)
			}
			req, _ := http.NewRequest("GET", e.base+"?EIO=4&transport=polling&sid="+sid, nil)
			if tc.accept != "" {
				req.Header.Set("Accept-Encoding", tc.accept)
			}
			tr := &http.Transport{DisableCompression: true}
			defer tr.CloseIdleConnections()
			res, err := (&http.Client{Transport: tr}).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			raw, _ := io.ReadAll(res.Body)
			if got := res.Header.Get("Content-Encoding"); got != tc.enc {
				t.Fatalf("Content-Encoding %q, want %q", got, tc.enc)
			}
			body := raw
			switch tc.enc {
			case "gzip":
				zr, err := gzip.NewReader(bytes.NewReader(raw))
				if err != nil {
					t.Fatal(err)
				}
				body, _ = io.ReadAll(zr)
			case "deflate":
				zr, err := zlib.NewReader(bytes.NewReader(raw))
				if err != nil {
					t.Fatal(err)
				}
				body, _ = io.ReadAll(zr)
			}
			if want := "4" + big + "\x1e4small"; string(body) != want {
				t.Fatalf("body %q", body)
			}
			if tc.enc != "" && len(raw)*4 > len(body) {
				t.Fatalf("%d bytes compressed to %d", len(body), len(raw))
			}
			// Below the threshold: not compressed.
			_ = s.Send(Message{Data: []byte("tiny")})
			res2, err := (&http.Client{Transport: tr}).Do(req.Clone(req.Context()))
			if err != nil {
				t.Fatal(err)
			}
			b2, _ := io.ReadAll(res2.Body)
			res2.Body.Close()
			if res2.Header.Get("Content-Encoding") != "" || string(b2) != "4tiny" {
				t.Fatalf("small answer: %q %q", res2.Header.Get("Content-Encoding"), b2)
			}
		})
	}
}
