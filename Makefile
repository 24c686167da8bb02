# sailplan: `make demo` and `make test` do all the set-up a fresh machine needs.
# The first run builds kube-apiserver and etcd from source (about 5 minutes on
# 2 cores) into the cache ($SAILPLAN_CACHE, else ~/.cache/sailplan); later runs reuse them.

SHELL := /bin/bash
GO ?= go
N ?= 2
KUBEENV := $(GO) run ./testenv/cmd/kubeenv
TEST_TIMEOUT ?= 60m

.PHONY: all build test vet fmt-check unit bench soak demo clusters clusters-down clean deps

all: build

## build: the sailplan binary in bin/
build:
	$(GO) build -o bin/sailplan ./cmd/sailplan

## deps: what the tests, benchmarks and the demo need beyond Go: git (with http-backend, for the test Git
## server), Prometheus (for canary analysis), GNU time (peak memory in benchmarks) and Chromium (the live
## page's browser test), all Debian packages.
deps:
	@missing=""; \
	{ command -v git >/dev/null && test -x "$$(git --exec-path)/git-http-backend"; } || missing="$$missing git"; \
	command -v prometheus >/dev/null || missing="$$missing prometheus"; \
	test -x /usr/bin/time || missing="$$missing time"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

## test: every test, including the end-to-end ones against real local clusters, and Istio's own
## validation over everything sailplan renders (istiocheck/, a module of its own so that the sailplan
## binary does not carry istio.io/istio; its first build takes a few minutes).
test: deps vet fmt-check
	$(GO) test ./... -count=1 -timeout $(TEST_TIMEOUT)
	cd istiocheck && $(GO) test ./... -count=1

## unit: the tests that need no clusters (end-to-end tests skip with -short).
unit:
	$(GO) test ./... -short -count=1

## bench: the benchmarks recorded in docs/benchmarks.md.
bench:
	$(GO) test ./render -run '^$$' -bench . -benchtime 3x
	$(GO) test ./sync -run '^$$' -bench BenchmarkApply -benchtime 1x -timeout 30m

## soak: the daemon's memory over COMMITS commits to a templated repository of SERVICES services on three clusters,
## one push every EVERY; the series goes to docs/soak/SERVICES.csv and the summary to docs/soak/SERVICES.md, which
## docs/benchmarks.md quotes.
SERVICES ?= 1000
COMMITS ?= 200
EVERY ?= 6s
soak: deps
	$(GO) test ./testenv/soak -run TestSoak -count=1 -v -timeout 180m -soak.services $(SERVICES) -soak.commits $(COMMITS) \
		-soak.every $(EVERY) -soak.csv $(CURDIR)/docs/soak/$(SERVICES).csv -soak.summary $(CURDIR)/docs/soak/$(SERVICES).md $(SOAKFLAGS)

vet:
	$(GO) vet ./...
	cd istiocheck && $(GO) vet ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

## demo: two local clusters, a Git repository from examples/quickstart, the daemon, a weight change.
demo: deps build
	./scripts/demo.sh

## clusters: N local clusters in the background; kubeconfig in .kubeenv/kubeconfig (contexts c1..cN).
clusters:
	$(KUBEENV) up -n $(N) -dir .kubeenv

## clusters-down: stop the clusters started by `make clusters`.
clusters-down:
	$(KUBEENV) down -dir .kubeenv

clean: clusters-down
	rm -rf bin .demo
