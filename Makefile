# trackvia-operator: the README's commands. `make help` lists them.
SHELL := /usr/bin/env bash

.PHONY: help demo test lint crds tools cluster-up cluster-down

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

demo: ## Run the operator's demo on a local API server and emulators (not built yet)
	@echo "make demo is not available yet (issue: 'Run it like production')."
	@echo "When it lands it will: build what it needs, start a local kube-apiserver + etcd and the"
	@echo "TrackVia/Workato emulators, run the operator, apply examples/, play the person's UI steps"
	@echo "through the emulator, show every kind going Ready, run an Overlap and a StopAndRestart"
	@echo "rotation, print the events and metrics, and stop everything it started."
	@echo "Today: 'make cluster-up' starts the API server and 'kubectl apply -f crds/ -f examples/' works."

test: ## Full suite: fmt, clippy -D warnings, unit tests, tests on a real kube-apiserver
	scripts/test.sh

lint: ## cargo fmt --check and clippy -D warnings
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets --locked -- -D warnings

crds: ## Regenerate crds/ from the Rust types
	cargo run --quiet --locked -- crds --out crds

tools: ## Build the pinned kube-apiserver, kubectl and etcd into .cache/bin (cached)
	scripts/build-tools.sh etcd kubernetes

cluster-up: ## Start etcd + kube-apiserver on 127.0.0.1; the last line is `export KUBECONFIG=...`
	@scripts/control-plane.sh up

cluster-down: ## Stop exactly what cluster-up started
	@scripts/control-plane.sh down
