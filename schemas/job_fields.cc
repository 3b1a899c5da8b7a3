#include "schemas/job_fields.h"

#include <utility>

namespace jobsync {
namespace {

using json = nlohmann::json;

std::vector<std::string> Strings(const json& list) { return list.get<std::vector<std::string>>(); }

std::vector<json> Objects(const json& list) { return list.get<std::vector<json>>(); }

const json* ObjectAt(const json& parent, const char* key) {
  if (!parent.is_object()) return nullptr;
  auto it = parent.find(key);
  return it != parent.end() && it->is_object() ? &*it : nullptr;
}

bool IsQuantityValue(const json& value) { return value.is_string() || value.is_number(); }

// Adds the emptyDir.sizeLimit paths of the volumes list at `at` in `parent`.
void AddSizeLimits(const json& parent, const std::vector<std::string>& at,
                   std::vector<std::vector<std::string>>* out) {
  auto it = parent.find("volumes");
  if (it == parent.end() || !it->is_array()) return;
  for (size_t i = 0; i < it->size(); ++i) {
    const json* empty_dir = ObjectAt((*it)[i], "emptyDir");
    if (empty_dir == nullptr) continue;
    auto limit = empty_dir->find("sizeLimit");
    if (limit == empty_dir->end() || !IsQuantityValue(*limit)) continue;
    std::vector<std::string> path = at;
    for (const char* step : {"volumes", "", "emptyDir", "sizeLimit"}) path.emplace_back(step);
    path[at.size() + 1] = std::to_string(i);
    out->push_back(std::move(path));
  }
}

}  // namespace

bool IsVolumeMountField(const std::string& field) {
  return field == "name" || field == "mountPath" || field == "readOnly" || field == "subPath";
}

void ReadEnv(const json& env, std::map<std::string, std::string>* literals,
             std::map<std::string, json>* refs) {
  for (const auto& [name, value] : env.items()) {
    if (value.is_string()) {
      (*literals)[name] = value.get<std::string>();
    } else {
      (*refs)[name] = value;
    }
  }
}

std::vector<Volume> ReadVolumes(const json& volumes) {
  std::vector<Volume> out;
  for (const json& item : volumes) {
    Volume volume;
    volume.name = item["name"].get<std::string>();
    volume.mount_path = item["mountPath"].get<std::string>();
    volume.read_only = item.value("readOnly", false);
    volume.sub_path = item.value("subPath", "");
    for (const auto& [field, body] : item.items()) {
      if (!IsVolumeMountField(field)) volume.source[field] = body;
    }
    out.push_back(std::move(volume));
  }
  return out;
}

void ReadJobModelFields(const json& spec, TrainingJob* job) {
  // Read aside and assigned, so that a job without any holds none (HeapValue).
  PodSettings pod;
  if (spec.contains("args")) job->args = Strings(spec["args"]);
  if (spec.contains("env")) ReadEnv(spec["env"], &job->env, &pod.env_refs);
  if (spec.contains("envFrom")) pod.env_from = Objects(spec["envFrom"]);
  if (spec.contains("volumes")) pod.volumes = ReadVolumes(spec["volumes"]);
  if (spec.contains("nodeSelector")) {
    pod.node_selector = spec["nodeSelector"].get<std::map<std::string, std::string>>();
  }
  if (spec.contains("tolerations")) pod.tolerations = Objects(spec["tolerations"]);
  if (spec.contains("affinity")) pod.affinity = spec["affinity"];
  pod.priority_class_name = spec.value("priorityClassName", "");
  pod.scheduler_name = spec.value("schedulerName", "");
  pod.service_account_name = spec.value("serviceAccountName", "");
  if (spec.contains("imagePullSecrets")) pod.image_pull_secrets = Strings(spec["imagePullSecrets"]);
  job->pod = std::move(pod);
  if (const json* policy = ObjectAt(spec, "failurePolicy");
      policy && policy->contains("maxRestarts")) {
    job->max_restarts = (*policy)["maxRestarts"].get<int>();
  }
  if (spec.contains("activeDeadlineSeconds")) {
    job->active_deadline_seconds = spec["activeDeadlineSeconds"].get<int64_t>();
  }
  if (spec.contains("ttlSecondsAfterFinished")) {
    job->ttl_seconds_after_finished = spec["ttlSecondsAfterFinished"].get<int64_t>();
  }
  job->run_id = spec.value("runId", "");
  if (const json* kubernetes = ObjectAt(spec, "kubernetes")) {
    if (kubernetes->contains("podTemplatePatch")) {
      job->pod_template_patch = (*kubernetes)["podTemplatePatch"];
    }
    if (kubernetes->value("workload", "job") == "jobset") {
      job->workload = KubernetesWorkload::kJobSet;
    }
  }
  job->queue = spec.value("queue", "");
  job->cluster = spec.value("cluster", "");
}

void ReadRoleOverrides(const json& role, RoleOverrides* overrides) {
  if (role.contains("image")) overrides->image = role["image"].get<std::string>();
  if (role.contains("command")) overrides->command = Strings(role["command"]);
  if (role.contains("args")) overrides->args = Strings(role["args"]);
  if (role.contains("env")) ReadEnv(role["env"], &overrides->env, &overrides->env_refs);
  if (role.contains("envFrom")) overrides->env_from = Objects(role["envFrom"]);
  if (role.contains("volumes")) overrides->volumes = ReadVolumes(role["volumes"]);
  if (role.contains("nodeSelector")) {
    overrides->node_selector = role["nodeSelector"].get<std::map<std::string, std::string>>();
  }
  if (role.contains("tolerations")) overrides->tolerations = Objects(role["tolerations"]);
}

std::vector<std::vector<std::string>> JobModelQuantityPaths(const json& spec) {
  std::vector<std::vector<std::string>> out;
  AddSizeLimits(spec, {"spec"}, &out);
  const json* roles = ObjectAt(spec, "roles");
  if (roles == nullptr) return out;
  for (const auto& [role_name, role] : roles->items()) {
    if (!role.is_object()) continue;
    if (const json* resources = ObjectAt(role, "resources")) {
      auto storage = resources->find("ephemeralStorage");
      if (storage != resources->end() && IsQuantityValue(*storage)) {
        out.push_back({"spec", "roles", role_name, "resources", "ephemeralStorage"});
      }
      if (const json* extended = ObjectAt(*resources, "extended")) {
        for (const auto& [name, value] : extended->items()) {
          if (IsQuantityValue(value)) {
            out.push_back({"spec", "roles", role_name, "resources", "extended", name});
          }
        }
      }
    }
    AddSizeLimits(role, {"spec", "roles", role_name}, &out);
  }
  return out;
}

}  // namespace jobsync
