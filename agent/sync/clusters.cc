#include "agent/sync/clusters.h"

#include <algorithm>
#include <memory>
#include <string>
#include <utility>

namespace jobsync {
namespace {

// `step` as the backend sees it: its key without the cluster.
PlanStep Unplaced(const PlanStep& step) {
  PlanStep out = step;
  out.key.cluster.clear();
  return out;
}

}  // namespace

OnCluster::OnCluster(Backend& inner, std::string cluster)
    : inner_(inner), cluster_(std::move(cluster)) {}

StatusOr<std::vector<LiveJob>> OnCluster::ListJobs() {
  StatusOr<std::vector<LiveJob>> jobs = inner_.ListJobs();
  if (jobs.ok()) {
    for (LiveJob& job : *jobs) job.key.cluster = cluster_;
  }
  return jobs;
}

Status OnCluster::Apply(const PlanStep& step, const ApplyContext& context) {
  return inner_.Apply(Unplaced(step), context);
}

StatusOr<Health> OnCluster::GetHealth(const JobKey& key) {
  JobKey unplaced = key;
  unplaced.cluster.clear();
  return inner_.GetHealth(unplaced);
}

Status OnCluster::RecordEvent(const PlanStep& step, const ApplyContext& context,
                              const std::string& reason, const std::string& message, bool warning) {
  return inner_.RecordEvent(Unplaced(step), context, reason, message, warning);
}

LiveState ReadLive(const std::vector<Backend*>& backends,
                   const std::map<Target, Status>& unconfigured) {
  LiveState live;
  live.unavailable = unconfigured;
  for (Backend* backend : backends) {
    StatusOr<std::vector<LiveJob>> jobs = backend->ListJobs();
    if (!jobs.ok()) {
      live.unavailable[TargetOf(*backend)] = jobs.status();
      continue;
    }
    live.readable[TargetOf(*backend)] = backend;
    for (LiveJob& job : *jobs) live.jobs.push_back(std::move(job));
  }
  return live;
}

}  // namespace jobsync
