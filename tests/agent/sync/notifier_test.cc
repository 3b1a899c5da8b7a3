// The notifier against a loopback HTTP server (cpp-httplib) that checks each request against
// the shapes GitHub's and GitLab's commit status APIs and a Slack-compatible webhook document:
// method, path, headers (auth included) and JSON body fields; and its failure cases.
#include "agent/sync/notifier.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#if !defined(CPPHTTPLIB_OPENSSL_SUPPORT) || !defined(CPPHTTPLIB_ZLIB_SUPPORT) || \
    !defined(CPPHTTPLIB_BROTLI_SUPPORT)
#error "build with the compile definitions of pkg-config cpp-httplib (PkgConfig::CPPHTTPLIB)"
#endif
#include <httplib.h>

#include "common/logging.h"
#include "tests/test_secrets.h"

namespace jobsync {
namespace {

using ::testing::HasSubstr;

constexpr char kToken[] = "ghp_notifier7TestToken0a1b2c3d";
constexpr char kSha[] = "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c";

struct Recorded {
  std::string method;
  std::string path;  // as sent (the request target, not percent-decoded)
  httplib::Headers headers;
  std::string body;
  std::string Header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? "" : it->second;
  }
};

// A loopback server that records every POST and answers `answer(n)` (n: 1-based request count);
// an answer of 0 hangs the request until the server stops.
class LoopbackServer {
 public:
  explicit LoopbackServer(std::function<int(int)> answer) : answer_(std::move(answer)) {
    server_.Post(".*", [this](const httplib::Request& request, httplib::Response& response) {
      int n = 0;
      {
        std::lock_guard<std::mutex> lock(mutex_);
        requests_.push_back({request.method, request.target, request.headers, request.body});
        n = static_cast<int>(requests_.size());
        arrived_.notify_all();
      }
      const int status = answer_(n);
      if (status == 0) {
        std::unique_lock<std::mutex> lock(mutex_);
        arrived_.wait_for(lock, std::chrono::seconds(20), [this] { return stopping_; });
        response.status = 504;
        return;
      }
      response.status = status;
      // A server that echoes the credential it was sent, as some error pages do.
      response.set_content(status >= 400 ? std::string("bad credentials: ") + kToken : "{}",
                           "application/json");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~LoopbackServer() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
      arrived_.notify_all();
    }
    server_.stop();
    thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::vector<Recorded> Requests() {
    std::lock_guard<std::mutex> lock(mutex_);
    return requests_;
  }
  // Waits up to 10 s for `count` requests; returns those seen.
  std::vector<Recorded> WaitFor(size_t count) {
    std::unique_lock<std::mutex> lock(mutex_);
    arrived_.wait_for(lock, std::chrono::seconds(10), [&] { return requests_.size() >= count; });
    return requests_;
  }

 private:
  std::function<int(int)> answer_;
  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
  std::mutex mutex_;
  std::condition_variable arrived_;
  bool stopping_ = false;
  std::vector<Recorded> requests_;
};

SyncReport Report(bool ok, const std::string& commit = kSha) {
  SyncReport report;
  report.commit = commit;
  report.summary = "Scale resnet50";
  report.ok = ok;
  report.message = ok ? "" : "kubernetes/vision/resnet50: create failed: quota exceeded";
  report.jobs = {{"kubernetes/vision/resnet50", ok ? "Healthy" : "Degraded", report.message}};
  return report;
}

NotifierOptions Fast(NotifierOptions options) {
  options.instance = "prod";
  options.initial_backoff = std::chrono::milliseconds(20);
  options.max_backoff = std::chrono::milliseconds(100);
  options.request_timeout = std::chrono::milliseconds(1000);
  return options;
}

nlohmann::json Json(const std::string& body) { return nlohmann::json::parse(body, nullptr, false); }

TEST(NotifierServerTest, PostsAGitHubCommitStatusOncePerCommitAndOutcome) {
  testing::RegisterTestSecret("notifier_test token", kToken);
  LoopbackServer server([](int) { return 201; });
  Metrics metrics;
  NotifierOptions options;
  options.api_url = server.url() + "/api/v3";  // GitHub Enterprise's layout
  options.repository = "ml/jobs";
  options.token = kToken;
  options.context = "jobsync/prod";
  options.target_url = "https://jobsync.example.com/";
  HttpNotifier notifier(Fast(options), metrics);
  ASSERT_TRUE(notifier.Start().ok());

  notifier.SyncFinished(Report(true));
  notifier.SyncFinished(Report(true));  // the next cycle finds the same: no second status
  std::vector<Recorded> requests = server.WaitFor(1);
  notifier.Drain(std::chrono::seconds(5));
  notifier.SyncFinished(Report(false));  // the outcome changed: reported
  requests = server.WaitFor(2);
  notifier.Drain(std::chrono::seconds(5));
  requests = server.Requests();
  ASSERT_EQ(requests.size(), 2u);

  const Recorded& first = requests[0];
  EXPECT_EQ(first.method, "POST");
  EXPECT_EQ(first.path, std::string("/api/v3/repos/ml/jobs/statuses/") + kSha);
  EXPECT_EQ(first.Header("Authorization"), std::string("Bearer ") + kToken);
  EXPECT_EQ(first.Header("Accept"), "application/vnd.github+json");
  EXPECT_EQ(first.Header("X-GitHub-Api-Version"), "2022-11-28");
  EXPECT_FALSE(first.Header("User-Agent").empty());
  EXPECT_THAT(first.Header("Content-Type"), HasSubstr("application/json"));
  const nlohmann::json body = Json(first.body);
  EXPECT_EQ(body["state"], "success");
  EXPECT_EQ(body["context"], "jobsync/prod");
  EXPECT_EQ(body["target_url"], "https://jobsync.example.com/");
  EXPECT_EQ(body["description"], "every job in sync");
  EXPECT_FALSE(body.contains("name"));

  const nlohmann::json failed = Json(requests[1].body);
  EXPECT_EQ(failed["state"], "failure");
  EXPECT_THAT(failed["description"].get<std::string>(), HasSubstr("quota exceeded"));
  EXPECT_LE(failed["description"].get<std::string>().size(), 140u);
  EXPECT_EQ(
      metrics.Value("jobsync_notifications_total", {{"result", "sent"}, {"sink", "commit-status"}}),
      2);
}

TEST(NotifierServerTest, PostsAGitLabCommitStatus) {
  testing::RegisterTestSecret("notifier_test token", kToken);
  LoopbackServer server([](int) { return 201; });
  Metrics metrics;
  NotifierOptions options;
  options.provider = CommitStatusProvider::kGitLab;
  options.api_url = server.url() + "/api/v4/";
  options.repository = "ml/vision/jobs";
  options.token = kToken;
  options.context = "jobsync/prod";
  HttpNotifier notifier(Fast(options), metrics);
  ASSERT_TRUE(notifier.Start().ok());
  notifier.SyncFinished(Report(false));
  const std::vector<Recorded> requests = server.WaitFor(1);
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].method, "POST");
  // The project path, URL-encoded as GitLab's :id takes it.
  EXPECT_EQ(requests[0].path, std::string("/api/v4/projects/ml%2Fvision%2Fjobs/statuses/") + kSha);
  EXPECT_EQ(requests[0].Header("PRIVATE-TOKEN"), kToken);
  EXPECT_EQ(requests[0].Header("Authorization"), "");
  const nlohmann::json body = Json(requests[0].body);
  EXPECT_EQ(body["state"], "failed");
  EXPECT_EQ(body["name"], "jobsync/prod");
  EXPECT_FALSE(body.contains("context"));
  EXPECT_FALSE(body.contains("target_url"));
}

TEST(NotifierServerTest, PostsSlackCompatibleMessagesPerOutcomeAndPerJobTurningDegraded) {
  LoopbackServer server([](int) { return 200; });
  Metrics metrics;
  NotifierOptions options;
  options.webhook_url = server.url() + "/services/T000/B000/XXXX";
  HttpNotifier notifier(Fast(options), metrics);
  ASSERT_TRUE(notifier.Start().ok());
  notifier.SyncFinished(Report(false));
  notifier.SyncFinished(Report(false));  // same outcome, job still Degraded: nothing new
  std::vector<Recorded> requests = server.WaitFor(2);
  notifier.Drain(std::chrono::seconds(5));
  requests = server.Requests();
  ASSERT_EQ(requests.size(), 2u);
  for (const Recorded& request : requests) {
    EXPECT_EQ(request.method, "POST");
    EXPECT_EQ(request.path, "/services/T000/B000/XXXX");
    EXPECT_THAT(request.Header("Content-Type"), HasSubstr("application/json"));
  }
  const nlohmann::json sync = Json(requests[0].body);
  EXPECT_EQ(sync["event"], "sync");
  EXPECT_EQ(sync["result"], "failure");
  EXPECT_THAT(sync["text"].get<std::string>(), HasSubstr("0d1a26e"));
  EXPECT_THAT(sync["text"].get<std::string>(), HasSubstr("not in sync"));
  const nlohmann::json job = Json(requests[1].body);
  EXPECT_EQ(job["event"], "job");
  EXPECT_EQ(job["job"], "kubernetes/vision/resnet50");
  EXPECT_EQ(job["health"], "Degraded");
  EXPECT_THAT(job["text"].get<std::string>(), HasSubstr("is Degraded"));
}

TEST(NotifierServerTest, RetriesA500ThenSucceeds) {
  testing::RegisterTestSecret("notifier_test token", kToken);
  LoopbackServer server([](int n) { return n == 1 ? 500 : 201; });
  Metrics metrics;
  NotifierOptions options;
  options.api_url = server.url();
  options.repository = "ml/jobs";
  options.token = kToken;
  HttpNotifier notifier(Fast(options), metrics);
  ASSERT_TRUE(notifier.Start().ok());
  notifier.SyncFinished(Report(true));
  const std::vector<Recorded> requests = server.WaitFor(2);
  notifier.Drain(std::chrono::seconds(5));
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[0].body, requests[1].body);
  EXPECT_EQ(
      metrics.Value("jobsync_notifications_total", {{"result", "sent"}, {"sink", "commit-status"}}),
      1);
}

