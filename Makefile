# floe — make targets. `make demo` runs the pipeline on an embedded Kafka;
# `make test` runs every test (unit, kfake integration) with the race detector.

GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
BIN     := bin/floe

.PHONY: all build test demo lint bench clean

all: lint test build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/floe

test:
	$(GO) test -race -count=1 -timeout 20m ./...

demo:
	$(GO) run ./cmd/floe demo

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

bench:
	$(GO) test -run '^$$' -bench . -benchmem -count 3 ./codec/ ./cmd/floe/

clean:
	rm -rf bin
