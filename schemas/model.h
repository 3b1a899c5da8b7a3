// The typed model of a TrainingJob manifest (apiVersion jobsync.dev/v1alpha1), as the loader
// produces it after schema and semantic validation. Plain values: copyable, comparable, no I/O.
#ifndef JOBSYNC_SCHEMAS_MODEL_H_
#define JOBSYNC_SCHEMAS_MODEL_H_

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/boxed.h"
#include "schemas/quantity.h"

namespace jobsync {

inline constexpr const char* kApiVersion = "jobsync.dev/v1alpha1";
inline constexpr const char* kKind = "TrainingJob";
// Annotation that, set to "false" on a manifest or a live object, protects the job from pruning.
inline constexpr const char* kPruneAnnotation = "jobsync.dev/prune";
// Label that puts a job in a shard of the agent's replicas (diff/shards.h): a decimal integer. It
// is not copied onto the cluster's objects.
inline constexpr const char* kShardLabel = "jobsync.dev/shard";
// Annotation on a live object carrying the spec applied (canonical JSON): written by the backends,
// counted by the loader in the size of a job's annotations.
inline constexpr const char* kSpecAnnotation = "jobsync.dev/applied-spec";

enum class BackendKind { kKubernetes, kRay };

// "kubernetes" or "ray".
const char* BackendName(BackendKind kind);

// Where something sits in the repository: file path and 1-based line and column.
struct SourceLocation {
  std::string path;
  int line = 0;
  int column = 0;

  // "path:line:column" (or just "path" when the position is unknown).
  std::string ToString() const;
  friend bool operator==(const SourceLocation&, const SourceLocation&) = default;
};

// Per-replica resources of a role. Absent fields request nothing.
struct Resources {
  std::optional<Quantity> cpu;
  std::optional<Quantity> memory;
  std::optional<int64_t> gpu;  // whole devices; nvidia.com/gpu on Kubernetes
  // The rarely set two, on the heap only when set.
  HeapOptional<Quantity> ephemeral_storage;  // ephemeral-storage on Kubernetes
  // Extended resources by their Kubernetes name ("rdma/hca_shared_devices_a"), set as limits.
  HeapValue<std::map<std::string, Quantity>> extended;

  friend bool operator==(const Resources&, const Resources&) = default;
};

// One volume of a job and where the training container mounts it.
struct Volume {
  std::string name;
  std::string mount_path;
  bool read_only = false;
  std::string sub_path;  // empty: the volume's root
  // The one source, as the Kubernetes Volume spells it: a one-key object such as
  // {"persistentVolumeClaim": {"claimName": "imagenet"}} or {"emptyDir": {"medium": "Memory"}}.
  nlohmann::json source = nlohmann::json::object();

  friend bool operator==(const Volume&, const Volume&) = default;
};

// Container and pod settings a role may set over the spec-level ones (EffectiveRoleSettings
// says how they combine). Unset optionals and empty containers leave the spec-level value.
struct RoleOverrides {
  std::optional<std::string> image;
  std::optional<std::vector<std::string>> command;
  std::optional<std::vector<std::string>> args;
  std::map<std::string, std::string> env;            // literal values, by name
  std::map<std::string, nlohmann::json> env_refs;    // valueFrom sources, by name
  std::vector<nlohmann::json> env_from;              // EnvFromSource objects, appended
  std::vector<Volume> volumes;                       // by name
  std::map<std::string, std::string> node_selector;  // by key
  std::vector<nlohmann::json> tolerations;           // appended

  friend bool operator==(const RoleOverrides&, const RoleOverrides&) = default;
};

// One replica type of a job (worker, ps, chief, evaluator, ...).
struct Role {
  int replicas = 1;
  // Elastic bounds: a role with either is elastic, between min_replicas (else replicas) and
  // max_replicas (else replicas); see ElasticBounds.
  std::optional<int> min_replicas;
  std::optional<int> max_replicas;
  Resources resources;
  HeapValue<RoleOverrides> overrides;  // read through ->

  friend bool operator==(const Role&, const Role&) = default;
};

// The bounds of an elastic role: [min_replicas or replicas, max_replicas or replicas]; nullopt
// when the role sets neither bound (it is not elastic).
struct ReplicaBounds {
  int min = 0;
  int max = 0;
};
std::optional<ReplicaBounds> ElasticBounds(const Role& role);

// Resources reserved for a Ray job's entrypoint process.
struct RayEntrypointResources {
  std::optional<double> cpu;
  std::optional<double> gpu;
  std::optional<Quantity> memory;

