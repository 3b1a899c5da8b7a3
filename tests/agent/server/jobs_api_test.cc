#include "agent/server/jobs_api.h"

#include <atomic>
#include <chrono>
#include <string>
#include <thread>

#include <gtest/gtest.h>

namespace jobsync {
namespace {

// A status that the test changes by hand, and how often the API read it whole.
struct FakeStatus {
  std::string version = "1";
  nlohmann::json document = {{"repo", "https://github.com/acme/jobs.git"},
                             {"jobs",
                              {{{"key", "kubernetes/vision/resnet50"},
                                {"namespace", "vision"},
                                {"name", "resnet50"},
                                {"sync", "Synced"},
                                {"health", "Healthy"},
                                {"appliedRevision", "0123456789abcdef0123456789abcdef01234567"},
                                {"source", "vision/resnet 50.yaml"},
                                {"labels", {{"team", "cv"}}}},
                               {{"key", "ray/nlp/bert"},
                                {"namespace", "nlp"},
                                {"name", "bert"},
                                {"sync", "Error"},
                                {"health", "Missing"},
                                {"lastError", "invalid manifest"}}}}};
  std::atomic<int> reads{0};

  JobsSource Source() {
    return {[this] { return version; },
            [this] {
              ++reads;
              return document.dump();
            },
            [](const std::string& key) -> std::optional<nlohmann::json> {
              if (key != "kubernetes/vision/resnet50") return std::nullopt;
              return nlohmann::json{{"step", {{"action", "none"}}},
                                    {"appliedSpec", {{"spec", {{"image", "pytorch"}}}}}};
            }};
  }
};

ApiRequest List(std::multimap<std::string, std::string> params = {}, std::string etag = "") {
  return {"", std::move(params), std::move(etag)};
}

TEST(JobsApiTest, UnchangedStatusAnswers304WithoutBodyAndIsIndexedOnce) {
  FakeStatus status;
  JobsApi api(status.Source());
  const ApiResponse first = api.Serve(List({{"q", "res"}}));
  ASSERT_EQ(first.status, 200);
  ASSERT_FALSE(first.etag.empty());
  EXPECT_EQ(nlohmann::json::parse(first.body)["jobs"].size(), 1u);

  const ApiResponse again = api.Serve(List({{"q", "res"}}, first.etag));
  EXPECT_EQ(again.status, 304);
  EXPECT_TRUE(again.body.empty());
  EXPECT_EQ(again.etag, first.etag);
  EXPECT_EQ(api.Serve(List({{"q", "res"}}, "*")).status, 304);
  EXPECT_EQ(api.Serve(List({{"q", "res"}}, "\"other\", " + first.etag)).status, 304);
  EXPECT_EQ(status.reads.load(), 1) << "the status is read and indexed once per version";

  // Another query with the first query's ETag: a different page, so the whole answer.
  const ApiResponse other = api.Serve(List({{"q", "bert"}}, first.etag));
  EXPECT_EQ(other.status, 200);
  EXPECT_NE(other.etag, first.etag);
}

TEST(JobsApiTest, ChangedStatusSendsThePageWithANewRevision) {
  FakeStatus status;
  JobsApi api(status.Source());
  const ApiResponse first = api.Serve(List());
  status.document["jobs"][0]["health"] = "Degraded";
  status.version = "2";
  const ApiResponse changed = api.Serve(List({}, first.etag));
  ASSERT_EQ(changed.status, 200);
  EXPECT_NE(changed.etag, first.etag);
  const nlohmann::json body = nlohmann::json::parse(changed.body);
  EXPECT_EQ(body["revision"], nlohmann::json::parse(first.body)["revision"].get<int>() + 1);
  EXPECT_EQ(body["summary"]["counts"]["health"]["Degraded"], 1);
  EXPECT_EQ(status.reads.load(), 2);
}

TEST(JobsApiTest, AnotherProcessNeverMatchesAnOldETag) {
  FakeStatus status;
  const std::string etag = JobsApi(status.Source()).Serve(List()).etag;
  // The same revision (1) and query in a restarted agent: a new process part of the tag.
  EXPECT_NE(JobsApi(status.Source()).Serve(List()).etag, etag);
}

TEST(JobsApiTest, BadQueryIs400NamingTheParameter) {
  FakeStatus status;
  JobsApi api(status.Source());
  const ApiResponse response = api.Serve(List({{"limit", "100000"}}));
  EXPECT_EQ(response.status, 400);
  EXPECT_NE(nlohmann::json::parse(response.body)["error"].get<std::string>().find("limit"),
            std::string::npos);
}

TEST(JobsApiTest, JobViewHasRowDetailAndHistory) {
  FakeStatus status;
  JobsApi api(status.Source());
  const ApiResponse response = api.Serve({"/kubernetes/vision/resnet50", {}, ""});
  ASSERT_EQ(response.status, 200) << response.body;
  const nlohmann::json body = nlohmann::json::parse(response.body);
  EXPECT_EQ(body["job"]["labels"]["team"], "cv");
  EXPECT_EQ(body["detail"]["appliedSpec"]["spec"]["image"], "pytorch");
  EXPECT_EQ(body["history"]["command"], "jobsync history vision/resnet50");
  EXPECT_EQ(body["history"]["url"],
            "https://github.com/acme/jobs/commits/0123456789abcdef0123456789abcdef01234567/"
            "vision/resnet%2050.yaml");
  EXPECT_EQ(api.Serve({"/kubernetes/vision/resnet50", {}, response.etag}).status, 304);

  const nlohmann::json error = nlohmann::json::parse(api.Serve({"/ray/nlp/bert", {}, ""}).body);
  EXPECT_EQ(error["job"]["lastError"], "invalid manifest");
  EXPECT_TRUE(error["detail"].is_null());
  EXPECT_FALSE(error["history"].contains("url")) << "no applied revision, no link";

  const ApiResponse missing = api.Serve({"/kubernetes/vision/nope", {}, ""});
  EXPECT_EQ(missing.status, 404);
  EXPECT_NE(missing.body.find("kubernetes/vision/nope"), std::string::npos);
}

// Warm builds the index of a new status on its own thread while the API is being read, and
// never for an agent nobody reads.
TEST(JobsApiTest, WarmIndexesANewStatusBeforeTheNextRequestOnlyWhileRead) {
  std::atomic<int> version{1};
  std::atomic<int> reads{0};
  JobsSource source{[&] { return std::to_string(version.load()); },
                    [&] {
                      ++reads;
                      return std::string(R"({"jobs": []})");
                    },
                    nullptr};
  auto settle = [] { std::this_thread::sleep_for(std::chrono::milliseconds(300)); };
  JobsApi api(source);
  api.Warm(std::chrono::milliseconds(20));
  version = 2;
  settle();
  EXPECT_EQ(reads.load(), 0) << "built with nobody reading the API";
  ASSERT_EQ(api.Serve(List()).status, 200);
  EXPECT_EQ(reads.load(), 1);
  version = 3;
  settle();
  EXPECT_EQ(reads.load(), 2) << "the new status was not indexed before the next request";
  ASSERT_EQ(api.Serve(List()).status, 200);
  EXPECT_EQ(reads.load(), 2) << "the request built the index again";
}

TEST(JobsApiTest, HistoryUrlOnlyForGitHubAndGitLabOverHttps) {
  struct Case {
    const char* repo;
    const char* url;
  };
  const Case cases[] = {
      {"https://github.com/acme/jobs.git", "https://github.com/acme/jobs/commits/abc/a/b.yaml"},
      {"https://github.com/acme/jobs/", "https://github.com/acme/jobs/commits/abc/a/b.yaml"},
      {"https://bot@GitHub.com/acme/jobs", "https://GitHub.com/acme/jobs/commits/abc/a/b.yaml"},
      {"https://gitlab.com/g/sub/jobs.git", "https://gitlab.com/g/sub/jobs/-/commits/abc/a/b.yaml"},
      {"https://gitlab.example.com:8443/g/jobs",
       "https://gitlab.example.com:8443/g/jobs/-/commits/abc/a/b.yaml"},
      {"git@github.com:acme/jobs.git", ""},
      {"http://github.com/acme/jobs", ""},
      {"https://git.example.com/acme/jobs", ""},
      {"/srv/git/jobs", ""},
  };
  for (const Case& c : cases) EXPECT_EQ(HistoryUrl(c.repo, "abc", "a/b.yaml"), c.url) << c.repo;
  EXPECT_EQ(HistoryUrl("https://github.com/acme/jobs", "", "a.yaml"), "");
}

}  // namespace
}  // namespace jobsync
