package api_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/caddy-socketio/caddy-socketio/socketio/siotest"
)

// waitFor bounds every wait of these tests.
const waitFor = siotest.Wait

// wsClient speaks raw Engine.IO/Socket.IO frames over a websocket.
type wsClient = siotest.WSClient

func dial(t testing.TB, hs *httptest.Server, query string, header http.Header) *wsClient {
	t.Helper()
	return siotest.DialWS(t, hs.URL, query, header)
}
