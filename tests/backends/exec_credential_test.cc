// Exec credential plugins: the kubeconfig's exec block, the plugin's answer, and
// ExecCredentialSource running real shell-script plugins (expiry caching on an injected clock,
// renewal after a 401, failures that name the user and command but never the plugin's output).
#include "backends/kubernetes/exec_credential.h"

#include <filesystem>
#include <fstream>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include "tests/test_secrets.h"

namespace jobsync {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;
using ::testing::Not;
namespace fs = std::filesystem;

constexpr const char* kToken = "exec-t0ken-fr0m-plugin";
constexpr const char* kV1 = "client.authentication.k8s.io/v1";

json Exec(const std::string& yaml_like_api, const char* mode = "Never") {
  json exec = {{"command", "plugin"}, {"apiVersion", yaml_like_api}};
  if (mode != nullptr) exec["interactiveMode"] = mode;
  return exec;
}

struct ConfigCase {
  const char* name;
  json exec;
  const char* expected;  // in the message
};

class ExecConfigErrorTest : public ::testing::TestWithParam<ConfigCase> {};

TEST_P(ExecConfigErrorTest, NamesFileUserAndField) {
  StatusOr<ExecConfig> config = ParseExecConfig(GetParam().exec, "eks", "/kc/config", "/kc");
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(config.status().message(), HasSubstr("/kc/config: users[eks].user.exec"));
  EXPECT_THAT(config.status().message(), HasSubstr(GetParam().expected));
}

INSTANTIATE_TEST_SUITE_P(
    Broken, ExecConfigErrorTest,
    ::testing::Values(
        ConfigCase{"NoCommand", json{{"apiVersion", kV1}, {"interactiveMode", "Never"}},
                   ".command is missing"},
        ConfigCase{"NoApiVersion", json{{"command", "aws"}}, ".apiVersion is missing"},
        ConfigCase{"OldApiVersion", Exec("client.authentication.k8s.io/v1alpha1"),
                   "\"client.authentication.k8s.io/v1alpha1\" is not supported"},
        ConfigCase{"V1WithoutInteractiveMode", Exec(kV1, nullptr), "interactiveMode is required"},
        ConfigCase{"Always", Exec(kV1, "Always"), "never runs a plugin interactively"},
        ConfigCase{"UnknownMode", Exec(kV1, "Sometimes"), "\"Sometimes\" is not one of"},
        ConfigCase{"EnvWithoutName",
                   [] {
                     json e = Exec(kV1);
                     e["env"] = json::array({{{"value", "x"}}});
                     return e;
                   }(),
                   ".env has an entry without name"},
        ConfigCase{"ArgsNotStrings",
                   [] {
                     json e = Exec(kV1);
                     e["args"] = json::array({1});
                     return e;
                   }(),
                   ".args holds a non-string"}),
    [](const ::testing::TestParamInfo<ConfigCase>& param_info) { return param_info.param.name; });

TEST(ExecConfigTest, ResolvesPathsAgainstTheKubeconfigDirectoryAndDefaultsV1beta1) {
  json exec = {
      {"command", "./bin/plugin"},     {"apiVersion", "client.authentication.k8s.io/v1beta1"},
      {"args", {"token", "-i", "c1"}}, {"env", {{{"name", "AWS_PROFILE"}, {"value", "prod"}}}},
      {"provideClusterInfo", true},    {"installHint", "install it"}};
  StatusOr<ExecConfig> config =
      ParseExecConfig(exec, "u", "/home/me/.kube/config", "/home/me/.kube");
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->command, "/home/me/.kube/bin/plugin");
  EXPECT_EQ(config->interactive_mode, "IfAvailable");
  EXPECT_EQ(config->args, (std::vector<std::string>{"token", "-i", "c1"}));
  ASSERT_EQ(config->env.size(), 1u);
  EXPECT_EQ(config->env[0].first, "AWS_PROFILE");
  EXPECT_TRUE(config->provide_cluster_info);
  // A bare name is left for $PATH.
  exec["command"] = "aws";
  EXPECT_EQ(ParseExecConfig(exec, "u", "/k/c", "/k")->command, "aws");
}

TEST(ParseRfc3339Test, ReadsZonesAndFractions) {
  using std::chrono::system_clock;
  const auto base = ParseRfc3339("2026-12-06T08:00:00Z");
  ASSERT_TRUE(base.has_value());
  EXPECT_EQ(system_clock::to_time_t(*base), 1796544000);
  EXPECT_EQ(ParseRfc3339("2026-12-06T09:00:00+01:00"), base);
  EXPECT_EQ(ParseRfc3339("2026-12-06T07:30:00.123456-00:30"), base);
  EXPECT_FALSE(ParseRfc3339("2026-12-06 08:00").has_value());
  EXPECT_FALSE(ParseRfc3339("tomorrow").has_value());
  EXPECT_FALSE(ParseRfc3339("2026-13-06T08:00:00Z").has_value());
}

