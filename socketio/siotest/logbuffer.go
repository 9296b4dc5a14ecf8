package siotest

import (
	"bytes"
	"strings"
	"sync"
)

// LogBuffer collects a server's log output; safe for its goroutines.
type LogBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *LogBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String returns everything logged so far.
func (l *LogBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Count returns how often substr was logged.
func (l *LogBuffer) Count(substr string) int { return strings.Count(l.String(), substr) }
