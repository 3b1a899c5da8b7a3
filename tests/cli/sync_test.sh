#!/usr/bin/env bash
# End-to-end test of `jobsync plan`, `apply` and `render` as a user runs them: a real Git
# repository made from examples/repo, the real local kube-apiserver (checked with kubectl, an
# independent client) and the real Ray head.
# Usage: sync_test.sh JOBSYNC_BINARY SOURCE_DIR   (needs `scripts/cluster up`; fails without it)
set -uo pipefail
jobsync=$1
src=$2
source "$(dirname "$0")/testlib.sh"
require_cluster "$src" ray

run=$$
instance="cli-test-$run"
work=$(mktemp -d)
namespaces=()
ray_jobs() {  # submissions of this test's instance: "name status" lines, sorted
  curl -s "$RAY_ADDRESS/api/jobs/" | python3 -c "
import json, sys
for j in json.load(sys.stdin):
    m = j.get('metadata') or {}
    if m.get('jobsync.dev/instance') == '$instance' and j['status'] in ('PENDING', 'RUNNING'):
        print(m.get('jobsync.dev/job'), j['status'])" | sort
}
cleanup() {
  for ns in "${namespaces[@]}"; do kubectl delete namespace "$ns" --wait=false >/dev/null 2>&1; done
  rm -rf "$work"
}
trap cleanup EXIT

# A repository of the examples, in namespaces of this run so it shares nothing with others.
cp -r "$src/examples/repo" "$work/repo"
cd "$work/repo"
for f in $(find . -name '*.yaml'); do sed -i "s/namespace: \(.*\)/namespace: t$run-\1/" "$f"; done
for ns in vision recsys nlp research; do namespaces+=("t$run-$ns"); done
git init -q -b main && git add -A && git -c user.name=Ada -c user.email=ada@example.com commit -qm "Add jobs"
rev_a=$(git rev-parse HEAD)
sed -i 's/replicas: 4$/replicas: 6/' vision/resnet50.yaml
sed -i 's/tensorflow:2.17.0/tensorflow:2.18.0/' recsys/wide-deep.yaml
git rm -q ray/tuning.yaml
git -c user.name=Bob -c user.email=bob@example.com commit -qam "Scale resnet50, bump TF, drop the Ray jobs"
rev_b=$(git rev-parse HEAD)
cd "$src"
repo=(--repo "$work/repo" --cache-dir "$work/cache" --instance "$instance")

