#!/usr/bin/env bash
# A local control plane for tests and the demo: etcd + kube-apiserver on 127.0.0.1, no kubelet,
# scheduler or controller-manager (envtest-style). Admin access is a client certificate in
# system:masters, written into a kubeconfig with the certificates embedded.
#
#   scripts/control-plane.sh up     start both; the last line printed is `export KUBECONFIG=...`
#   scripts/control-plane.sh down   stop exactly the processes `up` started (recorded pids)
#   scripts/control-plane.sh status say whether they run
#   scripts/control-plane.sh restart-apiserver
#                                   stop only the kube-apiserver `up` started and start it again with
#                                   the same flags, port and etcd data; returns once /readyz answers
#
# State lives in $TVO_CLUSTER_DIR (default .cache/cluster). Binaries come from .cache/bin and are
# built by scripts/build-tools.sh when missing or when the pinned versions change.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${TVO_CACHE:-$ROOT/.cache}/bin
WORK=${TVO_CLUSTER_DIR:-$ROOT/.cache/cluster}
PKI=$WORK/pki
KC=$WORK/kubeconfig

log() { printf '[control-plane] %s\n' "$*" >&2; }
port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
wait_for() { local t=$1; shift; for _ in $(seq "$((t * 5))"); do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; done; return 1; }

# A recorded pid counts as ours only while it still runs the binary we started.
ours() {
  local name=$1 pid
  [ -f "$WORK/$name.pid" ] || return 1
  pid=$(cat "$WORK/$name.pid")
  [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q "$BIN/$name" && echo "$pid"
}

stop() {
  local name pid
  for name in kube-apiserver etcd; do
    if pid=$(ours "$name"); then
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 50); do [ -d "/proc/$pid" ] || break; sleep 0.2; done
      if [ -d "/proc/$pid" ]; then kill -9 "$pid" 2>/dev/null || true; fi
      log "stopped $name (pid $pid)"
    fi
    rm -f "$WORK/$name.pid"
  done
}

# Node mode (TVO_NODE=1, used by scripts/node.sh): pods must reach the API server, so it listens
# on every address at port 443 (its Service's port; scripts/node.sh puts the Service IP on the
# pod bridge), authorizes kubelets with the Node authorizer, admits service accounts (projected
# tokens) and may call the kubelet (logs, exec) with the admin certificate. Without it: loopback
# only, a random port, no service accounts (envtest-style).
NODE_MODE=${TVO_NODE:-}
node_flags() {
  if [ -n "$NODE_MODE" ]; then
    echo --bind-address=0.0.0.0 --authorization-mode=Node,RBAC --enable-admission-plugins=NodeRestriction \
      --kubelet-client-certificate="$PKI/admin.crt" --kubelet-client-key="$PKI/admin.key" \
      --kubelet-preferred-address-types=InternalIP
  else
    echo --bind-address=127.0.0.1 --authorization-mode=RBAC --disable-admission-plugins=ServiceAccount
  fi
}

# The kube-apiserver of the recorded cluster ($ETCD_PORT and $API_PORT set); waits for /readyz.
start_apiserver() {
  # shellcheck disable=SC2046
  setsid "$BIN/kube-apiserver" --etcd-servers="http://127.0.0.1:$ETCD_PORT" \
    $(node_flags) --secure-port="$API_PORT" \
    --advertise-address=127.0.0.1 --endpoint-reconciler-type=none \
    --cert-dir="$PKI" --tls-cert-file="$PKI/apiserver.crt" --tls-private-key-file="$PKI/apiserver.key" \
    --client-ca-file="$PKI/ca.crt" \
    --service-account-issuer="https://127.0.0.1:$API_PORT" \
    --service-account-key-file="$PKI/sa.pub" --service-account-signing-key-file="$PKI/sa.key" \
    --service-cluster-ip-range=10.0.0.0/24 --allow-privileged=true \
    </dev/null >>"$WORK/kube-apiserver.log" 2>&1 &
  echo $! >"$WORK/kube-apiserver.pid"
  if ! wait_for 120 curl -fsS --cacert "$PKI/ca.crt" --cert "$PKI/admin.crt" --key "$PKI/admin.key" \
    "https://127.0.0.1:$API_PORT/readyz"; then
    tail -40 "$WORK/kube-apiserver.log" >&2; return 1
  fi
}

