package caddymodule

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"

	"github.com/caddyserver/caddy/v2"

	sioapi "github.com/caddy-socketio/caddy-socketio/caddymodule/api"
)

func init() {
	caddy.RegisterModule(AdminAPI{})
}

// AdminAPI serves the operations of the Socket.IO HTTP API on Caddy's admin
// endpoint (default localhost:2019), for every live hub, without a token:
// the admin endpoint is already local and privileged.
//
//	GET  /socketio/                         the live hubs
//	POST /socketio/emit?hub=<name>          the API's /emit
//	POST /socketio/join|leave|disconnect?hub=<name>
//	GET  /socketio/sockets?hub=<name>&namespace=/chat[&room=r]
//	GET  /socketio/rooms?hub=<name>[&namespace=/chat]
//
// The request and answer bodies are the API's (docs/webhooks.md). hub is
// the hub name (the `hub` subdirective, or the handler's path, e.g.
// /socket.io/, by default); it may be left out when only one hub is live.
type AdminAPI struct{}

// CaddyModule returns the Caddy module information.
func (AdminAPI) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "admin.api.socketio",
		New: func() caddy.Module { return new(AdminAPI) },
	}
}

// Routes returns the admin routes.
func (a *AdminAPI) Routes() []caddy.AdminRoute {
	return []caddy.AdminRoute{{Pattern: "/socketio/", Handler: caddy.AdminHandlerFunc(a.serve)}}
}

type adminHub struct {
	Hub      string `json:"hub"`
	Sessions int    `json:"sessions"`
	Hooks    int    `json:"hooks"`
}

func (a *AdminAPI) serve(w http.ResponseWriter, r *http.Request) error {
	op := strings.Trim(strings.TrimPrefix(r.URL.Path, "/socketio/"), "/")
	if op == "" || op == "hubs" {
		if r.Method != http.MethodGet {
			return caddy.APIError{HTTPStatus: http.StatusMethodNotAllowed, Err: fmt.Errorf("use GET")}
		}
		list := []adminHub{}
		hubs.Range(func(_, v any) bool {
			if hb, ok := v.(*hub); ok {
				e := adminHub{Hub: hb.name, Sessions: hb.srv.Engine().SessionCount()}
				if hb.dispatcher != nil {
					e.Hooks = len(hb.dispatcher.Stats().Hooks)
				}
				list = append(list, e)
			}
			return true
		})
		sort.Slice(list, func(i, j int) bool { return list[i].Hub < list[j].Hub })
		w.Header().Set("Content-Type", "application/json")
		return json.NewEncoder(w).Encode(list)
	}
	q := r.URL.Query()
	name, named := q.Get("hub"), q.Has("hub")
	q.Del("hub")
	hb, err := findHub(name, named)
	if err != nil {
		return err
	}
	r2 := r.Clone(r.Context())
	r2.URL.Path, r2.URL.RawPath = "/"+op, ""
	r2.URL.RawQuery = q.Encode()
	hb.adminAPI().ServeHTTP(w, r2)
	return nil
}

// trustedAPI is a hub's API handler for the admin endpoint: Caddy has
// already admitted the request (the endpoint is local and privileged), so
// it checks no token.
func trustedAPI(hb *hub) func() http.Handler {
	return sync.OnceValue(func() http.Handler {
		return countAPI(hb.name, sioapi.NewTrusted(hb.srv, sioapi.WithLogger(hb.log), sioapi.WithHeaderFilter(hb.headers.Load)))
	})
}

// findHub returns the live hub of that name, or the only live hub when no
// name is given.
func findHub(name string, named bool) (*hub, error) {
	var found []*hub
	names := map[string]bool{}
	hubs.Range(func(_, v any) bool {
		if hb, ok := v.(*hub); ok {
			names[hb.name] = true
			if !named || hb.name == name {
				found = append(found, hb)
			}
		}
		return true
	})
	switch {
	case len(found) == 1:
		return found[0], nil
	case len(found) == 0 && named:
		return nil, caddy.APIError{HTTPStatus: http.StatusNotFound, Err: fmt.Errorf("no live hub named %q", name)}
	case len(found) == 0:
		return nil, caddy.APIError{HTTPStatus: http.StatusNotFound, Err: fmt.Errorf("no live hub")}
	case !named && len(names) > 1:
		return nil, caddy.APIError{HTTPStatus: http.StatusBadRequest, Err: fmt.Errorf("several hubs are live: choose one with ?hub=<name> (GET /socketio/ lists them)")}
	default:
		// The same name twice: a new hub is replacing one whose fixed
		// settings changed.
		return nil, caddy.APIError{HTTPStatus: http.StatusConflict, Err: fmt.Errorf("hub %q is being replaced; retry", found[0].name)}
	}
}

var _ caddy.AdminRouter = (*AdminAPI)(nil)
