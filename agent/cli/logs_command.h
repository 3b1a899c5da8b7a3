// `jobsync logs NAMESPACE/NAME [--role R] [--index I] [--follow] [--tail N]`: a job's logs where
// it runs, the job named as in Git.
//
// The job is looked up in the repository's manifests at the revision and path the Git flags
// give (as `plan` reads them): a name not there is refused, with the nearest name there and the
// repository's commit, before any cluster is asked. Its backend and cluster come from the
// manifest; the logs are read through the reader wiring.h's OpenJobLogs builds (the pods'
// container logs on Kubernetes, the driver's log on Ray). A job without pods yet, or without a
// Ray submission, is refused saying what the cluster holds of it (its phase, or nothing).
#ifndef JOBSYNC_AGENT_CLI_LOGS_COMMAND_H_
#define JOBSYNC_AGENT_CLI_LOGS_COMMAND_H_

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>

#include "agent/cli/cluster_flags.h"
#include "agent/cli/git_flags.h"

namespace CLI {
class App;
}  // namespace CLI

namespace jobsync {

// Registers `logs` on `app` and runs it when parsed. Owns the flag values, so it must outlive the
// parse. Not thread-safe.
class LogsCommand {
 public:
  void Register(CLI::App& app);

  // The exit code of `logs` (0: read, 2: error) when it was parsed, else nullopt.
  std::optional<int> RunParsed(std::ostream& out, std::ostream& err);

 private:
  int Run(std::ostream& out, std::ostream& err);

  CLI::App* command_ = nullptr;
  GitFlags git_;
  ClusterFlags cluster_;
  std::string job_;
  std::string role_;
  int index_ = -1;  // -1: every replica
  bool follow_ = false;
  int64_t tail_ = -1;  // -1: the whole log
};

}  // namespace jobsync

#endif  // JOBSYNC_AGENT_CLI_LOGS_COMMAND_H_
