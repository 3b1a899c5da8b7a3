// The Reconciler's sharding stages (ReconcilerOptions::shard; diff/shards.h): what a shard plans,
// and the hand-over of jobs moving between shards.
#include <algorithm>
#include <map>
#include <utility>

#include "agent/sync/reconciler.h"
#include "agent/sync/reconciler_cycle.h"
#include "diff/shards.h"

namespace jobsync {

StatusOr<Plan> Reconciler::PlanShare(Cycle& cycle) {
  if (!options_.shard) {
    return PlanSync(
        PlanInput{snapshot_->manifests, cycle.live.jobs, cycle.live.unavailable, state_.inventory},
        options_.plan);
  }
  ShardView view =
      SelectShard(snapshot_->manifests, cycle.live.jobs, state_.inventory, *options_.shard);
  cycle.foreign = std::move(view.foreign);
  return PlanSync(PlanInput{view.desired, cycle.live.jobs, cycle.live.unavailable, view.inventory},
                  options_.plan);
}

Status Reconciler::HandOver(Cycle& cycle) {
  if (!options_.shard) return OkStatus();
  // The other shards' inventories matter only for jobs this shard does not hold yet (arriving,
  // or new) and for jobs it holds that Git gives away: a shard in its steady state reads nothing.
  bool needed = std::any_of(cycle.foreign.begin(), cycle.foreign.end(), [this](const auto& job) {
    return state_.inventory.count(job.first) != 0;
  });
  for (const PlanStep& step : cycle.plan.steps) {
    if (needed) break;
    needed = state_.inventory.count(step.key) == 0;
  }
  if (!needed) return OkStatus();
  StatusOr<std::multimap<JobKey, ForeignEntry>> others = options_.other_shards();
  if (!others.ok()) {
    // Nothing arriving may be applied blind: a job handed over is never applied here while the
    // shard that had it may still apply it.
    return Status(others.status().code(),
                  "cannot read the other shards' inventories: " + others.status().message());
  }
  cycle.others = std::move(*others);
  // Adopted entries join the inventory in RecordState, which saves them.
  const int held =
      HandOff(cycle.plan.steps, cycle.others, *options_.shard, state_.inventory, &cycle.adopted);
  cycle.handing_over = held > 0;
  return OkStatus();
}

}  // namespace jobsync
