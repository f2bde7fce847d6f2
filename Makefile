# Patron — make help lists the targets.
GO        ?= go
BIN       ?= bin/patron
DATA      ?= ./data
CLUSTER   ?= ./cluster
FUZZTIME  ?= 30s
BENCHTIME ?= 2s
PKGS      := ./...
VERSION   ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)

.PHONY: help run cluster build test test-short vet bench fuzz clean

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  make %-10s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

run: build ## run a store node with the demo programme (till on :7070, admin on :8080)
	$(BIN) dev --data $(DATA)

cluster: build ## run 3 HQ nodes and 2 stores on loopback (keys and data in CLUSTER=./cluster); Ctrl-C stops all
	$(BIN) cluster --dir $(CLUSTER)

build: ## build bin/patron, its version from git describe (else "dev")
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o $(BIN) ./cmd/patron

test: vet ## run every test with the race detector (what CI runs)
	$(GO) test -race -count=1 -timeout 20m $(PKGS)

test-short: ## run the tests without the race detector, skipping the slow ones
	$(GO) test -short -count=1 $(PKGS)

vet: ## gofmt and go vet
	@unformatted=$$(gofmt -l $$(git ls-files -co --exclude-standard '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi
	$(GO) vet $(PKGS)

bench: build ## run the benchmarks, the till load driver and the chain benchmarks (CHAINBENCH='-vis.load 100x10' for more)
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) ./engine/ ./node/ ./posbridge/ ./replication/hq/ ./replication/transport/
	$(BIN) loadtest
	$(GO) run ./testcluster/bench/cmd/chainbench $(CHAINBENCH)

fuzz: ## run every fuzz target for FUZZTIME each (default 30s)
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; \
	    $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

.PHONY: soak
DURATION ?= 5m
soak: ## run testcluster schedules for DURATION (default 5m); ends with one summary line
	$(GO) run ./testcluster/cmd/soak -duration $(DURATION)

clean: ## remove build output and the dev and cluster data directories
	rm -rf bin $(DATA) $(CLUSTER)

.PHONY: crashsoak demo
KILLS ?= 100
crashsoak: build ## SIGKILL real patron processes (3 HQ, 3 stores) KILLS times under till load (default 100); one summary line
	$(GO) run ./testcluster/cmd/crashsoak -bin $(BIN) -kills $(KILLS)

demo: ## a 3 HQ + 3 store chain in one process, live in the terminal for a minute while links are cut and healed
	$(GO) run ./testcluster/cmd/demo
