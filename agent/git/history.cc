#include "agent/git/history.h"

#include <cstdint>
#include <ctime>
#include <iomanip>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <utility>

namespace jobsync {
namespace {

// The job in one commit: absent, present but invalid, or valid.
struct JobState {
  enum class Kind { kAbsent, kInvalid, kValid };
  Kind kind = Kind::kAbsent;
  TrainingJob job;  // kValid only
};

JobState FindJob(const LoadResult& manifests, const JobSelector& selector) {
  JobState state;
  for (const std::shared_ptr<const TrainingJob>& job : manifests.jobs) {
    if (selector.Matches(job->key())) {
      state.kind = JobState::Kind::kValid;
      state.job = *job;
      return state;
    }
  }
  for (const JobKey& key : manifests.invalid_jobs) {
    if (selector.Matches(key)) state.kind = JobState::Kind::kInvalid;
  }
  return state;
}

std::string Join(const std::vector<std::string>& items) {
  std::string out = "[";
  for (size_t i = 0; i < items.size(); ++i) out += (i == 0 ? "" : ", ") + items[i];
  return out + "]";
}

template <typename T>
std::string Show(const std::optional<T>& value);

std::string Show(const std::string& value) { return value.empty() ? "\"\"" : value; }
std::string Show(bool value) { return value ? "true" : "false"; }
std::string Show(int64_t value) { return std::to_string(value); }
std::string Show(int value) { return std::to_string(value); }
std::string Show(double value) {
  std::ostringstream out;
  out << value;
  return out.str();
}
std::string Show(const Quantity& value) { return value.text(); }
template <typename T>
std::string Show(const std::optional<T>& value) {
  return value ? Show(*value) : "unset";
}

// Collects "<what> <before> -> <after>" lines.
class ChangeList {
 public:
  template <typename T>
  void Field(const std::string& what, const T& before, const T& after) {
    if (!(before == after)) changes_.push_back(what + " " + Show(before) + " -> " + Show(after));
  }
  void Map(const std::string& what, const std::map<std::string, std::string>& before,
           const std::map<std::string, std::string>& after) {
    std::set<std::string> keys;
    for (const auto& [key, value] : before) keys.insert(key);
    for (const auto& [key, value] : after) keys.insert(key);
    for (const std::string& key : keys) {
      auto b = before.find(key);
      auto a = after.find(key);
      Field(what + " " + key,
            b == before.end() ? std::optional<std::string>() : std::optional(b->second),
            a == after.end() ? std::optional<std::string>() : std::optional(a->second));
    }
  }
  void Add(std::string change) { changes_.push_back(std::move(change)); }
  std::vector<std::string> Take() { return std::move(changes_); }

