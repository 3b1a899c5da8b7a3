#!/usr/bin/env bash
# End-to-end test of the agent, `jobsync run`, as an operator runs it: a real Git server
# (git daemon on loopback) that the test pushes commits to, the real local kube-apiserver
# (checked with kubectl, an independent client) and the real Ray head.
#
#   1. An agent converges the clusters to the repository; commits that scale, update, suspend
#      and delete jobs are followed; a Job scaled or deleted by hand and a Ray job stopped by hand
#      are healed; a finished Job deleted by hand is not run again; Kubernetes Events, /metrics
#      (with jobsync_build_info, the process metrics and the last successful sync checked
#      against /proc and the clock),
#      /api/v1/status, `jobsync status` and the status page report it; SIGTERM exits 0.
#   2. An agent that polls once an hour: webhooks with bad or missing signatures get 401 and
#      change nothing, a signed push syncs at once; SIGKILL in the middle of a 30-job sync and a
#      restart: every job exists once, nothing is orphaned.
#   3. Two agents with leader election: one writes; when it is killed the other takes over.
# Usage: agent_test.sh JOBSYNC_BINARY SOURCE_DIR   (needs `scripts/cluster up`; fails without it)
set -uo pipefail
jobsync=$1
src=$2
source "$(dirname "$0")/testlib.sh"
require_cluster "$src" ray

run=$$
instance="agent-test-$run"
work=$(mktemp -d)
namespaces=()
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null; done
  [ -f "$work/daemon.pid" ] && kill "$(cat "$work/daemon.pid")" 2>/dev/null
  for ns in "${namespaces[@]}"; do kubectl delete namespace "$ns" --wait=false >/dev/null 2>&1; done
  # Ray submissions of this instance: stopped, so they do not hold the head's CPUs.
  curl -s "$RAY_ADDRESS/api/jobs/" | python3 -c "
