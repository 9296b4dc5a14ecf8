package caddymodule

// The directive reference is written once, in UnmarshalCaddyfile's doc
// comment; the README repeats its syntax block and its option tables for
// readers. These tests keep the three in step with the parser: every
// subdirective the parser accepts is documented, every documented one
// parses, and the defaults the README's tables give are the code's.

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-socketio/caddy-socketio/caddymodule/hooks"
	"github.com/caddy-socketio/caddy-socketio/socketio"
)

// docSyntax is the syntax block of UnmarshalCaddyfile's doc comment.
func docSyntax(t *testing.T) []string {
	t.Helper()
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "caddyfile.go", nil, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range f.Decls {
		if fn, ok := d.(*ast.FuncDecl); ok && fn.Name.Name == "UnmarshalCaddyfile" && fn.Doc != nil {
			var block []string
			for _, l := range strings.Split(fn.Doc.Text(), "\n") {
				if strings.HasPrefix(l, "\t") {
					block = append(block, l)
				} else if len(block) > 0 {
					return block
				}
			}
		}
	}
	t.Fatal("no syntax block in UnmarshalCaddyfile's doc comment")
	return nil
}

// readmeSyntax is the first caddy-d block of the README's directive section.
func readmeSyntax(t *testing.T) []string {
	t.Helper()
	lines := readmeLines(t)
	i := slices.Index(lines, "## The `socketio` directive")
	if i < 0 {
		t.Fatal("README: no directive section")
	}
	for ; i < len(lines) && lines[i] != "```caddy-d"; i++ {
	}
	var block []string
	for i++; i < len(lines) && lines[i] != "```"; i++ {
		block = append(block, lines[i])
	}
	return block
}

func readmeLines(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(string(b), "\n")
}