ExecConfig PluginConfig(const std::string& command) {
  ExecConfig config;
  config.command = command;
  config.api_version = kV1;
  config.interactive_mode = "Never";
  config.user = "ci-bot";
  config.kubeconfig = "/kc/config";
  return config;
}

TEST(ParseExecAnswerTest, NeverQuotesTheOutput) {
  testing::RegisterTestSecret("exec_credential_test token", kToken);
  const ExecConfig config = PluginConfig("aws");
  const std::string not_json = std::string("token=") + kToken;
  const std::string wrong_version =
      std::string(
          R"({"apiVersion":"client.authentication.k8s.io/v1beta1","kind":"ExecCredential","status":{"token":")") +
      kToken + "\"}}";
  const std::string no_token =
      R"({"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"clientKeyData":"KEY-PEM-SECRET"}})";
  for (const std::string& output : {not_json, wrong_version, no_token}) {
    StatusOr<ExecAnswer> answer = ParseExecAnswer(output, config);
    ASSERT_FALSE(answer.ok()) << output;
    EXPECT_EQ(answer.status().code(), StatusCode::kPermissionDenied);
    EXPECT_THAT(answer.status().message(), HasSubstr("exec plugin \"aws\" of user \"ci-bot\""));
    EXPECT_THAT(answer.status().message(), Not(HasSubstr(kToken)));
    EXPECT_THAT(answer.status().message(), Not(HasSubstr("KEY-PEM-SECRET")));
  }
}

TEST(ParseExecAnswerTest, ReadsTokenCertificateAndExpiry) {
  const ExecConfig config = PluginConfig("aws");
  StatusOr<ExecAnswer> answer = ParseExecAnswer(
      R"({"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{
        "token":"tok","clientCertificateData":"CERT","clientKeyData":"KEY",
        "expirationTimestamp":"2026-12-06T08:00:00Z"}})",
      config);
  ASSERT_TRUE(answer.ok()) << answer.status().ToString();
  EXPECT_EQ(answer->credential.bearer_token, "tok");
  EXPECT_EQ(answer->credential.client_cert_pem, "CERT");
  EXPECT_EQ(answer->credential.client_key_pem, "KEY");
  EXPECT_EQ(answer->expiry, ParseRfc3339("2026-12-06T08:00:00Z"));
  StatusOr<ExecAnswer> bad_time = ParseExecAnswer(
      R"({"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{
        "token":"tok","expirationTimestamp":"soon"}})",
      config);
  ASSERT_FALSE(bad_time.ok());
  EXPECT_THAT(bad_time.status().message(), HasSubstr("not an RFC 3339 time"));
}

// Real plugins: shell scripts in a fresh directory.
class ExecPluginTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("jobsync-exec-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    testing::RegisterTestSecret("exec_credential_test token", kToken);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Writes an executable script `name` with `body` and returns its path.
  std::string Script(const std::string& name, const std::string& body) {
    const fs::path path = dir_ / name;
    std::ofstream(path) << "#!/bin/sh\n" << body;
    chmod(path.c_str(), 0755);
    return path.string();
  }

  // A plugin that counts its runs in `runs` and answers token "<kToken>-<run>", expiring at
  // `expiry` (RFC 3339) when given.
  std::string CountingPlugin(const std::string& expiry) {
    const std::string count = (dir_ / "runs").string();
    const std::string expiration =
        expiry.empty() ? "" : ",\"expirationTimestamp\":\"" + expiry + "\"";
    return Script("counting", "n=$(( $(cat " + count +
                                  " 2>/dev/null || echo 0) + 1 ))\necho $n > " + count +
                                  "\nprintf '{\"apiVersion\":\"" + kV1 +
                                  "\",\"kind\":\"ExecCredential\",\"status\":{\"token\":\"" +
                                  kToken + "-%s\"" + expiration + "}}' $n\n");
  }

  fs::path dir_;
};

TEST_F(ExecPluginTest, CachesUntilShortlyBeforeExpiryThenRunsAgain) {
  const auto expiry = *ParseRfc3339("2030-01-01T00:00:00Z");
  auto now = expiry - std::chrono::minutes(10);
  ExecOptions options;
  options.clock = [&now] { return now; };
  ExecCredentialSource source(PluginConfig(CountingPlugin("2030-01-01T00:00:00Z")), options);
  StatusOr<HttpCredential> first = source.Current();
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(first->bearer_token, std::string(kToken) + "-1");
  now = expiry - std::chrono::seconds(11);
  EXPECT_EQ(source.Current()->bearer_token, std::string(kToken) + "-1");
  EXPECT_EQ(source.runs(), 1);
  now = expiry - std::chrono::seconds(9);  // within renew_before (10 s)
  EXPECT_EQ(source.Current()->bearer_token, std::string(kToken) + "-2");
  EXPECT_EQ(source.runs(), 2);
}

