// Lists and watches as client-go does them (client.h): pages and continue tokens, the restart on
// an expired token, Retry-After on pages and watch starts, the stall watchdog; and what the
// backend's watcher makes of bookmarks, stalls and 410 Gone, and of several allowed namespaces
// (one list and watch each). Against a scripted fake apiserver.
#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "backends/kubernetes/client.h"
#include "backends/kubernetes/kubernetes_backend.h"
#include "common/metrics.h"
#include "domain/plan_step.h"
#include "test_jobs.h"

namespace jobsync {
namespace {

using ::testing::HasSubstr;
using json = nlohmann::json;
using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

// One scripted watch stream: a status (a non-2xx one is answered whole), lines sent `gap` apart,
// then either the end of the stream or, with `hang`, silence until cancelled.
struct StreamScript {
  int status = 200;
  std::map<std::string, std::string> headers;
  std::vector<std::string> lines;
  milliseconds gap{0};
  bool hang = false;
};

// A stream that sends `lines`, `gap` apart, then ends (or with `hang`, goes silent).
StreamScript Lines(std::vector<std::string> lines, bool hang = false,
                   milliseconds gap = milliseconds(0)) {
  StreamScript script;
  script.lines = std::move(lines);
  script.hang = hang;
  script.gap = gap;
  return script;
}

// A stream refused with `status` and `headers`.
StreamScript Refused(int status, std::map<std::string, std::string> headers = {}) {
  StreamScript script;
  script.status = status;
  script.headers = std::move(headers);
  return script;
}

// A fake apiserver: answers Send from a script per path (in order; 404 once a path's script ran
// out, as for an API that is not served) and Stream from a script per path (once it ran out, a
// stream hangs until cancelled, as a quiet watch does). Records every request. Thread-safe.
class FakeApiServer : public HttpClient {
 public:
  void Answer(const std::string& path, StatusOr<HttpResponse> answer) {
    std::lock_guard<std::mutex> lock(mutex_);
    answers_[path].push_back(std::move(answer));
  }
  void AddStream(const std::string& path, StreamScript script) {
    std::lock_guard<std::mutex> lock(mutex_);
    streams_[path].push_back(std::move(script));
  }
  // The requests sent to `path` (empty: all), in order.
  std::vector<HttpRequest> Requests(const std::string& path = "", bool watches = false) const {
    std::lock_guard<std::mutex> lock(mutex_);
    std::vector<HttpRequest> out;
    for (const auto& [request, watch] : requests_) {
      if ((path.empty() || request.path == path) && watch == watches) out.push_back(request);
    }
    return out;
  }

  // HttpClient:
  StatusOr<HttpResponse> Send(const HttpRequest& request) override {
    std::lock_guard<std::mutex> lock(mutex_);
    requests_.emplace_back(request, false);
    std::deque<StatusOr<HttpResponse>>& script = answers_[request.path];
    if (script.empty()) return HttpResponse{404, {}, R"({"reason":"NotFound"})"};
    StatusOr<HttpResponse> answer = std::move(script.front());
    script.pop_front();
    return answer;
  }
  StatusOr<HttpResponse> Stream(const HttpRequest& request,
                                const std::function<bool(std::string_view)>& on_line,
                                const HttpCancellation& cancel) override {
    StreamScript script;
    script.hang = true;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      requests_.emplace_back(request, true);
      std::deque<StreamScript>& scripts = streams_[request.path];
      if (!scripts.empty()) {
        script = std::move(scripts.front());
        scripts.pop_front();
      }
    }
    if (script.status < 200 || script.status > 299) {
      return HttpResponse{script.status, script.headers, R"({"message":"slow down"})"};
    }
    for (const std::string& line : script.lines) {
      std::this_thread::sleep_for(script.gap);
      if (cancel.cancelled()) return UnavailableError("cancelled");
      if (!on_line(line)) return HttpResponse{200, {}, ""};
    }
    while (script.hang && !cancel.cancelled()) std::this_thread::sleep_for(milliseconds(5));
    if (cancel.cancelled()) return UnavailableError("cancelled");
    return HttpResponse{200, {}, ""};
  }

