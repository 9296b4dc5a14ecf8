package engine

import (
	"net/http"
	"strconv"
	"strings"
)

// CORS like Node's `cors` package in front of every engine request
// (github.com/socketio/engine.io-protocol).

func (srv *Server) corsEnabled() bool { return len(srv.cfg.CORS.Origins) > 0 }

// corsHeaders adds the headers of a simple (non-preflight) request.
func (srv *Server) corsHeaders(w http.ResponseWriter, r *http.Request) {
	c := &srv.cfg.CORS
	h := w.Header()
	srv.corsOrigin(h, r)
	if c.Credentials {
		h.Set("Access-Control-Allow-Credentials", "true")
	}
	if len(c.ExposedHeaders) > 0 {
		h.Set("Access-Control-Expose-Headers", strings.Join(c.ExposedHeaders, ","))
	}
}

func (srv *Server) corsOrigin(h http.Header, r *http.Request) {
	c := &srv.cfg.CORS
	anyOrigin := contains(c.Origins, "*")
	if anyOrigin && !c.Credentials {
		h.Set("Access-Control-Allow-Origin", "*")
		return
	}
	// A list: echo the request Origin when allowed. With credentials "*"
	// echoes any Origin, since browsers refuse "*" with credentials.
	if o := r.Header.Get("Origin"); o != "" && (anyOrigin || contains(c.Origins, o)) {
		h.Set("Access-Control-Allow-Origin", o)
	}
	h.Add("Vary", "Origin")
}

// preflight answers any OPTIONS request: 204 with the CORS headers.
func (srv *Server) preflight(w http.ResponseWriter, r *http.Request) {
	c := &srv.cfg.CORS
	h := w.Header()
	srv.corsOrigin(h, r)
	if c.Credentials {
		h.Set("Access-Control-Allow-Credentials", "true")
	}
	h.Set("Access-Control-Allow-Methods", strings.Join(c.Methods, ","))
	if len(c.Headers) > 0 {
		h.Set("Access-Control-Allow-Headers", strings.Join(c.Headers, ","))
	} else {
		if req := r.Header.Get("Access-Control-Request-Headers"); req != "" {
			h.Set("Access-Control-Allow-Headers", req)
		}
		h.Add("Vary", "Access-Control-Request-Headers")
	}
	if c.MaxAge > 0 {
		h.Set("Access-Control-Max-Age", strconv.FormatInt(int64(c.MaxAge.Seconds()), 10))
	}
	if len(c.ExposedHeaders) > 0 {
		h.Set("Access-Control-Expose-Headers", strings.Join(c.ExposedHeaders, ","))
	}
	writeEmpty(w, http.StatusNoContent)
}
