// The listing of Job objects as LiveJobs (mapping.h, "LiveJobsFromObjects" and
// "ListCachedJobs"): grouping a watch cache's Jobs by job, reading each group once, and a
// listing that reads again only what changed since the last one.
#include <algorithm>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "backends/kubernetes/mapping.h"
#include "backends/kubernetes/object_fields.h"

namespace jobsync {

using nlohmann::json;

ObjectRefs RefsOf(const std::vector<json>& objects) {
  ObjectRefs refs;
  refs.reserve(objects.size());
  for (const json& object : objects) refs.push_back(&object);
  return refs;
}

ObjectRefs RefsOf(const std::vector<std::shared_ptr<const CachedObject>>& objects) {
  ObjectRefs refs;
  refs.reserve(objects.size());
  for (const std::shared_ptr<const CachedObject>& cached : objects) {
    refs.push_back(&cached->object());
  }
  return refs;
}

const json& CachedObject::object() const {
  static const json kNone;
  const json* object = std::get_if<json>(&kept);
  return object != nullptr ? *object : kNone;
}

std::string CachedObject::Key() const {
  const JobRecord* record = job();
  return record != nullptr ? record->namespace_name + "/" + record->name : CacheKeyOf(object());
}

const std::string& CachedObject::ResourceVersion() const {
  const JobRecord* record = job();
  return record != nullptr ? record->resource_version
                           : Text(Child(Child(&object(), "metadata"), "resourceVersion"));
}

const std::string& CachedObject::Uid() const {
  const JobRecord* record = job();
  return record != nullptr ? record->uid : Text(Child(Child(&object(), "metadata"), "uid"));
}

CachedObject CachedJobOf(const json& job_object, const SharedSpecs* shared, bool read_applied) {
  CachedObject cached{JobRecordOf(job_object), nullptr};
  if (read_applied) cached.applied = ParseAppliedSpec(job_object, shared);
  return cached;
}

std::vector<LiveJob> LiveJobsFromObjects(const std::vector<json>& job_objects,
                                         AppliedSpecCache* parsed) {
  return LiveJobsFromObjects(RefsOf(job_objects), parsed);
}

namespace {

// One listed Job that belongs to a job: its record, and either the watch cache's entry it is
// (ListCachedJobs: `cached`, its applied spec read when cached) or the whole object it was read
// from (LiveJobsFromObjects: `object`, its annotation read by ListingSpecs).
struct JobMember {
  const JobRecord* record;
  const json* object;
  const CachedObject* cached;
};

bool SameJob(const JobMember& a, const JobMember& b) {
  return a.record->job == b.record->job && a.record->namespace_name == b.record->namespace_name;
}

// Adds the Job `record` to `members` when it belongs to a job and is not being deleted.
void AddMember(const JobRecord* record, const json* object, const CachedObject* cached,
               std::vector<JobMember>& members) {
  if (record == nullptr || record->job.empty() || record->being_deleted) return;
  members.push_back({record, object, cached});
}

// Orders `members` by namespace, job and name: a job's Jobs side by side, in name order.
void SortMembers(std::vector<JobMember>& members) {
  std::sort(members.begin(), members.end(), [](const JobMember& a, const JobMember& b) {
    return std::tie(a.record->namespace_name, a.record->job, a.record->name) <
           std::tie(b.record->namespace_name, b.record->job, b.record->name);
  });
}

std::vector<JobMember> JobMembers(const std::vector<const CachedObject*>& job_objects) {
  std::vector<JobMember> members;
  members.reserve(job_objects.size());
  for (const CachedObject* cached : job_objects) {
    AddMember(cached->job(), nullptr, cached, members);
  }
  SortMembers(members);
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
    if (member.object == nullptr) return member.cached->applied;
    const JobRecord& record = *member.record;
    const std::string& version = record.resource_version;
    const bool keyed = parsed_ != nullptr && !version.empty();
    if (keyed) {
      id_.assign(record.namespace_name).append("/").append(record.name).append("@");
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
  const JobRecord& first = *begin->record;
  LiveJob live;
  live.key = {BackendKind::kKubernetes, first.namespace_name, first.job};
  live.instance = first.instance;
  live.source_path = first.source_path;
  live.revision = first.revision;
  std::vector<LivePhase> phases;
  phases.reserve(static_cast<size_t>(end - begin));
  for (const JobMember* member = begin; member != end; ++member) {
    const JobRecord& record = *member->record;
    phases.push_back(record.phase);
    if (record.prune_protected) live.prune_protected = true;
    if (!record.role.empty()) live.replicas[record.role] = static_cast<int>(record.parallelism);
    if (!live.applied) live.applied = specs.Of(*member);
  }
  // A role Job that is gone runs 0 replicas (drift: scaled back into existence), unless the job
  // has a TTL: then Kubernetes removed it because that role finished, and recreating it would
  // run finished work again. Left out, the role counts as running as applied.
  if (live.applied && !live.applied->ttl_seconds_after_finished) {
    for (const auto& [role, spec] : live.applied->roles) live.replicas.try_emplace(role, 0);
  }
  live.phase = GroupPhase(phases);
  if (live.phase == LivePhase::kSuspended && std::any_of(begin, end, [&](const JobMember& member) {
        return HeldByKueue(*member.record, live.applied.get());
      })) {
    live.phase = LivePhase::kQueued;
  }
  return live;
}

// True when `cached` (of an earlier listing) and `member` are the same version of one Job: the
// same object, or the same name at the same resourceVersion (a re-list makes new objects).
bool SameVersion(const CachedObject* cached, const JobMember& member) {
  if (cached == member.cached) return true;
  const JobRecord* record = cached->job();
  return record != nullptr && !record->resource_version.empty() &&
         record->resource_version == member.record->resource_version &&
         record->name == member.record->name;
}

// True when `known` was read from exactly the Job objects [begin, end).
bool ReadFrom(const JobListing::Job& known, const JobMember* begin, const JobMember* end) {
  if (known.objects.size() != static_cast<size_t>(end - begin)) return false;
  for (size_t i = 0; i < known.objects.size(); ++i) {
    if (!SameVersion(known.objects[i], begin[i])) return false;
  }
  return true;
}

// Records in `next` the LiveJob `live`, read from the Job objects [begin, end).
void Keep(const JobMember* begin, const JobMember* end, const LiveJob& live, JobListing* next) {
  JobListing::Job& entry = next->jobs.emplace_back();
  entry.objects.reserve(static_cast<size_t>(end - begin));
  for (const JobMember* member = begin; member != end; ++member) {
    entry.objects.push_back(member->cached);
  }
  entry.live = live;
}

// The LiveJobs of `job_objects`, each taken from `last` when read from the same objects there,
// else read; `next`, when given, receives each with its objects.
std::vector<LiveJob> ListMembers(const std::vector<JobMember>& members, AppliedSpecCache* parsed,
                                 const JobListing* last, JobListing* next) {
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
               std::tie(first.record->namespace_name, first.record->job);
      };
      while (previous < last->jobs.size() && before(last->jobs[previous].live)) ++previous;
      if (previous < last->jobs.size() &&
          ReadFrom(last->jobs[previous], &first, members.data() + end)) {
        known = &last->jobs[previous].live;
      }
    }
    out.push_back(known != nullptr ? *known
                                   : LiveJobOfMembers(&first, members.data() + end, specs));
    if (next != nullptr) Keep(&first, members.data() + end, out.back(), next);
  }
  specs.Finish();
  return out;
}

