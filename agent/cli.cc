#include "agent/cli.h"

#include <map>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "schemas/loader.h"
#include "schemas/schema_validator.h"

namespace jobsync {
namespace {

constexpr const char* kDescription =
    "jobsync keeps distributed training jobs on Kubernetes and Ray equal to the manifests\n"
    "committed to a Git repository.";

// `jobsync validate PATH...`: exit 0 when every manifest is valid, 2 otherwise.
int RunValidate(const std::vector<std::string>& paths, std::ostream& out, std::ostream& err) {
  SchemaValidator validator;
  LoadResult result = LoadManifestPaths(paths, validator);
  for (const Diagnostic& d : result.diagnostics) err << d.ToString() << "\n";
  std::map<BackendKind, int> by_backend;
  for (const TrainingJob& job : result.jobs) ++by_backend[job.backend];
  std::string counts = std::to_string(result.jobs.size()) + " valid job" +
                       (result.jobs.size() == 1 ? "" : "s") + " (" +
                       std::to_string(by_backend[BackendKind::kKubernetes]) + " kubernetes, " +
                       std::to_string(by_backend[BackendKind::kRay]) + " ray)";
  if (result.ok()) {
    out << "ok: " << counts << "\n";
    return kExitOk;
  }
  err << result.diagnostics.size() << " problem" << (result.diagnostics.size() == 1 ? "" : "s")
      << "; " << counts << ", " << result.invalid_jobs.size() << " invalid\n";
  return kExitError;
}

}  // namespace

int RunCli(int argc, const char* const* argv, std::ostream& out, std::ostream& err) {
  CLI::App app{kDescription, "jobsync"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "jobsync 0.1.0");

  std::vector<std::string> validate_paths;
  CLI::App* validate = app.add_subcommand(
      "validate",
      "Check manifests against the TrainingJob schema and the rules it cannot express.\n"
      "Prints every problem as path:line:column: message. Exit 0: all valid; 2: problems.");
  validate->add_option("paths", validate_paths, "Files or directories (*.yaml, *.yml, recursive)")
      ->required()
      ->type_name("PATH");

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
    err << "jobsync: " << e.what() << "\nRun 'jobsync --help' for usage.\n";
    return kExitError;
  }
  if (validate->parsed()) return RunValidate(validate_paths, out, err);
  return kExitError;
}

}  // namespace jobsync
