// Per-field plan rules: which action a change of each manifest field asks for, and why
// (diff/plan.h, "Per-field actions", holds the table these functions implement). Internal to
// diff/: DiffJobs classifies a job by the strongest effect among its changed fields, and writes
// the fields and their whys into the step's reason. Pure: no I/O.
#ifndef JOBSYNC_DIFF_FIELD_RULES_H_
#define JOBSYNC_DIFF_FIELD_RULES_H_

#include <string>
#include <vector>

#include "domain/plan_step.h"
#include "schemas/model.h"

namespace jobsync {

// What a change of one field asks for, weakest first: a job takes the strongest effect among its
// changed fields.
enum class FieldEffect {
  kPatch,     // changed in place on the live objects, restarting nothing
  kScale,     // replica counts or suspend, changed in place (Kubernetes) or by resubmission (Ray)
  kRerun,     // spec.runId: the same spec run again
  kRecreate,  // the live job cannot take it: delete and create
};

// The rule for one changed field.
struct FieldRule {
  FieldEffect effect = FieldEffect::kRecreate;
  // The manifest field the change belongs to, as a person writes it: "metadata.annotations",
  // "spec.volumes", "spec.roles.worker.resources", "spec.roles.ps" (a role added or removed).
  std::string field;
  // Why the effect, in a few words: "a running Job's pod template cannot change". Empty for
  // kScale and kPatch, whose reasons the planner writes itself.
  std::string why;
};

// The rule for a change at `path` (a FieldChange::field, identity fields left out) of a job on
// `backend`. `role_on_both_sides` says whether the role a spec.roles.<role> path names exists on
// both sides of the diff (a role added or removed is a recreate, whatever its fields). `finished`:
// the live job has finished, so nothing is scaled (a replica count is part of what it ran).
// `jobset`: both sides run as a JobSet (kubernetes.workload: jobset), whose replicated jobs
// cannot change, so a replica count recreates it.
FieldRule RuleFor(const std::string& path, BackendKind backend, bool role_on_both_sides,
                  bool finished, bool jobset);

// The rules of `changes`, one per field (the first change of a field decides: every change of
// one field has the same rule), in the order of the changes. `have` and `want` are the two jobs
// diffed, so that roles added or removed are told apart.
std::vector<FieldRule> RulesFor(const std::vector<FieldChange>& changes, const TrainingJob& have,
                                const TrainingJob& want, bool finished);

// The strongest effect among `rules`; kPatch for none.
FieldEffect StrongestEffect(const std::vector<FieldRule>& rules);

// "spec.volumes, spec.tolerations: a running Job's pod template cannot change; spec.failurePolicy:
// a Job's backoffLimitPerIndex and podFailurePolicy cannot change": the fields of `rules` with
// effect `effect`, grouped by why in order of first appearance.
std::string ExplainFields(const std::vector<FieldRule>& rules, FieldEffect effect);

// "annotations, spec.ttlSecondsAfterFinished": the fields of `rules` with effect kPatch, with
// metadata.annotations spelt "annotations".
std::string PatchedFields(const std::vector<FieldRule>& rules);

}  // namespace jobsync

#endif  // JOBSYNC_DIFF_FIELD_RULES_H_
