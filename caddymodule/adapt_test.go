package caddymodule

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig"
	_ "github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	_ "github.com/caddyserver/caddy/v2/modules/standard"
)

var update = flag.Bool("update", false, "rewrite the expected JSON of the golden *.caddyfiletest files that expect JSON")

// TestCaddyfileAdapt walks testdata/*.caddyfiletest, in the format of
// Caddy's caddytest/integration/caddyfile_adapt: a Caddyfile, a line of ten
// dashes, then either the expected JSON (starting with "{") or a fragment
// of the expected error message.
func TestCaddyfileAdapt(t *testing.T) {
	files, err := filepath.Glob("testdata/*.caddyfiletest")
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden files: %v", err)
	}
	adapter := caddyconfig.GetAdapter("caddyfile")
	if adapter == nil {
		t.Fatal("caddyfile adapter not registered")
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".caddyfiletest"), func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			parts := strings.SplitN(string(data), "----------", 2)
			if len(parts) != 2 {
				t.Fatalf("%s: no ---------- separator", file)
			}
			caddyfile := strings.TrimSpace(parts[0]) + "\n"
			expected := strings.TrimSpace(parts[1])

			out, warnings, err := adapter.Adapt([]byte(caddyfile), nil)
			if !strings.HasPrefix(expected, "{") {
				if err == nil {
					t.Fatalf("expected an error containing %q, got none", expected)
				}
				if !strings.Contains(err.Error(), expected) {
					t.Fatalf("error\n  %s\ndoes not contain\n  %s", err, expected)
				}
				return
			}
			if err != nil {
				t.Fatalf("adapt: %v", err)
			}
			for _, w := range warnings {
				t.Logf("warning: line %d: %s: %s", w.Line, w.Directive, w.Message)
			}
			var pretty bytes.Buffer
			if err := json.Indent(&pretty, out, "", "\t"); err != nil {
				t.Fatal(err)
			}
			got := pretty.String()
			if *update {
				if err := os.WriteFile(file, []byte(strings.TrimSpace(parts[0])+"\n----------\n"+got+"\n"), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			if got != expected {
				t.Fatalf("adapted JSON differs (run go test -run TestCaddyfileAdapt -update to accept):\n%s", lineDiff(expected, got))
			}
		})
	}
}

// lineDiff shows the first differing lines with some context.
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	i := 0
	for i < len(w) && i < len(g) && w[i] == g[i] {
		i++
	}
	var b strings.Builder
	from := max(0, i-3)
	for j := from; j < i; j++ {
		fmt.Fprintf(&b, "  %s\n", w[j])
	}
	for j := i; j < min(len(w), i+5); j++ {
		fmt.Fprintf(&b, "- %s\n", w[j])
	}
	for j := i; j < min(len(g), i+5); j++ {
		fmt.Fprintf(&b, "+ %s\n", g[j])
	}
	return b.String()
}

// TestExampleCaddyfile adapts Caddyfile.example and checks that it shows
// every option of the directive, so it stays in step with
// UnmarshalCaddyfile's doc comment.
func TestExampleCaddyfile(t *testing.T) {
	src, err := os.ReadFile("../Caddyfile.example")
	if err != nil {
		t.Fatal(err)
	}
	out, _, err := caddyconfig.GetAdapter("caddyfile").Adapt(src, map[string]any{"filename": "Caddyfile.example"})
	if err != nil {
		t.Fatalf("adapt Caddyfile.example: %v", err)
	}
	if !bytes.Contains(out, []byte(`"handler":"socketio"`)) {
		t.Fatalf("no socketio handler in %s", out)
	}
	for _, opt := range []string{
		"hub", "path", "serve_client", "transports", "allow_upgrades", "parser", "ping_interval", "ping_timeout",
		"connect_timeout", "max_payload", "cors_origins", "cors_credentials", "namespace",
		"greet", "join", "leave", "relay", "to", "payload", "include_sender", "ack",
	} {
		if !bytes.Contains(src, []byte("\t"+opt+" ")) && !bytes.Contains(src, []byte("# "+opt+" ")) && !bytes.Contains(src, []byte("# "+opt+"\n")) {
			t.Errorf("Caddyfile.example does not show %q", opt)
		}
	}
}
