#!/usr/bin/env bash
# End-to-end test of the job model (volumes, Secret references, placement, failure policy, runId,
# TTL, per-role settings, elastic bounds) as a team uses it, against the real local kube-apiserver
# and its Job controller (checked with kubectl, an independent client):
#   1. `jobsync render` of a job using every field passes Kubernetes' own validation
#      (kubectl apply --dry-run=server), after the PVC, Secret, ConfigMap, ServiceAccount and
#      PriorityClass it names exist.
#   2. `jobsync apply` of it: its Jobs, read back from the apiserver, carry every field.
#   3. With the agent running: a finished job whose Jobs its TTL removed is not run again; a new
#      runId re-runs it, and re-runs a finished job whose Jobs are still there (plan: rerun).
#   4. With the agent running: an elastic role scaled by hand within its bounds is left alone;
#      outside them it is healed to Git's replicas.
# Usage: job_model_test.sh JOBSYNC_BINARY SOURCE_DIR   (needs `scripts/cluster up`; fails without it)
set -uo pipefail
jobsync=$1
src=$2
source "$(dirname "$0")/testlib.sh"
require_cluster "$src"

run=$$
instance="model-test-$run"
ns="m$run-train"
work=$(mktemp -d)
agent_pid=""
cleanup() {
  [ -n "$agent_pid" ] && kill -9 "$agent_pid" 2>/dev/null
  kubectl delete namespace "$ns" --wait=false >/dev/null 2>&1
  kubectl delete priorityclass "m$run-training-high" >/dev/null 2>&1
  rm -f "$HOME/.local/state/jobsync/$instance.state.json"
  if [ "$failed" -ne 0 ] && [ -f "$work/agent.log" ]; then
    echo "--- agent log (last 60 lines)"; tail -n 60 "$work/agent.log"
  fi
  keep_logs "$work"
  rm -rf "$work"
}
trap cleanup EXIT

# ---- 1. every field, through Kubernetes' own validation ---------------------------------------
kubectl create namespace "$ns" >/dev/null
kubectl apply -f - >/dev/null <<EOF
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: imagenet, namespace: $ns}
spec: {accessModes: [ReadOnlyMany], resources: {requests: {storage: 1Gi}}}
---
apiVersion: v1
kind: Secret
metadata: {name: wandb, namespace: $ns}
stringData: {api-key: not-a-real-key}
---
apiVersion: v1
kind: Secret
metadata: {name: s3, namespace: $ns}
stringData: {AWS_ACCESS_KEY_ID: none}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: train-cfg, namespace: $ns}
data: {model: resnet50}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: trainer, namespace: $ns}
---
apiVersion: scheduling.k8s.io/v1
kind: PriorityClass
metadata: {name: m$run-training-high}
value: 1000
EOF
check "prerequisites created" 0 $?

mkdir -p "$work/repo/jobs"
cat > "$work/repo/jobs/full.yaml" <<EOF
apiVersion: jobsync.dev/v1alpha1
kind: TrainingJob
metadata:
  name: full
  namespace: $ns
