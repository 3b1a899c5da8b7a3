#!/usr/bin/env bash
# End-to-end test of several clusters (issue #23): one agent configuration (a clusters file) names
# the local cluster (the default, with the Ray head) and the second cluster scripts/cluster runs (a
# second kube-apiserver on its own etcd prefix, with its own CA and controllers); manifests pick
# one with spec.cluster. Checked with kubectl against both apiservers.
#   1. `apply`: each job lands on the cluster its manifest names (a Kubernetes job on each, a Ray
#      job on the default cluster's Ray); the plan names the cluster; nothing lands elsewhere; the
#      next plan has nothing to do.
#   2. A manifest naming a cluster the file does not have: a located error, exit 2, nothing
#      deleted.
#   3. The second cluster down (its kubeconfig pointing at a closed port): the default cluster's
#      change is applied, the second cluster's job is held back (an error step), nothing deleted.
#   4. A job moved to the default cluster in Git: deleted on the second cluster first, created on
#      the default one after it is gone, never on both at once (a poller watches both).
#   5. `jobsync history` shows the spec.cluster change.
# Usage: clusters_test.sh JOBSYNC_BINARY SOURCE_DIR   (needs `scripts/cluster up`)
set -uo pipefail
jobsync=$1
src=$2
source "$(dirname "$0")/testlib.sh"
require_cluster "$src" ray
[ -n "${JOBSYNC_SECOND_KUBECONFIG:-}" ] && kubectl --kubeconfig "$JOBSYNC_SECOND_KUBECONFIG" version \
  --request-timeout=5s >/dev/null 2>&1 || {
  echo "FAIL: the second cluster (kube-apiserver-second) is not running; run: scripts/cluster up"
  echo "0 passed, 1 failed"; exit 1; }

