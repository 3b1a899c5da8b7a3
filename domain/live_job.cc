#include "domain/live_job.h"

namespace jobsync {

const char* LivePhaseName(LivePhase phase) {
  switch (phase) {
    case LivePhase::kPending:
      return "Pending";
    case LivePhase::kRunning:
      return "Running";
    case LivePhase::kSucceeded:
      return "Succeeded";
    case LivePhase::kFailed:
      return "Failed";
    case LivePhase::kSuspended:
      return "Suspended";
    case LivePhase::kUnknown:
      return "Unknown";
    case LivePhase::kQueued:
      return "Queued";
  }
  return "Unknown";
}

bool IsFinished(LivePhase phase) {
  return phase == LivePhase::kSucceeded || phase == LivePhase::kFailed;
}

}  // namespace jobsync
