#!/usr/bin/env bash
# tests/cluster/cluster_test.sh: end-to-end test of the loopback cluster of `scripts/cluster`.
# Brings the cluster up (idempotent; cold builds take long), then checks with kubectl and curl:
# Indexed Job pods Running through kwok, elastic scale up and down, background deletion, kwok's
# opt-in completion, a Ray job through the Jobs API (submit, RUNNING, stop, STOPPED, delete),
# the RBAC-limited identity, a JobSet run by the JobSet controller, Kueue queueing a Job that
# exceeds its namespace's quota while admitting one that fits (`scripts/cluster queue`), and a
# RayJob for which the KubeRay operator makes its RayCluster (head and worker group, their pods,
# ready through kwok) and submitter Job, and which takes them with it when deleted. Every wait
# is bounded. Prints "N passed, M failed"; exits 1 on any failure, including a cluster that
# cannot start (never skips).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
readonly ROOT
readonly TIMEOUT=${JOBSYNC_TEST_TIMEOUT:-90}
NS="jobsync-cluster-test-$$-$RANDOM"
readonly NS
passed=0
failed=0

# step MSG...: announce a step.
step() { printf '\n== %s\n' "$*"; }

# pass MSG / fail MSG: record the result of one check.
pass() { passed=$((passed + 1)); printf 'PASS: %s\n' "$*"; }
fail() { failed=$((failed + 1)); printf 'FAIL: %s\n' "$*"; }

# finish: print the summary line and exit 0 only if nothing failed.
finish() {
  printf '\n%d passed, %d failed\n' "$passed" "$failed"
  [ "$failed" = 0 ]
}

# check DESC CMD...: one check that CMD succeeds.
check() {
  local desc=$1
  shift
  if "$@"; then pass "$desc"; else fail "$desc"; fi
}

# eventually DESC CMD...: one check that CMD succeeds within $TIMEOUT seconds (polled); a failure
# is counted and the test goes on.
eventually() {
  local desc=$1 deadline=$((SECONDS + TIMEOUT))
  shift
  until "$@" >/dev/null 2>&1; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      fail "$desc (not within ${TIMEOUT}s; last try: $("$@" 2>&1 | tail -n 3 | tr '\n' ' '))"
      return 0
    fi
    sleep 0.5
  done
  pass "$desc"
}

# pods_of JOB: "phase index" lines of JOB's pods that are not being deleted, in namespace $NS.
pods_of() {
  kubectl -n "$NS" get pods -l "job-name=$1" -o go-template='{{range .items}}{{if not .metadata.deletionTimestamp}}{{.status.phase}} {{index .metadata.annotations "batch.kubernetes.io/job-completion-index"}}{{"\n"}}{{end}}{{end}}'
}

# running_indexes JOB WANT: true if JOB's live pods are exactly Running pods of the indexes WANT ("0 1 2").
running_indexes() {
  local got
  got=$(pods_of "$1" | sort -k2n | awk '$1 == "Running" {print $2} $1 != "Running" {print "not-running:" $0}' | paste -sd' ')
  [ "$got" = "$2" ] || { echo "pods of $1: '$got', want Running indexes '$2'"; return 1; }
}

# no_pods JOB: true if JOB has no pods left at all.
no_pods() {
  local n
  n=$(kubectl -n "$NS" get pods -l "job-name=$1" -o name | wc -l)
  [ "$n" = 0 ] || { echo "$n pods of $1 left"; return 1; }
}

# pod_count JOB N: true if JOB has exactly N pods (terminating ones included).
pod_count() {
  local n
  n=$(kubectl -n "$NS" get pods -l "job-name=$1" -o name | wc -l)
  [ "$n" = "$2" ] || { echo "$n pods of $1, want $2"; return 1; }
}

# job_gone JOB: true if JOB no longer exists.
job_gone() { ! kubectl -n "$NS" get job "$1" >/dev/null 2>&1; }

# job_complete JOB WANT: true if JOB has condition Complete=True and WANT succeeded pods.
job_complete() {
  local got
  got=$(kubectl -n "$NS" get job "$1" -o jsonpath='{.status.conditions[?(@.type=="Complete")].status} {.status.succeeded}')
  [ "$got" = "True $2" ] || { echo "job $1 Complete/succeeded: '$got'"; return 1; }
}

