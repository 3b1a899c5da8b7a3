#!/usr/bin/env bash
# scripts/check-layout on a scratch repository: each kind of breach is reported with where and
# how to fix it, and the layout without breaches passes. Usage: check_layout_test.sh SOURCE_DIR
set -euo pipefail
source_dir=$1
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
cd "$scratch"
git init -q .
mkdir -p scripts agent/cli agent/sync backends/kubernetes diff domain
cp "$source_dir/scripts/check-layout" "$source_dir/scripts/function-lengths" scripts/
echo '#include "backends/kubernetes/client.h"' >agent/cli/wiring.cc
echo '#include "backends/ray/ray_backend.h"' >agent/sync/reconciler_part.cc
echo '#include "diff/plan.h"' >backends/kubernetes/mapping.h
echo '#include "agent/sync/clusters.h"' >diff/plan.h
seq 701 | sed 's|^|// |' >domain/long.h
long_function() {  # a function of $1 lines, with a lambda and a string holding braces
  echo 'int Long(int a) {'
  echo '  auto add = [](int x) { return x + 1; };'
  seq $(($1 - 4)) | sed 's|^|  a = add(a); // "{"|'
  echo '  return a;'
  echo '}'
}
long_function 81 >diff/long_function.cc
git add -A

fail() {
  echo "FAIL: $1" >&2
  echo "--- output:" >&2
  cat output >&2
  exit 1
}
expect() { grep -qF -- "$1" output || fail "expected: $1"; }

if scripts/check-layout >output 2>&1; then fail "breaches passed"; fi
expect 'agent/sync/reconciler_part.cc:1:#include "backends/ray/ray_backend.h": the agent includes a concrete backend outside the wiring'
expect 'build the implementation in agent/cli/wiring.cc'
expect 'backends/kubernetes/mapping.h:1:#include "diff/plan.h": backends/ must not depend on the planner or the agent'
expect 'diff/plan.h:1:#include "agent/sync/clusters.h": diff/ is pure'
expect 'domain/long.h has 701 lines, over 700: split it'
expect 'diff/long_function.cc:1: Long is 81 lines, over 80: make it a short sequence of named steps'
expect 'check-layout: 5 problem(s)'
grep 'agent/cli/wiring.cc:1' output && fail "the wiring file itself was reported"

echo '#include "backends/backend.h"' >agent/sync/reconciler_part.cc
echo '#include "domain/plan_step.h"' >backends/kubernetes/mapping.h
echo '#include "domain/plan_step.h"' >diff/plan.h
seq 700 | sed 's|^|// |' >domain/long.h
long_function 80 >diff/long_function.cc
scripts/check-layout >output 2>&1 || fail "a layout without breaches failed"
expect 'check-layout: ok'
echo "check-layout: ok"
