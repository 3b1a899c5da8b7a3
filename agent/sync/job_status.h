// What a sync cycle says about each job, derived from its plan and what the executor did: the
// status page's and `jobsync status`'s rows, and the cycle's overall result. Pure functions of
// their arguments (no clock, no I/O), so the rules are tested as a table
// (tests/agent/sync/job_status_test.cc).
//
// Sync state of a job, first matching row wins:
//   | step                                  | outcome                  | sync      |
//   | ------------------------------------- | ------------------------ | --------- |
//   | any, while Git cannot be read (git)   | -                        | Unknown   |
//   | held (by the mass-delete guard)       | -                        | OutOfSync |
//   | error                                 | -                        | Error     |
//   | withheld (drift policy warn)          | -                        | Drifted   |
//   | withheld (drift policy off)           | -                        | OutOfSync |
//   | none, not in Git, live job protected  | -                        | Kept      |
//   |   by jobsync.dev/prune: "false"       |                          |           |
//   | none                                  | -                        | Synced    |
//   | acts                                  | not run (a standby)      | OutOfSync |
//   | acts                                  | done                     | Synced    |
//   | acts                                  | failed or skipped        | OutOfSync |
// While Git cannot be read, the row the job would have without that decides the last action and
// error; a job without an error of its own gets Git's ("Git cannot be read: <why>; ...").
// A held delete's, an error's and withheld drift's last error is the step's reason.
// `drift` is set for every drift step (PlanStep::drift), healed or withheld.
// Health is the outcome's when the executor read it, else the live phase (HealthFromPhase).
// The health message is the live job's phase message (Kueue's reason for Queued), kept only while
// the health is the one the live phase gave. A Queued job is Synced when its step is done or
// none: waiting for Kueue's admission is not a failure of the cycle.
// The overall result is `prior` when not ok; else the first job neither Synced, Kept nor
// withheld; else the first backend in `unavailable`; else ok. Withheld drift and kept jobs do not
// fail a cycle; held deletes do.
#ifndef JOBSYNC_AGENT_SYNC_JOB_STATUS_H_
#define JOBSYNC_AGENT_SYNC_JOB_STATUS_H_

#include <map>
#include <string>
#include <vector>

#include "agent/git/git_source.h"
#include "agent/sync/executor.h"
#include "common/status.h"
#include "diff/plan.h"

namespace jobsync {

// One job as the status page and `jobsync status` show it.
struct JobStatus {
  JobKey key;
  std::string sync;    // Synced, OutOfSync, Drifted, Kept, Unknown, Error
  std::string health;  // HealthName, or "Unknown" when it could not be read
  // Why the job has that health, when the cluster says: Kueue's reason for Queued ("couldn't
  // assign flavors to pod set main: insufficient unused quota ..."); empty otherwise.
  std::string health_message;
  std::map<std::string, int> desired_replicas;
  std::map<std::string, int> live_replicas;
  std::string applied_revision;  // the commit the live job was applied from
  std::string applied_author;
  std::string applied_summary;
  std::string source_path;
  // The manifest's metadata.labels (team, ...), as Git has them; empty for a job Git no longer has.
  std::map<std::string, std::string> labels;
  std::string last_action;  // the action of the last cycle that did something, with its result
  std::string last_error;
  bool drift = false;  // the live job was found changed outside Git this cycle
};

// What one cycle knew besides its plan. References must outlive the call.
struct StatusInput {
  const Plan& plan;
  // The executor's outcome per job; empty when nothing was executed (a standby, or no changes).
  const std::map<JobKey, StepOutcome>& outcomes;
  // The commit planned, recorded as applied by the steps that were done.
  std::string revision;
  DriftPolicy drift = DriftPolicy::kHeal;
  // Commits by id, for the author and summary of each job's applied revision.
  const std::map<std::string, CommitInfo>& commits;
  // A failure the cycle met before its status (Git, or saving the state); ok when none.
  Status prior;
  // Configured backends that could not be read, with why.
  std::map<Target, Status> unavailable;
  // This cycle's look at Git; not ok: the plan was made from the last commit read, so whether a
  // job matches the branch is unknown.
  Status git;
};

struct CycleStatus {
  std::vector<JobStatus> jobs;  // in plan order
  Status result;                // see the header comment
};

// Derives every job's status and the cycle's result from `input` (see the header comment).
CycleStatus DeriveJobStatuses(const StatusInput& input);

// True when `step` keeps a job that Git no longer has because jobsync.dev/prune: "false" protects
// it (sync state Kept).
bool IsKept(const PlanStep& step);

// Health as the watch cache tells it, for a job the cycle did not act on: Missing (or Suspended,
// when Git suspends it) with no live job, else from its live phase; "Unknown" when unknown.
std::string HealthFromPhase(const PlanStep& step);

}  // namespace jobsync

#endif  // JOBSYNC_AGENT_SYNC_JOB_STATUS_H_
