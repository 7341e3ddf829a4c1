# spoofguard — build, test and run targets. See README.md.
GO      ?= go
CONFIG  ?= examples/spoofguard.toml
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)

.PHONY: all build test bench lint fuzz run e2e loadtest package clean

all: lint test

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o dist/spoofguard ./cmd/spoofguard

test:
	$(GO) test -count=1 ./...

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

run:
	$(GO) run ./cmd/spoofguard serve -config $(CONFIG)

clean:
	rm -rf dist
