#!/usr/bin/env bash
# Plans a pull request (GitHub) or merge request (GitLab) as CI checks it out: run at the root of
# the checkout, whose HEAD is what would be merged (GitHub's refs/pull/N/merge, GitLab's
# merge-request head), shallow or not.
#
# Usage: jobsync-pr-plan.sh BASE_BRANCH [MANIFEST_PATH] [OUTPUT_FILE]
#   1. fetches the base branch at depth 1 (origin/BASE_BRANCH), as a shallow checkout lacks it;
#   2. jobsync validate MANIFEST_PATH (problems go to the job's log);
#   3. jobsync plan --repo . --path MANIFEST_PATH --from origin/BASE_BRANCH --to HEAD -o markdown,
#      written to OUTPUT_FILE (default jobsync-plan.md) after a hidden marker line, which the
#      comment scripts look for to update their comment instead of adding one.
# Exit status: jobsync plan's: 0 no changes, 1 changes (both fine for a check), 2 manifest
# problems or errors (the check fails; the comment says why).
# Environment: JOBSYNC, the jobsync binary (default: jobsync on PATH).
set -uo pipefail
base=${1:?usage: jobsync-pr-plan.sh BASE_BRANCH [MANIFEST_PATH] [OUTPUT_FILE]}
path=${2:-.}
output=${3:-jobsync-plan.md}
jobsync=${JOBSYNC:-jobsync}

git fetch --quiet --no-tags --depth=1 origin "+refs/heads/$base:refs/remotes/origin/$base" || exit 2
"$jobsync" validate "$path"
{
  echo "<!-- jobsync-plan -->"
  "$jobsync" plan --repo . --path "$path" --from "origin/$base" --to HEAD -o markdown
} >"$output"
exit $?  # a group's status is its last command's: the plan's
