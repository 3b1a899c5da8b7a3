#!/usr/bin/env bash
# End-to-end test of DLRover ElasticJob manifests committed as they are (issue #21), against the
# real local kube-apiserver and its Job controller (checked with kubectl, an independent client):
#   1. `jobsync validate` of DLRover's published examples (tests/data/elasticjob/: the MNIST
#      allreduce job; a PS/worker job with restartCount): valid, with a located warning for each
#      field jobsync does not honour.
#   2. `jobsync convert`: TrainingJob manifests that validate and render the same objects with the
#      same applied spec (so converting later recreates nothing).
#   3. `jobsync apply` of the ElasticJobs in a Git repository: one Indexed Job per replica type,
#      with the pod template's image, command, resources and volumes, the restart budget from
#      restartCount, and NODE_NUM referring to jobsync's replica count.
#   4. The worker's replicas changed in the ElasticJob file and committed: `plan` says scale,
#      `apply` scales the same Job (same uid) to the new parallelism, and `history` shows it.
#   5. One cycle of the agent on that repository: in sync, each warning in its log.
# Usage: elasticjob_test.sh JOBSYNC_BINARY SOURCE_DIR   (needs `scripts/cluster up`; fails without it)
set -uo pipefail
jobsync=$1
src=$2
source "$(dirname "$0")/testlib.sh"
require_cluster "$src"

run=$$
instance="elastic-test-$run"
ns="e$run-dlrover"
work=$(mktemp -d)
cleanup() {
  kubectl delete namespace "$ns" --wait=false >/dev/null 2>&1
  rm -f "$HOME/.local/state/jobsync/$instance.state.json"
  keep_logs "$work"
  rm -rf "$work"
}
trap cleanup EXIT
data="$src/tests/data/elasticjob"

# ---- 1. the published examples validate, with located warnings --------------------------------
out=$("$jobsync" validate "$data/mnist_allreduce.yaml" "$data/deepctr_ps_worker.yaml" 2>"$work/validate.err")
check "validate: exit 0" 0 $? || cat "$work/validate.err"
check "validate: both jobs valid, warnings counted" "ok: 2 valid jobs (2 kubernetes, 0 ray), 5 warnings" "$out"
check "validate: the PS strategy's warning is located" 1 \
  "$(grep -c "^$data/deepctr_ps_worker.yaml:12:3: warning: ElasticJob spec.distributionStrategy: ParameterServerStrategy" "$work/validate.err")"
check "validate: the master's template is named as ignored" 1 \
  "$(grep -c "^$data/deepctr_ps_worker.yaml:79:5: warning: ElasticJob spec.replicaSpecs.dlrover-master" "$work/validate.err")"

# ---- 2. convert --------------------------------------------------------------------------------
mkdir -p "$work/repo/jobs" "$work/converted"
for f in mnist_allreduce deepctr_ps_worker; do
  sed "s/namespace: dlrover/namespace: $ns/" "$data/$f.yaml" > "$work/repo/jobs/$f.yaml"
done
"$jobsync" convert "$work/repo/jobs/mnist_allreduce.yaml" "$work/repo/jobs/deepctr_ps_worker.yaml" \
  > "$work/converted/jobs.yaml" 2>"$work/convert.err"
check "convert: exit 0" 0 $? || cat "$work/convert.err"
check "convert: the warnings on stderr" 5 "$(grep -c ': warning: ' "$work/convert.err")"
check "convert: TrainingJob documents" "2 0" \
  "$(grep -c '^kind: TrainingJob' "$work/converted/jobs.yaml") $(grep -c 'ElasticJob$' "$work/converted/jobs.yaml")"
out=$("$jobsync" validate "$work/converted" 2>&1)
check "convert: its output is valid, without warnings" "ok: 2 valid jobs (2 kubernetes, 0 ray)" "$out"
# The rendered objects differ only in the manifest's path (jobsync.dev/source).
"$jobsync" render --instance "$instance" "$work/repo/jobs" 2>/dev/null | grep -v 'jobsync.dev/source' > "$work/elastic.render"
"$jobsync" render --instance "$instance" "$work/converted" 2>/dev/null | grep -v 'jobsync.dev/source' > "$work/converted.render"
check "convert: renders exactly the ElasticJobs' objects" "" "$(diff "$work/elastic.render" "$work/converted.render")"
bad=$(printf 'apiVersion: elastic.iml.github.io/v1alpha1\nkind: ElasticJob\nmetadata: {name: x}\nspec: {}\n' > "$work/bad.yaml"
  "$jobsync" convert "$work/bad.yaml" 2>&1 >/dev/null)
check "convert: a problem exits 2" 2 $?
check "convert: the problem is located" 1 "$(grep -c "^$work/bad.yaml:4:7: spec.replicaSpecs: an ElasticJob needs replicaSpecs" <<<"$bad")"

# ---- 3. applied natively -----------------------------------------------------------------------
kubectl create namespace "$ns" >/dev/null
check "namespace created" 0 $?
commit() { git -C "$work/repo" add -A && git -C "$work/repo" -c user.name=Ada -c user.email=ada@example.com commit -qm "$1"; }
git -C "$work/repo" init -q -b main && commit "Add DLRover's ElasticJobs"
out=$("$jobsync" apply --repo "$work/repo" --instance "$instance" --cache-dir "$work/cache" 2>&1)
check "apply: exit 0" 0 $? || { printf '%s\n' "$out"; stop; }
field() {  # field JOB JSONPATH
  kubectl get job -n "$ns" "$1" -o jsonpath="$2"
}
check "mnist: one Indexed Job of 4 workers" "Indexed 4 4" \
  "$(field torch-mnist-worker '{.spec.completionMode} {.spec.parallelism} {.spec.completions}')"
