// Property test of the planner: for many random desired and live sets, executing the plan's steps
// on the live set (with a model executor, ApplyPlan below) yields the desired set, never touches
// another owner's job, and leaves nothing more to do.
#include <algorithm>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "diff/plan.h"
#include "plan_fixtures.h"
#include "schemas/canonical.h"

namespace jobsync {
namespace {

using ::jobsync::testing::K8sJob;
using ::jobsync::testing::kInstance;
using ::jobsync::testing::Q;
using ::jobsync::testing::RayJob;

constexpr int kCases = 400;
constexpr const char* kFiles[] = {"a.yaml", "b.yaml", "c.yaml"};

class RandomInputs {
 public:
  explicit RandomInputs(unsigned seed) : random_(seed) {}

  bool Chance(double p) { return std::bernoulli_distribution(p)(random_); }
  int Between(int low, int high) { return std::uniform_int_distribution<int>(low, high)(random_); }
  template <typename T>
  const T& Pick(const std::vector<T>& items) {
    return items[static_cast<size_t>(Between(0, static_cast<int>(items.size()) - 1))];
  }

  // A random valid job with `key`, depending only on names before it in `earlier`.
  TrainingJob Job(const JobKey& key, const std::vector<std::string>& earlier) {
    TrainingJob job = key.backend == BackendKind::kRay ? RayJob(key.name, key.namespace_name)
                                                       : K8sJob(key.name, key.namespace_name);
    if (key.backend == BackendKind::kKubernetes)
      job.image = Chance(0.5) ? "trainer:v1" : "trainer:v2";
    job.suspend = Chance(0.2);
    job.roles["worker"].replicas = Between(1, 3);
    job.roles["worker"].resources.memory = Q(Chance(0.5) ? "1Gi" : "1024Mi");
    if (Chance(0.4)) job.roles["ps"].replicas = Between(1, 2);
    if (Chance(0.3)) job.labels["team"] = Chance(0.5) ? "a" : "b";
    if (Chance(0.1)) job.annotations[kPruneAnnotation] = "false";
    for (const std::string& name : earlier) {
      if (Chance(0.3)) job.depends_on.push_back(name);
    }
    job.source.path = kFiles[Between(0, 2)];
    return job;
  }

  // A random live job a backend could report for `key`, applied as `applied` or as a variant.
  LiveJob Live(const JobKey& key, const std::optional<TrainingJob>& desired) {
    LiveJob live;
    live.key = key;
    TrainingJob applied = desired && Chance(0.5) ? *desired : Job(key, {});
    applied.source = {};
    live.applied = std::make_shared<const TrainingJob>(std::move(applied));
    if (Chance(0.05)) live.applied.reset();
    if (live.applied) {
      for (const auto& [name, role] : live.applied->roles) {
        live.replicas[name] = Chance(0.15) ? Between(0, 4) : role.replicas;
      }
    }
    const int owner = Between(0, 9);
    live.instance = owner < 8 ? kInstance : owner == 8 ? "staging" : "";
    live.phase = Pick(std::vector<LivePhase>{
        LivePhase::kPending, LivePhase::kRunning, LivePhase::kRunning, LivePhase::kSucceeded,
        LivePhase::kFailed, LivePhase::kSuspended, LivePhase::kUnknown});
    if (live.applied && live.applied->suspend && Chance(0.8)) live.phase = LivePhase::kSuspended;
    live.prune_protected = Chance(0.1);
    live.source_path = kFiles[Between(0, 2)];
    return live;
  }

  std::mt19937& engine() { return random_; }

