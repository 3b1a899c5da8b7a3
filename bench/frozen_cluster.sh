#!/usr/bin/env bash
# A frozen cluster must not hold back the other one. Measures, for the real agent against the
# local kube-apiserver, the time from a pushed commit that scales a Kubernetes job to the new
# parallelism on the apiserver, while the Ray address accepts connections and never answers
# (a frozen dashboard), and the same with the real Ray head answering (the peer, same run).
#
# Usage: bench/frozen_cluster.sh JOBSYNC [RUNS] [RAY=frozen|real]   (needs `scripts/cluster up`)
# Prints one line per change: seconds from the push to the scale seen on the apiserver.
set -euo pipefail
jobsync=$(realpath "$1")
runs=${2:-3}
ray_mode=${3:-frozen}
src=$(cd "$(dirname "$0")/.." && pwd)
eval "$("$src/scripts/cluster" env)"
work=$(mktemp -d)
ns="bench-frozen-$$"
agent_pid=""
frozen_pid=""
cleanup() {
  [ -n "$agent_pid" ] && kill "$agent_pid" 2>/dev/null && wait "$agent_pid" 2>/dev/null
  [ -n "$frozen_pid" ] && kill "$frozen_pid" 2>/dev/null
  kubectl delete namespace "$ns" --wait=false >/dev/null 2>&1 || true
  curl -s "$RAY_ADDRESS/api/jobs/" | python3 -c "
import json, sys
for j in json.load(sys.stdin):
    if (j.get('metadata') or {}).get('jobsync.dev/instance') == '$ns' and j['status'] in ('PENDING', 'RUNNING'):
        print(j['submission_id'])" 2>/dev/null | while read -r id; do
    curl -s -X POST "$RAY_ADDRESS/api/jobs/$id/stop" >/dev/null
  done
  rm -rf "$work"
}
trap cleanup EXIT
if [ "$ray_mode" = frozen ]; then
  python3 -u -c '
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(128)
print(s.getsockname()[1])
held = []
while True:
    held.append(s.accept()[0])  # accepted, never answered
' >"$work/frozen.port" &
  frozen_pid=$!
  for _ in $(seq 1 50); do [ -s "$work/frozen.port" ] && break; sleep 0.1; done
  ray_address="http://127.0.0.1:$(cat "$work/frozen.port")"
else
  ray_address=$RAY_ADDRESS
fi
job() {  # job REPLICAS: the Kubernetes job's manifest
  cat >"$work/wc/k.yaml" <<EOF
apiVersion: jobsync.dev/v1alpha1
kind: TrainingJob
metadata: {name: k, namespace: $ns}
spec:
  backend: kubernetes
  image: python:3.11-slim
  roles:
    worker: {replicas: $1, resources: {cpu: 100m, memory: 64Mi}}
EOF
}
git init -q --bare -b main "$work/srv.git"
git init -q -b main "$work/wc"
git -C "$work/wc" remote add origin "file://$work/srv.git"
job 1
cat >"$work/wc/r.yaml" <<EOF
apiVersion: jobsync.dev/v1alpha1
kind: TrainingJob
metadata: {name: r, namespace: $ns}
spec:
  backend: ray
  roles:
    worker: {replicas: 1}
  ray: {entrypoint: 'python -c "import time; time.sleep(3600)"', entrypointResources: {cpu: 0.1}}
EOF
commit() {
  git -C "$work/wc" add -A
  git -C "$work/wc" -c user.name=b -c user.email=b@example.com commit -qm "$1"
  git -C "$work/wc" push -q origin main
}
commit "k at 1"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$jobsync" run --repo "file://$work/srv.git" --branch main --instance "$ns" --prune \
  --cache-dir "$work/cache" --state "$work/state.json" --listen "127.0.0.1:$port" --interval 2s \
  --ray-address "$ray_address" --log-format json >"$work/agent.log" 2>&1 &
agent_pid=$!
parallelism() { kubectl get job -n "$ns" k-worker -o jsonpath='{.spec.parallelism}' 2>/dev/null; }
wait_parallelism() {  # prints the seconds until the Job has parallelism $1 (at most 300 s)
  local start=$EPOCHREALTIME
  for _ in $(seq 1 3000); do
    [ "$(parallelism)" = "$1" ] && break
    sleep 0.1
  done
  python3 -c "print(f'{$EPOCHREALTIME - $start:.1f}')"
}
echo "ray $ray_mode; first sync: Job created after $(wait_parallelism 1) s"
for run in $(seq 1 "$runs"); do
  want=$((run % 2 + 2))
  job "$want"
  commit "k at $want"
  echo "change $run: scaled to $want after $(wait_parallelism "$want") s"
done
