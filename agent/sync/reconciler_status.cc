// The Reconciler's published status: the jobs and the plan of the last cycle (Publish), the
// status page made of them (StatusText), its revision, and the per-job view for the jobs API
// (JobDetail).
#include <algorithm>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "agent/sync/reconciler.h"
#include "diff/render.h"
#include "schemas/canonical.h"

namespace jobsync {
namespace {

// Whether `text` is key.ToString(), without building it.
bool IsKeyText(const JobKey& key, std::string_view text) {
  auto take = [&text](std::string_view part) {
    if (!text.starts_with(part)) return false;
    text.remove_prefix(part.size());
    return true;
  };
  return take(BackendName(key.backend)) && take("/") && take(key.namespace_name) && take("/") &&
         take(key.name) && (key.cluster.empty() ? text.empty() : take("@") && text == key.cluster);
}

}  // namespace

void Reconciler::Publish(const std::vector<JobStatus>& jobs, const std::string& plan_text,
                         std::string plan_json, std::shared_ptr<const ShownSteps> steps) {
  constexpr auto kReplace = nlohmann::json::error_handler_t::replace;
  constexpr size_t kPiece = size_t{64} * 1024;
  auto jobs_text = std::make_shared<TextPieces>();
  std::string piece = "[";
  for (const JobStatus& job : jobs) {
    if (piece.size() >= kPiece) {
      piece.shrink_to_fit();
      jobs_text->push_back(std::move(piece));
      piece.clear();
    }
    if (&job != &jobs.front()) piece += ',';
    piece += nlohmann::json{{"key", job.key.ToString()},
                            {"backend", BackendName(job.key.backend)},
                            {"cluster", ClusterName(job.key.cluster)},
                            {"namespace", job.key.namespace_name},
                            {"name", job.key.name},
                            {"sync", job.sync},
                            {"health", job.health},
                            {"healthMessage", job.health_message},
                            {"desiredReplicas", job.desired_replicas},
                            {"liveReplicas", job.live_replicas},
                            {"appliedRevision", job.applied_revision},
                            {"appliedAuthor", job.applied_author},
                            {"appliedSummary", job.applied_summary},
                            {"source", job.source_path},
                            {"labels", job.labels},
                            {"lastAction", job.last_action},
                            {"lastError", job.last_error},
                            {"drift", job.drift}}
                 .dump(-1, ' ', false, kReplace);
  }
  piece += ']';
  piece.shrink_to_fit();
  jobs_text->push_back(std::move(piece));
  // plan_json is RenderJson's document: valid JSON text, placed as it is (moved, not copied:
  // an initializer list would copy it).
  auto plan = std::make_shared<TextPieces>();
  plan->reserve(5);
  plan->push_back("{\"steps\":");
  plan->push_back(std::move(plan_json));
  plan->push_back(",\"text\":");
  plan->push_back(nlohmann::json(plan_text).dump(-1, ' ', false, kReplace));
  plan->push_back("}");
  std::lock_guard<std::mutex> lock(mutex_);
  status_["instance"] = options_.plan.instance;
  status_["repo"] = git_.display_url();
  status_["branch"] = options_.branch;
  status_["path"] = options_.path;
  status_["drift"] = DriftPolicyName(options_.plan.drift);
  status_["prune"] = options_.plan.prune;
  jobs_text_ = std::move(jobs_text);
  plan_text_ = std::move(plan);
  last_steps_ = std::move(steps);
  ++status_revision_;
}

std::string Reconciler::StatusText(const nlohmann::json& extra) const {
  constexpr auto kReplace = nlohmann::json::error_handler_t::replace;
  nlohmann::json head;
  std::shared_ptr<const TextPieces> jobs;
  std::shared_ptr<const TextPieces> plan;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    head = status_;
    jobs = jobs_text_;
    plan = plan_text_;
  }
  for (const auto& [key, value] : extra.items()) head[key] = value;
  std::string out = head.dump(-1, ' ', false, kReplace);
  out.pop_back();  // the closing brace: the published parts follow
  auto size = [](const std::shared_ptr<const TextPieces>& pieces) {
    size_t bytes = 0;
    if (pieces) {
      for (const std::string& piece : *pieces) bytes += piece.size();
    }
    return bytes;
  };
  out.reserve(out.size() + size(jobs) + size(plan) + 20);
  for (const auto& [key, pieces] : {std::pair{"jobs", jobs}, std::pair{"plan", plan}}) {
    if (!pieces) continue;
    if (out.size() > 1) out += ',';
    out += std::string("\"") + key + "\":";
    for (const std::string& piece : *pieces) out += piece;
  }
  out += '}';
  return out;
}

nlohmann::json Reconciler::StatusJson() const { return nlohmann::json::parse(StatusText()); }

uint64_t Reconciler::StatusRevision() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return status_revision_;
}

std::optional<nlohmann::json> Reconciler::JobDetail(const std::string& key) const {
  std::shared_ptr<const ShownSteps> steps;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    steps = last_steps_;
  }
  if (!steps) return std::nullopt;
  // The last step of the key, as a map by key would keep: a linear look, comparing texts without
  // building them.
  const auto found = std::find_if(steps->rbegin(), steps->rend(), [&key](const ShownStep& shown) {
    return IsKeyText(shown.step.key, key);
  });
  if (found == steps->rend()) return std::nullopt;
  const PlanStep& step = found->step;
  Plan one;
  one.steps.push_back(step);
  nlohmann::json rendered = nlohmann::json::parse(RenderJson(one));
  nlohmann::json detail = {
      {"step", rendered["steps"].at(0)}, {"appliedSpec", nullptr}, {"desiredSpec", nullptr}};
  if (found->applied) detail["appliedSpec"] = CanonicalSpec(*found->applied);
  if (step.desired) detail["desiredSpec"] = CanonicalSpec(*step.desired);
  return detail;
}

}  // namespace jobsync
