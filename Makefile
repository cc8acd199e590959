# The commands the README names. `make test` is what CI runs (.ci/run).
SHELL := /bin/bash
CARGO ?= cargo
PORT ?= 8080

.PHONY: run build images test test-rust test-python test-e2e cluster-up cluster-down lint deps models bench bench-operator soak generate golden clean stack stack-down

## run: the inference server with all five built-in models on :$(PORT)
run:
	$(CARGO) run --release -p inference-server -- --port $(PORT) --model-dir models --log-format pretty

build:
	$(CARGO) build --release -p inference-server

## images: the operator and inference-server images from their Dockerfiles (release builds, models
## baked in), sizes printed. REGISTRY=... TAG=... PUSH=1 publishes them to your registry;
## BASES=local uses bases made here from Debian packages (for machines that cannot pull)
images:
	REGISTRY=$(REGISTRY) TAG=$(TAG) PUSH=$(PUSH) BASES=$(BASES) ./scripts/images.sh

## deps: what the tests need besides Rust (promtool, the pinned Python test clients)
deps:
	./scripts/install-deps.sh

## test: formatting, lints, unit + golden + HTTP + promtool + Prometheus/Alertmanager tests, OIP client,
## Grafana schema, and the e2e suite against a real local control plane
## The Python tests and the e2e suite run side by side (both mostly wait on servers and on the
## control plane; their ports are free ports or fixed ones of their own), each one's output
## printed whole when it ends.
test: deps lint test-rust
	$(MAKE) --no-print-directory -j2 --output-sync=target test-python test-e2e

lint:
	shellcheck -x e2e/kind/run.sh e2e/cluster/*.sh e2e/run.sh scripts/*.sh bench/*.sh training/*.sh .ci/run
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets -- -D warnings

test-rust:
	$(CARGO) test --workspace --exclude e2e

## test-e2e: operator, chart and CRD against a real local control plane (etcd, kube-apiserver,
## controller-manager, scheduler, kwok) with one real node (containerd, kubelet, kube-proxy) that
## runs our images, built from pinned Go modules and Debian packages on first use
test-e2e:
	./e2e/run.sh

## soak: ten minutes (SOAK_SECONDS) of mixed traffic over every route against real SeaweedFS and
## Redis, Redis killed and restarted once, the store killed and restarted once; writes docs/soak.md
## (not part of `make test`)
soak:
	SOAK_REPORT=$(CURDIR)/docs/soak.md $(CARGO) test -p inference-server --test soak -- --ignored --nocapture

## cluster-up / cluster-down: the same local cluster by hand (KUBECONFIG is printed; our images
## are on its real node when target/debug holds the binaries; INFERWATCH_NODE=0: kwok only)
cluster-up:
	./e2e/cluster/up.sh

cluster-down:
	./e2e/cluster/down.sh

## test-python: OIP client (tritonclient) against the server; dashboards against Grafana's schema;
## compose.yaml through docker-compose's config; `make stack` end to end (tests/stack)
# (`make test` has just built target/debug/inference-server through the integration tests;
#  building it alone would re-resolve features and recompile half the tree.)
test-python:
	@[ -x target/debug/inference-server ] || $(CARGO) build -p inference-server
	SERVER_BIN=target/debug/inference-server .cache/venv-test/bin/pytest -q tests

## generate: rewrite generated files (crds/, dashboards/, alerts/, the chart's copies, manifests/install.yaml)
generate:
	$(CARGO) run -q -p inferwatch-generate
	./scripts/render-install.sh

## golden: rewrite the operator's render golden files (review the diff first)
golden:
	UPDATE_GOLDEN=1 $(CARGO) test -q -p inferwatch-operator --test render

## models: retrain and export the five built-in models into models/
models:
	./training/run.sh

## bench: every model on our server, tuned FastAPI and KServe's ModelServer (closed-loop maximum and
## open-loop latency at 50%/90% of it, no coordinated omission); writes docs/benchmarks.md
bench:
	./bench/run.sh

## bench-operator: the release operator at 1000 ModelServices in 10 namespaces on a fresh local
## control plane: time to all Ready, CPU, peak RSS, API requests by verb while converging and in a
## quiet resync interval; writes docs/operator-scale.md (not part of `make test`)
bench-operator:
	./bench/operator.sh

## stack: the monitoring stack without Kubernetes or Docker (server, Redis, SeaweedFS, MLflow,
## Prometheus, Alertmanager) on loopback, from deploy/local/; prints the URLs. SERVER_BIN=... uses
## that server binary instead of a release build.
stack: deps
	./scripts/stack.sh up

## stack-down: stop everything `make stack` started
stack-down:
	./scripts/stack.sh down

clean:
	$(CARGO) clean
	rm -rf .cache training/.venv bench/.venv
