#include "agent/server/http_server.h"

#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "agent/server/jobs_api.h"

// The same definitions as the library was built with (see agent/server/http_server.cc).
#if !defined(CPPHTTPLIB_OPENSSL_SUPPORT) || !defined(CPPHTTPLIB_ZLIB_SUPPORT) || \
    !defined(CPPHTTPLIB_BROTLI_SUPPORT)
#error "build with the compile definitions of pkg-config cpp-httplib (PkgConfig::CPPHTTPLIB)"
#endif
#include <httplib.h>

#include "tests/test_secrets.h"

namespace jobsync {
namespace {

// What the webhook handler was called with.
struct WebhookCall {
  WebhookKind kind;
  std::string token;
  std::string body;
};

class HttpServerEndpointsTest : public ::testing::Test {
 protected:
  // Handlers for every endpoint; the webhook one (behind an authentication that lets every
  // request through) records its calls and answers `webhook_answer_`.
  HttpHandlers AllHandlers() {
    HttpHandlers handlers;
    handlers.metrics = [] { return std::string("jobsync_up 1\n"); };
    handlers.status = [] { return nlohmann::json{{"jobs", {{{"name", "train"}}}}}.dump(); };
    handlers.ready = [this] {
      std::lock_guard<std::mutex> lock(mutex_);
      return readiness_;
    };
    handlers.index_html = [] { return std::string("<h1>jobsync</h1>"); };
    // Every request passes; signatures are webhook_test's and http_server_bounds_test's.
    handlers.webhook_authenticate =
        [](WebhookKind, const std::function<std::string(std::string_view)>&,
           std::string_view) -> std::optional<WebhookResult> { return std::nullopt; };
    handlers.webhook = [this](WebhookKind kind,
                              const std::function<std::string(std::string_view)>& header,
                              std::string_view body) {
      std::lock_guard<std::mutex> lock(mutex_);
      calls_.push_back({kind, header("x-gitlab-token"), std::string(body)});
      return webhook_answer_;
    };
    return handlers;
  }

  void StartServer(HttpHandlers handlers, HttpServerOptions options = {}) {
    options.listen = "127.0.0.1:0";
    server_ = std::make_unique<AgentHttpServer>(options, std::move(handlers));
    const Status started = server_->Start();
    ASSERT_TRUE(started.ok()) << started.ToString();
    ASSERT_GT(server_->port(), 0);
    client_ = std::make_unique<httplib::Client>("127.0.0.1", server_->port());
  }

  std::vector<WebhookCall> Calls() {
    std::lock_guard<std::mutex> lock(mutex_);
    return calls_;
  }

  std::mutex mutex_;
  Readiness readiness_{true, ""};
  WebhookResult webhook_answer_{200, "accepted: sync requested", true, "", ""};
  std::vector<WebhookCall> calls_;
  std::unique_ptr<AgentHttpServer> server_;
  std::unique_ptr<httplib::Client> client_;
};

TEST_F(HttpServerEndpointsTest, ServesEveryEndpoint) {
  StartServer(AllHandlers());

  auto health = client_->Get("/healthz");
  ASSERT_TRUE(health) << httplib::to_string(health.error());
  EXPECT_EQ(health->status, 200);
  EXPECT_EQ(health->body, "ok");

  auto ready = client_->Get("/readyz");
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->status, 200);

  auto metrics = client_->Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_EQ(metrics->status, 200);
  EXPECT_EQ(metrics->body, "jobsync_up 1\n");
  EXPECT_EQ(metrics->get_header_value("Content-Type"), "text/plain; version=0.0.4; charset=utf-8");

  auto status = client_->Get("/api/v1/status");
  ASSERT_TRUE(status);
  EXPECT_EQ(status->status, 200);
  EXPECT_EQ(status->get_header_value("Content-Type"), "application/json");
  EXPECT_EQ(nlohmann::json::parse(status->body), (nlohmann::json{{"jobs", {{{"name", "train"}}}}}));

