//go:build !unix

package caddymodule

// openFileLimit: no file limit to derive a connection limit from here.
func openFileLimit() uint64 { return 0 }
