#!/usr/bin/env bash
# The status page at 10,000 jobs in headless Chromium (scale_driver.py): first paint under 1 s,
# every refresh under 100 KB, the search, error rows, the per-job view and the stale banner.
#
# The real agent runs against the local kube-apiserver on a generated repository
# (bench/generate_repo.py) of 10,000 jobs in the namespaces team-00..39, and may manage one
# namespace only (--allow-namespace): every generated job is planned and refused with an error,
# so nothing of them is created (the cluster is not loaded with 10,000 Jobs); in the allowed
# namespace one job is created for real (page-ok) and one manifest is invalid (broken).
# Prints the measured figures ("measured ..."); bench/RESULTS.md records them.
# Usage: status_page_scale_test.sh JOBSYNC_BINARY SOURCE_DIR   (needs `scripts/cluster up`)
set -uo pipefail
jobsync=$1
src=$2
source "$src/tests/cli/testlib.sh"
require_cluster "$src"
require_browser

run=$$
work=$(mktemp -d)
ns="page-scale-$run"
pid=""
cleanup() {
  [ -n "$pid" ] && kill -CONT "$pid" 2>/dev/null
  [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null && wait "$pid"
  kubectl delete namespace "$ns" --wait=false >/dev/null 2>&1
  keep_logs "$work"
  rm -rf "$work"
}
trap cleanup EXIT
started=$(date +%s)

python3 "$src/bench/generate_repo.py" 10000 "$work/repo" --kubernetes-only --commits 0 --namespaces 40 >/dev/null ||
  { echo "FAIL: cannot generate the repository"; exit 1; }
mkdir -p "$work/repo/$ns"
printf '%s\n' "apiVersion: jobsync.dev/v1alpha1" "kind: TrainingJob" "metadata:" "  name: page-ok" \
  "  namespace: $ns" "  labels: {team: page}" "spec:" "  backend: kubernetes" "  image: python:3.11-slim" \
  "  command: [python, train.py]" "  roles:" "    worker:" "      replicas: 1" \
  "      resources: {cpu: 100m, memory: 64Mi}" >"$work/repo/$ns/page-ok.yaml"
printf '%s\n' "apiVersion: jobsync.dev/v1alpha1" "kind: TrainingJob" "metadata:" "  name: broken" \
  "  namespace: $ns" "spec:" "  backend: kubernetes" "  image: python:3.11-slim" "  roles:" \
  "    worker:" "      replicas: -1" >"$work/repo/$ns/broken.yaml"
git -C "$work/repo" add -A &&
  git -C "$work/repo" -c user.name=Ada -c user.email=ada@example.com commit -qm "Add page-ok and broken"

port=$(free_port)
RAY_ADDRESS= "$jobsync" run --repo "$work/repo" --branch main --instance "page-scale-$run" \
  --cache-dir "$work/cache" --state "$work/state.json" --interval 5s --listen "127.0.0.1:$port" \
  --allow-namespace "$ns" --allow-backend kubernetes >"$work/agent.log" 2>&1 &
pid=$!

listed() {
  curl -sf "http://127.0.0.1:$port/api/v1/jobs?limit=1" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["total"])' 2>/dev/null
}
synced_at=""
for _ in $(seq 120); do
  [ "$(listed)" = 10002 ] && synced_at=$(date +%s) && break
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.5
done
[ -n "$synced_at" ] || { echo "FAIL: the agent did not list 10,002 jobs within 60 s"; tail -n 30 "$work/agent.log"; exit 1; }
echo "measured first_sync_s=$((synced_at - started)) (generating the repository included)"

"$python" "$src/tests/ui/scale_driver.py" "$chromium" "http://127.0.0.1:$port/" "$pid" "$ns"
status=$?
echo "measured rss_kb=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status") test_s=$(($(date +%s) - started))"
[ "$status" -eq 0 ] || tail -n 30 "$work/agent.log"
exit "$status"
