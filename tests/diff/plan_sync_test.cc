// The passes of PlanSync beyond desired x live (diff/plan.h, sections 6 and 7): unavailable
// backends, and the inventory (finished jobs that disappeared, drift and the drift policies).
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
using ::jobsync::testing::RayJob;
using ::testing::HasSubstr;
using ::testing::StartsWith;

TrainingJob Scaled(TrainingJob job, int workers) {
  job.roles["worker"].replicas = workers;
  return job;
}

TrainingJob WithImage(TrainingJob job, const std::string& image) {
  job.image = image;
  return job;
}

// What the inventory says of job "a".
enum class Recorded { kNothing, kThisSpec, kThisSpecFinished, kOtherSpec };

// One row: Git has job a, the cluster runs `live` as applied (or nothing) with `live_workers`
// workers (0: as applied), the inventory says `recorded`, under `policy`; the plan's step for a
// must be `action`, drift and withheld as given, with `reason` in its reason.
struct SyncCase {
  std::string name;
  std::optional<TrainingJob> live;
  int live_workers = 0;
  Recorded recorded = Recorded::kNothing;
  DriftPolicy policy = DriftPolicy::kHeal;
  Action action = Action::kNone;
  bool drift = false;
  bool withheld = false;
  std::string reason;
};

std::vector<SyncCase> SyncCases() {
  const TrainingJob a = K8sJob("a");
  return {
      {"CreateWithoutInventory", std::nullopt, 0, Recorded::kNothing, DriftPolicy::kHeal,
       Action::kCreate, false, false, ""},
      {"ScaleFromGitIsNotDrift", Scaled(a, 1), 0, Recorded::kOtherSpec, DriftPolicy::kWarn,
       Action::kScale, false, false, ""},
      {"ScaledOutsideGitHealed", a, 5, Recorded::kThisSpec, DriftPolicy::kHeal, Action::kScale,
       true, false, ""},
      {"ScaledOutsideGitWarned", a, 5, Recorded::kThisSpec, DriftPolicy::kWarn, Action::kNone, true,
       true, "changed outside Git (spec.roles.worker.replicas: live 5, Git 2); drift policy warn"},
      {"ScaledOutsideGitLeftOff", a, 5, Recorded::kThisSpec, DriftPolicy::kOff, Action::kNone, true,
       true, "drift policy off"},
      {"DeletedOutsideGitRecreated", std::nullopt, 0, Recorded::kThisSpec, DriftPolicy::kHeal,
       Action::kCreate, true, false, ""},
      {"DeletedOutsideGitWarned", std::nullopt, 0, Recorded::kThisSpec, DriftPolicy::kWarn,
       Action::kNone, true, true,
       "changed outside Git (live: no job, Git: the job); drift policy warn"},
      {"FinishedAndGoneNotRunAgain", std::nullopt, 0, Recorded::kThisSpecFinished,
       DriftPolicy::kHeal, Action::kNone, false, false, "finished at this spec; not run again"},
      {"FinishedAtAnotherSpecRunsTheNewSpec", std::nullopt, 0, Recorded::kOtherSpec,
       DriftPolicy::kHeal, Action::kCreate, false, false, ""},
      // The inventory says Git's spec, but the live job says it was applied at another: a run
      // applied that one and ended before saving its inventory. A change to finish, not drift.
      {"CrashBeforeStateSavedIsNotDrift", Scaled(WithImage(a, "trainer:crashed"), 5), 0,
       Recorded::kThisSpec, DriftPolicy::kWarn, Action::kUpdate, false, false, ""},
      {"InSyncStaysNone", a, 0, Recorded::kThisSpec, DriftPolicy::kWarn, Action::kNone, false,
       false, "in sync"},
  };
}

class InventoryPassTest : public ::testing::TestWithParam<SyncCase> {};

