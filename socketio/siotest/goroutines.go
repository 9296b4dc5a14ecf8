package siotest

import (
	"runtime"
	"testing"
	"time"
)

// SettledGoroutines counts goroutines once exiting ones had time to end
// (two equal counts 20 ms apart, at most a second).
func SettledGoroutines() int {
	n := runtime.NumGoroutine()
	for i := 0; i < 50; i++ {
		time.Sleep(20 * time.Millisecond)
		m := runtime.NumGoroutine()
		if m == n {
			return m
		}
		n = m
	}
	return n
}

// WaitGoroutines waits, at most d, until there are at most max goroutines,
// and fails with every stack otherwise. Waiting matters: idle websocket read
// workers linger for up to 2 s before they exit.
func WaitGoroutines(tb testing.TB, max int, d time.Duration) {
	tb.Helper()
	deadline := time.Now().Add(d)
	for {
		n := SettledGoroutines()
		if n <= max {
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			tb.Fatalf("%d goroutines, want at most %d; stacks:\n%s", n, max, buf)
		}
	}
}

// HeapInUse is the heap in use after two collections.
func HeapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}
