#!/usr/bin/env bash
# End-to-end test of `jobsync logs` (issue #25) against the real local cluster: the real
# kube-apiserver, whose pod log endpoint asks the node's kubelet, played by kwok (scripts/cluster
# start_kwok: each pod's log is the CRI-format file its kwok Logs object names, written here),
# and the real Ray head running Ray jobs that print known lines.
#   1. Kubernetes: a job of two roles (worker x2, ps x1) applied; each pod's log made distinct.
#      --role/--index read exactly that pod (its Indexed Job completion index); all pods: each
#      line prefixed [pod/NAME/CONTAINER], in role then index order; --tail; --follow prints a
#      line appended later.
#   2. Errors: an unknown role (the roles listed), an index out of range (the range), --index
#      without --role on two roles, a job Git suspends (no pods yet, saying why), a job in Git not
#      applied, a name not in Git (the nearest one suggested).
#   3. Ray: a finished job's driver log, --tail, --follow of a running job that ends by itself
#      with every line once; --role refused.
#   4. Secrets: a bearer-token kubeconfig and a Ray token file; neither token in any output.
# Usage: logs_test.sh JOBSYNC_BINARY SOURCE_DIR   (needs `scripts/cluster up`)
set -uo pipefail
jobsync=$1
src=$2
source "$(dirname "$0")/testlib.sh"
require_cluster "$src" ray
kwok_port=$(kubectl get node kwok-node-0 -o jsonpath='{.status.daemonEndpoints.kubeletEndpoint.Port}' 2>/dev/null)
kubectl get crd logs.kwok.x-k8s.io >/dev/null 2>&1 && [ "${kwok_port:-0}" != 0 ] || {
  echo "FAIL: kwok does not serve container logs (no logs.kwok.x-k8s.io CRD, or the nodes advertise"
  echo "      no kubelet port): restart kwok with this tree's scripts/cluster (start_kwok):"
  echo "      kill \"\$(cat ~/.local/state/jobsync/cluster/run/kwok.pid)\"; scripts/cluster up"
  echo "0 passed, 1 failed"; exit 1; }

run=$$
ns="logs-$run"
instance="logs-$run"
work=$(mktemp -d)
follower=""
ray_ids() {  # this test's Ray submissions: "id job status" lines
  curl -s "$RAY_ADDRESS/api/jobs/" | python3 -c "
import json, sys
for j in json.load(sys.stdin):
    m = j.get('metadata') or {}
    if m.get('jobsync.dev/instance') == '$instance':
        print(j['submission_id'], m.get('jobsync.dev/job'), j['status'])"
}
cleanup() {
  [ -n "$follower" ] && kill "$follower" 2>/dev/null
  kubectl delete namespace "$ns" --wait=false >/dev/null 2>&1
  local id job status
  while read -r id job status; do
    curl -s -X POST "$RAY_ADDRESS/api/jobs/$id/stop" >/dev/null 2>&1
  done < <(ray_ids)
  sleep 2
  while read -r id job status; do
    curl -s -X DELETE "$RAY_ADDRESS/api/jobs/$id" >/dev/null 2>&1
  done < <(ray_ids)
  rm -rf "$work"
}
trap cleanup EXIT

mkdir -p "$work/repo" "$work/logs"
cat >"$work/repo/jobs.yaml" <<YAML
apiVersion: jobsync.dev/v1alpha1
kind: TrainingJob
metadata: {name: trainer, namespace: $ns}
spec:
  backend: kubernetes
  image: trainer:v1
  roles:
    worker: {replicas: 2, resources: {cpu: 100m}}
    ps: {replicas: 1, resources: {cpu: 100m}}
---
apiVersion: jobsync.dev/v1alpha1
kind: TrainingJob
metadata: {name: parked, namespace: $ns}
spec:
  backend: kubernetes
  suspend: true
  image: trainer:v1
  roles:
    worker: {replicas: 1}
---
apiVersion: jobsync.dev/v1alpha1
kind: TrainingJob
metadata: {name: sweep, namespace: $ns}
spec:
  backend: ray
  ray:
    entrypoint: python -c "[print('sweep line', i, flush=True) for i in range(3)]; print('sweep done', flush=True)"
    entrypointResources: {cpu: 0.1}
  roles:
    worker: {replicas: 1}
---
apiVersion: jobsync.dev/v1alpha1
kind: TrainingJob
metadata: {name: ticker, namespace: $ns}
spec:
  backend: ray
  ray:
    entrypoint: python -c "import time; [(print('tick', i, flush=True), time.sleep(1)) for i in range(1, 7)]"
    entrypointResources: {cpu: 0.1}
  roles:
    worker: {replicas: 1}
