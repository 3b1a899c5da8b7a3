// Waking the leader when a webhook reaches a standby replica. Under leader election every
// replica serves the webhooks, but only the leader writes: a standby that accepts a push asks
// the leader to sync at once instead of dropping it. The Kubernetes implementation records the
// request in the election's Lease, which every replica watches
// (backends/kubernetes/lease_wake_relay.h).
#ifndef JOBSYNC_BACKENDS_WAKE_RELAY_H_
#define JOBSYNC_BACKENDS_WAKE_RELAY_H_

#include "common/status.h"

namespace jobsync {

// Both ends of the relay: RequestWake sends, and the implementation is given, when it is made, a
// callback on_wake(request) that it calls on its own thread for each request made after Start()
// (not for one found already there), whichever replica made it. The callback decides whether
// this replica acts on it (the leader does). Thread-safe.
class WakeRelay {
 public:
  virtual ~WakeRelay() = default;

  // Starts listening for requests. Returns once listening, or after a short bounded wait when
  // the server does not answer (listening then goes on retrying in the background). Fails with
  // kFailedPrecondition when started or stopped before.
  virtual Status Start() = 0;
  // Stops listening; on_wake is not called afterwards. Idempotent; also done by the destructor.
  virtual void Stop() = 0;

  // Asks the leader to sync now. Fails with the server's error (kNotFound when there is no
  // election record yet: no leader to wake); the caller then tells the webhook's sender to
  // redeliver.
  virtual Status RequestWake() = 0;
};

}  // namespace jobsync

#endif  // JOBSYNC_BACKENDS_WAKE_RELAY_H_
