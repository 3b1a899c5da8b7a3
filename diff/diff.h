// Pairs desired jobs (from Git) with live jobs (from the clusters) and classifies each pair.
// The algorithm, its classification table and the safety rules that follow it are described once,
// in plan.h; this header holds the vocabulary (Action, FieldChange, PlanStep) and the two pure
// functions the planner is built from.
#ifndef JOBSYNC_DIFF_DIFF_H_
#define JOBSYNC_DIFF_DIFF_H_

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "diff/live_job.h"
#include "schemas/loader.h"
#include "schemas/model.h"

namespace jobsync {

// What a step does to one job. Suspend and resume are kScale steps: see plan.h, "Suspend".
enum class Action {
  kCreate,  // start the job: no live job has its key
  kScale,   // change replica counts and/or suspend in place (Kubernetes) or by restart (Ray)
  kUpdate,  // recreate: delete the live job, then create the desired one
  kDelete,  // prune: the live job is owned by this instance and has no manifest any more
  kNone,    // leave the job as it is; the step's reason says why
};

// "create", "scale", "update", "delete" or "none": the names used in every rendering.
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

// Returns the leaf-level differences from `from` to `to`, ordered by field path. Objects are
// compared key by key (recursively); arrays and scalars as whole values. A null argument stands for
// "no object at all", so DiffCanonical(null, spec) lists every field of `spec` as added. An
// absent field and an empty array or object are alike: neither produces a change against the other.
std::vector<FieldChange> DiffCanonical(const nlohmann::json& from, const nlohmann::json& to);

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

  // For create, scale, update and delete: DiffCanonical from the live side (the applied spec, with
  // the live replica counts and suspend state laid over it unless the job has finished; null when
  // there is no live job or no readable applied spec) to the desired side (null for delete),
  // leaving out the identity fields
  // (apiVersion, kind, metadata.name, metadata.namespace, spec.backend) that `key` already says.
  // Empty for kNone.
  std::vector<FieldChange> changes;

  // The job as Git has it (create, scale, update, and none when the manifest is valid); null
  // otherwise. Shared with LoadResult::jobs and immutable: to change it, point at a modified copy.
  std::shared_ptr<const TrainingJob> desired;
  // The job as the cluster has it (scale, update, delete, and none when there is a live job); null
  // otherwise. Immutable and shared by the copies of the step.
  std::shared_ptr<const LiveJob> live;
};

// Pairs `desired` with `live` by key and classifies every pair as plan.h's table says, before the
// safety rules (prune switches, protection, mass-delete guard) that BuildPlan applies. Returns one
// step per key in `desired.jobs`, `desired.invalid_jobs`, and live jobs owned by `instance`
// (live jobs of other owners appear only when Git has a job with their key: as a conflict), in key
// order. Fails with kInvalidArgument when `instance` is empty or when a key appears twice in
// `live` or in `desired.jobs` (a backend reports one LiveJob per key). Steps share the desired
// jobs of `desired.jobs`; each live job a step keeps is copied once.
StatusOr<std::vector<PlanStep>> DiffJobs(const LoadResult& desired,
                                         const std::vector<LiveJob>& live,
                                         std::string_view instance);

}  // namespace jobsync

#endif  // JOBSYNC_DIFF_DIFF_H_
