// The reconcile loop of `jobsync run`: keeps the clusters equal to a Git branch.
//
// One cycle (SyncOnce) runs these stages in order (each a private method):
//   1. Fetch: ls-remote the followed ref. Only when it moved: fetch and load the manifests (parses
//      are cached by blob id). When Git cannot be reached, the cycle goes on with the last
//      snapshot loaded (drift is still healed) and reports the Git error; before any snapshot
//      exists it stops there: a failed fetch never looks like an empty repository. A cycle woken
//      only by a live change within an interval of the last look goes by that look.
//      The cycle also stops (quietly) when the commit, every backend's LiveVersion and this
//      replica's role equal those of the last cycle that found nothing to do.
//   2. Read live: ListJobs of every backend (Kubernetes reads its watch cache: no request), each
//      on its own lane (lanes.h) and within --backend-timeout: a backend that does not answer in
//      time, or is still busy with an earlier call, is unavailable for the cycle (its jobs are
//      held, nothing of it is deleted) while the others proceed. The quiet check's LiveVersion
//      calls run on the lanes too. A replica that just became the writer (leader) first loads
//      the state the previous leader saved.
//   3. Plan: PlanSync (diff/plan.h), the same planner `jobsync plan` and `jobsync apply` use,
//      over the commit's manifests, the live jobs, the backends that could not be read, and the
//      inventory (state_store.h), with the drift policy: so unavailable backends, finished jobs
//      that disappeared, drift (heal, warn, off) and the mass-delete guard (which holds back the
//      deletes only) are decided there. The agent logs and counts the steps the plan marks as
//      drift (jobsync_drift_detected_total) and the deletes it holds (jobsync_deletes_held).
//   4. Apply, when this replica may write (leader, or no election): the last attempted revision
//      is saved first; each backend's steps run on its lane, side by side with the others'. The
//      cycle stops waiting for a lane that finishes no step within --backend-timeout, or is not
//      done when --sync-timeout has passed since the cycle began: that backend is reported
//      unavailable, its remaining steps are skipped (the step in flight returns on its own) and
//      the next cycle plans them again. Each executor asks between steps whether to stop: the
//      agent shuts down, or the followed ref moved (checked at most once per interval, or at
//      once after a webhook), in which case the rest of the plan is dropped and the next cycle
//      starts at the new commit. A Kubernetes Event records each action on its Job.
//   5. Record inventory (inventory_update.h) and, when every job is in sync, the last applied
//      revision; saved when this replica writes.
//   6. Derive status: DeriveJobStatuses (job_status.h), a pure function of the plan and the
//      outcomes; the metrics of jobs by sync state and health.
//   7. Publish the status and the plan's steps that act or report a problem; then the notifier
//      (when configured) hears the outcome; it queues, never blocks the cycle.
// A cycle that got past the quiet check logs how long each stage took ("sync cycle": git_check,
// git_fetch, git_load, git_log, versions, list, plan, apply, record, status, publish, in ms) and
// observes them in jobsync_sync_stage_duration_seconds{stage}.
//
// Run() repeats cycles every interval (with jitter), at once on Trigger() (webhook), until Stop().
// A restarted agent loads its state and carries on: the labels on live objects say what it owns,
// the inventory what it applied, and the plan of a job that is in sync is empty.
#ifndef JOBSYNC_AGENT_SYNC_RECONCILER_H_
#define JOBSYNC_AGENT_SYNC_RECONCILER_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "agent/git/git_source.h"
#include "agent/sync/clusters.h"
#include "agent/sync/executor.h"
#include "agent/sync/job_status.h"
#include "agent/sync/lanes.h"
#include "agent/sync/notifier.h"
#include "agent/sync/state_store.h"
#include "backends/backend.h"
#include "common/metrics.h"
#include "common/readiness.h"
#include "diff/plan.h"
#include "diff/shards.h"
#include "schemas/shared_specs.h"