 private:
  mutable std::mutex mutex_;
  std::map<std::string, std::deque<StatusOr<HttpResponse>>> answers_;
  std::map<std::string, std::deque<StreamScript>> streams_;
  std::vector<std::pair<HttpRequest, bool>> requests_;
};

// The value of query parameter `name` of `request`; "(absent)" when it has none.
std::string Query(const HttpRequest& request, const std::string& name) {
  for (const auto& [key, value] : request.query) {
    if (key == name) return value;
  }
  return "(absent)";
}

HttpResponse Page(const std::string& version, const std::string& next,
                  const std::vector<std::string>& names) {
  json body = {{"metadata", {{"resourceVersion", version}}}, {"items", json::array()}};
  if (!next.empty()) body["metadata"]["continue"] = next;
  for (const std::string& name : names) {
    body["items"].push_back({{"metadata", {{"name", name}, {"namespace", "ns"}}}});
  }
  return HttpResponse{200, {}, body.dump()};
}

std::vector<std::string> Names(const std::vector<json>& items) {
  std::vector<std::string> names;
  for (const json& item : items) names.push_back(item["metadata"]["name"]);
  return names;
}

KubernetesClientOptions FastOptions() {
  KubernetesClientOptions options;
  options.retry.initial_backoff = milliseconds(1);
  options.retry.max_backoff = milliseconds(2);
  options.retry.max_attempts = 3;
  return options;
}

const std::string kJobs = "/apis/batch/v1/jobs";

struct Client {
  explicit Client(KubernetesClientOptions options = FastOptions()) {
    auto http = std::make_unique<FakeApiServer>();
    fake = http.get();
    client = std::make_unique<KubernetesClient>(std::move(http), options);
  }
  FakeApiServer* fake = nullptr;
  std::unique_ptr<KubernetesClient> client;
};

TEST(ListPagesTest, FollowsContinueTokensAndKeepsTheFirstPagesVersion) {
  KubernetesClientOptions options = FastOptions();
  options.list_page_size = 2;
  Client c(options);
  c.fake->Answer(kJobs, Page("10", "c1", {"a", "b"}));
  c.fake->Answer(kJobs, Page("11", "c2", {"c", "d"}));
  c.fake->Answer(kJobs, Page("12", "", {"e"}));
  StatusOr<ObjectList> list = c.client->List(ResourceKind::kJob, "", "x=y");
  ASSERT_TRUE(list.ok()) << list.status().ToString();
  EXPECT_EQ(Names(list->items), (std::vector<std::string>{"a", "b", "c", "d", "e"}));
  EXPECT_EQ(list->resource_version, "10");
  std::vector<HttpRequest> sent = c.fake->Requests();
  ASSERT_EQ(sent.size(), 3u);
  const std::vector<std::string> continues = {"(absent)", "c1", "c2"};
  for (size_t i = 0; i < sent.size(); ++i) {
    EXPECT_EQ(Query(sent[i], "limit"), "2") << i;
    EXPECT_EQ(Query(sent[i], "labelSelector"), "x=y") << i;
    EXPECT_EQ(Query(sent[i], "continue"), continues[i]) << i;
  }
  EXPECT_EQ(c.client->list_pages(), 3);
}

TEST(ListPagesTest, APageSizeOfZeroListsInOneAnswer) {
  KubernetesClientOptions options = FastOptions();
  options.list_page_size = 0;
  Client c(options);
  c.fake->Answer(kJobs, Page("10", "", {"a"}));
  StatusOr<ObjectList> list = c.client->List(ResourceKind::kJob, "", "");
  ASSERT_TRUE(list.ok()) << list.status().ToString();
  EXPECT_EQ(Query(c.fake->Requests()[0], "limit"), "(absent)");
}

TEST(ListPagesTest, AnExpiredContinueTokenStartsTheListOverOnce) {
  Client c;
  c.fake->Answer(kJobs, Page("10", "c1", {"a", "b"}));
  c.fake->Answer(kJobs, HttpResponse{410, {}, R"({"reason":"Expired","message":"too old"})"});
  c.fake->Answer(kJobs, Page("20", "c3", {"a2", "b2"}));
  c.fake->Answer(kJobs, Page("20", "", {"c"}));
  int restarts = 0;
  std::vector<std::string> held;
  StatusOr<std::string> version = c.client->ListEach(
      ResourceKind::kJob, "", "", [&](json&& item) { held.push_back(item["metadata"]["name"]); },
      [&] {
        ++restarts;
        held.clear();
      });
  ASSERT_TRUE(version.ok()) << version.status().ToString();
  EXPECT_EQ(*version, "20");
  EXPECT_EQ(restarts, 1);
  EXPECT_EQ(held, (std::vector<std::string>{"a2", "b2", "c"}));
  std::vector<HttpRequest> sent = c.fake->Requests();
  ASSERT_EQ(sent.size(), 4u);
  EXPECT_EQ(Query(sent[2], "continue"), "(absent)") << "the restart reads a fresh first page";
  EXPECT_EQ(Query(sent[3], "continue"), "c3");
}

TEST(ListPagesTest, ASecondExpiredContinueTokenFailsTheList) {
  Client c;
  for (int i = 0; i < 2; ++i) {
    c.fake->Answer(kJobs, Page("10", "c1", {"a"}));
    c.fake->Answer(kJobs, HttpResponse{410, {}, R"({"reason":"Expired","message":"too old"})"});
  }
  c.fake->Answer(kJobs, Page("10", "", {"a"}));
  StatusOr<ObjectList> list = c.client->List(ResourceKind::kJob, "", "");
  ASSERT_FALSE(list.ok());
  EXPECT_EQ(list.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(list.status().message(), HasSubstr("too old (HTTP 410)"));
  EXPECT_EQ(c.fake->Requests().size(), 4u);
}

TEST(ListPagesTest, AFailedFirstPageIsNotStartedOver) {
  Client c;
  c.fake->Answer(kJobs, HttpResponse{410, {}, R"({"message":"gone"})"});
  c.fake->Answer(kJobs, Page("10", "", {"a"}));
  EXPECT_EQ(c.client->List(ResourceKind::kJob, "", "").status().code(),
            StatusCode::kFailedPrecondition);
  EXPECT_EQ(c.fake->Requests().size(), 1u);
}

TEST(ListPagesTest, TooManyRequestsOnAPageWaitsForRetryAfter) {
  Client c;
  c.fake->Answer(kJobs, Page("10", "c1", {"a"}));
  c.fake->Answer(kJobs, HttpResponse{429, {{"retry-after", "1"}}, R"({"message":"slow"})"});
  c.fake->Answer(kJobs, Page("10", "", {"b"}));
  const auto start = Clock::now();
  StatusOr<ObjectList> list = c.client->List(ResourceKind::kJob, "", "");
  ASSERT_TRUE(list.ok()) << list.status().ToString();
  EXPECT_GE(Clock::now() - start, milliseconds(1000)) << "Retry-After: 1 was not waited for";
  EXPECT_EQ(Names(list->items), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(Query(c.fake->Requests()[2], "continue"), "c1") << "the same page asked again";
}

// Watches kJobs from version 7 with `timeout`; returns its end and the events delivered.
Status WatchJobs(Client& c, std::chrono::seconds timeout, int* delivered,
                 const HttpCancellation& cancel = HttpCancellation()) {
  return c.client->Watch(
      ResourceKind::kJob, "", "", "7", timeout,
      [delivered](const json&) {
        ++*delivered;
        return true;
      },
      cancel);
}

TEST(WatchStartTest, TooManyRequestsWaitsForRetryAfter) {
  Client c;
  c.fake->AddStream(kJobs, Refused(429, {{"retry-after", "1"}}));
  c.fake->AddStream(kJobs, Lines({R"({"type":"ADDED","object":{}})"}));
  int delivered = 0;
  const auto start = Clock::now();
  Status status = WatchJobs(c, std::chrono::seconds(5), &delivered);
  EXPECT_TRUE(status.ok()) << status.ToString();
  EXPECT_GE(Clock::now() - start, milliseconds(1000)) << "Retry-After: 1 was not waited for";
  EXPECT_EQ(delivered, 1);
  EXPECT_EQ(c.fake->Requests(kJobs, true).size(), 2u);
}

TEST(WatchStartTest, GivesUpAfterMaxAttempts) {
  Client c;
  for (int i = 0; i < 3; ++i) c.fake->AddStream(kJobs, Refused(503));
  int delivered = 0;
  Status status = WatchJobs(c, std::chrono::seconds(5), &delivered);
  EXPECT_EQ(status.code(), StatusCode::kUnavailable);
  EXPECT_EQ(c.fake->Requests(kJobs, true).size(), 3u);
}

TEST(WatchDogTest, CancelsAWatchSilentForItsTimeoutPlusTheMargin) {
  KubernetesClientOptions options = FastOptions();
  options.watch_stall_margin = milliseconds(500);
  Client c(options);
  c.fake->AddStream(kJobs, Lines({R"({"type":"ADDED","object":{}})"}, true));
  int delivered = 0;
  const auto start = Clock::now();
  Status status = WatchJobs(c, std::chrono::seconds(1), &delivered);
  const auto took = Clock::now() - start;
  EXPECT_EQ(status.code(), StatusCode::kDeadlineExceeded) << status.ToString();
  EXPECT_THAT(status.message(), HasSubstr("the watch stalled"));
  EXPECT_EQ(delivered, 1);
  EXPECT_GE(took, milliseconds(1500));
  EXPECT_LT(took, milliseconds(3000));
}

TEST(WatchDogTest, EachLineResetsTheWatchdog) {
  KubernetesClientOptions options = FastOptions();
  options.watch_stall_margin = milliseconds(500);
  Client c(options);
  // 2.4 s of events in all, longer than the 1.5 s limit, none more than 0.4 s apart.
  c.fake->AddStream(kJobs, Lines(std::vector<std::string>(6, R"({"type":"BOOKMARK","object":{}})"),
                                 false, milliseconds(400)));
  int delivered = 0;
  Status status = WatchJobs(c, std::chrono::seconds(1), &delivered);
  EXPECT_TRUE(status.ok()) << status.ToString();
  EXPECT_EQ(delivered, 6);
}

TEST(WatchDogTest, CancellationEndsAQuietWatchAtOnce) {
  Client c;
  HttpCancellation cancel;
  std::thread canceller([cancel]() mutable {
    std::this_thread::sleep_for(milliseconds(200));
    cancel.Cancel();
  });
  int delivered = 0;
  const auto start = Clock::now();
  Status status = WatchJobs(c, std::chrono::seconds(60), &delivered, cancel);
  canceller.join();
  EXPECT_EQ(status.code(), StatusCode::kUnavailable) << status.ToString();
  EXPECT_LT(Clock::now() - start, milliseconds(1500));
}

// A backend over a fake apiserver whose managed-Jobs list answers version 10 with one Job; the
// optional kinds are not served (404).
struct Backend {
  Backend() {
    auto http = std::make_unique<FakeApiServer>();
    fake = http.get();
    fake->Answer(kJobs, Page("10", "", {"a"}));
    KubernetesBackendOptions options;
    options.client = FastOptions();
    options.client.watch_stall_margin = milliseconds(300);
    options.watch_timeout = std::chrono::seconds(1);
    options.metrics = &metrics;
    backend = std::make_unique<KubernetesBackend>(
        std::make_unique<KubernetesClient>(std::move(http), options.client), options);
  }
  // Starts the watchers and waits until the Jobs watch was started `watches` times.
  ::testing::AssertionResult WatchesStarted(size_t watches) {
    StatusOr<std::vector<LiveJob>> live = backend->ListJobs();
    if (!live.ok()) return ::testing::AssertionFailure() << live.status().ToString();
    const auto deadline = Clock::now() + std::chrono::seconds(10);
    while (fake->Requests(kJobs, true).size() < watches) {
      if (Clock::now() > deadline) return ::testing::AssertionFailure() << "too few watches";
      std::this_thread::sleep_for(milliseconds(10));
    }
    return ::testing::AssertionSuccess();
  }
  double Restarts(const std::string& reason) const {
    return metrics.Value(kWatchRestartsMetric, {{"reason", reason}, {"resource", "jobs"}});
  }

  Metrics metrics;
  FakeApiServer* fake = nullptr;
  std::unique_ptr<KubernetesBackend> backend;  // last: stops before the rest goes
};

TEST(WatchLoopTest, ABookmarkMovesTheResumeVersionWithoutTouchingTheCache) {
  Backend b;
  b.fake->AddStream(kJobs, Lines({R"({"type":"BOOKMARK","object":{"metadata":)"
                                  R"({"resourceVersion":"20"}}})"}));
  ASSERT_TRUE(b.WatchesStarted(2));
  std::vector<HttpRequest> watches = b.fake->Requests(kJobs, true);
  EXPECT_EQ(Query(watches[0], "resourceVersion"), "10");
  EXPECT_EQ(Query(watches[0], "allowWatchBookmarks"), "true");
  EXPECT_EQ(Query(watches[1], "resourceVersion"), "20") << "the bookmark's version";
  EXPECT_EQ(b.backend->LiveVersion(), std::optional<uint64_t>(1)) << "only the list changed it";
  EXPECT_EQ(b.fake->Requests(kJobs).size(), 1u) << "no list again";
}

TEST(WatchLoopTest, AStalledWatchIsWatchedAgainFromTheLastVersionAndCounted) {
  Backend b;
  b.fake->AddStream(kJobs, Lines({R"({"type":"MODIFIED","object":{"metadata":)"
                                  R"({"name":"a","namespace":"ns","resourceVersion":"15"}}})"},
                                 true));
  const auto start = Clock::now();
  ASSERT_TRUE(b.WatchesStarted(2));
  EXPECT_GE(Clock::now() - start, milliseconds(1300)) << "restarted before timeout + margin";
  EXPECT_EQ(Query(b.fake->Requests(kJobs, true)[1], "resourceVersion"), "15");
  EXPECT_EQ(b.Restarts("stalled"), 1);
  EXPECT_EQ(b.Restarts("gone"), 0);
  EXPECT_EQ(b.fake->Requests(kJobs).size(), 1u) << "a stall is no reason to list again";
}

TEST(WatchLoopTest, GoneListsAgainAndIsCounted) {
  Backend b;
  b.fake->AddStream(kJobs, Lines({R"({"type":"ERROR","object":{"code":410,)"
                                  R"("message":"too old resource version"}})"}));
  b.fake->Answer(kJobs, Page("30", "", {"a", "b"}));
  ASSERT_TRUE(b.WatchesStarted(2));
  EXPECT_EQ(b.fake->Requests(kJobs).size(), 2u) << "listed again";
  EXPECT_EQ(Query(b.fake->Requests(kJobs, true)[1], "resourceVersion"), "30");
  EXPECT_EQ(b.Restarts("gone"), 1);
  EXPECT_EQ(b.Restarts("stalled"), 0);
}

// A page of one job's Job objects (`names`, labelled jobsync.dev/job=`job`) in `namespace_name`.
HttpResponse JobPage(const std::string& namespace_name, const std::string& version,
                     const std::string& job) {
  json body = {{"metadata", {{"resourceVersion", version}}}, {"items", json::array()}};
  body["items"].push_back({{"metadata",
                            {{"name", job + "-worker"},
                             {"namespace", namespace_name},
                             {"resourceVersion", version},
                             {"labels", {{"jobsync.dev/job", job}}}}}});
  return HttpResponse{200, {}, body.dump()};
}

std::vector<std::string> Keys(const std::vector<LiveJob>& live) {
  std::vector<std::string> keys;
  for (const LiveJob& job : live) keys.push_back(job.key.namespace_name + "/" + job.key.name);
  return keys;
}

// A backend over a fake apiserver allowed namespaces a and b, whose Jobs lists answer job x in a
// (version 10) and job y in b (version 20); the optional kinds are not served (404).
struct NamespacedBackend {
  explicit NamespacedBackend(bool create_namespaces = true) {
    auto http = std::make_unique<FakeApiServer>();
    fake = http.get();
    fake->Answer(kJobsA, JobPage("a", "10", "x"));
    fake->Answer(kJobsB, JobPage("b", "20", "y"));
    KubernetesBackendOptions options;
    options.namespaces = {"a", "b"};
    options.create_namespaces = create_namespaces;
    options.client = FastOptions();
    options.cache_sync_timeout = std::chrono::seconds(20);
    backend = std::make_unique<KubernetesBackend>(
        std::make_unique<KubernetesClient>(std::move(http), options.client), options);
  }
  // Waits until `path` was watched `watches` times.
  ::testing::AssertionResult Watched(const std::string& path, size_t watches) {
    const auto deadline = Clock::now() + std::chrono::seconds(10);
    while (fake->Requests(path, true).size() < watches) {
      if (Clock::now() > deadline) return ::testing::AssertionFailure() << "too few watches";
      std::this_thread::sleep_for(milliseconds(10));
    }
    return ::testing::AssertionSuccess();
  }

  const std::string kJobsA = ResourcePath(ResourceKind::kJob, "a", "");
  const std::string kJobsB = ResourcePath(ResourceKind::kJob, "b", "");
  FakeApiServer* fake = nullptr;
  std::unique_ptr<KubernetesBackend> backend;  // last: stops before the rest goes
};

TEST(NamespacedWatchTest, EachAllowedNamespaceIsListedAndWatchedAlone) {
  NamespacedBackend b;
  StatusOr<std::vector<LiveJob>> live = b.backend->ListJobs();
  ASSERT_TRUE(live.ok()) << live.status().ToString();
  EXPECT_THAT(Keys(*live), ::testing::ElementsAre("a/x", "b/y"));
  ASSERT_TRUE(b.Watched(b.kJobsA, 1));
  ASSERT_TRUE(b.Watched(b.kJobsB, 1));
  EXPECT_EQ(Query(b.fake->Requests(b.kJobsA, true)[0], "resourceVersion"), "10");
  EXPECT_EQ(Query(b.fake->Requests(b.kJobsB, true)[0], "resourceVersion"), "20");
  for (ResourceKind kind : {ResourceKind::kJob, ResourceKind::kJobSet, ResourceKind::kElasticJob,
                            ResourceKind::kRayJob}) {
    EXPECT_THAT(b.fake->Requests(ResourcePath(kind, "", "")), ::testing::IsEmpty())
        << ResourcePath(kind, "", "") << ": no cluster-wide list";
    EXPECT_THAT(b.fake->Requests(ResourcePath(kind, "", ""), true), ::testing::IsEmpty())
        << ResourcePath(kind, "", "") << ": no cluster-wide watch";
    EXPECT_EQ(b.fake->Requests(ResourcePath(kind, "b", "")).size(), 1u) << "listed in b";
  }
}

TEST(NamespacedWatchTest, ANamespaceRefusedFailsTheListingAtOnceNamingIt) {
  auto http = std::make_unique<FakeApiServer>();
  FakeApiServer* fake = http.get();
  fake->Answer(ResourcePath(ResourceKind::kJob, "a", ""), JobPage("a", "10", "x"));
  // Refused every time: the watcher lists again after a backoff.
  for (int i = 0; i < 1000; ++i) {
    fake->Answer(ResourcePath(ResourceKind::kJob, "b", ""),
                 HttpResponse{403,
                              {},
                              R"({"reason":"Forbidden","message":"jobs.batch is )"
                              R"(forbidden: cannot list resource \"jobs\" in the )"
                              R"(namespace \"b\""})"});
  }
  KubernetesBackendOptions options;
  options.namespaces = {"a", "b"};
  options.client = FastOptions();
  options.cache_sync_timeout = std::chrono::seconds(20);
  KubernetesBackend backend(std::make_unique<KubernetesClient>(std::move(http), options.client),
                            options);
  const auto start = Clock::now();
  StatusOr<std::vector<LiveJob>> live = backend.ListJobs();
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(10)) << "a refusal is not waited out";
  ASSERT_FALSE(live.ok());
  EXPECT_EQ(live.status().code(), StatusCode::kPermissionDenied) << live.status().ToString();
  EXPECT_THAT(live.status().message(), HasSubstr("cannot read the Jobs in namespace b"));
  EXPECT_THAT(live.status().message(), HasSubstr("forbidden"));
}

TEST(NamespacedWatchTest, ListingOneNamespaceAgainKeepsTheOthersJobs) {
  NamespacedBackend b;
  b.fake->AddStream(b.kJobsA, Lines({R"({"type":"ERROR","object":{"code":410,)"
                                     R"("message":"too old resource version"}})"}));
  b.fake->Answer(b.kJobsA, JobPage("a", "30", "z"));
  ASSERT_TRUE(b.backend->ListJobs().ok());
  ASSERT_TRUE(b.Watched(b.kJobsA, 2));
  EXPECT_EQ(Query(b.fake->Requests(b.kJobsA, true)[1], "resourceVersion"), "30");
  StatusOr<std::vector<LiveJob>> live = b.backend->ListJobs();
  ASSERT_TRUE(live.ok()) << live.status().ToString();
  EXPECT_THAT(Keys(*live), ::testing::ElementsAre("a/z", "b/y"))
      << "a's list replaced a's Jobs only";
  EXPECT_EQ(b.fake->Requests(b.kJobsB).size(), 1u) << "b was not listed again";
}

// Create in namespace a, on an apiserver that answers nothing but the lists (the create fails):
// whether a Namespace object was asked for.
bool NamespaceRequested(bool create_namespaces) {
  NamespacedBackend b(create_namespaces);
  PlanStep step;
  step.action = Action::kCreate;
  step.key = {BackendKind::kKubernetes, "a", "fresh"};
  step.desired = std::make_shared<const TrainingJob>(testing::SampleJob("fresh", "a"));
  (void)b.backend->Apply(step, ApplyContext{"dev", "abc123"});
  return !b.fake->Requests(ResourcePath(ResourceKind::kNamespace, "", "a")).empty();
}

TEST(NamespacedWatchTest, WithoutCreateNamespacesNoNamespaceObjectIsRead) {
  EXPECT_FALSE(NamespaceRequested(false));
  EXPECT_TRUE(NamespaceRequested(true)) << "by default the namespace is looked up";
}

// A scale of a live job reads its Service (there: no create tried first), then reads and writes
// each role Job: five requests for two roles, where a create first made it six.
TEST(InPlaceUpdateRequestsTest, AScaleReadsTheServiceInsteadOfTryingToCreateIt) {
  auto http = std::make_unique<FakeApiServer>();
  FakeApiServer* fake = http.get();
  const json labels = {{"app.kubernetes.io/managed-by", "jobsync"},
                       {"jobsync.dev/instance", "it"},
                       {"jobsync.dev/job", "j"}};
  const std::string service = "/api/v1/namespaces/ns/services/j";
  fake->Answer(service, HttpResponse{200, {}, json{{"metadata", {{"labels", labels}}}}.dump()});
  // What a create would be answered: it exists (the request must not be sent, though).
  fake->Answer("/api/v1/namespaces/ns/services",
               HttpResponse{409, {}, R"({"kind":"Status","reason":"AlreadyExists","code":409})"});
  std::vector<std::string> expected = {"GET " + service};
  for (const char* role : {"ps", "worker"}) {
    const std::string path = std::string("/apis/batch/v1/namespaces/ns/jobs/j-") + role;
    const json object = {{"metadata",
                          {{"name", std::string("j-") + role},
                           {"namespace", "ns"},
                           {"resourceVersion", "5"},
                           {"labels", labels},
                           {"annotations", json::object()}}},
                         {"spec", {{"parallelism", 1}, {"completions", 1}}}};
    fake->Answer(path, HttpResponse{200, {}, object.dump()});  // the read
    fake->Answer(path, HttpResponse{200, {}, object.dump()});  // the write's answer
    expected.insert(expected.end(), {"GET " + path, "PUT " + path});
  }
  KubernetesBackendOptions options;
  options.client = FastOptions();
  KubernetesBackend backend(std::make_unique<KubernetesClient>(std::move(http), options.client),
                            options);
  PlanStep step;
  step.key = {BackendKind::kKubernetes, "ns", "j"};
  step.action = Action::kScale;
  step.desired = std::make_shared<const TrainingJob>(testing::SampleJob("j", "ns", 2));
  ASSERT_TRUE(backend.Apply(step, ApplyContext{"it", "rev"}).ok());
  std::vector<std::string> sent;
  for (const HttpRequest& request : fake->Requests())
    sent.push_back(request.method + " " + request.path);
  EXPECT_EQ(sent, expected);
}

// A backend of instance "it" over a fake apiserver whose managed-Jobs list answers job j's role
// Jobs j-ps and j-worker at version 7, and whose Service j is the instance's; the optional kinds
// are not served (404). Started: its watch cache holds both Jobs.
struct CachedJobBackend {
  CachedJobBackend() {
    auto http = std::make_unique<FakeApiServer>();
    fake = http.get();
    json page = {{"metadata", {{"resourceVersion", "7"}}}, {"items", json::array()}};
    for (const char* role : {"ps", "worker"}) page["items"].push_back(Stored(role, "7"));
    fake->Answer(kJobs, HttpResponse{200, {}, page.dump()});
    fake->Answer(kService, HttpResponse{200, {}, json{{"metadata", {{"labels", kLabels}}}}.dump()});
    KubernetesBackendOptions options;
    options.instance = "it";
    options.client = FastOptions();
    backend = std::make_unique<KubernetesBackend>(
        std::make_unique<KubernetesClient>(std::move(http), options.client), options);
  }
  // Role Job `role` as the server stores it at `version`.
  json Stored(const std::string& role, const std::string& version) const {
    json labels = kLabels;
    labels["jobsync.dev/role"] = role;
    return {{"metadata",
             {{"name", "j-" + role},
              {"namespace", "ns"},
              {"resourceVersion", version},
              {"labels", labels},
              {"annotations", json::object()}}},
            {"spec", {{"parallelism", 1}, {"completions", 1}}}};
  }
  static std::string JobPath(const std::string& role) {
    return "/apis/batch/v1/namespaces/ns/jobs/j-" + role;
  }
  // The requests sent for the job's Service and Jobs, as "METHOD PATH".
  std::vector<std::string> Sent() const {
    std::vector<std::string> sent;
    for (const HttpRequest& request : fake->Requests()) {
      if (request.path == kService || request.path.rfind(JobPath(""), 0) == 0) {
        sent.push_back(request.method + " " + request.path);
      }
    }
    return sent;
  }
  Status Scale(int replicas) {
    PlanStep step;
    step.key = {BackendKind::kKubernetes, "ns", "j"};
    step.action = Action::kScale;
    step.desired = std::make_shared<const TrainingJob>(testing::SampleJob("j", "ns", replicas));
    return backend->Apply(step, ApplyContext{"it", "rev"});
  }

