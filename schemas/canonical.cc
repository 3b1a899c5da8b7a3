#include "schemas/canonical.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <map>
#include <optional>
#include <utility>
#include <vector>

#include <openssl/evp.h>

namespace jobsync {
namespace {

using nlohmann::json;

// How a quantity is spelt canonically: cpu in cores, memory in bytes.
enum class QuantityUnit { kCores, kBytes };

// Quantities up to 2^53 units whose value is a whole number of thousandths keep the spelling
// they have had since the first release (so that the spec hashes of jobs applied then do not
// change); every other value is spelt exactly (Quantity::ExactText). See the canonical.h header.
constexpr int64_t kLegacyMilliLimit = (int64_t{1} << 53) * 1000;

// The one spelling of a quantity's value; see the canonical.h header comment.
std::string CanonicalQuantity(const Quantity& quantity, QuantityUnit unit) {
  int64_t milli = 0;
  if (!quantity.ExactMilli(&milli) || milli > kLegacyMilliLimit) return quantity.ExactText();
  if (milli % 1000 != 0) return std::to_string(milli) + "m";
  const int64_t units = milli / 1000;
  if (unit == QuantityUnit::kCores || units == 0) return std::to_string(units);
  static constexpr std::array<const char*, 6> kBinary = {"Ki", "Mi", "Gi", "Ti", "Pi", "Ei"};
  static constexpr std::array<const char*, 6> kDecimal = {"k", "M", "G", "T", "P", "E"};
  for (int power = static_cast<int>(kBinary.size()); power >= 1; --power) {
    const int64_t divisor = int64_t{1} << (10 * power);
    if (units % divisor == 0) return std::to_string(units / divisor) + kBinary[power - 1];
  }
  for (int power = static_cast<int>(kDecimal.size()); power >= 1; --power) {
    int64_t divisor = 1;
    for (int i = 0; i < power; ++i) divisor *= 1000;
    if (units % divisor == 0) return std::to_string(units / divisor) + kDecimal[power - 1];
  }
  return std::to_string(units);
}

json CanonicalResources(const Resources& resources) {
  json out = json::object();
  if (resources.cpu) out["cpu"] = CanonicalQuantity(*resources.cpu, QuantityUnit::kCores);
  if (resources.memory) out["memory"] = CanonicalQuantity(*resources.memory, QuantityUnit::kBytes);
  if (resources.gpu) out["gpu"] = *resources.gpu;
  if (resources.ephemeral_storage) {
    out["ephemeralStorage"] = CanonicalQuantity(*resources.ephemeral_storage, QuantityUnit::kBytes);
  }
  if (!resources.extended->empty()) {
    json extended = json::object();
    for (const auto& [name, quantity] : *resources.extended) {
      extended[name] = CanonicalQuantity(quantity, QuantityUnit::kCores);
    }
    out["extended"] = std::move(extended);
  }
  return out;
}

// spec.env as the manifest spells it: literal strings and reference objects in one map.
json CanonicalEnv(const std::map<std::string, std::string>& literal,
                  const std::map<std::string, json>& refs) {
  json out = json::object();
  for (const auto& [name, value] : literal) out[name] = value;
  for (const auto& [name, source] : refs) out[name] = source;
  return out;
}

// A volume's source with the quantities it holds (emptyDir.sizeLimit) spelt by value.
json CanonicalVolumeSource(json source) {
  auto empty_dir = source.find("emptyDir");
  if (empty_dir != source.end() && empty_dir->is_object()) {
    auto limit = empty_dir->find("sizeLimit");
    if (limit != empty_dir->end() && (limit->is_string() || limit->is_number())) {
      StatusOr<Quantity> parsed =
          Quantity::Parse(limit->is_string() ? limit->get<std::string>() : limit->dump());
      if (parsed.ok()) *limit = CanonicalQuantity(*parsed, QuantityUnit::kBytes);
    }
  }
  return source;
}

json CanonicalVolumes(const std::vector<Volume>& volumes) {
  json out = json::array();
  for (const Volume& volume : volumes) {
    json v = {{"name", volume.name}, {"mountPath", volume.mount_path}};
    if (volume.read_only) v["readOnly"] = true;
    if (!volume.sub_path.empty()) v["subPath"] = volume.sub_path;
    // Named: items() of a temporary would dangle inside the loop (before C++23).
    const json source = CanonicalVolumeSource(volume.source);
    for (const auto& [kind, body] : source.items()) v[kind] = body;
    out.push_back(std::move(v));
  }
  return out;
}

// The container and pod settings a role may override, each only when set (absent fields keep the
// canonical form, and so the spec hash, of jobs written before they existed).
void AddRoleOverrides(const RoleOverrides& own, json* out) {
  if (own.image) (*out)["image"] = *own.image;
  if (own.command) (*out)["command"] = *own.command;
  if (own.args) (*out)["args"] = *own.args;
  if (!own.env.empty() || !own.env_refs.empty())
    (*out)["env"] = CanonicalEnv(own.env, own.env_refs);
  if (!own.env_from.empty()) (*out)["envFrom"] = own.env_from;
  if (!own.volumes.empty()) (*out)["volumes"] = CanonicalVolumes(own.volumes);
  if (!own.node_selector.empty()) (*out)["nodeSelector"] = own.node_selector;
  if (!own.tolerations.empty()) (*out)["tolerations"] = own.tolerations;
}

// The job-model fields added after the first release, each only when set (see AddRoleOverrides).
void AddJobModel(const TrainingJob& job, json* spec) {
  json& out = *spec;
  const PodSettings& pod = *job.pod;
  if (!job.args.empty()) out["args"] = job.args;
  if (!pod.env_from.empty()) out["envFrom"] = pod.env_from;
  if (!pod.volumes.empty()) out["volumes"] = CanonicalVolumes(pod.volumes);
  if (!pod.node_selector.empty()) out["nodeSelector"] = pod.node_selector;
  if (!pod.tolerations.empty()) out["tolerations"] = pod.tolerations;
  if (!pod.affinity.is_null()) out["affinity"] = pod.affinity;
  if (!pod.priority_class_name.empty()) out["priorityClassName"] = pod.priority_class_name;
  if (!pod.scheduler_name.empty()) out["schedulerName"] = pod.scheduler_name;
  if (!pod.service_account_name.empty()) out["serviceAccountName"] = pod.service_account_name;
  if (!pod.image_pull_secrets.empty()) out["imagePullSecrets"] = pod.image_pull_secrets;
  if (job.max_restarts) out["failurePolicy"] = {{"maxRestarts", *job.max_restarts}};
  if (job.active_deadline_seconds) out["activeDeadlineSeconds"] = *job.active_deadline_seconds;
  if (job.ttl_seconds_after_finished) {
    out["ttlSecondsAfterFinished"] = *job.ttl_seconds_after_finished;
  }
  if (!job.run_id.empty()) out["runId"] = job.run_id;
  if (!job.pod_template_patch.is_null()) {
    out["kubernetes"]["podTemplatePatch"] = job.pod_template_patch;
  }
  if (job.workload != KubernetesWorkload::kJob) {
    out["kubernetes"]["workload"] = KubernetesWorkloadName(job.workload);
  }
  if (!job.elastic_job_spec.is_null()) out["kubernetes"]["elasticJob"] = job.elastic_job_spec;
  if (!job.queue.empty()) out["queue"] = job.queue;
}

json CanonicalRay(const RaySpec& ray) {
  json out = json::object();
  out["entrypoint"] = ray.entrypoint;
  out["runtimeEnv"] = ray.runtime_env.is_null() ? json::object() : ray.runtime_env;
  json resources = json::object();
  const RayEntrypointResources& r = ray.entrypoint_resources;
  if (r.cpu) resources["cpu"] = *r.cpu;
  if (r.gpu) resources["gpu"] = *r.gpu;
  if (r.memory) resources["memory"] = CanonicalQuantity(*r.memory, QuantityUnit::kBytes);
  out["entrypointResources"] = std::move(resources);
  // Written only for a RayJob, so that a shared-cluster job's canonical form (and hash) is as
  // before.
  if (ray.cluster == RayCluster::kKubeRay) out["cluster"] = "kuberay";
  if (!ray.image.empty()) out["image"] = ray.image;
  json head = CanonicalResources(ray.head_resources);
  if (!head.empty()) out["head"]["resources"] = std::move(head);
  return out;
}

// Reads fields of canonical JSON with type checks, so that malformed input becomes a Status and
// never a nlohmann exception. `where` is the dotted path of the object being read.
class FieldReader {
 public:
  FieldReader(const json& object, std::string where) : object_(object), where_(std::move(where)) {}

