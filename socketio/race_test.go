//go:build race

package socketio_test

// raceEnabled: the race detector makes sync.Pool drop a quarter of what is
// put in it, so allocation counts mean nothing under -race.
const raceEnabled = true
