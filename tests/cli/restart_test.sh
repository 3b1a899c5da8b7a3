#!/usr/bin/env bash
# Crash recovery against the real cluster: the kube-apiserver is killed (SIGKILL) in the middle of
# a `jobsync apply` of 40 jobs and restarted; the next apply completes the sync, and nothing is
# created twice. Usage: restart_test.sh JOBSYNC_BINARY SOURCE_DIR   (needs `scripts/cluster up`)
#
# Twenty jobs are independent and are created at once, concurrently; the other twenty form a
# dependsOn chain, each created only when the one before runs. The chain paces the apply by pod
# start-up, not by how fast this machine is, so the kill always lands in the middle.
set -uo pipefail
jobsync=$1
src=$2
cluster=$src/scripts/cluster
source "$(dirname "$0")/testlib.sh"
require_cluster "$src"

run=$$
ns="t$run-restart"
instance="restart-test-$run"
work=$(mktemp -d)
trap 'kubectl delete namespace "$ns" --wait=false >/dev/null 2>&1; keep_logs "$work"; rm -rf "$work"' EXIT
jobs=40
independent=20
mkdir -p "$work/repo"
for i in $(seq -w 1 $jobs); do
  depends=""
  [ "$((10#$i))" -gt $((independent + 1)) ] && depends="  dependsOn: [job-$(printf '%02d' $((10#$i - 1)))]"
  cat > "$work/repo/job-$i.yaml" <<YAML
apiVersion: jobsync.dev/v1alpha1
kind: TrainingJob
metadata: {name: job-$i, namespace: $ns}
spec:
$depends
  backend: kubernetes
  image: trainer:v1
  roles:
    worker: {replicas: 2}
    ps: {replicas: 1}
YAML
done
git -C "$work/repo" init -q -b main && git -C "$work/repo" add -A &&
  git -C "$work/repo" -c user.name=Ada -c user.email=ada@example.com commit -qm "40 jobs"
args=(--repo "$work/repo" --cache-dir "$work/cache" --instance "$instance")

# Apply in the background; kill the apiserver once the independent jobs and the head of the
# chain exist (two Jobs per job).
"$jobsync" apply "${args[@]}" >"$work/first.log" 2>&1 &
apply_pid=$!
for _ in $(seq 1 600); do
  count=$(kubectl get jobs -n "$ns" -o name 2>/dev/null | wc -l)
  [ "$count" -ge $(((independent + 3) * 2)) ] && break
  sleep 0.05
done
apiserver_pid=$("$cluster" status | awk '$1 == "kube-apiserver" {print $4}')
kill -9 "$apiserver_pid"
echo "killed kube-apiserver (pid $apiserver_pid) with $count Jobs created"
check "apiserver killed mid-apply (some, not all, Jobs created)" yes \
  "$([ "$count" -ge 1 ] && [ "$count" -lt $((jobs * 2)) ] && echo yes || echo "no: $count")"
timeout 300 tail --pid="$apply_pid" -f /dev/null
wait "$apply_pid"
code=$?
check "the interrupted apply reports failure" yes "$([ "$code" -ne 0 ] && echo yes || echo "no: exit $code")"

"$cluster" up >/dev/null
eval "$("$cluster" env)"
out=$("$jobsync" apply "${args[@]}" 2>&1)
code=$?
check "the next apply completes" 0 "$code"
[ "$code" -eq 0 ] || printf '%s\n' "$out" | tail -20
check "every role has exactly one Job" $((jobs * 2)) "$(kubectl get jobs -n "$ns" -o name | wc -l)"
check "no Job name twice" 0 "$(kubectl get jobs -n "$ns" -o name | sort | uniq -d | wc -l)"
check "one Service per job" "$jobs" "$(kubectl get services -n "$ns" -o name | wc -l)"
# Pods run again once the scheduler and controllers have found the new apiserver (their
# reconnect backoff can take a minute); waiting here also hands a settled cluster to the next test.
running_pods() { kubectl get pods -n "$ns" --field-selector=status.phase=Running -o name | wc -l; }
for _ in $(seq 1 240); do
  [ "$(running_pods)" -eq $((jobs * 3)) ] && break
  sleep 1
done
check "every pod runs after the restart" $((jobs * 3)) "$(running_pods)"
out=$("$jobsync" apply "${args[@]}" 2>&1)
check "a third apply changes nothing" \
  "Plan: 0 to create, 0 to scale, 0 to patch, 0 to update, 0 to delete, $jobs unchanged, 0 errors." \
  "$(printf '%s\n' "$out" | grep '^Plan:')"

finish
