# `make test` runs every test suite of the project; see README.md.
# Each fuzz target runs for FUZZTIME; `make fuzz FUZZTIME=5m` digs deeper.
FUZZTIME ?= 30s
BIN      := $(CURDIR)/.bin
GO       ?= go

.PHONY: test deps unit fuzz fault hostile soak interop redis e2e bench-smoke build clean

test: deps unit fuzz fault hostile interop redis e2e bench-smoke

# Installs what the tests need when it is missing: Node packages from the
# committed lockfiles, and Debian's chromium (only when running as root).
deps:
	@scripts/test-deps.sh

unit:
	$(GO) vet ./...
	$(GO) test -race -count=1 ./...

# Each native fuzz target runs for FUZZTIME on its checked-in corpus.
fuzz:
	@set -e; for pkg in ./socketio/parser ./socketio/engine ./socketio/adapter/redis ./caddymodule/hooks; do \
	  for target in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "fuzz $$pkg $$target ($(FUZZTIME))"; \
	    $(GO) test -run '^$$' -fuzz "^$$target$$" -fuzztime $(FUZZTIME) $$pkg; \
	  done; \
	done

# Faults at full size, one package at a time so that timings are not
# shared with other tests: a slow consumer among 1,000 clients, 10,000
# connects at once, a webhook app down/slow/garbage, caddy reload once a
# second for 30 s, abrupt client death, Redis restarts (test/fault). The
# race run in `unit` covers them at reduced size.
fault:
	$(GO) test -count=1 -p 1 -timeout 15m ./test/fault/

# The attacks of a hostile client against a real Caddy built from
# ./cmd/caddy at the default limits, one at a time (test/hostile): each
# checks that Caddy lives, a canary's ack-echo is answered within 2 s, and
# RSS and heap grow less than 64 MB. About two minutes.
hostile:
	$(GO) test -count=1 -p 1 -timeout 10m ./test/hostile/

# The same at soak size (about 15 minutes), and 100,000 connect/disconnect
# cycles for the leak check. Not part of `make test`.
soak:
	FAULT_SOAK=1 $(GO) test -count=1 -p 1 -timeout 60m -v ./test/fault/
	$(GO) test -count=1 -run NoLeak -timeout 30m ./socketio/ -cycles 100000

build:
	@mkdir -p $(BIN)
	$(GO) build -o $(BIN)/conformance ./examples/conformance

# The official socket.io-client (Node) against the conformance fixture.
interop: build
	cd test/interop && SERVER_BIN=$(BIN)/conformance npm test

# The Redis adapter next to the official Node @socket.io/redis-adapter and
# @socket.io/redis-emitter; the harness starts its own redis-server.
redis:
	cd test/redis && npm test

# A real Caddy built from ./cmd/caddy, driven by Node and headless Chromium.
e2e:
	@mkdir -p $(BIN)
	$(GO) build -o $(BIN)/caddy ./cmd/caddy
	cd test/e2e && CADDY_BIN=$(BIN)/caddy npm test

# Seconds of each load scenario against Node and the fixture, so the load
# tool cannot rot; `bench/run.sh` without --smoke is the real comparison.
bench-smoke:
	bench/run.sh --smoke

clean:
	rm -rf $(BIN)
