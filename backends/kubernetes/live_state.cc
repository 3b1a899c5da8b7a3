// KubernetesBackend's live state: the watch caches of Jobs and JobSets and what ListJobs makes of
// them (kubernetes_backend.h, "Live state").
#include <array>
#include <charconv>
#include <memory>
#include <utility>
#include <vector>

#include <spdlog/spdlog.h>

#include "backends/kubernetes/elasticjob_mapping.h"
#include "backends/kubernetes/jobset_mapping.h"
#include "backends/kubernetes/kubernetes_backend.h"
#include "backends/kubernetes/mapping.h"
#include "backends/kubernetes/object_fields.h"
#include "backends/kubernetes/rayjob_mapping.h"

namespace jobsync {
namespace {

using nlohmann::json;

std::string StringAt(const json& object, const char* pointer) {
  const json::json_pointer path(pointer);
  if (!object.contains(path) || !object.at(path).is_string()) return "";
  return object.at(path).get<std::string>();
}

// A resourceVersion as a number when it is one (etcd revisions are), else -1: unordered.
int64_t VersionOf(const std::string& text) {
  int64_t value = -1;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  return error == std::errc() && end == text.data() + text.size() ? value : -1;
}

// Removes the objects of `namespace_name` (empty: of every namespace) from a cache keyed
// "namespace/name".
void EraseNamespace(std::map<std::string, std::shared_ptr<const CachedObject>>& cache,
                    const std::string& namespace_name) {
  if (namespace_name.empty()) {
    cache.clear();
    return;
  }
  // '0' follows '/' in ASCII: the keys "namespace/..." sort between these two bounds.
  cache.erase(cache.lower_bound(namespace_name + "/"), cache.lower_bound(namespace_name + "0"));
}

// " in namespace N" for a scope of one namespace, "" for one of all, for messages.
std::string InNamespace(const std::string& namespace_name) {
  return namespace_name.empty() ? "" : " in namespace " + namespace_name;
}

}  // namespace

// ---- live state -------------------------------------------------------------------------------

bool KubernetesBackend::Watched::synced() const {
  for (const Scope& scope : scopes) {
    if (!scope.synced) return false;
  }
  return true;
}

const KubernetesBackend::Scope* KubernetesBackend::Watched::ScopeOf(
    const std::string& namespace_name) const {
  for (const Scope& scope : scopes) {
    if (scope.namespace_name.empty() || scope.namespace_name == namespace_name) return &scope;
  }
  return nullptr;
}

StatusOr<std::vector<LiveJob>> KubernetesBackend::ListJobs() {
  std::unique_lock<std::mutex> lock(mutex_);
  if (!started_) {
    started_ = true;
    for (Watched* watched : AllWatched()) {
      for (Scope& scope : watched->scopes) {
        Scope* each = &scope;
        scope.thread = std::thread([this, watched, each] { WatchLoop(*watched, *each); });
      }
    }
  }
  // Waits out transient failures only: a refusal (403, 401, 400) will not heal by waiting.
  auto settled = [](const Scope& scope) {
    const StatusCode code = scope.last_error.code();
    const bool transient = scope.last_error.ok() || code == StatusCode::kUnavailable ||
                           code == StatusCode::kDeadlineExceeded;
    return scope.synced || !transient;
  };
  changed_.wait_for(lock, options_.cache_sync_timeout, [&] {
    if (stopping_) return true;
    for (const Watched* watched : AllWatched()) {
      for (const Scope& scope : watched->scopes) {
        if (!settled(scope)) return false;
      }
    }
    return true;
  });
  for (const Watched* watched : AllWatched()) {
    for (const Scope& scope : watched->scopes) {
      if (scope.synced) continue;
      const std::string what = std::string("cannot read the ") + watched->what +
                               InNamespace(scope.namespace_name) + " on the cluster";
      if (scope.last_error.ok()) {
        return UnavailableError(what + ": no answer within " +
                                std::to_string(options_.cache_sync_timeout.count()) + "s");
      }
      return Status(scope.last_error.code(), what + ": " + scope.last_error.message());
    }
  }
  // The cached objects themselves (shared, immutable), read after the lock is let go.
  std::array<std::vector<std::shared_ptr<const CachedObject>>, 4> held;
  for (size_t i = 0; i < AllWatched().size(); ++i) {
    const Watched& watched = *AllWatched()[i];
    held[i].reserve(watched.cache.size());
    for (const auto& [key, object] : watched.cache) held[i].push_back(object);
  }
  lock.unlock();
  const ObjectRefs jobsets = RefsOf(held[1]);
  const ObjectRefs elastic_jobs = RefsOf(held[2]);
  const ObjectRefs rayjobs = RefsOf(held[3]);
  std::vector<LiveJob> live;
  {
    std::lock_guard<std::mutex> parsing(applied_specs_mutex_);
    // The Jobs, most of them unchanged since the last listing: those are not read again.
    live = ListCachedJobs(std::move(held[0]), &job_listing_);
    std::vector<LiveJob> from_jobsets = LiveJobsFromJobSets(jobsets, &jobset_applied_specs_);
    std::vector<LiveJob> from_elastic =
        LiveJobsFromElasticJobs(elastic_jobs, &elasticjob_applied_specs_);
    std::vector<LiveJob> from_rayjobs = LiveJobsFromRayJobs(rayjobs, &rayjob_applied_specs_);
    if (!from_jobsets.empty() || !from_elastic.empty() || !from_rayjobs.empty()) {
      // A job has one workload kind; while two exist (a kind being replaced), the later of Jobs,
      // JobSet, ElasticJob and RayJob wins.
      std::map<JobKey, LiveJob> merged;
      for (std::vector<LiveJob>* kind : {&live, &from_jobsets, &from_elastic, &from_rayjobs}) {
        for (LiveJob& job : *kind) merged.insert_or_assign(job.key, std::move(job));
      }
      live.clear();
      for (auto& [key, job] : merged) live.push_back(std::move(job));
    }
  }
  AddQueueMessages(live);
  return live;
}

CachedObject KubernetesBackend::Kept(const Watched& watched, const json& object) const {
  const json* metadata = Child(&object, "metadata");
  const json* labels = Child(metadata, "labels");
  const bool ours = options_.instance.empty() || metadata == nullptr ||
                    Text(Child(labels, kInstanceLabel)) == options_.instance;
  // A Job: its record, its applied spec read when it is this instance's.
  if (watched.compact == nullptr) return CachedJobOf(object, options_.shared_specs.get(), ours);
  if (ours) return {watched.compact(object), nullptr};
  // Another instance's: its identity only (no applied spec to read).
  json kept = json::object();
  json& identity = kept["metadata"] = json::object();
  KeepMembers(*metadata, identity, {"name", "namespace", "resourceVersion", "deletionTimestamp"});
  if (labels != nullptr && labels->is_object()) {
    KeepMembers(*labels, identity["labels"] = json::object(),
                {kManagedByLabel, kInstanceLabel, kJobLabel, kRoleLabel});
  }
  return {std::move(kept), nullptr};
}

void KubernetesBackend::Remember(Watched& watched, const json& object) {
  auto compact = std::make_shared<const CachedObject>(Kept(watched, object));
  std::lock_guard<std::mutex> lock(mutex_);
  std::shared_ptr<const CachedObject>& slot = watched.cache[compact->Key()];
  const int64_t version = VersionOf(compact->ResourceVersion());
  if (!slot || version < 0 || VersionOf(slot->ResourceVersion()) <= version) {
    slot = std::move(compact);
    ++cache_generation_;
  }
}

std::shared_ptr<const CachedObject> KubernetesBackend::Cached(const Watched& watched,
                                                              const std::string& namespace_name,
                                                              const std::string& name) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto cached = watched.cache.find(namespace_name + "/" + name);
  return cached == watched.cache.end() ? nullptr : cached->second;
}