  // The object's field `key`, or nullptr when absent.
  const json* Find(const std::string& key) const {
    auto it = object_.find(key);
    return it == object_.end() ? nullptr : &*it;
  }

  std::string Path(const std::string& key) const {
    return where_.empty() ? key : where_ + "." + key;
  }

  Status Missing(const std::string& key) const {
    return InvalidArgumentError("canonical spec: " + Path(key) + " is missing");
  }

  Status WrongType(const std::string& key, const char* expected) const {
    return InvalidArgumentError("canonical spec: " + Path(key) + " must be " + expected);
  }

  // The object field `key`, or nullptr after setting `*error` when it is absent or not an object.
  const json* RequiredObject(const std::string& key, Status* error) const {
    const json* value = Find(key);
    if (value == nullptr) {
      *error = Missing(key);
      return nullptr;
    }
    if (!value->is_object()) {
      *error = WrongType(key, "an object");
      return nullptr;
    }
    return value;
  }

  // The object field `key` in `*out`, or nullptr when absent; an error when it is not an object.
  Status OptionalObject(const std::string& key, const json** out) const {
    *out = nullptr;
    const json* value = Find(key);
    if (value == nullptr) return OkStatus();
    if (!value->is_object()) return WrongType(key, "an object");
    *out = value;
    return OkStatus();
  }

