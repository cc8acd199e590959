# The commands the README names. `make test` is what CI runs (.ci/run).
SHELL := /bin/bash
CARGO ?= cargo
PORT ?= 8080

.PHONY: run build test test-rust test-python lint deps models bench generate golden clean

## run: the inference server with all five built-in models on :$(PORT)
run:
	$(CARGO) run --release -p inference-server -- --port $(PORT) --model-dir models --log-format pretty

build:
	$(CARGO) build --release -p inference-server

## deps: what the tests need besides Rust (promtool, the pinned Python test clients)
deps:
	./scripts/install-deps.sh

## test: formatting, lints, unit + golden + HTTP + promtool + Prometheus/Alertmanager tests, OIP client, Grafana schema
test: deps lint test-rust test-python

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets -- -D warnings

test-rust:
	$(CARGO) test --workspace

## test-python: OIP client (tritonclient) against the server; dashboards against Grafana's schema
# (`make test` has just built target/debug/inference-server through the integration tests;
#  building it alone would re-resolve features and recompile half the tree.)
test-python:
	@[ -x target/debug/inference-server ] || $(CARGO) build -p inference-server
	SERVER_BIN=target/debug/inference-server .cache/venv-test/bin/pytest -q tests

## generate: rewrite generated files (crds/, dashboards/, alerts/) from the code
generate:
	$(CARGO) run -q -p inferwatch-generate

## golden: rewrite the operator's render golden files (review the diff first)
golden:
	UPDATE_GOLDEN=1 $(CARGO) test -q -p inferwatch-operator --test render

## models: retrain and export the five built-in models into models/
models:
	./training/run.sh

## bench: load benchmark against the Python reference server; writes docs/benchmarks.md
bench:
	./bench/run.sh

clean:
	$(CARGO) clean
	rm -rf .cache training/.venv bench/.venv