TEST(NotifierServerTest, GivesUpOnA4xxAndAfterMaxAttempts) {
  testing::RegisterTestSecret("notifier_test token", kToken);
  LoopbackServer rejecting([](int) { return 422; });
  LoopbackServer failing([](int) { return 503; });
  Metrics metrics;
  NotifierOptions options;
  options.repository = "ml/jobs";
  options.token = kToken;
  options.max_attempts = 3;
  options.api_url = rejecting.url();
  HttpNotifier rejected(Fast(options), metrics);
  options.api_url = failing.url();
  HttpNotifier failed(Fast(options), metrics);
  ASSERT_TRUE(rejected.Start().ok());
  ASSERT_TRUE(failed.Start().ok());
  rejected.SyncFinished(Report(true));
  failed.SyncFinished(Report(true));
  rejected.Drain(std::chrono::seconds(5));
  failed.Drain(std::chrono::seconds(5));
  EXPECT_EQ(rejecting.Requests().size(), 1u);  // a 4xx is not retried
  EXPECT_EQ(failing.Requests().size(), 3u);    // a 5xx is, up to max_attempts
  EXPECT_EQ(metrics.Value("jobsync_notifications_total",
                          {{"result", "failed"}, {"sink", "commit-status"}}),
            2);
}

TEST(NotifierServerTest, AHungServerNeverBlocksTheSyncAndAFullQueueDropsTheOldest) {
  testing::RegisterTestSecret("notifier_test token", kToken);
  LoopbackServer hung([](int) { return 0; });
  Metrics metrics;
  NotifierOptions options;
  options.api_url = hung.url();
  options.repository = "ml/jobs";
  options.token = kToken;
  options.queue_capacity = 2;
  HttpNotifier notifier(Fast(options), metrics);
  ASSERT_TRUE(notifier.Start().ok());
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 6; ++i) notifier.SyncFinished(Report(true, std::string(40, 'a' + i)));
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_LT(took, std::chrono::milliseconds(200));
  hung.WaitFor(1);
  EXPECT_LE(notifier.pending(), 3u);  // one in flight, at most two queued
  EXPECT_GE(metrics.Value("jobsync_notifications_dropped_total", {{"sink", "commit-status"}}), 3);
}

