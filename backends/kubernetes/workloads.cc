// KubernetesBackend's JobSet jobs, Kueue Workloads, and the creating and deleting of the one
// object that stands for a whole job (a RayJob, an ElasticJob) (kubernetes_backend.h says what
// each step does; jobset_mapping.h what the JobSet holds).
#include <set>
#include <utility>

#include <spdlog/spdlog.h>

#include "backends/kubernetes/jobset_mapping.h"
#include "backends/kubernetes/kubernetes_backend.h"
#include "backends/kubernetes/mapping.h"
#include "backends/kubernetes/object_fields.h"
#include "schemas/canonical.h"

namespace jobsync {
namespace {

using nlohmann::json;

std::string StringAt(const json& object, const char* pointer) {
  const json::json_pointer path(pointer);
  if (!object.contains(path) || !object.at(path).is_string()) return "";
  return object.at(path).get<std::string>();
}

std::string LabelOf(const json& object, const char* key) {
  const json::json_pointer path = json::json_pointer("/metadata/labels") / key;
  if (!object.contains(path) || !object.at(path).is_string()) return "";
  return object.at(path).get<std::string>();
}

std::string AnnotationOf(const json& object, const char* key) {
  const json::json_pointer path = json::json_pointer("/metadata/annotations") / key;
  if (!object.contains(path) || !object.at(path).is_string()) return "";
  return object.at(path).get<std::string>();
}

bool OwnedBy(const json& object, const std::string& instance) {
  return LabelOf(object, kManagedByLabel) == kManagedByValue &&
         LabelOf(object, kInstanceLabel) == instance;
}

// The uids of the objects `workload`'s ownerReferences name.
std::set<std::string> OwnerUids(const json& workload) {
  std::set<std::string> uids;
  const json::json_pointer owners("/metadata/ownerReferences");
  if (!workload.contains(owners) || !workload.at(owners).is_array()) return uids;
  for (const json& owner : workload.at(owners)) uids.insert(StringAt(owner, "/uid"));
  return uids;
}

// Why Kueue has not admitted `workload`: the message of its QuotaReserved condition when that
// is not True (e.g. "couldn't assign flavors to pod set main: insufficient unused quota for cpu
// in flavor default-flavor, 1 more needed"), else of Admitted when not True, else of Evicted
// when True; empty when none says.
std::string PendingMessage(const json& workload) {
  const json::json_pointer pointer("/status/conditions");
  if (!workload.contains(pointer) || !workload.at(pointer).is_array()) return "";
  auto message_of = [&](const char* type, bool when_true) -> std::string {
    for (const json& condition : workload.at(pointer)) {
      if (StringAt(condition, "/type") != type) continue;
      if ((StringAt(condition, "/status") == "True") != when_true) return "";
      return StringAt(condition, "/message");
    }
    return "";
  };
  for (auto [type, when_true] : {std::pair{"QuotaReserved", false}, std::pair{"Admitted", false},
                                 std::pair{"Evicted", true}}) {
    std::string message = message_of(type, when_true);
    if (!message.empty()) return message;
  }
  return "";
}

}  // namespace

// ---- one object per job -----------------------------------------------------------------------

Status KubernetesBackend::CreateObject(ResourceKind kind, Watched& watched, const json& object,
                                       const TrainingJob& job, const ApplyContext& context,
                                       const std::string& missing_api) {
  if (options_.create_namespaces) JOBSYNC_RETURN_IF_ERROR(EnsureNamespace(job.namespace_name));
  const std::string what = StringField(object, "/kind") + " " + job.namespace_name + "/" + job.name;
  for (int attempt = 0; attempt < 2; ++attempt) {
    StatusOr<json> created = client_->Create(kind, job.namespace_name, object);
    if (created.ok()) {
      Remember(watched, *created);
      return OkStatus();
    }
    if (created.status().code() == StatusCode::kNotFound) {
      return NotFoundError(created.status().message() + "; " + missing_api);
    }
    if (created.status().code() != StatusCode::kAlreadyExists) return created.status();
    StatusOr<json> existing = client_->Get(kind, job.namespace_name, job.name);
    if (!existing.ok()) {
      if (existing.status().code() == StatusCode::kNotFound) continue;  // gone meanwhile
      return existing.status();
    }
    if (existing->contains(json::json_pointer("/metadata/deletionTimestamp"))) {
      JOBSYNC_RETURN_IF_ERROR(WaitGone(kind, job.namespace_name, job.name, context));
      continue;
    }
    if (OwnedByInstance(*existing, context.instance) &&
        AnnotationValue(*existing, kSpecHashAnnotation) == SpecHash(job)) {
      Remember(watched, *existing);
      return OkStatus();  // created by an earlier, interrupted apply
    }
    return Status(StatusCode::kAlreadyExists,
                  what + " exists with another owner or spec; jobsync does not overwrite it");
  }
  return UnavailableError(what + " kept reappearing while being created");
}

Status KubernetesBackend::DeleteObject(ResourceKind kind, Watched& watched, const JobKey& key,
                                       const ApplyContext& context, Propagation propagation,
                                       bool wait) {
  StatusOr<json> existing = client_->Get(kind, key.namespace_name, key.name);
  if (!existing.ok()) {
    // 404: no such object, or no such API at all; either way nothing to delete.
    return existing.status().code() == StatusCode::kNotFound ? OkStatus() : existing.status();
  }
  if (!OwnedByInstance(*existing, context.instance) ||
      LabelValue(*existing, kJobLabel) != key.name) {
    return FailedPreconditionError("left the " + StringField(*existing, "/kind") + " " +
                                   (key.namespace_name + "/" + key.name) +
                                   " alone: it is not this instance's");
  }
  JOBSYNC_RETURN_IF_ERROR(client_->Delete(kind, key.namespace_name, key.name, propagation));
  {
    std::lock_guard<std::mutex> lock(mutex_);
    watched.cache.erase((key.namespace_name + "/" + key.name));
    ++cache_generation_;
  }
  if (!wait) return OkStatus();
  return WaitGone(kind, key.namespace_name, key.name, context);
}

// ---- JobSet jobs ------------------------------------------------------------------------------

Status KubernetesBackend::CreateJobSet(const TrainingJob& job, const ApplyContext& context) {
  StatusOr<json> object = JobSetObject(job, context);
  if (!object.ok()) return object.status();
  if (options_.create_namespaces) JOBSYNC_RETURN_IF_ERROR(EnsureNamespace(job.namespace_name));
  Status done = UnavailableError("JobSet " + job.namespace_name + "/" + job.name +
                                 " kept reappearing while being created");
  for (int attempt = 0; attempt < 2; ++attempt) {
    StatusOr<json> created = client_->Create(ResourceKind::kJobSet, job.namespace_name, *object);
    if (created.ok()) {
      Remember(jobsets_, *created);
      done = OkStatus();
      break;
    }
    if (created.status().code() == StatusCode::kNotFound) {
      return NotFoundError(
          created.status().message() +
          "; is the JobSet controller installed (its CRD jobsets.jobset.x-k8s.io)? "
          "kubernetes.workload: jobset needs it");
    }
    if (created.status().code() != StatusCode::kAlreadyExists) return created.status();
    StatusOr<json> existing = client_->Get(ResourceKind::kJobSet, job.namespace_name, job.name);
    if (!existing.ok()) {
      if (existing.status().code() == StatusCode::kNotFound) continue;  // gone meanwhile
      return existing.status();
    }
    if (existing->contains(json::json_pointer("/metadata/deletionTimestamp"))) {
      JOBSYNC_RETURN_IF_ERROR(
          WaitGone(ResourceKind::kJobSet, job.namespace_name, job.name, context));
      continue;
    }
    if (OwnedBy(*existing, context.instance) &&
        AnnotationOf(*existing, kSpecHashAnnotation) == SpecHash(job)) {
      Remember(jobsets_, *existing);
      done = OkStatus();  // created by an earlier, interrupted apply
      break;
    }
    return Status(StatusCode::kAlreadyExists,
                  "JobSet " + job.namespace_name + "/" + job.name +
                      " exists with another owner or spec; jobsync does not overwrite it");
  }
  if (done.ok() && job.suspend && !job.queue.empty()) {
    return SetWorkloadsActive(job, false, kWorkloadWait, context);
  }
  return done;
}

Status KubernetesBackend::UpdateJobSetInPlace(const PlanStep& step, const ApplyContext& context) {
  const TrainingJob& job = *step.desired;
  const bool scale = step.action == Action::kScale;
  StatusOr<json> rendered = JobSetObject(job, context);
  if (!rendered.ok()) return rendered.status();
  const json& annotations = (*rendered)["metadata"]["annotations"];
  const std::vector<std::string> dropped = DroppedAnnotations(step);
  StatusOr<json> updated =
      client_->Update(ResourceKind::kJobSet, job.namespace_name, job.name, [&](json& object) {
        if (!OwnedBy(object, context.instance)) {
          return FailedPreconditionError("JobSet " + job.namespace_name + "/" + job.name +
                                         " is not this instance's; not changing it");
        }
        json* spec =
            object.contains("spec") && object["spec"].is_object() ? &object["spec"] : nullptr;
        json* metadata = &object["metadata"];
        if (spec == nullptr || !metadata->is_object() ||
            (metadata->contains("annotations") && !(*metadata)["annotations"].is_object() &&
             !(*metadata)["annotations"].is_null())) {
          return InternalError("JobSet " + job.namespace_name + "/" + job.name +
                               " as the server returned it has no spec or annotations mapping");
        }
        json& live_annotations = (*metadata)["annotations"];
        for (const std::string& key : dropped) live_annotations.erase(key);
        for (const auto& [key, value] : annotations.items()) live_annotations[key] = value;
        // Kueue owns suspend of a queued workload (SetWorkloadsActive below).
        if (scale && job.queue.empty()) (*spec)["suspend"] = job.suspend;
        if (job.ttl_seconds_after_finished) {
          (*spec)["ttlSecondsAfterFinished"] = *job.ttl_seconds_after_finished;
        } else {
          spec->erase("ttlSecondsAfterFinished");
        }
        return OkStatus();
      });
  if (!updated.ok()) {
    if (updated.status().code() == StatusCode::kNotFound && !scale) {
      return FailedPreconditionError("JobSet " + job.namespace_name + "/" + job.name +
                                     " is gone; a metadata patch does not create it");
    }
    if (updated.status().code() == StatusCode::kNotFound) return CreateJobSet(job, context);
    return updated.status();
  }
  Remember(jobsets_, *updated);
  if (scale && !job.queue.empty() && step.live && step.live->applied &&
      step.live->applied->suspend != job.suspend) {
    return SetWorkloadsActive(job, !job.suspend, std::chrono::seconds(0), context);
  }
  return OkStatus();
}

Status KubernetesBackend::DeleteJobSet(const JobKey& key, const ApplyContext& context,
                                       Propagation propagation, bool wait) {
  StatusOr<json> existing = client_->Get(ResourceKind::kJobSet, key.namespace_name, key.name);
  if (!existing.ok()) {
    // 404: no such JobSet, or no JobSet API at all; either way nothing to delete.
    return existing.status().code() == StatusCode::kNotFound ? OkStatus() : existing.status();
  }
  if (!OwnedBy(*existing, context.instance) || LabelOf(*existing, kJobLabel) != key.name) {
    return FailedPreconditionError("left the JobSet " + key.namespace_name + "/" + key.name +
                                   " alone: it is not this instance's");
  }
  JOBSYNC_RETURN_IF_ERROR(
      client_->Delete(ResourceKind::kJobSet, key.namespace_name, key.name, propagation));
  {
    std::lock_guard<std::mutex> lock(mutex_);
    jobsets_.cache.erase(key.namespace_name + "/" + key.name);
    ++cache_generation_;
  }
  if (!wait) return OkStatus();
  return WaitGone(ResourceKind::kJobSet, key.namespace_name, key.name, context);
}

StatusOr<Health> KubernetesBackend::JobSetHealth(const JobKey& key) {
  StatusOr<json> jobset = client_->Get(ResourceKind::kJobSet, key.namespace_name, key.name);
  if (!jobset.ok()) {
    if (jobset.status().code() == StatusCode::kNotFound) return Health::kMissing;
    return Status(jobset.status().code(),
                  "job " + key.ToString() + ": " + jobset.status().message());
  }
  if (jobset->contains(json::json_pointer("/metadata/deletionTimestamp"))) return Health::kMissing;
  StatusOr<ObjectList> jobs =
      client_->List(ResourceKind::kJob, key.namespace_name,
                    JobSelector(key.name) + "," + kJobSetNameLabel + "=" + key.name);
  if (!jobs.ok())
    return Status(jobs.status().code(), "job " + key.ToString() + ": " + jobs.status().message());
  StatusOr<ObjectList> pods =
      client_->List(ResourceKind::kPod, key.namespace_name, JobSelector(key.name));
  if (!pods.ok())
    return Status(pods.status().code(), "job " + key.ToString() + ": " + pods.status().message());
  return HealthFromJobSet(*jobset, jobs->items, pods->items, std::chrono::system_clock::now(),
                          options_.pending_grace);
}

// ---- Kueue ------------------------------------------------------------------------------------

Status KubernetesBackend::SetWorkloadsActive(const TrainingJob& job, bool active,
                                             std::chrono::seconds wait_for,
                                             const ApplyContext& context) {
  // The workload objects Kueue makes Workloads for: the JobSet, or each role's Job.
  std::set<std::string> uids;
  if (job.workload == KubernetesWorkload::kJobSet) {
    StatusOr<json> jobset = client_->Get(ResourceKind::kJobSet, job.namespace_name, job.name);
    if (!jobset.ok()) return jobset.status();
    uids.insert(StringAt(*jobset, "/metadata/uid"));
  } else {
    for (const auto& [role, unused] : job.roles) {
      StatusOr<json> object =
          client_->Get(ResourceKind::kJob, job.namespace_name, RoleJobName(job, role));
      if (!object.ok()) return object.status();
      uids.insert(StringAt(*object, "/metadata/uid"));
    }
  }
  const auto deadline = std::chrono::steady_clock::now() + wait_for;
  std::set<std::string> done;
  while (true) {
    StatusOr<ObjectList> workloads = client_->List(ResourceKind::kWorkload, job.namespace_name, "");
    if (!workloads.ok()) {
      return Status(workloads.status().code(), "reading the Kueue Workloads (spec.queue " +
                                                   job.queue +
                                                   "): " + workloads.status().message());
    }
    for (const json& workload : workloads->items) {
      const std::set<std::string> owners = OwnerUids(workload);
      std::string owner;
      for (const std::string& uid : uids) {
        if (owners.contains(uid)) owner = uid;
      }
      if (owner.empty() || done.contains(owner)) continue;
      const std::string name = StringAt(workload, "/metadata/name");
      StatusOr<json> updated =
          client_->Update(ResourceKind::kWorkload, job.namespace_name, name, [&](json& object) {
            if (!object.contains("spec") || !object["spec"].is_object()) {
              return InternalError("Workload " + job.namespace_name + "/" + name +
                                   " as the server returned it has no spec mapping");
            }
            object["spec"]["active"] = active;
            return OkStatus();
          });
      if (!updated.ok() && updated.status().code() != StatusCode::kNotFound) {
        return updated.status();
      }
      if (updated.ok()) done.insert(owner);
    }
    if (done.size() == uids.size()) return OkStatus();
    if (std::chrono::steady_clock::now() >= deadline) {
      return FailedPreconditionError(
          std::string("cannot ") + (active ? "resume" : "suspend") +
          " through Kueue: no Kueue Workload for " + std::to_string(uids.size() - done.size()) +
          " of the job's workload objects (is Kueue running, with LocalQueue " + job.queue +
          " in namespace " + job.namespace_name + "?)");
    }
    context.Answered();
    if (!SleepUnlessStopping(std::chrono::milliseconds(250))) {
      return UnavailableError("the backend is shutting down");
    }
  }
}

void KubernetesBackend::AddQueueMessages(std::vector<LiveJob>& live) {
  // The uids of the queued jobs' workload objects, by namespace.
  std::map<std::string, std::map<std::string, LiveJob*>> by_namespace;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (LiveJob& job : live) {
      if (job.phase != LivePhase::kQueued) continue;
      const std::string prefix = job.key.namespace_name + "/";
      auto jobset = jobsets_.cache.find(prefix + job.key.name);
      if (jobset != jobsets_.cache.end()) {
        by_namespace[job.key.namespace_name][jobset->second->Uid()] = &job;
        continue;
      }
      for (auto it = jobs_.cache.lower_bound(prefix); it != jobs_.cache.end(); ++it) {
        if (it->first.rfind(prefix, 0) != 0) break;
        const JobRecord* record = it->second->job();
        if (record == nullptr || record->job != job.key.name) continue;
        by_namespace[job.key.namespace_name][record->uid] = &job;
      }
    }
  }
  for (auto& [namespace_name, by_uid] : by_namespace) {
    StatusOr<ObjectList> workloads = client_->List(ResourceKind::kWorkload, namespace_name, "");
    if (!workloads.ok()) {
      spdlog::debug("kubernetes: reading Kueue Workloads in {}: {}", namespace_name,
                    workloads.status().ToString());
      continue;
    }
    for (const json& workload : workloads->items) {
      for (const std::string& uid : OwnerUids(workload)) {
        auto job = by_uid.find(uid);
        if (job == by_uid.end() || !job->second->phase_message.empty()) continue;
        job->second->phase_message = PendingMessage(workload);
      }
    }
  }
}

}  // namespace jobsync