// syntaxPaths turns a syntax block into its subdirective paths
// ("limits/max_connections"), each with the line that documents it.
func syntaxPaths(block []string) map[string]string {
	paths := map[string]string{}
	var stack []string
	for _, l := range block {
		l = strings.TrimSpace(l)
		if l == "" {
			continue
		}
		if strings.HasPrefix(l, "}") {
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
			continue
		}
		name := strings.Fields(l)[0]
		opens := strings.HasSuffix(l, "{") || strings.HasSuffix(l, "[{")
		if name == "socketio" { // the directive itself
			continue
		}
		p := strings.Join(append(slices.Clone(stack), name), "/")
		paths[p] = l
		if opens {
			stack = append(stack, name)
		}
	}
	return paths
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// normalized drops indentation and alignment, which differ between a doc
// comment (spaces) and the README (tabs).
func normalized(block []string) []string {
	var out []string
	for _, l := range block {
		if f := strings.Fields(l); len(f) > 0 {
			out = append(out, strings.Join(f, " "))
		}
	}
	return out
}

func TestReadmeSyntaxIsTheDocComment(t *testing.T) {
	doc, readme := syntaxPaths(docSyntax(t)), syntaxPaths(readmeSyntax(t))
	if d, r := normalized(docSyntax(t)), normalized(readmeSyntax(t)); !slices.Equal(d, r) {
		t.Errorf("the README's syntax block is not a copy of UnmarshalCaddyfile's:\ndoc comment:\n%s\nREADME:\n%s",
			strings.Join(d, "\n"), strings.Join(r, "\n"))
	}
	for _, p := range sortedKeys(doc) {
		if _, ok := readme[p]; !ok {
			t.Errorf("%s: in UnmarshalCaddyfile's doc comment, not in the README's syntax block", p)
		}
	}
	for _, p := range sortedKeys(readme) {
		if _, ok := doc[p]; !ok {
			t.Errorf("%s: in the README's syntax block, not in UnmarshalCaddyfile's doc comment", p)
		}
	}
}

// blockOpen is how each block subdirective is opened in the samples below;
// sample is one valid use of each documented subdirective. A subdirective
// added to the doc comment needs a sample here, which must parse.
var (
	blockOpen = map[string]string{
		"limits":                "limits {",
		"adapter":               "adapter redis redis://127.0.0.1:1 {",
		"hook":                  "hook http://127.0.0.1:1/hook {",
		"api":                   "api /api {\n\ttoken t",
		"namespace":             "namespace /chat {",
		"namespace/relay":       "relay ev {",
		"admin_ui":              "admin_ui {",
		"recovery":              "recovery 2m {",
		"websocket_compression": "websocket_compression on {",
	}
	sample = map[string]string{
		"hub":              "hub chat",
		"path":             "path /rt/",
		"serve_client":     "serve_client off",
		"transports":       "transports websocket",
		"allow_upgrades":   "allow_upgrades off",
		"ping_interval":    "ping_interval 10s",
		"ping_timeout":     "ping_timeout 5s",
		"connect_timeout":  "connect_timeout 5s",
		"max_payload":      "max_payload 64KiB",
		"cors_origins":     "cors_origins https://app.example.com",
		"cors_credentials": "cors_credentials on",
		"forward_headers":  "forward_headers x-app-user cookie",
		"allow_eio3":       "allow_eio3 on",
		"parser":           "parser msgpack",

		"websocket_compression":           "websocket_compression on",
		"websocket_compression/threshold": "threshold 512",

		"limits":                         "limits {\n}",
		"limits/max_connections":         "max_connections 100",
		"limits/max_namespaces":          "max_namespaces off",
		"limits/max_decoded_bytes":       "max_decoded_bytes 4MiB",
		"limits/max_decoded_bytes_total": "max_decoded_bytes_total off",
		"limits/max_dynamic_namespaces":  "max_dynamic_namespaces 100",
		"limits/namespace_connect_rate":  "namespace_connect_rate 5 10",
		"limits/max_connect_bytes":       "max_connect_bytes 4KiB",
		"limits/max_rooms_per_socket":    "max_rooms_per_socket 8",
		"limits/max_attachments":         "max_attachments 2",
		"limits/event_rate":              "event_rate 10 20",
		"limits/send_queue_size":         "send_queue_size 100",
		"limits/send_queue_bytes":        "send_queue_bytes 1MiB",
		"limits/post_read_timeout":       "post_read_timeout 5s",
		"limits/max_payload_packets":     "max_payload_packets 100",
		"limits/max_handshake_bytes":     "max_handshake_bytes 16KiB",

		"adapter":                          "adapter memory",
		"adapter/prefix":                   "prefix app",
		"adapter/requests_timeout":         "requests_timeout 2s",
		"adapter/sharded":                  "sharded on",
		"adapter/subscription_mode":        "subscription_mode static",
		"adapter/tls_insecure_skip_verify": "tls_insecure_skip_verify",

		"hook":            "hook http://127.0.0.1:1/hook",
		"hook/namespaces": "namespaces /chat ~^/room-\\d+$",
		"hook/events":     "events connect chatInput",
		"hook/secret":     "secret s3cret",
		"hook/timeout":    "timeout 2s",
		"hook/on_error":   "on_error allow",
		"hook/header":     "header X-App chat",

		"hook_concurrency":         "hook_concurrency 8",
		"hook_queue_size":          "hook_queue_size 8",
		"hook_max_queued":          "hook_max_queued 100",
		"hook_disconnect_attempts": "hook_disconnect_attempts 2",
		"hook_retry_backoff":       "hook_retry_backoff 50ms",
		"hook_retry_backoff_max":   "hook_retry_backoff_max 2s",
		"hook_max_reply_bytes":     "hook_max_reply_bytes 64KiB",
		"hook_queue_bytes":         "hook_queue_bytes 1MiB",
		"hook_max_queued_bytes":    "hook_max_queued_bytes 64MiB",
		"hook_overflow":            "hook_overflow drop",
		"hook/batch":               "batch 50",

		"api":       "api /api {\n\ttoken t\n}",
		"api/token": "token t",

		"namespace":                      "namespace /chat",
		"namespace/greet":                "greet hello `{\"message\":\"hi\"}`",
		"namespace/join":                 "join joinRoom room exclusive",
		"namespace/leave":                "leave leaveRoom room",
		"namespace/relay":                "relay chatInput chatMessage",
		"namespace/relay/to":             "to field room",
		"namespace/relay/payload":        "payload body",
		"namespace/relay/include_sender": "include_sender off",
		"namespace/ack":                  "ack ping",

		"recovery":                  "recovery 5m",
		"recovery/skip_middlewares": "skip_middlewares on",
		"recovery/max_packets":      "max_packets 1000",
		"recovery/max_buffer":       "max_buffer 8MiB",
		"recovery/max_sessions":     "max_sessions 500",

		"admin_ui":                "admin_ui /admin",
		"admin_ui/username":       "username admin",
		"admin_ui/password_hash":  "password_hash $2a$04$cDDYJNKLk/10Pv5ObPK7uOLX7Vq8CKSJ6c6B0Z1SIc5fPYiLsUzqi",
		"admin_ui/mode":           "mode production",
		"admin_ui/read_only":      "read_only",
		"admin_ui/server_id":      "server_id node-1",
		"admin_ui/serve_ui":       "serve_ui /socket.io-admin/",
		"admin_ui/allow_insecure": "allow_insecure",
	}
)

// sampleFor wraps a subdirective's sample in its parent blocks.
func sampleFor(p string) string {
	parts := strings.Split(p, "/")
	var open, close []string
	for i := 1; i < len(parts); i++ {
		open = append(open, blockOpen[strings.Join(parts[:i], "/")])
		close = append(close, "}")
	}
	return "socketio {\n" + strings.Join(open, "\n") + "\n" + sample[p] + "\n" + strings.Join(close, "\n") + "\n}"
}

func TestEveryDocumentedSubdirectiveParses(t *testing.T) {
	doc := syntaxPaths(docSyntax(t))
	for _, p := range sortedKeys(doc) {
		if _, ok := sample[p]; !ok {
			t.Errorf("%s (%q) is documented but has no sample in docs_test.go", p, doc[p])
			continue
		}
		src := sampleFor(p)
		h := new(Handler)
		if err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(src)); err != nil {
			t.Errorf("%s: the documented subdirective does not parse: %v\n%s", p, err, src)
		}
	}
	for _, p := range sortedKeys(sample) {
		if _, ok := doc[p]; !ok {
			t.Errorf("%s: has a sample but is not in UnmarshalCaddyfile's doc comment", p)
		}
	}
}

