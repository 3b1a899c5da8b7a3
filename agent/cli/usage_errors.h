// The messages for command lines CLI11 refuses, in the user's words.
//
// CLI11 reports the first rule it checks that fails, in its own terms: "A subcommand is
// required" for a mistyped command, "--repo is required" before the job `history` was not given,
// and always points at `jobsync --help`. DescribeUsageError looks at the command line again and
// says, in this order, the first of:
//   - no command, or an unknown one, with the nearest command within two edits (or the one it is
//     a prefix of): "unknown command valdate; did you mean validate?";
//   - each flag the command does not have, with its nearest flag: "unknown flag --allow-backed
//     for plan; did you mean --allow-backend?";
//   - a positional argument left out, named as it is written: "history needs a job:
//     NAMESPACE/NAME";
//   - else CLI11's own message.
// and ends with where the usage is: `jobsync COMMAND --help` once a command is named, else
// `jobsync --help`.
#ifndef JOBSYNC_AGENT_CLI_USAGE_ERRORS_H_
#define JOBSYNC_AGENT_CLI_USAGE_ERRORS_H_

#include <string>
#include <vector>

namespace CLI {
class App;
class ParseError;
}  // namespace CLI

namespace jobsync {

// The known name nearest to `typed`: within two edits and fewer edits than `typed` has
// characters (so "x" suggests nothing), ties to the first in `known`; else the one known name
// `typed` (three characters or more) is a prefix of; else "".
std::string NearestName(const std::string& typed, const std::vector<std::string>& known);

// The message for `error`, thrown by `app.parse(argc, argv)`: lines ending in "\n", the last
// "Run 'jobsync [COMMAND] --help' for usage.". `app` must be the one that parsed (its options
// hold what was parsed before the error).
std::string DescribeUsageError(const CLI::App& app, const CLI::ParseError& error, int argc,
                               const char* const* argv);

}  // namespace jobsync

#endif  // JOBSYNC_AGENT_CLI_USAGE_ERRORS_H_