  Status String(const std::string& key, bool required, std::string* out) const {
    const json* value = Find(key);
    if (value == nullptr) return required ? Missing(key) : OkStatus();
    if (!value->is_string()) return WrongType(key, "a string");
    *out = value->get<std::string>();
    return OkStatus();
  }

  Status Bool(const std::string& key, bool* out) const {
    const json* value = Find(key);
    if (value == nullptr) return OkStatus();
    if (!value->is_boolean()) return WrongType(key, "a boolean");
    *out = value->get<bool>();
    return OkStatus();
  }

  Status Int64(const std::string& key, std::optional<int64_t>* out) const {
    const json* value = Find(key);
    if (value == nullptr) return OkStatus();
    if (!value->is_number_integer()) return WrongType(key, "an integer");
    *out = value->get<int64_t>();
    return OkStatus();
  }

  Status Int(const std::string& key, std::optional<int>* out) const {
    std::optional<int64_t> wide;
    JOBSYNC_RETURN_IF_ERROR(Int64(key, &wide));
    if (!wide) return OkStatus();
    if (*wide < 0 || *wide > std::numeric_limits<int>::max()) {
      return WrongType(key, "a non-negative int");
    }
    *out = static_cast<int>(*wide);
    return OkStatus();
  }

  Status Double(const std::string& key, std::optional<double>* out) const {
    const json* value = Find(key);
    if (value == nullptr) return OkStatus();
    if (!value->is_number()) return WrongType(key, "a number");
    *out = value->get<double>();
    return OkStatus();
  }

