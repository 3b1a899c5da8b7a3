#include "agent/cli/sync_commands.h"

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
      "at --from stand for the live clusters). Without: against the live clusters.\n"
      "Every output lists each manifest problem (file:line:column, message, hint) and ends "
      "with the resource impact per namespace: GPUs, CPUs and memory requested before and "
      "after (replicas x per-replica resources; elastic maxima beside). Markdown stays within "
      "GitHub's comment limit: a plan too big for it is summarised (counts, every problem, "
      "error and delete, then as many other changes as fit).\n"
      "Exit 0: no changes; 1: changes; 2: errors or manifest problems (like kubectl diff).");
  AddGitFlags(*plan_, plan_git_);
  AddClusterFlags(*plan_, plan_cluster_);
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
      "Sync once: load the manifests at the revision, read the clusters, plan, carry the plan "
      "out, and print what was done and each job's status.\n"
      "Exit 0: the clusters match Git; 1: some jobs failed (listed); 2: nothing could be done.");
  AddGitFlags(*apply_, apply_git_);
  AddClusterFlags(*apply_, apply_cluster_);
  apply_->add_flag("--dry-run", dry_run_, "Print the plan and stop");

  render_ = app.add_subcommand(
      "render",
      "Print the Kubernetes objects jobsync would create for the manifests, as YAML documents, "
      "to inspect them or feed them to other tools (kubectl apply -f -).");
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
  SchemaValidator validator;
  StatusOr<Plan> plan = InvalidArgumentError("unreachable");
  LoadResult loaded;  // the desired side, whose problems the plan carries
  if (!from_.empty()) {
    StatusOr<Snapshot> before = LoadRevision(plan_git_, from_, validator);
    if (!before.ok()) return fail(before.status());
    StatusOr<Snapshot> after = LoadRevision(plan_git_, to_, validator);
    if (!after.ok()) return fail(after.status());
    loaded = after->manifests;
    plan = BuildPlan(after->manifests, LiveAsApplied(*before, plan_cluster_.instance),
                     ToPlanOptions(plan_cluster_));
  } else {
    StatusOr<Snapshot> snapshot = LoadRevision(plan_git_, "", validator);
    if (!snapshot.ok()) return fail(snapshot.status());
    loaded = snapshot->manifests;
    Clusters clusters = ConnectClusters(plan_cluster_);
    plan = PlanAgainstLive(snapshot->manifests, ReadLive(clusters), ToPlanOptions(plan_cluster_));
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
  return PlanExitCode(*plan);
}

int SyncCommands::RunApply(std::ostream& out, std::ostream& err) {
  auto fail = [&](const Status& status) {
    err << "jobsync apply: " << status.message() << "\n";
    return kExitError;
  };
  SchemaValidator validator;
  StatusOr<Snapshot> snapshot = LoadRevision(apply_git_, "", validator);
  if (!snapshot.ok()) return fail(snapshot.status());
  const CommitInfo& commit = snapshot->commit;
  out << "revision " << commit.ShortId() << " by " << commit.author_name << ": " << commit.summary
      << "\n";
  Clusters clusters = ConnectClusters(apply_cluster_);
  LiveState live = ReadLive(clusters);
  for (const auto& [kind, status] : live.unavailable) {
    err << "note: " << BackendName(kind) << ": " << status.message() << "\n";
  }
  StatusOr<Plan> plan = PlanAgainstLive(snapshot->manifests, live, ToPlanOptions(apply_cluster_));
  if (!plan.ok()) {
    PrintDiagnostics(snapshot->manifests, err);
    return fail(plan.status());
  }
  out << RenderText(*plan, UseColour("auto", out));  // the manifests' problems included
  if (dry_run_) return plan->HasErrors() ? kExitError : kExitOk;

  ExecutorOptions options;
  options.on_step = [&out](const StepOutcome& outcome) {
    if (outcome.step.action == Action::kNone) return;
    out << "  " << (outcome.status.ok() ? "done   " : "FAILED ") << ActionName(outcome.step.action)
        << " " << outcome.step.key.ToString();
    if (!outcome.status.ok()) out << ": " << outcome.status.message();
    out << "\n" << std::flush;
  };
  Executor executor(live.readable, options);
  ApplyReport report = executor.Execute(*plan, {apply_cluster_.instance, commit.id});

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

int SyncCommands::RunRender(std::ostream& out, std::ostream& err) {
  SchemaValidator validator;
  LoadResult result = LoadManifestPaths(render_paths_, validator);
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
