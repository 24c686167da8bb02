#!/usr/bin/env bash
# Prints the path of a kubectl: the machine's, or one built from the same
# Kubernetes source as the test apiserver when the machine has none.
set -euo pipefail
if command -v kubectl >/dev/null 2>&1; then command -v kubectl; exit 0; fi
cd "$(dirname "$0")/.."
cache=${SAILPLAN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/sailplan}/bin
out=$cache/kubectl-v1.36.3
if [ ! -x "$out" ]; then
	mkdir -p "$cache"
	echo "building kubectl v1.36.3 from source (about a minute)..." >&2
	(cd testenv/bins/apiserver && go build -trimpath -o "$out.tmp" k8s.io/kubernetes/cmd/kubectl && mv "$out.tmp" "$out")
fi
echo "$out"
