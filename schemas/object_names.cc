#include "schemas/object_names.h"

namespace jobsync {

std::string RoleJobName(const std::string& job_name, const std::string& role) {
  return job_name + "-" + role;
}

std::vector<GeneratedObject> GeneratedObjects(const TrainingJob& job) {
  std::vector<GeneratedObject> out;
  if (job.backend != BackendKind::kKubernetes) return out;
  out.push_back({"Service", job.name});
  for (const auto& [role, unused] : job.roles) out.push_back({"Job", RoleJobName(job.name, role)});
  return out;
}

}  // namespace jobsync