// valueWords are words the parser matches as values, not subdirectives.
var valueWords = map[string]bool{"memory": true, "redis": true, "on": true, "off": true, "true": true, "false": true}

// acceptedNames are the string literals of the case clauses in this
// package's Caddyfile parsers: every subdirective name the parser knows.
func acceptedNames(t *testing.T) map[string]string {
	t.Helper()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]string{}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok || fn.Body == nil || !usesDispenser(fn) {
				continue
			}
			ast.Inspect(fn.Body, func(n ast.Node) bool {
				cc, ok := n.(*ast.CaseClause)
				if !ok {
					return true
				}
				for _, e := range cc.List {
					if lit, ok := e.(*ast.BasicLit); ok && lit.Kind == token.STRING {
						if s, _ := strconv.Unquote(lit.Value); s != "" && !valueWords[s] {
							names[s] = fset.Position(lit.Pos()).String()
						}
					}
				}
				return true
			})
		}
	}
	return names
}

// usesDispenser says whether fn takes a *caddyfile.Dispenser (a parser).
func usesDispenser(fn *ast.FuncDecl) bool {
	for _, f := range fn.Type.Params.List {
		if star, ok := f.Type.(*ast.StarExpr); ok {
			if sel, ok := star.X.(*ast.SelectorExpr); ok && sel.Sel.Name == "Dispenser" {
				return true
			}
		}
	}
	return false
}

