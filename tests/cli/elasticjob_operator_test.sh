#!/usr/bin/env bash
# End-to-end test of DLRover ElasticJobs in operator mode (issue #21) against the real local
# kube-apiserver with DLRover's own ElasticJob and ScalePlan CRDs installed (scripts/cluster
# applies them). DLRover's Go module is not served, so its operator does not run here: the test
# asserts what jobsync writes (checked with kubectl, an independent client) and the health it
# reads from a status the test writes as the operator would.
#   1. `validate --elasticjob operator`: valid, no warnings (DLRover's operator honours the
#      fields native mode cannot); a bad mode annotation is a located error.
#   2. `apply --elasticjob operator`: the ElasticJob itself, with the manifest's spec (the job
#      master's replica type, distributionStrategy, autoScale kept), jobsync's ownership labels and
#      applied-spec annotations; no Jobs, no Service. The next plan: nothing to do.
#   3. Replicas changed in Git: `plan` says scale; `apply` creates a ScalePlan (labels
#      elasticjob.dlrover/name and scale-type=manual, spec.ownerJob, replicaResourceSpecs) and
#      leaves the ElasticJob's replicas and uid as they were; a second change makes a new
#      ScalePlan and deletes the old one.
#   4. Suspend in Git: spec.suspend true on the same ElasticJob, no new ScalePlan.
#   5. The agent (operator mode by annotation, native instance default): health from
#      status.phase as the test writes it (Running: Healthy; Failed: Failed with the condition's
#      message); the job removed from Git and pruned: the ElasticJob and its ScalePlans go.
# Usage: elasticjob_operator_test.sh JOBSYNC_BINARY SOURCE_DIR   (needs `scripts/cluster up`)
set -uo pipefail
jobsync=$1
src=$2
source "$(dirname "$0")/testlib.sh"
require_cluster "$src"
kubectl get crd elasticjobs.elastic.iml.github.io scaleplans.elastic.iml.github.io >/dev/null 2>&1 || {
  echo "FAIL: DLRover's CRDs are not installed; run: scripts/cluster up (it applies scripts/cluster-data/dlrover-crds/)"
  echo "0 passed, 1 failed"; exit 1; }

run=$$
instance="eop-$run"
ns="eop$run"
work=$(mktemp -d)
agent_pid=""
cleanup() {
  [ -n "$agent_pid" ] && kill "$agent_pid" 2>/dev/null && wait "$agent_pid" 2>/dev/null
  kubectl delete namespace "$ns" --wait=false >/dev/null 2>&1
  keep_logs "$work"
  rm -rf "$work"
}
trap cleanup EXIT
job=deepctr-manual-scale
file="$work/repo/jobs/ps.yaml"
mkdir -p "$work/repo/jobs"
sed "s/namespace: dlrover/namespace: $ns/" "$src/tests/data/elasticjob/deepctr_ps_worker.yaml" > "$file"
commit() { git -C "$work/repo" add -A && git -C "$work/repo" -c user.name=Ada -c user.email=ada@example.com commit -qm "$1"; }
git -C "$work/repo" init -q -b main && commit "Add the PS job"
flags=(--repo "$work/repo" --instance "$instance" --cache-dir "$work/cache" --elasticjob operator)
elastic() { kubectl get elasticjob -n "$ns" "$job" -o jsonpath="$1"; }
plans() { kubectl get scaleplans -n "$ns" -l "elasticjob.dlrover/name=$job" -o jsonpath='{range .items[*]}{.metadata.name}{"\n"}{end}'; }

# ---- 1. validate ------------------------------------------------------------------------------
out=$("$jobsync" validate --elasticjob operator "$file" 2>&1)
check "validate: valid, no warnings in operator mode" "ok: 1 valid job (1 kubernetes, 0 ray)" "$out"
out=$("$jobsync" validate "$file" 2>&1)
check "validate: native mode warns (the operator's fields)" 1 "$(grep -c 'ok: 1 valid job (1 kubernetes, 0 ray), [0-9]* warnings' <<<"$out")"
sed "s/^  namespace: $ns/  namespace: $ns\n  annotations: {jobsync.dev\/elasticjob-mode: operater}/" "$file" > "$work/bad.yaml"
out=$("$jobsync" validate "$work/bad.yaml" 2>&1)
check "validate: a misspelt mode annotation is an error" 2 $?
check "validate: located at the annotation's value" 1 \
  "$(grep -c "^$work/bad.yaml:11:46: metadata.annotations\['jobsync.dev/elasticjob-mode'\]: must be native or operator" <<<"$out")" || printf '%s\n' "$out"

# ---- 2. applied as the ElasticJob ---------------------------------------------------------------
out=$("$jobsync" plan "${flags[@]}" 2>&1)
check "plan: create the ElasticJob" 1 "$(grep -c "kubernetes/$ns/$job: create" <<<"$out")" || printf '%s\n' "$out"
out=$("$jobsync" apply "${flags[@]}" 2>&1)
check "apply: exit 0" 0 $? || { printf '%s\n' "$out"; stop; }
check "the ElasticJob: replicas as written, the master's template kept" "1 2 main" \
  "$(elastic '{.spec.replicaSpecs.ps.replicas} {.spec.replicaSpecs.worker.replicas} {.spec.replicaSpecs.dlrover-master.template.spec.containers[0].name}')"
check "the ElasticJob: the manifest's spec as written" "ParameterServerStrategy false 3" \
  "$(elastic '{.spec.distributionStrategy} {.spec.replicaSpecs.worker.autoScale} {.spec.replicaSpecs.worker.restartCount}')"
