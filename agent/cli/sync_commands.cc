#include "agent/cli/sync_commands.h"

#include <algorithm>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <utility>

#include <CLI/CLI.hpp>
#include <unistd.h>

#include "agent/cli/cli.h"
#include "agent/cli/wiring.h"
#include "agent/git/git_source.h"
#include "agent/sync/clusters.h"
#include "agent/sync/executor.h"
#include "agent/sync/inventory_update.h"
#include "agent/sync/state_store.h"
#include "backends/backend.h"
#include "diff/plan.h"
#include "diff/render.h"
#include "schemas/loader.h"
#include "schemas/yaml_json.h"

namespace jobsync {
namespace {

// Reads the manifests of `rev` (or of what the Git flags pin, when `rev` is empty).
StatusOr<Snapshot> LoadRevision(GitFlags flags, const std::string& rev,
                                const SchemaValidator& validator) {
  if (!rev.empty()) {
    flags.branch.clear();
    flags.tag.clear();
    flags.rev = rev;
  }
  StatusOr<std::unique_ptr<GitSource>> source = NewGitSource(ToGitSourceOptions(flags), validator);
  if (!source.ok()) return source.status();
  StatusOr<std::string> commit = (*source)->Fetch();
  if (!commit.ok()) return commit.status();
  return (*source)->LoadAt(*commit);
}

bool UseColour(const std::string& mode, const std::ostream& out) {
  if (mode == "always") return true;
  if (mode == "never") return false;
  return &out == &std::cout && isatty(STDOUT_FILENO) != 0;
}

void PrintDiagnostics(const LoadResult& result, std::ostream& err) {
  for (const Diagnostic& d : result.diagnostics) err << d.ToString() << "\n";
  for (const Diagnostic& d : result.warnings) err << d.ToString() << "\n";
}

// The flags --state and --drift, as `plan` and `apply` take them (the meaning of `run`'s).
void AddStateFlags(CLI::App& command, std::string& state, std::string& drift, bool writes) {
  std::string help =
      "The agent's state to plan with: a file path, or configmap:NAMESPACE/NAME, as `run "
      "--state` takes it. Its inventory (the spec this instance applied to each job) makes the "
      "plan the agent's: drift is marked and held back under --drift, finished jobs are not run "
      "again. Default: the instance's default state file "
      "(~/.local/state/jobsync/<instance>.state.json), read only, when it exists, else none";
  if (writes) {
    help +=
        ". Only a --state given here is written (what was applied, as one agent cycle records "
        "it); never name the state of an agent that is running: each would overwrite what the "
        "other recorded";
  }
  command.add_option("--state", state, help)->group("State");
  command
      .add_option("--drift", drift,
                  "What the plan does with live changes made outside Git, as `run --drift`: heal "
                  "(revert them), warn or off (hold them back)")
      ->check(CLI::IsMember({"heal", "warn", "off"}))
      ->capture_default_str()
      ->group("State");
}

// The store --state names (as `run` reads it: wiring.h's OpenStateStore); null when --state is
// empty and the instance's default state file does not exist (no agent ran here: plan with an
// empty inventory, write nothing).
StatusOr<std::unique_ptr<StateStore>> OpenCommandState(const std::string& state,
                                                       const Clusters& clusters,
                                                       const std::string& instance) {
  if (!state.empty()) return OpenStateStore(state, instance, "", clusters);
  const std::string fallback = DefaultStateFile(instance);
  std::error_code error;
  if (!std::filesystem::exists(fallback, error)) return std::unique_ptr<StateStore>();
  return NewFileStateStore(fallback);
}

// What a plan against the clusters starts from: the commit, the clusters and what they run, and
// the agent's state.
struct LiveSync {
  Snapshot snapshot;
  Clusters clusters;
  LiveState live;
  std::unique_ptr<StateStore> store;  // null: no state
  AgentState state;
  // True when --state named the store: only then does `apply` write to it.
  bool writable = false;
};

// Loads the revision, reads the clusters and the state; fails on the first that cannot be read
// (a configured backend that does not answer is not a failure: LiveState::unavailable). Says on
// `err` which state it read, and how many jobs its inventory holds.
StatusOr<LiveSync> ReadLiveSync(const GitFlags& git, const ClusterFlags& cluster,
                                const std::string& state, const SchemaValidator& validator,
                                std::ostream& err) {
  LiveSync sync;
  StatusOr<Snapshot> snapshot = LoadRevision(git, "", validator);
  if (!snapshot.ok()) return snapshot.status();
  sync.snapshot = std::move(*snapshot);
  sync.clusters = ConnectClusters(cluster);
  sync.live = ReadLive(sync.clusters);
  StatusOr<std::unique_ptr<StateStore>> store =
      OpenCommandState(state, sync.clusters, cluster.instance);
  if (!store.ok()) return store.status();
  sync.store = std::move(*store);
  sync.writable = !state.empty();
  if (!sync.store) {
    err << "state: none (no --state, and no " << DefaultStateFile(cluster.instance) << ")\n";
    return sync;
  }
  StatusOr<AgentState> loaded = sync.store->Load();
  if (!loaded.ok()) {
    return Status(loaded.status().code(), "--state " + sync.store->Describe() +
                                              (sync.writable ? "" : " (the default)") + ": " +
                                              loaded.status().message());
  }
  sync.state = std::move(*loaded);
  err << "state: " << sync.store->Describe() << (sync.writable ? "" : " (the default, read only)")
      << ", " << sync.state.inventory.size() << " job"
      << (sync.state.inventory.size() == 1 ? "" : "s") << " in the inventory\n";
  return sync;
}

// True when `report` deleted a job on one cluster that Git moved to another.
bool MovedAJob(const ApplyReport& report) {
  return std::any_of(report.outcomes.begin(), report.outcomes.end(), [](const StepOutcome& o) {
    return o.step.moving && o.step.action == Action::kDelete && o.status.ok() && !o.skipped;
  });
}

// The agent's plan (PlanSync) for `sync`.
StatusOr<Plan> PlanLiveSync(const LiveSync& sync, const ClusterFlags& cluster,
                            const std::string& drift) {
  PlanOptions options = ToPlanOptions(cluster);
  options.drift = ParseDriftPolicy(drift).value_or(DriftPolicy::kHeal);
  return PlanSync(PlanInput{sync.snapshot.manifests, sync.live.jobs, sync.live.unavailable,
                            sync.state.inventory},
                  options);
}

// Records in the state what `report` applied, as one agent cycle does (inventory_update.h): the
// inventory, and the applied revision when every job is in sync. Saves when anything changed.
Status RecordApply(const Plan& plan, const ApplyReport& report, const std::string& revision,
                   const std::string& instance, LiveSync& sync) {
  std::map<JobKey, StepOutcome> outcomes;
  for (const StepOutcome& outcome : report.outcomes) outcomes.emplace(outcome.step.key, outcome);
  const AgentState before = sync.state;
  const bool in_sync = RecordInventory(plan, outcomes, revision, instance, &sync.state.inventory) &&
                       sync.live.unavailable.size() == sync.clusters.unconfigured.size();
  if (in_sync) sync.state.last_applied_revision = revision;
  if (sync.state == before) return OkStatus();
  return sync.store->Save(sync.state);
}

// The table of what was done, and the jobs not in sync; the exit code of `apply`.
int PrintReport(const ApplyReport& report, const CommitInfo& commit, std::ostream& out,
                std::ostream& err) {
  out << "\nJOB\tACTION\tRESULT\tHEALTH\n";
  for (const StepOutcome& outcome : report.outcomes) {
    out << outcome.step.key.ToString() << "\t" << ActionName(outcome.step.action) << "\t"
        << (outcome.skipped       ? "skipped"
            : outcome.status.ok() ? "ok"
                                  : "failed")
        << "\t" << (outcome.health ? HealthName(*outcome.health) : "-") << "\n";
  }
  std::vector<JobKey> failed = report.FailedJobs();
  if (failed.empty()) {
    out << "\nin sync with " << commit.ShortId() << "\n";
    return kExitOk;
  }
  err << "\n" << failed.size() << " job" << (failed.size() == 1 ? "" : "s") << " not in sync:\n";
  for (const StepOutcome& outcome : report.outcomes) {
    if (outcome.status.ok() && !outcome.skipped && !outcome.step.error) continue;
    err << "  " << outcome.step.key.ToString() << ": "
        << (outcome.step.error ? outcome.step.reason : outcome.status.message()) << "\n";
  }
  return kExitChanges;
}

// Says on `err` how many deletes the mass-delete guard held back, if any (the steps say why).
void PrintHeld(const Plan& plan, std::ostream& err) {
  const auto held = std::count_if(plan.steps.begin(), plan.steps.end(),
                                  [](const PlanStep& step) { return step.held; });
  if (held == 0) return;
  err << held << (held == 1 ? " delete" : " deletes")
      << " held by the mass-delete guard (listed in the plan); pass --allow-mass-delete to "
         "carry them out\n";
}

int PlanExitCode(const Plan& plan) {
  if (plan.HasErrors()) return kExitError;
  return plan.HasChanges() ? kExitChanges : kExitOk;
}

}  // namespace

void SyncCommands::Register(CLI::App& app) {
  plan_ = app.add_subcommand(
      "plan",
      "Show what a sync would do, without changing anything.\n"
      "With --from and --to: offline, between two revisions, for pull-request review (the jobs "
      "at --from stand for the live clusters). Without: against the live clusters, planned "
      "exactly as the agent (`jobsync run`) plans its next cycle with the same --state and "
      "--drift: drift held back or marked, finished jobs not re-run, jobs on an unreachable "
      "backend shown as errors.\n"
      "Each job's action: create; scale (replica counts or suspend changed: in place on "
      "Kubernetes, a restart on Ray); patch (only annotations changed: applied in place, "
      "nothing restarts; on Ray the spec is recorded and the running submission left alone); "
      "update (anything else changed: recreate); delete (with --prune); none.\n"
      "Every output lists each manifest problem (file:line:column, message, hint), each "
      "manifest warning (a field loaded but not honoured: a DLRover ElasticJob's brainService, "
      "say; never an error) and ends "
      "with the resource impact per namespace: GPUs, CPUs and memory requested before and "
      "after (replicas x per-replica resources; elastic maxima beside). Markdown stays within "
      "GitHub's comment limit: a plan too big for it is summarised (counts, every problem, "
      "error and delete, then as many other changes as fit).\n"
      "A plan deleting more than --max-delete-share of the instance's jobs has those deletes "
      "held back (error steps saying why; moving an unchanged job to another namespace is not a "
      "delete) and the rest of the plan unchanged.\n"
      "Exit 0: no changes; 1: changes; 2: errors, manifest problems or deletes held by the "
      "mass-delete guard (like kubectl diff).");
  AddGitFlags(*plan_, plan_git_);
  AddClusterFlags(*plan_, plan_cluster_);
  AddStateFlags(*plan_, plan_state_, plan_drift_, false);
  plan_
      ->add_option("--from", from_,
                   "Offline plan: the revision taken as live, as git rev-parse reads it (e.g. "
                   "origin/main, the pull request's base)")
      ->group("Offline");
  plan_
      ->add_option("--to", to_,
                   "Offline plan: the revision taken as desired (e.g. HEAD, the pull request's "
                   "merge commit)")
      ->group("Offline");
  plan_->add_option("-o,--output", output_, "text, markdown (a pull-request comment) or json")
      ->check(CLI::IsMember({"text", "markdown", "json"}))
      ->capture_default_str();
  plan_->add_option("--color", color_, "Colour text output: auto (on a terminal), always, never")
      ->check(CLI::IsMember({"auto", "always", "never"}))
      ->capture_default_str();

  apply_ = app.add_subcommand(
      "apply",
      "Sync once: load the manifests at the revision, read the clusters, plan (as the agent "
      "plans, with --state and --drift), carry the plan out, and print what was done and each "
      "job's status. With a state (--state, or the instance's default state file when it "
      "exists), record what was applied in its inventory, as one cycle of `jobsync run` does.\n"
      "Deletes held by the mass-delete guard are listed and not carried out; the rest of the "
      "plan is.\n"
      "Exit 0: the clusters match Git; 1: some jobs failed or had their deletes held (listed); "
      "2: nothing could be done.");
  AddGitFlags(*apply_, apply_git_);
  AddClusterFlags(*apply_, apply_cluster_);
  AddStateFlags(*apply_, apply_state_, apply_drift_, true);
  apply_->add_flag("--dry-run", dry_run_, "Print the plan and stop");

  render_ = app.add_subcommand(
      "render",
      "Print the Kubernetes objects jobsync would create for the manifests, as YAML documents, "
      "to inspect them or feed them to other tools (kubectl apply -f -). DLRover ElasticJob "
      "documents render as the TrainingJobs they read as (with --elasticjob operator, or their "
      "annotation, as the ElasticJob applied for DLRover's operator); warnings go to stderr.");
  render_->add_option("paths", render_paths_, "Manifest files or directories")
      ->required()
      ->type_name("PATH");
  render_
      ->add_option("--instance", render_instance_,
                   "The jobsync.dev/instance label value (a label value: at most 63 letters, "
                   "digits, '-', '_' and '.', starting and ending with a letter or digit)")
      ->capture_default_str()
      ->check(InstanceName());
  render_->add_option("--revision", render_revision_,
                      "The Git revision recorded in the objects' annotations");
  AddElasticJobFlag(*render_, render_elasticjob_);
}

std::optional<int> SyncCommands::RunParsed(std::ostream& out, std::ostream& err) {
  if (plan_ != nullptr && plan_->parsed()) return RunPlan(out, err);
  if (apply_ != nullptr && apply_->parsed()) return RunApply(out, err);
  if (render_ != nullptr && render_->parsed()) return RunRender(out, err);
  return std::nullopt;
}

int SyncCommands::RunPlan(std::ostream& out, std::ostream& err) {
  auto fail = [&](const Status& status) {
    err << "jobsync plan: " << status.message() << "\n";
    return kExitError;
  };
  if (from_.empty() != to_.empty()) {
    return fail(InvalidArgumentError("--from and --to go together (offline plan)"));
  }
  if (!from_.empty() && (!plan_state_.empty() || plan_->count("--drift") > 0)) {
    return fail(InvalidArgumentError(
        "--state and --drift go with a plan against the live clusters, not an offline plan "
        "(--from, --to)"));
  }
  if (Status resolved = ResolveClusters(plan_cluster_); !resolved.ok()) return fail(resolved);
  // Against the live clusters spec.cluster must name one of them; offline only with --clusters.
  if (from_.empty() || plan_cluster_.clusters) plan_git_.clusters = ClusterNamesOf(plan_cluster_);
  SchemaValidator validator;
  StatusOr<Plan> plan = InvalidArgumentError("unreachable");
  LoadResult loaded;  // the desired side, whose problems the plan carries
  if (!from_.empty()) {
    StatusOr<Snapshot> before = LoadRevision(plan_git_, from_, validator);
    if (!before.ok()) return fail(before.status());
    StatusOr<Snapshot> after = LoadRevision(plan_git_, to_, validator);
    if (!after.ok()) return fail(after.status());
    loaded = after->manifests;
    plan = BuildPlan(after->manifests,
                     LiveAsApplied(before->manifests, before->commit.id, plan_cluster_.instance),
                     ToPlanOptions(plan_cluster_));
  } else {
    StatusOr<LiveSync> sync = ReadLiveSync(plan_git_, plan_cluster_, plan_state_, validator, err);
    if (!sync.ok()) return fail(sync.status());
    loaded = sync->snapshot.manifests;
    plan = PlanLiveSync(*sync, plan_cluster_, plan_drift_);
  }
  if (!plan.ok()) {
    PrintDiagnostics(loaded, err);
    return fail(plan.status());
  }
  // The problems are in every rendering; for Markdown and JSON, whose output a CI job usually
  // posts or parses, they go to stderr too so that the job's log shows them.
  if (output_ != "text") PrintDiagnostics(loaded, err);
  if (output_ == "json") {
    out << RenderJson(*plan);
  } else if (output_ == "markdown") {
    out << RenderMarkdown(*plan);
  } else {
    out << RenderText(*plan, UseColour(color_, out));
  }
  PrintHeld(*plan, err);
  return PlanExitCode(*plan);
}

int SyncCommands::RunApply(std::ostream& out, std::ostream& err) {
  auto fail = [&](const Status& status) {
    err << "jobsync apply: " << status.message() << "\n";
    return kExitError;
  };
  if (Status resolved = ResolveClusters(apply_cluster_); !resolved.ok()) return fail(resolved);
  apply_git_.clusters = ClusterNamesOf(apply_cluster_);
  SchemaValidator validator;
  StatusOr<LiveSync> sync = ReadLiveSync(apply_git_, apply_cluster_, apply_state_, validator, err);
  if (!sync.ok()) return fail(sync.status());
  const CommitInfo& commit = sync->snapshot.commit;
  out << "revision " << commit.ShortId() << " by " << commit.author_name << ": " << commit.summary
      << "\n";
  for (const auto& [target, status] : sync->live.unavailable) {
    err << "note: " << target.ToString() << ": " << status.message() << "\n";
  }
  StatusOr<Plan> plan = PlanLiveSync(*sync, apply_cluster_, apply_drift_);
  if (!plan.ok()) {
    PrintDiagnostics(sync->snapshot.manifests, err);
    return fail(plan.status());
  }
  out << RenderText(*plan, UseColour("auto", out));  // the manifests' problems included
  PrintHeld(*plan, err);
  if (dry_run_) return plan->HasErrors() ? kExitError : kExitOk;

  // The attempted revision is saved before anything changes, as the agent does.
  if (sync->writable && plan->HasChanges() && sync->state.last_attempted_revision != commit.id) {
    sync->state.last_attempted_revision = commit.id;
    if (Status saved = sync->store->Save(sync->state); !saved.ok()) return fail(saved);
  }
  ExecutorOptions options;
  std::mutex out_mutex;  // steps run side by side report at once
  options.on_step = [&out, &out_mutex](const StepOutcome& outcome) {
    if (outcome.step.action == Action::kNone) return;
    std::lock_guard<std::mutex> lock(out_mutex);
    out << "  " << (outcome.status.ok() ? "done   " : "FAILED ") << ActionName(outcome.step.action)
        << " " << outcome.step.key.ToString();
    if (!outcome.status.ok()) out << ": " << outcome.status.message();
    out << "\n" << std::flush;
  };
  Executor executor(sync->live.readable, options);
  ApplyReport report = executor.Execute(*plan, {apply_cluster_.instance, commit.id});
  if (sync->writable) {
    Status recorded = RecordApply(*plan, report, commit.id, apply_cluster_.instance, *sync);
    if (!recorded.ok()) err << "jobsync apply: state not saved: " << recorded.message() << "\n";
  }
  const int code = PrintReport(report, commit, out, err);
  // A job moved to another cluster is created there by the next plan, once it is gone here.
  if (code == kExitOk && !apply_again_ && MovedAJob(report)) {
    out << "jobs moved between clusters are gone from the old ones: planning again to create "
           "them on the new ones\n";
    apply_again_ = true;
    return RunApply(out, err);
  }
  return code;
}

int SyncCommands::RunRender(std::ostream& out, std::ostream& err) {
  SchemaValidator validator;
  LoadResult result = LoadManifestPaths(render_paths_, validator,
                                        {YamlLimits{}, ToElasticJobMode(render_elasticjob_)});
  PrintDiagnostics(result, err);
  if (!result.ok()) return kExitError;
  ApplyContext context{render_instance_, render_revision_};
  for (const std::shared_ptr<const TrainingJob>& job : result.jobs) {
    if (job->backend != BackendKind::kKubernetes) {
      out << "# " << job->key().ToString()
          << " runs on Ray: it is a Ray Jobs API submission, not Kubernetes objects\n";
      continue;
    }
    StatusOr<std::vector<nlohmann::json>> objects = RenderKubernetesObjects(*job, context);
    if (!objects.ok()) {
      err << "jobsync render: " << objects.status().message() << "\n";
      return kExitError;
    }
    for (const nlohmann::json& object : *objects) out << "---\n" << JsonToYaml(object);
  }
  return kExitOk;
}

}  // namespace jobsync
