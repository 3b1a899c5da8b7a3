#include "agent/server/webhook.h"

#include <algorithm>
#include <cctype>
#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tests/test_secrets.h"

namespace jobsync {
namespace {

constexpr char kSecret[] = "s3cret-hook-key";

std::string Lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

// A request's headers, looked up case-insensitively as HTTP servers do.
struct Headers {
  std::map<std::string, std::string> values;  // lower-case name -> value

  Headers() = default;
  Headers(std::initializer_list<std::pair<std::string, std::string>> list) {
    for (const auto& [name, value] : list) values[Lower(name)] = value;
  }
  std::string operator()(std::string_view name) const {
    auto it = values.find(Lower(name));
    return it == values.end() ? "" : it->second;
  }
};

std::string GitHubPush(const std::string& ref) {
  return R"({"ref":")" + ref +
         R"(","before":"0000","after":"abc123","repository":{"name":"jobs"}})";
}

struct Case {
  std::string name;
  WebhookKind kind;
  Headers headers;
  std::string body;
  std::string secret;
  std::string watched_ref;
  int status;
  bool trigger;
  std::string message;  // expected exactly
};

std::vector<Case> Cases() {
  const std::string main_push = GitHubPush("refs/heads/main");
  const std::string main_signature = SignWebhookBody(kSecret, main_push);
  const std::string gitlab_push =
      R"({"object_kind":"push","ref":"refs/heads/main","after":"def456"})";
  const std::string tag_push = GitHubPush("refs/tags/v1.2");
  return {
      {"github push to the watched branch",
       WebhookKind::kGitHub,
       {{"X-Hub-Signature-256", main_signature}, {"X-GitHub-Event", "push"}},
       main_push,
       kSecret,
       "refs/heads/main",
       200,
       true,
       "accepted: push to refs/heads/main"},
      {"github header names in another case",
       WebhookKind::kGitHub,
       {{"x-hub-signature-256", main_signature}, {"x-github-event", "push"}},
       main_push,
       kSecret,
       "refs/heads/main",
       200,
       true,
       "accepted: push to refs/heads/main"},
      {"github push to another branch",
       WebhookKind::kGitHub,
       {{"X-Hub-Signature-256", SignWebhookBody(kSecret, GitHubPush("refs/heads/dev"))},
        {"X-GitHub-Event", "push"}},
       GitHubPush("refs/heads/dev"),
       kSecret,
       "refs/heads/main",
       202,
       false,
       "ignored: push to refs/heads/dev, watching refs/heads/main"},
      {"github push of the watched tag",
       WebhookKind::kGitHub,
       {{"X-Hub-Signature-256", SignWebhookBody(kSecret, tag_push)}, {"X-GitHub-Event", "push"}},
       tag_push,
       kSecret,
       "refs/tags/v1.2",
       200,
       true,
       "accepted: push to refs/tags/v1.2"},
      {"github push of a tag while watching a branch",
       WebhookKind::kGitHub,
       {{"X-Hub-Signature-256", SignWebhookBody(kSecret, tag_push)}, {"X-GitHub-Event", "push"}},
       tag_push,
       kSecret,
       "refs/heads/main",
       202,
       false,
       "ignored: push to refs/tags/v1.2, watching refs/heads/main"},
      {"github any push when following the default branch",
       WebhookKind::kGitHub,
       {{"X-Hub-Signature-256", SignWebhookBody(kSecret, GitHubPush("refs/heads/trunk"))},
        {"X-GitHub-Event", "push"}},
       GitHubPush("refs/heads/trunk"),
       kSecret,
       "",
       200,
       true,
       "accepted: push to refs/heads/trunk"},
      {"github signature of another body",
       WebhookKind::kGitHub,
       {{"X-Hub-Signature-256", SignWebhookBody(kSecret, "{}")}, {"X-GitHub-Event", "push"}},
       main_push,
       kSecret,
       "refs/heads/main",
       401,
       false,
       "X-Hub-Signature-256 is not the body's signature with the configured secret"},
      {"github signature with another secret",
       WebhookKind::kGitHub,
       {{"X-Hub-Signature-256", SignWebhookBody("other", main_push)}, {"X-GitHub-Event", "push"}},
       main_push,
       kSecret,
       "refs/heads/main",
       401,
       false,
       "X-Hub-Signature-256 is not the body's signature with the configured secret"},
      {"github without signature",
       WebhookKind::kGitHub,
       {{"X-GitHub-Event", "push"}},
       main_push,
       kSecret,
       "refs/heads/main",
       401,
       false,
       "missing X-Hub-Signature-256 header"},
      {"github with no secret configured",
       WebhookKind::kGitHub,
       {{"X-Hub-Signature-256", SignWebhookBody("", main_push)}, {"X-GitHub-Event", "push"}},
       main_push,
       "",
       "refs/heads/main",
       401,
       false,
       "no webhook secret configured"},
      {"github ping",
       WebhookKind::kGitHub,
       {{"X-Hub-Signature-256", SignWebhookBody(kSecret, R"({"zen":"Keep it simple."})")},
        {"X-GitHub-Event", "ping"}},
       R"({"zen":"Keep it simple."})",
       kSecret,
       "refs/heads/main",
       200,
       false,
       "pong: github webhook is set up"},
      {"github event other than push",
       WebhookKind::kGitHub,
       {{"X-Hub-Signature-256", main_signature}, {"X-GitHub-Event", "issues"}},
       main_push,
       kSecret,
       "refs/heads/main",
       202,
       false,
       "ignored: github event \"issues\", only pushes trigger a sync"},
      {"github without event header",
       WebhookKind::kGitHub,
       {{"X-Hub-Signature-256", main_signature}},
       main_push,
       kSecret,
       "refs/heads/main",
       400,
       false,
       "missing X-GitHub-Event header"},
      {"github malformed JSON, signed",
       WebhookKind::kGitHub,
       {{"X-Hub-Signature-256", SignWebhookBody(kSecret, "{not json")}, {"X-GitHub-Event", "push"}},
       "{not json",
       kSecret,
       "refs/heads/main",
       400,
       false,
       "body is not valid JSON"},
      {"github malformed JSON, unsigned: authentication comes first",
       WebhookKind::kGitHub,
       {{"X-Hub-Signature-256", "sha256=00"}, {"X-GitHub-Event", "push"}},
       "{not json",
       kSecret,
       "refs/heads/main",
       401,
       false,
       "X-Hub-Signature-256 is not the body's signature with the configured secret"},
      {"github JSON that is not an object",
       WebhookKind::kGitHub,
       {{"X-Hub-Signature-256", SignWebhookBody(kSecret, "[1]")}, {"X-GitHub-Event", "push"}},
       "[1]",
       kSecret,
       "refs/heads/main",
       400,
       false,
       "body is not a JSON object"},
      {"github push without ref",
       WebhookKind::kGitHub,
       {{"X-Hub-Signature-256", SignWebhookBody(kSecret, R"({"after":"abc"})")},
        {"X-GitHub-Event", "push"}},
       R"({"after":"abc"})",
       kSecret,
       "refs/heads/main",
       400,
       false,
       "push event without a \"ref\""},
      {"gitlab push to the watched branch",
       WebhookKind::kGitLab,
       {{"X-Gitlab-Token", kSecret}, {"X-Gitlab-Event", "Push Hook"}},
       gitlab_push,
       kSecret,
       "refs/heads/main",
       200,
       true,
       "accepted: push to refs/heads/main"},
      {"gitlab tag push of the watched tag",
       WebhookKind::kGitLab,
       {{"X-Gitlab-Token", kSecret}, {"X-Gitlab-Event", "Tag Push Hook"}},
       R"({"object_kind":"tag_push","ref":"refs/tags/v2","after":"fed"})",
       kSecret,
       "refs/tags/v2",
       200,
       true,
       "accepted: push to refs/tags/v2"},
      {"gitlab push to another branch",
       WebhookKind::kGitLab,
       {{"X-Gitlab-Token", kSecret}, {"X-Gitlab-Event", "Push Hook"}},
       R"({"ref":"refs/heads/x"})",
       kSecret,
       "refs/heads/y",
       202,
       false,
       "ignored: push to refs/heads/x, watching refs/heads/y"},
      {"gitlab wrong token",
       WebhookKind::kGitLab,
       {{"X-Gitlab-Token", "s3cret-hook-kez"}, {"X-Gitlab-Event", "Push Hook"}},
       gitlab_push,
       kSecret,
       "refs/heads/main",
       401,
       false,
       "X-Gitlab-Token does not match the configured secret"},
      {"gitlab token that is a prefix of the secret",
       WebhookKind::kGitLab,
       {{"X-Gitlab-Token", "s3cret"}, {"X-Gitlab-Event", "Push Hook"}},
       gitlab_push,
       kSecret,
       "refs/heads/main",
       401,
       false,
       "X-Gitlab-Token does not match the configured secret"},
      {"gitlab without token",
       WebhookKind::kGitLab,
       {{"X-Gitlab-Event", "Push Hook"}},
       gitlab_push,
       kSecret,
       "refs/heads/main",
       401,
       false,
       "missing X-Gitlab-Token header"},
      {"gitlab with no secret configured",
       WebhookKind::kGitLab,
       {{"X-Gitlab-Token", kSecret}, {"X-Gitlab-Event", "Push Hook"}},
       gitlab_push,
       "",
       "refs/heads/main",
       401,
       false,
       "no webhook secret configured"},
      {"gitlab merge request event",
       WebhookKind::kGitLab,
       {{"X-Gitlab-Token", kSecret}, {"X-Gitlab-Event", "Merge Request Hook"}},
       R"({"object_kind":"merge_request"})",
       kSecret,
       "refs/heads/main",
       202,
       false,
       "ignored: gitlab event \"Merge Request Hook\", only pushes trigger a sync"},
      {"gitlab malformed JSON",
       WebhookKind::kGitLab,
       {{"X-Gitlab-Token", kSecret}, {"X-Gitlab-Event", "Push Hook"}},
       "{\"ref\":",
       kSecret,
       "refs/heads/main",
       400,
       false,
       "body is not valid JSON"},
      {"gitlab malformed JSON with wrong token: authentication comes first",
       WebhookKind::kGitLab,
       {{"X-Gitlab-Token", "nope"}, {"X-Gitlab-Event", "Push Hook"}},
       "{\"ref\":",
       kSecret,
       "refs/heads/main",
       401,
       false,
       "X-Gitlab-Token does not match the configured secret"},
      {"generic empty body",
       WebhookKind::kGeneric,
       {{"X-Jobsync-Signature-256", SignWebhookBody(kSecret, "")}},
       "",
       kSecret,
       "refs/heads/main",
       200,
       true,
       "accepted: sync requested"},
      {"generic JSON without ref",
       WebhookKind::kGeneric,
       {{"X-Jobsync-Signature-256", SignWebhookBody(kSecret, "{}")}},
       "{}",
       kSecret,
       "refs/heads/main",
       200,
       true,
       "accepted: sync requested"},
      {"generic push to the watched branch",
       WebhookKind::kGeneric,
       {{"X-Jobsync-Signature-256", SignWebhookBody(kSecret, R"({"ref":"refs/heads/main"})")}},
       R"({"ref":"refs/heads/main"})",
       kSecret,
       "refs/heads/main",
       200,
       true,
       "accepted: push to refs/heads/main"},
      {"generic push to another branch",
       WebhookKind::kGeneric,
       {{"X-Jobsync-Signature-256", SignWebhookBody(kSecret, R"({"ref":"refs/heads/dev"})")}},
       R"({"ref":"refs/heads/dev"})",
       kSecret,
       "refs/heads/main",
       202,
       false,
       "ignored: push to refs/heads/dev, watching refs/heads/main"},
      {"generic ref that is not a string",
       WebhookKind::kGeneric,
       {{"X-Jobsync-Signature-256", SignWebhookBody(kSecret, R"({"ref":5})")}},
       R"({"ref":5})",
       kSecret,
       "refs/heads/main",
       400,
       false,
       "\"ref\" in the body is not a string"},
      {"generic malformed JSON",
       WebhookKind::kGeneric,
       {{"X-Jobsync-Signature-256", SignWebhookBody(kSecret, "nope")}},
       "nope",
       kSecret,
       "refs/heads/main",
       400,
       false,
       "body is not valid JSON"},
      {"generic without signature",
       WebhookKind::kGeneric,
       {},
       "",
       kSecret,
       "refs/heads/main",
       401,
       false,
       "missing X-Jobsync-Signature-256 header"},
      {"generic with the GitHub header only",
       WebhookKind::kGeneric,
       {{"X-Hub-Signature-256", SignWebhookBody(kSecret, "")}},
       "",
       kSecret,
       "refs/heads/main",
       401,
       false,
       "missing X-Jobsync-Signature-256 header"},
      {"generic bad signature",
       WebhookKind::kGeneric,
       {{"X-Jobsync-Signature-256", SignWebhookBody(kSecret, "x")}},
       "",
       kSecret,
       "refs/heads/main",
       401,
       false,
       "X-Jobsync-Signature-256 is not the body's signature with the configured secret"},
  };
}

