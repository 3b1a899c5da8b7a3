// Fuzz target: the planner (diff/plan.h) and the plan renderers (diff/render.h), over desired
// jobs loaded from fuzzed YAML and live jobs built from fuzzed YAML and bytes.
//
// Input layout (text, so that seeds stay readable):
//   line 1      choice bytes, read one at a time (0 once used up): plan options, and per live job
//               its owner, phase, protection, replica drift, source file and whether its applied
//               spec is readable;
//   "#! live"   starts a file of jobs applied earlier: loaded by the same loader, every valid job
//               in it becomes a live job running that spec;
//   "#! <path>" starts a desired manifest file at <path>; text before the first marker is the
//               desired file "a.yaml".
// Desired jobs and the keys of invalid manifests that no "#! live" file has may get a live job
// too (a choice byte says), running the desired spec or with no readable applied spec. Choice
// bytes after those pick the drift policy, the backends that could not be read, and per desired
// job what the inventory says of it (nothing, this spec, this spec finished, another spec).
//
// What must hold, from plan.h and diff.h; a violation aborts (a finding):
//   - PlanSync succeeds; the mass-delete guard holds deletes back as none steps with error and
//     held set (only without allow_mass_delete, only of owned jobs Git does not have); the
//     deletes left that no create of the same backend and name in another namespace could make
//     a move number at most max_delete_share of the owned jobs;
//   - one step per key of a desired job, of an invalid manifest and of an owned live job; other
//     owners' live jobs appear only when Git has their key;
//   - an invalid manifest's job gets none with error; an error step is none; none has no changes;
//   - create only where no live job has the key; scale and update only on owned live jobs that
//     Git has; delete only of an owned job Git does not have (neither valid nor invalid), not
//     from an unreadable file or one with errors, not protected by the live object or by its
//     applied spec, and only when pruning is on;
//   - a valid job on an unavailable backend is an error step saying so; no live job of an
//     unavailable backend is in the plan (nothing there is deleted);
//   - only a step the inventory records at the desired spec is drift; only drift is withheld, as
//     none, and only under the policies warn and off; "not run again" only for a job the
//     inventory saw finished at that spec;
//   - the same plan, rendered byte for byte, whatever the order of the live jobs;
//   - the JSON rendering is JSON and its summary counts the plan's steps.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "diff/plan.h"
#include "diff/render.h"
#include "domain/inventory.h"
#include "domain/live_job.h"
#include "schemas/canonical.h"
#include "schemas/loader.h"
#include "schemas/model.h"
#include "schemas/schema_validator.h"

namespace jobsync {
namespace {

constexpr const char* kFuzzInstance = "prod";
constexpr std::string_view kMarker = "#! ";

void Check(bool condition) {
  if (!condition) std::abort();
}

// Choice bytes, consumed in order; 0 once used up.
class Choices {
 public:
  explicit Choices(std::string_view bytes) : bytes_(bytes) {}
  uint8_t Next() { return next_ < bytes_.size() ? static_cast<uint8_t>(bytes_[next_++]) : 0; }

