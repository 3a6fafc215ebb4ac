#!/usr/bin/env bash
# Builds kube-router v2.1.0 (the dataplane suite's NetworkPolicy engine) from
# this wrapper module into a cache outside the repository, once: a cold build
# takes about 5 minutes on 2 cores. Skipped when the binary is already there.
#
# Usage: build.sh [output path]
#   default: $KUBE_ROUTER_BIN, else $HOME/.cache/tierguard/kube-router-v2.1.0/kube-router
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out=${1:-${KUBE_ROUTER_BIN:-$HOME/.cache/tierguard/kube-router-v2.1.0/kube-router}}

if [ -x "$out" ]; then
  echo "kube-router already built: $out"
  exit 0
fi
mkdir -p "$(dirname "$out")"
echo "Building kube-router v2.1.0 into $out (first time only; about 5 minutes on 2 cores)"
# Build to a temporary name and rename, so an interrupted build never leaves a
# binary that a later run would take as complete.
tmp="$out.tmp.$$"
trap 'rm -f "$tmp"' EXIT
(cd "$here" && CGO_ENABLED=0 go build -trimpath -o "$tmp" .)
mv "$tmp" "$out"
echo "kube-router built: $out"