Status KubernetesBackend::Ping() {
  const std::string where = options_.namespaces.empty() ? "default" : options_.namespaces.front();
  StatusOr<nlohmann::json> got = client_->Get(ResourceKind::kJob, where, "jobsync-ping");
  const StatusCode code = got.status().code();
  if (code == StatusCode::kUnavailable || code == StatusCode::kDeadlineExceeded) {
    return got.status();
  }
  return OkStatus();
}

std::optional<uint64_t> KubernetesBackend::LiveVersion() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!started_ || !jobs_.synced() || !jobsets_.synced() || !elasticjobs_.synced() ||
      !rayjobs_.synced()) {
    return std::nullopt;
  }
  return cache_generation_;
}

bool KubernetesBackend::SleepUnlessStopping(std::chrono::milliseconds delay) {
  std::unique_lock<std::mutex> lock(mutex_);
  return !changed_.wait_for(lock, delay, [this] { return stopping_; });
}

bool KubernetesBackend::Stopping() {
  std::lock_guard<std::mutex> lock(mutex_);
  return stopping_;
}

StatusOr<std::string> KubernetesBackend::ListIntoCache(Watched& watched, Scope& scope) {
  if (watched.kind == ResourceKind::kJob) ++list_requests_;
  // Compacted page by page: only one page of whole objects is held at a time.
  std::map<std::string, std::shared_ptr<const CachedObject>> fresh;
  StatusOr<std::string> version = client_->ListEach(
      watched.kind, scope.namespace_name, watched.selector,
      [&](json&& item) {
        auto compact = std::make_shared<const CachedObject>(Kept(watched, item));
        std::string key = compact->Key();
        fresh.insert_or_assign(std::move(key), std::move(compact));
      },
      [&] { fresh.clear(); }, /*without_templates=*/true);
  const StatusCode code = version.status().code();
  if (!version.ok() && watched.optional &&
      (code == StatusCode::kNotFound || code == StatusCode::kPermissionDenied)) {
    MarkAbsent(watched, scope, version.status());
    return version.status();
  }
  if (!version.ok()) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      scope.synced = false;
      scope.last_error = version.status();
    }
    changed_.notify_all();
    spdlog::warn("kubernetes: listing {}{} failed: {}", watched.what,
                 InNamespace(scope.namespace_name), version.status().ToString());
    return version.status();
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (watched.scopes.size() == 1) {
      watched.cache = std::move(fresh);
    } else {
      EraseNamespace(watched.cache, scope.namespace_name);
      watched.cache.merge(fresh);
    }
    ++cache_generation_;
    scope.absent = false;
    scope.synced = true;
    scope.last_error = OkStatus();
  }
  changed_.notify_all();
  return version;
}

