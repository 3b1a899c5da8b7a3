#!/usr/bin/env bash
# The differential test against Kubernetes' own code (tests/oracle/README.md): builds the Go
# oracle against k8s.io/apimachinery at the control plane's version, runs it, and has
# jobsync_oracle_check compare jobsync's answers case by case.
# Usage: oracle_test.sh CHECKER SOURCE_DIR WORK_DIR
set -euo pipefail
checker=$1
src=$2
mkdir -p "$3"
work=$(cd "$3" && pwd)

# Go as scripts/cluster finds it: the pinned toolchain, else the go on PATH, else /usr/local/go.
if pinned=$("$src/scripts/go-toolchain" bin 2>/dev/null); then
  PATH="$pinned:$PATH"
elif ! command -v go >/dev/null && [ -x /usr/local/go/bin/go ]; then
  PATH="/usr/local/go/bin:$PATH"
fi
if ! command -v go >/dev/null; then
  echo "FAIL: go is not installed. The oracle is a Go program built against k8s.io/apimachinery" \
       "(as the local cluster is): run scripts/install-deps (scripts/go-toolchain installs Go" \
       "from the Go module proxy) and rerun." >&2
  exit 1
fi
# The oracle must be Kubernetes' code at the version the local control plane runs.
want=$(sed -n 's/^readonly K8S_STAGING_VERSION=//p' "$src/scripts/cluster")
have=$(sed -n 's/^\s*k8s.io\/apimachinery \(v[0-9.]*\).*/\1/p' "$src/tests/oracle/go.mod")
if [ -z "$want" ] || [ "$want" != "$have" ]; then
  echo "FAIL: tests/oracle/go.mod requires k8s.io/apimachinery '$have' but scripts/cluster builds" \
       "the control plane from '$want': set the same version in both." >&2
  exit 1
fi

if ! (cd "$src/tests/oracle" &&
      GOFLAGS=-mod=mod GOTOOLCHAIN=local CGO_ENABLED=0 go build -o "$work/oracle" .); then
  echo "FAIL: cannot build the oracle: it needs k8s.io/apimachinery $want from the Go module" \
       "proxy or the module cache (go env GOMODCACHE)." >&2
  exit 1
fi
"$work/oracle" >"$work/cases.tsv"
"$checker" "$work/cases.tsv"
