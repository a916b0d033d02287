#!/usr/bin/env bash
# make e2e: the operator as cluster operators run it: its OCI image on a real node (kubelet,
# containerd, runc; scripts/node.sh), installed, upgraded and uninstalled with Helm, driven with
# kubectl only. The emulators run on the host (not as pods), behind a TLS front on the node's
# bridge (scripts/tls-front.py), since the operator sends credentials only over https.
#
# Walks: helm install with the chart's defaults into a namespace enforcing the `restricted` Pod
# Security level; the example story to Ready; helm upgrade to a new image tag with 1 and with 2
# replicas while a change is applied; the leader pod deleted (graceful handover) and killed
# (Lease expiry); a StopAndRestart rotation in progress across the leader's deletion; the
# documented uninstall order. Prints the figures at the end and writes them to
# target/e2e/figures.md.
#
# KEEP=1 leaves the node, the emulators and the release running. E2E_REUSE_IMAGE=1 reuses the
# image archives of the last run (skips `make static`). E2E_LOG_LEVEL sets the operator's log
# filter (chart value logLevel). The logs of every operator pod are kept in .cache/e2e/pod-logs.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
E2E=$ROOT/.cache/e2e
OUT=$ROOT/target/e2e
export TVO_NODE_DIR=$ROOT/.cache/node
BIN=$ROOT/.cache/bin
NS=trackvia-system   # the release
APP=e2e              # the story's objects
RELEASE=tvo
REPO=trackvia-operator
TAG1=$(sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' charts/trackvia-operator/Chart.yaml)
TAG2=$TAG1-e2e.2
BRIDGE_IP=10.244.0.1
USER_EMAIL=salesforce.integration@acme.example
mkdir -p "$E2E" "$OUT"
printf '| e2e step | figure |\n|---|---|\n' >"$OUT/figures.md"

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
fail() { printf '\033[31mFAIL: %s\033[0m\n' "$*" >&2; diagnose; exit 1; }
k() { "$BIN/kubectl" "$@"; }
helm() { "$BIN/helm" "$@"; }
now() { date +%s.%N; }
since() { python3 -c "import sys;print(f'{float(sys.argv[2])-float(sys.argv[1]):.1f}')" "$1" "$(now)"; }
figure() { printf '| %s | %s |\n' "$1" "$2" | tee -a "$OUT/figures.md"; }
wait_for() { # wait_for SECONDS DESCRIPTION COMMAND...
  local t=$1 what=$2; shift 2
  for _ in $(seq $((t * 5))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; done
  fail "timed out after ${t}s waiting for $what"
}
jp() { k get "$1" -n "${3:-$APP}" -o "jsonpath=$2" 2>/dev/null; }
ready() { [ "$(jp "$1" '{.status.conditions[?(@.type=="Ready")].status}')" = True ]; }
phase_is() { [ "$(jp "rot/$1" '{.status.phase}')" = "$2" ]; }
user_unverified() { [ "$(jp ia/salesforce '{.status.user.state}')" = Unverified ]; }
control() { curl -fsS -X POST -H 'content-type: application/json' "$TV_LOCAL/_emulator/$1" -d "${2:-{\}}"; }
holder() { k get lease -n "$NS" trackvia-operator-leader -o jsonpath='{.spec.holderIdentity}' 2>/dev/null; }
has_leader() { [ -n "$(holder)" ]; }
led_by_other_than() { local h; h=$(holder); [ -n "$h" ] && [ "$h" != "$1" ]; }
# The Deployment's replicas/updatedReplicas/readyReplicas, and its Ready replicas, are as given.
replicas_are() { [ "$(k get deploy -n "$NS" -o jsonpath='{.items[0].status.replicas}/{.items[0].status.updatedReplicas}/{.items[0].status.readyReplicas}')" = "$1" ]; }
ready_replicas_are() { [ "$(k get deploy -n "$NS" -o jsonpath='{.items[0].status.readyReplicas}')" = "$1" ]; }
operator_pods() { k get pods -n "$NS" -l app.kubernetes.io/name=trackvia-operator -o jsonpath='{range .items[*]}{.metadata.name}{" "}{end}'; }
ready_pods() {
  k get pods -n "$NS" -l app.kubernetes.io/name=trackvia-operator \
    -o jsonpath='{range .items[?(@.metadata.deletionTimestamp)]}x{end}{range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{" "}{end}'
}
diagnose() {
  echo "--- pods"; k get pods -A -o wide 2>&1 | head -30
  echo "--- events ($NS)"; k get events -n "$NS" --sort-by=.lastTimestamp 2>&1 | tail -20
  for p in $(operator_pods 2>/dev/null); do echo "--- logs $p"; k logs -n "$NS" "$p" --tail 30 2>&1; done
  echo "--- objects"; k get trackvia -n "$APP" 2>&1 | head -20
} >&2

cleanup() {
  local rc=$?
  if [ "${KEEP:-0}" = 1 ]; then
    say "KEEP=1: left running"
    echo "export KUBECONFIG=$KUBECONFIG PATH=$BIN:\$PATH"
    echo "stop it all with: kill $(cat "$E2E/emulator.pid" "$E2E/front.pid" 2>/dev/null | tr '\n' ' ') && scripts/node.sh down"
    return
  fi
  for p in front emulator; do
    [ -f "$E2E/$p.pid" ] && kill "$(cat "$E2E/$p.pid")" 2>/dev/null || true
    rm -f "$E2E/$p.pid"
  done
  scripts/node.sh down >/dev/null 2>&1 || true
  exit $rc
}
trap cleanup EXIT

START=$(now)
say "Building: the static operator binary, its image (two tags), the emulator"
if [ "${E2E_REUSE_IMAGE:-0}" != 1 ] || [ ! -f "$E2E/image-$TAG1.tar" ]; then
  # build_info names the commit the image was built from.
  TRACKVIA_OPERATOR_COMMIT=$(git rev-parse --short HEAD 2>/dev/null || echo unknown) scripts/static-check.sh
  STATIC=target/x86_64-unknown-linux-gnu/release/trackvia-operator
  # As the Dockerfile's distroless stage: the binary, CA certificates, user 65532, no shell.
  for tag in "$TAG1" "$TAG2"; do
    python3 scripts/oci-image.py --ref "docker.io/library/$REPO:$tag" --out "$E2E/image-$tag.tar" \
      --file "$STATIC:/trackvia-operator:0555" --file /etc/ssl/certs/ca-certificates.crt:/etc/ssl/certs/ca-certificates.crt:0444 \
      --dir /tmp:1777 --passwd 65532:nonroot --user 65532:65532 --entrypoint /trackvia-operator --cmd run \
      --label "org.opencontainers.image.version=$tag"
  done
fi
cargo build --quiet --locked -p trackvia-emulator --bin emulator

say "Starting the node"
T=$(now)
eval "$(scripts/node.sh up | tail -n 1)"
figure "node up (control plane, containerd, kubelet, scheduler, controller manager)" "$(since "$T") s"
for tag in "$TAG1" "$TAG2"; do scripts/node.sh import "$E2E/image-$tag.tar"; done

say "Starting the emulators on the host, behind a TLS front on $BRIDGE_IP"
rm -f "$E2E/emulator.json" "$E2E/front.json"
rm -rf "$E2E/ledger.txt" "$E2E/pod-logs"; mkdir -p "$E2E/pod-logs"
TVO_SECRET_LEDGER=$E2E/ledger.txt target/debug/emulator --seed demo/seed.yaml --ready-file "$E2E/emulator.json" --recipe-poll-interval-ms 0 \
  >"$E2E/emulator.log" 2>&1 &
echo $! >"$E2E/emulator.pid"
wait_for 20 "the emulator" test -s "$E2E/emulator.json"
TV_LOCAL=$(python3 -c 'import json,sys;print(json.load(open(sys.argv[1]))["trackvia"])' "$E2E/emulator.json")
WK_LOCAL=$(python3 -c 'import json,sys;print(json.load(open(sys.argv[1]))["workato"])' "$E2E/emulator.json")
(
  cd "$E2E"
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=trackvia-operator-e2e-ca -keyout ca.key -out ca.crt
  openssl req -newkey rsa:2048 -nodes -subj /CN=emulators -keyout front.key -out front.csr
  openssl x509 -req -in front.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 -out front.crt \
    -extfile <(printf 'subjectAltName=IP:%s\nextendedKeyUsage=serverAuth\n' "$BRIDGE_IP")
) >/dev/null 2>&1
python3 scripts/tls-front.py --cert "$E2E/front.crt" --key "$E2E/front.key" --ready-file "$E2E/front.json" \
  "$BRIDGE_IP:0=${TV_LOCAL#http://}" "$BRIDGE_IP:0=${WK_LOCAL#http://}" >"$E2E/front.log" 2>&1 &
echo $! >"$E2E/front.pid"
wait_for 10 "the TLS front" test -s "$E2E/front.json"
TV=https://$(python3 -c 'import json,sys;print(json.load(open(sys.argv[1]))[0])' "$E2E/front.json")
WK=https://$(python3 -c 'import json,sys;print(json.load(open(sys.argv[1]))[1])' "$E2E/front.json")
echo "TrackVia: $TV   Workato: $WK   (control API on the host: $TV_LOCAL)"

say "helm install with the chart's defaults, in a namespace enforcing the restricted Pod Security level"
k create namespace "$NS" >/dev/null
k label namespace "$NS" pod-security.kubernetes.io/enforce=restricted pod-security.kubernetes.io/warn=restricted >/dev/null
k create configmap e2e-ca -n "$NS" --from-file=ca.crt="$E2E/ca.crt" >/dev/null
# The only values set: trust the e2e CA (the emulators' TLS front), as for a TLS-inspecting proxy.
cat >"$E2E/values.yaml" <<EOF
extraVolumes: [{name: e2e-ca, configMap: {name: e2e-ca}}]
extraVolumeMounts: [{name: e2e-ca, mountPath: /etc/e2e-ca, readOnly: true}]
extraEnv: [{name: SSL_CERT_FILE, value: /etc/e2e-ca/ca.crt}]
${E2E_LOG_LEVEL:+logLevel: $E2E_LOG_LEVEL}
EOF
T=$(now)
helm install "$RELEASE" charts/trackvia-operator -n "$NS" -f "$E2E/values.yaml" --wait --timeout 3m >/dev/null ||
  fail "helm install"
INSTALL_S=$(since "$T")
figure "helm install to Ready (1 replica)" "$INSTALL_S s"
k get pods -n "$NS" -o wide
[ "$(k get pods -n "$NS" -o jsonpath='{.items[0].spec.securityContext.runAsNonRoot}')" = true ] || fail "pod not runAsNonRoot"
wait_for 30 "the Lease to be held" has_leader
echo "leader: $(holder)"

say "NetworkPolicy objects as templated (nothing on this node enforces them)"
k get networkpolicy -n "$NS" -o custom-columns=NAME:.metadata.name,POLICY_TYPES:.spec.policyTypes,INGRESS_PORTS:.spec.ingress[*].ports[*].port
[ -n "$(k get networkpolicy -n "$NS" -o name)" ] || fail "no NetworkPolicy was created"

say "The example story: admin credentials, examples/, the person's TrackVia UI steps"
k create namespace "$APP" >/dev/null
k -n "$APP" create secret generic trackvia-admin --from-literal=apiKey=demo-sandbox-api-key \
  --from-literal=authToken=demo-sandbox-admin-token >/dev/null
k -n "$APP" create secret generic workato-api --from-literal=token=demo-workato-dev-token >/dev/null
for f in trackviaaccount workatoworkspace integrationaccount workatoconnection; do
  sed -e "s#https://acme-sandbox.trackvia.com#$TV#" -e "s#https://www.workato.com#$WK#" "examples/$f.yaml" |
    k apply -n "$APP" -f - >/dev/null
done
T=$(now)
wait_for 60 "the TrackVia user" user_unverified
control "trackvia/accounts/21508/users/$USER_EMAIL/verify" >/dev/null
control "trackvia/accounts/21508/users/$USER_EMAIL/api-user" '{"enabled":true}' >/dev/null
control "trackvia/accounts/21508/users/$USER_EMAIL/role" '{"role":"Salesforce Integration"}' >/dev/null
TOKEN1=$(control trackvia/accounts/21508/tokens "{\"user\":\"$USER_EMAIL\",\"name\":\"e2e-1\",\"expiresAt\":\"2027-03-01T00:00:00Z\"}" |
  python3 -c 'import json,sys;print(json.load(sys.stdin)["token"])')
k -n "$APP" create secret generic salesforce-trackvia-token --save-config --from-literal=token="$TOKEN1" >/dev/null
k -n "$APP" annotate secret salesforce-trackvia-token integrations.trackvia-operator.dev/expires-at=2027-03-01T00:00:00Z >/dev/null
# The person says the UI steps are done (instead of waiting for the next user poll).
k -n "$APP" annotate ia salesforce integrations.trackvia-operator.dev/recheck="$(date +%s)" >/dev/null
wait_for 120 "the IntegrationAccount to be Ready" ready ia/salesforce
wait_for 120 "the WorkatoConnection to be Ready" ready wkc/salesforce-trackvia
figure "the story's UI steps done to IntegrationAccount and WorkatoConnection Ready" "$(since "$T") s"
k get trackvia -n "$APP"

say "The leader pod's /metrics (from the host, on the pod network): state read from its caches"
POD_IP=$(k get pod -n "$NS" "$(holder)" -o jsonpath='{.status.podIP}')
series() { curl -fsS "http://$POD_IP:8080/metrics" | grep -F "$1"; }
wait_for 30 "the IntegrationAccount's ready_status on the pod's /metrics" \
  series 'trackvia_operator_ready_status{kind="IntegrationAccount",namespace="'"$APP"'",name="salesforce",condition="True"} 1'
series 'trackvia_operator_build_info' || fail "no build_info on the pod's /metrics"
series 'trackvia_operator_leader 1' || fail "the leader's gauge is not 1"
# The expiry comes from the token Secret's annotation, put there a moment after the Secret: the
# account may turn Ready on the Secret alone and record the expiry at its next reconcile.
wait_for 30 "the token expiry series for the story's IntegrationAccount" \
  series 'trackvia_operator_token_expiry_timestamp_seconds{namespace="'"$APP"'",name="salesforce"}'


# A change applied while an upgrade runs must be reconciled after it.
change_during() { # change_during VALUE: a recheck request the operator must honour
  k -n "$APP" annotate --overwrite tva acme-sandbox integrations.trackvia-operator.dev/recheck="$1" >/dev/null
}
handled() { [ "$(jp tva/acme-sandbox '{.status.recheckHandled}')" = "$1" ]; }
# The logs of every operator pod, kept before an upgrade or a deletion removes the pod (for the
# secret scan at the end).
save_logs() {
  local p
  for p in $(operator_pods); do k logs -n "$NS" "$p" >"$E2E/pod-logs/$p.log" 2>/dev/null || true; done
}
upgrade() { # upgrade TAG REPLICAS DESCRIPTION
  local t change
  save_logs
  t=$(now)
  ( sleep 1; change_during "upgrade-$1-$2" ) &
  change=$!
  helm upgrade "$RELEASE" charts/trackvia-operator -n "$NS" -f "$E2E/values.yaml" \
    --set image.tag="$1" --set replicaCount="$2" --wait --timeout 3m >/dev/null || fail "helm upgrade to $1 with $2 replicas"
  wait "$change"
  figure "$3" "$(since "$t") s"
  wait_for 60 "the change made during the upgrade to be reconciled" handled "upgrade-$1-$2"
  wait_for 60 "$2 operator pods, all updated and Ready" replicas_are "$2/$2/$2"
}

say "helm upgrade to a new image tag ($TAG2), 1 replica, a change applied during the upgrade"
upgrade "$TAG2" 1 "helm upgrade --wait to $TAG2, 1 replica"
echo "leader: $(holder); image: $(k get deploy -n "$NS" -o jsonpath='{.items[0].spec.template.spec.containers[0].image}')"

say "Two replicas: the standby is Ready while it stands by, so the PodDisruptionBudget allows a drain"
upgrade "$TAG2" 2 "helm upgrade --wait to 2 replicas"
k get pods -n "$NS" -o wide
ALLOWED=$(k get pdb -n "$NS" -o jsonpath='{.items[0].status.disruptionsAllowed}')
figure "PodDisruptionBudget disruptionsAllowed with 2 Ready replicas" "$ALLOWED"
[ "$ALLOWED" -ge 1 ] || fail "the PodDisruptionBudget allows no disruption"
say "helm upgrade back to $TAG1 with 2 replicas"
upgrade "$TAG1" 2 "helm upgrade --wait to $TAG1, 2 replicas"

say "Failover: the leader pod deleted (SIGTERM: it releases the Lease), then the leader SIGKILLed"
container_of() { k get pod -n "$NS" "$1" -o jsonpath='{.status.containerStatuses[0].containerID}' | sed 's#^containerd://##'; }
renewed_after() { # renewed_after EPOCH: the Lease was renewed after that time
  local r
  r=$(k get lease -n "$NS" trackvia-operator-leader -o jsonpath='{.spec.renewTime}')
  [ -n "$r" ] && python3 -c 'import sys,datetime as d
t=d.datetime.strptime(sys.argv[1][:26].rstrip("Z"),"%Y-%m-%dT%H:%M:%S.%f").replace(tzinfo=d.timezone.utc).timestamp()
sys.exit(0 if t > float(sys.argv[2]) else 1)' "$r" "$1"
}
two_ready() { wait_for 120 "two Ready operator pods" ready_replicas_are 2; }
failover() { # failover DESCRIPTION delete|crash|hang
  local what=$1 how=$2 leader t id
  wait_for 30 "a leader" has_leader
  leader=$(holder)
  save_logs
  # Follow the leader's log to its end (what it did between SIGTERM and exit).
  k logs -f -n "$NS" "$leader" >"$E2E/pod-logs/$leader.final.log" 2>/dev/null &
  t=$(now)
  case "$how" in
    delete)
      k delete pod -n "$NS" "$leader" --wait=false >/dev/null
      wait_for 60 "another pod to lead" led_by_other_than "$leader"
      figure "$what ($leader to $(holder))" "$(since "$t") s" ;;
    crash)
      # SIGKILL from the runtime, as an OOM kill would: nothing is released. The kubelet restarts
      # the container; the new process has the pod's identity, finds the Lease its own and leads
      # at once (the old process is dead: two leaders cannot run).
      scripts/node.sh kill "$(container_of "$leader")"
      wait_for 60 "a live process to renew the Lease" renewed_after "$t"
      figure "$what (then led by $(holder))" "$(since "$t") s" ;;
    hang)
      # Frozen (cgroup freezer): the process neither renews nor releases. The standby leads once
      # the Lease has expired; thawed, the old leader finds the Lease taken and stops leading.
      id=$(container_of "$leader")
      scripts/node.sh pause "$id"
      wait_for 60 "the standby to lead" led_by_other_than "$leader"
      figure "$what ($leader to $(holder))" "$(since "$t") s"
      local new
      new=$(holder)
      scripts/node.sh resume "$id" || true
      sleep 8
      [ "$(holder)" = "$new" ] || fail "after the thaw the Lease moved from $new to $(holder)"
      k logs -n "$NS" "$leader" --previous 2>/dev/null | grep -q 'leadership' || k logs -n "$NS" "$leader" | grep -q 'leadership lost' ||
        echo "note: the thawed leader's log does not say it lost leadership (it may have been restarted by its liveness probe)" ;;
  esac
}
failover "failover, leader pod deleted (SIGTERM: it releases the Lease)" delete
two_ready
failover "leader SIGKILLed (its container restarts)" crash
two_ready
failover "failover, leader frozen (Lease expiry: leaseDuration 15s, renew 5s)" hang
two_ready