# job_yaml NAME COMPLETIONS [POD_LABELS [POD_ANNOTATIONS]]: an Indexed Job whose pods "sleep"
# (kwok only pretends); labels and annotations are YAML flow-mapping bodies.
job_yaml() {
  cat <<EOF
apiVersion: batch/v1
kind: Job
metadata:
  name: $1
spec:
  completionMode: Indexed
  completions: $2
  parallelism: $2
  template:
    metadata:
      labels: {${3:-}}
      annotations: {${4:-}}
    spec:
      restartPolicy: Never
      containers:
      - name: train
        image: registry.invalid/train:latest
        command: ["sleep", "600"]
        resources:
          requests: {cpu: 100m, memory: 64Mi}
EOF
}

# create_job NAME COMPLETIONS [POD_LABELS [POD_ANNOTATIONS]]: apply job_yaml's Job in $NS.
create_job() { job_yaml "$@" | kubectl -n "$NS" apply -f - >/dev/null; }

# scale JOB N: set completions and parallelism of the Indexed JOB to N together (elastic Job).
scale() {
  kubectl -n "$NS" patch job "$1" --type=merge -p "{\"spec\":{\"completions\":$2,\"parallelism\":$2}}" >/dev/null
}

# forbidden_for_limited OUTPUT: true if OUTPUT is RBAC's refusal of user jobsync-limited.
forbidden_for_limited() { grep -q 'forbidden: User "jobsync-limited"' <<<"$1"; }

