#!/usr/bin/env bash
# The agent's status page in a real browser (headless Chromium, Debian's package): it shows the
# jobs of a real sync against the local kube-apiserver, and updates after a commit without being
# reloaded; a second replica under the same Lease, not the leader, shows the standby label. The
# browser is driven over the DevTools protocol by page_driver.py. (status_page_scale_test.sh
# checks the page at 10,000 jobs.)
# Usage: status_page_test.sh JOBSYNC_BINARY SOURCE_DIR   (needs `scripts/cluster up`; fails without it)
set -uo pipefail
jobsync=$1
src=$2
source "$src/tests/cli/testlib.sh"
require_cluster "$src"
require_browser

run=$$
work=$(mktemp -d)
ns="p$run-jobs"
lease="page-test-$run"
pid=""
standby=""
cleanup() {
  [ -n "$standby" ] && kill -TERM "$standby" 2>/dev/null && wait "$standby"
  [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null && wait "$pid"
  kubectl delete namespace "$ns" --wait=false >/dev/null 2>&1
  kubectl delete lease -n default "$lease" >/dev/null 2>&1
  keep_logs "$work"
  rm -rf "$work"
}
trap cleanup EXIT

mkdir -p "$work/repo"
for name in trainer evaluator; do
  cat >"$work/repo/$name.yaml" <<YAML
apiVersion: jobsync.dev/v1alpha1
kind: TrainingJob
metadata:
  name: $name
  namespace: $ns
spec:
  backend: kubernetes
  image: python:3.11-slim
  command: [python, $name.py]
  roles:
    worker:
      replicas: 2
      resources: {cpu: "1", memory: 1Gi}
YAML
done
git -C "$work/repo" init -q -b main && git -C "$work/repo" add -A &&
  git -C "$work/repo" -c user.name=Ada -c user.email=ada@example.com commit -qm "Add two jobs"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
election=(--leader-elect --lease-name "$lease" --lease-namespace default --lease-duration 4s)
RAY_ADDRESS= "$jobsync" run --repo "$work/repo" --branch main --instance "page-$run" --cache-dir "$work/cache" \
  --state "$work/state.json" --interval 1s --listen "127.0.0.1:$port" "${election[@]}" --identity leader \
  >"$work/agent.log" 2>&1 &
pid=$!
# The second replica starts once the first holds the Lease, so that it stays a standby.
for _ in $(seq 100); do
  [ "$(kubectl get lease -n default "$lease" -o jsonpath='{.spec.holderIdentity}' 2>/dev/null)" = leader ] && break
  sleep 0.2
done
standby_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
RAY_ADDRESS= "$jobsync" run --repo "$work/repo" --branch main --instance "page-$run" --cache-dir "$work/cache-standby" \
  --state "$work/state.json" --interval 1s --listen "127.0.0.1:$standby_port" "${election[@]}" --identity standby \
  >"$work/standby.log" 2>&1 &
standby=$!

commit="sed -i 's/replicas: 2/replicas: 3/' '$work/repo/trainer.yaml' && git -C '$work/repo' -c user.name=Grace -c user.email=grace@example.com commit -qam 'Scale trainer to 3'"
"$python" "$src/tests/ui/page_driver.py" "$chromium" "http://127.0.0.1:$port/" \
  "trainer | kubernetes | $ns | Synced | Healthy | worker=2 / worker=2 | * Ada: Add two jobs | " "$commit" \
  "trainer | kubernetes | $ns | Synced | Healthy | worker=3 / worker=3 | * Grace: Scale trainer to 3 | " \
  "http://127.0.0.1:$standby_port/"
status=$?
[ "$status" -eq 0 ] || tail -n 30 "$work/agent.log"
exit "$status"
