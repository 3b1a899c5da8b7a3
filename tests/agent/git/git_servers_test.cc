// The Git source against real servers on loopback: git daemon (git://), OpenSSH's sshd
// (ssh://, ed25519 keys), lighttpd running git http-backend over TLS with a token (https://),
// plus remotes that refuse connections or accept them and never answer.
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <pwd.h>
#include <unistd.h>

#include "agent/git/git_source.h"
#include "tests/agent/git/git_test_util.h"
#include "tests/test_secrets.h"

namespace jobsync {
namespace {

namespace fs = std::filesystem;
using ::testing::AllOf;
using testing::FreePort;
using ::testing::HasSubstr;
using testing::Installed;
using testing::JobYaml;
using ::testing::Not;
using testing::RegisterTestPrivateKey;
using testing::RegisterTestSecret;
using testing::RunShell;
using testing::ServerProcess;
using testing::ShellQuote;
using testing::TempDir;
using testing::TestOptions;
using testing::TestRepo;
using testing::WaitForPort;
using Clock = std::chrono::steady_clock;

constexpr const char* kToken = "s3cret-token-0123456789";
constexpr const char* kWrongToken = "wrong-token-9876543210";

std::string ReadText(const fs::path& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

class GitServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(Installed("/usr/bin/git", "git"));
    TestRepo work(dir_.path() / "work");
    work.Write("jobs/a.yaml", JobYaml("a"));
    commit_ = work.Commit("Add a");
    fs::create_directories(dir_.path() / "repos");
    std::string output;
    ASSERT_EQ(RunShell("git clone -q --bare " + ShellQuote(work.dir().string()) + " " +
                           ShellQuote(bare().string()),
                       &output),
              0)
        << output;
  }

  fs::path bare() const { return dir_.path() / "repos" / "repo.git"; }
  GitSourceOptions Options(const std::string& url) {
    return TestOptions(url, dir_.path() / "cache");
  }
  std::unique_ptr<GitSource> Source(const GitSourceOptions& options) {
    StatusOr<std::unique_ptr<GitSource>> source = NewGitSource(options, validator_);
    EXPECT_TRUE(source.ok()) << source.status().ToString();
    return source.ok() ? std::move(*source) : nullptr;
  }
  // Fetches and loads; returns the names of the jobs or the error.
  void ExpectFetchAndLoad(GitSource& source) {
    StatusOr<std::string> check = source.CheckForChange();
    ASSERT_TRUE(check.ok()) << check.status().ToString();
    EXPECT_EQ(*check, commit_);
    StatusOr<std::string> fetched = source.Fetch();
    ASSERT_TRUE(fetched.ok()) << fetched.status().ToString();
    StatusOr<Snapshot> snapshot = source.LoadAt(*fetched);
    ASSERT_TRUE(snapshot.ok()) << snapshot.status().ToString();
    ASSERT_EQ(snapshot->manifests.jobs.size(), 1u);
    EXPECT_EQ(snapshot->manifests.jobs[0]->name, "a");
  }
  // Both network operations fail with `code` and a message containing `part` and not `secret`.
  void ExpectBothFail(GitSource& source, StatusCode code, const std::string& part,
                      const std::string& secret = kToken) {
    for (StatusOr<std::string> result : {source.CheckForChange(), source.Fetch()}) {
      ASSERT_FALSE(result.ok());
      EXPECT_EQ(result.status().code(), code) << result.status().ToString();
      EXPECT_THAT(result.status().message(), HasSubstr(part));
      EXPECT_THAT(result.status().message(), Not(HasSubstr(secret)));
    }
  }

