// The clusters a sync talks to, shared by `plan`, `apply` and `run`: reading their live jobs.
// Planning against them is the planner's (diff/plan.h, PlanSync); the flags that name them and
// connecting to them are the command line's (agent/cli/cluster_flags.h, agent/cli/wiring.h).
//
// A backend that is configured but cannot be read (its ListJobs fails), or is not configured at
// all (no kubeconfig; no RAY_ADDRESS), is listed in LiveState::unavailable with why; the planner
// (diff/plan.h, "Unavailable backends") holds back every job Git has on it as an error step and
// deletes nothing there, while the other backends proceed.
#ifndef JOBSYNC_AGENT_SYNC_CLUSTERS_H_
#define JOBSYNC_AGENT_SYNC_CLUSTERS_H_

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "agent/git/git_source.h"
#include "backends/backend.h"
#include "common/status.h"
#include "diff/plan.h"
#include "schemas/loader.h"

namespace jobsync {

// A backend of a named cluster other than the default one: forwards every call to `inner`, the
// keys of the jobs it lists carrying `cluster`, and the keys it is given stripped of it (the
// backends themselves know no cluster names). Thread-safety is the inner backend's.
class OnCluster : public Backend {
 public:
  // `inner` must outlive this object.
  OnCluster(Backend& inner, std::string cluster);

  BackendKind kind() const override { return inner_.kind(); }
  std::string cluster() const override { return cluster_; }
  bool concurrent() const override { return inner_.concurrent(); }
  StatusOr<std::vector<LiveJob>> ListJobs() override;
  Status Apply(const PlanStep& step, const ApplyContext& context) override;
  StatusOr<Health> GetHealth(const JobKey& key) override;
  std::optional<uint64_t> LiveVersion() override { return inner_.LiveVersion(); }
  Status Ping() override { return inner_.Ping(); }
  Status RecordEvent(const PlanStep& step, const ApplyContext& context, const std::string& reason,
                     const std::string& message, bool warning) override;

 private:
  Backend& inner_;
  const std::string cluster_;
};

// What the clusters run now.
struct LiveState {
  std::map<Target, Backend*> readable;   // backends whose ListJobs succeeded
  std::map<Target, Status> unavailable;  // the others (unconfigured ones included)
  std::vector<LiveJob> jobs;             // of the readable backends
};

// Lists the jobs of each of `backends`; `unconfigured` start out unavailable.
LiveState ReadLive(const std::vector<Backend*>& backends,
                   const std::map<Target, Status>& unconfigured);

}  // namespace jobsync

#endif  // JOBSYNC_AGENT_SYNC_CLUSTERS_H_
