#!/usr/bin/env bash
# The deployment files in deploy/ against the real local control plane:
#   - both Kustomize variants render (kubectl kustomize), and apply for real to fresh namespaces
#     (renamed by an overlay of this test, so that runs do not collide): the cluster-wide base
#     deploy/kubernetes with `kubectl apply -k` in one go, Namespace included; the
#     namespace-scoped deploy/kubernetes-namespaced with no ClusterRole, into two namespaces;
#   - the Deployment's memory limit covers the peak RSS bench/RESULTS.md measured at 10,000 jobs;
#   - each variant's RBAC really is enough, and no more: the agent runs a sync with the
#     ServiceAccount's own token (a TokenRequest), creating jobs, keeping its state in a
#     ConfigMap, holding the Lease; the namespaced one creates jobs in both allowed namespaces
#     and says clearly, without hanging, that it may not touch a third;
#   - the systemd unit passes systemd-analyze verify.
# Usage: deploy_test.sh JOBSYNC_BINARY SOURCE_DIR   (needs `scripts/cluster up`; fails without it)
set -uo pipefail
jobsync=$(readlink -f "$1")
src=$(readlink -f "$2")
source "$src/tests/cli/testlib.sh"
require_cluster "$src"

run=$$
p="deploy-$run"  # every namespace and cluster-scoped name of this run starts with it
work=$(mktemp -d)
cleanup() {
  kubectl delete namespace "$p-base" "$p-jobs" "$p-system" "$p-a" "$p-b" "$p-c" --wait=false \
    >/dev/null 2>&1
  kubectl delete clusterrolebinding "$p-jobsync" >/dev/null 2>&1
  kubectl delete clusterrole "$p-jobsync" >/dev/null 2>&1
  keep_logs "$work"
  rm -rf "$work"
}
trap cleanup EXIT

# overlay DIR VARIANT LINES...: a kustomization in DIR over deploy/VARIANT (kustomize takes only
# relative paths to a base) with the LINES that rename what the run must not share.
overlay() {
  local dir=$1 base
  base=$(realpath --relative-to="$1" "$src/deploy/$2")
  shift 2
  mkdir -p "$dir"
  printf 'resources:\n  - %s\n' "$base" >"$dir/kustomization.yaml"
  printf '%s\n' "$@" >>"$dir/kustomization.yaml"
}

# kubeconfig_for FILE NAMESPACE ACCOUNT: a kubeconfig holding a 10-minute token of the
# ServiceAccount (a TokenRequest): the agent's identity in a pod.
kubeconfig_for() {
  local token server
  token=$(kubectl create token "$3" -n "$2" --duration=10m)
  register_secret "deploy_test ServiceAccount token $2/$3" "$token"
  server=$(kubectl config view --raw --minify -o jsonpath='{.clusters[0].cluster.server}')
  kubectl config view --raw --minify -o jsonpath='{.clusters[0].cluster.certificate-authority-data}' \
    | base64 -d >"$work/ca.crt"
  KUBECONFIG=$1 kubectl config set-cluster local --server="$server" \
    --certificate-authority="$work/ca.crt" --embed-certs >/dev/null
  KUBECONFIG=$1 kubectl config set-credentials agent --token="$token" >/dev/null
  KUBECONFIG=$1 kubectl config set-context agent --cluster=local --user=agent >/dev/null
  KUBECONFIG=$1 kubectl config use-context agent >/dev/null
}

# add_job REPO NAMESPACE NAME: commits a two-worker Kubernetes job to the repository.
add_job() {
  mkdir -p "$1"
  cat >"$1/$3.yaml" <<EOF
apiVersion: jobsync.dev/v1alpha1
kind: TrainingJob
metadata:
  name: $3
  namespace: $2
spec:
  backend: kubernetes
  image: python:3.11-slim
  command: [python, train.py]
  roles:
    worker:
      replicas: 2
      resources: {cpu: "1", memory: 1Gi}
EOF
  [ -d "$1/.git" ] || git -C "$1" init -q -b main
  git -C "$1" add -A && git -C "$1" -c user.name=Ada -c user.email=ada@example.com commit -qm "Add $3"
}

