// KubernetesBackend's ElasticJobs in operator mode (kubernetes_backend.h says what each step does;
// elasticjob_mapping.h what the ElasticJob and its ScalePlans hold).
#include <algorithm>
#include <charconv>
#include <string>
#include <utility>
#include <vector>

#include "backends/kubernetes/elasticjob_mapping.h"
#include "backends/kubernetes/kubernetes_backend.h"
#include "backends/kubernetes/mapping.h"
#include "backends/kubernetes/object_fields.h"
#include "schemas/canonical.h"

namespace jobsync {
namespace {

using nlohmann::json;

std::string Named(const JobKey& key) { return key.namespace_name + "/" + key.name; }

// The resourceVersion as a number (etcd revisions are), else -1.
int64_t VersionOf(const json& object) {
  const std::string text = StringField(object, "/metadata/resourceVersion");
  int64_t value = -1;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  return error == std::errc() && end == text.data() + text.size() ? value : -1;
}

// The newest of `plans` (by creationTimestamp, then resourceVersion); null when empty.
const json* Newest(const std::vector<json>& plans) {
  const json* newest = nullptr;
  for (const json& plan : plans) {
    if (plan.contains(json::json_pointer("/metadata/deletionTimestamp"))) continue;
    auto order = [](const json& p) {
      return std::make_pair(StringField(p, "/metadata/creationTimestamp"), VersionOf(p));
    };
    if (newest == nullptr || order(*newest) < order(plan)) newest = &plan;
  }
  return newest;
}

// True when some role's replicas differ between `live` (its applied spec) and `want`.
bool ReplicasChange(const PlanStep& step, const TrainingJob& want) {
  if (!step.live || !step.live->applied) return true;
  const TrainingJob& have = *step.live->applied;
  if (have.roles.size() != want.roles.size()) return true;
  for (const auto& [role, spec] : want.roles) {
    auto it = have.roles.find(role);
    if (it == have.roles.end() || it->second.replicas != spec.replicas) return true;
  }
  return false;
}

}  // namespace

Status KubernetesBackend::CreateElasticJob(const TrainingJob& job, const ApplyContext& context) {
  StatusOr<json> object = ElasticJobObject(job, context);
  if (!object.ok()) return object.status();
  return CreateObject(ResourceKind::kElasticJob, elasticjobs_, *object, job, context,
                      "is DLRover's operator installed (its CRDs "
                      "elasticjobs.elastic.iml.github.io and scaleplans.elastic.iml.github.io)? "
                      "An ElasticJob in operator mode needs it; --elasticjob=native (or the "
                      "annotation jobsync.dev/elasticjob-mode: native) runs it without");
}

Status KubernetesBackend::UpdateElasticJobInPlace(const PlanStep& step,
                                                  const ApplyContext& context) {
  const TrainingJob& job = *step.desired;
  const bool scale = step.action == Action::kScale;
  const std::string what = "ElasticJob " + Named(job.key());
  StatusOr<json> rendered = ElasticJobObject(job, context);
  if (!rendered.ok()) return rendered.status();
  // The ScalePlan first: once the annotations say the new replicas, the planner has nothing
  // left to do, so a crash between the two must leave the plan made.
  if (scale && ReplicasChange(step, job)) JOBSYNC_RETURN_IF_ERROR(EnsureScalePlan(job, context));
  const json& annotations = (*rendered)["metadata"]["annotations"];
  const std::vector<std::string> dropped = DroppedAnnotations(step);
  StatusOr<json> updated =
      client_->Update(ResourceKind::kElasticJob, job.namespace_name, job.name, [&](json& object) {
        if (!OwnedByInstance(object, context.instance)) {
          return FailedPreconditionError(what + " is not this instance's; not changing it");
        }
        json& metadata = object["metadata"];
        json& live_annotations = metadata["annotations"];
        if (!object["spec"].is_object() || !live_annotations.is_object()) {
          if (live_annotations.is_null()) live_annotations = json::object();
          if (!object["spec"].is_object() || !live_annotations.is_object()) {
            return InternalError(what + " as the server returned it has no spec or annotations");
          }
        }
        for (const std::string& key : dropped) live_annotations.erase(key);
        for (const auto& [key, value] : annotations.items()) live_annotations[key] = value;
        if (scale) object["spec"]["suspend"] = job.suspend;  // never the replicas
        return OkStatus();
      });
  if (!updated.ok()) {
    if (updated.status().code() == StatusCode::kNotFound) {
      return FailedPreconditionError(what +
                                     " is gone; scaling or patching does not create it (the next "
                                     "plan creates it)");
    }
    return updated.status();
  }
  Remember(elasticjobs_, *updated);
  return OkStatus();
}

Status KubernetesBackend::EnsureScalePlan(const TrainingJob& job, const ApplyContext& context) {
  StatusOr<ObjectList> plans = client_->List(ResourceKind::kScalePlan, job.namespace_name,
                                             ScalePlanSelector(job.name, context.instance));
  if (!plans.ok()) return plans.status();
  const json* newest = Newest(plans->items);
  std::string keep;
  if (newest != nullptr && AnnotationValue(*newest, kSpecHashAnnotation) == SpecHash(job)) {
    keep = StringField(*newest, "/metadata/name");  // made by an earlier, interrupted apply
  } else {
    StatusOr<json> created = client_->Create(ResourceKind::kScalePlan, job.namespace_name,
                                             ScalePlanObject(job, context));
    if (!created.ok()) {
      if (created.status().code() == StatusCode::kNotFound) {
        return NotFoundError(created.status().message() +
                             "; DLRover's ScalePlan CRD (scaleplans.elastic.iml.github.io) is "
                             "needed to scale an ElasticJob in operator mode");
      }
      return created.status();
    }
    keep = StringField(*created, "/metadata/name");
  }
  return DeleteScalePlans(job.key(), context, keep);
}

Status KubernetesBackend::DeleteScalePlans(const JobKey& key, const ApplyContext& context,
                                           const std::string& keep) {
  StatusOr<ObjectList> plans = client_->List(ResourceKind::kScalePlan, key.namespace_name,
                                             ScalePlanSelector(key.name, context.instance));
  if (!plans.ok()) {
    // No ScalePlan API: there is nothing to delete.
    return plans.status().code() == StatusCode::kNotFound ? OkStatus() : plans.status();
  }
  for (const json& plan : plans->items) {
    const std::string name = StringField(plan, "/metadata/name");
    if (name.empty() || name == keep) continue;
    Status deleted = client_->Delete(ResourceKind::kScalePlan, key.namespace_name, name,
                                     Propagation::kBackground);
    if (!deleted.ok() && deleted.code() != StatusCode::kNotFound) return deleted;
  }
  return OkStatus();
}

Status KubernetesBackend::DeleteElasticJob(const JobKey& key, const ApplyContext& context,
                                           Propagation propagation, bool wait) {
  JOBSYNC_RETURN_IF_ERROR(
      DeleteObject(ResourceKind::kElasticJob, elasticjobs_, key, context, propagation, false));
  JOBSYNC_RETURN_IF_ERROR(DeleteScalePlans(key, context, ""));
  if (!wait) return OkStatus();
  return WaitGone(ResourceKind::kElasticJob, key.namespace_name, key.name, context);
}

StatusOr<Health> KubernetesBackend::ElasticJobHealth(const JobKey& key) {
  StatusOr<json> elastic_job =
      client_->Get(ResourceKind::kElasticJob, key.namespace_name, key.name);
  if (!elastic_job.ok()) {
    if (elastic_job.status().code() == StatusCode::kNotFound) return Health::kMissing;
    return Status(elastic_job.status().code(),
                  "job " + key.ToString() + ": " + elastic_job.status().message());
  }
  if (elastic_job->contains(json::json_pointer("/metadata/deletionTimestamp"))) {
    return Health::kMissing;
  }
  return HealthFromElasticJob(*elastic_job);
}

}  // namespace jobsync
