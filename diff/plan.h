// The planner: desired jobs (Git) x live jobs (clusters) -> an ordered Plan of PlanSteps.
//
// Everything here is pure and deterministic: no I/O, no clock, no environment. The same inputs
// give the same Plan, step for step and byte for byte once rendered, whatever order the inputs
// came in.
//
// 1. Pairing
//    Desired jobs (LoadResult::jobs), keys of invalid manifests (LoadResult::invalid_jobs) and
//    live jobs are paired by key, backend/namespace/name. Absence carries meaning: no live job
//    means create, no manifest means prune. Live jobs owned by another instance (the
//    jobsync.dev/instance label differs, or is absent) take part only when Git has their key.
//
//    Allowlists (PlanOptions::allowed_namespaces and allowed_backends, when not empty) act
//    before pairing: a valid manifest whose namespace or backend is outside them becomes a none
//    step with error set, whose reason names the job, the namespace or backend, the allowlist,
//    the manifest's file:line:column and what to change; live jobs outside them are left out of
//    the plan, whoever owns them, so they are never changed, scaled or pruned. A refused job
//    therefore never turns into a delete, and the mass-delete guard counts only allowed jobs.
//    Invalid manifests stay errors as the table says, whatever their namespace.
//
// 2. Classification (DiffJobs in diff.h), first matching row wins. Specs are compared as canonical
//    JSON (schemas/canonical.h): defaults filled, maps ordered, quantities by value, so an
//    unchanged manifest never shows a change. "Masked" means with spec.suspend and every
//    spec.roles.*.replicas removed. The live side is the applied spec read back from the
//    cluster, with the live replica counts and the live suspend state (phase Suspended) laid over
//    it; for a finished job, the applied spec alone.
//
//    | manifest   | live job                                    | action                 |
//    | ---------- | ------------------------------------------- | ---------------------- |
//    | invalid    | anything                                    | none, error            |
//    | valid      | another instance's, or not jobsync's        | none, error (conflict) |
//    | suspended  | absent                                      | none (nothing to run)  |
//    | valid      | absent                                      | create                 |
//    | valid      | ours, no readable applied spec              | update (recreate)      |
//    | valid      | ours, finished, same spec ignoring suspend  | none (not re-run)      |
//    | valid      | ours, finished, spec differs                | update (recreate)      |
//    | valid      | ours, masked specs differ                   | update (recreate)      |
//    | valid      | ours, replicas or suspend differ            | scale                  |
//    | valid      | ours, equal                                 | none (in sync)         |
//    | absent     | ours, source file unreadable or with errors | none, error            |
//    | absent     | ours                                        | delete                 |
//
//    A finished job's replica counts are part of its spec: changing them re-runs the job.
//
// 3. Suspend
//    `suspend: true` is a scale step: the target spec has suspend set and the change list shows
//    spec.suspend: false -> true. An executor applies it as Kubernetes spec.suspend = true (scale
//    to zero; the Jobs stay) or as a stop on Ray; resuming is the reverse scale step (Kubernetes
//    spec.suspend = false; a new submission on Ray). A suspended manifest with no live job plans
//    nothing, so suspended jobs converge on every backend without running anything.
//
// 4. Safety (BuildPlan), applied to delete steps in this order:
//    - PlanOptions::prune false: none, "prune disabled".
//    - the live object carries jobsync.dev/prune: "false", or the manifest it was applied from did
//      (the applied spec's annotations): none, "protected".
//    - if the remaining deletes exceed max_delete_share of the live jobs owned by this instance
//      (strictly more: exactly at the share is allowed), the whole plan is refused with
//      kFailedPrecondition naming the count, the share and --allow-mass-delete, unless
//      allow_mass_delete is set.
//    Invalid manifests and jobs from unreadable files never reach the delete row (see the table),
//    and jobs outside the allowlists never reach the planner's tables at all (see Pairing).
//
// 5. Ordering: one comparator, ExecutesBefore in plan.cc, over (wave, depth, key):
//    - depth: the job's place in the dependsOn graph, 0 for a job that depends on nothing, else one
//      more than its deepest dependency. Edges come from the desired spec, or for a job Git no
//      longer has, from its applied spec; a dependsOn name matches the plan's jobs of that name in
//      the same namespace, any backend. Jobs on a cycle (the loader rejects cycles, so only a
//      hand-built input has one) get a depth past every other job's, so planning always ends.
//    - wave 1 holds the deletes of jobs that another job of the plan depends on; everything else
//      is wave 0. Wave 0 runs first.
//    - wave 0 sorts by depth ascending (dependencies before dependents); wave 1 by depth
//      descending (dependents are deleted before what they depend on); then by key.
//    Depths act like Argo CD's sync waves derived from dependsOn: the steps of one wave and depth
//    do not depend on each other.
#ifndef JOBSYNC_DIFF_PLAN_H_
#define JOBSYNC_DIFF_PLAN_H_

#include <set>
#include <string>
#include <vector>

#include "common/status.h"
#include "diff/diff.h"
#include "domain/live_job.h"
#include "schemas/loader.h"

namespace jobsync {

// How a plan is made. A plain value.
struct PlanOptions {
  // This agent's name, as in the jobsync.dev/instance label. Required: live jobs with this
  // instance are the ones the plan may change or delete.
  std::string instance;
  // False turns every delete into none ("prune disabled").
  bool prune = true;
  // Largest share of the owned live jobs one plan may delete, in [0, 1].
  double max_delete_share = 0.5;
  // True lets a plan delete more than max_delete_share (--allow-mass-delete).
  bool allow_mass_delete = false;
  // The only namespaces and backends the plan may touch (--allow-namespace, --allow-backend);
  // an empty set allows every one. See "1. Pairing" above.
  std::set<std::string> allowed_namespaces;
  std::set<BackendKind> allowed_backends;

  // True when `key`'s namespace and backend are both allowed.
  bool Allows(const JobKey& key) const;
};

// An ordered list of steps that makes the live jobs match Git; steps run in vector order.
// A plain, copyable value; not synchronised.
struct Plan {
  std::vector<PlanStep> steps;
  // Every problem found in the manifests the plan was made from (LoadResult::diagnostics), with
  // file:line:column, message and hint, ordered as the loader orders them. Carried in the plan so
  // that every rendering (a pull-request comment too) says why the plan has errors; a problem
  // here need not hold back any step (a file that does not parse names no job).
  std::vector<Diagnostic> diagnostics;

  // Number of steps with `action`.
  int Count(Action action) const;
  // Number of steps with error set.
  int ErrorCount() const;
  // True when a step has an error or a manifest has a problem: `jobsync plan` exits 2.
  bool HasErrors() const { return ErrorCount() > 0 || !diagnostics.empty(); }
  // True when some step is not kNone.
  bool HasChanges() const;
};

// Builds the plan for `desired` against `live`, as the header comment describes, with
// desired.diagnostics copied into Plan::diagnostics. Fails with
// kInvalidArgument on bad options (empty instance, max_delete_share outside [0, 1]) or bad input
// (see DiffJobs), and with kFailedPrecondition when the mass-delete guard refuses the plan.
StatusOr<Plan> BuildPlan(const LoadResult& desired, const std::vector<LiveJob>& live,
                         const PlanOptions& options);

}  // namespace jobsync

#endif  // JOBSYNC_DIFF_PLAN_H_
