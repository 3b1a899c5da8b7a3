#!/usr/bin/env bash
# Two agents under leader election, as a Deployment of two replicas runs them behind one Service,
# against a git daemon on loopback and the real kube-apiserver (both agents poll once an hour, so
# only webhooks move them):
#   1. a signed GitHub push delivered to the STANDBY wakes the leader, which applies the pushed
#      commit at once (the standby answers 200 and says it woke the leader);
#   2. each commit's result reaches a commit-status API (a loopback recorder checking GitHub's
#      request shape) and a chat webhook, sent by the leader only, once per commit and outcome;
#      the token and the webhook URL are in no log;
#   3. with the Git server down, /readyz stays 200 on both replicas (the status page stays
#      reachable) and the status reports the outage as the condition GitUnavailable.
# Usage: standby_test.sh JOBSYNC_BINARY SOURCE_DIR   (needs `scripts/cluster up`; fails without it)
set -uo pipefail
jobsync=$1
src=$2
source "$(dirname "$0")/testlib.sh"
require_cluster "$src"
unset RAY_ADDRESS  # Kubernetes only

run=$$
instance="standby-test-$run"
ns="s$run-team"
lease="standby-test-$run"
work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null; done
  [ -f "$work/daemon.pid" ] && kill "$(cat "$work/daemon.pid")" 2>/dev/null
  kubectl delete namespace "$ns" --wait=false >/dev/null 2>&1
  kubectl delete lease -n default "$lease" >/dev/null 2>&1
  if [ "$failed" -ne 0 ]; then
    for log in "$work"/*.log; do echo "--- $log (last 30 lines)"; tail -n 30 "$log"; done
  fi
  keep_logs "$work"
  rm -rf "$work"
}
trap cleanup EXIT

secret="standby-hook-$(openssl rand -hex 12)"
token="ghp_standby$(openssl rand -hex 16)"
register_secret "standby_test webhook secret" "$secret"
register_secret "standby_test status token" "$token"
printf '%s\n' "$secret" >"$work/webhook-secret"
printf '%s\n' "$token" >"$work/status-token"

# The commit-status API: records each request as a JSON line, answers 201 as GitHub does.
status_port=$(free_port)
cat >"$work/recorder.py" <<'PY'
import json, sys
from http.server import BaseHTTPRequestHandler, HTTPServer
out = open(sys.argv[2], "a", buffering=1)
class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
        out.write(json.dumps({"method": "POST", "path": self.path, "headers": dict(self.headers),
                              "body": json.loads(body)}) + "\n")
        self.send_response(201)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b"{}")
    def log_message(self, *args):
        pass
HTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
PY
python3 "$work/recorder.py" "$status_port" "$work/statuses.jsonl" &
pids+=($!)
# The chat webhook's URL, a credential, kept in a file like the token.
chat_url="http://127.0.0.1:$status_port/services/T0/B0/chat$(openssl rand -hex 8)"
register_secret "standby_test chat webhook URL" "$chat_url"
printf '%s\n' "$chat_url" >"$work/chat-url"

git_port=$(free_port)
mkdir -p "$work/srv"
git init -q --bare -b main "$work/srv/jobs.git"
git daemon --reuseaddr --base-path="$work/srv" --export-all --enable=receive-pack \
  --listen=127.0.0.1 --port="$git_port" --pid-file="$work/daemon.pid" --detach "$work/srv"
remote="git://127.0.0.1:$git_port/jobs.git"
mkdir -p "$work/wc" && git -C "$work/wc" init -q -b main && git -C "$work/wc" remote add origin "$remote"
write_job() {  # write_job REPLICAS
  printf '%s\n' "apiVersion: jobsync.dev/v1alpha1" "kind: TrainingJob" "metadata:" "  name: train" \
    "  namespace: $ns" "spec:" "  backend: kubernetes" "  image: python:3.11-slim" \
    "  command: [python, train.py]" "  roles:" "    worker:" "      replicas: $1" \
    "      resources: {cpu: \"1\", memory: 1Gi}" >"$work/wc/train.yaml"
}
commit() {  # commit MESSAGE: commits and pushes; prints the commit id
  git -C "$work/wc" add -A && git -C "$work/wc" -c user.name=Ada -c user.email=ada@example.com commit -qm "$1" &&
    git -C "$work/wc" push -q origin main || { echo "FAIL: cannot push to $remote"; exit 1; }
  git -C "$work/wc" rev-parse HEAD
}
write_job 1
first=$(commit "Add train")

start_agent() {  # start_agent NAME PORT
  "$jobsync" run --repo "$remote" --branch main --instance "$instance" --interval 1h \
    --cache-dir "$work/cache-$1" --listen "127.0.0.1:$2" --log-format json --state "$work/state.json" \
    --leader-elect --lease-name "$lease" --lease-namespace default --lease-duration 4s --identity "$1" \
    --webhook-secret-file "$work/webhook-secret" \
    --status-provider github --status-api-url "http://127.0.0.1:$status_port" \
    --status-repo ml/jobs --status-token-file "$work/status-token" \
    --notify-webhook-url-file "$work/chat-url" \
    >"$work/$1.log" 2>&1 &
  echo $! >"$work/$1.pid"
  pids+=($!)
}
port_c=$(free_port)
port_d=$(free_port)
start_agent c "$port_c"
start_agent d "$port_d"
status_of() { curl -sf "http://127.0.0.1:$1/api/v1/status"; }
writers() {
  for p in "$port_c" "$port_d"; do
    status_of "$p" | python3 -c "
import json, sys
s = json.load(sys.stdin)
if s.get('writer'): print(s['leaderElection']['holder'])" 2>/dev/null
  done
}
writer_count() { writers | wc -l; }
parallelism() { kubectl get job -n "$ns" train-worker -o jsonpath='{.spec.parallelism}' 2>/dev/null; }
wait_for "exactly one replica writes" 1 writer_count || stop
leader=$(writers)
if [ "$leader" == c ]; then
  standby=d leader_port=$port_c standby_port=$port_d
else
  standby=c leader_port=$port_d standby_port=$port_c
fi
wait_for "the leader applies the first commit" 1 parallelism || stop

# ---- 1. a push delivered to the standby -------------------------------------------------------
write_job 3
second=$(commit "Scale train to 3")
body="{\"ref\":\"refs/heads/main\",\"before\":\"$first\",\"after\":\"$second\",\"repository\":{\"full_name\":\"ml/jobs\"}}"
signature="sha256=$(printf '%s' "$body" | openssl dgst -sha256 -hmac "$secret" -hex | sed 's/^.* //')"
sent=$(date +%s%N)
answer=$(curl -s -w ' %{http_code}' -H 'Content-Type: application/json' -H 'X-GitHub-Event: push' \
  -H "X-Hub-Signature-256: $signature" --data-binary "$body" "http://127.0.0.1:$standby_port/hooks/github")
check "the standby accepts the push and wakes the leader" \
  "accepted: push to refs/heads/main; this replica is a standby: the leader was woken 200" "$answer"
applied=""
for _ in $(seq 1 150); do
  [ "$(parallelism)" == 3 ] && applied=$(date +%s%N) && break
  sleep 0.1
done
check "the leader applied the pushed commit (both poll once an hour)" 3 "$(parallelism)"
if [ -n "$applied" ]; then
  elapsed_ms=$(((applied - sent) / 1000000))
  echo "webhook to the standby -> Job scaled by the leader: ${elapsed_ms} ms"
  [ "$elapsed_ms" -lt 5000 ]
  check "applied within 5 s of the webhook" 0 $?
fi
check "the standby applied nothing" 0 "$(grep -c '"msg":"apply"' "$work/$standby.log")"

# ---- 2. commit statuses -------------------------------------------------------------------------
statuses() {  # "sha state" of each recorded request, in order
  python3 -c "
import json
for line in open('$work/statuses.jsonl'):
    r = json.loads(line)
    if r['path'].startswith('/repos/'): print(r['path'].rsplit('/', 1)[-1][:7], r['body']['state'])" 2>/dev/null
}
wait_for "one success status per commit, from the leader only" \
  "$(printf '%s success\n%s success' "${first:0:7}" "${second:0:7}")" statuses
check "the statuses have GitHub's shape (path, auth, accept, context)" ok "$(python3 -c "
import json
bad = []
for line in open('$work/statuses.jsonl'):
    r = json.loads(line)
    h = {k.lower(): v for k, v in r['headers'].items()}
    if r['path'].startswith('/services/'): continue
    if not r['path'].startswith('/repos/ml/jobs/statuses/'): bad.append(r['path'])
    if h.get('authorization') != 'Bearer ' + open('$work/status-token').read().strip(): bad.append('authorization')
    if h.get('accept') != 'application/vnd.github+json': bad.append('accept')
    if r['body'].get('context') != 'jobsync/$instance': bad.append('context')
print('ok' if not bad else ' '.join(sorted(set(bad))))")"

chat() {  # "event result commit" of each message to the chat webhook
  python3 -c "
import json
for line in open('$work/statuses.jsonl'):
    r = json.loads(line)
    if r['path'].startswith('/services/') and 'text' in r['body']:
        print(r['body']['event'], r['body']['result'], r['body']['commit'][:7])" 2>/dev/null
}
wait_for "one chat message (with a Slack-style text) per commit" \
  "$(printf 'sync success %s\nsync success %s' "${first:0:7}" "${second:0:7}")" chat

# ---- 3. Git down: still ready ----------------------------------------------------------------
kill "$(cat "$work/daemon.pid")"
rm -f "$work/daemon.pid"
sleep 0.5
generic_signature="sha256=$(printf '' | openssl dgst -sha256 -hmac "$secret" -hex | sed 's/^.* //')"
curl -s -o /dev/null --data-binary '' -H "X-Jobsync-Signature-256: $generic_signature" \
  "http://127.0.0.1:$leader_port/hooks/generic"
condition() {
  status_of "$leader_port" | python3 -c "
import json, sys
c = (json.load(sys.stdin).get('conditions') or [{}])[0]
print(c.get('type'), c.get('status'), c.get('reason'))"
}
wait_for "the leader reports the Git outage as a condition" "Ready False GitUnavailable" condition
ready() { curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$1/readyz"; }
check "/readyz of the leader stays 200 while Git is down" 200 "$(ready "$leader_port")"
check "/readyz of the standby stays 200 while Git is down" 200 "$(ready "$standby_port")"
check "the status page is served" 200 "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$leader_port/")"

check "neither the token, the webhook secret nor the chat URL appears in a log" 0 \
  "$(cat "$work"/*.log | grep -c -F -e "$token" -e "$secret" -e "$chat_url")"
for name in c d; do kill -TERM "$(cat "$work/$name.pid")"; done
finish