import json, sys
for j in json.load(sys.stdin):
    if (j.get('metadata') or {}).get('jobsync.dev/instance') == '$instance' and j['status'] in ('PENDING', 'RUNNING'):
        print(j['submission_id'])" | while read -r id; do
    curl -s -X POST "$RAY_ADDRESS/api/jobs/$id/stop" >/dev/null
  done
  if [ "$failed" -ne 0 ]; then
    for log in "$work"/*.log; do echo "--- $log (last 40 lines)"; tail -n 40 "$log"; done
  fi
  keep_logs "$work"
  rm -rf "$work"
}
trap cleanup EXIT

# The repository: the examples, in namespaces of this run, plus a job that finishes, served by
# git daemon; the test commits in a clone and pushes.
git_port=$(free_port)
mkdir -p "$work/srv"
git init -q --bare -b main "$work/srv/jobs.git"
git daemon --reuseaddr --base-path="$work/srv" --export-all --enable=receive-pack \
  --listen=127.0.0.1 --port="$git_port" \
  --pid-file="$work/daemon.pid" --detach "$work/srv"
remote="git://127.0.0.1:$git_port/jobs.git"
cp -r "$src/examples/repo" "$work/wc"
cd "$work/wc"
for f in $(find . -name '*.yaml'); do sed -i "s/namespace: \(.*\)/namespace: a$run-\1/" "$f"; done
for ns in vision recsys nlp research batch; do namespaces+=("a$run-$ns"); done
mkdir batch
cat > batch/prep.yaml <<EOF
apiVersion: jobsync.dev/v1alpha1
kind: TrainingJob
metadata:
  name: prep
  namespace: a$run-batch
  labels:
    jobsync.dev/kwok-complete: "true"
spec:
  backend: kubernetes
  image: python:3.11-slim
  command: [python, prep.py]
  roles:
    worker:
      replicas: 1
      resources: {cpu: "1", memory: 1Gi}
EOF
git init -q -b main && git remote add origin "$remote"
commit() {  # commit MESSAGE: commits everything in the clone as Ada and pushes
  git -C "$work/wc" add -A && git -C "$work/wc" -c user.name=Ada -c user.email=ada@example.com commit -qm "$1" &&
    git -C "$work/wc" push -q origin main || { echo "FAIL: cannot push to $remote"; exit 1; }
}
commit "Add jobs"
cd "$src"

# start_agent NAME PORT ARGS...: runs an agent in the background, logging to $work/NAME.log.
start_agent() {
  local name=$1 port=$2
  shift 2
  "$jobsync" run --repo "$remote" --branch main --instance "$instance" --prune \
    --cache-dir "$work/cache-$name" --listen "127.0.0.1:$port" --log-format json "$@" \
    >"$work/$name.log" 2>&1 &
  echo $! >"$work/$name.pid"
  pids+=($!)
}
status_of() { curl -sf "http://127.0.0.1:$1/api/v1/status"; }
# job_field PORT JOB FIELD: a field of one job in the agent's status
job_field() {
  status_of "$1" | python3 -c "
import json, sys
jobs = {j['name']: j for j in json.load(sys.stdin)['jobs']}
print(jobs['$2']['$3'] if '$2' in jobs else 'absent')"
}
all_synced() {  # "yes" when every job of the status is Synced
  status_of "$1" | python3 -c "
import json, sys
s = json.load(sys.stdin)
bad = [j['name'] + ':' + j['sync'] for j in s['jobs'] if j['sync'] != 'Synced']
print('yes' if not bad and s['lastSync']['result'] == 'ok' else ' '.join(bad) or s['lastSync']['message'])"
}
parallelism() { kubectl get job -n "a$run-$1" "$2" -o jsonpath='{.spec.parallelism}'; }
ray_jobs() {  # PENDING/RUNNING submissions of this instance: "name status" lines, sorted
  curl -s "$RAY_ADDRESS/api/jobs/" | python3 -c "
import json, sys
for j in json.load(sys.stdin):
    m = j.get('metadata') or {}
    if m.get('jobsync.dev/instance') == '$instance' and j['status'] in ('PENDING', 'RUNNING'):
        print(m.get('jobsync.dev/job'), j['status'])" | sort
}
# Every role of every job is one Job, and every Job of the instance belongs to a job in Git:
# prints "ok" or what is wrong.
one_job_per_role() {
  local expected=$1  # space-separated namespace/job/role triples
  kubectl get jobs -A -l "jobsync.dev/instance=$instance" -o json | python3 -c "
import collections, json, sys
expected = set('$expected'.split())
seen = collections.Counter()
for j in json.load(sys.stdin)['items']:
    m = j['metadata']
    if m.get('deletionTimestamp'):
        continue
    seen[m['namespace'] + '/' + m['labels']['jobsync.dev/job'] + '/' + m['labels']['jobsync.dev/role']] += 1
dups = sorted(k for k, n in seen.items() if n > 1)
orphans = sorted(set(seen) - expected)
missing = sorted(expected - set(seen))
print('ok' if not (dups or orphans or missing) else 'dups=%s orphans=%s missing=%s' % (dups, orphans, missing))"
}
ready() { curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$1/readyz"; }

# ---- 1. converge, follow commits, heal drift --------------------------------------------------
port_a=$(free_port)
agent_started=$(date +%s)
start_agent a "$port_a" --interval 3s --state "$work/state-a.json"
wait_for "agent A is ready" 200 ready "$port_a" || stop
wait_for "every job Synced" yes all_synced "$port_a" || stop
wait_for "resnet50 runs 4 pods (kubectl)" 4 \
  bash -c "kubectl get pods -n a$run-vision -l jobsync.dev/job=resnet50 --field-selector=status.phase=Running -o name | wc -l"
wait_for "Ray jobs submitted" "$(printf 'lr-sweep RUNNING\nppo-cartpole RUNNING')" ray_jobs
wait_for "prep finished" Succeeded job_field "$port_a" prep health
check "status names the commit's author" Ada "$(job_field "$port_a" resnet50 appliedAuthor)"
table=$("$jobsync" status --server "http://127.0.0.1:$port_a")
check "jobsync status prints the job table" 1 "$(printf '%s\n' "$table" | grep -c "^kubernetes/a$run-vision/resnet50 *Synced *Healthy")"
check "the status page is served" 1 "$(curl -s "http://127.0.0.1:$port_a/" | grep -c '<title>jobsync</title>')"
metrics=$(curl -s "http://127.0.0.1:$port_a/metrics")
check "metrics count created jobs" 1 \
  "$(printf '%s\n' "$metrics" | grep -c '^jobsync_applied_actions_total{action="create",cluster="default",result="ok"} 8$')"
check "metrics carry the applied revision" 1 \
  "$(printf '%s\n' "$metrics" | grep -c "^jobsync_last_applied_revision_info{revision=\"$(git -C "$work/wc" rev-parse HEAD)\"} 1$")"
# What runs and how it is doing: jobsync_build_info, the standard process metrics from /proc,
# and when the last cycle succeeded (a Unix time within this test's run).
check "metrics say which build runs" 1 \
  "$(printf '%s\n' "$metrics" | grep -cE "^jobsync_build_info\{compiler=\"(gcc|clang) [0-9.]+\",revision=\"([0-9a-f]{40}|unknown)\",version=\"$("$jobsync" --version | cut -d' ' -f2)\"\} 1$")"
check "process metrics are exported with their Prometheus types" "counter gauge gauge gauge gauge gauge" \
  "$(for m in process_cpu_seconds_total process_resident_memory_bytes process_virtual_memory_bytes \
       process_open_fds process_max_fds process_start_time_seconds; do
       printf '%s\n' "$metrics" | sed -n "s/^# TYPE $m //p"; done | tr '\n' ' ' | sed 's/ $//')"
agent_pid=$(cat "$work/a.pid" 2>/dev/null)
check "process_open_fds counts the agent's descriptors" yes \
  "$(awk -v fds="$(ls "/proc/$agent_pid/fd" 2>/dev/null | wc -l)" '/^process_open_fds / {
       d = $2 - fds; print (fds > 3 && d * d <= 100) ? "yes" : "no: " $2 " vs " fds }' <<<"$metrics")"
check "process_resident_memory_bytes is the agent's RSS" yes \
  "$(awk -v kb="$(awk '/^VmRSS:/ {print $2}' "/proc/$agent_pid/status" 2>/dev/null)" '/^process_resident_memory_bytes / {
       r = $2 / 1024 / kb; print (kb > 0 && r > 0.5 && r < 2) ? "yes" : "no: " $2 " bytes vs " kb " kB" }' <<<"$metrics")"
check "process_start_time_seconds is when the agent started" yes \
  "$(awk -v started="$agent_started" '/^process_start_time_seconds / {
       d = $2 - started; print (d * d <= 25) ? "yes" : "no: " $2 " vs " started }' <<<"$metrics")"
check "the last successful sync is recent" yes \
  "$(awk -v now="$(date +%s)" -v began="$agent_started" '/^jobsync_last_successful_sync_timestamp_seconds / {
       print ($2 >= began && $2 <= now + 1) ? "yes" : "no: " $2 " not in [" began ", " now "]" }' <<<"$metrics")"

sed -i 's/replicas: 4$/replicas: 6/' "$work/wc/vision/resnet50.yaml"
commit "Scale resnet50 to 6"
wait_for "commit followed: resnet50 scaled to 6 in place" 6 parallelism vision resnet50-worker
wait_for "a Scaled Event on the Job" 1 bash -c \
  "kubectl get events -n a$run-vision --field-selector involvedObject.name=resnet50-worker,reason=Scaled -o name | wc -l"

uid=$(kubectl get job -n "a$run-recsys" wide-deep-worker -o jsonpath='{.metadata.uid}')
sed -i 's/tensorflow:2.17.0/tensorflow:2.18.0/' "$work/wc/recsys/wide-deep.yaml"
sed -i 's/^spec:$/spec:\n  suspend: true/' "$work/wc/nlp/pipeline.yaml"
commit "Bump TF for wide-deep; suspend the NLP pipeline"
wait_for "wide-deep recreated with the new image" tensorflow/tensorflow:2.18.0 \
  kubectl get job -n "a$run-recsys" wide-deep-worker -o jsonpath='{.spec.template.spec.containers[0].image}'
[ "$uid" != "$(kubectl get job -n "a$run-recsys" wide-deep-worker -o jsonpath='{.metadata.uid}')" ]
check "wide-deep Job is a new object" 0 $?
wait_for "bert-pretrain suspended" true kubectl get job -n "a$run-nlp" bert-pretrain-worker -o jsonpath='{.spec.suspend}'

# A Ray job stopped by hand is resumed: a new submission runs.
running_lr_sweep() {  # the submission id of lr-sweep that is RUNNING now
  curl -s "$RAY_ADDRESS/api/jobs/" | python3 -c "
import json, sys
for j in json.load(sys.stdin):
    m = j.get('metadata') or {}
    if m.get('jobsync.dev/instance') == '$instance' and m.get('jobsync.dev/job') == 'lr-sweep' and j['status'] == 'RUNNING':
        print(j['submission_id'])"
}
stopped=$(running_lr_sweep)
curl -s -X POST "$RAY_ADDRESS/api/jobs/$stopped/stop" >/dev/null
resubmitted() { local now; now=$(running_lr_sweep); [ -n "$now" ] && [ "$now" != "$stopped" ] && echo yes; }
wait_for "a Ray job stopped by hand runs again (a new submission)" yes resubmitted
git -C "$work/wc" rm -q ray/tuning.yaml
commit "Drop the Ray jobs"
wait_for "Ray jobs pruned" "" ray_jobs
wait_for "every job Synced after the commits" yes all_synced "$port_a"

# Drift: changes made by hand are reverted.
# resnet50's workers are elastic within [2, 8]: a count outside the bounds is drift.
kubectl patch job -n "a$run-vision" resnet50-worker --type merge -p '{"spec":{"parallelism":1}}' >/dev/null
wait_for "hand-scaled Job (outside its bounds) healed back to 6" 6 parallelism vision resnet50-worker
kubectl delete job -n "a$run-recsys" wide-deep-ps --wait=true >/dev/null
wait_for "hand-deleted Job recreated" 2 parallelism recsys wide-deep-ps
kubectl delete job -n "a$run-batch" prep-worker --wait=true >/dev/null
sleep 8  # more than two cycles at --interval 3s
check "a finished Job deleted by hand is not run again" "" \
  "$(kubectl get jobs -n "a$run-batch" -o name 2>/dev/null)"
check "drift was counted" 1 "$(curl -s "http://127.0.0.1:$port_a/metrics" | grep -c '^jobsync_drift_detected_total{policy="heal"} [1-9]')"
grep -q '"msg":"drift: healing"' "$work/a.log"
check "drift is logged" 0 $?

kill -TERM "$(cat "$work/a.pid")"
wait "$(cat "$work/a.pid")"
check "SIGTERM: agent A exits 0" 0 $?

# ---- 2. webhooks, SIGKILL mid-sync --------------------------------------------------------------
secret="wh-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
register_secret "agent_test webhook secret" "$secret"
printf '%s\n' "$secret" >"$work/webhook-secret"
port_b=$(free_port)
start_agent b "$port_b" --interval 1h --state "$work/state-a.json" --webhook-secret-file "$work/webhook-secret"
wait_for "agent B is ready" 200 ready "$port_b" || stop
check "a restarted agent with the same state changes nothing" 0 \
  "$(curl -s "http://127.0.0.1:$port_b/metrics" | grep -c '^jobsync_applied_actions_total{')"
hook() {  # hook KIND BODY SIGNATURE_HEADER...: prints the HTTP status
  local kind=$1 body=$2
  shift 2
  curl -s -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$port_b/hooks/$kind" \
    -H 'Content-Type: application/json' "$@" --data-binary "$body"
}
sign() { printf '%s' "$1" | openssl dgst -sha256 -hmac "$2" | sed 's/^.*= /sha256=/'; }
body='{"ref":"refs/heads/main","after":"0000000000000000000000000000000000000000"}'
sed -i 's/replicas: 6$/replicas: 3/' "$work/wc/vision/resnet50.yaml"
commit "Scale resnet50 to 3"
check "webhook without signature: 401" 401 "$(hook github "$body" -H 'X-GitHub-Event: push')"
check "webhook with a wrong signature: 401" 401 \
  "$(hook github "$body" -H 'X-GitHub-Event: push' -H "X-Hub-Signature-256: $(sign "$body" wrong-secret)")"
check "gitlab webhook with a wrong token: 401" 401 \
  "$(hook gitlab "$body" -H 'X-Gitlab-Event: Push Hook' -H 'X-Gitlab-Token: nope')"
sleep 3
check "rejected webhooks change nothing" 6 "$(parallelism vision resnet50-worker)"
other='{"ref":"refs/heads/dev"}'
check "signed push to another branch: 202, ignored" 202 \
  "$(hook github "$other" -H 'X-GitHub-Event: push' -H "X-Hub-Signature-256: $(sign "$other" "$secret")")"
check "signed push: 200" 200 \
  "$(hook github "$body" -H 'X-GitHub-Event: push' -H "X-Hub-Signature-256: $(sign "$body" "$secret")")"
wait_for "the signed push synced at once (interval 1h)" 3 parallelism vision resnet50-worker

# Thirty new jobs, each waiting for the one before (dependsOn) to run, so the sync takes a while;
# the agent is killed with SIGKILL while it creates them.
expected="a$run-vision/resnet50/worker a$run-recsys/wide-deep/chief a$run-recsys/wide-deep/evaluator"
expected+=" a$run-recsys/wide-deep/ps a$run-recsys/wide-deep/worker a$run-nlp/corpus-prep/worker"
expected+=" a$run-nlp/bert-pretrain/worker a$run-nlp/llama-finetune/shards a$run-nlp/llama-finetune/worker"
mkdir -p "$work/wc/bulk"
previous=""
for i in $(seq -w 1 30); do
  cat >"$work/wc/bulk/job-$i.yaml" <<EOF
apiVersion: jobsync.dev/v1alpha1
kind: TrainingJob
metadata:
  name: bulk-$i
  namespace: a$run-batch
spec:
  backend: kubernetes
  image: python:3.11-slim
  command: [python, train.py]
  roles:
    worker:
      replicas: 1
      resources: {cpu: "1", memory: 1Gi}
EOF
  [ -n "$previous" ] && sed -i "s/^spec:$/spec:\n  dependsOn: [$previous]/" "$work/wc/bulk/job-$i.yaml"
  previous="bulk-$i"
  expected+=" a$run-batch/bulk-$i/worker"
done
commit "Add 30 jobs"
check "signed generic webhook: 200" 200 \
  "$(hook generic "" -H "X-Jobsync-Signature-256: $(sign "" "$secret")")"
for _ in $(seq 1 100); do  # until the first new Jobs exist, then kill at once
  [ "$(kubectl get jobs -n "a$run-batch" -o name 2>/dev/null | wc -l)" -ge 3 ] && break
  sleep 0.1
done
kill -9 "$(cat "$work/b.pid")"
wait "$(cat "$work/b.pid")" 2>/dev/null
created=$(kubectl get jobs -n "a$run-batch" -o name | wc -l)
[ "$created" -ge 1 ] && [ "$created" -lt 30 ]
check "SIGKILL landed in the middle of the sync ($created of 30 created)" 0 $?
start_agent b2 "$port_b" --interval 1h --state "$work/state-a.json" --webhook-secret-file "$work/webhook-secret"
wait_seconds=240 wait_for "restarted agent finishes the sync" yes all_synced "$port_b"
check "after the restart: one Job per role, none orphaned" ok "$(one_job_per_role "$expected")"
check "the finished job was not re-run by the restart" "" "$(kubectl get jobs -n "a$run-batch" -l jobsync.dev/job=prep -o name)"
kill -TERM "$(cat "$work/b2.pid")"
wait "$(cat "$work/b2.pid")"

check "the webhook secret appears in no log" 0 "$(cat "$work"/*.log | grep -c -F -- "$secret")"

# ---- 3. leader election ------------------------------------------------------------------------
port_c=$(free_port)
port_d=$(free_port)
lease=(--leader-elect --lease-name "agent-test-$run" --lease-namespace default --lease-duration 4s)
start_agent c "$port_c" --interval 2s --state "$work/state-c.json" "${lease[@]}" --identity c
start_agent d "$port_d" --interval 2s --state "$work/state-c.json" "${lease[@]}" --identity d
writers() {  # the identities whose status says they write, one per line
  for p in "$port_c" "$port_d"; do
    status_of "$p" | python3 -c "
import json, sys
s = json.load(sys.stdin)
if s.get('writer'): print(s['leaderElection']['holder'])" 2>/dev/null
  done
}
writer_count() { writers | wc -l; }
wait_for "exactly one replica writes" 1 writer_count || stop
leader=$(writers)
check "the Lease names the writer" "$leader" "$(kubectl get lease -n default "agent-test-$run" -o jsonpath='{.spec.holderIdentity}')"
sed -i 's/replicas: 3$/replicas: 5/' "$work/wc/vision/resnet50.yaml"
commit "Scale resnet50 to 5"
wait_for "the leader applies the commit" 5 parallelism vision resnet50-worker
standby=$([ "$leader" == c ] && echo d || echo c)
check "the standby applied nothing" 0 "$(grep -c '"msg":"apply"' "$work/$standby.log")"
kill -9 "$(cat "$work/$leader.pid")"
wait "$(cat "$work/$leader.pid")" 2>/dev/null
wait_for "the standby takes over when the leader dies" "$standby" \
  kubectl get lease -n default "agent-test-$run" -o jsonpath='{.spec.holderIdentity}'
sed -i 's/replicas: 5$/replicas: 2/' "$work/wc/vision/resnet50.yaml"
commit "Scale resnet50 to 2"
wait_for "the new leader applies the next commit" 2 parallelism vision resnet50-worker
kill -TERM "$(cat "$work/$standby.pid")"
wait "$(cat "$work/$standby.pid")"
check "SIGTERM: the leader exits 0" 0 $?
check "a stopped leader releases the Lease" "" \
  "$(kubectl get lease -n default "agent-test-$run" -o jsonpath='{.spec.holderIdentity}')"
kubectl delete lease -n default "agent-test-$run" >/dev/null 2>&1

finish
