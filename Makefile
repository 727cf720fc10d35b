# go402 build and test entry points. `make test` is what CI runs.
GO            ?= go
STATICCHECK   := honnef.co/go/tools/cmd/staticcheck@v0.8.2
FUZZTIME      ?= 20s
# Packages that contain fuzz targets; `make fuzz` runs every Fuzz* in them.
FUZZ_PKGS     ?= ./x402 ./evm ./evm/batchsettlement ./x402http ./x402mcp

.PHONY: all build test fmt-check vet staticcheck unit fuzz tidy-check contracts interop bench gobench

all: build

build:
	$(GO) build ./...

## test: everything CI checks (formatting, vet, staticcheck, race-enabled tests).
test: fmt-check tidy-check build vet staticcheck unit

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './node_modules/*')); \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

staticcheck:
	$(GO) run $(STATICCHECK) ./...

## interop: installs the pinned official x402 TypeScript packages used by ./interop.
interop:
	cd interop && npm ci --no-audit --no-fund

unit: interop
	$(GO) test -race -count=1 ./...

## fuzz: runs every fuzz target for $(FUZZTIME) each.
fuzz:
	@set -e; for pkg in $(FUZZ_PKGS); do \
	  for t in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "== $$pkg $$t"; $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) $$pkg; \
	  done; \
	done

## contracts: rebuilds contracts/artifacts (the embedded test tokens, Multicall3, the batch-settlement contracts, Permit2 and the x402 Permit2 proxies) with the pinned solc-js.
contracts:
	cd contracts && npm ci && node build.mjs artifacts

## tidy-check: fails if go.mod or go.sum is not tidy.
tidy-check:
	$(GO) mod tidy -diff

## bench: the side-by-side measurements of `go402 bench` (go402 and the
## official TypeScript facilitator on one devnet); see BENCHMARKS.md. Not
## part of `make test`. BENCHFLAGS adds flags, e.g. BENCHFLAGS=--skip-ts.
BENCHFLAGS ?=
bench: interop
	$(GO) run ./cmd/go402 bench --out bench-results.json $(BENCHFLAGS)

## gobench: the Go benchmarks of the hot paths (EIP-712, recovery, verify,
## middleware), for spotting regressions.
gobench:
	$(GO) test -run '^$$' -bench . -benchmem ./evm/ ./evm/batchsettlement/ ./x402http/ ./x402/
