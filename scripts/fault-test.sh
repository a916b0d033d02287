#!/usr/bin/env bash
# The reliability campaign (`make fault-test`): credential rotations under SIGKILLs of the
# operator, one kube-apiserver restart and emulator faults (5xx, 429 + Retry-After, timeouts,
# dropped connections) on every vendor endpoint in turn, then the bad-input cases. Prints both
# tables; fails when an invariant is violated or a bad-input case misbehaves.
#
#   FAULT_RUNS=56            rotations with a fault (a number, or `all` for one per endpoint x kind)
#   FAULT_SEED=N             repeat a campaign (the seed is printed at the start)
#   FAULT_APISERVER_RESTART=0  skip the API server restart
#
# Runs against a control plane of its own in .cache/fault-cluster, stopped on exit.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

step() { printf '\n==> %s\n' "$*"; }

# Two passes over every endpoint x fault kind (7 endpoints x 4 kinds today): about 5 minutes.
export FAULT_RUNS=${FAULT_RUNS:-56}
started=$(date +%s)

step "building the test binaries"
cargo test --locked --test fault_campaign --test bad_input --no-run

step "building the pinned tools (cached: etcd, kube-apiserver, kubectl)"
scripts/build-tools.sh etcd kubernetes

step "starting a private control plane (etcd + kube-apiserver)"
export TVO_CLUSTER_DIR=$ROOT/.cache/fault-cluster
trap 'scripts/control-plane.sh down' EXIT
eval "$(scripts/control-plane.sh up | tail -n 1)"
export KUBECTL=$ROOT/.cache/bin/kubectl
rm -f target/fault-campaign.txt target/bad-input.txt

step "fault campaign (FAULT_RUNS=$FAULT_RUNS${FAULT_SEED:+, FAULT_SEED=$FAULT_SEED})"
campaign=0
cargo test --locked --test fault_campaign -- --include-ignored --nocapture || campaign=$?

step "bad input"
bad=0
cargo test --locked --test bad_input -- --include-ignored --nocapture || bad=$?

step "summary ($(date -u +%Y-%m-%dT%H:%MZ), $(( $(date +%s) - started )) s in all)"
cat target/fault-campaign.txt 2>/dev/null || echo "fault campaign: no table (it failed before the end; see above)"
cat target/bad-input.txt 2>/dev/null || echo "bad input: no table (see above)"
if [ "$campaign" -ne 0 ] || [ "$bad" -ne 0 ]; then
  echo "FAILED: fault campaign exit $campaign, bad input exit $bad" >&2
  exit 1
fi
echo "fault-test passed"