  auto index = client_->Get("/");
  ASSERT_TRUE(index);
  EXPECT_EQ(index->status, 200);
  EXPECT_EQ(index->body, "<h1>jobsync</h1>");
  EXPECT_EQ(index->get_header_value("Content-Type"), "text/html; charset=utf-8");
}

// The jobs API over real HTTP: query parameters and the job's path reach it decoded, its ETag
// comes back as a header, and a 304 has no body.
TEST_F(HttpServerEndpointsTest, ServesTheJobsApiWithETags) {
  HttpHandlers handlers = AllHandlers();
  handlers.status = [] {
    return nlohmann::json{
        {"jobs",
         {{{"key", "kubernetes/ml team/train"},
           {"namespace", "ml team"},
           {"name", "train"},
           {"sync", "Synced"}},
          {{"key", "kubernetes/ml/eval"}, {"namespace", "ml"}, {"name", "eval"}}}}}
        .dump();
  };
  auto api =
      std::make_shared<JobsApi>(JobsSource{[] { return std::string("1"); }, handlers.status, {}});
  handlers.jobs = [api](const ApiRequest& request) { return api->Serve(request); };
  StartServer(std::move(handlers));

  auto page = client_->Get("/api/v1/jobs?q=TRA&namespace=ml%20team");
  ASSERT_TRUE(page) << httplib::to_string(page.error());
  ASSERT_EQ(page->status, 200);
  EXPECT_EQ(page->get_header_value("Content-Type"), "application/json");
  const nlohmann::json body = nlohmann::json::parse(page->body);
  ASSERT_EQ(body["jobs"].size(), 1u);
  EXPECT_EQ(body["jobs"][0]["name"], "train");
  const std::string etag = page->get_header_value("ETag");
  ASSERT_FALSE(etag.empty());

  auto unchanged =
      client_->Get("/api/v1/jobs?q=TRA&namespace=ml%20team", {{"If-None-Match", etag}});
  ASSERT_TRUE(unchanged);
  EXPECT_EQ(unchanged->status, 304);
  EXPECT_TRUE(unchanged->body.empty());
  EXPECT_EQ(unchanged->get_header_value("ETag"), etag);

  auto job = client_->Get("/api/v1/jobs/kubernetes/ml%20team/train");
  ASSERT_TRUE(job);
  EXPECT_EQ(job->status, 200) << job->body;
  EXPECT_EQ(nlohmann::json::parse(job->body)["job"]["key"], "kubernetes/ml team/train");
  auto missing = client_->Get("/api/v1/jobs/kubernetes/ml/nope");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
  auto bad = client_->Get("/api/v1/jobs?page=0");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400);
}

TEST_F(HttpServerEndpointsTest, PassesWebhooksToTheHandlerAndAnswersItsResult) {
  webhook_answer_ = {202, "ignored: push to refs/heads/x, watching refs/heads/y", false, "", ""};
  StartServer(AllHandlers());

  constexpr const char* kToken = "gitlab-t0ken-3e7a91";
  testing::RegisterTestSecret("http_server_test GitLab token", kToken);
  auto response = client_->Post("/hooks/gitlab", {{"X-Gitlab-Token", kToken}},
                                R"({"ref":"refs/heads/x"})", "application/json");
  ASSERT_TRUE(response) << httplib::to_string(response.error());
  EXPECT_EQ(response->status, 202);
  EXPECT_EQ(response->body, "ignored: push to refs/heads/x, watching refs/heads/y");

  const std::vector<WebhookCall> calls = Calls();
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].kind, WebhookKind::kGitLab);
  EXPECT_EQ(calls[0].token, kToken);
  EXPECT_EQ(calls[0].body, R"({"ref":"refs/heads/x"})");

  for (const char* path : {"/hooks/github", "/hooks/generic"}) {
    auto other = client_->Post(path, "", "application/json");
    ASSERT_TRUE(other) << path;
    EXPECT_EQ(other->status, 202) << path;
  }
  const std::vector<WebhookCall> all = Calls();
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[1].kind, WebhookKind::kGitHub);
  EXPECT_EQ(all[2].kind, WebhookKind::kGeneric);
  EXPECT_EQ(all[2].body, "");
}

TEST_F(HttpServerEndpointsTest, ReadyzAnswers503WithTheReason) {
  readiness_ = {false, "waiting for the first sync of https://example.com/jobs.git"};
  StartServer(AllHandlers());

  auto response = client_->Get("/readyz");
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 503);
  EXPECT_EQ(response->body, "waiting for the first sync of https://example.com/jobs.git");
}

