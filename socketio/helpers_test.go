package socketio_test

import (
	"flag"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/caddy-socketio/caddy-socketio/socketio"
	"github.com/caddy-socketio/caddy-socketio/socketio/siotest"
)

// newTestServer serves srv on 127.0.0.1 for the test's lifetime.
func newTestServer(t *testing.T, opts *socketio.Options) (*socketio.Server, *httptest.Server) {
	t.Helper()
	if opts == nil {
		opts = &socketio.Options{}
	}
	if opts.Engine.PingInterval == 0 {
		opts.Engine.PingInterval = time.Second
		opts.Engine.PingTimeout = time.Second
	}
	srv := socketio.NewServer(opts)
	hs := httptest.NewServer(srv)
	t.Cleanup(func() {
		_ = srv.Close()
		hs.Close()
	})
	return srv, hs
}

// wsClient speaks raw Engine.IO/Socket.IO frames over a websocket.
type wsClient = siotest.WSClient

func dialWS(t *testing.T, hs *httptest.Server) *wsClient {
	t.Helper()
	return siotest.DialWS(t, hs.URL, "", nil)
}

var cycles = flag.Int("cycles", 1500, "connect/disconnect cycles of TestNoLeakAcrossConnectCycles")