namespace jobsync {

struct ReconcilerOptions {
  // How plans are made, the drift policy included (PlanOptions::drift).
  PlanOptions plan;
  // The name the default cluster is shown by (status, metrics' cluster label): its name in the
  // clusters file, else "default".
  std::string default_cluster = "default";
  std::chrono::milliseconds interval{30000};
  double jitter = 0.1;  // each wait is interval * (1 +/- jitter)
  // After a live change, how long further watch events may gather into the same cycle; a
  // webhook or Stop() ends the wait at once.
  std::chrono::milliseconds settle{500};
  // Dependency waits and the like; on_step and interrupted are set by the reconciler.
  ExecutorOptions executor;
  // False while this replica must not write (a standby under leader election): it still plans
  // and reports. Empty: always true.
  std::function<bool()> may_write;
  // Told the outcome of each cycle that planned, when this replica writes and Git could be read
  // (notifier.h); must outlive the reconciler. Null: no notifications.
  SyncNotifier* notifier = nullptr;
  // Offered each snapshot's jobs once loaded (schemas/shared_specs.h), so that the backends'
  // applied specs equal to them are those objects. Null: nothing is offered.
  std::shared_ptr<SharedSpecs> shared_specs;
  // How long a backend may take to answer a listing, or to finish its next step while applying,
  // before the cycle stops waiting for it and reports it unavailable (--backend-timeout).
  std::chrono::milliseconds backend_timeout{30000};
  // How long the apply stage of one cycle may last; steps not finished by then are planned again
  // by the next cycle (--sync-timeout).
  std::chrono::milliseconds sync_timeout{600000};
  // What the status shows about the source.
  std::string branch;
  std::string path;
  // Sharding (diff/shards.h): plan and apply only the jobs of this shard, handing jobs that move
  // between shards over through the shards' inventories, which `other_shards` reads (every other
  // shard's state store; a failure fails the cycle's plan, so nothing moving is applied blind).
  // Absent: every job.
  std::optional<ShardSpec> shard;
  std::function<StatusOr<std::multimap<JobKey, ForeignEntry>>()> other_shards;
};

struct StageTimes;  // reconciler_cycle.h

class Reconciler {
 public:
  // Every reference must outlive the reconciler. `backends` are the built backends (already
  // wrapped for metrics); `unconfigured` the kinds that could not be built, with why.
  Reconciler(GitSource& git, std::vector<Backend*> backends, std::map<Target, Status> unconfigured,
             StateStore& state, Metrics& metrics, ReconcilerOptions options);

  // Loads the stored state; fails when it cannot be read (never starts from an empty state by
  // mistake). Call once, before the first cycle.
  Status Start();

  // Runs one cycle. Returns ok when Git and every backend could be read and every job is in
  // sync (or held back only by the drift policy); else the first problem.
  Status SyncOnce();

  // Runs cycles until Stop().
  void Run();
  // Asks for a cycle now (a webhook arrived); a running cycle checks Git at its next step.
  void Trigger(const std::string& why);
  // Asks for a cycle soon because a live object changed (the watch saw it): drift is healed
  // without waiting for the interval. Changes within options.settle are taken by one cycle.
  void LiveChanged();
  // Makes Run() return after the step in flight. Thread-safe.
  void Stop();

  // Thread-safe views for the HTTP endpoints. The status carries, after each cycle, a Ready
  // condition (status True/False; reason Synced, GitUnavailable, BackendUnavailable or
  // SyncFailed; message). Ready() is true from construction until Stop(): readiness means the agent
  // can serve, and Git or cluster outages are reported in the condition, not by readiness; its
  // reason names the clusters that are unavailable ("ok; ray unavailable: ...").
  // The status as JSON text, with the members of `extra` (an object) added; its "jobs" and
  // "plan" are published once per cycle as text and shared with every request, so that the
  // status of thousands of jobs is neither kept as a JSON tree nor copied per request. A create
  // step in the plan is listed without its fields (the manifest's, which `jobsync plan` shows).
  std::string StatusText(const nlohmann::json& extra = nlohmann::json::object()) const;
  // StatusText() parsed.
  nlohmann::json StatusJson() const;
  // Changes whenever StatusText() may have changed (a published plan, a cycle recorded, a backend
  // found unavailable): a reader that saw the same number has seen the same status. Starts at 0
  // and only grows.
  uint64_t StatusRevision() const;
  // One job of the last published plan, by JobKey::ToString(): {"step": its step as RenderJson
  // lists steps (a create's fields left out, as in the status's plan), "appliedSpec": the
  // canonical JSON of the spec the live job carries (null without a live job or a readable
  // applied spec), "desiredSpec": the canonical JSON of Git's (null when Git has none)}; nullopt
  // when the last plan has no such job. Thread-safe; the steps are shared with the publisher,
  // never copied per call.
  std::optional<nlohmann::json> JobDetail(const std::string& key) const;
  Readiness Ready() const;
  int64_t cycles() const;

