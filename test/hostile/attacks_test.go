package hostile

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// pollingHandshake opens a polling session and returns its sid.
func pollingHandshake(p *caddyProc, header http.Header) (string, int, error) {
	req, _ := http.NewRequest("GET", p.URL+"/socket.io/?EIO=4&transport=polling", nil)
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", 0, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return "", resp.StatusCode, nil
	}
	var open struct{ Sid string }
	if !bytes.HasPrefix(body, []byte("0{")) || json.Unmarshal(body[1:bytes.IndexByte(body, '}')+1], &open) != nil {
		return "", resp.StatusCode, fmt.Errorf("open packet %q", body)
	}
	return open.Sid, 200, nil
}

// Attack 1: CONNECT/DISCONNECT to ever new dynamic namespaces, from many
// websockets. Each namespace must go with its last socket; the connect
// rate per connection bounds the churn.
func TestDynamicNamespaceChurn(t *testing.T) {
	p := startCaddy(t, defaultSocketio)
	k := newCanary(t, p, "/room-0")
	var accepted, refused atomic.Int64
	watch(t, p, k, 30*time.Second, func(stop <-chan struct{}) {
		var wg sync.WaitGroup
		for w := range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c, _, err := dialRaw(p.addr(), nil)
				if err != nil {
					t.Errorf("dial: %v", err)
					return
				}
				defer c.Close()
				_ = c.conn.SetReadDeadline(time.Now().Add(28 * time.Second))
				end := time.Now().Add(15 * time.Second)
				for i := range 1000 {
					if time.Now().After(end) {
						return
					}
					select {
					case <-stop:
						return
					default:
					}
					name := fmt.Sprintf("/room-%d", 1_000_000+w*1000+i)
					if c.sendText("40"+name+",") != nil {
						return
					}
					reply, err := c.packet()
					if err != nil {
						return
					}
					if !strings.HasPrefix(reply, "40"+name+",") {
						refused.Add(1)
						time.Sleep(100 * time.Millisecond) // namespace_connect_rate: wait for a token
						continue
					}
					accepted.Add(1)
					if c.sendText("41"+name+",") != nil {
						return
					}
				}
			}()
		}
		wg.Wait()
	})
	t.Logf("%d namespaces joined and left, %d connects refused", accepted.Load(), refused.Load())
	if accepted.Load() < 2000 {
		t.Fatalf("attack joined only %d namespaces", accepted.Load())
	}
}

// Attack 1b: namespaces held open beyond max_dynamic_namespaces (lowered
// to 100 here) are refused; the others work.
func TestMaxDynamicNamespacesRefuses(t *testing.T) {
	p := startCaddy(t, strings.Replace(defaultSocketio, "socketio {", "socketio {\n\t\tlimits {\n\t\t\tmax_dynamic_namespaces 100\n\t\t}", 1))
	k := newCanary(t, p, "/room-0") // holds one
	var ok, full atomic.Int64
	watch(t, p, k, 30*time.Second, func(stop <-chan struct{}) {
		var wg sync.WaitGroup
		var held sync.WaitGroup // connections stay until all made their connects
		held.Add(8)
		for w := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c, _, err := dialRaw(p.addr(), nil)
				if err != nil {
					t.Errorf("dial: %v", err)
					held.Done()
					return
				}
				defer c.Close()
				defer held.Wait()
				defer held.Done()
				_ = c.conn.SetReadDeadline(time.Now().Add(20 * time.Second))
				for i := range 20 {
					name := fmt.Sprintf("/room-%d", 1+w*20+i)
					if c.sendText("40"+name+",") != nil {
						return
					}
					s, err := c.packet()
					if err != nil {
						return
					}
					switch {
					case strings.HasPrefix(s, "40"+name+","):
						ok.Add(1)
					case strings.Contains(s, "Too many dynamic namespaces"):
						full.Add(1)
					default:
						t.Errorf("unexpected reply %q", s)
					}
				}
			}()
		}
		wg.Wait()
	})
	t.Logf("%d namespaces created, %d refused", ok.Load(), full.Load())
	if ok.Load() != 99 || full.Load() != 160-99 {
		t.Fatalf("%d accepted, %d refused; want 99 (100 with the canary's) and 61", ok.Load(), full.Load())
	}
}