  Status QuantityField(const std::string& key, std::optional<Quantity>* out) const {
    const json* value = Find(key);
    if (value == nullptr) return OkStatus();
    if (!value->is_string() && !value->is_number()) return WrongType(key, "a quantity");
    StatusOr<Quantity> parsed =
        Quantity::Parse(value->is_string() ? value->get<std::string>() : value->dump());
    if (!parsed.ok()) {
      return InvalidArgumentError("canonical spec: " + Path(key) + ": " +
                                  parsed.status().message());
    }
    *out = std::move(*parsed);
    return OkStatus();
  }

  Status StringList(const std::string& key, std::vector<std::string>* out) const {
    const json* value = Find(key);
    if (value == nullptr) return OkStatus();
    if (!value->is_array()) return WrongType(key, "an array of strings");
    out->clear();
    for (const json& item : *value) {
      if (!item.is_string()) return WrongType(key, "an array of strings");
      out->push_back(item.get<std::string>());
    }
    return OkStatus();
  }

  // Any JSON value, copied as it is (null when absent).
  void Raw(const std::string& key, json* out) const {
    const json* value = Find(key);
    if (value != nullptr) *out = *value;
  }

  // An array of objects, copied as they are.
  Status ObjectList(const std::string& key, std::vector<json>* out) const {
    const json* value = Find(key);
    if (value == nullptr) return OkStatus();
    if (!value->is_array()) return WrongType(key, "an array of objects");
    out->clear();
    for (const json& item : *value) {
      if (!item.is_object()) return WrongType(key, "an array of objects");
      out->push_back(item);
    }
    return OkStatus();
  }

  // spec.env: strings into `literal`, objects (references) into `refs`.
  Status Env(const std::string& key, std::map<std::string, std::string>* literal,
             std::map<std::string, json>* refs) const {
    const json* value = Find(key);
    if (value == nullptr) return OkStatus();
    if (!value->is_object()) return WrongType(key, "an object of strings and references");
    literal->clear();
    refs->clear();
    for (const auto& [name, item] : value->items()) {
      if (item.is_string()) {
        literal->emplace(name, item.get<std::string>());
      } else if (item.is_object()) {
        refs->emplace(name, item);
      } else {
        return WrongType(key, "an object of strings and references");
      }
    }
    return OkStatus();
  }

  Status QuantityMap(const std::string& key, std::map<std::string, Quantity>* out) const {
    const json* value = Find(key);
    if (value == nullptr) return OkStatus();
    if (!value->is_object()) return WrongType(key, "an object of quantities");
    FieldReader inner(*value, Path(key));
    for (const auto& [name, item] : value->items()) {
      std::optional<Quantity> quantity;
      JOBSYNC_RETURN_IF_ERROR(inner.QuantityField(name, &quantity));
      out->emplace(name, std::move(*quantity));
    }
    return OkStatus();
  }

  Status Volumes(const std::string& key, std::vector<Volume>* out) const;

  Status StringMap(const std::string& key, std::map<std::string, std::string>* out) const {
    const json* value = Find(key);
    if (value == nullptr) return OkStatus();
    if (!value->is_object()) return WrongType(key, "an object of strings");
    out->clear();
    for (const auto& [name, item] : value->items()) {
      if (!item.is_string()) return WrongType(key, "an object of strings");
      out->emplace(name, item.get<std::string>());
    }
    return OkStatus();
  }

