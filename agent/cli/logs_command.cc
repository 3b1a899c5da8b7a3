#include "agent/cli/logs_command.h"

#include <memory>
#include <string_view>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>

#include "agent/cli/cli.h"
#include "agent/cli/logs_wiring.h"
#include "agent/cli/usage_errors.h"
#include "agent/cli/wiring.h"
#include "agent/git/git_source.h"
#include "agent/git/history.h"
#include "backends/job_logs.h"
#include "schemas/schema_validator.h"

namespace jobsync {
namespace {

// Jobs of the same namespace named in a "no such job" message, at most.
constexpr size_t kMaxNamesShown = 10;

// "repository R at abc1234 (path P)", naming where a job was looked for.
std::string WhereLooked(const GitFlags& git, const CommitInfo& commit) {
  return "the manifests of " + git.repo + " at " + commit.ShortId() +
         (git.path.empty() ? "" : " under " + git.path);
}

// The job `selector` names in `snapshot`; fails naming where it looked and the nearest names.
StatusOr<std::shared_ptr<const TrainingJob>> FindJob(const Snapshot& snapshot,
                                                     const JobSelector& selector,
                                                     const GitFlags& git) {
  std::vector<std::shared_ptr<const TrainingJob>> found;
  std::vector<std::string> names;
  std::vector<std::string> same_namespace;
  for (const std::shared_ptr<const TrainingJob>& job : snapshot.manifests.jobs) {
    names.push_back(job->namespace_name + "/" + job->name);
    if (job->namespace_name == selector.namespace_name) same_namespace.push_back(job->name);
    if (selector.Matches(job->key())) found.push_back(job);
  }
  if (found.size() == 1) return found.front();
  const std::string where = WhereLooked(git, snapshot.commit);
  if (found.size() > 1) {
    return InvalidArgumentError("job " + selector.ToString() + " is both a Kubernetes and a Ray " +
                                "job in " + where + ": name one, kubernetes/" +
                                selector.namespace_name + "/" + selector.name + " or ray/" +
                                selector.namespace_name + "/" + selector.name);
  }
  for (const JobKey& invalid : snapshot.manifests.invalid_jobs) {
    if (selector.Matches(invalid)) {
      return InvalidArgumentError("job " + selector.ToString() + " in " + where +
                                  " is invalid, so jobsync runs nothing of it: `jobsync validate` "
                                  "on its file says why");
    }
  }
  std::string message = "no job " + selector.ToString() + " in " + where;
  const std::string nearest = NearestName(selector.namespace_name + "/" + selector.name, names);
  if (!nearest.empty()) {
    message += "; did you mean " + nearest + "?";
  } else if (!same_namespace.empty()) {
    message += "; namespace " + selector.namespace_name + " has ";
    for (size_t i = 0; i < same_namespace.size() && i < kMaxNamesShown; ++i) {
      message += (i == 0 ? "" : ", ") + same_namespace[i];
    }
    if (same_namespace.size() > kMaxNamesShown) message += ", ...";
  } else {
    message += " (" + std::to_string(names.size()) + " job" + (names.size() == 1 ? "" : "s") +
               " there; check --repo, --path and the revision flags)";
  }
  return NotFoundError(message);
}

// What the job's cluster holds of it, for a job without pods or submissions: ": it is Queued
// (reason)", ": its manifest suspends it ..." or ": nothing of it is on the cluster ...", or ""
// when the cluster cannot tell.
std::string LiveStateOf(const ClusterFlags& flags, const TrainingJob& job) {
  const JobKey key = job.key();
  Clusters clusters = ConnectClusters(flags);
  for (Backend* backend : clusters.built()) {
    if (!(TargetOf(*backend) == key.target())) continue;
    StatusOr<std::vector<LiveJob>> jobs = backend->ListJobs();
    if (!jobs.ok()) return "";
    for (const LiveJob& live : *jobs) {
      if (live.key.namespace_name != key.namespace_name || live.key.name != key.name) continue;
      return std::string(": it is ") + LivePhaseName(live.phase) +
             (live.phase_message.empty() ? "" : " (" + live.phase_message + ")");
    }
    if (job.suspend)
      return ": its manifest suspends it (spec.suspend: true), so nothing of it runs";
    return ": nothing of it is on the cluster; it runs once applied (`jobsync apply`, or the "
           "agent's next sync)";
  }
  return "";
}

}  // namespace

void LogsCommand::Register(CLI::App& app) {
  command_ = app.add_subcommand(
      "logs",
      "Print a job's logs from where it runs. The job is named as in Git and must be in the "
      "manifests at the revision and path the Git flags give; its backend and cluster come "
      "from its manifest.\n"
      "Kubernetes: the container logs of the job's pods, through the apiserver (the pods "
      "jobsync's objects made, whatever the workload: Jobs, JobSet, ElasticJob, RayJob); one "
      "pod's lines as they are, several pods' each prefixed with [pod/NAME/CONTAINER], one pod "
      "after the other (interleaved as they arrive with --follow). Of an index with several "
      "pods (a failed one and its replacement) the newest is read.\n"
      "Ray: the driver's log of the job's live submission, through the Jobs API (polled every "
      "second with --follow, until the submission ends).\n"
      "Exit 0: read; 2: error (the job is not in Git, has no pods yet, an unknown role, an "
      "index out of range, the cluster refused).");
  AddGitFlags(*command_, git_);
  AddClusterFlags(*command_, cluster_);
  // Reading changes nothing: the flags that guard changes would be accepted and ignored.
  for (const char* guard : {"--prune", "--allow-mass-delete", "--max-delete-share"}) {
    command_->remove_option(command_->get_option(guard));
  }
  command_
      ->add_option("--role", role_,
                   "Only this role's replicas (worker, ps, ...; a RayJob's head or worker group)")
      ->type_name("ROLE")
      ->group("Logs");
  command_
      ->add_option("--index", index_,
                   "Only the replica with this index (0-based: an Indexed Job's completion "
                   "index); with --role, or alone for a job of one role")
      ->check(CLI::NonNegativeNumber)
      ->type_name("I")
      ->group("Logs");
  command_
      ->add_flag("--follow,-f", follow_,
                 "Keep printing new lines until the replicas end (Ctrl-C stops)")
      ->group("Logs");
  command_->add_option("--tail", tail_, "Only the last N lines of each log (default: all)")
      ->check(CLI::NonNegativeNumber)
      ->type_name("N")
      ->group("Logs");
  command_
      ->add_option("job", job_,
                   "The job: NAMESPACE/NAME, or BACKEND/NAMESPACE/NAME to pick one backend")
      ->required()
      ->type_name("NAMESPACE/NAME");
}

std::optional<int> LogsCommand::RunParsed(std::ostream& out, std::ostream& err) {
  if (command_ == nullptr || !command_->parsed()) return std::nullopt;
  return Run(out, err);
}

int LogsCommand::Run(std::ostream& out, std::ostream& err) {
  auto fail = [&](const Status& status) {
    err << "jobsync logs: " << status.message() << "\n";
    return kExitError;
  };
  StatusOr<JobSelector> selector = JobSelector::Parse(job_);
  if (!selector.ok()) return fail(selector.status());
  if (Status resolved = ResolveClusters(cluster_); !resolved.ok()) return fail(resolved);
  git_.clusters = ClusterNamesOf(cluster_);
  SchemaValidator validator;
  StatusOr<std::unique_ptr<GitSource>> source = NewGitSource(ToGitSourceOptions(git_), validator);
  if (!source.ok()) return fail(source.status());
  StatusOr<std::string> commit = (*source)->Fetch();
  if (!commit.ok()) return fail(commit.status());
  StatusOr<Snapshot> snapshot = (*source)->LoadAt(*commit);
  if (!snapshot.ok()) return fail(snapshot.status());
  StatusOr<std::shared_ptr<const TrainingJob>> job = FindJob(*snapshot, *selector, git_);
  if (!job.ok()) return fail(job.status());

  StatusOr<std::unique_ptr<JobLogReader>> reader = OpenJobLogs(cluster_, **job);
  if (!reader.ok()) return fail(reader.status());
  LogQuery query;
  query.role = role_;
  if (index_ >= 0) query.index = index_;
  query.follow = follow_;
  if (tail_ >= 0) query.tail_lines = tail_;
  Status read = (*reader)->Read(**job, query, [&out](std::string_view line) {
    out << line << "\n" << std::flush;
  });
  // "job K has no pods yet" (or no Ray submission): what the cluster holds of it says why.
  const std::string_view said = read.message();
  if (read.code() == StatusCode::kFailedPrecondition && said.ends_with(" yet")) {
    return fail(Status(read.code(), read.message() + LiveStateOf(cluster_, **job)));
  }
  if (!read.ok()) return fail(read);
  return kExitOk;
}

}  // namespace jobsync
