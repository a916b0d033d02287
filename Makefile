# trackvia-operator: the README's commands. `make help` lists them.
SHELL := /usr/bin/env bash

.PHONY: help demo test bench fault-test lint crds tools cluster-up cluster-down static chart-readme node-up node-down e2e alerts dashboard-screenshot

help: ## List the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

demo: ## Run the operator's demo on a local API server and the emulators (KEEP=1 leaves it running)
	scripts/demo.sh

test: ## Full suite: fmt, clippy -D warnings, unit tests, tests on a real kube-apiserver
	scripts/test.sh

bench: ## Benchmarks against Workato's limits, at scale, idle and per reconcile (BENCH=rotation,scale,scale10k,idle)
	scripts/bench.sh

fault-test: ## Reliability campaign: rotations under SIGKILLs, an API server restart, vendor faults; bad input (FAULT_RUNS, FAULT_SEED)
	scripts/fault-test.sh

lint: ## cargo fmt --check, clippy -D warnings, the layer rules (docs/architecture.md), the chart README against values.yaml
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets --locked -- -D warnings
	python3 scripts/check-layers.py
	python3 scripts/chart-readme.py --check

crds: ## Regenerate crds/ (and the chart's copy) from the Rust types
	cargo run --quiet --locked -- crds --out crds
	cargo run --quiet --locked -- crds --out charts/trackvia-operator/files/crds

tools: ## Build the pinned kube-apiserver, kubectl, etcd and helm into .cache/bin (cached)
	scripts/build-tools.sh etcd kubernetes helm

cluster-up: ## Start etcd + kube-apiserver on 127.0.0.1; the last line is `export KUBECONFIG=...`
	@scripts/control-plane.sh up

cluster-down: ## Stop exactly what cluster-up started
	@scripts/control-plane.sh down

node-up: ## Start a local node (control plane, kubelet, containerd, scheduler, controller manager); the last line is `export KUBECONFIG=...`
	@scripts/node.sh up

node-down: ## Stop exactly what node-up started
	@scripts/node.sh down

e2e: ## The image on the local node through Helm and kubectl: install, upgrades, failover, a rotation across it, uninstall (KEEP=1)
	scripts/e2e.sh

static: ## Build the static release binary the Dockerfile ships and check that it runs
	scripts/static-check.sh

chart-readme: ## Regenerate charts/trackvia-operator/README.md from the comments of its values.yaml
	python3 scripts/chart-readme.py

alerts: ## Check the chart's alerts and dashboard against the last real scrape (target/metrics/scrape.prom) and unit-test the alerts with promtool
	scripts/check-alerts.sh

dashboard-screenshot: ## Redraw docs/img/dashboard.png from real metrics of `make demo` (needs Debian's chromium)
	scripts/dashboard-screenshot.sh
