#include "diff/plan_passes.h"

#include <algorithm>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "schemas/canonical.h"

namespace jobsync {
namespace {

// The error step of a desired job whose backend could not be read.
PlanStep HeldBack(const std::shared_ptr<const TrainingJob>& job, const Status& why) {
  PlanStep step;
  step.key = job->key();
  step.error = true;
  step.reason = job->key().target().ToString() + " unavailable: " + why.message();
  step.desired = job;
  return step;
}

// Turns `step` into the none step of a job whose drift the policy holds back.
void Withhold(const PlanOptions& options, PlanStep* step) {
  step->reason = "changed outside Git (" + DriftSummary(*step) + "); drift policy " +
                 DriftPolicyName(options.drift);
  step->action = Action::kNone;
  step->changes.clear();
  step->withheld = true;
}

// The first kSummarizedChanges field changes of `step`, each as `describe(field, from, to)`
// writes it (a value the step lacks is "(none)"), or the step's reason when it has none.
template <typename Describe>
std::string SummarizeChanges(const PlanStep& step, Describe describe) {
  std::string out;
  for (size_t i = 0; i < step.changes.size(); ++i) {
    if (i == kSummarizedChanges) {
      out += ", ...";
      break;
    }
    const FieldChange& change = step.changes[i];
    if (!out.empty()) out += ", ";
    out += describe(change.field, change.from ? change.from->dump() : "(none)",
                    change.to ? change.to->dump() : "(none)");
  }
  return out.empty() ? step.reason : out;
}

// True when `job` is one whose objects Kubernetes' TTL controller deletes once it has finished:
// such a job gone at the spec this instance applied has finished, even if no listing saw it
// finished before the objects went (a short TTL, or an agent that was down meanwhile).
bool RemovedByTtl(const TrainingJob& job) {
  return job.backend == BackendKind::kKubernetes && job.ttl_seconds_after_finished.has_value();
}

// A job's identity on whichever cluster: backend, namespace, name.
using Placeless = std::tuple<BackendKind, std::string, std::string>;

Placeless PlacelessKey(const JobKey& key) { return {key.backend, key.namespace_name, key.name}; }

// "cluster gpu-east", or "the default cluster".
std::string ClusterName(const std::string& cluster) {
  return cluster.empty() ? "the default cluster" : "cluster " + cluster;
}

// Turns the create `step` into a none step that waits, saying why.
void Wait(PlanStep* step, std::string reason, bool error) {
  step->action = Action::kNone;
  step->changes.clear();
  step->reason = std::move(reason);
  step->error = error;
}

// The cluster of an unavailable target of `key`'s backend where this instance applied the job
// (its inventory has it there), or nullopt.
std::optional<std::string> MaybeStillThere(const JobKey& key, const PlanInput& input) {
  for (const auto& [target, why] : input.unavailable) {
    if (target.backend != key.backend || target.cluster == key.cluster) continue;
    JobKey there = key;
    there.cluster = target.cluster;
    if (input.inventory.count(there) != 0) return target.cluster;
  }
  return std::nullopt;
}

}  // namespace

void PlanClusterMoves(const PlanInput& input, std::vector<PlanStep>* steps) {
  // A manifest with problems holds its job on every cluster: it may name the wrong one.
  std::set<Placeless> invalid;
  for (const JobKey& key : input.desired.invalid_jobs) invalid.insert(PlacelessKey(key));
  std::map<Placeless, std::vector<PlanStep*>> deletes;
  for (PlanStep& step : *steps) {
    if (step.action != Action::kDelete) continue;
    if (invalid.count(PlacelessKey(step.key)) != 0) {
      Wait(&step,
           "its manifest has problems (see the manifest errors; it may name another cluster): "
           "not deleted until they are fixed",
           true);
      continue;
    }
    deletes[PlacelessKey(step.key)].push_back(&step);
  }
  for (PlanStep& step : *steps) {
    if (step.action != Action::kCreate || !step.desired) continue;
    const std::string here = ClusterName(step.key.cluster);
    auto found = deletes.find(PlacelessKey(step.key));
    if (found != deletes.end()) {
      std::string from;
      bool protected_there = false;
      for (PlanStep* old : found->second) {
        old->moving = true;
        old->reason = "moved to " + here + " in Git: deleted here first";
        from += (from.empty() ? "" : ", ") + ClusterName(old->key.cluster);
        protected_there = protected_there || PruneProtected(*old->live);
      }
      Wait(&step,
           "moved here from " + from +
               (protected_there
                    ? std::string(": it is protected from deletion there (") + kPruneAnnotation +
                          ": \"false\"); created here once it is gone there: delete it there "
                          "by hand, or lift the protection"
                    : ": created once it is gone there (a job never runs on two clusters at "
                      "once)"),
           protected_there);
      continue;
    }
    if (std::optional<std::string> there = MaybeStillThere(step.key, input)) {
      Wait(&step,
           ClusterName(*there) +
               " is unavailable and this instance applied the job there: " + "created on " + here +
               " once " + ClusterName(*there) + " answers and the job is gone from it",
           true);
    }
  }
}

const char* DriftPolicyName(DriftPolicy policy) {
  switch (policy) {
    case DriftPolicy::kHeal:
      return "heal";
    case DriftPolicy::kWarn:
      return "warn";
    case DriftPolicy::kOff:
      return "off";
  }
  return "heal";
}

std::optional<DriftPolicy> ParseDriftPolicy(std::string_view name) {
  for (DriftPolicy policy : {DriftPolicy::kHeal, DriftPolicy::kWarn, DriftPolicy::kOff}) {
    if (name == DriftPolicyName(policy)) return policy;
  }
  return std::nullopt;
}

std::string ChangeSummary(const PlanStep& step) {
  return SummarizeChanges(
      step, [](const std::string& field, const std::string& from, const std::string& to) {
        return field + ": " + from + " -> " + to;
      });
}

std::string DriftSummary(const PlanStep& step) {
  if (!step.live) return "live: no job, Git: the job";
  return SummarizeChanges(
      step, [](const std::string& field, const std::string& from, const std::string& to) {
        return field + ": live " + from + ", Git " + to;
      });
}

std::optional<Reachable> SetAsideUnavailable(const PlanInput& input, const PlanOptions& options) {
  if (input.unavailable.empty()) return std::nullopt;
  auto held_back = [&](const std::shared_ptr<const TrainingJob>& job) {
    return input.unavailable.count(job->key().target()) != 0 && options.Allows(job->key());
  };
  auto unreadable = [&](const LiveJob& job) {
    return input.unavailable.count(job.key.target()) != 0;
  };
  if (std::none_of(input.desired.jobs.begin(), input.desired.jobs.end(), held_back) &&
      std::none_of(input.live.begin(), input.live.end(), unreadable)) {
    return std::nullopt;
  }
  Reachable reachable;
  reachable.desired.invalid_jobs = input.desired.invalid_jobs;
  reachable.desired.unreadable_files = input.desired.unreadable_files;
  reachable.desired.diagnostics = input.desired.diagnostics;
  for (const std::shared_ptr<const TrainingJob>& job : input.desired.jobs) {
    if (held_back(job)) {
      reachable.held_back.push_back(HeldBack(job, input.unavailable.at(job->key().target())));
    } else {
      reachable.desired.jobs.push_back(job);
    }
  }
  std::copy_if(input.live.begin(), input.live.end(), std::back_inserter(reachable.live),
               [&](const LiveJob& job) { return !unreadable(job); });
  return reachable;
}

void ApplyInventory(const std::map<JobKey, InventoryEntry>& inventory, const PlanOptions& options,
                    std::vector<PlanStep>* steps) {
  if (inventory.empty()) return;
  for (PlanStep& step : *steps) {
    if (step.error || !step.desired || step.action == Action::kNone) continue;
    auto entry = inventory.find(step.key);
    if (entry == inventory.end()) continue;
    if (entry->second.spec_hash != SpecHash(*step.desired)) continue;  // a change from Git
    if (entry->second.finished && step.action == Action::kCreate) {
      step.action = Action::kNone;
      step.reason = "finished at this spec; not run again";
      step.changes.clear();
      continue;
    }
    if (step.action == Action::kCreate && RemovedByTtl(*step.desired)) {
      step.action = Action::kNone;
      step.reason =
          "gone after this instance applied this very spec, which sets ttlSecondsAfterFinished: "
          "taken as finished and removed by Kubernetes' TTL controller; not run again (change "
          "spec.runId to run it again)";
      step.changes.clear();
      continue;
    }
    // Applied at another spec than the inventory says: a run that crashed before saving it.
    if (step.live && step.live->applied &&
        SpecHash(*step.live->applied) != entry->second.spec_hash) {
      continue;
    }
    step.drift = true;
    if (options.drift != DriftPolicy::kHeal) Withhold(options, &step);
  }
}

std::vector<LiveJob> LiveAsApplied(const LoadResult& manifests, const std::string& revision,
                                   const std::string& instance) {
  std::vector<LiveJob> live;
  live.reserve(manifests.jobs.size());
  for (const std::shared_ptr<const TrainingJob>& desired : manifests.jobs) {
    const TrainingJob& job = *desired;
    LiveJob entry;
    entry.key = job.key();
    entry.applied = desired;
    for (const auto& [name, role] : job.roles) entry.replicas[name] = role.replicas;
    entry.phase = job.suspend ? LivePhase::kSuspended : LivePhase::kRunning;
    entry.instance = instance;
    auto prune = job.annotations.find(kPruneAnnotation);
    entry.prune_protected = prune != job.annotations.end() && prune->second == "false";
    entry.source_path = job.source.path;
    entry.revision = revision;
    live.push_back(std::move(entry));
  }
  return live;
}

}  // namespace jobsync
