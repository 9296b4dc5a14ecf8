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
	want := Stats{PacketsIn: 2, BytesIn: 10, PacketsOut: 2, BytesOut: 10, RejectedHandshakes: 1}
	if st != want {
		t.Fatalf("stats %+v, want %+v", st, want)
	}
}
