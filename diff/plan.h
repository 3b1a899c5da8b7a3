// The planner: desired jobs (Git) x live jobs (clusters) x what the clusters could not tell x
// what this instance applied before (its inventory) -> an ordered Plan of PlanSteps.
//
// This is the one planner: `jobsync plan`, `jobsync apply` and the agent (`jobsync run`) all call
// PlanSync, so a plan shown is the plan the agent carries out, given the same inputs (the same
// commit, the same live jobs, the same inventory: `--state`). Everything here is pure and
// deterministic: no I/O, no clock, no environment. The same inputs give the same Plan, step for
// step and byte for byte once rendered, whatever order the inputs came in.
//
// The passes, in the order PlanSync runs them (each numbered section below is one):
//   a. unavailable backends (6): desired jobs on a backend that could not be read become error
//      steps; live jobs reported for such a backend are left out.
//   b. allowlists (1), then pairing and classification (2, 3).
//   c. inventory (7): finished jobs that disappeared are not run again; drift is marked, and
//      withheld under the drift policies warn and off; then cluster moves (8).
//   d. safety (4): prune switches, then the mass-delete guard, which holds back deletes only.
//   e. ordering (5).
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
//    unchanged manifest never shows a change. Each changed field asks for an effect (the table
//    "Per-field actions" below): patch < scale < rerun < recreate; a job takes the strongest.
//    "Patch fields" are metadata.annotations and, on Kubernetes, spec.ttlSecondsAfterFinished and
//    spec.activeDeadlineSeconds: they reach no pod template and no running process, so a change
//    of them alone is a patch (in place, restarting nothing). "Only runId" means the applied spec
//    and the desired spec differ, leaving out spec.suspend and the patch fields, in spec.runId
//    alone. The live side is the applied spec read back from the cluster, with the live replica
//    counts (elastic ones within bounds excepted: "Elastic roles" below) and the live suspend
//    state (phase Suspended; phase Queued is not suspended: "Queued jobs" below) laid over it;
//    for a finished job, the applied spec alone.
//
//    | manifest   | live job                                    | action                 |
//    | ---------- | ------------------------------------------- | ---------------------- |
//    | invalid    | anything                                    | none, error            |
//    | valid      | another instance's, or not jobsync's        | none, error (conflict) |
//    | suspended  | absent                                      | none (nothing to run)  |
//    | valid      | absent                                      | create                 |
//    | valid      | ours, no readable applied spec              | update (recreate)      |
//    | valid      | ours, finished, same spec ignoring suspend  | none (not re-run)      |
//    | valid      | ours, finished, only patch fields differ    | patch (not re-run)     |
//    | valid      | ours, finished, only runId                  | rerun (recreate)       |
//    | valid      | ours, finished, spec differs                | update (recreate)      |
//    | valid      | ours, only runId (any live counts, suspend) | rerun (recreate)       |
//    | valid      | ours, a recreate field differs              | update (recreate)      |
//    | valid      | ours, replicas or suspend differ            | scale (with the patch  |
//    |            |   (and maybe patch fields)                  |   fields, if any)      |
//    | valid      | ours, only patch fields differ              | patch                  |
//    | valid      | ours, equal                                 | none (in sync)         |
//    | absent     | ours, source file unreadable or with errors | none, error            |
//    | absent     | ours                                        | delete                 |
//
//    Passes a and c then change some rows (sections 6 and 7):
//
//    | manifest   | live job / inventory                        | action                 |
//    | ---------- | ------------------------------------------- | ---------------------- |
//    | valid      | its backend unavailable                     | none, error            |
//    | absent     | its backend unavailable                     | (no step: no delete)   |
//    | valid      | absent; inventory: finished at this spec    | none (ran already)     |
//    | valid, TTL | absent; inventory: applied at this spec     | none (taken as         |
//    |            |                                             |   finished: see 7)     |
//    | valid      | differs; inventory: applied this very spec  | as above, marked drift |
//    |            |   drift policy warn or off                  | none, withheld         |
//
//    A finished job's replica counts are part of its spec: changing them re-runs the job.
//
//    Per-field actions. What a change of each field asks for, and the why the step's reason
//    gives ("spec changed: recreate (spec.tolerations, spec.volumes: a running Job's pod template
//    cannot change)"; fields with the same why are listed together). On Ray every recreate's why
//    is "a Ray submission cannot change: it is stopped and submitted again".
//
//    | field                                  | action   | why                                 |
//    | -------------------------------------- | -------- | ----------------------------------- |
//    | metadata.annotations                   | patch    | reach no pod: patched in place      |
//    | spec.activeDeadlineSeconds             | patch    | a Job field Kubernetes changes in   |
//    | spec.ttlSecondsAfterFinished           |          |   place (recreate on Ray)           |
//    | spec.suspend                           | scale    | suspend or resume                   |
//    | spec.roles.<role>.replicas             | scale    | parallelism changes in place; a     |
//    |                                        |          |   finished job: recreate ("does not |
//    |                                        |          |   scale: runs again at the new      |
//    |                                        |          |   size"); a JobSet on both sides:   |
//    |                                        |          |   recreate ("a JobSet's replicated  |
//    |                                        |          |   jobs cannot change; recreated"),  |
//    |                                        |          |   elastic roles too                 |
//    | spec.runId                             | rerun    | a new run of the same spec          |
//    | metadata.labels                        | recreate | copied onto the pods, and a running |
//    |                                        |          |   Job's pod template cannot change  |
//    | spec.roles.<role>.minReplicas,         | recreate | elastic bounds reach the pods as    |
//    |   maxReplicas                          |          |   environment                       |
//    | spec.roles.<role> added or removed     | recreate | adds or removes its Jobs            |
//    | spec.failurePolicy                     | recreate | a Job's backoffLimitPerIndex and    |
//    |                                        |          |   podFailurePolicy cannot change    |
//    | spec.dependsOn                         | recreate | a job waits for its dependencies    |
//    |                                        |          |   only when it is created           |
//    | spec.kubernetes.workload               | recreate | the workload kind changes: its      |
//    |                                        |          |   objects are replaced              |
//    | spec.queue                             | recreate | Kueue admits a workload through the |
//    |                                        |          |   queue it was created in           |
//    | spec.image, command, args, env,        | recreate | a running Job's pod template cannot |
//    |   envFrom, volumes, nodeSelector,      |          |   change                            |
//    |   tolerations, affinity,               |          |                                     |
//    |   priorityClassName, schedulerName,    |          |                                     |
//    |   serviceAccountName, imagePullSecrets,|          |                                     |
//    |   kubernetes.podTemplatePatch,         |          |                                     |
//    |   spec.roles.<role>.resources and      |          |                                     |
//    |   every per-role override, spec.ray.*  |          |                                     |
//
//    Rerun. A rerun is carried out exactly as an update (delete, then create) by every backend;
//    on Ray the new spec hash gives a new submission id. Reasons: "spec.runId changed ("1" ->
//    "2"): run again (recreate at the same spec)", after "finished (Succeeded) and " for a
//    finished job. runId with another recreate field is an update whose why lists both. A
//    finished job whose runId did not change is never re-run (rows above, and 7).
//
//    Elastic roles. A role with ElasticBounds (schemas/model.h) is elastic. When its live count
//    differs from Git's replicas, lies within [min, max], and Git's replicas equals the applied
//    spec's (Git did not move), the live count is taken as Git's: no change, no drift, no step;
//    the none or other step's reason ends "(elastic: worker runs 6 within [2, 8])". Outside the
//    bounds it is a scale back to Git's replicas ("worker runs 9, outside its elastic bounds
//    [2, 8]: scale back to 4"), drift as any other. When Git's replicas changed, the step scales
//    to Git's replicas whatever the live count. A scale step carries every role's Git count.
//
//    Queued jobs. A live job in phase Queued (domain/live_job.h: Kueue holds it suspended until
//    its queue admits it, and the applied spec does not suspend it) is planned as a running job:
//    its suspend state is "not suspended", so it is neither drift nor resumed, and Kueue resumes
//    it on admission with no write from jobsync. Git `suspend: true` on it is a scale (suspend)
//    step, and any other change the step the table gives. The reason of every step of a queued
//    job that is not an error ends "; live: Queued (<Kueue's reason>)" (or "; live: Queued"
//    without one), e.g. "in sync; live: Queued (couldn't assign flavors to pod set main:
//    insufficient unused quota for cpu ...)".
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
//    - the mass-delete guard, unless allow_mass_delete is set: if the remaining deletes, moves
//      left out, exceed max_delete_share of the live jobs owned by this instance (strictly more:
//      exactly at the share is allowed), each of them becomes a none step with error and held
//      set, whose reason names the count, the share and --allow-mass-delete. Only the deletes
//      are held: every other step of the plan (create, scale, update, drift heals) proceeds.
//      A move is a delete paired with a create of the same backend and name in another
//      namespace whose desired spec equals the deleted job's applied spec apart from the
//      namespace (compared by SpecHash; a delete without a readable applied spec is no move).
//      Each create pairs with one delete: deletes in key order each take the first matching
//      create in key order. A move is not counted and never held, so a one-job instance can move
//      its job to another namespace; a "move" that also changes the spec (another image, say:
//      a wrong --path pointing at another overlay) is a delete like any other.
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
//
// 6. Unavailable backends (PlanInput::unavailable): a backend that is configured but could not
//    be read, or is not configured at all. Every valid manifest on it whose key the allowlists
//    allow becomes a none step with error set and the reason "<backend> unavailable: <why>";
//    one the allowlists refuse is refused as such (1). Live jobs of such a backend are left out
//    (the agent has none: its listing failed), so nothing there is ever deleted, and the
//    mass-delete guard counts only the backends that answered. The other backends proceed.
//
// 7. Inventory (PlanInput::inventory: the spec hash, schemas/canonical.h SpecHash, and the
//    finished mark this instance recorded for each job it applied). For each step that is not an
//    error, has a desired job, and would act (not none), and whose key the inventory holds:
//    - finished and gone: the inventory saw the job Succeeded or Failed at the desired spec, and
//      the step is a create (nothing is live): none, "finished at this spec; not run again".
//    - gone after its TTL: the inventory holds the desired spec (not marked finished), the step
//      is a create, and the job is a Kubernetes one with spec.ttlSecondsAfterFinished. The TTL
//      controller deletes only finished Jobs, and a short TTL (or an agent that was down) can
//      remove them before any listing saw them finish: none, "gone after this instance applied
//      this very spec, which sets ttlSecondsAfterFinished: taken as finished and removed by
//      Kubernetes' TTL controller; not run again (change spec.runId to run it again)". The price:
//      such a job deleted by hand while it ran is not recreated either.
//    - drift: the inventory's spec is the desired spec, so this instance already applied what Git
//      says and the live job was changed or deleted outside Git; the step is marked drift. Not
//      drift: a live job whose applied spec (its annotation) differs from the inventory's, which
//      is a commit applied by a run that ended before saving its inventory (a crash): a change
//      from Git still to finish.
//    - drift policy (PlanOptions::drift): heal keeps the step (it reverts the change); warn and
//      off make it none, withheld, with the reason "changed outside Git (<DriftSummary>); drift
//      policy <policy>", e.g. "changed outside Git (spec.roles.worker.replicas: live 1, Git 4);
//      drift policy warn". The agent reports warn as sync state Drifted, off as OutOfSync.
//      Any live change the heal step reverts counts: replicas and suspend (scale), a deleted
//      job (create), any other field (update).
//    Without an inventory (empty: a first run, or `plan` without state) no step is changed here.
//
// 8. Cluster moves. spec.cluster is part of a job's key (schemas/model.h, Target), so a manifest
//    that names another cluster pairs with no live job there (a create) while its live job on the
//    old cluster pairs with no manifest (a delete). When this instance has the job live on
//    another cluster (a delete step of the same backend, namespace and name):
//    - the delete is a move (PlanStep::moving): reason "moved to cluster B in Git: deleted here
//      first"; it goes ahead with pruning off and is never held by the mass-delete guard; the
//      prune protection still holds it (jobsync.dev/prune: "false");
//    - the create waits: none, "moved here from cluster A: created once it is gone there (a job
//      never runs on two clusters at once)"; an error when the protection holds the delete.
//    The delete waits until the job is gone (its pods too); the next plan, which no longer lists
//    the job on the old cluster, creates it on the new one. When the old cluster is unavailable
//    and the inventory says this instance applied the job there, the create waits as an error
//    step: "cluster A is unavailable and this instance applied the job there: created on ...
//    once cluster A answers and the job is gone from it". Clusters are named "cluster NAME", the
//    default one "the default cluster".
#ifndef JOBSYNC_DIFF_PLAN_H_
#define JOBSYNC_DIFF_PLAN_H_

