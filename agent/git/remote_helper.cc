// The helper-process protocol: the child process and the JSON lines it reads and writes. See
// remote_helper.h.
#include "agent/git/remote_helper.h"

#include <cerrno>
#include <cstring>
#include <iostream>
#include <thread>
#include <utility>

#include <nlohmann/json.hpp>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/git/libgit2.h"
#include "agent/git/remote_ops.h"
#include "common/secrets.h"

extern char** environ;  // NOLINT(readability-redundant-declaration): handed to posix_spawn

namespace jobsync {
namespace {

using Clock = std::chrono::steady_clock;

StatusCode CodeFromInt(int code) {
  if (code <= static_cast<int>(StatusCode::kOk) || code > static_cast<int>(StatusCode::kInternal)) {
    return StatusCode::kInternal;
  }
  return static_cast<StatusCode>(code);
}

// The request of one line, as EncodeRequest wrote it; false when the line is not one.
bool DecodeRequest(const std::string& text, RemoteRequest* request) {
  nlohmann::json json = nlohmann::json::parse(text, nullptr, false);
  if (json.is_discarded() || !json.is_object()) return false;
  request->op = json.value("op", "");
  request->url = json.value("url", "");
  request->display = json.value("display", "");
  request->host = json.value("host", "");
  request->port = json.value("port", 0);
  request->ref = {json.value("ref_kind", "default"), json.value("ref", "")};
  request->cache = json.value("cache", "");
  GitCredentials& c = request->credentials;
  c.ssh_key_file = json.value("ssh_key_file", "");
  c.known_hosts_file = json.value("known_hosts_file", "");
  c.insecure_ignore_host_key = json.value("insecure_ignore_host_key", false);
  c.token_file = json.value("token_file", "");
  c.token_env = json.value("token_env", "");
  c.ca_file = json.value("ca_file", "");
  request->max_attempts = json.value("max_attempts", 3);
  return true;
}

void WriteReply(const HelperOutcome& outcome, std::ostream& out) {
  nlohmann::json answer = {{"ok", outcome.status.ok()},
                           {"code", static_cast<int>(outcome.status.code())},
                           {"message", outcome.status.message()},
                           {"commit", outcome.commit},
                           {"cache_damaged", outcome.cache_damaged}};
  out << answer.dump() << "\n" << std::flush;
}

}  // namespace

std::string EncodeRequest(const RemoteRequest& request) {
  const GitCredentials& c = request.credentials;
  nlohmann::json json = {
      {"op", request.op},
      {"url", request.url},
      {"display", request.display},
      {"host", request.host},
      {"port", request.port},
      {"ref_kind", request.ref.kind},
      {"ref", request.ref.name},
      {"cache", request.cache},
      {"ssh_key_file", c.ssh_key_file},
      {"known_hosts_file", c.known_hosts_file},
      {"insecure_ignore_host_key", c.insecure_ignore_host_key},
      {"token_file", c.token_file},
      {"token_env", c.token_env},
      {"ca_file", c.ca_file},
      {"max_attempts", request.max_attempts},
  };
  return json.dump();
}

HelperOutcome DecodeReply(const ChildOutput& child, const RemoteRequest& request,
                          const std::string& helper_binary,
                          const std::vector<std::string>& secrets) {
  nlohmann::json reply = nlohmann::json::parse(child.stdout_text, nullptr, false);
  if (reply.is_discarded() || !reply.is_object() || !reply.contains("ok")) {
    std::string how = WIFSIGNALED(child.wait_status)
                          ? "was killed by signal " + std::to_string(WTERMSIG(child.wait_status))
                          : "exited with status " + std::to_string(WEXITSTATUS(child.wait_status));
    return {InternalError("the git helper " + helper_binary + " " + how +
                          " without an answer during " + request.op + " of " + request.display),
            "", false};
  }
  HelperOutcome outcome;
  outcome.cache_damaged = reply.value("cache_damaged", false);
  if (reply.value("ok", false)) {
    outcome.commit = reply.value("commit", "");
  } else {
    outcome.status = Status(CodeFromInt(reply.value("code", 0)),
                            ScrubSecrets(reply.value("message", ""), secrets));
  }
  return outcome;
}

StatusOr<ChildOutput> HelperProcess::Call(const std::string& request,
                                          std::chrono::milliseconds timeout) {
  const Clock::time_point deadline = Clock::now() + timeout;
  const std::string line = request + "\n";
  // A child that ended since the last call (it should not, but may) is started again, once.
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (pid_ < 0) JOBSYNC_RETURN_IF_ERROR(Start());
    if (SendAll(line)) break;
    Stop(/*kill_now=*/true);
    if (attempt == 1) return InternalError("cannot send a request to the git helper " + binary_);
  }
  ChildOutput output;
  while (true) {
    size_t newline = buffer_.find('\n');
    if (newline != std::string::npos) {
      output.stdout_text = buffer_.substr(0, newline);
      buffer_.erase(0, newline + 1);
      return output;
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    pollfd fd = {fd_, POLLIN, 0};
    int ready = left.count() <= 0 ? 0 : poll(&fd, 1, static_cast<int>(left.count()));
    if (ready < 0 && errno == EINTR) continue;
    if (ready == 0) {
      output.timed_out = true;
      Stop(/*kill_now=*/true);
      return output;
    }
    char chunk[4096];
    ssize_t n = ready < 0 ? -1 : recv(fd_, chunk, sizeof chunk, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0 || buffer_.size() > (1u << 20)) {  // the child ended, or babbles
      output.stdout_text = buffer_;
      output.wait_status = Stop(/*kill_now=*/n > 0);
      return output;
    }
    buffer_.append(chunk, static_cast<size_t>(n));
  }
}

Status HelperProcess::Start() {
  int pair[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) {
    return InternalError("socketpair: " + std::string(strerror(errno)));
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, pair[1], STDIN_FILENO);
  posix_spawn_file_actions_adddup2(&actions, pair[1], STDOUT_FILENO);
  // The agent blocks SIGTERM and SIGINT in its threads to take them with sigwait; the helper
  // starts with an empty mask so that it can be stopped like any process.
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  sigset_t empty;
  sigemptyset(&empty);
  posix_spawnattr_setsigmask(&attributes, &empty);
  posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGMASK);
  std::string arg0 = binary_;
  std::string arg1 = kGitHelperCommand;
  char* argv[] = {arg0.data(), arg1.data(), nullptr};
  pid_t pid = 0;
  int rc = posix_spawn(&pid, binary_.c_str(), &actions, &attributes, argv, environ);
  posix_spawnattr_destroy(&attributes);
  posix_spawn_file_actions_destroy(&actions);
  close(pair[1]);
  if (rc != 0) {
    close(pair[0]);
    return InternalError("cannot start the git helper " + binary_ + ": " + strerror(rc));
  }
  pid_ = pid;
  fd_ = pair[0];
  buffer_.clear();
  ++starts_;
  return OkStatus();
}

bool HelperProcess::SendAll(const std::string& data) {
  size_t sent = 0;
  while (sent < data.size()) {
    ssize_t n = send(fd_, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    sent += static_cast<size_t>(n);
  }
  return true;
}

int HelperProcess::Stop(bool kill_now) {
  if (pid_ < 0) return 0;
  if (kill_now) kill(pid_, SIGKILL);
  close(fd_);
  fd_ = -1;
  int status = 0;
  for (int waited_ms = 0;; waited_ms += 5) {
    pid_t done = waitpid(pid_, &status, WNOHANG);
    if (done == pid_ || (done < 0 && errno != EINTR)) break;
    if (waited_ms == 1000) kill(pid_, SIGKILL);
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  pid_ = -1;
  buffer_.clear();
  return status;
}

int RunGitHelper(std::istream& in, std::ostream& out) {
  // One JSON request per line, one reply line each, until the parent closes the socket.
  LibGit2 libgit2;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    RemoteRequest request;
    if (!DecodeRequest(line, &request)) {
      WriteReply({InternalError("the git helper got a malformed request"), "", false}, out);
      continue;
    }
    WriteReply(RunRemoteOp(request), out);
  }
  return 0;
}

}  // namespace jobsync
