#!/usr/bin/env bash
# Builds the pinned control-plane and chart tools from the Go module proxy into .cache/bin.
# Each tool is rebuilt only when its pinned version changes (a stamp file per tool).
#
#   kube-apiserver, kubectl  k8s.io/kubernetes (wrapper module, staging modules pinned to their tags)
#   kubelet, kube-scheduler, kube-controller-manager
#                            the same wrapper module (`node`: for scripts/node.sh)
#   etcd                     go.etcd.io/etcd/server/v3 (wrapper module)
#   helm                     helm.sh/helm/v3 (go install)
#   kubeconform              github.com/yannh/kubeconform (go install)
#   promtool                 github.com/prometheus/prometheus/cmd/promtool (go install; no service discovery)
#   argocd-lua, monitoring   our own tools under tools/ (rebuilt when their sources change)
#
# Usage: scripts/build-tools.sh [tool ...]   (default: all)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${TVO_CACHE:-$ROOT/.cache}
BIN=$CACHE/bin
K8S_VERSION=${K8S_VERSION:-1.34.4}
ETCD_VERSION=${ETCD_VERSION:-3.5.24}
HELM_VERSION=${HELM_VERSION:-3.22.0}
KUBECONFORM_VERSION=${KUBECONFORM_VERSION:-0.7.0}
# Prometheus' Go module is tagged v0.<3.x minor>.<patch>: v0.316.0 is Prometheus 3.16.0.
PROMETHEUS_MODULE_VERSION=${PROMETHEUS_MODULE_VERSION:-0.316.0}

export GOTOOLCHAIN=local GOFLAGS=-mod=mod CGO_ENABLED=0
# Two cores: never let the Go toolchain run more than two compile jobs.
export GOMAXPROCS=${GOMAXPROCS:-2}
mkdir -p "$BIN"

log() { printf '[build-tools] %s\n' "$*" >&2; }
stamp_ok() { [ -x "$BIN/$1" ] && [ "$(cat "$BIN/.$1.version" 2>/dev/null)" = "$2" ]; }
stamp() { printf '%s' "$2" >"$BIN/.$1.version"; }

