#include "agent/sync/inventory_update.h"

#include "schemas/canonical.h"

namespace jobsync {

bool RecordInventory(const Plan& plan, const std::map<JobKey, StepOutcome>& outcomes,
                     const std::string& revision, const std::string& instance,
                     std::map<JobKey, InventoryEntry>* inventory) {
  bool in_sync = true;
  for (const PlanStep& step : plan.steps) {
    auto outcome = outcomes.find(step.key);
    const bool acts = step.action != Action::kNone;
    const bool done = acts && outcome != outcomes.end() && outcome->second.status.ok() &&
                      !outcome->second.skipped;
    if (step.error || step.withheld || (acts && !done)) in_sync = false;
    if (step.error || step.withheld) continue;
    if (done && step.action == Action::kDelete) {
      inventory->erase(step.key);
    } else if (done && step.action == Action::kPatch && step.desired) {
      // Metadata only: a job that had finished has finished still, so it is not run again.
      const bool finished = step.live && IsFinished(step.live->phase);
      (*inventory)[step.key] = {SpecHash(*step.desired), revision, finished};
    } else if (done && step.desired) {
      (*inventory)[step.key] = {SpecHash(*step.desired), revision, false};
    } else if (!acts && step.desired && step.live && step.live->instance == instance) {
      // In sync: the live job runs the desired spec. Its hash is computed only for a job the
      // inventory does not know yet (adopted after a lost state, or from before the inventory).
      auto [entry, added] = inventory->try_emplace(step.key);
      if (added) {
        entry->second.spec_hash = SpecHash(*step.desired);
        entry->second.revision = step.live->revision;
      }
      entry->second.finished = IsFinished(step.live->phase);
    }
  }
  return in_sync;
}

}  // namespace jobsync