say "A StopAndRestart rotation in progress across the leader's deletion"
curl -fsS -X DELETE "$TV_LOCAL/_emulator/calls" >/dev/null
k apply -n "$APP" -f examples/credentialrotation.yaml >/dev/null
wait_for 90 "the recipes to stop" phase_is salesforce-manual-1 WaitingForToken
echo "recipes: $(jp rot/salesforce-manual-1 '{range .status.recipes[*]}{.name} ({.state}); {end}')"
failover "failover during a rotation (leader pod deleted while the rotation waits for the token)" delete
echo "The person regenerates the token and places it (the new leader takes it from here)"
control trackvia/accounts/21508/tokens/1/deactivate >/dev/null
TOKEN2=$(control trackvia/accounts/21508/tokens "{\"user\":\"$USER_EMAIL\",\"name\":\"e2e-2\",\"expiresAt\":\"2027-06-01T00:00:00Z\"}" |
  python3 -c 'import json,sys;print(json.load(sys.stdin)["token"])')
k -n "$APP" create secret generic salesforce-trackvia-token --from-literal=token="$TOKEN2" --dry-run=client -o yaml | k apply -f - >/dev/null
k -n "$APP" annotate --overwrite secret salesforce-trackvia-token integrations.trackvia-operator.dev/expires-at=2027-06-01T00:00:00Z >/dev/null
wait_for 120 "the rotation to succeed" phase_is salesforce-manual-1 Succeeded
echo "recipes: $(jp rot/salesforce-manual-1 '{range .status.recipes[*]}{.name} ({.state}); {end}')"
COUNTS=$(curl -fsS "$TV_LOCAL/_emulator/calls" | python3 -c '
import json, re, sys, collections
c = collections.Counter()
for x in json.load(sys.stdin)["calls"]:
    m = re.search(r"/api/recipes/(\d+)/(start|stop)$", x.get("path", ""))
    if m and x.get("method") == "PUT" and x.get("status", 0) < 300:
        c[m.group(2) + " " + m.group(1)] += 1
print(" ".join(f"{k}={v}" for k, v in sorted(c.items())))')
echo "recipe calls across the failover: $COUNTS"
[ "$COUNTS" = "start 7001=1 start 7002=1 start 7003=1 stop 7001=1 stop 7002=1 stop 7003=1" ] ||
  fail "each running recipe must be stopped once and started once (7004, stopped before, untouched): $COUNTS"
figure "rotation across a failover: recipe stops / starts (each of 7001-7003)" "1 / 1"

say "Secret scan: no credential in the operator pods' logs, the events or our objects"
save_logs
scripts/secret-scan.sh "$E2E/ledger.txt" "$E2E/secret-scan" "$E2E/pod-logs"

say "Uninstall in the documented order: the resources first, then the release"
T=$(now)
k delete credentialrotations,workatoconnections,integrationaccounts,workatoworkspaces,trackviaaccounts --all -n "$APP" --wait --timeout 120s >/dev/null ||
  fail "deleting the resources (a finalizer stuck?)"
helm uninstall "$RELEASE" -n "$NS" --wait --timeout 2m >/dev/null || fail "helm uninstall"
figure "uninstall (resources, then the release)" "$(since "$T") s"
LEFT=$(k get trackvia -A -o name 2>/dev/null | wc -l)
[ "$LEFT" = 0 ] || fail "$LEFT objects left"
STOPPED=$(curl -fsS "$TV_LOCAL/_emulator/state" | python3 -c '
import json, sys
s = json.load(sys.stdin)["workato"]["workspaces"]
print(" ".join(str(r["id"]) for w in s for r in w["recipes"] if not r["running"] and r["id"] != 7004))')
[ -z "$STOPPED" ] || fail "recipes left stopped: $STOPPED"
echo "no object left, no finalizer stuck; recipes stopped: none but 7004 (stopped before the story)"
[ -n "$(k get crd -o name | grep integrations.trackvia-operator.dev)" ] && echo "CRDs kept (helm.sh/resource-policy: keep)"

figure "make e2e total" "$(since "$START") s"
say "Figures (target/e2e/figures.md)"
cat "$OUT/figures.md"
