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

}  // namespace jobsync
