#include "backends/kubernetes/elasticjob_mapping.h"

#include <map>
#include <utility>

#include "backends/kubernetes/object_fields.h"
#include "schemas/canonical.h"

namespace jobsync {
namespace {

using nlohmann::json;

// The message of the status condition of type `type` (DLRover keeps its JobStatus, with the
// conditions, under status.status); "" when there is none.
std::string ConditionMessage(const json& object, const std::string& type) {
  const json::json_pointer pointer("/status/status/conditions");
  if (!object.contains(pointer) || !object.at(pointer).is_array()) return "";
  std::string message;
  for (const json& condition : object.at(pointer)) {
    if (StringField(condition, "/type") == type) message = StringField(condition, "/message");
  }
  return message;
}

}  // namespace

StatusOr<json> ElasticJobObject(const TrainingJob& job, const ApplyContext& context) {
  if (job.workload != KubernetesWorkload::kElasticJob || !job.elastic_job_spec.is_object()) {
    return InvalidArgumentError("job " + job.key().ToString() +
                                " is not an ElasticJob run in operator mode");
  }
  json spec = job.elastic_job_spec;
  json& types = spec["replicaSpecs"];
  if (!types.is_object()) types = json::object();
  for (const auto& [role, settings] : job.roles) {
    json& type = types[role];
    if (!type.is_object()) type = json::object();
    type["replicas"] = settings.replicas;
  }
  spec["suspend"] = job.suspend;
  return json{{"apiVersion", "elastic.iml.github.io/v1alpha1"},
              {"kind", "ElasticJob"},
              {"metadata",
               {{"name", job.name},
                {"namespace", job.namespace_name},
                {"labels", JobLabels(job, context)},
                {"annotations", AppliedAnnotations(job, context)}}},
              {"spec", std::move(spec)}};
}

json ScalePlanObject(const TrainingJob& job, const ApplyContext& context) {
  json labels = JobLabels(job, context);
  labels[kElasticJobNameLabel] = job.name;
  labels[kScaleTypeLabel] = kManualScale;
  json replicas = json::object();
  for (const auto& [role, settings] : job.roles) {
    replicas[role] = {{"replicas", settings.replicas}};
  }
  json annotations = {{kSpecHashAnnotation, SpecHash(job)}};
  if (!context.revision.empty()) annotations[kRevisionAnnotation] = context.revision;
  return json{{"apiVersion", "elastic.iml.github.io/v1alpha1"},
              {"kind", "ScalePlan"},
              {"metadata",
               {{"generateName", job.name + "-scale-"},
                {"namespace", job.namespace_name},
                {"labels", std::move(labels)},
                {"annotations", std::move(annotations)}}},
              {"spec", {{"ownerJob", job.name}, {"replicaResourceSpecs", std::move(replicas)}}}};
}

std::string ScalePlanSelector(const std::string& job_name, const std::string& instance) {
  return std::string(kElasticJobNameLabel) + "=" + job_name + "," + kScaleTypeLabel + "=" +
         kManualScale + "," + kManagedByLabel + "=" + kManagedByValue + "," + kInstanceLabel + "=" +
         instance;
}

json CompactElasticJobObject(const json& elastic_job) {
  json out = json::object();
  if (!elastic_job.is_object()) return out;
  KeepCompactMetadata(elastic_job, out);
  auto spec = elastic_job.find("spec");
  if (spec != elastic_job.end() && spec->is_object()) {
    KeepMembers(*spec, out["spec"] = json::object(), {"suspend"});
  }
  auto status = elastic_job.find("status");
  if (status != elastic_job.end() && status->is_object()) {
    json& kept = out["status"] = json::object();
    KeepMembers(*status, kept, {"phase"});
    const json::json_pointer pointer("/status/conditions");
    if (status->contains(pointer) && status->at(pointer).is_array()) {
      const json& conditions = status->at(pointer);
      json& listed = kept["status"]["conditions"] = json::array();
      for (const json& condition : conditions) {
        json entry = json::object();
        KeepMembers(condition, entry, {"type", "status", "reason", "message"});
        listed.push_back(std::move(entry));
      }
    }
  }
  return out;
}

LivePhase ElasticJobPhase(const json& elastic_job) {
  const std::string phase = StringField(elastic_job, "/status/phase");
  if (phase == "Succeeded") return LivePhase::kSucceeded;
  if (phase == "Failed") return LivePhase::kFailed;
  const json::json_pointer suspend("/spec/suspend");
  const bool suspended = elastic_job.contains(suspend) && elastic_job.at(suspend).is_boolean() &&
                         elastic_job.at(suspend).get<bool>();
  if (phase == "Suspended" || suspended) return LivePhase::kSuspended;
  if (phase == "Running" || phase == "Restarting") return LivePhase::kRunning;
  return LivePhase::kPending;
}

std::vector<LiveJob> LiveJobsFromElasticJobs(const std::vector<json>& elastic_jobs,
                                             AppliedSpecCache* parsed) {
  return LiveJobsFromElasticJobs(RefsOf(elastic_jobs), parsed);
}

std::vector<LiveJob> LiveJobsFromElasticJobs(const ObjectRefs& elastic_jobs,
                                             AppliedSpecCache* parsed) {
  return LiveJobsFromWorkloadObjects(
      elastic_jobs, "elasticjob", parsed, [](const json& object, LiveJob& live) {
        live.phase = ElasticJobPhase(object);
        live.phase_message = ConditionMessage(object, StringField(object, "/status/phase"));
      });
}

Health HealthFromElasticJob(const json& elastic_job) {
  const std::string phase = StringField(elastic_job, "/status/phase");
  switch (ElasticJobPhase(elastic_job)) {
    case LivePhase::kSucceeded:
      return Health::kSucceeded;
    case LivePhase::kFailed:
      return Health::kFailed;
    case LivePhase::kSuspended:
      return Health::kSuspended;
    case LivePhase::kRunning:
      return phase == "Restarting" ? Health::kDegraded : Health::kHealthy;
    default:
      return Health::kProgressing;
  }
}

}  // namespace jobsync