YAML
commit() { git -C "$work/repo" add -A && git -C "$work/repo" -c user.name=Ada -c user.email=ada@example.com commit -qm "$1"; }
git -C "$work/repo" init -q -b main && commit "Add the jobs" || { echo "FAIL: cannot make the repository"; exit 1; }
flags=(--repo "$work/repo" --cache-dir "$work/cache" --instance "$instance")
out=$("$jobsync" apply "${flags[@]}" 2>&1)
check "apply: exit 0" 0 $? || { printf '%s\n' "$out"; stop; }

# ---- 1. Kubernetes: each pod's own log ----------------------------------------------------------
running() { kubectl get pods -n "$ns" -l jobsync.dev/job=trainer --field-selector=status.phase=Running -o name | wc -l; }
# A busy scheduler (a benchmark's pods queued before ours) takes minutes.
wait_seconds=300 wait_for "the trainer's 3 pods run" 3 running || stop
# pod ROLE INDEX: the name of that replica's pod.
pod() {
  kubectl get pods -n "$ns" -l "jobsync.dev/job=trainer,jobsync.dev/role=$1,batch.kubernetes.io/job-completion-index=$2" \
    -o jsonpath='{.items[0].metadata.name}'
}
# A CRI log line (as the kubelet stores container output), and each pod's Logs object.
cri() { printf '2026-01-01T00:00:0%sZ stdout F %s\n' "$1" "$2"; }
for replica in "worker 0" "worker 1" "ps 0"; do
  set -- $replica
  name=$(pod "$1" "$2")
  for n in 1 2 3; do cri "$n" "$1 $2 line $n"; done >"$work/logs/$1-$2.log"
  kubectl apply -f - >/dev/null <<YAML || { echo "FAIL: cannot create the Logs object of $name"; stop; }
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Logs
metadata: {name: $name, namespace: $ns}
spec:
  logs:
    - containers: [$1]
      logsFile: $work/logs/$1-$2.log
      follow: true
YAML
done
logs() { "$jobsync" logs "${flags[@]}" "$@" 2>&1; }
wait_for "--role worker --index 1: that pod's lines, unprefixed" \
  "$(printf 'worker 1 line 1\nworker 1 line 2\nworker 1 line 3')" logs "$ns/trainer" --role worker --index 1
check "--role ps --index 0" "$(printf 'ps 0 line 1\nps 0 line 2\nps 0 line 3')" \
  "$(logs "$ns/trainer" --role ps --index 0)"
expected=""
for replica in "ps 0" "worker 0" "worker 1"; do
  set -- $replica
  for n in 1 2 3; do expected+="[pod/$(pod "$1" "$2")/$1] $1 $2 line $n"$'\n'; done
done
check "every pod: prefixed [pod/NAME/CONTAINER], by role then index" "${expected%$'\n'}" "$(logs "$ns/trainer")"
check "--role worker: both workers, prefixed" 6 "$(logs "$ns/trainer" --role worker | grep -c '^\[pod/.*/worker\] worker [01] line')"
check "--tail 1" "worker 0 line 3" "$(logs "$ns/trainer" --role worker --index 0 --tail 1)"
check "--tail 2 of every pod" 6 "$(logs "$ns/trainer" --tail 2 | grep -c ' line [23]$')"

"$jobsync" logs "${flags[@]}" "$ns/trainer" --role ps --follow >"$work/follow.out" 2>&1 &
follower=$!
wait_for "--follow: the log so far" 3 grep -c 'ps 0 line' "$work/follow.out"
cri 4 "ps 0 line 4" >>"$work/logs/ps-0.log"
wait_for "--follow: a line appended later" 1 grep -c '^ps 0 line 4$' "$work/follow.out"
check "--follow: still following" 0 "$(kill -0 "$follower" 2>/dev/null; echo $?)"
kill "$follower" 2>/dev/null
follower=""

# ---- 2. errors ---------------------------------------------------------------------------------
# fails NAME EXPECTED ARGS...: `jobsync logs ARGS` exits 2 with EXPECTED in its message.
fails() {
  local name=$1 expected=$2
  shift 2
  local said code
  said=$(logs "$@")
  code=$?
  check "$name: exit 2" 2 "$code"
  check "$name: says so" 1 "$(grep -cF -- "$expected" <<<"$said")" || printf '%s\n' "$said"
}
fails "unknown role" "job kubernetes/$ns/trainer has no role \"wroker\"; its roles: ps, worker" \
  "$ns/trainer" --role wroker
fails "index out of range" "--index 2 is out of range: role worker of job kubernetes/$ns/trainer has indexes 0 to 1" \
  "$ns/trainer" --role worker --index 2