TEST(NotifierServerTest, NeverLogsTheTokenOrTheWebhookUrl) {
  testing::RegisterTestSecret("notifier_test token", kToken);
  LoopbackServer server([](int) { return 401; });
  const std::string webhook_url = server.url() + "/services/T9/B9/sl4ckS3cretPath77";
  testing::RegisterTestSecret("notifier_test webhook URL", webhook_url);
  ASSERT_TRUE(SetUpLogging("text", "debug").ok());
  Metrics metrics;
  NotifierOptions options;
  options.api_url = server.url();
  options.repository = "ml/jobs";
  options.token = kToken;
  options.webhook_url = webhook_url;
  ::testing::internal::CaptureStderr();
  {
    HttpNotifier notifier(Fast(options), metrics);
    ASSERT_TRUE(notifier.Start().ok());
    notifier.SyncFinished(Report(false));
    server.WaitFor(3);  // the status, the sync message, the job message
    notifier.Drain(std::chrono::seconds(5));
  }
  const std::string logs = ::testing::internal::GetCapturedStderr();
  EXPECT_THAT(logs, HasSubstr("notification not sent"));  // the failure is logged...
  EXPECT_THAT(logs, HasSubstr("HTTP 401"));
  EXPECT_EQ(logs.find(kToken), std::string::npos) << logs;  // ...without the secrets
  EXPECT_EQ(logs.find("sl4ckS3cretPath77"), std::string::npos) << logs;
}

