// Live-change notifications: a backend that watches its cluster tells the agent when a job
// changed, so drift is healed at once rather than at the next poll. The Kubernetes backend is
// one (its watch cache, backends/kubernetes/kubernetes_backend.h); a backend without a watch is
// not, and the agent then relies on polling alone.
#ifndef JOBSYNC_BACKENDS_LIVE_CHANGES_H_
#define JOBSYNC_BACKENDS_LIVE_CHANGES_H_

#include <functional>

namespace jobsync {

// Thread-safe.
class LiveChangeSource {
 public:
  virtual ~LiveChangeSource() = default;

  // Calls `listener` (on the source's own thread) after each change of the live jobs it sees.
  // Replaces any previous listener; null removes it. Once this returns, the previous listener is
  // not running and will not be called again, so its captures may go.
  virtual void SetChangeListener(std::function<void()> listener) = 0;
};

}  // namespace jobsync

#endif  // JOBSYNC_BACKENDS_LIVE_CHANGES_H_