  TempDir dir_;
  SchemaValidator validator_;
  std::string commit_;
};

TEST_F(GitServerTest, GitDaemon) {
  int port = FreePort();
  ServerProcess daemon;
  ASSERT_TRUE(daemon.Start(
      {"/usr/bin/git", "daemon", "--reuseaddr", "--listen=127.0.0.1",
       "--port=" + std::to_string(port), "--base-path=" + (dir_.path() / "repos").string(),
       "--export-all", (dir_.path() / "repos").string()},
      dir_.path() / "daemon.log"));
  ASSERT_TRUE(WaitForPort(port, std::chrono::seconds(10)));
  auto source = Source(Options("git://127.0.0.1:" + std::to_string(port) + "/repo.git"));
  ExpectFetchAndLoad(*source);
  auto missing = Source(Options("git://127.0.0.1:" + std::to_string(port) + "/absent.git"));
  StatusOr<std::string> fetched = missing->Fetch();
  EXPECT_FALSE(fetched.ok());
}

TEST_F(GitServerTest, UnreachableRemoteIsUnavailable) {
  std::string url = "git://127.0.0.1:" + std::to_string(FreePort()) + "/repo.git";
  auto source = Source(Options(url));
  ExpectBothFail(*source, StatusCode::kUnavailable, url);
}

TEST_F(GitServerTest, HangingRemoteTimesOut) {
  testing::HangingListener listener;
  std::string url = "git://127.0.0.1:" + std::to_string(listener.port()) + "/repo.git";
  GitSourceOptions options = Options(url);
  options.network_timeout = std::chrono::milliseconds(1500);
  auto source = Source(options);
  for (int i = 0; i < 2; ++i) {
    Clock::time_point start = Clock::now();
    StatusOr<std::string> result = i == 0 ? source->CheckForChange() : source->Fetch();
    auto elapsed = Clock::now() - start;
    ASSERT_FALSE(result.ok());
    EXPECT_EQ(result.status().code(), StatusCode::kDeadlineExceeded);
    EXPECT_THAT(result.status().message(), AllOf(HasSubstr(url), HasSubstr("--git-timeout")));
    EXPECT_GE(elapsed, std::chrono::milliseconds(1400));
    EXPECT_LT(elapsed, std::chrono::milliseconds(4000));
  }
  // Each timeout killed the helper; the next operation started a new one.
  EXPECT_EQ(source->stats().helper_starts, 2);
}

// An unprivileged-style sshd on a random port, with its own ed25519 host key and one authorized
// ed25519 client key, all in the test's directory.
class SshServerTest : public GitServerTest {
 protected:
  void SetUp() override {
    GitServerTest::SetUp();
    ASSERT_TRUE(Installed("/usr/sbin/sshd", "openssh-server"));
    ASSERT_TRUE(Installed("/usr/bin/ssh-keygen", "openssh-client"));
    if (geteuid() == 0) fs::create_directories("/run/sshd");  // sshd's privilege separation dir
    fs::path d = dir_.path();
    std::string output;
    for (const char* key : {"host_key", "client_key", "other_key"}) {
      ASSERT_EQ(RunShell("ssh-keygen -q -t ed25519 -N '' -C jobsync-test -f " +
                             ShellQuote((d / key).string()),
                         &output),
                0)
          << output;
      RegisterTestPrivateKey(std::string("git test ssh ") + key, (d / key).string());
    }
    fs::copy_file(d / "client_key.pub", d / "authorized_keys");
    port_ = FreePort();
    std::ofstream(d / "sshd_config")
        << "Port " << port_ << "\nListenAddress 127.0.0.1\nHostKey " << (d / "host_key").string()
        << "\nAuthorizedKeysFile " << (d / "authorized_keys").string() << "\nPidFile "
        << (d / "sshd.pid").string()
        << "\nStrictModes no\nUsePAM no\nPasswordAuthentication no\n"
           "KbdInteractiveAuthentication no\nPubkeyAuthentication yes\n"
           "PermitRootLogin prohibit-password\nLogLevel VERBOSE\n"
           // Above our bound, so that jobsync's own limit is what stops the tries.
           "MaxAuthTries 20\n";
    ASSERT_TRUE(sshd_.Start({"/usr/sbin/sshd", "-D", "-e", "-f", (d / "sshd_config").string()},
                            d / "sshd.log"));
    ASSERT_TRUE(WaitForPort(port_, std::chrono::seconds(10))) << ReadText(d / "sshd.log");
    std::string host_key = ReadText(d / "host_key.pub");
    std::ofstream(d / "known_hosts") << "[127.0.0.1]:" << port_ << " " << host_key;
    std::ofstream(d / "empty_known_hosts") << "";
    passwd* user = getpwuid(geteuid());
    ASSERT_NE(user, nullptr);
    url_ = "ssh://" + std::string(user->pw_name) + "@127.0.0.1:" + std::to_string(port_) +
           bare().string();
  }

  GitSourceOptions SshOptions(const std::string& key, const std::string& known_hosts) {
    GitSourceOptions options = Options(url_);
    options.credentials.ssh_key_file = (dir_.path() / key).string();
    options.credentials.known_hosts_file = (dir_.path() / known_hosts).string();
    return options;
  }

