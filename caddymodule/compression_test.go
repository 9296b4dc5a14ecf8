package caddymodule

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/gorilla/websocket"

	"github.com/caddy-socketio/caddy-socketio/caddymodule/caddytest"
)

// In Caddy, polling responses are compressed by `encode` (the library's
// HTTPCompression stays off); allow_eio3 admits Engine.IO v3 clients and
// websocket_compression negotiates permessage-deflate.
func TestCaddyCompressionAndEIO3(t *testing.T) {
	port := caddytest.FreePort(t)
	t.Cleanup(func() { stopCaddy(t) })
	greet := strings.Repeat("x", 2000)
	err := caddytest.LoadCaddyfile(t, fmt.Sprintf(`http://:%d {
	bind 127.0.0.1
	encode gzip
	socketio {
		allow_eio3 on
		websocket_compression on
		namespace / {
			greet hello "%s"
		}
	}
}
`, port, greet))
	if err != nil {
		t.Fatal(err)
	}
	base := fmt.Sprintf("http://127.0.0.1:%d/socket.io/", port)
	tr := &http.Transport{DisableCompression: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	get := func(q string) (*http.Response, []byte) {
		t.Helper()
		req, _ := http.NewRequest("GET", base+"?"+q, nil)
		req.Header.Set("Accept-Encoding", "gzip")
		res, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		if res.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(bytes.NewReader(b))
			if err != nil {
				t.Fatal(err)
			}
			b, _ = io.ReadAll(zr)
		}
		return res, b
	}

	// v3 polling: "/" is joined without a CONNECT, so the handshake answer
	// already carries the CONNECT and the 2 KB greeting: gzipped by encode.
	res, body := get("EIO=3&transport=polling&b64=1")
	if res.StatusCode != 200 || res.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("v3 handshake: %d, Content-Encoding %q", res.StatusCode, res.Header.Get("Content-Encoding"))
	}
	if !strings.Contains(string(body), `:0{"sid":`) || !strings.Contains(string(body), `2:40`) || !strings.Contains(string(body), greet) {
		t.Fatalf("v3 handshake body %.200q", body)
	}

	// websocket_compression through Caddy.
	d := websocket.Dialer{EnableCompression: true}
	c, wres, err := d.Dial(fmt.Sprintf("ws://127.0.0.1:%d/socket.io/?EIO=4&transport=websocket", port), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if ext := wres.Header.Get("Sec-Websocket-Extensions"); !strings.HasPrefix(ext, "permessage-deflate") {
		t.Fatalf("extensions %q", ext)
	}
	if _, _, err := c.ReadMessage(); err != nil { // open
		t.Fatal(err)
	}
	if err := c.WriteMessage(websocket.TextMessage, []byte("40")); err != nil {
		t.Fatal(err)
	}
	var got []string
	for i := 0; i < 3 && len(got) < 2; i++ {
		_, m, err := c.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, string(m))
	}
	if len(got) < 2 || !strings.HasPrefix(got[0], "40") || !strings.Contains(got[1], greet) {
		t.Fatalf("frames %.300q", got)
	}
}
