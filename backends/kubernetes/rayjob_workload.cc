// KubernetesBackend's KubeRay RayJobs (kubernetes_backend.h says what each step does;
// rayjob_mapping.h what the RayJob holds).
#include <string>
#include <vector>

#include "backends/kubernetes/kubernetes_backend.h"
#include "backends/kubernetes/mapping.h"
#include "backends/kubernetes/object_fields.h"
#include "backends/kubernetes/rayjob_mapping.h"

namespace jobsync {

using nlohmann::json;

Status KubernetesBackend::UpdateRayJobInPlace(const PlanStep& step, const ApplyContext& context) {
  const TrainingJob& job = *step.desired;
  const bool scale = step.action == Action::kScale;
  const std::string what = "RayJob " + job.namespace_name + "/" + job.name;
  StatusOr<json> rendered = RayJobObject(job, context);
  if (!rendered.ok()) return rendered.status();
  const json& annotations = (*rendered)["metadata"]["annotations"];
  const std::vector<std::string> dropped = DroppedAnnotations(step);
  StatusOr<json> updated =
      client_->Update(ResourceKind::kRayJob, job.namespace_name, job.name, [&](json& object) {
        if (!OwnedByInstance(object, context.instance)) {
          return FailedPreconditionError(what + " is not this instance's; not changing it");
        }
        json& live_annotations = object["metadata"]["annotations"];
        if (live_annotations.is_null()) live_annotations = json::object();
        if (!object["spec"].is_object() || !live_annotations.is_object()) {
          return InternalError(what + " as the server returned it has no spec or annotations");
        }
        for (const std::string& key : dropped) live_annotations.erase(key);
        for (const auto& [key, value] : annotations.items()) live_annotations[key] = value;
        // KubeRay deletes the job's Ray cluster on suspend and makes it again on resume.
        if (scale) object["spec"]["suspend"] = job.suspend;
        return OkStatus();
      });
  if (!updated.ok()) {
    if (updated.status().code() == StatusCode::kNotFound) {
      return FailedPreconditionError(what +
                                     " is gone; suspending or patching does not create it "
                                     "(the next plan creates it)");
    }
    return updated.status();
  }
  Remember(rayjobs_, *updated);
  return OkStatus();
}

StatusOr<Health> KubernetesBackend::RayJobHealth(const JobKey& key) {
  StatusOr<json> rayjob = client_->Get(ResourceKind::kRayJob, key.namespace_name, key.name);
  if (!rayjob.ok()) {
    if (rayjob.status().code() == StatusCode::kNotFound) return Health::kMissing;
    return Status(rayjob.status().code(),
                  "job " + key.ToString() + ": " + rayjob.status().message());
  }
  if (rayjob->contains(json::json_pointer("/metadata/deletionTimestamp"))) return Health::kMissing;
  return HealthFromRayJob(*rayjob);
}

}  // namespace jobsync