  int port_ = 0;
  std::string url_;
  ServerProcess sshd_;
};

TEST_F(SshServerTest, SshWithKnownHost) {
  auto source = Source(SshOptions("client_key", "known_hosts"));
  ExpectFetchAndLoad(*source);
}

TEST_F(SshServerTest, SshRefusesUnknownHostKey) {
  auto source = Source(SshOptions("client_key", "empty_known_hosts"));
  ExpectBothFail(*source, StatusCode::kPermissionDenied, "is not in");
  GitSourceOptions insecure = SshOptions("client_key", "empty_known_hosts");
  insecure.credentials.insecure_ignore_host_key = true;
  auto accepting = Source(insecure);
  ExpectFetchAndLoad(*accepting);
}

TEST_F(SshServerTest, SshRefusesChangedHostKey) {
  std::ofstream(dir_.path() / "wrong_known_hosts")
      << "[127.0.0.1]:" << port_ << " " << ReadText(dir_.path() / "other_key.pub");
  auto source = Source(SshOptions("client_key", "wrong_known_hosts"));
  ExpectBothFail(*source, StatusCode::kPermissionDenied, "does not match");
}

TEST_F(SshServerTest, SshWrongKeyFailsAfterBoundedAttempts) {
  auto source = Source(SshOptions("other_key", "known_hosts"));
  ExpectBothFail(*source, StatusCode::kPermissionDenied, "after 3 attempts");
}

// lighttpd serving git http-backend over TLS (a CA made here signs the server's certificate),
// behind HTTP Basic auth whose password is the token.
class HttpsServerTest : public GitServerTest {
 protected:
  void SetUp() override {
    GitServerTest::SetUp();
    ASSERT_TRUE(Installed("/usr/sbin/lighttpd", "lighttpd"));
    ASSERT_TRUE(Installed("/usr/lib/lighttpd/mod_openssl.so", "lighttpd-mod-openssl"));
    ASSERT_TRUE(Installed("/usr/bin/openssl", "openssl"));
    ASSERT_TRUE(Installed("/usr/lib/git-core/git-http-backend", "git"));
    fs::path d = dir_.path();
    std::string dq = ShellQuote(d.string());
    std::string output;
    ASSERT_EQ(RunShell("cd " + dq +
                           " && openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key "
                           "-out ca.crt -days 2 -subj /CN=jobsync-test-ca"
                           " && openssl req -newkey rsa:2048 -nodes -keyout server.key "
                           "-out server.csr -subj /CN=127.0.0.1"
                           " && printf 'subjectAltName=IP:127.0.0.1,DNS:127.0.0.1,DNS:localhost\\n'"
                           " > san.ext"
                           " && openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key "
                           "-CAcreateserial -out server.crt -days 2 -extfile san.ext",
                       &output),
              0)
        << output;
    RegisterTestPrivateKey("git test https CA key", (d / "ca.key").string());
    RegisterTestPrivateKey("git test https server key", (d / "server.key").string());
    RegisterTestSecret("git test token", kToken);
    RegisterTestSecret("git test wrong token", kWrongToken);
    std::ofstream(d / "users") << "git:" << kToken << "\n";
    std::ofstream(d / "token") << kToken << "\n";
    std::ofstream(d / "wrong_token") << kWrongToken << "\n";
    fs::create_directories(d / "www");
    port_ = FreePort();
    std::ofstream(d / "lighttpd.conf")
        << "server.modules = (\"mod_alias\", \"mod_setenv\", \"mod_auth\", \"mod_authn_file\", "
           "\"mod_cgi\", \"mod_openssl\")\n"
        << "server.document-root = \"" << (d / "www").string() << "\"\n"
        << "server.bind = \"127.0.0.1\"\nserver.port = " << port_ << "\n"
        << "server.errorlog = \"" << (d / "lighttpd-error.log").string() << "\"\n"
        << "ssl.engine = \"enable\"\n"
        << "ssl.pemfile = \"" << (d / "server.crt").string() << "\"\n"
        << "ssl.privkey = \"" << (d / "server.key").string() << "\"\n"
        << "alias.url = (\"/git\" => \"/usr/lib/git-core/git-http-backend\")\n"
        << "$HTTP[\"url\"] =~ \"^/git\" {\n"
        << "  cgi.assign = (\"\" => \"\")\n"
        << "  setenv.set-environment = (\"GIT_PROJECT_ROOT\" => \"" << (d / "repos").string()
        << "\", \"GIT_HTTP_EXPORT_ALL\" => \"1\")\n"
        << "}\n"
        << "auth.backend = \"plain\"\n"
        << "auth.backend.plain.userfile = \"" << (d / "users").string() << "\"\n"
        << "auth.require = (\"/git\" => (\"method\" => \"basic\", \"realm\" => \"git\", "
           "\"require\" => \"valid-user\"))\n";
    ASSERT_TRUE(lighttpd_.Start({"/usr/sbin/lighttpd", "-D", "-f", (d / "lighttpd.conf").string()},
                                d / "lighttpd.log"));
    ASSERT_TRUE(WaitForPort(port_, std::chrono::seconds(10)))
        << ReadText(d / "lighttpd.log") << ReadText(d / "lighttpd-error.log");
    url_ = "https://127.0.0.1:" + std::to_string(port_) + "/git/repo.git";
  }

