#!/usr/bin/env bash
# Scenarios 2, 4 and 5 of bench/RESULTS.md with the real agent, `jobsync run`, over N live
# Kubernetes jobs on the local control plane (default 10,000):
#   first sync   the agent started on a repository of N one-replica jobs creates them all
#   no-op        the agent idles (interval 1 s) for 60 s with nothing to do: its CPU time per cycle,
#                and the requests the kube-apiserver served meanwhile, from the apiserver's own
#                apiserver_request_total (LIST and GET of jobs, pods and services)
#   webhook      REPEAT times: a commit scaling one job is pushed to a git daemon and a signed
#                GitHub push webhook sent; the time from the webhook to the agent's log line that
#                the scale was applied (the apiserver accepted it). Peer in the same run:
#                `kubectl apply --server-side -f` of that one Job, rendered by `jobsync render`,
#                into a namespace of its own (what a pipeline running kubectl on merge would do)
#   memory       the agent's peak and current resident set size (VmHWM, VmRSS), watch cache
#                included
# The kube-controller-manager is paused (SIGSTOP) for the run and resumed after: N Jobs would
# otherwise make N pods, more than the kwok nodes here hold (3 x 1,000). Jobs are what the agent
# writes, watches and plans; pods only feed its health column.
#   stages       for each webhook round, the agent's "sync cycle" log line of the cycle that applied
#                the commit: how long the webhook waited for a cycle in flight, then each stage (Git
#                ls-remote, fetch, load, history; live versions, list, plan, apply, record, status,
#                publish), in ms
# Usage: [BENCH_PERF=FILE] [BENCH_WRAP="heaptrack -o FILE"] [BENCH_JOBSYNC=BINARY]
#        [BENCH_END_SIGNAL=KILL] bench/agent_at_scale.sh [N] [REPEAT]
# (BENCH_WRAP runs the agent under a profiler; its memory figures are then the wrapper's.
# BENCH_JOBSYNC runs another build of the agent, e.g. the commit before a change, in turn with
# this one.)
# (needs scripts/cluster up; prints JSON lines)
set -euo pipefail
cd "$(dirname "$0")/.."
# One run at a time of the benchmarks that pause the kube-controller-manager: overlapping runs
# each take the pause for the other's, and the one ending last can leave it paused for good.
exec 9>"${TMPDIR:-/tmp}/jobsync-bench-kcm.lock"
flock 9
n=${1:-10000}
repeat=${2:-10}
eval "$(scripts/cluster env)"
kubectl version --request-timeout=5s >/dev/null || { echo "no cluster: run scripts/cluster up" >&2; exit 1; }
jobsync=${BENCH_JOBSYNC:-$PWD/build/jobsync}
work=$(mktemp -d)
prefix="sc$$"
namespaces=20
# (scripts/cluster status fails while a component is unhealthy, as a paused one is: its table
# is read all the same.)
kcm=$(scripts/cluster status | awk '$1 == "kube-controller-manager" {print $4}' || true)
[ -n "$kcm" ] && [ "$kcm" != "-" ] || { echo "kube-controller-manager is not running" >&2; exit 1; }
# Resumed at the end whatever state it was found in: the lock above keeps other benchmarks that
# pause it from running meanwhile, so one found paused was left so by a run that broke off.
if [ "$(ps -o stat= -p "$kcm" | cut -c1)" == T ]; then
  echo "kube-controller-manager (pid $kcm) was found paused (a run that broke off?): it is resumed at the end" >&2
