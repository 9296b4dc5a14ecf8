package load

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// RaiseNoFile lifts the soft RLIMIT_NOFILE to the hard limit and returns it.
func RaiseNoFile() (uint64, error) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0, err
	}
	if rl.Cur < rl.Max {
		rl.Cur = rl.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
			return 0, err
		}
	}
	return rl.Cur, nil
}

// ParseSources reads "127.0.0.2-127.0.0.9" (a range in the last octet),
// "127.0.0.2,127.0.0.3", or a mix of both; empty gives nil. Only loopback
// addresses are accepted: every run stays on this machine.
func ParseSources(s string) ([]net.IP, error) {
	var ips []net.IP
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		lo, hi, isRange := strings.Cut(part, "-")
		first := net.ParseIP(lo).To4()
		if first == nil || !first.IsLoopback() {
			return nil, fmt.Errorf("source %q: want a 127.x.y.z address", lo)
		}
		if !isRange {
			ips = append(ips, first)
			continue
		}
		last := net.ParseIP(hi).To4()
		if last == nil || !bytes.Equal(first[:3], last[:3]) || last[3] < first[3] {
			return nil, fmt.Errorf("source range %q: want a.b.c.x-a.b.c.y with x <= y", part)
		}
		for o := int(first[3]); o <= int(last[3]); o++ {
			ip := net.IPv4(first[0], first[1], first[2], byte(o)).To4()
			ips = append(ips, ip)
		}
	}
	return ips, nil
}

// RSSKB reads VmRSS of process pid from /proc, in KiB.
func RSSKB(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest)
			if len(f) == 0 {
				break
			}
			return strconv.ParseInt(f[0], 10, 64)
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
}

// clockTicks is USER_HZ, 100 on every Linux architecture Go supports.
const clockTicks = 100

// procCPU returns the user+system CPU time of process pid from /proc.
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// Fields after the command name, which is in parentheses and may hold spaces.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("bad /proc/%d/stat", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("bad /proc/%d/stat", pid)
	}
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("bad /proc/%d/stat", pid)
	}
	return time.Duration(ut+st) * time.Second / clockTicks, nil
}

func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// cpuMark is a point in time with the CPU used so far by this process and by
// the server (when its pid is known).
type cpuMark struct {
	at     time.Time
	self   time.Duration
	server time.Duration
	hasSrv bool
}

func markCPU(serverPID int) cpuMark {
	m := cpuMark{at: time.Now(), self: selfCPU()}
	if serverPID > 0 {
		if d, err := procCPU(serverPID); err == nil {
			m.server, m.hasSrv = d, true
		}
	}
	return m
}

// cpuSince gives the cores used (CPU seconds per wall second) by this process
// and by the server between a and b; server is -1 when unknown.
func cpuSince(a, b cpuMark) (client, server float64) {
	wall := b.at.Sub(a.at).Seconds()
	if wall <= 0 {
		return 0, -1
	}
	client = (b.self - a.self).Seconds() / wall
	server = -1
	if a.hasSrv && b.hasSrv {
		server = (b.server - a.server).Seconds() / wall
	}
	return client, server
}
