#!/usr/bin/env bash
# The jobsync binary with a managed cluster's kind of kubeconfig, against the real kube-apiserver:
#   1. $KUBECONFIG of two files (the cluster in one; the user, an exec credential plugin, and the
#      context in the other) with a missing file between them: `jobsync apply` creates the job
#      with the plugin's token, the plugin ran, nothing printed holds the token.
#   2. HTTPS_PROXY: the server is https://kubernetes:PORT, a name only the CONNECT proxy
#      (connect_proxy.py on loopback) resolves; `jobsync plan` works, so every request went
#      through the proxy, and the proxy logged the CONNECTs.
#   3. NO_PROXY naming the server: `jobsync plan` goes straight to "kubernetes", which does not
#      resolve here, so it fails saying so, and the proxy saw nothing.
# Usage: credentials_test.sh JOBSYNC_BINARY SOURCE_DIR   (needs `scripts/cluster up`; fails without it)
set -uo pipefail
jobsync=$1
src=$2
source "$(dirname "$0")/testlib.sh"
require_cluster "$src"

run=$$
instance="creds-test-$run"
ns="creds-$run"
work=$(mktemp -d)
proxy_pid=""
cleanup() {
  [ -n "$proxy_pid" ] && kill "$proxy_pid" 2>/dev/null
  kubectl delete namespace "$ns" --wait=false >/dev/null 2>&1
  rm -f "$HOME/.local/state/jobsync/$instance.state.json"
  keep_logs "$work"
  rm -rf "$work"
}
trap cleanup EXIT

[ -n "${JOBSYNC_TOKEN_AUTH_FILE:-}" ] && [ -f "$JOBSYNC_TOKEN_AUTH_FILE" ] ||
  { echo "FAIL: JOBSYNC_TOKEN_AUTH_FILE is not set: the cluster predates its token file; run scripts/cluster up again"; echo "0 passed, 1 failed"; exit 1; }
token=$(grep ',jobsync-token-a,' "$JOBSYNC_TOKEN_AUTH_FILE" | cut -d, -f1)
register_secret "credentials_test token" "$token"
server=$(kubectl config view --minify -o jsonpath='{.clusters[0].cluster.server}')
port=${server##*:}
ca="$(dirname "$KUBECONFIG")/pki/ca.crt"
kubectl create namespace "$ns" >/dev/null || { echo "FAIL: cannot create namespace $ns"; exit 1; }

mkdir -p "$work/repo/jobs" "$work/clusters" "$work/users/bin"
cat >"$work/repo/jobs/train.yaml" <<EOF
apiVersion: jobsync.dev/v1alpha1
kind: TrainingJob
metadata: {name: train, namespace: $ns}
spec:
  backend: kubernetes
  image: trainer:v1
  roles:
    worker: {replicas: 1}
EOF
git -C "$work/repo" init -q -b main && git -C "$work/repo" add -A &&
  git -C "$work/repo" -c user.name=Ada -c user.email=ada@example.com commit -qm "Add train" ||
  { echo "FAIL: cannot make the repository"; exit 1; }

# The plugin: counts its runs, answers the token (v1 ExecCredential, expiring in a minute).
cat >"$work/users/bin/get-token" <<EOF
#!/bin/sh
echo run >>"$work/plugin.runs"
[ -t 0 ] && echo "stdin is a terminal" >&2 && exit 1
printf '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"%s","expirationTimestamp":"%s"}}' \
  "$token" "\$(date -u -d '+60 seconds' +%Y-%m-%dT%H:%M:%SZ)"
EOF
chmod +x "$work/users/bin/get-token"
# kubeconfigs: clusters/config (SERVER) and users/config (exec user, context)
write_cluster() {
  printf 'clusters:\n- name: local\n  cluster:\n    server: %s\n    certificate-authority: %s\n' "$1" "$ca" \
    >"$work/clusters/config"
}
cat >"$work/users/config" <<'EOF'
current-context: ci
users:
- name: ci-bot
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1
      command: ./bin/get-token
      interactiveMode: Never
contexts:
- name: ci
  context: {cluster: local, user: ci-bot}
EOF

# ---- 1. two files, an exec plugin --------------------------------------------------------------
write_cluster "$server"
export KUBECONFIG_LIST="$work/clusters/config:$work/missing/config:$work/users/config"
out=$(KUBECONFIG=$KUBECONFIG_LIST "$jobsync" apply --repo "$work/repo" --instance "$instance" \
  --cache-dir "$work/cache" 2>&1)
check "apply with the exec plugin: exit 0" 0 $? || printf '%s\n' "$out"
check "apply: the Job exists" "1" "$(kubectl get job -n "$ns" train-worker -o jsonpath='{.spec.parallelism}' 2>&1)"
check "apply: the plugin ran" "yes" "$([ -s "$work/plugin.runs" ] && echo yes || echo no)"
check "apply: its output holds no token" "0" "$(grep -c -- "$token" <<<"$out")"

# ---- 2. through HTTPS_PROXY --------------------------------------------------------------------
python3 "$src/tests/backends/kubernetes/connect_proxy.py" "$work/proxy.port" "$work/proxy.log" \
  --map kubernetes=127.0.0.1 >"$work/proxy.out" 2>&1 &
proxy_pid=$!
for _ in $(seq 1 100); do [ -f "$work/proxy.port" ] && break; sleep 0.05; done
proxy_port=$(cat "$work/proxy.port" 2>/dev/null) || { echo "FAIL: connect_proxy.py did not start"; cat "$work/proxy.out"; exit 1; }
write_cluster "https://kubernetes:$port"  # in the apiserver's certificate; resolved by the proxy only
out=$(KUBECONFIG=$KUBECONFIG_LIST HTTPS_PROXY="http://127.0.0.1:$proxy_port" NO_PROXY=example.com \
  "$jobsync" plan --repo "$work/repo" --instance "$instance" --cache-dir "$work/cache" 2>&1)
check "plan through the proxy: exit 0 (in sync)" 0 $? || printf '%s\n' "$out"
check "the proxy tunnelled jobsync's requests" "yes" \
  "$(grep -q "^CONNECT kubernetes:$port sni=kubernetes" "$work/proxy.log" && echo yes || cat "$work/proxy.log")"

# ---- 3. NO_PROXY bypasses it -------------------------------------------------------------------
before=$(wc -l <"$work/proxy.log")
out=$(KUBECONFIG=$KUBECONFIG_LIST HTTPS_PROXY="http://127.0.0.1:$proxy_port" NO_PROXY=example.com,kubernetes \
  "$jobsync" plan --repo "$work/repo" --instance "$instance" --cache-dir "$work/cache" 2>&1)
check "plan with NO_PROXY: fails (kubernetes does not resolve without the proxy)" "yes" \
  "$([ $? -ne 0 ] && grep -q "https://kubernetes:$port" <<<"$out" && echo yes || printf '%s\n' "$out")"
check "plan with NO_PROXY: the proxy saw nothing" "$before" "$(wc -l <"$work/proxy.log")"

finish