fi
agent_pid=""
daemon_pid=""
cleanup() {
  # To its end whatever fails: an agent under BENCH_WRAP ends with the signal's status, and a
  # cleanup stopped there would leave the controller-manager paused.
  set +e
  # The agent itself, found by its instance and its name (under BENCH_WRAP, $agent_pid is the
  # wrapper's); BENCH_END_SIGNAL=KILL ends it without its shutdown, so that a heap profiler
  # reports everything it held at the end as leaked.
  for pid in $(pgrep -f -- "--instance $prefix( |$)"); do
    [ "$(cat "/proc/$pid/comm" 2>/dev/null)" == "$(basename "$jobsync" | cut -c1-15)" ] &&
      kill -"${BENCH_END_SIGNAL:-TERM}" "$pid" 2>/dev/null
  done
  [ -n "$agent_pid" ] && kill "$agent_pid" 2>/dev/null && wait "$agent_pid" 2>/dev/null
  [ -n "$daemon_pid" ] && kill "$daemon_pid" 2>/dev/null
  # The Jobs go while the controllers are paused (one deletecollection per namespace), so that no
  # pod is made for them; then the namespaces. Background propagation: the default for Jobs
  # (orphan) adds a finalizer only the paused garbage collector removes, and 10,000 Jobs would
  # stay, in every jobsync watch of the cluster, until it runs again.
  for ns in $(kubectl get namespaces -o name | sed -n "s|^namespace/\($prefix-.*\)|\1|p"); do
    kubectl delete --raw "/apis/batch/v1/namespaces/$ns/jobs?propagationPolicy=Background" \
      >/dev/null 2>&1 || true
  done
  kill -CONT "$kcm" 2>/dev/null
  kubectl get namespaces -o name | grep "^namespace/$prefix-" | xargs -r kubectl delete --wait=false >/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
trap "exit 130" INT TERM  # so that the EXIT trap resumes the controller-manager

python3 bench/generate_repo.py "$n" "$work/repo" --kubernetes-only --one-replica --commits 0 \
  --namespaces "$namespaces" --namespace-prefix "$prefix" >/dev/null
git clone -q --bare "$work/repo" "$work/srv/jobs.git"
git clone -q "$work/srv/jobs.git" "$work/wc"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
git_port=$(free_port)
git daemon --reuseaddr --base-path="$work/srv" --export-all --enable=receive-pack \
  --listen=127.0.0.1 --port="$git_port" --pid-file="$work/daemon.pid" --detach "$work/srv"
sleep 0.5
daemon_pid=$(cat "$work/daemon.pid")
git -C "$work/wc" remote set-url origin "git://127.0.0.1:$git_port/jobs.git"
for i in $(seq -f '%02g' 0 $((namespaces - 1))) peer; do echo "$prefix-$i"; done |
  xargs -n 1 kubectl create namespace >/dev/null
kill -STOP "$kcm"

port=$(free_port)
head -c 32 /dev/urandom | base64 >"$work/secret"
start=$(date +%s.%N)
${BENCH_WRAP:-} "$jobsync" run --repo "git://127.0.0.1:$git_port/jobs.git" --branch main --instance "$prefix" \
  --cache-dir "$work/cache" --state "$work/state.json" --listen "127.0.0.1:$port" --interval 1s \
  --webhook-secret-file "$work/secret" --allow-backend kubernetes --log-format json \
  >"$work/agent.log" 2>&1 &
agent_pid=$!

# What the agent's status says, evaluated by python: s is the status document.
status() {
  curl -sf --max-time 10 "http://127.0.0.1:$port/api/v1/status" |
    python3 -c "import json, sys; s = json.load(sys.stdin); print($1)" 2>/dev/null || echo "no answer"
}
for _ in $(seq 1 1800); do
  [ "$(status "s['lastSync']['result'] == 'ok' and len(s['jobs']) == $n and all(j['sync'] == 'Synced' for j in s['jobs'])")" == True ] && break
  sleep 1
done
[ "$(status "s['lastSync']['result']")" == ok ] || { echo "the agent did not converge; log:" >&2; tail -20 "$work/agent.log" >&2; exit 1; }
end=$(date +%s.%N)
printf '{"scenario": "agent first sync: every Job created", "jobs": %d, "seconds": %.1f}\n' "$n" "$(echo "$end - $start" | bc)"

# ---- no-op ------------------------------------------------------------------------------------
sleep 5
cpu() { awk '{print $14 + $15}' "/proc/$agent_pid/stat"; }  # utime + stime, in clock ticks
cycles() { curl -sf "http://127.0.0.1:$port/metrics" | awk '$1 ~ /^jobsync_sync_runs_total/ {s += $2} END {print s + 0}'; }
requests() {  # requests: "LIST GET" of jobs, pods and services served by the kube-apiserver so far
  kubectl get --raw /metrics | awk '
    /^apiserver_request_total\{/ && /resource="(jobs|pods|services)"/ {
      if ($0 ~ /verb="LIST"/) l += $2; else if ($0 ~ /verb="GET"/) g += $2 }
    END { printf "%d %d\n", l, g }'
}
read -r lists0 gets0 <<<"$(requests)"
cpu0=$(cpu)
cycles0=$(cycles)
sleep 60
cpu1=$(cpu)
cycles1=$(cycles)
read -r lists1 gets1 <<<"$(requests)"
tick_ms=$(echo "1000 / $(getconf CLK_TCK)" | bc -l)
python3 -c "
import json
cycles = $cycles1 - $cycles0
print(json.dumps({'scenario': 'agent no-op cycle, real apiserver', 'jobs': $n, 'cycles': cycles,
                  'cpu_ms_per_cycle': round(($cpu1 - $cpu0) * $tick_ms / max(cycles, 1), 3),
                  'apiserver_list_requests': $lists1 - $lists0,
                  'apiserver_get_requests': $gets1 - $gets0}))"

# ---- webhook to applied -----------------------------------------------------------------------
sign() { printf '%s' "$1" | openssl dgst -sha256 -hmac "$(cat "$work/secret")" | sed 's/^.*= /sha256=/'; }
body='{"ref":"refs/heads/main"}'
target="$prefix-07/job-00007.yaml"
job=job-00007
"$jobsync" render --instance "$prefix-peer" "$work/wc/$target" |
  sed "s/namespace: $prefix-07/namespace: $prefix-peer/" >"$work/peer.yaml"
# BENCH_PERF=FILE profiles the agent during these rounds, for `perf report -i FILE`: call graphs
# from DWARF (the build keeps no frame pointers), 250 samples a second.
perf_pid=""
if [ -n "${BENCH_PERF:-}" ]; then
  perf record -F 250 --call-graph dwarf,16384 -o "$BENCH_PERF" -p "$agent_pid" >/dev/null 2>&1 &
  perf_pid=$!
  sleep 1
fi
for r in $(seq 1 "$repeat"); do
  replicas=$((r % 2 + 2))
  sed -i "s/replicas: [0-9]*/replicas: $replicas/" "$work/wc/$target"
  git -C "$work/wc" -c user.name=Bench -c user.email=bench@example.com commit -qam "Scale $job to $replicas"
  git -C "$work/wc" push -q origin main
  lines=$(wc -l <"$work/agent.log")
  sent=$(date +%s.%N)
  code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$port/hooks/github" \
    -H 'Content-Type: application/json' -H 'X-GitHub-Event: push' \
    -H "X-Hub-Signature-256: $(sign "$body")" --data-binary "$body")
  [ "$code" == 200 ] || { echo "webhook answered $code" >&2; exit 1; }
  # The agent's log times (ms): the new revision loaded (fetched, parsed, checked), and the scale
  # applied.
  applied=""
  for _ in $(seq 1 3000); do
    applied=$(tail -n +"$((lines + 1))" "$work/agent.log" |
      python3 -c "
import datetime, json, sys
def at(e):
    t = datetime.datetime.strptime(e['time'], '%Y-%m-%dT%H:%M:%S.%fZ')
    return t.replace(tzinfo=datetime.timezone.utc).timestamp()
loaded = None
for line in sys.stdin:
    e = json.loads(line)
    if e.get('msg') == 'new revision' and loaded is None:
        loaded = at(e)
    if e.get('msg') == 'apply' and e.get('job', '').endswith('/$job') and e.get('result') == 'ok':
        print('%.3f %.3f' % (loaded or 0, at(e))); break" 2>/dev/null)
    [ -n "$applied" ] && break
    sleep 0.01
  done
  [ -n "$applied" ] || { echo "round $r: the scale was not applied within 30 s" >&2; tail -5 "$work/agent.log" >&2; exit 1; }
  read -r loaded applied <<<"$applied"
  sed -i "s/parallelism: [0-9]*/parallelism: $replicas/; s/completions: [0-9]*/completions: $replicas/" "$work/peer.yaml"
  peer_start=$(date +%s.%N)
  kubectl apply --server-side --force-conflicts --field-manager=bench -f "$work/peer.yaml" >/dev/null
  peer_end=$(date +%s.%N)
  printf '{"scenario": "webhook to applied", "jobs": %d, "round": %d, "jobsync_ms": %.0f, "of_which_to_revision_loaded_ms": %.0f, "kubectl_apply_one_job_ms": %.0f}\n' \
    "$n" "$r" "$(echo "($applied - $sent) * 1000" | bc)" "$(echo "($loaded - $sent) * 1000" | bc)" \
    "$(echo "($peer_end - $peer_start) * 1000" | bc)"
  # Where the time went: the stages of the cycle that applied this commit (its "sync cycle" line).
  commit=$(git -C "$work/wc" rev-parse HEAD | cut -c1-7)
  stages=""
  for _ in $(seq 1 300); do
    stages=$(tail -n +"$((lines + 1))" "$work/agent.log" |
      python3 -c "
import datetime, json, sys
for line in sys.stdin:
    e = json.loads(line)
    if e.get('msg') == 'sync cycle' and e.get('commit') == '$commit':
        t = datetime.datetime.strptime(e['time'], '%Y-%m-%dT%H:%M:%S.%fZ')
        end = t.replace(tzinfo=datetime.timezone.utc).timestamp()
        out = {'scenario': 'webhook cycle stages (ms)', 'jobs': $n, 'round': $r,
               'waited_for_cycle_in_flight': round((end - float(e['total_ms']) / 1000 - $sent) * 1000)}
        out.update({k[:-3]: float(v) for k, v in e.items() if k.endswith('_ms')})
        print(json.dumps(out)); break" 2>/dev/null)
    [ -n "$stages" ] && break
    sleep 0.1
  done
  if [ -n "$stages" ]; then echo "$stages"; else echo "round $r: no sync cycle line for $commit" >&2; fi
done

# (perf ends with the interrupt's status: the run goes on.)
if [ -n "$perf_pid" ]; then kill -INT "$perf_pid"; wait "$perf_pid" || true; fi
# The agent's own histograms over the whole run: mean seconds per Git operation and per cycle.
curl -sf "http://127.0.0.1:$port/metrics" | python3 -c "
import json, re, sys
sums, counts = {}, {}
for line in sys.stdin:
    m = re.match(r'(jobsync_(?:git|sync)_duration_seconds)_(sum|count)\{(.*)\} (\S+)', line)
    if not m:
        continue
    labels = dict(re.findall(r'(\w+)=\"([^\"]*)\"', m.group(3)))
    key = m.group(1).split('_')[1] + ' ' + (labels.get('operation') or labels.get('result', ''))
    (sums if m.group(2) == 'sum' else counts)[key] = float(m.group(4))
print(json.dumps({'scenario': 'agent histograms over the run: mean ms (count)', 'jobs': $n,
                  **{k: '%.1f (%d)' % (1000 * sums[k] / counts[k], counts[k]) for k in sorted(sums) if counts.get(k)}}))"

# ---- memory -----------------------------------------------------------------------------------
# Where the resident set is, from /proc/PID/smaps: file-backed mappings (code and libraries), the
# main heap ([heap]), the threads' stacks (anonymous mappings of the 8 MiB default stack size), and
# every other anonymous mapping (glibc's thread arenas, large allocations mmapped on their own).
python3 - "$agent_pid" "$n" <<'PY'
import json, sys
pid, n = sys.argv[1], int(sys.argv[2])
kb = {"files": 0, "heap": 0, "thread_stacks": 0, "arenas_and_mmaps": 0}
kind = None
for line in open(f"/proc/{pid}/smaps"):
    fields = line.split()
    if "-" in fields[0] and len(fields) >= 5 and not fields[0].endswith(":"):
        path = fields[5] if len(fields) > 5 else ""
        kind = "files" if path.startswith("/") else "heap" if path == "[heap]" else "thread_stacks" if path == "[stack]" else None
    elif fields[0] == "Size:" and kind is None:
        kind = "thread_stacks" if int(fields[1]) in (8188, 8192) else "arenas_and_mmaps"
    elif fields[0] == "Rss:":
        kb[kind] += int(fields[1])
threads = next(int(l.split()[1]) for l in open(f"/proc/{pid}/status") if l.startswith("Threads:"))
print(json.dumps({"scenario": "agent resident set by mapping (MB)", "jobs": n, "threads": threads,
                  **{k: round(v / 1024, 1) for k, v in kb.items()}}))
PY
awk -v n="$n" '/^VmHWM|^VmRSS/ {v[$1] = $2} END {printf "{\"scenario\": \"agent memory, watch cache included\", \"jobs\": %d, \"peak_rss_mb\": %.0f, \"rss_mb\": %.0f}\n", n, v["VmHWM:"] / 1024, v["VmRSS:"] / 1024}' "/proc/$agent_pid/status"
