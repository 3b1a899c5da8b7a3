#!/usr/bin/env bash
# Kueue through the real agent (`jobsync run`), against the real kube-apiserver, JobSet and Kueue
# controllers: a ClusterQueue with quota for one job, two jobs in Git in its LocalQueue.
#   1. The first (an Indexed Job) is admitted and runs; the second (a JobSet) is reported Queued
#      with Kueue's reason in the agent's status.
#   2. Over ten agent cycles jobsync writes nothing: the agent's applied-actions counter stays flat
#      and the queued JobSet's resourceVersion (every write to it, by anyone) does not move.
#   3. The first is deleted from Git: the agent deletes it (one applied action) and Kueue admits the
#      second, with no write from jobsync to it; the agent then reports it running (Progressing, then
#      Healthy once kwok runs its pod), Synced.
# Usage: queue_test.sh JOBSYNC_BINARY SOURCE_DIR   (needs `scripts/cluster up`; fails without it)
set -uo pipefail
jobsync=$1
src=$2
source "$(dirname "$0")/testlib.sh"
require_cluster "$src"

run=$$
instance="queue-test-$run"
ns="q$run-train"
work=$(mktemp -d)
agent_pid=""
cleanup() {
  [ -n "$agent_pid" ] && kill -9 "$agent_pid" 2>/dev/null
  kubectl delete namespace "$ns" --wait=false >/dev/null 2>&1
  kubectl delete clusterqueue "jobsync-$ns" --wait=false >/dev/null 2>&1
  rm -f "$HOME/.local/state/jobsync/$instance.state.json"
  if [ "$failed" -ne 0 ] && [ -f "$work/agent.log" ]; then
    echo "--- agent log (last 60 lines)"; tail -n 60 "$work/agent.log"
  fi
  keep_logs "$work"
  rm -rf "$work"
}
trap cleanup EXIT

kubectl create namespace "$ns" >/dev/null
"$src/scripts/cluster" queue "$ns" 1 || { check "scripts/cluster queue $ns 1" 0 1; stop; }

# job NAME WORKLOAD: one worker asking for the whole 1-cpu quota, in LocalQueue "main".
job() {
  cat >"$work/repo/jobs/$1.yaml" <<EOF
apiVersion: jobsync.dev/v1alpha1
kind: TrainingJob
metadata: {name: $1, namespace: $ns}
spec:
  backend: kubernetes
  image: python:3.11-slim
  command: [python, train.py]
  queue: main
  kubernetes: {workload: $2}
  roles:
    worker:
      replicas: 1
      resources: {cpu: "1", memory: 256Mi}
EOF
}
commit() { git -C "$work/repo" add -A && git -C "$work/repo" -c user.name=Ada -c user.email=ada@example.com commit -qm "$1"; }
mkdir -p "$work/repo/jobs"
git -C "$work/repo" init -q -b main
job first job
commit "Add first"

port=$(free_port)
"$jobsync" run --repo "$work/repo" --branch main --instance "$instance" --prune --interval 2s \
  --cache-dir "$work/cache" --listen "127.0.0.1:$port" --log-format json >"$work/agent.log" 2>&1 &
agent_pid=$!
metrics() { curl -sf "http://127.0.0.1:$port/metrics"; }
# applied: the agent's applied-actions counter, one "action result count" line per series.
applied() { metrics | sed -n 's/^jobsync_applied_actions_total{action="\([a-z]*\)",cluster="default",result="\([a-z]*\)"} /\1 \2 /p' | sort; }
job_field() {  # job_field NAME FIELD: a field of one job in the agent's status
  curl -sf "http://127.0.0.1:$port/api/v1/status" | python3 -c "
import json, sys
jobs = {j['name']: j for j in json.load(sys.stdin)['jobs']}
print(jobs['$1'].get('$2', '') if '$1' in jobs else 'absent')"
}
suspended() { kubectl get "$1" -n "$ns" "$2" -o jsonpath='{.spec.suspend}' 2>/dev/null; }

# ---- 1. one admitted, one Queued with Kueue's reason --------------------------------------------
wait_for "first: created and admitted by Kueue (Job spec.suspend false)" false suspended job first-worker || stop
job second jobset
commit "Add second"
wait_for "second: created as a JobSet, held by Kueue (spec.suspend true)" true suspended jobset second || stop
wait_for "second: Queued in the agent's status" Queued job_field second health || stop
reason=$(job_field second healthMessage)
check "second: the status carries Kueue's reason (insufficient quota)" 1 \
  "$(printf '%s' "$reason" | grep -c 'insufficient')" || echo "  healthMessage: $reason"
check "second: Synced (Kueue's suspend is not drift)" Synced "$(job_field second sync)"

# ---- 2. ten agent cycles: nothing written -------------------------------------------------------
wait_runs() { wait_agent_runs "$port" "$1" 90; }  # wait_runs N: N more sync runs, 90 s at most
wait_runs 1  # the cycle that created second has finished
applied_before=$(applied)
version_before=$(kubectl get jobset -n "$ns" second -o jsonpath='{.metadata.resourceVersion}')
check "ten more agent cycles ran" 0 "$(wait_runs 10; echo $?)"
check "ten cycles: the applied-actions counter stayed flat" "$applied_before" "$(applied)"
check "ten cycles: nothing wrote to the queued JobSet (resourceVersion)" "$version_before" \
  "$(kubectl get jobset -n "$ns" second -o jsonpath='{.metadata.resourceVersion}')"
check "ten cycles: still held by Kueue" true "$(suspended jobset second)"

# ---- 3. first deleted from Git: second admitted with no write from jobsync ----------------------
rm "$work/repo/jobs/first.yaml"
commit "Remove first"
wait_seconds=90 wait_for "first: deleted by the agent" "" kubectl get jobs -n "$ns" -l jobsync.dev/job=first -o name
wait_seconds=120 wait_for "second: admitted by Kueue once the quota freed (spec.suspend false)" false \
  suspended jobset second
running() { case $(job_field second health) in Progressing | Healthy) echo running ;; *) job_field second health ;; esac; }
wait_for "second: Progressing or Healthy in the agent's status (no longer Queued)" running running
wait_runs 2
expected=$(printf '%s\n' "$applied_before" | awk '$1 == "delete" && $2 == "ok" {$3++; d = 1} {print} END {if (!d) print "delete ok 1"}' | sort)
check "the only action applied since: first's delete" "$expected" "$(applied)"
check "second: Synced after admission" Synced "$(job_field second sync)"
finish
