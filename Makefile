# Berth: build, install, test, benchmark.
GO      ?= $(shell command -v go || echo /usr/local/go/bin/go)
PREFIX  ?= /usr/local
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo 0.1.0-dev)
COMMIT  ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
LDFLAGS := -s -w -X github.com/berth-dev/berth/internal/version.Version=$(VERSION) -X github.com/berth-dev/berth/internal/version.Commit=$(COMMIT)
BINS    := bin/berth bin/berthd bin/berth-shim

.PHONY: all build install deps fixtures demo test unit integration bench vet fmt clean $(BINS)

all: build

build: $(BINS)

$(BINS):
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $@ ./cmd/$(notdir $@)

install: build
	install -m 0755 $(BINS) $(PREFIX)/bin/

# deps installs the Debian packages Berth and its tests need (idempotent).
deps:
	./scripts/deps.sh

# fixtures builds the offline base images and serves them from a local registry.
fixtures:
	./test/fixtures/fixtures.sh

# demo: the README's first command: everything from a fresh machine to a running container.
demo: deps build install fixtures
	./scripts/demo.sh

# test: the README's second command: unit, integration and compatibility tests.
# Tests needing root, runc and the registry run for real; under CI=true they fail
# rather than skip when a prerequisite is missing.
test: deps build fixtures vet
	$(GO) test -count=1 -timeout 40m ./...
	cd examples/myapp/app && $(GO) vet ./... && $(GO) test -count=1 ./...

integration: build fixtures
	$(GO) test -count=1 -timeout 30m -v ./test/integration/

bench: build fixtures
	./bench/all.sh

vet:
	$(GO) vet ./...
	@test -z "$$(gofmt -l . | tee /dev/stderr)"

clean:
	rm -rf bin