  GitSourceOptions HttpsOptions(const std::string& token_file) {
    GitSourceOptions options = Options(url_);
    options.credentials.ca_file = (dir_.path() / "ca.crt").string();
    if (!token_file.empty()) options.credentials.token_file = (dir_.path() / token_file).string();
    return options;
  }

  int port_ = 0;
  std::string url_;
  ServerProcess lighttpd_;
};

TEST_F(HttpsServerTest, HttpsWithTokenFile) {
  auto source = Source(HttpsOptions("token"));
  ExpectFetchAndLoad(*source);
}

TEST_F(HttpsServerTest, HttpsWithTokenFromEnvironment) {
  setenv("JOBSYNC_TEST_GIT_TOKEN", kToken, 1);
  GitSourceOptions options = HttpsOptions("");
  options.credentials.token_env = "JOBSYNC_TEST_GIT_TOKEN";
  auto source = Source(options);
  ExpectFetchAndLoad(*source);
  unsetenv("JOBSYNC_TEST_GIT_TOKEN");
}

TEST_F(HttpsServerTest, HttpsWrongTokenFailsAfterBoundedAttempts) {
  auto source = Source(HttpsOptions("wrong_token"));
  ExpectBothFail(
      *source, StatusCode::kPermissionDenied,
      "after 3 attempts: check the token in file " + (dir_.path() / "wrong_token").string(),
      kWrongToken);
}

TEST_F(HttpsServerTest, HttpsWithoutTokenAsksForOne) {
  auto source = Source(HttpsOptions(""));
  ExpectBothFail(*source, StatusCode::kPermissionDenied, "--token-file or --token-env");
}

TEST_F(HttpsServerTest, HttpsCredentialsInUrlAreNeverShown) {
  std::string url = "https://git:" + std::string(kToken) + "@127.0.0.1:" + std::to_string(port_) +
                    "/git/absent.git";
  GitSourceOptions options = HttpsOptions("");
  options.repo = url;
  auto source = Source(options);
  EXPECT_THAT(source->display_url(), Not(HasSubstr(kToken)));
  for (StatusOr<std::string> result : {source->CheckForChange(), source->Fetch()}) {
    ASSERT_FALSE(result.ok());
    EXPECT_THAT(result.status().message(), AllOf(Not(HasSubstr(kToken)), HasSubstr("git:***@")));
  }
}

TEST_F(HttpsServerTest, HttpsRefusesUntrustedCertificate) {
  GitSourceOptions options = HttpsOptions("token");
  options.credentials.ca_file.clear();
  auto source = Source(options);
  ExpectBothFail(*source, StatusCode::kPermissionDenied, "--ca-file");
}

TEST_F(HttpsServerTest, HttpsRefusesACertificateOfAnotherCa) {
  std::string output;
  ASSERT_EQ(RunShell("cd " + ShellQuote(dir_.path().string()) +
                         " && openssl req -x509 -newkey rsa:2048 -nodes -keyout other-ca.key "
                         "-out other-ca.crt -days 2 -subj /CN=jobsync-other-ca",
                     &output),
            0)
      << output;
  RegisterTestPrivateKey("git test other CA key", (dir_.path() / "other-ca.key").string());
  GitSourceOptions options = HttpsOptions("token");
  options.credentials.ca_file = (dir_.path() / "other-ca.crt").string();
  auto source = Source(options);
  ExpectBothFail(*source, StatusCode::kPermissionDenied,
                 "the TLS certificate of 127.0.0.1 is not trusted (" + url_ +
                     "): pass --ca-file with the CA that signed it");
}

}  // namespace
}  // namespace jobsync
