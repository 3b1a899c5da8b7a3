#include "diff/plan.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <ostream>
#include <random>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "diff/render.h"
#include "plan_fixtures.h"

namespace jobsync {
namespace {

using ::jobsync::testing::Desired;
using ::jobsync::testing::FindStep;
using ::jobsync::testing::K8sJob;
using ::jobsync::testing::kInstance;
using ::jobsync::testing::Live;
using ::jobsync::testing::Options;
using ::jobsync::testing::RayJob;
using ::jobsync::testing::StepKeys;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

TrainingJob DependsOn(TrainingJob job, std::vector<std::string> names) {
  job.depends_on = std::move(names);
  return job;
}

Plan MustPlan(const LoadResult& desired, const std::vector<LiveJob>& live,
              const PlanOptions& options = Options()) {
  StatusOr<Plan> plan = BuildPlan(desired, live, options);
  EXPECT_TRUE(plan.ok()) << plan.status().ToString();
  return plan.ok() ? *plan : Plan{};
}

// n owned live jobs named j0..j(n-1), none of them in Git.
std::vector<LiveJob> OwnedLiveJobs(int n) {
  std::vector<LiveJob> live;
  for (int i = 0; i < n; ++i) live.push_back(Live(K8sJob("j" + std::to_string(i))));
  return live;
}

// The desired set that keeps the first `kept` of OwnedLiveJobs.
LoadResult Keeping(int kept) {
  std::vector<TrainingJob> jobs;
  for (int i = 0; i < kept; ++i) jobs.push_back(K8sJob("j" + std::to_string(i)));
  return Desired(jobs);
}

TEST(PlannerOrderTest, CreatesDependenciesBeforeDependents) {
  // Names sort against the dependency order: "alpha" depends on "beta" depends on "gamma".
  const Plan plan = MustPlan(Desired({DependsOn(K8sJob("alpha"), {"beta"}),
                                      DependsOn(K8sJob("beta"), {"gamma"}), K8sJob("gamma")}),
                             {});
  EXPECT_THAT(StepKeys(plan), ElementsAre("kubernetes/default/gamma", "kubernetes/default/beta",
                                          "kubernetes/default/alpha"));
}

TEST(PlannerOrderTest, OrdersADiamondByDepthThenKey) {
  // d depends on b and c, which depend on a; z depends on nothing.
  const Plan plan =
      MustPlan(Desired({DependsOn(K8sJob("d"), {"c", "b"}), DependsOn(K8sJob("c"), {"a"}),
                        DependsOn(K8sJob("b"), {"a"}), K8sJob("a"), K8sJob("z")}),
               {});
  EXPECT_THAT(StepKeys(plan),
              ElementsAre("kubernetes/default/a", "kubernetes/default/z", "kubernetes/default/b",
                          "kubernetes/default/c", "kubernetes/default/d"));
}

TEST(PlannerOrderTest, DependsOnMatchesAnyBackendInTheSameNamespaceOnly) {
  const Plan plan = MustPlan(
      Desired({DependsOn(K8sJob("a", "ml"), {"prep"}), RayJob("prep", "ml"), K8sJob("prep", "x")}),
      {});
  EXPECT_THAT(StepKeys(plan), ElementsAre("kubernetes/x/prep", "ray/ml/prep", "kubernetes/ml/a"));
}

TEST(PlannerOrderTest, DeletesJobsOthersDependOnLast) {
  // Live: c depends on b depends on a; all three leave Git, and "new" arrives.
  const std::vector<LiveJob> live = {Live(K8sJob("a")), Live(DependsOn(K8sJob("b"), {"a"})),
                                     Live(DependsOn(K8sJob("c"), {"b"}))};
  const Plan plan = MustPlan(Desired({K8sJob("new")}), live, [] {
    PlanOptions o = Options();
    o.allow_mass_delete = true;
    return o;
  }());
  EXPECT_THAT(StepKeys(plan), ElementsAre("kubernetes/default/new", "kubernetes/default/c",
                                          "kubernetes/default/b", "kubernetes/default/a"));
  EXPECT_EQ(plan.steps[3].action, Action::kDelete);
}

TEST(PlannerOrderTest, UpdatesFollowDependsOnToo) {
  const TrainingJob prep = K8sJob("zprep");
  const TrainingJob train = DependsOn(K8sJob("atrain"), {"zprep"});
  TrainingJob prep_v2 = prep;
  prep_v2.image = "trainer:v2";
  TrainingJob train_v2 = train;
  train_v2.image = "trainer:v2";
  const Plan plan = MustPlan(Desired({prep_v2, train_v2}), {Live(prep), Live(train)});
  EXPECT_THAT(StepKeys(plan), ElementsAre("kubernetes/default/zprep", "kubernetes/default/atrain"));
  EXPECT_EQ(plan.steps[0].action, Action::kUpdate);
  EXPECT_EQ(plan.steps[1].action, Action::kUpdate);
}

// The loader rejects cycles; the planner must still end, with every job in the plan.
TEST(PlannerOrderTest, EndsOnADependencyCycle) {
  const Plan plan =
      MustPlan(Desired({DependsOn(K8sJob("a"), {"b"}), DependsOn(K8sJob("b"), {"a"}),
                        DependsOn(K8sJob("c"), {"c"}), DependsOn(K8sJob("d"), {"a"}), K8sJob("e")}),
               {});
  // e is free; c depends only on itself (ignored); a, b and d are on or behind the cycle.
  EXPECT_THAT(StepKeys(plan),
              ElementsAre("kubernetes/default/c", "kubernetes/default/e", "kubernetes/default/a",
                          "kubernetes/default/b", "kubernetes/default/d"));
}

TEST(PlannerOrderTest, SameInputsInAnyOrderGiveTheSameBytes) {
  std::vector<TrainingJob> desired = {DependsOn(K8sJob("train", "ml"), {"prep"}),
                                      K8sJob("prep", "ml"), RayJob("sweep", "ml"),
                                      K8sJob("eval", "ml"), RayJob("tune", "rl")};
  desired[3].image = "trainer:v2";
  std::vector<LiveJob> live = {Live(K8sJob("eval", "ml")), Live(K8sJob("old", "ml")),
                               Live(DependsOn(K8sJob("older", "ml"), {"old"})),
                               Live(RayJob("tune", "rl"), LivePhase::kSucceeded),
                               Live(K8sJob("foreign", "ml"), LivePhase::kRunning, "staging")};
  live[3].replicas["worker"] = 4;
  PlanOptions options = Options();
  options.allow_mass_delete = true;
  const Plan reference = MustPlan(Desired(desired), live, options);
  const std::string reference_json = RenderJson(reference);
  const std::string reference_text = RenderText(reference, false);
  std::mt19937 random(20240601);
  for (int round = 0; round < 50; ++round) {
    std::shuffle(desired.begin(), desired.end(), random);
    std::shuffle(live.begin(), live.end(), random);
    LoadResult shuffled;
    for (const TrainingJob& job : desired) {  // deliberately not in key order
      shuffled.jobs.push_back(std::make_shared<const TrainingJob>(job));
    }
    const Plan plan = MustPlan(shuffled, live, options);
    ASSERT_EQ(RenderJson(plan), reference_json);
    ASSERT_EQ(RenderText(plan, false), reference_text);
  }
}

TEST(PlannerSafetyTest, PrunesOnlyOwnedJobs) {
  const Plan plan = MustPlan(
      Keeping(0),
      {Live(K8sJob("ours")), Live(K8sJob("theirs"), {}, "staging"), Live(K8sJob("manual"), {}, "")},
      [] {
        PlanOptions o = Options();
        o.allow_mass_delete = true;
        return o;
      }());
  ASSERT_EQ(plan.steps.size(), 1u);
  EXPECT_EQ(plan.steps[0].key.ToString(), "kubernetes/default/ours");
  EXPECT_EQ(plan.steps[0].action, Action::kDelete);
}

TEST(PlannerSafetyTest, PruneDisabledGloballyKeepsEveryJob) {
  PlanOptions options = Options();
  options.prune = false;
  const Plan plan = MustPlan(Keeping(0), OwnedLiveJobs(4), options);
  ASSERT_EQ(plan.steps.size(), 4u);
  for (const PlanStep& step : plan.steps) {
    EXPECT_EQ(step.action, Action::kNone);
    EXPECT_EQ(step.reason, "prune disabled");
    EXPECT_FALSE(step.error);
    EXPECT_TRUE(step.changes.empty());
  }
  EXPECT_FALSE(plan.HasChanges());
}

TEST(PlannerSafetyTest, PruneAnnotationOnTheLiveObjectProtects) {
  std::vector<LiveJob> live = OwnedLiveJobs(4);
  live[3].prune_protected = true;
  const Plan plan = MustPlan(Keeping(3), live);
  const PlanStep* step = FindStep(plan, "kubernetes/default/j3");
  ASSERT_NE(step, nullptr);
  EXPECT_EQ(step->action, Action::kNone);
  EXPECT_EQ(step->reason, R"(protected: jobsync.dev/prune: "false" on the live object)");
  EXPECT_EQ(plan.Count(Action::kDelete), 0);
}

TEST(PlannerSafetyTest, PruneAnnotationInTheAppliedManifestProtects) {
  std::vector<LiveJob> live = OwnedLiveJobs(4);
  auto annotated = [](const LiveJob& job, const char* prune) {
    TrainingJob applied = *job.applied;
    applied.annotations[kPruneAnnotation] = prune;
    return std::make_shared<const TrainingJob>(std::move(applied));
  };
  live[3].applied = annotated(live[3], "false");
  live[2].applied = annotated(live[2], "true");
  const Plan plan = MustPlan(Keeping(2), live);
  EXPECT_EQ(FindStep(plan, "kubernetes/default/j3")->action, Action::kNone);
  EXPECT_THAT(FindStep(plan, "kubernetes/default/j3")->reason,
              HasSubstr("on its last applied manifest"));
  EXPECT_EQ(FindStep(plan, "kubernetes/default/j2")->action, Action::kDelete);
}

TEST(PlannerSafetyTest, AllowsDeletingExactlyTheMaximumShare) {
  const Plan plan = MustPlan(Keeping(2), OwnedLiveJobs(4));
  EXPECT_EQ(plan.Count(Action::kDelete), 2);
}

// The steps the mass-delete guard held back.
std::vector<const PlanStep*> HeldSteps(const Plan& plan) {
  std::vector<const PlanStep*> held;
  for (const PlanStep& step : plan.steps) {
    if (step.held) held.push_back(&step);
  }
  return held;
}

TEST(PlannerSafetyTest, HoldsTheDeletesJustOverTheMaximumShare) {
  const Plan plan = MustPlan(Keeping(1), OwnedLiveJobs(4));
  EXPECT_EQ(plan.Count(Action::kDelete), 0);
  const std::vector<const PlanStep*> held = HeldSteps(plan);
  ASSERT_EQ(held.size(), 3u);
  for (const PlanStep* step : held) {
    EXPECT_EQ(step->action, Action::kNone);
    EXPECT_TRUE(step->error);
    EXPECT_THAT(step->reason, HasSubstr("delete 3 of the 4 live jobs owned by instance 'prod' "
                                        "(75%), more than the allowed 50%"));
    EXPECT_THAT(step->reason, HasSubstr("--allow-mass-delete"));
  }
  EXPECT_EQ(held[0]->key.ToString(), "kubernetes/default/j1");
  EXPECT_TRUE(plan.HasErrors());
}

TEST(PlannerSafetyTest, HeldDeletesRoundTheShareToOneDecimal) {
  const Plan plan = MustPlan(Keeping(1), OwnedLiveJobs(3));
  ASSERT_EQ(HeldSteps(plan).size(), 2u);
  EXPECT_THAT(HeldSteps(plan)[0]->reason,
              HasSubstr("delete 2 of the 3 live jobs owned by instance 'prod' (66.7%), more than "
                        "the allowed 50%"));
}

// A commit that deletes 80% of the jobs, scales one and adds one: the guard holds the deletes
// back, and the scale and the create proceed.
TEST(PlannerSafetyTest, HoldsBackOnlyTheDeletesOfAMassDelete) {
  TrainingJob scaled = K8sJob("j0");
  scaled.roles["worker"].replicas = 4;
  const Plan plan = MustPlan(Desired({scaled, K8sJob("new")}), OwnedLiveJobs(5));
  ASSERT_EQ(plan.steps.size(), 6u);
  EXPECT_EQ(FindStep(plan, "kubernetes/default/j0")->action, Action::kScale);
  EXPECT_EQ(FindStep(plan, "kubernetes/default/new")->action, Action::kCreate);
  EXPECT_EQ(plan.Count(Action::kDelete), 0);
  ASSERT_EQ(HeldSteps(plan).size(), 4u);
  EXPECT_THAT(HeldSteps(plan)[0]->reason, HasSubstr("delete 4 of the 5 live jobs"));
  EXPECT_THAT(HeldSteps(plan)[0]->reason, HasSubstr("(80%)"));
  // Listed in every rendering, and counted.
  const nlohmann::json json = nlohmann::json::parse(RenderJson(plan));
  EXPECT_EQ(json["summary"]["held"], 4);
  EXPECT_EQ(json["summary"]["scale"], 1);
  EXPECT_EQ(json["steps"][0]["held"], false);
  EXPECT_THAT(RenderText(plan, false),
              HasSubstr("kubernetes/default/j4: none, error (delete held by the mass-delete "
                        "guard: this plan would delete 4 of the 5"));
}

TEST(PlannerSafetyTest, MovingAOneJobInstancesJobToAnotherNamespaceIsNotAMassDelete) {
  const Plan plan = MustPlan(Desired({K8sJob("a", "new")}), {Live(K8sJob("a", "old"))});
  ASSERT_EQ(plan.steps.size(), 2u);
  EXPECT_TRUE(HeldSteps(plan).empty());
  EXPECT_EQ(FindStep(plan, "kubernetes/old/a")->action, Action::kDelete);
  EXPECT_EQ(FindStep(plan, "kubernetes/new/a")->action, Action::kCreate);
  EXPECT_FALSE(plan.HasErrors());
}

TEST(PlannerSafetyTest, OnlyACreateOfTheSameNameAndBackendMakesADeleteAMove) {
  // Another name, or the same name on another backend, is a delete and a create.
  for (const TrainingJob& created : {K8sJob("b", "new"), RayJob("a", "new")}) {
    const Plan plan = MustPlan(Desired({created}), {Live(K8sJob("a", "old"))});
    ASSERT_EQ(HeldSteps(plan).size(), 1u) << created.key().ToString();
    EXPECT_EQ(HeldSteps(plan)[0]->key.ToString(), "kubernetes/old/a");
  }
  // One create moves one delete: of two jobs a (in old and older) and one a created, the other
  // delete is counted, one of two owned jobs: at the share, allowed.
  const Plan plan = MustPlan(Desired({K8sJob("a", "new")}),
                             {Live(K8sJob("a", "old")), Live(K8sJob("a", "older"))});
  EXPECT_EQ(plan.Count(Action::kDelete), 2);
  PlanOptions strict = Options();
  strict.max_delete_share = 0.0;
  const Plan held = MustPlan(Desired({K8sJob("a", "new")}),
                             {Live(K8sJob("a", "old")), Live(K8sJob("a", "older"))}, strict);
  EXPECT_EQ(plan.Count(Action::kCreate), 1);
  ASSERT_EQ(HeldSteps(held).size(), 1u);
  EXPECT_EQ(HeldSteps(held)[0]->key.ToString(), "kubernetes/older/a");
}

// An agent pointed at the wrong --path: a staging overlay with every prod job's name in
// namespace staging and another image. Those creates are no moves, so the guard holds every
// prod delete; the creates proceed.
TEST(PlannerSafetyTest, ACreateElsewhereWithAnotherSpecIsNoMove) {
  std::vector<TrainingJob> staging;
  std::vector<LiveJob> prod;
  for (const std::string name : {"a", "b", "c", "d"}) {
    TrainingJob job = K8sJob(name, "staging");
    job.image = "trainer:staging";
    staging.push_back(job);
    prod.push_back(Live(K8sJob(name, "prod")));
  }
  const Plan plan = MustPlan(Desired(staging), prod);
  EXPECT_EQ(plan.Count(Action::kDelete), 0);
  EXPECT_EQ(plan.Count(Action::kCreate), 4);
  const std::vector<const PlanStep*> held = HeldSteps(plan);
  ASSERT_EQ(held.size(), 4u);
  EXPECT_EQ(held[0]->key.ToString(), "kubernetes/prod/a");
  EXPECT_THAT(held[0]->reason, HasSubstr("delete 4 of the 4 live jobs"));
}

// Of two jobs created elsewhere, the one with the live job's spec is a move and the one with
// another image is counted: one delete of two owned jobs at share 0 is held.
TEST(PlannerSafetyTest, OnlyACreateWithTheDeletedSpecMakesAMove) {
  TrainingJob changed = K8sJob("b", "new");
  changed.image = "trainer:v2";
  PlanOptions strict = Options();
  strict.max_delete_share = 0.0;
  const Plan plan = MustPlan(Desired({K8sJob("a", "new"), changed}),
                             {Live(K8sJob("a", "old")), Live(K8sJob("b", "old"))}, strict);
  EXPECT_EQ(FindStep(plan, "kubernetes/old/a")->action, Action::kDelete);
  const std::vector<const PlanStep*> held = HeldSteps(plan);
  ASSERT_EQ(held.size(), 1u);
  EXPECT_EQ(held[0]->key.ToString(), "kubernetes/old/b");
}

TEST(PlannerSafetyTest, AllowMassDeleteLetsTheDeletesThrough) {
  PlanOptions options = Options();
  options.allow_mass_delete = true;
  const Plan plan = MustPlan(Keeping(0), OwnedLiveJobs(4), options);
  EXPECT_EQ(plan.Count(Action::kDelete), 4);
}

struct ShareCase {
  double share;
  int owned;
  int kept;
  bool allowed;

