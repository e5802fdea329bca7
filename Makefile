# Hayate — `make help` lists the targets.
GO       ?= go
BIN      ?= bin/hayate
PKGS     ?= ./...
FUZZTIME ?= 20s

.DEFAULT_GOAL := help

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-14s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

build: ## build the server binary into bin/hayate
	$(GO) build -o $(BIN) ./cmd/hayate

sdk: e2e/node_modules/.package-lock.json ## install sora-js-sdk and playwright-core (npm, pinned in e2e/package-lock.json)

e2e/node_modules/.package-lock.json: e2e/package.json e2e/package-lock.json
	cd e2e && npm ci --no-audit --no-fund

run: sdk build ## run the server with embedded defaults; try-it page at http://127.0.0.1:5000/
	./$(BIN)

test: ## every test: unit, fuzz seeds, Go integration (pion clients), browser (sora-js-sdk in Chromium)
	$(GO) test -count=1 -timeout 20m $(PKGS)
	$(MAKE) e2e

unit: ## Go tests only (unit + integration with pion clients)
	$(GO) test -count=1 -timeout 20m $(PKGS)

e2e: sdk ## browser tests: sora-js-sdk in headless Chromium against a real server
	scripts/e2e.sh

bench: ## micro benchmarks of the media path (ns per forwarded packet, allocations)
	$(GO) test -run XXX -bench . -benchmem -count 5 ./dataplane/... ./ringbuf/...

fuzz: ## run every fuzz target for FUZZTIME each
	@set -e; for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list 'Fuzz.*' $$pkg | grep '^Fuzz' || true); do \
	    echo "== $$pkg $$f"; $(GO) test -run XXX -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg; \
	  done; done

verify: ## gofmt, go vet, go mod tidy check
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1)
	$(GO) vet ./...
	$(GO) mod tidy -diff

.PHONY: help build sdk run test unit e2e bench fuzz verify

LOAD_DURATION ?= 5s

bench-compare: ## build hayate and the pion baseline (temp dir), run the standard load set against both, print one line per run
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	$(GO) build -o "$$tmp/hayate" ./cmd/hayate && \
	$(GO) build -o "$$tmp/baseline" ./bench/baseline/cmd/baseline && \
	"$$tmp/hayate" load --scenario standard --gso both --duration $(LOAD_DURATION) \
	  --server-bin "$$tmp/hayate" --baseline-bin "$$tmp/baseline"

profile: ## CPU and allocation profiles of hayate (its default GSO on) over 20 s of the fanout 1→200 load, saved in a temp dir, with pprof -top of each
	@tmp=$$(mktemp -d) && \
	$(GO) build -o "$$tmp/hayate" ./cmd/hayate && \
	"$$tmp/hayate" load --scenario fanout --subs 200 --gso on --duration 20s --baseline=false \
	  --server-bin "$$tmp/hayate" --profile-dir "$$tmp" && \
	echo "== CPU profile: $$tmp/hayate-cpu.pprof" && \
	$(GO) tool pprof -top "$$tmp/hayate" "$$tmp/hayate-cpu.pprof" 2>/dev/null | head -45 && \
	echo "== allocation profile (objects): $$tmp/hayate-allocs.pprof" && \
	$(GO) tool pprof -top -sample_index=alloc_objects -base "$$tmp/hayate-allocs-base.pprof" "$$tmp/hayate" "$$tmp/hayate-allocs.pprof" 2>/dev/null | head -30

.PHONY: bench-compare profile
