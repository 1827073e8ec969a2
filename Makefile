# flotilla: `make run` starts a single-node cluster, `make test` runs everything CI runs.
SHELL := bash
GO ?= go
TOOLS := $(CURDIR)/.tools/bin
KUBO := $(TOOLS)/ipfs
STATICCHECK := $(TOOLS)/staticcheck
CLUSTERCTL := $(TOOLS)/ipfs-cluster-ctl
CLUSTERSVC := $(TOOLS)/ipfs-cluster-service
CADDY := $(TOOLS)/caddy
VERSITYGW := $(TOOLS)/versitygw
OCI_CONFORMANCE := $(TOOLS)/oci-conformance
DISTRIBUTION := $(TOOLS)/registry
CADDY_VERSION := v2.11.9
VERSITYGW_VERSION := v1.8.0
FUZZTIME ?= 30s

.PHONY: help run build test check unit e2e cdk-test tools chromium bench bench-gateway bench-cluster bench-compare bench-bulk bench-add-cluster bench-s3 bench-registry fuzz clean \
	image lb-image s3-image compose-up compose-down compose-test cdk-synth

# A bare `make` is still `make run`; `make help` lists the targets.
.DEFAULT_GOAL := run

## help: list the documented targets (a `## target: description` line above each)
help:
	@awk '/^## [A-Za-z0-9_-]+: / { sub(/^## /, ""); n = index($$0, ":"); printf "  %-18s %s\n", substr($$0, 1, n - 1), substr($$0, n + 2) }' $(MAKEFILE_LIST)

## run: start a single-node flotilla with built-in defaults (data in ~/.flotilla)
run:
	$(GO) run ./cmd/flotilla daemon

## build: build bin/flotilla
build:
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/flotilla ./cmd/flotilla

## test: formatting, vet, staticcheck, every test with the race detector, the compose stack end to end, the CDK app
test: tools check unit e2e cdk-test

## check: gofmt, go vet (with the e2e tag for deploy), staticcheck
check: tools
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(GO) vet -tags e2e ./deploy/...
	$(STATICCHECK) ./...

## unit: every Go test with the race detector (25 minutes at most)
unit: tools
	FLOTILLA_KUBO=$(KUBO) FLOTILLA_CLUSTER_CTL=$(CLUSTERCTL) FLOTILLA_VERSITYGW=$(VERSITYGW) FLOTILLA_OCI_CONFORMANCE=$(OCI_CONFORMANCE) $(GO) test -race -timeout 25m ./...

## e2e: the three-zone compose stack end to end (needs a Docker engine)
e2e: compose-test

## image: flotilla:<version> and flotilla:latest, a static binary FROM scratch; <version> is the binary's (from the VCS)
image:
	@rm -rf bin/image && mkdir -p bin/image/data
	CGO_ENABLED=0 $(GO) build -buildvcs=auto -trimpath -ldflags='-s -w' -o bin/image/flotilla ./cmd/flotilla
	v=$$($(GO) version -m bin/image/flotilla | awk '$$1 == "mod" {print $$3}' | tr + -); \
	docker build -q -f deploy/Dockerfile --build-arg VERSION=$$v --build-arg REVISION=$$(git rev-parse HEAD 2>/dev/null) \
	  -t flotilla:$$v -t flotilla:latest bin/image && \
	docker image inspect flotilla:latest --format "flotilla:$$v {{.Size}} bytes"

## lb-image: the local stack's load balancer, Caddy built static FROM scratch
lb-image: $(CADDY)
	@rm -rf bin/lb && mkdir -p bin/lb/state/config bin/lb/state/data && cp $(CADDY) bin/lb/caddy
	docker build -q -f deploy/lb/Dockerfile --build-arg VERSION=$(CADDY_VERSION) -t flotilla-lb:$(CADDY_VERSION) bin/lb

## s3-image: the local stack's S3 server (STORAGE=s3), versitygw built static FROM scratch with the bucket made
# The same binary as the s3store tests' (static: CGO_ENABLED=0 in its rule,
# one build for both); one built with cgo before is built again.
s3-image: $(VERSITYGW)
	@$(GO) version -m $(VERSITYGW) | grep -q 'CGO_ENABLED=0' || $(MAKE) --no-print-directory -B $(VERSITYGW)
	@rm -rf bin/s3 && mkdir -p bin/s3/root/flotilla && cp $(VERSITYGW) bin/s3/versitygw
	docker build -q -f deploy/s3/Dockerfile --build-arg VERSION=$(VERSITYGW_VERSION) -t flotilla-s3:$(VERSITYGW_VERSION) bin/s3

