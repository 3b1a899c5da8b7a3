// Builders for the diff tests: valid jobs, the live jobs a backend would report for them, and
// desired sets, built in code or loaded from YAML text through the real loader.
#ifndef JOBSYNC_TESTS_DIFF_PLAN_FIXTURES_H_
#define JOBSYNC_TESTS_DIFF_PLAN_FIXTURES_H_

#include <algorithm>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "diff/plan.h"
#include "domain/live_job.h"
#include "schemas/loader.h"
#include "schemas/model.h"
#include "schemas/quantity.h"
#include "schemas/schema_validator.h"

namespace jobsync::testing {

// The instance name the tests plan as.
inline constexpr const char* kInstance = "prod";

// Parses a quantity the test spells correctly.
inline Quantity Q(std::string_view text) {
  StatusOr<Quantity> quantity = Quantity::Parse(text);
  EXPECT_TRUE(quantity.ok()) << text;
  return quantity.ok() ? *quantity : *Quantity::Parse("0");
}

// A valid Kubernetes job with two workers, from manifests/<name>.yaml.
inline TrainingJob K8sJob(std::string name, std::string namespace_name = "default") {
  TrainingJob job;
  job.name = std::move(name);
  job.namespace_name = std::move(namespace_name);
  job.backend = BackendKind::kKubernetes;
  job.image = "trainer:v1";
  job.command = {"torchrun", "train.py"};
  Role worker;
  worker.replicas = 2;
  worker.resources.cpu = Q("4");
  worker.resources.memory = Q("16Gi");
  job.roles["worker"] = worker;
  job.source = {"manifests/" + job.name + ".yaml", 1, 1};
  return job;
}

// A valid Ray job with one worker, from manifests/<name>.yaml.
inline TrainingJob RayJob(std::string name, std::string namespace_name = "default") {
  TrainingJob job;
  job.name = std::move(name);
  job.namespace_name = std::move(namespace_name);
  job.backend = BackendKind::kRay;
  job.roles["worker"] = Role{};
  RaySpec ray;
  ray.entrypoint = "python train.py";
  ray.entrypoint_resources.cpu = 0.5;
  job.ray = ray;
  job.source = {"manifests/" + job.name + ".yaml", 1, 1};
  return job;
}

// What a backend reports for `applied` running as applied, owned by `instance`.
inline LiveJob Live(const TrainingJob& applied, LivePhase phase = LivePhase::kRunning,
                    std::string instance = kInstance) {
  LiveJob live;
  live.key = applied.key();
  TrainingJob read_back = applied;
  read_back.source = {};
  live.applied = std::make_shared<const TrainingJob>(std::move(read_back));
  for (const auto& [name, role] : applied.roles) live.replicas[name] = role.replicas;
  live.phase = phase;
  live.instance = std::move(instance);
  live.source_path = applied.source.path;
  live.revision = "0123abc";
  return live;
}

// A desired set of valid jobs, ordered by key as the loader orders it.
inline LoadResult Desired(std::vector<TrainingJob> jobs) {
  std::sort(jobs.begin(), jobs.end(),
            [](const TrainingJob& a, const TrainingJob& b) { return a.key() < b.key(); });
  LoadResult result;
  for (TrainingJob& job : jobs) {
    result.jobs.push_back(std::make_shared<const TrainingJob>(std::move(job)));
  }
  return result;
}

// Loads manifest files given as (path, text) through the real loader.
inline LoadResult LoadYaml(const std::vector<std::pair<std::string, std::string>>& files) {
  static const SchemaValidator validator;
  std::vector<ManifestFile> parsed;
  for (const auto& [path, text] : files) parsed.push_back(ParseManifestFile(path, text, validator));
  return CheckManifests(parsed);
}

inline PlanOptions Options() {
  PlanOptions options;
  options.instance = kInstance;
  return options;
}

// The plan's step for `key` ("kubernetes/default/a"), or nullptr.
inline const PlanStep* FindStep(const Plan& plan, const std::string& key) {
  for (const PlanStep& step : plan.steps) {
    if (step.key.ToString() == key) return &step;
  }
  return nullptr;
}

// The plan's job keys in plan order.
inline std::vector<std::string> StepKeys(const Plan& plan) {
  std::vector<std::string> keys;
  for (const PlanStep& step : plan.steps) keys.push_back(step.key.ToString());
  return keys;
}

}  // namespace jobsync::testing

#endif  // JOBSYNC_TESTS_DIFF_PLAN_FIXTURES_H_
