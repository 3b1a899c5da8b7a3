#!/usr/bin/env bash
# Sharding at scale (bench/RESULTS.md, "Sharding"): N one-replica Kubernetes jobs (default 30,000)
# in 30 namespaces, served by a git daemon on loopback, on the local control plane with the
# kube-controller-manager paused (SIGSTOP; resumed at the end) as bench/agent_at_scale.sh does.
#   peer      one unsharded agent (`jobsync run`) syncs a repository of N jobs: time until every Job
#             exists, and its peak and current resident memory
#   sharded   three agents (`--shard 0/3`, `1/3`, `2/3`, state in ConfigMaps, 4 s leases) sync
#             another repository of N jobs: the same time, and each agent's memory
#   takeover  agent 1 is killed (SIGKILL): the time until another agent holds shard 1's Lease, and
#             until a change pushed to a shard-1 job is applied; Jobs created twice (must be 0)
# Usage: [BENCH_JOBSYNC=BINARY] bench/shards_at_scale.sh [N]   (needs scripts/cluster up and
# build/jobsync, or the build BENCH_JOBSYNC names, e.g. a copy kept while build/ is rebuilt; JSON lines)
set -euo pipefail
cd "$(dirname "$0")/.."
# One run at a time of the benchmarks that pause the kube-controller-manager: overlapping runs
# each take the pause for the other's, and the one ending last can leave it paused for good.
exec 9>"${TMPDIR:-/tmp}/jobsync-bench-kcm.lock"
flock 9
n=${1:-30000}
eval "$(scripts/cluster env)"
kubectl version --request-timeout=5s >/dev/null || { echo "no cluster: run scripts/cluster up" >&2; exit 1; }
jobsync=${BENCH_JOBSYNC:-$PWD/build/jobsync}
work=$(mktemp -d)
run=$$
namespaces=30
kcm=$( (scripts/cluster status || true) | awk '$1 == "kube-controller-manager" {print $4}')  # status fails while it is paused
[ -n "$kcm" ] && [ "$kcm" != "-" ] || { echo "kube-controller-manager is not running" >&2; exit 1; }
pids=()
pauser=""
cleanup() {
  set +e  # every step runs, whatever failed before
  for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null; done
  [ -f "$work/daemon.pid" ] && kill "$(cat "$work/daemon.pid")" 2>/dev/null
  for ns in $(kubectl get namespaces -o name | sed -n "s|^namespace/\(\(pe\|sh\)$run-.*\)|\1|p"); do
    kubectl delete --raw "/apis/batch/v1/namespaces/$ns/jobs" >/dev/null 2>&1 || true
    kubectl delete --raw "/api/v1/namespaces/$ns/services" >/dev/null 2>&1 || true
  done
  [ -n "$pauser" ] && kill "$pauser" 2>/dev/null
  # Resumed always: the lock above keeps other benchmarks that pause it from running meanwhile.
  # (It used to be left paused when another such script seemed to run; a fork of this one
  # itself, a pipeline's subshell, could seem to, and the 30,000-job run left it paused.)
  kill -CONT "$kcm" 2>/dev/null
  kubectl get namespaces -o name | grep -E "^namespace/(pe|sh)$run-" | xargs -r kubectl delete --wait=false >/dev/null
  for i in 0 1 2; do
    kubectl delete lease -n default "bench-$run-shard-$i" >/dev/null 2>&1
    kubectl delete configmap -n default "sh$run-state-shard-$i" >/dev/null 2>&1
  done
  rm -rf "$work"
}
trap cleanup EXIT
trap "exit 130" INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
git_port=$(free_port)
mkdir -p "$work/srv"
for tag in pe sh; do
  python3 bench/generate_repo.py "$n" "$work/$tag" --kubernetes-only --one-replica --commits 0 \
    --namespaces "$namespaces" --namespace-prefix "$tag$run" >/dev/null
  git clone -q --bare "$work/$tag" "$work/srv/$tag.git"
  git clone -q "$work/srv/$tag.git" "$work/wc-$tag"
  git -C "$work/wc-$tag" remote set-url origin "git://127.0.0.1:$git_port/$tag.git"
  for i in $(seq -f '%02g' 0 $((namespaces - 1))); do echo "$tag$run-$i"; done |
    xargs -n 1 kubectl create namespace >/dev/null
done
git daemon --reuseaddr --base-path="$work/srv" --export-all --enable=receive-pack \
  --listen=127.0.0.1 --port="$git_port" --pid-file="$work/daemon.pid" --detach "$work/srv"
sleep 0.5
# Kept paused, even if another benchmark sharing the cluster resumes it when it ends.
(while kill -STOP "$kcm" 2>/dev/null; do sleep 1; done) &
pauser=$!

