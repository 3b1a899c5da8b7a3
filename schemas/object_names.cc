#include "schemas/object_names.h"

namespace jobsync {

std::string RoleJobName(const std::string& job_name, const std::string& role) {
  return job_name + "-" + role;
}

std::string RoleJobName(const TrainingJob& job, const std::string& role) {
  std::string name = RoleJobName(job.name, role);
  return job.workload == KubernetesWorkload::kJobSet ? name + "-0" : name;
}

std::vector<GeneratedObject> GeneratedObjects(const TrainingJob& job) {
  std::vector<GeneratedObject> out;
  if (job.backend != BackendKind::kKubernetes) return out;
  if (job.workload == KubernetesWorkload::kElasticJob) {
    // DLRover's operator and job master make the pods and Services.
    out.push_back({"ElasticJob", job.name});
    return out;
  }
  if (job.workload == KubernetesWorkload::kJobSet) out.push_back({"JobSet", job.name});
  out.push_back({"Service", job.name});
  for (const auto& [role, unused] : job.roles) out.push_back({"Job", RoleJobName(job, role)});
  return out;
}

}  // namespace jobsync
