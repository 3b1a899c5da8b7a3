#!/usr/bin/env bash
# Scenario 3 of bench/RESULTS.md: a cold sync of N Kubernetes jobs into the local control plane
# (every object created), by three clients in the same run, each into namespaces of its own:
#   jobsync    `jobsync apply` of a Git repository of N manifests (load, list, plan, create, read
#              each job's health)
#   kubectl    `kubectl apply --server-side -f` of exactly the objects `jobsync render` prints
#   client-go  bench/client_go_peer: the same creates with client-go (QPS and burst 1000,
#              CLIENT_GO_WORKERS at once, default 32), nothing else; built here with `go build`
#              and cached under ~/.cache/jobsync/bench by a hash of its sources
# Namespaces are created beforehand (not timed). Every client runs REPEAT times, in rotating
# order; each run gets new namespaces; after each round they are deleted, and the next round waits
# until they are gone (with their pods), so that it starts on a quiet control plane.
# Usage: bench/cold_sync.sh [N] [REPEAT]    (needs scripts/cluster up; prints JSON lines)
# JOBSYNC=PATH times another jobsync binary (default build/jobsync); BENCH_NAMESPACE_PREFIX=P
# starts every namespace's name with P; BENCH_CLEANUP_WAIT=S waits at most S seconds (default
# 600) for a round's namespaces to go before the next round starts anyway (they cannot go while
# the kube-controller-manager, whose namespace controller deletes them, is paused).
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-1000}
repeat=${2:-3}
eval "$(scripts/cluster env)"
kubectl version --request-timeout=5s >/dev/null || { echo "no cluster: run scripts/cluster up" >&2; exit 1; }
jobsync=${JOBSYNC:-$PWD/build/jobsync}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
namespaces=10
workers=${CLIENT_GO_WORKERS:-32}
prefix=${BENCH_NAMESPACE_PREFIX:-}
cleanup_wait=${BENCH_CLEANUP_WAIT:-600}

peer_binary() {  # prints the path of the client-go peer, building it once per source hash
  local go hash out
  go=$(command -v go || echo /usr/local/go/bin/go)
  hash=$(cat bench/client_go_peer/go.mod bench/client_go_peer/go.sum bench/client_go_peer/main.go |
    sha256sum | cut -c1-16)
  out=$HOME/.cache/jobsync/bench/client_go_peer-$hash
  if [ ! -x "$out" ]; then
    [ -x "$go" ] || { echo "no Go toolchain (go on PATH or /usr/local/go/bin/go): install Go >= 1.24, as scripts/cluster needs" >&2; return 1; }
    mkdir -p "$(dirname "$out")"
    (cd bench/client_go_peer && GOWORK=off GOTOOLCHAIN=local "$go" build -o "$out.tmp" .) >&2 ||
      { echo "building bench/client_go_peer failed (its modules come from the Go module proxy)" >&2; return 1; }
    mv "$out.tmp" "$out"
  fi
  echo "$out"
}
peer=$(peer_binary)

prepare() {  # prepare TAG: a repository, its rendered objects, and its namespaces
  local tag=$1
  python3 bench/generate_repo.py "$n" "$work/$tag" --kubernetes-only --one-replica --commits 0 \
    --namespaces "$namespaces" --namespace-prefix "$tag" >/dev/null
  "$jobsync" render --instance "bench-$tag" "$work/$tag" >"$work/$tag.yaml"
  for i in $(seq -f '%02g' 0 $((namespaces - 1))); do echo "$tag-$i"; done |
    xargs -n 1 kubectl create namespace >/dev/null
}
timed() {  # timed TOOL COMMAND...: runs it, prints {"tool":..., "seconds":...}
  local tool=$1 start end
  shift
  start=$(date +%s.%N)
  "$@" >"$work/last.log" 2>&1 || { echo "$tool failed:" >&2; tail -5 "$work/last.log" >&2; exit 1; }
  end=$(date +%s.%N)
  printf '{"tool": "%s", "jobs": %d, "seconds": %.3f}\n' "$tool" "$n" "$(echo "$end - $start" | bc)"
}
cleanup_namespaces() {  # deletes this run's namespaces and waits until they are gone
  local ns
  for ns in $(kubectl get namespaces -o name | grep -E "^namespace/$prefix(js|kc|cg)$$-"); do
    kubectl delete "$ns" --wait=false >/dev/null || echo "could not delete $ns" >&2
  done
  local names deadline=$((SECONDS + cleanup_wait))
  while [ "$SECONDS" -lt "$deadline" ]; do
    # Read whole before grep -q (which stops at the first match): under pipefail, kubectl killed
    # by SIGPIPE would read as "none left".
    if names=$(kubectl get namespaces -o name); then
      grep -qE "^namespace/$prefix(js|kc|cg)$$-" <<<"$names" || return 0
    fi
    # Pods whose Job went with the namespace can keep the Job controller's tracking finalizer on
    # a loaded control plane (seen here: 1,800 pods stuck for minutes); they are this run's own.
    kubectl get pods -A -o json | python3 -c "
import json, re, sys
for p in json.load(sys.stdin)['items']:
    m = p['metadata']
    if m.get('deletionTimestamp') and m.get('finalizers') and re.match(r'$prefix(js|kc|cg)$$-', m['namespace']):
        print(m['namespace'], m['name'])" |
      xargs -r -P 8 -n 2 sh -c 'kubectl patch pod -n "$0" "$1" --type merge -p "{\"metadata\":{\"finalizers\":null}}" >/dev/null 2>&1' ||
      true  # a pod gone meanwhile is what we wanted
    sleep 1
  done
  echo "namespaces of this run still terminating after ${cleanup_wait}s: the next round starts anyway" >&2
}

tools=(jobsync kubectl client-go)
for r in $(seq 1 "$repeat"); do
  for k in 0 1 2; do
    tool=${tools[$(((k + r) % 3))]}
    case $tool in
      jobsync)
        tag="${prefix}js$$-$r"
        prepare "$tag"
        timed jobsync "$jobsync" apply --repo "$work/$tag" --instance "bench-$tag" \
          --cache-dir "$work/cache" ;;
      kubectl)
        tag="${prefix}kc$$-$r"
        prepare "$tag"
        timed kubectl kubectl apply --server-side --field-manager=bench -f "$work/$tag.yaml" ;;
      client-go)
        tag="${prefix}cg$$-$r"
        prepare "$tag"
        timed client-go "$peer" -workers "$workers" "$work/$tag.yaml" ;;
    esac
  done
  cleanup_namespaces
done
