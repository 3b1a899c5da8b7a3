#include "tests/agent/git/git_test_util.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace jobsync::testing {

TempDir::TempDir() {
  std::string pattern = (fs::temp_directory_path() / "jobsync-git-XXXXXX").string();
  path_ = mkdtemp(pattern.data());
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

void TempDir::Write(const std::string& relative, const std::string& text) const {
  fs::create_directories((path_ / relative).parent_path());
  std::ofstream(path_ / relative, std::ios::binary) << text;
}

std::string ShellQuote(const std::string& text) {
  std::string out = "'";
  for (char c : text) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

int RunShell(const std::string& command, std::string* output) {
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return -1;
  std::string text;
  char buffer[4096];
  size_t n = 0;
  while ((n = fread(buffer, 1, sizeof(buffer), pipe)) > 0) text.append(buffer, n);
  int status = pclose(pipe);
  if (output != nullptr) *output = text;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

::testing::AssertionResult Installed(const std::string& file, const std::string& package) {
  if (access(file.c_str(), R_OK) == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << file << " is missing: install the Debian package "
                                       << package << " (scripts/install-deps installs it)";
}

std::string JobYaml(const std::string& name, const std::string& ns, const std::string& image,
                    int workers) {
  return "apiVersion: jobsync.dev/v1alpha1\nkind: TrainingJob\nmetadata:\n  name: " + name +
         "\n  namespace: " + ns + "\nspec:\n  backend: kubernetes\n  image: " + image +
         "\n  roles:\n    worker: {replicas: " + std::to_string(workers) + "}\n";
}

TestRepo::TestRepo(const fs::path& dir) : dir_(dir) {
  fs::create_directories(dir_);
  Git("init -q -b main");
  Git("config user.email alice@example.com");
  Git("config user.name 'Alice Example'");
  Git("config commit.gpgsign false");
}

void TestRepo::Write(const std::string& relative, const std::string& text) const {
  fs::create_directories((dir_ / relative).parent_path());
  std::ofstream(dir_ / relative, std::ios::binary) << text;
}

std::string TestRepo::Git(const std::string& args) const {
  std::string output;
  int rc = RunShell("git -C " + ShellQuote(dir_.string()) + " " + args, &output);
  EXPECT_EQ(rc, 0) << "git " << args << ":\n" << output;
  return output;
}

std::string TestRepo::Commit(const std::string& message, const std::string& author) {
  ++commits_;
  // One hour apart from a fixed start, in a +02:00 zone.
  std::string date = std::to_string(1714550400 + commits_ * 3600) + " +0200";
  std::string env = "GIT_AUTHOR_NAME=" + ShellQuote(author) +
                    " GIT_AUTHOR_DATE=" + ShellQuote(date) +
                    " GIT_COMMITTER_DATE=" + ShellQuote(date) + " ";
  Git("add -A");
  std::string output;
  int rc = RunShell(env + "git -C " + ShellQuote(dir_.string()) + " commit -q --allow-empty -m " +
                        ShellQuote(message),
                    &output);
  EXPECT_EQ(rc, 0) << output;
  std::string id = Git("rev-parse HEAD");
  return id.substr(0, 40);
}

int CountObjects(const fs::path& repository) {
  std::string output;
  RunShell("git --git-dir=" + ShellQuote(repository.string()) + " count-objects -v", &output);
  int total = 0;
  std::istringstream lines(output);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("count: ", 0) == 0) total += std::stoi(line.substr(7));
    if (line.rfind("in-pack: ", 0) == 0) total += std::stoi(line.substr(9));
  }
  return total;
}

fs::path OnlyCacheDir(const fs::path& cache_root) {
  fs::path found;
  for (const auto& entry : fs::directory_iterator(cache_root)) {
    EXPECT_TRUE(found.empty()) << "more than one cache under " << cache_root;
    found = entry.path();
  }
  return found;
}

GitSourceOptions TestOptions(const std::string& repo, const fs::path& cache_root) {
  GitSourceOptions options;
  options.repo = repo;
  options.cache_root = cache_root.string();
  options.helper_binary = JOBSYNC_BINARY;
  options.network_timeout = std::chrono::seconds(30);
  return options;
}

int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address));
  socklen_t length = sizeof(address);
  getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  close(fd);
  return ntohs(address.sin_port);
}

::testing::AssertionResult WaitForPort(int port, std::chrono::seconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = htons(static_cast<uint16_t>(port));
    int rc = connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address));
    close(fd);
    if (rc == 0) return ::testing::AssertionSuccess();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return ::testing::AssertionFailure()
         << "nothing listens on 127.0.0.1:" << port << " after " << timeout.count() << "s";
}

ServerProcess::~ServerProcess() { Stop(); }

::testing::AssertionResult ServerProcess::Start(const std::vector<std::string>& argv,
                                                const fs::path& log) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log.c_str(),
                                   O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  std::vector<std::string> args = argv;
  std::vector<char*> pointers;
  for (std::string& arg : args) pointers.push_back(arg.data());
  pointers.push_back(nullptr);
  int rc = posix_spawn(&pid_, args[0].c_str(), &actions, nullptr, pointers.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    pid_ = 0;
    return ::testing::AssertionFailure() << "cannot start " << argv[0] << ": " << strerror(rc);
  }
  return ::testing::AssertionSuccess();
}

void ServerProcess::Stop() {
  if (pid_ == 0) return;
  kill(pid_, SIGTERM);
  for (int i = 0; i < 100; ++i) {
    if (waitpid(pid_, nullptr, WNOHANG) == pid_) {
      pid_ = 0;
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
  pid_ = 0;
}

HangingListener::HangingListener() {
  fd_ = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address));
  // The kernel completes handshakes up to the backlog; nobody ever reads or answers.
  listen(fd_, 16);
  socklen_t length = sizeof(address);
  getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length);
  port_ = ntohs(address.sin_port);
}

HangingListener::~HangingListener() { close(fd_); }

}  // namespace jobsync::testing