// The objects that differ between two listings of one watch cache, each in the order of the
// cache's keys: those of `before` no longer there (gone, or replaced by a new version) and those
// of `after` new since (added, or a new version). Nullopt when more than `limit` differ: then
// reading everything again is as cheap.
struct ObjectChanges {
  std::vector<const CachedObject*> gone;
  std::vector<const CachedObject*> came;
};

std::optional<ObjectChanges> ChangedObjects(
    const std::vector<std::shared_ptr<const CachedObject>>& before,
    const std::vector<std::shared_ptr<const CachedObject>>& after, size_t limit) {
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
    if (order == 0) order = before[i]->Key().compare(after[j]->Key());
    if (order <= 0) changes.gone.push_back(before[i++].get());
    if (order >= 0) changes.came.push_back(after[j++].get());
    if (changes.gone.size() + changes.came.size() > limit) return std::nullopt;
  }
  return changes;
}

using JobName = std::pair<std::string, std::string>;  // namespace, jobsync.dev/job

// The job `cached` belongs to; its second part is empty for an object without the job label.
JobName JobNameOf(const CachedObject* cached) {
  const JobRecord* record = cached->job();
  if (record == nullptr) return {};
  return {record->namespace_name, record->job};
}

// The listing of `objects` from `last`, when few objects changed since: the LiveJobs of the jobs
// those objects belong to (or belonged to) are read again, every other is moved over from `last`.
std::vector<LiveJob> ListChanged(const ObjectChanges& changes, JobListing* last, JobListing* next) {
  // The jobs to read again. An unchanged object belongs to the job it belonged to: its labels
  // are its own.
  std::set<JobName> dirty;
  for (const CachedObject* object : changes.gone) {
    JobName name = JobNameOf(object);
    if (!name.second.empty()) dirty.insert(std::move(name));
  }
  // the new objects, by the job they belong to
  std::multimap<JobName, const CachedObject*> came;
  for (const CachedObject* object : changes.came) {
    JobName name = JobNameOf(object);
    if (name.second.empty()) continue;
    dirty.insert(name);
    came.emplace(std::move(name), object);
  }
  const std::set<const CachedObject*> gone(changes.gone.begin(), changes.gone.end());
  ListingSpecs specs(nullptr, dirty.size());
  std::vector<LiveJob> out;
  out.reserve(last->jobs.size() + dirty.size());
  next->jobs.reserve(last->jobs.size() + dirty.size());
  // A dirty job's objects now: its unchanged ones from `last`, and the new ones with its name.
  auto read_again = [&](const JobName& name, const JobListing::Job* known) {
    std::vector<const CachedObject*> objects;
    if (known != nullptr) {
      for (const CachedObject* object : known->objects) {
        if (gone.count(object) == 0) objects.push_back(object);
      }
    }
    for (auto [it, end] = came.equal_range(name); it != end; ++it) objects.push_back(it->second);
    const std::vector<JobMember> members = JobMembers(objects);
    if (members.empty()) return;  // every Job of it gone, or being deleted
    const JobMember* end = members.data() + members.size();
    // New objects at the versions `last` read (a re-list of a few objects) are not read again.
    out.push_back(known != nullptr && ReadFrom(*known, members.data(), end)
                      ? known->live
                      : LiveJobOfMembers(members.data(), end, specs));
    Keep(members.data(), end, out.back(), next);
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

// The objects of `held`, by address.
std::vector<const CachedObject*> Pointers(
    const std::vector<std::shared_ptr<const CachedObject>>& held) {
  std::vector<const CachedObject*> out;
  out.reserve(held.size());
  for (const std::shared_ptr<const CachedObject>& cached : held) out.push_back(cached.get());
  return out;
}

}  // namespace

std::string CacheKeyOf(const json& object) {
  const json* metadata = Child(&object, "metadata");
  return Text(Child(metadata, "namespace")) + "/" + Text(Child(metadata, "name"));
}

std::vector<LiveJob> LiveJobsFromObjects(const ObjectRefs& job_objects, AppliedSpecCache* parsed) {
  std::vector<JobRecord> records;
  records.reserve(job_objects.size());
  for (const json* object : job_objects) records.push_back(JobRecordOf(*object));
  std::vector<JobMember> members;
  members.reserve(job_objects.size());
  for (size_t i = 0; i < job_objects.size(); ++i) {
    AddMember(&records[i], job_objects[i], nullptr, members);
  }
  SortMembers(members);
  return ListMembers(members, parsed, nullptr, nullptr);
}

std::vector<LiveJob> ListCachedJobs(std::vector<std::shared_ptr<const CachedObject>> objects,
                                    JobListing* last) {
  JobListing next;
  // Between two cycles a handful of 10,000 objects change; after a re-list, all of them.
  const std::optional<ObjectChanges> changes =
      ChangedObjects(last->held, objects, std::max<size_t>(64, objects.size() / 8));
  std::vector<LiveJob> out = changes
                                 ? ListChanged(*changes, last, &next)
                                 : ListMembers(JobMembers(Pointers(objects)), nullptr, last, &next);
  // The last listing's objects are let go only now: until here, an address it held could not
  // be a new object's.
  next.held = std::move(objects);
  *last = std::move(next);
  return out;
}

}  // namespace jobsync
