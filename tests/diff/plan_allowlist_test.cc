// The planner's allowlists (PlanOptions::allowed_namespaces, allowed_backends): see "1. Pairing"
// in diff/plan.h.
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "diff/plan.h"
#include "diff/render.h"
#include "plan_fixtures.h"

namespace jobsync {
namespace {

using ::jobsync::testing::Desired;
using ::jobsync::testing::FindStep;
using ::jobsync::testing::K8sJob;
using ::jobsync::testing::Live;
using ::jobsync::testing::LoadYaml;
using ::jobsync::testing::Options;
using ::jobsync::testing::RayJob;
using ::jobsync::testing::StepKeys;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

PlanOptions AllowNamespaces(std::set<std::string> namespaces) {
  PlanOptions options = Options();
  options.allowed_namespaces = std::move(namespaces);
  return options;
}

PlanOptions AllowBackends(std::set<BackendKind> backends) {
  PlanOptions options = Options();
  options.allowed_backends = std::move(backends);
  return options;
}

Plan MustPlan(const LoadResult& desired, const std::vector<LiveJob>& live,
              const PlanOptions& options) {
  StatusOr<Plan> plan = BuildPlan(desired, live, options);
  EXPECT_TRUE(plan.ok()) << plan.status().ToString();
  return plan.ok() ? *plan : Plan{};
}

TEST(PlannerAllowlistTest, RefusesAJobInANamespaceOutsideTheAllowlist) {
  const Plan plan = MustPlan(Desired({K8sJob("train", "team-b"), K8sJob("eval", "team-a")}), {},
                             AllowNamespaces({"team-a"}));
  const PlanStep* refused = FindStep(plan, "kubernetes/team-b/train");
  ASSERT_NE(refused, nullptr);
  EXPECT_EQ(refused->action, Action::kNone);
  EXPECT_TRUE(refused->error);
  EXPECT_TRUE(refused->changes.empty());
  EXPECT_EQ(refused->reason,
            "manifests/train.yaml:1:1: job train in namespace team-b is outside the allowlist "
            "(--allow-namespace team-a): nothing is created, changed or deleted for it (hint: add "
            "team-b to --allow-namespace, or move the job to an allowed namespace)");
  // The rest of the plan proceeds.
  EXPECT_EQ(FindStep(plan, "kubernetes/team-a/eval")->action, Action::kCreate);
  EXPECT_EQ(plan.Count(Action::kCreate), 1);
  EXPECT_EQ(plan.ErrorCount(), 1);
}

TEST(PlannerAllowlistTest, NamesEveryAllowedNamespaceAsTheFlagTakesThem) {
  const Plan plan =
      MustPlan(Desired({K8sJob("train", "team-b")}), {}, AllowNamespaces({"team-c", "team-a"}));
  ASSERT_EQ(plan.steps.size(), 1u);
  EXPECT_THAT(plan.steps[0].reason, HasSubstr("(--allow-namespace team-a,team-c)"));
}

TEST(PlannerAllowlistTest, RefusedJobIsLocatedAtItsDocument) {
  const LoadResult desired = LoadYaml({{"jobs/two.yaml",
                                        "apiVersion: jobsync.dev/v1alpha1\n"
                                        "kind: TrainingJob\n"
                                        "metadata: {name: inside, namespace: team-a}\n"
                                        "spec:\n"
                                        "  backend: kubernetes\n"
                                        "  image: trainer:v1\n"
                                        "  roles: {worker: {replicas: 1}}\n"
                                        "---\n"
                                        "apiVersion: jobsync.dev/v1alpha1\n"
                                        "kind: TrainingJob\n"
                                        "metadata: {name: outside, namespace: team-b}\n"
                                        "spec:\n"
                                        "  backend: kubernetes\n"
                                        "  image: trainer:v1\n"
                                        "  roles: {worker: {replicas: 1}}\n"}});
  ASSERT_TRUE(desired.ok());
  const Plan plan = MustPlan(desired, {}, AllowNamespaces({"team-a"}));
  const PlanStep* refused = FindStep(plan, "kubernetes/team-b/outside");
  ASSERT_NE(refused, nullptr);
  EXPECT_THAT(refused->reason, ::testing::StartsWith("jobs/two.yaml:9:1: job outside in namespace "
                                                     "team-b is outside the allowlist"));
  EXPECT_EQ(FindStep(plan, "kubernetes/team-a/inside")->action, Action::kCreate);
}

TEST(PlannerAllowlistTest, LeavesTheLiveJobOfARefusedManifestAsItIs) {
  // Git changes the image and the replica count of a job this instance runs in team-b.
  TrainingJob changed = K8sJob("train", "team-b");
  changed.image = "trainer:v2";
  changed.roles["worker"].replicas = 6;
  const Plan plan =
      MustPlan(Desired({changed}), {Live(K8sJob("train", "team-b"))}, AllowNamespaces({"team-a"}));
  ASSERT_EQ(plan.steps.size(), 1u);
  EXPECT_EQ(plan.steps[0].action, Action::kNone);
  EXPECT_TRUE(plan.steps[0].error);
  EXPECT_FALSE(plan.HasChanges());
}

TEST(PlannerAllowlistTest, NeverPrunesOwnedJobsOutsideTheAllowlist) {
  // Both manifests are gone from Git; the jobs are this instance's, pruning is on and the
  // mass-delete guard is off: only the one in the allowed namespace is deleted.
  PlanOptions options = AllowNamespaces({"team-a"});
  options.allow_mass_delete = true;
  const Plan plan = MustPlan(
      Desired({}), {Live(K8sJob("old", "team-a")), Live(K8sJob("old", "team-b"))}, options);
  EXPECT_THAT(StepKeys(plan), ElementsAre("kubernetes/team-a/old"));
  EXPECT_EQ(plan.steps[0].action, Action::kDelete);
}

TEST(PlannerAllowlistTest, NeverScalesOwnedJobsOutsideTheAllowlist) {
  // Someone scaled the team-b job by hand: drift that the plan would scale back if it could.
  LiveJob drifted = Live(K8sJob("train", "team-b"));
  drifted.replicas["worker"] = 5;
  const Plan plan =
      MustPlan(Desired({K8sJob("train", "team-b")}), {drifted}, AllowNamespaces({"team-a"}));
  ASSERT_EQ(plan.steps.size(), 1u);
  EXPECT_EQ(plan.steps[0].action, Action::kNone);
  EXPECT_TRUE(plan.steps[0].error);
}

TEST(PlannerAllowlistTest, MassDeleteGuardCountsOnlyAllowedJobs) {
  // 1 of the 2 allowed owned jobs goes: 50%, allowed. Counting the 6 outside would hide a plan
  // that deletes everything it may touch.
  std::vector<LiveJob> live = {Live(K8sJob("keep", "team-a")), Live(K8sJob("gone", "team-a"))};
  for (const char* name : {"a", "b", "c", "d", "e", "f"}) live.push_back(Live(K8sJob(name, "x")));
  EXPECT_TRUE(
      BuildPlan(Desired({K8sJob("keep", "team-a")}), live, AllowNamespaces({"team-a"})).ok());
  const Plan held = MustPlan(Desired({}), live, AllowNamespaces({"team-a"}));
  ASSERT_EQ(held.steps.size(), 2u);
  for (const PlanStep& step : held.steps) {
    EXPECT_TRUE(step.held) << step.key.ToString();
    EXPECT_THAT(step.reason, HasSubstr("delete 2 of the 2 live jobs"));
  }
}

TEST(PlannerAllowlistTest, RefusesABackendOutsideTheAllowlist) {
  const Plan plan =
      MustPlan(Desired({RayJob("sweep", "ml"), K8sJob("train", "ml")}), {Live(RayJob("old", "ml"))},
               AllowBackends({BackendKind::kKubernetes}));
  const PlanStep* refused = FindStep(plan, "ray/ml/sweep");
  ASSERT_NE(refused, nullptr);
  EXPECT_EQ(refused->action, Action::kNone);
  EXPECT_TRUE(refused->error);
  EXPECT_EQ(refused->reason,
            "manifests/sweep.yaml:1:1: job sweep on backend ray is outside the allowlist "
            "(--allow-backend kubernetes): nothing is created, changed or deleted for it (hint: "
            "add ray to --allow-backend, or move the job to an allowed backend)");
  EXPECT_EQ(FindStep(plan, "kubernetes/ml/train")->action, Action::kCreate);
  // The owned Ray job without a manifest is not pruned either.
  EXPECT_EQ(FindStep(plan, "ray/ml/old"), nullptr);
}

TEST(PlannerAllowlistTest, NamesBothAllowlistsWhenAJobIsOutsideBoth) {
  PlanOptions options = AllowNamespaces({"team-a"});
  options.allowed_backends = {BackendKind::kKubernetes};
  const Plan plan = MustPlan(Desired({RayJob("sweep", "team-b")}), {}, options);
  ASSERT_EQ(plan.steps.size(), 1u);
  EXPECT_EQ(plan.steps[0].reason,
            "manifests/sweep.yaml:1:1: job sweep in namespace team-b on backend ray is outside the "
            "allowlist (--allow-namespace team-a; --allow-backend kubernetes): nothing is created, "
            "changed or deleted for it (hint: add team-b to --allow-namespace and add ray to "
            "--allow-backend, or move the job to an allowed namespace and backend)");
}

TEST(PlannerAllowlistTest, InvalidManifestOutsideTheAllowlistStaysAnInvalidManifest) {
  LoadResult desired = Desired({});
  desired.invalid_jobs = {K8sJob("broken", "team-b").key()};
  const Plan plan = MustPlan(desired, {Live(K8sJob("broken", "team-b"))}, AllowNamespaces({"a"}));
  ASSERT_EQ(plan.steps.size(), 1u);
  EXPECT_TRUE(plan.steps[0].error);
  EXPECT_EQ(plan.steps[0].reason, "manifest is invalid (see the diagnostics)");
}

TEST(PlannerAllowlistTest, WithoutAllowlistsEveryNamespaceAndBackendIsPlanned) {
  TrainingJob scaled = K8sJob("train", "team-b");
  scaled.roles["worker"].replicas = 4;
  const LoadResult desired = Desired({scaled, RayJob("sweep", "team-c"), K8sJob("new", "team-a"),
                                      K8sJob("keep1", "team-d"), K8sJob("keep2", "team-d")});
  const std::vector<LiveJob> live = {Live(K8sJob("train", "team-b")), Live(K8sJob("old", "team-d")),
                                     Live(K8sJob("keep1", "team-d")),
                                     Live(K8sJob("keep2", "team-d"))};
  const Plan plan = MustPlan(desired, live, Options());
  EXPECT_EQ(FindStep(plan, "kubernetes/team-b/train")->action, Action::kScale);
  EXPECT_EQ(FindStep(plan, "ray/team-c/sweep")->action, Action::kCreate);
  EXPECT_EQ(FindStep(plan, "kubernetes/team-a/new")->action, Action::kCreate);
  EXPECT_EQ(FindStep(plan, "kubernetes/team-d/old")->action, Action::kDelete);
  EXPECT_EQ(plan.ErrorCount(), 0);
  // Allowlists that hold every namespace and backend of the inputs change nothing, byte for byte.
  PlanOptions everything = AllowNamespaces({"team-a", "team-b", "team-c", "team-d"});
  everything.allowed_backends = {BackendKind::kKubernetes, BackendKind::kRay};
  EXPECT_EQ(RenderJson(MustPlan(desired, live, everything)), RenderJson(plan));
}

TEST(PlanOptionsTest, AllowsWhatBothAllowlistsAdmit) {
  PlanOptions options = Options();
  const JobKey ray_a{BackendKind::kRay, "a", "j"};
  const JobKey kube_b{BackendKind::kKubernetes, "b", "j"};
  EXPECT_TRUE(options.Allows(ray_a));
  options.allowed_namespaces = {"a"};
  EXPECT_TRUE(options.Allows(ray_a));
  EXPECT_FALSE(options.Allows(kube_b));
  options.allowed_backends = {BackendKind::kKubernetes};
  EXPECT_FALSE(options.Allows(ray_a));
  EXPECT_FALSE(options.Allows(kube_b));
  EXPECT_TRUE(options.Allows({BackendKind::kKubernetes, "a", "j"}));
}

}  // namespace
}  // namespace jobsync
