#include "backends/kubernetes/kubeconfig.h"

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "backends/kubernetes/token_file.h"
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

// The token the credentials send now: the fixed one or the credential source's.
std::string TokenOf(const KubeCredentials& credentials) {
  if (credentials.http.credentials == nullptr) return credentials.http.bearer_token;
  StatusOr<HttpCredential> current = credentials.http.credentials->Current();
  return current.ok() ? current->bearer_token : "error: " + current.status().ToString();
}

std::optional<std::string> ReadBack(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

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
  EXPECT_EQ(TokenOf(*credentials), kToken);
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
  EXPECT_EQ(TokenOf(*credentials), kToken);
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

// Two files of a $KUBECONFIG list (and a missing one between them): the first file to name a
// cluster, user or context wins it; current-context comes from the first file that sets one;
// relative paths resolve against the directory of the file that holds them.
TEST_F(KubeconfigTest, MergesAListLikeKubectl) {
  Write("b/ca.crt", "B-CA");
  Write("b/token", std::string(kToken) + "\n");
  const std::string a = Write("a/config", R"(current-context: first
clusters:
- name: shared
  cluster: {server: "https://a.example"}
contexts:
- name: first
  context: {cluster: shared, user: robot, namespace: from-a}
)");
  const std::string b = Write("b/config", R"(current-context: second
clusters:
- name: shared
  cluster: {server: "https://b.example"}
- name: only-b
  cluster: {server: "https://only-b.example", certificate-authority: ca.crt}
users:
- name: robot
  user: {tokenFile: token}
contexts:
- name: first
  context: {cluster: only-b, user: robot, namespace: from-b}
- name: second
  context: {cluster: only-b, user: robot}
)");
  KubeconfigEnvironment environment;
  environment.kubeconfig = a + ":" + (dir_ / "missing").string() + "::" + b;
  StatusOr<KubeCredentials> first = LoadKubeconfig({}, environment);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(first->context, "first");
  EXPECT_EQ(first->default_namespace, "from-a");
  EXPECT_EQ(first->http.base_url, "https://a.example");
  EXPECT_EQ(TokenOf(*first), kToken);
  EXPECT_EQ(first->source, a + ":" + b);

  StatusOr<KubeCredentials> second = LoadKubeconfig({"", "second"}, environment);
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_EQ(second->http.base_url, "https://only-b.example");
  EXPECT_EQ(second->http.ca_pem, "B-CA");
  EXPECT_THAT(second->http.ca_hint, HasSubstr("cluster \"only-b\" in " + b));
}

TEST_F(KubeconfigTest, AListOfMissingFilesIsAnError) {
  KubeconfigEnvironment environment;
  environment.kubeconfig = (dir_ / "x").string() + ":" + (dir_ / "y").string();
  environment.home = dir_.string();
  Write(".kube/config", TwoContexts());  // not used: $KUBECONFIG is set
  StatusOr<KubeCredentials> credentials = LoadKubeconfig({}, environment);
  ASSERT_FALSE(credentials.ok());
  EXPECT_EQ(credentials.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(credentials.status().message(), HasSubstr("none of the files in $KUBECONFIG"));
  EXPECT_THAT(credentials.status().message(), HasSubstr((dir_ / "y").string()));
}

TEST_F(KubeconfigTest, AnErrorNamesTheFileTheEntryCameFrom) {
  const std::string a =
      Write("a", "current-context: c\ncontexts:\n- name: c\n  context: {cluster: k, user: u}\n");
  const std::string b =
      Write("b", std::string("clusters:\n- name: k\n  cluster: {server: \"https://k\"}\n"
                             "users:\n- name: u\n  user: {client-key-data: \"") +
                     kToken + "!\", client-certificate-data: " + kCertData + "}\n");
  StatusOr<KubeCredentials> credentials =
      ParseKubeconfigFiles({{a, *ReadBack(a)}, {b, *ReadBack(b)}}, "");
  ASSERT_FALSE(credentials.ok());
  EXPECT_THAT(credentials.status().message(),
              HasSubstr(b + ": users[u].user.client-key-data is not valid base64"));
  EXPECT_THAT(credentials.status().message(), Not(HasSubstr(kToken)));
}

TEST_F(KubeconfigTest, AnExecUserGetsAnExecCredentialSource) {
  const std::string path = Write("kube/config", R"(current-context: eks
clusters:
- name: eks
  cluster: {server: "https://eks.example", tls-server-name: api.internal}
users:
- name: eks-user
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1beta1
      command: ./bin/get-token
      args: [--cluster, prod]
contexts:
- name: eks
  context: {cluster: eks, user: eks-user}
)");
  StatusOr<KubeCredentials> credentials = LoadKubeconfig({path, ""}, {});
  ASSERT_TRUE(credentials.ok()) << credentials.status().ToString();
  ASSERT_NE(credentials->http.credentials, nullptr);
  EXPECT_EQ(credentials->http.credentials->Describe(), "exec plugin \"" +
                                                           (dir_ / "kube/bin/get-token").string() +
                                                           "\" of user \"eks-user\" in " + path);
  EXPECT_EQ(credentials->http.tls_server_name, "api.internal");
  EXPECT_TRUE(credentials->http.bearer_token.empty());
}

TEST_F(KubeconfigTest, ProxyUrlOrTheEnvironmentsProxy) {
  const std::string with_proxy = Write("with", R"(current-context: c
clusters:
- name: k
  cluster: {server: "https://k.example:6443", proxy-url: "http://me:pr0xy-pa55@proxy:3128"}
contexts:
- name: c
  context: {cluster: k}
)");
  KubeconfigEnvironment environment;
  environment.proxy = {"http://env-proxy:8080", "", ""};
  StatusOr<KubeCredentials> credentials = LoadKubeconfig({with_proxy, ""}, environment);
  ASSERT_TRUE(credentials.ok()) << credentials.status().ToString();
  EXPECT_EQ(credentials->http.proxy_url, "http://me:pr0xy-pa55@proxy:3128");

  const std::string without = Write("without", R"(current-context: c
clusters:
- name: k
  cluster: {server: "https://k.example:6443"}
contexts:
- name: c
  context: {cluster: k}
)");
  credentials = LoadKubeconfig({without, ""}, environment);
  ASSERT_TRUE(credentials.ok()) << credentials.status().ToString();
  EXPECT_EQ(credentials->http.proxy_url, "http://env-proxy:8080");
  environment.proxy.no_proxy = ".example";
  EXPECT_EQ(LoadKubeconfig({without, ""}, environment)->http.proxy_url, "");

  const std::string socks =
      Write("socks", Replace(*ReadBack(with_proxy), "http://me", "socks5://me"));
  credentials = LoadKubeconfig({socks, ""}, environment);
  ASSERT_FALSE(credentials.ok());
  EXPECT_THAT(credentials.status().message(), HasSubstr("clusters[k].cluster.proxy-url"));
  EXPECT_THAT(credentials.status().message(), HasSubstr("socks5://me:xxxxx@proxy:3128"));
  EXPECT_THAT(credentials.status().message(), Not(HasSubstr("pr0xy-pa55")));
}

TEST_F(KubeconfigTest, AuthProviderIsRefusedWithTheWayOut) {
  StatusOr<KubeCredentials> credentials = ParseKubeconfig(
      "current-context: c\nclusters:\n- name: k\n  cluster: {server: \"https://k\"}\n"
      "users:\n- name: g\n  user: {auth-provider: {name: gcp}}\n"
      "contexts:\n- name: c\n  context: {cluster: k, user: g}\n",
      "/kc", "");
  ASSERT_FALSE(credentials.ok());
  EXPECT_THAT(credentials.status().message(), HasSubstr("/kc: users[g].user.auth-provider"));
  EXPECT_THAT(credentials.status().message(), HasSubstr("gke-gcloud-auth-plugin"));
}

// A rotated token file (a projected service-account token) is read again once a minute, and at
// once after a 401.
TEST_F(KubeconfigTest, TokenFilesAreReadAgain) {
  const std::string path = Write("token", "first-t0ken\n");
  auto now = std::chrono::steady_clock::now();
  FileTokenSource source(path, "tokenFile " + path, std::chrono::minutes(1),
                         [&now] { return now; });
  EXPECT_EQ(source.Current()->bearer_token, "first-t0ken");
  Write("token", "second-t0ken\n");
  now += std::chrono::seconds(59);
  EXPECT_EQ(source.Current()->bearer_token, "first-t0ken");
  now += std::chrono::seconds(1);
  EXPECT_EQ(source.Current()->bearer_token, "second-t0ken");
  // After a 401: renewed only when the file holds another token.
  EXPECT_FALSE(source.Invalidate({"second-t0ken", "", ""}));
  Write("token", "third-t0ken");
  EXPECT_TRUE(source.Invalidate({"second-t0ken", "", ""}));
  EXPECT_EQ(source.Current()->bearer_token, "third-t0ken");
  // A file that disappears keeps the token read before.
  fs::remove(path);
  now += std::chrono::minutes(2);
  EXPECT_EQ(source.Current()->bearer_token, "third-t0ken");
}

}  // namespace
}  // namespace jobsync