# bytes QUANTITY: a memory quantity (Mi, Gi, M, G or plain bytes) in bytes.
bytes() {
  case $1 in
    *Gi) echo $(( ${1%Gi} * 1024 * 1024 * 1024 )) ;;
    *Mi) echo $(( ${1%Mi} * 1024 * 1024 )) ;;
    *G) echo $(( ${1%G} * 1000 * 1000 * 1000 )) ;;
    *M) echo $(( ${1%M} * 1000 * 1000 )) ;;
    *) echo "$1" ;;
  esac
}

# ---- the cluster-wide base -------------------------------------------------------------------
rendered=$(kubectl kustomize "$src/deploy/kubernetes" 2>&1)
check "kubectl kustomize deploy/kubernetes renders" 0 $?
check "the base renders the Namespace first" "kind: Namespace" \
  "$(printf '%s\n' "$rendered" | grep -m1 '^kind:')"
overlay "$work/base" kubernetes "namespace: $p-base" "namePrefix: $p-"
out=$(kubectl apply -k "$work/base" 2>&1)
check "kubectl apply -k of the base applies in one go to a fresh namespace" 0 $? || echo "$out"
check "the Deployment runs two replicas with leader election" "2 run --config /etc/jobsync/agent.yaml" \
  "$(kubectl get deployment -n "$p-base" "$p-jobsync" -o jsonpath='{.spec.replicas} {.spec.template.spec.containers[0].args[*]}')"
# The largest peak RSS of the agent at 10,000 jobs in bench/RESULTS.md (the table of its section
# "Memory and webhook latency at 10,000"): "| run ... | first sync | webhook | 942 MB | ... |".
peak=$(awk '/^## Memory and webhook latency at 10,000/ {on = 1; next} /^## / {on = 0}
  on && /^\| / && $0 ~ / MB \|/ {split($0, cell, "|"); v = cell[5]; gsub(/[^0-9]/, "", v);
  if (v + 0 > max) max = v + 0} END {print max + 0}' "$src/bench/RESULTS.md")
limit=$(kubectl get deployment -n "$p-base" "$p-jobsync" \
  -o jsonpath='{.spec.template.spec.containers[0].resources.limits.memory}')
[ "$peak" -gt 0 ] && [ -n "$limit" ] && [ "$(bytes "$limit")" -ge "$(bytes "${peak}M")" ]
check "the memory limit ($limit) covers the peak RSS at 10,000 jobs in bench/RESULTS.md (${peak} MB)" 0 $?

grep -q '^    leader-elect: true$' "$src/deploy/kubernetes/config.yaml"
check "the configuration turns leader election on" 0 $?

sa="system:serviceaccount:$p-base:$p-jobsync"
as_agent() { kubectl auth can-i --as="$sa" "$@" 2>/dev/null; }
check "base: the agent may watch Jobs everywhere" yes "$(as_agent watch jobs.batch --all-namespaces)"
check "base: the agent may record Events" yes "$(as_agent create events -n "$p-jobs")"
check "base: the agent may watch JobSets everywhere" yes "$(as_agent watch jobsets.jobset.x-k8s.io --all-namespaces)"
check "base: the agent may deactivate Kueue Workloads" yes "$(as_agent update workloads.kueue.x-k8s.io -n "$p-jobs")"
check "base: the agent may watch DLRover ElasticJobs everywhere" yes "$(as_agent watch elasticjobs.elastic.iml.github.io --all-namespaces)"
check "base: the agent may watch KubeRay RayJobs everywhere" yes "$(as_agent watch rayjobs.ray.io --all-namespaces)"
check "base: the agent may make and delete ScalePlans" "yes yes" \
  "$(as_agent create scaleplans.elastic.iml.github.io -n "$p-jobs") $(as_agent delete scaleplans.elastic.iml.github.io -n "$p-jobs")"
check "base: the agent may not read Secrets" no "$(as_agent get secrets -n "$p-base")"
check "base: the agent may not delete namespaces" no "$(as_agent delete namespaces)"
check "base: the agent may not touch Leases outside its namespace" no "$(as_agent update leases.coordination.k8s.io -n default)"
check "base: the agent may not change RBAC" no "$(as_agent create clusterrolebindings)"

# A real sync with the base's identity: one job in a namespace the agent creates, state in a
# ConfigMap, then the Lease.
kubeconfig_for "$work/base.kubeconfig" "$p-base" "$p-jobsync"
add_job "$work/repo-base" "$p-jobs" trainer
agent=("$jobsync" run --repo "$work/repo-base" --branch main --instance "$p-base" --cache-dir "$work/cache"
  --kubeconfig "$work/base.kubeconfig" --state "configmap:$p-base/state-$run")
RAY_ADDRESS= timeout 120 "${agent[@]}" --once --listen 127.0.0.1:0 >"$work/base-once.log" 2>&1
check "base: jobsync run --once as the ServiceAccount: in sync" 0 $? || cat "$work/base-once.log"
check "base: the job was created with the agent's identity" 2 \
  "$(kubectl get job -n "$p-jobs" trainer-worker -o jsonpath='{.spec.parallelism}')"
check "base: the state is in the ConfigMap" 1 \
  "$(kubectl get configmap -n "$p-base" "state-$run" -o jsonpath='{.data.state\.json}' | grep -c "kubernetes/$p-jobs/trainer")"

port=$(free_port)
RAY_ADDRESS= "${agent[@]}" --leader-elect --lease-namespace "$p-base" --lease-name "lease-$run" \
  --identity "pod-$run" --listen "127.0.0.1:$port" >"$work/base-run.log" 2>&1 &
pid=$!
wait_for "base: the ServiceAccount can hold the Lease" "pod-$run" \
  kubectl get lease -n "$p-base" "lease-$run" -o jsonpath='{.spec.holderIdentity}'
kill -TERM "$pid"
wait "$pid"
check "base: SIGTERM: exit 0" 0 $? || cat "$work/base-run.log"

# ---- the namespace-scoped variant ------------------------------------------------------------
rendered=$(kubectl kustomize "$src/deploy/kubernetes-namespaced" 2>&1)
check "kubectl kustomize deploy/kubernetes-namespaced renders" 0 $?
check "the namespaced variant has no cluster-scoped RBAC" "" \
  "$(printf '%s\n' "$rendered" | grep -E '^kind: Cluster(Role|RoleBinding)$')"
check "the namespaced variant: a Role and RoleBinding jobsync per allowed namespace" \
  "Role ml-team-a Role ml-team-b RoleBinding ml-team-a RoleBinding ml-team-b" \
  "$(printf '%s\n' "$rendered" | awk '/^kind:/ {k = $2} /^[a-z]/ {m = ($1 == "metadata:")}
      m && /^  name:/ {n = $2} m && /^  namespace:/ {ns = $2}
      /^---$/ {if (n == "jobsync" && (k == "Role" || k == "RoleBinding")) printf "%s %s ", k, ns; n = ""}
      END {if (n == "jobsync" && (k == "Role" || k == "RoleBinding")) printf "%s %s ", k, ns}' |
      sed 's/ $//')"

