#!/usr/bin/env bash
# A local Kubernetes node on this machine, for `make e2e`: the control plane of
# scripts/control-plane.sh (in node mode) plus kube-scheduler, kube-controller-manager, a kubelet,
# containerd + runc and a bridge pod network. Nothing outside this machine is ever addressed.
#
#   scripts/node.sh up       start everything; the last line printed is `export KUBECONFIG=...`
#   scripts/node.sh down     stop exactly what `up` started (recorded pids, the bridge it made,
#                            the pods' containers, mounts and network namespaces)
#   scripts/node.sh status   say what runs
#   scripts/node.sh kill CONTAINER_ID
#                            SIGKILL a container's process through containerd (a crash, as the
#                            kubelet would see an OOM kill)
#   scripts/node.sh pause|resume CONTAINER_ID
#                            freeze / thaw a container (cgroup freezer): a hung process
#   scripts/node.sh import ARCHIVE.tar
#                            import an OCI image archive (scripts/oci-image.py) into the node's
#                            containerd, where the kubelet finds it (no registry is reachable)
#
# What it is made of (pinned and cached under .cache/):
#   kubelet, kube-scheduler, kube-controller-manager, kube-apiserver, etcd: built from their Go
#     modules by scripts/build-tools.sh at the pinned Kubernetes version;
#   containerd, runc, the CNI plugins: Debian 12 packages at pinned versions, fetched with
#     `apt-get download`, checked against the sha256 below and unpacked into .cache/node-runtime
#     (never installed into the system);
#   the pause image: tools/pause, built here and imported as `localhost/trackvia-operator/pause`.
#
# The pod network: a Linux bridge `tvo0` (10.244.0.1/24) on the host; the CNI bridge plugin gives
# each pod a veth on it and an address in 10.244.0.0/24, routed through 10.244.0.1. Pods reach
# the host (the API server, the emulators) at 10.244.0.1 and each other directly. There is no
# kube-proxy (this machine has no iptables/nft tools) and so no Service routing, with one
# exception: the API server's own Service IP (10.0.0.1, what in-cluster clients are given) is a
# second address of the bridge, and the API server listens on port 443 like that Service.
# Nothing enforces NetworkPolicy here.
#
# State lives in $TVO_NODE_DIR (default .cache/node).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${TVO_CACHE:-$ROOT/.cache}
BIN=$CACHE/bin
WORK=${TVO_NODE_DIR:-$CACHE/node}
NODE_NAME=tvo-node
BRIDGE=tvo0
GATEWAY=10.244.0.1
POD_SUBNET=10.244.0.0/24
SERVICE_IP=10.0.0.1
PAUSE_REF=localhost/trackvia-operator/pause:local

# Debian 12 (bookworm) packages: name=version sha256.
DEBS=(
  "containerd=1.6.20~ds1-1+deb12u3 8669d264eeb0fcdb4a0b1ba436ab88ec5dafde4a66e1278ec279d830db4c2216"
  "runc=1.1.5+ds1-1+deb12u1 a00351f8c0318de0b424ecf5cd0fdb69880a89f3511cae4f6fff7de3e57881c5"
  "containernetworking-plugins=1.1.1+ds1-3+b5 4cac8143474d1249b19f7b0e80b8d0daaa6dfdaa8bd514bc468d38d4a108099f"
)

log() { printf '[node] %s\n' "$*" >&2; }
wait_for() { local t=$1; shift; for _ in $(seq "$((t * 5))"); do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; done; return 1; }

