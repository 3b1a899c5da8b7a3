// ResolveRayToken's precedence (ray_token.h) and the messages of a refused token. Files live in a
// directory of the test's own; HOME comes from the test's environment map, so the user's real
// ~/.ray/auth_token is never read.
#include "backends/ray/ray_token.h"

#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include "backends/ray/ray_backend.h"
#include "tests/backends/ray/fake_ray.h"
#include "tests/test_secrets.h"

namespace jobsync {
namespace {

namespace fs = std::filesystem;
using ::testing::_;
using ::testing::AllOf;
using ::testing::HasSubstr;
using testing::MockHttpClient;
using ::testing::Not;
using ::testing::Return;

EnvLookup Environment(const std::map<std::string, std::string>& values) {
  return [values](const std::string& name) -> std::optional<std::string> {
    auto it = values.find(name);
    if (it == values.end()) return std::nullopt;
    return it->second;
  };
}

class RayTokenTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) / ("ray-token-test-" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "home" / ".ray");
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Writes `text` to dir_/name and returns its path.
  std::string Write(const std::string& name, const std::string& text) {
    const fs::path path = dir_ / name;
    std::ofstream(path, std::ios::binary) << text;
    return path.string();
  }

  std::string Home() const { return (dir_ / "home").string(); }

  // The path of dir_/name, whether or not it exists.
  std::string PathOf(const std::string& name) const { return (dir_ / name).string(); }

 private:
  fs::path dir_;
};

TEST_F(RayTokenTest, EachSourceInPrecedenceOrder) {
  const std::string flag = Write("flag", "from-flag\n");
  const std::string jobsync_file = Write("jobsync", "from-jobsync-file\n");
  const std::string ray_path = Write("ray-path", "from-ray-path\n");
  Write("home/.ray/auth_token", "from-default-file\n");
  std::map<std::string, std::string> env = {{kRayTokenFileEnv, jobsync_file},
                                            {kRayTokenEnv, "from-jobsync-env"},
                                            {kRayAuthTokenEnv, "from-ray-env"},
                                            {kRayAuthTokenPathEnv, ray_path},
                                            {"HOME", Home()}};
  struct Case {
    std::string drop;  // the source removed before this case (empty: none)
    std::string want_value;
    std::string want_source;
  };
  const std::vector<Case> cases = {
      {"", "from-flag", "--ray-token-file (" + flag + ")"},
      {"--ray-token-file", "from-jobsync-file", "JOBSYNC_RAY_TOKEN_FILE (" + jobsync_file + ")"},
      {kRayTokenFileEnv, "from-jobsync-env", "JOBSYNC_RAY_TOKEN"},
      {kRayTokenEnv, "from-ray-env", "RAY_AUTH_TOKEN"},
      {kRayAuthTokenEnv, "from-ray-path", "RAY_AUTH_TOKEN_PATH (" + ray_path + ")"},
      {kRayAuthTokenPathEnv, "from-default-file",
       "~/.ray/auth_token (" + Home() + "/.ray/auth_token)"},
      {"HOME", "", ""},
  };
  std::string flag_value = flag;
  for (const Case& c : cases) {
    if (c.drop == "--ray-token-file") {
      flag_value.clear();
    } else if (!c.drop.empty()) {
      env.erase(c.drop);
    }
    StatusOr<RayToken> token = ResolveRayToken(flag_value, Environment(env));
    ASSERT_TRUE(token.ok()) << c.want_source << ": " << token.status().message();
    EXPECT_EQ(token->value, c.want_value) << "after dropping " << c.drop;
    EXPECT_EQ(token->source, c.want_source) << "after dropping " << c.drop;
  }
}

TEST_F(RayTokenTest, FirstLineTrimmedAndEmptyVariablesUnset) {
  const std::string file = Write("multi", "  \tthe-token \r\nsecond line\n");
  StatusOr<RayToken> token = ResolveRayToken(
      "",
      Environment({{kRayTokenEnv, "  "}, {kRayAuthTokenEnv, ""}, {kRayAuthTokenPathEnv, file}}));
  ASSERT_TRUE(token.ok()) << token.status().message();
  EXPECT_EQ(token->value, "the-token");
}