func TestEveryAcceptedSubdirectiveIsDocumented(t *testing.T) {
	documented := map[string]bool{}
	for p := range syntaxPaths(docSyntax(t)) {
		parts := strings.Split(p, "/")
		documented[parts[len(parts)-1]] = true
	}
	accepted := acceptedNames(t)
	if len(accepted) < 20 {
		t.Fatalf("found only %d subdirective names in the parsers; is the scan broken?", len(accepted))
	}
	for _, n := range sortedKeys(accepted) {
		if !documented[n] {
			t.Errorf("%s: the parser accepts %q (%s), the doc comment's syntax block does not show it", n, n, accepted[n])
		}
	}
}

// readmeDefaults reads the README's option tables: the last column headed
// "Default" of every table whose first column names options in backticks.
func readmeDefaults(t *testing.T) map[string]string {
	t.Helper()
	defaults := map[string]string{}
	col := -1
	for _, l := range readmeLines(t) {
		if !strings.HasPrefix(l, "|") {
			col = -1
			continue
		}
		cells := splitRow(l)
		if col < 0 {
			col = slices.Index(cells, "Default")
			continue
		}
		if strings.HasPrefix(cells[0], "---") || col >= len(cells) {
			continue
		}
		names := backticked.FindAllStringSubmatch(cells[0], -1)
		vals := []string{cells[col]}
		if len(names) > 1 {
			vals = strings.Split(cells[col], ", ")
			if len(vals) != len(names) {
				t.Errorf("README row %q: %d options but %d defaults", cells[0], len(names), len(vals))
				continue
			}
		}
		for i, n := range names {
			defaults[n[1]] = strings.TrimSpace(strings.ReplaceAll(vals[i], "`", ""))
		}
	}
	return defaults
}

var backticked = regexp.MustCompile("`([a-z_<>]+)`")

func splitRow(l string) []string {
	l = strings.Trim(strings.TrimSpace(l), "|")
	cells := strings.Split(l, "|")
	for i := range cells {
		cells[i] = strings.TrimSpace(cells[i])
	}
	return cells
}

func fmtDuration(d time.Duration) string {
	s := d.String()
	for _, z := range []string{"m0s", "h0m"} {
		if strings.HasSuffix(s, z) {
			s = strings.TrimSuffix(s, z[1:])
		}
	}
	return s
}

func fmtSize(n int64) string {
	switch {
	case n%(1<<20) == 0:
		return fmt.Sprintf("%dMiB", n>>20)
	case n%(1<<10) == 0:
		return fmt.Sprintf("%dKiB", n>>10)
	case n%1_000_000 == 0:
		return fmt.Sprintf("%dMB", n/1_000_000)
	}
	return strconv.FormatInt(n, 10)
}

func fmtOnOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

