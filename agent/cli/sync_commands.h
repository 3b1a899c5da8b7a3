// The commands that compare Git with the clusters: `plan`, `apply` and `render`.
//
//   jobsync plan  --repo R [--path P] --from REV --to REV   offline, for pull-request review: the
//                 live side is the jobs at --from, as if this instance had applied them.
//   jobsync plan  --repo R [--path P] [--rev REV] [--state S] [--drift D]   against the live
//                 clusters, with the inventory of the agent's state: exactly what `jobsync run`
//                 would do in its next cycle.
//   jobsync apply --repo R [--path P] [--rev REV] [--state S] [--drift D] [--prune] [--dry-run]
//                 one sync, planned as the agent plans, recording the inventory like one cycle.
//   jobsync render [--instance NAME] PATH...                the Kubernetes objects, as YAML.
//
// Both plan with PlanSync (diff/plan.h), the agent's planner. The state: --state as `run` takes
// it (a file, or configmap:NAMESPACE/NAME); without it, the instance's default state file
// (DefaultStateFile), read only, when that file exists, else no state (an empty inventory).
// `apply` writes only to a --state given explicitly.
// Connecting to the clusters: agent/cli/wiring.h; reading them: agent/sync/clusters.h.
#ifndef JOBSYNC_AGENT_CLI_SYNC_COMMANDS_H_
#define JOBSYNC_AGENT_CLI_SYNC_COMMANDS_H_

#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "agent/cli/cluster_flags.h"
#include "agent/cli/git_flags.h"

namespace CLI {
class App;
}  // namespace CLI

namespace jobsync {

// Registers plan, apply and render on `app` and runs whichever was parsed. Owns the flag values,
// so it must outlive the parse. Not thread-safe.
class SyncCommands {
 public:
  void Register(CLI::App& app);

  // The exit code of the command that was parsed, or nullopt when none of these was.
  std::optional<int> RunParsed(std::ostream& out, std::ostream& err);

 private:
  int RunPlan(std::ostream& out, std::ostream& err);
  int RunApply(std::ostream& out, std::ostream& err);
  int RunRender(std::ostream& out, std::ostream& err);

  CLI::App* plan_ = nullptr;
  CLI::App* apply_ = nullptr;
  CLI::App* render_ = nullptr;

  GitFlags plan_git_;
  ClusterFlags plan_cluster_;
  std::string from_;
  std::string to_;
  std::string output_ = "text";
  std::string color_ = "auto";
  std::string plan_state_;
  std::string plan_drift_ = "heal";

  GitFlags apply_git_;
  ClusterFlags apply_cluster_;
  bool dry_run_ = false;
  bool apply_again_ = false;  // apply is planning again after moving jobs between clusters
  std::string apply_state_;
  std::string apply_drift_ = "heal";

  std::vector<std::string> render_paths_;
  std::string render_instance_ = "jobsync";
  std::string render_revision_;
  std::string render_elasticjob_ = "native";
};

}  // namespace jobsync

#endif  // JOBSYNC_AGENT_CLI_SYNC_COMMANDS_H_