TEST(WebhookTest, AcceptsAndRejectsPerKind) {
  testing::RegisterTestSecret("webhook_test secret", kSecret);
  for (const Case& c : Cases()) {
    SCOPED_TRACE(c.name);
    const WebhookResult result = HandleWebhook(c.kind, c.headers, c.body, c.secret, c.watched_ref);
    EXPECT_EQ(result.http_status, c.status);
    EXPECT_EQ(result.trigger, c.trigger);
    EXPECT_EQ(result.message, c.message);
    // Neither the secret nor any signature is ever echoed.
    EXPECT_EQ(result.message.find(kSecret), std::string::npos);
    EXPECT_EQ(result.message.find("sha256="), std::string::npos);
  }
}

TEST(WebhookTest, ReportsThePushedRefAndCommit) {
  testing::RegisterTestSecret("webhook_test secret", kSecret);
  const std::string body = GitHubPush("refs/heads/main");
  const Headers headers = {{"X-Hub-Signature-256", SignWebhookBody(kSecret, body)},
                           {"X-GitHub-Event", "push"}};
  const WebhookResult result =
      HandleWebhook(WebhookKind::kGitHub, headers, body, kSecret, "refs/heads/main");
  EXPECT_TRUE(result.trigger);
  EXPECT_EQ(result.ref, "refs/heads/main");
  EXPECT_EQ(result.commit, "abc123");
}