 private:
  std::string_view bytes_;
  size_t next_ = 0;
};

struct Sections {
  std::string_view choices;
  std::vector<std::pair<std::string, std::string>> desired;  // path, text
  std::vector<std::pair<std::string, std::string>> applied;  // path, text
};

// Splits the input as the header comment describes.
Sections Split(std::string_view data) {
  Sections sections;
  const size_t end_of_choices = data.find('\n');
  sections.choices = data.substr(0, end_of_choices);
  data = end_of_choices == std::string_view::npos ? std::string_view()
                                                  : data.substr(end_of_choices + 1);
  std::vector<std::pair<std::string, std::string>>* current = &sections.desired;
  current->emplace_back("a.yaml", "");
  while (!data.empty()) {
    const size_t end_of_line = data.find('\n');
    const std::string_view line = data.substr(0, end_of_line);
    data =
        end_of_line == std::string_view::npos ? std::string_view() : data.substr(end_of_line + 1);
    if (line.substr(0, kMarker.size()) != kMarker) {
      current->back().second.append(line).push_back('\n');
      continue;
    }
    const std::string_view name = line.substr(kMarker.size());
    if (name == "live") {
      current = &sections.applied;
      current->emplace_back("applied-" + std::to_string(current->size()) + ".yaml", "");
    } else {
      current = &sections.desired;
      current->emplace_back(name.empty() ? "a.yaml" : std::string(name), "");
    }
  }
  return sections;
}

LoadResult Load(const std::vector<std::pair<std::string, std::string>>& files) {
  static const SchemaValidator validator;
  std::vector<ManifestFile> parsed;
  parsed.reserve(files.size());
  for (const auto& [path, text] : files) parsed.push_back(ParseManifestFile(path, text, validator));
  return CheckManifests(parsed);
}

// A live job for `key`, running `applied` (or with no readable applied spec), as the choices say.
LiveJob MakeLive(const JobKey& key, const std::optional<TrainingJob>& applied,
                 const std::vector<std::string>& paths, Choices* choices) {
  static constexpr LivePhase kPhases[] = {LivePhase::kRunning,   LivePhase::kPending,
                                          LivePhase::kSucceeded, LivePhase::kFailed,
                                          LivePhase::kSuspended, LivePhase::kUnknown};
  LiveJob live;
  live.key = key;
  const uint8_t owner = choices->Next() % 4;
  live.instance = owner < 2 ? kFuzzInstance : owner == 2 ? "staging" : "";
  live.phase = kPhases[choices->Next() % std::size(kPhases)];
  const uint8_t flags = choices->Next();
  live.prune_protected = (flags & 1) != 0;
  const uint8_t source = choices->Next();
  if (source % 4 != 0 && !paths.empty()) live.source_path = paths[(source / 4) % paths.size()];
  live.revision = "0123abc";
  if (applied && (flags & 2) == 0) {
    TrainingJob read_back = *applied;
    read_back.source = {live.source_path, 0, 0};
    live.applied = std::make_shared<const TrainingJob>(std::move(read_back));
    for (const auto& [role, spec] : applied->roles) {
      const uint8_t drift = choices->Next();
      live.replicas[role] = drift < 0xc0 ? spec.replicas : drift - 0xc0;
    }
  }
  return live;
}

struct FuzzInput {
  LoadResult desired;
  std::vector<LiveJob> live;
  PlanOptions options;
  std::map<Target, Status> unavailable;
  std::map<JobKey, InventoryEntry> inventory;
};

// The drift policy, the unavailable backends and the inventory, as the choices say.
void ChooseSyncInputs(Choices* choices, FuzzInput* input) {
  static constexpr DriftPolicy kPolicies[] = {DriftPolicy::kHeal, DriftPolicy::kWarn,
                                              DriftPolicy::kOff};
  input->options.drift = kPolicies[choices->Next() % std::size(kPolicies)];
  const uint8_t down = choices->Next();
  if ((down & 1) != 0) input->unavailable[BackendKind::kRay] = UnavailableError("ray down");
  if ((down & 6) == 6) {
    input->unavailable[BackendKind::kKubernetes] = UnavailableError("apiserver down");
  }
  for (const auto& job : input->desired.jobs) {
    const uint8_t recorded = choices->Next() % 4;
    if (recorded == 0) continue;
    input->inventory[job->key()] = {recorded == 3 ? std::string("another spec") : SpecHash(*job),
                                    "0123abc", recorded == 2};
  }
}

FuzzInput Build(std::string_view data) {
  const Sections sections = Split(data);
  Choices choices(sections.choices);
  FuzzInput input;
  input.options.instance = kFuzzInstance;
  const uint8_t switches = choices.Next();
  input.options.prune = (switches & 1) == 0;
  input.options.allow_mass_delete = (switches & 2) != 0;
  input.options.max_delete_share = 1.0 - choices.Next() / 255.0;
  input.desired = Load(sections.desired);

  std::vector<std::string> paths;
  for (const auto& [path, text] : sections.desired) paths.push_back(path);
  std::map<JobKey, LiveJob> live;
  for (const auto& job : Load(sections.applied).jobs) {
    live.emplace(job->key(), MakeLive(job->key(), *job, paths, &choices));
  }
  for (const auto& job : input.desired.jobs) {
    if (live.count(job->key()) == 0 && (choices.Next() & 1) != 0) {
      live.emplace(job->key(), MakeLive(job->key(), *job, paths, &choices));
    }
  }
  for (const JobKey& key : input.desired.invalid_jobs) {
    if (live.count(key) == 0 && (choices.Next() & 1) != 0) {
      live.emplace(key, MakeLive(key, std::nullopt, paths, &choices));
    }
  }
  for (auto& [key, job] : live) input.live.push_back(std::move(job));
  ChooseSyncInputs(&choices, &input);
  return input;
}

bool ProtectedByAppliedSpec(const LiveJob& live) {
  if (!live.applied) return false;
  auto it = live.applied->annotations.find(kPruneAnnotation);
  return it != live.applied->annotations.end() && it->second == "false";
}

// The rules of unavailable backends and of the inventory (plan.h, sections 6 and 7).
void CheckSyncRules(const PlanStep& step, const FuzzInput& input) {
  const bool down = input.unavailable.count(step.key.backend) != 0;
  if (down) {
    Check(step.error && step.action == Action::kNone);
    if (step.desired) {
      Check(step.reason.find(" unavailable: ") != std::string::npos ||
            step.reason.find("allowlist") != std::string::npos);
    }
  }
  auto entry = input.inventory.find(step.key);
  const bool recorded_here = entry != input.inventory.end() && step.desired != nullptr &&
                             entry->second.spec_hash == SpecHash(*step.desired);
  if (step.drift) Check(recorded_here && !step.error);
  if (step.withheld) {
    Check(step.drift && step.action == Action::kNone && step.changes.empty());
    Check(input.options.drift != DriftPolicy::kHeal);
  }
  if (step.drift && !step.withheld) Check(input.options.drift == DriftPolicy::kHeal);
  if (step.reason == "finished at this spec; not run again") {
    Check(recorded_here && entry->second.finished && step.action == Action::kNone);
  }
}

void CheckSteps(const Plan& plan, const FuzzInput& input) {
  std::set<JobKey> wanted;
  for (const auto& job : input.desired.jobs) wanted.insert(job->key());
  const std::set<JobKey> invalid(input.desired.invalid_jobs.begin(),
                                 input.desired.invalid_jobs.end());
  std::map<JobKey, const LiveJob*> found;
  for (const LiveJob& job : input.live) found[job.key] = &job;
  const std::set<std::string> unreadable(input.desired.unreadable_files.begin(),
                                         input.desired.unreadable_files.end());
  std::set<std::string> with_errors;
  for (const Diagnostic& diagnostic : input.desired.diagnostics) {
    with_errors.insert(diagnostic.location.path);
  }

  std::set<JobKey> planned;
  for (const PlanStep& step : plan.steps) {
    Check(planned.insert(step.key).second);
    CheckSyncRules(step, input);
    auto it = found.find(step.key);
    const LiveJob* live = it == found.end() ? nullptr : it->second;
    const bool owned = live != nullptr && live->instance == input.options.instance;
    const bool in_git = wanted.count(step.key) != 0;
    const bool is_invalid = invalid.count(step.key) != 0;
    if (!in_git && !is_invalid) Check(owned);
    if (is_invalid) Check(step.action == Action::kNone && step.error);
    if (step.error) Check(step.action == Action::kNone);
    if (step.held) {
      Check(step.error && owned && !in_git && !is_invalid && !input.options.allow_mass_delete);
    }
    switch (step.action) {
      case Action::kCreate:
        Check(live == nullptr && in_git);
        break;
      case Action::kScale:
      case Action::kPatch:
      case Action::kUpdate:
      case Action::kRerun:
        Check(owned && in_git);
        break;
      case Action::kDelete:
        Check(owned && !in_git && !is_invalid && input.options.prune);
        Check(!live->prune_protected && !ProtectedByAppliedSpec(*live));
        Check(unreadable.count(live->source_path) == 0 &&
              with_errors.count(live->source_path) == 0);
        break;
      case Action::kNone:
        Check(step.changes.empty());
        break;
    }
  }
  for (const JobKey& key : wanted) Check(planned.count(key) != 0);
  for (const JobKey& key : invalid) Check(planned.count(key) != 0);
  int owned = 0;
  for (const LiveJob& job : input.live) {
    if (job.instance != input.options.instance) continue;
    if (input.unavailable.count(job.key.backend) != 0) continue;
    ++owned;
    Check(planned.count(job.key) != 0);
  }
  if (!input.options.allow_mass_delete) {
    std::set<std::pair<BackendKind, std::string>> created;
    for (const PlanStep& step : plan.steps) {
      if (step.action == Action::kCreate) created.insert({step.key.backend, step.key.name});
    }
    const auto deletes =
        std::count_if(plan.steps.begin(), plan.steps.end(), [&](const PlanStep& s) {
          return s.action == Action::kDelete && created.count({s.key.backend, s.key.name}) == 0;
        });
    Check(static_cast<double>(deletes) <= input.options.max_delete_share * owned + 1e-9);
  }
}

void CheckJsonRendering(const Plan& plan, const std::string& text) {
  const nlohmann::json rendered = nlohmann::json::parse(text, nullptr, false);
  Check(rendered.is_object() && rendered.contains("summary") && rendered["summary"].is_object());
  const nlohmann::json& summary = rendered["summary"];
  for (Action action : {Action::kCreate, Action::kScale, Action::kPatch, Action::kUpdate,
                        Action::kDelete, Action::kNone}) {
    Check(summary.value(ActionName(action), -1) == plan.Count(action));
  }
  Check(summary.value("errors", -1) == plan.ErrorCount());
}

}  // namespace
}  // namespace jobsync

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using jobsync::Check;
  jobsync::FuzzInput input =
      jobsync::Build(std::string_view(reinterpret_cast<const char*>(data), size));
  const jobsync::StatusOr<jobsync::Plan> plan = jobsync::PlanSync(
      {input.desired, input.live, input.unavailable, input.inventory}, input.options);
  std::reverse(input.live.begin(), input.live.end());
  const jobsync::StatusOr<jobsync::Plan> again = jobsync::PlanSync(
      {input.desired, input.live, input.unavailable, input.inventory}, input.options);
  Check(plan.ok() && again.ok());
  jobsync::CheckSteps(*plan, input);
  const std::string json = jobsync::RenderJson(*plan);
  jobsync::CheckJsonRendering(*plan, json);
  Check(jobsync::RenderJson(*again) == json);
  Check(jobsync::RenderText(*again, true) == jobsync::RenderText(*plan, true));
  Check(jobsync::RenderMarkdown(*again) == jobsync::RenderMarkdown(*plan));
  jobsync::RenderText(*plan, false);
  return 0;
}
