// How a sync (an agent cycle, or `jobsync apply`) records what it did in the inventory
// (domain/inventory.h), which the next plan reads (diff/plan.h, section 7). Pure: no I/O.
//
//   | step                          | outcome   | inventory entry of the job                    |
//   | ----------------------------- | --------- | --------------------------------------------- |
//   | error, or withheld by drift   | -         | unchanged                                     |
//   | delete                        | done      | removed                                       |
//   | create, scale, update, rerun  | done      | {SpecHash(desired), revision, not finished}   |
//   | patch                         | done      | {SpecHash(desired), revision, finished = the  |
//   |                               |           | live job has finished}: nothing was re-run    |
//   | none, live and ours           | -         | added at the live revision when missing;      |
//   |                               |           | finished = the live job has finished          |
//   | anything else                 |           | unchanged                                     |
#ifndef JOBSYNC_AGENT_SYNC_INVENTORY_UPDATE_H_
#define JOBSYNC_AGENT_SYNC_INVENTORY_UPDATE_H_

#include <map>
#include <string>

#include "agent/sync/executor.h"
#include "diff/plan.h"
#include "domain/inventory.h"

namespace jobsync {

// Records `plan`'s outcome in `inventory` as the table above says. `outcomes` holds the
// executor's outcome per job (empty when nothing was executed); `revision` is the commit
// planned; `instance` this agent's name. Returns true when the plan leaves every job in sync: no
// error step, no withheld drift, and every step that acts was carried out.
bool RecordInventory(const Plan& plan, const std::map<JobKey, StepOutcome>& outcomes,
                     const std::string& revision, const std::string& instance,
                     std::map<JobKey, InventoryEntry>* inventory);

}  // namespace jobsync

#endif  // JOBSYNC_AGENT_SYNC_INVENTORY_UPDATE_H_
