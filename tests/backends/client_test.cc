#include "backends/kubernetes/client.h"

#include <deque>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "backends/kubernetes/kubernetes_backend.h"
#include "backends/kubernetes/mapping.h"
#include "common/metrics.h"
#include "test_jobs.h"

namespace jobsync {
namespace {

using ::testing::HasSubstr;
using json = nlohmann::json;
using std::chrono::milliseconds;

TEST(RetryPolicyTest, DelaysGrowExponentiallyUpToTheCap) {
  RetryPolicy policy;
  policy.initial_backoff = milliseconds(100);
  policy.max_backoff = milliseconds(1000);
  policy.jitter = 0.2;
  // unit_random 0.5 means no jitter.
  EXPECT_EQ(RetryDelay(policy, 1, 0.5, std::nullopt), milliseconds(100));
  EXPECT_EQ(RetryDelay(policy, 2, 0.5, std::nullopt), milliseconds(200));
  EXPECT_EQ(RetryDelay(policy, 4, 0.5, std::nullopt), milliseconds(800));
  EXPECT_EQ(RetryDelay(policy, 5, 0.5, std::nullopt), milliseconds(1000));
  EXPECT_EQ(RetryDelay(policy, 60, 0.5, std::nullopt), milliseconds(1000));
}

TEST(RetryPolicyTest, JitterStaysWithinItsShare) {
  RetryPolicy policy;
  policy.initial_backoff = milliseconds(1000);
  policy.jitter = 0.2;
  EXPECT_EQ(RetryDelay(policy, 1, 0.0, std::nullopt), milliseconds(800));
  EXPECT_EQ(RetryDelay(policy, 1, 0.999999, std::nullopt), milliseconds(1199));
}

TEST(RetryPolicyTest, RetryAfterWinsAndIsCapped) {
  RetryPolicy policy;
  policy.max_retry_after = milliseconds(10000);
  EXPECT_EQ(RetryDelay(policy, 1, 0.0, milliseconds(3000)), milliseconds(3000));
  EXPECT_EQ(RetryDelay(policy, 1, 0.0, milliseconds(60000)), milliseconds(10000));
}

TEST(RetryPolicyTest, ParsesRetryAfterSeconds) {
  EXPECT_EQ(ParseRetryAfter("3"), milliseconds(3000));
  EXPECT_EQ(ParseRetryAfter(" 0 "), milliseconds(0));
  EXPECT_EQ(ParseRetryAfter(""), std::nullopt);
  EXPECT_EQ(ParseRetryAfter("-1"), std::nullopt);
  EXPECT_EQ(ParseRetryAfter("Wed, 21 Oct 2015 07:28:00 GMT"), std::nullopt);
}

TEST(RetryPolicyTest, RetriesTooManyRequestsAndServerErrorsOnly) {
  EXPECT_TRUE(IsRetryableHttpStatus(429));
  EXPECT_TRUE(IsRetryableHttpStatus(500));
  EXPECT_TRUE(IsRetryableHttpStatus(503));
  EXPECT_FALSE(IsRetryableHttpStatus(403));
  EXPECT_FALSE(IsRetryableHttpStatus(409));
  EXPECT_FALSE(IsRetryableHttpStatus(422));
}

// Found by fuzzing (tests/fuzz/regressions/live/): a message or reason that is not a string threw.
TEST(StatusFromHttpTest, FieldsOfTheWrongTypeFallBackToTheRawBody) {
  const std::string body = R"({"message":5,"reason":["AlreadyExists"]})";
  Status status = StatusFromHttp(409, body, "create batch/v1 Job ns/a-worker");
  EXPECT_EQ(status.code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(status.message(), HasSubstr(body));
  EXPECT_EQ(StatusFromHttp(500, "[1]", "w").code(), StatusCode::kUnavailable);
}

TEST(StatusFromHttpTest, MapsCodesAndKeepsTheServersMessage) {
  const std::string forbidden =
      R"({"kind":"Status","message":"jobs.batch is forbidden: User \"x\" cannot create",)"
      R"("reason":"Forbidden","code":403})";
  Status status = StatusFromHttp(403, forbidden, "create batch/v1 Job ns/a-worker");
  EXPECT_EQ(status.code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(status.message(),
            "create batch/v1 Job ns/a-worker: jobs.batch is forbidden: User \"x\" cannot create "
            "(HTTP 403)");
  EXPECT_EQ(StatusFromHttp(422, "{}", "w").code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(StatusFromHttp(404, "", "w").code(), StatusCode::kNotFound);
  EXPECT_EQ(StatusFromHttp(409, R"({"reason":"AlreadyExists"})", "w").code(),
            StatusCode::kAlreadyExists);
  EXPECT_EQ(StatusFromHttp(409, R"({"reason":"Conflict"})", "w").code(),
            StatusCode::kFailedPrecondition);
  EXPECT_EQ(StatusFromHttp(503, "down", "w").code(), StatusCode::kUnavailable);
  EXPECT_THAT(StatusFromHttp(500, "plain text", "w").message(), HasSubstr("plain text"));
}

TEST(ResourcePathTest, BuildsCollectionAndObjectPaths) {
  EXPECT_EQ(ResourcePath(ResourceKind::kJob, "ns", "a"), "/apis/batch/v1/namespaces/ns/jobs/a");
  EXPECT_EQ(ResourcePath(ResourceKind::kJob, "", ""), "/apis/batch/v1/jobs");
  EXPECT_EQ(ResourcePath(ResourceKind::kService, "ns", ""), "/api/v1/namespaces/ns/services");
  EXPECT_EQ(ResourcePath(ResourceKind::kPod, "ns", ""), "/api/v1/namespaces/ns/pods");
  EXPECT_EQ(ResourcePath(ResourceKind::kNamespace, "ignored", "ns"), "/api/v1/namespaces/ns");
}

// Answers requests from a script, in order, and records them.
class ScriptedHttpClient : public HttpClient {
 public:
  explicit ScriptedHttpClient(std::deque<StatusOr<HttpResponse>> answers)
      : answers_(std::move(answers)) {}

  // HttpClient:
  StatusOr<HttpResponse> Send(const HttpRequest& request) override {
    requests.push_back(request);
    if (answers_.empty()) return InternalError("script exhausted");
    StatusOr<HttpResponse> answer = answers_.front();
    answers_.pop_front();
    return answer;
  }
  StatusOr<HttpResponse> Stream(const HttpRequest& request,
                                const std::function<bool(std::string_view)>& on_line,
                                const HttpCancellation&) override {
    requests.push_back(request);
    for (const std::string& line : stream_lines) {
      if (!on_line(line)) break;
    }
    return HttpResponse{200, {}, ""};
  }

  std::vector<HttpRequest> requests;
  std::vector<std::string> stream_lines;

 private:
  std::deque<StatusOr<HttpResponse>> answers_;
};

HttpResponse Answer(int status, std::string body, std::map<std::string, std::string> headers = {}) {
  return HttpResponse{status, std::move(headers), std::move(body)};
}

// A client over a script, with retries fast enough for a unit test.
struct Fixture {
  explicit Fixture(std::deque<StatusOr<HttpResponse>> answers, int max_attempts = 3) {
    auto http = std::make_unique<ScriptedHttpClient>(std::move(answers));
    fake = http.get();
    KubernetesClientOptions options;
    options.retry.initial_backoff = milliseconds(1);
    options.retry.max_backoff = milliseconds(2);
    options.retry.max_attempts = max_attempts;
    options.retry.max_timeouts = 2;
    client = std::make_unique<KubernetesClient>(std::move(http), options);
  }
  ScriptedHttpClient* fake = nullptr;
  std::unique_ptr<KubernetesClient> client;
};

TEST(KubernetesClientTest, RetriesServerErrorsAndConnectionFailures) {
  Fixture f({Answer(503, "busy"), UnavailableError("connection refused"),
             Answer(200, R"({"metadata":{"name":"a"}})")});
  StatusOr<json> object = f.client->Get(ResourceKind::kJob, "ns", "a");
  ASSERT_TRUE(object.ok()) << object.status().ToString();
  EXPECT_EQ((*object)["metadata"]["name"], "a");
  EXPECT_EQ(f.fake->requests.size(), 3u);
}

TEST(KubernetesClientTest, GivesUpAfterMaxAttempts) {
  Fixture f({Answer(503, "busy", {{"retry-after", "0"}}), Answer(500, "a"),
             Answer(500, R"({"message":"etcd unavailable"})"), Answer(200, "{}")});
  StatusOr<json> object = f.client->Get(ResourceKind::kJob, "ns", "a");
  ASSERT_FALSE(object.ok());
  EXPECT_EQ(object.status().code(), StatusCode::kUnavailable);
  EXPECT_THAT(object.status().message(), HasSubstr("etcd unavailable"));
  EXPECT_EQ(f.fake->requests.size(), 3u);
}

TEST(KubernetesClientTest, TooManyRequestsHaveABudgetOfTheirOwn) {
  Fixture f({Answer(429, "slow down", {{"retry-after", "0"}}), Answer(500, "a"),
             Answer(429, "slow down", {{"retry-after", "0"}}), Answer(500, "b"),
             Answer(200, R"({"metadata":{"name":"a"}})")});
  StatusOr<json> object = f.client->Get(ResourceKind::kJob, "ns", "a");
  ASSERT_TRUE(object.ok()) << object.status().ToString();
  EXPECT_EQ(f.fake->requests.size(), 5u) << "two 429s beside max_attempts (3) other attempts";
  EXPECT_EQ(f.client->throttled(), 2);
}

TEST(KubernetesClientTest, GivesUpAfterMaxThrottled) {
  std::deque<StatusOr<HttpResponse>> answers;
  for (int i = 0; i < 20; ++i) answers.push_back(Answer(429, R"({"message":"too many requests"})"));
  Fixture f(std::move(answers));
  StatusOr<json> object = f.client->Get(ResourceKind::kJob, "ns", "a");
  ASSERT_FALSE(object.ok());
  EXPECT_EQ(object.status().code(), StatusCode::kUnavailable);
  EXPECT_THAT(object.status().message(), HasSubstr("too many requests (HTTP 429)"));
  EXPECT_EQ(f.fake->requests.size(), 11u) << "the first attempt and max_throttled (10) retries";
}

TEST(KubernetesClientTest, ATooManyRequestsAnswerCutsTheLimitAndIsCounted) {
  auto http = std::make_unique<ScriptedHttpClient>(std::deque<StatusOr<HttpResponse>>{
      Answer(429, "slow down", {{"retry-after", "0"}}), Answer(200, "{}")});
  Metrics metrics;
  KubernetesClientOptions options;
  options.concurrency.initial = 16;
  options.metrics = &metrics;
  options.server = "https://apiserver:6443";
  KubernetesClient client(std::move(http), options);
  const MetricLabels labels = {{"server", "https://apiserver:6443"}};
  EXPECT_EQ(metrics.Value(kInflightLimitMetric, labels), 16);
  ASSERT_TRUE(client.Get(ResourceKind::kJob, "ns", "a").ok());
  EXPECT_EQ(client.inflight_limit(), 8);
  EXPECT_EQ(metrics.Value(kInflightLimitMetric, labels), 8);
  EXPECT_EQ(metrics.Value(kThrottledMetric, labels), 1);
}

TEST(KubernetesClientTest, AHungServerIsAskedAtMostMaxTimeoutsTimes) {
  Fixture f({DeadlineExceededError("no response within the timeout"),
             UnavailableError("connection reset"),
             DeadlineExceededError("no response within the timeout"), Answer(200, "{}")},
            /*max_attempts=*/5);
  StatusOr<json> object = f.client->Get(ResourceKind::kJob, "ns", "a");
  ASSERT_FALSE(object.ok());
  EXPECT_EQ(object.status().code(), StatusCode::kDeadlineExceeded);
  EXPECT_EQ(f.fake->requests.size(), 3u) << "two timeouts (max_timeouts), one refusal between";
}

TEST(KubernetesClientTest, DoesNotRetryForbidden) {
  Fixture f({Answer(403, R"({"message":"forbidden"})"), Answer(200, "{}")});
  StatusOr<json> created =
      f.client->Create(ResourceKind::kJob, "ns", {{"metadata", {{"name", "a"}}}});
  ASSERT_FALSE(created.ok());
  EXPECT_EQ(created.status().code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(f.fake->requests.size(), 1u);
  EXPECT_EQ(f.fake->requests[0].method, "POST");
}

TEST(KubernetesClientTest, DeleteOfAMissingObjectSucceeds) {
  Fixture f({Answer(404, R"({"reason":"NotFound"})")});
  EXPECT_TRUE(f.client->Delete(ResourceKind::kJob, "ns", "a", Propagation::kForeground).ok());
  EXPECT_THAT(f.fake->requests[0].body, HasSubstr(R"("propagationPolicy":"Foreground")"));
}

TEST(KubernetesClientTest, UpdateRereadsAndRetriesOnConflict) {
  Fixture f({Answer(200, R"({"metadata":{"resourceVersion":"1"},"spec":{"parallelism":1}})"),
             Answer(409, R"({"reason":"Conflict"})"),
             Answer(200, R"({"metadata":{"resourceVersion":"2"},"spec":{"parallelism":1}})"),
             Answer(200, R"({"metadata":{"resourceVersion":"3"},"spec":{"parallelism":4}})")});
  int mutations = 0;
  StatusOr<json> updated = f.client->Update(ResourceKind::kJob, "ns", "a", [&](json& object) {
    ++mutations;
    object["spec"]["parallelism"] = 4;
    return OkStatus();
  });
  ASSERT_TRUE(updated.ok()) << updated.status().ToString();
  EXPECT_EQ(mutations, 2);
  ASSERT_EQ(f.fake->requests.size(), 4u);
  EXPECT_EQ(f.fake->requests[3].method, "PUT");
  EXPECT_EQ(json::parse(f.fake->requests[3].body)["metadata"]["resourceVersion"], "2");
}

TEST(KubernetesClientTest, ListReturnsItemsAndResourceVersion) {
  Fixture f({Answer(200, R"({"metadata":{"resourceVersion":"42"},"items":[{"a":1},{"b":2}]})")});
  StatusOr<ObjectList> list = f.client->List(ResourceKind::kJob, "", "x=y");
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(list->resource_version, "42");
  EXPECT_EQ(list->items.size(), 2u);
  using Query = std::vector<std::pair<std::string, std::string>>;
  EXPECT_EQ(f.fake->requests[0].query, (Query{{"labelSelector", "x=y"}, {"limit", "500"}}));
}

// Found by fuzzing (tests/fuzz/regressions/live/): a JSON answer that was not an object threw, and
// one without items read as an empty list, which a caller would take for "no Jobs".
TEST(KubernetesClientTest, ListRefusesAnswersThatAreNotLists) {
  for (const char* body :
       {"[]", "null", R"("items")", R"({"metadata":[]})", R"({"items":{}})", R"({"items":null})"}) {
    Fixture f({Answer(200, body)});
    StatusOr<ObjectList> list = f.client->List(ResourceKind::kJob, "", "");
    ASSERT_FALSE(list.ok()) << body;
    EXPECT_EQ(list.status().code(), StatusCode::kInternal);
    EXPECT_THAT(list.status().message(), HasSubstr("not a list")) << body;
  }
}

TEST(KubernetesClientTest, ListIgnoresAResourceVersionOfTheWrongShape) {
  for (const char* body :
       {R"({"metadata":{"resourceVersion":42},"items":[]})",
        R"({"metadata":["resourceVersion"],"items":[]})", R"({"metadata":"42","items":[]})"}) {
    Fixture f({Answer(200, body)});
    StatusOr<ObjectList> list = f.client->List(ResourceKind::kJob, "", "");
    ASSERT_TRUE(list.ok()) << body;
    EXPECT_EQ(list->resource_version, "") << body;
  }
}

// Found by fuzzing (tests/fuzz/regressions/live/): ERROR events of the wrong shape threw.
TEST(KubernetesClientTest, WatchReadsMalformedEventsWithoutThrowing) {
  for (const char* error :
       {R"({"type":"ERROR","object":[410]})",
        R"({"type":"ERROR","object":{"code":"410","message":7}})", R"({"type":"ERROR"})"}) {
    Fixture f({});
    f.fake->stream_lines = {R"({"type":5,"object":[]})", error};
    int delivered = 0;
    Status status = f.client->Watch(
        ResourceKind::kJob, "", "", "7", std::chrono::seconds(5),
        [&](const json&) {
          ++delivered;
          return true;
        },
        HttpCancellation());
    EXPECT_EQ(status.code(), StatusCode::kFailedPrecondition) << error;
    EXPECT_THAT(status.message(), HasSubstr("watch error (0)")) << error;
    EXPECT_EQ(delivered, 1) << error;
  }
}

TEST(KubernetesClientTest, WatchDeliversEventsAndStopsWithGoneOnErrorEvents) {
  Fixture f({});
  f.fake->stream_lines = {R"({"type":"ADDED","object":{"metadata":{"name":"a"}}})",
                          R"({"type":"ERROR","object":{"code":410,"message":"too old"}})",
                          R"({"type":"ADDED","object":{"metadata":{"name":"b"}}})"};
  std::vector<std::string> seen;
  Status status = f.client->Watch(
      ResourceKind::kJob, "", "", "7", std::chrono::seconds(5),
      [&](const json& event) {
        seen.push_back(event["object"]["metadata"]["name"]);
        return true;
      },
      HttpCancellation());
  EXPECT_EQ(status.code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(status.message(), HasSubstr("410 Gone"));
  EXPECT_EQ(seen, std::vector<std::string>{"a"});
  // The HTTP inactivity timer backs the watchdog (5 s + a 30 s margin) with one more margin.
  EXPECT_EQ(f.fake->requests[0].timeout, milliseconds(65000));
}

// Found by fuzzing (tests/fuzz/regressions/apply/): scaling a Job whose spec, as the server
// returned it, was not a mapping threw out of Apply.
TEST(KubernetesBackendTest, ScaleRefusesAJobTheServerReturnsMalformed) {
  const ApplyContext context{"agent-a", "0123abcd"};
  const TrainingJob job = ::jobsync::testing::SampleJob("a", "ns");
  json existing = *RoleJobObject(job, "ps", context);
  existing["spec"] = json::array({1});
  auto http = std::make_unique<ScriptedHttpClient>(std::deque<StatusOr<HttpResponse>>{
      Answer(200, ServiceObject(job, context).dump()),  // the Service, read
      Answer(200, existing.dump())});                   // the ps Job, read to be scaled
  KubernetesBackendOptions options;
  options.client.retry.max_attempts = 1;
  KubernetesBackend backend(std::make_unique<KubernetesClient>(std::move(http), options.client),
                            options);
  PlanStep step;
  step.action = Action::kScale;
  step.key = job.key();
  step.desired = std::make_shared<const TrainingJob>(job);
  Status status = backend.Apply(step, context);
  EXPECT_EQ(status.code(), StatusCode::kInternal);
  EXPECT_THAT(status.message(), HasSubstr("no spec or annotations mapping"));
}

}  // namespace
}  // namespace jobsync
