// The jobs API the status page reads (docs/commands.md, "HTTP endpoints"):
//
//   GET /api/v1/jobs?q=&namespace=&team=&sync=&health=&page=&limit=
//       One page of the jobs the filters select, with the summary (JobsIndex::Page). 400 with
//       the reason for a bad page or limit.
//   GET /api/v1/jobs/<backend>/<namespace>/<name>[@<cluster>]
//       One job: {"revision", "job": its row, "detail": JobsSource::detail's (the last plan
//       step, the applied and desired specs in canonical JSON), "history": {"command":
//       "jobsync history NS/NAME", "url": the commits of its file at the applied revision on
//       the web host, when the repository is on one (HistoryUrl)}}. 404 naming the job when the
//       status does not list it.
//
// Every answer carries a weak ETag: the process, the status's revision and the request. A
// request whose If-None-Match holds it (or "*") is answered 304 without a body: the status has
// not changed since the client's copy. The revision counts the distinct statuses this process
// has indexed, and is in every body.
//
// The index (jobs_index.h) is built when a request finds JobsSource::version changed since the
// last build, once however many requests arrive meanwhile; requests in between share it. With
// Warm, while the API has been read in the last minute (a status page is open), a thread of its
// own builds it as soon as the version changes, so that the page's next request finds it ready
// (10,000 jobs: about 60 ms of building); an agent nobody reads builds nothing.
// Thread-safe: requests arrive on the server's connection threads.
#ifndef JOBSYNC_AGENT_SERVER_JOBS_API_H_
#define JOBSYNC_AGENT_SERVER_JOBS_API_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "agent/server/http_server.h"
#include "agent/server/jobs_index.h"

namespace jobsync {

// Where the jobs API reads the status. All three are called on connection threads, concurrently.
struct JobsSource {
  // Cheap; different whenever `status` may return a different document (Reconciler::
  // StatusRevision, Shards::StatusVersion, and the leadership the document shows).
  std::function<std::string()> version;
  // The /api/v1/status document as JSON text.
  std::function<std::string()> status;
  // Reconciler::JobDetail of a job by key (JobKey::ToString()); nullopt when unknown. May be empty.
  std::function<std::optional<nlohmann::json>(const std::string& key)> detail;
};

class JobsApi {
 public:
  explicit JobsApi(JobsSource source);
  ~JobsApi();
  JobsApi(const JobsApi&) = delete;
  JobsApi& operator=(const JobsApi&) = delete;

  // Starts the thread that checks the version every `every` and builds the index when it
  // changed and a request arrived in the last minute; stopped by the destructor. At most once.
  void Warm(std::chrono::milliseconds every);

  // Answers a request of HttpHandlers::jobs (see the header comment).
  ApiResponse Serve(const ApiRequest& request);

  // The index of the current status, built when the version changed. Never null.
  std::shared_ptr<const JobsIndex> Current();

 private:
  ApiResponse List(const JobsIndex& index, const ApiRequest& request) const;
  ApiResponse Job(const JobsIndex& index, const ApiRequest& request) const;
  // W/"<process>-<revision>-<hash of what>".
  std::string ETag(const JobsIndex& index, const std::string& what) const;

  const JobsSource source_;
  const uint32_t process_;  // tells ETags of another run of the agent apart
  std::mutex build_mutex_;  // one build at a time; the others wait for it
  std::mutex mutex_;        // index_, version_, revisions_
  std::shared_ptr<const JobsIndex> index_;
  std::string version_;
  uint64_t revisions_ = 0;
  std::mutex warm_mutex_;  // stopping_
  std::condition_variable warm_wake_;
  bool stopping_ = false;
  std::atomic<int64_t> last_request_{0};  // steady_clock seconds of the last Serve; 0: none
  std::thread warm_;
};

// True when the If-None-Match header value `header` names `etag` (weak comparison) or is "*".
bool IfNoneMatchHolds(const std::string& header, const std::string& etag);

// The web page listing the commits that touched `path` up to `revision`, when `repo` is an https
// URL of a GitHub host ("<repo>/commits/<revision>/<path>") or a GitLab host
// ("<repo>/-/commits/<revision>/<path>"), a trailing ".git" removed; "" for any other repository,
// and when revision or path is empty.
std::string HistoryUrl(const std::string& repo, const std::string& revision,
                       const std::string& path);

}  // namespace jobsync

#endif  // JOBSYNC_AGENT_SERVER_JOBS_API_H_