#include <limits>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "diff/diff.h"
#include "domain/inventory.h"
#include "domain/live_job.h"
#include "schemas/loader.h"

namespace jobsync {

// What to do with a live job changed outside Git (section 7): revert it, report it, or leave it.
enum class DriftPolicy { kHeal, kWarn, kOff };

// "heal", "warn", "off": the values of --drift.
const char* DriftPolicyName(DriftPolicy policy);
// The policy named `name`; nullopt for any other text.
std::optional<DriftPolicy> ParseDriftPolicy(std::string_view name);

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
  // Per-cluster allowlists (the clusters file's allowNamespaces and allowBackends), by cluster
  // name as in JobKey::cluster ("" the default cluster): a job of that cluster must pass both
  // these and the ones above. Same rules as above.
  struct Allowlist {
    std::set<std::string> namespaces;  // empty: every one
    std::set<BackendKind> backends;    // empty: every one
  };
  std::map<std::string, Allowlist> cluster_allowlists;
  // What a drift step becomes (section 7; --drift).
  DriftPolicy drift = DriftPolicy::kHeal;
  // How many field changes a step with no job on one side keeps (create, delete, the recreate
  // of a live job with no readable applied spec): they are the whole manifest or applied spec.
  // `jobsync plan` lists them all. The agent keeps kSummarizedChanges + 1, what its logs and
  // Events show (ChangeSummary), not every field of 10,000 manifests at a first sync.
  size_t whole_job_changes = std::numeric_limits<size_t>::max();

