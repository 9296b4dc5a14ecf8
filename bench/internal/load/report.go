package load

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// Human is the one-line summary printed next to each JSON result.
func Human(r *Result) string {
	g := func(k string) float64 { f, _ := toFloat(r.Get(k)); return f }
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s:", r.Get("scenario"), r.Get("label"))
	switch r.Get("scenario") {
	case "fanout":
		fmt.Fprintf(&b, " %d subscribers, %s deliveries/s (%.1f msg/s)",
			int(g("subscribers")), thousands(g("deliveries_per_sec")), g("messages_per_sec"))
		if r.Get("p50_ms") != nil {
			fmt.Fprintf(&b, "; at %.1f msg/s p50 %.2f ms p99 %.2f ms, lost %d dups %d",
				g("latency_rate"), g("p50_ms"), g("p99_ms"), int64(g("lost")), int64(g("dups")))
		}
	case "echo":
		fmt.Fprintf(&b, " %d clients, %s round trips/s, p50 %.3f ms p99 %.3f ms",
			int(g("clients")), thousands(g("round_trips_per_sec")), g("p50_ms"), g("p99_ms"))
	case "idle":
		fmt.Fprintf(&b, " %d/%d connections", int64(g("opened")), int(g("conns")))
		if r.Get("kb_per_conn") != nil {
			fmt.Fprintf(&b, ", RSS %d → %d KB, %.1f KB/conn",
				int64(g("rss_before_kb")), int64(g("rss_after_kb")), g("kb_per_conn"))
		}
		if r.Get("open_s") != nil {
			fmt.Fprintf(&b, ", opened in %.1f s", g("open_s"))
		}
		if r.Get("hold_s") != nil {
			fmt.Fprintf(&b, ", held %.0f s: %d dropped, %.2f pings/conn", g("hold_s"), int64(g("dropped")), g("pings_per_conn"))
		}
	case "probe":
		if ok, _ := r.Get("ok").(bool); ok {
			b.WriteString(" ok")
		}
	case "churn":
		fmt.Fprintf(&b, " %d workers, %s connects/s, p50 %.3f ms p99 %.3f ms",
			int(g("workers")), thousands(g("connects_per_sec")), g("p50_ms"), g("p99_ms"))
	}
	if r.Get("client_cpu") != nil {
		fmt.Fprintf(&b, " [cpu: client %.2f", g("client_cpu"))
		if g("client_cpu") >= loadgenBound {
			b.WriteString(" (load generator saturated: numbers may be client-bound)")
		}
		if r.Get("server_cpu") != nil {
			fmt.Fprintf(&b, ", server %.2f", g("server_cpu"))
		}
		b.WriteString("]")
	}
	if ok, _ := r.Get("ok").(bool); !ok {
		fmt.Fprintf(&b, " FAILED: %v", r.Get("error"))
	}
	return b.String()
}

func thousands(f float64) string {
	s := strconv.FormatInt(int64(math.Round(f)), 10)
	var out []byte
	for i := range s {
		if i > 0 && (len(s)-i)%3 == 0 && s[i-1] != '-' {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	return string(out)
}

func toFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case int:
		return float64(x), true
	case int64:
		return float64(x), true
	case uint64:
		return float64(x), true
	case json.Number:
		f, err := x.Float64()
		return f, err == nil
	}
	return 0, false
}

// loadgenBound is the CPU use (cores) of sioload above which a result may be
// limited by the load generator rather than the server.
const loadgenBound = 0.9

// metric is one row of the comparison table.
type metric struct {
	key, title string
	digits     int
	worst      bool // show the worst run instead of the median (loss, dups)
	noRatio    bool // a condition of the run, not a result to compare
}

var scenarioMetrics = map[string][]metric{
	"fanout": {
		{key: "deliveries_per_sec", title: "deliveries/s"},
		{key: "latency_rate", title: "latency phase rate (msg/s)", digits: 1, noRatio: true},
		{key: "p50_ms", title: "latency p50 (ms)", digits: 2},
		{key: "p99_ms", title: "latency p99 (ms)", digits: 2},
		{key: "lost", title: "lost (worst run)", worst: true},
		{key: "dups", title: "dups (worst run)", worst: true},
		{key: "server_cpu", title: "server CPU (cores)", digits: 2, noRatio: true},
		{key: "client_cpu", title: "sioload CPU (cores)", digits: 2, noRatio: true},
	},
	"echo": {
		{key: "round_trips_per_sec", title: "round trips/s"},
		{key: "p50_ms", title: "p50 (ms)", digits: 3},
		{key: "p99_ms", title: "p99 (ms)", digits: 3},
		{key: "server_cpu", title: "server CPU (cores)", digits: 2, noRatio: true},
		{key: "client_cpu", title: "sioload CPU (cores)", digits: 2, noRatio: true},
	},
	"idle": {
		{key: "kb_per_conn", title: "KB per connection", digits: 1},
	},
	"churn": {
		{key: "connects_per_sec", title: "connects/s"},
		{key: "p50_ms", title: "connect p50 (ms)", digits: 2},
		{key: "server_cpu", title: "server CPU (cores)", digits: 2, noRatio: true},
		{key: "client_cpu", title: "sioload CPU (cores)", digits: 2, noRatio: true},
	},
}

