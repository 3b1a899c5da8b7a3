#include "agent/sync/job_status.h"

#include <string>
#include <utility>

namespace jobsync {
namespace {

std::map<std::string, int> Replicas(const TrainingJob& job) {
  std::map<std::string, int> out;
  for (const auto& [name, role] : job.roles) out[name] = role.replicas;
  return out;
}

// The row of a job before what this cycle did to it: replicas, revision and source as Git and
// the cluster have them, health from the live phase.
JobStatus Observed(const PlanStep& step) {
  JobStatus job;
  job.key = step.key;
  if (step.desired) job.desired_replicas = Replicas(*step.desired);
  if (step.live) {
    if (step.live->applied) job.live_replicas = Replicas(*step.live->applied);
    for (const auto& [role, count] : step.live->replicas) job.live_replicas[role] = count;
    job.applied_revision = step.live->revision;
    job.source_path = step.live->source_path;
  }
  if (step.desired) {
    job.source_path = step.desired->source.path;
    job.labels = step.desired->labels;
  }
  job.health = HealthFromPhase(step);
  if (step.live) job.health_message = step.live->phase_message;
  return job;
}

// Sets the sync state, the last action and error of `job` from its step and outcome (the table
// of the header comment).
void SetSync(const PlanStep& step, const StepOutcome* outcome, const StatusInput& input,
             JobStatus* job) {
  if (step.held) {
    job->sync = "OutOfSync";
    job->last_error = step.reason;
  } else if (step.error) {
    job->sync = "Error";
    job->last_error = step.reason;
  } else if (step.withheld) {
    job->sync = input.drift == DriftPolicy::kWarn ? "Drifted" : "OutOfSync";
    job->last_error = step.reason;
  } else if (IsKept(step)) {
    job->sync = "Kept";
    job->last_action = "prune skipped: " + step.reason;
  } else if (step.action == Action::kNone) {
    job->sync = "Synced";
  } else if (outcome == nullptr) {
    job->sync = "OutOfSync";
    job->last_action = std::string(ActionName(step.action)) + " pending: " + step.reason;
  } else {
    const bool ok = outcome->status.ok() && !outcome->skipped;
    job->sync = ok ? "Synced" : "OutOfSync";
    job->last_action = std::string(ActionName(step.action)) + (ok ? " ok" : " failed");
    if (!ok) job->last_error = outcome->status.message();
    if (outcome->health) {
      // The live phase's message explains that phase's health only.
      const std::string health = HealthName(*outcome->health);
      if (health != job->health) job->health_message.clear();
      job->health = health;
    }
    if (ok && step.action != Action::kDelete) {
      job->applied_revision = input.revision;
      if (step.desired) job->live_replicas = Replicas(*step.desired);
    }
    if (ok && step.action == Action::kDelete) job->live_replicas.clear();
  }
  job->drift = step.drift;
  if (step.drift && job->sync == "Synced") job->last_action += " (drift healed)";
  if (!input.git.ok()) {
    job->sync = "Unknown";
    if (job->last_error.empty()) {
      job->last_error = "Git cannot be read: " + input.git.message() +
                        "; the status is that of the last commit read";
    }
  }
}

}  // namespace

bool IsKept(const PlanStep& step) {
  return step.action == Action::kNone && !step.error && !step.desired && step.live &&
         PruneProtected(*step.live);
}

std::string HealthFromPhase(const PlanStep& step) {
  if (!step.live) {
    return step.desired && step.desired->suspend ? HealthName(Health::kSuspended)
                                                 : HealthName(Health::kMissing);
  }
  switch (step.live->phase) {
    case LivePhase::kPending:
      return HealthName(Health::kProgressing);
    case LivePhase::kRunning:
      return HealthName(Health::kHealthy);
    case LivePhase::kSucceeded:
      return HealthName(Health::kSucceeded);
    case LivePhase::kFailed:
      return HealthName(Health::kFailed);
    case LivePhase::kSuspended:
      return HealthName(Health::kSuspended);
    case LivePhase::kQueued:
      return HealthName(Health::kQueued);
    case LivePhase::kUnknown:
      break;
  }
  return "Unknown";
}

CycleStatus DeriveJobStatuses(const StatusInput& input) {
  CycleStatus status;
  status.result = input.prior;
  status.jobs.reserve(input.plan.steps.size());
  for (const PlanStep& step : input.plan.steps) {
    JobStatus job = Observed(step);
    auto outcome = input.outcomes.find(step.key);
    SetSync(step, outcome == input.outcomes.end() ? nullptr : &outcome->second, input, &job);
    if (auto commit = input.commits.find(job.applied_revision); commit != input.commits.end()) {
      job.applied_author = commit->second.author_name;
      job.applied_summary = commit->second.summary;
    }
    if (job.sync != "Synced" && job.sync != "Kept" && !step.withheld && status.result.ok()) {
      status.result = FailedPreconditionError(step.key.ToString() + ": " +
                                              (job.last_error.empty() ? job.sync : job.last_error));
    }
    status.jobs.push_back(std::move(job));
  }
  for (const auto& [kind, why] : input.unavailable) {
    if (!status.result.ok()) break;
    status.result = Status(why.code(), kind.ToString() + ": " + why.message());
  }
  return status;
}

}  // namespace jobsync
