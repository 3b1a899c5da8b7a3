# shellcheck shell=bash
# scripts/cluster-data/controllers.sh: the JobSet controller, Kueue and the KubeRay operator,
# sourced by scripts/cluster (which defines log, die, go_env, issue_cert, spawn, need_port, $CACHE,
# $STATE, $PKI, ...).
#
# All run out of cluster on loopback with the admin identity: no leader election, health probes
# (and JobSet's and Kueue's webhooks) on 127.0.0.1, no internal certificate management. JobSet's
# and Kueue's metrics are off; KubeRay's metrics server always listens, so it is put on 127.0.0.1
# too. KubeRay's only webhook (RayCluster validation) is optional and stays off (it is served
# only with ENABLE_WEBHOOKS=true), so RayJobs and RayClusters never depend on it. Their admission
# webhooks are registered with `clientConfig.url: https://127.0.0.1:PORT/PATH` and the cluster CA
# as caBundle; the serving certificates come from the cluster CA (SAN IP:127.0.0.1).
#
# Deviation from upstream: Kueue's Job webhooks (mjob/vjob) only see Jobs labelled
# kueue.x-k8s.io/queue-name (objectSelector), so a Job without a queue never depends on Kueue
# running. Kueue leaves such Jobs alone anyway (manageJobsWithoutQueueName: false).

readonly JOBSET_VERSION=v0.11.1
readonly KUEUE_VERSION=v0.17.0
readonly JOBSET_PORT=${JOBSYNC_JOBSET_PORT:-29450}               # webhook server
readonly JOBSET_HEALTH_PORT=${JOBSYNC_JOBSET_HEALTH_PORT:-29451} # /healthz, /readyz
readonly KUEUE_PORT=${JOBSYNC_KUEUE_PORT:-29452}                 # webhook server
readonly KUEUE_HEALTH_PORT=${JOBSYNC_KUEUE_HEALTH_PORT:-29453}   # /healthz, /readyz
readonly KUBERAY_VERSION=v1.5.0
readonly KUBERAY_METRICS_PORT=${JOBSYNC_KUBERAY_METRICS_PORT:-29454} # /metrics
readonly KUBERAY_HEALTH_PORT=${JOBSYNC_KUBERAY_HEALTH_PORT:-29455}   # /healthz, /readyz
readonly JOBSET_DIR="$CACHE/jobset-$JOBSET_VERSION"    # bin/jobset-controller, crd/*.yaml
readonly KUEUE_DIR="$CACHE/kueue-$KUEUE_VERSION"       # bin/kueue, crd/*.yaml
readonly KUBERAY_DIR="$CACHE/kuberay-$KUBERAY_VERSION" # bin/kuberay-operator, crd/*.yaml
readonly KUBERAY_MODULE=github.com/ray-project/kuberay/ray-operator

# controller_module NAME MODULE VERSION: print the source dir of the tiny Go module that builds
# MODULE@VERSION (one module per controller: Kueue's controller-runtime v0.23 removed an API
# that JobSet v0.11.1's webhooks use, so the two cannot share one build list).
controller_module() {
  local src="$CACHE/src/$1-$3"
  mkdir -p "$src"
  [ -f "$src/go.mod" ] ||
    printf 'module jobsync.dev/cluster/%s\n\ngo 1.25.0\n\nrequire %s %s\n' "$1" "$2" "$3" >"$src/go.mod"
  echo "$src"
}

# prefetch_controllers: download the modules the controllers need (run in the background while
# Kubernetes compiles; the builds then only compile). Prints nothing; failures show in the builds.
prefetch_controllers() {
  local src
  go_env
  if [ ! -x "$JOBSET_DIR/bin/jobset-controller" ]; then
    src=$(controller_module jobset sigs.k8s.io/jobset "$JOBSET_VERSION")
    (cd "$src" && go list -deps sigs.k8s.io/jobset >/dev/null 2>&1) || true
  fi
  if [ ! -x "$KUEUE_DIR/bin/kueue" ]; then
    src=$(controller_module kueue sigs.k8s.io/kueue "$KUEUE_VERSION")
    (cd "$src" && go list -deps sigs.k8s.io/kueue/cmd/kueue >/dev/null 2>&1) || true
  fi
  if [ ! -x "$KUBERAY_DIR/bin/kuberay-operator" ]; then
    src=$(controller_module kuberay "$KUBERAY_MODULE" "$KUBERAY_VERSION")
    (cd "$src" && go list -deps "$KUBERAY_MODULE" >/dev/null 2>&1) || true
  fi
}

