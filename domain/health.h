// Health of a job as a user sees it: what backends report and what status shows.
#ifndef JOBSYNC_DOMAIN_HEALTH_H_
#define JOBSYNC_DOMAIN_HEALTH_H_

namespace jobsync {

// Health of a job as a user sees it. kQueued: waiting in a Kueue queue for admission (Kueue
// holds it suspended).
enum class Health {
  kProgressing,
  kHealthy,
  kDegraded,
  kSucceeded,
  kFailed,
  kSuspended,
  kMissing,
  kQueued
};

// "Progressing", "Healthy", "Degraded", "Succeeded", "Failed", "Suspended", "Missing" or
// "Queued".
const char* HealthName(Health health);

}  // namespace jobsync

#endif  // JOBSYNC_DOMAIN_HEALTH_H_