# ray_api METHOD PATH [JSON]: call the Ray Jobs API; prints the body, fails on a non-2xx status.
ray_api() {
  local args=(-sS --max-time 10 -X "$1" "$RAY_ADDRESS$2" -w '\n%{http_code}')
  [ $# -ge 3 ] && args+=(-H 'Content-Type: application/json' -d "$3")
  local out code
  out=$(curl "${args[@]}") || return 1
  code=${out##*$'\n'}
  printf '%s\n' "${out%$'\n'*}"
  [ "${code:0:1}" = 2 ] || { echo "HTTP $code"; return 1; }
}

# json_get KEY: the value of KEY in the JSON object on stdin.
json_get() { python3 -c 'import json, sys; print(json.load(sys.stdin).get(sys.argv[1], ""))' "$1"; }

# ray_status ID WANT: true if the Ray job ID has status WANT.
ray_status() {
  local got
  got=$(ray_api GET "/api/jobs/$1" | head -n1 | json_get status) || true
  [ "$got" = "$2" ] || { echo "ray job $1 status '$got', want $2"; return 1; }
}

# ray_submit ID: submit the sleeping Ray job ID (retries while the head has no agent yet).
ray_submit() {
  ray_api POST /api/jobs/ "{\"submission_id\": \"$1\", \"entrypoint\": \"python -c \\\"import time; time.sleep(600)\\\"\"}"
}

# ray_gone ID: true if the Ray job ID is no longer known (HTTP 404).
ray_gone() {
  [ "$(curl -s --max-time 10 -o /dev/null -w '%{http_code}' "$RAY_ADDRESS/api/jobs/$1")" = 404 ]
}

# jobset_yaml NAME [LABELS]: a JobSet with 2 replicated jobs, driver (1 Job) and workers (2 Jobs),
# each Job with parallelism 2, pods requesting 100m cpu; LABELS is a YAML flow-mapping body for
# its metadata. completionMode, restartPolicy, network and successPolicy are left to the JobSet
# webhook's defaults.
jobset_yaml() {
  cat <<EOF
apiVersion: jobset.x-k8s.io/v1alpha2
kind: JobSet
metadata:
  name: $1
  labels: {${2:-}}
spec:
  replicatedJobs:
  - name: driver
    replicas: 1
    template:
      spec:
        parallelism: 2
        completions: 2
        template:
          spec:
            containers:
            - name: train
              image: registry.invalid/train:latest
              command: [sleep, "600"]
              resources: {requests: {cpu: 100m}}
  - name: workers
    replicas: 2
    template:
      spec:
        parallelism: 2
        completions: 2
        template:
          spec:
            containers:
            - name: train
              image: registry.invalid/train:latest
              command: [sleep, "600"]
              resources: {requests: {cpu: 100m}}
EOF
}

# jobset_children JOBSET WANT: true if JOBSET's child Jobs are exactly WANT ("name:parallelism:mode ...").
jobset_children() {
  local got
  got=$(kubectl -n "$NS" get jobs -l "jobset.sigs.k8s.io/jobset-name=$1" \
    -o go-template='{{range .items}}{{.metadata.name}}:{{.spec.parallelism}}:{{.spec.completionMode}}{{"\n"}}{{end}}' | sort | paste -sd' ')
  [ "$got" = "$2" ] || { echo "child Jobs of $1: '$got', want '$2'"; return 1; }
}

# running_pods_of_jobset JOBSET N: true if N pods of JOBSET are Running.
running_pods_of_jobset() {
  local n
  n=$(kubectl -n "$NS" get pods -l "jobset.sigs.k8s.io/jobset-name=$1" --field-selector=status.phase=Running -o name | wc -l)
  [ "$n" = "$2" ] || { echo "$n Running pods of $1, want $2"; return 1; }
}

# queued_job_yaml NAME PARALLELISM: a Job in LocalQueue main whose pods request 500m cpu each.
queued_job_yaml() {
  cat <<EOF
apiVersion: batch/v1
kind: Job
metadata:
  name: $1
  labels: {kueue.x-k8s.io/queue-name: main}
spec:
  completionMode: Indexed
  completions: $2
  parallelism: $2
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: train
        image: registry.invalid/train:latest
        command: ["sleep", "600"]
        resources:
          requests: {cpu: 500m, memory: 64Mi}
EOF
}

# workload_of JOB: "suspend|QuotaReserved status|reason|message|Admitted status" of JOB and its
# Kueue Workload.
workload_of() {
  local uid suspend
  uid=$(kubectl -n "$NS" get job "$1" -o jsonpath='{.metadata.uid}') || return 1
  suspend=$(kubectl -n "$NS" get job "$1" -o jsonpath='{.spec.suspend}') || return 1
  printf '%s|' "$suspend"
  kubectl -n "$NS" get workloads.kueue.x-k8s.io -l "kueue.x-k8s.io/job-uid=$uid" -o jsonpath='{range .items[*]}{.status.conditions[?(@.type=="QuotaReserved")].status}|{.status.conditions[?(@.type=="QuotaReserved")].reason}|{.status.conditions[?(@.type=="QuotaReserved")].message}|{.status.conditions[?(@.type=="Admitted")].status}{end}'
}

# queued_pending JOB: true if JOB is suspended and its Workload waits for quota (QuotaReserved
# False, reason Pending, a message about insufficient quota).
queued_pending() {
  local got
  got=$(workload_of "$1")
  [[ "$got" == "true|False|Pending|"*"insufficient"*"quota for cpu"*"|" ]] ||
    { echo "job|workload of $1: '$got'"; return 1; }
}

# queued_admitted JOB: true if JOB was resumed (suspend false) and its Workload is Admitted.
queued_admitted() {
  local got
  got=$(workload_of "$1")
  [[ "$got" == "false|True|QuotaReserved|"*"|True" ]] || { echo "job|workload of $1: '$got'"; return 1; }
}

# jobset_admitted JOBSET: true if JOBSET was resumed by Kueue (suspend false, Workload Admitted)
# and its child Jobs carry the flavor's nodeSelector type=kwok.
jobset_admitted() {
  local uid got
  uid=$(kubectl -n "$NS" get jobset "$1" -o jsonpath='{.metadata.uid}') || return 1
  got="$(kubectl -n "$NS" get jobset "$1" -o jsonpath='{.spec.suspend}')|$(kubectl -n "$NS" get workloads.kueue.x-k8s.io \
    -l "kueue.x-k8s.io/job-uid=$uid" -o jsonpath='{.items[*].status.conditions[?(@.type=="Admitted")].status}')|$(kubectl -n "$NS" \
    get jobs -l "jobset.sigs.k8s.io/jobset-name=$1" -o jsonpath='{range .items[*]}{.spec.template.spec.nodeSelector.type} {end}')"
  [ "$got" = "false|True|kwok kwok kwok " ] || { echo "suspend|Admitted|child nodeSelectors of $1: '$got'"; return 1; }
}

# queue_versions: the resourceVersions of this test's ClusterQueue and LocalQueue, and the
# LocalQueue's ClusterQueue.
queue_versions() {
  kubectl get clusterqueue "jobsync-$NS" -o jsonpath='{.metadata.resourceVersion} ' &&
    kubectl -n "$NS" get localqueue main -o jsonpath='{.metadata.resourceVersion} {.spec.clusterQueue}'
}

# rayjob_yaml NAME WORKERS: a RayJob (ray.io/v1) with a head group and the worker group
# `workers` of WORKERS replicas; the cluster goes away with the job.
rayjob_yaml() {
  local container='[{name: ray, image: rayproject/ray:2.52.0, resources: {requests: {cpu: 100m, memory: 256Mi}}}]'
  cat <<YAML
apiVersion: ray.io/v1
kind: RayJob
metadata: {name: $1}
spec:
  entrypoint: python -c "print('trained')"
  shutdownAfterJobFinishes: true
  rayClusterSpec:
    headGroupSpec:
      rayStartParams: {}
      template: {spec: {containers: $container}}
    workerGroupSpecs:
    - groupName: workers
      replicas: $2
      minReplicas: $2
      maxReplicas: $2
      rayStartParams: {}
      template: {spec: {containers: $container}}
YAML
}

# raycluster_of RAYJOB: "name|head image|group:replicas" of the RayClusters RAYJOB owns.
raycluster_of() {
  kubectl -n "$NS" get rayclusters.ray.io -o go-template='{{range .items}}{{$c := .}}{{range .metadata.ownerReferences}}{{if and (eq .kind "RayJob") (eq .name "'"$1"'")}}{{$c.metadata.name}}|{{(index $c.spec.headGroupSpec.template.spec.containers 0).image}}|{{range $c.spec.workerGroupSpecs}}{{.groupName}}:{{.replicas}}{{end}}{{"\n"}}{{end}}{{end}}{{end}}'
}

# rayjob_cluster RAYJOB WORKERS: true if the operator made exactly one RayCluster for RAYJOB,
# with its head group and the worker group `workers` of WORKERS replicas, and named it in the
# RayJob's status.
rayjob_cluster() {
  local got named
  got=$(raycluster_of "$1")
  named=$(kubectl -n "$NS" get rayjob "$1" -o jsonpath='{.status.rayClusterName}')
  [[ "$got" == "$named|rayproject/ray:2.52.0|workers:$2" && -n "$named" ]] ||
    { echo "RayClusters of $1: '$got', status.rayClusterName '$named'"; return 1; }
}

# ray_pods RAYJOB WANT: true if the pods of RAYJOB's RayCluster are WANT ("head:1 worker:2").
ray_pods() {
  local cluster got
  cluster=$(kubectl -n "$NS" get rayjob "$1" -o jsonpath='{.status.rayClusterName}')
  got=$(kubectl -n "$NS" get pods -l "ray.io/cluster=$cluster" -o jsonpath='{range .items[*]}{.metadata.labels.ray\.io/node-type}{"\n"}{end}' |
    sort | uniq -c | awk '{print $2 ":" $1}' | paste -sd' ')
  [ -n "$cluster" ] && [ "$got" = "$2" ] || { echo "pods of RayCluster '$cluster': '$got'"; return 1; }
}

# rayjob_running RAYJOB: true if RAYJOB's RayCluster is ready, the RayJob's jobDeploymentStatus
# Running, and the operator made its submitter Job (named like the RayJob). jobStatus stays empty:
# nothing in kwok's pods runs Ray.
rayjob_running() {
  local cluster got
  cluster=$(kubectl -n "$NS" get rayjob "$1" -o jsonpath='{.status.rayClusterName}')
  got="$(kubectl -n "$NS" get raycluster "$cluster" -o jsonpath='{.status.state}')|$(kubectl -n "$NS" \
    get rayjob "$1" -o jsonpath='{.status.jobDeploymentStatus}')|$(kubectl -n "$NS" get job "$1" -o name)"
  [ "$got" = "ready|Running|job.batch/$1" ] || { echo "RayCluster state|jobDeploymentStatus|submitter: '$got'"; return 1; }
}

# no_rayclusters: true if namespace $NS has no RayCluster left.
no_rayclusters() {
  local n
  n=$(kubectl -n "$NS" get rayclusters.ray.io -o name | wc -l)
  [ "$n" = 0 ] || { echo "$n RayClusters left"; return 1; }
}

# cleanup: delete what the test created (bounded; errors ignored).
cleanup() {
  kubectl delete namespace "$NS" --wait=false >/dev/null 2>&1 || true
  kubectl delete clusterqueue "jobsync-$NS" --wait=false >/dev/null 2>&1 || true
  kubectl -n team-a delete job "limited-$NS" --cascade=background --wait=false >/dev/null 2>&1 || true
}

step "scripts/cluster up (idempotent; the first, cold build takes 5-25 minutes)"
if ! "$ROOT/scripts/cluster" up; then
  fail "the cluster could not start: 'scripts/cluster up' failed (its output above says why)"
  finish
fi
eval "$("$ROOT/scripts/cluster" env)"
trap cleanup EXIT
check "scripts/cluster status reports every component running" "$ROOT/scripts/cluster" status
server=$(kubectl version -o json | python3 -c 'import json,sys; v=json.load(sys.stdin); print(v["clientVersion"]["gitVersion"], v["serverVersion"]["gitVersion"])') ||
  server="kubectl version failed"
check "kubectl and kube-apiserver report v1.34.x ($server)" grep -Eq '^v1\.34\.[0-9]+ v1\.34\.[0-9]+$' <<<"$server"
check "3 kwok nodes are Ready" test "$(kubectl get nodes -l type=kwok -o jsonpath='{range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' | grep -c True)" = 3

step "Indexed Job with completions=parallelism=2 in namespace $NS"
check "namespace $NS created" kubectl create namespace "$NS"
check "Job elastic created" create_job elastic 2
eventually "2 pods Running (indexes 0 1)" running_indexes elastic "0 1"
sleep 3
check "without the opt-in label the pods stay Running (no completion)" running_indexes elastic "0 1"

step "scale up to 4 (completions and parallelism together)"
check "Job elastic patched to completions=parallelism=4" scale elastic 4
eventually "4 pods Running (indexes 0-3)" running_indexes elastic "0 1 2 3"

step "scale down to 1"
check "Job elastic patched to completions=parallelism=1" scale elastic 1
eventually "1 pod left, index 0 Running" running_indexes elastic "0"
eventually "pods of the removed indexes are gone" pod_count elastic 1

step "delete the Job with propagation Background"
check "Job elastic deleted" kubectl -n "$NS" delete job elastic --cascade=background --wait=false
eventually "the Job is gone" job_gone elastic
eventually "its pods are gone (garbage collector + kwok)" no_pods elastic

step "opt-in completion: pods labelled jobsync.dev/kwok-complete=true succeed"
check "Job finisher created" \
  create_job finisher 2 '"jobsync.dev/kwok-complete": "true"' '"jobsync.dev/kwok-complete-delay": "6s"'
eventually "its pods run first (completion delayed 6s by jobsync.dev/kwok-complete-delay)" running_indexes finisher "0 1"
eventually "Job finisher is Complete with 2 succeeded pods" job_complete finisher 2
check "its pods are Succeeded" test "$(pods_of finisher | awk '{print $1}' | sort -u)" = Succeeded

step "Ray Jobs API at $RAY_ADDRESS"
check "GET /api/version answers" ray_api GET /api/version
rid="jobsync-cluster-test-$$-$RANDOM"
eventually "POST /api/jobs/ submits $rid" ray_submit "$rid"
eventually "job $rid is RUNNING" ray_status "$rid" RUNNING
check "POST /api/jobs/$rid/stop" ray_api POST "/api/jobs/$rid/stop"
eventually "job $rid is STOPPED" ray_status "$rid" STOPPED
check "DELETE /api/jobs/$rid" ray_api DELETE "/api/jobs/$rid"
eventually "job $rid is gone (404)" ray_gone "$rid"

step "RBAC-limited identity jobsync-limited ($JOBSYNC_LIMITED_KUBECONFIG)"
limited=(kubectl --kubeconfig="$JOBSYNC_LIMITED_KUBECONFIG")
check "it can create a Job in team-a" \
  "${limited[@]}" -n team-a create job "limited-$NS" --image=registry.invalid/train:latest -- sleep 600
out=$("${limited[@]}" -n "$NS" create job limited-denied --image=registry.invalid/train:latest -- sleep 600 2>&1 || true)
check "it is refused (Forbidden) in namespace $NS" forbidden_for_limited "$out"
out=$("${limited[@]}" get nodes 2>&1 || true)
check "it is refused (Forbidden) to list nodes" forbidden_for_limited "$out"

step "JobSet controller: JobSet trainer (driver x1, workers x2; parallelism 2 each)"
check "JobSet trainer created (through the JobSet webhooks)" kubectl -n "$NS" apply -f <(jobset_yaml trainer) -o name
eventually "its child Jobs exist with parallelism 2, Indexed" jobset_children trainer \
  "trainer-driver-0:2:Indexed trainer-workers-0:2:Indexed trainer-workers-1:2:Indexed"
got=$(kubectl -n "$NS" get jobset trainer -o jsonpath='{.spec.network.enableDNSHostnames} {.spec.successPolicy.operator} {.spec.replicatedJobs[0].template.spec.template.spec.restartPolicy}' 2>&1 || true)
check "the webhook defaulted network, successPolicy and restartPolicy ('$got')" test "$got" = "true All OnFailure"
eventually "the headless Service trainer exists (subdomain of the pods)" kubectl -n "$NS" get service trainer
eventually "its 6 pods are Running" running_pods_of_jobset trainer 6

step "Kueue: queue main in $NS with 2 cpus of quota (scripts/cluster queue)"
out=$("$ROOT/scripts/cluster" queue "$NS" 2) && rc=0 || rc=$?
check "scripts/cluster queue $NS 2 succeeds and prints nothing on stdout (rc $rc, '$out')" test "$rc:$out" = "0:"
before=$(queue_versions 2>&1 || true)
out=$("$ROOT/scripts/cluster" queue "$NS" 2) && rc=0 || rc=$?
after=$(queue_versions 2>&1 || true)
check "running it again succeeds and changes nothing (resourceVersions '$before' -> '$after')" \
  test "$rc:$out:$before" = "0::$after" -a "${after##* }" = "jobsync-$NS"
check "Job fits (1 pod x 500m) created" kubectl -n "$NS" apply -f <(queued_job_yaml fits 1) -o name
eventually "Job fits is admitted: suspend false, Workload QuotaReserved and Admitted" queued_admitted fits
eventually "its pod is Running" running_indexes fits "0"
check "Job toobig (4 pods x 500m, more than the 1.5 cpus left) created" \
  kubectl -n "$NS" apply -f <(queued_job_yaml toobig 4) -o name
eventually "Job toobig is suspended, its Workload Pending on insufficient cpu quota" queued_pending toobig
check "Job toobig has no pods" no_pods toobig
check "JobSet queued (6 pods x 100m) created in queue main" \
  kubectl -n "$NS" apply -f <(jobset_yaml queued '"kueue.x-k8s.io/queue-name": main') -o name
eventually "JobSet queued is admitted past toobig: resumed, its child Jobs on the flavor's nodes" jobset_admitted queued
eventually "its 6 pods are Running" running_pods_of_jobset queued 6


step "KubeRay operator: RayJob trainer-ray (head group, worker group of 2)"
check "RayJob trainer-ray created" kubectl -n "$NS" apply -f <(rayjob_yaml trainer-ray 2) -o name
eventually "the operator made its RayCluster: head group and worker group workers x2" rayjob_cluster trainer-ray 2
eventually "the RayCluster's pods exist: 1 head, 2 workers" ray_pods trainer-ray "head:1 worker:2"
eventually "kwok made them Ready: the RayCluster is ready, the RayJob Running, its submitter Job made" \
  rayjob_running trainer-ray
check "RayJob trainer-ray deleted" kubectl -n "$NS" delete rayjob trainer-ray --wait=false
eventually "the RayJob is gone (the operator removed its finalizer)" \
  bash -c "! kubectl -n '$NS' get rayjob trainer-ray >/dev/null 2>&1"
eventually "its RayCluster is gone" no_rayclusters
eventually "its submitter Job is gone" job_gone trainer-ray

finish
