#!/usr/bin/env bash
# Posts FILE as the merge request's jobsync note, or updates the note posted before: one sticky
# note per merge request, found by the hidden marker line FILE starts with. GitLab REST API v4:
# GET /projects/{id}/merge_requests/{iid}/notes (100 a page), then PUT .../notes/{note_id} or
# POST .../notes.
#
# Usage: gitlab-comment.sh FILE
# Environment: JOBSYNC_GITLAB_TOKEN (a project or personal access token with the api scope; the
# job token cannot write notes), and from GitLab CI: CI_API_V4_URL, CI_PROJECT_ID,
# CI_MERGE_REQUEST_IID. The token travels in a header read from stdin, never on the command line.
set -euo pipefail
file=${1:?usage: gitlab-comment.sh FILE}
: "${JOBSYNC_GITLAB_TOKEN:?set JOBSYNC_GITLAB_TOKEN}" "${CI_API_V4_URL:?}" "${CI_PROJECT_ID:?}"
: "${CI_MERGE_REQUEST_IID:?run in a merge request pipeline}"
marker=$(head -n 1 "$file")
notes="/projects/$CI_PROJECT_ID/merge_requests/$CI_MERGE_REQUEST_IID/notes"

gitlab() {  # METHOD PATH [curl args...]
  local method=$1 path=$2
  shift 2
  printf 'PRIVATE-TOKEN: %s\n' "$JOBSYNC_GITLAB_TOKEN" |
    curl --fail-with-body --silent --show-error --request "$method" --header @- "$@" \
      "$CI_API_V4_URL$path"
}

id=""
for page in $(seq 1 30); do
  list=$(gitlab GET "$notes?per_page=100&page=$page")
  id=$(jq -r --arg marker "$marker" \
    'map(select(.body | startswith($marker))) | first | .id // empty' <<<"$list")
  [ -n "$id" ] || [ "$(jq length <<<"$list")" -lt 100 ] && break
done
body=$(jq -n --rawfile body "$file" '{body: $body}')
if [ -n "$id" ]; then
  gitlab PUT "$notes/$id" --header "Content-Type: application/json" --data "$body" >/dev/null
  echo "updated note $id"
else
  gitlab POST "$notes" --header "Content-Type: application/json" --data "$body" >/dev/null
  echo "created a note"
fi