# STORAGE: empty or flatfs (blocks on the nodes' volumes), or s3 (a shared
# bucket of an S3 server in the stack, deploy/compose.s3.yaml).
STORAGE ?=
$(if $(filter-out flatfs s3,$(STORAGE)),$(error STORAGE=$(STORAGE): want flatfs or s3))
COMPOSE_IMAGES := image lb-image $(if $(filter s3,$(STORAGE)),s3-image)

## compose-up: build the images, generate the secrets once (deploy/.local), start the three-zone stack, wait until ready (STORAGE=s3: blocks in a shared bucket of an S3 server in the stack)
compose-up: $(COMPOSE_IMAGES)
	FLOTILLA_STORAGE=$(STORAGE) deploy/compose.sh up

## compose-down: stop the stack, either variant, keeping its volumes (WIPE=1 removes them)
compose-down:
	deploy/compose.sh down $(if $(WIPE),wipe)

## compose-test: the end-to-end test of the compose stack (kill, rolling restart, partition, replacement; the S3 variant: shared bucket, a fresh node serving from it). STORAGE=s3: the S3 variant only
compose-test: image lb-image s3-image $(KUBO) $(CLUSTERCTL)
	cd deploy && FLOTILLA_KUBO=$(KUBO) FLOTILLA_CLUSTER_CTL=$(CLUSTERCTL) FLOTILLA_BIN=$(CURDIR)/bin/image/flotilla \
	  $(GO) test -tags e2e -count=1 -timeout 20m -v $(if $(filter s3,$(STORAGE)),-run '^TestS3Stack$$') ./e2e/

## cdk-synth: write the AWS stack's CloudFormation template, deploy/cdk/flotilla.template.json (needs node)
CDK_ENV := JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=20
cdk-synth:
	cd deploy/cdk && $(CDK_ENV) FLOTILLA_CDK_OUT=flotilla.template.json $(GO) run .

## cdk-test: vet and test the CDK app: assertions on the template, schema validation, a stale committed template fails
cdk-test:
	cd deploy/cdk && $(CDK_ENV) $(GO) vet ./... && $(CDK_ENV) $(GO) test -count=1 ./...

## tools: build the real peers, the S3 server and the linters the tests use, into .tools/bin (cached); install chromium when missing
tools: $(KUBO) $(STATICCHECK) $(CLUSTERCTL) $(VERSITYGW) $(OCI_CONFORMANCE) chromium

# Debian's chromium, the headless browser of the web console's tests
# (cmd/flotilla TestConsoleInABrowser), installed once when missing.
chromium:
	@command -v chromium >/dev/null 2>&1 || { echo "installing chromium for the console's browser tests"; \
	  $$([ "$$(id -u)" = 0 ] || echo sudo) sh -c 'apt-get update -qq && apt-get install -y -qq chromium'; }

$(KUBO): tools/kubo/go.mod tools/kubo/go.sum
	cd tools/kubo && GOBIN=$(TOOLS) $(GO) install github.com/ipfs/kubo/cmd/ipfs

$(CLUSTERCTL): tools/ipfs-cluster/go.mod tools/ipfs-cluster/go.sum
	cd tools/ipfs-cluster && GOBIN=$(TOOLS) $(GO) install github.com/ipfs-cluster/ipfs-cluster/cmd/ipfs-cluster-ctl

# Only bench-compare needs the incumbent's daemon; make test does not build it.
$(CLUSTERSVC): tools/ipfs-cluster/go.mod tools/ipfs-cluster/go.sum
	cd tools/ipfs-cluster && GOBIN=$(TOOLS) $(GO) install github.com/ipfs-cluster/ipfs-cluster/cmd/ipfs-cluster-service

$(CADDY): tools/caddy/go.mod tools/caddy/go.sum
	cd tools/caddy && CGO_ENABLED=0 GOBIN=$(TOOLS) $(GO) install -trimpath -ldflags='-s -w' github.com/caddyserver/caddy/v2/cmd/caddy

