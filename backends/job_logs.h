// Reading a training job's logs where its replicas run (`jobsync logs`): the interface the
// command line reads through, so that it knows no cluster. One implementation per backend kind:
// the pods' container logs through the apiserver (backends/kubernetes/pod_logs.h), the driver's
// log through Ray's Jobs API (backends/ray/ray_logs.h); agent/cli/wiring.h builds the one a job
// needs.
#ifndef JOBSYNC_BACKENDS_JOB_LOGS_H_
#define JOBSYNC_BACKENDS_JOB_LOGS_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"
#include "schemas/model.h"

namespace jobsync {

// Which logs of a job, and how much of them.
struct LogQuery {
  std::string role;          // one role's replicas; empty: every role
  std::optional<int> index;  // one replica of the role (0-based); nullopt: every replica
  bool follow = false;       // keep reading until the replicas end (or the reader is stopped)
  std::optional<int64_t> tail_lines;  // the last N lines of each log; nullopt: all of it
};

// Receives each line of output, without its end. With several sources (pods) every line starts
// with its source, "[pod/NAME/CONTAINER] ", as `kubectl logs --prefix` writes it; with one, the
// lines are the log's own. Calls never overlap (a reader following several sources serialises
// them), and the lines of one source arrive in order.
using LogLineSink = std::function<void(std::string_view line)>;

// Reads the logs of jobs on one cluster. Implementations are thread-compatible and never put a
// credential in a message.
class JobLogReader {
 public:
  virtual ~JobLogReader() = default;

  // Hands the logs `query` selects of `job` (a manifest of this reader's backend) to `sink`, then
  // returns: without follow once every log was read, with follow once every source ended (a pod
  // finished, a Ray job reached a terminal state). Fails, before any line, with
  // kFailedPrecondition "job K has no pods yet" (or no Ray submission), kInvalidArgument naming
  // an unknown role (and the roles there are) or an index out of range (and the range), and as
  // the server does (its message, where, and what to do).
  virtual Status Read(const TrainingJob& job, const LogQuery& query, const LogLineSink& sink) = 0;
};

}  // namespace jobsync

#endif  // JOBSYNC_BACKENDS_JOB_LOGS_H_
