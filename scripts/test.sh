#!/usr/bin/env bash
# The full test suite: formatting, clippy (-D warnings), unit tests, and the tests that need a real
# kube-apiserver, against a control plane of their own (stopped on exit, whatever happens).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

step() { printf '\n==> %s\n' "$*"; }

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy --workspace --all-targets -- -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "building the test binaries"
cargo test --workspace --all-targets --locked --no-run

step "building the pinned tools (cached: etcd, kube-apiserver, kubectl, helm, argocd-lua)"
scripts/build-tools.sh etcd kubernetes helm argocd-lua

step "starting a private control plane (etcd + kube-apiserver)"
export TVO_CLUSTER_DIR=$ROOT/.cache/test-cluster
trap 'scripts/control-plane.sh down' EXIT
eval "$(scripts/control-plane.sh up | tail -n 1)"
export KUBECTL=$ROOT/.cache/bin/kubectl

step "cargo test (unit tests and API-server tests, none skipped)"
cargo test --workspace --all-targets --locked --no-fail-fast -- --include-ignored