// codeDefaults renders the code's defaults as the README writes them.
// Defaults that are not a value (the path, 90% of the fd limit) are text,
// checked only for being listed here.
func codeDefaults() map[string]string {
	h := new(Handler)
	h.applyDefaults()
	opts := h.options()
	eng := opts.Engine.WithDefaults()
	lim := socketio.NewServer(nil).Limits()
	return map[string]string{
		"hub":                   "the path",
		"path":                  h.Path,
		"serve_client":          fmtOnOff(!opts.DisableClient),
		"transports":            "both",
		"allow_upgrades":        fmtOnOff(*eng.AllowUpgrades),
		"ping_interval":         fmtDuration(eng.PingInterval),
		"ping_timeout":          fmtDuration(eng.PingTimeout),
		"connect_timeout":       fmtDuration(opts.ConnectTimeout),
		"max_payload":           fmtSize(int64(eng.MaxPayload)),
		"cors_origins":          "none: same origin only",
		"cors_credentials":      fmtOnOff(eng.CORS.Credentials),
		"forward_headers":       "all but cookie, authorization, proxy-authorization",
		"allow_eio3":            fmtOnOff(eng.AllowEIO3),
		"parser":                "auto",
		"websocket_compression": fmtOnOff(eng.WebSocketCompression),
		"limits":                "safe defaults",
		"hook":                  "none",
		"api":                   "off",
		"admin_ui":              "off",
		"recovery":              fmtDuration(defaultRecoveryWindow),
		"adapter":               "memory",
		"namespace":             "",

		"max_connections":         "90% of the process's open-file limit",
		"max_namespaces":          strconv.Itoa(lim.MaxNamespaces),
		"max_decoded_bytes":       fmtSize(int64(lim.MaxDecodedBytes)),
		"max_decoded_bytes_total": fmtSize(int64(lim.MaxDecodedBytesTotal)),
		"max_dynamic_namespaces":  strconv.Itoa(lim.MaxDynamicNamespaces),
		"namespace_connect_rate":  fmt.Sprintf("%g, burst %d", lim.NamespaceConnectRate, lim.NamespaceConnectBurst),
		"max_connect_bytes":       fmtSize(int64(lim.MaxConnectBytes)),
		"max_rooms_per_socket":    strconv.Itoa(lim.MaxRoomsPerSocket),
		"max_attachments":         strconv.Itoa(lim.MaxAttachments),
		"event_rate":              "off",
		"send_queue_size":         strconv.Itoa(eng.SendQueueLen),
		"send_queue_bytes":        fmtSize(int64(eng.SendQueueBytes)),
		"post_read_timeout":       fmtDuration(eng.PostReadTimeout),
		"max_payload_packets":     strconv.Itoa(eng.MaxPayloadPackets),
		"max_handshake_bytes":     fmtSize(int64(eng.MaxHandshakeBytes)),

		"<url>":      "required",
		"namespaces": "all",
		"events":     "*",
		"secret":     "unsigned",
		"timeout":    fmtDuration(hooks.DefaultTimeout),
		"on_error":   "deny",
		"header":     "none",

		"hook_concurrency":         strconv.Itoa(hooks.DefaultConcurrency),
		"hook_queue_size":          strconv.Itoa(hooks.DefaultQueueSize),
		"hook_max_queued":          strconv.Itoa(hooks.DefaultMaxQueued),
		"hook_disconnect_attempts": strconv.Itoa(hooks.DefaultDisconnectAttempts),
		"hook_retry_backoff":       fmtDuration(hooks.DefaultRetryBackoff),
		"hook_retry_backoff_max":   fmtDuration(hooks.DefaultRetryBackoffMax),
		"hook_max_reply_bytes":     fmtSize(hooks.DefaultMaxReplyBytes),
		"hook_queue_bytes":         fmtSize(hooks.DefaultQueueBytes),
		"hook_max_queued_bytes":    fmtSize(hooks.DefaultMaxQueuedBytes),
		"hook_overflow":            hooks.DefaultOverflow,
		"batch":                    "off",
	}
}

func TestReadmeDefaultsAreTheCodes(t *testing.T) {
	readme, code := readmeDefaults(t), codeDefaults()
	if len(readme) < 20 {
		t.Fatalf("found only %d options in the README's tables; is the scan broken?", len(readme))
	}
	for _, n := range sortedKeys(readme) {
		want, ok := code[n]
		if !ok {
			t.Errorf("README documents a default for %q; add the code's default to codeDefaults", n)
			continue
		}
		got := readme[n]
		// "1MB (1000000)": the value, then a gloss.
		if got != want && !strings.HasPrefix(got, want+" (") {
			t.Errorf("%s: README says the default is %q, the code's is %q", n, got, want)
		}
	}
}

// TestCaddyfileReference adapts Caddyfile.reference and checks that it
// shows every documented subdirective (and nothing undocumented).
func TestCaddyfileReference(t *testing.T) {
	src, err := os.ReadFile(filepath.Join("..", "Caddyfile.reference"))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := caddyconfig.GetAdapter("caddyfile").Adapt(src, nil); err != nil {
		t.Fatalf("Caddyfile.reference does not adapt: %v", err)
	}
	var block []string
	in := false
	for _, l := range strings.Split(string(src), "\n") {
		if strings.TrimSpace(l) == "socketio {" {
			in = true
		}
		if in {
			if i := strings.Index(l, " #"); i >= 0 {
				l = l[:i]
			}
			block = append(block, l)
			if l == "\t}" { // the end of the socketio block
				break
			}
		}
	}
	ref, doc := syntaxPaths(block), syntaxPaths(docSyntax(t))
	for _, p := range sortedKeys(doc) {
		if _, ok := ref[p]; !ok {
			t.Errorf("%s: documented, not shown in Caddyfile.reference", p)
		}
	}
	for _, p := range sortedKeys(ref) {
		if _, ok := doc[p]; !ok {
			t.Errorf("%s: in Caddyfile.reference, not documented", p)
		}
	}
}

