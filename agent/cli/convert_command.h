// `jobsync convert FILE...`: prints the TrainingJob manifests that a repository's DLRover
// ElasticJob documents stand for (schemas/elasticjob.h), for teams moving to the native format.
#ifndef JOBSYNC_AGENT_CLI_CONVERT_COMMAND_H_
#define JOBSYNC_AGENT_CLI_CONVERT_COMMAND_H_

#include <ostream>
#include <string>
#include <vector>

namespace CLI {
class App;
}  // namespace CLI

namespace jobsync {

// Registers `convert` on `app`, its FILE arguments read into `paths`; returns the subcommand.
CLI::App* AddConvertCommand(CLI::App& app, std::vector<std::string>& paths);

// Loads `paths` (files) as `validate` does. When every document is valid, writes every document
// of every file, in order, to `out` as YAML ("---" between documents): an ElasticJob as the
// TrainingJob it is read as (each preceded by a comment naming where it came from), a TrainingJob
// as it is; loading that output gives the same jobs, spec for spec. Problems and warnings go to
// `err`. Returns 0 (converted; warnings allowed) or 2 (problems: nothing is written to `out`).
int RunConvert(const std::vector<std::string>& paths, std::ostream& out, std::ostream& err);

}  // namespace jobsync

#endif  // JOBSYNC_AGENT_CLI_CONVERT_COMMAND_H_
