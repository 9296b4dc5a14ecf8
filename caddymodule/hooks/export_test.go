package hooks

import "time"

// SetPendingTimeout shortens pendingTimeout for a test and restores it.
func SetPendingTimeout(d time.Duration) (restore func()) {
	old := pendingTimeout
	pendingTimeout = d
	return func() { pendingTimeout = old }
}