spec:
  backend: kubernetes
  image: pytorch/pytorch:2.4.0
  command: [torchrun]
  args: [--nnodes=\$(JOBSYNC_NNODES), train.py]
  env:
    EPOCHS: "90"
    WANDB_API_KEY: {secretKeyRef: {name: wandb, key: api-key}}
    MODEL_CFG: {configMapKeyRef: {name: train-cfg, key: model}}
    POD_IP: {fieldRef: {fieldPath: status.podIP}}
  envFrom: [{secretRef: {name: s3}}, {configMapRef: {name: train-cfg}}]
  volumes:
    - {name: data, mountPath: /data, readOnly: true, persistentVolumeClaim: {claimName: imagenet}}
    - {name: shm, mountPath: /dev/shm, emptyDir: {medium: Memory, sizeLimit: 16Gi}}
    - {name: cfg, mountPath: /etc/train, configMap: {name: train-cfg}}
    - {name: creds, mountPath: /var/run/creds, secret: {secretName: s3}}
  nodeSelector: {kubernetes.io/os: linux}
  tolerations: [{key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}]
  affinity:
    nodeAffinity:
      requiredDuringSchedulingIgnoredDuringExecution:
        nodeSelectorTerms: [{matchExpressions: [{key: kubernetes.io/os, operator: In, values: [linux]}]}]
  priorityClassName: m$run-training-high
  schedulerName: default-scheduler
  serviceAccountName: trainer
  imagePullSecrets: [regcred]
  failurePolicy: {maxRestarts: 5}
  activeDeadlineSeconds: 86400
  ttlSecondsAfterFinished: 3600
  runId: "1"
  roles:
    worker: &worker
      replicas: 2
      minReplicas: 1
      maxReplicas: 4
      resources: {cpu: "4", memory: 16Gi, gpu: 1}
    ps:
      <<: *worker
      image: trainer-ps:1.4
      env: {PS_ONLY: "yes"}
      tolerations: [{key: dedicated, operator: Equal, value: ps, effect: NoSchedule}]
      resources:
        cpu: "8"
        memory: 64Gi
        gpu: 0
        ephemeralStorage: 50Gi
        extended: {example.com/rdma: 1}
  kubernetes:
    podTemplatePatch:
      metadata: {labels: {sidecar: injected}}
      spec:
        containers:
          - {name: log-shipper, image: fluent/fluent-bit:3.1}
EOF
commit() { git -C "$work/repo" add -A && git -C "$work/repo" -c user.name=Ada -c user.email=ada@example.com commit -qm "$1"; }
git -C "$work/repo" init -q -b main && commit "Add full"
out=$("$jobsync" validate "$work/repo" 2>&1)
check "a job using every field is valid" 0 $? || printf '%s\n' "$out"
"$jobsync" render --instance "$instance" "$work/repo" > "$work/full.yaml" 2>"$work/render.err"
check "render: exit 0" 0 $? || cat "$work/render.err"
dry=$(kubectl apply --dry-run=server -f "$work/full.yaml" 2>&1)
check "rendered objects pass kubectl apply --dry-run=server" 0 $? || printf '%s\n' "$dry"

# ---- 2. applied, read back field by field -------------------------------------------------------
out=$("$jobsync" apply --repo "$work/repo" --instance "$instance" --cache-dir "$work/cache" 2>&1)
code=$?
check "apply: exit 0" 0 "$code" || { printf '%s\n' "$out"; stop; }
field() {  # field JOB JSONPATH
  kubectl get job -n "$ns" "$1" -o jsonpath="$2"
}
check "worker: args" '["--nnodes=$(JOBSYNC_NNODES)","train.py"]' "$(field full-worker '{.spec.template.spec.containers[0].args}')"
check "worker: Secret reference" '{"secretKeyRef":{"key":"api-key","name":"wandb"}}' \
  "$(field full-worker '{.spec.template.spec.containers[0].env[?(@.name=="WANDB_API_KEY")].valueFrom}')"
check "worker: fieldRef" "status.podIP" \
  "$(field full-worker '{.spec.template.spec.containers[0].env[?(@.name=="POD_IP")].valueFrom.fieldRef.fieldPath}')"
check "worker: envFrom" '[{"secretRef":{"name":"s3"}},{"configMapRef":{"name":"train-cfg"}}]' \
  "$(field full-worker '{.spec.template.spec.containers[0].envFrom}')"
check "worker: volume sources" "imagenet Memory train-cfg s3" \
  "$(field full-worker '{.spec.template.spec.volumes[0].persistentVolumeClaim.claimName} {.spec.template.spec.volumes[1].emptyDir.medium} {.spec.template.spec.volumes[2].configMap.name} {.spec.template.spec.volumes[3].secret.secretName}')"
