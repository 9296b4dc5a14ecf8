package adapter_test

import (
	"testing"

	"github.com/caddy-socketio/caddy-socketio/socketio/adapter"
	"github.com/caddy-socketio/caddy-socketio/socketio/adapter/adaptertest"
)

func TestMemory(t *testing.T) {
	adaptertest.Run(t, func(*testing.T) adaptertest.Cluster {
		return adaptertest.Cluster{NewNode: adapter.NewMemory, MaxNodes: 1}
	})
}