# The allowed namespaces exist before (the variant never creates them); a third has no Role.
for ns in "$p-a" "$p-b" "$p-c"; do kubectl create namespace "$ns" >/dev/null; done
overlay "$work/namespaced" kubernetes-namespaced "patches:" \
  "  - target: {namespace: jobsync-system}" \
  "    patch: '[{\"op\": \"replace\", \"path\": \"/metadata/namespace\", \"value\": \"$p-system\"}]'" \
  "  - target: {kind: Namespace, name: jobsync-system}" \
  "    patch: '[{\"op\": \"replace\", \"path\": \"/metadata/name\", \"value\": \"$p-system\"}]'" \
  "  - target: {kind: RoleBinding}" \
  "    patch: '[{\"op\": \"replace\", \"path\": \"/subjects/0/namespace\", \"value\": \"$p-system\"}]'" \
  "  - target: {namespace: ml-team-a}" \
  "    patch: '[{\"op\": \"replace\", \"path\": \"/metadata/namespace\", \"value\": \"$p-a\"}]'" \
  "  - target: {namespace: ml-team-b}" \
  "    patch: '[{\"op\": \"replace\", \"path\": \"/metadata/namespace\", \"value\": \"$p-b\"}]'" \
  "  - target: {kind: Deployment}" \
  "    patch: '[{\"op\": \"replace\", \"path\": \"/spec/template/spec/containers/0/args/3\", \"value\": \"--allow-namespace=$p-a,$p-b\"}]'"
out=$(kubectl apply -k "$work/namespaced" 2>&1)
check "kubectl apply -k of the namespaced variant applies" 0 $? || echo "$out"

sa="system:serviceaccount:$p-system:jobsync"
check "namespaced: the agent may watch Jobs in both allowed namespaces" "yes yes" \
  "$(as_agent watch jobs.batch -n "$p-a") $(as_agent watch jobs.batch -n "$p-b")"