check "worker: mounts" "/data true /dev/shm /etc/train /var/run/creds" \
  "$(field full-worker '{.spec.template.spec.containers[0].volumeMounts[0].mountPath} {.spec.template.spec.containers[0].volumeMounts[0].readOnly} {.spec.template.spec.containers[0].volumeMounts[1].mountPath} {.spec.template.spec.containers[0].volumeMounts[2].mountPath} {.spec.template.spec.containers[0].volumeMounts[3].mountPath}')"
check "worker: placement" "linux nvidia.com/gpu m$run-training-high default-scheduler trainer regcred linux" \
  "$(field full-worker '{.spec.template.spec.nodeSelector.kubernetes\.io/os} {.spec.template.spec.tolerations[0].key} {.spec.template.spec.priorityClassName} {.spec.template.spec.schedulerName} {.spec.template.spec.serviceAccountName} {.spec.template.spec.imagePullSecrets[0].name} {.spec.template.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].values[0]}')"
check "Job: restart budget, deadline, TTL" "5 86400 3600" \
  "$(field full-worker '{.spec.backoffLimitPerIndex} {.spec.activeDeadlineSeconds} {.spec.ttlSecondsAfterFinished}')"
check "worker: elastic bounds in its environment" "1 4 1:4" \
  "$(field full-worker '{.spec.template.spec.containers[0].env[?(@.name=="JOBSYNC_MIN_REPLICAS_WORKER")].value} {.spec.template.spec.containers[0].env[?(@.name=="JOBSYNC_MAX_REPLICAS_WORKER")].value} {.spec.template.spec.containers[0].env[?(@.name=="JOBSYNC_NNODES")].value}')"
check "ps: its own image, the worker the job's" "trainer-ps:1.4 pytorch/pytorch:2.4.0" \
  "$(field full-ps '{.spec.template.spec.containers[0].image}') $(field full-worker '{.spec.template.spec.containers[0].image}')"
check "ps: bounds merged from the worker's anchor (<<: *worker)" "1:4" \
  "$(field full-ps '{.spec.template.spec.containers[0].env[?(@.name=="JOBSYNC_NNODES")].value}')"
check "ps: its env and tolerations extend the job's" "yes nvidia.com/gpu dedicated" \
  "$(field full-ps '{.spec.template.spec.containers[0].env[?(@.name=="PS_ONLY")].value} {.spec.template.spec.tolerations[0].key} {.spec.template.spec.tolerations[1].key}')"
check "ps: ephemeral storage and extended resource" "50Gi 1" \
  "$(field full-ps '{.spec.template.spec.containers[0].resources.limits.ephemeral-storage} {.spec.template.spec.containers[0].resources.limits.example\.com/rdma}')"
check "podTemplatePatch: sidecar added, label set, training container first" "ps log-shipper injected" \
  "$(field full-ps '{.spec.template.spec.containers[0].name} {.spec.template.spec.containers[1].name} {.spec.template.metadata.labels.sidecar}')"
again=$("$jobsync" plan --repo "$work/repo" --instance "$instance" --cache-dir "$work/cache" -o json 2>&1)
check "plan after apply: nothing to do" 0 $? || printf '%s\n' "$again"

# ---- 3 and 4: the agent ------------------------------------------------------------------------
cat > "$work/repo/jobs/once.yaml" <<EOF
apiVersion: jobsync.dev/v1alpha1
kind: TrainingJob
metadata:
  name: once
  namespace: $ns
  labels: {jobsync.dev/kwok-complete: "true"}
spec:
  backend: kubernetes
  image: python:3.11-slim
  ttlSecondsAfterFinished: 3
  runId: "1"
  roles:
    worker: {replicas: 1}
---
apiVersion: jobsync.dev/v1alpha1
kind: TrainingJob
metadata:
  name: kept
  namespace: $ns
  labels: {jobsync.dev/kwok-complete: "true"}
spec:
  backend: kubernetes
  image: python:3.11-slim
  runId: "1"
  roles:
    worker: {replicas: 1}
---
apiVersion: jobsync.dev/v1alpha1
kind: TrainingJob
metadata:
  name: elastic
  namespace: $ns