 private:
  std::mt19937 random_;
};

// What the cluster holds after an executor applies `step`: the model every backend implements.
LiveJob Running(const TrainingJob& desired) {
  LiveJob live;
  live.key = desired.key();
  TrainingJob applied = desired;
  applied.source = {};
  live.applied = std::make_shared<const TrainingJob>(std::move(applied));
  for (const auto& [name, role] : desired.roles) live.replicas[name] = role.replicas;
  live.phase = desired.suspend ? LivePhase::kSuspended : LivePhase::kRunning;
  live.instance = kInstance;
  live.source_path = desired.source.path;
  return live;
}

// Executes `plan` on `live`, checking as it goes that no step touches a job it may not.
std::map<JobKey, LiveJob> ApplyPlan(const Plan& plan, const std::vector<LiveJob>& live) {
  std::map<JobKey, LiveJob> world;
  for (const LiveJob& job : live) world[job.key] = job;
  for (const PlanStep& step : plan.steps) {
    auto it = world.find(step.key);
    const bool owned = it != world.end() && it->second.instance == kInstance;
    switch (step.action) {
      case Action::kCreate:
        EXPECT_EQ(it, world.end()) << step.key.ToString();
        world[step.key] = Running(*step.desired);
        break;
      case Action::kUpdate:
      case Action::kRerun:
        EXPECT_TRUE(owned) << step.key.ToString();
        world[step.key] = Running(*step.desired);
        break;
      case Action::kScale:
        EXPECT_TRUE(owned) << step.key.ToString();
        for (const FieldChange& change : step.changes) {
          EXPECT_TRUE(change.field == "spec.suspend" ||
                      change.field.rfind("metadata.annotations", 0) == 0 ||
                      (change.field.size() > 9 &&
                       change.field.compare(change.field.size() - 9, 9, ".replicas") == 0))
              << change.field;
        }
        world[step.key] = Running(*step.desired);
        break;
      case Action::kPatch: {
        EXPECT_TRUE(owned) << step.key.ToString();
        if (it == world.end()) break;
        for (const FieldChange& change : step.changes) {
          EXPECT_EQ(change.field.rfind("metadata.annotations", 0), 0u) << change.field;
        }
        const LivePhase phase = it->second.phase;  // nothing restarts
        world[step.key] = Running(*step.desired);
        world[step.key].phase = phase;
        break;
      }
      case Action::kDelete:
        EXPECT_TRUE(owned) << step.key.ToString();
        EXPECT_FALSE(it->second.prune_protected) << step.key.ToString();
        world.erase(it);
        break;
      case Action::kNone:
        EXPECT_TRUE(step.changes.empty());
        break;
    }
  }
  return world;
}

// Canonical JSON of what a live job runs (the planner's own view of the live side).
nlohmann::json LiveSpec(const LiveJob& live) {
  TrainingJob job = *live.applied;
  for (auto& [name, role] : job.roles) {
    if (live.replicas.count(name) != 0) role.replicas = live.replicas.at(name);
  }
  if (!IsFinished(live.phase)) job.suspend = live.phase == LivePhase::kSuspended;
  return CanonicalSpec(job);
}

nlohmann::json WithoutSuspend(nlohmann::json canonical) {
  canonical["spec"].erase("suspend");
  return canonical;
}

TEST(PlannerPropertyTest, ApplyingThePlanYieldsTheDesiredSet) {
  int creates = 0, scales = 0, updates = 0, deletes = 0;
  for (int c = 0; c < kCases; ++c) {
    SCOPED_TRACE("case " + std::to_string(c));
    RandomInputs random(static_cast<unsigned>(c));
    std::vector<JobKey> keys;
    for (const char* ns : {"ml", "rl"}) {
      for (const char* name : {"a", "b", "c", "d", "e"}) {
        keys.push_back(
            {random.Chance(0.3) ? BackendKind::kRay : BackendKind::kKubernetes, ns, name});
      }
    }
    LoadResult desired;
    std::vector<LiveJob> live;
    std::map<std::string, std::vector<std::string>> earlier;  // names so far per namespace
    for (const JobKey& key : keys) {
      std::optional<TrainingJob> job;
      if (random.Chance(0.05)) {
        desired.invalid_jobs.push_back(key);
      } else if (random.Chance(0.7)) {
        job = random.Job(key, earlier[key.namespace_name]);
        desired.jobs.push_back(std::make_shared<const TrainingJob>(*job));
        earlier[key.namespace_name].push_back(key.name);
      }
      if (random.Chance(0.6)) live.push_back(random.Live(key, job));
    }
    if (random.Chance(0.2)) desired.unreadable_files.push_back(kFiles[random.Between(0, 2)]);
    std::shuffle(live.begin(), live.end(), random.engine());
    PlanOptions options;
    options.instance = kInstance;
    options.prune = random.Chance(0.8);
    options.allow_mass_delete = true;

    StatusOr<Plan> plan = BuildPlan(desired, live, options);
    ASSERT_TRUE(plan.ok()) << plan.status().ToString();
    creates += plan->Count(Action::kCreate);
    scales += plan->Count(Action::kScale);
    updates += plan->Count(Action::kUpdate);
    deletes += plan->Count(Action::kDelete);
    const std::map<JobKey, LiveJob> world = ApplyPlan(*plan, live);

    std::map<JobKey, const LiveJob*> before;
    for (const LiveJob& job : live) before[job.key] = &job;
    std::set<JobKey> wanted;
    for (const auto& job : desired.jobs) wanted.insert(job->key());
    const std::set<JobKey> invalid(desired.invalid_jobs.begin(), desired.invalid_jobs.end());

    // Other owners' jobs are exactly as they were.
    for (const LiveJob& job : live) {
      if (job.instance == kInstance) continue;
      ASSERT_EQ(world.count(job.key), 1u) << job.key.ToString();
      EXPECT_EQ(world.at(job.key).instance, job.instance);
      EXPECT_EQ(world.at(job.key).phase, job.phase);
    }
    // Every valid desired job runs as desired, or is one of the documented exceptions.
    for (const std::shared_ptr<const TrainingJob>& desired_job : desired.jobs) {
      const TrainingJob& job = *desired_job;
      auto had = before.find(job.key());
      if (had != before.end() && had->second->instance != kInstance) continue;  // conflict
      auto now = world.find(job.key());
      if (now == world.end()) {
        EXPECT_TRUE(job.suspend) << job.key().ToString() << " is missing";
        continue;
      }
      const nlohmann::json want = CanonicalSpec(job);
      if (IsFinished(now->second.phase)) {
        EXPECT_EQ(WithoutSuspend(CanonicalSpec(*now->second.applied)), WithoutSuspend(want))
            << job.key().ToString();
      } else {
        EXPECT_EQ(LiveSpec(now->second), want) << job.key().ToString();
      }
    }
    // An owned job that Git does not have survives only for a documented reason.
    for (const auto& [key, job] : world) {
      if (job.instance != kInstance || wanted.count(key) != 0) continue;
      const bool protected_job =
          job.prune_protected ||
          (job.applied && job.applied->annotations.count(kPruneAnnotation) != 0 &&
           job.applied->annotations.at(kPruneAnnotation) == "false");
      const bool source_broken =
          std::find(desired.unreadable_files.begin(), desired.unreadable_files.end(),
                    job.source_path) != desired.unreadable_files.end();
      EXPECT_TRUE(!options.prune || protected_job || invalid.count(key) != 0 || source_broken)
          << key.ToString() << " should have been pruned";
    }
    // Nothing is left to do.
    std::vector<LiveJob> after;
    for (const auto& [key, job] : world) after.push_back(job);
    StatusOr<Plan> again = BuildPlan(desired, after, options);
    ASSERT_TRUE(again.ok()) << again.status().ToString();
    EXPECT_FALSE(again->HasChanges());
    for (const PlanStep& step : again->steps) {
      EXPECT_EQ(step.action, Action::kNone) << step.key.ToString() << ": " << step.reason;
    }
  }
  // The generator exercises every action.
  EXPECT_GT(creates, 100);
  EXPECT_GT(scales, 20);
  EXPECT_GT(updates, 100);
  EXPECT_GT(deletes, 50);
}

}  // namespace
}  // namespace jobsync
