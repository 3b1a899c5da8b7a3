// Metadata-only changes (annotations of the TrainingJob, which reach no pod) are patched in place:
// the plan says "patch", never "update" (a recreate that restarts a training run). Action names
// are compared as rendered, so these tests read the plan as a user does.
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "diff/diff.h"
#include "diff/plan.h"
#include "plan_fixtures.h"
#include "schemas/canonical.h"

namespace jobsync {
namespace {

using ::jobsync::testing::Desired;
using ::jobsync::testing::K8sJob;
using ::jobsync::testing::kInstance;
using ::jobsync::testing::Live;
using ::jobsync::testing::RayJob;
using ::testing::HasSubstr;
using ::testing::SizeIs;

constexpr const char* kPruneField = R"(metadata.annotations["jobsync.dev/prune"])";

PlanStep OnlyStep(const TrainingJob& desired, const LiveJob& live) {
  StatusOr<std::vector<PlanStep>> steps = DiffJobs(Desired({desired}), {live}, kInstance);
  EXPECT_TRUE(steps.ok()) << steps.status().ToString();
  EXPECT_THAT(*steps, SizeIs(1));
  return steps->front();
}

TrainingJob WithPrune(TrainingJob job) {
  job.annotations[kPruneAnnotation] = "false";
  return job;
}

TEST(MetadataPatchTest, AddingAnAnnotationIsAPatch) {
  const TrainingJob job = K8sJob("a");
  const PlanStep step = OnlyStep(WithPrune(job), Live(job));
  EXPECT_STREQ(ActionName(step.action), "patch");
  EXPECT_THAT(step.reason, HasSubstr("in place"));
  ASSERT_THAT(step.changes, SizeIs(1));
  EXPECT_EQ(step.changes[0].field, kPruneField);
  EXPECT_FALSE(step.changes[0].from.has_value());
  EXPECT_EQ(step.changes[0].to, "false");
}

TEST(MetadataPatchTest, RemovingAnAnnotationIsAPatch) {
  const TrainingJob job = K8sJob("a");
  const PlanStep step = OnlyStep(job, Live(WithPrune(job)));
  EXPECT_STREQ(ActionName(step.action), "patch");
  ASSERT_THAT(step.changes, SizeIs(1));
  EXPECT_EQ(step.changes[0].field, kPruneField);
  EXPECT_FALSE(step.changes[0].to.has_value());
}

TEST(MetadataPatchTest, RayAnnotationChangeIsAPatchThatSaysTheSubmissionKeepsRunning) {
  const TrainingJob job = RayJob("r");
  const PlanStep step = OnlyStep(WithPrune(job), Live(job));
  EXPECT_STREQ(ActionName(step.action), "patch");
  EXPECT_THAT(step.reason, HasSubstr("running submission is not touched"));
}

TEST(MetadataPatchTest, AnnotationAndPodTemplateChangeIsStillAnUpdate) {
  const TrainingJob job = K8sJob("a");
  TrainingJob changed = WithPrune(job);
  changed.image = "trainer:v2";
  const PlanStep step = OnlyStep(changed, Live(job));
  EXPECT_STREQ(ActionName(step.action), "update");
  EXPECT_THAT(step.changes, SizeIs(2));
}

TEST(MetadataPatchTest, LabelChangeIsAnUpdateBecausePodsCarryTheLabels) {
  const TrainingJob job = K8sJob("a");
  TrainingJob labelled = job;
  labelled.labels["team"] = "vision";
  EXPECT_STREQ(ActionName(OnlyStep(labelled, Live(job)).action), "update");
}

TEST(MetadataPatchTest, AnnotationAndReplicaChangeIsOneScaleThatPatchesToo) {
  const TrainingJob job = K8sJob("a");
  TrainingJob changed = WithPrune(job);
  changed.roles["worker"].replicas = 6;
  const PlanStep step = OnlyStep(changed, Live(job));
  EXPECT_STREQ(ActionName(step.action), "scale");
  EXPECT_THAT(step.reason, HasSubstr("replica counts changed"));
  EXPECT_THAT(step.reason, HasSubstr("annotations patched in place"));
  EXPECT_THAT(step.changes, SizeIs(2));
}

TEST(MetadataPatchTest, FinishedJobWithNewAnnotationIsPatchedNotRerun) {
  const TrainingJob job = K8sJob("a");
  const PlanStep step = OnlyStep(WithPrune(job), Live(job, LivePhase::kSucceeded));
  EXPECT_STREQ(ActionName(step.action), "patch");
  EXPECT_THAT(step.reason, HasSubstr("not re-run"));
}

TEST(MetadataPatchTest, PlanCountsAndSummarisesPatches) {
  const TrainingJob job = K8sJob("a");
  const LoadResult desired = Desired({WithPrune(job)});
  StatusOr<Plan> plan = BuildPlan(desired, {Live(job)}, ::jobsync::testing::Options());
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  ASSERT_THAT(plan->steps, SizeIs(1));
  EXPECT_STREQ(ActionName(plan->steps[0].action), "patch");
  EXPECT_TRUE(plan->HasChanges());
}

}  // namespace
}  // namespace jobsync
