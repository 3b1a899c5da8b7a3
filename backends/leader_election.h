// Leader election among the replicas of one agent instance: several replicas may run, and only
// the leader writes to the clusters. The Kubernetes implementation elects through a
// coordination.k8s.io Lease (backends/kubernetes/lease_election.h).
#ifndef JOBSYNC_BACKENDS_LEADER_ELECTION_H_
#define JOBSYNC_BACKENDS_LEADER_ELECTION_H_

#include <string>

#include "common/status.h"

namespace jobsync {

// How a replica campaigns (see backends/kubernetes/lease_election.h for the rules).
enum class Candidacy {
  kPlain,      // every candidate alike (one agent, several replicas)
  kPreferred,  // the shard's own replica
  kStandIn,    // another replica, taking over the shard while its own replica is gone
};

// One replica's candidacy. The implementation is given, when it is made, a callback
// on_change(bool leader): called with true on becoming leader and with false on losing or
// releasing leadership, on the elector's own thread and without its lock held (the callback may
// call is_leader(), holder() and Stop()). Thread-safe.
class LeaderElector {
 public:
  virtual ~LeaderElector() = default;

  // Checks the settings and starts campaigning on a background thread. Fails with
  // kInvalidArgument for settings that cannot work (saying which and why), and with
  // kFailedPrecondition when started or stopped before: an elector runs at most once.
  virtual Status Start() = 0;
  // Stops campaigning and, when leader, steps down (on_change(false)) and then gives up the
  // leadership so that another replica may take over at once. Idempotent; also done by the
  // destructor.
  virtual void Stop() = 0;
  // True while this replica leads. Turns false on its own when the leadership could not be
  // renewed in time, even before on_change(false) runs: a caller asks before each write.
  virtual bool is_leader() const = 0;
  // The leader last seen ("" when none, or not read yet), for the status page.
  virtual std::string holder() const = 0;
  // The last error of reading or writing the election's record (ok when the last attempt
  // succeeded, or lost to a valid leader).
  virtual Status last_error() const = 0;
};

}  // namespace jobsync

#endif  // JOBSYNC_BACKENDS_LEADER_ELECTION_H_
