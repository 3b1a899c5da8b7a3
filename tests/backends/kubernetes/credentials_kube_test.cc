// Kubeconfig credentials against the real local kube-apiserver (scripts/cluster up; its
// --token-auth-file holds the tokens of $JOBSYNC_TOKEN_AUTH_FILE): exec plugins that are real
// shell scripts (tokens and client certificates signed with the cluster CA, expiring during a
// run; a first answer the apiserver refuses), a $KUBECONFIG of two files, a token file that
// changes during a run, an HTTP CONNECT proxy on loopback (connect_proxy.py) and
// tls-server-name. Who the apiserver took us for is read with a SelfSubjectReview. Fails, never
// skips, when the cluster or its token file is missing.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <sys/stat.h>

#include "backends/http_client.h"
#include "backends/kubernetes/kubeconfig.h"
#include "backends/kubernetes/token_file.h"
#include "tests/test_secrets.h"

namespace jobsync {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
namespace fs = std::filesystem;

constexpr const char* kHowToStart =
    "run: scripts/cluster up && eval \"$(scripts/cluster env)\" (the cluster must be new enough "
    "to have --token-auth-file: scripts/cluster env exports JOBSYNC_TOKEN_AUTH_FILE)";

std::string ReadAll(const fs::path& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

int Count(const fs::path& path) {
  const std::string text = ReadAll(path);
  return text.empty() ? 0 : std::stoi(text);
}

class CredentialsKubeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* kubeconfig = std::getenv("KUBECONFIG");
    const char* tokens = std::getenv("JOBSYNC_TOKEN_AUTH_FILE");
    ASSERT_TRUE(kubeconfig != nullptr && tokens != nullptr) << kHowToStart;
    StatusOr<KubeCredentials> admin = LoadKubeconfig({kubeconfig, ""}, {});
    ASSERT_TRUE(admin.ok()) << admin.status().ToString() << "; " << kHowToStart;
    server_ = admin->http.base_url;
    pki_ = fs::path(kubeconfig).parent_path() / "pki";
    ASSERT_TRUE(fs::exists(pki_ / "ca.crt") && fs::exists(pki_ / "ca.key")) << kHowToStart;
    std::istringstream lines(ReadAll(tokens));
    for (std::string line; std::getline(lines, line);) {
      const std::string token = line.substr(0, line.find(','));
      if (line.find(",jobsync-token-a,") != std::string::npos) token_a_ = token;
      if (line.find(",jobsync-token-b,") != std::string::npos) token_b_ = token;
    }
    ASSERT_FALSE(token_a_.empty() || token_b_.empty()) << tokens << ": no tokens; " << kHowToStart;
    testing::RegisterTestSecret("credentials_kube_test token a", token_a_);
    testing::RegisterTestSecret("credentials_kube_test token b", token_b_);
    dir_ = fs::temp_directory_path() /
           ("jobsync-creds-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "bin");
  }
  void TearDown() override {
    if (proxy_pid_ > 0) std::system(("kill " + std::to_string(proxy_pid_)).c_str());
    fs::remove_all(dir_);
  }

  // Writes an executable plugin bin/NAME that counts its runs in runs-NAME, then runs `body`
  // with $n set to the run number.
  void Plugin(const std::string& name, const std::string& body) {
    const fs::path path = dir_ / "bin" / name;
    std::ofstream(path) << "#!/bin/sh\nset -e\ncount=" << (dir_ / ("runs-" + name)).string()
                        << "\nn=$(( $(cat $count 2>/dev/null || echo 0) + 1 ))\necho $n > $count\n"
                        << body;
    chmod(path.c_str(), 0755);
  }

  int Runs(const std::string& name) { return Count(dir_ / ("runs-" + name)); }

  // A kubeconfig `file` for the cluster with `user_yaml` as the user (indented by 4).
  std::string Kubeconfig(const std::string& file, const std::string& user_yaml,
                         const std::string& cluster_extra = "", const std::string& server = "") {
    const fs::path path = dir_ / file;
    std::ofstream(path)
        << "apiVersion: v1\nkind: Config\ncurrent-context: c\nclusters:\n- name: k\n"
        << "  cluster:\n    server: " << (server.empty() ? server_ : server)
        << "\n    certificate-authority: " << (pki_ / "ca.crt").string() << "\n"
        << cluster_extra << "users:\n- name: u\n  user:\n"
        << user_yaml << "contexts:\n- name: c\n  context: {cluster: k, user: u}\n";
    return path.string();
  }

  // An exec user running bin/NAME, relative to the kubeconfig's directory.
  static std::string ExecUser(const std::string& name) {
    return "    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      command: ./bin/" +
           name + "\n      interactiveMode: Never\n";
  }

  // Shell that prints an ExecCredential with `status` (JSON members, shell-expanded).
  static std::string Answer(const std::string& status) {
    return "printf '%s' \"{\\\"apiVersion\\\":\\\"client.authentication.k8s.io/v1\\\","
           "\\\"kind\\\":\\\"ExecCredential\\\",\\\"status\\\":{" +
           status + "}}\"\n";
  }

  static std::unique_ptr<HttpClient> Client(const KubeCredentials& credentials) {
    StatusOr<std::unique_ptr<HttpClient>> client = NewHttpClient(credentials.http);
    EXPECT_TRUE(client.ok()) << client.status().ToString();
    return client.ok() ? std::move(*client) : nullptr;
  }

  // The user name the apiserver authenticated `client` as (a SelfSubjectReview), or the error.
  static std::string WhoAmI(HttpClient& client) {
    HttpRequest request;
    request.method = "POST";
    request.path = "/apis/authentication.k8s.io/v1/selfsubjectreviews";
    request.body = R"({"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"})";
    StatusOr<HttpResponse> response = client.Send(request);
    if (!response.ok()) return "error: " + response.status().ToString();
    if (response->status != 201) return "HTTP " + std::to_string(response->status);
    nlohmann::json body = nlohmann::json::parse(response->body, nullptr, false);
    return body.value("status", nlohmann::json::object())
        .value("userInfo", nlohmann::json::object())
        .value("username", "none");
  }

  // Starts connect_proxy.py with `arguments`; returns its port.
  int StartProxy(const std::string& arguments) {
    const fs::path script =
        fs::path(JOBSYNC_SOURCE_DIR) / "tests/backends/kubernetes/connect_proxy.py";
    const std::string port_file = (dir_ / "proxy.port").string();
    const std::string command = "python3 " + script.string() + " " + port_file + " " +
                                (dir_ / "proxy.log").string() + " " + arguments +
                                " >/dev/null 2>&1 & echo $!";
    FILE* pipe = popen(command.c_str(), "r");
    char pid[32] = {0};
    if (pipe != nullptr && fgets(pid, sizeof pid, pipe) != nullptr) proxy_pid_ = std::atoi(pid);
    if (pipe != nullptr) pclose(pipe);
    for (int i = 0; i < 100 && !fs::exists(port_file); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return Count(port_file);
  }

  std::string ProxyLog() { return ReadAll(dir_ / "proxy.log"); }

  std::string server_;
  fs::path pki_;
  fs::path dir_;
  std::string token_a_, token_b_;
  int proxy_pid_ = 0;
};

// A token that expires a few seconds after each run: the plugin runs again before it expires,
// and no request is refused meanwhile.
TEST_F(CredentialsKubeTest, AnExpiringExecTokenIsRenewedDuringARun) {
  Plugin("expiring", "exp=$(date -u -d '+4 seconds' +%Y-%m-%dT%H:%M:%SZ)\n" +
                         Answer("\\\"token\\\":\\\"" + token_a_ +
                                "\\\",\\\"expirationTimestamp\\\":\\\"$exp\\\""));
  StatusOr<KubeCredentials> credentials =
      LoadKubeconfig({Kubeconfig("config", ExecUser("expiring")), ""}, {});
  ASSERT_TRUE(credentials.ok()) << credentials.status().ToString();
  std::unique_ptr<HttpClient> client = Client(*credentials);
  ASSERT_NE(client, nullptr);
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  int requests = 0;
  while (std::chrono::steady_clock::now() < end) {
    ASSERT_EQ(WhoAmI(*client), "jobsync-token-a") << "request " << requests;
    ++requests;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  // 10 s of 4-second tokens renewed 1 s early: 4 runs (3 at the least, not one per request).
  EXPECT_GE(Runs("expiring"), 3);
  EXPECT_LE(Runs("expiring"), 5);
  EXPECT_GT(requests, 20);
}

// The apiserver refuses the first answer (401): the plugin runs once more and the request
// succeeds; later requests keep the good token.
TEST_F(CredentialsKubeTest, A401RunsThePluginAgainOnce) {
  Plugin("wrong-first", "if [ $n = 1 ]; then t=wrong-t0ken-value; else t=" + token_b_ + "; fi\n" +
                            Answer("\\\"token\\\":\\\"$t\\\""));
  StatusOr<KubeCredentials> credentials =
      LoadKubeconfig({Kubeconfig("config", ExecUser("wrong-first")), ""}, {});
  ASSERT_TRUE(credentials.ok()) << credentials.status().ToString();
  std::unique_ptr<HttpClient> client = Client(*credentials);
  EXPECT_EQ(WhoAmI(*client), "jobsync-token-b");
  EXPECT_EQ(Runs("wrong-first"), 2);
  EXPECT_EQ(WhoAmI(*client), "jobsync-token-b");
  EXPECT_EQ(Runs("wrong-first"), 2);
}

// A plugin whose tokens are all refused: one renewal, then a clear error without the token.
TEST_F(CredentialsKubeTest, ATokenRefusedAfterRenewalFailsClearly) {
  Plugin("always-wrong", Answer("\\\"token\\\":\\\"always-wr0ng-token\\\""));
  const std::string path = Kubeconfig("config", ExecUser("always-wrong"));
  StatusOr<KubeCredentials> credentials = LoadKubeconfig({path, ""}, {});
  ASSERT_TRUE(credentials.ok()) << credentials.status().ToString();
  const std::string answer = WhoAmI(*Client(*credentials));
  EXPECT_THAT(answer, HasSubstr("permission denied: "));
  EXPECT_THAT(answer, HasSubstr("refused the credential from exec plugin \"" +
                                (dir_ / "bin/always-wrong").string() + "\" of user \"u\" in " +
                                path + " (HTTP 401 Unauthorized) again after it was renewed"));
  EXPECT_THAT(answer, Not(HasSubstr("always-wr0ng-token")));
  EXPECT_EQ(Runs("always-wrong"), 2);
}

// Client certificates signed by the cluster CA, a new one (CN jobsync-cert-<run>) every few
// seconds: each renewal is presented on new connections, as the apiserver's answers show.
TEST_F(CredentialsKubeTest, AnExpiringExecClientCertificateIsRenewed) {
  const std::string ca = (pki_ / "ca.crt").string(), ca_key = (pki_ / "ca.key").string();
  Plugin("cert",
         "d=$(mktemp -d)\nopenssl req -new -newkey rsa:2048 -nodes -keyout $d/k -out $d/r "
         "-subj \"/O=system:masters/CN=jobsync-cert-$n\" 2>/dev/null\n"
         "openssl x509 -req -in $d/r -CA " +
             ca + " -CAkey " + ca_key +
             " -CAcreateserial -CAserial $d/s -days 1 -out $d/c 2>/dev/null\n"
             "exp=$(date -u -d '+4 seconds' +%Y-%m-%dT%H:%M:%SZ)\n"
             "python3 -c 'import json,sys; print(json.dumps({\"apiVersion\": "
             "\"client.authentication.k8s.io/v1\", \"kind\": \"ExecCredential\", \"status\": "
             "{\"clientCertificateData\": open(sys.argv[1]).read(), \"clientKeyData\": "
             "open(sys.argv[2]).read(), \"expirationTimestamp\": sys.argv[3]}}))' $d/c $d/k $exp\n"
             "rm -rf $d\n");
  StatusOr<KubeCredentials> credentials =
      LoadKubeconfig({Kubeconfig("config", ExecUser("cert")), ""}, {});
  ASSERT_TRUE(credentials.ok()) << credentials.status().ToString();
  std::unique_ptr<HttpClient> client = Client(*credentials);
  std::vector<std::string> seen;
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < end) {
    const std::string user = WhoAmI(*client);
    ASSERT_THAT(user, ::testing::StartsWith("jobsync-cert-"));
    if (seen.empty() || seen.back() != user) seen.push_back(user);
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  ASSERT_GE(seen.size(), 3u);
  EXPECT_EQ(seen[0], "jobsync-cert-1");
  EXPECT_EQ(seen[1], "jobsync-cert-2");
  EXPECT_EQ(seen[2], "jobsync-cert-3");
}

// $KUBECONFIG of two files: the cluster in one, the user (a token file beside it) and the
// context in the other.
TEST_F(CredentialsKubeTest, AKubeconfigListOfTwoFiles) {
  fs::create_directories(dir_ / "clusters");
  fs::create_directories(dir_ / "users");
  std::ofstream(dir_ / "clusters/config")
      << "clusters:\n- name: k\n  cluster:\n    server: " << server_
      << "\n    certificate-authority: " << (pki_ / "ca.crt").string() << "\n";
  std::ofstream(dir_ / "users/token") << token_b_ << "\n";
  std::ofstream(dir_ / "users/config")
      << "current-context: c\nusers:\n- name: u\n  user: {tokenFile: token}\n"
      << "contexts:\n- name: c\n  context: {cluster: k, user: u}\n";
  KubeconfigEnvironment environment;
  environment.kubeconfig =
      (dir_ / "clusters/config").string() + ":" + (dir_ / "users/config").string();
  StatusOr<KubeCredentials> credentials = LoadKubeconfig({}, environment);
  ASSERT_TRUE(credentials.ok()) << credentials.status().ToString();
  EXPECT_EQ(WhoAmI(*Client(*credentials)), "jobsync-token-b");
}

// A token file rewritten during a run (a rotated service-account token): picked up at the next
// read (every minute; here every second) and at once when the old token is refused.
TEST_F(CredentialsKubeTest, ATokenFileChangingDuringARunIsPickedUp) {
  const std::string token = (dir_ / "token").string();
  std::ofstream(token) << token_a_;
  StatusOr<KubeCredentials> credentials =
      LoadKubeconfig({Kubeconfig("config", "    tokenFile: token\n"), ""}, {});
  ASSERT_TRUE(credentials.ok()) << credentials.status().ToString();
  credentials->http.credentials =
      std::make_shared<FileTokenSource>(token, "tokenFile " + token, std::chrono::seconds(1));
  std::unique_ptr<HttpClient> client = Client(*credentials);
  EXPECT_EQ(WhoAmI(*client), "jobsync-token-a");
  std::ofstream(token) << token_b_;
  EXPECT_EQ(WhoAmI(*client), "jobsync-token-a");  // not read again yet
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  EXPECT_EQ(WhoAmI(*client), "jobsync-token-b");
  // A refused token makes the source read the file at once.
  std::ofstream(token) << "revoked-t0ken-value";
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  EXPECT_THAT(WhoAmI(*client), HasSubstr("refused the credential from tokenFile " + token));
  std::ofstream(token) << token_a_;
  EXPECT_EQ(WhoAmI(*client), "jobsync-token-a");
}

// Every request goes through the proxy-url's CONNECT tunnel, with the proxy's credentials; the
// server name is one only the proxy resolves and that the apiserver's certificate does not
// hold, so tls-server-name is what makes verification pass, and it is the name sent as SNI.
TEST_F(CredentialsKubeTest, ProxyUrlAndTlsServerName) {
  const int port = StartProxy("--map apiserver.jobsync.test=127.0.0.1 --auth jobsync:pr0xy-s3cret");
  ASSERT_GT(port, 0) << "connect_proxy.py did not start";
  testing::RegisterTestSecret("credentials_kube_test proxy password", "pr0xy-s3cret");
  const std::string server_port = server_.substr(server_.rfind(':') + 1);
  const std::string server = "https://apiserver.jobsync.test:" + server_port;
  const std::string proxy =
      "    proxy-url: http://jobsync:pr0xy-s3cret@127.0.0.1:" + std::to_string(port) + "\n";
  const std::string user = "    token: " + token_a_ + "\n";

  StatusOr<KubeCredentials> without =
      LoadKubeconfig({Kubeconfig("without", user, proxy, server), ""}, {});
  ASSERT_TRUE(without.ok()) << without.status().ToString();
  const std::string refused = WhoAmI(*Client(*without));
  EXPECT_THAT(refused, HasSubstr("TLS certificate verification failed"));
  EXPECT_THAT(refused, Not(HasSubstr("pr0xy-s3cret")));

  StatusOr<KubeCredentials> with = LoadKubeconfig(
      {Kubeconfig("with", user, proxy + "    tls-server-name: kubernetes\n", server), ""}, {});
  ASSERT_TRUE(with.ok()) << with.status().ToString();
  std::unique_ptr<HttpClient> client = Client(*with);
  EXPECT_EQ(WhoAmI(*client), "jobsync-token-a");
  EXPECT_EQ(WhoAmI(*client), "jobsync-token-a");
  EXPECT_THAT(ProxyLog(), HasSubstr("CONNECT apiserver.jobsync.test:" + server_port +
                                    " sni=kubernetes auth=yes"));
  EXPECT_THAT(ProxyLog(), Not(HasSubstr("pr0xy-s3cret")));
}

// HTTPS_PROXY carries requests to a server name; NO_PROXY covering the name bypasses the proxy.
TEST_F(CredentialsKubeTest, HttpsProxyAndNoProxy) {
  const int port = StartProxy("--map kubernetes=127.0.0.1");
  ASSERT_GT(port, 0) << "connect_proxy.py did not start";
  const std::string server_port = server_.substr(server_.rfind(':') + 1);
  // "kubernetes" is in the apiserver's certificate, and only the proxy resolves it.
  const std::string path = Kubeconfig("config", "    token: " + token_a_ + "\n", "",
                                      "https://kubernetes:" + server_port);
  KubeconfigEnvironment environment;
  environment.kubeconfig = path;
  environment.proxy.https_proxy = "127.0.0.1:" + std::to_string(port);
  StatusOr<KubeCredentials> proxied = LoadKubeconfig({}, environment);
  ASSERT_TRUE(proxied.ok()) << proxied.status().ToString();
  EXPECT_EQ(WhoAmI(*Client(*proxied)), "jobsync-token-a");
  EXPECT_THAT(ProxyLog(), HasSubstr("CONNECT kubernetes:" + server_port + " sni=kubernetes"));

  const std::string before = ProxyLog();
  environment.proxy.no_proxy = "example.com,kubernetes";
  StatusOr<KubeCredentials> direct = LoadKubeconfig({}, environment);
  ASSERT_TRUE(direct.ok()) << direct.status().ToString();
  EXPECT_EQ(direct->http.proxy_url, "");
  // Straight to "kubernetes", a name this machine does not resolve: the request fails, and the
  // proxy saw nothing.
  EXPECT_THAT(WhoAmI(*Client(*direct)),
              HasSubstr("unavailable: POST https://kubernetes:" + server_port));
  EXPECT_EQ(ProxyLog(), before);
}

}  // namespace
}  // namespace jobsync
