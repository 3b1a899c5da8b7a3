#!/usr/bin/env bash
# End-to-end test of the messages for command lines jobsync refuses (agent/cli/usage_errors.h):
# mistyped commands and flags get the nearest name, missing arguments are named as they are
# written, and every message points at the command's own --help. Each exits 2.
# Usage: usage_test.sh JOBSYNC_BINARY SOURCE_DIR
set -uo pipefail
jobsync=$1
source "$(dirname "$0")/testlib.sh"

# expect NAME EXPECTED_STDERR ARGS...: runs jobsync ARGS, checks exit 2, an empty stdout and
# exactly EXPECTED_STDERR on stderr.
expect() {
  local name=$1 expected=$2 out err code
  shift 2
  err=$("$jobsync" "$@" 2>&1 >/dev/null); code=$?
  out=$("$jobsync" "$@" 2>/dev/null)
  check "$name: exit code" 2 "$code"
  check "$name: nothing on stdout" "" "$out"
  check "$name: message" "$expected" "$err"
}

expect "mistyped command" "jobsync: unknown command valdate; did you mean validate?
Run 'jobsync --help' for usage." valdate examples/repo

expect "command prefix" "jobsync: unknown command hist; did you mean history?
Run 'jobsync --help' for usage." hist

expect "unknown command, nothing near" "jobsync: unknown command frobnicate
Run 'jobsync --help' for usage." frobnicate

expect "no command" "jobsync: a command is required: one of validate, convert, history, plan, apply, render, run, status, logs
Run 'jobsync --help' for usage."

expect "mistyped flag, before a missing --repo" "jobsync: unknown flag --allow-backed for plan; did you mean --allow-backend?
Run 'jobsync plan --help' for usage." plan --allow-backed kubernetes

expect "mistyped flag with =value" "jobsync: unknown flag --intreval for run; did you mean --interval?
Run 'jobsync run --help' for usage." run --intreval=5s --repo .

expect "two mistyped flags" "jobsync: unknown flag --dryrun for apply; did you mean --dry-run?
jobsync: unknown flag --prnue for apply; did you mean --prune?
Run 'jobsync apply --help' for usage." apply --dryrun --prnue --repo .

expect "unknown flag, nothing near" "jobsync: unknown flag --xyzzy for status
Run 'jobsync status --help' for usage." status --xyzzy

expect "unknown top-level flag" "jobsync: unknown flag --verison; did you mean --version?
Run 'jobsync --help' for usage." --verison

expect "a mistyped top-level flag before the command" "jobsync: unknown flag --verison for plan; did you mean --version?
Run 'jobsync plan --help' for usage." --verison plan

expect "history without a job" "jobsync: history needs a job: NAMESPACE/NAME
Run 'jobsync history --help' for usage." history

expect "validate without a path" "jobsync: validate needs a path: PATH ...
Run 'jobsync validate --help' for usage." validate

expect "render without a path" "jobsync: render needs a path: PATH ...
Run 'jobsync render --help' for usage." render

expect "convert without a file" "jobsync: convert needs a file: FILE ...
Run 'jobsync convert --help' for usage." convert

expect "history with a job but no --repo" "jobsync: --repo is required
Run 'jobsync history --help' for usage." history team/job

expect "a bad value points at the command's help" "jobsync: --output: yaml not in {table,json}
Run 'jobsync status --help' for usage." status --output yaml

expect "a flag without its value" "jobsync: --repo: 1 required TEXT missing
Run 'jobsync plan --help' for usage." plan --repo

# Words after -- are arguments, never flags; a negative number is a value.
err=$("$jobsync" validate -- --not-a-flag 2>&1 >/dev/null)
check "words after -- are not taken for flags" "" "$(printf '%s\n' "$err" | grep 'unknown flag')"
err=$("$jobsync" history --max-commits -1 --repo . team/job 2>&1 >/dev/null)
check "a negative number is not taken for a flag" "" "$(printf '%s\n' "$err" | grep 'unknown flag')"

# Everything that is right still works: help, version, a valid command line.
"$jobsync" plan --help >/dev/null 2>&1
check "plan --help exits 0" 0 "$?"
"$jobsync" --version >/dev/null 2>&1
check "--version exits 0" 0 "$?"
check "history's usage names the job's form" 1 \
  "$("$jobsync" history --help | grep -c 'job NAMESPACE/NAME REQUIRED')"

finish
