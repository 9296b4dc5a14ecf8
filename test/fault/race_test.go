//go:build race

package fault_test

// raceEnabled: the race detector slows everything 5-10x, so the tests run
// their reduced sizes (see size).
const raceEnabled = true