  friend bool operator==(const RayEntrypointResources&, const RayEntrypointResources&) = default;
};

// Where a Ray job runs (ray.cluster): submitted to the shared Ray cluster's Jobs API ("shared",
// the default), or as a KubeRay RayJob that brings its own Ray cluster, on the Kubernetes cluster
// ("kuberay").
enum class RayCluster { kShared, kKubeRay };

// Ray settings (backend: ray).
struct RaySpec {
  std::string entrypoint;
  nlohmann::json runtime_env = nlohmann::json::object();
  RayEntrypointResources entrypoint_resources;
  RayCluster cluster = RayCluster::kShared;
  // kuberay only: ray.image, the head's image (else spec.image) and the workers' when neither
  // they nor spec.image name one; ray.head.resources, the head's.
  std::string image;
  Resources head_resources;

  friend bool operator==(const RaySpec&, const RaySpec&) = default;
};

// What a Kubernetes job runs as (kubernetes.workload): one Indexed Job per role plus a headless
// Service ("job", the default), or one JobSet with a replicated job per role ("jobset"); or, for
// a DLRover ElasticJob run in operator mode, the ElasticJob itself for DLRover's operator to run
// ("elasticjob": never written in a manifest, only in the canonical form of such a job).
enum class KubernetesWorkload { kJob, kJobSet, kElasticJob };

// "job", "jobset" or "elasticjob".
const char* KubernetesWorkloadName(KubernetesWorkload workload);

// Where jobs are applied: one backend of one of the agent's clusters. `cluster` is the name a
// manifest's spec.cluster gives, empty for the default cluster (the only one unless the agent's
// clusters file names several), so that a single-cluster setup and the default cluster of a
// clusters file give the same identities. Converts from a BackendKind (the default cluster).
struct Target {
  BackendKind backend = BackendKind::kKubernetes;
  std::string cluster = {};

  Target() = default;
  Target(BackendKind kind, std::string cluster_name = {})  // NOLINT(google-explicit-constructor)
      : backend(kind), cluster(std::move(cluster_name)) {}

  // "kubernetes" on the default cluster, "ray@gpu-east" on another.
  std::string ToString() const;
  friend auto operator<=>(const Target&, const Target&) = default;
};

// The names of the agent's clusters: `default_name` (empty without a clusters file) and every
// other one.
struct ClusterNames {
  std::string default_name;
  std::set<std::string> others;
};

// Identity of a job across Git and the clusters: backend/namespace/name, and the cluster when it
// is not the default one.
struct JobKey {
  BackendKind backend = BackendKind::kKubernetes;
  std::string namespace_name;
  std::string name;
  std::string cluster = {};  // empty: the default cluster (see Target)

  Target target() const { return {backend, cluster}; }
  // "kubernetes/vision/resnet50", or "kubernetes/vision/resnet50@gpu-east" on another cluster.
  std::string ToString() const;
  friend auto operator<=>(const JobKey&, const JobKey&) = default;
};

// A job's Kubernetes pod settings, which most jobs leave unset (TrainingJob::pod): held inline,
// they would take some 300 bytes in every job.
struct PodSettings {
  std::map<std::string, nlohmann::json> env_refs;  // spec.env's references, by name
  std::vector<nlohmann::json> env_from;            // Kubernetes EnvFromSource objects, in order
  std::vector<Volume> volumes;                     // in manifest order
  std::map<std::string, std::string> node_selector;
  std::vector<nlohmann::json> tolerations;  // Kubernetes Toleration objects, in order
  nlohmann::json affinity;                  // a Kubernetes Affinity; null when unset
  std::string priority_class_name;          // empty: unset (likewise the next two)
  std::string scheduler_name;
  std::string service_account_name;
  std::vector<std::string> image_pull_secrets;  // Secret names

  friend bool operator==(const PodSettings&, const PodSettings&) = default;
};

// A validated TrainingJob manifest with defaults filled in.
struct TrainingJob {
  std::string name;
  std::string namespace_name = "default";
  std::map<std::string, std::string> labels;
  std::map<std::string, std::string> annotations;