// TestBooleanConvention: every documented boolean takes on and off, and
// those shown as [on|off] may be given bare (README, "Booleans").
func TestBooleanConvention(t *testing.T) {
	doc := syntaxPaths(docSyntax(t))
	n := 0
	for _, p := range sortedKeys(doc) {
		line := doc[p]
		f := strings.Fields(line)
		if len(f) < 2 || (f[1] != "on|off" && f[1] != "[on|off]") {
			continue
		}
		forms := []string{" on", " off", " true", " false"}
		if f[1] == "[on|off]" {
			forms = append(forms, "")
		}
		parts := strings.Split(p, "/")
		for _, form := range forms {
			saved := sample[p]
			sample[p] = parts[len(parts)-1] + form
			src := sampleFor(p)
			sample[p] = saved
			if err := new(Handler).UnmarshalCaddyfile(caddyfile.NewTestDispenser(src)); err != nil {
				t.Errorf("%s%s: %v", p, form, err)
			}
		}
		n++
	}
	if n < 8 {
		t.Fatalf("found only %d booleans in the syntax block", n)
	}
}

// TestNoPrivateReferences: the project cites the public protocol documents
// and its own examples/conformance/README.md, never files outside the
// repository.
func TestNoPrivateReferences(t *testing.T) {
	root := ".."
	bad := []string{"shared/" + "docs", "../" + "shared", "protocol" + ".md §"}
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch d.Name() {
			case ".git", "node_modules", ".bin", "testdata", "admin-ui", "dist":
				return filepath.SkipDir
			}
			return nil
		}
		switch filepath.Ext(path) {
		case ".go", ".md", ".mjs", ".js", ".sh", ".json", ".example", ".reference":
		default:
			if filepath.Base(path) != "Makefile" {
				return nil
			}
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, s := range bad {
			if strings.Contains(string(b), s) {
				t.Errorf("%s cites %q, which is not part of the repository", path, s)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestPackageMap: every Go package of the module is in the README's package
// map (bench/ and test/redis/ are listed as a whole).
func TestPackageMap(t *testing.T) {
	lines := readmeLines(t)
	i := slices.Index(lines, "## Package map")
	if i < 0 {
		t.Fatal("README: no package map")
	}
	listed := map[string]bool{}
	var stack []string
	for _, l := range lines[i+3:] {
		if l == "```" {
			break
		}
		f := strings.Fields(l)
		if len(f) == 0 || !strings.HasSuffix(f[0], "/") {
			continue
		}
		depth := (len(l) - len(strings.TrimLeft(l, " "))) / 2
		if depth > len(stack) {
			t.Fatalf("README package map: bad indentation at %q", l)
		}
		stack = append(stack[:depth], strings.TrimSuffix(f[0], "/"))
		listed[strings.Join(stack, "/")] = true
	}
	err := filepath.WalkDir("..", func(path string, d os.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		switch d.Name() {
		case ".git", "node_modules", "testdata", ".bin":
			return filepath.SkipDir
		}
		rel, _ := filepath.Rel("..", path)
		if rel == "." || strings.HasPrefix(rel, "bench") || strings.HasPrefix(rel, "test/redis") {
			return nil
		}
		gos, _ := filepath.Glob(filepath.Join(path, "*.go"))
		if len(gos) > 0 && !listed[rel] {
			t.Errorf("package %s is not in the README's package map", rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !listed["socketio/engine"] || !listed["socketio/adapter/redis"] {
		t.Fatalf("package map parsed wrongly: %v", listed)
	}
}
