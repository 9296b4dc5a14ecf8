# `make test` runs every test suite of the project; see README.md.
# Each fuzz target runs for FUZZTIME; `make fuzz FUZZTIME=5m` digs deeper.
FUZZTIME ?= 30s
BIN      := $(CURDIR)/.bin
GO       ?= go

.PHONY: test deps unit fuzz interop redis e2e bench-smoke build clean

test: deps unit fuzz interop redis e2e bench-smoke

# Installs what the tests need when it is missing: Node packages from the
# committed lockfiles, and Debian's chromium (only when running as root).
deps:
	@scripts/test-deps.sh

unit:
	$(GO) vet ./...
	$(GO) test -race -count=1 ./...

# Each native fuzz target runs for FUZZTIME on its checked-in corpus.
fuzz:
	@set -e; for pkg in ./socketio/parser ./socketio/engine ./socketio/adapter/redis; do \
	  for target in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "fuzz $$pkg $$target ($(FUZZTIME))"; \
	    $(GO) test -run '^$$' -fuzz "^$$target$$" -fuzztime $(FUZZTIME) $$pkg; \
	  done; \
	done

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