 private:
  const json& object_;
  std::string where_;
};

Status FieldReader::Volumes(const std::string& key, std::vector<Volume>* out) const {
  std::vector<json> items;
  JOBSYNC_RETURN_IF_ERROR(ObjectList(key, &items));
  out->clear();
  for (const json& item : items) {
    FieldReader v(item, Path(key));
    Volume volume;
    JOBSYNC_RETURN_IF_ERROR(v.String("name", true, &volume.name));
    JOBSYNC_RETURN_IF_ERROR(v.String("mountPath", true, &volume.mount_path));
    JOBSYNC_RETURN_IF_ERROR(v.Bool("readOnly", &volume.read_only));
    JOBSYNC_RETURN_IF_ERROR(v.String("subPath", false, &volume.sub_path));
    for (const auto& [field, body] : item.items()) {
      if (field != "name" && field != "mountPath" && field != "readOnly" && field != "subPath") {
        volume.source[field] = body;
      }
    }
    out->push_back(std::move(volume));
  }
  return OkStatus();
}

// The fields of RoleOverrides, as AddRoleOverrides writes them.
Status ReadRoleOverrides(const FieldReader& reader, RoleOverrides* own) {
  if (reader.Find("image") != nullptr) {
    own->image.emplace();
    JOBSYNC_RETURN_IF_ERROR(reader.String("image", true, &*own->image));
  }
  if (reader.Find("command") != nullptr) {
    own->command.emplace();
    JOBSYNC_RETURN_IF_ERROR(reader.StringList("command", &*own->command));
  }
  if (reader.Find("args") != nullptr) {
    own->args.emplace();
    JOBSYNC_RETURN_IF_ERROR(reader.StringList("args", &*own->args));
  }
  JOBSYNC_RETURN_IF_ERROR(reader.Env("env", &own->env, &own->env_refs));
  JOBSYNC_RETURN_IF_ERROR(reader.ObjectList("envFrom", &own->env_from));
  JOBSYNC_RETURN_IF_ERROR(reader.Volumes("volumes", &own->volumes));
  JOBSYNC_RETURN_IF_ERROR(reader.StringMap("nodeSelector", &own->node_selector));
  return reader.ObjectList("tolerations", &own->tolerations);
}

// spec.env and the fields AddJobModel writes. The pod settings are read aside and assigned, so
// that a job without any holds none (HeapValue).
Status ReadJobModel(const FieldReader& spec, TrainingJob* job) {
  PodSettings pod;
  JOBSYNC_RETURN_IF_ERROR(spec.Env("env", &job->env, &pod.env_refs));
  JOBSYNC_RETURN_IF_ERROR(spec.StringList("args", &job->args));
  JOBSYNC_RETURN_IF_ERROR(spec.ObjectList("envFrom", &pod.env_from));
  JOBSYNC_RETURN_IF_ERROR(spec.Volumes("volumes", &pod.volumes));
  JOBSYNC_RETURN_IF_ERROR(spec.StringMap("nodeSelector", &pod.node_selector));
  JOBSYNC_RETURN_IF_ERROR(spec.ObjectList("tolerations", &pod.tolerations));
  spec.Raw("affinity", &pod.affinity);
  JOBSYNC_RETURN_IF_ERROR(spec.String("priorityClassName", false, &pod.priority_class_name));
  JOBSYNC_RETURN_IF_ERROR(spec.String("schedulerName", false, &pod.scheduler_name));
  JOBSYNC_RETURN_IF_ERROR(spec.String("serviceAccountName", false, &pod.service_account_name));
  JOBSYNC_RETURN_IF_ERROR(spec.StringList("imagePullSecrets", &pod.image_pull_secrets));
  job->pod = std::move(pod);
  const json* failure_policy = nullptr;
  JOBSYNC_RETURN_IF_ERROR(spec.OptionalObject("failurePolicy", &failure_policy));
  if (failure_policy != nullptr) {
    FieldReader policy(*failure_policy, spec.Path("failurePolicy"));
    JOBSYNC_RETURN_IF_ERROR(policy.Int("maxRestarts", &job->max_restarts));
  }
  JOBSYNC_RETURN_IF_ERROR(spec.Int64("activeDeadlineSeconds", &job->active_deadline_seconds));
  JOBSYNC_RETURN_IF_ERROR(spec.Int64("ttlSecondsAfterFinished", &job->ttl_seconds_after_finished));
  JOBSYNC_RETURN_IF_ERROR(spec.String("runId", false, &job->run_id));
  const json* kubernetes = nullptr;
  JOBSYNC_RETURN_IF_ERROR(spec.OptionalObject("kubernetes", &kubernetes));
  if (kubernetes != nullptr) {
    FieldReader kube(*kubernetes, spec.Path("kubernetes"));
    kube.Raw("podTemplatePatch", &job->pod_template_patch);
    std::string workload;
    JOBSYNC_RETURN_IF_ERROR(kube.String("workload", false, &workload));
    if (workload == "jobset") {
      job->workload = KubernetesWorkload::kJobSet;
    } else if (workload == "elasticjob") {
      job->workload = KubernetesWorkload::kElasticJob;
    } else if (!workload.empty() && workload != "job") {
      return InvalidArgumentError("canonical spec: " + kube.Path("workload") + ": \"" + workload +
                                  "\" is not a workload (job, jobset or elasticjob)");
    }
    kube.Raw("elasticJob", &job->elastic_job_spec);
    if (job->workload == KubernetesWorkload::kElasticJob && !job->elastic_job_spec.is_object()) {
      return InvalidArgumentError(
          "canonical spec: " + kube.Path("elasticJob") +
          ": an elasticjob workload needs the ElasticJob's spec (an object)");
    }
  }
  JOBSYNC_RETURN_IF_ERROR(spec.String("queue", false, &job->queue));
  return OkStatus();
}

Status ReadRole(const json& object, const std::string& where, Role* role) {
  FieldReader reader(object, where);
  std::optional<int> replicas;
  JOBSYNC_RETURN_IF_ERROR(reader.Int("replicas", &replicas));
  if (!replicas) return reader.Missing("replicas");
  role->replicas = *replicas;
  JOBSYNC_RETURN_IF_ERROR(reader.Int("minReplicas", &role->min_replicas));
  JOBSYNC_RETURN_IF_ERROR(reader.Int("maxReplicas", &role->max_replicas));
  const json* resources = nullptr;
  JOBSYNC_RETURN_IF_ERROR(reader.OptionalObject("resources", &resources));
  if (resources != nullptr) {
    FieldReader r(*resources, reader.Path("resources"));
    JOBSYNC_RETURN_IF_ERROR(r.QuantityField("cpu", &role->resources.cpu));
    JOBSYNC_RETURN_IF_ERROR(r.QuantityField("memory", &role->resources.memory));
    JOBSYNC_RETURN_IF_ERROR(r.Int64("gpu", &role->resources.gpu));
    std::optional<Quantity> ephemeral_storage;  // read aside: boxed only when set
    JOBSYNC_RETURN_IF_ERROR(r.QuantityField("ephemeralStorage", &ephemeral_storage));
    if (ephemeral_storage) role->resources.ephemeral_storage = *std::move(ephemeral_storage);
    std::map<std::string, Quantity> extended;
    JOBSYNC_RETURN_IF_ERROR(r.QuantityMap("extended", &extended));
    role->resources.extended = std::move(extended);
  }
  RoleOverrides overrides;
  JOBSYNC_RETURN_IF_ERROR(ReadRoleOverrides(reader, &overrides));
  role->overrides = std::move(overrides);  // on the heap only when not empty
  return OkStatus();
}

Status ReadRay(const json& object, const std::string& where, RaySpec* ray) {
  FieldReader reader(object, where);
  JOBSYNC_RETURN_IF_ERROR(reader.String("entrypoint", true, &ray->entrypoint));
  const json* runtime_env = nullptr;
  JOBSYNC_RETURN_IF_ERROR(reader.OptionalObject("runtimeEnv", &runtime_env));
  if (runtime_env != nullptr) ray->runtime_env = *runtime_env;
  const json* resources = nullptr;
  JOBSYNC_RETURN_IF_ERROR(reader.OptionalObject("entrypointResources", &resources));
  if (resources != nullptr) {
    FieldReader r(*resources, reader.Path("entrypointResources"));
    JOBSYNC_RETURN_IF_ERROR(r.Double("cpu", &ray->entrypoint_resources.cpu));
    JOBSYNC_RETURN_IF_ERROR(r.Double("gpu", &ray->entrypoint_resources.gpu));
    JOBSYNC_RETURN_IF_ERROR(r.QuantityField("memory", &ray->entrypoint_resources.memory));
  }
  std::string cluster;
  JOBSYNC_RETURN_IF_ERROR(reader.String("cluster", false, &cluster));
  if (cluster == "kuberay") {
    ray->cluster = RayCluster::kKubeRay;
  } else if (!cluster.empty() && cluster != "shared") {
    return InvalidArgumentError("canonical spec: " + reader.Path("cluster") + ": \"" + cluster +
                                "\" is not a Ray cluster kind (shared or kuberay)");
  }
  JOBSYNC_RETURN_IF_ERROR(reader.String("image", false, &ray->image));
  const json* head = nullptr;
  JOBSYNC_RETURN_IF_ERROR(reader.OptionalObject("head", &head));
  if (head != nullptr) {
    FieldReader h(*head, reader.Path("head"));
    const json* head_resources = nullptr;
    JOBSYNC_RETURN_IF_ERROR(h.OptionalObject("resources", &head_resources));
    if (head_resources != nullptr) {
      FieldReader r(*head_resources, h.Path("resources"));
      JOBSYNC_RETURN_IF_ERROR(r.QuantityField("cpu", &ray->head_resources.cpu));
      JOBSYNC_RETURN_IF_ERROR(r.QuantityField("memory", &ray->head_resources.memory));
      JOBSYNC_RETURN_IF_ERROR(r.Int64("gpu", &ray->head_resources.gpu));
    }
  }
  return OkStatus();
}

}  // namespace

json CanonicalSpec(const TrainingJob& job) {
  json metadata = json::object();
  metadata["name"] = job.name;
  metadata["namespace"] = job.namespace_name;
  metadata["labels"] = job.labels;
  metadata["annotations"] = job.annotations;

  json spec = json::object();
  spec["backend"] = BackendName(job.backend);
  spec["suspend"] = job.suspend;
  std::vector<std::string> depends_on = job.depends_on;
  std::sort(depends_on.begin(), depends_on.end());
  depends_on.erase(std::unique(depends_on.begin(), depends_on.end()), depends_on.end());
  spec["dependsOn"] = depends_on;
  if (!job.image.empty()) spec["image"] = job.image;
  spec["command"] = job.command;
  spec["env"] = CanonicalEnv(job.env, job.pod->env_refs);
  AddJobModel(job, &spec);
  json roles = json::object();
  for (const auto& [name, role] : job.roles) {
    json r = json::object();
    r["replicas"] = role.replicas;
    if (role.min_replicas) r["minReplicas"] = *role.min_replicas;
    if (role.max_replicas) r["maxReplicas"] = *role.max_replicas;
    r["resources"] = CanonicalResources(role.resources);
    AddRoleOverrides(*role.overrides, &r);
    roles[name] = std::move(r);
  }
  spec["roles"] = std::move(roles);
  if (job.ray) spec["ray"] = CanonicalRay(*job.ray);

  json out = json::object();
  out["apiVersion"] = kApiVersion;
  out["kind"] = kKind;
  out["metadata"] = std::move(metadata);
  out["spec"] = std::move(spec);
  return out;
}

std::string CanonicalSpecText(const TrainingJob& job) {
  return CanonicalSpec(job).dump(-1, ' ', false, json::error_handler_t::replace);
}

StatusOr<TrainingJob> TrainingJobFromCanonical(const json& canonical) {
  if (!canonical.is_object()) return InvalidArgumentError("canonical spec: not a JSON object");
  FieldReader top(canonical, "");
  std::string api_version;
  std::string kind;
  JOBSYNC_RETURN_IF_ERROR(top.String("apiVersion", true, &api_version));
  JOBSYNC_RETURN_IF_ERROR(top.String("kind", true, &kind));
  if (api_version != kApiVersion || kind != kKind) {
    return InvalidArgumentError("canonical spec: " + api_version + " " + kind +
                                " is not this version's " + kApiVersion + " " + kKind);
  }

  TrainingJob job;
  Status error;
  const json* metadata = top.RequiredObject("metadata", &error);
  if (metadata == nullptr) return error;
  FieldReader meta(*metadata, "metadata");
  JOBSYNC_RETURN_IF_ERROR(meta.String("name", true, &job.name));
  JOBSYNC_RETURN_IF_ERROR(meta.String("namespace", false, &job.namespace_name));
  JOBSYNC_RETURN_IF_ERROR(meta.StringMap("labels", &job.labels));
  JOBSYNC_RETURN_IF_ERROR(meta.StringMap("annotations", &job.annotations));

  const json* spec_object = top.RequiredObject("spec", &error);
  if (spec_object == nullptr) return error;
  FieldReader spec(*spec_object, "spec");
  std::string backend;
  JOBSYNC_RETURN_IF_ERROR(spec.String("backend", true, &backend));
  if (backend == "ray") {
    job.backend = BackendKind::kRay;
  } else if (backend == "kubernetes") {
    job.backend = BackendKind::kKubernetes;
  } else {
    return InvalidArgumentError("canonical spec: spec.backend '" + backend +
                                "' is neither kubernetes nor ray");
  }
  JOBSYNC_RETURN_IF_ERROR(spec.Bool("suspend", &job.suspend));
  JOBSYNC_RETURN_IF_ERROR(spec.StringList("dependsOn", &job.depends_on));
  JOBSYNC_RETURN_IF_ERROR(spec.String("image", false, &job.image));
  JOBSYNC_RETURN_IF_ERROR(spec.StringList("command", &job.command));
  JOBSYNC_RETURN_IF_ERROR(ReadJobModel(spec, &job));
  const json* roles = spec.RequiredObject("roles", &error);
  if (roles == nullptr) return error;
  for (const auto& [name, role_json] : roles->items()) {
    const std::string where = spec.Path("roles") + "." + name;
    if (!role_json.is_object()) {
      return InvalidArgumentError("canonical spec: " + where + " must be an object");
    }
    Role role;
    JOBSYNC_RETURN_IF_ERROR(ReadRole(role_json, where, &role));
    job.roles.emplace(name, std::move(role));
  }
  const json* ray = nullptr;
  JOBSYNC_RETURN_IF_ERROR(spec.OptionalObject("ray", &ray));
  if (ray != nullptr) {
    RaySpec ray_spec;
    JOBSYNC_RETURN_IF_ERROR(ReadRay(*ray, spec.Path("ray"), &ray_spec));
    job.ray = std::move(ray_spec);
  }
  return job;
}

StatusOr<TrainingJob> TrainingJobFromCanonicalText(std::string_view text) {
  json parsed = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) return InvalidArgumentError("canonical spec: not valid JSON");
  return TrainingJobFromCanonical(parsed);
}

std::string SpecHash(const TrainingJob& job) { return CanonicalTextHash(CanonicalSpecText(job)); }

std::array<unsigned char, 32> Sha256(std::initializer_list<std::string_view> parts) {
  std::array<unsigned char, 32> digest{};
  unsigned int length = 0;
  EVP_MD_CTX* context = EVP_MD_CTX_new();
  bool ok = context != nullptr && EVP_DigestInit_ex(context, EVP_sha256(), nullptr) == 1;
  for (std::string_view part : parts) {
    ok = ok && EVP_DigestUpdate(context, part.data(), part.size()) == 1;
  }
  ok = ok && EVP_DigestFinal_ex(context, digest.data(), &length) == 1 && length == digest.size();
  EVP_MD_CTX_free(context);
  if (!ok) std::abort();
  return digest;
}

std::string CanonicalTextHash(std::string_view text) {
  const std::array<unsigned char, 32> digest = Sha256({text});
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(digest.size() * 2);
  for (unsigned char byte : digest) {
    hex.push_back(kHex[byte >> 4]);
    hex.push_back(kHex[byte & 0xf]);
  }
  return hex;
}

}  // namespace jobsync
