// The typed model of a TrainingJob manifest (apiVersion jobsync.dev/v1alpha1), as the loader
// produces it after schema and semantic validation. Plain values: copyable, comparable, no I/O.
#ifndef JOBSYNC_SCHEMAS_MODEL_H_
#define JOBSYNC_SCHEMAS_MODEL_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "schemas/quantity.h"

namespace jobsync {

inline constexpr const char* kApiVersion = "jobsync.dev/v1alpha1";
inline constexpr const char* kKind = "TrainingJob";
// Annotation that, set to "false" on a manifest or a live object, protects the job from pruning.
inline constexpr const char* kPruneAnnotation = "jobsync.dev/prune";
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

  friend bool operator==(const Resources&, const Resources&) = default;
};

// One replica type of a job (worker, ps, chief, evaluator, ...).
struct Role {
  int replicas = 1;
  std::optional<int> min_replicas;
  std::optional<int> max_replicas;
  Resources resources;

  friend bool operator==(const Role&, const Role&) = default;
};

// Resources reserved for a Ray job's entrypoint process.
struct RayEntrypointResources {
  std::optional<double> cpu;
  std::optional<double> gpu;
  std::optional<Quantity> memory;

  friend bool operator==(const RayEntrypointResources&, const RayEntrypointResources&) = default;
};

// Ray Jobs API settings (backend: ray).
struct RaySpec {
  std::string entrypoint;
  nlohmann::json runtime_env = nlohmann::json::object();
  RayEntrypointResources entrypoint_resources;

  friend bool operator==(const RaySpec&, const RaySpec&) = default;
};

// Identity of a job across Git and the clusters: backend/namespace/name.
struct JobKey {
  BackendKind backend = BackendKind::kKubernetes;
  std::string namespace_name;
  std::string name;

  // "kubernetes/vision/resnet50".
  std::string ToString() const;
  friend auto operator<=>(const JobKey&, const JobKey&) = default;
};

// A validated TrainingJob manifest with defaults filled in.
struct TrainingJob {
  std::string name;
  std::string namespace_name = "default";
  std::map<std::string, std::string> labels;
  std::map<std::string, std::string> annotations;

  BackendKind backend = BackendKind::kKubernetes;
  bool suspend = false;
  std::vector<std::string> depends_on;
  std::string image;
  std::vector<std::string> command;
  std::map<std::string, std::string> env;
  std::map<std::string, Role> roles;  // ordered by role name
  std::optional<RaySpec> ray;

  // Where the document starts; not part of the job's identity or spec.
  SourceLocation source;

  JobKey key() const { return {backend, namespace_name, name}; }

  // True when every field above but `source` is equal, so that the canonical forms
  // (schemas/canonical.h) are equal without building them: the planner's fast path for a job in
  // sync. False does not mean the canonical forms differ (dependsOn in another order, say).
  // A field added to TrainingJob must be compared here too.
  bool SameSpecAs(const TrainingJob& other) const {
    return name == other.name && namespace_name == other.namespace_name && labels == other.labels &&
           annotations == other.annotations && backend == other.backend &&
           suspend == other.suspend && depends_on == other.depends_on && image == other.image &&
           command == other.command && env == other.env && roles == other.roles && ray == other.ray;
  }
};

}  // namespace jobsync

#endif  // JOBSYNC_SCHEMAS_MODEL_H_
