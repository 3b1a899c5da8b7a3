// Webhook deliveries as GitHub (JSON and form-encoded), Gitea/Forgejo, Bitbucket Cloud and
// Bitbucket Server send them: the documented headers and bodies (tests/data/webhooks/), posted to
// the agent's real HTTP server on loopback, authenticated with the configured secret.
#include <fstream>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

// The same definitions as the library was built with (see agent/server/http_server.cc).
#if !defined(CPPHTTPLIB_OPENSSL_SUPPORT) || !defined(CPPHTTPLIB_ZLIB_SUPPORT) || \
    !defined(CPPHTTPLIB_BROTLI_SUPPORT)
#error "build with the compile definitions of pkg-config cpp-httplib (PkgConfig::CPPHTTPLIB)"
#endif
#include <httplib.h>

#include "agent/server/http_server.h"
#include "agent/server/webhook.h"
#include "tests/test_secrets.h"

namespace jobsync {
namespace {

constexpr char kSecret[] = "hosts-hook-s3cret-5d1e";
constexpr char kWatched[] = "refs/heads/main";

std::string Fixture(const std::string& name) {
  const std::string path = std::string(JOBSYNC_SOURCE_DIR) + "/tests/data/webhooks/" + name;
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in) << "missing fixture " << path;
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// application/x-www-form-urlencoded, as browsers and GitHub encode a form value.
std::string FormEncode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) != 0 || c == '-' || c == '_' || c == '.' || c == '*') {
      out += static_cast<char>(c);
    } else if (c == ' ') {
      out += '+';
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    }
  }
  return out;
}

// Replaces every occurrence of `from` in `text`.
std::string Replace(std::string text, const std::string& from, const std::string& to) {
  for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
  return text;
}

std::string Hex(const std::string& signature) { return signature.substr(7); }  // no "sha256="

struct Delivery {
  std::string name;
  std::string path;
  httplib::Headers headers;
  std::string body;
  std::string content_type;
  int status;
  bool trigger;
  std::string commit;  // expected in the result, when triggered
};

class WebhookHostsServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::RegisterTestSecret("webhook_hosts_test secret", kSecret);
    HttpHandlers handlers;
    handlers.webhook_authenticate =
        [this](WebhookKind kind, const std::function<std::string(std::string_view)>& header,
               std::string_view body) {
          std::optional<WebhookResult> rejected = AuthenticateWebhook(kind, header, body, kSecret);
          if (rejected) {
            std::lock_guard<std::mutex> lock(mutex_);
            results_.push_back(*rejected);
          }
          return rejected;
        };
    handlers.webhook = [this](WebhookKind kind,
                              const std::function<std::string(std::string_view)>& header,
                              std::string_view body) {
      WebhookResult result = HandleWebhook(kind, header, body, kSecret, kWatched);
      std::lock_guard<std::mutex> lock(mutex_);
      results_.push_back(result);
      return result;
    };
    HttpServerOptions options;
    options.listen = "127.0.0.1:0";
    options.webhook_rate_per_second = 0;
    server_ = std::make_unique<AgentHttpServer>(options, handlers);
    const Status started = server_->Start();
    ASSERT_TRUE(started.ok()) << started.ToString();
    client_ = std::make_unique<httplib::Client>("127.0.0.1", server_->port());
  }

  WebhookResult LastResult() {
    std::lock_guard<std::mutex> lock(mutex_);
    return results_.empty() ? WebhookResult{} : results_.back();
  }

  std::mutex mutex_;
  std::vector<WebhookResult> results_;
  std::unique_ptr<AgentHttpServer> server_;
  std::unique_ptr<httplib::Client> client_;
};

