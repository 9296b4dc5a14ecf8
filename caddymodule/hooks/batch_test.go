package hooks_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/caddy-socketio/caddy-socketio/caddymodule/hooks"
)

// batchApp answers batches: each event is acked with its second argument.
// It records, per socket, the order of the events it got and the size of
// each batch; it checks the signature of every batch.
type batchApp struct {
	*httptest.Server
	mu      sync.Mutex
	order   map[string][]float64
	sizes   []int
	badSigs int
}

func newBatchApp(t testing.TB, secret string, delay time.Duration) *batchApp {
	a := &batchApp{order: map[string][]float64{}}
	a.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		ts, sig := r.Header.Get("X-Socketio-Timestamp"), r.Header.Get("X-Socketio-Signature")
		if hooks.Verify([]byte(secret), ts, sig, body, time.Now(), 300*time.Second) != nil || r.Header.Get("X-Socketio-Type") != "batch" {
			a.mu.Lock()
			a.badSigs++
			a.mu.Unlock()
		}
		var req hooks.BatchRequest
		if err := json.Unmarshal(body, &req); err != nil || req.Type != "batch" {
			http.Error(w, "bad batch", 400)
			return
		}
		time.Sleep(delay)
		out := hooks.BatchReply{}
		a.mu.Lock()
		a.sizes = append(a.sizes, len(req.Events))
		for _, e := range req.Events {
			var one struct {
				Type   string `json:"type"`
				Socket struct{ ID string }
				Args   []any `json:"args"`
			}
			_ = json.Unmarshal(e, &one)
			if one.Type != "event" {
				out.Replies = append(out.Replies, json.RawMessage(`null`))
				continue
			}
			n, _ := one.Args[1].(float64)
			a.order[one.Socket.ID] = append(a.order[one.Socket.ID], n)
			out.Replies = append(out.Replies, json.RawMessage(`{"ack":[`+strconv.Itoa(int(n))+`]}`))
		}
		a.mu.Unlock()
		b, _ := json.Marshal(out)
		_, _ = w.Write(b)
	}))
	t.Cleanup(a.Close)
	return a
}

// Batched delivery: events of several sockets share requests, each socket's
// arrive in order and get their own reply; the batch is signed.
func TestBatchedDelivery(t *testing.T) {
	app := newBatchApp(t, "k", 20*time.Millisecond)
	_, hs, d := setup(t, hooks.Config{Concurrency: 2, Hooks: []hooks.Hook{{URL: app.URL, Events: []string{"e"}, Secret: "k", Batch: 50}}})
	const clients, per = 10, 20
	cs := make([]*wsClient, clients)
	for i := range cs {
		cs[i] = dial(t, hs, "", nil)
		cs[i].Connect("/", "")
	}
	for j := 1; j <= per; j++ {
		for _, c := range cs {
			c.Emit("/", j, "e", "x", j)
		}
	}
	for _, c := range cs {
		for j := 1; j <= per; j++ {
			c.Expect("43" + strconv.Itoa(j) + "[" + strconv.Itoa(j) + "]")
		}
	}
	app.mu.Lock()
	defer app.mu.Unlock()
	if app.badSigs != 0 {
		t.Fatalf("%d batches without a valid signature", app.badSigs)
	}
	biggest := 0
	for _, n := range app.sizes {
		biggest = max(biggest, n)
	}
	if biggest < 2 || len(app.sizes) >= clients*per {
		t.Fatalf("batch sizes %v: nothing batched", app.sizes)
	}
	for sid, got := range app.order {
		for i, v := range got {
			if int(v) != i+1 {
				t.Fatalf("socket %s order %v", sid, got)
			}
		}
	}
	if st := d.Stats(); st.Dropped != 0 || st.Hooks[0].Errors != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// A batch reply with the wrong number of replies fails every event of the
// batch with invalid_reply.
func TestBatchedBadReply(t *testing.T) {
	up := newUpstream(t, func(hookReq) (int, string) { return 200, `{"replies":[]}` })
	_, hs, _ := setup(t, hooks.Config{Hooks: []hooks.Hook{{URL: hookURL(up), Events: []string{"e"}, Batch: 10}}})
	c := dial(t, hs, "", nil)
	c.Connect("/", "")
	c.Emit("/", 1, "e", "x", 1)
	c.Expect(`431[{"error":"hook failed","reason":"invalid_reply"}]`)
}
