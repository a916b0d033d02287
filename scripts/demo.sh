#!/usr/bin/env bash
# make demo: the operator on a local API server with the TrackVia and Workato emulators. Builds what
# it needs, applies examples/, plays the person's TrackVia UI steps through the emulator's control
# API, shows every kind going Ready, runs an Overlap and two StopAndRestart rotations (one by hand,
# one scheduled that waits for a person's approval), migrates an employee-bound OAuth connection to
# the dedicated user (opt-in, in stages), prints the events
# and metrics that tell the story, and stops everything it started (KEEP=1 leaves it running).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
DEMO=$ROOT/.cache/demo
export TVO_CLUSTER_DIR=$ROOT/.cache/demo-cluster
NS=demo
ADMIN=127.0.0.1:18080
mkdir -p "$DEMO"

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
k() { "$ROOT/.cache/bin/kubectl" "$@"; }
get() { k get trackvia -n "$NS" "$@"; }
control() { curl -fsS -X POST -H 'content-type: application/json' "$TV/_emulator/$1" -d "${2:-{\}}"; }
wait_for() { # wait_for SECONDS DESCRIPTION COMMAND...
  local t=$1 what=$2; shift 2
  for _ in $(seq $((t * 5))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; done
  echo "timed out waiting for $what" >&2; return 1
}
jsonpath() { k get "$1" -n "$NS" -o "jsonpath=$2" 2>/dev/null; }
phase_is() { [ "$(jsonpath "rot/$1" '{.status.phase}')" = "$2" ]; }
ready() { [ "$(jsonpath "$1" '{.status.conditions[?(@.type=="Ready")].status}')" = "True" ]; }

cleanup() {
  if [ "${KEEP:-0}" = 1 ]; then
    say "KEEP=1: left running"
    echo "export KUBECONFIG=$TVO_CLUSTER_DIR/kubeconfig PATH=$ROOT/.cache/bin:\$PATH"
    echo "kubectl get trackvia -n $NS; emulator control API: $TV/_emulator/state; metrics: http://$ADMIN/metrics"
    echo "stop it all with: kill $(cat "$DEMO/operator.pid" "$DEMO/emulator.pid" 2>/dev/null | tr '\n' ' ') && TVO_CLUSTER_DIR=$TVO_CLUSTER_DIR scripts/control-plane.sh down"
    return
  fi
  for p in operator emulator; do
    [ -f "$DEMO/$p.pid" ] && kill "$(cat "$DEMO/$p.pid")" 2>/dev/null || true
    rm -f "$DEMO/$p.pid"
  done
  scripts/control-plane.sh down >/dev/null 2>&1 || true
}
trap cleanup EXIT

say "Building the operator and the emulator"
cargo build --quiet --locked --bins --workspace
say "Starting etcd + kube-apiserver"
eval "$(scripts/control-plane.sh up | tail -n 1)"

say "Starting the TrackVia and Workato emulators"
rm -f "$DEMO/emulator.json" "$DEMO/ledger.txt"
# The emulator writes every credential it knows to the ledger, for the secret scan at the end.
TVO_SECRET_LEDGER=$DEMO/ledger.txt target/debug/emulator --seed demo/seed.yaml --ready-file "$DEMO/emulator.json" --recipe-poll-interval-ms 0 \
  >"$DEMO/emulator.log" 2>&1 &
echo $! >"$DEMO/emulator.pid"
wait_for 20 "the emulator" test -s "$DEMO/emulator.json"
TV=$(python3 -c 'import json,sys;print(json.load(open(sys.argv[1]))["trackvia"])' "$DEMO/emulator.json")
WK=$(python3 -c 'import json,sys;print(json.load(open(sys.argv[1]))["workato"])' "$DEMO/emulator.json")
echo "TrackVia: $TV   Workato: $WK"

say "Installing the CRDs and starting the operator"
k apply -f crds/ >/dev/null
k wait --for condition=established crd -l '!nonexistent' --all --timeout=30s >/dev/null
k create namespace "$NS" >/dev/null
target/debug/trackvia-operator run --namespace "$NS" --operator-namespace "$NS" --admin-addr "$ADMIN" \
  --user-poll-interval 1s --workspace-check-interval 5s --revocation-probe-interval 1s \
  >"$DEMO/operator.log" 2>&1 &
echo $! >"$DEMO/operator.pid"
wait_for 30 "the operator to be ready" curl -fsS "http://$ADMIN/readyz"

say "Admin credentials (what a TrackVia Super Admin and a Workato admin hand over)"
k -n "$NS" create secret generic trackvia-admin --from-literal=apiKey=demo-sandbox-api-key \
  --from-literal=authToken=demo-sandbox-admin-token
k -n "$NS" create secret generic workato-api --from-literal=token=demo-workato-dev-token

say "Applying examples/ (base URLs pointed at the emulators)"
for f in trackviaaccount workatoworkspace integrationaccount workatoconnection; do
  sed -e "s#https://acme-sandbox.trackvia.com#$TV#" -e "s#https://www.workato.com#$WK#" "examples/$f.yaml" |
    k apply -n "$NS" -f -
done

say "The operator created the TrackVia user and tells the person what to do next"
wait_for 30 "the user" sh -c "[ \"\$($ROOT/.cache/bin/kubectl get ia salesforce -n $NS -o jsonpath='{.status.user.state}')\" = Unverified ]"
get
echo; echo "next action: $(jsonpath ia/salesforce '{.status.nextAction}')"

say "The person accepts the invitation, ticks Set As API User, assigns the role, creates a token"
USER=salesforce.integration@acme.example
control "trackvia/accounts/21508/users/$USER/verify" >/dev/null
wait_for 30 "the next step" sh -c "$ROOT/.cache/bin/kubectl get ia salesforce -n $NS -o jsonpath='{.status.nextAction}' | grep -q 'Set As API User'"
echo "next action: $(jsonpath ia/salesforce '{.status.nextAction}')"
control "trackvia/accounts/21508/users/$USER/api-user" '{"enabled":true}' >/dev/null
control "trackvia/accounts/21508/users/$USER/role" '{"role":"Salesforce Integration"}' >/dev/null
TOKEN1=$(control trackvia/accounts/21508/tokens "{\"user\":\"$USER\",\"name\":\"salesforce-1\",\"expiresAt\":\"2027-03-01T00:00:00Z\"}" |
  python3 -c 'import json,sys;print(json.load(sys.stdin)["token"])')
k -n "$NS" create secret generic salesforce-trackvia-token --save-config --from-literal=token="$TOKEN1" >/dev/null
k -n "$NS" annotate secret salesforce-trackvia-token integrations.trackvia-operator.dev/expires-at=2027-03-01T00:00:00Z >/dev/null

say "Everything goes Ready: token validated and scoped, credentials published, connection pushed and tested"
k wait --for=condition=Ready ia/salesforce -n "$NS" --timeout=60s >/dev/null
k wait --for=condition=Ready wkc/salesforce-trackvia -n "$NS" --timeout=60s >/dev/null
get -o wide
echo; echo "published Secret keys: $(jsonpath secret/salesforce-trackvia-credentials '{.data}' | python3 -c 'import json,sys;print(sorted(json.load(sys.stdin)))')"
echo "recipes depending on the connection: $(jsonpath wkc/salesforce-trackvia '{range .status.recipes[*]}{.name} (running={.running}); {end}')"

say "Overlap rotation: a second token is created (the first stays active) and placed in the Secret"
TOKEN2=$(control trackvia/accounts/21508/tokens "{\"user\":\"$USER\",\"name\":\"salesforce-2\",\"expiresAt\":\"2027-06-01T00:00:00Z\"}" |
  python3 -c 'import json,sys;print(json.load(sys.stdin)["token"])')
k -n "$NS" create secret generic salesforce-trackvia-token --from-literal=token="$TOKEN2" --dry-run=client -o yaml | k apply -f - >/dev/null
k -n "$NS" annotate --overwrite secret salesforce-trackvia-token integrations.trackvia-operator.dev/expires-at=2027-06-01T00:00:00Z >/dev/null
wait_for 60 "the Overlap rotation to switch" sh -c "$ROOT/.cache/bin/kubectl get rot -n $NS -o jsonpath='{.items[*].status.phase}' | grep -q AwaitingRevocation"
OVERLAP=$(k get rot -n "$NS" -o jsonpath='{.items[0].metadata.name}')
k get rot -n "$NS"
echo; echo "$(jsonpath "rot/$OVERLAP" '{.status.conditions[?(@.type=="OldTokenRevoked")].message}')"
echo "The person deactivates the old token in TrackVia (API Access)"
control trackvia/accounts/21508/tokens/2/deactivate >/dev/null
wait_for 60 "the rotation to confirm revocation" phase_is "$OVERLAP" Succeeded
k get rot -n "$NS"

say "StopAndRestart rotation (the token is regenerated in place): examples/credentialrotation.yaml"
k apply -n "$NS" -f examples/credentialrotation.yaml >/dev/null
wait_for 60 "the recipes to stop" phase_is salesforce-manual-1 WaitingForToken
k get rot -n "$NS"
echo; echo "waiting for: $(jsonpath rot/salesforce-manual-1 '{.status.planSummary}')"
echo "recipes stopped by the rotation: $(jsonpath rot/salesforce-manual-1 '{range .status.recipes[*]}{.name} ({.state}); {end}')"
echo "The person regenerates the token and places it"
control trackvia/accounts/21508/tokens/3/deactivate >/dev/null
TOKEN3_JSON=$(control trackvia/accounts/21508/tokens "{\"user\":\"$USER\",\"name\":\"salesforce-3\",\"expiresAt\":\"2027-09-01T00:00:00Z\"}")
TOKEN3=$(python3 -c 'import json,sys;print(json.load(sys.stdin)["token"])' <<<"$TOKEN3_JSON")
TOKEN3_ID=$(python3 -c 'import json,sys;print(json.load(sys.stdin)["id"])' <<<"$TOKEN3_JSON")
k -n "$NS" create secret generic salesforce-trackvia-token --from-literal=token="$TOKEN3" --dry-run=client -o yaml | k apply -f - >/dev/null
k -n "$NS" annotate --overwrite secret salesforce-trackvia-token integrations.trackvia-operator.dev/expires-at=2027-09-01T00:00:00Z >/dev/null
wait_for 60 "the StopAndRestart rotation" phase_is salesforce-manual-1 Succeeded
k get rot -n "$NS"
echo; echo "recipes: $(jsonpath rot/salesforce-manual-1 '{range .status.recipes[*]}{.name} ({.state}); {end}')"
echo "'Quarterly cleanup (paused)' was stopped before the rotation and was left alone."

say "A scheduled StopAndRestart waits for a person's approval before it stops anything"
echo "The policy: regenerate in place, and rotate two years before expiry (so the rotation is due now)."
k patch ia salesforce -n "$NS" --type merge \
  -p '{"spec":{"rotation":{"strategy":"StopAndRestart","interval":"87600h","renewBefore":"17520h","maintenanceWindow":null}}}' >/dev/null
wait_for 60 "the scheduled rotation" sh -c "$ROOT/.cache/bin/kubectl get rot -n $NS -o jsonpath='{.items[*].status.phase}' | grep -q AwaitingApproval"
SCHEDULED=$(k get rot -n "$NS" -o jsonpath='{range .items[?(@.status.phase=="AwaitingApproval")]}{.metadata.name}{end}')
k get rot -n "$NS"
echo; echo "IntegrationAccount next action: $(jsonpath ia/salesforce '{.status.nextAction}')"
echo "recipes still running: $(jsonpath wkc/salesforce-trackvia '{range .status.recipes[*]}{.name} (running={.running}); {end}')"
echo; echo "The person is ready to regenerate the token, and approves:"
echo "\$ kubectl trackvia approve $SCHEDULED -n $NS"
target/debug/trackvia-operator approve "$SCHEDULED" -n "$NS"
wait_for 60 "the recipes to stop" phase_is "$SCHEDULED" WaitingForToken
echo "waiting for: $(jsonpath "rot/$SCHEDULED" '{.status.planSummary}')"
# Back to the example's policy, so the next token is not due at once.
k patch ia salesforce -n "$NS" --type merge \
  -p '{"spec":{"rotation":{"strategy":"Overlap","interval":"2160h","renewBefore":"336h","maintenanceWindow":{"days":["Tue","Wed","Thu"],"start":"02:00","duration":"3h"}}}}' >/dev/null
echo "The person regenerates the token and places it"
control "trackvia/accounts/21508/tokens/$TOKEN3_ID/deactivate" >/dev/null
TOKEN4=$(control trackvia/accounts/21508/tokens "{\"user\":\"$USER\",\"name\":\"salesforce-4\",\"expiresAt\":\"2027-12-01T00:00:00Z\"}" |
  python3 -c 'import json,sys;print(json.load(sys.stdin)["token"])')
k -n "$NS" create secret generic salesforce-trackvia-token --from-literal=token="$TOKEN4" --dry-run=client -o yaml | k apply -f - >/dev/null
k -n "$NS" annotate --overwrite secret salesforce-trackvia-token integrations.trackvia-operator.dev/expires-at=2027-12-01T00:00:00Z >/dev/null
wait_for 60 "the approved rotation" phase_is "$SCHEDULED" Succeeded
k get rot -n "$NS"
echo; echo "approved at: $(jsonpath "rot/$SCHEDULED" '{.status.approvedTime}'); recipes: $(jsonpath "rot/$SCHEDULED" '{range .status.recipes[*]}{.name} ({.state}); {end}')"

say "An employee-bound OAuth connection, found and migrated to the dedicated user"
echo "Connection 5003 was authorized by OAuth with Ada's TrackVia login; recipe 7006 runs on it."
echo "Workato does not show a connection's authentication type, so the person says so:"
k apply -n "$NS" -f - >/dev/null <<YAML
apiVersion: integrations.trackvia-operator.dev/v1alpha1
kind: WorkatoConnection
metadata: {name: salesforce-legacy}
spec:
  workspaceRef: {name: acme-dev}
  integrationAccountRef: {name: salesforce}
  connection: {id: 5003}
  migrateFromOAuth: false
YAML
wait_for 60 "the OAuth connection to be reported" sh -c "$ROOT/.cache/bin/kubectl get wkc salesforce-legacy -n $NS -o jsonpath='{.status.conditions[?(@.type==\"DedicatedCredentials\")].reason}' | grep -q EmployeeBoundAuth"
echo "DedicatedCredentials: $(jsonpath wkc/salesforce-legacy '{.status.conditions[?(@.type=="DedicatedCredentials")].message}')"
echo "Nothing was written; recipe 7006 runs: $(jsonpath wkc/salesforce-legacy '{range .status.recipes[*]}{.name} (running={.running}); {end}')"
echo; echo "The person opts in: spec.migrateFromOAuth: true"
k patch wkc salesforce-legacy -n "$NS" --type merge -p '{"spec":{"migrateFromOAuth":true}}' >/dev/null
wait_for 90 "the migration" ready wkc/salesforce-legacy
MIGRATION=$(k get rot -n "$NS" -o jsonpath='{range .items[?(@.spec.takeOver.name=="salesforce-legacy")]}{.metadata.name}{end}')
k get rot "$MIGRATION" -n "$NS"
echo; echo "$(jsonpath "rot/$MIGRATION" '{.spec.reason}'): $(jsonpath "rot/$MIGRATION" '{range .status.recipes[*]}{.name} ({.state}); {end}')"
echo "DedicatedCredentials: $(jsonpath wkc/salesforce-legacy '{.status.conditions[?(@.type=="DedicatedCredentials")].message}')"
echo "Connection 5003 now holds: $(curl -fsS "$TV/_emulator/state" | python3 -c 'import json,sys
s=json.load(sys.stdin)["workato"]["workspaces"]
c=[c for w in s for c in w["connections"] if c["id"]==5003][0]
print("auth_type =", c["input"].get("auth_type"), "(the key and token: the dedicated user'"'"'s)")')"

say "Events that tell the story (the rotations)"
k get events -n "$NS" --sort-by=.lastTimestamp -o custom-columns=OBJECT:.involvedObject.kind/.involvedObject.name,TYPE:.type,REASON:.reason,MESSAGE:.message \
  --field-selector involvedObject.kind=CredentialRotation | cut -c1-200
say "Events of the IntegrationAccount and the connection"
k get events -n "$NS" --sort-by=.lastTimestamp -o custom-columns=OBJECT:.involvedObject.name,TYPE:.type,REASON:.reason,MESSAGE:.message \
  --field-selector involvedObject.kind!=CredentialRotation | cut -c1-200 | tail -n 30

say "Metrics"
# Counters start at 0 for their known labels: only those that moved tell the story. (awk, not
# head or grep: head closing the pipe early, or grep finding nothing, fails the demo under pipefail.)
curl -fsS "http://$ADMIN/metrics" | grep -E '^trackvia_operator_(rotations_total|token_expiry|rotation_due|rotation_awaiting_approval|recipes_left_stopped|external_requests_total|rate_limiter_wait_seconds_(sum|count))' |
  awk '!/^[a-z_]+_total\{.*\} 0$/ && ++n <= 40'

say "Summary"
get
RSS=$(ps -o rss= -p "$(cat "$DEMO/operator.pid")" | tr -d ' ')
echo
echo "operator RSS after the demo: $((RSS / 1024)) MiB"
echo "Workato calls: $(curl -fsS "$TV/_emulator/calls" | python3 -c 'import json,sys;c=json.load(sys.stdin)["calls"];print(len([x for x in c if x["service"]=="workato"]), "; 429s:", len([x for x in c if x["status"]==429]))')"

say "Secret scan: no credential in the operator's log, the events or our objects"
scripts/secret-scan.sh "$DEMO/ledger.txt" "$DEMO/secret-scan" "$DEMO/operator.log"
