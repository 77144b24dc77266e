# floe — make targets. `make demo` runs the pipeline on an embedded Kafka;
# `make test` runs every test with the race detector: unit and kfake
# integration tests, then the e2e suite against real services (Kafka, the
# Iceberg REST catalog, S3, PostgreSQL, PyIceberg, DuckDB, a schema
# registry), which it starts and stops itself.

GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
BIN     := bin/floe

TESTBED := e2e/testbed

.PHONY: all build test unit e2e up down demo lint bench bench-budget bench-go bench-catalog bench-longrun clean

all: lint test build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/floe

# test starts the test bed with the schema registry (E2E_WITH_REGISTRY=1),
# the Glue, Hive and Nessie catalogs (E2E_WITH_CATALOGS=1) and the object-store
# emulators (E2E_WITH_STORES=1): the e2e suite has tests of them; `make up`
# alone starts them only when asked.
test: lint unit
	@E2E_WITH_REGISTRY=1 E2E_WITH_CATALOGS=1 E2E_WITH_STORES=1 $(TESTBED)/up.sh && $(MAKE) --no-print-directory e2e; rc=$$?; $(TESTBED)/down.sh; exit $$rc

# unit puts promtool on PATH (e2e/testbed/promtool.sh: Debian's, unpacked
# into the cache) so the alert rules and their unit tests are checked.
unit:
	PATH="$$($(TESTBED)/promtool.sh):$$PATH" $(GO) test -race -count=1 -timeout 20m ./...

# e2e runs the black-box suite against services already started by `make up`.
e2e:
	$(GO) test -tags e2e -count=1 -timeout 45m ./e2e/

up:
	$(TESTBED)/up.sh

down:
	$(TESTBED)/down.sh

demo:
	$(GO) run ./cmd/floe demo

# lint: gofmt, go vet (with and without the e2e build tag) and a tidy module;
# part of `make test`, so CI catches each of them.
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) vet -tags e2e ./e2e/...
	@$(GO) mod tidy -diff || { echo "go.mod/go.sum are not tidy: run 'go mod tidy' and commit the result"; exit 1; }

# bench: the Go benchmarks, then floe end to end on the real test bed: the
# drain (2 million ~300-byte records over 8 partitions already in the topic),
# then the steady stream (20,000 records/s for 2 minutes, record -> visible
# latency), each judged by the independent readers, and one summary: drain
# rate, CPU-s per GB, CPU utilisation, peak RSS, freshness p50/p99; see
# docs/BENCHMARKS.md. BENCHFLAGS apply to both (e.g. BENCHFLAGS='-records 500000').
bench: bench-go build
	@$(TESTBED)/up.sh && $(GO) run ./e2e/bench -floe $(BIN) -mode all $(BENCHFLAGS); rc=$$?; $(TESTBED)/down.sh; exit $$rc

# bench-budget: the drain once per kafka.memory-budget (128 MiB to 1 GiB),
# each on a fresh topic and judged by the readers; the figures go to
# /tmp/floe-bench/budget.csv, the chart to docs/benchmarks/budget.png.
BUDGETS ?= 128MiB,256MiB,512MiB,1GiB
bench-budget: build
	@$(TESTBED)/up.sh && $(GO) run ./e2e/bench -floe $(BIN) -budgets $(BUDGETS) $(BENCHFLAGS); rc=$$?; $(TESTBED)/down.sh; exit $$rc

# bench-catalog: 24 writers (4 floe processes x 6 tables, one consumer group)
# committing every second to the real REST catalog, with floe's default
# catalog limits and then with max-conns-per-host 2 / max-in-flight 2;
# see docs/BENCHMARKS.md.
bench-catalog: build
	@$(TESTBED)/up.sh && $(GO) run ./e2e/benchcatalog -floe $(BIN) $(BENCHFLAGS) && \
		$(GO) run ./e2e/benchcatalog -floe $(BIN) -max-conns-per-host 2 -max-in-flight 2 $(BENCHFLAGS); \
		rc=$$?; $(TESTBED)/down.sh; exit $$rc

# bench-longrun: thousands of commits at a 250 ms interval (~1,000 records/s):
# 64 partitions x 2,000 commits, then 1,000 partitions x 300 commits, each
# with floe's default table settings and, when e2e/benchlongrun/maintenance.yaml
# exists, with it merged into the table's config; commit latency and metadata
# sizes per commit go to /tmp/floe-longrun/<run>.csv, the chart to
# docs/benchmarks/longrun.png; see docs/BENCHMARKS.md. BENCHFLAGS apply to
# every run (e.g. BENCHFLAGS='-commits 500').
bench-longrun: build
	@$(TESTBED)/up.sh && e2e/benchlongrun/run.sh $(BIN) $(BENCHFLAGS); rc=$$?; $(TESTBED)/down.sh; exit $$rc

bench-go:
	$(GO) test -run '^$$' -bench . -benchmem -count 3 ./codec/ ./offsets/ ./cmd/floe/

clean:
	rm -rf bin