check "namespaced: the agent may list pods in an allowed namespace" yes "$(as_agent list pods -n "$p-a")"
check "namespaced: the agent may not watch Jobs cluster-wide" no "$(as_agent watch jobs.batch --all-namespaces)"
check "namespaced: the agent may not read pods cluster-wide" no "$(as_agent list pods --all-namespaces)"
check "namespaced: the agent may not create Jobs in a third namespace" no "$(as_agent create jobs.batch -n "$p-c")"
check "namespaced: the agent may neither read nor create Namespaces" "no no" \
  "$(as_agent get namespaces) $(as_agent create namespaces)"
check "namespaced: the agent keeps its Lease and state in its own namespace" "yes yes" \
  "$(as_agent update leases.coordination.k8s.io -n "$p-system") $(as_agent update configmaps -n "$p-system")"

# The real agent with the variant's identity and with the arguments of its Deployment (less
# `run --config FILE`), syncing a job into each allowed namespace and one into the third.
kubeconfig_for "$work/namespaced.kubeconfig" "$p-system" jobsync
read -ra variant_args <<<"$(kubectl get deployment -n "$p-system" jobsync \
  -o jsonpath='{.spec.template.spec.containers[0].args[*]}')"
check "namespaced: the Deployment runs the agent with its allowed namespaces" \
  "--allow-namespace=$p-a,$p-b --no-create-namespaces" "${variant_args[*]:3}"
for ns in "$p-a" "$p-b" "$p-c"; do add_job "$work/repo-ns" "$ns" "trainer-${ns##*-}"; done
agent=("$jobsync" run --repo "$work/repo-ns" --branch main --instance "$p-ns" --cache-dir "$work/cache"
  --kubeconfig "$work/namespaced.kubeconfig" --state "configmap:$p-system/state-$run"
  "${variant_args[@]:3}")
RAY_ADDRESS= timeout 120 "${agent[@]}" --once --listen 127.0.0.1:0 >"$work/ns-once.log" 2>&1
check "namespaced: jobsync run --once ends with 1 (not in sync: the third namespace), not hung (124)" 1 $?
check "namespaced: the jobs in both allowed namespaces were created" "2 2" \
  "$(kubectl get job -n "$p-a" trainer-a-worker -o jsonpath='{.spec.parallelism}') $(kubectl get job -n "$p-b" trainer-b-worker -o jsonpath='{.spec.parallelism}')"
check "namespaced: nothing was created in the third namespace" "" \
  "$(kubectl get jobs,services -n "$p-c" -o name 2>&1)"
grep -q "job trainer-c in namespace $p-c is outside the allowlist (--allow-namespace $p-a,$p-b)" "$work/ns-once.log"
check "namespaced: the agent says the third namespace is outside its allowlist" 0 $? || cat "$work/ns-once.log"
check "namespaced: the state is in the ConfigMap" 2 \
  "$(kubectl get configmap -n "$p-system" "state-$run" -o jsonpath='{.data.state\.json}' | grep -o "kubernetes/$p-[ab]/trainer-[ab]" | sort -u | wc -l)"

# Allowed the third namespace too, but without a Role there: the listing is refused, and the
# agent says which namespace and why, at once.
start=$SECONDS
RAY_ADDRESS= timeout 120 "${agent[@]}" --allow-namespace "$p-a,$p-b,$p-c" --once --listen 127.0.0.1:0 \
  >"$work/ns-refused.log" 2>&1
code=$?
check "namespaced, a third namespace without a Role: exit 1 (not in sync) within 60 s" "1 yes" \
  "$code $([ $((SECONDS - start)) -lt 60 ] && echo yes || echo "no ($((SECONDS - start)) s)")"
grep -q "cannot read the Jobs in namespace $p-c on the cluster: .*forbidden" "$work/ns-refused.log"
check "namespaced, a third namespace without a Role: the error names it and the refusal" 0 $? ||
  cat "$work/ns-refused.log"

# The systemd unit, with ExecStart pointing at the binary just built.
sed "s|/usr/local/bin/jobsync|$jobsync|" "$src/deploy/systemd/jobsync.service" >"$work/jobsync.service"
out=$(systemd-analyze verify "$work/jobsync.service" 2>&1)
check "systemd-analyze verify accepts the unit" "" "$out"

finish
