package caddymodule

import (
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-socketio/caddy-socketio/caddymodule/caddytest"
	"github.com/caddy-socketio/caddy-socketio/socketio/adapter"
	"github.com/caddy-socketio/caddy-socketio/socketio/siotest"
)

// countingAdapter is a third-party adapter module, as another Go module
// would write one: the memory adapter, counting what the hub asks of it.
type countingAdapter struct {
	Label string `json:"label,omitempty"`
}

var countingStats struct{ opened, namespaces, closed atomic.Int64 }

func init() { caddy.RegisterModule(countingAdapter{}) }

func (countingAdapter) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "socketio.adapters.counting", New: func() caddy.Module { return new(countingAdapter) }}
}

func (a *countingAdapter) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the adapter's name
	if !d.AllArgs(&a.Label) {
		return d.ArgErr()
	}
	return nil
}

func (a *countingAdapter) Identity() string { return "counting " + a.Label }

func (a *countingAdapter) Open(*slog.Logger) (HubAdapter, error) {
	countingStats.opened.Add(1)
	return countingHub{}, nil
}

type countingHub struct{}

func (countingHub) Factory() adapter.Factory {
	return func(n adapter.Namespace) (adapter.Adapter, error) {
		countingStats.namespaces.Add(1)
		return adapter.NewMemory(n)
	}
}

func (countingHub) Close() error { countingStats.closed.Add(1); return nil }

// TestThirdPartyAdapter: a module of the socketio.adapters namespace,
// configured in the Caddyfile, serves the hub's namespaces and is closed
// with the hub.
func TestThirdPartyAdapter(t *testing.T) {
	port := caddytest.FreePort(t)
	conf := site(port, "socketio {\n\tadapter counting blue\n}")
	if err := caddytest.LoadCaddyfile(t, conf); err != nil {
		t.Fatal(err)
	}
	if n := countingStats.opened.Load(); n != 1 {
		t.Fatalf("opened %d times", n)
	}
	// Dial connects to "/" (its CONNECT is answered through the adapter).
	c := siotest.Dial(t, fmt.Sprintf("127.0.0.1:%d", port), "/socket.io/")
	defer c.Conn.Close()
	if c.SocketID == "" {
		t.Fatal("no socket id")
	}
	if countingStats.namespaces.Load() < 1 {
		t.Fatal("the adapter's factory made no namespace adapter")
	}
	stopCaddy(t)
	if n := countingStats.closed.Load(); n != 1 {
		t.Fatalf("closed %d times", n)
	}
	if err := new(Handler).UnmarshalCaddyfile(caddyfile.NewTestDispenser("socketio {\n adapter nosuch\n}")); err == nil ||
		!strings.Contains(err.Error(), "unknown adapter") {
		t.Fatalf("unknown adapter: %v", err)
	}
}
