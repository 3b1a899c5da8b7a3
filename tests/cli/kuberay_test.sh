#!/usr/bin/env bash
# End-to-end test of Ray jobs as KubeRay RayJobs (issue #22, spec.ray.cluster: kuberay) against the
# real local kube-apiserver and the real KubeRay operator (v1.5.0, scripts/cluster), checked with
# kubectl. kwok's pods run no Ray, so the test goes as far as the operator does there: it makes
# the RayJob's RayCluster with its head and worker pods and reports the RayJob Running; Ray's
# own job status never comes (the submitter cannot reach a dashboard in a kwok pod).
#   1. `apply`: one RayJob with the entrypoint, the runtime environment, the head group (ray.image,
#      head resources) and one worker group per role (replicas and bounds, the role's image,
#      resources, env, volume and node selector); ownership labels; identity kubernetes/NS/NAME.
#      The operator's RayCluster has those groups and replicas; the next plan: nothing to do.
#   2. Suspend in Git: the same RayJob suspended, the operator deletes its RayCluster; resume:
#      a RayCluster again.
#   3. A role's replicas changed in Git: the plan says recreate, saying why; a new RayJob (new uid)
#      whose RayCluster has the new replicas.
#   4. The agent: health and phase from what the operator writes; the job removed from Git and
#      pruned: the RayJob and its RayCluster go.
# Usage: kuberay_test.sh JOBSYNC_BINARY SOURCE_DIR   (needs `scripts/cluster up`)
set -uo pipefail
jobsync=$1
src=$2
source "$(dirname "$0")/testlib.sh"
require_cluster "$src"
kubectl get crd rayjobs.ray.io rayclusters.ray.io >/dev/null 2>&1 &&
  curl -sf "http://127.0.0.1:${JOBSYNC_KUBERAY_HEALTH_PORT:-29455}/readyz" >/dev/null || {
  echo "FAIL: the KubeRay operator is not running; run: scripts/cluster up"
  echo "0 passed, 1 failed"; exit 1; }