TEST_F(RayTokenTest, UnreadableOrEmptyNamedFileIsAnErrorNamingTheSetting) {
  const std::string empty = Write("empty", "\n\n");
  const std::string missing = PathOf("missing");
  struct Case {
    std::string flag;
    std::map<std::string, std::string> env;
    std::string setting;
    std::string path;
  };
  const std::vector<Case> cases = {
      {missing, {}, "--ray-token-file", missing},
      {empty, {}, "--ray-token-file", empty},
      {"", {{kRayTokenFileEnv, missing}}, kRayTokenFileEnv, missing},
      {"", {{kRayAuthTokenPathEnv, missing}}, kRayAuthTokenPathEnv, missing},
      {"", {{kRayAuthTokenPathEnv, empty}}, kRayAuthTokenPathEnv, empty},
  };
  for (const Case& c : cases) {
    StatusOr<RayToken> token = ResolveRayToken(c.flag, Environment(c.env));
    ASSERT_FALSE(token.ok()) << c.setting << " " << c.path;
    EXPECT_EQ(token.status().code(), StatusCode::kInvalidArgument);
    EXPECT_THAT(token.status().message(), AllOf(HasSubstr(c.setting), HasSubstr(c.path)));
  }
}

TEST_F(RayTokenTest, MissingOrEmptyDefaultFileIsNoToken) {
  StatusOr<RayToken> none = ResolveRayToken("", Environment({{"HOME", Home()}}));
  ASSERT_TRUE(none.ok()) << none.status().message();
  EXPECT_EQ(none->value, "");
  Write("home/.ray/auth_token", " \n");
  StatusOr<RayToken> empty = ResolveRayToken("", Environment({{"HOME", Home()}}));
  ASSERT_TRUE(empty.ok()) << empty.status().message();
  EXPECT_EQ(empty->value, "");
}

TEST_F(RayTokenTest, ControlCharactersAreRefusedWithoutPrintingTheToken) {
  const std::string secret = std::string("abc-secret\x01") + "xyz";
  StatusOr<RayToken> token = ResolveRayToken("", Environment({{kRayAuthTokenEnv, secret}}));
  ASSERT_FALSE(token.ok());
  EXPECT_THAT(token.status().message(), AllOf(HasSubstr("RAY_AUTH_TOKEN"), Not(HasSubstr("abc"))));
}

TEST(ResolveRayTargetTokenTest, RayAuthTokenReachesTheOptionsWithItsSource) {
  RayBackendOptions options;
  ASSERT_TRUE(ResolveRayTarget({"http://h:1", ""},
                               Environment({{kRayAuthTokenEnv, "ray-env-token"}}), &options)
                  .ok());
  EXPECT_EQ(options.bearer_token, "ray-env-token");
  EXPECT_EQ(options.token_source, "RAY_AUTH_TOKEN");
}

// What a dashboard's 401 (no token) and 403 (wrong token) turn into: the settings to fix, never
// the token.
TEST(RayTokenRefusalTest, MessagesNameTheSettingToFix) {
  constexpr const char* kSecret = "refused-token-7d2e41";
  testing::RegisterTestSecret("ray_token_test refused token", kSecret);
  struct Case {
    std::string token;
    std::string source;
    int status;
    std::string body;
    std::vector<std::string> want;
  };
  const std::vector<Case> cases = {
      {"",
       "",
       401,
       "Unauthorized: Missing authentication token",
       {"HTTP 401", "sent none", "--ray-token-file", "RAY_AUTH_TOKEN", "ray get-auth-token"}},
      {kSecret,
       "--ray-token-file (/etc/ray/token)",
       403,
       std::string("Forbidden: Invalid authentication token ") + kSecret,
       {"HTTP 403", "refused the token from --ray-token-file (/etc/ray/token)", "RAY_AUTH_TOKEN"}},
  };
  for (const Case& c : cases) {
    RayBackendOptions options;
    options.address = "http://127.0.0.1:1";
    options.instance = "prod";
    options.bearer_token = c.token;
    options.token_source = c.source;
    auto http = std::make_unique<MockHttpClient>();
    EXPECT_CALL(*http, Send(_)).WillOnce(Return(HttpResponse{c.status, {}, c.body}));
    RayBackend backend(std::move(http), options, [](std::chrono::milliseconds) {});
    StatusOr<std::vector<LiveJob>> live = backend.ListJobs();
    ASSERT_FALSE(live.ok());
    EXPECT_EQ(live.status().code(), StatusCode::kPermissionDenied);
    for (const std::string& want : c.want) {
      EXPECT_THAT(live.status().message(), HasSubstr(want)) << c.status;
    }
    EXPECT_THAT(live.status().message(), Not(HasSubstr(kSecret)));
  }
}

}  // namespace
}  // namespace jobsync
