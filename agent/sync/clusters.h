// The clusters a sync talks to, shared by `plan`, `apply` and `run`: reading their live jobs, and
// planning Git against what could be read. The flags that name them and connecting to them are
// the command line's (agent/cli/cluster_flags.h, agent/cli/wiring.h).
//
// A backend that is configured but cannot be read (its ListJobs fails) holds back every job of
// its kind as an error step and deletes nothing there; the other backends proceed. A backend
// that is not configured at all (no kubeconfig; no RAY_ADDRESS) is an error only for the jobs Git
// has on it.
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

// The jobs of a snapshot as they would be live had `instance` applied them at its commit: the
// live side of an offline plan (`jobsync plan --from --to`).
std::vector<LiveJob> LiveAsApplied(const Snapshot& snapshot, const std::string& instance);

// Plans `desired` against the readable clusters; the jobs of unavailable ones become error
// steps ("<backend> unavailable: <why>"), except those outside the allowlists, which BuildPlan
// refuses as such. Fails as BuildPlan.
StatusOr<Plan> PlanAgainstLive(const LoadResult& desired, const LiveState& live,
                               const PlanOptions& options);

}  // namespace jobsync

#endif  // JOBSYNC_AGENT_SYNC_CLUSTERS_H_
