#include "schemas/job_checks.h"

#include <algorithm>
#include <map>
#include <string_view>
#include <utility>

#include "schemas/elasticjob.h"
#include "schemas/k8s_names.h"
#include "schemas/yaml_json.h"

namespace jobsync {
namespace {

using json = nlohmann::json;
using Path = std::vector<std::string>;

constexpr std::string_view kOwnPrefix = "jobsync.dev/";
constexpr std::string_view kManagedByKey = "app.kubernetes.io/managed-by";
constexpr std::string_view kKwokCompleteLabel = "jobsync.dev/kwok-complete";
constexpr std::string_view kKwokDelayAnnotation = "jobsync.dev/kwok-complete-delay";
constexpr std::string_view kJobsyncEnvPrefix = "JOBSYNC_";

constexpr const char* kEnvSources[] = {"secretKeyRef", "configMapKeyRef", "fieldRef",
                                       "resourceFieldRef"};
constexpr const char* kEnvFromSources[] = {"secretRef", "configMapRef"};
// Resources with a field of their own in roles.<name>.resources.
constexpr const char* kOwnResources[] = {"cpu", "memory", "ephemeral-storage", "nvidia.com/gpu"};

// "spec.volumes[0].name", as the schema's diagnostics spell paths: digit-only steps are the list
// indexes this file builds (no key it checks is all digits).
std::string Dotted(const Path& path) {
  std::string out;
  for (const std::string& step : path) {
    const bool index = !step.empty() && step.find_first_not_of("0123456789") == std::string::npos;
    out += index ? "[" + step + "]" : (out.empty() ? "" : ".") + step;
  }
  return out;
}

Path Join(Path base, std::initializer_list<std::string> more) {
  for (const std::string& step : more) base.push_back(step);
  return base;
}

std::string Quote(const std::string& text) {
  return "'" + (text.size() > 80 ? text.substr(0, 77) + "..." : text) + "'";
}

// Collects diagnostics located in one document.
class Checker {
 public:
  Checker(const TrainingJob& job, const YamlNode& root, const std::string& path)
      : job_(job), root_(root), path_(path) {}

  void Add(const Path& at, std::string message, std::string hint, bool at_key = false) {
    YamlPosition position = Locate(root_, at, at_key);
    out_.push_back({{path_, position.line, position.column}, std::move(message), std::move(hint)});
  }

  bool Present(const Path& at) const { return Locate(root_, at).found; }

  std::vector<Diagnostic> Take() {
    std::sort(out_.begin(), out_.end());
    out_.erase(
        std::unique(out_.begin(), out_.end(),
                    [](const Diagnostic& a, const Diagnostic& b) { return !(a < b) && !(b < a); }),
        out_.end());
    return std::move(out_);
  }

  const TrainingJob& job() const { return job_; }