// Attack 2: websocket pings, never reading the pongs.
func TestPingFloodWithoutReading(t *testing.T) {
	p := startCaddy(t, defaultSocketio)
	k := newCanary(t, p, "/")
	var sent atomic.Int64
	watch(t, p, k, 30*time.Second, func(stop <-chan struct{}) {
		c, _, err := dialRaw(p.addr(), nil)
		if err != nil {
			t.Errorf("dial: %v", err)
			return
		}
		defer c.Close()
		ping := frame(9, true, nil)
		batch := bytes.Repeat(ping, 64<<10/len(ping))
		for range 400 { // 400 × 64 KiB = 25 MiB of empty pings
			select {
			case <-stop:
				return
			default:
			}
			if c.write(batch, 5*time.Second) != nil {
				return // the server stopped reading: backpressure, fine
			}
			sent.Add(int64(len(batch)))
		}
		time.Sleep(time.Second) // let the server take it all in
	})
	if sent.Load() == 0 {
		t.Fatal("no ping got through")
	}
	t.Logf("%d MB of pings sent", sent.Load()>>20)
}

// Attack 3: polling POSTs that announce 1 MB and send 2 bytes, ×200.
func TestPollingPostSlowBody(t *testing.T) {
	p := startCaddy(t, defaultSocketio)
	k := newCanary(t, p, "/")
	var held atomic.Int64
	var conns []net.Conn
	var mu sync.Mutex
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	watch(t, p, k, 30*time.Second, func(stop <-chan struct{}) {
		for range 200 {
			sid, _, err := pollingHandshake(p, nil)
			if err != nil || sid == "" {
				continue
			}
			c, err := net.Dial("tcp", p.addr())
			if err != nil {
				continue
			}
			fmt.Fprintf(c, "POST /socket.io/?EIO=4&transport=polling&sid=%s HTTP/1.1\r\nHost: %s\r\n"+
				"Content-Type: text/plain;charset=UTF-8\r\nContent-Length: 1000000\r\n\r\n40", sid, p.addr())
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			held.Add(1)
		}
		time.Sleep(3 * time.Second) // hold them
	})
	if held.Load() < 200 {
		t.Fatalf("only %d slow POSTs held", held.Load())
	}
}

// Attack 4: 1 MB polling bodies made only of record separators.
func TestSeparatorFlood(t *testing.T) {
	p := startCaddy(t, defaultSocketio)
	k := newCanary(t, p, "/")
	var posted atomic.Int64
	watch(t, p, k, 30*time.Second, func(stop <-chan struct{}) {
		body := bytes.Repeat([]byte{0x1e}, 999_999)
		var wg sync.WaitGroup
		for range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 3 {
					sid, _, err := pollingHandshake(p, nil)
					if err != nil || sid == "" {
						return
					}
					resp, err := http.Post(p.URL+"/socket.io/?EIO=4&transport=polling&sid="+sid, "text/plain;charset=UTF-8", bytes.NewReader(body))
					if err != nil {
						return
					}
					resp.Body.Close()
					posted.Add(1)
				}
			}()
		}
		wg.Wait()
	})
	if posted.Load() == 0 {
		t.Fatal("no body got posted")
	}
	t.Logf("%d separator bodies posted", posted.Load())
}

// Attack 6: a page of another site opens a session (cross-site websocket
// hijacking), by websocket and by polling; same-origin pages and clients
// without Origin still connect.
func TestForeignOrigin(t *testing.T) {
	p := startCaddy(t, defaultSocketio)
	k := newCanary(t, p, "/")
	watch(t, p, k, 30*time.Second, func(<-chan struct{}) {
		for _, tc := range []struct {
			origin string
			want   int
		}{
			{"http://evil.example", 403},
			{"http://127.0.0.1:1", 403},
			{"null", 403},
			{p.URL, 101},
			{"", 101},
		} {
			h := http.Header{}
			if tc.origin != "" {
				h.Set("Origin", tc.origin)
			}
			c, status, err := dialRaw(p.addr(), h)
			if err != nil && status == 0 {
				t.Errorf("websocket from %q: %v", tc.origin, err)
				continue
			}
			if c != nil {
				c.Close()
			}
			if status != tc.want {
				t.Errorf("websocket from %q: status %d, want %d", tc.origin, status, tc.want)
			}
			want := tc.want
			if want == 101 {
				want = 200
			}
			_, status, err = pollingHandshake(p, h)
			if err != nil || status != want {
				t.Errorf("polling from %q: status %d (%v), want %d", tc.origin, status, err, want)
			}
		}
	})
}

