#!/usr/bin/env bash
# Fault suite: the agent, `jobsync run`, against a git daemon on loopback, the real local
# kube-apiserver and the real Ray head, while parts of that fail under it:
#
#   1. the kube-apiserver killed (SIGKILL) during the first sync of 500 jobs, then restarted;
#   2. etcd killed while a commit waits to be applied, then restarted;
#   3. the Ray head stopped and started again (it forgets its jobs);
#   4. the Git remote unreachable for minutes (JOBSYNC_FAULT_GIT_OUTAGE seconds, default 120),
#      with a Job scaled by hand meanwhile, then back with a commit made during the outage;
#   5. a force-push that rewrites history, and the watched branch deleted and pushed again;
#   6. a commit that deletes every manifest, an agent whose --path matches nothing, and a
#      manifest that no longer parses: refused, nothing deleted;
#   7. the agent SIGKILLed at 20 random points of syncs that create, delete and scale jobs, and
#      restarted each time (JOBSYNC_FAULT_SEED reproduces the points);
#   8. the Ray dashboard frozen (SIGSTOP: it accepts connections and never answers), then the
#      kube-apiserver frozen: the other cluster's change is applied meanwhile.
#
# After each: every job in Git exists exactly once on its backend with the replicas in Git, no
# job of the instance exists that is not in Git, and no Job that should have lived was deleted
# or created again (its uid is unchanged; in 7, a watch records every Job added and deleted).
# While each fault lasted, the agent reported it in /api/v1/status, /metrics and its log.
# Usage: fault_test.sh JOBSYNC_BINARY SOURCE_DIR   (needs `scripts/cluster up`; fails without it)
set -uo pipefail
jobsync=$1
src=$2
cluster=$src/scripts/cluster
source "$src/tests/cli/testlib.sh"
require_cluster "$src" ray

