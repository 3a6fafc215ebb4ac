#!/usr/bin/env bash
# Builds the test control plane (etcd, kube-apiserver, kube-controller-manager,
# kubectl) from source through the Go module proxy into the directory where
# setup-envtest keeps its binaries, so every clone and CI run reuse them.
# With the argument "node" it also builds the node of the real-node test bed
# (test/cluster): kubelet, kube-scheduler and kube-proxy beside them, and the
# CNI plugins into cni/ below that directory.
# Binaries already present are not rebuilt.
set -euo pipefail

K8S_VERSION=${K8S_VERSION:-1.37.2}
ETCD_VERSION=${ETCD_VERSION:-3.6.16}
here=$(cd "$(dirname "$0")" && pwd)
dest=${ENVTEST_ASSETS_DIR:-$HOME/.local/share/kubebuilder-envtest/k8s/${K8S_VERSION}-$(go env GOOS)-$(go env GOARCH)}
mkdir -p "$dest"

build_date=$(date -u +%Y-%m-%dT%H:%M:%SZ)
k8s_ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  k8s_ldflags+=" -X ${pkg}.gitVersion=v${K8S_VERSION}"
  k8s_ldflags+=" -X ${pkg}.gitMajor=${K8S_VERSION%%.*}"
  minor=${K8S_VERSION#*.}
  k8s_ldflags+=" -X ${pkg}.gitMinor=${minor%%.*}"
  k8s_ldflags+=" -X ${pkg}.gitTreeState=clean"
  k8s_ldflags+=" -X ${pkg}.buildDate=${build_date}"
done
etcd_ldflags="-s -w -X go.etcd.io/etcd/api/v3/version.GitSHA=v${ETCD_VERSION}"

build() { # build <module dir> <package> <binary name> <ldflags>
  local dir=$1 pkg=$2 name=$3 ldflags=$4
  if [ -x "$dest/$name" ]; then
    echo "envtest-assets: $name present in $dest"
    return
  fi
  echo "envtest-assets: building $name from source (cold builds take minutes; the Go build cache makes later ones fast)"
  local start=$SECONDS
  (cd "$dir" && CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$dest/.$name.tmp" "$pkg")
  mv "$dest/.$name.tmp" "$dest/$name"
  echo "envtest-assets: built $name in $((SECONDS - start))s"
}

build "$here/etcd" go.etcd.io/etcd/server/v3 etcd "$etcd_ldflags"
build "$here" k8s.io/kubernetes/cmd/kube-apiserver kube-apiserver "$k8s_ldflags"
build "$here" k8s.io/kubernetes/cmd/kubectl kubectl "$k8s_ldflags"
build "$here" k8s.io/kubernetes/cmd/kube-controller-manager kube-controller-manager "$k8s_ldflags"
if [ "${1:-}" = node ]; then
  build "$here" k8s.io/kubernetes/cmd/kubelet kubelet "$k8s_ldflags"
  build "$here" k8s.io/kubernetes/cmd/kube-scheduler kube-scheduler "$k8s_ldflags"
  build "$here" k8s.io/kubernetes/cmd/kube-proxy kube-proxy "$k8s_ldflags"
  mkdir -p "$dest/cni"
  for plugin in main/bridge ipam/host-local main/loopback meta/portmap; do
    build "$here/cni" "github.com/containernetworking/plugins/plugins/$plugin" "cni/${plugin#*/}" "-s -w"
  done
fi
echo "envtest-assets: ready in $dest"
