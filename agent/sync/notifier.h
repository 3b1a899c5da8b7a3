// Notifications back to the team: after a sync of a commit, its outcome goes where people look.
//
//   - A commit status on the Git host, one per commit and outcome (context/name
//     "jobsync/<instance>" by default):
//       github: POST {api}/repos/{owner}/{repo}/statuses/{sha}, Authorization: Bearer <token>,
//               Accept: application/vnd.github+json, X-GitHub-Api-Version: 2022-11-28,
//               body {state: success|failure, target_url, description, context}.
//       gitlab: POST {api}/projects/{id}/statuses/{sha} (id: a number or the URL-encoded
//               path "group%2Fproject"), PRIVATE-TOKEN: <token>,
//               body {state: success|failed, name, target_url, description}.
//     {api} is configurable (GitHub Enterprise: https://host/api/v3; self-hosted GitLab:
//     https://host/api/v4).
//   - A generic JSON webhook (Slack-compatible): POST {text, event, instance, commit, result,
//     job?, health?} once per commit and outcome ("sync"), and once per job that becomes
//     Degraded or Failed ("job").
//
// Delivery never blocks a sync: SyncFinished only decides what to send and queues it; one
// thread of the notifier drains the queue. The queue is bounded (oldest dropped first, counted
// in jobsync_notifications_dropped_total); each request is retried on connection failures, 429
// and 5xx with exponential backoff up to max_attempts, and given up on other answers (a 4xx will
// not change by retrying). Outcomes are counted in jobsync_notifications_total{sink,result}.
// Tokens and the webhook URL (a Slack URL is itself a credential) never appear in logs or
// messages: the caller registers them as secrets, and log lines name the sink, not the URL.
#ifndef JOBSYNC_AGENT_SYNC_NOTIFIER_H_
#define JOBSYNC_AGENT_SYNC_NOTIFIER_H_

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "backends/http_client.h"
#include "common/metrics.h"
#include "common/status.h"

namespace jobsync {

// The outcome of one sync cycle of a commit, as the reconciler hands it over.
struct SyncReport {
  std::string commit;   // full id
  std::string summary;  // the commit's first line
  bool ok = false;      // every job in sync
  std::string message;  // the first problem when not ok
  struct Job {
    std::string key;  // backend/namespace/name
    std::string health;
    std::string last_error;
  };
  std::vector<Job> jobs;
};

// What the reconciler calls after each cycle that planned, when this replica writes and Git
// could be read. Implementations must return at once (no I/O) and be thread-safe.
class SyncNotifier {
 public:
  virtual ~SyncNotifier() = default;
  virtual void SyncFinished(const SyncReport& report) = 0;
};

enum class CommitStatusProvider { kGitHub, kGitLab };

struct NotifierOptions {
  std::string instance;
  // Commit status; off when api_url is empty.
  CommitStatusProvider provider = CommitStatusProvider::kGitHub;
  std::string api_url;     // "https://api.github.com", "https://gitlab.example.com/api/v4"
  std::string repository;  // github: "owner/repo"; gitlab: project id or "group/project"
  std::string token;       // secret
  std::string context;     // status context (GitHub) / name (GitLab)
  std::string target_url;  // linked from the status, e.g. the agent's status page; optional
  std::string ca_pem;      // the authorities of a self-hosted host; empty: the system's
  // Generic webhook; off when empty. A secret (a Slack URL carries its token).
  std::string webhook_url;
  size_t queue_capacity = 100;
  int max_attempts = 5;
  std::chrono::milliseconds initial_backoff{1000};
  std::chrono::milliseconds max_backoff{30000};
  std::chrono::milliseconds request_timeout{10000};
};

// "github", "gitlab"; nullopt for anything else.
std::optional<CommitStatusProvider> ParseCommitStatusProvider(std::string_view name);
// The default API URL of a provider ("https://api.github.com", "https://gitlab.com/api/v4").
const char* DefaultApiUrl(CommitStatusProvider provider);

// Splits "https://host:port/some/path" into the base "https://host:port" and the path
// ("/some/path", "" when none). kInvalidArgument (without echoing the URL, which may be a
// secret) unless it is an http(s) URL.
Status SplitUrl(std::string_view url, std::string* base, std::string* path);

// The HTTP notifier described above. Start() runs its thread; Stop() (or the destructor) ends it,
// dropping what is still queued. SyncFinished is thread-safe and never blocks on the network.
class HttpNotifier : public SyncNotifier {
 public:
  // `metrics` must outlive the notifier.
  HttpNotifier(NotifierOptions options, Metrics& metrics);
  ~HttpNotifier() override;
  HttpNotifier(const HttpNotifier&) = delete;
  HttpNotifier& operator=(const HttpNotifier&) = delete;

  // Checks the options (kInvalidArgument: a bad URL, a commit status without repository or
  // token) and starts the delivery thread.
  Status Start();
  void Stop();

  // SyncNotifier:
  void SyncFinished(const SyncReport& report) override;

  // Requests queued and not yet finished (sent or given up).
  size_t pending() const;
  // Waits until nothing is pending or `timeout` passed (`jobsync run --once` before it exits).
  void Drain(std::chrono::milliseconds timeout);

 private:
  struct Delivery {
    std::string sink;  // "commit-status" or "webhook"
    std::string path;
    std::map<std::string, std::string> headers;
    std::string body;
  };
  void Enqueue(Delivery delivery);
  void Loop();
  // Sends with retries; the outcome is counted and logged.
  void Deliver(const Delivery& delivery);
  Delivery CommitStatus(const SyncReport& report) const;
  Delivery Webhook(const nlohmann::json& payload) const;
  // `text` with the token and the webhook URL replaced.
  std::string Redacted(std::string text) const;

  NotifierOptions options_;
  Metrics& metrics_;
  std::unique_ptr<HttpClient> status_client_;
  std::string status_path_prefix_;
  std::unique_ptr<HttpClient> webhook_client_;
  std::string webhook_path_;

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable drained_;
  std::deque<Delivery> queue_;
  bool delivering_ = false;
  bool stopping_ = false;
  // Dedup: the outcome last queued for each of the latest few hundred commits (and their order),
  // and each job's health as last seen.
  std::map<std::string, std::string> outcomes_;
  std::deque<std::string> outcome_order_;
  std::map<std::string, std::string> health_;
  std::thread thread_;
};

}  // namespace jobsync

#endif  // JOBSYNC_AGENT_SYNC_NOTIFIER_H_
