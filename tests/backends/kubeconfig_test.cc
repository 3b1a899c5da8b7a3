#include "backends/kubernetes/kubeconfig.h"

#include <filesystem>
#include <fstream>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/test_secrets.h"

namespace jobsync {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
namespace fs = std::filesystem;

// base64 of "CA-PEM", "CERT-PEM", "KEY-PEM".
constexpr const char* kCaData = "Q0EtUEVN";
constexpr const char* kCertData = "Q0VSVC1QRU0=";
constexpr const char* kKeyData = "S0VZLVBFTQ==";
constexpr const char* kToken = "s3cr3t-t0ken-value";

// A fresh directory per test, removed afterwards.
class KubeconfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ =
        fs::temp_directory_path() /
        ("jobsync-kubeconfig-" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) +
         "-" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    testing::RegisterTestSecret("kubeconfig_test token", kToken);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string Write(const std::string& name, const std::string& text) {
    const fs::path path = dir_ / name;
    fs::create_directories(path.parent_path());
    std::ofstream(path) << text;
    return path.string();
  }

  fs::path dir_;
};

std::string TwoContexts() {
  return std::string(R"(apiVersion: v1
kind: Config
current-context: admin
clusters:
- name: local
  cluster:
    server: https://127.0.0.1:6443/
    certificate-authority-data: )") +
         kCaData + R"(
- name: files
  cluster:
    server: https://10.0.0.1
    certificate-authority: pki/ca.crt
    insecure-skip-tls-verify: true
users:
- name: admin
  user:
    client-certificate-data: )" +
         kCertData + R"(
    client-key-data: )" +
         kKeyData + R"(
- name: robot
  user:
    client-certificate: pki/robot.crt
    client-key: pki/robot.key
    tokenFile: pki/token
contexts:
- name: admin
  context: {cluster: local, user: admin}
- name: robot
  context: {cluster: files, user: robot, namespace: team-a}
)";
}

TEST_F(KubeconfigTest, ReadsInlineDataOfTheCurrentContext) {
  const std::string path = Write("config", TwoContexts());
  StatusOr<KubeCredentials> credentials = LoadKubeconfig({path, ""}, {});
  ASSERT_TRUE(credentials.ok()) << credentials.status().ToString();
  EXPECT_EQ(credentials->http.base_url, "https://127.0.0.1:6443");
  EXPECT_EQ(credentials->http.ca_pem, "CA-PEM");
  EXPECT_EQ(credentials->http.client_cert_pem, "CERT-PEM");
  EXPECT_EQ(credentials->http.client_key_pem, "KEY-PEM");
  EXPECT_FALSE(credentials->http.insecure_skip_tls_verify);
  EXPECT_EQ(credentials->default_namespace, "default");
  EXPECT_EQ(credentials->context, "admin");
  EXPECT_EQ(credentials->source, path);
  // What a failed certificate verification tells the user to fix.
  EXPECT_EQ(credentials->http.ca_hint,
            "set certificate-authority or certificate-authority-data of cluster \"local\" in " +
                path +
                " to the CA that signed the apiserver's certificate, or pass --kubeconfig with "
                "this cluster's kubeconfig");
}

TEST_F(KubeconfigTest, ReadsFilesRelativeToTheKubeconfigForAnotherContext) {
  Write("pki/ca.crt", "FILE-CA");
  Write("pki/robot.crt", "FILE-CERT");
  Write("pki/robot.key", "FILE-KEY");
  Write("pki/token", std::string(kToken) + "\n");
  const std::string path = Write("config", TwoContexts());
  StatusOr<KubeCredentials> credentials = LoadKubeconfig({path, "robot"}, {});
  ASSERT_TRUE(credentials.ok()) << credentials.status().ToString();
  EXPECT_EQ(credentials->http.base_url, "https://10.0.0.1");
  EXPECT_EQ(credentials->http.ca_pem, "FILE-CA");
  EXPECT_EQ(credentials->http.client_cert_pem, "FILE-CERT");
  EXPECT_EQ(credentials->http.client_key_pem, "FILE-KEY");
  EXPECT_EQ(credentials->http.bearer_token, kToken);
  EXPECT_TRUE(credentials->http.insecure_skip_tls_verify);
  EXPECT_EQ(credentials->default_namespace, "team-a");
}

