// The orchestration abstraction: what the agent needs from a cluster, whatever runs the jobs.
// One implementation per backend kind (backends/kubernetes/, backends/ray/); the executor and the
// planner see only this interface, and unit tests use a fake of it.
#ifndef JOBSYNC_BACKENDS_BACKEND_H_
#define JOBSYNC_BACKENDS_BACKEND_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "domain/health.h"
#include "domain/live_job.h"
#include "domain/plan_step.h"
#include "schemas/model.h"

namespace jobsync {

// Label every object jobsync creates carries, whatever the instance.
inline constexpr const char* kManagedByLabel = "app.kubernetes.io/managed-by";
inline constexpr const char* kManagedByValue = "jobsync";
// Label naming the training job an object belongs to, and the role.
inline constexpr const char* kJobLabel = "jobsync.dev/job";
inline constexpr const char* kRoleLabel = "jobsync.dev/role";
// Annotations carrying the applied spec (canonical JSON), its hash, the manifest path and the
// Git commit it came from, so a live object can be traced back to a commit and its author
// (kSpecAnnotation, the applied spec, is in schemas/model.h: the loader counts it too).
inline constexpr const char* kSpecHashAnnotation = "jobsync.dev/spec-hash";
inline constexpr const char* kSourcePathAnnotation = "jobsync.dev/source-path";
inline constexpr const char* kRevisionAnnotation = "jobsync.dev/revision";

// What an apply needs besides the step: who applies, and from which commit.
struct ApplyContext {
  std::string instance;  // this agent's name: the jobsync.dev/instance label
  std::string revision;  // the Git commit the desired specs were read at
  // Called by a step that waits on the cluster (a recreate waiting for the old objects to go, a
  // stop waiting for the job to end) each time the cluster answered a poll: the agent's deadline
  // for the step counts from the last answer, so a long wait on a cluster that answers is not a
  // cluster that hangs. May be empty.
  std::function<void()> answered = nullptr;

  void Answered() const {
    if (answered) answered();
  }
};

// A cluster that runs training jobs. Implementations are thread-compatible: one caller at a time
// unless the implementation's header says otherwise.
class Backend {
 public:
  virtual ~Backend() = default;

  // Which jobs this backend runs (a PlanStep's key.backend says which backend applies it).
  virtual BackendKind kind() const = 0;

  // Which of the agent's clusters it reaches (a PlanStep's key.cluster); empty: the default one.
  // The keys of the jobs ListJobs returns carry it. Backends themselves know no cluster names:
  // the agent wraps the backend of a named cluster (agent/sync/clusters.h, OnCluster).
  virtual std::string cluster() const { return {}; }

  // Returns every job on the cluster that carries jobsync's managed-by mark, of every instance
  // (the planner must see other instances' jobs to report conflicts). Fails, and never returns
  // an empty list instead, when the cluster cannot be read.
  virtual StatusOr<std::vector<LiveJob>> ListJobs() = 0;

  // Carries out one step: create, scale, patch, update (recreate) or delete; kNone does nothing.
  // A patch changes only what the step's changes list (the job's annotations) and the applied
  // spec the backend records for the job, and never restarts or stops anything that runs; a
  // scale whose changes include annotations applies them too. Idempotent: re-running a step after a
  // crash part-way through finishes it and duplicates nothing. Fails with the server's message and
  // the job's key when the cluster refuses.
  virtual Status Apply(const PlanStep& step, const ApplyContext& context) = 0;

  // The job's health now; kMissing when the cluster has no such job.
  virtual StatusOr<Health> GetHealth(const JobKey& key) = 0;

  // True when Apply and GetHealth may be called from several threads at once (the executor then
  // runs independent steps side by side).
  virtual bool concurrent() const { return false; }

  // A number that changes whenever what ListJobs would return may have changed (a watch cache's
  // generation), so a caller that saw the same number before may skip listing and planning; or
  // nullopt when the backend cannot tell (it must then be listed every time). Cheap: no more than
  // one listing request (a backend without a watch digests a listing).
  virtual std::optional<uint64_t> LiveVersion() { return std::nullopt; }

  // Asks the cluster itself something cheap (never a cache): ok when it answered, whatever the
  // answer; Unavailable or DeadlineExceeded when it did not. The agent asks this of a cluster
  // that stopped answering, in the background, to learn when it is back. Default: ListJobs.
  virtual Status Ping() { return ListJobs().status(); }

  // Records, where the cluster's users look, that jobsync acted on the job (`reason` is one
  // CamelCase word such as "Scaled"; `message` one line). Kubernetes posts Events on the job's
  // objects; backends without such a place do nothing. Best effort: the caller logs a failure.
  // This is the agent's event recorder. It stays on Backend rather than being an interface of
  // its own: the backend that applied a step is the one that knows where its users look (on
  // Kubernetes, the Job's uid from its watch cache), and steps already go to backends by kind.
  virtual Status RecordEvent(const PlanStep& step, const ApplyContext& context,
                             const std::string& reason, const std::string& message, bool warning) {
    (void)step, (void)context, (void)reason, (void)message, (void)warning;
    return OkStatus();
  }
};

// Where `backend` applies jobs: its kind on its cluster.
inline Target TargetOf(const Backend& backend) { return {backend.kind(), backend.cluster()}; }

}  // namespace jobsync

#endif  // JOBSYNC_BACKENDS_BACKEND_H_
