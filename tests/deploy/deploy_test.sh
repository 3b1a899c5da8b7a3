#!/usr/bin/env bash
# The deployment files in deploy/ against the real local control plane:
#   - every Kubernetes manifest passes a server-side dry run;
#   - the RBAC really is enough, and no more: the agent runs a sync with the ServiceAccount's own
#     token (creating a job, keeping its state in a ConfigMap, holding the Lease), and the
#     identity is refused what it does not need;
#   - the systemd unit passes systemd-analyze verify.
# Usage: deploy_test.sh JOBSYNC_BINARY SOURCE_DIR   (needs `scripts/cluster up`; fails without it)
set -uo pipefail
jobsync=$(readlink -f "$1")
src=$2
source "$src/tests/cli/testlib.sh"
require_cluster "$src"

run=$$
work=$(mktemp -d)
ns="d$run-jobs"
cleanup() {
  kubectl delete namespace "$ns" --wait=false >/dev/null 2>&1
  kubectl delete configmap -n jobsync-system "state-$run" >/dev/null 2>&1
  kubectl delete lease -n jobsync-system "lease-$run" >/dev/null 2>&1
  keep_logs "$work"
  rm -rf "$work"
}
trap cleanup EXIT

# The namespace and the RBAC objects are applied for real (idempotent: other runs share them), so
# the rest can be dry-run inside the namespace and the identity can be used.
kubectl apply -f "$src/deploy/kubernetes/namespace.yaml" -f "$src/deploy/kubernetes/rbac.yaml" >/dev/null
check "namespace and RBAC apply" 0 $?
out=$(kubectl apply --dry-run=server -f "$src/deploy/kubernetes/" 2>&1)
check "every manifest in deploy/kubernetes passes a server-side dry run" 0 $?
printf '%s\n' "$out" | grep -v -E '(created|configured|unchanged) \(server dry run\)$'
check "the Deployment runs two replicas with leader election" "2 run --config /etc/jobsync/agent.yaml" \
  "$(kubectl apply --dry-run=server -f "$src/deploy/kubernetes/deployment.yaml" -o jsonpath='{.items[0].spec.replicas} {.items[0].spec.template.spec.containers[0].args[*]}' 2>/dev/null)"
grep -q '^    leader-elect: true$' "$src/deploy/kubernetes/config.yaml"
check "the configuration turns leader election on" 0 $?

# A kubeconfig holding the ServiceAccount's token: the agent's identity in a pod.
token=$(kubectl create token jobsync -n jobsync-system --duration=10m)
register_secret "deploy_test ServiceAccount token" "$token"
server=$(kubectl config view --raw --minify -o jsonpath='{.clusters[0].cluster.server}')
kubectl config view --raw --minify -o jsonpath='{.clusters[0].cluster.certificate-authority-data}' \
  | base64 -d >"$work/ca.crt"
KUBECONFIG="$work/sa.kubeconfig" kubectl config set-cluster local --server="$server" \
  --certificate-authority="$work/ca.crt" --embed-certs >/dev/null
KUBECONFIG="$work/sa.kubeconfig" kubectl config set-credentials jobsync --token="$token" >/dev/null
KUBECONFIG="$work/sa.kubeconfig" kubectl config set-context sa --cluster=local --user=jobsync >/dev/null
KUBECONFIG="$work/sa.kubeconfig" kubectl config use-context sa >/dev/null

as_agent() { kubectl auth can-i --as=system:serviceaccount:jobsync-system:jobsync "$@" 2>/dev/null; }
check "the agent may watch Jobs everywhere" yes "$(as_agent watch jobs.batch --all-namespaces)"
check "the agent may record Events" yes "$(as_agent create events -n "$ns")"
check "the agent may watch JobSets everywhere" yes "$(as_agent watch jobsets.jobset.x-k8s.io --all-namespaces)"
check "the agent may deactivate Kueue Workloads" yes "$(as_agent update workloads.kueue.x-k8s.io -n "$ns")"
check "the agent may watch DLRover ElasticJobs everywhere" yes "$(as_agent watch elasticjobs.elastic.iml.github.io --all-namespaces)"
check "the agent may make and delete ScalePlans" "yes yes" \
  "$(as_agent create scaleplans.elastic.iml.github.io -n "$ns") $(as_agent delete scaleplans.elastic.iml.github.io -n "$ns")"
check "the agent may not read Secrets" no "$(as_agent get secrets -n jobsync-system)"
check "the agent may not delete namespaces" no "$(as_agent delete namespaces)"
check "the agent may not touch Leases outside its namespace" no "$(as_agent update leases.coordination.k8s.io -n default)"
check "the agent may not change RBAC" no "$(as_agent create clusterrolebindings)"

# A real sync with that identity: one job in a namespace of this run, state in a ConfigMap.
mkdir -p "$work/repo"
cat >"$work/repo/job.yaml" <<EOF
apiVersion: jobsync.dev/v1alpha1
kind: TrainingJob
metadata:
  name: trainer
  namespace: $ns
spec:
  backend: kubernetes
  image: python:3.11-slim
  command: [python, train.py]
  roles:
    worker:
      replicas: 2
      resources: {cpu: "1", memory: 1Gi}
EOF
git -C "$work/repo" init -q -b main && git -C "$work/repo" add -A &&
  git -C "$work/repo" -c user.name=Ada -c user.email=ada@example.com commit -qm "Add trainer"
agent=("$jobsync" run --repo "$work/repo" --branch main --instance "deploy-$run" --cache-dir "$work/cache"
  --kubeconfig "$work/sa.kubeconfig" --state "configmap:jobsync-system/state-$run")
RAY_ADDRESS= "${agent[@]}" --once --listen 127.0.0.1:0 >"$work/once.log" 2>&1
check "jobsync run --once as the ServiceAccount: in sync" 0 $?
[ "$failed" -eq 0 ] || cat "$work/once.log"
check "the job was created with the agent's identity" 2 \
  "$(kubectl get job -n "$ns" trainer-worker -o jsonpath='{.spec.parallelism}')"
check "the state is in the ConfigMap" 1 \
  "$(kubectl get configmap -n jobsync-system "state-$run" -o jsonpath='{.data.state\.json}' | grep -c "kubernetes/$ns/trainer")"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
RAY_ADDRESS= "${agent[@]}" --leader-elect --lease-namespace jobsync-system --lease-name "lease-$run" \
  --identity "pod-$run" --listen "127.0.0.1:$port" >"$work/run.log" 2>&1 &
pid=$!
wait_for "the ServiceAccount can hold the Lease" "pod-$run" \
  kubectl get lease -n jobsync-system "lease-$run" -o jsonpath='{.spec.holderIdentity}'
kill -TERM "$pid"
wait "$pid"
check "SIGTERM: exit 0" 0 $?
[ "$failed" -eq 0 ] || cat "$work/run.log"

# The systemd unit, with ExecStart pointing at the binary just built.
sed "s|/usr/local/bin/jobsync|$jobsync|" "$src/deploy/systemd/jobsync.service" >"$work/jobsync.service"
out=$(systemd-analyze verify "$work/jobsync.service" 2>&1)
check "systemd-analyze verify accepts the unit" "" "$out"

finish