check "the ElasticJob: ownership labels" "jobsync $instance $job" \
  "$(elastic '{.metadata.labels.app\.kubernetes\.io/managed-by} {.metadata.labels.jobsync\.dev/instance} {.metadata.labels.jobsync\.dev/job}')"
check "the ElasticJob: the applied spec annotation" 1 \
  "$(elastic '{.metadata.annotations.jobsync\.dev/applied-spec}' | grep -c '"workload":"elasticjob"')"
check "no Jobs and no Service: DLRover's operator makes the pods" "" \
  "$(kubectl get jobs,services -n "$ns" -o name 2>/dev/null)"
uid=$(elastic '{.metadata.uid}')
out=$("$jobsync" plan "${flags[@]}" 2>&1)
check "plan after apply: nothing to do" 0 $? || printf '%s\n' "$out"

# ---- 3. scaled through ScalePlans ---------------------------------------------------------------
sed -i '49s/replicas: 2/replicas: 3/' "$file" && commit "3 workers"
out=$("$jobsync" plan "${flags[@]}" 2>&1)
check "plan: scale" 1 "$(grep -c "kubernetes/$ns/$job: scale" <<<"$out")" || printf '%s\n' "$out"
out=$("$jobsync" apply "${flags[@]}" 2>&1)
check "apply of the scale: exit 0" 0 $? || printf '%s\n' "$out"
first=$(plans)
check "one ScalePlan" 1 "$(grep -c . <<<"$first")"
scaleplan() { kubectl get scaleplan -n "$ns" "$1" -o jsonpath="$2"; }
check "the ScalePlan: DLRover's labels, owner job and every role's replicas" "manual $job 1 3" \
  "$(scaleplan "$first" '{.metadata.labels.scale-type} {.spec.ownerJob} {.spec.replicaResourceSpecs.ps.replicas} {.spec.replicaResourceSpecs.worker.replicas}')"
check "the ElasticJob: same object, replicas not edited (DLRover ignores that)" "$uid 2" \
  "$(elastic '{.metadata.uid} {.spec.replicaSpecs.worker.replicas}')"
out=$("$jobsync" plan "${flags[@]}" 2>&1)
check "plan after the scale: nothing to do" 0 $? || printf '%s\n' "$out"
sed -i '49s/replicas: 3/replicas: 5/' "$file" && commit "5 workers"
"$jobsync" apply "${flags[@]}" >"$work/apply.out" 2>&1
check "apply of the second scale: exit 0" 0 $? || cat "$work/apply.out"
second=$(plans)
check "a new ScalePlan for 5 workers, the old one deleted" "1 no 5" \
  "$(grep -c . <<<"$second") $([ "$second" = "$first" ] && echo same || echo no) $(scaleplan "$second" '{.spec.replicaResourceSpecs.worker.replicas}')"

# ---- 4. suspended in Git ------------------------------------------------------------------------
sed -i "s/^  distributionStrategy:/  suspend: true\n  distributionStrategy:/" "$file" && commit "suspend"
"$jobsync" apply "${flags[@]}" >"$work/apply.out" 2>&1
check "apply of the suspend: exit 0" 0 $? || cat "$work/apply.out"
check "suspended: spec.suspend on the same ElasticJob, no new ScalePlan" "true $uid $second" \
  "$(elastic '{.spec.suspend} {.metadata.uid}') $(plans)"
sed -i '/^  suspend: true$/d' "$file" && commit "resume"

# ---- 5. the agent: operator mode by annotation, health from status.phase, prune ------------------
sed -i "s/^  namespace: $ns/  namespace: $ns\n  annotations: {jobsync.dev\/elasticjob-mode: operator}/" "$file" && commit "operator mode by annotation"
port=$(free_port)
"$jobsync" run --repo "$work/repo" --branch main --instance "$instance" --prune --allow-mass-delete --interval 2s \
  --cache-dir "$work/cache" --listen "127.0.0.1:$port" --log-format json >"$work/agent.log" 2>&1 &
agent_pid=$!
job_field() {
  curl -sf "http://127.0.0.1:$port/api/v1/status" | python3 -c "
import json, sys
jobs = {j['name']: j for j in json.load(sys.stdin)['jobs']}
print(jobs['$1'].get('$2', '') if '$1' in jobs else 'absent')"
}
wait_for "agent: resumed and in sync" "false Synced" \
  eval "echo \$(elastic '{.spec.suspend}') \$(job_field $job sync)" || tail -n 20 "$work/agent.log"
check "agent: the same ElasticJob (annotation chose operator mode)" "$uid" "$(elastic '{.metadata.uid}')"
kubectl patch elasticjob -n "$ns" "$job" --subresource=status --type=merge \
  -p '{"status":{"phase":"Running"}}' >/dev/null
wait_for "agent: health Healthy from status.phase Running" Healthy job_field "$job" health
kubectl patch elasticjob -n "$ns" "$job" --subresource=status --type=merge \
  -p '{"status":{"phase":"Failed","status":{"replicaStatuses":{},"conditions":[{"type":"Failed","status":"True","reason":"JobFailed","message":"worker-1 exited with code 137"}]}}}' >/dev/null
wait_for "agent: health Failed from status.phase Failed" Failed job_field "$job" health
check "agent: the operator's message in status" 1 \
  "$(job_field "$job" healthMessage | grep -c 'worker-1 exited with code 137')"
git -C "$work/repo" rm -q "jobs/ps.yaml" && commit "remove the PS job"
wait_for "agent: pruned, the ElasticJob gone" "" kubectl get elasticjob -n "$ns" -o name
wait_for "agent: its ScalePlans gone" "" plans
finish