std::vector<Delivery> Deliveries() {
  const std::string github = Fixture("github-push.json");
  const std::string github_form = "payload=" + FormEncode(github);
  const std::string github_dev = Replace(github, "refs/heads/main", "refs/heads/dev");
  const std::string gitea = Fixture("gitea-push.json");
  const std::string cloud = Fixture("bitbucket-cloud-push.json");
  const std::string cloud_other = Replace(cloud, "\"name\": \"main\"", "\"name\": \"feature\"");
  const std::string server = Fixture("bitbucket-server-refs-changed.json");
  const std::string server_other =
      Replace(Replace(server, "refs/heads/main", "refs/heads/release"), "\"main\"", "\"release\"");
  const std::string ua_github = "GitHub-Hookshot/044aadd";
  return {
      {"github JSON push to the watched branch",
       "/hooks/github",
       {{"X-GitHub-Event", "push"},
        {"X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958"},
        {"X-Hub-Signature-256", SignWebhookBody(kSecret, github)},
        {"User-Agent", ua_github}},
       github,
       "application/json",
       200,
       true,
       "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c"},
      {"github form-encoded push (payload=), signed over the form as sent",
       "/hooks/github",
       {{"X-GitHub-Event", "push"},
        {"X-Hub-Signature-256", SignWebhookBody(kSecret, github_form)},
        {"User-Agent", ua_github}},
       github_form,
       "application/x-www-form-urlencoded",
       200,
       true,
       "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c"},
      {"github form-encoded push signed over the decoded JSON instead: rejected",
       "/hooks/github",
       {{"X-GitHub-Event", "push"}, {"X-Hub-Signature-256", SignWebhookBody(kSecret, github)}},
       github_form,
       "application/x-www-form-urlencoded",
       401,
       false,
       ""},
      {"github form without a payload field",
       "/hooks/github",
       {{"X-GitHub-Event", "push"}, {"X-Hub-Signature-256", SignWebhookBody(kSecret, "other=1")}},
       "other=1",
       "application/x-www-form-urlencoded",
       400,
       false,
       ""},
      {"github push to another branch: acknowledged, no sync",
       "/hooks/github",
       {{"X-GitHub-Event", "push"}, {"X-Hub-Signature-256", SignWebhookBody(kSecret, github_dev)}},
       github_dev,
       "application/json",
       202,
       false,
       ""},
      {"gitea push",
       "/hooks/gitea",
       {{"X-Gitea-Event", "push"},
        {"X-Gitea-Delivery", "f6266f16-1bf3-46a5-9ea4-602e06ead473"},
        {"X-GitHub-Event", "push"},
        {"X-Gogs-Event", "push"},
        {"X-Gitea-Signature", Hex(SignWebhookBody(kSecret, gitea))}},
       gitea,
       "application/json",
       200,
       true,
       "bffeb74224043ba2feb48d137756c8a9331c449a"},
      {"forgejo push",
       "/hooks/gitea",
       {{"X-Forgejo-Event", "push"}, {"X-Forgejo-Signature", Hex(SignWebhookBody(kSecret, gitea))}},
       gitea,
       "application/json",
       200,
       true,
       "bffeb74224043ba2feb48d137756c8a9331c449a"},
      {"gitea signature with a sha256= prefix is not Gitea's: rejected",
       "/hooks/gitea",
       {{"X-Gitea-Event", "push"}, {"X-Gitea-Signature", SignWebhookBody(kSecret, gitea)}},
       gitea,
       "application/json",
       401,
       false,
       ""},
      {"gitea issue event: acknowledged, no sync",
       "/hooks/gitea",
       {{"X-Gitea-Event", "issues"}, {"X-Gitea-Signature", Hex(SignWebhookBody(kSecret, "{}"))}},
       "{}",
       "application/json",
       202,
       false,
       ""},
      {"bitbucket cloud push",
       "/hooks/bitbucket",
       {{"X-Event-Key", "repo:push"},
        {"X-Hook-UUID", "cb2a0b2d-2e2e-4c4b-a1d4-0b7c3e4bfc8e"},
        {"X-Request-UUID", "afe2c2bb-96bd-4e0c-bd4b-9b0e8f8f5e50"},
        {"X-Attempt-Number", "1"},
        {"X-Hub-Signature", SignWebhookBody(kSecret, cloud)},
        {"User-Agent", "Bitbucket-Webhooks/2.0"}},
       cloud,
       "application/json",
       200,
       true,
       "4c8d5e03e075d808b9241ec760087e114d6d0ccf"},
      {"bitbucket cloud push to another branch",
       "/hooks/bitbucket",
       {{"X-Event-Key", "repo:push"}, {"X-Hub-Signature", SignWebhookBody(kSecret, cloud_other)}},
       cloud_other,
       "application/json",
       202,
       false,
       ""},
      {"bitbucket cloud without a secret on the hook: rejected",
       "/hooks/bitbucket",
       {{"X-Event-Key", "repo:push"}},
       cloud,
       "application/json",
       401,
       false,
       ""},
      {"bitbucket server push",
       "/hooks/bitbucket",
       {{"X-Event-Key", "repo:refs_changed"},
        {"X-Request-Id", "b9e4d7a6-5a28-4b53-9a4c-93b4a7a3f0ce"},
        {"X-Hub-Signature", SignWebhookBody(kSecret, server)}},
       server,
       "application/json; charset=utf-8",
       200,
       true,
       "22671f0349857934857983457983475ec39f196b"},
      {"bitbucket server push to another branch",
       "/hooks/bitbucket",
       {{"X-Event-Key", "repo:refs_changed"},
        {"X-Hub-Signature", SignWebhookBody(kSecret, server_other)}},
       server_other,
       "application/json; charset=utf-8",
       202,
       false,
       ""},
      {"bitbucket server test connection",
       "/hooks/bitbucket",
       {{"X-Event-Key", "diagnostics:ping"},
        {"X-Hub-Signature", SignWebhookBody(kSecret, R"({"test": true})")}},
       R"({"test": true})",
       "application/json; charset=utf-8",
       200,
       false,
       ""},
  };
}

