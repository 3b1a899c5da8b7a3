// What an agent remembers of the jobs it applied (the inventory) and of the revisions it synced:
// the data its state store keeps (agent/sync/state_store.h) and the planner reads (diff/plan.h),
// so that drift can be told from work not done yet, and a finished job is not run again.
#ifndef JOBSYNC_DOMAIN_INVENTORY_H_
#define JOBSYNC_DOMAIN_INVENTORY_H_

#include <cstdint>
#include <map>
#include <string>

#include "schemas/model.h"

namespace jobsync {

// One job this instance applied.
struct InventoryEntry {
  std::string spec_hash;  // SpecHash of the spec applied
  std::string revision;   // commit it was applied from
  bool finished = false;  // last seen Succeeded or Failed at that spec

  friend bool operator==(const InventoryEntry&, const InventoryEntry&) = default;
};

struct AgentState {
  std::string last_applied_revision;    // last commit whose sync completed without errors
  std::string last_attempted_revision;  // last commit a sync started to apply
  std::map<JobKey, InventoryEntry> inventory;
  int64_t updated_unix = 0;  // seconds since the epoch of the last Save

  // Equal content; updated_unix is not compared.
  friend bool operator==(const AgentState& a, const AgentState& b) {
    return a.last_applied_revision == b.last_applied_revision &&
           a.last_attempted_revision == b.last_attempted_revision && a.inventory == b.inventory;
  }
};

}  // namespace jobsync

#endif  // JOBSYNC_DOMAIN_INVENTORY_H_
