// Fuzz target: the code that turns what Kubernetes and Ray answer into live state. The input is a
// response body, as a broken proxy, a truncated read or a hostile server could send it:
//   - Kubernetes: the body as a list of Jobs through KubernetesClient::List, LiveJobsFromObjects
//     and HealthFromObjects; the body as an error answer through StatusFromHttp; and a whole
//     KubernetesBackend whose apiserver answers the first list with the body's first line and
//     streams its other lines as watch events, read back through ListJobs (the watch cache);
//   - Ray: the body as the answer of GET /api/jobs/ through RayBackend::ListJobs and GetHealth,
//     and through the pure ParseJobList, GroupGenerations, PhaseOf, HealthOf and ToLiveJob; as
//     the answer of GET /api/jobs/<id> through ParseJobStatus;
//   - the applied spec a backend reads back: the body through TrainingJobFromCanonicalText.
//
// Wrong types, truncation and junk must give a Status or be skipped; what must hold, whatever the
// body (a violation aborts, a finding):
//   - nothing crashes, throws, trips a sanitizer, or outgrows libFuzzer's -rss_limit_mb;
//   - a backend reports one LiveJob per key, of its own backend kind (diff.h), Kubernetes ordered
//     by key (mapping.h); a Ray submission kept by ParseJobList names its job and id, and a live
//     job's readable applied spec is that job's (ray_mapping.h);
//   - a spec TrainingJobFromCanonicalText accepts keeps its canonical JSON through another
//     round trip (canonical.h).
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "backends/http_client.h"
#include "backends/kubernetes/client.h"
#include "backends/kubernetes/kubernetes_backend.h"
#include "backends/kubernetes/mapping.h"
#include "backends/ray/ray_backend.h"
#include "backends/ray/ray_mapping.h"
#include "domain/live_job.h"
#include "schemas/canonical.h"

namespace jobsync {
namespace {

using std::chrono::milliseconds;

void Check(bool condition) {
  if (!condition) std::abort();
}

// One LiveJob per key, all of `backend`.
void CheckLiveJobs(const std::vector<LiveJob>& jobs, BackendKind backend) {
  std::set<JobKey> keys;
  for (const LiveJob& job : jobs) {
    Check(job.key.backend == backend);
    Check(keys.insert(job.key).second);
  }
}

std::vector<std::string> Lines(std::string_view text) {
  std::vector<std::string> lines;
  while (!text.empty()) {
    const size_t end = text.find('\n');
    lines.emplace_back(text.substr(0, end));
    text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
  }
  return lines;
}

// A server that answers every request with `body` and streams `lines`. Not thread-safe.
class FixedServer : public HttpClient {
 public:
  FixedServer(std::string body, std::vector<std::string> lines)
      : body_(std::move(body)), lines_(std::move(lines)) {}

  // HttpClient:
  StatusOr<HttpResponse> Send(const HttpRequest& /*request*/) override {
    return HttpResponse{200, {}, body_};
  }
  StatusOr<HttpResponse> Stream(const HttpRequest& /*request*/,
                                const std::function<bool(std::string_view)>& on_line,
                                const HttpCancellation& /*cancel*/) override {
    for (const std::string& line : lines_) {
      if (!on_line(line)) break;
    }
    return HttpResponse{200, {}, ""};
  }

 private:
  const std::string body_;
  const std::vector<std::string> lines_;
};

// An apiserver for one KubernetesBackend: answers its first list of Jobs with `list_body` and
// streams `events` on its first watch (which follows only a list that succeeded). Any later
// request (the next watch, or a re-list after a failure) parks the backend's watcher until
// Release(); WaitQuiet() returns once it is parked, when the backend's cache no longer changes.
// Thread-safe.
class ScriptedApiserver : public HttpClient {
 public:
  ScriptedApiserver(std::string list_body, std::vector<std::string> events)
      : list_body_(std::move(list_body)), events_(std::move(events)) {}

  // HttpClient:
  StatusOr<HttpResponse> Send(const HttpRequest& /*request*/) override {
    if (First(&listed_)) return HttpResponse{200, {}, list_body_};
    Park();
    return UnavailableError("the fuzzed apiserver has nothing more to say");
  }
  StatusOr<HttpResponse> Stream(const HttpRequest& /*request*/,
                                const std::function<bool(std::string_view)>& on_line,
                                const HttpCancellation& /*cancel*/) override {
    if (!First(&watched_)) {
      Park();
      return HttpResponse{200, {}, ""};
    }
    for (const std::string& event : events_) {
      if (!on_line(event)) break;
    }
    return HttpResponse{200, {}, ""};
  }

  void WaitQuiet() {
    std::unique_lock<std::mutex> lock(mutex_);
    changed_.wait(lock, [this] { return quiet_; });
  }
  void Release() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      released_ = true;
    }
    changed_.notify_all();
  }

