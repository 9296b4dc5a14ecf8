package hooks

import (
	"strings"

	"github.com/caddy-socketio/caddy-socketio/socketio"
)

// RedactedHeaders are the handshake headers an application does not see
// by default (in hook requests and the HTTP API's socket listings): they
// carry the client's credentials for this site.
var RedactedHeaders = []string{"cookie", "authorization", "proxy-authorization"}

// HeaderFilter decides which handshake headers an application sees. The
// nil filter and NewHeaderFilter(nil) drop RedactedHeaders; a list passes
// those headers only (names compared case-insensitively), and a list of
// "*" passes every header.
type HeaderFilter struct {
	all   bool
	allow map[string]bool // nil: everything but RedactedHeaders
}

// NewHeaderFilter returns the filter for a forward_headers list.
func NewHeaderFilter(names []string) *HeaderFilter {
	if len(names) == 0 {
		return nil
	}
	f := &HeaderFilter{allow: make(map[string]bool, len(names))}
	for _, n := range names {
		if n == "*" {
			return &HeaderFilter{all: true}
		}
		f.allow[strings.ToLower(n)] = true
	}
	return f
}

func (f *HeaderFilter) keeps(name string) bool {
	switch {
	case f == nil:
		for _, r := range RedactedHeaders {
			if name == r {
				return false
			}
		}
		return true
	case f.all:
		return true
	}
	return f.allow[name]
}

// Handshake returns hs with the headers the filter drops left out: hs
// itself when it keeps them all, else a copy (hs is shared by the socket
// and never modified).
func (f *HeaderFilter) Handshake(hs *socketio.Handshake) *socketio.Handshake {
	if hs == nil {
		return nil
	}
	drop := false
	for k := range hs.Headers {
		if !f.keeps(k) {
			drop = true
			break
		}
	}
	if !drop {
		return hs
	}
	out := *hs
	out.Headers = make(map[string]string, len(hs.Headers))
	for k, v := range hs.Headers {
		if f.keeps(k) {
			out.Headers[k] = v
		}
	}
	return &out
}