 private:
  struct Cycle;      // what one cycle learns, stage by stage (reconciler.cc)
  struct LaneApply;  // one backend's share of an apply, shared with its lane (reconciler.cc)

  // The stages of SyncOnce, in order (see the header comment).
  // Returns this cycle's Git status: CheckGit(), or the last look's after a live change alone.
  Status Fetch(Cycle& cycle);
  // Reads the live versions into `cycle`; true when the cycle has nothing to do (quiet).
  bool NothingChanged(Cycle& cycle);
  // Lists the live jobs on the lanes and updates (and logs changes of) the backends' status.
  LiveState ReadLiveJobs(const Cycle& cycle);
  // Sets the writer metric; a replica that just became the writer loads the stored state.
  Status TakeOverState(Cycle& cycle);
  // Plans with PlanSync; logs and counts drift and held deletes, and logs each job kept by
  // jobsync.dev/prune: "false" once. Fails when no plan can be made (bad options or input): the
  // status then keeps the last cycle's jobs and shows why in place of the plan.
  Status PlanCycle(Cycle& cycle);
  // PlanSync of what this reconciler plans: every job, or its shard's (ReconcilerOptions::shard).
  StatusOr<Plan> PlanShare(Cycle& cycle);
  // Sharding: reads the other shards' inventories when a job may be arriving or leaving, adopts
  // the entries of arriving jobs and holds their steps while another shard still has them
  // (diff/shards.h). Fails when they cannot be read.
  Status HandOver(Cycle& cycle);
  // Executes the plan when this replica writes; fails when the attempted revision cannot be
  // saved.
  Status ApplyPlan(Cycle& cycle);
  // Starts `kind`'s share of the plan on its lane (or runs it here when the backend could not
  // be read: its steps are all held); returns what the lane fills in.
  std::shared_ptr<LaneApply> StartShare(Cycle& cycle, const Target& kind, Plan share);
  // Waits for a started share within the deadlines (see the header comment); gives up on it
  // and reports its backend unavailable when they pass.
  void AwaitShare(Cycle& cycle, const Target& kind, LaneApply& share);
  // The executor's per-step report: metrics, a log line, a Kubernetes Event.
  void StepDone(const StepOutcome& outcome, const CommitInfo& commit,
                const std::map<Target, Backend*>& writable);
  // Records the inventory and the applied revision in state_, and saves it when writing.
  void RecordState(Cycle& cycle);
  // Each job's status and the result; sets the jobs metric.
  CycleStatus DeriveStatus(const Cycle& cycle);
  // Publishes the status and plan, and records the cycle.
  void PublishCycle(const Cycle& cycle, const CycleStatus& status);
  // Tells the notifier, unless this cycle's outcome is not the commit's (see notifier.h).
  void Notify(const Cycle& cycle, const CycleStatus& status);
  // Remembers a cycle that found nothing to do, so an identical next one stops early.
  void RememberQuiet(Cycle& cycle, const Status& result);
  // Logs how long each stage of a cycle that planned took ("sync cycle") and observes each in
  // jobsync_sync_stage_duration_seconds.
  void LogStages(const Cycle& cycle);
  // Records the cycle (RecordCycle) and returns `result`.
  Status Finish(const Status& result, std::chrono::steady_clock::time_point start);