run=$$
instance="mc-$run"
ns="mc$run"
work=$(mktemp -d)
poller=""
second() { kubectl --kubeconfig "$JOBSYNC_SECOND_KUBECONFIG" "$@"; }
cleanup() {
  [ -n "$poller" ] && kill "$poller" 2>/dev/null
  kubectl delete namespace "$ns" --wait=false >/dev/null 2>&1
  second delete namespace "$ns" --wait=false >/dev/null 2>&1
  curl -s -X DELETE "$RAY_ADDRESS/api/jobs/$(cat "$work/ray-id" 2>/dev/null)" >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT
kubectl create namespace "$ns" >/dev/null && second create namespace "$ns" >/dev/null || {
  echo "FAIL: cannot create namespace $ns on both clusters"; finish; exit 1; }

cat > "$work/clusters.yaml" <<YAML
clusters:
  - name: local
    default: true
    kubeconfig: $KUBECONFIG
    ray: {address: "$RAY_ADDRESS"}
  - name: second
    kubeconfig: $JOBSYNC_SECOND_KUBECONFIG
YAML
# The second cluster down: its kubeconfig with the server at a port nothing listens on.
dead_port=$(free_port)
sed "s#server: https://127.0.0.1:[0-9]*#server: https://127.0.0.1:$dead_port#" \
  "$JOBSYNC_SECOND_KUBECONFIG" > "$work/second-down.kubeconfig"
sed "s#$JOBSYNC_SECOND_KUBECONFIG#$work/second-down.kubeconfig#" "$work/clusters.yaml" \
  > "$work/clusters-down.yaml"

mkdir -p "$work/repo/jobs"
job() {  # job NAME WORKERS [CLUSTER]
  {
    printf 'apiVersion: jobsync.dev/v1alpha1\nkind: TrainingJob\n'
    printf 'metadata: {name: %s, namespace: %s}\nspec:\n  backend: kubernetes\n' "$1" "$ns"
    [ -n "${3:-}" ] && printf '  cluster: %s\n' "$3"
    printf '  image: trainer:v1\n  command: [python, train.py]\n'
    printf '  roles: {worker: {replicas: %s, resources: {cpu: 100m}}}\n' "$2"
  } > "$work/repo/jobs/$1.yaml"
}
job home 1
job away 1 second
cat > "$work/repo/jobs/tune.yaml" <<YAML
apiVersion: jobsync.dev/v1alpha1
kind: TrainingJob
metadata: {name: tune, namespace: $ns}
spec:
  backend: ray
  cluster: local
  ray: {entrypoint: "python -c 'import time; time.sleep(600)'"}
  roles: {worker: {replicas: 1}}
YAML
commit() { git -C "$work/repo" add -A && git -C "$work/repo" -c user.name=Ada -c user.email=ada@example.com commit -qm "$1"; }
git -C "$work/repo" init -q -b main && commit "Jobs on two clusters"
flags=(--repo "$work/repo" --instance "$instance" --cache-dir "$work/cache" --allow-namespace "$ns")
workers() {  # workers KUBECTL... : the parallelism of Job <name>-worker, or "none"
  local out
  out=$("$@" -o jsonpath='{.spec.parallelism}' 2>/dev/null) || out=none
  echo "${out:-none}"
}

# 1. Each job on the cluster its manifest names.
"$jobsync" apply "${flags[@]}" --clusters "$work/clusters.yaml" > "$work/apply1.out" 2>&1
check "apply on two clusters exits 0" 0 $? || { cat "$work/apply1.out"; stop; }
check "the plan names the second cluster" 1 "$(grep -c "create kubernetes/$ns/away@second" "$work/apply1.out")"
check "home runs on the default cluster" 1 "$(workers kubectl get job -n "$ns" home-worker)"
check "home is not on the second cluster" none "$(workers second get job -n "$ns" home-worker)"
check "away runs on the second cluster" 1 "$(workers second get job -n "$ns" away-worker)"
check "away is not on the default cluster" none "$(workers kubectl get job -n "$ns" away-worker)"
check "away is owned by the instance there" "$instance" \
  "$(second get job -n "$ns" away-worker -o jsonpath='{.metadata.labels.jobsync\.dev/instance}')"
ray_id=$(curl -s "$RAY_ADDRESS/api/jobs/" | python3 -c "
import json, sys
for j in json.load(sys.stdin):
    if (j.get('metadata') or {}).get('jobsync.dev/instance') == '$instance': print(j['submission_id'])")
echo "$ray_id" > "$work/ray-id"
check "the Ray job is submitted to the default cluster's Ray" 1 "$(echo -n "$ray_id" | grep -c .)"
"$jobsync" plan "${flags[@]}" --clusters "$work/clusters.yaml" > "$work/plan1.out" 2>&1
check "the next plan has nothing to do" 0 $?

# 2. A cluster the file does not have.
job away 1 sceond
commit "A typo in the cluster"
"$jobsync" plan "${flags[@]}" --clusters "$work/clusters.yaml" > "$work/plan2.out" 2>&1
check "an unknown cluster: exit 2" 2 $?
check "the error is located and lists the clusters" 1 "$(grep -c "jobs/away.yaml:6:12: spec.cluster: no cluster \"sceond\" in the agent's clusters file (local (default), second)" "$work/plan2.out")"
check "the job on the second cluster is not deleted" 0 "$(grep -c "delete kubernetes/$ns/away" "$work/plan2.out")"

# 3. The second cluster down: only its job is held back.
job away 3 second
job home 2
commit "Scale both"
"$jobsync" apply "${flags[@]}" --clusters "$work/clusters-down.yaml" > "$work/apply3.out" 2>&1
check "a cluster down: exit 1 (its job held back)" 1 $?
check "the default cluster's job is scaled" 2 "$(workers kubectl get job -n "$ns" home-worker)"
check "the second cluster's job is held back, saying why" 1 \
  "$(grep -q "kubernetes/$ns/away@second.*kubernetes@second unavailable" "$work/apply3.out" && echo 1)"
check "nothing is deleted" 0 "$(grep -c "delete " "$work/apply3.out")"
"$jobsync" apply "${flags[@]}" --clusters "$work/clusters.yaml" > "$work/apply3b.out" 2>&1
check "back up: the second cluster's job is scaled" 3 "$(workers second get job -n "$ns" away-worker)"

# 4. Move away to the default cluster: never on both at once.
job away 3
commit "Move away home"
( while true; do
    a=$(workers kubectl get job -n "$ns" away-worker) b=$(workers second get job -n "$ns" away-worker)
    [ "$a" != none ] && [ "$b" != none ] && echo both >> "$work/both"
    sleep 0.1
  done ) & poller=$!
"$jobsync" apply "${flags[@]}" --clusters "$work/clusters.yaml" --prune=false > "$work/apply4.out" 2>&1
status=$?
kill "$poller" 2>/dev/null; wait "$poller" 2>/dev/null; poller=""
check "the move applies: exit 0" 0 "$status" || cat "$work/apply4.out"
delete_line=$(grep -nE "done +delete kubernetes/$ns/away@second$" "$work/apply4.out" | head -1 | cut -d: -f1)
create_line=$(grep -nE "done +create kubernetes/$ns/away$" "$work/apply4.out" | head -1 | cut -d: -f1)
check "deleted on the second cluster (a move, with pruning off)" 1 "$([ -n "$delete_line" ] && echo 1)"
check "then created on the default cluster" 1 "$([ -n "$create_line" ] && [ "$create_line" -gt "${delete_line:-0}" ] && echo 1)"
check "the plan said why it waited" 1 "$(grep -c "moved here from cluster second" "$work/apply4.out")"
check "never on both clusters at once" 0 "$(cat "$work/both" 2>/dev/null | wc -l)"
check "away now runs on the default cluster" 3 "$(workers kubectl get job -n "$ns" away-worker)"
check "away is gone from the second cluster" none "$(workers second get job -n "$ns" away-worker)"

# 5. History shows the move.
"$jobsync" history "$ns/away" --repo "$work/repo" --cache-dir "$work/cache" > "$work/history.out" 2>&1
check "history shows the cluster change" 1 "$(grep -c "cluster second -> (default)" "$work/history.out")"
finish
