// The Reconciler's per-job view for the jobs API (Reconciler::JobDetail) and the revision of its
// published status.
#include <map>
#include <memory>
#include <string>

#include "agent/sync/reconciler.h"
#include "diff/render.h"
#include "schemas/canonical.h"

namespace jobsync {

uint64_t Reconciler::StatusRevision() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return status_revision_;
}

std::optional<nlohmann::json> Reconciler::JobDetail(const std::string& key) const {
  std::shared_ptr<const std::map<std::string, ShownStep>> steps;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    steps = last_steps_;
  }
  if (!steps) return std::nullopt;
  const auto found = steps->find(key);
  if (found == steps->end()) return std::nullopt;
  const PlanStep& step = found->second.step;
  Plan one;
  one.steps.push_back(step);
  nlohmann::json rendered = nlohmann::json::parse(RenderJson(one));
  nlohmann::json detail = {
      {"step", rendered["steps"].at(0)}, {"appliedSpec", nullptr}, {"desiredSpec", nullptr}};
  if (found->second.applied) detail["appliedSpec"] = CanonicalSpec(*found->second.applied);
  if (step.desired) detail["desiredSpec"] = CanonicalSpec(*step.desired);
  return detail;
}

}  // namespace jobsync
