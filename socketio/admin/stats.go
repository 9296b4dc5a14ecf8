package admin

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"sort"
	"sync"
	"time"
)

// counters are the engine's cumulative counters behind aggregatedEvents.
type counters struct {
	opened, closed, packetsIn, packetsOut, bytesIn, bytesOut uint64
}

// tick refreshes the server count and broadcasts this node's stats.
func (a *Instrumentation) tick(ctx context.Context) {
	cfg := a.cfg.Load()
	if cfg == nil {
		return
	}
	cctx, cancel := context.WithTimeout(ctx, cfg.interval)
	n, err := a.nsp.Adapter().ServerCount(cctx)
	cancel()
	if err != nil {
		n = 2 // unknown: keep broadcasting
	}
	a.serverCount.Store(int64(n))
	stats := a.stats(cfg, time.Now())
	if a.listened() {
		a.emit(cfg, "server_stats", stats)
	}
}

// stats builds this node's "server_stats" and moves the baseline of the
// aggregated events forward (they are counted between two ticks).
func (a *Instrumentation) stats(cfg *config, now time.Time) map[string]any {
	e := a.srv.Engine()
	st := e.Stats()
	cur := counters{st.Opened, st.Closed, st.PacketsIn, st.PacketsOut, st.BytesIn, st.BytesOut}
	a.statsMu.Lock()
	prev, had := a.baseline, a.baselineSet
	a.baseline, a.baselineSet = cur, true
	a.statsMu.Unlock()
	events := []any{}
	if had {
		ts := now.Truncate(time.Second).UnixMilli()
		for _, ev := range []struct {
			typ      string
			cur, old uint64
		}{
			{"rawConnection", cur.opened, prev.opened},
			{"rawDisconnection", cur.closed, prev.closed},
			{"packetsIn", cur.packetsIn, prev.packetsIn},
			{"packetsOut", cur.packetsOut, prev.packetsOut},
			{"bytesIn", cur.bytesIn, prev.bytesIn},
			{"bytesOut", cur.bytesOut, prev.bytesOut},
		} {
			if ev.cur > ev.old {
				events = append(events, map[string]any{"timestamp": ts, "type": ev.typ, "count": ev.cur - ev.old})
			}
		}
	}
	nsps := a.srv.Namespaces()
	sort.Slice(nsps, func(i, j int) bool { return nsps[i].Name() < nsps[j].Name() })
	namespaces := make([]any, 0, len(nsps))
	for _, n := range nsps {
		namespaces = append(namespaces, map[string]any{"name": n.Name(), "socketsCount": n.SocketCount()})
	}
	return map[string]any{
		"serverId":            cfg.serverID,
		"hostname":            a.hostname,
		"pid":                 a.pid,
		"uptime":              now.Sub(processStart).Seconds(),
		"clientsCount":        e.SessionCount(),
		"pollingClientsCount": st.PollingSessions,
		"aggregatedEvents":    events,
		"namespaces":          namespaces,
	}
}

// Sessions let the UI reconnect after a page reload without the password
// (it stores the id it got in "session" and sends it as auth.sessionId).
const (
	sessionTTL  = 24 * time.Hour // as Node's RedisStore
	maxSessions = 1024
)

// sessionStore keeps this node's admin sessions (like Node's default
// InMemoryStore, sessions are per node). Bounded: past maxSessions the
// oldest is forgotten.
type sessionStore struct {
	mu       sync.Mutex
	sessions map[string]time.Time // id → expiry
}

func newSessionStore() *sessionStore { return &sessionStore{sessions: make(map[string]time.Time)} }

func (st *sessionStore) create() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("admin: crypto/rand failed: " + err.Error())
	}
	id := hex.EncodeToString(b[:])
	now := time.Now()
	st.mu.Lock()
	defer st.mu.Unlock()
	if len(st.sessions) >= maxSessions {
		var oldest string
		var oldestExp time.Time
		for k, exp := range st.sessions {
			if now.After(exp) {
				delete(st.sessions, k)
				continue
			}
			if oldest == "" || exp.Before(oldestExp) {
				oldest, oldestExp = k, exp
			}
		}
		if len(st.sessions) >= maxSessions {
			delete(st.sessions, oldest)
		}
	}
	st.sessions[id] = now.Add(sessionTTL)
	return id
}

func (st *sessionStore) valid(id string) bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	exp, ok := st.sessions[id]
	if ok && time.Now().After(exp) {
		delete(st.sessions, id)
		return false
	}
	return ok
}
