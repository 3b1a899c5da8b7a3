// Cluster moves and per-cluster rules of the planner (diff/plan.h, sections 1, 6 and 8): a job
// whose manifest names another cluster is deleted where it runs first and created on its new
// cluster by the next plan, never on both at once.
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "diff/plan.h"
#include "plan_fixtures.h"
#include "schemas/canonical.h"

namespace jobsync {
namespace {

using ::jobsync::testing::Desired;
using ::jobsync::testing::FindStep;
using ::jobsync::testing::K8sJob;
using ::jobsync::testing::Live;
using ::jobsync::testing::Options;
using ::testing::HasSubstr;

TrainingJob OnCluster(TrainingJob job, const std::string& cluster) {
  job.cluster = cluster;
  return job;
}

Plan MustPlan(const LoadResult& desired, const std::vector<LiveJob>& live,
              const PlanOptions& options, const std::map<Target, Status>& unavailable = {},
              const std::map<JobKey, InventoryEntry>& inventory = {}) {
  StatusOr<Plan> plan = PlanSync(PlanInput{desired, live, unavailable, inventory}, options);
  EXPECT_TRUE(plan.ok()) << plan.status().ToString();
  return plan.ok() ? *plan : Plan{};
}

TEST(ClusterPlanTest, KeysNameTheClusterOnlyWhenItIsNotTheDefault) {
  EXPECT_EQ(K8sJob("a").key().ToString(), "kubernetes/default/a");
  EXPECT_EQ(OnCluster(K8sJob("a"), "gpu-east").key().ToString(), "kubernetes/default/a@gpu-east");
  EXPECT_EQ(Target(BackendKind::kRay, "gpu-east").ToString(), "ray@gpu-east");
  EXPECT_NE(OnCluster(K8sJob("a"), "gpu-east").key(), K8sJob("a").key());
}

TEST(ClusterPlanTest, JobsOnTwoClustersArePlannedApart) {
  const TrainingJob east = OnCluster(K8sJob("a"), "east");
  const TrainingJob west = OnCluster(K8sJob("b"), "west");
  Plan plan = MustPlan(Desired({east, west}), {Live(east)}, Options());
  ASSERT_NE(FindStep(plan, "kubernetes/default/a@east"), nullptr);
  EXPECT_EQ(FindStep(plan, "kubernetes/default/a@east")->action, Action::kNone);
  ASSERT_NE(FindStep(plan, "kubernetes/default/b@west"), nullptr);
  EXPECT_EQ(FindStep(plan, "kubernetes/default/b@west")->action, Action::kCreate);
}

TEST(ClusterPlanTest, AMovedJobIsDeletedOnTheOldClusterFirstAndCreatedLater) {
  const TrainingJob before = K8sJob("a");  // on the default cluster
  const TrainingJob after = OnCluster(K8sJob("a"), "west");
  PlanOptions options = Options();
  options.prune = false;  // a move is not a prune
  Plan plan = MustPlan(Desired({after}), {Live(before)}, options);
  const PlanStep* deleted = FindStep(plan, "kubernetes/default/a");
  ASSERT_NE(deleted, nullptr);
  EXPECT_EQ(deleted->action, Action::kDelete);
  EXPECT_TRUE(deleted->moving);
  EXPECT_THAT(deleted->reason, HasSubstr("moved to cluster west in Git: deleted here first"));
  const PlanStep* created = FindStep(plan, "kubernetes/default/a@west");
  ASSERT_NE(created, nullptr);
  EXPECT_EQ(created->action, Action::kNone);
  EXPECT_FALSE(created->error);
  EXPECT_THAT(created->reason, HasSubstr("moved here from the default cluster"));

  // Once the job is gone from the old cluster, the next plan creates it on the new one.
  plan = MustPlan(Desired({after}), {}, options);
  ASSERT_NE(FindStep(plan, "kubernetes/default/a@west"), nullptr);
  EXPECT_EQ(FindStep(plan, "kubernetes/default/a@west")->action, Action::kCreate);
}

TEST(ClusterPlanTest, TheMassDeleteGuardNeverHoldsAMove) {
  const TrainingJob before = OnCluster(K8sJob("a"), "east");
  Plan plan = MustPlan(Desired({K8sJob("a")}), {Live(before)}, Options());
  const PlanStep* deleted = FindStep(plan, "kubernetes/default/a@east");
  ASSERT_NE(deleted, nullptr);
  EXPECT_EQ(deleted->action, Action::kDelete);  // 1 of 1 owned jobs: over the 50% share
  EXPECT_FALSE(deleted->held);
}

TEST(ClusterPlanTest, AProtectedJobIsNotMovedAndTheCreateSaysWhy) {
  TrainingJob before = K8sJob("a");
  before.annotations[kPruneAnnotation] = "false";
  Plan plan = MustPlan(Desired({OnCluster(K8sJob("a"), "west")}), {Live(before)}, Options());
  EXPECT_EQ(FindStep(plan, "kubernetes/default/a")->action, Action::kNone);
  const PlanStep* created = FindStep(plan, "kubernetes/default/a@west");
  ASSERT_NE(created, nullptr);
  EXPECT_EQ(created->action, Action::kNone);
  EXPECT_TRUE(created->error);
  EXPECT_THAT(created->reason, HasSubstr("protected from deletion there"));
}

TEST(ClusterPlanTest, ACreateWaitsWhileTheClusterItRanOnCannotBeRead) {
  const TrainingJob after = OnCluster(K8sJob("a"), "west");
  std::map<JobKey, InventoryEntry> inventory;
  inventory[K8sJob("a").key()] = {SpecHash(K8sJob("a")), "rev-a", false};
  const std::map<Target, Status> unavailable = {
      {Target(BackendKind::kKubernetes), UnavailableError("connection refused")}};
  Plan plan = MustPlan(Desired({after}), {}, Options(), unavailable, inventory);
  const PlanStep* created = FindStep(plan, "kubernetes/default/a@west");
  ASSERT_NE(created, nullptr);
  EXPECT_EQ(created->action, Action::kNone);
  EXPECT_TRUE(created->error);
  EXPECT_THAT(created->reason, HasSubstr("the default cluster is unavailable"));

  // Without the inventory's word that it ran there, the job is simply created.
  plan = MustPlan(Desired({after}), {}, Options(), unavailable, {});
  EXPECT_EQ(FindStep(plan, "kubernetes/default/a@west")->action, Action::kCreate);
}

TEST(ClusterPlanTest, AnUnavailableClusterHoldsBackOnlyItsOwnJobs) {
  const TrainingJob east = OnCluster(K8sJob("a"), "east");
  const TrainingJob west = OnCluster(K8sJob("b"), "west");
  const std::map<Target, Status> unavailable = {
      {Target(BackendKind::kKubernetes, "east"), UnavailableError("connection refused")}};
  Plan plan = MustPlan(Desired({east, west}), {}, Options(), unavailable);
  const PlanStep* held = FindStep(plan, "kubernetes/default/a@east");
  ASSERT_NE(held, nullptr);
  EXPECT_TRUE(held->error);
  EXPECT_THAT(held->reason, HasSubstr("kubernetes@east unavailable: connection refused"));
  EXPECT_EQ(FindStep(plan, "kubernetes/default/b@west")->action, Action::kCreate);
}

TEST(ClusterPlanTest, AnInvalidManifestHoldsItsJobOnEveryCluster) {
  LoadResult desired;
  desired.invalid_jobs.push_back(OnCluster(K8sJob("a"), "typo").key());
  Plan plan = MustPlan(desired, {Live(OnCluster(K8sJob("a"), "east"))}, Options());
  const PlanStep* step = FindStep(plan, "kubernetes/default/a@east");
  ASSERT_NE(step, nullptr);
  EXPECT_EQ(step->action, Action::kNone);
  EXPECT_TRUE(step->error);
  EXPECT_THAT(step->reason, HasSubstr("its manifest has problems"));
}

TEST(ClusterPlanTest, ClusterAllowlistsApplyToTheirClusterOnly) {
  PlanOptions options = Options();
  options.cluster_allowlists["east"].namespaces = {"team-a"};
  const TrainingJob east = OnCluster(K8sJob("a", "team-b"), "east");
  const TrainingJob home = K8sJob("b", "team-b");
  Plan plan = MustPlan(Desired({east, home}), {}, options);
  const PlanStep* refused = FindStep(plan, "kubernetes/team-b/a@east");
  ASSERT_NE(refused, nullptr);
  EXPECT_TRUE(refused->error);
  EXPECT_THAT(refused->reason,
              HasSubstr("allowNamespaces of cluster east in the clusters file team-a"));
  EXPECT_EQ(FindStep(plan, "kubernetes/team-b/b")->action, Action::kCreate);
}

}  // namespace
}  // namespace jobsync
