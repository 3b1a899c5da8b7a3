// The agent's logs, through spdlog, on stderr: human-readable lines by default, JSON lines with
// --log-format json (one object per line: time, level, msg, and the event's fields).
//
// Every line passes through ScrubSecrets (common/secrets.h) with the secrets registered here
// (webhook secret, tokens read from files), so a secret that slipped into a message never reaches
// the log.
#ifndef JOBSYNC_COMMON_LOGGING_H_
#define JOBSYNC_COMMON_LOGGING_H_

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <spdlog/spdlog.h>

#include "common/status.h"

namespace jobsync {

enum class LogFormat { kText, kJson };

// Installs the default logger. `level` is trace, debug, info, warn or error. Fails with
// kInvalidArgument on an unknown format or level.
Status SetUpLogging(std::string_view format, std::string_view level);

// Adds a value that must never be logged (ignored when shorter than 4 characters, which would
// scrub ordinary words). Thread-safe.
void RegisterSecret(std::string value);

// Field name -> value of one log event.
using LogFields = std::vector<std::pair<std::string, std::string>>;

// Logs `message` with `fields`: as `message key=value ...` in text, as JSON keys in json.
void LogEvent(spdlog::level::level_enum level, std::string_view message, const LogFields& fields);

}  // namespace jobsync

#endif  // JOBSYNC_COMMON_LOGGING_H_
