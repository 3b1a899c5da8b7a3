// What a backend reports about one job it found on a cluster: the live side of a diff.
#ifndef JOBSYNC_DOMAIN_LIVE_JOB_H_
#define JOBSYNC_DOMAIN_LIVE_JOB_H_

#include <map>
#include <memory>
#include <optional>
#include <string>

#include "schemas/model.h"

namespace jobsync {

// Label naming the jobsync instance (agent name) that owns a live object. A planner modifies
// and prunes only the live jobs whose label equals its own instance name.
inline constexpr const char* kInstanceLabel = "jobsync.dev/instance";

// What the cluster says a job is doing.
enum class LivePhase {
  kPending,    // accepted, not running yet
  kRunning,    // running
  kSucceeded,  // finished successfully
  kFailed,     // finished unsuccessfully (retries exhausted)
  kSuspended,  // suspended: Kubernetes spec.suspend, or a stopped Ray submission
  kUnknown,    // the backend could not tell; planned like a running job
  // Held suspended by Kueue until its queue admits it (the job has spec.queue and Git does not
  // suspend it): not drift; Kueue resumes it on admission. LiveJob::phase_message says why.
  kQueued,
};

// "Pending", "Running", "Succeeded", "Failed", "Suspended", "Unknown" or "Queued".
const char* LivePhaseName(LivePhase phase);

// True for kSucceeded and kFailed: the job has run to its end.
bool IsFinished(LivePhase phase);

// One job as a backend found it on a cluster. A plain value that the backend fills in and the
// planner only reads; copyable; no invariants beyond the field comments.
struct LiveJob {
  JobKey key;

  // The spec jobsync applied, read back from the object (a Kubernetes annotation, Ray job
  // metadata) with TrainingJobFromCanonical. Null when the object carries no readable applied
  // spec: the planner then cannot compare and recreates the job if Git still has it. Shared and
  // immutable: a backend parses each applied version once and hands the same spec to every
  // listing, so that copying a LiveJob (a listing, a plan step) never copies the spec.
  std::shared_ptr<const TrainingJob> applied;

  // Replica counts the cluster is configured to run, per role (a Kubernetes Job's parallelism),
  // which differ from `applied` when someone scaled the job by hand: that is drift, and the
  // planner scales it back. A role missing here is taken to run as applied (for backends that
  // cannot observe counts); entries for roles that `applied` lacks are ignored.
  std::map<std::string, int> replicas;

  LivePhase phase = LivePhase::kUnknown;
  // Why the job is in `phase`, when the cluster says (Kueue's reason for kQueued, e.g.
  // "couldn't assign flavors to pod set main: insufficient unused quota for cpu ..."); empty
  // otherwise.
  std::string phase_message;

  // The value of the kInstanceLabel label; empty when the object has none (not made by jobsync).
  std::string instance;

  // True when the live object carries kPruneAnnotation set to "false" (put there by a person or
  // copied from the manifest). The planner never deletes such a job.
  bool prune_protected = false;

  // The manifest file the job was applied from, spelt as the loader spells paths, and the Git
  // revision it was applied at. Empty when unknown.
  std::string source_path;
  std::string revision;
};

}  // namespace jobsync

#endif  // JOBSYNC_DOMAIN_LIVE_JOB_H_
