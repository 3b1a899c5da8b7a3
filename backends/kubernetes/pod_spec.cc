#include "backends/kubernetes/pod_spec.h"

#include <cctype>
#include <map>
#include <set>
#include <utility>
#include <vector>

#include "backends/backend.h"
#include "backends/kubernetes/strategic_merge.h"
#include "schemas/object_names.h"

namespace jobsync {
namespace {

using nlohmann::json;

constexpr const char* kCompletionIndexAnnotation = "batch.kubernetes.io/job-completion-index";
constexpr const char* kJobsyncEnvPrefix = "JOBSYNC_";
constexpr const char* kJobsyncKeyPrefix = "jobsync.dev/";

std::string EnvSuffix(const std::string& role) {
  std::string out;
  for (char c : role) {
    out.push_back(c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
  }
  return out;
}

std::string RendezvousRole(const TrainingJob& job) {
  if (job.roles.contains("chief")) return "chief";
  if (job.roles.contains("master")) return "master";
  return job.roles.begin()->first;
}

json EnvVar(const std::string& name, const std::string& value) {
  return {{"name", name}, {"value", value}};
}

// jobsync's variables for the training container of `role`, in the header's order.
std::vector<json> JobsyncEnvironment(const TrainingJob& job, const std::string& role) {
  const std::string service = job.name + "." + job.namespace_name + ".svc";
  std::vector<json> ours;
  ours.push_back(EnvVar("JOBSYNC_JOB", job.name));
  ours.push_back(EnvVar("JOBSYNC_NAMESPACE", job.namespace_name));
  ours.push_back(EnvVar("JOBSYNC_ROLE", role));
  ours.push_back({{"name", "JOBSYNC_INDEX"},
                  {"valueFrom",
                   {{"fieldRef",
                     {{"fieldPath", std::string("metadata.annotations['") +
                                        kCompletionIndexAnnotation + "']"}}}}}});
  int64_t world = 0;
  for (const auto& [name, spec] : job.roles) {
    ours.push_back(EnvVar("JOBSYNC_REPLICAS_" + EnvSuffix(name), std::to_string(spec.replicas)));
    world += spec.replicas;
  }
  for (const auto& [name, spec] : job.roles) {
    if (std::optional<ReplicaBounds> bounds = ElasticBounds(spec)) {
      ours.push_back(
          EnvVar("JOBSYNC_MIN_REPLICAS_" + EnvSuffix(name), std::to_string(bounds->min)));
      ours.push_back(
          EnvVar("JOBSYNC_MAX_REPLICAS_" + EnvSuffix(name), std::to_string(bounds->max)));
    }
  }
  ours.push_back(EnvVar("JOBSYNC_WORLD_SIZE", std::to_string(world)));
  ours.push_back(EnvVar("JOBSYNC_SERVICE", service));
  ours.push_back(
      EnvVar("JOBSYNC_RENDEZVOUS", RoleJobName(job, RendezvousRole(job)) + "-0." + service));
  if (std::optional<ReplicaBounds> bounds = ElasticBounds(job.roles.at(role))) {
    ours.push_back(
        EnvVar("JOBSYNC_NNODES", std::to_string(bounds->min) + ":" + std::to_string(bounds->max)));
  }
  return ours;
}

json Environment(const TrainingJob& job, const std::string& role, const RoleSettings& settings) {
  std::vector<json> ours = JobsyncEnvironment(job, role);
  std::set<std::string> names;
  for (const json& var : ours) names.insert(var["name"].get<std::string>());
  std::map<std::string, json> manifest;
  for (const auto& [name, value] : settings.env) manifest[name] = EnvVar(name, value);
  for (const auto& [name, source] : settings.env_refs) {
    manifest[name] = {{"name", name}, {"valueFrom", source}};
  }
  json env = json::array();
  for (json& var : ours) env.push_back(std::move(var));
  for (auto& [name, var] : manifest) {
    if (!names.contains(name)) env.push_back(std::move(var));
  }
  return env;
}

json Container(const TrainingJob& job, const std::string& role, const RoleSettings& settings) {
  json container = {{"name", role},
                    {"image", settings.image},
                    {"env", Environment(job, role, settings)},
                    {"resources", ContainerResources(job.roles.at(role).resources)}};
  if (!settings.command.empty()) container["command"] = settings.command;
  if (!settings.args.empty()) container["args"] = settings.args;
  if (!settings.env_from.empty()) container["envFrom"] = settings.env_from;
  if (!settings.volumes.empty()) {
    json mounts = json::array();
    for (const Volume& volume : settings.volumes) {
      json mount = {{"name", volume.name}, {"mountPath", volume.mount_path}};
      if (volume.read_only) mount["readOnly"] = true;
      if (!volume.sub_path.empty()) mount["subPath"] = volume.sub_path;
      mounts.push_back(std::move(mount));
    }
    container["volumeMounts"] = std::move(mounts);
  }
  return container;
}

// The first container of `pod_spec` named `name`, or nullptr.
const json* FindContainer(const json& pod_spec, const std::string& name) {
  auto containers = pod_spec.find("containers");
  if (containers == pod_spec.end() || !containers->is_array()) return nullptr;
  for (const json& container : *containers) {
    if (container.is_object() && container.value("name", json()) == name) return &container;
  }
  return nullptr;
}

// The JOBSYNC_* entries of `container`'s env, by name.
std::map<std::string, json> JobsyncEnvOf(const json& container) {
  std::map<std::string, json> out;
  auto env = container.find("env");
  if (env == container.end() || !env->is_array()) return out;
  for (const json& var : *env) {
    if (!var.is_object() || !var.contains("name") || !var["name"].is_string()) continue;
    const std::string name = var["name"].get<std::string>();
    if (name.rfind(kJobsyncEnvPrefix, 0) == 0) out[name] = var;
  }
  return out;
}

// The members of metadata.<field> that jobsync owns: the managed-by label and jobsync.dev/ keys.
std::map<std::string, json> OwnedKeys(const json& pod_template, const char* field) {
  std::map<std::string, json> out;
  const json::json_pointer pointer = json::json_pointer("/metadata") / field;
  if (!pod_template.contains(pointer) || !pod_template.at(pointer).is_object()) return out;
  for (const auto& [key, value] : pod_template.at(pointer).items()) {
    if (key == kManagedByLabel || key.rfind(kJobsyncKeyPrefix, 0) == 0) out[key] = value;
  }
  return out;
}

json MemberOr(const json& object, const json::json_pointer& pointer) {
  return object.contains(pointer) ? object.at(pointer) : json();
}

// The first thing jobsync owns that `patched` changed from `rendered`, as a path; empty if none.
std::string ChangedOwnedField(const json& rendered, const json& patched, const std::string& role) {
  for (const char* field : {"labels", "annotations"}) {
    if (OwnedKeys(rendered, field) != OwnedKeys(patched, field)) {
      return std::string("metadata.") + field + " (" + kManagedByLabel + " and " +
             kJobsyncKeyPrefix + "*)";
    }
  }
  for (const char* field : {"subdomain", "restartPolicy"}) {
    const json::json_pointer pointer = json::json_pointer("/spec") / field;
    if (MemberOr(rendered, pointer) != MemberOr(patched, pointer)) {
      return std::string("spec.") + field;
    }
  }
  const json patched_spec = patched.value("spec", json::object());  // outlives `container`
  const json* container = FindContainer(patched_spec, role);
  if (container == nullptr) {
    return "spec.containers (the training container \"" + role + "\" is gone or renamed)";
  }
  const json* before = FindContainer(rendered["spec"], role);
  if (JobsyncEnvOf(*before) != JobsyncEnvOf(*container)) {
    return "spec.containers[name=" + role + "].env (the " + kJobsyncEnvPrefix + "* variables)";
  }
  return "";
}

}  // namespace

json ContainerResources(const Resources& resources) {
  json requests = json::object();
  json limits = json::object();
  if (resources.cpu) requests["cpu"] = limits["cpu"] = resources.cpu->text();
  if (resources.memory) requests["memory"] = limits["memory"] = resources.memory->text();
  if (resources.ephemeral_storage) {
    requests["ephemeral-storage"] = limits["ephemeral-storage"] =
        resources.ephemeral_storage->text();
  }
  if (resources.gpu) limits["nvidia.com/gpu"] = std::to_string(*resources.gpu);
  for (const auto& [name, quantity] : *resources.extended) {
    requests[name] = limits[name] = quantity.text();
  }
  json out = json::object();
  if (!requests.empty()) out["requests"] = requests;
  if (!limits.empty()) out["limits"] = limits;
  return out;
}

json RolePodTemplate(const TrainingJob& job, const std::string& role, const json& labels) {
  const RoleSettings settings = EffectiveRoleSettings(job, role);
  json spec = {{"restartPolicy", "Never"},
               {"subdomain", job.name},
               {"containers", json::array({Container(job, role, settings)})}};
  if (!settings.volumes.empty()) {
    json volumes = json::array();
    for (const Volume& volume : settings.volumes) {
      json entry = volume.source.is_object() ? volume.source : json::object();
      entry["name"] = volume.name;
      volumes.push_back(std::move(entry));
    }
    spec["volumes"] = std::move(volumes);
  }
  if (!settings.node_selector.empty()) spec["nodeSelector"] = settings.node_selector;
  if (!settings.tolerations.empty()) spec["tolerations"] = settings.tolerations;
  const PodSettings& pod = *job.pod;
  if (!pod.affinity.is_null()) spec["affinity"] = pod.affinity;
  if (!pod.priority_class_name.empty()) spec["priorityClassName"] = pod.priority_class_name;
  if (!pod.scheduler_name.empty()) spec["schedulerName"] = pod.scheduler_name;
  if (!pod.service_account_name.empty()) spec["serviceAccountName"] = pod.service_account_name;
  if (!pod.image_pull_secrets.empty()) {
    json secrets = json::array();
    for (const std::string& name : pod.image_pull_secrets) secrets.push_back({{"name", name}});
    spec["imagePullSecrets"] = std::move(secrets);
  }
  return {{"metadata", {{"labels", labels}}}, {"spec", std::move(spec)}};
}

StatusOr<json> PatchedPodTemplate(const TrainingJob& job, const std::string& role, json rendered) {
  if (job.pod_template_patch.is_null()) return rendered;
  const std::string where = "job " + job.key().ToString() + " (" + job.source.ToString() +
                            "), role " + role + ": spec.kubernetes.";
  StatusOr<json> patched = StrategicMergePodTemplate(rendered, job.pod_template_patch);
  if (!patched.ok()) {
    return InvalidArgumentError(where + patched.status().message());
  }
  const std::string changed = ChangedOwnedField(rendered, *patched, role);
  if (!changed.empty()) {
    return InvalidArgumentError(where + "podTemplatePatch changes " + changed +
                                ", which jobsync sets; remove that part of the patch (use the "
                                "manifest's own fields: labels, annotations, env)");
  }
  return patched;
}

}  // namespace jobsync
