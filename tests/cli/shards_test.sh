#!/usr/bin/env bash
# Sharding (issue #24): three agents, `--shard 0/3`, `1/3` and `2/3`, split a repository of
# $SHARDS_JOBS one-pod jobs (default 1,500; kwok runs the pods) in 12 namespaces, served by a git daemon on
# loopback, against the real kube-apiserver; each shard's state in its own ConfigMap, a Lease per
# shard (4 s lease duration).
#   1. Every job is created exactly once, each by the agent of its shard; every shard's Lease is
#      held by its own agent.
#   2. Agent 1 is killed (SIGKILL): another agent takes shard 1 over within the lease duration (plus
#      its retry), and a change pushed to a shard-1 job is applied by it; nothing is created twice
#      and nothing deleted.
#   3. A job moved from its namespace's shard to another with the jobsync.dev/shard label is handed
#      over: patched (not recreated) by its new shard only after the old shard let it go; the old
#      shard's inventory drops it, the new shard's holds it.
#   4. A job removed from Git is pruned (--prune) by its own shard's agent, and no other job is.
#   5. Agent 1 comes back: it claims shard 1 and the stand-in hands it back.
#   6. `jobsync status --server A --server B --server C` merges the replicas: every job once.
# Usage: shards_test.sh JOBSYNC_BINARY SOURCE_DIR   (needs `scripts/cluster up`; fails without it)
set -uo pipefail
jobsync=$1
src=$2
source "$(dirname "$0")/testlib.sh"
require_cluster "$src"
unset RAY_ADDRESS  # Kubernetes only

