//go:build unix

package caddymodule

import "syscall"

// openFileLimit is the process's soft limit on open files (Go raises it to
// the hard limit at start-up), or 0 when unknown or unlimited (RLIM_INFINITY).
func openFileLimit() uint64 {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil || rl.Cur >= 1<<62 {
		return 0
	}
	return uint64(rl.Cur)
}
