#include "diff/plan.h"

#include <algorithm>
#include <cmath>
#include <deque>
#include <iterator>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "diff/plan_passes.h"
#include "schemas/canonical.h"
#include "schemas/diagnostic.h"

namespace jobsync {
namespace {

// A step's place in the plan; see "Ordering" in plan.h.
struct StepOrder {
  int wave = 0;
  int depth = 0;
  const JobKey* key = nullptr;
  size_t index = 0;  // into the unordered steps
};

// The one comparator that orders a plan: wave ascending; in wave 0 dependency depth ascending
// (dependencies first), in wave 1 depth descending (dependents deleted first); then key. Keys
// are unique, so this is a strict total order and the sort is deterministic.
bool ExecutesBefore(const StepOrder& a, const StepOrder& b) {
  if (a.wave != b.wave) return a.wave < b.wave;
  if (a.depth != b.depth) return a.wave == 0 ? a.depth < b.depth : a.depth > b.depth;
  return *a.key < *b.key;
}

// The dependsOn names that order a step: the desired spec's, else the applied spec's.
const std::vector<std::string>& DependsOn(const PlanStep& step) {
  static const std::vector<std::string> kNone;
  if (step.desired) return step.desired->depends_on;
  if (step.live && step.live->applied) return step.live->applied->depends_on;
  return kNone;
}

// Longest-path depth of each node in the graph `depends_on` (node -> nodes it depends on), by
// Kahn's algorithm, so it ends on any input. Nodes never released (on a cycle, or depending on
// one) get a depth past every other node's.
std::vector<int> DependencyDepths(const std::vector<std::set<size_t>>& depends_on) {
  const size_t n = depends_on.size();
  std::vector<std::vector<size_t>> dependents(n);
  std::vector<size_t> waiting(n);
  for (size_t i = 0; i < n; ++i) {
    waiting[i] = depends_on[i].size();
    for (size_t dependency : depends_on[i]) dependents[dependency].push_back(i);
  }
  std::vector<int> depth(n, 0);
  std::vector<bool> released(n, false);
  std::deque<size_t> ready;
  for (size_t i = 0; i < n; ++i) {
    if (waiting[i] == 0) ready.push_back(i);
  }
  int deepest = 0;
  while (!ready.empty()) {
    const size_t node = ready.front();
    ready.pop_front();
    released[node] = true;
    deepest = std::max(deepest, depth[node]);
    for (size_t dependent : dependents[node]) {
      depth[dependent] = std::max(depth[dependent], depth[node] + 1);
      if (--waiting[dependent] == 0) ready.push_back(dependent);
    }
  }
  for (size_t i = 0; i < n; ++i) {
    if (!released[i]) depth[i] = deepest + 1;
  }
  return depth;
}

// Orders `steps` by ExecutesBefore.
std::vector<PlanStep> OrderSteps(std::vector<PlanStep> steps) {
  // Without dependsOn (most plans) every step is at depth 0 in wave 0: no graph to build.
  const bool dependencies = std::any_of(
      steps.begin(), steps.end(), [](const PlanStep& step) { return !DependsOn(step).empty(); });
  std::map<std::pair<std::string, std::string>, std::vector<size_t>> by_name;
  for (size_t i = 0; dependencies && i < steps.size(); ++i) {
    by_name[{steps[i].key.namespace_name, steps[i].key.name}].push_back(i);
  }
  std::vector<std::set<size_t>> depends_on(steps.size());
  std::vector<bool> has_dependents(steps.size(), false);
  for (size_t i = 0; dependencies && i < steps.size(); ++i) {
    for (const std::string& name : DependsOn(steps[i])) {
      auto it = by_name.find({steps[i].key.namespace_name, name});
      if (it == by_name.end()) continue;
      for (size_t dependency : it->second) {
        if (dependency == i) continue;
        depends_on[i].insert(dependency);
        has_dependents[dependency] = true;
      }
    }
  }
  const std::vector<int> depth = DependencyDepths(depends_on);
  std::vector<StepOrder> order(steps.size());
  for (size_t i = 0; i < steps.size(); ++i) {
    order[i].wave = steps[i].action == Action::kDelete && has_dependents[i] ? 1 : 0;
    order[i].depth = depth[i];
    order[i].key = &steps[i].key;
    order[i].index = i;
  }
  std::sort(order.begin(), order.end(), ExecutesBefore);
  std::vector<PlanStep> ordered;
  ordered.reserve(steps.size());
  for (const StepOrder& o : order) ordered.push_back(std::move(steps[o.index]));
  return ordered;
}

// Where pruning of a live job is switched off by annotation, or nullptr when it is not.
const char* ProtectionSource(const LiveJob& live) {
  if (live.prune_protected) return "the live object";
  if (live.applied) {
    auto it = live.applied->annotations.find(kPruneAnnotation);
    if (it != live.applied->annotations.end() && it->second == "false") {
      return "its last applied manifest";
    }
  }
  return nullptr;
}

// Turns deletes that the prune switches forbid into none steps.
void ApplyPruneRules(const PlanOptions& options, std::vector<PlanStep>* steps) {
  for (PlanStep& step : *steps) {
    if (step.action != Action::kDelete) continue;
    const char* protection = ProtectionSource(*step.live);
    if (step.moving && protection == nullptr) continue;  // a move, not a prune
    if (!options.prune && !step.moving) {
      step.reason = "prune disabled";
    } else if (protection != nullptr) {
      step.reason = std::string("protected: ") + kPruneAnnotation + ": \"false\" on " + protection;
    } else {
      continue;
    }
    step.action = Action::kNone;
    step.changes.clear();
  }
}

// "50%", "33.3%": a share as a percentage, rounded to one decimal, with integer arithmetic so that
// no locale can change the text.
std::string Percent(double share) {
  const long long tenths = std::llround(share * 1000.0);
  std::string text = std::to_string(tenths / 10);
  if (tenths % 10 != 0) text += "." + std::to_string(tenths % 10);
  return text + "%";
}

// SpecHash of `job` as if it lived in no namespace: equal for two jobs that differ at most in
// their namespace.
std::string HashIgnoringNamespace(const TrainingJob& job) {
  TrainingJob placeless = job;
  placeless.namespace_name.clear();
  return SpecHash(placeless);
}

// The delete steps that move a job rather than delete it: a delete whose live job's applied spec
// equals, apart from the namespace, the desired spec of a create of the same backend and name in
// another namespace. A delete without a readable applied spec is never a move. Each create pairs
// with one delete at most: deletes are taken in step order (key order, as DiffJobs gives them)
// and each takes the first create, in step order, that it matches, so the pairing is
// deterministic.
std::set<size_t> MoveDeletes(const std::vector<PlanStep>& steps) {
  struct Create {
    const PlanStep* step;
    std::optional<std::string> hash;  // HashIgnoringNamespace of its desired spec, once needed
  };
  std::map<std::tuple<BackendKind, std::string, std::string>, std::vector<Create>> created;
  for (const PlanStep& step : steps) {
    if (step.action == Action::kCreate && step.desired) {
      created[{step.key.backend, step.key.cluster, step.key.name}].push_back({&step, std::nullopt});
    }
  }
  std::set<size_t> moves;
  for (size_t i = 0; i < steps.size(); ++i) {
    const PlanStep& step = steps[i];
    if (step.action != Action::kDelete || !step.live || !step.live->applied) continue;
    auto it = created.find({step.key.backend, step.key.cluster, step.key.name});
    if (it == created.end()) continue;
    const std::string deleted = HashIgnoringNamespace(*step.live->applied);
    std::vector<Create>& creates = it->second;
    auto match = std::find_if(creates.begin(), creates.end(), [&](Create& create) {
      if (create.step->key.namespace_name == step.key.namespace_name) return false;
      if (!create.hash) create.hash = HashIgnoringNamespace(*create.step->desired);
      return *create.hash == deleted;
    });
    if (match == creates.end()) continue;
    creates.erase(match);
    moves.insert(i);
  }
  return moves;
}

// Holds back every delete that is not a move when those deletes exceed the allowed share of the
// owned live jobs: each becomes a none step with error and held set, whose reason says why.
void HoldMassDeletes(const std::vector<LiveJob>& live, const PlanOptions& options,
                     std::vector<PlanStep>* steps) {
  if (options.allow_mass_delete) return;
  const std::set<size_t> moves = MoveDeletes(*steps);
  std::vector<size_t> deleted;
  for (size_t i = 0; i < steps->size(); ++i) {
    const PlanStep& step = (*steps)[i];
    if (step.action == Action::kDelete && !step.moving && moves.count(i) == 0) deleted.push_back(i);
  }
  if (deleted.empty()) return;
  const auto owned =
      static_cast<size_t>(std::count_if(live.begin(), live.end(), [&](const LiveJob& job) {
        return job.instance == options.instance;
      }));
  // The tolerance keeps "exactly at the share" allowed despite binary rounding (0.29 * 100).
  constexpr double kTolerance = 1e-9;
  if (static_cast<double>(deleted.size()) <=
      options.max_delete_share * static_cast<double>(owned) + kTolerance) {
    return;
  }
  const std::string reason =
      "delete held by the mass-delete guard: this plan would delete " +
      std::to_string(deleted.size()) + " of the " + std::to_string(owned) +
      " live jobs owned by instance '" + options.instance + "' (" +
      Percent(static_cast<double>(deleted.size()) / static_cast<double>(owned)) +
      "), more than the allowed " + Percent(options.max_delete_share) +
      "; the rest of the plan proceeds. Check that the repository, path and revision are the "
      "intended ones, or pass --allow-mass-delete to delete them";
  for (size_t i : deleted) {
    PlanStep& step = (*steps)[i];
    step.action = Action::kNone;
    step.changes.clear();
    step.error = true;
    step.held = true;
    step.reason = reason;
  }
}

// `parts` joined by `separator`.
std::string Join(const std::vector<std::string>& parts, const std::string& separator) {
  std::string out;
  for (const std::string& part : parts) out += (out.empty() ? "" : separator) + part;
  return out;
}

// The refusals of one pair of allowlists, added to `refusal`; `namespaces_name` and
// `backends_name` say where the lists are set ("--allow-namespace", or "allowNamespaces of cluster
// gpu-east in the clusters file").
struct Refusal {
  std::string what;
  std::vector<std::string> allowlists, fixes, moves;
};

void Refuse(const TrainingJob& job, const std::set<std::string>& namespaces,
            const std::set<BackendKind>& backends, const std::string& namespaces_name,
            const std::string& backends_name, Refusal* refusal) {
  if (!namespaces.empty() && namespaces.count(job.namespace_name) == 0) {
    refusal->what += " in namespace " + job.namespace_name;
    refusal->allowlists.push_back(namespaces_name + " " +
                                  Join({namespaces.begin(), namespaces.end()}, ","));
    refusal->fixes.push_back("add " + job.namespace_name + " to " + namespaces_name);
    refusal->moves.emplace_back("namespace");
  }
  // Where the job is applied: a KubeRay RayJob (backend: ray) is a Kubernetes object.
  if (!backends.empty() && backends.count(job.RunsOn()) == 0) {
    refusal->what += " on backend " + std::string(BackendName(job.RunsOn()));
    std::vector<std::string> names;
    names.reserve(backends.size());
    for (BackendKind kind : backends) names.emplace_back(BackendName(kind));
    refusal->allowlists.push_back(backends_name + " " + Join(names, ","));
    refusal->fixes.push_back("add " + std::string(BackendName(job.RunsOn())) + " to " +
                             backends_name);
    refusal->moves.emplace_back("backend");
  }
}

// Why `job` is outside the allowlists: a located message with a hint, as loader diagnostics are.
// Lists are spelt as the flags take them ("--allow-namespace team-a,team-b").
std::string AllowlistRefusal(const TrainingJob& job, const PlanOptions& options) {
  Refusal refusal{"job " + job.name, {}, {}, {}};
  Refuse(job, options.allowed_namespaces, options.allowed_backends, "--allow-namespace",
         "--allow-backend", &refusal);
  auto own = options.cluster_allowlists.find(job.cluster);
  if (own != options.cluster_allowlists.end()) {
    const std::string where =
        " of " +
        (job.cluster.empty() ? std::string("the default cluster") : "cluster " + job.cluster) +
        " in the clusters file";
    Refuse(job, own->second.namespaces, own->second.backends, "allowNamespaces" + where,
           "allowBackends" + where, &refusal);
  }
  Diagnostic diagnostic;
  diagnostic.location = job.source;
  diagnostic.message = refusal.what + " is outside the allowlist (" +
                       Join(refusal.allowlists, "; ") +
                       "): nothing is created, changed or deleted for it";
  diagnostic.hint = Join(refusal.fixes, " and ") + ", or move the job to an allowed " +
                    Join(refusal.moves, " and ");
  return diagnostic.ToString();
}

// What the allowlists let the planner see: desired and live jobs inside them, and an error step
// for each desired job outside them. Used only when an allowlist is set.
struct Allowed {
  LoadResult desired;
  std::vector<LiveJob> live;
  std::vector<PlanStep> refused;
};

// True when the allowlists let every desired and live job through (the agent lists only the
// namespaces it may write): then nothing is copied.
bool AllAllowed(const LoadResult& desired, const std::vector<LiveJob>& live,
                const PlanOptions& options) {
  return std::all_of(desired.jobs.begin(), desired.jobs.end(),
                     [&](const std::shared_ptr<const TrainingJob>& job) {
                       return options.Allows(job->key());
                     }) &&
         std::all_of(live.begin(), live.end(),
                     [&](const LiveJob& job) { return options.Allows(job.key); });
}

Allowed ApplyAllowlists(const LoadResult& desired, const std::vector<LiveJob>& live,
                        const PlanOptions& options) {
  Allowed allowed;
  allowed.desired.invalid_jobs = desired.invalid_jobs;
  allowed.desired.unreadable_files = desired.unreadable_files;
  allowed.desired.diagnostics = desired.diagnostics;
  for (const std::shared_ptr<const TrainingJob>& job : desired.jobs) {
    if (options.Allows(job->key())) {
      allowed.desired.jobs.push_back(job);
      continue;
    }
    PlanStep step;
    step.key = job->key();
    step.error = true;
    step.reason = AllowlistRefusal(*job, options);
    step.desired = job;
    allowed.refused.push_back(std::move(step));
  }
  std::copy_if(live.begin(), live.end(), std::back_inserter(allowed.live),
               [&](const LiveJob& job) { return options.Allows(job.key); });
  return allowed;
}

}  // namespace

bool PruneProtected(const LiveJob& live) { return ProtectionSource(live) != nullptr; }

bool PlanOptions::Allows(const JobKey& key) const {
  if (!(allowed_namespaces.empty() || allowed_namespaces.count(key.namespace_name) != 0) ||
      !(allowed_backends.empty() || allowed_backends.count(key.backend) != 0)) {
    return false;
  }
  auto own = cluster_allowlists.find(key.cluster);
  if (own == cluster_allowlists.end()) return true;
  return (own->second.namespaces.empty() || own->second.namespaces.count(key.namespace_name)) &&
         (own->second.backends.empty() || own->second.backends.count(key.backend));
}

bool PlanOptions::HasAllowlists() const {
  return !allowed_namespaces.empty() || !allowed_backends.empty() || !cluster_allowlists.empty();
}

int Plan::Count(Action action) const {
  return static_cast<int>(std::count_if(steps.begin(), steps.end(),
                                        [&](const PlanStep& s) { return s.action == action; }));
}

int Plan::ErrorCount() const {
  return static_cast<int>(
      std::count_if(steps.begin(), steps.end(), [](const PlanStep& s) { return s.error; }));
}

bool Plan::HasChanges() const {
  return std::any_of(steps.begin(), steps.end(),
                     [](const PlanStep& s) { return s.action != Action::kNone; });
}

StatusOr<Plan> PlanSync(const PlanInput& input, const PlanOptions& options) {
  // The negated comparison also rejects NaN.
  if (!(options.max_delete_share >= 0.0 && options.max_delete_share <= 1.0)) {
    return InvalidArgumentError("max_delete_share must be between 0 and 1, got " +
                                nlohmann::json(options.max_delete_share).dump());
  }
  // a. Set aside the jobs of backends that could not be read (nothing is copied when none is).
  std::optional<Reachable> reachable = SetAsideUnavailable(input, options);
  const LoadResult& reachable_desired = reachable ? reachable->desired : input.desired;
  const std::vector<LiveJob>& reachable_live = reachable ? reachable->live : input.live;
  // b. Set aside what the allowlists exclude (nothing is copied without an allowlist), then
  // pair and classify.
  std::optional<Allowed> allowed;
  if (options.HasAllowlists() && !AllAllowed(reachable_desired, reachable_live, options)) {
    allowed = ApplyAllowlists(reachable_desired, reachable_live, options);
  }
  const LoadResult& planned_desired = allowed ? allowed->desired : reachable_desired;
  const std::vector<LiveJob>& planned_live = allowed ? allowed->live : reachable_live;
  StatusOr<std::vector<PlanStep>> steps =
      DiffJobs(planned_desired, planned_live, options.instance, options.whole_job_changes);
  if (!steps.ok()) return steps.status();
  // c. Leave finished jobs finished; mark drift and hold it back as the policy says. Move jobs
  // between clusters one step at a time.
  ApplyInventory(input.inventory, options, &*steps);
  PlanClusterMoves(input, &*steps);
  // d. Hold back the deletes that pruning switches forbid, and those of a plan that deletes too
  // much (the rest of the plan proceeds).
  ApplyPruneRules(options, &*steps);
  HoldMassDeletes(planned_live, options, &*steps);
  // e. Order every step, those held back by the allowlists or an unavailable backend included.
  if (allowed) {
    std::move(allowed->refused.begin(), allowed->refused.end(), std::back_inserter(*steps));
  }
  if (reachable) {
    std::move(reachable->held_back.begin(), reachable->held_back.end(), std::back_inserter(*steps));
  }
  Plan plan;
  plan.steps = OrderSteps(std::move(*steps));
  plan.diagnostics = input.desired.diagnostics;
  plan.warnings = input.desired.warnings;
  return plan;
}

StatusOr<Plan> BuildPlan(const LoadResult& desired, const std::vector<LiveJob>& live,
                         const PlanOptions& options) {
  static const std::map<Target, Status> kNoneUnavailable;
  static const std::map<JobKey, InventoryEntry> kNoInventory;
  return PlanSync(PlanInput{desired, live, kNoneUnavailable, kNoInventory}, options);
}

}  // namespace jobsync