fails "--index alone on two roles" "--index needs --role: job kubernetes/$ns/trainer has the roles ps, worker" \
  "$ns/trainer" --index 0
fails "a suspended job" "job kubernetes/$ns/parked has no pods yet: its manifest suspends it (spec.suspend: true)" "$ns/parked"
fails "a name not in Git" "no job $ns/trainr in the manifests of $work/repo at" "$ns/trainr"
fails "the nearest name" "did you mean $ns/trainer?" "$ns/trainr"
cat >>"$work/repo/jobs.yaml" <<YAML
---
apiVersion: jobsync.dev/v1alpha1
kind: TrainingJob
metadata: {name: later, namespace: $ns}
spec:
  backend: kubernetes
  image: trainer:v1
  roles:
    worker: {replicas: 1}
YAML
commit "Add later"
fails "in Git, not applied" "job kubernetes/$ns/later has no pods yet: nothing of it is on the cluster" "$ns/later"

# ---- 3. Ray ------------------------------------------------------------------------------------
# ray_status JOB: the status of that job's submission.
ray_status() { ray_ids | awk -v job="$1" '$2 == job {print $3}'; }
wait_for "the sweep finished" SUCCEEDED ray_status sweep
sweep=$(logs "$ns/sweep")
check "ray: the driver's lines" "$(printf 'sweep line 0\nsweep line 1\nsweep line 2\nsweep done')" \
  "$(grep '^sweep' <<<"$sweep")"
check "ray: --tail 2 is the log's last 2 lines" "$(tail -n 2 <<<"$sweep")" "$(logs "$ns/sweep" --tail 2)"
check "ray: --tail 2 is 2 lines" 2 "$(logs "$ns/sweep" --tail 2 | wc -l)"
fails "ray: --role refused" "runs on Ray and has one log" "$ns/sweep" --role worker

# The ticker prints a line a second for 6 s: changed in Git (a new submission) so that it is
# followed from its start.
sed -i 's/range(1, 7)/range(1, 7) if i > 0/' "$work/repo/jobs.yaml"
commit "Restart the ticker"
out=$("$jobsync" apply "${flags[@]}" 2>&1)
check "apply of the new ticker: exit 0" 0 $? || printf '%s\n' "$out"
started=$SECONDS
timeout 120 "$jobsync" logs "${flags[@]}" "$ns/ticker" --follow >"$work/ticker.out" 2>&1
check "ray --follow: ends by itself once the job ends" 0 $?
check "ray --follow: every line once, in order" "$(printf 'tick %s\n' 1 2 3 4 5 6)" "$(grep '^tick' "$work/ticker.out")"
check "ray --follow: followed while it ran (>= 5 s)" 1 "$(( SECONDS - started >= 5 ))"

# ---- 4. secrets --------------------------------------------------------------------------------
token=$(grep ',jobsync-token-a,' "$JOBSYNC_TOKEN_AUTH_FILE" | cut -d, -f1)
register_secret "logs_test kube token" "$token"
server=$(kubectl config view --minify -o jsonpath='{.clusters[0].cluster.server}')
kubectl config --kubeconfig="$work/token.kubeconfig" set-cluster local --server="$server" \
  --certificate-authority="$(dirname "$KUBECONFIG")/pki/ca.crt" --embed-certs >/dev/null
kubectl config --kubeconfig="$work/token.kubeconfig" set-credentials token-a --token="$token" >/dev/null
kubectl config --kubeconfig="$work/token.kubeconfig" set-context local --cluster=local --user=token-a >/dev/null
kubectl config --kubeconfig="$work/token.kubeconfig" use-context local >/dev/null
ray_token="logs-test-ray-token-$run-$RANDOM$RANDOM"
register_secret "logs_test ray token" "$ray_token"
echo "$ray_token" >"$work/ray-token"
said=$(KUBECONFIG="$work/token.kubeconfig" logs "$ns/trainer" --role worker --index 0)
check "token kubeconfig: the log read" "worker 0 line 1" "$(head -n 1 <<<"$said")"
said+=$(KUBECONFIG="$work/token.kubeconfig" logs "$ns/trainer" --role nope)
said+=$(KUBECONFIG="$work/token.kubeconfig" logs "$ns/parked")
said+=$(logs "$ns/sweep" --ray-token-file "$work/ray-token" --tail 1)
said+=$(logs "$ns/sweep" --ray-token-file "$work/ray-token" --index 3)
check "token kubeconfig and Ray token file: commands ran" 1 "$(grep -c 'has no role "nope"' <<<"$said")"
check "no token in any output" 0 "$(grep -cF -e "$token" -e "$ray_token" <<<"$said")"

finish
