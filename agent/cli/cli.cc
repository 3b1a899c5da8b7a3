#include "agent/cli/cli.h"

#include <iostream>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <CLI/CLI.hpp>

#include "agent/cli/convert_command.h"
#include "agent/cli/git_flags.h"
#include "agent/cli/logs_command.h"
#include "agent/cli/run_command.h"
#include "agent/cli/sync_commands.h"
#include "agent/cli/usage_errors.h"
#include "agent/git/git_source.h"
#include "agent/git/history.h"
#include "schemas/loader.h"
#include "schemas/schema_validator.h"

namespace jobsync {
namespace {

constexpr const char* kDescription =
    "jobsync keeps distributed training jobs on Kubernetes and Ray equal to the manifests\n"
    "committed to a Git repository.";

// `jobsync validate PATH...`: exit 0 when every manifest is valid, 2 otherwise.
int RunValidate(const std::vector<std::string>& paths, const std::string& elasticjob,
                std::ostream& out, std::ostream& err) {
  SchemaValidator validator;
  LoadResult result =
      LoadManifestPaths(paths, validator, {YamlLimits{}, ToElasticJobMode(elasticjob)});
  for (const Diagnostic& d : result.diagnostics) err << d.ToString() << "\n";
  for (const Diagnostic& d : result.warnings) err << d.ToString() << "\n";
  std::map<BackendKind, int> by_backend;
  for (const auto& job : result.jobs) ++by_backend[job->backend];
  std::string counts = std::to_string(result.jobs.size()) + " valid job" +
                       (result.jobs.size() == 1 ? "" : "s") + " (" +
                       std::to_string(by_backend[BackendKind::kKubernetes]) + " kubernetes, " +
                       std::to_string(by_backend[BackendKind::kRay]) + " ray)";
  if (!result.warnings.empty()) {
    counts += ", " + std::to_string(result.warnings.size()) + " warning" +
              (result.warnings.size() == 1 ? "" : "s");
  }
  if (result.ok()) {
    out << "ok: " << counts << "\n";
    return kExitOk;
  }
  err << result.diagnostics.size() << " problem" << (result.diagnostics.size() == 1 ? "" : "s")
      << "; " << counts << ", " << result.invalid_jobs.size() << " invalid\n";
  return kExitError;
}

// `jobsync history [git flags] JOB`: the commits that changed one job. Exit 0, or 2 on errors.
int RunHistory(const GitFlags& git, const std::string& job, const std::string& output,
               size_t max_commits, std::ostream& out, std::ostream& err) {
  auto fail = [&](const Status& status) {
    err << "jobsync history: " << status.ToString() << "\n";
    return kExitError;
  };
  StatusOr<JobSelector> selector = JobSelector::Parse(job);
  if (!selector.ok()) return fail(selector.status());
  SchemaValidator validator;
  StatusOr<std::unique_ptr<GitSource>> source = NewGitSource(ToGitSourceOptions(git), validator);
  if (!source.ok()) return fail(source.status());
  StatusOr<std::string> tip = (*source)->Fetch();
  if (!tip.ok()) return fail(tip.status());
  StatusOr<std::vector<JobHistoryEntry>> history =
      JobHistory(**source, *tip, *selector, max_commits);
  if (!history.ok()) return fail(history.status());
  if (output == "json") {
    out << HistoryToJson(*selector, *history).dump(2) << "\n";
  } else {
    out << FormatHistoryText(*selector, *history);
  }
  return kExitOk;
}

// Parses the command line into `app`; the exit code when that ends the run: help or the version
// printed (0), a usage error described (2).
std::optional<int> Parse(CLI::App& app, int argc, const char* const* argv, std::ostream& out,
                         std::ostream& err) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    out << app.help();
    return kExitOk;
  } catch (const CLI::CallForAllHelp&) {
    out << app.help("", CLI::AppFormatMode::All);
    return kExitOk;
  } catch (const CLI::CallForVersion&) {
    out << app.version() << "\n";
    return kExitOk;
  } catch (const CLI::ParseError& e) {
    err << DescribeUsageError(app, e, argc, argv);
    return kExitError;
  }
  return std::nullopt;
}

}  // namespace

int RunCli(int argc, const char* const* argv, std::ostream& out, std::ostream& err) {
  // Network operations of the Git source re-run this binary with a hidden command (see
  // agent/git/remote_helper.h); it is not part of the interface people use.
  if (argc == 2 && std::string_view(argv[1]) == kGitHelperCommand) {
    return RunGitHelper(std::cin, out);
  }
  CLI::App app{kDescription, "jobsync"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "jobsync " JOBSYNC_VERSION);

  std::vector<std::string> validate_paths;
  CLI::App* validate = app.add_subcommand(
      "validate",
      "Check manifests against the TrainingJob schema and the rules it cannot express.\n"
      "DLRover ElasticJob documents are checked as the TrainingJobs they are read as, with a\n"
      "warning for each field jobsync does not honour (path:line:column: warning: ...).\n"
      "Prints every problem as path:line:column: message. Exit 0: all valid; 2: problems.");
  validate->add_option("paths", validate_paths, "Files or directories (*.yaml, *.yml, recursive)")
      ->required()
      ->type_name("PATH");
  std::string validate_elasticjob = "native";
  AddElasticJobFlag(*validate, validate_elasticjob);

  std::vector<std::string> convert_paths;
  CLI::App* convert = AddConvertCommand(app, convert_paths);

  GitFlags history_git;
  std::string history_job;
  std::string history_output = "text";
  size_t history_max_commits = 0;
  CLI::App* history = app.add_subcommand(
      "history",
      "List the commits that changed one job, newest first: short id, date, author, summary,\n"
      "and what changed (created, deleted, moved, image a -> b, worker replicas 2 -> 6, ...).\n"
      "The job is found by namespace and name in every commit, so renames and moves between\n"
      "files are followed. History follows first parents: what the branch itself saw.\n"
      "Exit 0: listed (possibly nothing); 2: error.");
  AddGitFlags(*history, history_git);
  history->add_option("--output,-o", history_output, "Output format: text or json")
      ->check(CLI::IsMember({"text", "json"}))
      ->default_val("text");
  history
      ->add_option("--max-commits", history_max_commits,
                   "Look at the newest N commits only (default 0: all)")
      ->type_name("N");
  history
      ->add_option("job", history_job,
                   "The job: NAMESPACE/NAME, or BACKEND/NAMESPACE/NAME to pick one backend")
      ->required()
      ->type_name("NAMESPACE/NAME");

  SyncCommands sync;
  sync.Register(app);
  RunCommands agent;
  agent.Register(app);
  LogsCommand logs;
  logs.Register(app);

  if (std::optional<int> code = Parse(app, argc, argv, out, err)) return *code;
  if (validate->parsed()) return RunValidate(validate_paths, validate_elasticjob, out, err);
  if (convert->parsed()) return RunConvert(convert_paths, out, err);
  if (history->parsed()) {
    return RunHistory(history_git, history_job, history_output, history_max_commits, out, err);
  }
  if (std::optional<int> code = sync.RunParsed(out, err)) return *code;
  if (std::optional<int> code = agent.RunParsed(out, err)) return *code;
  if (std::optional<int> code = logs.RunParsed(out, err)) return *code;
  return kExitError;
}

}  // namespace jobsync
