// The command-line flags that say which Git repository, ref and folder a command reads and how
// to reach it. Shared by every command that reads Git (history, plan, apply, run) so that they
// are spelt and documented the same everywhere.
#ifndef JOBSYNC_AGENT_CLI_GIT_FLAGS_H_
#define JOBSYNC_AGENT_CLI_GIT_FLAGS_H_

#include <optional>
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
  std::string elasticjob = "native";  // --elasticjob: native or operator (checked by the flag)
  // Not a flag: the agent's clusters, set by the commands that plan against them (spec.cluster
  // is then checked; LoadOptions::clusters).
  std::optional<ClusterNames> clusters = std::nullopt;
};

// Registers --elasticjob (native or operator, default native; group "Manifests"): how an
// ElasticJob without the jobsync.dev/elasticjob-mode annotation runs. Part of AddGitFlags; for
// the commands that read files instead (validate, render) on its own.
void AddElasticJobFlag(CLI::App& command, std::string& mode);

// The ElasticJobMode of a value --elasticjob accepted.
ElasticJobMode ToElasticJobMode(const std::string& flag);

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
