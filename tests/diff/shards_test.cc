// Sharding (diff/shards.h): which shard a job falls to, what a shard plans, and how a job moving
// between shards is handed over so that two shards never apply it at once.
#include "diff/shards.h"

#include <map>
#include <memory>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "diff/plan.h"
#include "plan_fixtures.h"

namespace jobsync {
namespace {

using ::jobsync::testing::Desired;
using ::jobsync::testing::FindStep;
using ::jobsync::testing::K8sJob;
using ::jobsync::testing::Live;
using ::jobsync::testing::Options;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

TrainingJob WithShard(TrainingJob job, const std::string& shard) {
  job.labels[kShardLabel] = shard;
  return job;
}

std::vector<std::string> Keys(const std::vector<LiveJob>& live) {
  std::vector<std::string> keys;
  for (const LiveJob& job : live) keys.push_back(job.key.ToString());
  return keys;
}

TEST(ShardsTest, ParsesIndexAndCount) {
  ASSERT_TRUE(ParseShardSpec("1/3").ok());
  EXPECT_EQ(*ParseShardSpec("1/3"), (ShardSpec{1, 3}));
  EXPECT_EQ(*ParseShardSpec("0/1"), (ShardSpec{0, 1}));
  for (const char* bad : {"3/3", "-1/3", "1", "1/0", "a/3", "1/3x", "/3", "1/", "0/2000"}) {
    StatusOr<ShardSpec> parsed = ParseShardSpec(bad);
    ASSERT_FALSE(parsed.ok()) << bad;
    EXPECT_THAT(parsed.status().message(), HasSubstr("INDEX/COUNT")) << bad;
  }
}

TEST(ShardsTest, ANamespaceFallsToOneShardAndTheLabelOverridesIt) {
  // FNV-1a 32 (the published test vectors): fixed, so every replica and version agrees.
  EXPECT_EQ(Fnv1a32(""), 2166136261u);
  EXPECT_EQ(Fnv1a32("a"), 0xe40c292cu);
  const int vision = ShardOf(K8sJob("a", "vision"), 3);
  EXPECT_EQ(ShardOf(K8sJob("b", "vision"), 3), vision);
  EXPECT_EQ(vision, static_cast<int>(Fnv1a32("vision") % 3));
  EXPECT_EQ(ShardOf(WithShard(K8sJob("a", "vision"), "7"), 3), 1);
  EXPECT_EQ(ShardOf(WithShard(K8sJob("a", "vision"), "x"), 3), vision);  // not a number
  EXPECT_EQ(ShardOf(K8sJob("a", "vision"), 1), 0);
  // Namespaces spread over the shards.
  std::map<int, int> counts;
  for (int i = 0; i < 300; ++i) ++counts[ShardOf(K8sJob("a", "ns-" + std::to_string(i)), 3)];
  for (int shard = 0; shard < 3; ++shard) EXPECT_GT(counts[shard], 70) << shard;
}

TEST(ShardsTest, AShardSeesItsJobsAndTheLiveJobsGitGivesIt) {
  const TrainingJob mine = WithShard(K8sJob("mine"), "0");
  const TrainingJob theirs = WithShard(K8sJob("theirs"), "1");
  const TrainingJob moved_away = WithShard(K8sJob("moved"), "1");
  const TrainingJob orphan_mine = WithShard(K8sJob("orphan-mine"), "0");
  const TrainingJob orphan_theirs = WithShard(K8sJob("orphan-theirs"), "1");
  LoadResult desired = Desired({mine, theirs, moved_away});
  std::vector<LiveJob> live = {Live(mine), Live(theirs), Live(WithShard(K8sJob("moved"), "0")),
                               Live(orphan_mine), Live(orphan_theirs)};
  std::map<JobKey, InventoryEntry> inventory = {{mine.key(), {"h1", "r1", false}},
                                                {moved_away.key(), {"h2", "r1", true}}};
  ShardView view = SelectShard(desired, live, inventory, ShardSpec{0, 2});
  ASSERT_EQ(view.desired.jobs.size(), 1u);
  EXPECT_EQ(view.desired.jobs[0]->name, "mine");
  // The moved job's live side goes with its manifest; an orphan with its applied spec.
  EXPECT_THAT(Keys(live), ElementsAre("kubernetes/default/mine", "kubernetes/default/orphan-mine"));
  EXPECT_EQ(view.inventory.size(), 1u);
  EXPECT_EQ(view.inventory.count(mine.key()), 1u);
  EXPECT_EQ(view.foreign.at(moved_away.key()), 1);
  EXPECT_EQ(view.foreign.at(theirs.key()), 1);
}

TEST(ShardsTest, AJobMovedAwayIsNeitherPrunedNorTouchedByItsOldShard) {
  const TrainingJob moved = WithShard(K8sJob("moved"), "1");
  LoadResult desired = Desired({moved});
  std::vector<LiveJob> live = {Live(WithShard(K8sJob("moved"), "0"))};
  std::map<JobKey, InventoryEntry> inventory = {{moved.key(), {"h", "r1", false}}};
  ShardView view = SelectShard(desired, live, inventory, ShardSpec{0, 2});
  StatusOr<Plan> plan = PlanSync(PlanInput{view.desired, live, {}, view.inventory}, Options());
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  EXPECT_EQ(FindStep(*plan, "kubernetes/default/moved"), nullptr);
}

TEST(ShardsTest, TheNewShardAdoptsTheEntryAndWaitsUntilTheOldOneLetsGo) {
  const TrainingJob moved = WithShard(K8sJob("moved"), "1");
  LoadResult desired = Desired({moved});
  std::vector<LiveJob> live = {Live(WithShard(K8sJob("moved"), "0"))};
  ShardView view = SelectShard(desired, live, {}, ShardSpec{1, 2});
  StatusOr<Plan> plan = PlanSync(PlanInput{view.desired, live, {}, view.inventory}, Options());
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  ASSERT_NE(FindStep(*plan, "kubernetes/default/moved"), nullptr);
  EXPECT_EQ(FindStep(*plan, "kubernetes/default/moved")->action, Action::kPatch);

  // Shard 0 still holds it: held, and its entry (a finished mark) adopted.
  std::multimap<JobKey, ForeignEntry> others = {{moved.key(), {0, {"h", "r1", true}}}};
  std::map<JobKey, InventoryEntry> inventory;
  EXPECT_EQ(HandOff(plan->steps, others, ShardSpec{1, 2}, {}, &inventory), 1);
  const PlanStep* step = FindStep(*plan, "kubernetes/default/moved");
  EXPECT_EQ(step->action, Action::kNone);
  EXPECT_TRUE(step->error);
  EXPECT_THAT(step->reason, HasSubstr("waiting for shard 0"));
  ASSERT_EQ(inventory.count(moved.key()), 1u);
  EXPECT_TRUE(inventory.at(moved.key()).finished);

  // Shard 0 sees the adoption and drops the job; then shard 1 acts.
  std::map<JobKey, InventoryEntry> old_inventory = {{moved.key(), {"h", "r1", true}}};
  std::multimap<JobKey, ForeignEntry> adopted = {{moved.key(), {1, inventory.at(moved.key())}}};
  EXPECT_THAT(ReleaseForeign({{moved.key(), 1}}, {}, &old_inventory), ElementsAre());
  EXPECT_EQ(old_inventory.size(), 1u);  // not adopted yet: kept
  EXPECT_EQ(ReleaseForeign({{moved.key(), 1}}, adopted, &old_inventory).size(), 1u);
  EXPECT_TRUE(old_inventory.empty());
  StatusOr<Plan> again = PlanSync(PlanInput{view.desired, live, {}, inventory}, Options());
  ASSERT_TRUE(again.ok());
  std::map<JobKey, InventoryEntry> none;
  EXPECT_EQ(HandOff(again->steps, {}, ShardSpec{1, 2}, inventory, &none), 0);
  EXPECT_TRUE(none.empty());
  EXPECT_EQ(FindStep(*again, "kubernetes/default/moved")->action, Action::kPatch);
}

TEST(ShardsTest, AJobInSyncIsAdoptedWithoutAnError) {
  const TrainingJob job = K8sJob("a");
  std::vector<PlanStep> steps(1);
  steps[0].key = job.key();
  steps[0].action = Action::kNone;
  std::map<JobKey, InventoryEntry> inventory;
  EXPECT_EQ(HandOff(steps, {{job.key(), {2, {"h", "r", false}}}}, ShardSpec{0, 3}, {}, &inventory),
            0);
  EXPECT_FALSE(steps[0].error);
  EXPECT_EQ(inventory.count(job.key()), 1u);
}

}  // namespace
}  // namespace jobsync
