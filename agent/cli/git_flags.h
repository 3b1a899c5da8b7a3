// The command-line flags that say which Git repository, ref and folder a command reads and how
// to reach it. Shared by every command that reads Git (history, plan, apply, run) so that they
// are spelt and documented the same everywhere.
#ifndef JOBSYNC_AGENT_CLI_GIT_FLAGS_H_
#define JOBSYNC_AGENT_CLI_GIT_FLAGS_H_

#include <string>

#include "agent/git/git_source.h"

namespace CLI {
class App;
}  // namespace CLI

namespace jobsync {

// Values of the Git flags after parsing. Plain values; the caller owns them.
struct GitFlags {
  std::string repo;
  std::string branch;
  std::string tag;
  std::string rev;
  std::string path;
  std::string cache_dir;
  std::string ssh_key;
  std::string known_hosts;
  bool insecure_ignore_host_key = false;
  std::string token_file;
  std::string token_env;
  std::string ca_file;
  double timeout_seconds = 60;
};

// Registers --repo, --branch/--tag/--rev (mutually exclusive), --path, --cache-dir,
// --ssh-key, --known-hosts, --insecure-ignore-host-key, --token-file/--token-env (mutually
// exclusive), --ca-file and --git-timeout on `command`, in a "Git source" group. Parsed values
// are stored in `flags`, which must outlive the parse.
// `repo_required` false leaves --repo optional (the agent may read it from its config file).
void AddGitFlags(CLI::App& command, GitFlags& flags, bool repo_required = true);

// The GitSource options the flags describe; NewGitSource checks them.
GitSourceOptions ToGitSourceOptions(const GitFlags& flags);

}  // namespace jobsync

#endif  // JOBSYNC_AGENT_CLI_GIT_FLAGS_H_