// Connection errors name the request ("POST http://host/services/..."): the URL as configured,
// trailing slash included, is posted to and never logged.
TEST(NotifierServerTest, NeverLogsAWebhookUrlEndingInASlash) {
  std::string closed;
  {
    LoopbackServer server([](int) { return 200; });
    closed = server.url();  // nothing listens there once the server is gone
  }
  const std::string webhook_url = closed + "/services/T8/B8/tr4ilingS3cret66/";
  testing::RegisterTestSecret("notifier_test webhook URL with a slash", webhook_url);
  ASSERT_TRUE(SetUpLogging("text", "debug").ok());
  Metrics metrics;
  NotifierOptions options;
  options.webhook_url = webhook_url;
  options.max_attempts = 1;
  ::testing::internal::CaptureStderr();
  {
    HttpNotifier notifier(Fast(options), metrics);
    ASSERT_TRUE(notifier.Start().ok());
    notifier.SyncFinished(Report(false));
    notifier.Drain(std::chrono::seconds(5));
  }
  const std::string logs = ::testing::internal::GetCapturedStderr();
  EXPECT_THAT(logs, HasSubstr("notification"));                         // the failure is logged...
  EXPECT_EQ(logs.find("tr4ilingS3cret66"), std::string::npos) << logs;  // ...without the secret
}

TEST(NotifierTest, RefusesIncompleteSettingsAndSplitsUrls) {
  Metrics metrics;
  NotifierOptions options;
  options.api_url = "https://api.github.com";
  options.token = "x";
  EXPECT_THAT(HttpNotifier(options, metrics).Start().message(), HasSubstr("--status-repo"));
  options.repository = "ml/jobs";
  options.token = "";
  EXPECT_THAT(HttpNotifier(options, metrics).Start().message(), HasSubstr("--status-token-file"));
  std::string base;
  std::string path;
  ASSERT_TRUE(SplitUrl("https://ghe.example.com/api/v3/", &base, &path).ok());
  EXPECT_EQ(base, "https://ghe.example.com");
  EXPECT_EQ(path, "/api/v3/");  // as written: a webhook is posted to its URL exactly
  ASSERT_TRUE(SplitUrl("http://127.0.0.1:8080", &base, &path).ok());
  EXPECT_EQ(base, "http://127.0.0.1:8080");
  EXPECT_EQ(path, "");
  EXPECT_FALSE(SplitUrl("ftp://x/y", &base, &path).ok());
  EXPECT_FALSE(SplitUrl("hooks.slack.com/services/x", &base, &path).ok());
}

}  // namespace
}  // namespace jobsync