agent() {  # agent TAG NAME [FLAGS...]: starts an agent on repository TAG, logging to NAME.log
  local tag=$1 name=$2
  shift 2
  "$jobsync" run --repo "git://127.0.0.1:$git_port/$tag.git" --branch main --instance "$tag$run" \
    --cache-dir "$work/cache-$name" --listen "127.0.0.1:$(free_port)" --interval 2s --log-format json \
    --allow-backend kubernetes "$@" >"$work/$name.log" 2>&1 &
  pids+=($!)
  echo $! >"$work/$name.pid"
}
jobs_of() { kubectl get jobs -A -l "jobsync.dev/instance=$1" --no-headers 2>/dev/null | wc -l; }
wait_jobs() {  # wait_jobs INSTANCE COUNT: waits until that many Jobs exist (up to 30 min)
  for _ in $(seq 1 1800); do [ "$(jobs_of "$1")" -ge "$2" ] && return 0; sleep 1; done
  echo "the agents did not create $2 Jobs" >&2; exit 1
}
memory() {  # memory NAME: "peak current" MB
  awk '/^VmHWM|^VmRSS/ {v[$1] = $2} END {printf "%.0f %.0f", v["VmHWM:"] / 1024, v["VmRSS:"] / 1024}' \
    "/proc/$(cat "$work/$1.pid")/status"
}
creates() { cat "$work"/sh-*.log | grep -c '"msg":"apply".*"action":"create"\|"action":"create".*"msg":"apply"' || true; }

# ---- peer: one agent ------------------------------------------------------------------------------
start=$(date +%s.%N)
agent pe peer --state "$work/peer-state.json"
wait_jobs "pe$run" "$n"
peer_s=$(echo "$(date +%s.%N) - $start" | bc)
read -r peer_peak peer_rss <<<"$(memory peer)"
kill "$(cat "$work/peer.pid")"
printf '{"scenario": "first sync, one agent (peer)", "jobs": %d, "seconds": %.1f, "peak_rss_mb": %d, "rss_mb": %d}\n' \
  "$n" "$peer_s" "$peer_peak" "$peer_rss"

# ---- sharded: three agents ------------------------------------------------------------------------
start=$(date +%s.%N)
for i in 0 1 2; do
  agent sh "sh-$i" --state "configmap:default/sh$run-state" --shard "$i/3" --lease-name "bench-$run" \
    --lease-namespace default --lease-duration 4s --identity "agent-$i"
done
wait_jobs "sh$run" "$n"
sharded_s=$(echo "$(date +%s.%N) - $start" | bc)
printf '{"scenario": "first sync, three shards", "jobs": %d, "seconds": %.1f, "ratio_to_one_agent": %.2f' \
  "$n" "$sharded_s" "$(echo "$sharded_s / $peer_s" | bc -l)"
for i in 0 1 2; do
  read -r peak rss <<<"$(memory "sh-$i")"
  printf ', "agent_%d_peak_rss_mb": %d, "agent_%d_rss_mb": %d' "$i" "$peak" "$i" "$rss"
done
echo "}"

# ---- takeover ------------------------------------------------------------------------------------
sleep 10  # every shard through its first cycles
holder() { kubectl get lease -n default "bench-$run-shard-1" -o jsonpath='{.spec.holderIdentity}'; }
# A job of shard 1 (FNV-1a of its namespace modulo 3, as the agent computes it).
ns1=$(python3 -c "
for i in range($namespaces):
    ns, h = 'sh$run-%02d' % i, 2166136261
    for c in ns.encode():
        h = ((h ^ c) * 16777619) % 2**32
    if h % 3 == 1:
        print(ns); break")
# (a glob, not `ls | head`: with 1,000 files a namespace, head's early exit is ls's SIGPIPE, which
# pipefail makes the script's exit)
files=("$work/wc-sh/$ns1"/*.yaml)
file=$(basename "${files[0]}")
job=${file%.yaml}
kill -9 "$(cat "$work/sh-1.pid")"
killed=$(date +%s.%N)
for _ in $(seq 1 600); do
  h=$(holder)
  [ "$h" == agent-0 ] || [ "$h" == agent-2 ] && break
  sleep 0.1
done
taken=$(echo "$(date +%s.%N) - $killed" | bc)
sed -i "s/replicas: [0-9]*/replicas: 2/" "$work/wc-sh/$ns1/$file"
git -C "$work/wc-sh" -c user.name=Bench -c user.email=bench@example.com commit -qam "Scale $job"
git -C "$work/wc-sh" push -q origin main
pushed=$(date +%s.%N)
# Applied: the stand-in's log says the scale went through (the apiserver accepted it).
scaled() { cat "$work"/sh-*.log | grep '"msg":"apply"' | grep -c "\"action\":\"scale\".*\"job\":\"kubernetes/$ns1/$job\".*\"result\":\"ok\"" || true; }
for _ in $(seq 1 600); do
  [ "$(scaled)" -ge 1 ] && break
  sleep 0.2
done
[ "$(scaled)" -ge 1 ] || { echo "the stand-in did not apply the change within 120 s" >&2; exit 1; }
applied=$(echo "$(date +%s.%N) - $pushed" | bc)
printf '{"scenario": "shard 1 taken over (agent killed)", "jobs": %d, "lease_duration_s": 4, "takeover_s": %.1f, "holder": "%s", "push_to_applied_by_the_stand_in_s": %.1f, "creates_logged": %d, "jobs_created_twice": %d}\n' \
  "$n" "$taken" "$(holder)" "$applied" "$(creates)" "$(( $(creates) - n ))"