TEST_F(KubeconfigTest, ChoosesTheFileLikeKubectl) {
  const std::string first = Write("first", TwoContexts());
  Write("home/.kube/config", TwoContexts());
  KubeconfigEnvironment environment;
  environment.kubeconfig = first + ":" + (dir_ / "second").string();
  environment.home = (dir_ / "home").string();
  StatusOr<KubeCredentials> from_env = LoadKubeconfig({}, environment);
  ASSERT_TRUE(from_env.ok()) << from_env.status().ToString();
  EXPECT_EQ(from_env->source, first);

  environment.kubeconfig.clear();
  StatusOr<KubeCredentials> from_home = LoadKubeconfig({}, environment);
  ASSERT_TRUE(from_home.ok()) << from_home.status().ToString();
  EXPECT_EQ(from_home->source, (dir_ / "home/.kube/config").string());

  StatusOr<KubeCredentials> missing = LoadKubeconfig({(dir_ / "nope").string(), ""}, environment);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(missing.status().message(), HasSubstr("nope"));
}

TEST_F(KubeconfigTest, FallsBackToTheInClusterServiceAccount) {
  Write("sa/token", kToken);
  Write("sa/ca.crt", "SA-CA");
  Write("sa/namespace", "jobs");
  KubeconfigEnvironment environment;
  environment.home = (dir_ / "empty-home").string();
  environment.service_host = "10.0.0.1";
  environment.service_port = "443";
  environment.service_account_dir = (dir_ / "sa").string();
  StatusOr<KubeCredentials> credentials = LoadKubeconfig({}, environment);
  ASSERT_TRUE(credentials.ok()) << credentials.status().ToString();
  EXPECT_EQ(credentials->http.base_url, "https://10.0.0.1:443");
  EXPECT_EQ(credentials->http.bearer_token, kToken);
  EXPECT_EQ(credentials->http.ca_pem, "SA-CA");
  EXPECT_THAT(credentials->http.ca_hint, HasSubstr((dir_ / "sa" / "ca.crt").string()));
  EXPECT_EQ(credentials->default_namespace, "jobs");

  environment.service_host.clear();
  StatusOr<KubeCredentials> none = LoadKubeconfig({}, environment);
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(none.status().message(), HasSubstr("KUBERNETES_SERVICE_HOST"));
}

struct BrokenCase {
  const char* name;
  std::string text;
  const char* context;
  const char* expected;  // in the message
};

class KubeconfigErrorTest : public ::testing::TestWithParam<BrokenCase> {};

TEST_P(KubeconfigErrorTest, NamesTheFileAndFieldButNoSecret) {
  const BrokenCase& c = GetParam();
  StatusOr<KubeCredentials> credentials = ParseKubeconfig(c.text, "/etc/kc.yaml", c.context);
  ASSERT_FALSE(credentials.ok());
  EXPECT_EQ(credentials.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(credentials.status().message(), HasSubstr("/etc/kc.yaml"));
  EXPECT_THAT(credentials.status().message(), HasSubstr(c.expected));
  for (const char* secret : {kToken, kKeyData, kCertData, "KEY-PEM"}) {
    EXPECT_THAT(credentials.status().message(), Not(HasSubstr(secret)));
  }
}

std::string Replace(std::string text, const std::string& from, const std::string& to) {
  text.replace(text.find(from), from.size(), to);
  return text;
}

INSTANTIATE_TEST_SUITE_P(
    Broken, KubeconfigErrorTest,
    ::testing::Values(
        BrokenCase{"NotYaml", "a: [", "", "/etc/kc.yaml:"},
        BrokenCase{"UnknownContext", TwoContexts(), "other", "context \"other\""},
        BrokenCase{"NoServer", Replace(TwoContexts(), "server: https://127.0.0.1:6443/", "x: 1"),
                   "", "clusters[local].cluster.server is missing"},
        BrokenCase{"UnknownUser",
                   Replace(TwoContexts(), "{cluster: local, user: admin}",
                           "{cluster: local, user: ghost}"),
                   "", "user \"ghost\""},
        BrokenCase{"BadKeyData",
                   Replace(TwoContexts(), std::string("client-key-data: ") + kKeyData,
                           std::string("client-key-data: ") + kToken + "!"),
                   "", "client-key-data is not valid base64"},
        BrokenCase{"KeyWithoutCertificate",
                   Replace(TwoContexts(), std::string("client-certificate-data: ") + kCertData,
                           "token: " + std::string(kToken)),
                   "", "must be given together"},
        BrokenCase{"UnreadableCaFile", TwoContexts(), "robot",
                   "certificate-authority: cannot read"}),
    [](const ::testing::TestParamInfo<BrokenCase>& param_info) { return param_info.param.name; });

}  // namespace
}  // namespace jobsync