seed=${JOBSYNC_FAULT_SEED:-$$}
RANDOM=$seed
echo "seed $seed (JOBSYNC_FAULT_SEED=$seed repeats this run's kill points)"
jobs=500
outage=${JOBSYNC_FAULT_GIT_OUTAGE:-120}
run=$$
instance="fault-$run"
ns="f$run"
work=$(mktemp -d)
agent_pid=""
watch_pid=""
pid_of() { "$cluster" status | awk -v c="$1" '$1 == c {print $4}'; }
cleanup() {
  # A frozen component (section 8) is thawed first: the cluster must answer the cleanup.
  [ -n "${dashboard_pid:-}" ] && kill -CONT "$dashboard_pid" 2>/dev/null
  [ -n "${apiserver_pid:-}" ] && kill -CONT "$apiserver_pid" 2>/dev/null
  [ -n "$agent_pid" ] && kill -9 "$agent_pid" 2>/dev/null
  [ -n "$watch_pid" ] && kill "$watch_pid" 2>/dev/null
  [ -f "$work/daemon.pid" ] && kill "$(cat "$work/daemon.pid")" 2>/dev/null
  # Hand the tests that follow a settled cluster: this namespace's 500 Jobs and pods gone (pods
  # whose job-tracking finalizer the loaded controller-manager left are released), then the
  # control plane restarted, so that no component carries a watch or backoff from the faults.
  "$cluster" up >/dev/null 2>&1
  eval "$("$cluster" env)"
  kubectl delete namespace "$ns" --wait=false >/dev/null 2>&1
  for _ in $(seq 1 120); do
    kubectl get namespace "$ns" >/dev/null 2>&1 || break
    kubectl get pods -n "$ns" -o name 2>/dev/null | head -200 |
      xargs -r -P 4 -n 20 kubectl patch -n "$ns" --type merge -p '{"metadata":{"finalizers":null}}' >/dev/null 2>&1
    sleep 1
  done
  for component in kube-apiserver kube-controller-manager kube-scheduler kwok; do
    kill -9 "$(pid_of "$component")" 2>/dev/null
  done
  "$cluster" up >/dev/null 2>&1
  curl -s "$RAY_ADDRESS/api/jobs/" | python3 -c "
import json, sys
for j in json.load(sys.stdin):
    if (j.get('metadata') or {}).get('jobsync.dev/instance') == '$instance' and j['status'] in ('PENDING', 'RUNNING'):
        print(j['submission_id'])" 2>/dev/null | while read -r id; do
    curl -s -X POST "$RAY_ADDRESS/api/jobs/$id/stop" >/dev/null
  done
  # The agents' logs, kept short: CTest cuts a failed test's output at 300 KB, and the summary of
  # what failed must come out last, after them.
  if [ "$failed" -ne 0 ]; then
    for log in "$work"/*.log; do
      case $(basename "$log") in kill-*) lines=8 ;; *) lines=60 ;; esac
      echo "--- $log (last $lines lines, each cut at 400 characters)"
      tail -n "$lines" "$log" | cut -c 1-400
    done
    failure_summary
  fi
  keep_logs "$work"
  rm -rf "$work"
}
trap cleanup EXIT

# ---- the repository --------------------------------------------------------------------------
# $jobs Kubernetes jobs of one worker each (500 pods for kwok's fake nodes) and two Ray jobs,
# served by git daemon; the test commits in a clone.
k8s_job() {  # k8s_job NAME REPLICAS: writes the manifest of a Kubernetes job
  cat >"$work/wc/k8s/$1.yaml" <<EOF
apiVersion: jobsync.dev/v1alpha1
kind: TrainingJob
metadata:
  name: $1
  namespace: $ns
spec:
  backend: kubernetes
  image: python:3.11-slim
  command: [python, train.py]
  roles:
    worker:
      replicas: $2
      resources: {cpu: 100m, memory: 64Mi}
EOF
}
ray_job() {  # ray_job NAME: writes the manifest of a Ray job that runs for an hour
  cat >"$work/wc/ray/$1.yaml" <<EOF
apiVersion: jobsync.dev/v1alpha1
kind: TrainingJob
metadata:
  name: $1
  namespace: $ns
spec:
  backend: ray
  roles:
    worker: {replicas: 1}
  ray:
    entrypoint: python -c "import time; time.sleep(3600)"
    entrypointResources: {cpu: 0.1}
EOF
}
git_port=$(free_port)
mkdir -p "$work/srv" "$work/wc/k8s" "$work/wc/ray"
git init -q --bare -b main "$work/srv/jobs.git"
git -C "$work/srv/jobs.git" config receive.denyDeleteCurrent ignore
# Starts the git daemon and waits (10 s at most) until it answers: --detach returns before the
# daemon listens, and a push right after it was refused on a loaded machine.
start_daemon() {
  git daemon --reuseaddr --base-path="$work/srv" --export-all --enable=receive-pack \
    --listen=127.0.0.1 --port="$git_port" --pid-file="$work/daemon.pid" --detach "$work/srv"
  local tries=0
  until git ls-remote "git://127.0.0.1:$git_port/jobs.git" >/dev/null 2>&1; do
    tries=$((tries + 1))
    [ "$tries" -le 50 ] || { echo "FAIL: the git daemon does not answer on port $git_port"; return 1; }
    sleep 0.2
  done
}
start_daemon
remote="git://127.0.0.1:$git_port/jobs.git"
for i in $(seq -w 1 "$jobs"); do k8s_job "k-$i" 1; done
for r in 1 2; do ray_job "r-$r"; done
git -C "$work/wc" init -q -b main && git -C "$work/wc" remote add origin "$remote"
commit() {  # commit MESSAGE [PUSH_ARGS...]: commits everything in the clone and pushes
  local message=$1
  shift
  git -C "$work/wc" add -A && git -C "$work/wc" -c user.name=Ada -c user.email=ada@example.com \
    commit -q --allow-empty -m "$message" && push "$@"
}
push() { git -C "$work/wc" push -q "$@" origin main 2>/dev/null || { echo "FAIL: cannot push to $remote"; stop; }; }
commit "$jobs Kubernetes jobs and 2 Ray jobs"

# ---- the agent and what it reports -----------------------------------------------------------
port=$(free_port)
start_agent() {  # start_agent NAME: an agent polling every 2 s, logging to $work/NAME.log
  "$jobsync" run --repo "$remote" --branch main --instance "$instance" --prune \
    --cache-dir "$work/cache" --state "$work/state.json" --listen "127.0.0.1:$port" \
    --interval 2s --log-format json >"$work/$1.log" 2>&1 &
  agent_pid=$!
}
stop_agent() { [ -n "$agent_pid" ] && kill -TERM "$agent_pid" && wait "$agent_pid"; agent_pid=""; }
status_field() {  # status_field PYTHON_EXPR: evaluates EXPR on the status JSON `s`
  curl -sf --max-time 5 "http://127.0.0.1:$port/api/v1/status" |
    python3 -c "import json, sys; s = json.load(sys.stdin); print($1)" 2>/dev/null
}
metric() {  # metric NAME: the sum of the samples of a metric family (0 when absent)
  curl -sf --max-time 5 "http://127.0.0.1:$port/metrics" |
    awk -v name="$1" '$1 == name || index($1, name "{") == 1 { sum += $2 } END { print sum + 0 }'
}
synced() {  # "yes" once the last cycle succeeded with every job Synced, else what is not
  status_field "'yes' if s['lastSync']['result'] == 'ok' and all(j['sync'] == 'Synced' for j in s['jobs']) \
    and s.get('revision', {}).get('id') == '$(git -C "$work/wc" rev-parse HEAD)' \
    else s['lastSync']['message'][:200] or 'not yet'"
}
converge() {  # converge WHAT: waits until the agent reports everything synced at the Git head
  wait_seconds=${2:-300} wait_for "$1: the agent converges" yes synced
}
# reported WHAT PYTHON_EXPR METRIC PATTERN [SECONDS]: while a fault lasts, the status says so
# (EXPR is true) within SECONDS (default 120), the error counter METRIC has grown since `mark`,
# and the log has a line matching PATTERN since then.
mark() { marked_metrics=$(curl -sf "http://127.0.0.1:$port/metrics"); marked_log_lines=$(wc -l <"$work/$log.log"); }
reported() {
  local what=$1 expr=$2 family=$3 pattern=$4 before
  wait_seconds=${5:-120} wait_for "$what: reported in /api/v1/status" True status_field "$expr"
  before=$(printf '%s\n' "$marked_metrics" |
    awk -v name="$family" 'index($1, name "{") == 1 || $1 == name { sum += $2 } END { print sum + 0 }')
  check "$what: counted in $family" yes "$([ "$(metric "$family")" -gt "$before" ] && echo yes || echo "no: $before -> $(metric "$family")")"
  check "$what: logged" yes "$(tail -n +"$((marked_log_lines + 1))" "$work/$log.log" | grep -E "$pattern" >/dev/null && echo yes || echo no)"
}

# verify: compares the clusters with the clone of the repository; prints "ok" or the differences.
# With uids_file, Jobs listed there (name uid) must still exist with the same uid when their job is
# still in Git.
cat >"$work/verify.py" <<'EOF'
import json, os, re, subprocess, sys, urllib.request
wc, ns, instance, uids_file, ray = sys.argv[1:6]
want = {}  # Kubernetes job name -> replicas
for name in os.listdir(os.path.join(wc, "k8s")):
    text = open(os.path.join(wc, "k8s", name)).read()
    m = re.search(r"replicas: (\d+)", text)
    want[name[:-5]] = int(m.group(1)) if m else None
out = subprocess.run(["kubectl", "get", "jobs", "-n", ns, "-l", "jobsync.dev/instance=" + instance,
                      "-o", "json"], capture_output=True, text=True, check=True).stdout
live = {}
problems = []
for item in json.loads(out)["items"]:
    labels = item["metadata"].get("labels", {})
    job = labels.get("jobsync.dev/job")
    if job in live:
        problems.append(f"{job}: two Jobs")
    live[job] = item
for job, replicas in sorted(want.items()):
    if job not in live:
        problems.append(f"{job}: missing")
    elif replicas is not None and live[job]["spec"].get("parallelism") != replicas:
        problems.append(f"{job}: parallelism {live[job]['spec'].get('parallelism')}, Git says {replicas}")
for job in sorted(set(live) - set(want)):
    problems.append(f"{job}: orphaned (not in Git)")
if uids_file != "-" and os.path.exists(uids_file):
    for line in open(uids_file):
        job, uid = line.split()
        if job in want and job in live and live[job]["metadata"]["uid"] != uid:
            problems.append(f"{job}: created again (uid changed)")
rays = {}
for j in json.load(urllib.request.urlopen(ray + "/api/jobs/")):
    m = j.get("metadata") or {}
    if m.get("jobsync.dev/instance") == instance and j["status"] in ("PENDING", "RUNNING"):
        rays[m.get("jobsync.dev/job")] = rays.get(m.get("jobsync.dev/job"), 0) + 1
want_ray = {n[:-5] for n in os.listdir(os.path.join(wc, "ray"))}
for job in sorted(want_ray | set(rays)):
    if rays.get(job, 0) != (1 if job in want_ray else 0):
        problems.append(f"ray {job}: {rays.get(job, 0)} active submissions, Git has {int(job in want_ray)}")
print("ok" if not problems else f"{len(problems)} problems: " + "; ".join(problems[:8]))
EOF
verify() { python3 "$work/verify.py" "$work/wc" "$ns" "$instance" "${1:--}" "$RAY_ADDRESS"; }
save_uids() {
  kubectl get jobs -n "$ns" -l "jobsync.dev/instance=$instance" \
    -o jsonpath='{range .items[*]}{.metadata.labels.jobsync\.dev/job} {.metadata.uid}{"\n"}{end}' >"$work/uids"
}
job_count() { kubectl get jobs -n "$ns" -o name 2>/dev/null | wc -l; }

# ---- 1. the kube-apiserver killed during the first sync of $jobs jobs -------------------------
log=a
start_agent a
mark
for _ in $(seq 1 600); do
  [ "$(job_count)" -ge 50 ] && break
  sleep 0.1
done
created=$(job_count)
kill -9 "$(pid_of kube-apiserver)"
check "apiserver killed in the middle of the sync ($created of $jobs Jobs created)" yes \
  "$([ "$created" -ge 1 ] && [ "$created" -lt "$jobs" ] && echo yes || echo no)"
# Within 45 s: the steps in flight fail within their client's retries (about 3 s each, side by
# side), and the cycle ends: 6 s after the kill with the gcc build, 12 s under the sanitizers.
# (When each step's Event waited on the others', the cycle took 87 s to end.)
reported "apiserver down" "not s['backends']['kubernetes']['ok']" jobsync_backend_errors_total \
  '"level":"(error|warning)"' 45
"$cluster" up >/dev/null || stop
eval "$("$cluster" env)"
converge "apiserver back" 600 || stop
check "apiserver back: the clusters match Git" ok "$(verify)"
save_uids

# ---- 2. etcd unavailable while a commit waits -------------------------------------------------
mark
kill -9 "$(pid_of etcd)"
for i in 001 002 003; do k8s_job "k-$i" 2; done
commit "Scale k-001..k-003 to 2"
reported "etcd down" "not s['backends']['kubernetes']['ok'] or s['lastSync']['result'] != 'ok'" \
  jobsync_backend_errors_total '"level":"(error|warning)"'
sleep 5
"$cluster" up >/dev/null || stop
converge "etcd back" || stop
check "etcd back: the clusters match Git, nothing created again" ok "$(verify "$work/uids")"

# ---- 3. the Ray head restarted ----------------------------------------------------------------
mark
(cd "$src" && ray stop >/dev/null 2>&1)
reported "Ray head down" "not s['backends']['ray']['ok']" jobsync_backend_errors_total '"level":"(error|warning)"'
"$cluster" up >/dev/null || stop
converge "Ray head back" || stop
check "Ray head back: each Ray job runs once again, Kubernetes untouched" ok "$(verify "$work/uids")"

# ---- 4. the Git remote unreachable for $outage seconds -----------------------------------------
mark
outage_start=$SECONDS
kill "$(cat "$work/daemon.pid")"
reported "Git remote down" "not s['git']['ok']" jobsync_git_errors_total '"level":"(error|warning)"'
kubectl scale job -n "$ns" k-004-worker --replicas=3 >/dev/null 2>&1 ||
  kubectl patch job -n "$ns" k-004-worker --type merge -p '{"spec":{"parallelism":3}}' >/dev/null
wait_for "Git down: a Job scaled by hand is healed from the last commit" 1 \
  kubectl get job -n "$ns" k-004-worker -o jsonpath='{.spec.parallelism}'
left=$((outage - (SECONDS - outage_start)))
[ "$left" -gt 0 ] && sleep "$left"
check "Git down for ${outage}s: nothing deleted, nothing created again" ok "$(verify "$work/uids")"
check "Git down: the status still says so" True "$(status_field "not s['git']['ok']")"
k8s_job k-005 2
git -C "$work/wc" add -A &&
  git -C "$work/wc" -c user.name=Ada -c user.email=ada@example.com commit -qm "Scale k-005 to 2 (made during the outage)"
start_daemon
push
converge "Git back" || stop
check "Git back: the commit made meanwhile is applied" ok "$(verify "$work/uids")"

# ---- 5. a force-push that rewrites history; the branch deleted and pushed again ---------------
mark
git -C "$work/wc" reset -q --hard HEAD~2  # drops "Scale k-005" and "Scale k-001..k-003"
rm "$work/wc/k8s/k-$jobs.yaml"
k8s_job k-new 1
commit "Rewritten: drop k-$jobs, add k-new" --force
converge "force-push" || stop
check "force-push: the rewritten history is what runs (scales reverted, k-$jobs pruned, k-new created)" \
  ok "$(verify "$work/uids")"
mark
git -C "$work/wc" push -q origin :main 2>/dev/null
check "branch deleted on the remote" "" "$(git ls-remote "$remote" refs/heads/main)"
reported "branch deleted" "not s['git']['ok']" jobsync_git_errors_total '"level":"(error|warning)"'
sleep 6
check "branch deleted: nothing deleted, nothing created again" ok "$(verify "$work/uids")"
push
converge "branch pushed again" || stop

# ---- 6. what would delete too much is refused --------------------------------------------------
save_uids
mark
git -C "$work/wc" rm -q -r k8s ray
commit "Delete every manifest"
wait_for "a commit deleting every manifest: refused by the mass-delete guard" True \
  status_field "'--allow-mass-delete' in s['lastSync']['message']"
sleep 5
git -C "$work/wc" checkout -q HEAD~1 -- k8s ray
check "mass delete refused: nothing deleted" ok "$(verify "$work/uids")"
commit "Restore every manifest"
converge "manifests restored" || stop
out=$("$jobsync" run --once --repo "$remote" --branch main --path k8z --instance "$instance" --prune \
  --cache-dir "$work/cache-typo" --state "$work/state-typo.json" 2>&1)
code=$?
check "an agent whose --path matches nothing fails" yes "$([ "$code" -ne 0 ] && echo yes || echo no)"
check "--path typo: the reason is given" yes \
  "$(printf '%s\n' "$out" | grep -E 'allow-mass-delete|k8z' >/dev/null && echo yes || printf 'no: %s' "$(printf '%s' "$out" | tail -3)")"
check "--path typo: nothing deleted" ok "$(verify "$work/uids")"
printf 'this is: [not yaml\n' >"$work/wc/k8s/k-006.yaml"
commit "Break k-006"
wait_for "an unreadable manifest is reported on its job" True \
  status_field "any(j['name'] == 'k-006' and j['lastError'] for j in s['jobs'])"
sleep 5
check "unreadable manifest: its live Job is kept, nothing else touched" ok "$(verify "$work/uids")"
k8s_job k-006 1
commit "Fix k-006"
converge "manifest fixed" || stop

# ---- 7. the agent SIGKILLed at 20 random points ----------------------------------------------
stop_agent
save_uids
kubectl get jobs -n "$ns" -l "jobsync.dev/instance=$instance" --watch-only --output-watch-events \
  -o jsonpath='{.type} {.object.metadata.name} {.object.metadata.uid}{"\n"}' >"$work/watch.txt" 2>&1 &
watch_pid=$!
sleep 1
deleted=()
for round in $(seq 1 20); do
  # Each round: 5 new jobs, 5 deleted, 10 scaled; the agent starts and is killed 0-3 s later.
  for k in 1 2 3 4 5; do k8s_job "n-$round-$k" 1; done
  for k in 1 2 3 4 5; do
    victim=$(printf 'k-%03d' $((100 + round * 5 + k)))
    rm -f "$work/wc/k8s/$victim.yaml" && deleted+=("$victim")
  done
  # (kills delete k-106..k-205; scales touch k-250..k-449, so no job is both)
  for k in $(seq 1 10); do k8s_job "$(printf 'k-%03d' $((250 + RANDOM % 200)))" $((1 + RANDOM % 3)); done
  commit "Round $round"
  log=kill-$round
  start_agent "kill-$round"
  if [ $((round % 2)) -eq 0 ]; then
    # anywhere from start-up through Git, planning and the state save
    sleep "$((RANDOM % 2)).$((RANDOM % 10))"
  else
    # right after its K-th applied step, K random among the round's 20 steps (checked every
    # 10 ms, so that on a fast machine too the kill lands before the last step)
    applied_before_kill=$((1 + RANDOM % 12))
    for _ in $(seq 1 1000); do
      # (the log is made by the agent's shell, which may not have run yet)
      [ "$(grep -c '"msg":"apply"' "$work/kill-$round.log" 2>/dev/null)" -ge "$applied_before_kill" ] 2>/dev/null && break
      sleep 0.01
    done
  fi
  kill -9 "$agent_pid"
  wait "$agent_pid" 2>/dev/null
  agent_pid=""
done
mid_apply=0
for round in $(seq 1 20); do
  # (a round killed before the agent's shell made its log has none)
  grep -q '"msg":"apply"' "$work/kill-$round.log" 2>/dev/null &&
    ! grep -q '"msg":"in sync"' "$work/kill-$round.log" &&
    mid_apply=$((mid_apply + 1))
done
echo "the agent was killed in the middle of applying in $mid_apply of 20 rounds"
check "at least 8 of the 20 kills landed in the middle of applying" yes \
  "$([ "$mid_apply" -ge 8 ] && echo yes || echo "no: $mid_apply")"
log=final
start_agent final
converge "restarted after 20 SIGKILLs" || stop
check "after 20 SIGKILLs: the clusters match Git" ok "$(verify "$work/uids")"
sleep 2
kill "$watch_pid" 2>/dev/null
watch_pid=""
check "after 20 SIGKILLs: no Job was created twice" "" \
  "$(awk '$1 == "ADDED" {print $2}' "$work/watch.txt" | sort | uniq -d | head -5 | tr '\n' ' ')"
check "after 20 SIGKILLs: only the jobs removed from Git were deleted" \
  "$(printf '%s-worker\n' "${deleted[@]}" | sort | tr '\n' ' ')" \
  "$(awk '$1 == "DELETED" {print $2}' "$work/watch.txt" | sort | tr '\n' ' ')"
# ---- 8. a frozen Ray dashboard, then a frozen kube-apiserver ---------------------------------
# Each accepts connections and never answers (SIGSTOP). The other cluster's change is applied
# within two cycles, and the status names the frozen one and why.
ray_active() {  # ray_active JOB: the number of PENDING or RUNNING submissions of JOB
  curl -sf --max-time 5 "$RAY_ADDRESS/api/jobs/" | python3 -c "
import json, sys
print(sum(1 for j in json.load(sys.stdin) if (j.get('metadata') or {}).get('jobsync.dev/job') == '$1'
          and (j.get('metadata') or {}).get('jobsync.dev/instance') == '$instance'
          and j['status'] in ('PENDING', 'RUNNING')))"
}
frozen() {  # frozen BACKEND: a status expression: BACKEND is reported unavailable, with why
  echo "not s['backends']['$1']['ok'] and any(w in s['backends']['$1'].get('error', '') for w in ('did not', 'still busy', 'timeout'))"
}
listener_pid() {  # listener_pid PORT: the process listening on the TCP port (from /proc)
  python3 - "$1" <<'PY'
import os, sys
port = int(sys.argv[1])
sockets = set()
for table in ("/proc/net/tcp", "/proc/net/tcp6"):
    for line in open(table).readlines()[1:]:
        fields = line.split()
        if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
            sockets.add(f"socket:[{fields[9]}]")
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        if any(os.readlink(f"/proc/{pid}/fd/{fd}") in sockets for fd in os.listdir(f"/proc/{pid}/fd")):
            print(pid)
            break
    except OSError:
        pass
PY
}
dashboard_pid=$(listener_pid "${RAY_ADDRESS##*:}")
check "the Ray dashboard's process is found (listening on ${RAY_ADDRESS##*:})" yes \
  "$([ -n "$dashboard_pid" ] && echo yes || echo no)"
mark
kill -STOP "$dashboard_pid"
k8s_job k-450 3
commit "Scale k-450 to 3 while Ray is frozen"
# Within two --backend-timeouts (30 s each): under the sanitizers the change landed 60 s after the
# commit (the cycle that was waiting on the frozen head when it came, then its own wait).
wait_seconds=75 wait_for "Ray frozen: a Kubernetes change is applied" 3 \
  kubectl get job -n "$ns" k-450-worker -o jsonpath='{.spec.parallelism}'
reported "Ray frozen" "$(frozen ray)" jobsync_backend_errors_total '"msg":"backend unavailable"'
kill -CONT "$dashboard_pid"
"$cluster" up >/dev/null || stop
converge "Ray thawed" || stop
apiserver_pid=$(pid_of kube-apiserver)
mark
kill -STOP "$apiserver_pid"
ray_job r-3
k8s_job k-451 2
commit "Add r-3 and scale k-451 while the kube-apiserver is frozen"
wait_seconds=45 wait_for "kube-apiserver frozen: a Ray change is applied" 1 ray_active r-3
reported "kube-apiserver frozen" "$(frozen kubernetes)" jobsync_backend_errors_total \
  '"msg":"backend unavailable"'
kill -CONT "$apiserver_pid"
"$cluster" up >/dev/null || stop
converge "kube-apiserver thawed" || stop
check "after the freezes: the clusters match Git, nothing created again" ok "$(verify "$work/uids")"
check "every agent log is free of crashes" "" "$(grep -l -E 'AddressSanitizer|terminate called|Segmentation' "$work"/*.log)"
stop_agent
check "SIGTERM: the agent exits 0" 0 $?

finish