run=$$
instance="kr-$run"
ns="kr$run"
work=$(mktemp -d)
agent_pid=""
cleanup() {
  [ -n "$agent_pid" ] && kill "$agent_pid" 2>/dev/null && wait "$agent_pid" 2>/dev/null
  kubectl delete namespace "$ns" --wait=false >/dev/null 2>&1
  keep_logs "$work"
  rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$work/repo/jobs"
file="$work/repo/jobs/tune.yaml"
manifest() {  # manifest WORKERS [SUSPEND]
  cat > "$file" <<YAML
apiVersion: jobsync.dev/v1alpha1
kind: TrainingJob
metadata:
  name: tune
  namespace: $ns
  labels: {team: search}
spec:
  backend: ray
  suspend: ${2:-false}
  env: {EPOCHS: "3"}
  volumes:
    - name: data
      mountPath: /data
      configMap: {name: tune-config}
  ray:
    cluster: kuberay
    image: rayproject/ray:2.52.0
    entrypoint: python tune.py --trials 8
    runtimeEnv: {env_vars: {MODE: fast}}
    head:
      resources: {cpu: "1", memory: 2Gi}
  roles:
    worker:
      replicas: $1
      minReplicas: 1
      maxReplicas: 4
      image: rayproject/ray:2.52.0-gpu
      resources: {cpu: "2", memory: 4Gi}
      nodeSelector: {type: kwok}
YAML
}
commit() { git -C "$work/repo" add -A && git -C "$work/repo" -c user.name=Ada -c user.email=ada@example.com commit -qm "$1"; }
manifest 2 && git -C "$work/repo" init -q -b main && commit "Add the tune job"
flags=(--repo "$work/repo" --instance "$instance" --cache-dir "$work/cache" --allow-backend kubernetes)
rayjob() { kubectl get rayjob -n "$ns" tune -o jsonpath="$1"; }
# cluster_of: "<groupName>:<replicas>" of the RayCluster the operator made for the RayJob.
cluster_of() {
  local name
  name=$(rayjob '{.status.rayClusterName}')
  [ -n "$name" ] && kubectl get raycluster -n "$ns" "$name" -o jsonpath='{range .spec.workerGroupSpecs[*]}{.groupName}:{.replicas}{end}' 2>/dev/null
}
rayclusters() { kubectl get rayclusters -n "$ns" -o name | wc -l; }

# ---- 1. the RayJob ------------------------------------------------------------------------------
out=$("$jobsync" validate "$file" 2>&1)
check "validate: valid" "ok: 1 valid job (0 kubernetes, 1 ray)" "$out"
out=$("$jobsync" plan "${flags[@]}" 2>&1)
check "plan: create, identity kubernetes/NS/NAME" 1 "$(grep -c "kubernetes/$ns/tune: create" <<<"$out")" || printf '%s\n' "$out"
out=$("$jobsync" apply "${flags[@]}" 2>&1)
check "apply: exit 0" 0 $? || { printf '%s\n' "$out"; stop; }
check "the RayJob: entrypoint, shutdown after the job, runtime env" \
  'python tune.py --trials 8 true {"env_vars":{"MODE":"fast"}}' \
  "$(rayjob '{.spec.entrypoint} {.spec.shutdownAfterJobFinishes} {.spec.runtimeEnvYAML}')"
check "the RayJob: the head group" "rayproject/ray:2.52.0 1 2Gi" \
  "$(rayjob '{.spec.rayClusterSpec.headGroupSpec.template.spec.containers[0].image} {.spec.rayClusterSpec.headGroupSpec.template.spec.containers[0].resources.limits.cpu} {.spec.rayClusterSpec.headGroupSpec.template.spec.containers[0].resources.limits.memory}')"
check "the RayJob: a worker group per role with its bounds, autoscaler on" "worker 2 1 4 true" \
  "$(rayjob '{.spec.rayClusterSpec.workerGroupSpecs[0].groupName} {.spec.rayClusterSpec.workerGroupSpecs[0].replicas} {.spec.rayClusterSpec.workerGroupSpecs[0].minReplicas} {.spec.rayClusterSpec.workerGroupSpecs[0].maxReplicas} {.spec.rayClusterSpec.enableInTreeAutoscaling}')"
w='{.spec.rayClusterSpec.workerGroupSpecs[0].template.spec'
check "the workers' pods: image, resources, env, volume, node selector" \
  "rayproject/ray:2.52.0-gpu 2 4Gi 3 tune-config /data kwok" \
  "$(rayjob "$w.containers[0].image} $w.containers[0].resources.limits.cpu} $w.containers[0].resources.limits.memory} $w.containers[0].env[?(@.name==\"EPOCHS\")].value} $w.volumes[0].configMap.name} $w.containers[0].volumeMounts[0].mountPath} $w.nodeSelector.type}")"
check "the RayJob: ownership labels" "jobsync $instance tune search" \
  "$(rayjob '{.metadata.labels.app\.kubernetes\.io/managed-by} {.metadata.labels.jobsync\.dev/instance} {.metadata.labels.jobsync\.dev/job} {.metadata.labels.team}')"
wait_for "the operator's RayCluster: the worker group with 2 replicas" "worker:2" cluster_of
uid=$(rayjob '{.metadata.uid}')
out=$("$jobsync" plan "${flags[@]}" 2>&1)
check "plan after apply: nothing to do" 0 $? || printf '%s\n' "$out"

# ---- 2. suspend and resume -----------------------------------------------------------------------
manifest 2 true && commit "suspend"
"$jobsync" apply "${flags[@]}" >"$work/apply.out" 2>&1
check "apply of the suspend: exit 0" 0 $? || cat "$work/apply.out"
check "suspended: the same RayJob" "true $uid" "$(rayjob '{.spec.suspend} {.metadata.uid}')"
wait_for "suspended: the operator deleted the RayCluster" 0 rayclusters
manifest 2 && commit "resume"
"$jobsync" apply "${flags[@]}" >"$work/apply.out" 2>&1
check "apply of the resume: exit 0" 0 $? || cat "$work/apply.out"
wait_for "resumed: a RayCluster again" "worker:2" cluster_of

# ---- 3. a role change recreates ------------------------------------------------------------------
manifest 3 && commit "3 workers"
out=$("$jobsync" plan "${flags[@]}" 2>&1)
check "plan: recreate, saying why" 1 \
  "$(grep -c "kubernetes/$ns/tune: update.*KubeRay does not change a RayJob's Ray cluster once made" <<<"$out")" || printf '%s\n' "$out"
"$jobsync" apply "${flags[@]}" >"$work/apply.out" 2>&1
check "apply of the role change: exit 0" 0 $? || cat "$work/apply.out"
check "a new RayJob with 3 workers" "yes 3" \
  "$([ "$(rayjob '{.metadata.uid}')" != "$uid" ] && echo yes) $(rayjob '{.spec.rayClusterSpec.workerGroupSpecs[0].replicas}')"
wait_for "its RayCluster has 3 workers" "worker:3" cluster_of

# ---- 4. the agent: health from the operator's status, prune ------------------------------------
port=$(free_port)
"$jobsync" run --repo "$work/repo" --branch main --instance "$instance" --prune --allow-mass-delete \
  --interval 2s --cache-dir "$work/cache" --listen "127.0.0.1:$port" --log-format json \
  --allow-backend kubernetes >"$work/agent.log" 2>&1 &
agent_pid=$!
job_field() {
  curl -sf "http://127.0.0.1:$port/api/v1/status" | python3 -c "
import json, sys
jobs = {j['name']: j for j in json.load(sys.stdin)['jobs']}
print(jobs['$1'].get('$2', '') if '$1' in jobs else 'absent')"
}
wait_for "agent: in sync" Synced job_field tune sync || tail -n 20 "$work/agent.log"
wait_for "the operator: RayJob deployment Running" Running rayjob '{.status.jobDeploymentStatus}'
wait_for "agent: Progressing (Ray has not reported the job running)" Progressing job_field tune health || { rayjob '{.status}'; echo; }
manifest 3 true && commit "suspend again"
wait_for "agent: Suspended once the operator suspended it" Suspended job_field tune health
git -C "$work/repo" rm -q jobs/tune.yaml && commit "remove the tune job"
wait_for "agent: pruned, the RayJob gone" "" kubectl get rayjobs -n "$ns" -o name
wait_for "and no RayCluster left" 0 rayclusters
finish
