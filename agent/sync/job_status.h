// What a sync cycle says about each job, derived from its plan and what the executor did: the
// status page's and `jobsync status`'s rows, and the cycle's overall result. Pure functions of
// their arguments (no clock, no I/O), so the rules are tested as a table
// (tests/agent/sync/job_status_test.cc).
//
// Sync state of a job, first matching row wins:
//   | step                                  | outcome                  | sync      |
//   | ------------------------------------- | ------------------------ | --------- |
//   | error                                 | -                        | Error     |
//   | withheld (drift policy warn)          | -                        | Drifted   |
//   | withheld (drift policy off)           | -                        | OutOfSync |
//   | none                                  | -                        | Synced    |
//   | acts                                  | not run (a standby)      | OutOfSync |
//   | acts                                  | done                     | Synced    |
//   | acts                                  | failed or skipped        | OutOfSync |
// Health is the outcome's when the executor read it, else the live phase (HealthFromPhase).
// The overall result is `prior` when not ok; else the first job neither Synced nor withheld;
// else the first backend in `unavailable`; else ok. Withheld drift does not fail a cycle.
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
  std::string sync;    // Synced, OutOfSync, Drifted, Error
  std::string health;  // HealthName, or "Unknown" when it could not be read
  std::map<std::string, int> desired_replicas;
  std::map<std::string, int> live_replicas;
  std::string applied_revision;  // the commit the live job was applied from
  std::string applied_author;
  std::string applied_summary;
  std::string source_path;
  std::string last_action;  // the action of the last cycle that did something, with its result
  std::string last_error;
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
  std::map<BackendKind, Status> unavailable;
};

struct CycleStatus {
  std::vector<JobStatus> jobs;  // in plan order
  Status result;                // see the header comment
};

// Derives every job's status and the cycle's result from `input` (see the header comment).
CycleStatus DeriveJobStatuses(const StatusInput& input);

// Health as the watch cache tells it, for a job the cycle did not act on: Missing (or Suspended,
// when Git suspends it) with no live job, else from its live phase; "Unknown" when unknown.
std::string HealthFromPhase(const PlanStep& step);

}  // namespace jobsync

#endif  // JOBSYNC_AGENT_SYNC_JOB_STATUS_H_
