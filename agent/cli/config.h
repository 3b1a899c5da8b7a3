// The agent's configuration file: a YAML mapping whose keys are the long names of `jobsync run`'s
// flags without the dashes, e.g.
//
//   repo: https://git.example.com/ml/jobs.git
//   branch: main
//   interval: 1m
//   prune: true
//   listen: 0.0.0.0:8080
//
// A flag given on the command line wins over the file. Errors are located like manifest errors:
// "agent.yaml:3:11: interval: ... (hint: ...)", and an unknown key gets a did-you-mean hint.
#ifndef JOBSYNC_AGENT_CLI_CONFIG_H_
#define JOBSYNC_AGENT_CLI_CONFIG_H_

#include <chrono>
#include <string>
#include <string_view>

#include "common/status.h"

namespace CLI {
class App;
}  // namespace CLI

namespace jobsync {

// Reads the file at `path` and sets every option of `command` that the command line left unset
// and the file names, running the option's own checks. Keys "help" and "config" are refused.
// Fails with kInvalidArgument ("path:line:column: message") or kNotFound (no such file).
Status ApplyConfigFile(const std::string& path, CLI::App& command);

// Same, from `text` as if read from `path` (for tests).
Status ApplyConfigText(std::string_view text, const std::string& path, CLI::App& command);

// Parses a duration: a sequence of decimal numbers with units ms, s, m, h ("30s", "1m30s",
// "500ms"), or a bare number of seconds. kInvalidArgument with the accepted forms otherwise.
StatusOr<std::chrono::milliseconds> ParseDuration(std::string_view text);

}  // namespace jobsync

#endif  // JOBSYNC_AGENT_CLI_CONFIG_H_
