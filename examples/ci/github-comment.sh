#!/usr/bin/env bash
# Posts FILE as the pull request's jobsync comment, or updates the comment posted before: one
# sticky comment per pull request, found by the hidden marker line FILE starts with
# ("<!-- jobsync-plan -->", as jobsync-pr-plan.sh writes it). GitHub REST API: list the issue's
# comments (GET /repos/{repo}/issues/{n}/comments, 100 a page), then PATCH
# /repos/{repo}/issues/comments/{id} or POST /repos/{repo}/issues/{n}/comments.
#
# Usage: github-comment.sh FILE
# Environment: GITHUB_TOKEN (needs pull-requests: write), GITHUB_REPOSITORY (owner/name),
# PR_NUMBER, and GITHUB_API_URL (set by Actions; default https://api.github.com). The token is
# passed to curl in a header read from stdin, never on the command line.
set -euo pipefail
file=${1:?usage: github-comment.sh FILE}
: "${GITHUB_TOKEN:?set GITHUB_TOKEN}" "${GITHUB_REPOSITORY:?set GITHUB_REPOSITORY}"
: "${PR_NUMBER:?set PR_NUMBER}"
api=${GITHUB_API_URL:-https://api.github.com}
marker=$(head -n 1 "$file")

github() {  # METHOD PATH [curl args...]
  local method=$1 path=$2
  shift 2
  printf 'Authorization: Bearer %s\n' "$GITHUB_TOKEN" |
    curl --fail-with-body --silent --show-error --request "$method" --header @- \
      --header "Accept: application/vnd.github+json" \
      --header "X-GitHub-Api-Version: 2022-11-28" --header "Content-Type: application/json" \
      "$@" "$api$path"
}

id=""
for page in $(seq 1 30); do
  comments=$(github GET "/repos/$GITHUB_REPOSITORY/issues/$PR_NUMBER/comments?per_page=100&page=$page")
  id=$(jq -r --arg marker "$marker" \
    'map(select(.body | startswith($marker))) | first | .id // empty' <<<"$comments")
  [ -n "$id" ] || [ "$(jq length <<<"$comments")" -lt 100 ] && break
done
body=$(jq -n --rawfile body "$file" '{body: $body}')
if [ -n "$id" ]; then
  github PATCH "/repos/$GITHUB_REPOSITORY/issues/comments/$id" --data "$body" >/dev/null
  echo "updated comment $id"
else
  github POST "/repos/$GITHUB_REPOSITORY/issues/$PR_NUMBER/comments" --data "$body" >/dev/null
  echo "created a comment"
fi
