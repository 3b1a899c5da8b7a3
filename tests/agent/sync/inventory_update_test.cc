#include "agent/sync/inventory_update.h"

#include <map>
#include <memory>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "diff/plan.h"
#include "schemas/canonical.h"

namespace jobsync {
namespace {

constexpr const char* kInstance = "prod";

TrainingJob Job() {
  TrainingJob job;
  job.name = "a";
  job.namespace_name = "default";
  job.backend = BackendKind::kKubernetes;
  job.image = "trainer:v1";
  job.roles["worker"].replicas = 2;
  return job;
}

LiveJob LiveOf(const TrainingJob& applied, LivePhase phase) {
  LiveJob live;
  live.key = applied.key();
  live.applied = std::make_shared<const TrainingJob>(applied);
  for (const auto& [name, role] : applied.roles) live.replicas[name] = role.replicas;
  live.phase = phase;
  live.instance = kInstance;
  live.revision = "old";
  return live;
}

// Plans `desired` against `live` with `inventory`, every backend readable.
StatusOr<Plan> PlanFor(const TrainingJob& desired, const std::vector<LiveJob>& live,
                       const std::map<JobKey, InventoryEntry>& inventory) {
  LoadResult manifests;
  manifests.jobs.push_back(std::make_shared<const TrainingJob>(desired));
  const std::map<Target, Status> unavailable;
  PlanOptions options;
  options.instance = kInstance;
  return PlanSync(PlanInput{manifests, live, unavailable, inventory}, options);
}

// Plans `desired` against `live`, carries the plan out successfully, and records it.
std::map<JobKey, InventoryEntry> SyncOnce(const TrainingJob& desired, const LiveJob& live,
                                          std::map<JobKey, InventoryEntry> inventory) {
  StatusOr<Plan> plan = PlanFor(desired, {live}, inventory);
  EXPECT_TRUE(plan.ok()) << plan.status().ToString();
  std::map<JobKey, StepOutcome> outcomes;
  for (const PlanStep& step : plan->steps) {
    StepOutcome outcome;
    outcome.step = step;
    outcomes[step.key] = outcome;
  }
  EXPECT_TRUE(RecordInventory(*plan, outcomes, "new", kInstance, &inventory));
  return inventory;
}

TEST(RecordInventoryTest, PatchRecordsTheNewSpecSoTheNextPlanIsEmpty) {
  const TrainingJob before = Job();
  TrainingJob after = before;
  after.annotations[kPruneAnnotation] = "false";
  std::map<JobKey, InventoryEntry> inventory;
  inventory[before.key()] = {SpecHash(before), "old", false};
  StatusOr<Plan> planned = PlanFor(after, {LiveOf(before, LivePhase::kRunning)}, inventory);
  ASSERT_TRUE(planned.ok() && planned->steps.size() == 1);
  EXPECT_STREQ(ActionName(planned->steps[0].action), "patch");
  inventory = SyncOnce(after, LiveOf(before, LivePhase::kRunning), inventory);
  ASSERT_EQ(inventory.count(after.key()), 1u);
  EXPECT_EQ(inventory[after.key()], (InventoryEntry{SpecHash(after), "new", false}));
  StatusOr<Plan> next = PlanFor(after, {LiveOf(after, LivePhase::kRunning)}, inventory);
  ASSERT_TRUE(next.ok());
  EXPECT_FALSE(next->HasChanges());
}

TEST(RecordInventoryTest, PatchOfAFinishedJobKeepsItFinishedSoItIsNotRerunOnceGone) {
  const TrainingJob before = Job();
  TrainingJob after = before;
  after.annotations[kPruneAnnotation] = "false";
  std::map<JobKey, InventoryEntry> inventory;
  inventory[before.key()] = {SpecHash(before), "old", true};
  inventory = SyncOnce(after, LiveOf(before, LivePhase::kSucceeded), inventory);
  EXPECT_EQ(inventory[after.key()], (InventoryEntry{SpecHash(after), "new", true}));
  // The finished Job is then removed by a TTL controller: nothing is run again.
  StatusOr<Plan> next = PlanFor(after, {}, inventory);
  ASSERT_TRUE(next.ok());
  EXPECT_FALSE(next->HasChanges()) << next->steps[0].reason;
}

TEST(RecordInventoryTest, RerunRecordsTheNewRunAsNotFinished) {
  TrainingJob before = Job();
  before.run_id = "1";
  TrainingJob after = before;
  after.run_id = "2";
  std::map<JobKey, InventoryEntry> inventory;
  inventory[before.key()] = {SpecHash(before), "old", true};
  StatusOr<Plan> plan = PlanFor(after, {LiveOf(before, LivePhase::kSucceeded)}, inventory);
  ASSERT_TRUE(plan.ok());
  ASSERT_EQ(plan->steps.at(0).action, Action::kRerun) << plan->steps.at(0).reason;
  inventory = SyncOnce(after, LiveOf(before, LivePhase::kSucceeded), inventory);
  // The new run has not finished: the inventory says so, at the new spec.
  EXPECT_EQ(inventory[after.key()], (InventoryEntry{SpecHash(after), "new", false}));
  // Once it finished and was seen so, it is not run again.
  inventory = SyncOnce(after, LiveOf(after, LivePhase::kSucceeded), inventory);
  EXPECT_TRUE(inventory[after.key()].finished);
  StatusOr<Plan> gone = PlanFor(after, {}, inventory);
  ASSERT_TRUE(gone.ok());
  EXPECT_FALSE(gone->HasChanges()) << gone->steps[0].reason;
}

}  // namespace
}  // namespace jobsync
