// Package uidist embeds and serves the official Socket.IO Admin UI: the
// built web app (ui/dist) of the @socket.io/admin-ui npm package, so that
// the dashboard can be served by the Socket.IO server itself, with no
// admin.socket.io and no internet access.
//
// The files in admin-ui/dist are unmodified third-party files (MIT, see
// admin-ui/LICENSE), fetched by scripts/fetch-admin-ui.mjs.
//
// The UI asks for the server's URL in its connection form (and remembers
// it in the browser's localStorage): on a page served by Handler, that is
// the page's own origin (its scheme, host and port), with the Socket.IO
// path under "Advanced options" when it is not /socket.io.
package uidist

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"sync"
	"time"
)

//go:embed admin-ui
var files embed.FS

// Version is the embedded @socket.io/admin-ui version, e.g. "0.5.1".
var Version string

var dist fs.FS

func init() {
	v, err := files.ReadFile("admin-ui/VERSION")
	if err != nil {
		panic("uidist: " + err.Error())
	}
	Version = strings.TrimSpace(string(v))
	if Version == "" {
		panic("uidist: empty VERSION")
	}
	dist, err = fs.Sub(files, "admin-ui/dist")
	if err != nil {
		panic("uidist: " + err.Error())
	}
}

// FS is the UI's files (index.html, css/, js/, img/, favicon.png).
func FS() fs.FS { return dist }

type file struct {
	data  []byte
	etag  string
	ctype string
}

var (
	cacheMu sync.Mutex
	cache   = map[string]*file{}
)

func lookup(name string) *file {
	cacheMu.Lock()
	defer cacheMu.Unlock()
	if f, ok := cache[name]; ok {
		return f
	}
	data, err := fs.ReadFile(dist, name)
	if err != nil {
		return nil
	}
	sum := sha256.Sum256(data)
	ctype := mime.TypeByExtension(path.Ext(name))
	if path.Ext(name) == ".map" {
		ctype = "application/json; charset=utf-8"
	}
	if ctype == "" {
		ctype = http.DetectContentType(data)
	}
	f := &file{data: data, etag: `"` + hex.EncodeToString(sum[:12]) + `"`, ctype: ctype}
	cache[name] = f
	return f
}

// Handler serves the UI under prefix (e.g. "/socket.io-admin/"): the
// prefix itself gets index.html, the prefix without its trailing slash is
// redirected to it (the page's asset paths are relative), other paths get
// the file of that name or 404. Only GET and HEAD are answered.
func Handler(prefix string) http.Handler {
	if !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		if r.URL.Path+"/" == prefix {
			target := prefix
			if r.URL.RawQuery != "" {
				target += "?" + r.URL.RawQuery
			}
			http.Redirect(w, r, target, http.StatusMovedPermanently)
			return
		}
		rest, ok := strings.CutPrefix(r.URL.Path, prefix)
		if !ok {
			http.NotFound(w, r)
			return
		}
		if rest == "" {
			rest = "index.html"
		}
		if !fs.ValidPath(rest) {
			http.NotFound(w, r)
			return
		}
		if _, err := fs.Stat(dist, rest); err != nil {
			http.NotFound(w, r) // not cached: any name can be asked for
			return
		}
		f := lookup(rest)
		if f == nil {
			http.NotFound(w, r)
			return
		}
		h := w.Header()
		h.Set("Content-Type", f.ctype)
		h.Set("ETag", f.etag)
		h.Set("Cache-Control", "no-cache")
		h.Set("X-Content-Type-Options", "nosniff")
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(f.data))
	})
}
