// Pairs desired jobs (from Git) with live jobs (from the clusters) and classifies each pair.
// The algorithm, its classification table and the safety rules that follow it are described once,
// in plan.h; this header holds the two pure functions the planner is built from; the vocabulary
// (Action, FieldChange, PlanStep) is in domain/plan_step.h.
#ifndef JOBSYNC_DIFF_DIFF_H_
#define JOBSYNC_DIFF_DIFF_H_

#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "domain/live_job.h"
#include "domain/plan_step.h"
#include "schemas/loader.h"
#include "schemas/model.h"

namespace jobsync {

// Returns the leaf-level differences from `from` to `to`, ordered by field path. Objects are
// compared key by key (recursively); arrays and scalars as whole values. A null argument stands for
// "no object at all", so DiffCanonical(null, spec) lists every field of `spec` as added. An
// absent field and an empty array or object are alike: neither produces a change against the other,
// except a role's command and args (spec.roles.*.command, .args), where an empty list replaces the
// job's and an absent one inherits it.
std::vector<FieldChange> DiffCanonical(const nlohmann::json& from, const nlohmann::json& to);

// Pairs `desired` with `live` by key and classifies every pair as plan.h's table says, before the
// safety rules (prune switches, protection, mass-delete guard) that BuildPlan applies. Returns one
// step per key in `desired.jobs`, `desired.invalid_jobs`, and live jobs owned by `instance`
// (live jobs of other owners appear only when Git has a job with their key: as a conflict), in key
// order. Fails with kInvalidArgument when `instance` is empty or when a key appears twice in
// `live` or in `desired.jobs` (a backend reports one LiveJob per key). Steps share the desired
// jobs of `desired.jobs`; each live job a step keeps is copied once. A step with no job on one
// side (create, delete, the recreate of a live job with no readable applied spec) lists every
// field of the other, or its first `whole_job_changes` fields (PlanOptions::whole_job_changes).
StatusOr<std::vector<PlanStep>> DiffJobs(
    const LoadResult& desired, const std::vector<LiveJob>& live, std::string_view instance,
    size_t whole_job_changes = std::numeric_limits<size_t>::max());

}  // namespace jobsync

#endif  // JOBSYNC_DIFF_DIFF_H_