# Offline plans, for pull-request review.
"$jobsync" plan "${repo[@]}" --from "$rev_a" --to "$rev_a" >/dev/null
check "plan between equal revisions: exit 0" 0 $?
json=$("$jobsync" plan "${repo[@]}" --from main~1 --to main --prune -o json); code=$?
check "plan with changes: exit 1" 1 "$code"
actions=$(printf '%s' "$json" | python3 -c "
import json, sys
print(' '.join(s['job'].split('/')[2] + '=' + s['action'] for s in json.load(sys.stdin)['steps']))")
check "offline plan actions" \
  "corpus-prep=none llama-finetune=none wide-deep=update resnet50=scale vit-large=none lr-sweep=delete ppo-cartpole=delete bert-pretrain=none" \
  "$actions"
markdown=$("$jobsync" plan "${repo[@]}" --from main~1 --to main -o markdown)
check "markdown plan's summary counts one scale" "| scale | 1 |" "$(printf '%s\n' "$markdown" | grep '^| scale ')"

# Apply the first revision to the real clusters.
out=$("$jobsync" apply "${repo[@]}" --rev "$rev_a" 2>&1); code=$?
check "apply A: exit 0" 0 "$code"
[ "$code" -eq 0 ] || printf '%s\n' "$out"
wait_for "resnet50 runs 4 pods (kubectl)" 4 \
  bash -c "kubectl get pods -n t$run-vision -l jobsync.dev/job=resnet50 --field-selector=status.phase=Running -o name | wc -l"
check "resnet50 Job is Indexed with parallelism 4" "Indexed 4 4" \
  "$(kubectl get job -n t$run-vision resnet50-worker -o jsonpath='{.spec.completionMode} {.spec.parallelism} {.spec.completions}')"
check "Job carries the commit it came from" "$rev_a" \
  "$(kubectl get job -n t$run-vision resnet50-worker -o jsonpath='{.metadata.annotations.jobsync\.dev/revision}')"
check "headless Service for rendezvous" "None" \
  "$(kubectl get service -n t$run-vision resnet50 -o jsonpath='{.spec.clusterIP}')"
check "suspended job is not created" "" "$(kubectl get jobs -n t$run-vision -l jobsync.dev/job=vit-large -o name)"
wait_for "Ray jobs submitted" "$(printf 'lr-sweep RUNNING\nppo-cartpole RUNNING')" ray_jobs

# render: the objects of revision A, which the real apiserver accepts as the live ones
# (server-side dry run of kubectl apply: a difference in an immutable field would fail).
git -C "$work/repo" checkout -q "$rev_a"
"$jobsync" render --instance "$instance" --revision "$rev_a" "$work/repo" \
  | kubectl apply --dry-run=server -f - 2>&1 | grep -v "^Warning: " \
  | grep -v -E " (configured|unchanged) \(server dry run\)$|/vit-large(-worker)? created \(server dry run\)$"
check "render output passes a server-side dry run (only the suspended job is new)" 1 $?
git -C "$work/repo" checkout -q main

out=$("$jobsync" apply "${repo[@]}" --rev "$rev_a" 2>&1); code=$?
check "second apply: exit 0" 0 "$code"
check "second apply changes nothing" \
  "Plan: 0 to create, 0 to scale, 0 to patch, 0 to update, 0 to delete, 8 unchanged, 0 errors." \
  "$(printf '%s\n' "$out" | grep '^Plan:')"

# An unreachable Ray dashboard holds back the Ray jobs only; Kubernetes jobs proceed, and
# nothing on Ray is deleted (at B the Ray jobs are gone from Git).
steps_of() {  # the given jobs' "name=action:error" from a JSON plan on stdin
  python3 -c "
import json, sys
steps = {s['job'].split('/')[2]: s for s in json.load(sys.stdin)['steps']}
print(' '.join(n + '=' + (steps[n]['action'] + ':' + str(steps[n].get('error', False)) if n in steps else 'absent')
               for n in sys.argv[1:]))" "$@"
}
json=$(RAY_ADDRESS=http://127.0.0.1:9 "$jobsync" plan "${repo[@]}" --rev "$rev_a" -o json 2>/dev/null); code=$?
check "plan with Ray unreachable: exit 2" 2 "$code"
check "Ray jobs are held back as errors, Kubernetes jobs planned" \
  "resnet50=none:False lr-sweep=none:True ppo-cartpole=none:True" \
  "$(printf '%s' "$json" | steps_of resnet50 lr-sweep ppo-cartpole)"
json=$(RAY_ADDRESS=http://127.0.0.1:9 "$jobsync" plan "${repo[@]}" --rev "$rev_b" --prune -o json 2>/dev/null); code=$?
check "pruning plan with Ray unreachable: exit 1 (Kubernetes changes only)" 1 "$code"
check "no Ray deletes while Ray cannot be read" "resnet50=scale:False lr-sweep=absent ppo-cartpole=absent" \
  "$(printf '%s' "$json" | steps_of resnet50 lr-sweep ppo-cartpole)"

# The live plan at B, then apply it.
"$jobsync" plan "${repo[@]}" --rev "$rev_b" --prune >/dev/null 2>&1
check "live plan with changes: exit 1" 1 $?
uid_before=$(kubectl get job -n t$run-recsys wide-deep-worker -o jsonpath='{.metadata.uid}')
out=$("$jobsync" apply "${repo[@]}" --rev "$rev_b" --prune 2>&1); code=$?
check "apply B: exit 0" 0 "$code"
[ "$code" -eq 0 ] || printf '%s\n' "$out"
wait_for "resnet50 scaled to 6 pods in place" 6 \
  bash -c "kubectl get pods -n t$run-vision -l jobsync.dev/job=resnet50 --field-selector=status.phase=Running -o name | wc -l"
check "wide-deep recreated with the new image" "tensorflow/tensorflow:2.18.0" \
  "$(kubectl get job -n t$run-recsys wide-deep-worker -o jsonpath='{.spec.template.spec.containers[0].image}')"
[ "$uid_before" != "$(kubectl get job -n t$run-recsys wide-deep-worker -o jsonpath='{.metadata.uid}')" ]
check "wide-deep Job is a new object" 0 $?
wait_for "Ray jobs pruned" "" ray_jobs

# Deleting every manifest: the mass-delete guard holds the deletes (listed, exit 1), then lets
# them through when asked.
cd "$work/repo" && git rm -q -r vision recsys nlp && git -c user.name=Eve -c user.email=eve@example.com commit -qm "Delete everything" && cd "$src"
out=$("$jobsync" apply "${repo[@]}" --branch main --prune 2>&1); code=$?
check "mass delete held: exit 1" 1 "$code"
printf '%s' "$out" | grep -q -- "deletes held by the mass-delete guard (listed in the plan); pass --allow-mass-delete"
check "held deletes name --allow-mass-delete" 0 $?
check "nothing deleted while held" 1 \
  "$(kubectl get jobs -n t$run-vision -l jobsync.dev/job=resnet50 -o name | wc -l)"
"$jobsync" apply "${repo[@]}" --branch main --prune --allow-mass-delete >/dev/null 2>&1
check "mass delete allowed: exit 0" 0 $?
wait_for "all Jobs of the instance gone" 0 \
  bash -c "kubectl get jobs -A -l jobsync.dev/instance=$instance -o name | wc -l"

finish
