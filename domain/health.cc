#include "domain/health.h"

namespace jobsync {

const char* HealthName(Health health) {
  switch (health) {
    case Health::kProgressing:
      return "Progressing";
    case Health::kHealthy:
      return "Healthy";
    case Health::kDegraded:
      return "Degraded";
    case Health::kSucceeded:
      return "Succeeded";
    case Health::kFailed:
      return "Failed";
    case Health::kSuspended:
      return "Suspended";
    case Health::kMissing:
      return "Missing";
    case Health::kQueued:
      return "Queued";
  }
  return "Missing";
}

}  // namespace jobsync