  // True when `key`'s namespace and backend are both allowed, by the lists above and its
  // cluster's.
  bool Allows(const JobKey& key) const;
  // True when some allowlist is set.
  bool HasAllowlists() const;
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
  // Fields of those manifests that load but are not honoured (LoadResult::warnings: an
  // ElasticJob's brainService, ...), shown by every rendering; never an error.
  std::vector<Diagnostic> warnings;

  // Number of steps with `action`.
  int Count(Action action) const;
  // Number of steps with error set.
  int ErrorCount() const;
  // True when a step has an error or a manifest has a problem: `jobsync plan` exits 2.
  bool HasErrors() const { return ErrorCount() > 0 || !diagnostics.empty(); }
  // True when some step is not kNone.
  bool HasChanges() const;
};

// Everything a plan is made from. Holds references: the referred-to values must outlive the
// call that reads them. Build one with braces: PlanInput{desired, live, unavailable, inventory}.
struct PlanInput {
  // The manifests at the commit being planned (their jobs, invalid keys, unreadable files and
  // problems).
  const LoadResult& desired;
  // The jobs the readable backends list (every instance's: ownership is decided here).
  const std::vector<LiveJob>& live;
  // Backends (of each cluster) that could not be read or are not configured, with why
  // (section 6), and targets manifests name that the agent has no cluster for.
  const std::map<Target, Status>& unavailable;
  // What this instance applied (section 7); empty when nothing is known.
  const std::map<JobKey, InventoryEntry>& inventory;
};

