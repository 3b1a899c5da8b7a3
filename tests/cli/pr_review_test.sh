#!/usr/bin/env bash
# End-to-end test of pull-request review as CI runs it (examples/ci/): real Git repositories made
# with the git command, checked out the way actions/checkout and GitLab's merge-request pipelines
# do (shallow fetch of the merge ref, detached HEAD, base branch fetched at depth 1), then the
# examples' own scripts: validate, plan to Markdown, post or update one sticky comment (against a
# loopback stand-in for the GitHub and GitLab comment APIs), exit 2 on manifest problems.
# Usage: pr_review_test.sh JOBSYNC_BINARY SOURCE_DIR
set -uo pipefail
jobsync=$(realpath "$1")
src=$(cd "$2" && pwd)
source "$(dirname "$0")/testlib.sh"
for tool in git jq curl python3; do
  command -v "$tool" >/dev/null ||
    { echo "FAIL: $tool is missing; install it (apt-get install $tool)"; echo "0 passed, 1 failed"; exit 1; }
done

work=$(mktemp -d)
host_pid=""
cleanup() { [ -n "$host_pid" ] && kill "$host_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
export JOBSYNC=$jobsync GIT_CONFIG_GLOBAL=$work/gitconfig GIT_CONFIG_NOSYSTEM=1
git config --global user.name "Alice Example"
git config --global user.email alice@example.com
git config --global init.defaultBranch main
git config --global advice.detachedHead false
ci=$src/examples/ci

# --- The jobs repository: main, a pull request adding 32 GPUs in vision, one with a typo. ---
origin=$work/origin.git
git init -q --bare "$origin"
author=$work/author
git init -q "$author"
mkdir -p "$author/jobs"
cp -r "$src/examples/repo/." "$author/jobs/"
git -C "$author" add -A && git -C "$author" commit -q -m "Jobs"
git -C "$author" push -q "$origin" main
cat >"$author/jobs/vision/detr.yaml" <<'YAML'
apiVersion: jobsync.dev/v1alpha1
kind: TrainingJob
metadata:
  name: detr
  namespace: vision
spec:
  backend: kubernetes
  image: pytorch/pytorch:2.4.0
  command: [torchrun, train_detr.py]
  roles:
    worker:
      replicas: 4
      resources: {cpu: "8", memory: 64Gi, gpu: 8}
YAML
git -C "$author" checkout -q -b add-detr
git -C "$author" add -A && git -C "$author" commit -q -m "Add detr"
git -C "$author" checkout -q --detach main
git -C "$author" merge -q --no-ff -m "Merge add-detr into main" add-detr
git -C "$author" push -q "$origin" add-detr HEAD:refs/pull/1/merge add-detr:refs/merge-requests/1/head
git -C "$author" checkout -q -b typo main
cat >"$author/jobs/vision/typo.yaml" <<'YAML'
apiVersion: jobsync.dev/v1alpha1
kind: TrainingJob
metadata:
  name: typo
  namespace: vision
spec:
  backend: kubernetes
  image: pytorch/pytorch:2.4.0
  roles:
    worker:
      replicaz: 4
YAML
git -C "$author" add -A && git -C "$author" commit -q -m "Add a job with a typo"
git -C "$author" checkout -q --detach main
git -C "$author" merge -q --no-ff -m "Merge typo into main" typo
git -C "$author" push -q "$origin" HEAD:refs/pull/2/merge
# main moves on after the pull requests were opened: the base is main's tip, fetched at depth 1.
git -C "$author" checkout -q main
git -C "$author" commit -q --allow-empty -m "Unrelated change"
git -C "$author" push -q "$origin" main

# actions/checkout@v4 for a pull_request event: fetch-depth 1 of the merge ref, detached HEAD.
github_checkout() {  # DIR PR_NUMBER
  git init -q "$1"
  git -C "$1" remote add origin "file://$origin"
  git -C "$1" fetch -q --no-tags --prune --depth=1 origin "+refs/pull/$2/merge:refs/remotes/pull/$2/merge"
  git -C "$1" checkout -q --force refs/remotes/pull/$2/merge
}

# --- GitHub: the plan of pull request 1, posted and then updated as one comment. ---
github_checkout "$work/gh1" 1
check "the checkout is shallow" yes "$([ -f "$work/gh1/.git/shallow" ] && echo yes)"
check "the checkout is a detached HEAD" HEAD "$(git -C "$work/gh1" rev-parse --abbrev-ref HEAD)"
(cd "$work/gh1" && "$ci/jobsync-pr-plan.sh" main jobs plan.md >"$work/gh1.out" 2>"$work/gh1.err")
check "pull request 1: exit 1 (changes)" 1 "$?" || cat "$work/gh1.err"
plan=$work/gh1/plan.md
check "the comment starts with the marker" "<!-- jobsync-plan -->" "$(head -n 1 "$plan")"
check "the plan creates detr" 1 "$(grep -c '^### create `kubernetes/vision/detr`$' "$plan")"
check "the plan shows the GPUs the change costs" 1 \
  "$(grep -c '^- vision: +32 GPUs (.* -> .*), +32 CPUs (.*), +256Gi memory' "$plan")"
check "validate passed" "ok: 9 valid jobs (7 kubernetes, 2 ray)" "$(cat "$work/gh1.out")"

token=ghs_$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
register_secret "fake git host token" "$token"
python3 "$src/tests/cli/fake_git_host.py" "$work/port" "$token" "$work/host.log" &
host_pid=$!
for _ in $(seq 1 50); do [ -f "$work/port" ] && break; sleep 0.1; done
api=http://127.0.0.1:$(cat "$work/port")
state() { curl -sf -H "PRIVATE-TOKEN: $token" "$api/state"; }

export GITHUB_API_URL=$api GITHUB_REPOSITORY=team/jobs PR_NUMBER=1 GITHUB_TOKEN=$token
out=$("$ci/github-comment.sh" "$plan" 2>&1); code=$?
check "first push: the comment is created" "0 created a comment" "$code $out"
echo "<!-- another bot -->" >"$work/other.md"
GITHUB_TOKEN=$token "$ci/github-comment.sh" "$work/other.md" >/dev/null
echo "another push" >>"$plan"
out=$("$ci/github-comment.sh" "$plan" 2>&1); code=$?
check "next push: the same comment is updated" "0 updated comment 1001" "$code $out"
check "one jobsync comment on the pull request" 1 \
  "$(state | jq '[."github:team/jobs#1"[] | select(.body | startswith("<!-- jobsync-plan -->"))] | length')"
check "the comment holds the latest plan" 1 \
  "$(state | jq -r '."github:team/jobs#1"[0].body' | grep -c '^another push$')"
out=$(GITHUB_TOKEN=wrong "$ci/github-comment.sh" "$plan" 2>&1); code=$?
check "a refused token fails the step" 1 "$([ "$code" -ne 0 ] && echo 1)"
check "the token never reaches the log" "" "$(grep -F "$token" <<<"$out")"

# --- GitHub: pull request 2 has a typo; the check fails and the comment says where. ---
github_checkout "$work/gh2" 2
(cd "$work/gh2" && "$ci/jobsync-pr-plan.sh" main jobs plan.md >/dev/null 2>"$work/gh2.err")
check "pull request 2: exit 2 (manifest problem)" 2 "$?"
check "the comment lists the problem with file:line:column" 1 \
  "$(grep -c '^- `jobs/vision/typo.yaml:[0-9]*:[0-9]*`: .*replicaz' "$work/gh2/plan.md")"
check "the comment has the problems section" 1 "$(grep -c '^### Manifest problems$' "$work/gh2/plan.md")"
check "the problem is in the job's log too" yes \
  "$(grep -q 'typo.yaml:[0-9]*:[0-9]*: ' "$work/gh2.err" && echo yes)"

# --- GitLab: a merge-request pipeline, detached at the merge request's head. ---
gl=$work/gitlab
git init -q "$gl"
git -C "$gl" remote add origin "file://$origin"
git -C "$gl" fetch -q --depth=1 origin "+refs/merge-requests/1/head:refs/merge-requests/1/head"
git -C "$gl" checkout -q --detach refs/merge-requests/1/head
(cd "$gl" && "$ci/jobsync-pr-plan.sh" main jobs plan.md >/dev/null 2>"$work/gl.err")
check "merge request 1: exit 1 (changes)" 1 "$?" || cat "$work/gl.err"
export JOBSYNC_GITLAB_TOKEN=$token CI_API_V4_URL=$api/api/v4 CI_PROJECT_ID=42 CI_MERGE_REQUEST_IID=1
out=$("$ci/gitlab-comment.sh" "$gl/plan.md" 2>&1)
check "merge request: the note is created" "created a note" "$out"
out=$("$ci/gitlab-comment.sh" "$gl/plan.md" 2>&1)
check "merge request: the note is updated" "updated note 1003" "$out"
check "one note on the merge request" 1 "$(state | jq '."gitlab:42!1" | length')"

# --- The commands people type, in those checkouts. ---
cd "$work/gh1" || stop
"$jobsync" plan --repo . --from origin/main --to HEAD -o markdown >/dev/null 2>&1
check "README command: plan --from origin/main --to HEAD" 1 "$?"
err=$("$jobsync" plan --repo . --from HEAD~1 --to HEAD 2>&1 >/dev/null); code=$?
check "a revision the shallow clone lacks: exit 2" 2 "$code"
check "... names the fetch that brings it" 1 "$(grep -c 'shallow clone.*git fetch --deepen=1' <<<"$err")"
git fetch -q --deepen=1
"$jobsync" plan --repo . --from HEAD^1 --to HEAD >/dev/null 2>&1
check "after that fetch, HEAD^1 resolves" 1 "$?"
err=$("$jobsync" plan --repo "$work/nowhere" --from main --to main 2>&1); code=$?
check "a --repo that does not exist: exit 2" 2 "$code"
check "... is named as such" 1 "$(grep -c 'nowhere does not exist' <<<"$err")"
mkdir -p "$work/plain"
err=$("$jobsync" plan --repo "$work/plain" --from main --to main 2>&1)
check "a folder that is no repository is named as such" 1 "$(grep -c 'plain is not a Git repository' <<<"$err")"

# --- README's "Reviewing pull requests" shows the workflow as examples/ci has it. ---
readme_steps=$(awk '/^### Reviewing pull requests/{on=1} on && /^```yaml/{body=1; next} body && /^```/{exit} body' "$src/README.md")
missing=$(while IFS= read -r line; do
  grep -qxF -- "$line" "$ci/github-actions.yml" || echo "$line"
done <<<"$readme_steps")
check "README's workflow steps are examples/ci/github-actions.yml's" "" "$missing"
check "README shows the workflow" yes "$([ "$(wc -l <<<"$readme_steps")" -gt 10 ] && echo yes)"

finish
