# Shared by the command-line tests: assertions that count, and the check that the local cluster
# answers. Source it; then call `finish` last. Prints one line per check and, at the end,
# "N passed, M failed".

passed=0
failed=0
failed_names=()

# check NAME EXPECTED ACTUAL: returns 1 when they differ, so a test can stop early (`|| stop`).
# Each line ends with the seconds since the test began, so that a slow step shows in CI's log.
check() {
  if [ "$2" == "$3" ]; then
    passed=$((passed + 1)); echo "ok   $1  [${SECONDS}s]"
  else
    failed=$((failed + 1)); failed_names+=("$1")
    printf 'FAIL %s  [%ss]\n  expected: %s\n  actual:   %s\n' "$1" "$SECONDS" "$2" "$3"
    return 1
  fi
}

# wait_for NAME EXPECTED COMMAND...: polls COMMAND's output once a second for up to
# $wait_seconds (default 60) seconds.
wait_for() {
  local name=$1 expected=$2 actual=""
  shift 2
  for _ in $(seq 1 "${wait_seconds:-60}"); do
    actual=$("$@" 2>/dev/null)
    [ "$actual" == "$expected" ] && break
    sleep 1
  done
  check "$name" "$expected" "$actual"
}

# require_cluster SOURCE_DIR [ray]: exports the local cluster's environment and fails the test,
# saying how to start it, when the kube-apiserver (or, with "ray", the Ray dashboard) is down.
require_cluster() {
  local how="run: scripts/cluster up && eval \"\$(scripts/cluster env)\""
  eval "$("$1/scripts/cluster" env)" || { echo "FAIL: no local cluster; $how"; echo "0 passed, 1 failed"; exit 1; }
  kubectl version --request-timeout=5s >/dev/null 2>&1 ||
    { echo "FAIL: kube-apiserver unreachable; $how"; echo "0 passed, 1 failed"; exit 1; }
  if [ "${2:-}" == ray ]; then
    curl -sf "$RAY_ADDRESS/api/version" >/dev/null ||
      { echo "FAIL: Ray dashboard unreachable at $RAY_ADDRESS; $how"; echo "0 passed, 1 failed"; exit 1; }
  fi
}

# require_browser: sets `chromium` (headless Chromium, Debian's package) and `python` (the
# cluster's Ray venv, whose ray[default] brings aiohttp for the DevTools websocket), failing the
# test, saying how to get them, when either is missing.
require_browser() {
  chromium=$(command -v chromium) || { echo "FAIL: chromium is not installed; run scripts/install-deps"; exit 1; }
  python=$(dirname "$(readlink -f "$(command -v ray)")")/python
  "$python" -c 'import aiohttp' 2>/dev/null || { echo "FAIL: no aiohttp in the Ray venv; run scripts/cluster up"; exit 1; }
}

# finish: prints the totals; the test's exit status is whether nothing failed.
finish() {
  echo "$passed passed, $failed failed"
  [ "$failed" -eq 0 ]
}

# failure_summary: the names of the checks that failed, one per line; for a test that prints more
# (logs) after `finish`, to repeat last, where a truncated output still shows it.
failure_summary() {
  [ "$failed" -eq 0 ] && return 0
  echo "$failed failed checks:"
  printf '  FAIL %s\n' "${failed_names[@]}"
}

# stop: ends the test after a failure that makes the rest meaningless.
stop() {
  echo "stopping: the checks after this one depend on it"
  finish
  exit 1
}

# register_secret LABEL VALUE: records a secret this test uses (a token, a webhook secret) for
# scripts/scan-secrets, which fails the suite when one appears in a log. Appends
# "LABEL<TAB>VALUE" to the file named by $JOBSYNC_TEST_SECRETS; does nothing when it is unset
# or VALUE is empty (a command that should have made the secret failed: the test reports that).
register_secret() {
  [ -n "${JOBSYNC_TEST_SECRETS:-}" ] && [ -n "$2" ] || return 0
  printf '%s\t%s\n' "$1" "$2" >>"$JOBSYNC_TEST_SECRETS"
}

# keep_logs DIR: when $JOBSYNC_TEST_LOGS is set, copies DIR's *.log files (the agents' logs) to
# $JOBSYNC_TEST_LOGS/<test script name>/ for scripts/scan-secrets. Call it in the test's cleanup,
# before DIR is removed.
keep_logs() {
  [ -n "${JOBSYNC_TEST_LOGS:-}" ] || return 0
  local kept
  kept="$JOBSYNC_TEST_LOGS/$(basename "$0" .sh)"
  mkdir -p "$kept" && cp -p "$1"/*.log "$kept/" 2>/dev/null
  return 0
}

# free_port: a TCP port free on loopback now, for an agent's --listen or a server of the test.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# agent_runs PORT: the sync runs the agent listening on PORT has finished (jobsync_sync_runs_total).
agent_runs() { curl -sf "http://127.0.0.1:$1/metrics" | awk '/^jobsync_sync_runs_total/ {n += $2} END {print n + 0}'; }

# wait_agent_runs PORT N [SECONDS]: until that agent has finished N more sync runs, for at most
# SECONDS (default 60); returns 1 when they did not come.
wait_agent_runs() {
  local target=$(( $(agent_runs "$1") + $2 ))
  for _ in $(seq 1 "${3:-60}"); do [ "$(agent_runs "$1")" -ge "$target" ] && return 0; sleep 1; done
  return 1
}