# Stops only the kube-apiserver and starts it again; etcd and its data stay. What a control-plane
# upgrade or a crashed API server looks like to its clients.
restart_apiserver() {
  local pid start
  [ -f "$WORK/ports" ] || { log "no cluster recorded in $WORK (run up first)"; exit 1; }
  # shellcheck source=/dev/null
  . "$WORK/ports"
  ours etcd >/dev/null || { log "the etcd of $WORK is not running"; exit 1; }
  start=$(date +%s%N)
  if pid=$(ours kube-apiserver); then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 100); do [ -d "/proc/$pid" ] || break; sleep 0.1; done
    if [ -d "/proc/$pid" ]; then kill -9 "$pid" 2>/dev/null || true; sleep 0.2; fi
    log "stopped kube-apiserver (pid $pid)"
  fi
  rm -f "$WORK/kube-apiserver.pid"
  if ! start_apiserver; then log "kube-apiserver did not come back"; exit 1; fi
  log "kube-apiserver back on https://127.0.0.1:$API_PORT (pid $(cat "$WORK/kube-apiserver.pid")), ready $(( ($(date +%s%N) - start) / 1000000 )) ms after the stop began"
}

case "${1:-up}" in
  down) stop; exit 0 ;;
  restart-apiserver) restart_apiserver; exit 0 ;;
  status)
    for name in etcd kube-apiserver; do
      if pid=$(ours "$name"); then echo "$name running (pid $pid)"; else echo "$name not running"; fi
    done
    exit 0 ;;
  up) ;;
  *) echo "usage: $0 up|down|status|restart-apiserver" >&2; exit 2 ;;
esac

"$ROOT/scripts/build-tools.sh" etcd kubernetes
stop
rm -rf "$WORK"; mkdir -p "$PKI" "$WORK/etcd"

ETCD_PORT=$(port); PEER_PORT=$(port); API_PORT=$(port)
[ -z "$NODE_MODE" ] || API_PORT=443
EXTRA_SANS=${TVO_NODE_IP:+,IP:$TVO_NODE_IP}

# PKI: one CA; a serving cert with IP SANs; an admin client cert (system:masters); an SA key pair.
ext() { printf '%s\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\n' "$1"; }
(
  cd "$PKI"
  openssl req -x509 -newkey rsa:2048 -nodes -days 7 -subj /CN=trackvia-operator-test-ca -keyout ca.key -out ca.crt
  openssl req -newkey rsa:2048 -nodes -subj /CN=kube-apiserver -keyout apiserver.key -out apiserver.csr
  openssl x509 -req -in apiserver.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 7 -out apiserver.crt \
    -extfile <(ext "subjectAltName=IP:127.0.0.1,IP:10.0.0.1$EXTRA_SANS,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc
extendedKeyUsage=serverAuth")
  openssl req -newkey rsa:2048 -nodes -subj '/O=system:masters/CN=admin' -keyout admin.key -out admin.csr
  openssl x509 -req -in admin.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 7 -out admin.crt \
    -extfile <(ext 'extendedKeyUsage=clientAuth')
  openssl genrsa -out sa.key 2048 && openssl rsa -in sa.key -pubout -out sa.pub
) >/dev/null 2>&1

setsid "$BIN/etcd" --name test --data-dir "$WORK/etcd" --unsafe-no-fsync --log-level warn \
  --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
  --listen-peer-urls "http://127.0.0.1:$PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$PEER_PORT" \
  --initial-cluster "test=http://127.0.0.1:$PEER_PORT" </dev/null >"$WORK/etcd.log" 2>&1 &
echo $! >"$WORK/etcd.pid"
if ! wait_for 30 curl -fsS "http://127.0.0.1:$ETCD_PORT/health"; then
  tail -20 "$WORK/etcd.log" >&2; stop; exit 1
fi

echo "ETCD_PORT=$ETCD_PORT API_PORT=$API_PORT NODE_MODE=$NODE_MODE" >"$WORK/ports"
: >"$WORK/kube-apiserver.log"
if ! start_apiserver; then stop; exit 1; fi

KUBECTL=$BIN/kubectl
"$KUBECTL" config --kubeconfig="$KC" set-cluster local --server="https://127.0.0.1:$API_PORT" \
  --certificate-authority="$PKI/ca.crt" --embed-certs=true >/dev/null
"$KUBECTL" config --kubeconfig="$KC" set-credentials admin --client-certificate="$PKI/admin.crt" \
  --client-key="$PKI/admin.key" --embed-certs=true >/dev/null
"$KUBECTL" config --kubeconfig="$KC" set-context local --cluster=local --user=admin --namespace=default >/dev/null
"$KUBECTL" config --kubeconfig="$KC" use-context local >/dev/null
if ! wait_for 30 "$KUBECTL" --kubeconfig="$KC" get namespace default; then
  log "the default namespace never appeared"; stop; exit 1
fi
log "etcd $("$BIN/etcd" --version | sed -n 's/etcd Version: //p') on 127.0.0.1:$ETCD_PORT, kube-apiserver $("$BIN/kube-apiserver" --version | cut -d' ' -f2) on https://127.0.0.1:$API_PORT"
log "kubectl: $KUBECTL (put $BIN on PATH to use it as kubectl)"
echo "export KUBECONFIG=$KC"
