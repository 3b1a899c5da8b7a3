#!/usr/bin/env bash
# Ray token authentication (Ray 2.52+) end to end: this test starts its own Ray head with
# RAY_AUTH_MODE=token (its own free ports, its own temp dir, the Ray venv of scripts/cluster) and
# runs `jobsync apply` and `jobsync plan` against its dashboard as a user would:
#   - the right token, from --ray-token-file, RAY_AUTH_TOKEN or RAY_AUTH_TOKEN_PATH, submits a
#     job and reads it back (Ray's own record, read with curl, says RUNNING);
#   - a wrong token is refused (HTTP 403) and a missing one (HTTP 401), each with a message
#     naming the settings to fix (--ray-token-file, RAY_AUTH_TOKEN);
#   - neither token ever appears in jobsync's output or log.
# The head is stopped by the pids of its own session and environment mark, never with `ray stop`
# (which stops every Ray process of the user, the shared head included).
# Usage: token_auth_test.sh JOBSYNC_BINARY SOURCE_DIR   (needs the Ray venv: scripts/cluster build)
set -uo pipefail
jobsync=$1
src=$2
source "$src/tests/cli/testlib.sh"

ray_version=$(sed -n 's/^readonly RAY_VERSION=//p' "$src/scripts/cluster")
venv="${XDG_CACHE_HOME:-$HOME/.cache}/jobsync/ray-$ray_version/venv"
if [ ! -x "$venv/bin/ray" ]; then
  echo "FAIL: no Ray $ray_version venv at $venv; run: scripts/cluster build"
  echo "0 passed, 1 failed"
  exit 1
fi

work=$(mktemp -d)
# Ray's unix socket paths must stay under ~107 bytes: a short temp dir of its own.
ray_tmp=$(mktemp -d /tmp/jsra-XXXXXX)
mark="JOBSYNC_RAY_AUTH_TEST=$ray_tmp"
sid=''
token=$(python3 -c 'import secrets; print(secrets.token_hex(24))')
wrong=$(python3 -c 'import secrets; print("wrong" + secrets.token_hex(20))')
register_secret "token_auth_test right token" "$token"
register_secret "token_auth_test wrong token" "$wrong"

# head_pids: the processes of this test's head: its session, and whatever carries its mark (job
# drivers run in sessions of their own).
head_pids() {
  {
    grep -lzxF "$mark" /proc/[0-9]*/environ 2>/dev/null | cut -d/ -f3
    if [ -n "$sid" ]; then
      local p stat
      for p in /proc/[0-9]*; do
        read -r stat 2>/dev/null <"$p/stat" || continue
        stat=${stat##*) }
        read -r _ _ _ s _ <<<"$stat"
        [ "$s" = "$sid" ] && echo "${p#/proc/}"
      done
    fi
  } | sort -un
}

stop_head() {
  local pids round
  for round in 1 2 3; do
    mapfile -t pids < <(head_pids)
    [ "${#pids[@]}" -gt 0 ] || return 0
    kill -TERM "${pids[@]}" 2>/dev/null
    for _ in $(seq 1 20); do
      mapfile -t pids < <(head_pids)
      [ "${#pids[@]}" -gt 0 ] || return 0
      sleep 0.25
    done
    kill -KILL "${pids[@]}" 2>/dev/null
    sleep 0.5
  done
}

cleanup() {
  stop_head
  keep_logs "$work"
  rm -rf "$work" "$ray_tmp"
}
trap cleanup EXIT

gcs=$(free_port) dash=$(free_port) client=$(free_port) agent=$(free_port)
address="http://127.0.0.1:$dash"
mkdir -p "$work/head-home"
# setsid does not fork here (the script has no job control), so $! is the head's session id.
env -u RAY_ADDRESS "$mark" HOME="$work/head-home" PATH="$venv/bin:$PATH" \
  RAY_AUTH_MODE=token RAY_AUTH_TOKEN="$token" RAY_USAGE_STATS_ENABLED=0 RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 \
  setsid "$venv/bin/ray" start --head --node-ip-address=127.0.0.1 --port="$gcs" \
  --ray-client-server-port="$client" --num-cpus=1 --num-gpus=0 --include-dashboard=true \
  --dashboard-host=127.0.0.1 --dashboard-port="$dash" --dashboard-agent-listen-port="$agent" \
  --disable-usage-stats --object-store-memory=100000000 --temp-dir="$ray_tmp" \
  >"$work/ray-start.out" 2>&1 </dev/null &
sid=$!
if ! wait "$sid"; then
  tail -n 20 "$work/ray-start.out"
  check "ray start --head with RAY_AUTH_MODE=token" 0 1 || stop
fi

# ray_api METHOD PATH [CURL_ARGS...]: the HTTP status and body of a request with the right token.
ray_api() {
  local method=$1 path=$2
  shift 2
  curl -s --max-time 10 -X "$method" -H "Authorization: Bearer $token" "$@" "$address$path"
}
# ray_status NAME: the status of this test's submission of job NAME ("" if none).
ray_status() {
  ray_api GET /api/jobs/ | python3 -c "
import json, sys
for j in json.load(sys.stdin):
    if (j.get('metadata') or {}).get('jobsync.dev/job') == '$1':
        print(j['status'])" 2>/dev/null
}
wait_seconds=90 wait_for "the dashboard answers with the token" 200 \
  curl -s -o /dev/null -w '%{http_code}' --max-time 5 -H "Authorization: Bearer $token" "$address/api/jobs/" || stop
check "the dashboard refuses a request without a token (token auth is on)" 401 \
  "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$address/api/jobs/")" || stop