TEST_F(WebhookHostsServerTest, AnswersEachHostsDeliveriesAsDocumented) {
  for (const Delivery& delivery : Deliveries()) {
    SCOPED_TRACE(delivery.name);
    auto response =
        client_->Post(delivery.path, delivery.headers, delivery.body, delivery.content_type);
    ASSERT_TRUE(response) << httplib::to_string(response.error());
    EXPECT_EQ(response->status, delivery.status) << response->body;
    const WebhookResult result = LastResult();
    EXPECT_EQ(result.trigger, delivery.trigger) << result.message;
    if (delivery.trigger) {
      EXPECT_EQ(result.ref, kWatched);
      EXPECT_EQ(result.commit, delivery.commit);
    }
    EXPECT_EQ(response->body.find(kSecret), std::string::npos);
  }
}

TEST(WebhookHostsTest, ADeletedBranchDoesNotTrigger) {
  testing::RegisterTestSecret("webhook_hosts_test secret", kSecret);
  const std::string github =
      R"({"ref":"refs/heads/main","after":"0000000000000000000000000000000000000000","deleted":true})";
  const WebhookResult deleted = HandleWebhook(
      WebhookKind::kGitHub,
      [&](std::string_view name) {
        return name == "X-Hub-Signature-256" ? SignWebhookBody(kSecret, github)
               : name == "X-GitHub-Event"    ? std::string("push")
                                             : std::string();
      },
      github, kSecret, kWatched);
  EXPECT_EQ(deleted.http_status, 202);
  EXPECT_FALSE(deleted.trigger);
  EXPECT_EQ(deleted.message,
            "ignored: push to refs/heads/main (deleted), watching refs/heads/main");

  const std::string cloud =
      R"({"push":{"changes":[{"new":null,"old":{"type":"branch","name":"main"},"closed":true}]}})";
  const WebhookResult closed = HandleWebhook(
      WebhookKind::kBitbucket,
      [&](std::string_view name) {
        return name == "X-Hub-Signature" ? SignWebhookBody(kSecret, cloud)
               : name == "X-Event-Key"   ? std::string("repo:push")
                                         : std::string();
      },
      cloud, kSecret, kWatched);
  EXPECT_EQ(closed.http_status, 202);
  EXPECT_FALSE(closed.trigger);
}

TEST(WebhookHostsTest, PicksTheWatchedRefAmongSeveralBitbucketChanges) {
  testing::RegisterTestSecret("webhook_hosts_test secret", kSecret);
  const std::string body =
      R"({"changes":[{"ref":{"id":"refs/tags/v1","displayId":"v1","type":"TAG"},"toHash":"aaa","type":"ADD"},)"
      R"({"ref":{"id":"refs/heads/main","displayId":"main","type":"BRANCH"},"toHash":"bbb","type":"UPDATE"}]})";
  const WebhookResult result = HandleWebhook(
      WebhookKind::kBitbucket,
      [&](std::string_view name) {
        return name == "X-Hub-Signature" ? SignWebhookBody(kSecret, body)
               : name == "X-Event-Key"   ? std::string("repo:refs_changed")
                                         : std::string();
      },
      body, kSecret, kWatched);
  EXPECT_TRUE(result.trigger);
  EXPECT_EQ(result.ref, "refs/heads/main");
  EXPECT_EQ(result.commit, "bbb");
}

TEST(WebhookHostsTest, DecodesFormComponents) {
  EXPECT_EQ(DecodeFormComponent("a+b%3D%7B%22x%22%7D"), "a b={\"x\"}");
  EXPECT_EQ(DecodeFormComponent(""), "");
  EXPECT_EQ(DecodeFormComponent("%2"), std::nullopt);
  EXPECT_EQ(DecodeFormComponent("%zz"), std::nullopt);
}

}  // namespace
}  // namespace jobsync
