#!/usr/bin/env bash
# End-to-end test of `jobsync validate` as a user runs it: exit codes, output, and --help.
# Usage: validate_test.sh JOBSYNC_BINARY SOURCE_DIR
set -uo pipefail
jobsync=$1
src=$2
source "$(dirname "$0")/testlib.sh"

out=$("$jobsync" validate "$src/examples/repo" 2>&1); code=$?
check "examples/repo is valid" 0 "$code"
check "examples/repo summary" "ok: 8 valid jobs (6 kubernetes, 2 ray)" "$out"

err=$("$jobsync" validate "$src/tests/data/invalid/wrong-types.yaml" 2>&1 >/dev/null); code=$?
check "invalid manifest exits 2" 2 "$code"
check "every problem is printed" 5 "$(printf '%s\n' "$err" | wc -l)"
check "problems are located" \
  "$src/tests/data/invalid/wrong-types.yaml:14:17: spec.roles.worker.replicas: expected integer, got string \"4\" (hint: remove the quotes)" \
  "$(printf '%s\n' "$err" | grep replicas)"
check "summary line" "4 problems; 0 valid jobs (0 kubernetes, 0 ray), 1 invalid" \
  "$(printf '%s\n' "$err" | tail -n 1)"

"$jobsync" validate "$src/examples/repo" "$src/tests/data/invalid/duplicate-key.yaml" >/dev/null 2>&1
check "one bad file among good ones exits 2" 2 "$?"

# Job model (#19): a mistake merged in with `<<: *defaults` is reported for each role that merges
# it, at the line where it is written; Ray refuses Kubernetes-only fields at their keys.
err=$("$jobsync" validate "$src/tests/data/invalid/merge-key-located.yaml" 2>&1 >/dev/null); code=$?
check "merged-in mistake exits 2" 2 "$code"
check "merged-in mistake is located at its text for each role" 2 \
  "$(printf '%s\n' "$err" | grep -c "merge-key-located.yaml:11:41: spec.roles.[a-z]*.volumes\[0\].mountPath: 'data' is not an absolute path")"
err=$("$jobsync" validate "$src/tests/data/invalid/ray-refusals.yaml" 2>&1 >/dev/null); code=$?
check "Ray refusals exit 2" 2 "$code"
check "Ray refuses volumes at the key, saying what to use instead" \
  "$src/tests/data/invalid/ray-refusals.yaml:13:3: spec.volumes: not supported with backend: ray; a shared Ray cluster's Jobs API cannot honour it (hint: ship files with spec.ray.runtimeEnv.working_dir, or use storage the Ray nodes already mount)" \
  "$(printf '%s\n' "$err" | grep 'spec.volumes:')"

"$jobsync" validate /nonexistent >/dev/null 2>&1
check "missing path exits 2" 2 "$?"

"$jobsync" validate >/dev/null 2>&1
check "no path is a usage error" 2 "$?"

# render: the issue-16 crash (a string value of some 26,000 characters or more exhausted the
# stack; the old code crashes at 40,000 here), and
# --instance checked as a label value before anything is rendered.
out=$("$jobsync" render "$src/tests/fuzz/regressions/render/long-string-values.yaml" 2>&1); code=$?
check "render of 40,000-character values exits 0" 0 "$code"
check "render of 40,000-character values prints them" 1 \
  "$(printf '%s\n' "$out" | awk '/^ *value: a+$/ && length($0) > 40000' | wc -l)"
err=$("$jobsync" render --instance "has space" "$src/examples/repo" 2>&1 >/dev/null); code=$?
check "render --instance 'has space' is refused" "yes" \
  "$([ "$code" -ne 0 ] && printf '%s' "$err" | grep -q "not an instance name" && echo yes || echo "exit $code: $err")"
for command in plan apply run; do
  err=$("$jobsync" "$command" --instance=team_ --repo . 2>&1 >/dev/null); code=$?
  check "$command --instance team_ is refused" "yes" \
    "$([ "$code" -ne 0 ] && printf '%s' "$err" | grep -q "not an instance name" && echo yes || echo "exit $code: $err")"
done

# A commit-status setting without --status-provider would be ignored: refused instead.
for flag in --status-context=ci --status-target-url=http://x --status-ca-file=/dev/null; do
  err=$("$jobsync" run "$flag" --repo "$src" --state /dev/null 2>&1 >/dev/null); code=$?
  check "run $flag without --status-provider is refused" "yes" \
    "$([ "$code" -eq 2 ] && printf '%s' "$err" | grep -q "need --status-provider" && echo yes || echo "exit $code: $err")"
done

help=$("$jobsync" --help); code=$?
check "--help exits 0" 0 "$code"
for command in $(printf '%s\n' "$help" | awk '/^Subcommands:/{on=1; next} on && /^  [a-z]/{print $1}'); do
  "$jobsync" "$command" --help >/dev/null 2>&1
  check "$command --help exits 0" 0 "$?"
done

finish
