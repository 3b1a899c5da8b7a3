// The names of the Kubernetes objects jobsync makes for a job, in one place, so that the loader
// can find two jobs that would make the same object before anything is sent, and the backend
// names objects by the same rule.
#ifndef JOBSYNC_SCHEMAS_OBJECT_NAMES_H_
#define JOBSYNC_SCHEMAS_OBJECT_NAMES_H_

#include <string>
#include <vector>

#include "schemas/model.h"

namespace jobsync {

// "<job>-<role>": the name of the Job that runs `role`.
std::string RoleJobName(const std::string& job_name, const std::string& role);

// The name of the Job that runs `role` of `job`: RoleJobName for workload job; for a JobSet,
// "<job>-<role>-0", the JobSet controller's name for the only Job of the replicated job <role>.
std::string RoleJobName(const TrainingJob& job, const std::string& role);

// One namespaced object a job makes: its kind ("Job", "Service") and name.
struct GeneratedObject {
  std::string kind;
  std::string name;

  friend auto operator<=>(const GeneratedObject&, const GeneratedObject&) = default;
};

// The namespaced objects `job` makes in job.namespace_name: on Kubernetes the headless Service
// <name> and one Job per role (RoleJobName), and for a JobSet workload the JobSet <name> too (the
// JobSet controller makes the Service and Jobs); none on Ray (its submissions are named by the
// job's key, which is unique). Pure.
std::vector<GeneratedObject> GeneratedObjects(const TrainingJob& job);

}  // namespace jobsync

#endif  // JOBSYNC_SCHEMAS_OBJECT_NAMES_H_