 private:
  const TrainingJob& job_;
  const YamlNode& root_;
  const std::string& path_;
  std::vector<Diagnostic> out_;
};

// --- backend: ray ---------------------------------------------------------------------------

struct RayRefusal {
  const char* field;
  const char* instead;
};

constexpr RayRefusal kRaySpecRefusals[] = {
    {"args", "put the arguments in spec.ray.entrypoint"},
    {"envFrom", "pass the variables in spec.ray.runtimeEnv.env_vars"},
    {"volumes",
     "ship files with spec.ray.runtimeEnv.working_dir, or use storage the Ray nodes "
     "already mount"},
    {"nodeSelector", "request Ray resources with spec.ray.entrypointResources"},
    {"tolerations", "request Ray resources with spec.ray.entrypointResources"},
    {"affinity", "request Ray resources with spec.ray.entrypointResources"},
    {"priorityClassName", "remove it; the Ray cluster's own configuration sets its pods' priority"},
    {"schedulerName", "remove it; the Ray cluster schedules its jobs itself"},
    {"serviceAccountName", "remove it; a Ray job runs as the Ray cluster's processes"},
    {"imagePullSecrets",
     "remove it; the Ray cluster's image runs the job (add packages with "
     "spec.ray.runtimeEnv.pip)"},
    {"failurePolicy", "remove it; retry inside spec.ray.entrypoint if the job needs it"},
    {"activeDeadlineSeconds", "remove it; bound the run inside spec.ray.entrypoint (e.g. timeout)"},
    {"ttlSecondsAfterFinished", "remove it; the Ray cluster keeps its own job history"},
    {"kubernetes", "remove spec.kubernetes, or set spec.backend: kubernetes"},
    {"queue", "remove it; Kueue queues admit Kubernetes workloads, a shared Ray cluster has none"},
};

constexpr RayRefusal kRayRoleRefusals[] = {
    {"image", "the Ray cluster's image runs the job; add packages with spec.ray.runtimeEnv.pip"},
    {"command", "spec.ray.entrypoint is what runs; put the command there"},
    {"args", "put the arguments in spec.ray.entrypoint"},
    {"env", "use spec.env (literal values) or spec.ray.runtimeEnv.env_vars"},
    {"envFrom", "pass the variables in spec.ray.runtimeEnv.env_vars"},
    {"volumes", "ship files with spec.ray.runtimeEnv.working_dir"},
    {"nodeSelector", "request Ray resources with spec.ray.entrypointResources"},
    {"tolerations", "request Ray resources with spec.ray.entrypointResources"},
};

std::string RayMessage(const Path& at) {
  return Dotted(at) +
         ": not supported with backend: ray; a shared Ray cluster's Jobs API cannot honour it";
}

// What a KubeRay RayJob cannot honour: the entrypoint is what runs, and the RayJob has no queue
// (Kueue's RayJob integration is not set up), gang failure policy or pod template patch here.
constexpr RayRefusal kKubeRaySpecRefusals[] = {
    {"command", "spec.ray.entrypoint is what runs; put the command there"},
    {"args", "put the arguments in spec.ray.entrypoint"},
    {"failurePolicy", "remove it; retry inside spec.ray.entrypoint if the job needs it"},
    {"kubernetes", "remove spec.kubernetes: the RayJob's pods are KubeRay's head and workers"},
    {"queue", "remove it; jobsync does not queue RayJobs through Kueue yet"},
};
constexpr RayRefusal kKubeRayRoleRefusals[] = {
    {"command", "spec.ray.entrypoint is what runs; KubeRay starts the Ray worker processes"},
    {"args", "put the arguments in spec.ray.entrypoint"},
};

std::string KubeRayMessage(const Path& at) {
  return Dotted(at) + ": not supported with ray.cluster: kuberay";
}

// ray.cluster: kuberay: the pod settings of the job model apply to the Ray worker groups.
void CheckKubeRay(Checker& check) {
  const TrainingJob& job = check.job();
  for (const RayRefusal& refusal : kKubeRaySpecRefusals) {
    Path at = {"spec", refusal.field};
    if (check.Present(at)) check.Add(at, KubeRayMessage(at), refusal.instead, /*at_key=*/true);
  }
  for (const auto& [role, settings] : job.roles) {
    for (const RayRefusal& refusal : kKubeRayRoleRefusals) {
      Path at = {"spec", "roles", role, refusal.field};
      if (check.Present(at)) check.Add(at, KubeRayMessage(at), refusal.instead, /*at_key=*/true);
    }
    if (job.image.empty() && job.ray->image.empty() && !settings.overrides->image) {
      check.Add({"spec", "roles", role}, "spec.roles." + role + ": no image for its Ray workers",
                "set spec.ray.image (the Ray image of head and workers) or spec.image");
    }
  }
  if (job.image.empty() && job.ray->image.empty()) {
    check.Add({"spec", "ray"}, "spec.ray: no image for the Ray head",
              "set spec.ray.image (or spec.image) to a Ray image, e.g. rayproject/ray:2.52.0");
  }
}

void CheckRay(Checker& check) {
  const TrainingJob& job = check.job();
  if (job.ray && job.ray->cluster == RayCluster::kKubeRay) {
    CheckKubeRay(check);
    return;
  }
  for (const char* field : {"image", "head"}) {
    Path at = {"spec", "ray", field};
    if (check.Present(at)) {
      check.Add(at, Dotted(at) + ": only for ray.cluster: kuberay (the RayJob's own Ray cluster)",
                "remove it, or set spec.ray.cluster: kuberay", /*at_key=*/true);
    }
  }
  for (const RayRefusal& refusal : kRaySpecRefusals) {
    Path at = {"spec", refusal.field};
    if (check.Present(at)) check.Add(at, RayMessage(at), refusal.instead, /*at_key=*/true);
  }
  for (const auto& [name, unused] : job.pod->env_refs) {
    Path at = {"spec", "env", name};
    check.Add(at, RayMessage(at) + " (an environment variable from a reference)",
              "write the value itself, in spec.env or spec.ray.runtimeEnv.env_vars");
  }
  for (const auto& [role, unused] : job.roles) {
    for (const RayRefusal& refusal : kRayRoleRefusals) {
      Path at = {"spec", "roles", role, refusal.field};
      if (check.Present(at)) check.Add(at, RayMessage(at), refusal.instead, /*at_key=*/true);
    }
    for (const char* field : {"ephemeralStorage", "extended"}) {
      Path at = {"spec", "roles", role, "resources", field};
      if (check.Present(at)) {
        check.Add(at, RayMessage(at), "reserve Ray resources with spec.ray.entrypointResources",
                  /*at_key=*/true);
      }
    }
  }
}

// --- backend: kubernetes --------------------------------------------------------------------

// A referenced object's name: a DNS-1123 subdomain, as the apiserver requires of Secrets,
// ConfigMaps, PVCs, ServiceAccounts and PriorityClasses.
void CheckObjectName(Checker& check, const Path& at, const std::string& name, const char* kind) {
  std::string problem = CheckDns1123Subdomain(name);
  if (problem.empty()) return;
  check.Add(at, Dotted(at) + ": " + kind + " name " + Quote(name) + " " + problem,
            std::string("Kubernetes names are lower-case letters, digits, '-' and '.', e.g. ") +
                "train-cfg; use the " + kind + "'s name as kubectl shows it");
}

// Exactly one of `sources` in the object `value` at `at`; returns the one, or "" when not one.
std::string OneSource(Checker& check, const Path& at, const json& value,
                      const std::vector<std::string>& sources, const std::string& what) {
  std::vector<std::string> found;
  for (const std::string& source : sources) {
    if (value.contains(source)) found.push_back(source);
  }
  if (found.size() == 1) return found[0];
  std::string names;
  for (const std::string& source : sources) names += (names.empty() ? "" : ", ") + source;
  std::string got;
  for (const std::string& source : found) got += (got.empty() ? "" : ", ") + source;
  check.Add(at,
            Dotted(at) + ": " + what + " needs exactly one of " + names + "; " +
                (found.empty() ? "it has none" : "it has " + got),
            found.empty() ? "add one source" : "keep one source; split the rest into entries");
  return "";
}

void CheckEnvRefs(Checker& check, const Path& env_at, const std::map<std::string, json>& refs) {
  const std::vector<std::string> sources(std::begin(kEnvSources), std::end(kEnvSources));
  for (const auto& [name, ref] : refs) {
    Path at = Join(env_at, {name});
    std::string source = OneSource(check, at, ref, sources, "an environment reference");
    if (source == "secretKeyRef" || source == "configMapKeyRef") {
      CheckObjectName(check, Join(at, {source, "name"}), ref[source]["name"].get<std::string>(),
                      source == "secretKeyRef" ? "Secret" : "ConfigMap");
    }
  }
}

void CheckEnvFrom(Checker& check, const Path& list_at, const std::vector<json>& entries) {
  const std::vector<std::string> sources(std::begin(kEnvFromSources), std::end(kEnvFromSources));
  for (size_t i = 0; i < entries.size(); ++i) {
    Path at = Join(list_at, {std::to_string(i)});
    std::string source = OneSource(check, at, entries[i], sources, "an envFrom entry");
    if (!source.empty()) {
      CheckObjectName(check, Join(at, {source, "name"}),
                      entries[i][source]["name"].get<std::string>(),
                      source == "secretRef" ? "Secret" : "ConfigMap");
    }
  }
}

// The names of the objects a volume source refers to, by source kind.
void CheckVolumeSource(Checker& check, const Path& at, const Volume& volume) {
  static const std::vector<std::string> kSources = {"persistentVolumeClaim",
                                                    "emptyDir",
                                                    "configMap",
                                                    "secret",
                                                    "hostPath",
                                                    "nfs",
                                                    "csi",
                                                    "ephemeral"};
  std::string source = OneSource(check, at, volume.source, kSources, "a volume");
  const json& body = source.empty() ? json() : volume.source[source];
  if (source == "persistentVolumeClaim") {
    CheckObjectName(check, Join(at, {source, "claimName"}), body["claimName"].get<std::string>(),
                    "PersistentVolumeClaim");
  } else if (source == "configMap") {
    CheckObjectName(check, Join(at, {source, "name"}), body["name"].get<std::string>(),
                    "ConfigMap");
  } else if (source == "secret") {
    CheckObjectName(check, Join(at, {source, "secretName"}), body["secretName"].get<std::string>(),
                    "Secret");
  }
}

// One volumes list (spec-level or a role's): sources, unique names, absolute mount paths.
void CheckVolumeList(Checker& check, const Path& list_at, const std::vector<Volume>& volumes) {
  std::map<std::string, size_t> first_by_name;
  for (size_t i = 0; i < volumes.size(); ++i) {
    const Volume& volume = volumes[i];
    Path at = Join(list_at, {std::to_string(i)});
    CheckVolumeSource(check, at, volume);
    auto [it, fresh] = first_by_name.emplace(volume.name, i);
    if (!fresh) {
      check.Add(Join(at, {"name"}),
                Dotted(at) + ".name: " + Quote(volume.name) + " is also the name of " +
                    Dotted(Join(list_at, {std::to_string(it->second)})),
                "volume names are unique in a list; rename one (a role's volume with a "
                "spec-level volume's name replaces it)");
    }
    if (volume.mount_path.front() != '/') {
      check.Add(Join(at, {"mountPath"}),
                Dotted(at) + ".mountPath: " + Quote(volume.mount_path) + " is not an absolute path",
                "start it with '/', e.g. /" + volume.mount_path);
    }
  }
}

// "/data/" and "/data" mount at the same place.
std::string MountKey(std::string mount_path) {
  while (mount_path.size() > 1 && mount_path.back() == '/') mount_path.pop_back();
  return mount_path;
}

// The volumes each role gets once spec and role volumes merge by name: no two mount at the same
// path. Each clash is reported at the later volume's mountPath, naming the earlier one.
void CheckRoleMounts(Checker& check, const std::string& role_name, const Role& role) {
  const TrainingJob& job = check.job();
  auto where = [&](const std::string& name) {
    const std::vector<Volume>& own = role.overrides->volumes;
    for (size_t i = 0; i < own.size(); ++i) {
      if (own[i].name == name)
        return Path{"spec", "roles", role_name, "volumes", std::to_string(i)};
    }
    for (size_t i = 0; i < job.pod->volumes.size(); ++i) {
      if (job.pod->volumes[i].name == name) return Path{"spec", "volumes", std::to_string(i)};
    }
    return Path{"spec"};
  };
  std::map<std::string, std::string> by_mount;  // mount path -> volume name
  for (const Volume& volume : EffectiveRoleSettings(job, role_name).volumes) {
    auto [it, fresh] = by_mount.emplace(MountKey(volume.mount_path), volume.name);
    if (fresh || it->second == volume.name) continue;
    Path at = where(volume.name);
    check.Add(Join(at, {"mountPath"}),
              Dotted(at) + ".mountPath: volume " + Quote(volume.name) + " mounts at " +
                  Quote(volume.mount_path) + ", where volume " + Quote(it->second) + " (" +
                  Dotted(where(it->second)) + ") mounts too, in role '" + role_name + "'",
              "give each volume of a role its own mountPath (use subPath to mount parts of one "
              "volume)");
  }
}

void CheckNodeSelector(Checker& check, const Path& at_map,
                       const std::map<std::string, std::string>& selector) {
  for (const auto& [key, value] : selector) {
    Path at = Join(at_map, {key});
    if (std::string problem = CheckQualifiedName(key); !problem.empty()) {
      check.Add(at, Dotted(at_map) + ": key " + Quote(key) + " " + problem,
                "node selector keys are node label keys, e.g. nvidia.com/gpu.product", true);
    }
    if (std::string problem = CheckLabelValue(value); !problem.empty()) {
      check.Add(at, Dotted(at) + ": value " + Quote(value) + " " + problem,
                "node selector values are node label values, e.g. NVIDIA-H100-80GB-HBM3");
    }
  }
}

void CheckExtended(Checker& check, const std::string& role_name, const Resources& resources) {
  for (const auto& [name, unused] : *resources.extended) {
    Path at = {"spec", "roles", role_name, "resources", "extended", name};
    if (std::string problem = CheckQualifiedName(name); !problem.empty()) {
      check.Add(at, Dotted(at) + ": resource name " + Quote(name) + " " + problem,
                "extended resources are named [prefix/]name, e.g. rdma/hca_shared_devices_a", true);
    } else if (std::find(std::begin(kOwnResources), std::end(kOwnResources), name) !=
               std::end(kOwnResources)) {
      const std::string field = name == "cpu"                 ? "cpu"
                                : name == "memory"            ? "memory"
                                : name == "ephemeral-storage" ? "ephemeralStorage"
                                                              : "gpu";
      check.Add(at, Dotted(at) + ": " + Quote(name) + " has its own field, resources." + field,
                "write it as resources." + field + " instead", true);
    }
  }
}

// --- kubernetes.podTemplatePatch --------------------------------------------------------------

// Where the patch sits in the document.
Path PatchPath() { return {"spec", "kubernetes", "podTemplatePatch"}; }

void RefuseInPatch(Checker& check, const Path& at, const std::string& what, bool at_key = true) {
  check.Add(
      at,
      Dotted(at) + ": " + what + " is jobsync's own; kubernetes.podTemplatePatch may not change it",
      "remove it from the patch; jobsync sets it on every pod template it renders", at_key);
}

void CheckPatchMetadata(Checker& check, const json& metadata) {
  const Path at = Join(PatchPath(), {"metadata"});
  if (metadata.contains("$patch")) RefuseInPatch(check, Join(at, {"$patch"}), "the pod metadata");
  for (const char* map : {"labels", "annotations"}) {
    auto it = metadata.find(map);
    if (it == metadata.end() || !it->is_object()) continue;
    for (const auto& [key, unused] : it->items()) {
      if (key == "$patch") {
        RefuseInPatch(check, Join(at, {map, key}), std::string("the set of ") + map);
      } else if (IsJobsyncOwnKey(key, std::string_view(map) == "annotations")) {
        RefuseInPatch(check, Join(at, {map, key}),
                      std::string("the ") + map + " key " + Quote(key));
      }
    }
  }
}

void CheckPatchContainers(Checker& check, const json& containers, const Path& at) {
  for (size_t i = 0; i < containers.size(); ++i) {
    const json& container = containers[i];
    if (!container.is_object()) continue;
    const Path item = Join(at, {std::to_string(i)});
    // The patch is free-form: a name that is not a string is left for the apiserver to refuse.
    auto name_it = container.find("name");
    const std::string name =
        name_it != container.end() && name_it->is_string() ? name_it->get<std::string>() : "";
    if (container.contains("$patch") && (name.empty() || check.job().roles.count(name) != 0)) {
      RefuseInPatch(check, Join(item, {"$patch"}), "the training container (named after its role)");
    }
    auto env = container.find("env");
    if (env == container.end() || !env->is_array()) continue;
    for (size_t k = 0; k < env->size(); ++k) {
      const json& entry = (*env)[k];
      if (!entry.is_object() || !entry.contains("name") || !entry["name"].is_string()) continue;
      const std::string var = entry["name"].get<std::string>();
      if (var.rfind(kJobsyncEnvPrefix, 0) == 0) {
        RefuseInPatch(check, Join(item, {"env", std::to_string(k), "name"}),
                      "the environment variable " + Quote(var), false);
      }
    }
  }
}

void CheckPodTemplatePatch(Checker& check, const json& patch) {
  for (const auto& [key, value] : patch.items()) {
    if (key == "$patch") {
      RefuseInPatch(check, Join(PatchPath(), {key}), "the pod template as a whole");
    } else if (key != "metadata" && key != "spec") {
      check.Add(Join(PatchPath(), {key}),
                Dotted(PatchPath()) + ": unknown field " + Quote(key) +
                    "; a pod template has metadata and spec",
                "write the patch as {metadata: {...}, spec: {...}}", true);
    }
  }
  if (patch.contains("metadata") && patch["metadata"].is_object()) {
    CheckPatchMetadata(check, patch["metadata"]);
  }
  if (!patch.contains("spec") || !patch["spec"].is_object()) return;
  const json& spec = patch["spec"];
  const Path at = Join(PatchPath(), {"spec"});
  for (const char* owned : {"$patch", "subdomain", "restartPolicy"}) {
    if (spec.contains(owned)) {
      RefuseInPatch(check, Join(at, {owned}),
                    std::string_view(owned) == "$patch" ? "the pod spec as a whole"
                                                        : std::string("spec.") + owned);
    }
  }
  for (const char* list : {"containers", "initContainers"}) {
    if (spec.contains(list) && spec[list].is_array()) {
      CheckPatchContainers(check, spec[list], Join(at, {list}));
    }
  }
}

void CheckKubernetes(Checker& check) {
  const TrainingJob& job = check.job();
  const PodSettings& pod = *job.pod;
  CheckEnvRefs(check, {"spec", "env"}, pod.env_refs);
  CheckEnvFrom(check, {"spec", "envFrom"}, pod.env_from);
  CheckVolumeList(check, {"spec", "volumes"}, pod.volumes);
  CheckNodeSelector(check, {"spec", "nodeSelector"}, pod.node_selector);
  for (size_t i = 0; i < pod.image_pull_secrets.size(); ++i) {
    CheckObjectName(check, {"spec", "imagePullSecrets", std::to_string(i)},
                    pod.image_pull_secrets[i], "Secret");
  }
  if (!pod.service_account_name.empty()) {
    CheckObjectName(check, {"spec", "serviceAccountName"}, pod.service_account_name,
                    "ServiceAccount");
  }
  if (!pod.priority_class_name.empty()) {
    CheckObjectName(check, {"spec", "priorityClassName"}, pod.priority_class_name, "PriorityClass");
  }
  for (const auto& [role_name, role] : job.roles) {
    const Path at = {"spec", "roles", role_name};
    CheckEnvRefs(check, Join(at, {"env"}), role.overrides->env_refs);
    CheckEnvFrom(check, Join(at, {"envFrom"}), role.overrides->env_from);
    CheckVolumeList(check, Join(at, {"volumes"}), role.overrides->volumes);
    CheckNodeSelector(check, Join(at, {"nodeSelector"}), role.overrides->node_selector);
    CheckExtended(check, role_name, role.resources);
    CheckRoleMounts(check, role_name, role);
  }
  if (job.pod_template_patch.is_object()) CheckPodTemplatePatch(check, job.pod_template_patch);
  if (job.workload == KubernetesWorkload::kJobSet && !job.name.empty() &&
      !(job.name[0] >= 'a' && job.name[0] <= 'z')) {
    check.Add({"metadata", "name"},
              "metadata.name: " + Quote(job.name) +
                  " starts with a digit; a JobSet's Jobs and pods are named after it and must "
                  "start with a letter (DNS-1035)",
              "start the name with a letter, e.g. " + Quote("job-" + job.name));
  }
}

// The shard label (diff/shards.h) is a decimal integer.
void CheckShardLabel(Checker& check) {
  auto label = check.job().labels.find(kShardLabel);
  if (label == check.job().labels.end()) return;
  const std::string& value = label->second;
  const bool decimal =
      !value.empty() && value.size() <= 9 &&
      std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; });
  if (decimal) return;
  check.Add({"metadata", "labels", kShardLabel},
            std::string("metadata.labels[\"") + kShardLabel + "\"]: \"" + value +
                "\" is not a shard number",
            "give a decimal integer, e.g. \"2\": the job goes to that shard modulo the agents' "
            "shard count (--shard INDEX/COUNT); without the label its namespace decides");
}

}  // namespace