  // Names the case in failure messages instead of dumping its bytes.
  friend void PrintTo(const ShareCase& c, std::ostream* os) {
    *os << c.owned - c.kept << " of " << c.owned << " at share " << c.share;
  }
};

class MassDeleteShareTest : public ::testing::TestWithParam<ShareCase> {};

TEST_P(MassDeleteShareTest, HoldsOnlyStrictlyAboveTheShare) {
  const ShareCase& c = GetParam();
  PlanOptions options = Options();
  options.max_delete_share = c.share;
  const Plan plan = MustPlan(Keeping(c.kept), OwnedLiveJobs(c.owned), options);
  const size_t deletes = static_cast<size_t>(c.owned - c.kept);
  EXPECT_EQ(static_cast<size_t>(plan.Count(Action::kDelete)), c.allowed ? deletes : 0u);
  EXPECT_EQ(HeldSteps(plan).size(), c.allowed ? 0u : deletes);
}

INSTANTIATE_TEST_SUITE_P(
    Thresholds, MassDeleteShareTest,
    ::testing::Values(ShareCase{0.25, 4, 3, true}, ShareCase{0.25, 4, 2, false},
                      ShareCase{0.0, 4, 3, false}, ShareCase{0.0, 4, 4, true},
                      ShareCase{1.0, 4, 0, true}, ShareCase{0.29, 100, 71, true},
                      ShareCase{0.29, 100, 70, false}, ShareCase{0.5, 1, 0, false},
                      ShareCase{0.5, 3, 2, true}, ShareCase{0.5, 3, 1, false}));

TEST(PlannerSafetyTest, ProtectedAndForeignJobsDoNotCountAsDeletes) {
  std::vector<LiveJob> live = OwnedLiveJobs(4);
  live[0].prune_protected = true;
  live[1].prune_protected = true;
  live.push_back(Live(K8sJob("foreign"), {}, "staging"));
  // Two deletes of four owned jobs: at the share, so allowed.
  const Plan plan = MustPlan(Keeping(0), live);
  EXPECT_EQ(plan.Count(Action::kDelete), 2);
  EXPECT_EQ(plan.Count(Action::kNone), 2);
}

TEST(PlannerSafetyTest, RejectsBadOptions) {
  PlanOptions no_instance = Options();
  no_instance.instance.clear();
  EXPECT_EQ(BuildPlan(Keeping(0), {}, no_instance).status().code(), StatusCode::kInvalidArgument);
  for (double share : {-0.1, 1.5, std::nan("")}) {
    PlanOptions options = Options();
    options.max_delete_share = share;
    EXPECT_EQ(BuildPlan(Keeping(0), {}, options).status().code(), StatusCode::kInvalidArgument)
        << share;
  }
}

TEST(PlanTest, CountsAndChangesSummariseTheSteps) {
  TrainingJob scaled = K8sJob("s");
  scaled.roles["worker"].replicas = 5;
  LoadResult desired = Desired({K8sJob("c"), scaled, K8sJob("same")});
  desired.invalid_jobs = {K8sJob("bad").key()};
  const Plan plan = MustPlan(desired, {Live(K8sJob("s")), Live(K8sJob("same"))});
  EXPECT_EQ(plan.Count(Action::kCreate), 1);
  EXPECT_EQ(plan.Count(Action::kScale), 1);
  EXPECT_EQ(plan.Count(Action::kNone), 2);
  EXPECT_EQ(plan.ErrorCount(), 1);
  EXPECT_TRUE(plan.HasChanges());
  EXPECT_FALSE(MustPlan(Desired({K8sJob("same")}), {Live(K8sJob("same"))}).HasChanges());
}

// The agent keeps kSummarizedChanges + 1 of a create's or delete's fields (its whole manifest or
// applied spec): what ChangeSummary shows is the same, and other steps keep all of theirs.
TEST(PlanTest, AStepWithNoJobOnOneSideKeepsTheChangesAsked) {
  TrainingJob scaled = K8sJob("s");
  scaled.roles["worker"].replicas = 5;
  for (int i = 0; i < 5; ++i) scaled.annotations["team.example/a" + std::to_string(i)] = "x";
  const LoadResult desired = Desired({K8sJob("c"), scaled});
  const std::vector<LiveJob> live = {Live(K8sJob("d")), Live(K8sJob("s"))};
  PlanOptions options = Options();
  options.max_delete_share = 1;
  const Plan whole = MustPlan(desired, live, options);
  options.whole_job_changes = kSummarizedChanges + 1;
  const Plan kept = MustPlan(desired, live, options);
  for (const char* name : {"c", "d", "s"}) {
    const PlanStep* all = FindStep(whole, K8sJob(name).key().ToString());
    const PlanStep* some = FindStep(kept, K8sJob(name).key().ToString());
    ASSERT_NE(all, nullptr) << name;
    ASSERT_NE(some, nullptr) << name;
    EXPECT_EQ(some->action, all->action) << name;
    EXPECT_GT(all->changes.size(), kSummarizedChanges + 1) << name;
    EXPECT_EQ(ChangeSummary(*some), ChangeSummary(*all)) << name;
  }
  EXPECT_EQ(FindStep(kept, K8sJob("c").key().ToString())->changes.size(), kSummarizedChanges + 1);
  EXPECT_EQ(FindStep(kept, K8sJob("d").key().ToString())->changes.size(), kSummarizedChanges + 1);
  EXPECT_EQ(FindStep(kept, K8sJob("s").key().ToString())->changes,
            FindStep(whole, K8sJob("s").key().ToString())->changes);
}

}  // namespace
}  // namespace jobsync