# A repository with one Ray job.
mkdir -p "$work/repo"
cat >"$work/repo/job.yaml" <<'YAML'
apiVersion: jobsync.dev/v1alpha1
kind: TrainingJob
metadata:
  name: authed
  namespace: research
spec:
  backend: ray
  roles:
    worker:
      replicas: 1
  ray:
    entrypoint: python -c "import time; print('authenticated run'); time.sleep(600)"
    entrypointResources: {cpu: 0.1}
YAML
(cd "$work/repo" && git init -q -b main && git add -A &&
  git -c user.name=Ada -c user.email=ada@example.com commit -qm "Add a Ray job")
printf '%s\n' "$token" >"$work/token"
printf '  %s\n' "$wrong" >"$work/wrong-token"
chmod 600 "$work/token" "$work/wrong-token"
mkdir -p "$work/home"

# js LOG ARGS...: jobsync with no token settings but ARGS and what the caller puts in its
# environment (HOME is empty, so no ~/.ray/auth_token), against this head only; output to LOG.
js() {
  local log=$1
  shift
  env -u RAY_AUTH_TOKEN -u RAY_AUTH_TOKEN_PATH -u JOBSYNC_RAY_TOKEN -u JOBSYNC_RAY_TOKEN_FILE \
    -u KUBECONFIG HOME="$work/home" "${extra_env[@]}" \
    "$jobsync" "$@" --repo "$work/repo" --cache-dir "$work/cache" --instance "auth-test-$$" \
    --ray-address "$address" --allow-backend ray >"$work/$log.log" 2>&1
}
extra_env=()

js apply-right apply --ray-token-file "$work/token"
check "apply with the right token (--ray-token-file): exit 0" 0 $? || { cat "$work/apply-right.log"; stop; }
wait_for "the job is RUNNING on the head (Ray's own record)" RUNNING ray_status authed
js plan-right plan -o json --ray-token-file "$work/token"
check "plan with the right token reads the job back: exit 0 (no changes)" 0 $? || cat "$work/plan-right.log"

extra_env=(RAY_AUTH_TOKEN="$token")
js plan-ray-env plan
check "plan with RAY_AUTH_TOKEN only: exit 0 (no changes)" 0 $? || cat "$work/plan-ray-env.log"

extra_env=(RAY_AUTH_TOKEN_PATH="$work/token")
js plan-ray-path plan
check "plan with RAY_AUTH_TOKEN_PATH only: exit 0 (no changes)" 0 $? || cat "$work/plan-ray-path.log"

mkdir -p "$work/home/.ray" && cp "$work/token" "$work/home/.ray/auth_token"
extra_env=()
js plan-default-file plan
check "plan with only ~/.ray/auth_token: exit 0 (no changes)" 0 $? || cat "$work/plan-default-file.log"
rm -rf "$work/home/.ray"

# says LOG TEXT...: "yes" when $work/LOG.log has every TEXT, else the missing ones.
says() {
  local log=$1 text missing=''
  shift
  for text in "$@"; do grep -qF -- "$text" "$work/$log.log" || missing+="'$text' "; done
  echo "${missing:-yes}"
}

js plan-wrong plan --ray-token-file "$work/wrong-token"
check "plan with a wrong token: exit 2" 2 $?
check "  its message says the dashboard refused the token from --ray-token-file and how to fix it" yes \
  "$(says plan-wrong "HTTP 403" "refused the token from --ray-token-file ($work/wrong-token)" "RAY_AUTH_TOKEN")" ||
  cat "$work/plan-wrong.log"

extra_env=(RAY_AUTH_TOKEN="$wrong")
js apply-wrong apply
check "apply with a wrong RAY_AUTH_TOKEN: exit 1 (the job failed, listed)" 1 $?
check "  its message names RAY_AUTH_TOKEN as the refused source" yes \
  "$(says apply-wrong "HTTP 403" "refused the token from RAY_AUTH_TOKEN")" || cat "$work/apply-wrong.log"

extra_env=()
js plan-none plan
check "plan without any token: exit 2" 2 $?
check "  its message says none was sent and which settings give one" yes \
  "$(says plan-none "HTTP 401" "sent none" "--ray-token-file" "RAY_AUTH_TOKEN")" || cat "$work/plan-none.log"
check "only the one job submitted with the right token exists on the head" 1 \
  "$(ray_api GET /api/jobs/ | python3 -c 'import json, sys; print(len(json.load(sys.stdin)))')"

leaks=$(grep -lF -e "$token" -e "$wrong" "$work"/*.log | xargs -r -n1 basename | paste -sd' ')
check "no token in any jobsync output or log" "" "$leaks"

finish
