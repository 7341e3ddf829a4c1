# spoofguard — build, test and run targets. See README.md.
GO      ?= go
CONFIG  ?= examples/spoofguard.toml
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)

.PHONY: all build test bench lint fuzz run e2e loadtest loadtest-hardening package clean

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

# End-to-end suite: the spoofguard binary behind a real Postfix, driven by
# swaks (root; test/e2e/install.sh installs postfix and swaks if missing).
# -parallel: the tests mostly wait on Postfix, not on the CPU.
e2e:
	bash test/e2e/install.sh
	$(GO) vet -tags e2e ./test/e2e/...
	$(GO) test -tags e2e -count=1 -v -parallel 8 -timeout 20m ./test/e2e/...

# Load suite: throughput against Postfix with no milter (inet: and unix:),
# end-of-data latency, memory, and the hardening run (reloads, DNS
# outages, SIGTERM under load) with 20,000 messages; about 15 minutes.
# Root, like e2e. Method and figures: docs/PERFORMANCE.md. Not part of CI.
LOADFLAGS ?=
loadtest:
	bash test/e2e/install.sh
	$(GO) vet -tags load ./test/load/...
	$(GO) test -tags load -count=1 -v -timeout 90m ./test/load/... $(if $(LOADFLAGS),-args $(LOADFLAGS))

# The hardening run alone, at its full size of 100,000 messages.
loadtest-hardening:
	bash test/e2e/install.sh
	$(GO) test -tags load -count=1 -v -timeout 90m -run TestHardening ./test/load/... -args -load.hardening 100000

run:
	$(GO) run ./cmd/spoofguard serve -config $(CONFIG)

clean:
	rm -rf dist