  BackendKind backend = BackendKind::kKubernetes;
  // spec.cluster: which of the agent's clusters runs the job; empty: the default cluster. Part of
  // the identity (key()), not of the spec: a change moves the job (diff/plan.h, "Cluster moves").
  std::string cluster;
  bool suspend = false;
  std::vector<std::string> depends_on;
  std::string image;
  std::vector<std::string> command;
  std::vector<std::string> args;
  // spec.env holds both kinds of value: literal strings here, and references (exactly one of
  // secretKeyRef, configMapKeyRef, fieldRef, resourceFieldRef: a Kubernetes EnvVarSource) in
  // pod->env_refs. A name is in at most one of the two.
  std::map<std::string, std::string> env;
  // The Kubernetes pod settings (env references included), on the heap only when one is set.
  HeapValue<PodSettings> pod;
  std::optional<int> max_restarts;  // failurePolicy.maxRestarts, per replica
  std::optional<int64_t> active_deadline_seconds;
  std::optional<int64_t> ttl_seconds_after_finished;
  std::string run_id;                 // empty: unset; a new value alone re-runs a finished job
  std::map<std::string, Role> roles;  // ordered by role name
  HeapOptional<RaySpec> ray;
  // kubernetes.podTemplatePatch: a strategic-merge patch over every rendered pod template; null
  // when unset.
  nlohmann::json pod_template_patch;
  // kubernetes.workload: what the job runs as on Kubernetes.
  KubernetesWorkload workload = KubernetesWorkload::kJob;
  // spec.queue: the Kueue LocalQueue the workload is admitted through; empty: none.
  std::string queue;
  // workload kElasticJob only: the ElasticJob's spec as written, without each replica type's
  // `replicas` and without `suspend` (roles and `suspend` above carry them, and change in place);
  // null otherwise. Canonical form: spec.kubernetes.elasticJob.
  nlohmann::json elastic_job_spec;

  // Where the document starts; not part of the job's identity or spec.
  SourceLocation source;

  JobKey key() const { return {RunsOn(), namespace_name, name, cluster}; }

  // The backend that applies the job: `backend`, except that a Ray job with ray.cluster kuberay
  // is a RayJob object of the Kubernetes cluster (identity kubernetes/<namespace>/<name>).
  BackendKind RunsOn() const {
    return backend == BackendKind::kRay && ray && ray->cluster == RayCluster::kKubeRay
               ? BackendKind::kKubernetes
               : backend;
  }

  // True when every field above but `source` is equal, so that the canonical forms
  // (schemas/canonical.h) are equal without building them: the planner's fast path for a job in
  // sync. False does not mean the canonical forms differ (dependsOn in another order, say).
  // A field added to TrainingJob must be compared here too.
  bool SameSpecAs(const TrainingJob& other) const {
    if (this == &other) return true;  // an applied spec shared with the desired one (SharedSpecs)
    return name == other.name && namespace_name == other.namespace_name && labels == other.labels &&
           annotations == other.annotations && backend == other.backend &&
           suspend == other.suspend && depends_on == other.depends_on && image == other.image &&
           command == other.command && args == other.args && env == other.env && pod == other.pod &&
           max_restarts == other.max_restarts &&
           active_deadline_seconds == other.active_deadline_seconds &&
           ttl_seconds_after_finished == other.ttl_seconds_after_finished &&
           run_id == other.run_id && roles == other.roles && ray == other.ray &&
           pod_template_patch == other.pod_template_patch && workload == other.workload &&
           queue == other.queue && elastic_job_spec == other.elastic_job_spec;
  }
};

// What one role's training container and pod get: the spec-level settings with the role's
// overrides applied. image, command and args: the role's when set, else the spec's. env (literal
// and references together) and volumes: merged by name, the role's winning (a role's literal
// replaces a spec-level reference of the same name, and the reverse). nodeSelector: merged by
// key, the role's winning. envFrom and tolerations: the spec's, then the role's.
struct RoleSettings {
  std::string image;
  std::vector<std::string> command;
  std::vector<std::string> args;
  std::map<std::string, std::string> env;
  std::map<std::string, nlohmann::json> env_refs;
  std::vector<nlohmann::json> env_from;
  std::vector<Volume> volumes;  // the spec's order, then the role's new names
  std::map<std::string, std::string> node_selector;
  std::vector<nlohmann::json> tolerations;
};
// Precondition: `role` is a role of `job`.
RoleSettings EffectiveRoleSettings(const TrainingJob& job, const std::string& role);

}  // namespace jobsync

#endif  // JOBSYNC_SCHEMAS_MODEL_H_