TEST_F(HttpServerEndpointsTest, AnswersUnknownPathsWith404AndOtherMethodsWith405) {
  StartServer(AllHandlers());
  struct Case {
    std::string method;
    std::string path;
    int status;
    std::string allow;
  };
  const std::vector<Case> cases = {
      {"GET", "/nope", 404, ""},
      {"GET", "/healthz/more", 404, ""},
      {"GET", "/hooks/gogs", 404, ""},
      {"POST", "/nope", 404, ""},
      {"PUT", "/nope", 404, ""},
      {"GET", "/hooks/github", 405, "POST"},
      {"HEAD", "/hooks/gitlab", 405, "POST"},
      {"POST", "/healthz", 405, "GET, HEAD"},
      {"POST", "/", 405, "GET, HEAD"},
      {"DELETE", "/metrics", 405, "GET, HEAD"},
      {"PUT", "/api/v1/status", 405, "GET, HEAD"},
      {"PATCH", "/hooks/generic", 405, "POST"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.method + " " + c.path);
    httplib::Request request;
    request.method = c.method;
    request.path = c.path;
    auto response = client_->send(request);
    ASSERT_TRUE(response) << httplib::to_string(response.error());
    EXPECT_EQ(response->status, c.status);
    EXPECT_EQ(response->get_header_value("Allow"), c.allow);
  }
  EXPECT_TRUE(Calls().empty());
}

TEST_F(HttpServerEndpointsTest, RejectsBodiesAboveTheLimitWith413) {
  HttpServerOptions options;
  options.max_body_bytes = 1024;
  StartServer(AllHandlers(), options);

  auto too_large = client_->Post("/hooks/generic", std::string(1025, 'x'), "text/plain");
  ASSERT_TRUE(too_large) << httplib::to_string(too_large.error());
  EXPECT_EQ(too_large->status, 413);
  EXPECT_EQ(too_large->body, "request body larger than 1024 bytes");
  EXPECT_TRUE(Calls().empty());

  auto at_limit = client_->Post("/hooks/generic", std::string(1024, 'x'), "text/plain");
  ASSERT_TRUE(at_limit);
  EXPECT_EQ(at_limit->status, 200);
  EXPECT_EQ(Calls().size(), 1u);
}

TEST_F(HttpServerEndpointsTest, RejectsBodiesItCannotBound) {
  HttpServerOptions options;
  options.max_body_bytes = 1024;
  StartServer(AllHandlers(), options);

  // The headers alone decide: the client sends no body that the server would leave unread.
  struct Case {
    std::string header;
    std::string value;
    int status;
  };
  const std::vector<Case> cases = {
      // Chunked: httplib would read it whole whatever max_body_bytes says.
      {"Transfer-Encoding", "chunked", 411},
      // Compressed: httplib would inflate it without bound.
      {"Content-Encoding", "gzip", 415},
      {"Content-Encoding", "br", 415},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.header + ": " + c.value);
    httplib::Request request;
    request.method = "POST";
    request.path = "/hooks/generic";
    request.set_header(c.header, c.value);
    auto response = client_->send(request);
    ASSERT_TRUE(response) << httplib::to_string(response.error());
    EXPECT_EQ(response->status, c.status);
  }
  EXPECT_TRUE(Calls().empty());
}