TEST_F(ExecPluginTest, InvalidateRunsThePluginAgainOnceForManyCallers) {
  ExecCredentialSource source(PluginConfig(CountingPlugin("")), ExecOptions{});
  StatusOr<HttpCredential> first = source.Current();
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(source.Current()->bearer_token, std::string(kToken) + "-1");  // no expiry: kept
  EXPECT_TRUE(source.Invalidate(*first));
  EXPECT_EQ(source.Current()->bearer_token, std::string(kToken) + "-2");
  // A second request rejected with the old credential does not drop the renewed one.
  EXPECT_TRUE(source.Invalidate(*first));
  EXPECT_EQ(source.Current()->bearer_token, std::string(kToken) + "-2");
  EXPECT_EQ(source.runs(), 2);
}

TEST_F(ExecPluginTest, PassesArgsEnvAndExecInfo) {
  const std::string seen = (dir_ / "seen").string();
  ExecConfig config = PluginConfig(Script(
      "env", "echo \"$1 $2 $PROFILE_X\" > " + seen + "\necho \"$KUBERNETES_EXEC_INFO\" >> " + seen +
                 "\n[ -t 0 ] && echo tty >> " + seen + "\nprintf '{\"apiVersion\":\"" + kV1 +
                 "\",\"kind\":\"ExecCredential\",\"status\":{\"token\":\"t\"}}'\n"));
  config.args = {"get-token", "--cluster"};
  config.env = {{"PROFILE_X", "prod"}};
  config.provide_cluster_info = true;
  config.cluster = {{"server", "https://k:6443"}, {"tls-server-name", "kubernetes"}};
  ExecCredentialSource source(config, ExecOptions{});
  ASSERT_TRUE(source.Current().ok());
  std::ifstream in(seen);
  std::string args_line, info_line, tty;
  std::getline(in, args_line);
  std::getline(in, info_line);
  std::getline(in, tty);
  EXPECT_EQ(args_line, "get-token --cluster prod");
  const json info = json::parse(info_line);
  EXPECT_EQ(info["apiVersion"], kV1);
  EXPECT_EQ(info["kind"], "ExecCredential");
  EXPECT_EQ(info["spec"]["interactive"], false);
  EXPECT_EQ(info["spec"]["cluster"]["server"], "https://k:6443");
  EXPECT_EQ(info["spec"]["cluster"]["tls-server-name"], "kubernetes");
  EXPECT_EQ(tty, "");  // stdin is not a terminal
}

TEST_F(ExecPluginTest, AFailingPluginNamesUserAndCommandAndQuotesStderrNotStdout) {
  ExecCredentialSource source(
      PluginConfig(Script(
          "failing", std::string("echo '{\"status\":{\"token\":\"") + kToken +
                         "\"}}'\necho 'SSO session expired; run aws sso login' >&2\nexit 3\n")),
      ExecOptions{});
  StatusOr<HttpCredential> credential = source.Current();
  ASSERT_FALSE(credential.ok());
  EXPECT_EQ(credential.status().code(), StatusCode::kPermissionDenied);
  EXPECT_THAT(credential.status().message(), HasSubstr("of user \"ci-bot\" in /kc/config"));
  EXPECT_THAT(credential.status().message(), HasSubstr("failing\""));
  EXPECT_THAT(credential.status().message(), HasSubstr("exit status 3"));
  EXPECT_THAT(credential.status().message(), HasSubstr("SSO session expired; run aws sso login"));
  EXPECT_THAT(credential.status().message(), Not(HasSubstr(kToken)));
}

TEST_F(ExecPluginTest, BadJsonNeverShowsStdout) {
  ExecCredentialSource source(
      PluginConfig(Script("bad", std::string("echo 'token: ") + kToken + "'\n")), ExecOptions{});
  StatusOr<HttpCredential> credential = source.Current();
  ASSERT_FALSE(credential.ok());
  EXPECT_THAT(credential.status().message(), HasSubstr("not a JSON ExecCredential"));
  EXPECT_THAT(credential.status().message(), Not(HasSubstr(kToken)));
}

TEST_F(ExecPluginTest, AMissingCommandShowsTheInstallHint) {
  ExecConfig config = PluginConfig("jobsync-no-such-plugin");
  config.install_hint = "install it with: apt install jobsync-no-such-plugin";
  ExecCredentialSource source(config, ExecOptions{});
  StatusOr<HttpCredential> credential = source.Current();
  ASSERT_FALSE(credential.ok());
  EXPECT_EQ(credential.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(credential.status().message(), HasSubstr("\"jobsync-no-such-plugin\" was not found"));
  EXPECT_THAT(credential.status().message(), HasSubstr("apt install jobsync-no-such-plugin"));
}

TEST_F(ExecPluginTest, APluginPastItsTimeoutIsKilled) {
  ExecOptions options;
  options.timeout = std::chrono::milliseconds(300);
  ExecCredentialSource source(PluginConfig(Script("slow", "sleep 30\n")), options);
  const auto start = std::chrono::steady_clock::now();
  StatusOr<HttpCredential> credential = source.Current();
  ASSERT_FALSE(credential.ok());
  EXPECT_EQ(credential.status().code(), StatusCode::kDeadlineExceeded);
  EXPECT_THAT(credential.status().message(), HasSubstr("did not finish within 300 ms"));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

}  // namespace
}  // namespace jobsync