check "mnist: image and resources from the pod template" \
  "registry.cn-hangzhou.aliyuncs.com/intell-ai/dlrover:torch201-mnist 1 2Gi" \
  "$(field torch-mnist-worker '{.spec.template.spec.containers[0].image} {.spec.template.spec.containers[0].resources.limits.cpu} {.spec.template.spec.containers[0].resources.limits.memory}')"
check "mnist: the dlrover-run command" 1 \
  "$(field torch-mnist-worker '{.spec.template.spec.containers[0].command[2]}' | grep -c 'dlrover-run --network-check --nnodes=\$WORKER_NUM')"
check "mnist: NODE_NUM and WORKER_NUM refer to jobsync's replica count" \
  '$(JOBSYNC_REPLICAS_WORKER) $(JOBSYNC_REPLICAS_WORKER) 4' \
  "$(field torch-mnist-worker '{.spec.template.spec.containers[0].env[?(@.name=="NODE_NUM")].value} {.spec.template.spec.containers[0].env[?(@.name=="WORKER_NUM")].value} {.spec.template.spec.containers[0].env[?(@.name=="JOBSYNC_REPLICAS_WORKER")].value}')"
# Kubernetes expands $(NAME) only from variables defined earlier in the list.
names=$(field torch-mnist-worker '{range .spec.template.spec.containers[0].env[*]}{.name}{"\n"}{end}')
check "mnist: JOBSYNC_REPLICAS_WORKER precedes NODE_NUM" "yes" \
  "$( [ "$(grep -n '^JOBSYNC_REPLICAS_WORKER$' <<<"$names" | cut -d: -f1)" -lt "$(grep -n '^NODE_NUM$' <<<"$names" | cut -d: -f1)" ] && echo yes)"
check "ps/worker: one Job per replica type" "1 2" \
  "$(field deepctr-manual-scale-ps '{.spec.parallelism}') $(field deepctr-manual-scale-worker '{.spec.parallelism}')"
check "ps/worker: restartCount is the restart budget" "3 3" \
  "$(field deepctr-manual-scale-ps '{.spec.backoffLimitPerIndex}') $(field deepctr-manual-scale-worker '{.spec.backoffLimitPerIndex}')"
check "ps/worker: the PVC mounted at /nas" "pvc-nas /nas" \
  "$(field deepctr-manual-scale-worker '{.spec.template.spec.volumes[0].persistentVolumeClaim.claimName} {.spec.template.spec.containers[0].volumeMounts[0].mountPath}')"
check "a Job per replica type, none for DLRover's master" \
  "job.batch/deepctr-manual-scale-ps job.batch/deepctr-manual-scale-worker job.batch/torch-mnist-worker" \
  "$(kubectl get jobs -n "$ns" -o name | sort | tr '\n' ' ' | sed 's/ $//')"
out=$("$jobsync" plan --repo "$work/repo" --instance "$instance" --cache-dir "$work/cache" 2>&1)
check "plan after apply: nothing to do" 0 $? || printf '%s\n' "$out"

# ---- 4. scaled in Git, scaled in place ---------------------------------------------------------
uid=$(field torch-mnist-worker '{.metadata.uid}')
sed -i 's/      replicas: 4/      replicas: 2/' "$work/repo/jobs/mnist_allreduce.yaml"
commit "torch-mnist: 2 workers"
out=$("$jobsync" plan --repo "$work/repo" --instance "$instance" --cache-dir "$work/cache" 2>&1)
check "plan: exit 1 (changes)" 1 $?
check "plan: the worker scales from 4 to 2" 1 "$(grep -c "kubernetes/$ns/torch-mnist: scale" <<<"$out")" || printf '%s\n' "$out"
check "plan: the ElasticJob's warnings are shown" 1 "$(grep -c 'mnist_allreduce.yaml:22:15: warning: ElasticJob' <<<"$out")"
out=$("$jobsync" apply --repo "$work/repo" --instance "$instance" --cache-dir "$work/cache" 2>&1)
check "apply of the scale: exit 0" 0 $? || printf '%s\n' "$out"
check "scaled in place: same Job, parallelism and completions 2" "$uid 2 2" \
  "$(field torch-mnist-worker '{.metadata.uid} {.spec.parallelism} {.spec.completions}')"
out=$("$jobsync" history --repo "$work/repo" --cache-dir "$work/cache" "$ns/torch-mnist" 2>&1)
check "history: exit 0" 0 $? || printf '%s\n' "$out"
check "history: the replica change of the ElasticJob" 1 "$(grep -c 'worker replicas 4 -> 2' <<<"$out")" || printf '%s\n' "$out"

# ---- 5. the agent ------------------------------------------------------------------------------
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$jobsync" run --once --repo "$work/repo" --branch main --instance "$instance" --cache-dir "$work/cache" \
  --state "$work/state.json" --listen "127.0.0.1:$port" --log-format json --allow-backend kubernetes \
  >"$work/agent.log" 2>&1
check "agent: one cycle, in sync" 0 $? || tail -n 20 "$work/agent.log"
check "agent: logs each field not honoured, located" 1 \
  "$(grep 'manifest field not honoured' "$work/agent.log" | grep -c 'mnist_allreduce.yaml:22:15: warning: ElasticJob')"

finish