// Attack 6b: cors_origins * with cors_credentials does not load.
func TestCORSWildcardCredentialsRefused(t *testing.T) {
	dir := t.TempDir()
	cf := filepath.Join(dir, "Caddyfile")
	_ = os.WriteFile(cf, []byte("http://127.0.0.1:1 {\n\tsocketio {\n\t\tcors_origins *\n\t\tcors_credentials\n\t}\n}\n"), 0o600)
	cmd := exec.Command(caddyBin, "validate", "--config", cf, "--adapter", "caddyfile")
	cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_CONFIG_HOME="+dir, "XDG_DATA_HOME="+dir)
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("config loaded:\n%s", out)
	}
	if !bytes.Contains(out, []byte("cors_origins * with cors_credentials")) {
		t.Fatalf("error does not say why:\n%s", out)
	}
}

// Attack 7: a websocket message over max_payload gets close code 1009, and
// invalid UTF-8 in a text frame 1007; the client must receive the close
// frame.
func TestCloseCodes(t *testing.T) {
	p := startCaddy(t, defaultSocketio)
	k := newCanary(t, p, "/")
	codes := map[string]int{}
	watch(t, p, k, 30*time.Second, func(<-chan struct{}) {
		for _, tc := range []struct {
			name string
			msg  []byte
		}{
			{"over max_payload", frame(1, true, append([]byte("4"), bytes.Repeat([]byte("a"), 1_100_000)...))},
			{"invalid UTF-8", frame(1, true, []byte("4\xff\xfe"))},
		} {
			c, _, err := dialRaw(p.addr(), nil)
			if err != nil {
				t.Errorf("dial: %v", err)
				continue
			}
			if err := c.write(tc.msg, 5*time.Second); err != nil {
				t.Logf("%s: write: %v", tc.name, err)
			}
			codes[tc.name] = c.closeCode(t, 5*time.Second)
			c.Close()
		}
	})
	if codes["over max_payload"] != 1009 {
		t.Errorf("over max_payload: close code %d, want 1009", codes["over max_payload"])
	}
	if codes["invalid UTF-8"] != 1007 {
		t.Errorf("invalid UTF-8: close code %d, want 1007", codes["invalid UTF-8"])
	}
}

// Attack 8: a panic in an engine or socket goroutine. No input is known to
// cause one (the decoders are fuzzed), so there is nothing to send from
// outside; the recovery is tested in the engine's own tests.
func TestPanicFromOutside(t *testing.T) {
	t.Skip("no way to trigger a panic from outside is known; recovery is covered by the engine's unit tests")
}

// Attack 9: the client's cookie and authorization must not reach the
// application (hook requests, GET /sockets).
func TestSecretsNotForwarded(t *testing.T) {
	var mu sync.Mutex
	var bodies []string
	app := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, string(b))
		mu.Unlock()
		w.WriteHeader(200)
	})}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go app.Serve(l)
	defer app.Close()
	site := strings.Replace(defaultSocketio, "socketio {", "socketio {\n\t\thook http://"+l.Addr().String()+"/hook {\n\t\t\tevents connect\n\t\t}\n\t\tapi /sio-api {\n\t\t\ttoken test-token\n\t\t}", 1)
	p := startCaddy(t, site)
	k := newCanary(t, p, "/")
	var listing string
	watch(t, p, k, 30*time.Second, func(<-chan struct{}) {
		h := http.Header{}
		h.Set("Cookie", "session=SECRET-COOKIE")
		h.Set("Authorization", "Bearer SECRET-AUTH")
		h.Set("Proxy-Authorization", "Basic SECRET-PROXY")
		h.Set("X-Visible", "visible-value")
		c, _, err := dialRaw(p.addr(), h)
		if err != nil {
			t.Errorf("dial: %v", err)
			return
		}
		defer c.Close()
		_ = c.sendText("40")
		_ = c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, data, err := c.readFrame(); err != nil || !strings.HasPrefix(string(data), "40{") {
			t.Errorf("connect: %q %v", data, err)
			return
		}
		req, _ := http.NewRequest("GET", p.URL+"/sio-api/sockets", nil)
		req.Header.Set("Authorization", "Bearer test-token")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Error(err)
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		listing = string(b)
	})
	mu.Lock()
	all := strings.Join(bodies, "\n")
	mu.Unlock()
	if !strings.Contains(all, "visible-value") || !strings.Contains(listing, "visible-value") {
		t.Fatalf("the attack's connect did not reach the app or the listing:\nhook: %s\napi: %s", all, listing)
	}
	for _, secret := range []string{"SECRET-COOKIE", "SECRET-AUTH", "SECRET-PROXY"} {
		if strings.Contains(all, secret) {
			t.Errorf("hook request carries %s", secret)
		}
		if strings.Contains(listing, secret) {
			t.Errorf("GET /sockets shows %s", secret)
		}
	}
}