# The S3 server of the s3store tests (its posix backend on a temporary directory).
$(VERSITYGW): tools/versitygw/go.mod tools/versitygw/go.sum
	cd tools/versitygw && CGO_ENABLED=0 GOBIN=$(TOOLS) $(GO) install github.com/versity/versitygw/cmd/versitygw

# The OCI Distribution Specification's conformance suite, run against the
# registry by internal/registry's TestOCIConformance.
$(OCI_CONFORMANCE): tools/oci-conformance/go.mod tools/oci-conformance/go.sum
	cd tools/oci-conformance && $(GO) build -o $(OCI_CONFORMANCE) github.com/opencontainers/distribution-spec/conformance

$(STATICCHECK): tools/staticcheck/go.mod tools/staticcheck/go.sum
	cd tools/staticcheck && GOBIN=$(TOOLS) $(GO) install honnef.co/go/tools/cmd/staticcheck

## bench: add throughput of a 1 GiB file against kubo and the hardware limits
bench: tools build
	$(GO) run ./bench/addbench -flotilla bin/flotilla -kubo $(KUBO) -dir $(CURDIR)/.bench

## bench-gateway: gateway req/s, latency and throughput against kubo 0.43's gateway, same run (wrk if installed)
bench-gateway: tools build
	$(GO) run ./bench/gatewaybench -flotilla bin/flotilla -kubo $(KUBO)

## bench-cluster: pin ingest, bulk pinning and status on a 3-peer loopback cluster, and listing 1M pins
bench-cluster:
	$(GO) test -run '^$$' -bench 'PinIngest|PinMany|StatusAll|ListPins|FormAndDetect' -benchtime 1x -timeout 30m ./internal/cluster

## bench-compare: flotilla side by side with IPFS Cluster 1.1.6 + kubo 0.43 in one run (about 14 minutes; QUICK=1: under 3; REPORT=docs: charts to docs/img)
bench-compare: build $(KUBO) $(CLUSTERSVC)
	@mkdir -p .bench
	$(GO) run ./bench/compare -flotilla bin/flotilla -kubo $(KUBO) -cluster-service $(CLUSTERSVC) \
	  -dir $(CURDIR)/.bench -json $(CURDIR)/.bench/compare.json $(if $(QUICK),-quick) $(if $(REPORT),-report $(REPORT))

## bench-bulk: import N pins (default 1,000,000) into a 3-daemon loopback cluster with `pin add --from`, then time GET /pins
N ?= 1000000
bench-bulk: build
	N=$(N) bash bench/bulk-import.sh

## bench-add-cluster: POST /add through the REST API of a 3-peer loopback cluster, replication 3, 256 MiB (ADD_SIZE=1GiB for the large run)
ADD_SIZE ?= 256MiB
bench-add-cluster: build
	$(GO) run ./bench/addclusterbench -flotilla bin/flotilla -size $(ADD_SIZE)

## bench-s3: S3 requests and speed of flotilla's S3 store against go-ds-s3's object per block, one versitygw, and local disk (about 6 minutes; QUICK=1: 64 MiB)
S3_SIZE ?= 1GiB
bench-s3: $(VERSITYGW)
	@mkdir -p .bench
	cd bench/s3bench && FLOTILLA_VERSITYGW=$(VERSITYGW) $(GO) test -run '^TestS3Bench$$' -count=1 -v -timeout 60m . \
	  -args -s3bench -size $(S3_SIZE) $(if $(QUICK),-quick) -out $(CURDIR)/.bench/s3bench.md

## bench-registry: push and pull a 1 GiB image (crane's library) through flotilla (1 node; 3 nodes ×3) and distribution v3.0.0's registry on its filesystem driver (REGISTRY_SIZE=128MiB for a quick run)
REGISTRY_SIZE ?= 1GiB
bench-registry: build $(DISTRIBUTION)
	$(GO) run ./bench/registrybench -flotilla bin/flotilla -registry $(DISTRIBUTION) -size $(REGISTRY_SIZE) -dir $(CURDIR)/.bench/registry

# The reference registry of bench-registry (not built by make tools).
$(DISTRIBUTION): tools/distribution/go.mod tools/distribution/go.sum
	cd tools/distribution && $(GO) build -o $(DISTRIBUTION) github.com/distribution/distribution/v3/cmd/registry

## fuzz: run every fuzz target for FUZZTIME each
fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

## clean: remove bin, .tools and .bench
clean:
	rm -rf bin .tools .bench
