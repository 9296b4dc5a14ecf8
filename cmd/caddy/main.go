// Command caddy is Caddy with its standard modules and the Socket.IO module
// (http.handlers.socketio), as xcaddy would build it:
//
//	go run ./cmd/caddy run --config Caddyfile.example
package main

import (
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	_ "github.com/caddy-socketio/caddy-socketio/caddymodule"
	_ "github.com/caddyserver/caddy/v2/modules/standard"
)

func main() {
	caddycmd.Main()
}