// groupName names a scenario with the size that changes its numbers.
func groupName(rec map[string]any) string {
	s, _ := rec["scenario"].(string)
	num := func(k string) string { f, _ := toFloat(rec[k]); return strconv.Itoa(int(f)) }
	switch s {
	case "fanout":
		return "fanout " + num("subscribers") + " subscribers"
	case "echo":
		return "echo " + num("clients") + " clients"
	case "idle":
		return "idle " + num("conns") + " connections"
	case "churn":
		return "churn " + num("workers") + " workers"
	}
	return s
}

// Report reads JSON result lines (other lines are skipped) and writes a
// markdown table: per scenario and metric, the median over runs for each
// label, with the ratio to the baseline label.
func Report(in io.Reader, out io.Writer, baseline string) error {
	type key struct{ group, label string }
	runs := map[key][]map[string]any{}
	failed := map[key]int{}
	busy := map[key]int{}
	var groups, labels []string
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if !strings.HasPrefix(line, "{") {
			continue
		}
		dec := json.NewDecoder(strings.NewReader(line))
		dec.UseNumber()
		var rec map[string]any
		if err := dec.Decode(&rec); err != nil {
			continue
		}
		if _, ok := scenarioMetrics[fmt.Sprint(rec["scenario"])]; !ok {
			continue
		}
		k := key{groupName(rec), fmt.Sprint(rec["label"])}
		if !slices.Contains(groups, k.group) {
			groups = append(groups, k.group)
		}
		if !slices.Contains(labels, k.label) {
			labels = append(labels, k.label)
		}
		if ok, _ := rec["ok"].(bool); !ok {
			failed[k]++
			continue
		}
		if f, _ := toFloat(rec["client_cpu"]); f >= loadgenBound {
			busy[k]++
		}
		runs[k] = append(runs[k], rec)
	}
	if err := sc.Err(); err != nil {
		return err
	}
	if len(groups) == 0 {
		return fmt.Errorf("no results")
	}
	// Baseline first, the others in order of appearance.
	if i := slices.Index(labels, baseline); i > 0 {
		labels = append([]string{baseline}, slices.Delete(labels, i, i+1)...)
	}
	fmt.Fprintf(out, "| scenario | metric |")
	for _, l := range labels {
		fmt.Fprintf(out, " %s |", l)
	}
	fmt.Fprintf(out, "\n|---|---|")
	for range labels {
		fmt.Fprintf(out, "---:|")
	}
	fmt.Fprintln(out)
	var notes []string
	for _, g := range groups {
		scenario, _, _ := strings.Cut(g, " ")
		for _, m := range scenarioMetrics[scenario] {
			vals := map[string]float64{}
			cells := make([]string, len(labels))
			for i, l := range labels {
				var xs []float64
				for _, rec := range runs[key{g, l}] {
					if f, ok := toFloat(rec[m.key]); ok {
						xs = append(xs, f)
					}
				}
				if len(xs) == 0 {
					cells[i] = "–"
					continue
				}
				v := median(xs)
				if m.worst {
					v = slices.Max(xs)
				}
				vals[l] = v
				cells[i] = formatValue(v, m.digits)
			}
			if base, ok := vals[baseline]; ok && !m.worst && !m.noRatio {
				for i, l := range labels {
					if v, ok := vals[l]; ok && l != baseline && base != 0 {
						cells[i] += fmt.Sprintf(" (%.2f×)", v/base)
					}
				}
			}
			fmt.Fprintf(out, "| %s | %s |", g, m.title)
			for _, c := range cells {
				fmt.Fprintf(out, " %s |", c)
			}
			fmt.Fprintln(out)
		}
		for _, l := range labels {
			k := key{g, l}
			if n := failed[k]; n > 0 {
				notes = append(notes, fmt.Sprintf("%s, %s: %d failed run(s) left out", g, l, n))
			}
			if n := busy[k]; n > 0 {
				notes = append(notes, fmt.Sprintf("%s, %s: sioload used ≥%.0f%% of a core in %d run(s): may be client-bound",
					g, l, loadgenBound*100, n))
			}
		}
	}
	counts := map[int]bool{}
	for _, rs := range runs {
		counts[len(rs)] = true
	}
	var ns []int
	for n := range counts {
		ns = append(ns, n)
	}
	sort.Ints(ns)
	fmt.Fprintf(out, "\nMedians of %v run(s) per cell; (×) = ratio to %s (higher is better for rates, lower for latency and memory).\n",
		ns, baseline)
	for _, n := range notes {
		fmt.Fprintf(out, "- %s\n", n)
	}
	return nil
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func formatValue(v float64, digits int) string {
	if digits == 0 {
		return thousands(v)
	}
	return strconv.FormatFloat(v, 'f', digits, 64)
}