TEST_P(InventoryPassTest, PlansTheRow) {
  const SyncCase& c = GetParam();
  const TrainingJob a = K8sJob("a");
  const LoadResult desired = Desired({a});
  std::vector<LiveJob> live;
  if (c.live) {
    live.push_back(Live(*c.live));
    if (c.live_workers != 0) live.back().replicas["worker"] = c.live_workers;
  }
  std::map<JobKey, InventoryEntry> inventory;
  if (c.recorded != Recorded::kNothing) {
    const bool other = c.recorded == Recorded::kOtherSpec;
    inventory[a.key()] = {SpecHash(other ? WithImage(a, "trainer:old") : a), "0123abc",
                          c.recorded == Recorded::kThisSpecFinished};
  }
  const std::map<Target, Status> unavailable;
  PlanOptions options = Options();
  options.drift = c.policy;
  StatusOr<Plan> plan = PlanSync(PlanInput{desired, live, unavailable, inventory}, options);
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  ASSERT_EQ(plan->steps.size(), 1u);
  const PlanStep& step = plan->steps[0];
  EXPECT_EQ(ActionName(step.action), std::string(ActionName(c.action))) << step.reason;
  EXPECT_EQ(step.drift, c.drift);
  EXPECT_EQ(step.withheld, c.withheld);
  EXPECT_FALSE(step.error);
  EXPECT_THAT(step.reason, HasSubstr(c.reason));
  if (step.action == Action::kNone) {
    EXPECT_TRUE(step.changes.empty());
  }
}

INSTANTIATE_TEST_SUITE_P(PlanSemantics, InventoryPassTest, ::testing::ValuesIn(SyncCases()),
                         [](const ::testing::TestParamInfo<SyncCase>& param_info) {
                           return param_info.param.name;
                         });

// A second writer scaled one job and suspended another that this instance applied at Git's spec:
// both are drift, reverted under heal, and the withheld reason names the live and the Git side.
TEST(InventoryPassTest, ASecondWritersScaleAndSuspendAreDrift) {
  const LoadResult desired = Desired({K8sJob("a"), K8sJob("b")});
  std::vector<LiveJob> live = {Live(K8sJob("a")), Live(K8sJob("b"), LivePhase::kSuspended)};
  live[0].replicas["worker"] = 1;
  std::map<JobKey, InventoryEntry> inventory;
  for (const char* name : {"a", "b"}) {
    inventory[K8sJob(name).key()] = {SpecHash(K8sJob(name)), "0123abc", false};
  }
  const std::map<Target, Status> unavailable;
  PlanOptions options = Options();
  StatusOr<Plan> healed = PlanSync(PlanInput{desired, live, unavailable, inventory}, options);
  ASSERT_TRUE(healed.ok()) << healed.status().ToString();
  for (const PlanStep& step : healed->steps) {
    EXPECT_EQ(step.action, Action::kScale) << step.key.ToString();
    EXPECT_TRUE(step.drift) << step.key.ToString();
  }
  EXPECT_EQ(DriftSummary(healed->steps[0]), "spec.roles.worker.replicas: live 1, Git 2");
  EXPECT_EQ(DriftSummary(healed->steps[1]), "spec.suspend: live true, Git false");
  options.drift = DriftPolicy::kWarn;
  StatusOr<Plan> warned = PlanSync(PlanInput{desired, live, unavailable, inventory}, options);
  ASSERT_TRUE(warned.ok()) << warned.status().ToString();
  EXPECT_EQ(warned->steps[0].reason,
            "changed outside Git (spec.roles.worker.replicas: live 1, Git 2); drift policy warn");
}

TEST(UnavailableBackendPassTest, HoldsBackTheBackendsJobsAndDeletesNothingThere) {
  const LoadResult desired = Desired({K8sJob("a"), RayJob("sweep")});
  // A Ray job gone from Git, and one reported live although Ray could not be read: neither is
  // deleted.
  const std::vector<LiveJob> live = {Live(RayJob("old")), Live(K8sJob("gone"))};
  const std::map<Target, Status> unavailable = {
      {BackendKind::kRay, UnavailableError("connection refused")}};
  const std::map<JobKey, InventoryEntry> inventory;
  PlanOptions options = Options();
  options.max_delete_share = 1.0;
  StatusOr<Plan> plan = PlanSync(PlanInput{desired, live, unavailable, inventory}, options);
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  ASSERT_EQ(plan->steps.size(), 3u);
  const PlanStep* sweep = FindStep(*plan, "ray/default/sweep");
  ASSERT_NE(sweep, nullptr);
  EXPECT_TRUE(sweep->error);
  EXPECT_EQ(sweep->action, Action::kNone);
  EXPECT_EQ(sweep->reason, "ray unavailable: connection refused");
  EXPECT_EQ(FindStep(*plan, "ray/default/old"), nullptr);
  ASSERT_NE(FindStep(*plan, "kubernetes/default/a"), nullptr);
  EXPECT_EQ(FindStep(*plan, "kubernetes/default/a")->action, Action::kCreate);
  ASSERT_NE(FindStep(*plan, "kubernetes/default/gone"), nullptr);
  EXPECT_EQ(FindStep(*plan, "kubernetes/default/gone")->action, Action::kDelete);
}