  const json kLabels = {{"app.kubernetes.io/managed-by", "jobsync"},
                        {"jobsync.dev/instance", "it"},
                        {"jobsync.dev/job", "j"}};
  const std::string kService = "/api/v1/namespaces/ns/services/j";
  FakeApiServer* fake = nullptr;
  std::unique_ptr<KubernetesBackend> backend;  // last: stops before the rest goes
};

// A scale of a job whose Jobs the watch cache holds as this instance's sends each role Job one
// merge patch guarded by the cached version: three requests for two roles, where reading each
// Job first made it five.
TEST(InPlaceUpdateRequestsTest, AScaleOfCachedJobsIsOnePatchEachGuardedByTheCachedVersion) {
  CachedJobBackend b;
  ASSERT_TRUE(b.backend->ListJobs().ok());
  for (const char* role : {"ps", "worker"}) {
    b.fake->Answer(b.JobPath(role), HttpResponse{200, {}, b.Stored(role, "8").dump()});
  }
  ASSERT_TRUE(b.Scale(3).ok());
  EXPECT_THAT(b.Sent(), ::testing::ElementsAre("GET " + b.kService, "PATCH " + b.JobPath("ps"),
                                               "PATCH " + b.JobPath("worker")));
  const HttpRequest patch = b.fake->Requests(b.JobPath("worker")).at(0);
  EXPECT_EQ(patch.content_type, "application/merge-patch+json");
  const json body = json::parse(patch.body);
  EXPECT_EQ(body["metadata"]["resourceVersion"], "7");
  EXPECT_EQ(body["spec"]["parallelism"], 3);
  EXPECT_EQ(body["spec"]["completions"], 3);
  EXPECT_TRUE(body["spec"]["activeDeadlineSeconds"].is_null()) << "unset: removed";
  EXPECT_EQ(body["metadata"]["annotations"]["jobsync.dev/revision"], "rev");
}

// A Job changed since the cache saw it (the patch answered 409 Conflict) is read and written as
// before: its ownership checked on what the server holds.
TEST(InPlaceUpdateRequestsTest, AJobChangedSinceTheCacheSawItIsReadAndWritten) {
  CachedJobBackend b;
  ASSERT_TRUE(b.backend->ListJobs().ok());
  const json current = {{"metadata",
                         {{"name", "j-worker"},
                          {"namespace", "ns"},
                          {"resourceVersion", "9"},
                          {"labels", b.kLabels},
                          {"annotations", {{"team", "a"}}}}},
                        {"spec", {{"parallelism", 1}, {"activeDeadlineSeconds", 60}}}};
  b.fake->Answer(b.JobPath("ps"), HttpResponse{200, {}, b.Stored("ps", "8").dump()});
  b.fake->Answer(b.JobPath("worker"),
                 HttpResponse{409, {}, R"({"kind":"Status","reason":"Conflict","code":409})"});
  b.fake->Answer(b.JobPath("worker"), HttpResponse{200, {}, current.dump()});  // the read
  b.fake->Answer(b.JobPath("worker"), HttpResponse{200, {}, current.dump()});  // the write
  ASSERT_TRUE(b.Scale(3).ok());
  EXPECT_THAT(b.Sent(),
              ::testing::ElementsAre("GET " + b.kService, "PATCH " + b.JobPath("ps"),
                                     "PATCH " + b.JobPath("worker"), "GET " + b.JobPath("worker"),
                                     "PUT " + b.JobPath("worker")));
  const json written = json::parse(b.fake->Requests(b.JobPath("worker")).at(2).body);
  EXPECT_EQ(written["metadata"]["resourceVersion"], "9") << "guarded by the version read";
  EXPECT_EQ(written["spec"]["parallelism"], 3);
  EXPECT_FALSE(written["spec"].contains("activeDeadlineSeconds")) << "unset in Git: removed";
  EXPECT_EQ(written["metadata"]["annotations"]["team"], "a") << "others' annotations kept";
}

}  // namespace
}  // namespace jobsync
