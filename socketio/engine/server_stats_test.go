package engine

import (
	"net/http"
	"testing"
)

func TestStats(t *testing.T) {
	e := newEnv(t, slowPing)
	if r := e.do(http.MethodGet, "EIO=3&transport=polling", ""); r.status != http.StatusBadRequest {
		t.Fatalf("status %d", r.status)
	}
	sid, _ := e.handshake()
	if r := e.post(sid, "4hello\x1e4world"); r.status != http.StatusOK {
		t.Fatalf("post %d", r.status)
	}
	if r := e.get(sid); r.body != "4hello\x1e4world" {
		t.Fatalf("echo %q", r.body)
	}
	st := e.srv.Stats()
	want := Stats{PacketsIn: 2, BytesIn: 10, PacketsOut: 2, BytesOut: 10, RejectedHandshakes: 1,
		Opened: 1, PollingSessions: 1}
	if st != want {
		t.Fatalf("stats %+v, want %+v", st, want)
	}
}

// The session counters and the polling gauge: a polling session that
// upgrades leaves the gauge, one that closes on polling too, a websocket
// session never enters it.
func TestStatsSessions(t *testing.T) {
	e := newEnv(t, slowPing)
	sid1, s1 := e.handshake()
	_, s2 := e.handshake()
	ws, _, _ := e.wsHandshake("")
	if st := e.srv.Stats(); st.Opened != 3 || st.PollingSessions != 2 || st.Closed != 0 {
		t.Fatalf("after 3 handshakes: %+v", st)
	}
	e.upgrade(sid1, s1)
	eventually(t, "upgrade leaves the polling gauge", func() bool { return e.srv.Stats().PollingSessions == 1 })
	s2.Close(ReasonForcedClose)
	eventually(t, "close leaves the polling gauge", func() bool {
		st := e.srv.Stats()
		return st.PollingSessions == 0 && st.Closed == 1
	})
	ws.Close()
	s1.Close(ReasonForcedClose)
	eventually(t, "every session closed", func() bool {
		st := e.srv.Stats()
		return st.PollingSessions == 0 && st.Closed == 3 && st.Opened == 3
	})
}