TEST(UnavailableBackendPassTest, ReportsABackendOutsideTheAllowlistRatherThanUnavailable) {
  const LoadResult desired = Desired({RayJob("sweep")});
  const std::vector<LiveJob> live;
  const std::map<Target, Status> unavailable = {
      {BackendKind::kRay, FailedPreconditionError("no Ray cluster configured")}};
  const std::map<JobKey, InventoryEntry> inventory;
  PlanOptions options = Options();
  StatusOr<Plan> plan = PlanSync(PlanInput{desired, live, unavailable, inventory}, options);
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  ASSERT_EQ(plan->steps.size(), 1u);
  EXPECT_THAT(plan->steps[0].reason, StartsWith("ray unavailable: "));

  options.allowed_backends = {BackendKind::kKubernetes};
  plan = PlanSync(PlanInput{desired, live, unavailable, inventory}, options);
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  ASSERT_EQ(plan->steps.size(), 1u);
  EXPECT_TRUE(plan->steps[0].error);
  EXPECT_THAT(plan->steps[0].reason,
              HasSubstr("job sweep on backend ray is outside the allowlist"));
}

TEST(PlanSyncTest, WithoutInventoryOrOutagesEqualsBuildPlan) {
  const LoadResult desired = Desired({K8sJob("a"), Scaled(K8sJob("b"), 4), RayJob("c")});
  const std::vector<LiveJob> live = {Live(K8sJob("b")), Live(K8sJob("d"))};
  const std::map<Target, Status> unavailable;
  const std::map<JobKey, InventoryEntry> inventory;
  PlanOptions options = Options();
  options.max_delete_share = 1.0;
  options.drift = DriftPolicy::kOff;
  StatusOr<Plan> synced = PlanSync(PlanInput{desired, live, unavailable, inventory}, options);
  StatusOr<Plan> built = BuildPlan(desired, live, options);
  ASSERT_TRUE(synced.ok() && built.ok());
  ASSERT_EQ(synced->steps.size(), built->steps.size());
  for (size_t i = 0; i < synced->steps.size(); ++i) {
    EXPECT_EQ(synced->steps[i].key, built->steps[i].key);
    EXPECT_EQ(synced->steps[i].action, built->steps[i].action);
    EXPECT_EQ(synced->steps[i].reason, built->steps[i].reason);
  }
}

TEST(DriftPolicyTest, NamesRoundTrip) {
  for (DriftPolicy policy : {DriftPolicy::kHeal, DriftPolicy::kWarn, DriftPolicy::kOff}) {
    EXPECT_EQ(ParseDriftPolicy(DriftPolicyName(policy)), policy);
  }
  EXPECT_EQ(ParseDriftPolicy("repair"), std::nullopt);
}

TEST(LiveAsAppliedTest, StandsForTheJobsAppliedAtTheRevision) {
  TrainingJob suspended = K8sJob("s");
  suspended.suspend = true;
  const std::vector<LiveJob> live = LiveAsApplied(Desired({K8sJob("a"), suspended}), "abc", "me");
  ASSERT_EQ(live.size(), 2u);
  EXPECT_EQ(live[0].phase, LivePhase::kRunning);
  EXPECT_EQ(live[0].instance, "me");
  EXPECT_EQ(live[0].revision, "abc");
  EXPECT_EQ(live[0].replicas.at("worker"), 2);
  EXPECT_EQ(live[1].phase, LivePhase::kSuspended);
}

}  // namespace
}  // namespace jobsync
