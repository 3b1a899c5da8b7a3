// RayBackend over https against the real local Ray head. The dashboard serves plain http, so each
// test puts a TLS-terminating reverse proxy (tls_proxy.py) in front of it, with a server
// certificate for 127.0.0.1 signed by a certificate authority made for the test. Needs
// `scripts/cluster up` and RAY_ADDRESS; fails, never skips, when the dashboard cannot be reached.
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backends/ray/ray_backend.h"
#include "tests/test_secrets.h"

namespace jobsync {
namespace {

namespace fs = std::filesystem;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;
using namespace std::chrono_literals;

constexpr const char* kHint = "run: scripts/cluster up && eval \"$(scripts/cluster env)\"";
constexpr const char* kToken = "ray-tls-test-token-5c81d2";

std::string ReadText(const fs::path& path) {
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

class RayTlsIntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    upstream_ = ProcessEnvironment("RAY_ADDRESS").value_or("");
    ASSERT_FALSE(upstream_.empty()) << "RAY_ADDRESS is not set; " << kHint;
    dir_ = fs::temp_directory_path() / ("jobsync-ray-tls-" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    testing::RegisterTestSecret("ray tls test bearer token", kToken);

    // A certificate authority that signs the proxy's certificate, and another that does not.
    const std::string in_dir = "cd '" + dir_.string() + "' && ";
    const std::string ec = " -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes";
    ASSERT_EQ(Run(in_dir + "openssl req -x509" + ec +
                  " -keyout ca.key -out ca.crt -days 1 -subj /CN=jobsync-ray-test-ca"),
              0);
    ASSERT_EQ(Run(in_dir + "openssl req -x509" + ec +
                  " -keyout other-ca.key -out other-ca.crt -days 1 -subj /CN=jobsync-other-ca"),
              0);
    ASSERT_EQ(Run(in_dir + "openssl req" + ec +
                  " -keyout server.key -out server.csr -subj /CN=127.0.0.1 && printf "
                  "'subjectAltName=IP:127.0.0.1\\n' >san.ext && openssl x509 -req -in server.csr "
                  "-CA ca.crt -CAkey ca.key -CAcreateserial -days 1 -extfile san.ext "
                  "-out server.crt"),
              0);
    for (const char* key : {"ca.key", "other-ca.key", "server.key"}) {
      testing::RegisterTestPrivateKey(std::string("ray tls test ") + key, (dir_ / key).string());
    }

    // The proxy, in front of the real dashboard. Everything the child needs is prepared before
    // fork, so that it only calls async-signal-safe functions.
    const std::vector<std::string> args = {
        "python3",     std::string(JOBSYNC_SOURCE_DIR) + "/tests/backends/ray/tls_proxy.py",
        "--cert",      (dir_ / "server.crt").string(),
        "--key",       (dir_ / "server.key").string(),
        "--upstream",  upstream_,
        "--port-file", (dir_ / "port").string()};
    std::vector<char*> argv;
    argv.reserve(args.size() + 1);
    for (const std::string& arg : args) argv.push_back(const_cast<char*>(arg.c_str()));
    argv.push_back(nullptr);
    const int log = open((dir_ / "proxy.log").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ASSERT_GE(log, 0);
    proxy_ = fork();
    if (proxy_ == 0) {
      dup2(log, STDERR_FILENO);
      execvp(argv[0], argv.data());
      _exit(127);
    }
    close(log);
    ASSERT_GT(proxy_, 0);
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    while (!fs::exists(dir_ / "port") && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(100ms);
    }
    ASSERT_TRUE(fs::exists(dir_ / "port"))
        << "tls_proxy.py did not start: " << ReadText(dir_ / "proxy.log");
    address_ = "https://127.0.0.1:" + std::to_string(std::stoi(ReadText(dir_ / "port")));
  }

  void TearDown() override {
    if (proxy_ > 0) {
      kill(proxy_, SIGTERM);
      waitpid(proxy_, nullptr, 0);
    }
    if (HasFailure()) std::cout << "tls_proxy.py log:\n" << ReadText(dir_ / "proxy.log");
    fs::remove_all(dir_);
  }

  static int Run(const std::string& command) {
    return std::system((command + " 2>/dev/null").c_str());
  }

  // Options as the command line would resolve them, with the CA file `ca_file` (none: empty).
  RayBackendOptions Options(const std::string& ca_file) {
    RayBackendOptions options;
    options.instance = "ray-tls-test";
    options.request_timeout = 20s;
    const std::map<std::string, std::string> environment = {{kRayTokenEnv, kToken}};
    Status resolved = ResolveRayTarget(
        {address_, "", ca_file},
        [&](const std::string& name) -> std::optional<std::string> {
          auto found = environment.find(name);
          if (found == environment.end()) return std::nullopt;
          return found->second;
        },
        &options);
    EXPECT_TRUE(resolved.ok()) << resolved.ToString();
    return options;
  }

  // ListJobs through a backend made with `options`.
  static StatusOr<std::vector<LiveJob>> List(RayBackendOptions options) {
    StatusOr<std::unique_ptr<RayBackend>> backend = RayBackend::Create(std::move(options));
    if (!backend.ok()) return backend.status();
    return (*backend)->ListJobs();
  }

  std::string upstream_;
  std::string address_;
  fs::path dir_;
  pid_t proxy_ = -1;
};

TEST_F(RayTlsIntegrationTest, TheRightCaListsThroughTheProxy) {
  StatusOr<std::vector<LiveJob>> live = List(Options((dir_ / "ca.crt").string()));
  EXPECT_TRUE(live.ok()) << live.status().ToString();
  EXPECT_THAT(ReadText(dir_ / "proxy.log"), HasSubstr("\"GET /api/jobs/ HTTP/1.1\" 200"));
}

TEST_F(RayTlsIntegrationTest, AWrongCaFailsSayingWhatWhereAndHowToFixIt) {
  StatusOr<std::vector<LiveJob>> live = List(Options((dir_ / "other-ca.crt").string()));
  ASSERT_FALSE(live.ok());
  EXPECT_EQ(live.status().code(), StatusCode::kPermissionDenied) << live.status().ToString();
  EXPECT_THAT(live.status().message(),
              AllOf(HasSubstr("TLS certificate verification failed"), HasSubstr(address_),
                    HasSubstr("the configured certificate authority"), HasSubstr("--ray-ca-file"),
                    Not(HasSubstr(kToken))));
  // The request, and so the token, never reached the server.
  EXPECT_THAT(ReadText(dir_ / "proxy.log"), Not(HasSubstr("GET /api/jobs/")));
}

TEST_F(RayTlsIntegrationTest, WithoutACaTheSystemTrustStoreRefusesTheTestCa) {
  StatusOr<std::vector<LiveJob>> live = List(Options(""));
  ASSERT_FALSE(live.ok());
  EXPECT_EQ(live.status().code(), StatusCode::kPermissionDenied) << live.status().ToString();
  EXPECT_THAT(live.status().message(),
              AllOf(HasSubstr("TLS certificate verification failed"), HasSubstr(address_),
                    HasSubstr("the system's trust store"), HasSubstr("--ray-ca-file")));
}

// A configured CA is the only one trusted, as kubectl trusts only a kubeconfig's CA: the
// system's store is left out. The test's CA stands in for the system's store through
// SSL_CERT_FILE, which OpenSSL reads for its default paths.
TEST_F(RayTlsIntegrationTest, AConfiguredCaIsTheOnlyOneTrusted) {
  ASSERT_EQ(setenv("SSL_CERT_FILE", (dir_ / "ca.crt").c_str(), 1), 0);
  // Without a configured CA, the stand-in system store is trusted ...
  StatusOr<std::vector<LiveJob>> system = List(Options(""));
  // ... and with another CA configured, it is not.
  StatusOr<std::vector<LiveJob>> other = List(Options((dir_ / "other-ca.crt").string()));
  unsetenv("SSL_CERT_FILE");
  EXPECT_TRUE(system.ok()) << system.status().ToString();
  ASSERT_FALSE(other.ok());
  EXPECT_EQ(other.status().code(), StatusCode::kPermissionDenied) << other.status().ToString();
  EXPECT_THAT(other.status().message(), HasSubstr("the configured certificate authority"));
}

TEST_F(RayTlsIntegrationTest, SkippingVerificationWorksOnlyWhenAsked) {
  RayBackendOptions options = Options("");
  options.insecure_skip_tls_verify = true;
  StatusOr<std::vector<LiveJob>> live = List(options);
  EXPECT_TRUE(live.ok()) << live.status().ToString();
}

TEST_F(RayTlsIntegrationTest, AnHttpsAddressOfAPlainHttpDashboardSaysSo) {
  std::string plain = upstream_;
  ASSERT_EQ(plain.rfind("http://", 0), 0u) << plain;
  RayBackendOptions options;
  options.instance = "ray-tls-test";
  options.address = "https://" + plain.substr(7);
  StatusOr<std::vector<LiveJob>> live = List(options);
  ASSERT_FALSE(live.ok());
  EXPECT_THAT(live.status().message(), HasSubstr("the server does not speak TLS"));
}

}  // namespace
}  // namespace jobsync