// Builds the plan for `input`, running the passes in the order the header comment lists, with
// input.desired.diagnostics copied into Plan::diagnostics. Fails with kInvalidArgument on bad
// options (empty instance, max_delete_share outside [0, 1]) or bad input (see DiffJobs). The
// mass-delete guard never fails it: it holds the deletes back as error steps (section 4).
StatusOr<Plan> PlanSync(const PlanInput& input, const PlanOptions& options);

// PlanSync with every backend readable and an empty inventory: desired against live alone.
StatusOr<Plan> BuildPlan(const LoadResult& desired, const std::vector<LiveJob>& live,
                         const PlanOptions& options);

// How many field changes ChangeSummary and DriftSummary show.
inline constexpr size_t kSummarizedChanges = 3;

// "spec.roles.worker.replicas: 4 -> 6, spec.suspend: false -> true": the first
// kSummarizedChanges field changes of `step` (", ..." when there are more), or its reason when it
// has none. Used in drift reasons (section 7) and in the agent's logs and Kubernetes Events.
std::string ChangeSummary(const PlanStep& step);

// "spec.roles.worker.replicas: live 1, Git 4": the first kSummarizedChanges field changes of a
// drift step, naming both sides (the live value first), ", ..." when there are more; "live: no
// job, Git: the job" when the live job is gone; its reason when it has no change. Used in drift
// reasons (section 7) and the agent's drift log lines.
std::string DriftSummary(const PlanStep& step);

// True when jobsync.dev/prune: "false" is on the live object or on the manifest it was applied
// from: the job is never pruned (section 4).
bool PruneProtected(const LiveJob& live);

// The jobs of `manifests` as they would be live had `instance` applied them at `revision`,
// running (or suspended when the manifest says so): the live side of an offline plan
// (`jobsync plan --from --to`, where the jobs at --from stand for the clusters).
std::vector<LiveJob> LiveAsApplied(const LoadResult& manifests, const std::string& revision,
                                   const std::string& instance);

}  // namespace jobsync

#endif  // JOBSYNC_DIFF_PLAN_H_