// Attack 10: events of 1 MB made of small numbers, that no rule or hook
// handles, from several sockets.
func TestDecodeAmplification(t *testing.T) {
	p := startCaddy(t, defaultSocketio)
	k := newCanary(t, p, "/")
	var sent atomic.Int64
	watch(t, p, k, 30*time.Second, func(stop <-chan struct{}) {
		var b bytes.Buffer
		b.WriteString(`42["nothing",[`)
		for b.Len() < 999_000 {
			b.WriteString("1,")
		}
		b.WriteString("1]]")
		msg := frame(1, true, b.Bytes())
		var wg sync.WaitGroup
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c, _, err := dialRaw(p.addr(), nil)
				if err != nil {
					t.Errorf("dial: %v", err)
					return
				}
				defer c.Close()
				go io.Copy(io.Discard, c.br)
				if c.sendText("40") != nil {
					return
				}
				for range 20 {
					select {
					case <-stop:
						return
					default:
					}
					if c.write(msg, 5*time.Second) != nil {
						return
					}
					sent.Add(1)
				}
			}()
		}
		wg.Wait()
	})
	if sent.Load() < 8 {
		t.Fatalf("only %d events sent", sent.Load())
	}
	t.Logf("%d events of 1 MB sent", sent.Load())
}

// Handshake auth: a CONNECT carries an auth object of nearly max_payload,
// on many namespaces of many connections; the socket keeps its handshake.
func TestLargeConnectAuth(t *testing.T) {
	p := startCaddy(t, defaultSocketio)
	k := newCanary(t, p, "/")
	var connected atomic.Int64
	var conns []*rawWS
	var mu sync.Mutex
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	watch(t, p, k, 30*time.Second, func(stop <-chan struct{}) {
		auth := `{"a":"` + strings.Repeat("x", 900_000) + `"}`
		for w := range 4 {
			c, _, err := dialRaw(p.addr(), nil)
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			go io.Copy(io.Discard, c.br)
			for i := range 32 {
				name := fmt.Sprintf("/room-%d", 5000+w*100+i)
				if c.sendText("40"+name+","+auth) != nil {
					break
				}
				connected.Add(1)
			}
		}
		time.Sleep(2 * time.Second)
	})
	if connected.Load() < 32 {
		t.Fatalf("only %d connects sent", connected.Load())
	}
	t.Logf("%d CONNECTs with 900 KB of auth sent", connected.Load())
}

// Rooms: sockets joining the most rooms they may, with long names,
// through the join rule; joins past max_rooms_per_socket are refused.
func TestRoomFlood(t *testing.T) {
	p := startCaddy(t, defaultSocketio)
	k := newCanary(t, p, "/")
	var joined, refused atomic.Int64
	watch(t, p, k, 30*time.Second, func(stop <-chan struct{}) {
		var wg sync.WaitGroup
		for w := range 10 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c, _, err := dialRaw(p.addr(), nil)
				if err != nil {
					t.Errorf("dial: %v", err)
					return
				}
				defer c.Close()
				_ = c.conn.SetReadDeadline(time.Now().Add(25 * time.Second))
				if c.sendText("40") != nil {
					return
				}
				for i := range 300 {
					room := fmt.Sprintf("%d-%d-%s", w, i, strings.Repeat("r", 240))
					if c.sendText(fmt.Sprintf(`42%d["joinRoom",{"room":%q}]`, i, room)) != nil {
						return
					}
				}
				for n := 0; n < 300; {
					op, data, err := c.readFrame()
					if err != nil {
						return
					}
					s := string(data)
					switch {
					case op != 1:
					case s == "2":
						_ = c.sendText("3")
					case strings.HasPrefix(s, "43"):
						n++
						if strings.HasSuffix(s, "[null]") {
							refused.Add(1)
						} else {
							joined.Add(1)
						}
					}
				}
			}()
		}
		wg.Wait()
	})
	t.Logf("%d joins accepted, %d refused", joined.Load(), refused.Load())
	if joined.Load() != 10*255 || refused.Load() != 10*45 {
		t.Fatalf("joins %d accepted, %d refused; want %d and %d (max_rooms_per_socket 256, own room included)",
			joined.Load(), refused.Load(), 10*255, 10*45)
	}
}

var _ = bufio.NewReader
var _ = strconv.Itoa