# The runtime's files, unpacked once per set of pinned packages.
RUNTIME=$CACHE/node-runtime/$(printf '%s\n' "${DEBS[@]}" | sha256sum | cut -c1-12)
runtime() {
  [ -x "$RUNTIME/usr/bin/containerd" ] && return 0
  local debs=$CACHE/debs entry pkg want file got
  mkdir -p "$debs" "$RUNTIME.tmp"
  for entry in "${DEBS[@]}"; do
    pkg=${entry%% *}; want=${entry##* }
    file=$(ls "$debs/${pkg%%=*}_"*.deb 2>/dev/null | head -1 || true)
    if [ -z "$file" ] || [ "$(sha256sum "$file" | cut -d' ' -f1)" != "$want" ]; then
      rm -f "$debs/${pkg%%=*}_"*.deb
      log "fetching $pkg (Debian package)"
      (cd "$debs" && apt-get download -q "$pkg" 2>&1 | grep -v '^W: Download is performed unsandboxed' >&2 || true)
      file=$(ls "$debs/${pkg%%=*}_"*.deb | head -1)
    fi
    got=$(sha256sum "$file" | cut -d' ' -f1)
    [ "$got" = "$want" ] || { log "$file: sha256 $got, pinned $want"; exit 1; }
    dpkg-deb -x "$file" "$RUNTIME.tmp"
  done
  rm -rf "$RUNTIME"; mv "$RUNTIME.tmp" "$RUNTIME"
}

# The pause binary and its image archive, rebuilt when tools/pause changes.
pause_image() {
  local src=$ROOT/tools/pause version
  version=$(cat "$src/main.go" "$src/go.mod" | sha256sum | cut -c1-16)
  if [ "$(cat "$BIN/.pause.version" 2>/dev/null)" != "$version" ] || [ ! -f "$CACHE/images/pause.tar" ]; then
    log "building the pause image"
    mkdir -p "$CACHE/images"
    (cd "$src" && CGO_ENABLED=0 GOTOOLCHAIN=local go build -trimpath -ldflags "-s -w" -o "$BIN/pause" .)
    python3 "$ROOT/scripts/oci-image.py" --ref "$PAUSE_REF" --out "$CACHE/images/pause.tar" \
      --file "$BIN/pause:/pause:0555" --user 65535:65535 --entrypoint /pause >/dev/null
    printf '%s' "$version" >"$BIN/.pause.version"
  fi
}

ctr_() { "$RUNTIME/usr/bin/ctr" --address "$WORK/containerd/containerd.sock" -n k8s.io "$@"; }
no_tasks() { [ -z "$(ctr_ tasks ls -q 2>/dev/null)" ]; }

# A recorded pid counts as ours only while it still runs the binary we started.
ours() {
  local name=$1 pid
  [ -f "$WORK/$name.pid" ] || return 1
  pid=$(cat "$WORK/$name.pid")
  [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q "$name" && echo "$pid"
}

stop_process() {
  local name=$1 pid
  if pid=$(ours "$name"); then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 75); do [ -d "/proc/$pid" ] || break; sleep 0.2; done
    if [ -d "/proc/$pid" ]; then kill -9 "$pid" 2>/dev/null || true; fi
    log "stopped $name (pid $pid)"
  fi
  rm -f "$WORK/$name.pid"
}

# Every container the node ran, its shim, mounts and network namespace.
remove_pods() {
  local kc=$WORK/cluster/kubeconfig t pid
  # While the kubelet runs, let it stop the pods (it tears down their networks through CNI).
  if ours kubelet >/dev/null && [ -f "$kc" ]; then
    "$BIN/kubectl" --kubeconfig "$kc" delete pods -A --all --grace-period=1 --wait=false >/dev/null 2>&1 || true
    wait_for 60 no_tasks || true
  fi
  if ours containerd >/dev/null; then
    for t in $(ctr_ tasks ls -q 2>/dev/null); do ctr_ tasks kill -s SIGKILL "$t" >/dev/null 2>&1 || true; done
    sleep 0.5
    for t in $(ctr_ tasks ls -q 2>/dev/null); do ctr_ tasks delete -f "$t" >/dev/null 2>&1 || true; done
    for t in $(ctr_ containers ls -q 2>/dev/null); do ctr_ containers delete "$t" >/dev/null 2>&1 || true; done
  fi
  # Shims outlive containerd by design: stop the ones serving our containerd.
  for pid in $(pgrep -f "containerd-shim-runc-v2 .*-address $WORK/containerd/containerd.sock" 2>/dev/null || true); do
    kill -9 "$pid" 2>/dev/null || true
  done
}

unmount_under() {
  local dir=$1 m
  [ -d "$dir" ] || return 0
  # Deepest first.
  for m in $(awk -v d="$dir/" 'index($2, d) == 1 {print $2}' /proc/self/mounts | sort -r); do
    umount -l "$m" 2>/dev/null || true
  done
}

down() {
  stop_process kube-scheduler
  stop_process kube-controller-manager
  remove_pods
  stop_process kubelet
  remove_pods
  stop_process containerd
  unmount_under "$WORK"
  # Network namespaces of our pods (the CNI plugin names them after the sandbox; containerd
  # records the ones it made under its state directory).
  if [ -f "$WORK/netns" ]; then
    while read -r ns; do ip netns delete "$ns" 2>/dev/null || true; done <"$WORK/netns"
  fi
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep '^cni-' || true); do
    # Only those whose veth peer sits on our bridge.
    if [ -d "/sys/class/net/$BRIDGE" ] && ip netns exec "$ns" ip -o route 2>/dev/null | grep -q "via $GATEWAY"; then
      ip netns delete "$ns" 2>/dev/null || true
    fi
  done
  if [ -f "$WORK/bridge" ] && [ -d "/sys/class/net/$BRIDGE" ]; then
    ip link delete "$BRIDGE" 2>/dev/null || true
    log "removed bridge $BRIDGE"
  fi
  rm -f "$WORK/bridge"
  TVO_CLUSTER_DIR=$WORK/cluster "$ROOT/scripts/control-plane.sh" down
  # The kubelet's cgroups (cgroupfs driver): empty once the pods are gone.
  for c in /sys/fs/cgroup/*/kubepods; do
    [ -d "$c" ] && find "$c" -depth -type d -exec rmdir {} \; 2>/dev/null || true
  done
}

status() {
  local name pid
  TVO_CLUSTER_DIR=$WORK/cluster "$ROOT/scripts/control-plane.sh" status
  for name in containerd kubelet kube-scheduler kube-controller-manager; do
    if pid=$(ours "$name"); then echo "$name running (pid $pid)"; else echo "$name not running"; fi
  done
  if [ -d "/sys/class/net/$BRIDGE" ]; then echo "bridge $BRIDGE present"; else echo "bridge $BRIDGE absent"; fi
}

import() {
  local archive=$1
  ours containerd >/dev/null || { log "the node's containerd is not running (scripts/node.sh up)"; exit 1; }
  ctr_ images import --all-platforms "$archive" >&2
}

case "${1:-up}" in
  down) down; exit 0 ;;
  kill|pause|resume)
    ours containerd >/dev/null || { log "the node's containerd is not running"; exit 1; }
    case "$1" in
      kill) ctr_ tasks kill -s SIGKILL "${2:?usage: $0 kill CONTAINER_ID}" ;;
      *) ctr_ tasks "$1" "${2:?usage: $0 $1 CONTAINER_ID}" ;;
    esac
    exit 0 ;;
  status) status; exit 0 ;;
  import) import "${2:?usage: $0 import ARCHIVE.tar}"; exit 0 ;;
  up) ;;
  *) echo "usage: $0 up|down|status|kill|pause|resume CONTAINER_ID|import ARCHIVE" >&2; exit 2 ;;
esac

[ "$(id -u)" = 0 ] || { log "a kubelet and containerd need root (this machine's user is $(id -un))"; exit 1; }
for c in "$BRIDGE"; do
  if [ -d "/sys/class/net/$c" ] && [ ! -f "$WORK/bridge" ]; then
    log "a network interface $c exists that this script did not create: not touching it"; exit 1
  fi
done
"$ROOT/scripts/build-tools.sh" etcd kubernetes node
runtime
pause_image
down >/dev/null 2>&1 || true
rm -rf "$WORK"
mkdir -p "$WORK"/{containerd,cni/net.d,cni/ipam,kubelet,pki}
PATH=$RUNTIME/usr/bin:$RUNTIME/usr/sbin:$PATH; export PATH

# The bridge and the API server's Service address on it.
ip link add "$BRIDGE" type bridge
touch "$WORK/bridge"
# A fixed MAC: a bridge left to itself takes the lowest MAC of its ports, so a pod's veth coming
# or going can change the gateway's MAC under every pod's ARP entry, and the pods then lose
# 10.244.0.1 (the API server, the kubelet's probes) for seconds. Seen in `make e2e` as probe
# timeouts in every pod at once and a graceful failover of 16 s (the Lease release never reached
# the API server) instead of 1 s.
ip link set "$BRIDGE" address 02:74:76:6f:00:01
ip addr add "$GATEWAY/24" dev "$BRIDGE"
ip addr add "$SERVICE_IP/32" dev "$BRIDGE"
ip link set "$BRIDGE" up

# The control plane, in node mode (API server on :443, node authorizer, service accounts).
TVO_CLUSTER_DIR=$WORK/cluster TVO_NODE=1 TVO_NODE_IP=$GATEWAY TVO_NODE_NAME=$NODE_NAME \
  "$ROOT/scripts/control-plane.sh" up >"$WORK/control-plane.out"
KC=$WORK/cluster/kubeconfig
PKI=$WORK/cluster/pki
KUBECTL=("$BIN/kubectl" --kubeconfig "$KC")

# Lowering a process's oom_score_adj (-998 for a pod sandbox) needs CAP_SYS_RESOURCE; root on
# some machines (this one's VM) lacks it, and runc then fails every pod with "can't get final
# child's PID from pipe". Without it, containerd caps the scores at its own (as when rootless).
RESTRICT_OOM=false
if ! (echo -1 >/proc/self/oom_score_adj) 2>/dev/null; then
  RESTRICT_OOM=true
  log "no CAP_SYS_RESOURCE here: pods run with oom_score_adj capped at containerd's own"
fi
# containerd with the CRI plugin, runc (cgroupfs) and the CNI plugins from the packages above.
cat >"$WORK/containerd/config.toml" <<EOF
version = 2
root = "$WORK/containerd/root"
state = "$WORK/containerd/state"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]
[grpc]
  address = "$WORK/containerd/containerd.sock"
[ttrpc]
  address = "$WORK/containerd/containerd.sock.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "$WORK/containerd/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_REF"
  restrict_oom_score_adj = $RESTRICT_OOM
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = "$RUNTIME/usr/sbin/runc"
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "$RUNTIME/usr/lib/cni"
    conf_dir = "$WORK/cni/net.d"
EOF
cat >"$WORK/cni/net.d/10-tvo.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "tvo",
  "plugins": [
    {"type": "bridge", "bridge": "$BRIDGE", "isGateway": true, "ipMasq": false, "hairpinMode": true,
     "ipam": {"type": "host-local", "dataDir": "$WORK/cni/ipam",
              "ranges": [[{"subnet": "$POD_SUBNET", "rangeStart": "10.244.0.10", "gateway": "$GATEWAY"}]],
              "routes": [{"dst": "0.0.0.0/0"}]}},
    {"type": "loopback"}
  ]
}
EOF
setsid "$RUNTIME/usr/bin/containerd" --config "$WORK/containerd/config.toml" </dev/null >"$WORK/containerd.log" 2>&1 &
echo $! >"$WORK/containerd.pid"
if ! wait_for 30 ctr_ version; then tail -30 "$WORK/containerd.log" >&2; down; exit 1; fi
ctr_ images import "$CACHE/images/pause.tar" >/dev/null

# The kubelet: a client certificate as system:node:<name> (the Node authorizer), cgroupfs, the
# node's address on the bridge.
(
  cd "$PKI"
  openssl req -newkey rsa:2048 -nodes -subj "/O=system:nodes/CN=system:node:$NODE_NAME" \
    -keyout kubelet.key -out kubelet.csr
  openssl x509 -req -in kubelet.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 7 -out kubelet.crt \
    -extfile <(printf 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n')
) >/dev/null 2>&1
SERVER=$("${KUBECTL[@]}" config view -o jsonpath='{.clusters[0].cluster.server}')
"$BIN/kubectl" config --kubeconfig="$WORK/kubelet.kubeconfig" set-cluster local --server="$SERVER" \
  --certificate-authority="$PKI/ca.crt" --embed-certs=true >/dev/null
"$BIN/kubectl" config --kubeconfig="$WORK/kubelet.kubeconfig" set-credentials kubelet \
  --client-certificate="$PKI/kubelet.crt" --client-key="$PKI/kubelet.key" --embed-certs=true >/dev/null
"$BIN/kubectl" config --kubeconfig="$WORK/kubelet.kubeconfig" set-context local --cluster=local --user=kubelet >/dev/null
"$BIN/kubectl" config --kubeconfig="$WORK/kubelet.kubeconfig" use-context local >/dev/null
cat >"$WORK/kubelet/config.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $GATEWAY
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: false}
  x509: {clientCAFile: $PKI/ca.crt}
authorization: {mode: AlwaysAllow}
cgroupDriver: cgroupfs
failCgroupV1: false
containerRuntimeEndpoint: unix://$WORK/containerd/containerd.sock
failSwapOn: false
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 0
resolvConf: /etc/resolv.conf
serializeImagePulls: false
imageGCHighThresholdPercent: 100
evictionHard: {memory.available: "100Mi", nodefs.available: "1%", imagefs.available: "1%"}
enforceNodeAllocatable: ["pods"]
registerNode: true
EOF
setsid "$BIN/kubelet" --config "$WORK/kubelet/config.yaml" --kubeconfig "$WORK/kubelet.kubeconfig" \
  --root-dir "$WORK/kubelet/root" --cert-dir "$WORK/kubelet/pki" --hostname-override "$NODE_NAME" \
  --node-ip "$GATEWAY" --v 1 </dev/null >"$WORK/kubelet.log" 2>&1 &
echo $! >"$WORK/kubelet.pid"

# The scheduler and the controller manager (Deployments, ReplicaSets, garbage collection, the
# service-account and root-CA publishers), with the admin credentials.
setsid "$BIN/kube-scheduler" --kubeconfig "$KC" --leader-elect=false --secure-port=0 \
  </dev/null >"$WORK/kube-scheduler.log" 2>&1 &
echo $! >"$WORK/kube-scheduler.pid"
setsid "$BIN/kube-controller-manager" --kubeconfig "$KC" --leader-elect=false --secure-port=0 \
  --service-account-private-key-file "$PKI/sa.key" --root-ca-file "$PKI/ca.crt" \
  --use-service-account-credentials=false --controllers='*,-nodeipam,-cloud-node-lifecycle' \
  </dev/null >"$WORK/kube-controller-manager.log" 2>&1 &
echo $! >"$WORK/kube-controller-manager.pid"

node_ready() { "${KUBECTL[@]}" get node "$NODE_NAME" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' | grep -qx True; }
untainted() { [ -z "$("${KUBECTL[@]}" get node "$NODE_NAME" -o jsonpath='{.spec.taints}')" ]; }
if ! wait_for 120 node_ready; then
  log "node $NODE_NAME not Ready in 120 s"; tail -30 "$WORK/kubelet.log" >&2; down; exit 1
fi
# The node lifecycle controller lifts the not-ready taint once the kubelet reports Ready.
if ! wait_for 60 untainted; then
  log "node $NODE_NAME still tainted: $("${KUBECTL[@]}" get node "$NODE_NAME" -o jsonpath='{.spec.taints}')"; down; exit 1
fi
if ! wait_for 60 "${KUBECTL[@]}" get serviceaccount default -n default; then
  log "no default ServiceAccount (controller manager)"; tail -30 "$WORK/kube-controller-manager.log" >&2; down; exit 1
fi
log "node $NODE_NAME Ready: kubelet $("$BIN/kubelet" --version | cut -d' ' -f2), containerd $("$RUNTIME/usr/bin/containerd" --version | cut -d' ' -f3), runc $("$RUNTIME/usr/sbin/runc" --version | sed -n 's/runc version //p'), pods on $POD_SUBNET via $BRIDGE"
log "images: scripts/node.sh import ARCHIVE.tar; host address for pods: $GATEWAY"
echo "export KUBECONFIG=$KC"
