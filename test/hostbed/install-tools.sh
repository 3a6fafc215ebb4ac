#!/usr/bin/env bash
# Installs what the host test beds run besides Go: iproute2 (ip, for
# network namespaces, veths and the bridge), iptables (nft variant, as
# kube-router and kube-proxy program it), ipset and conntrack (to flush the
# connection tracking entries of the pod range between runs); with the
# argument "node", also containerd and runc for the real-node bed
# (test/cluster). Debian packages, installed only when a command is missing,
# so a prepared machine makes no network call.
set -euo pipefail

declare -A package_of=(
  [ip]=iproute2
  [iptables]=iptables
  [iptables-save]=iptables
  [iptables-restore]=iptables
  [ipset]=ipset
  [conntrack]=conntrack
)

if [ "${1:-}" = node ]; then
  package_of[containerd]=containerd
  package_of[ctr]=containerd
  package_of[runc]=runc
fi

missing=()
for cmd in "${!package_of[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${package_of[$cmd]}")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
mapfile -t packages < <(printf '%s\n' "${missing[@]}" | sort -u)
if [ "$(id -u)" -ne 0 ]; then
  echo "install-tools: need root to install ${packages[*]}" >&2
  exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-tools: no apt-get; install ${packages[*]} by hand" >&2
  exit 1
fi
echo "install-tools: installing ${packages[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${packages[@]}"
