#!/usr/bin/env bash
# The full test suite: formatting, clippy (-D warnings), cargo deny, unit tests, and the tests that
# need a real kube-apiserver, against a control plane of their own (stopped on exit, whatever
# happens), then the secret scan of everything the operator wrote (docs/security.md).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

step() { printf '\n==> %s\n' "$*"; }

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy --workspace --all-targets -- -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "layers: no reconciler imports another, nothing below imports up, no emulator import cycle"
python3 scripts/check-layers.py

step "cargo deny (licences, duplicate crates, sources; advisories when a local database exists)"
scripts/cargo-deny.sh

step "building the test binaries"
cargo test --workspace --all-targets --locked --no-run

step "building the pinned tools (cached: etcd, kube-apiserver, kubectl, helm, argocd-lua, promtool, monitoring)"
scripts/build-tools.sh etcd kubernetes helm argocd-lua promtool monitoring

step "starting a private control plane (etcd + kube-apiserver)"
export TVO_CLUSTER_DIR=$ROOT/.cache/test-cluster
trap 'scripts/control-plane.sh down' EXIT
eval "$(scripts/control-plane.sh up | tail -n 1)"
export KUBECTL=$ROOT/.cache/bin/kubectl

# The emulators append every credential they know to the ledger; the scan looks for each of them
# in what the operator left behind. The ledger starts empty, and only the logs this run wrote are
# scanned (target/test-logs is shared with other runs, so nothing there is deleted).
SCAN=$ROOT/target/secret-scan
rm -rf "$SCAN"
mkdir -p "$SCAN" "$ROOT/target/test-logs"
touch "$SCAN/started"
export TVO_SECRET_LEDGER=$SCAN/ledger.txt

step "cargo test (unit tests and API-server tests, none skipped)"
cargo test --workspace --all-targets --locked --no-fail-fast -- --include-ignored 2>&1 | tee "$SCAN/cargo-test.log"

step "alerts and dashboard: shapes from the operator's real scrape, promtool check rules, promtool test rules"
SCRAPE=$ROOT/target/metrics/scrape.prom
[ "$SCRAPE" -nt "$SCAN/started" ] || { echo "$SCRAPE was not written by this run's tests" >&2; exit 1; }
scripts/check-alerts.sh "$SCRAPE"

step "secret scan: every credential the tests used, in operator logs, test output, events, our objects"
mapfile -t logs < <(find "$ROOT/target/test-logs" -type f -newer "$SCAN/started" | sort)
scripts/secret-scan.sh "$TVO_SECRET_LEDGER" "$SCAN/cluster" "${logs[@]}" "$SCAN/cargo-test.log"
