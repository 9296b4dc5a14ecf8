// Package caddytest runs Caddy in-process for tests (caddy.Load) with the
// admin endpoint off and listeners on 127.0.0.1. Caddy has one running
// config per process, so tests that use it must not run in parallel.
package caddytest

import (
	"fmt"
	"net"
	"os"
	"sync"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	_ "github.com/caddyserver/caddy/v2/caddyconfig/caddyfile" // the caddyfile adapter
)

var (
	storageOnce sync.Once
	storagePath string
	storageErr  error
)

// StorageDir is Caddy's storage for the tests of this process, shared by
// all of them: Caddy cleans its storage in the background, possibly after a
// test ended, so a per-test t.TempDir could not be removed. RemoveStorage
// removes it (from TestMain).
func StorageDir(tb testing.TB) string {
	storageOnce.Do(func() { storagePath, storageErr = os.MkdirTemp("", "caddy-test-") })
	if storageErr != nil {
		tb.Fatal(storageErr)
	}
	return storagePath
}

// RemoveStorage removes StorageDir, if it was created.
func RemoveStorage() {
	if storagePath != "" {
		_ = os.RemoveAll(storagePath)
	}
}

// FreePort is a free TCP port on 127.0.0.1.
func FreePort(tb testing.TB) int {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// LoadCaddyfile adapts sites with test global options (admin off, no
// automatic HTTPS, errors-only logs, StorageDir) and loads them into the
// in-process Caddy. The sites bind their listeners themselves.
func LoadCaddyfile(tb testing.TB, sites string) error {
	tb.Helper()
	src := fmt.Sprintf(`{
	admin off
	persist_config off
	auto_https off
	storage file_system %s
	log {
		level ERROR
	}
}
%s`, StorageDir(tb), sites)
	cfg, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(src), nil)
	if err != nil {
		tb.Fatalf("adapt: %v\n%s", err, src)
	}
	return caddy.Load(cfg, true)
}
