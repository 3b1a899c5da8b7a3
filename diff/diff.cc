#include "diff/diff.h"

#include <algorithm>
#include <limits>
#include <map>
#include <memory>
#include <set>
#include <utility>

#include "diff/field_rules.h"
#include "schemas/canonical.h"

namespace jobsync {
namespace {

using nlohmann::json;

// Map keys made only of these characters join a path with '.'; others are bracketed.
bool IsPlainKey(const std::string& key) {
  if (key.empty()) return false;
  for (char c : key) {
    const bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                       c == '_' || c == '-';
    if (!plain) return false;
  }
  return true;
}

std::string JoinPath(const std::string& parent, const std::string& key) {
  if (IsPlainKey(key)) return parent.empty() ? key : parent + "." + key;
  return parent + "[" + json(key).dump(-1, ' ', false, json::error_handler_t::replace) + "]";
}

bool IsEmptyContainer(const json* value) {
  return value == nullptr || ((value->is_object() || value->is_array()) && value->empty());
}

// True for a role's command or args: there an empty list is not an absent one (an empty list
// runs the image's entrypoint or no arguments; an absent one inherits the job's).
bool PresenceMatters(const std::string& path) {
  auto ends_with = [&](std::string_view suffix) {
    return path.size() >= suffix.size() &&
           path.compare(path.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  return path.rfind("spec.roles.", 0) == 0 && (ends_with(".command") || ends_with(".args"));
}

// Appends the changes from `from` to `to` under `path`; nullptr stands for an absent field.
void DiffInto(const json* from, const json* to, const std::string& path,
              std::vector<FieldChange>* out) {
  if (from != nullptr && to != nullptr && *from == *to) return;
  if (IsEmptyContainer(from) && IsEmptyContainer(to) &&
      !(PresenceMatters(path) && (from == nullptr) != (to == nullptr))) {
    return;
  }
  const bool from_walkable = from == nullptr || from->is_object();
  const bool to_walkable = to == nullptr || to->is_object();
  if (from_walkable && to_walkable) {
    std::set<std::string> keys;
    if (from != nullptr) {
      for (const auto& item : from->items()) keys.insert(item.key());
    }
    if (to != nullptr) {
      for (const auto& item : to->items()) keys.insert(item.key());
    }
    for (const std::string& key : keys) {
      const json* from_value = nullptr;
      const json* to_value = nullptr;
      if (from != nullptr) {
        auto it = from->find(key);
        if (it != from->end()) from_value = &*it;
      }
      if (to != nullptr) {
        auto it = to->find(key);
        if (it != to->end()) to_value = &*it;
      }
      DiffInto(from_value, to_value, JoinPath(path, key), out);
    }
    return;
  }
  FieldChange change;
  change.field = path;
  if (from != nullptr) change.from = *from;
  if (to != nullptr) change.to = *to;
  out->push_back(std::move(change));
}

// The live side of a comparison: the applied spec with the replica counts the cluster runs and,
// unless the job has finished, the suspend state its phase shows.
TrainingJob EffectiveLiveJob(const LiveJob& live) {
  TrainingJob job = *live.applied;
  for (auto& [name, role] : job.roles) {
    auto it = live.replicas.find(name);
    if (it != live.replicas.end()) role.replicas = it->second;
  }
  if (!IsFinished(live.phase)) job.suspend = live.phase == LivePhase::kSuspended;
  return job;
}

// True when the live side of a comparison is the applied spec itself: the cluster runs every
// role at its applied count and, unless the job has finished, is suspended as applied. Then
// EffectiveLiveJob would copy the applied spec unchanged.
bool RunsAsApplied(const LiveJob& live) {
  for (const auto& [name, role] : live.applied->roles) {
    auto it = live.replicas.find(name);
    if (it != live.replicas.end() && it->second != role.replicas) return false;
  }
  return IsFinished(live.phase) || live.applied->suspend == (live.phase == LivePhase::kSuspended);
}

// The reason of a patch step of `rules` (all patch rules); `finished` names the phase of a
// finished job, else empty.
std::string PatchReason(BackendKind backend, const std::vector<FieldRule>& rules,
                        std::string_view finished) {
  std::string reason = "only " + PatchedFields(rules) + " changed: ";
  if (!finished.empty()) reason = "finished (" + std::string(finished) + ") and " + reason;
  if (backend == BackendKind::kRay) {
    reason +=
        "recorded as applied; the running submission is not touched (Ray cannot change a "
        "submission's metadata)";
  } else {
    reason += "patched in place, nothing restarts";
  }
  if (!finished.empty()) reason += "; not re-run";
  return reason;
}

// Why a scale step scales: suspend and/or replica changes, telling drift (the cluster moved away
// from the applied spec) from a manifest change, and naming the elastic roles that left their
// bounds.
std::string ScaleReason(const TrainingJob& desired, const TrainingJob& effective,
                        const TrainingJob& applied) {
  std::vector<std::string> parts;
  if (desired.suspend != effective.suspend) {
    std::string part = desired.suspend ? "suspend: scale to zero" : "resume";
    if (applied.suspend == desired.suspend) {
      part += desired.suspend ? " (running although the applied spec is suspended)"
                              : " (suspended outside jobsync)";
    }
    parts.push_back(std::move(part));
  }
  bool replicas_differ = false;
  bool applied_matches = true;
  auto replicas_of = [](const TrainingJob& job, const std::string& role) {
    auto it = job.roles.find(role);
    return it == job.roles.end() ? 0 : it->second.replicas;
  };
  std::vector<std::string> outside;  // elastic roles that left their bounds
  bool plain_drift = false;          // a role without bounds that drifted
  for (const auto& [name, role] : desired.roles) {
    const int live = replicas_of(effective, name);
    if (live != role.replicas) replicas_differ = true;
    if (replicas_of(applied, name) != role.replicas) applied_matches = false;
    if (live == role.replicas) continue;
    if (std::optional<ReplicaBounds> bounds = ElasticBounds(role)) {
      outside.push_back(name + " runs " + std::to_string(live) + ", outside its elastic bounds [" +
                        std::to_string(bounds->min) + ", " + std::to_string(bounds->max) +
                        "]: scale back to " + std::to_string(role.replicas));
    } else {
      plain_drift = true;
    }
  }
  if (replicas_differ && !applied_matches) {
    parts.emplace_back("replica counts changed");
  } else if (replicas_differ) {
    if (plain_drift || outside.empty()) {
      parts.emplace_back("live replica counts drifted from the applied spec: scale back");
    }
    parts.insert(parts.end(), outside.begin(), outside.end());
  }
  std::string reason;
  for (const std::string& part : parts) reason += (reason.empty() ? "" : "; ") + part;
  return reason;
}

// Lays Git's replica count over `effective` (the live side) for every elastic role that another
// controller moved within its bounds while Git's count stayed the applied one (plan.h, "Elastic
// roles"), so the move is neither a change nor drift. Returns "worker runs 6 within [2, 8]" for
// each role so accepted.
std::vector<std::string> AcceptElasticCounts(const TrainingJob& desired, const TrainingJob& applied,
                                             TrainingJob* effective) {
  std::vector<std::string> accepted;
  for (const auto& [name, role] : desired.roles) {
    const std::optional<ReplicaBounds> bounds = ElasticBounds(role);
    if (!bounds) continue;
    auto applied_role = applied.roles.find(name);
    auto live_role = effective->roles.find(name);
    if (applied_role == applied.roles.end() || live_role == effective->roles.end()) continue;
    if (applied_role->second.replicas != role.replicas) continue;  // Git moved: scale to it
    const int live = live_role->second.replicas;
    if (live == role.replicas || live < bounds->min || live > bounds->max) continue;
    accepted.push_back(name + " runs " + std::to_string(live) + " within [" +
                       std::to_string(bounds->min) + ", " + std::to_string(bounds->max) + "]");
    live_role->second.replicas = role.replicas;
  }
  return accepted;
}

// " (elastic: worker runs 6 within [2, 8])", or "" when no role was accepted.
std::string ElasticNote(const std::vector<std::string>& accepted) {
  if (accepted.empty()) return "";
  std::string out;
  for (const std::string& part : accepted) out += (out.empty() ? "" : ", ") + part;
  return " (elastic: " + out + ")";
}

// True when `applied` and `desired` differ, leaving out suspend and the patch fields, in
// spec.runId alone: the job is to run again at the same spec (plan.h, "Per-field actions").
bool OnlyRunIdDiffers(const TrainingJob& applied, const TrainingJob& desired) {
  if (applied.run_id == desired.run_id) return false;
  TrainingJob same = applied;
  same.run_id = desired.run_id;
  same.suspend = desired.suspend;
  same.annotations = desired.annotations;
  if (desired.backend == BackendKind::kKubernetes) {
    same.active_deadline_seconds = desired.active_deadline_seconds;
    same.ttl_seconds_after_finished = desired.ttl_seconds_after_finished;
  }
  return same.SameSpecAs(desired) || CanonicalSpec(same) == CanonicalSpec(desired);
}

// The reason of a rerun step; `finished` names the phase of a finished job, else empty.
std::string RerunReason(const TrainingJob& applied, const TrainingJob& desired,
                        std::string_view finished) {
  auto shown = [](const std::string& id) {
    return id.empty() ? std::string("(none)") : json(id).dump();
  };
  std::string reason = "spec.runId changed (" + shown(applied.run_id) + " -> " +
                       shown(desired.run_id) + "): run again (recreate at the same spec)";
  if (!finished.empty()) reason = "finished (" + std::string(finished) + ") and " + reason;
  return reason;
}

// "spec.volumes, spec.tolerations: a running Job's pod template cannot change; spec.runId: a new
// run of the same spec": the fields of a recreate and why each needs one.
std::string RecreateWhy(const std::vector<FieldRule>& rules) {
  std::string why = ExplainFields(rules, FieldEffect::kRecreate);
  const std::string rerun = ExplainFields(rules, FieldEffect::kRerun);
  if (!rerun.empty()) why += (why.empty() ? "" : "; ") + rerun;
  return why;
}

// Everything DiffJobs knows about the inputs beyond one pair.
struct Context {
  std::string_view instance;
  size_t whole_job_changes = std::numeric_limits<size_t>::max();
  std::set<std::string> unreadable_files;
  std::set<std::string> files_with_errors;
};

// The canonical JSON as change lists show it: without the identity fields (apiVersion, kind,
// metadata.name, metadata.namespace, spec.backend), which every step carries in its key and which
// never differ within a pair.
json ChangeView(json canonical) {
  if (canonical.is_null()) return canonical;
  canonical.erase("apiVersion");
  canonical.erase("kind");
  canonical["metadata"].erase("name");
  canonical["metadata"].erase("namespace");
  canonical["spec"].erase("backend");
  return canonical;
}

// The changes a step lists: from the live side to the desired side, null for an absent side.
std::vector<FieldChange> StepChanges(const json& live, const json& desired) {
  return DiffCanonical(ChangeView(live), ChangeView(desired));
}

// The changes of a step with no job on one side: every field of the other, or the first
// `context.whole_job_changes` of them.
std::vector<FieldChange> WholeJobChanges(const json& live, const json& desired,
                                         const Context& context) {
  std::vector<FieldChange> changes = StepChanges(live, desired);
  if (changes.size() > context.whole_job_changes) {
    changes.resize(context.whole_job_changes);
    changes.shrink_to_fit();
  }
  return changes;
}

PlanStep NoneStep(PlanStep step, std::string reason, bool error) {
  step.action = Action::kNone;
  step.reason = std::move(reason);
  step.error = error;
  return step;
}

// A job Git has whose live job has finished. What it ran is its applied spec (the replica counts
// it reports no longer matter, nor does suspend): it runs again only when that spec changed in
// more than the patch fields, which are patched without running it again.
PlanStep ClassifyFinished(PlanStep step, const TrainingJob& desired, const LiveJob& live) {
  const std::string phase = LivePhaseName(live.phase);
  const std::string finished_reason = "finished (" + phase + ") at this spec: not re-run";
  const TrainingJob& applied = *live.applied;
  if (applied.SameSpecAs(desired)) return NoneStep(std::move(step), finished_reason, false);
  const json ran = CanonicalSpec(applied);
  const json want = CanonicalSpec(desired);
  json ran_unsuspended = ran;
  json wanted_unsuspended = want;
  ran_unsuspended["spec"].erase("suspend");
  wanted_unsuspended["spec"].erase("suspend");
  if (ran_unsuspended == wanted_unsuspended) {
    return NoneStep(std::move(step), finished_reason, false);
  }
  std::vector<FieldChange> changes = StepChanges(ran_unsuspended, wanted_unsuspended);
  if (changes.empty()) return NoneStep(std::move(step), finished_reason, false);
  const std::vector<FieldRule> rules = RulesFor(changes, applied, desired, true);
  if (StrongestEffect(rules) == FieldEffect::kPatch) {
    step.action = Action::kPatch;
    step.reason = PatchReason(step.key.backend, rules, phase);
    step.changes = std::move(changes);
    return step;
  }
  if (OnlyRunIdDiffers(applied, desired)) {
    step.action = Action::kRerun;
    step.reason = RerunReason(applied, desired, phase);
  } else {
    step.action = Action::kUpdate;
    step.reason =
        "finished (" + phase + ") and its spec changed: recreate (" + RecreateWhy(rules) + ")";
  }
  step.changes = StepChanges(ran, want);
  return step;
}

// `step` with "; live: Queued (<Kueue's reason>)" after its reason when its live job waits in a
// Kueue queue (plan.h, "Queued jobs"), so every rendering of the plan says why it does not run.
// Error steps keep their reason as it is.
PlanStep WithQueuedNote(PlanStep step) {
  if (step.error || !step.live || step.live->phase != LivePhase::kQueued) return step;
  step.reason += "; live: Queued";
  if (!step.live->phase_message.empty()) step.reason += " (" + step.live->phase_message + ")";
  return step;
}

// A job Git no longer has, live and owned by this instance.
PlanStep ClassifyRemoved(PlanStep step, const LiveJob& live, const Context& context) {
  if (context.unreadable_files.count(live.source_path) != 0) {
    return NoneStep(std::move(step),
                    "its source file " + live.source_path + " could not be read: not pruned", true);
  }
  if (context.files_with_errors.count(live.source_path) != 0) {
    return NoneStep(
        std::move(step),
        "its source file " + live.source_path + " has errors: not pruned until they are fixed",
        true);
  }
  step.action = Action::kDelete;
  step.reason = "no manifest in Git";
  const json from = live.applied ? CanonicalSpec(EffectiveLiveJob(live)) : json();
  step.changes = WholeJobChanges(from, json(), context);
  return step;
}

// A job Git has, against the live job with its key (or none).
PlanStep ClassifyDesired(PlanStep step, const TrainingJob& desired, const LiveJob* live,
                         const Context& context) {
  if (live == nullptr) {
    if (desired.suspend) {
      return NoneStep(std::move(step), "suspended: nothing to run, so nothing is created", false);
    }
    step.action = Action::kCreate;
    step.reason = "no live job";
    step.changes = WholeJobChanges(json(), CanonicalSpec(desired), context);
    return step;
  }
  if (live->instance != context.instance) {
    const std::string owner = live->instance.empty()
                                  ? "is not managed by jobsync"
                                  : "is owned by jobsync instance '" + live->instance + "'";
    return NoneStep(std::move(step),
                    "conflict: the live job with this key " + owner + ", not by '" +
                        std::string(context.instance) +
                        "'; it is left alone (rename the job or remove the other one)",
                    true);
  }
  if (!live->applied) {
    step.action = Action::kUpdate;
    step.reason = "the live job carries no readable applied spec: recreate";
    step.changes = WholeJobChanges(json(), CanonicalSpec(desired), context);
    return step;
  }
  if (IsFinished(live->phase)) return ClassifyFinished(std::move(step), desired, *live);
  // A job in sync, the common case, is found without copying its spec: running as applied, an
  // elastic role's count is the applied one and none is accepted (AcceptElasticCounts).
  if (RunsAsApplied(*live) && live->applied->SameSpecAs(desired)) {
    return NoneStep(std::move(step), "in sync", false);
  }
  TrainingJob effective = EffectiveLiveJob(*live);
  const std::string elastic = ElasticNote(AcceptElasticCounts(desired, *live->applied, &effective));
  const std::string in_sync_reason = "in sync" + elastic;
  if (effective.SameSpecAs(desired)) return NoneStep(std::move(step), in_sync_reason, false);
  const json have = CanonicalSpec(effective);
  const json want = CanonicalSpec(desired);
  step.changes = StepChanges(have, want);
  if (step.changes.empty()) return NoneStep(std::move(step), in_sync_reason, false);
  const std::vector<FieldRule> rules = RulesFor(step.changes, effective, desired, false);
  switch (StrongestEffect(rules)) {
    case FieldEffect::kRecreate:
    case FieldEffect::kRerun:
      if (OnlyRunIdDiffers(*live->applied, desired)) {
        step.action = Action::kRerun;
        step.reason = RerunReason(*live->applied, desired, "");
      } else {
        step.action = Action::kUpdate;
        step.reason = "spec changed: recreate (" + RecreateWhy(rules) + ")";
      }
      return step;
    case FieldEffect::kScale: {
      step.action = Action::kScale;
      step.reason = ScaleReason(desired, effective, *live->applied);
      const std::string patched = PatchedFields(rules);
      if (!patched.empty()) step.reason += "; " + patched + " patched in place";
      step.reason += elastic;
      return step;
    }
    case FieldEffect::kPatch:
      step.action = Action::kPatch;
      step.reason = PatchReason(step.key.backend, rules, "") + elastic;
      return step;
  }
  return NoneStep(std::move(step), in_sync_reason, false);
}

}  // namespace

std::vector<FieldChange> DiffCanonical(const json& from, const json& to) {
  std::vector<FieldChange> out;
  DiffInto(from.is_null() ? nullptr : &from, to.is_null() ? nullptr : &to, "", &out);
  return out;
}

namespace {

using WantedJobs = std::vector<std::pair<JobKey, const std::shared_ptr<const TrainingJob>*>>;

// The desired jobs ordered by key (the loader's jobs already are); fails on a key twice.
StatusOr<WantedJobs> SortDesired(const LoadResult& desired) {
  WantedJobs wanted;
  wanted.reserve(desired.jobs.size());
  for (const std::shared_ptr<const TrainingJob>& job : desired.jobs) {
    wanted.emplace_back(job->key(), &job);
  }
  auto first_less = [](const auto& a, const auto& b) { return a.first < b.first; };
  if (!std::is_sorted(wanted.begin(), wanted.end(), first_less)) {
    std::stable_sort(wanted.begin(), wanted.end(), first_less);
  }
  for (size_t i = 1; i < wanted.size(); ++i) {
    if (wanted[i - 1].first == wanted[i].first) {
      return InvalidArgumentError("job " + wanted[i].first.ToString() + " is desired twice");
    }
  }
  return wanted;
}

// The live jobs ordered by key; fails on a key twice (a backend reports one job per key).
StatusOr<std::vector<const LiveJob*>> SortLive(const std::vector<LiveJob>& live) {
  std::vector<const LiveJob*> found;
  found.reserve(live.size());
  for (const LiveJob& job : live) found.push_back(&job);
  auto key_less = [](const LiveJob* a, const LiveJob* b) { return a->key < b->key; };
  if (!std::is_sorted(found.begin(), found.end(), key_less)) {
    std::stable_sort(found.begin(), found.end(), key_less);
  }
  for (size_t i = 1; i < found.size(); ++i) {
    if (found[i - 1]->key == found[i]->key) {
      return InvalidArgumentError("live job " + found[i]->key.ToString() +
                                  " is reported twice; a backend reports one job per key");
    }
  }
  return found;
}

// What classification needs to know of the whole input besides the pair.
Context MakeContext(const LoadResult& desired, std::string_view instance) {
  Context context;
  context.instance = instance;
  context.unreadable_files.insert(desired.unreadable_files.begin(), desired.unreadable_files.end());
  for (const Diagnostic& diagnostic : desired.diagnostics) {
    if (!diagnostic.location.path.empty()) {
      context.files_with_errors.insert(diagnostic.location.path);
    }
  }
  return context;
}

// Walks the three key-ordered lists side by side, one step per key of Git (valid or not) and per
// live job this instance owns; a live job of another owner only beside a key of Git.
class PairWalk {
 public:
  PairWalk(const WantedJobs& wanted, const std::vector<JobKey>& invalid,
           const std::vector<const LiveJob*>& found, const Context& context)
      : wanted_(wanted), invalid_(invalid), found_(found), context_(context) {}

  std::vector<PlanStep> Run() {
    std::vector<PlanStep> steps;
    steps.reserve(wanted_.size() + invalid_.size());
    for (const JobKey* key = NextKey(); key != nullptr; key = NextKey()) {
      steps.push_back(Classify(*key));
    }
    return steps;
  }

 private:
  // The smallest key still to plan, skipping live jobs of other owners that Git does not name
  // (none of this plan's business); null at the end.
  const JobKey* NextKey() {
    const JobKey* git_key = nullptr;
    if (w_ < wanted_.size()) git_key = &wanted_[w_].first;
    if (v_ < invalid_.size() && (git_key == nullptr || invalid_[v_] < *git_key)) {
      git_key = &invalid_[v_];
    }
    while (l_ < found_.size() && found_[l_]->instance != context_.instance &&
           (git_key == nullptr || found_[l_]->key < *git_key)) {
      ++l_;
    }
    const JobKey* key = git_key;
    if (l_ < found_.size() && found_[l_]->instance == context_.instance &&
        (key == nullptr || found_[l_]->key < *key)) {
      key = &found_[l_]->key;
    }
    return key;
  }

  // Takes every side's entry for `key` and classifies the pair.
  PlanStep Classify(const JobKey& key) {
    PlanStep step;
    step.key = key;
    const LiveJob* live_job = nullptr;
    if (l_ < found_.size() && found_[l_]->key == key) live_job = found_[l_++];
    const std::shared_ptr<const TrainingJob>* wanted_job = nullptr;
    if (w_ < wanted_.size() && wanted_[w_].first == key) wanted_job = wanted_[w_++].second;
    const bool is_invalid = v_ < invalid_.size() && invalid_[v_] == key;
    if (is_invalid) ++v_;
    if (live_job != nullptr) step.live = std::make_shared<const LiveJob>(*live_job);
    if (is_invalid) {
      return NoneStep(std::move(step),
                      live_job != nullptr
                          ? "manifest is invalid (see the diagnostics); the live job is left as "
                            "it is"
                          : "manifest is invalid (see the diagnostics)",
                      true);
    }
    if (wanted_job != nullptr) {
      step.desired = *wanted_job;
      return WithQueuedNote(ClassifyDesired(std::move(step), **wanted_job, live_job, context_));
    }
    if (live_job == nullptr) {
      // Cannot happen: NextKey gives only keys some list holds. Held back, never guessed at.
      return NoneStep(std::move(step), "neither desired nor live (a planner bug)", true);
    }
    return WithQueuedNote(ClassifyRemoved(std::move(step), *live_job, context_));
  }

  const WantedJobs& wanted_;
  const std::vector<JobKey>& invalid_;
  const std::vector<const LiveJob*>& found_;
  const Context& context_;
  size_t w_ = 0;  // next of wanted_
  size_t l_ = 0;  // next of found_
  size_t v_ = 0;  // next of invalid_
};

}  // namespace

StatusOr<std::vector<PlanStep>> DiffJobs(const LoadResult& desired,
                                         const std::vector<LiveJob>& live,
                                         std::string_view instance, size_t whole_job_changes) {
  if (instance.empty()) {
    return InvalidArgumentError(
        "the jobsync instance name is empty: it decides which live jobs this agent owns");
  }
  // Both sides ordered by key, then walked side by side: no map of 10,000 keys is built.
  StatusOr<WantedJobs> wanted = SortDesired(desired);
  if (!wanted.ok()) return wanted.status();
  StatusOr<std::vector<const LiveJob*>> found = SortLive(live);
  if (!found.ok()) return found.status();
  std::vector<JobKey> invalid = desired.invalid_jobs;
  std::sort(invalid.begin(), invalid.end());
  invalid.erase(std::unique(invalid.begin(), invalid.end()), invalid.end());
  Context context = MakeContext(desired, instance);
  context.whole_job_changes = whole_job_changes;
  return PairWalk(*wanted, invalid, *found, context).Run();
}

}  // namespace jobsync
