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

// The member `key` of `object`; null when `object` is null, not an object, or has no such member.
// Lookups by member, not by JSON pointer: a pointer is parsed into strings on every use, which at
// 10,000 Jobs per listing was most of the listing's time.
const json* Child(const json* object, const char* key) {
  if (object == nullptr || !object->is_object()) return nullptr;
  auto it = object->find(key);
  return it == object->end() ? nullptr : &*it;
}

// The string `value` holds, or an empty one (null, or not a string).
const std::string& Text(const json* value) {
  static const std::string kEmpty;
  return value != nullptr && value->is_string() ? value->get_ref<const std::string&>() : kEmpty;
}

// The integer `value` holds, or 0 (null, or not an integer).
int64_t Integer(const json* value) {
  return value != nullptr && value->is_number_integer() ? value->get<int64_t>() : 0;
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

LivePhase GroupPhase(const std::vector<const json*>& jobs) {
  std::vector<LivePhase> phases;
  phases.reserve(jobs.size());
  for (const json* job : jobs) phases.push_back(JobObjectPhase(*job));
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

// Parses an RFC 3339 UTC timestamp as the apiserver writes them ("2025-01-02T03:04:05Z").
std::optional<std::chrono::system_clock::time_point> ParseTimestamp(const std::string& text) {
  std::tm tm{};
  std::istringstream in(text);
  in >> std::get_time(&tm, "%Y-%m-%dT%H:%M:%S");
  if (in.fail()) return std::nullopt;
  return std::chrono::system_clock::from_time_t(timegm(&tm));
}

}  // namespace

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

json CompactJobObject(const json& job_object) {
  json out = json::object();
  if (!job_object.is_object()) return out;
  // Copies the members named in `keys` that `from` has (an object) into `to`.
  KeepCompactMetadata(job_object, out);
  auto spec = job_object.find("spec");
  if (spec != job_object.end())
    KeepMembers(*spec, out["spec"] = json::object(), {"parallelism", "completions", "suspend"});
  auto status = job_object.find("status");
  if (status != job_object.end() && status->is_object()) {
    json& kept = out["status"] = json::object();
    KeepMembers(*status, kept, {"active", "failed", "succeeded"});
    auto conditions = status->find("conditions");
    if (conditions != status->end() && conditions->is_array()) {
      json& listed = kept["conditions"] = json::array();
      for (const json& condition : *conditions) {
        json entry = json::object();
        KeepMembers(condition, entry, {"type", "status"});
        listed.push_back(std::move(entry));
      }
    }
  }
  return out;
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

ObjectRefs RefsOf(const std::vector<json>& objects) {
  ObjectRefs refs;
  refs.reserve(objects.size());
  for (const json& object : objects) refs.push_back(&object);
  return refs;
}

ObjectRefs RefsOf(const std::vector<std::shared_ptr<const json>>& objects) {
  ObjectRefs refs;
  refs.reserve(objects.size());
  for (const std::shared_ptr<const json>& object : objects) refs.push_back(object.get());
  return refs;
}

std::vector<LiveJob> LiveJobsFromObjects(const std::vector<json>& job_objects,
                                         AppliedSpecCache* parsed) {
  return LiveJobsFromObjects(RefsOf(job_objects), parsed);
}

namespace {

// One listed Job object that belongs to a job; the strings are the object's own.
struct JobMember {
  const std::string* namespace_name;
  const std::string* job;
  const std::string* name;
  const json* object;
  const json* metadata;
};

bool SameJob(const JobMember& a, const JobMember& b) {
  return *a.job == *b.job && *a.namespace_name == *b.namespace_name;
}

// The Job objects with a job label that are not being deleted, ordered by namespace, job and
// name: a job's Jobs side by side, in name order.
std::vector<JobMember> JobMembers(const ObjectRefs& job_objects) {
  std::vector<JobMember> members;
  members.reserve(job_objects.size());
  for (const json* object : job_objects) {
    const json* metadata = Child(object, "metadata");
    const std::string& job = Text(Child(Child(metadata, "labels"), kJobLabel));
    if (job.empty() || Child(metadata, "deletionTimestamp") != nullptr) continue;
    members.push_back({&Text(Child(metadata, "namespace")), &job, &Text(Child(metadata, "name")),
                       object, metadata});
  }
  std::sort(members.begin(), members.end(), [](const JobMember& a, const JobMember& b) {
    return std::tie(*a.namespace_name, *a.job, *a.name) <
           std::tie(*b.namespace_name, *b.job, *b.name);
  });
  return members;
}

// The applied specs of one listing's Job objects: a version `parsed` holds is taken from there
// (its entry moved, not copied), any other read; Finish leaves this listing's in `parsed`.
class ListingSpecs {
 public:
  ListingSpecs(AppliedSpecCache* parsed, size_t objects) : parsed_(parsed) {
    seen_.shared = parsed != nullptr ? parsed->shared : nullptr;
    if (parsed != nullptr) seen_.by_version.reserve(objects);
  }

  std::shared_ptr<const TrainingJob> Of(const JobMember& member) {
    const std::string& version = Text(Child(member.metadata, "resourceVersion"));
    const bool keyed = parsed_ != nullptr && !version.empty();
    if (keyed) {
      id_.assign(*member.namespace_name).append("/").append(*member.name).append("@");
      id_.append(version);
      if (auto again = seen_.by_version.find(id_); again != seen_.by_version.end()) {
        return again->second;
      }
      if (auto known = parsed_->by_version.find(id_); known != parsed_->by_version.end()) {
        return seen_.by_version.insert(parsed_->by_version.extract(known)).position->second;
      }
    }
    std::shared_ptr<const TrainingJob> applied = ParseAppliedSpec(*member.object, seen_.shared);
    if (keyed) seen_.by_version.emplace(id_, applied);
    return applied;
  }

  void Finish() {
    if (parsed_ != nullptr) parsed_->by_version = std::move(seen_.by_version);
  }

 private:
  AppliedSpecCache* parsed_;
  AppliedSpecCache seen_;
  std::string id_;  // reused: looking up a known version allocates nothing
};

// The LiveJob of one job's Job objects [begin, end) (mapping.h, LiveJobsFromObjects).
LiveJob LiveJobOfMembers(const JobMember* begin, const JobMember* end, ListingSpecs& specs) {
  const JobMember& first = *begin;
  LiveJob live;
  live.key = {BackendKind::kKubernetes, *first.namespace_name, *first.job};
  const json* annotations = Child(first.metadata, "annotations");
  live.instance = Text(Child(Child(first.metadata, "labels"), kInstanceLabel));
  live.source_path = Text(Child(annotations, kSourcePathAnnotation));
  live.revision = Text(Child(annotations, kRevisionAnnotation));
  std::vector<const json*> objects;
  objects.reserve(static_cast<size_t>(end - begin));
  for (const JobMember* member = begin; member != end; ++member) {
    objects.push_back(member->object);
    if (Text(Child(Child(member->metadata, "annotations"), kPruneAnnotation)) == "false") {
      live.prune_protected = true;
    }
    const std::string& role = Text(Child(Child(member->metadata, "labels"), kRoleLabel));
    if (!role.empty()) {
      live.replicas[role] =
          static_cast<int>(Integer(Child(Child(member->object, "spec"), "parallelism")));
    }
    if (!live.applied) live.applied = specs.Of(*member);
  }
  // A role Job that is gone runs 0 replicas (drift: scaled back into existence), unless the job
  // has a TTL: then Kubernetes removed it because that role finished, and recreating it would
  // run finished work again. Left out, the role counts as running as applied.
  if (live.applied && !live.applied->ttl_seconds_after_finished) {
    for (const auto& [role, spec] : live.applied->roles) live.replicas.try_emplace(role, 0);
  }
  live.phase = GroupPhase(objects);
  if (live.phase == LivePhase::kSuspended &&
      std::any_of(objects.begin(), objects.end(),
                  [&](const json* object) { return HeldByKueue(*object, live.applied.get()); })) {
    live.phase = LivePhase::kQueued;
  }
  return live;
}

// True when `object` (of an earlier listing) and `member` are the same version of one Job: the
// same object, or the same name at the same resourceVersion (a re-list makes new objects).
bool SameVersion(const json* object, const JobMember& member) {
  if (object == member.object) return true;
  const json* metadata = Child(object, "metadata");
  const std::string& version = Text(Child(metadata, "resourceVersion"));
  return !version.empty() && version == Text(Child(member.metadata, "resourceVersion")) &&
         Text(Child(metadata, "name")) == *member.name;
}

// True when `known` was read from exactly the Job objects [begin, end).
bool ReadFrom(const JobListing::Job& known, const JobMember* begin, const JobMember* end) {
  if (known.objects.size() != static_cast<size_t>(end - begin)) return false;
  for (size_t i = 0; i < known.objects.size(); ++i) {
    if (!SameVersion(known.objects[i], begin[i])) return false;
  }
  return true;
}

// The LiveJobs of `job_objects`, each taken from `last` when read from the same objects there,
// else read; `next`, when given, receives each with its objects.
std::vector<LiveJob> ListMembers(const ObjectRefs& job_objects, AppliedSpecCache* parsed,
                                 const JobListing* last, JobListing* next) {
  const std::vector<JobMember> members = JobMembers(job_objects);
  size_t jobs = members.empty() ? 0 : 1;
  for (size_t i = 1; i < members.size(); ++i) jobs += SameJob(members[i - 1], members[i]) ? 0 : 1;
  ListingSpecs specs(parsed, members.size());
  std::vector<LiveJob> out;
  out.reserve(jobs);
  if (next != nullptr) next->jobs.reserve(jobs);
  size_t previous = 0;  // `last` and `members` are both ordered by namespace, then job
  for (size_t begin = 0, end = 0; begin < members.size(); begin = end) {
    for (end = begin + 1; end < members.size() && SameJob(members[begin], members[end]); ++end) {
    }
    const JobMember& first = members[begin];
    const LiveJob* known = nullptr;
    if (last != nullptr) {
      auto before = [&](const LiveJob& live) {
        return std::tie(live.key.namespace_name, live.key.name) <
               std::tie(*first.namespace_name, *first.job);
      };
      while (previous < last->jobs.size() && before(last->jobs[previous].live)) ++previous;
      if (previous < last->jobs.size() &&
          ReadFrom(last->jobs[previous], &first, members.data() + end)) {
        known = &last->jobs[previous].live;
      }
    }
    out.push_back(known != nullptr ? *known
                                   : LiveJobOfMembers(&first, members.data() + end, specs));
    if (next != nullptr) {
      JobListing::Job& entry = next->jobs.emplace_back();
      entry.objects.reserve(end - begin);
      for (size_t i = begin; i < end; ++i) entry.objects.push_back(members[i].object);
      entry.live = out.back();
    }
  }
  specs.Finish();
  return out;
}

// The objects that differ between two listings of one watch cache, each in the order of the
// cache's keys: those of `before` no longer there (gone, or replaced by a new version) and those
// of `after` new since (added, or a new version). Nullopt when more than `limit` differ: then
// reading everything again is as cheap.
struct ObjectChanges {
  std::vector<const json*> gone;
  std::vector<const json*> came;
};

std::string CacheKeyOf(const json& object) {
  const json* metadata = Child(&object, "metadata");
  return Text(Child(metadata, "namespace")) + "/" + Text(Child(metadata, "name"));
}

std::optional<ObjectChanges> ChangedObjects(const std::vector<std::shared_ptr<const json>>& before,
                                            const std::vector<std::shared_ptr<const json>>& after,
                                            size_t limit) {
  ObjectChanges changes;
  size_t i = 0;
  size_t j = 0;
  // Unchanged objects are the same objects (the cache replaces an object, never changes it):
  // only where the two differ are keys read and compared.
  while (i < before.size() || j < after.size()) {
    if (i < before.size() && j < after.size() && before[i] == after[j]) {
      ++i;
      ++j;
      continue;
    }
    int order = i == before.size() ? 1 : j == after.size() ? -1 : 0;
    if (order == 0) order = CacheKeyOf(*before[i]).compare(CacheKeyOf(*after[j]));
    if (order <= 0) changes.gone.push_back(before[i++].get());
    if (order >= 0) changes.came.push_back(after[j++].get());
    if (changes.gone.size() + changes.came.size() > limit) return std::nullopt;
  }
  return changes;
}

using JobName = std::pair<std::string, std::string>;  // namespace, jobsync.dev/job

// The listing of `objects` from `last`, when few objects changed since: the LiveJobs of the jobs
// those objects belong to (or belonged to) are read again, every other is moved over from `last`.
std::vector<LiveJob> ListChanged(const ObjectChanges& changes, AppliedSpecCache* parsed,
                                 JobListing* last, JobListing* next) {
  // The jobs to read again. An unchanged object belongs to the job it belonged to: its labels
  // are its own.
  std::set<JobName> dirty;
  for (const std::vector<const json*>* side : {&changes.gone, &changes.came}) {
    for (const json* object : *side) {
      const json* metadata = Child(object, "metadata");
      const std::string& job = Text(Child(Child(metadata, "labels"), kJobLabel));
      if (!job.empty()) dirty.emplace(Text(Child(metadata, "namespace")), job);
    }
  }
  const std::set<const json*> gone(changes.gone.begin(), changes.gone.end());
  ListingSpecs specs(parsed, dirty.size());
  std::vector<LiveJob> out;
  out.reserve(last->jobs.size() + dirty.size());
  next->jobs.reserve(last->jobs.size() + dirty.size());
  // A dirty job's objects now: its unchanged ones from `last`, and the new ones with its name.
  auto read_again = [&](const JobName& name, const JobListing::Job* known) {
    ObjectRefs objects;
    if (known != nullptr) {
      for (const json* object : known->objects) {
        if (gone.count(object) == 0) objects.push_back(object);
      }
    }
    for (const json* object : changes.came) {
      const json* metadata = Child(object, "metadata");
      if (Text(Child(Child(metadata, "labels"), kJobLabel)) == name.second &&
          Text(Child(metadata, "namespace")) == name.first) {
        objects.push_back(object);
      }
    }
    const std::vector<JobMember> members = JobMembers(objects);
    if (members.empty()) return;  // every Job of it gone, or being deleted
    const JobMember* end = members.data() + members.size();
    // New objects at the versions `last` read (a re-list of a few objects) are not read again.
    out.push_back(known != nullptr && ReadFrom(*known, members.data(), end)
                      ? known->live
                      : LiveJobOfMembers(members.data(), end, specs));
    JobListing::Job& entry = next->jobs.emplace_back();
    for (const JobMember& member : members) entry.objects.push_back(member.object);
    entry.live = out.back();
  };
  auto next_dirty = dirty.begin();
  for (JobListing::Job& known : last->jobs) {
    const JobName name(known.live.key.namespace_name, known.live.key.name);
    for (; next_dirty != dirty.end() && *next_dirty < name; ++next_dirty) {
      read_again(*next_dirty, nullptr);
    }
    if (next_dirty != dirty.end() && *next_dirty == name) {
      read_again(*next_dirty++, &known);
      continue;
    }
    out.push_back(known.live);
    next->jobs.push_back(std::move(known));
  }
  for (; next_dirty != dirty.end(); ++next_dirty) read_again(*next_dirty, nullptr);
  specs.Finish();
  return out;
}

}  // namespace

std::vector<LiveJob> LiveJobsFromObjects(const ObjectRefs& job_objects, AppliedSpecCache* parsed) {
  return ListMembers(job_objects, parsed, nullptr, nullptr);
}

std::vector<LiveJob> ListCachedJobs(std::vector<std::shared_ptr<const json>> objects,
                                    AppliedSpecCache* parsed, JobListing* last) {
  JobListing next;
  // Between two cycles a handful of 10,000 objects change; after a re-list, all of them.
  const std::optional<ObjectChanges> changes =
      ChangedObjects(last->held, objects, std::max<size_t>(64, objects.size() / 8));
  std::vector<LiveJob> out = changes ? ListChanged(*changes, parsed, last, &next)
                                     : ListMembers(RefsOf(objects), parsed, last, &next);
  // The last listing's objects are let go only now: until here, an address it held could not
  // be a new object's.
  next.held = std::move(objects);
  *last = std::move(next);
  return out;
}

Health HealthFromObjects(const std::vector<json>& job_objects, const std::vector<json>& pods,
                         std::chrono::system_clock::time_point now,
                         std::chrono::seconds pending_grace) {
  std::vector<const json*> jobs;
  jobs.reserve(job_objects.size());
  for (const json& object : job_objects) jobs.push_back(&object);
  if (jobs.empty()) return Health::kMissing;
  switch (GroupPhase(jobs)) {
    case LivePhase::kFailed:
      return Health::kFailed;
    case LivePhase::kSucceeded:
      return Health::kSucceeded;
    case LivePhase::kSuspended:
      for (const json* job : jobs) {
        if (Label(*job, kQueueLabel).empty()) continue;
        StatusOr<TrainingJob> applied =
            TrainingJobFromCanonicalText(Annotation(*job, kSpecAnnotation));
        if (applied.ok() && HeldByKueue(*job, &*applied)) return Health::kQueued;
      }
      return Health::kSuspended;
    default:
      break;
  }
  for (const json* job : jobs) {
    if (Integer(Child(Child(job, "status"), "failed")) > 0) return Health::kDegraded;
  }
  for (const json& pod : pods) {
    const std::string& phase = Text(Child(Child(&pod, "status"), "phase"));
    if (phase == "Failed") return Health::kDegraded;
    if (phase != "Pending") continue;
    std::optional<std::chrono::system_clock::time_point> created =
        ParseTimestamp(Text(Child(Child(&pod, "metadata"), "creationTimestamp")));
    if (created && now - *created > pending_grace) return Health::kDegraded;
  }
  for (const json* job : jobs) {
    const int64_t want = Integer(Child(Child(job, "spec"), "parallelism"));
    if (Integer(Child(Child(job, "status"), "ready")) < want) return Health::kProgressing;
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

void KeepCompactMetadata(const json& object, json& out) {
  auto metadata = object.find("metadata");
  if (metadata == object.end() || !metadata->is_object()) return;
  json& kept = out["metadata"] = json::object();
  KeepMembers(*metadata, kept,
              {"name", "namespace", "uid", "resourceVersion", "deletionTimestamp", "labels"});
  auto annotations = metadata->find("annotations");
  if (annotations != metadata->end() && annotations->is_object()) {
    json& ours = kept["annotations"] = json::object();
    for (const auto& [key, value] : annotations->items()) {
      if (key.rfind("jobsync.dev/", 0) == 0) ours[key] = value;
    }
  }
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