void KubernetesBackend::MarkAbsent(Watched& watched, Scope& scope, const Status& why) {
  bool first = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    first = !scope.absent;
    scope.absent = true;
    const size_t before = watched.cache.size();
    EraseNamespace(watched.cache, scope.namespace_name);
    if (watched.cache.size() != before) ++cache_generation_;
    scope.synced = true;
    scope.last_error = OkStatus();
  }
  changed_.notify_all();
  if (first) {
    spdlog::info(
        "kubernetes: no {}{} ({}); jobs with that workload cannot run here until it "
        "is served and allowed",
        watched.what, InNamespace(scope.namespace_name), why.ToString());
  }
}

void KubernetesBackend::ApplyWatchEvent(Watched& watched, const json& event, std::string& version) {
  const std::string type = StringAt(event, "/type");
  static const json kNone = json::object();
  auto found = event.find("object");
  const json& object = found != event.end() && found->is_object() ? *found : kNone;
  const std::string seen = StringAt(object, "/metadata/resourceVersion");
  if (!seen.empty()) version = seen;
  if (type == "DELETED") {
    std::lock_guard<std::mutex> lock(mutex_);
    watched.cache.erase(CacheKeyOf(object));
    ++cache_generation_;
  } else if (type == "ADDED" || type == "MODIFIED") {
    Remember(watched, object);
  }
  if (type == "DELETED" || type == "ADDED" || type == "MODIFIED") {
    std::lock_guard<std::mutex> lock(listener_mutex_);
    if (change_listener_) change_listener_();
  }
}

void KubernetesBackend::WatchLoop(Watched& watched, Scope& scope) {
  std::string version;
  bool need_list = true;
  int failures = 0;
  // Waits before the next attempt, longer after each failure in a row; false when stopping.
  auto back_off = [&] {
    ++failures;
    return SleepUnlessStopping(RetryDelay(options_.client.retry, failures, 0.5, std::nullopt));
  };
  while (!Stopping()) {
    // 1. List when there is no valid starting point for a watch.
    if (need_list) {
      StatusOr<std::string> listed = ListIntoCache(watched, scope);
      if (!listed.ok()) {
        bool absent = false;
        {
          std::lock_guard<std::mutex> lock(mutex_);
          absent = scope.absent;
        }
        // An optional API that is not there: look again after a watch's length.
        if (absent ? !SleepUnlessStopping(options_.watch_timeout) : !back_off()) return;
        continue;
      }
      version = *listed;
      need_list = false;
    }
    // 2. Watch from the last version seen until the server ends the watch or it fails.
    Status result = client_->Watch(
        watched.kind, scope.namespace_name, watched.selector, version, options_.watch_timeout,
        [&](const json& event) {
          ApplyWatchEvent(watched, event, version);
          failures = 0;
          return true;
        },
        cancel_, /*without_templates=*/true);
    if (result.ok()) continue;
    if (Stopping()) return;
    // 3. Restart: a stalled watch from the last version seen (the server replays what came
    // since, or answers 410), a refused one (410 Gone) from a fresh list, a broken one from a
    // fresh list after a backoff.
    const char* reason = result.code() == StatusCode::kFailedPrecondition ? "gone"
                         : result.code() == StatusCode::kDeadlineExceeded ? "stalled"
                                                                          : "error";
    CountWatchRestart(watched, reason);
    if (result.code() == StatusCode::kDeadlineExceeded) {
      spdlog::warn("kubernetes: watching {}{} stalled, watching again from version {}: {}",
                   watched.what, InNamespace(scope.namespace_name), version, result.ToString());
      continue;
    }
    need_list = true;
    if (result.code() == StatusCode::kFailedPrecondition) continue;  // 410 Gone: list again
    {
      std::lock_guard<std::mutex> lock(mutex_);
      scope.synced = false;
      scope.last_error = result;
    }
    spdlog::warn("kubernetes: watching {}{} failed: {}", watched.what,
                 InNamespace(scope.namespace_name), result.ToString());
    if (!back_off()) return;
  }
}

void KubernetesBackend::CountWatchRestart(const Watched& watched, const char* reason) {
  if (options_.metrics == nullptr) return;
  options_.metrics->Add(kWatchRestartsMetric, {{"resource", watched.resource}, {"reason", reason}});
}

}  // namespace jobsync