 private:
  // True the first time it is called with `done`.
  bool First(bool* done) {
    std::lock_guard<std::mutex> lock(mutex_);
    return !std::exchange(*done, true);
  }
  void Park() {
    std::unique_lock<std::mutex> lock(mutex_);
    quiet_ = true;
    changed_.notify_all();
    changed_.wait(lock, [this] { return released_; });
  }

  const std::string list_body_;
  const std::vector<std::string> events_;
  std::mutex mutex_;
  std::condition_variable changed_;
  bool listed_ = false;   // guarded by mutex_
  bool watched_ = false;  // guarded by mutex_
  bool quiet_ = false;
  bool released_ = false;
};

void FuzzKubernetesClient(const std::string& body) {
  KubernetesClientOptions options;
  options.retry.max_attempts = 1;
  KubernetesClient client(std::make_unique<FixedServer>(body, Lines(body)), options);
  StatusOr<ObjectList> list = client.List(ResourceKind::kJob, "", ManagedSelector());
  if (list.ok()) {
    const std::vector<LiveJob> jobs = LiveJobsFromObjects(list->items);
    CheckLiveJobs(jobs, BackendKind::kKubernetes);
    for (size_t i = 1; i < jobs.size(); ++i) Check(jobs[i - 1].key < jobs[i].key);
    HealthFromObjects(list->items, list->items, std::chrono::system_clock::time_point{},
                      std::chrono::seconds(300));
  }
  for (int status : {404, 409, 500}) {
    Check(!StatusFromHttp(status, body, "list batch/v1 Job").ok());
  }
}

void FuzzKubernetesBackend(const std::string& body) {
  std::vector<std::string> lines = Lines(body);
  const std::string list_body = lines.empty() ? std::string() : lines.front();
  if (!lines.empty()) lines.erase(lines.begin());
  auto server = std::make_unique<ScriptedApiserver>(list_body, std::move(lines));
  ScriptedApiserver* apiserver = server.get();
  KubernetesBackendOptions options;
  options.client.retry.max_attempts = 1;
  options.client.retry.initial_backoff = milliseconds(1);
  options.client.retry.max_backoff = milliseconds(1);
  options.cache_sync_timeout = std::chrono::seconds(0);
  auto backend = std::make_unique<KubernetesBackend>(
      std::make_unique<KubernetesClient>(std::move(server), options.client), options);
  (void)backend->ListJobs();  // starts the watcher; answers before it has listed
  apiserver->WaitQuiet();
  StatusOr<std::vector<LiveJob>> jobs = backend->ListJobs();
  if (jobs.ok()) CheckLiveJobs(*jobs, BackendKind::kKubernetes);
  apiserver->Release();
  backend.reset();
}

void FuzzRay(const std::string& body) {
  StatusOr<std::vector<RaySubmission>> submissions = ParseJobList(body);
  if (submissions.ok()) {
    for (const RaySubmission& submission : *submissions) {
      Check(!submission.submission_id.empty() && submission.key.backend == BackendKind::kRay &&
            !submission.key.namespace_name.empty() && !submission.key.name.empty());
    }
    for (const auto& [key, generations] : GroupGenerations(*submissions)) {
      PhaseOf(generations);
      HealthOf(generations);
      const LiveJob live = ToLiveJob(generations);
      Check(live.key == key);
      if (live.applied) Check(live.applied->key() == key);
    }
  }
  (void)ParseJobStatus(body);

  RayBackendOptions options;
  options.address = "http://ray.invalid:8265";
  options.instance = "prod";
  RayBackend backend(std::make_unique<FixedServer>(body, std::vector<std::string>()), options,
                     [](milliseconds /*delay*/) {});
  StatusOr<std::vector<LiveJob>> jobs = backend.ListJobs();
  if (!jobs.ok()) return;
  CheckLiveJobs(*jobs, BackendKind::kRay);
  for (const LiveJob& job : *jobs) {
    StatusOr<Health> health = backend.GetHealth(job.key);
    Check(health.ok() && *health != Health::kMissing);
  }
}

void FuzzAppliedSpec(const std::string& body) {
  StatusOr<TrainingJob> job = TrainingJobFromCanonicalText(body);
  if (!job.ok()) return;
  const nlohmann::json canonical = CanonicalSpec(*job);
  StatusOr<TrainingJob> again = TrainingJobFromCanonical(canonical);
  Check(again.ok() && CanonicalSpec(*again) == canonical);
}

}  // namespace
}  // namespace jobsync

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const bool quiet = [] {
    spdlog::set_level(spdlog::level::off);  // the watcher logs every failure it retries
    return true;
  }();
  (void)quiet;
  const std::string body(reinterpret_cast<const char*>(data), size);
  jobsync::FuzzKubernetesClient(body);
  jobsync::FuzzKubernetesBackend(body);
  jobsync::FuzzRay(body);
  jobsync::FuzzAppliedSpec(body);
  return 0;
}
