// What the two rooms of the Reconciler share (reconciler.cc: the cycle, Git, planning, status;
// reconciler_lanes.cc: the stages that talk to the clusters, each backend on its lane). Private to
// them: nothing else includes it.
#ifndef JOBSYNC_AGENT_SYNC_RECONCILER_CYCLE_H_
#define JOBSYNC_AGENT_SYNC_RECONCILER_CYCLE_H_

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "agent/sync/reconciler.h"

namespace jobsync {

inline constexpr const char* kActions = "jobsync_applied_actions_total";
// Shared with instrumented_backend.cc; operation "deadline" counts a backend that missed
// --backend-timeout or --sync-timeout.
inline constexpr const char* kBackendErrors = "jobsync_backend_errors_total";

// How long each stage of one cycle took, in the order the stages ran: the "sync cycle" log line
// and jobsync_sync_stage_duration_seconds.
struct StageTimes {
  // Ends the stage named `stage`, which began when the last one ended (or at `last` as set).
  void End(std::string stage) {
    const auto now = std::chrono::steady_clock::now();
    seconds.emplace_back(std::move(stage), std::chrono::duration<double>(now - last).count());
    last = now;
  }
  std::chrono::steady_clock::time_point last;
  std::vector<std::pair<std::string, double>> seconds;
};

// Everything one cycle learns, stage by stage; owned by the cycle's thread.
struct Reconciler::Cycle {
  std::chrono::steady_clock::time_point start;
  Status git;                          // this cycle's look at Git
  const CommitInfo* commit = nullptr;  // the snapshot's commit
  bool may_write = false;
  std::vector<std::optional<uint64_t>> versions;  // each backend's LiveVersion
  bool all_versioned = true;
  std::map<Target, std::string> lane_problems;  // backends whose lane failed the quiet check
  LiveState live;
  Plan plan;
  std::map<JobKey, StepOutcome> outcomes;  // what the executor did
  Status failure;                          // a failure besides the jobs' (Git, saving the state)
  bool in_sync = false;                    // every job in sync with the commit
  // Sharding: the jobs Git gives to other shards, what the other shards' inventories hold, and
  // whether a hand-over is under way (a step held, or an entry not yet adopted: the next cycle
  // must plan again even when nothing else changed).
  std::map<JobKey, int> foreign;
  std::multimap<JobKey, ForeignEntry> others;
  std::map<JobKey, InventoryEntry> adopted;  // entries taken over from other shards this cycle
  bool handing_over = false;
  StageTimes stages;
};

}  // namespace jobsync

#endif  // JOBSYNC_AGENT_SYNC_RECONCILER_CYCLE_H_
