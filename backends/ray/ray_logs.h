// A training job's log on Ray: the driver's output of its live submission, read through the Jobs
// API (`GET /api/jobs/{submission_id}/logs`). A Ray job has one log, whatever its roles: the
// replicas are Ray workers whose output Ray forwards to the driver's log.
//
// The submission read is the job's newest generation that is a run (ray_mapping.h: suspend
// markers and spec records are not), by any instance. Following polls the log and the
// submission's status every poll interval and prints what was appended, until the status is
// terminal (the log is then complete); Ray's streaming alternative, /api/jobs/{id}/logs/tail, is a
// WebSocket, which the HTTP client does not speak. Ray cannot tail on its side: --tail is applied
// to the whole log once read.
#ifndef JOBSYNC_BACKENDS_RAY_RAY_LOGS_H_
#define JOBSYNC_BACKENDS_RAY_RAY_LOGS_H_

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "backends/job_logs.h"
#include "backends/ray/ray_backend.h"

namespace jobsync {

// The lines of `text` (a final line without its end counts; no empty line after a final end),
// the last `tail` of them when given. Pure.
std::vector<std::string_view> LogLines(std::string_view text, std::optional<int64_t> tail);

// What a followed log adds at each poll. Fed the whole log so far each time, it returns the
// complete lines not returned before; a final line without its end is held back until it ends,
// or until Finish. A log that became shorter (Ray rotated or lost it) starts over. Not
// thread-safe.
class LogFollower {
 public:
  explicit LogFollower(std::optional<int64_t> tail) : tail_(tail) {}

  // The new complete lines of `log`; the first call's are cut to the last `tail`.
  std::vector<std::string> Feed(const std::string& log);
  // The line held back, if any: the log is complete.
  std::optional<std::string> Finish();

 private:
  std::optional<int64_t> tail_;  // applies to the first Feed only
  bool fed_ = false;
  size_t emitted_ = 0;  // bytes of the log handed out, whole lines
  std::string pending_;
};

// JobLogReader over one Ray dashboard. Thread-compatible.
class RayJobLogs : public JobLogReader {
 public:
  // Reads through `ray`; follows by polling every `poll_interval`, waiting with `sleep`.
  RayJobLogs(std::unique_ptr<RayBackend> ray, std::chrono::milliseconds poll_interval,
             Sleeper sleep);

  // JobLogReader. --role and --index (query.role, query.index) are refused with
  // kInvalidArgument: the job has one log. No run submission: kFailedPrecondition "job K has no
  // Ray submission yet" (or ", it is suspended" when its newest generation is a suspend marker).
  Status Read(const TrainingJob& job, const LogQuery& query, const LogLineSink& sink) override;

 private:
  // The submission id to read (see the top of this file).
  StatusOr<std::string> LiveSubmission(const TrainingJob& job);

  const std::unique_ptr<RayBackend> ray_;
  const std::chrono::milliseconds poll_interval_;
  const Sleeper sleep_;
};

}  // namespace jobsync

#endif  // JOBSYNC_BACKENDS_RAY_RAY_LOGS_H_