TEST_F(HttpServerEndpointsTest, LimitsWebhookRateWith429AndRetryAfter) {
  HttpServerOptions options;
  // One token, refilled after 1000 s: the second request cannot find one.
  options.webhook_rate_per_second = 0.001;
  StartServer(AllHandlers(), options);

  auto first = client_->Post("/hooks/generic", "", "application/json");
  ASSERT_TRUE(first);
  EXPECT_EQ(first->status, 200);

  auto second = client_->Post("/hooks/github", "", "application/json");
  ASSERT_TRUE(second);
  EXPECT_EQ(second->status, 429);
  const int retry_after = std::stoi(second->get_header_value("Retry-After"));
  EXPECT_GT(retry_after, 0);
  EXPECT_LE(retry_after, 1000);
  EXPECT_EQ(Calls().size(), 1u);

  // Only webhooks are limited.
  auto health = client_->Get("/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
}

TEST_F(HttpServerEndpointsTest, AnswersHandlerExceptionsWith500AndKeepsServing) {
  HttpHandlers handlers = AllHandlers();
  handlers.status = []() -> std::string { throw std::runtime_error("boom: internal detail"); };
  handlers.metrics = []() -> std::string { throw 42; };
  StartServer(std::move(handlers));

  for (int attempt = 0; attempt < 2; ++attempt) {
    auto status = client_->Get("/api/v1/status");
    ASSERT_TRUE(status);
    EXPECT_EQ(status->status, 500);
    EXPECT_EQ(status->body, "internal error");

    auto metrics = client_->Get("/metrics");
    ASSERT_TRUE(metrics);
    EXPECT_EQ(metrics->status, 500);

    auto health = client_->Get("/healthz");
    ASSERT_TRUE(health);
    EXPECT_EQ(health->status, 200);
  }
}

TEST_F(HttpServerEndpointsTest, EndpointsWithoutAHandlerAnswer404) {
  StartServer(HttpHandlers{});

  auto health = client_->Get("/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  for (const char* path : {"/readyz", "/metrics", "/api/v1/status", "/"}) {
    auto response = client_->Get(path);
    ASSERT_TRUE(response) << path;
    EXPECT_EQ(response->status, 404) << path;
  }
  auto hook = client_->Post("/hooks/github", "{}", "application/json");
  ASSERT_TRUE(hook);
  EXPECT_EQ(hook->status, 404);
}

TEST(HttpServerListenTest, StartFailsWithUnavailableWhenThePortIsTaken) {
  AgentHttpServer first({.listen = "127.0.0.1:0"}, {});
  ASSERT_TRUE(first.Start().ok());
  const std::string address = "127.0.0.1:" + std::to_string(first.port());

  AgentHttpServer second({.listen = address}, {});
  const Status status = second.Start();
  EXPECT_EQ(status.code(), StatusCode::kUnavailable);
  EXPECT_NE(status.message().find(address), std::string::npos) << status.message();

  // The first one is unharmed.
  httplib::Client client("127.0.0.1", first.port());
  auto response = client.Get("/healthz");
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
}

TEST(HttpServerListenTest, StartRejectsAMalformedAddress) {
  AgentHttpServer server({.listen = "localhost"}, {});
  EXPECT_EQ(server.Start().code(), StatusCode::kInvalidArgument);
}

TEST(HttpServerListenTest, StartTwiceFails) {
  AgentHttpServer server({.listen = "127.0.0.1:0"}, {});
  ASSERT_TRUE(server.Start().ok());
  EXPECT_EQ(server.Start().code(), StatusCode::kFailedPrecondition);
}

TEST(HttpServerListenTest, StopIsIdempotentAndClosesThePort) {
  AgentHttpServer never_started({.listen = "127.0.0.1:0"}, {});
  never_started.Stop();

  AgentHttpServer server({.listen = "127.0.0.1:0"}, {});
  ASSERT_TRUE(server.Start().ok());
  httplib::Client client("127.0.0.1", server.port());
  auto before = client.Get("/healthz");
  ASSERT_TRUE(before);
  EXPECT_EQ(before->status, 200);

  server.Stop();
  server.Stop();
  auto after = client.Get("/healthz");
  EXPECT_FALSE(after);
  EXPECT_EQ(after.error(), httplib::Error::Connection);
}

TEST(HttpServerAddressTest, ParsesListenAddresses) {
  struct Case {
    std::string address;
    bool ok;
    std::string host;
    int port;
  };
  const std::vector<Case> cases = {
      {"127.0.0.1:8080", true, "127.0.0.1", 8080},
      {"0.0.0.0:0", true, "0.0.0.0", 0},
      {"localhost:65535", true, "localhost", 65535},
      {"[::1]:9090", true, "::1", 9090},
      {"[::]:80", true, "::", 80},
      {"localhost", false, "", 0},
      {":8080", false, "", 0},
      {"127.0.0.1:", false, "", 0},
      {"127.0.0.1:65536", false, "", 0},
      {"127.0.0.1:-1", false, "", 0},
      {"127.0.0.1:80x", false, "", 0},
      {"::1:8080", false, "", 0},
      {"[::1]8080", false, "", 0},
      {"[]:8080", false, "", 0},
      {"", false, "", 0},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.address);
    std::string host;
    int port = -1;
    const Status status = ParseListenAddress(c.address, &host, &port);
    EXPECT_EQ(status.ok(), c.ok) << status.ToString();
    if (c.ok) {
      EXPECT_EQ(host, c.host);
      EXPECT_EQ(port, c.port);
    } else {
      EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
    }
  }
}

}  // namespace
}  // namespace jobsync
