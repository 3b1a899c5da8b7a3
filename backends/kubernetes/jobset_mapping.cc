#include "backends/kubernetes/jobset_mapping.h"

#include <algorithm>
#include <map>
#include <utility>

#include "schemas/canonical.h"

namespace jobsync {
namespace {

using nlohmann::json;

std::string StringAt(const json& object, const json::json_pointer& pointer) {
  if (!object.contains(pointer)) return "";
  const json& value = object.at(pointer);
  return value.is_string() ? value.get<std::string>() : "";
}

int64_t IntAt(const json& object, const json::json_pointer& pointer, int64_t otherwise = 0) {
  if (!object.contains(pointer)) return otherwise;
  const json& value = object.at(pointer);
  return value.is_number_integer() ? value.get<int64_t>() : otherwise;
}

std::string Annotation(const json& object, const char* key) {
  return StringAt(object, json::json_pointer("/metadata/annotations") / key);
}

bool HasCondition(const json& object, const char* type) {
  const json::json_pointer pointer("/status/conditions");
  if (!object.contains(pointer) || !object.at(pointer).is_array()) return false;
  for (const json& condition : object.at(pointer)) {
    if (StringAt(condition, json::json_pointer("/type")) == type &&
        StringAt(condition, json::json_pointer("/status")) == "True") {
      return true;
    }
  }
  return false;
}

// The replicated job's template for `role`: the role Job's spec (mapping.h) without what the
// JobSet holds, and with the gang-restart failure handling when the job has maxRestarts.
StatusOr<json> ReplicatedJob(const TrainingJob& job, const std::string& role,
                             const ApplyContext& context) {
  StatusOr<json> role_job = RoleJobObject(job, role, context);
  if (!role_job.ok()) return role_job.status();
  json spec = std::move((*role_job)["spec"]);
  spec.erase("suspend");
  spec.erase("ttlSecondsAfterFinished");
  if (job.max_restarts) {
    spec.erase("backoffLimitPerIndex");
    spec["backoffLimit"] = 0;
  }
  json labels = JobLabels(job, context);
  labels[kRoleLabel] = role;
  return json{{"name", role},
              {"replicas", 1},
              {"template", {{"metadata", {{"labels", std::move(labels)}}}, {"spec", spec}}}};
}

}  // namespace

StatusOr<json> JobSetObject(const TrainingJob& job, const ApplyContext& context) {
  json replicated = json::array();
  for (const auto& [role, unused] : job.roles) {
    StatusOr<json> entry = ReplicatedJob(job, role, context);
    if (!entry.ok()) return entry.status();
    replicated.push_back(std::move(*entry));
  }
  json labels = JobLabels(job, context);
  if (!job.queue.empty()) labels[kQueueLabel] = job.queue;
  json spec = {
      {"suspend", job.suspend},
      {"network",
       {{"enableDNSHostnames", true}, {"subdomain", job.name}, {"publishNotReadyAddresses", true}}},
      {"successPolicy", {{"operator", "All"}}},
      {"startupPolicy", {{"startupPolicyOrder", "AnyOrder"}}},
      {"replicatedJobs", std::move(replicated)}};
  if (job.max_restarts) {
    spec["failurePolicy"] = {{"maxRestarts", *job.max_restarts}};
  }
  if (job.ttl_seconds_after_finished) {
    spec["ttlSecondsAfterFinished"] = *job.ttl_seconds_after_finished;
  }
  return json{{"apiVersion", "jobset.x-k8s.io/v1alpha2"},
              {"kind", "JobSet"},
              {"metadata",
               {{"name", job.name},
                {"namespace", job.namespace_name},
                {"labels", std::move(labels)},
                {"annotations", AppliedAnnotations(job, context)}}},
              {"spec", std::move(spec)}};
}

json CompactJobSetObject(const json& jobset) {
  json out = json::object();
  if (!jobset.is_object()) return out;
  KeepCompactMetadata(jobset, out);
  auto spec = jobset.find("spec");
  if (spec != jobset.end() && spec->is_object()) {
    json& kept = out["spec"] = json::object();
    KeepMembers(*spec, kept, {"suspend"});
    auto replicated = spec->find("replicatedJobs");
    if (replicated != spec->end() && replicated->is_array()) {
      json& listed = kept["replicatedJobs"] = json::array();
      for (const json& entry : *replicated) {
        json compact = json::object();
        KeepMembers(entry, compact, {"name", "replicas"});
        const json::json_pointer parallelism("/template/spec/parallelism");
        if (entry.is_object() && entry.contains(parallelism)) {
          compact["template"]["spec"]["parallelism"] = entry.at(parallelism);
        }
        listed.push_back(std::move(compact));
      }
    }
  }
  auto status = jobset.find("status");
  if (status != jobset.end() && status->is_object()) {
    json& kept = out["status"] = json::object();
    KeepMembers(*status, kept, {"terminalState", "replicatedJobsStatus"});
    auto conditions = status->find("conditions");
    if (conditions != status->end() && conditions->is_array()) {
      json& listed = kept["conditions"] = json::array();
      for (const json& condition : *conditions) {
        json entry = json::object();
        KeepMembers(condition, entry, {"type", "status", "reason", "message"});
        listed.push_back(std::move(entry));
      }
    }
  }
  return out;
}

LivePhase JobSetPhase(const json& jobset) {
  const std::string terminal = StringAt(jobset, json::json_pointer("/status/terminalState"));
  if (terminal == "Failed" || HasCondition(jobset, "Failed")) return LivePhase::kFailed;
  if (terminal == "Completed" || HasCondition(jobset, "Completed")) return LivePhase::kSucceeded;
  const json::json_pointer suspend("/spec/suspend");
  if (jobset.contains(suspend) && jobset.at(suspend).is_boolean() &&
      jobset.at(suspend).get<bool>()) {
    return LivePhase::kSuspended;
  }
  const json::json_pointer statuses("/status/replicatedJobsStatus");
  if (jobset.contains(statuses) && jobset.at(statuses).is_array()) {
    for (const json& entry : jobset.at(statuses)) {
      if (IntAt(entry, json::json_pointer("/active")) > 0 ||
          IntAt(entry, json::json_pointer("/ready")) > 0) {
        return LivePhase::kRunning;
      }
    }
  }
  return LivePhase::kPending;
}

std::vector<LiveJob> LiveJobsFromJobSets(const std::vector<json>& jobsets,
                                         AppliedSpecCache* parsed) {
  return LiveJobsFromJobSets(RefsOf(jobsets), parsed);
}

std::vector<LiveJob> LiveJobsFromJobSets(const ObjectRefs& jobsets, AppliedSpecCache* parsed) {
  AppliedSpecCache seen;
  std::map<JobKey, LiveJob> by_key;
  for (const json* each : jobsets) {
    const json& jobset = *each;
    std::optional<LiveJob> of = LiveJobOfWorkloadObject(jobset, "jobset", parsed, seen);
    if (!of) continue;
    LiveJob& live = *of;

    const json::json_pointer replicated("/spec/replicatedJobs");
    if (jobset.contains(replicated) && jobset.at(replicated).is_array()) {
      for (const json& entry : jobset.at(replicated)) {
        const std::string role = StringAt(entry, json::json_pointer("/name"));
        if (role.empty()) continue;
        live.replicas[role] =
            static_cast<int>(IntAt(entry, json::json_pointer("/template/spec/parallelism")) *
                             IntAt(entry, json::json_pointer("/replicas"), 1));
      }
    }
    live.phase = JobSetPhase(jobset);
    if (live.phase == LivePhase::kSuspended && HeldByKueue(jobset, live.applied.get())) {
      live.phase = LivePhase::kQueued;
    }
    by_key.insert_or_assign(live.key, std::move(live));
  }
  if (parsed != nullptr) parsed->by_version = std::move(seen.by_version);
  std::vector<LiveJob> out;
  out.reserve(by_key.size());
  for (auto& [key, live] : by_key) out.push_back(std::move(live));
  return out;
}

Health HealthFromJobSet(const json& jobset, const std::vector<json>& jobs,
                        const std::vector<json>& pods, std::chrono::system_clock::time_point now,
                        std::chrono::seconds pending_grace) {
  switch (JobSetPhase(jobset)) {
    case LivePhase::kFailed:
      return Health::kFailed;
    case LivePhase::kSucceeded:
      return Health::kSucceeded;
    case LivePhase::kSuspended: {
      StatusOr<TrainingJob> applied =
          TrainingJobFromCanonicalText(Annotation(jobset, kSpecAnnotation));
      return applied.ok() && HeldByKueue(jobset, &*applied) ? Health::kQueued : Health::kSuspended;
    }
    default:
      break;
  }
  if (jobs.empty()) return Health::kProgressing;
  const Health health = HealthFromObjects(jobs, pods, now, pending_grace);
  // The JobSet is neither finished nor suspended: a failed Job waits for its restart, a finished
  // or still suspended one for the others.
  if (health == Health::kFailed) return Health::kDegraded;
  if (health == Health::kSucceeded || health == Health::kSuspended || health == Health::kQueued) {
    return Health::kProgressing;
  }
  return health;
}

}  // namespace jobsync