n=${SHARDS_JOBS:-1500}
run=$$
instance="shards-$run"
prefix="sh$run"
lease="shards-test-$run"
work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null; done
  [ -f "$work/daemon.pid" ] && kill "$(cat "$work/daemon.pid")" 2>/dev/null
  for i in $(seq -f '%02g' 0 11); do
    kubectl delete --raw "/apis/batch/v1/namespaces/$prefix-$i/jobs" >/dev/null 2>&1
    kubectl delete namespace "$prefix-$i" --wait=false >/dev/null 2>&1
  done
  for i in 0 1 2; do
    kubectl delete lease -n default "$lease-shard-$i" >/dev/null 2>&1
    kubectl delete configmap -n default "$instance-state-shard-$i" >/dev/null 2>&1
  done
  if [ "$failed" -ne 0 ]; then
    for log in "$work"/*.log; do echo "--- $log (last 20 lines)"; tail -n 20 "$log"; done
  fi
  keep_logs "$work"
  rm -rf "$work"
}
trap cleanup EXIT

# The shard of a namespace, as the agent computes it (FNV-1a 32 modulo 3).
shard_of() {
  python3 -c "
h = 2166136261
for c in '$1'.encode():
    h = ((h ^ c) * 16777619) % 2**32
print(h % 3)"
}

git_port=$(free_port)
mkdir -p "$work/srv" "$work/wc"
git init -q --bare -b main "$work/srv/jobs.git"
git daemon --reuseaddr --base-path="$work/srv" --export-all --enable=receive-pack \
  --listen=127.0.0.1 --port="$git_port" --pid-file="$work/daemon.pid" --detach "$work/srv"
remote="git://127.0.0.1:$git_port/jobs.git"
git -C "$work/wc" init -q -b main && git -C "$work/wc" remote add origin "$remote"
python3 - "$work/wc" "$n" "$prefix" <<'PY'
import os, sys
root, n, prefix = sys.argv[1], int(sys.argv[2]), sys.argv[3]
for i in range(n):
    ns = "%s-%02d" % (prefix, i % 12)
    os.makedirs(os.path.join(root, ns), exist_ok=True)
    with open(os.path.join(root, ns, "job-%05d.yaml" % i), "w") as f:
        f.write("""apiVersion: jobsync.dev/v1alpha1
kind: TrainingJob
metadata: {name: job-%05d, namespace: %s}
spec:
  backend: kubernetes
  image: trainer:v1
  command: [python, train.py]
  roles: {worker: {replicas: 1, resources: {cpu: 100m}}}
""" % (i, ns))
PY
for i in $(seq -f '%02g' 0 11); do kubectl create namespace "$prefix-$i" >/dev/null; done
commit() {  # commit MESSAGE
  git -C "$work/wc" add -A && git -C "$work/wc" -c user.name=Ada -c user.email=ada@example.com \
    commit -qm "$1" && git -C "$work/wc" push -q origin main || { echo "FAIL: cannot push"; exit 1; }
}
commit "Add $n jobs"

ports=("$(free_port)" "$(free_port)" "$(free_port)")
start_agent() {  # start_agent INDEX
  "$jobsync" run --repo "$remote" --branch main --instance "$instance" --interval 2s \
    --cache-dir "$work/cache-$1" --listen "127.0.0.1:${ports[$1]}" --log-format json \
    --state "configmap:default/$instance-state" --allow-backend kubernetes \
    --prune --shard "$1/3" --lease-name "$lease" --lease-namespace default --lease-duration 4s \
    --identity "agent-$1" >>"$work/agent-$1.log" 2>&1 &
  echo $! >"$work/agent-$1.pid"
  pids+=($!)
}
for i in 0 1 2; do start_agent "$i"; done

jobs_made() { kubectl get jobs -A -l "jobsync.dev/instance=$instance" --no-headers 2>/dev/null | wc -l; }
holder() { kubectl get lease -n default "$lease-shard-$1" -o jsonpath='{.spec.holderIdentity}' 2>/dev/null; }
# Every apply log line of the agents, in time order: "AGENT ACTION JOB RESULT".
applies() {
  for i in 0 1 2; do
    python3 -c "
import json, sys
for line in open(sys.argv[1]):
    try: e = json.loads(line)
    except ValueError: continue
    if e.get('msg') == 'apply': print(e['time'], sys.argv[2], e['action'], e['job'], e['result'])" \
      "$work/agent-$i.log" "agent-$i"
  done | sort | cut -d' ' -f2-
}

# ---- 1. every job created once, by its own shard -------------------------------------------------
wait_seconds=240 wait_for "all $n jobs created" "$n" jobs_made || stop
for i in 0 1 2; do check "shard $i held by its own agent" "agent-$i" "$(holder "$i")"; done
check "each job created once" "$n" "$(applies | awk '$2 == "create" && $4 == "ok"' | awk '{print $3}' | sort -u | wc -l)"
# The Jobs' UIDs: a Job deleted and created again, or created by two agents, changes them. (Log
# lines cannot say it: a create that timed out is retried, and one the apiserver refuses as
# already made is logged again.)
uids() {
  kubectl get jobs -A -l "jobsync.dev/instance=$instance" \
    -o jsonpath='{range .items[*]}{.metadata.uid}{"\n"}{end}' | sort | md5sum
}
uids_before=$(uids)
wrong=$(applies | awk '$2 == "create" {print $1, $3}' | python3 -c "
import sys
def shard(ns):
    h = 2166136261
    for c in ns.encode():
        h = ((h ^ c) * 16777619) % 2**32
    return h % 3
for line in sys.stdin:
    agent, job = line.split()
    if agent != 'agent-%d' % shard(job.split('/')[1]):
        print(agent, job)" | head -3)
check "each job created by the agent of its namespace's shard" "" "$wrong"

# ---- 2. agent 1 killed: its shard taken over -----------------------------------------------------
ns1=""
for i in $(seq -f '%02g' 0 11); do
  [ "$(shard_of "$prefix-$i")" == 1 ] && { ns1="$prefix-$i"; break; }
done
[ -n "$ns1" ] || { check "a namespace falls to shard 1" "yes" "no"; stop; }
kill -9 "$(cat "$work/agent-1.pid")"
killed=$(date +%s.%N)
wait_seconds=20 wait_for "shard 1 taken over by another agent" "yes" \
  bash -c "h=\$(kubectl get lease -n default $lease-shard-1 -o jsonpath='{.spec.holderIdentity}'); [ \"\$h\" == agent-0 ] || [ \"\$h\" == agent-2 ] && echo yes"
took=$(echo "$(date +%s.%N) - $killed" | bc)
echo "     (taken over ${took} s after the kill; lease duration 4 s)"
check "taken over within the lease duration plus a retry" 1 "$(echo "$took < 8" | bc)"
stand_in=$(holder 1)
target=$(ls "$work/wc/$ns1" | head -1)
target_job=${target%.yaml}
sed -i 's/replicas: 1,/replicas: 2,/' "$work/wc/$ns1/$target"
commit "Scale $target_job"
wait_seconds=30 wait_for "the change to a shard-1 job applied by the stand-in" 2 \
  kubectl get job -n "$ns1" "$target_job-worker" -o jsonpath='{.spec.parallelism}'
check "the stand-in applied it" "$stand_in scale" \
  "$(applies | awk -v j="kubernetes/$ns1/$target_job" '$3 == j && $2 != "create" {print $1, $2}' | tail -1)"
check "nothing created twice after the takeover (the same Jobs, by UID)" "$uids_before" "$(uids)"
check "nothing deleted or recreated" 0 "$(applies | awk '$2 == "delete" || $2 == "update"' | wc -l)"

# ---- 3. a job moved between shards by its label ---------------------------------------------------
ns0=""
for i in $(seq -f '%02g' 0 11); do
  [ "$(shard_of "$prefix-$i")" == 0 ] && { ns0="$prefix-$i"; break; }
done
moved_file=$(ls "$work/wc/$ns0" | head -1)
moved=${moved_file%.yaml}
uid_before=$(kubectl get job -n "$ns0" "$moved-worker" -o jsonpath='{.metadata.uid}')
sed -i "s/^metadata: {name: $moved, namespace: $ns0}/metadata: {name: $moved, namespace: $ns0, labels: {jobsync.dev\/shard: \"2\"}}/" \
  "$work/wc/$ns0/$moved_file"
commit "Move $moved to shard 2"
spec_label() {
  kubectl get job -n "$ns0" "$moved-worker" -o jsonpath='{.metadata.annotations.jobsync\.dev/applied-spec}' |
    python3 -c "import json, sys; print(json.load(sys.stdin)['metadata'].get('labels', {}).get('jobsync.dev/shard', ''))" 2>/dev/null
}
wait_seconds=40 wait_for "the moved job patched with its new label" 2 spec_label
check "patched in place (same Job)" "$uid_before" "$(kubectl get job -n "$ns0" "$moved-worker" -o jsonpath='{.metadata.uid}')"
check "patched by shard 2's agent only" "agent-2 patch" \
  "$(applies | awk -v j="kubernetes/$ns0/$moved" '$3 == j && $2 != "create" {print $1, $2}' | sort -u | tr '\n' ' ' | sed 's/ $//')"
inventory_has() {  # inventory_has SHARD KEY: yes or no
  kubectl get configmap -n default "$instance-state-shard-$1" -o jsonpath='{.data.state\.json}' 2>/dev/null |
    python3 -c "import json, sys; print('yes' if any(e['key'] == sys.argv[1] for e in json.load(sys.stdin)['inventory']) else 'no')" "$2"
}
wait_seconds=20 wait_for "shard 0's inventory let the moved job go" no inventory_has 0 "kubernetes/$ns0/$moved"
check "shard 2's inventory holds it" yes "$(inventory_has 2 "kubernetes/$ns0/$moved")"
check "shard 0 logged the hand-over" 1 "$(grep -c "\"handed over\".*$moved\|$moved.*\"handed over\"" "$work/agent-0.log")"

# ---- 3b. a job deleted from Git is pruned by its own shard only ---------------------------------
ns2=""
for i in $(seq -f '%02g' 0 11); do
  [ "$(shard_of "$prefix-$i")" == 2 ] && { ns2="$prefix-$i"; break; }
done
gone_file=$(ls "$work/wc/$ns2" | head -1)
gone=${gone_file%.yaml}
git -C "$work/wc" rm -q "$ns2/$gone_file"
commit "Remove $gone"
wait_seconds=30 wait_for "the removed job pruned" "" \
  kubectl get job -n "$ns2" "$gone-worker" -o name --ignore-not-found
check "pruned by shard 2's agent, the only delete of the run" "agent-2 delete kubernetes/$ns2/$gone ok" \
  "$(applies | awk '$2 == "delete" || $2 == "update"' | tr '\n' ' ' | sed 's/ $//')"
check "every other job still there" "$((n - 1))" "$(jobs_made)"

# ---- 4. agent 1 back: shard 1 handed back ---------------------------------------------------------
start_agent 1
wait_seconds=20 wait_for "shard 1 handed back to its own agent" agent-1 holder 1
sed -i 's/replicas: 2,/replicas: 3,/' "$work/wc/$ns1/$target"
commit "Scale $target_job again"
wait_seconds=30 wait_for "agent 1 applies its shard again" 3 \
  kubectl get job -n "$ns1" "$target_job-worker" -o jsonpath='{.spec.parallelism}'
check "by agent 1" "agent-1 scale" \
  "$(applies | awk -v j="kubernetes/$ns1/$target_job" '$3 == j && $2 != "create" {print $1, $2}' | tail -1)"

# ---- 5. the merged status ------------------------------------------------------------------------
merged=$("$jobsync" status -o json --server "http://127.0.0.1:${ports[0]}" \
  --server "http://127.0.0.1:${ports[1]}" --server "http://127.0.0.1:${ports[2]}" |
  python3 -c "import json, sys; s = json.load(sys.stdin); print(len(s['jobs']), len({j['key'] for j in s['jobs']}), len(s['shards']))")
check "the merged status lists every job once, and the three shards" "$((n - 1)) $((n - 1)) 3" "$merged"
"$jobsync" status --server "http://127.0.0.1:${ports[0]}" --server "http://127.0.0.1:${ports[1]}" \
  --server "http://127.0.0.1:${ports[2]}" >"$work/table.txt"
check "the table names each shard's holder" "shards: 0 led by agent-0, 1 led by agent-1, 2 led by agent-2" \
  "$(grep '^shards:' "$work/table.txt")"
check "no agent crashed" "" "$(for i in 0 1 2; do kill -0 "$(cat "$work/agent-$i.pid")" 2>/dev/null || echo "agent-$i"; done)"
finish