TEST(WebhookTest, KeepsEchoedRefsOnOneLine) {
  testing::RegisterTestSecret("webhook_test secret", kSecret);
  const std::string body = R"({"ref":"refs/heads/a\nb"})";
  const Headers headers = {{"X-Jobsync-Signature-256", SignWebhookBody(kSecret, body)}};
  const WebhookResult result =
      HandleWebhook(WebhookKind::kGeneric, headers, body, kSecret, "refs/heads/main");
  EXPECT_EQ(result.http_status, 202);
  EXPECT_EQ(result.message, "ignored: push to refs/heads/a?b, watching refs/heads/main");
}

TEST(WebhookTest, SignsTheGitHubTestVector) {
  EXPECT_EQ(SignWebhookBody("It's a Secret to Everybody", "Hello, World!"),
            "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17");
}

TEST(WebhookTest, ConstantTimeEqualsComparesBytesAndLengths) {
  EXPECT_TRUE(ConstantTimeEquals("", ""));
  EXPECT_TRUE(ConstantTimeEquals("abc", "abc"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "abd"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "ab"));
  EXPECT_FALSE(ConstantTimeEquals("", "a"));
  EXPECT_FALSE(ConstantTimeEquals(std::string_view("a\0b", 3), std::string_view("a\0c", 3)));
}

TEST(WebhookTest, ParsesKindNames) {
  for (WebhookKind kind : kWebhookKinds) {
    EXPECT_EQ(ParseWebhookKind(WebhookKindName(kind)), kind);
  }
  EXPECT_STREQ(WebhookKindName(WebhookKind::kGitHub), "github");
  EXPECT_STREQ(WebhookKindName(WebhookKind::kGitLab), "gitlab");
  EXPECT_STREQ(WebhookKindName(WebhookKind::kGeneric), "generic");
  EXPECT_EQ(ParseWebhookKind("GitHub"), std::nullopt);
  EXPECT_EQ(ParseWebhookKind(""), std::nullopt);
  EXPECT_STREQ(WebhookKindName(WebhookKind::kGitea), "gitea");
  EXPECT_STREQ(WebhookKindName(WebhookKind::kBitbucket), "bitbucket");
  EXPECT_EQ(ParseWebhookKind("forgejo"), std::nullopt);
}

}  // namespace
}  // namespace jobsync