bool IsJobsyncOwnKey(const std::string& key, bool annotation) {
  if (annotation && (key == kPruneAnnotation || key == kKwokDelayAnnotation ||
                     key == kElasticJobModeAnnotation)) {
    return false;
  }
  if (!annotation && (key == kKwokCompleteLabel || key == kShardLabel)) return false;
  return key.rfind(kOwnPrefix, 0) == 0 || key == kManagedByKey;
}

std::vector<Diagnostic> CheckJobModel(const TrainingJob& job, const YamlNode& root,
                                      const std::string& path) {
  Checker check(job, root, path);
  CheckShardLabel(check);
  if (job.backend == BackendKind::kRay) {
    CheckRay(check);
  } else {
    CheckKubernetes(check);
  }
  return check.Take();
}

std::optional<Diagnostic> CheckCluster(const ClusterNames& clusters, const YamlNode& root,
                                       const std::string& path, std::string* cluster) {
  if (cluster->empty() || clusters.others.count(*cluster) != 0) return std::nullopt;
  if (*cluster == clusters.default_name) {
    cluster->clear();
    return std::nullopt;
  }
  YamlPosition at = Locate(root, {"spec", "cluster"});
  Diagnostic problem{{path, at.line, at.column}, "", ""};
  if (clusters.default_name.empty() && clusters.others.empty()) {
    problem.message = "spec.cluster: cluster \"" + *cluster +
                      "\" is not known: the agent has no clusters file, only its default cluster";
    problem.hint = "name the cluster in a clusters file (--clusters), or remove spec.cluster";
    return problem;
  }
  std::string known = clusters.default_name + " (default)";
  for (const std::string& name : clusters.others) known += ", " + name;
  problem.message =
      "spec.cluster: no cluster \"" + *cluster + "\" in the agent's clusters file (" + known + ")";
  problem.hint = "use one of those names, or add the cluster to the clusters file (--clusters)";
  return problem;
}

}  // namespace jobsync