  // Whether the executor should stop before its next step (see the header comment). Called from
  // the lanes, one at a time (interrupt_mutex_).
  Status Interrupted(const std::string& applying);
  // What JobDetail shows of a job's step: the step without its live job, and the applied spec,
  // the one part of the live job the view shows. Between cycles, copies of 10,000 live jobs
  // (their replica maps and strings) would be held for that one pointer.
  struct ShownStep {
    PlanStep step;  // step.live is null
    std::shared_ptr<const TrainingJob> applied;
  };
  // Every job's step, in the plan's order. JobDetail looks one up by its key's text, without a
  // map of those texts: at 10,000 jobs they and the map's nodes took about 1.3 MB (by the sizes
  // of their parts), for a lookup a person makes now and then.
  using ShownSteps = std::vector<ShownStep>;
  // Publishes the jobs and the plan (its text and RenderJson's document) for StatusText(), and
  // every job's step for JobDetail.
  void Publish(const std::vector<JobStatus>& jobs, const std::string& plan_text,
               std::string plan_json, std::shared_ptr<const ShownSteps> steps);
  // JSON text kept in pieces (of about 64 KB for the jobs), written out one after another: the
  // jobs of a first sync of 10,000 written into one growing string, then trimmed to size, were
  // held two and three times over at once, at the agent's peak of memory.
  using TextPieces = std::vector<std::string>;
  void RecordCycle(const Status& result, std::chrono::steady_clock::time_point start);
  // Asks the remote for the branch's head and, when it moved, fetches and loads it into
  // snapshot_. Sets git_status_ and returns it. Ends a stage in `stages` per Git operation.
  Status CheckGit(StageTimes& stages);
  // A backend that missed a deadline: counted (jobsync_backend_errors_total, operation
  // deadline), and not waited for again until a Ping in the background comes back ok.
  void MissedDeadline(const Target& kind, const std::string& why);
  // True, with why, while `lane`'s backend is not waited for (see MissedDeadline); starts the
  // next Ping when the lane is idle, and forgets the backend once a Ping came back ok.
  bool NotAnswering(BackendLane& lane, std::string* why);
  // Marks a backend as not answering in the status at once, while the cycle goes on.
  // The name `cluster` (a JobKey::cluster) is shown by: options_.default_cluster for "".
  std::string ClusterName(const std::string& cluster) const;
  void NoteBackendTrouble(const Target& kind, const Status& status);

  GitSource& git_;
  const std::vector<Backend*> backends_;
  const std::map<Target, Status> unconfigured_;
  StateStore& state_store_;
  Metrics& metrics_;
  ReconcilerOptions options_;

  // Owned by the cycle's thread.
  AgentState state_;
  std::optional<Snapshot> snapshot_;
  std::map<std::string, CommitInfo> commits_;  // id -> info, for applied revisions
  std::chrono::steady_clock::time_point last_git_check_;
  bool only_live_changed_ = false;  // this cycle was woken by a live change alone
  // Interrupted() stopped this cycle's apply (a newer commit, leadership lost, shutting down):
  // its outcome is not the commit's, so nobody is notified of it. Set under the executor's lock,
  // read after Execute returns.
  std::atomic<bool> cut_short_{false};
  std::mutex interrupt_mutex_;  // Interrupted() and giving up on a lane
  bool was_writer_ = false;     // may_write in the previous cycle
  // The inputs of the last cycle that found nothing to do; equal inputs skip planning.
  std::string quiet_commit_;
  std::vector<std::optional<uint64_t>> quiet_versions_;
  bool planned_ = false;  // the last cycle got past the quiet check (Run() then trims the heap)
  bool quiet_writer_ = false;
  std::set<JobKey> kept_;  // jobs kept by jobsync.dev/prune: "false" last cycle (logged once)

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  bool triggered_ = false;
  bool live_changed_ = false;
  std::string trigger_reason_;
  // Published for readers: the status but its jobs and plan, and those two as JSON text (null
  // until published).
  nlohmann::json status_ = nlohmann::json::object();
  std::shared_ptr<const TextPieces> jobs_text_;
  std::shared_ptr<const TextPieces> plan_text_;
  std::shared_ptr<const ShownSteps> last_steps_;
  uint64_t status_revision_ = 0;
  Status git_status_ = UnavailableError("no sync yet");
  std::map<Target, Status> backend_status_;
  int64_t cycles_ = 0;

  // Backends that missed a deadline, each with the Ping last started on its lane (owned by the
  // cycle's thread; the Ping's result under its own lock).
  struct Silence {
    std::string why;
    std::shared_ptr<struct PingResult> ping;
  };
  std::map<Target, Silence> silent_;
  // One per backend, in backends_' order. Last: destroyed first, so that work still running on
  // a lane finishes while everything it uses exists.
  std::vector<std::unique_ptr<BackendLane>> lanes_;
};

}  // namespace jobsync

#endif  // JOBSYNC_AGENT_SYNC_RECONCILER_H_
