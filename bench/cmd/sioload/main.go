// Command sioload is the load generator of the benchmarks: a lean Engine.IO
// v4 / Socket.IO v5 websocket client that drives a server running the
// conformance app (examples/conformance/README.md, rules R1, R3, R4, R6).
//
//	sioload -scenario fanout -addr 127.0.0.1:3000 -n 1000 -duration 10s -rate 50%
//	sioload -scenario echo   -addr 127.0.0.1:3000 -c 64 -duration 10s
//	sioload -scenario idle   -addr 127.0.0.1:3000 -n 10000 -server-pid PID -sources 127.0.0.2-127.0.0.9
//	sioload -scenario churn  -addr 127.0.0.1:3000 -c 16 -duration 10s
//	sioload -scenario probe  -addr 127.0.0.1:3000
//	sioload report [-baseline node] results.jsonl...
//
// Each run prints one JSON line on stdout and one human line on stderr, and
// stops by itself: every phase is bounded in time and a hard timeout ends the
// process if something hangs. Exit status 1 means the scenario failed.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/caddy-socketio/caddy-socketio/bench/internal/load"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "report" {
		os.Exit(report(os.Args[2:]))
	}
	var cfg load.Config
	scenario := flag.String("scenario", "", "fanout, echo, idle, churn or probe")
	flag.StringVar(&cfg.Addr, "addr", "", "server address, 127.0.0.1:PORT")
	flag.StringVar(&cfg.Label, "label", "", "peer name recorded in the result (node, go, caddy…)")
	sources := flag.String("sources", "", "local addresses to spread connections over: 127.0.0.2-127.0.0.9 or a comma list")
	flag.IntVar(&cfg.ServerPID, "server-pid", 0, "server process id: RSS for idle, CPU use for all")
	flag.IntVar(&cfg.N, "n", 1000, "fanout: subscribers; idle: connections")
	flag.IntVar(&cfg.C, "c", 32, "echo: concurrent clients; churn: concurrent workers")
	flag.DurationVar(&cfg.Warmup, "warmup", time.Second, "unmeasured time before the measured window")
	flag.DurationVar(&cfg.Duration, "duration", 10*time.Second, "measured window (fanout: capacity phase)")
	flag.DurationVar(&cfg.LatencyDuration, "latency-duration", 10*time.Second, "fanout latency phase; 0 skips it")
	flag.StringVar(&cfg.Rate, "rate", "50%", "fanout latency phase: N% of measured capacity, or messages/s")
	flag.IntVar(&cfg.Inflight, "inflight", 32, "fanout capacity phase: messages in flight at most")
	flag.IntVar(&cfg.Payload, "payload", 64, "payload string bytes (fanout, echo)")
	flag.StringVar(&cfg.Room, "room", "bench", "fanout room")
	flag.IntVar(&cfg.ConnectConcurrency, "connect-concurrency", 100, "connects in progress at once while opening connections")
	flag.DurationVar(&cfg.ConnectTimeout, "connect-timeout", 15*time.Second, "one full connect")
	flag.DurationVar(&cfg.Settle, "settle", 2*time.Second, "idle: wait after the last connect before reading the RSS")
	flag.DurationVar(&cfg.Hold, "hold", 0, "idle: then hold the connections this long, failing if any drops (0: close at once)")
	flag.DurationVar(&cfg.DrainTimeout, "drain-timeout", 10*time.Second, "fanout: wait for late deliveries")
	hard := flag.Duration("timeout", 0, "hard limit for the whole run (0: computed from the phases)")
	quiet := flag.Bool("q", false, "no progress lines on stderr")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of sioload itself to this file")
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: sioload -scenario NAME -addr 127.0.0.1:PORT [flags]\n       sioload report [-baseline node] FILE...\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() > 0 || cfg.Addr == "" || *scenario == "" {
		flag.Usage()
		os.Exit(2)
	}
	if host, _, _ := strings.Cut(cfg.Addr, ":"); !strings.HasPrefix(host, "127.") && host != "localhost" {
		fmt.Fprintln(os.Stderr, "sioload: -addr must be a loopback address")
		os.Exit(2)
	}
	var err error
	if cfg.Sources, err = load.ParseSources(*sources); err != nil {
		fmt.Fprintln(os.Stderr, "sioload:", err)
		os.Exit(2)
	}
	if !*quiet {
		cfg.Log = os.Stderr
	}
	run := map[string]func(context.Context, load.Config) *load.Result{
		"fanout": load.Fanout, "echo": load.Echo, "idle": load.Idle, "churn": load.Churn, "probe": load.Probe,
	}[*scenario]
	if run == nil {
		fmt.Fprintf(os.Stderr, "sioload: unknown scenario %q\n", *scenario)
		os.Exit(2)
	}

	if _, err := load.RaiseNoFile(); err != nil {
		fmt.Fprintln(os.Stderr, "sioload: raising RLIMIT_NOFILE:", err)
	}
	// Few, large collections: the hot paths allocate almost nothing.
	debug.SetGCPercent(400)

	limit := *hard
	if limit <= 0 {
		setup := time.Duration(cfg.N/50)*time.Millisecond + 60*time.Second
		limit = setup + cfg.Warmup + cfg.Duration + cfg.LatencyDuration + 2*cfg.DrainTimeout + cfg.Settle + cfg.Hold + 30*time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	// If a phase ignores ctx, the process still ends.
	time.AfterFunc(limit+15*time.Second, func() {
		fmt.Fprintf(os.Stderr, "sioload: hard timeout after %v\n", limit+15*time.Second)
		os.Exit(3)
	})

	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "sioload:", err)
			os.Exit(2)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, "sioload:", err)
			os.Exit(2)
		}
		defer pprof.StopCPUProfile()
	}
	res := run(ctx, cfg)
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		// Other work on the machine skews every number: keep a trace of it.
		if f := strings.Fields(string(b)); len(f) > 0 {
			res.Set("loadavg_1m", f[0])
		}
	}
	line, err := json.Marshal(res)
	if err != nil {
		fmt.Fprintln(os.Stderr, "sioload:", err)
		os.Exit(2)
	}
	fmt.Println(string(line))
	fmt.Fprintln(os.Stderr, load.Human(res))
	if ok, _ := res.Get("ok").(bool); !ok {
		pprof.StopCPUProfile()
		os.Exit(1)
	}
}

func report(args []string) int {
	fs := flag.NewFlagSet("report", flag.ExitOnError)
	baseline := fs.String("baseline", "node", "label the ratios are computed against")
	_ = fs.Parse(args)
	var readers []io.Reader
	for _, name := range fs.Args() {
		f, err := os.Open(name)
		if err != nil {
			fmt.Fprintln(os.Stderr, "sioload report:", err)
			return 2
		}
		defer f.Close()
		readers = append(readers, f)
	}
	if len(readers) == 0 {
		readers = append(readers, os.Stdin)
	}
	if err := load.Report(io.MultiReader(readers...), os.Stdout, *baseline); err != nil {
		fmt.Fprintln(os.Stderr, "sioload report:", err)
		return 1
	}
	return 0
}
