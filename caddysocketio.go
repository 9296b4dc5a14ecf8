// Package caddysocketio lets `xcaddy build --with
// github.com/caddy-socketio/caddy-socketio` work: importing the module's root
// registers the Caddy module, which lives in caddymodule.
package caddysocketio

import _ "github.com/caddy-socketio/caddy-socketio/caddymodule"
