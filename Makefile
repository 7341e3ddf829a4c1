# spoofguard — build, test and run targets. See README.md.
GO      ?= go
CONFIG  ?= examples/spoofguard.toml
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)

.PHONY: all build test conformance race bench lint fuzz run e2e e2e-sendmail loadtest loadtest-hardening package clean

all: lint test

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o dist/spoofguard ./cmd/spoofguard

# The conformance suites (SPF, DKIM and DMARC test suites of other
# projects, the public suffix tests, a corpus of real Received headers)
# read public data kept outside the repository: ../shared/testdata beside
# the checkout, or $(SPOOFGUARD_TESTDATA). Without it, `make test` skips
# them and lists what it skipped; under CI=true they fail instead.
TESTDATA          ?= $(or $(SPOOFGUARD_TESTDATA),../shared/testdata)
CONFORMANCE_PKGS  := ./dnsauth/... ./header/received/
CONFORMANCE_TESTS := Conformance|Corpus|PSL|Rspamd|DMARCbis|RFC8463|Mailauth|Dkimpy|AuthservIDSamples|ValiMail

test:
	$(GO) test -count=1 ./...
	@if [ ! -e "$(TESTDATA)" ]; then \
		echo "Conformance suites skipped (no data at $(TESTDATA)):"; \
		$(GO) test -count=1 -v -run '$(CONFORMANCE_TESTS)' $(CONFORMANCE_PKGS) | sed -n 's/^--- SKIP: \([^ ]*\).*/  \1/p'; \
		echo "Set SPOOFGUARD_TESTDATA to the data and run make conformance."; \
	fi

# Only the packages with conformance suites; fails when the data is missing.
conformance:
	CI=true SPOOFGUARD_TESTDATA="$(abspath $(TESTDATA))" $(GO) test -count=1 $(CONFORMANCE_PKGS)

# The race detector over every test (needs cgo: gcc).
race:
	$(GO) test -race -count=1 ./...

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

# Every fuzz target, one after another, FUZZTIME each; what coverage finds
# lands in the go build cache, interesting inputs go to testdata/fuzz by hand.
FUZZTIME ?= 1m
fuzz:
	@for pkg in $$($(GO) list ./...); do \
		for t in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
			echo "== $$pkg $$t"; \
			$(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) -parallel 1 $$pkg || exit 1; \
		done; \
	done

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	@# The suites behind build tags compile only with their tag: vet them
	@# here (and only here) so that a change to what they call is caught
	@# without running them.
	$(GO) vet -tags e2e ./test/e2e/...
	$(GO) vet -tags load ./test/load/...
	@# go.mod must name exactly the modules the code imports (none marked
	@# indirect that is imported directly); -diff prints what tidy would change.
	@$(GO) mod tidy -diff || { echo "go.mod/go.sum are not tidy: run go mod tidy"; exit 1; }

# End-to-end suite: the spoofguard binary behind a real Postfix and a real
# Sendmail, driven by swaks (root; test/e2e/install.sh installs postfix and
# swaks if missing, test/sendmail/install.sh unpacks Sendmail into
# /opt/spoofguard-e2e/sendmail). -parallel: the tests mostly wait on the
# MTAs, not on the CPU.
e2e:
	bash test/e2e/install.sh
	bash test/sendmail/install.sh
	$(GO) test -tags e2e -count=1 -v -parallel 8 -timeout 20m ./test/e2e/...

# The Sendmail tests and those run behind both MTAs (Postfix included).
e2e-sendmail:
	bash test/e2e/install.sh
	bash test/sendmail/install.sh
	$(GO) test -tags e2e -count=1 -v -parallel 8 -timeout 10m \
		-run 'Sendmail|MilterInput|FromSpaceBeforeColon|ReloadUnderTraffic|Enforce|HarnessNoMilter|HarnessMilterDown' ./test/e2e/...

# Load suite: throughput against Postfix with no milter (inet: and unix:),
# end-of-data latency, memory, and the hardening run (reloads, DNS
# outages, SIGTERM under load) with 20,000 messages; about 15 minutes.
# Root, like e2e. Method and figures: docs/PERFORMANCE.md. Not part of CI.
LOADFLAGS ?=
loadtest:
	bash test/e2e/install.sh
	$(GO) test -tags load -count=1 -v -timeout 90m ./test/load/... $(if $(LOADFLAGS),-args $(LOADFLAGS))

# The hardening run alone, at its full size of 100,000 messages.
loadtest-hardening:
	bash test/e2e/install.sh
	$(GO) test -tags load -count=1 -v -timeout 90m -run TestHardening ./test/load/... -args -load.hardening 100000

run:
	$(GO) run ./cmd/spoofguard serve -config $(CONFIG)

# Packages: dist/spoofguard_$(PKG_VERSION)_amd64.deb and
# dist/spoofguard-$(PKG_VERSION)-1.x86_64.rpm, built by nfpm (run from its
# own module so that its dependencies stay out of go.mod; v2.46+ does not
# build from our proxy). VERSION=1.2.0 makes a release package.
PKG_VERSION ?= $(shell packaging/version.sh $(VERSION))
NFPM        ?= $(GO) run github.com/goreleaser/nfpm/v2/cmd/nfpm@v2.45.2
MANPAGES    := dist/man/spoofguard.8.gz dist/man/spoofguard.toml.5.gz

package: build $(MANPAGES)
	rm -f dist/spoofguard_*.deb dist/spoofguard-*.rpm
	PKG_VERSION=$(PKG_VERSION) $(NFPM) package --config packaging/nfpm.yaml --packager deb --target dist/spoofguard_$(PKG_VERSION)_amd64.deb
	PKG_VERSION=$(PKG_VERSION) $(NFPM) package --config packaging/nfpm.yaml --packager rpm --target dist/spoofguard-$(PKG_VERSION)-1.x86_64.rpm

dist/man/%.gz: packaging/man/%
	@mkdir -p dist/man
	gzip -9 -n -c $< > $@

clean:
	rm -rf dist
