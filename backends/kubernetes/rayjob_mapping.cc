#include "backends/kubernetes/rayjob_mapping.h"

#include <map>
#include <set>
#include <utility>

#include "backends/kubernetes/object_fields.h"
#include "backends/kubernetes/pod_spec.h"

namespace jobsync {
namespace {

using nlohmann::json;

// The worker group of `role`: its pod template as a Ray worker's.
json WorkerGroup(const TrainingJob& job, const std::string& role, const json& labels) {
  const Role& spec = job.roles.at(role);
  json tmpl = RolePodTemplate(job, role, labels);
  json& pod = tmpl["spec"];
  pod.erase("restartPolicy");
  pod.erase("subdomain");
  for (json& container : pod["containers"]) {
    container["name"] = "ray-worker";
    container.erase("command");
    container.erase("args");
    if (!container.contains("image") || container["image"] == "")
      container["image"] = job.ray->image;
    static const std::set<std::string> kNotForRay = {"JOBSYNC_INDEX", "JOBSYNC_SERVICE",
                                                     "JOBSYNC_RENDEZVOUS"};
    json env = json::array();
    for (json& var : container["env"]) {
      if (!kNotForRay.contains(var.value("name", ""))) env.push_back(std::move(var));
    }
    container["env"] = std::move(env);
  }
  const std::optional<ReplicaBounds> bounds = ElasticBounds(spec);
  return json{{"groupName", role},
              {"replicas", spec.replicas},
              {"minReplicas", bounds ? bounds->min : spec.replicas},
              {"maxReplicas", bounds ? bounds->max : spec.replicas},
              {"rayStartParams", json::object()},
              {"template", std::move(tmpl)}};
}

json HeadGroup(const TrainingJob& job, const json& labels) {
  json container = {{"name", "ray-head"},
                    {"image", job.ray->image.empty() ? job.image : job.ray->image}};
  json resources = ContainerResources(job.ray->head_resources);
  if (!resources.empty()) container["resources"] = std::move(resources);
  json head_labels = labels;
  head_labels[kRoleLabel] = "head";
  return json{{"rayStartParams", json::object()},
              {"template",
               {{"metadata", {{"labels", std::move(head_labels)}}},
                {"spec", {{"containers", json::array({std::move(container)})}}}}}};
}

}  // namespace

bool IsRayJob(const TrainingJob& job) {
  return job.backend == BackendKind::kRay && job.ray && job.ray->cluster == RayCluster::kKubeRay;
}

StatusOr<json> RayJobObject(const TrainingJob& job, const ApplyContext& context) {
  if (!IsRayJob(job)) {
    return InvalidArgumentError("job " + job.key().ToString() +
                                " is not a Ray job with ray.cluster: kuberay");
  }
  const json labels = JobLabels(job, context);
  json workers = json::array();
  bool elastic = false;
  for (const auto& [role, spec] : job.roles) {
    json group_labels = labels;
    group_labels[kRoleLabel] = role;
    workers.push_back(WorkerGroup(job, role, group_labels));
    const std::optional<ReplicaBounds> bounds = ElasticBounds(spec);
    elastic = elastic || (bounds && bounds->min < bounds->max);
  }
  json cluster = {{"headGroupSpec", HeadGroup(job, labels)},
                  {"workerGroupSpecs", std::move(workers)}};
  if (elastic) cluster["enableInTreeAutoscaling"] = true;
  json spec = {{"entrypoint", job.ray->entrypoint},
               {"shutdownAfterJobFinishes", true},
               {"suspend", job.suspend},
               {"rayClusterSpec", std::move(cluster)}};
  if (job.ray->runtime_env.is_object() && !job.ray->runtime_env.empty()) {
    spec["runtimeEnvYAML"] = job.ray->runtime_env.dump();
  }
  const RayEntrypointResources& entry = job.ray->entrypoint_resources;
  if (entry.cpu) spec["entrypointNumCpus"] = *entry.cpu;
  if (entry.gpu) spec["entrypointNumGpus"] = *entry.gpu;
  if (job.ttl_seconds_after_finished) {
    spec["ttlSecondsAfterFinished"] = *job.ttl_seconds_after_finished;
  }
  if (job.active_deadline_seconds) spec["activeDeadlineSeconds"] = *job.active_deadline_seconds;
  return json{{"apiVersion", "ray.io/v1"},
              {"kind", "RayJob"},
              {"metadata",
               {{"name", job.name},
                {"namespace", job.namespace_name},
                {"labels", labels},
                {"annotations", AppliedAnnotations(job, context)}}},
              {"spec", std::move(spec)}};
}

json CompactRayJobObject(const json& rayjob) {
  json out = json::object();
  if (!rayjob.is_object()) return out;
  KeepCompactMetadata(rayjob, out);
  auto spec = rayjob.find("spec");
  if (spec != rayjob.end() && spec->is_object())
    KeepMembers(*spec, out["spec"] = json::object(), {"suspend"});
  auto status = rayjob.find("status");
  if (status != rayjob.end() && status->is_object()) {
    KeepMembers(*status, out["status"] = json::object(),
                {"jobStatus", "jobDeploymentStatus", "reason", "message", "rayClusterName"});
  }
  return out;
}

LivePhase RayJobPhase(const json& rayjob) {
  const std::string job_status = StringField(rayjob, "/status/jobStatus");
  const std::string deployment = StringField(rayjob, "/status/jobDeploymentStatus");
  if (job_status == "SUCCEEDED") return LivePhase::kSucceeded;
  if (job_status == "FAILED" || job_status == "STOPPED" || deployment == "Failed" ||
      deployment == "ValidationFailed") {
    return LivePhase::kFailed;
  }
  const json::json_pointer suspend("/spec/suspend");
  const bool suspended =
      rayjob.contains(suspend) && rayjob.at(suspend).is_boolean() && rayjob.at(suspend).get<bool>();
  if (suspended || deployment == "Suspending" || deployment == "Suspended") {
    return LivePhase::kSuspended;
  }
  // KubeRay's deployment Running is its Ray cluster up and the job submitted; the job runs once
  // Ray says so.
  if (job_status == "RUNNING") return LivePhase::kRunning;
  return LivePhase::kPending;
}

std::vector<LiveJob> LiveJobsFromRayJobs(const std::vector<json>& rayjobs,
                                         AppliedSpecCache* parsed) {
  return LiveJobsFromRayJobs(RefsOf(rayjobs), parsed);
}

std::vector<LiveJob> LiveJobsFromRayJobs(const ObjectRefs& rayjobs, AppliedSpecCache* parsed) {
  return LiveJobsFromWorkloadObjects(rayjobs, "rayjob", parsed,
                                     [](const json& object, LiveJob& live) {
                                       live.phase = RayJobPhase(object);
                                       live.phase_message = StringField(object, "/status/message");
                                     });
}

Health HealthFromRayJob(const json& rayjob) {
  switch (RayJobPhase(rayjob)) {
    case LivePhase::kSucceeded:
      return Health::kSucceeded;
    case LivePhase::kFailed:
      return Health::kFailed;
    case LivePhase::kSuspended:
      return Health::kSuspended;
    default:
      break;
  }
  if (StringField(rayjob, "/status/jobDeploymentStatus") == "Retrying") return Health::kDegraded;
  if (StringField(rayjob, "/status/jobStatus") == "RUNNING") return Health::kHealthy;
  return Health::kProgressing;
}

}  // namespace jobsync