spec:
  backend: kubernetes
  image: python:3.11-slim
  roles:
    worker: {replicas: 2, minReplicas: 1, maxReplicas: 4}
EOF
commit "Finishing jobs and an elastic one"
port=$(free_port)
"$jobsync" run --repo "$work/repo" --branch main --instance "$instance" --prune --interval 2s \
  --cache-dir "$work/cache" --listen "127.0.0.1:$port" --log-format json >"$work/agent.log" 2>&1 &
agent_pid=$!
wait_runs() { wait_agent_runs "$port" "$1"; }  # wait_runs N: N more sync runs, 60 s at most
job_uid() { kubectl get job -n "$ns" "$1" -o jsonpath='{.metadata.uid}' 2>/dev/null; }
complete() { kubectl get job -n "$ns" "$1" -o jsonpath='{.status.conditions[?(@.type=="Complete")].status}' 2>/dev/null; }

wait_for "kept: finished (kwok completes it)" True complete kept-worker
wait_for "elastic: created with Git's 2 replicas" 2 field elastic-worker '{.spec.parallelism}'
wait_seconds=90 wait_for "once: its TTL removed the finished Job" "" \
  kubectl get jobs -n "$ns" -l jobsync.dev/job=once -o name
wait_runs 4
check "once: not run again after its TTL removed it (4 more syncs)" "" \
  "$(kubectl get jobs -n "$ns" -l jobsync.dev/job=once -o name)"

# 4. Elastic: within the bounds the hand scale stays; outside, it is healed.
kubectl patch job -n "$ns" elastic-worker --type merge -p '{"spec":{"parallelism":3,"completions":3}}' >/dev/null
check "elastic: scaled by hand to 3" 3 "$(field elastic-worker '{.spec.parallelism}')"
wait_runs 4
check "elastic: 3 is within [1, 4]: left alone (4 syncs later)" 3 "$(field elastic-worker '{.spec.parallelism}')"
kubectl patch job -n "$ns" elastic-worker --type merge -p '{"spec":{"parallelism":6,"completions":6}}' >/dev/null
wait_for "elastic: 6 is outside [1, 4]: healed to Git's 2" 2 field elastic-worker '{.spec.parallelism}'

# 3. runId: a new value re-runs a finished job, whether its Jobs are there or gone.
kept_uid=$(job_uid kept-worker)
# The agent is paused while `plan` reads the clusters, or it may re-run both first (it polls every
# 2 s; seen under the sanitizers), and the plan would rightly show nothing to do.
kill -STOP "$agent_pid"
sed -i 's/runId: "1"/runId: "2"/' "$work/repo/jobs/once.yaml"
commit "Re-run once and kept"
plan=$("$jobsync" plan --repo "$work/repo" --instance "$instance" --cache-dir "$work/cache-plan" -o json 2>"$work/plan.err")
actions=$(printf '%s' "$plan" | python3 -c "
import json, sys
print(' '.join(sorted(s['job'].split('/')[2] + '=' + s['action'] for s in json.load(sys.stdin)['steps'])))")
check "plan: runId alone re-runs the finished job; the TTL-removed one is created" \
  "elastic=none full=none kept=rerun once=create" "$actions" || cat "$work/plan.err"
kill -CONT "$agent_pid"
wait_for "kept: re-run (a new Job)" yes \
  bash -c "u=\$(kubectl get job -n $ns kept-worker -o jsonpath='{.metadata.uid}' 2>/dev/null); [ -n \"\$u\" ] && [ \"\$u\" != '$kept_uid' ] && echo yes"
wait_for "once: re-run (its Job is back)" "job.batch/once-worker" \
  kubectl get jobs -n "$ns" -l jobsync.dev/job=once -o name
wait_for "kept: the re-run finishes" True complete kept-worker
kill "$agent_pid" 2>/dev/null; wait "$agent_pid" 2>/dev/null; agent_pid=""
finish
