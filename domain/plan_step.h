// The planner's decision for one job, shared by the planner (diff/), which makes it, and the
// backends and executor, which carry it out. The rules that produce it are described once, in
// diff/plan.h.
#ifndef JOBSYNC_DOMAIN_PLAN_STEP_H_
#define JOBSYNC_DOMAIN_PLAN_STEP_H_

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "domain/live_job.h"
#include "schemas/model.h"

namespace jobsync {

// What a step does to one job. Suspend and resume are kScale steps: see plan.h, "Suspend".
enum class Action {
  kCreate,  // start the job: no live job has its key
  kScale,   // change replica counts and/or suspend in place (Kubernetes) or by restart (Ray);
            // the patch fields that changed with them are patched by the same step
  kPatch,   // change only the patch fields (diff/plan.h: annotations; on Kubernetes also
            // spec.ttlSecondsAfterFinished and spec.activeDeadlineSeconds), in place, restarting
            // nothing: Kubernetes patches the objects; Ray records the spec and leaves the
            // running submission be
  kUpdate,  // recreate: delete the live job, then create the desired one
  kRerun,   // run again: only spec.runId changed (diff/plan.h); carried out exactly as kUpdate
  kDelete,  // prune: the live job is owned by this instance and has no manifest any more
  kNone,    // leave the job as it is; the step's reason says why
};

// "create", "scale", "patch", "update", "rerun", "delete" or "none": the names used in every
// rendering.
const char* ActionName(Action action);

// One field that differs between the live and the desired canonical JSON.
struct FieldChange {
  // Dotted path in the canonical JSON: "spec.roles.worker.replicas". Map keys that are not plain
  // words are bracketed and quoted: metadata.annotations["jobsync.dev/prune"].
  std::string field;
  std::optional<nlohmann::json> from;  // absent: the field is added
  std::optional<nlohmann::json> to;    // absent: the field is removed

  friend bool operator==(const FieldChange&, const FieldChange&) = default;
};

// The decision for one job: what to do, why, and which fields change. Produced by DiffJobs and
// ordered into a Plan by BuildPlan; renderers and executors read it. A copyable value whose copies
// share the desired and live jobs, which are immutable.
struct PlanStep {
  Action action = Action::kNone;
  JobKey key;

  // Why this action, in a few words a person can act on ("spec changed: recreate").
  std::string reason;

  // True when the job is held back by a problem the user must fix (an invalid manifest, an
  // ownership conflict, an unreadable source file); always with action kNone. `jobsync plan`
  // exits 2 when any step has it.
  bool error = false;

  // For create, scale, patch, update, rerun and delete: DiffCanonical from the live side (the
  // applied spec, with the live replica counts and suspend state laid over it unless the job has
  // finished; null when there is no live job or no readable applied spec) to the desired side (null
  // for delete), leaving out the identity fields (apiVersion, kind, metadata.name,
  // metadata.namespace, spec.backend) that `key` already says. Empty for kNone.
  std::vector<FieldChange> changes;

  // The job as Git has it (create, scale, patch, update, rerun, and none when the manifest is
  // valid); null otherwise. Shared with LoadResult::jobs and immutable: to change it, point at a
  // modified copy.
  std::shared_ptr<const TrainingJob> desired;
  // The job as the cluster has it (scale, patch, update, rerun, delete, and none when there is a
  // live job); null otherwise. Immutable and shared by the copies of the step.
  std::shared_ptr<const LiveJob> live;

  // True when the live job was changed or deleted outside Git: the inventory says this instance
  // last applied the very spec Git has now, so the step would revert someone else's change
  // rather than carry out a new commit (diff/plan.h, "7. Inventory").
  bool drift = false;
  // True when the drift policy (warn, off) held a drift step back: action kNone, and the reason
  // says what changed outside Git and which policy holds it.
  bool withheld = false;
  // True when the mass-delete guard held this delete back (diff/plan.h, "4. Safety"): action
  // kNone with error set, and the reason names the count, the share and --allow-mass-delete.
  bool held = false;
  // True for the delete of a job whose manifest now names another cluster (diff/plan.h,
  // "8. Cluster moves"): carried out even with pruning off, never held by the mass-delete guard.
  bool moving = false;
};

}  // namespace jobsync

#endif  // JOBSYNC_DOMAIN_PLAN_STEP_H_
