#!/usr/bin/env bash
# Builds the kubectl-segmentation release archives for krew and writes the
# krew manifest from their sha256, so that the manifest never holds a
# placeholder or an invented checksum.
#
#   hack/krew/release.sh VERSION OUT_DIR
#
# OUT_DIR receives kubectl-segmentation_VERSION_OS_ARCH.tar.gz for
# linux and darwin, amd64 and arm64 (the binary and the completion helper
# kubectl_complete-segmentation), and segmentation.yaml, which expects the
# archives at the GitHub release VERSION. The archives are reproducible
# (-trimpath, no build ID, fixed tar metadata, gzip -n): building the same
# commit with the same Go gives the same checksums, so the manifest fits
# the archives attached to the release only if they are these very files
# or rebuilt the same way.
set -euo pipefail

version=${1:?usage: release.sh VERSION OUT_DIR}
out=${2:?usage: release.sh VERSION OUT_DIR}
case $version in
v[0-9]*.[0-9]*.[0-9]*) ;;
*) echo "VERSION must look like v1.2.3, not $version" >&2; exit 2 ;;
esac
repo=${KREW_REPO:-tierguard/tierguard}
go=${GO:-go}
root=$(cd "$(dirname "$0")/../.." && pwd)
mkdir -p "$out"
out=$(cd "$out" && pwd)
# One fixed timestamp for every file in the archives: the commit's.
mtime=$(git -C "$root" log -1 --format=%cI 2>/dev/null || echo 2026-01-01T00:00:00Z)

platforms=(linux/amd64 linux/arm64 darwin/amd64 darwin/arm64)
declare -A sums
for p in "${platforms[@]}"; do
	os=${p%/*} arch=${p#*/}
	stage=$(mktemp -d)
	(cd "$root" && CGO_ENABLED=0 GOOS=$os GOARCH=$arch "$go" build -trimpath \
		-ldflags "-s -w -buildid=" -o "$stage/kubectl-segmentation" ./cmd/kubectl-segmentation)
	install -m 0755 "$root/hack/krew/kubectl_complete-segmentation" "$stage/"
	archive="$out/kubectl-segmentation_${version}_${os}_${arch}.tar.gz"
	tar --sort=name --mtime="$mtime" --owner=0 --group=0 --numeric-owner \
		-C "$stage" -cf - kubectl-segmentation kubectl_complete-segmentation | gzip -n -9 > "$archive"
	rm -rf "$stage"
	sums[$p]=$(sha256sum "$archive" | cut -d' ' -f1)
done

{
	cat <<YAML
apiVersion: krew.googlecontainertools.github.com/v1alpha2
kind: Plugin
metadata:
  name: segmentation
spec:
  version: ${version}
  homepage: https://github.com/${repo}
  shortDescription: Preview, draw and check Tierguard's tier segmentation
  description: |
    Works with Tierguard's SegmentationProfiles, which isolate environment
    tiers (dev, test, prod) with NetworkPolicies and ClusterNetworkPolicies.
    render previews the namespace labels and policies a profile results in,
    offline or against the cluster; matrix prints the tier-by-tier
    connectivity the policies allow against the profile's intent, with the
    policies behind every hole (-o dot or -o mermaid draws it); status
    prints a profile's state as Tierguard reports it.
  caveats: |
    The matrix and status read SegmentationProfiles, Namespaces,
    NetworkPolicies and ClusterNetworkPolicies: you need list access to them.
    Shell completion of kubectl segmentation (kubectl 1.26+) needs
    kubectl_complete-segmentation on your PATH; krew links only
    kubectl-segmentation, so link it yourself:
      ln -s "\$HOME/.krew/store/segmentation/${version}/kubectl_complete-segmentation" "\$HOME/.krew/bin/"
  platforms:
YAML
	for p in "${platforms[@]}"; do
		os=${p%/*} arch=${p#*/}
		cat <<YAML
  - selector:
      matchLabels:
        os: ${os}
        arch: ${arch}
    uri: https://github.com/${repo}/releases/download/${version}/kubectl-segmentation_${version}_${os}_${arch}.tar.gz
    sha256: ${sums[$p]}
    bin: kubectl-segmentation
    files:
    - from: kubectl-segmentation
      to: .
    - from: kubectl_complete-segmentation
      to: .
YAML
	done
} > "$out/segmentation.yaml"
echo "Wrote $out/segmentation.yaml for the archives in $out; attach them to the release ${version} as they are." >&2
