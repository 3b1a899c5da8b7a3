// The helper-process protocol of the Git source: network operations (ls-remote, fetch) run in a
// child process, the jobsync binary re-executed with the hidden command kGitHelperCommand, that
// the parent kills when the network timeout passes. Internal to agent/git/.
//
// Why a process: libgit2 1.5 has no network timeout and offers no way to interrupt a blocked
// read, so a thread could not be stopped; fork() of a process that may already run threads (the
// agent's HTTP server, a watch) can copy locks held by other threads into a child that then
// deadlocks. posix_spawn of our own binary starts a clean process whatever the parent runs, and
// SIGKILL always stops it. The request travels on the child's stdin (URLs may carry a password;
// argv is public in ps), the outcome comes back as one JSON line on its stdout. Tokens are read
// from their file or environment variable by whichever process needs them, so they never cross
// the pipe.
//
// Parent side: HelperProcess (the child, kept between operations), EncodeRequest and
// DecodeReply. Child side: RunGitHelper (git_source.h) reads requests and runs each with
// RunRemoteOp (remote_ops.h).
#ifndef JOBSYNC_AGENT_GIT_REMOTE_HELPER_H_
#define JOBSYNC_AGENT_GIT_REMOTE_HELPER_H_

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include <sys/types.h>

#include "agent/git/git_source.h"
#include "common/status.h"

namespace jobsync {

// Which ref a request is about.
struct RefSpec {
  std::string kind;  // "default", "branch", "tag", "rev"
  std::string name;

  std::string Describe() const {
    if (kind == "default") return "the default branch";
    return kind + " " + name;
  }
};

// One network operation for the helper child. Holds file paths and variable names, never
// secret values (the URL may carry a password: it travels on the pipe only).
struct RemoteRequest {
  std::string op;       // "ls-remote" or "fetch"
  std::string url;      // what libgit2 is given
  std::string display;  // the repository as messages name it, credentials removed
  std::string host;
  int port = 0;
  RefSpec ref;
  std::string cache;  // the bare cache repository a fetch writes into
  GitCredentials credentials;
  int max_attempts = 3;
};

// What an operation came to: the commit the ref resolves to, or why not.
struct HelperOutcome {
  Status status;
  std::string commit;
  bool cache_damaged = false;  // the failure points at the cache: rebuild it and try again
};

// One line of JSON (without the newline) for the pipe.
std::string EncodeRequest(const RemoteRequest& request);

struct ChildOutput {
  std::string stdout_text;  // the reply line, or what the child wrote before it ended
  bool timed_out = false;
  int wait_status = 0;  // when the child ended without a reply
};

// The outcome in a reply line of the child. A line that is not a reply (the child died) yields
// an Internal status naming `helper_binary`, how the child ended and the operation. Messages are
// scrubbed of `secrets` and of passwords in URLs.
HelperOutcome DecodeReply(const ChildOutput& child, const RemoteRequest& request,
                          const std::string& helper_binary,
                          const std::vector<std::string>& secrets);

// The helper child, kept running between network operations: starting the jobsync binary costs
// more CPU than a local ls-remote does (about 8 ms of dynamic linking and start-up, measured in
// bench/), and the agent asks every cycle. Requests and replies are JSON lines over a socket pair;
// the parent sends with MSG_NOSIGNAL, so a helper that died cannot raise SIGPIPE in the agent. A
// request that passes its deadline kills the child; the next request starts a new one.
// Not thread-safe: one caller at a time.
class HelperProcess {
 public:
  explicit HelperProcess(std::string binary) : binary_(std::move(binary)) {}
  // Closes the socket: the child reads the end of its input and exits; one that lingers is killed.
  ~HelperProcess() { Stop(/*kill_now=*/false); }
  HelperProcess(const HelperProcess&) = delete;
  HelperProcess& operator=(const HelperProcess&) = delete;

  // Sends `request` (one line of JSON) and returns the reply line, or timed_out when `timeout`
  // passed first.
  StatusOr<ChildOutput> Call(const std::string& request, std::chrono::milliseconds timeout);

  int64_t starts() const { return starts_; }

 private:
  Status Start();
  bool SendAll(const std::string& data);
  // Ends the child (at once, or by closing its input and waiting up to a second) and reaps it;
  // returns its wait status.
  int Stop(bool kill_now);

  std::string binary_;
  pid_t pid_ = -1;
  int fd_ = -1;
  std::string buffer_;  // bytes received after the last reply line
  int64_t starts_ = 0;
};

}  // namespace jobsync

#endif  // JOBSYNC_AGENT_GIT_REMOTE_HELPER_H_
