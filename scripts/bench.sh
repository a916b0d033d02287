#!/usr/bin/env bash
# make bench: the operator's release build on a private local API server with the emulators,
# measured against Workato's limits. Prints tables and writes them to target/bench/results.md.
# BENCH=rotation,scale,scale10k,idle selects scenarios (default: all; about 30 minutes on 2 cores).
# BENCH_CARGO_ARGS is added to cargo's arguments, e.g. `--no-default-features` for the operator on
# glibc's malloc, which heap profilers such as heaptrack see (jemalloc is the default).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

step() { printf '\n==> %s\n' "$*"; }

step "building the bench (release profile)"
cargo bench --locked ${BENCH_CARGO_ARGS:-} --bench operator --no-run

step "building the pinned tools (cached: etcd, kube-apiserver, kubectl)"
scripts/build-tools.sh etcd kubernetes

step "starting a private control plane (etcd + kube-apiserver)"
export TVO_CLUSTER_DIR=$ROOT/.cache/bench-cluster
trap 'scripts/control-plane.sh down' EXIT
eval "$(scripts/control-plane.sh up | tail -n 1)"
export KUBECTL=$ROOT/.cache/bin/kubectl

step "running: ${BENCH:-rotation,scale,scale10k,idle}"
cargo bench --locked ${BENCH_CARGO_ARGS:-} --bench operator -- --bench
