#include "agent/cli/convert_command.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include <CLI/CLI.hpp>

#include "agent/cli/cli.h"
#include "schemas/elasticjob.h"
#include "schemas/loader.h"
#include "schemas/schema_validator.h"
#include "schemas/yaml_json.h"
#include "schemas/yaml_reader.h"

namespace jobsync {

CLI::App* AddConvertCommand(CLI::App& app, std::vector<std::string>& paths) {
  CLI::App* convert = app.add_subcommand(
      "convert",
      "Print the TrainingJob manifests equivalent to DLRover ElasticJob documents, as YAML\n"
      "(TrainingJob documents are printed as they are), for moving to the native format:\n"
      "loading the output gives the same jobs and spec hashes, so nothing is recreated.\n"
      "Fields jobsync does not honour are warnings on stderr (path:line:column: warning: ...).\n"
      "Exit 0: converted; 2: problems (printed as validate prints them; nothing converted).");
  convert->add_option("files", paths, "Manifest files holding ElasticJob documents")
      ->required()
      ->type_name("FILE");
  return convert;
}

int RunConvert(const std::vector<std::string>& paths, std::ostream& out, std::ostream& err) {
  for (const std::string& path : paths) {
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec)) {
      err << path << ": is a directory; convert takes files (hint: jobsync convert " << path
          << "/*.yaml)\n";
      return kExitError;
    }
  }
  SchemaValidator validator;
  const LoadResult result = LoadManifestPaths(paths, validator);
  for (const Diagnostic& d : result.diagnostics) err << d.ToString() << "\n";
  for (const Diagnostic& d : result.warnings) err << d.ToString() << "\n";
  if (!result.ok()) {
    err << result.diagnostics.size() << " problem" << (result.diagnostics.size() == 1 ? "" : "s")
        << ": nothing converted\n";
    return kExitError;
  }
  bool first = true;
  for (const std::string& path : paths) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    // The files loaded without a problem just now, so they read again the same way.
    const YamlFile yaml = ReadYaml(text.str());
    for (const YamlNodePtr& document : yaml.documents) {
      if (!first) out << "---\n";
      first = false;
      if (IsElasticJobDocument(*document)) {
        out << "# jobsync convert: the ElasticJob at " << path << ":" << document->line << ":"
            << document->column << "\n";
        out << JsonToYaml(YamlToJson(*TranslateElasticJob(*document, path).training_job));
      } else {
        out << JsonToYaml(YamlToJson(*document));
      }
    }
  }
  return kExitOk;
}

}  // namespace jobsync
