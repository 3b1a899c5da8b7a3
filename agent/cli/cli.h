// The `jobsync` command line: parses arguments and runs one command. Output goes to the given
// streams so tests can run commands in-process.
#ifndef JOBSYNC_AGENT_CLI_CLI_H_
#define JOBSYNC_AGENT_CLI_CLI_H_

#include <ostream>

namespace jobsync {

// Exit codes shared by every command (plan follows `kubectl diff`: 1 means "changes").
inline constexpr int kExitOk = 0;
inline constexpr int kExitChanges = 1;
inline constexpr int kExitError = 2;

// Runs `jobsync <command> ...`; returns the process exit code.
int RunCli(int argc, const char* const* argv, std::ostream& out, std::ostream& err);

}  // namespace jobsync

#endif  // JOBSYNC_AGENT_CLI_CLI_H_
