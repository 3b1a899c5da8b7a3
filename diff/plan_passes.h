// The passes of the planner that need more than desired and live jobs: unavailable backends
// (plan.h, section 6) and the inventory (section 7). Internal to diff/: PlanSync runs them in the
// order plan.h lists, and they are tested through it (tests/diff/plan_sync_test.cc).
#ifndef JOBSYNC_DIFF_PLAN_PASSES_H_
#define JOBSYNC_DIFF_PLAN_PASSES_H_

#include <map>
#include <optional>
#include <vector>

#include "common/status.h"
#include "diff/plan.h"
#include "domain/inventory.h"

namespace jobsync {

// What is left to plan once the jobs of unavailable backends are set aside.
struct Reachable {
  LoadResult desired;               // without the allowed jobs of unavailable backends
  std::vector<LiveJob> live;        // without the live jobs of unavailable backends
  std::vector<PlanStep> held_back;  // an error step per job set aside
};

// Pass a. Nullopt when no job, desired or live, is on an unavailable backend (the common case:
// nothing is copied); else the jobs to plan and the error steps of those set aside. A desired job
// the allowlists refuse is not set aside: the allowlist pass reports it.
std::optional<Reachable> SetAsideUnavailable(const PlanInput& input, const PlanOptions& options);

// Pass c, on the classified steps: finished-and-gone jobs become none, drift is marked, and
// withheld under the drift policies warn and off.
void ApplyInventory(const std::map<JobKey, InventoryEntry>& inventory, const PlanOptions& options,
                    std::vector<PlanStep>* steps);

// Pass c2, on the classified steps: a create whose job this instance still has live on another
// cluster waits for the delete there, which goes ahead as a move (plan.h, section 8); a create
// whose job may still run on an unavailable cluster waits for it to answer.
void PlanClusterMoves(const PlanInput& input, std::vector<PlanStep>* steps);

}  // namespace jobsync

#endif  // JOBSYNC_DIFF_PLAN_PASSES_H_
