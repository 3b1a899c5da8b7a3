// Helpers for tests of the Git source: scratch directories, repositories built with the git
// command, and real servers started on loopback (each killed when its owner is destroyed).
#ifndef JOBSYNC_TESTS_AGENT_GIT_TEST_UTIL_H_
#define JOBSYNC_TESTS_AGENT_GIT_TEST_UTIL_H_

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <sys/types.h>

#include "agent/git/git_source.h"

namespace jobsync::testing {

namespace fs = std::filesystem;

// A scratch directory, removed with everything in it when the object dies.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const fs::path& path() const { return path_; }
  // Writes `text` to `relative`, creating folders.
  void Write(const std::string& relative, const std::string& text) const;

 private:
  fs::path path_;
};

// Runs `command` with /bin/sh; returns its exit code and stores stdout+stderr in `output`.
int RunShell(const std::string& command, std::string* output = nullptr);
// Quotes `text` for /bin/sh.
std::string ShellQuote(const std::string& text);

// Fails the test naming the Debian package to install when `file` (a program, a module) is
// missing.
::testing::AssertionResult Installed(const std::string& file, const std::string& package);

// A TrainingJob manifest.
std::string JobYaml(const std::string& name, const std::string& ns = "default",
                    const std::string& image = "trainer:v1", int workers = 2);

// A work-tree repository made with git, on branch main, whose commits have fixed authors and
// increasing dates so that history is deterministic.
class TestRepo {
 public:
  explicit TestRepo(const fs::path& dir);
  const fs::path& dir() const { return dir_; }
  void Write(const std::string& relative, const std::string& text) const;
  // Runs `git <args>` in the repository; fails the test on a non-zero exit. Returns stdout.
  std::string Git(const std::string& args) const;
  // Stages everything and commits; returns the new commit id.
  std::string Commit(const std::string& message, const std::string& author = "Alice Example");

 private:
  fs::path dir_;
  int commits_ = 0;
};

// Objects in a repository (loose and packed), as `git count-objects -v` counts them.
int CountObjects(const fs::path& repository);
// The single cache repository under a cache root.
fs::path OnlyCacheDir(const fs::path& cache_root);

// Source options for tests: the real jobsync binary as helper, a cache under `cache_root`.
GitSourceOptions TestOptions(const std::string& repo, const fs::path& cache_root);

// A loopback TCP port nobody listens on right now.
int FreePort();
// Waits until something accepts connections on 127.0.0.1:port.
::testing::AssertionResult WaitForPort(int port, std::chrono::seconds timeout);

// A server process started from argv; killed (SIGTERM, then SIGKILL) and reaped on destruction.
class ServerProcess {
 public:
  ServerProcess() = default;
  ~ServerProcess();
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;
  // Starts argv[0] with stdout and stderr appended to `log`.
  ::testing::AssertionResult Start(const std::vector<std::string>& argv, const fs::path& log);
  void Stop();

 private:
  pid_t pid_ = 0;
};

// A listening socket that never accepts nor answers: a remote that hangs.
class HangingListener {
 public:
  HangingListener();
  ~HangingListener();
  HangingListener(const HangingListener&) = delete;
  HangingListener& operator=(const HangingListener&) = delete;
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

}  // namespace jobsync::testing

#endif  // JOBSYNC_TESTS_AGENT_GIT_TEST_UTIL_H_
