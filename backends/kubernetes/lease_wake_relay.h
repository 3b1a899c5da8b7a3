// The wake relay (backends/wake_relay.h) over the election's Lease: wakes the leader when a
// webhook reaches a standby replica.
//
// Under leader election every replica serves the webhooks (a Service balances over them all),
// but only the leader writes. A standby that accepts a push does not drop it: it records the
// wake in the election's own Lease, as the annotation
//   jobsync.dev/wake-requested: "<RFC 3339 time with microseconds> <standby identity>"
// and every replica watches that Lease. The leader sees the annotation change within
// milliseconds (a watch, not a poll) and starts a cycle at once.
//
// Why the Lease rather than forwarding the request to the leader's address: the replicas need
// nothing but the apiserver they already use (no pod-to-pod network path, no address to
// advertise, no second authentication), and a wake recorded during a leader change is not lost:
// the new leader syncs on taking over anyway. The annotation sits outside the Lease's spec, which
// is all the election compares, so writing it never looks like a renewal; the write is guarded
// by resourceVersion like the election's own (a conflict with a renewal is re-read and retried).
//
// Needs RBAC verbs get, update and watch on the Lease. Thread-safe.
#ifndef JOBSYNC_BACKENDS_KUBERNETES_LEASE_WAKE_RELAY_H_
#define JOBSYNC_BACKENDS_KUBERNETES_LEASE_WAKE_RELAY_H_

#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "backends/http_client.h"
#include "backends/kubernetes/client.h"
#include "backends/wake_relay.h"
#include "common/status.h"

namespace jobsync {

inline constexpr const char* kWakeAnnotation = "jobsync.dev/wake-requested";

class LeaseWakeRelay final : public WakeRelay {
 public:
  // `client` must outlive the relay. `on_wake(value)` is called on the relay's thread with the
  // annotation's new value each time another change of it is seen after Start() (not for the
  // value found at start); the caller decides whether this replica acts on it (the leader does).
  LeaseWakeRelay(KubernetesClient& client, std::string namespace_name, std::string lease_name,
                 std::string identity, std::function<void(const std::string&)> on_wake);
  // Stops.
  ~LeaseWakeRelay() override;
  LeaseWakeRelay(const LeaseWakeRelay&) = delete;
  LeaseWakeRelay& operator=(const LeaseWakeRelay&) = delete;

  // WakeRelay:
  // Starts watching the Lease (which may not exist yet: the election creates it). Returns once
  // the watch has read the Lease's current value, or after about two seconds when the apiserver
  // does not answer (the thread keeps trying, once a second).
  Status Start() override;
  // Ends the watch and joins the thread. Idempotent.
  void Stop() override;

  // Records a wake request in the Lease (see above). Fails with the apiserver's error (kNotFound
  // when no Lease exists yet: no leader to wake).
  Status RequestWake() override;

 private:
  void Loop();
  // Compares the annotation of `lease` with the last seen; calls on_wake when it changed.
  void Observe(const nlohmann::json& lease);

  KubernetesClient& client_;
  const std::string namespace_name_;
  const std::string lease_name_;
  const std::string identity_;
  const std::function<void(const std::string&)> on_wake_;

  std::mutex mutex_;
  std::condition_variable changed_;
  bool stopping_ = false;
  bool primed_ = false;  // the first value was read
  std::string last_;
  HttpCancellation cancel_;
  std::thread thread_;
};

}  // namespace jobsync

#endif  // JOBSYNC_BACKENDS_KUBERNETES_LEASE_WAKE_RELAY_H_