 private:
  std::vector<std::string> changes_;
};

std::string Pad2(int value) { return (value < 10 ? "0" : "") + std::to_string(value); }

// The author's local time as a broken-down UTC time shifted by the offset.
std::tm LocalTime(const CommitInfo& commit) {
  std::time_t shifted = static_cast<std::time_t>(commit.time + int64_t{commit.offset_minutes} * 60);
  std::tm tm{};
  gmtime_r(&shifted, &tm);
  return tm;
}

std::string OffsetText(int offset_minutes, bool with_colon) {
  int magnitude = offset_minutes < 0 ? -offset_minutes : offset_minutes;
  return std::string(offset_minutes < 0 ? "-" : "+") + Pad2(magnitude / 60) +
         (with_colon ? ":" : "") + Pad2(magnitude % 60);
}

std::string Rfc3339(const CommitInfo& commit) {
  std::tm tm = LocalTime(commit);
  std::ostringstream out;
  out << std::put_time(&tm, "%Y-%m-%dT%H:%M:%S") << OffsetText(commit.offset_minutes, true);
  return out.str();
}

// What turned `older` into `newer`; empty when nothing visible changed.
std::vector<std::string> DescribeTransition(const JobState& older, const JobState& newer) {
  using Kind = JobState::Kind;
  if (older.kind == newer.kind && newer.kind != Kind::kValid) return {};
  if (newer.kind == Kind::kAbsent) return {"deleted"};
  if (older.kind == Kind::kAbsent) {
    return {newer.kind == Kind::kValid ? "created" : "created with an invalid manifest"};
  }
  if (newer.kind == Kind::kInvalid) return {"manifest became invalid (see jobsync validate)"};
  if (older.kind == Kind::kInvalid) return {"manifest valid again"};
  std::vector<std::string> changes;
  if (older.job.source.path != newer.job.source.path) {
    changes.push_back("moved " + older.job.source.path + " -> " + newer.job.source.path);
  }
  for (std::string& change : DescribeJobChanges(older.job, newer.job)) {
    changes.push_back(std::move(change));
  }
  return changes;
}

}  // namespace

StatusOr<JobSelector> JobSelector::Parse(std::string_view text) {
  std::vector<std::string> parts;
  size_t begin = 0;
  while (true) {
    size_t slash = text.find('/', begin);
    parts.emplace_back(text.substr(begin, slash - begin));
    if (slash == std::string_view::npos) break;
    begin = slash + 1;
  }
  auto bad = [&] {
    return InvalidArgumentError("job '" + std::string(text) +
                                "' is not NAMESPACE/NAME or BACKEND/NAMESPACE/NAME");
  };
  if (parts.size() < 2 || parts.size() > 3) return bad();
  for (const std::string& part : parts) {
    if (part.empty()) return bad();
  }
  JobSelector selector;
  if (parts.size() == 3) {
    if (parts[0] == BackendName(BackendKind::kKubernetes)) {
      selector.backend = BackendKind::kKubernetes;
    } else if (parts[0] == BackendName(BackendKind::kRay)) {
      selector.backend = BackendKind::kRay;
    } else {
      return InvalidArgumentError("job '" + std::string(text) + "': unknown backend '" + parts[0] +
                                  "' (kubernetes or ray)");
    }
  }
  selector.namespace_name = parts[parts.size() - 2];
  selector.name = parts[parts.size() - 1];
  return selector;
}

bool JobSelector::Matches(const JobKey& key) const {
  return (!backend || *backend == key.backend) && key.namespace_name == namespace_name &&
         key.name == name;
}

std::string JobSelector::ToString() const {
  return (backend ? std::string(BackendName(*backend)) + "/" : "") + namespace_name + "/" + name;
}

std::vector<std::string> DescribeJobChanges(const TrainingJob& before, const TrainingJob& after) {
  ChangeList list;
  list.Field("backend", std::string(BackendName(before.backend)),
             std::string(BackendName(after.backend)));
  auto cluster = [](const TrainingJob& job) {
    return job.cluster.empty() ? std::string("(default)") : job.cluster;
  };
  list.Field("cluster", cluster(before), cluster(after));
  list.Field("suspend", before.suspend, after.suspend);
  list.Field("image", before.image, after.image);
  if (before.command != after.command) {
    list.Add("command " + Join(before.command) + " -> " + Join(after.command));
  }
  if (before.depends_on != after.depends_on) {
    list.Add("dependsOn " + Join(before.depends_on) + " -> " + Join(after.depends_on));
  }
  list.Map("env", before.env, after.env);
  list.Map("label", before.labels, after.labels);
  list.Map("annotation", before.annotations, after.annotations);
  std::set<std::string> roles;
  for (const auto& [name, role] : before.roles) roles.insert(name);
  for (const auto& [name, role] : after.roles) roles.insert(name);
  for (const std::string& name : roles) {
    auto b = before.roles.find(name);
    auto a = after.roles.find(name);
    if (b == before.roles.end()) {
      list.Add("role " + name + " added with " + Show(a->second.replicas) + " replicas");
      continue;
    }
    if (a == after.roles.end()) {
      list.Add("role " + name + " removed");
      continue;
    }
    const Role& rb = b->second;
    const Role& ra = a->second;
    list.Field(name + " replicas", rb.replicas, ra.replicas);
    list.Field(name + " minReplicas", rb.min_replicas, ra.min_replicas);
    list.Field(name + " maxReplicas", rb.max_replicas, ra.max_replicas);
    list.Field(name + " cpu", rb.resources.cpu, ra.resources.cpu);
    list.Field(name + " memory", rb.resources.memory, ra.resources.memory);
    list.Field(name + " gpu", rb.resources.gpu, ra.resources.gpu);
  }
  if (before.ray.has_value() != after.ray.has_value()) {
    list.Add(after.ray ? "ray settings added" : "ray settings removed");
  } else if (before.ray && after.ray) {
    const RaySpec& rb = *before.ray;
    const RaySpec& ra = *after.ray;
    list.Field("ray entrypoint", rb.entrypoint, ra.entrypoint);
    if (rb.runtime_env != ra.runtime_env) {
      list.Add("ray runtimeEnv " + rb.runtime_env.dump() + " -> " + ra.runtime_env.dump());
    }
    list.Field("ray entrypoint cpu", rb.entrypoint_resources.cpu, ra.entrypoint_resources.cpu);
    list.Field("ray entrypoint gpu", rb.entrypoint_resources.gpu, ra.entrypoint_resources.gpu);
    list.Field("ray entrypoint memory", rb.entrypoint_resources.memory,
               ra.entrypoint_resources.memory);
  }
  return list.Take();
}

StatusOr<std::vector<JobHistoryEntry>> JobHistory(GitSource& source, const std::string& tip,
                                                  const JobSelector& job, size_t max_commits) {
  // One commit more than asked for: the oldest one listed needs its parent to compare with.
  StatusOr<std::vector<CommitInfo>> log =
      source.FirstParentLog(tip, max_commits == 0 ? 0 : max_commits + 1);
  if (!log.ok()) return log.status();
  const bool reached_root = max_commits == 0 || log->size() <= max_commits;
  std::vector<JobHistoryEntry> history;
  JobState newer;
  for (size_t i = 0; i < log->size(); ++i) {
    const CommitInfo& commit = (*log)[i];
    JobState older;
    StatusOr<Snapshot> snapshot = source.LoadAt(commit.id);
    if (snapshot.ok()) {
      older = FindJob(snapshot->manifests, job);
    } else if (i == 0 || snapshot.status().code() != StatusCode::kNotFound) {
      return snapshot.status();
    }
    if (i > 0) {
      std::vector<std::string> changes = DescribeTransition(older, newer);
      if (!changes.empty()) {
        const JobState& located = newer.kind == JobState::Kind::kValid ? newer : older;
        history.push_back({(*log)[i - 1], located.job.source.path, std::move(changes)});
      }
    }
    newer = std::move(older);
  }
  if (reached_root && !log->empty()) {
    std::vector<std::string> changes = DescribeTransition(JobState{}, newer);
    if (!changes.empty()) history.push_back({log->back(), newer.job.source.path, changes});
  }
  return history;
}

std::string FormatCommitTime(const CommitInfo& commit) {
  std::tm tm = LocalTime(commit);
  std::ostringstream out;
  out << std::put_time(&tm, "%Y-%m-%d %H:%M:%S") << " " << OffsetText(commit.offset_minutes, false);
  return out.str();
}

std::string FormatHistoryText(const JobSelector& job, const std::vector<JobHistoryEntry>& history) {
  std::ostringstream out;
  if (history.empty()) {
    out << "no commit changed " << job.ToString() << "\n";
    return out.str();
  }
  for (const JobHistoryEntry& entry : history) {
    out << entry.commit.ShortId() << "  " << FormatCommitTime(entry.commit) << "  "
        << entry.commit.author_name << "  " << entry.commit.summary << "\n";
    for (const std::string& change : entry.changes) out << "    " << change << "\n";
  }
  return out.str();
}

nlohmann::json HistoryToJson(const JobSelector& job, const std::vector<JobHistoryEntry>& history) {
  nlohmann::json commits = nlohmann::json::array();
  for (const JobHistoryEntry& entry : history) {
    commits.push_back({{"commit", entry.commit.id},
                       {"short", entry.commit.ShortId()},
                       {"time", Rfc3339(entry.commit)},
                       {"author", entry.commit.author_name},
                       {"email", entry.commit.author_email},
                       {"summary", entry.commit.summary},
                       {"path", entry.path},
                       {"changes", entry.changes}});
  }
  return {{"job", job.ToString()}, {"commits", commits}};
}

}  // namespace jobsync
