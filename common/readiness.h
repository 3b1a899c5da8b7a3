// Whether a part of the agent can serve, and if not, why: what /readyz answers.
#ifndef JOBSYNC_COMMON_READINESS_H_
#define JOBSYNC_COMMON_READINESS_H_

#include <string>

namespace jobsync {

// Whether the agent is ready, and if not, why (one line).
struct Readiness {
  bool ready = false;
  std::string reason;
};

}  // namespace jobsync

#endif  // JOBSYNC_COMMON_READINESS_H_
