#!/usr/bin/env bash
# Kubernetes' naming rules at their boundaries, against the real kube-apiserver: what
# `jobsync validate` accepts, rendered by `jobsync render`, passes a server-side dry run
# (kubectl apply --server-side --dry-run=server: server-side, because a client-side apply adds
# kubectl's last-applied annotation, a copy of the object, which jobsync does not); for each value `validate` refuses, the same objects with that
# value put in by hand are refused by the apiserver too. Quantities Kubernetes reads in its own
# way (1500u, 1e0000, 0.0000000001, 10Ei) are accepted by both.
# Usage: dry_run_test.sh JOBSYNC_BINARY SOURCE_DIR   (needs `scripts/cluster up`; fails without it)
set -uo pipefail
jobsync=$1
src=$2
source "$(dirname "$0")/testlib.sh"
require_cluster "$src"

run=$$
ns="dry-$run"
work=$(mktemp -d)
cleanup() {
  kubectl delete namespace "$ns" --wait=false >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT
# A server-side dry run of a namespaced object needs its namespace to exist.
kubectl create namespace "$ns" >/dev/null || { echo "FAIL: cannot create namespace $ns"; exit 1; }

repeat() { printf "%${2}s" "" | tr ' ' "$1"; }
a63=$(repeat a 63)
prefix253="$(repeat p 63).$(repeat q 63).$(repeat r 63).$(repeat s 61)"
name59="j$(repeat x 58)"

# manifest NAME METADATA_LINES RESOURCES: a Kubernetes job with one role "w".
manifest() {
  printf 'apiVersion: jobsync.dev/v1alpha1\nkind: TrainingJob\nmetadata:\n  name: %s\n  namespace: %s\n%bspec:\n  backend: kubernetes\n  image: trainer:v1\n  roles:\n    w:\n      replicas: 1\n      resources: {%s}\n' \
    "$1" "$ns" "$2" "$3"
}

# accepted CASE NAME METADATA RESOURCES: validate accepts it and the apiserver accepts its objects.
accepted() {
  local file="$work/$1.yaml"
  manifest "$2" "$3" "$4" >"$file"
  check "$1: validate accepts it" "0" "$("$jobsync" validate "$file" >"$work/$1.out" 2>&1; echo $?)" ||
    cat "$work/$1.out"
  "$jobsync" render --instance dry-run "$file" >"$work/$1.rendered.yaml" 2>"$work/$1.err"
  check "$1: the apiserver accepts the rendered objects (server-side dry run)" "0" \
    "$(kubectl apply --server-side --field-manager=dry-run-test --dry-run=server -f "$work/$1.rendered.yaml" >"$work/$1.kubectl" 2>&1; echo $?)" ||
    cat "$work/$1.kubectl"
}

# refused CASE NAME METADATA PYTHON EXPECTED: validate refuses the manifest naming EXPECTED; the
# objects of the base case, edited by PYTHON (acting on `o`, each object as JSON), are refused by
# the apiserver.
refused() {
  local file="$work/$1.yaml"
  manifest "$2" "$3" "" >"$file"
  "$jobsync" validate "$file" >"$work/$1.out" 2>&1
  check "$1: validate refuses it" "2" "$?"
  check "$1: validate says why" "yes" "$(grep -q -- "$5" "$work/$1.out" && echo yes || cat "$work/$1.out")"
  kubectl apply --dry-run=client -o json -f "$work/base.rendered.yaml" >"$work/$1.json" 2>&1
  python3 - "$work/$1.json" "$4" <<'PY'
import json, sys
path, edit = sys.argv[1], sys.argv[2]
objects = json.load(open(path))
for o in objects.get("items", [objects]):
    if o["kind"] == "Namespace":
        continue
    exec(edit)
json.dump({"apiVersion": "v1", "kind": "List",
           "items": [o for o in objects.get("items", [objects]) if o["kind"] != "Namespace"]},
          open(path, "w"))
PY
  check "$1: the apiserver refuses the same value (server-side dry run)" "refused" \
    "$(kubectl apply --server-side --field-manager=dry-run-test --dry-run=server -f "$work/$1.json" >"$work/$1.kubectl" 2>&1 && cat "$work/$1.kubectl" || echo refused)"
}

# What validate accepts, the apiserver accepts.
accepted base "b" "" "cpu: \"1\""
accepted label-value-63 "lv" "  labels: {team: $a63, b: \"A-b_c.9\", c: \"\"}\n" "cpu: 1500u"
accepted label-key-253-63 "lk" "  labels: {\"$prefix253/$a63\": v}\n" "memory: \"1e0000\""
accepted annotation-key-case "ak" "  annotations: {Example.COM/Owner: me, jobsync.dev/prune: \"false\"}\n" \
  "cpu: \"0.0000000001\", memory: 10Ei"
accepted longest-name "$name59" "" "cpu: 250m"
accepted annotations-under-limit "au" "  annotations: {example.com/note: $(repeat n 120000)}\n" ""

# What validate refuses, the apiserver refuses.
refused label-value-64 "r1" "  labels: {team: $(repeat a 64)}\n" \
  "o['metadata'].setdefault('labels', {})['team'] = 'a' * 64" "the limit is 63"
refused label-value-dash "r2" "  labels: {team: \"-a\"}\n" \
  "o['metadata'].setdefault('labels', {})['team'] = '-a'" "must be empty or letters"
refused label-key-prefix-254 "r3" "  labels: {\"${prefix253}x/k\": v}\n" \
  "o['metadata'].setdefault('labels', {})['${prefix253}x/k'] = 'v'" "must be no more than 253"
refused label-key-name-64 "r4" "  labels: {\"example.com/$(repeat a 64)\": v}\n" \
  "o['metadata'].setdefault('labels', {})['example.com/' + 'a' * 64] = 'v'" "name part must be no more than 63"
refused annotation-key-two-slashes "r5" "  annotations: {a/b/c: v}\n" \
  "o['metadata'].setdefault('annotations', {})['a/b/c'] = 'v'" "one '/'"
refused annotations-over-limit "r6" "  annotations: {example.com/note: $(repeat n 140000)}\n" \
  "o['metadata'].setdefault('annotations', {})['example.com/note'] = 'n' * 270000" \
  "Kubernetes allows 262144"

# --instance is a label value: refused at the command line, as the apiserver would refuse it.
"$jobsync" render --instance "has space" "$work/base.yaml" >"$work/instance.out" 2>&1
check "render --instance 'has space' is refused" "yes" \
  "$([ $? -ne 0 ] && grep -q "not an instance name" "$work/instance.out" && echo yes || cat "$work/instance.out")"

finish
