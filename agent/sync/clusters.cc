#include "agent/sync/clusters.h"

#include <algorithm>
#include <memory>
#include <string>
#include <utility>

namespace jobsync {

LiveState ReadLive(const std::vector<Backend*>& backends,
                   const std::map<BackendKind, Status>& unconfigured) {
  LiveState live;
  live.unavailable = unconfigured;
  for (Backend* backend : backends) {
    StatusOr<std::vector<LiveJob>> jobs = backend->ListJobs();
    if (!jobs.ok()) {
      live.unavailable[backend->kind()] = jobs.status();
      continue;
    }
    live.readable[backend->kind()] = backend;
    for (LiveJob& job : *jobs) live.jobs.push_back(std::move(job));
  }
  return live;
}

std::vector<LiveJob> LiveAsApplied(const Snapshot& snapshot, const std::string& instance) {
  std::vector<LiveJob> live;
  for (const std::shared_ptr<const TrainingJob>& desired : snapshot.manifests.jobs) {
    const TrainingJob& job = *desired;
    LiveJob entry;
    entry.key = job.key();
    entry.applied = job;
    for (const auto& [name, role] : job.roles) entry.replicas[name] = role.replicas;
    entry.phase = job.suspend ? LivePhase::kSuspended : LivePhase::kRunning;
    entry.instance = instance;
    auto prune = job.annotations.find(kPruneAnnotation);
    entry.prune_protected = prune != job.annotations.end() && prune->second == "false";
    entry.source_path = job.source.path;
    entry.revision = snapshot.commit.id;
    live.push_back(std::move(entry));
  }
  return live;
}

StatusOr<Plan> PlanAgainstLive(const LoadResult& desired, const LiveState& live,
                               const PlanOptions& options) {
  auto held_back_job = [&](const std::shared_ptr<const TrainingJob>& job) {
    return live.unavailable.count(job->backend) != 0 && options.Allows(job->key());
  };
  // No job on an unavailable backend (the common case): nothing to set aside, nothing copied.
  if (std::none_of(desired.jobs.begin(), desired.jobs.end(), held_back_job)) {
    return BuildPlan(desired, live.jobs, options);
  }
  LoadResult plannable;
  plannable.invalid_jobs = desired.invalid_jobs;
  plannable.unreadable_files = desired.unreadable_files;
  plannable.diagnostics = desired.diagnostics;
  std::vector<PlanStep> held_back;
  for (const std::shared_ptr<const TrainingJob>& job : desired.jobs) {
    if (!held_back_job(job)) {
      plannable.jobs.push_back(job);
      continue;
    }
    const Status& down = live.unavailable.at(job->backend);
    PlanStep step;
    step.key = job->key();
    step.error = true;
    step.reason = std::string(BackendName(job->backend)) + " unavailable: " + down.message();
    step.desired = job;
    held_back.push_back(std::move(step));
  }
  StatusOr<Plan> plan = BuildPlan(plannable, live.jobs, options);
  if (!plan.ok()) return plan;
  for (PlanStep& step : held_back) plan->steps.push_back(std::move(step));
  return plan;
}

}  // namespace jobsync