# build_controller NAME MODULE VERSION PACKAGE BINARY CRD_DIR [VERSION_PKG]: build PACKAGE of
# MODULE@VERSION into $CACHE/NAME-VERSION/bin/BINARY with the module's CRDs (the YAML files in its
# CRD_DIR) in crd/, unless it is there. VERSION_PKG, when given, gets GitVersion set (KubeRay's
# version is a constant in its source instead).
build_controller() {
  local name=$1 module=$2 version=$3 pkg=$4 binary=$5 crd_dir=$6 vpkg=${7:-}
  local dir="$CACHE/$name-$version"
  [ -x "$dir/bin/$binary" ] && return 0
  go_env
  log "building $name $version (cold: about 2.5 min for jobset, 4 for kueue, 2 for kuberay on 2 cores)..."
  local src started=$SECONDS
  src=$(controller_module "$name" "$module" "$version")
  rm -rf "$dir.tmp" && mkdir -p "$dir.tmp/bin" "$dir.tmp/crd"
  local ldflags="-s -w"
  [ -n "$vpkg" ] && ldflags+=" -X $vpkg.GitVersion=$version"
  [ "$name" = kueue ] && ldflags+=" -X $vpkg.BuildDate=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  (cd "$src" && go build -trimpath -ldflags "$ldflags" -o "$dir.tmp/bin/$binary" "$pkg") ||
    die "building $name $version failed (see the Go output above)"
  local moddir
  moddir=$(cd "$src" && go list -m -f '{{.Dir}}' "$module") && [ -d "$moddir/$crd_dir" ] ||
    die "the CRDs of $module@$version ($crd_dir) were not found in the Go module cache"
  cp "$moddir/$crd_dir"/*.yaml "$dir.tmp/crd/"
  chmod -R u+w "$dir.tmp"
  rm -rf "$dir" && mv "$dir.tmp" "$dir"
  log "built $name $version in $((SECONDS - started))s"
}

# build_controllers: the JobSet controller, Kueue, then the KubeRay operator (sequential: 2 cores,
# less peak memory).
build_controllers() {
  build_controller jobset sigs.k8s.io/jobset "$JOBSET_VERSION" sigs.k8s.io/jobset \
    jobset-controller config/components/crd/bases sigs.k8s.io/jobset/pkg/version
  build_controller kueue sigs.k8s.io/kueue "$KUEUE_VERSION" sigs.k8s.io/kueue/cmd/kueue \
    kueue config/components/crd/bases sigs.k8s.io/kueue/pkg/version
  build_controller kuberay "$KUBERAY_MODULE" "$KUBERAY_VERSION" "$KUBERAY_MODULE" \
    kuberay-operator config/crd/bases
}

# ---------------------------------------------------------------------------------------------
# Starting

# controller_pki: the webhook serving certificates of both controllers (made once per state dir;
# a state dir made before the controllers existed gets them on its next `up`).
controller_pki() {
  local name
  for name in jobset-webhook kueue-webhook; do
    [ -f "$PKI/$name/tls.crt" ] && continue
    mkdir -p "$PKI/$name"
    issue_cert "$name/tls" "/CN=jobsync-$name" \
      "keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost"
  done
}

# kueue_metrics_certs: make sure /etc/kueue/metrics/certs/tls.{crt,key} exist. With internal
# certificate management off, Kueue v0.17 always watches that fixed path for its metrics server's
# certificate and exits at start-up if the files are missing, even with metrics disabled (as
# here: the pair is never served). A pair from the cluster CA is written once, when missing; it
# needs write access to /etc (root), which CI and this machine have.
kueue_metrics_certs() {
  local dir=/etc/kueue/metrics/certs
  [ -f "$dir/tls.crt" ] && [ -f "$dir/tls.key" ] && return 0
  mkdir -p "$PKI/kueue-metrics"
  issue_cert kueue-metrics/tls "/CN=jobsync-kueue-metrics" \
    "keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1"
  { mkdir -p "$dir" && install -m 600 "$PKI/kueue-metrics/tls.key" "$dir/tls.key" &&
    install -m 644 "$PKI/kueue-metrics/tls.crt" "$dir/tls.crt"; } 2>/dev/null ||
    die "Kueue $KUEUE_VERSION exits unless $dir/tls.crt and tls.key exist, and they could not be" \
      "written: as root, run: mkdir -p $dir && cp $PKI/kueue-metrics/tls.crt $PKI/kueue-metrics/tls.key $dir/"
}

# start_jobset_controller: the JobSet controller manager with its webhooks on 127.0.0.1.
start_jobset_controller() {
  need_port "$JOBSET_PORT" JOBSYNC_JOBSET_PORT
  need_port "$JOBSET_HEALTH_PORT" JOBSYNC_JOBSET_HEALTH_PORT
  controller_pki
  cat >"$STATE/jobset-config.yaml" <<YAML
apiVersion: config.jobset.x-k8s.io/v1alpha1
kind: Configuration
leaderElection: {leaderElect: false}
internalCertManagement: {enable: false}
webhook: {host: 127.0.0.1, port: $JOBSET_PORT, certDir: "$PKI/jobset-webhook"}
YAML
  # Flags win over the file: metrics off, probes on loopback (the defaults bind :8443 and :8081).
  spawn jobset-controller --config="$STATE/jobset-config.yaml" --kubeconfig="$STATE/admin.kubeconfig" \
    --metrics-bind-address=0 --health-probe-bind-address="127.0.0.1:$JOBSET_HEALTH_PORT" --leader-elect=false
}

# start_kueue: Kueue for batch Jobs and JobSets that carry a queue-name label.
start_kueue() {
  need_port "$KUEUE_PORT" JOBSYNC_KUEUE_PORT
  need_port "$KUEUE_HEALTH_PORT" JOBSYNC_KUEUE_HEALTH_PORT
  controller_pki
  kueue_metrics_certs
  cat >"$STATE/kueue-config.yaml" <<YAML
apiVersion: config.kueue.x-k8s.io/v1beta2
kind: Configuration
namespace: kueue-system
manageJobsWithoutQueueName: false
leaderElection: {leaderElect: false}
health: {healthProbeBindAddress: "127.0.0.1:$KUEUE_HEALTH_PORT"}
metrics: {bindAddress: "0"}
webhook: {host: 127.0.0.1, port: $KUEUE_PORT, certDir: "$PKI/kueue-webhook"}
internalCertManagement: {enable: false}
featureGates: {VisibilityOnDemand: false}
integrations: {frameworks: [batch/job, jobset.x-k8s.io/jobset]}
YAML
  spawn kueue --config="$STATE/kueue-config.yaml" --kubeconfig="$STATE/admin.kubeconfig"
}

# start_kuberay_operator: the KubeRay operator (RayCluster, RayJob and RayService controllers) for
# every namespace; webhooks off (see the top of this file), logs as console lines.
start_kuberay_operator() {
  need_port "$KUBERAY_METRICS_PORT" JOBSYNC_KUBERAY_METRICS_PORT
  need_port "$KUBERAY_HEALTH_PORT" JOBSYNC_KUBERAY_HEALTH_PORT
  spawn kuberay-operator --kubeconfig="$STATE/admin.kubeconfig" --enable-leader-election=false \
    --metrics-addr="127.0.0.1:$KUBERAY_METRICS_PORT" --health-probe-bind-address="127.0.0.1:$KUBERAY_HEALTH_PORT" \
    --log-stdout-encoder=console
}

# kubectl_admin ARGS...: kubectl as the admin identity of this cluster.
kubectl_admin() { "$K8S_BIN/kubectl" --kubeconfig="$STATE/admin.kubeconfig" "$@"; }

# apply_ssa FILE|-...: server-side apply as field manager jobsync-cluster, output dropped.
apply_ssa() { kubectl_admin apply --server-side --force-conflicts --field-manager=jobsync-cluster "$@" >/dev/null; }

# wait_condition CONDITION WHAT...: wait up to $WAIT_SECONDS until the objects WHAT (kubectl
# arguments) have CONDITION True. Polls, since `kubectl wait` fails at once on an object that has
# no status.conditions yet (just created).
wait_condition() {
  local cond=$1 deadline=$((SECONDS + WAIT_SECONDS))
  shift
  until kubectl_admin wait --for="condition=$cond" --timeout=5s "$@" >/dev/null 2>&1; do
    [ "$SECONDS" -ge "$deadline" ] && return 1
    sleep 0.5
  done
}

# crd_names DIR: the CRD names of DIR's files, named as kubebuilder names them: GROUP_PLURAL.yaml
# holds the CRD PLURAL.GROUP.
crd_names() {
  local f base
  for f in "$1"/*.yaml; do
    base=$(basename "$f" .yaml)
    echo "crd/${base#*_}.${base%%_*}"
  done
}

# apply_crds DIR: apply every CRD in DIR (server-side: some exceed the 256 KiB annotation limit
# of client-side apply) and wait until the apiserver serves them. Skipped when this state dir's
# cluster got DIR's CRDs before and still has them all: KubeRay's 3 MB of CRDs took 63 s to
# re-apply unchanged on the busy 2-core machine, on every `up`. The stamp is per cached version
# (DIR's parent) and content, so a new version or a changed file is applied.
apply_crds() {
  local stamp names
  stamp="$STATE/crds-applied/$(basename "$(dirname "$1")")-$(basename "$1")-$(cat "$1"/*.yaml | cksum | cut -d' ' -f1)"
  mapfile -t names < <(crd_names "$1")
  if [ -f "$stamp" ] && kubectl_admin get "${names[@]}" -o name >/dev/null 2>&1; then return 0; fi
  apply_ssa -f "$1" || die "kubectl apply --server-side -f $1 failed"
  # By name: `kubectl wait -f` parses the files again, and KubeRay's three took longer than one
  # wait's 5 s on a busy machine, every time.
  wait_condition Established "${names[@]}" ||
    die "the CRDs in $1 (${names[*]#crd/}) were not Established within ${WAIT_SECONDS}s"
  mkdir -p "$STATE/crds-applied" && touch "$stamp"
}

# apply_webhooks FILE PORT: register the webhook configurations of FILE for https://127.0.0.1:PORT.
apply_webhooks() {
  local ca
  ca=$(base64 -w0 <"$PKI/ca.crt")
  sed -e "s|@URL@|https://127.0.0.1:$2|g" -e "s|@CA_BUNDLE@|$ca|g" "$1" | apply_ssa -f - ||
    die "registering the webhooks of $1 failed"
}

# start_controllers: CRDs, then each controller, then its webhooks once it serves them (their
# failurePolicy is Fail: registered earlier they would refuse requests), then Kueue's objects.
# The JobSet CRD comes before Kueue starts, or Kueue's JobSet integration waits up to 2 minutes.
start_controllers() {
  apply_crds "$JOBSET_DIR/crd"
  apply_crds "$KUEUE_DIR/crd"
  apply_crds "$KUBERAY_DIR/crd"
  apply_crds "$DATA/dlrover-crds" # no DLRover operator: for --elasticjob=operator's objects
  ensure jobset-controller
  apply_webhooks "$DATA/jobset-webhooks.yaml" "$JOBSET_PORT"
  ensure kueue
  apply_webhooks "$DATA/kueue-webhooks.yaml" "$KUEUE_PORT"
  apply_ssa -f "$DATA/kueue-objects.yaml" || die "kubectl apply of $DATA/kueue-objects.yaml failed"
  make_queue default 100
  ensure kuberay-operator
}

# ---------------------------------------------------------------------------------------------
# Queues

# make_queue NAMESPACE CPU_QUOTA: (idempotently) the namespace, a ClusterQueue jobsync-NAMESPACE
# that admits workloads of NAMESPACE only, with CPU_QUOTA cpus (memory, GPUs and ephemeral
# storage generous), and the LocalQueue `main` in NAMESPACE pointing at it; waits until Kueue
# reports both Active. A changed CPU_QUOTA updates the ClusterQueue.
make_queue() {
  local ns=$1 cpu=$2 cq="jobsync-$1" r
  apply_ssa -f - <<YAML || die "creating the queue objects for namespace $ns failed"
apiVersion: v1
kind: Namespace
metadata: {name: $ns}
---
apiVersion: kueue.x-k8s.io/v1beta2
kind: ClusterQueue
metadata: {name: $cq}
spec:
  namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: $ns}}
  resourceGroups:
  - coveredResources: [cpu, memory, nvidia.com/gpu, ephemeral-storage]
    flavors:
    - name: default-flavor
      resources:
      - {name: cpu, nominalQuota: "$cpu"}
      - {name: memory, nominalQuota: 4Ti}
      - {name: nvidia.com/gpu, nominalQuota: "64"}
      - {name: ephemeral-storage, nominalQuota: 4Ti}
---
apiVersion: kueue.x-k8s.io/v1beta2
kind: LocalQueue
metadata: {name: main, namespace: $ns}
spec: {clusterQueue: $cq}
YAML
  wait_condition Active "clusterqueue/$cq" &&
    wait_condition Active -n "$ns" localqueue/main ||
    die "Kueue did not report ClusterQueue $cq and LocalQueue $ns/main Active within ${WAIT_SECONDS}s; log: $LOGS/kueue.log"
}

# cmd_queue NAMESPACE [CPU_QUOTA]: make_queue for tests (default 4 cpus); prints only errors.
cmd_queue() {
  local ns=${1:-} cpu=${2:-4}
  [[ "$ns" =~ ^[a-z0-9]([-a-z0-9]*[a-z0-9])?$ && ${#ns} -le 53 ]] ||
    die "usage: scripts/cluster queue NAMESPACE [CPU_QUOTA]: NAMESPACE must be a DNS label of at most 53 characters (the ClusterQueue is jobsync-NAMESPACE), got '$ns'"
  [[ "$cpu" =~ ^[0-9]+(\.[0-9]+|m)?$ ]] || die "CPU_QUOTA must be a cpu quantity such as 4, 0.5 or 500m, got '$cpu'"
  [ -f "$STATE/admin.kubeconfig" ] || die "no cluster in $STATE; run scripts/cluster up"
  healthy kueue || die "kueue does not answer at $(address_of kueue); run scripts/cluster up"
  make_queue "$ns" "$cpu"
}
