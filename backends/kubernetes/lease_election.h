// Leader election (backends/leader_election.h) over a coordination.k8s.io/v1 Lease, so several
// agent replicas can run and only one writes to the clusters.
//
// Semantics (those of client-go's leaderelection, re-implemented here):
//   - A candidate acquires the Lease when it does not exist (create), when it holds it already,
//     when holderIdentity is empty (released), or when the record has not changed for
//     lease_duration as observed on this candidate's own monotonic clock (so clock skew between
//     machines does not matter). Acquiring sets holderIdentity, acquireTime, renewTime,
//     leaseDurationSeconds and increments leaseTransitions when the holder changes.
//   - Every write is guarded by the Lease's resourceVersion: of two candidates racing, one gets
//     409 Conflict and stays a follower.
//   - The leader renews every retry_period. It considers itself leader only until renew_deadline
//     (< lease_duration) after its last successful renewal: if it cannot renew by then it steps
//     down before any follower may take over, so two leaders never write at once.
//   - Release (graceful shutdown) writes holderIdentity "" and leaseDurationSeconds 1, so a
//     follower takes over at its next retry instead of waiting out the lease.
//   - Shards (agent/cli/shard_units.h) add two kinds of candidate. A Lease's preferred candidate
//     (Candidacy::kPreferred), finding it held by another, claims it: writes its identity in the
//     Lease's kClaimAnnotation (the spec untouched, so the holder's lease does not end). A stand-in
//     (kStandIn) never creates the Lease; while it holds it and another identity claims it, it
//     steps down and releases it at its next renewal; and it does not acquire a released Lease
//     claimed by another until the record has stood unchanged for lease_duration (the claimant
//     then acquires it first, or is gone). The preferred candidate removes the claim when it
//     acquires.
#ifndef JOBSYNC_BACKENDS_KUBERNETES_LEASE_ELECTION_H_
#define JOBSYNC_BACKENDS_KUBERNETES_LEASE_ELECTION_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "backends/kubernetes/client.h"
#include "backends/leader_election.h"
#include "common/status.h"

namespace jobsync {

// Now as a Lease's MicroTime: RFC 3339 in UTC with microseconds, "2026-11-22T18:00:00.000000Z".
std::string MicroTimeNow();

// The annotation by which a Lease's preferred candidate claims it from a stand-in (see above).
inline constexpr const char* kClaimAnnotation = "jobsync.dev/claimed-by";

struct LeaderElectionOptions {
  std::string namespace_name;  // where the Lease lives
  std::string lease_name;      // e.g. "jobsync-<instance>"
  std::string identity;        // this replica, e.g. "<hostname>_<pid>"; must be unique
  std::chrono::milliseconds lease_duration{15000};
  std::chrono::milliseconds renew_deadline{10000};
  std::chrono::milliseconds retry_period{2000};
  Candidacy candidacy = Candidacy::kPlain;
};

// Runs the acquire/renew loop on a background thread. Thread-safe.
class LeaseElector final : public LeaderElector {
 public:
  // `client` must outlive the elector. `on_change` as LeaderElector says: true on becoming
  // leader, false on losing or releasing leadership.
  LeaseElector(KubernetesClient& client, LeaderElectionOptions options,
               std::function<void(bool)> on_change);
  // Stops (releasing the Lease if held).
  ~LeaseElector() override;
  LeaseElector(const LeaseElector&) = delete;
  LeaseElector& operator=(const LeaseElector&) = delete;

  // LeaderElector:
  // Checks the options (kInvalidArgument: empty names, retry_period <= 0, renew_deadline <=
  // retry_period, lease_duration <= renew_deadline) and starts the loop. kFailedPrecondition when
  // started or stopped before.
  Status Start() override;
  // Stops the loop and, when leader, releases the Lease. Idempotent.
  void Stop() override;
  // True while this replica holds the Lease and renewed it within renew_deadline. Turns false at
  // the deadline even while a request to the apiserver hangs, before on_change(false) can run.
  bool is_leader() const override;
  // The holder last seen in the Lease ("" when none or never read).
  std::string holder() const override;
  // The last error of reading or writing the Lease (ok when the last attempt succeeded).
  Status last_error() const override;

 private:
  void Loop();
  // One attempt to acquire or renew; true when this replica holds the Lease afterwards. Sets
  // yield_ when a stand-in holder found the Lease claimed.
  bool TryAcquireOrRenew();
  struct Attempt;
  // Decides what to write over `lease` as read (acquire, renew, claim; or an error: keep it).
  Status Judge(nlohmann::json& lease, Attempt& attempt) const;
  // Creates the Lease held by this candidate.
  StatusOr<nlohmann::json> CreateLease();
  void SetLeader(bool leader);
  // When leader, steps down (on_change(false)) and then writes the released record (see above);
  // the loop's last act.
  void Release();

  KubernetesClient& client_;
  const LeaderElectionOptions options_;
  const std::function<void(bool)> on_change_;

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  bool leader_ = false;
  std::chrono::steady_clock::time_point last_renewal_;
  std::string holder_;
  Status last_error_;
  // What this candidate last saw of the Lease, to tell when it changed.
  std::string observed_record_;
  std::chrono::steady_clock::time_point observed_time_;
  bool yield_ = false;  // owned by the loop's thread
  std::thread thread_;
};

}  // namespace jobsync

#endif  // JOBSYNC_BACKENDS_KUBERNETES_LEASE_ELECTION_H_
