#include "schemas/model.h"

#include <algorithm>

namespace jobsync {

const char* BackendName(BackendKind kind) {
  return kind == BackendKind::kRay ? "ray" : "kubernetes";
}

const char* KubernetesWorkloadName(KubernetesWorkload workload) {
  switch (workload) {
    case KubernetesWorkload::kJobSet:
      return "jobset";
    case KubernetesWorkload::kElasticJob:
      return "elasticjob";
    case KubernetesWorkload::kJob:
      break;
  }
  return "job";
}

std::string SourceLocation::ToString() const {
  if (line <= 0) return path;
  return path + ":" + std::to_string(line) + ":" + std::to_string(column);
}

std::string Target::ToString() const {
  return std::string(BackendName(backend)) + (cluster.empty() ? "" : "@" + cluster);
}

std::string JobKey::ToString() const {
  return std::string(BackendName(backend)) + "/" + namespace_name + "/" + name +
         (cluster.empty() ? "" : "@" + cluster);
}

std::optional<ReplicaBounds> ElasticBounds(const Role& role) {
  if (!role.min_replicas && !role.max_replicas) return std::nullopt;
  return ReplicaBounds{role.min_replicas.value_or(role.replicas),
                       role.max_replicas.value_or(role.replicas)};
}

RoleSettings EffectiveRoleSettings(const TrainingJob& job, const std::string& role) {
  const RoleOverrides& own = *job.roles.at(role).overrides;
  RoleSettings out;
  out.image = own.image.value_or(job.image);
  out.command = own.command.value_or(job.command);
  out.args = own.args.value_or(job.args);
  out.env = job.env;
  out.env_refs = job.pod->env_refs;
  for (const auto& [name, value] : own.env) {
    out.env_refs.erase(name);
    out.env[name] = value;
  }
  for (const auto& [name, value] : own.env_refs) {
    out.env.erase(name);
    out.env_refs[name] = value;
  }
  out.env_from = job.pod->env_from;
  out.env_from.insert(out.env_from.end(), own.env_from.begin(), own.env_from.end());
  out.volumes = job.pod->volumes;
  for (const Volume& volume : own.volumes) {
    auto same = std::find_if(out.volumes.begin(), out.volumes.end(),
                             [&](const Volume& v) { return v.name == volume.name; });
    if (same != out.volumes.end()) {
      *same = volume;
    } else {
      out.volumes.push_back(volume);
    }
  }
  out.node_selector = job.pod->node_selector;
  for (const auto& [key, value] : own.node_selector) out.node_selector[key] = value;
  out.tolerations = job.pod->tolerations;
  out.tolerations.insert(out.tolerations.end(), own.tolerations.begin(), own.tolerations.end());
  return out;
}

}  // namespace jobsync
