# flotilla: `make run` starts a single-node cluster, `make test` runs everything CI runs.
SHELL := bash
GO ?= go
TOOLS := $(CURDIR)/.tools/bin
KUBO := $(TOOLS)/ipfs
STATICCHECK := $(TOOLS)/staticcheck
CLUSTERCTL := $(TOOLS)/ipfs-cluster-ctl
CLUSTERSVC := $(TOOLS)/ipfs-cluster-service
FUZZTIME ?= 30s

.PHONY: run build test check unit tools bench bench-gateway bench-cluster bench-compare bench-add-cluster fuzz clean

## run: start a single-node flotilla with built-in defaults (data in ~/.flotilla)
run:
	$(GO) run ./cmd/flotilla daemon

## build: build bin/flotilla
build:
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/flotilla ./cmd/flotilla

## test: formatting, vet, staticcheck, then every test with the race detector
test: tools check unit

check: tools
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(STATICCHECK) ./...

unit: tools
	FLOTILLA_KUBO=$(KUBO) FLOTILLA_CLUSTER_CTL=$(CLUSTERCTL) $(GO) test -race -timeout 25m ./...

## tools: build the real peers and linters the tests use, into .tools/bin (cached)
tools: $(KUBO) $(STATICCHECK) $(CLUSTERCTL)

$(KUBO): tools/kubo/go.mod tools/kubo/go.sum
	cd tools/kubo && GOBIN=$(TOOLS) $(GO) install github.com/ipfs/kubo/cmd/ipfs

$(CLUSTERCTL): tools/ipfs-cluster/go.mod tools/ipfs-cluster/go.sum
	cd tools/ipfs-cluster && GOBIN=$(TOOLS) $(GO) install github.com/ipfs-cluster/ipfs-cluster/cmd/ipfs-cluster-ctl

# Only bench-compare needs the incumbent's daemon; make test does not build it.
$(CLUSTERSVC): tools/ipfs-cluster/go.mod tools/ipfs-cluster/go.sum
	cd tools/ipfs-cluster && GOBIN=$(TOOLS) $(GO) install github.com/ipfs-cluster/ipfs-cluster/cmd/ipfs-cluster-service

$(STATICCHECK): tools/staticcheck/go.mod tools/staticcheck/go.sum
	cd tools/staticcheck && GOBIN=$(TOOLS) $(GO) install honnef.co/go/tools/cmd/staticcheck

## bench: add throughput of a 1 GiB file against kubo and the hardware limits
bench: tools build
	$(GO) run ./bench/addbench -flotilla bin/flotilla -kubo $(KUBO) -dir $(CURDIR)/.bench

## bench-gateway: gateway req/s, latency and throughput against kubo 0.43's gateway, same run (wrk if installed)
bench-gateway: tools build
	$(GO) run ./bench/gatewaybench -flotilla bin/flotilla -kubo $(KUBO)

## bench-cluster: pin ingest on a 3-peer loopback cluster, and listing 1M pins
bench-cluster:
	$(GO) test -run '^$$' -bench 'PinIngest|ListPins|FormAndDetect' -benchtime 1x -timeout 30m ./internal/cluster

## bench-compare: flotilla side by side with IPFS Cluster 1.1.6 + kubo 0.43 in one run (about 14 minutes; QUICK=1: under 3; REPORT=docs: charts to docs/img)
bench-compare: build $(KUBO) $(CLUSTERSVC)
	@mkdir -p .bench
	$(GO) run ./bench/compare -flotilla bin/flotilla -kubo $(KUBO) -cluster-service $(CLUSTERSVC) \
	  -dir $(CURDIR)/.bench -json $(CURDIR)/.bench/compare.json $(if $(QUICK),-quick) $(if $(REPORT),-report $(REPORT))

## bench-add-cluster: POST /add through the REST API of a 3-peer loopback cluster, replication 3, 256 MiB (ADD_SIZE=1GiB for the large run)
ADD_SIZE ?= 256MiB
bench-add-cluster: build
	$(GO) run ./bench/addclusterbench -flotilla bin/flotilla -size $(ADD_SIZE)

## fuzz: run every fuzz target for FUZZTIME each
fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

clean:
	rm -rf bin .tools .bench
