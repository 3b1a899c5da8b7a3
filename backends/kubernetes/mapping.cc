#include "backends/kubernetes/mapping.h"

#include <algorithm>
#include <ctime>
#include <iomanip>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <tuple>
#include <utility>

#include "backends/kubernetes/elasticjob_mapping.h"
#include "backends/kubernetes/jobset_mapping.h"
#include "backends/kubernetes/object_fields.h"
#include "backends/kubernetes/pod_spec.h"
#include "schemas/canonical.h"

namespace jobsync {
namespace {

using nlohmann::json;

json ManifestAnnotations(const TrainingJob& job) {
  json annotations = json::object();
  for (const auto& [key, value] : job.annotations) annotations[key] = value;
  return annotations;
}

// The podFailurePolicy of a Job with failurePolicy.maxRestarts (mapping.h says why).
json DisruptionsIgnoredPolicy() {
  return {{"rules", json::array({{{"action", "Ignore"},
                                  {"onPodConditions", json::array({{{"type", "DisruptionTarget"},
                                                                    {"status", "True"}}})}}})}};
}

bool True(const json* value) {
  return value != nullptr && value->is_boolean() && value->get<bool>();
}

const std::string& Label(const json& object, const char* key) {
  return Text(Child(Child(Child(&object, "metadata"), "labels"), key));
}

const std::string& Annotation(const json& object, const char* key) {
  return Text(Child(Child(Child(&object, "metadata"), "annotations"), key));
}

bool HasCondition(const json& object, const char* type) {
  const json* conditions = Child(Child(&object, "status"), "conditions");
  if (conditions == nullptr || !conditions->is_array()) return false;
  for (const json& condition : *conditions) {
    if (Text(Child(&condition, "type")) == type && Text(Child(&condition, "status")) == "True") {
      return true;
    }
  }
  return false;
}

// Parses an RFC 3339 UTC timestamp as the apiserver writes them ("2025-01-02T03:04:05Z").
std::optional<std::chrono::system_clock::time_point> ParseTimestamp(const std::string& text) {
  std::tm tm{};
  std::istringstream in(text);
  in >> std::get_time(&tm, "%Y-%m-%dT%H:%M:%S");
  if (in.fail()) return std::nullopt;
  return std::chrono::system_clock::from_time_t(timegm(&tm));
}

}  // namespace

LivePhase GroupPhase(const std::vector<LivePhase>& phases) {
  auto any = [&](LivePhase phase) {
    return std::find(phases.begin(), phases.end(), phase) != phases.end();
  };
  if (any(LivePhase::kFailed)) return LivePhase::kFailed;
  if (std::all_of(phases.begin(), phases.end(),
                  [](LivePhase phase) { return phase == LivePhase::kSucceeded; })) {
    return LivePhase::kSucceeded;
  }
  if (any(LivePhase::kSuspended)) return LivePhase::kSuspended;
  if (any(LivePhase::kRunning)) return LivePhase::kRunning;
  return LivePhase::kPending;
}

json JobLabels(const TrainingJob& job, const ApplyContext& context) {
  json labels = json::object();
  for (const auto& [key, value] : job.labels) {
    if (key != kShardLabel) labels[key] = value;  // it routes the job among replicas only
  }
  labels[kManagedByLabel] = kManagedByValue;
  labels[kInstanceLabel] = context.instance;
  labels[kJobLabel] = job.name;
  return labels;
}

json AppliedAnnotations(const TrainingJob& job, const ApplyContext& context) {
  json annotations = ManifestAnnotations(job);
  annotations[kSpecAnnotation] = CanonicalSpecText(job);
  annotations[kSpecHashAnnotation] = SpecHash(job);
  annotations[kSourcePathAnnotation] = job.source.path;
  annotations[kRevisionAnnotation] = context.revision;
  return annotations;
}

bool HeldByKueue(const json& object, const TrainingJob* applied) {
  return applied && !applied->suspend && !Label(object, kQueueLabel).empty() &&
         True(Child(Child(&object, "spec"), "suspend"));
}

bool HeldByKueue(const JobRecord& job, const TrainingJob* applied) {
  return applied && !applied->suspend && job.queue_label && job.suspended;
}

std::string ManagedSelector() { return std::string(kManagedByLabel) + "=" + kManagedByValue; }

std::string JobSelector(const std::string& job_name) {
  return ManagedSelector() + "," + kJobLabel + "=" + job_name;
}

json NamespaceObject(const std::string& namespace_name) {
  return {
      {"apiVersion", "v1"},
      {"kind", "Namespace"},
      {"metadata", {{"name", namespace_name}, {"labels", {{kManagedByLabel, kManagedByValue}}}}}};
}

json ServiceObject(const TrainingJob& job, const ApplyContext& context) {
  return {{"apiVersion", "v1"},
          {"kind", "Service"},
          {"metadata",
           {{"name", job.name},
            {"namespace", job.namespace_name},
            {"labels", JobLabels(job, context)},
            {"annotations", ManifestAnnotations(job)}}},
          {"spec",
           {{"clusterIP", "None"},
            {"publishNotReadyAddresses", true},
            {"selector", {{kJobLabel, job.name}}}}}};
}

StatusOr<json> RoleJobObject(const TrainingJob& job, const std::string& role,
                             const ApplyContext& context) {
  auto it = job.roles.find(role);
  if (it == job.roles.end()) {
    return InvalidArgumentError("job " + job.key().ToString() + " has no role \"" + role + "\"");
  }
  const std::string name = RoleJobName(job.name, role);
  if (name.size() > 63) {
    return InvalidArgumentError("job " + job.key().ToString() + ": Kubernetes Job name \"" + name +
                                "\" is longer than 63 characters; shorten the job or " +
                                "role name");
  }
  json labels = JobLabels(job, context);
  labels[kRoleLabel] = role;
  StatusOr<json> pod_template = PatchedPodTemplate(job, role, RolePodTemplate(job, role, labels));
  if (!pod_template.ok()) return pod_template.status();
  if (!job.queue.empty()) labels[kQueueLabel] = job.queue;
  const int replicas = it->second.replicas;
  json spec = {{"completionMode", "Indexed"},
               {"completions", replicas},
               {"parallelism", replicas},
               {"suspend", job.suspend},
               {"backoffLimitPerIndex", job.max_restarts.value_or(kBackoffLimitPerIndex)},
               {"template", std::move(*pod_template)}};
  if (job.max_restarts) spec["podFailurePolicy"] = DisruptionsIgnoredPolicy();
  if (job.active_deadline_seconds) spec["activeDeadlineSeconds"] = *job.active_deadline_seconds;
  if (job.ttl_seconds_after_finished) {
    spec["ttlSecondsAfterFinished"] = *job.ttl_seconds_after_finished;
  }
  return json{{"apiVersion", "batch/v1"},
              {"kind", "Job"},
              {"metadata",
               {{"name", name},
                {"namespace", job.namespace_name},
                {"labels", labels},
                {"annotations", AppliedAnnotations(job, context)}}},
              {"spec", std::move(spec)}};
}

StatusOr<std::vector<json>> RenderObjects(const TrainingJob& job, const ApplyContext& context,
                                          bool include_namespace) {
  std::vector<json> out;
  if (include_namespace) out.push_back(NamespaceObject(job.namespace_name));
  if (job.workload == KubernetesWorkload::kElasticJob) {
    StatusOr<json> elastic_job = ElasticJobObject(job, context);
    if (!elastic_job.ok()) return elastic_job.status();
    out.push_back(std::move(*elastic_job));
    return out;
  }
  if (job.workload == KubernetesWorkload::kJobSet) {
    StatusOr<json> jobset = JobSetObject(job, context);
    if (!jobset.ok()) return jobset.status();
    out.push_back(std::move(*jobset));
    return out;
  }
  out.push_back(ServiceObject(job, context));
  for (const auto& [role, spec] : job.roles) {
    StatusOr<json> object = RoleJobObject(job, role, context);
    if (!object.ok()) return object.status();
    out.push_back(std::move(*object));
  }
  return out;
}

LivePhase JobObjectPhase(const json& job_object) {
  if (HasCondition(job_object, "Failed")) return LivePhase::kFailed;
  if (HasCondition(job_object, "Complete")) return LivePhase::kSucceeded;
  if (True(Child(Child(&job_object, "spec"), "suspend"))) return LivePhase::kSuspended;
  if (Integer(Child(Child(&job_object, "status"), "active")) > 0) return LivePhase::kRunning;
  return LivePhase::kPending;
}

JobRecord JobRecordOf(const json& job_object) {
  JobRecord record;
  const json* metadata = Child(&job_object, "metadata");
  record.namespace_name = Text(Child(metadata, "namespace"));
  record.name = Text(Child(metadata, "name"));
  record.uid = Text(Child(metadata, "uid"));
  record.resource_version = Text(Child(metadata, "resourceVersion"));
  record.being_deleted = Child(metadata, "deletionTimestamp") != nullptr;
  const json* labels = Child(metadata, "labels");
  record.managed = Text(Child(labels, kManagedByLabel)) == kManagedByValue;
  record.instance = Text(Child(labels, kInstanceLabel));
  record.job = Text(Child(labels, kJobLabel));
  record.role = Text(Child(labels, kRoleLabel));
  record.queue_label = !Text(Child(labels, kQueueLabel)).empty();
  const json* annotations = Child(metadata, "annotations");
  record.source_path = Text(Child(annotations, kSourcePathAnnotation));
  record.revision = Text(Child(annotations, kRevisionAnnotation));
  record.prune_protected = Text(Child(annotations, kPruneAnnotation)) == "false";
  const json* spec = Child(&job_object, "spec");
  record.parallelism = Integer(Child(spec, "parallelism"));
  record.suspended = True(Child(spec, "suspend"));
  record.phase = JobObjectPhase(job_object);
  return record;
}

std::shared_ptr<const TrainingJob> ParseAppliedSpec(const json& object, const SharedSpecs* shared) {
  const std::string& text = Annotation(object, kSpecAnnotation);
  const std::string& path = Annotation(object, kSourcePathAnnotation);
  if (shared != nullptr) {
    if (std::shared_ptr<const TrainingJob> desired = shared->Find(text, path)) return desired;
  }
  StatusOr<TrainingJob> read = TrainingJobFromCanonicalText(text);
  if (!read.ok()) return nullptr;
  read->source.path = path;
  return std::make_shared<const TrainingJob>(std::move(*read));
}

Health HealthFromObjects(const std::vector<json>& job_objects, const std::vector<json>& pods,
                         std::chrono::system_clock::time_point now,
                         std::chrono::seconds pending_grace) {
  if (job_objects.empty()) return Health::kMissing;
  std::vector<LivePhase> phases;
  phases.reserve(job_objects.size());
  for (const json& object : job_objects) phases.push_back(JobObjectPhase(object));
  switch (GroupPhase(phases)) {
    case LivePhase::kFailed:
      return Health::kFailed;
    case LivePhase::kSucceeded:
      return Health::kSucceeded;
    case LivePhase::kSuspended:
      for (const json& job : job_objects) {
        if (Label(job, kQueueLabel).empty()) continue;
        StatusOr<TrainingJob> applied =
            TrainingJobFromCanonicalText(Annotation(job, kSpecAnnotation));
        if (applied.ok() && HeldByKueue(job, &*applied)) return Health::kQueued;
      }
      return Health::kSuspended;
    default:
      break;
  }
  for (const json& job : job_objects) {
    if (Integer(Child(Child(&job, "status"), "failed")) > 0) return Health::kDegraded;
  }
  for (const json& pod : pods) {
    const std::string& phase = Text(Child(Child(&pod, "status"), "phase"));
    if (phase == "Failed") return Health::kDegraded;
    if (phase != "Pending") continue;
    std::optional<std::chrono::system_clock::time_point> created =
        ParseTimestamp(Text(Child(Child(&pod, "metadata"), "creationTimestamp")));
    if (created && now - *created > pending_grace) return Health::kDegraded;
  }
  for (const json& job : job_objects) {
    const int64_t want = Integer(Child(Child(&job, "spec"), "parallelism"));
    if (Integer(Child(Child(&job, "status"), "ready")) < want) return Health::kProgressing;
  }
  return Health::kHealthy;
}

std::optional<LiveJob> LiveJobOfWorkloadObject(const json& object, const char* kind,
                                               const AppliedSpecCache* parsed,
                                               AppliedSpecCache& seen) {
  const json* metadata = Child(&object, "metadata");
  const json* labels = Child(metadata, "labels");
  const json* annotations = Child(metadata, "annotations");
  const std::string& name = Text(Child(labels, kJobLabel));
  if (name.empty() || Child(metadata, "deletionTimestamp") != nullptr) return std::nullopt;
  LiveJob live;
  live.key = {BackendKind::kKubernetes, Text(Child(metadata, "namespace")), name};
  live.instance = Text(Child(labels, kInstanceLabel));
  live.source_path = Text(Child(annotations, kSourcePathAnnotation));
  live.revision = Text(Child(annotations, kRevisionAnnotation));
  live.prune_protected = Text(Child(annotations, kPruneAnnotation)) == "false";
  const std::string& version = Text(Child(metadata, "resourceVersion"));
  const std::string id = std::string(kind) + ":" + live.key.namespace_name + "/" +
                         Text(Child(metadata, "name")) + "@" + version;
  bool known = false;
  if (parsed != nullptr && !version.empty()) {
    if (auto it = parsed->by_version.find(id); it != parsed->by_version.end()) {
      live.applied = it->second;
      known = true;
    }
  }
  if (!known) live.applied = ParseAppliedSpec(object, parsed != nullptr ? parsed->shared : nullptr);
  if (!version.empty()) seen.by_version.emplace(id, live.applied);
  return live;
}

void KeepMembers(const json& from, json& to, std::initializer_list<const char*> keys) {
  if (!from.is_object()) return;
  for (const char* key : keys) {
    auto it = from.find(key);
    if (it != from.end()) to[key] = *it;
  }
}

namespace {

// Copies into out[name] (a new object) the members of metadata[name] whose key `keep` accepts;
// nothing when metadata has no such object.
template <typename Keep>
void KeepEntries(const json& metadata, const char* name, json& out, Keep keep) {
  auto from = metadata.find(name);
  if (from == metadata.end() || !from->is_object()) return;
  json& kept = out[name] = json::object();
  for (const auto& [key, value] : from->items()) {
    if (keep(key)) kept[key] = value;
  }
}

}  // namespace

void KeepCompactMetadata(const json& object, json& out) {
  auto metadata = object.find("metadata");
  if (metadata == object.end() || !metadata->is_object()) return;
  json& kept = out["metadata"] = json::object();
  KeepMembers(*metadata, kept,
              {"name", "namespace", "uid", "resourceVersion", "deletionTimestamp"});
  // Only what jobsync reads: a team's own labels (team, project, cost centre...) and the spec
  // hash (read from a fresh GET, never from the cache) would each take a map node and its strings
  // in every cached object.
  KeepEntries(*metadata, "labels", kept, [](const std::string& key) {
    return key.rfind("jobsync.dev/", 0) == 0 || key == kManagedByLabel || key == kQueueLabel;
  });
  KeepEntries(*metadata, "annotations", kept, [](const std::string& key) {
    return key.rfind("jobsync.dev/", 0) == 0 && key != kSpecHashAnnotation;
  });
}

std::vector<std::string> DroppedAnnotations(const PlanStep& step) {
  std::vector<std::string> dropped;
  if (!step.live || !step.live->applied || !step.desired) return dropped;
  for (const auto& [key, value] : step.live->applied->annotations) {
    if (!step.desired->annotations.contains(key)) dropped.push_back(key);
  }
  return dropped;
}

std::vector<LiveJob> LiveJobsFromWorkloadObjects(
    const ObjectRefs& objects, const char* kind, AppliedSpecCache* parsed,
    const std::function<void(const json&, LiveJob&)>& complete) {
  AppliedSpecCache seen;
  std::map<JobKey, LiveJob> by_key;
  for (const json* object : objects) {
    std::optional<LiveJob> live = LiveJobOfWorkloadObject(*object, kind, parsed, seen);
    if (!live) continue;
    complete(*object, *live);
    by_key.insert_or_assign(live->key, std::move(*live));
  }
  if (parsed != nullptr) parsed->by_version = std::move(seen.by_version);
  std::vector<LiveJob> out;
  out.reserve(by_key.size());
  for (auto& [key, live] : by_key) out.push_back(std::move(live));
  return out;
}

}  // namespace jobsync