build_kubernetes() {
  if stamp_ok kube-apiserver "$K8S_VERSION" && stamp_ok kubectl "$K8S_VERSION"; then return 0; fi
  local src=$CACHE/src/kubernetes-$K8S_VERSION staging=0.${K8S_VERSION#1.} minor
  minor=$(echo "$K8S_VERSION" | cut -d. -f2)
  log "building kube-apiserver and kubectl v$K8S_VERSION (cold: several minutes)"
  mkdir -p "$src"
  (
    cd "$src"
    [ -f go.mod ] || go mod init local/kas >/dev/null 2>&1
    local gomod
    gomod=$(go mod download -json "k8s.io/kubernetes@v$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
    # k/k requires its staging modules at v0.0.0 with local replaces; pin each to its published tag.
    for m in $(sed -n 's#^[[:space:]]*\(k8s\.io/[a-z0-9-]*\) v0\.0\.0$#\1#p' "$gomod"); do
      go mod edit -replace="$m=$m@v$staging"
    done
    go mod edit -godebug=default=go1.24
    go get -tool "k8s.io/kubernetes/cmd/kube-apiserver@v$K8S_VERSION" >/dev/null 2>&1 || go get -tool "k8s.io/kubernetes/cmd/kube-apiserver@v$K8S_VERSION"
    go get -tool "k8s.io/kubernetes/cmd/kubectl@v$K8S_VERSION" >/dev/null 2>&1 || go get -tool "k8s.io/kubernetes/cmd/kubectl@v$K8S_VERSION"
    local ldflags="-s -w -X k8s.io/component-base/version.gitVersion=v$K8S_VERSION \
      -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor \
      -X k8s.io/component-base/version.gitTreeState=clean \
      -X k8s.io/client-go/pkg/version.gitVersion=v$K8S_VERSION \
      -X k8s.io/client-go/pkg/version.gitMajor=1 -X k8s.io/client-go/pkg/version.gitMinor=$minor"
    go build -p 2 -trimpath -tags grpcnotrace -ldflags "$ldflags" -o "$BIN/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver
    go build -p 2 -trimpath -ldflags "$ldflags" -o "$BIN/kubectl" k8s.io/kubernetes/cmd/kubectl
  )
  stamp kube-apiserver "$K8S_VERSION"; stamp kubectl "$K8S_VERSION"
}

# The node's Kubernetes components from the same wrapper module as kube-apiserver (built first):
# kubelet, kube-scheduler, kube-controller-manager at the same pinned version.
build_node() {
  local c missing=()
  for c in kubelet kube-scheduler kube-controller-manager; do stamp_ok "$c" "$K8S_VERSION" || missing+=("$c"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  build_kubernetes
  local src=$CACHE/src/kubernetes-$K8S_VERSION minor
  minor=$(echo "$K8S_VERSION" | cut -d. -f2)
  log "building ${missing[*]} v$K8S_VERSION (cold: several minutes each)"
  (
    cd "$src"
    local ldflags="-s -w -X k8s.io/component-base/version.gitVersion=v$K8S_VERSION \
      -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor \
      -X k8s.io/component-base/version.gitTreeState=clean"
    for c in "${missing[@]}"; do
      go get -tool "k8s.io/kubernetes/cmd/$c@v$K8S_VERSION" >/dev/null 2>&1 || go get -tool "k8s.io/kubernetes/cmd/$c@v$K8S_VERSION"
      go build -p 2 -trimpath -tags grpcnotrace -ldflags "$ldflags" -o "$BIN/$c" "k8s.io/kubernetes/cmd/$c"
      stamp "$c" "$K8S_VERSION"
    done
  )
}

build_etcd() {
  stamp_ok etcd "$ETCD_VERSION" && return 0
  local src=$CACHE/src/etcd-$ETCD_VERSION
  log "building etcd v$ETCD_VERSION"
  mkdir -p "$src"
  (
    cd "$src"
    [ -f go.mod ] || go mod init local/etcd >/dev/null 2>&1
    go get -tool "go.etcd.io/etcd/server/v3@v$ETCD_VERSION"
    go build -p 2 -trimpath -ldflags "-s -w" -o "$BIN/etcd" go.etcd.io/etcd/server/v3
  )
  stamp etcd "$ETCD_VERSION"
}

build_helm() {
  stamp_ok helm "$HELM_VERSION" && return 0
  log "building helm v$HELM_VERSION"
  GOBIN=$BIN go install -p 2 -trimpath -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=v$HELM_VERSION" \
    "helm.sh/helm/v3/cmd/helm@v$HELM_VERSION"
  stamp helm "$HELM_VERSION"
}

build_kubeconform() {
  stamp_ok kubeconform "$KUBECONFORM_VERSION" && return 0
  log "building kubeconform v$KUBECONFORM_VERSION"
  GOBIN=$BIN go install -p 2 -trimpath -ldflags "-s -w" "github.com/yannh/kubeconform/cmd/kubeconform@v$KUBECONFORM_VERSION"
  stamp kubeconform "$KUBECONFORM_VERSION"
}

# promtool checks and unit-tests the chart's alert rules. `remove_all_sd` leaves out every service
# discovery plugin (cloud SDKs, client-go), which promtool's rule commands never use: a much
# smaller build.
build_promtool() {
  stamp_ok promtool "$PROMETHEUS_MODULE_VERSION" && return 0
  log "building promtool (prometheus module v$PROMETHEUS_MODULE_VERSION; cold: several minutes)"
  GOBIN=$BIN go install -p 2 -trimpath -tags remove_all_sd \
    -ldflags "-s -w -X github.com/prometheus/common/version.Version=module-v$PROMETHEUS_MODULE_VERSION" \
    "github.com/prometheus/prometheus/cmd/promtool@v$PROMETHEUS_MODULE_VERSION"
  stamp promtool "$PROMETHEUS_MODULE_VERSION"
}

# Our own Lua runner for the Argo CD health checks (gopher-lua, as Argo CD uses), rebuilt when its
# sources change.
build_argocd_lua() {
  local src=$ROOT/tools/argocd-lua version
  version=$(cat "$src/main.go" "$src/go.mod" | sha256sum | cut -c1-16)
  stamp_ok argocd-lua "$version" && return 0
  log "building argocd-lua"
  (cd "$src" && go build -trimpath -o "$BIN/argocd-lua" .)
  stamp argocd-lua "$version"
}

# Our own checker and renderer of the alert rules and the dashboard (tools/monitoring), on the
# PromQL parser and engine of the same Prometheus module as promtool; rebuilt when its sources change.
build_monitoring() {
  local src=$ROOT/tools/monitoring version
  version=$( (cat "$src"/*.go "$src/go.mod"; echo "$PROMETHEUS_MODULE_VERSION") | sha256sum | cut -c1-16)
  stamp_ok monitoring "$version" && return 0
  log "building monitoring (tools/monitoring; cold: several minutes)"
  (cd "$src" && go build -p 2 -trimpath -tags remove_all_sd -o "$BIN/monitoring" .)
  stamp monitoring "$version"
}

tools=("$@"); [ ${#tools[@]} -gt 0 ] || tools=(etcd kubernetes)
for t in "${tools[@]}"; do
  case "$t" in
    kubernetes|kube-apiserver|kubectl) build_kubernetes ;;
    node|kubelet|kube-scheduler|kube-controller-manager) build_node ;;
    etcd) build_etcd ;;
    helm) build_helm ;;
    kubeconform) build_kubeconform ;;
    promtool) build_promtool ;;
    argocd-lua) build_argocd_lua ;;
    monitoring) build_monitoring ;;
    *) log "unknown tool $t"; exit 2 ;;
  esac
done
