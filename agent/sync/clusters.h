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
#include <string>
#include <vector>

#include "agent/git/git_source.h"
#include "backends/backend.h"
#include "common/status.h"
#include "diff/plan.h"
#include "schemas/loader.h"

namespace jobsync {

// What the clusters run now.
struct LiveState {
  std::map<BackendKind, Backend*> readable;   // backends whose ListJobs succeeded
  std::map<BackendKind, Status> unavailable;  // the others (unconfigured ones included)
  std::vector<LiveJob> jobs;                  // of the readable backends
};

// Lists the jobs of each of `backends`; `unconfigured` start out unavailable.
LiveState ReadLive(const std::vector<Backend*>& backends,
                   const std::map<BackendKind, Status>& unconfigured);

}  // namespace jobsync

#endif  // JOBSYNC_AGENT_SYNC_CLUSTERS_H_
