// The planner's rules for Kueue queues and JobSet workloads (diff/plan.h: "Queued jobs" and the
// JobSet rows of "Per-field actions"): a job Kueue holds is neither drift nor resumed, and shows
// as Queued with Kueue's reason; a JobSet recreates for a replica change; a change of workload
// kind or queue recreates, saying why; impact counts a queued job as not running.
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "diff/impact.h"
#include "diff/plan.h"
#include "diff/render.h"
#include "plan_fixtures.h"
#include "schemas/canonical.h"

namespace jobsync {
namespace {

using ::jobsync::testing::Desired;
using ::jobsync::testing::K8sJob;
using ::jobsync::testing::Live;
using ::jobsync::testing::Options;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

constexpr const char* kKueueMessage =
    "couldn't assign flavors to pod set main: insufficient unused quota for cpu in flavor "
    "default-flavor, 4 more needed";

// The one step of planning `desired` against `live`, with `inventory`.
PlanStep PlanOne(const TrainingJob& desired, const LiveJob& live,
                 const std::map<JobKey, InventoryEntry>& inventory = {}) {
  const LoadResult load = Desired({desired});
  const std::vector<LiveJob> lives = {live};
  const std::map<Target, Status> unavailable;
  StatusOr<Plan> plan = PlanSync(PlanInput{load, lives, unavailable, inventory}, Options());
  EXPECT_TRUE(plan.ok()) << plan.status().message();
  if (!plan.ok() || plan->steps.size() != 1) {
    ADD_FAILURE() << "expected one step";
    return PlanStep{};
  }
  return plan->steps[0];
}

TrainingJob With(TrainingJob job, const std::function<void(TrainingJob*)>& edit) {
  edit(&job);
  return job;
}

// A Kubernetes job in queue "main".
TrainingJob InQueue() {
  return With(K8sJob("bert"), [](TrainingJob* j) { j->queue = "main"; });
}

// What the backend reports for `applied` held by Kueue, waiting for admission.
LiveJob Queued(const TrainingJob& applied) {
  LiveJob live = Live(applied, LivePhase::kQueued);
  live.phase_message = kKueueMessage;
  return live;
}

TrainingJob JobSet(int replicas) {
  return With(InQueue(), [&](TrainingJob* j) {
    j->workload = KubernetesWorkload::kJobSet;
    j->roles["worker"].replicas = replicas;
  });
}

TEST(QueuedTest, AQueuedJobIsInSyncNotResumedAndSaysWhy) {
  const PlanStep step = PlanOne(InQueue(), Queued(InQueue()));
  EXPECT_EQ(step.action, Action::kNone);
  EXPECT_EQ(step.reason, std::string("in sync; live: Queued (") + kKueueMessage + ")");
  EXPECT_THAT(step.changes, IsEmpty());
}

TEST(QueuedTest, ThePlanShowsAQueuedJobWithKueuesReason) {
  const LoadResult load = Desired({InQueue()});
  const std::vector<LiveJob> lives = {Queued(InQueue())};
  StatusOr<Plan> plan = BuildPlan(load, lives, Options());
  ASSERT_TRUE(plan.ok());
  EXPECT_THAT(RenderText(*plan, false),
              HasSubstr(std::string("kubernetes/default/bert: none (in sync; live: Queued (") +
                        kKueueMessage + "))"));
  EXPECT_THAT(RenderJson(*plan), HasSubstr("live: Queued (couldn't assign flavors"));
}

TEST(QueuedTest, AQueuedJobIsNotDriftUnderAnyPolicy) {
  const std::map<JobKey, InventoryEntry> inventory = {
      {InQueue().key(), {SpecHash(InQueue()), "r1", false}}};
  const PlanStep step = PlanOne(InQueue(), Queued(InQueue()), inventory);
  EXPECT_EQ(step.action, Action::kNone);
  EXPECT_FALSE(step.drift);
  EXPECT_THAT(step.reason, Not(HasSubstr("resume")));
}

TEST(QueuedTest, AQueuedJobWithoutAMessageSaysQueued) {
  const PlanStep step = PlanOne(InQueue(), Live(InQueue(), LivePhase::kQueued));
  EXPECT_EQ(step.reason, "in sync; live: Queued");
}

TEST(QueuedTest, GitSuspendingAQueuedJobIsAScale) {
  const TrainingJob suspended = With(InQueue(), [](TrainingJob* j) { j->suspend = true; });
  const PlanStep step = PlanOne(suspended, Queued(InQueue()));
  EXPECT_EQ(step.action, Action::kScale);
  EXPECT_EQ(step.reason,
            std::string("suspend: scale to zero; live: Queued (") + kKueueMessage + ")");
}

TEST(QueuedTest, GitResumingASuspendedJobIsAResume) {
  const TrainingJob suspended = With(InQueue(), [](TrainingJob* j) { j->suspend = true; });
  const PlanStep step = PlanOne(InQueue(), Live(suspended, LivePhase::kSuspended));
  EXPECT_EQ(step.action, Action::kScale);
  EXPECT_EQ(step.reason, "resume");
}

TEST(QueuedTest, AQueuedJobChangedInGitIsUpdatedLikeARunningOne) {
  const TrainingJob image = With(InQueue(), [](TrainingJob* j) { j->image = "trainer:v2"; });
  const PlanStep step = PlanOne(image, Queued(InQueue()));
  EXPECT_EQ(step.action, Action::kUpdate);
  EXPECT_THAT(step.reason, HasSubstr("spec.image: a running Job's pod template cannot change"));
  EXPECT_THAT(step.reason, HasSubstr("live: Queued"));
}

TEST(QueuedTest, AQueuedJobRequestsNothingInTheImpact) {
  const TrainingJob image = With(InQueue(), [](TrainingJob* j) { j->image = "trainer:v2"; });
  const LoadResult load = Desired({InQueue()});
  const std::vector<LiveJob> lives = {Queued(InQueue())};
  StatusOr<Plan> plan = BuildPlan(load, lives, Options());
  ASSERT_TRUE(plan.ok());
  // Nothing runs before (queued) and nothing after (a none step leaves it queued).
  EXPECT_THAT(ComputeImpact(*plan), IsEmpty());
  const LoadResult changed = Desired({image});
  plan = BuildPlan(changed, lives, Options());
  ASSERT_TRUE(plan.ok());
  const std::vector<ImpactRow> rows = ComputeImpact(*plan);
  ASSERT_EQ(rows.size(), 1U);
  EXPECT_EQ(rows[0].before, ResourceTotals{});
  EXPECT_EQ(rows[0].after.cpu_milli, 8000);
}

TEST(JobSetTest, AReplicaChangeRecreatesTheJobSet) {
  const PlanStep step = PlanOne(JobSet(4), Live(JobSet(2)));
  EXPECT_EQ(step.action, Action::kUpdate);
  EXPECT_EQ(step.reason,
            "spec changed: recreate (spec.roles.worker.replicas: a JobSet's replicated jobs "
            "cannot change; recreated)");
}

TEST(JobSetTest, AnElasticRoleChangedInGitRecreatesTheJobSet) {
  auto elastic = [](int replicas) {
    return With(JobSet(replicas), [](TrainingJob* j) {
      j->roles["worker"].min_replicas = 1;
      j->roles["worker"].max_replicas = 8;
    });
  };
  const PlanStep step = PlanOne(elastic(4), Live(elastic(2)));
  EXPECT_EQ(step.action, Action::kUpdate);
  EXPECT_THAT(step.reason, HasSubstr("a JobSet's replicated jobs cannot change"));
}

TEST(JobSetTest, SuspendStaysAScaleAndAnnotationsAPatch) {
  const TrainingJob suspended = With(JobSet(2), [](TrainingJob* j) { j->suspend = true; });
  EXPECT_EQ(PlanOne(suspended, Live(JobSet(2))).action, Action::kScale);
  const TrainingJob annotated =
      With(JobSet(2), [](TrainingJob* j) { j->annotations["team"] = "nlp"; });
  EXPECT_EQ(PlanOne(annotated, Live(JobSet(2))).action, Action::kPatch);
}

TEST(JobSetTest, AnIndexedJobStillScalesInPlace) {
  const TrainingJob four = With(InQueue(), [](TrainingJob* j) { j->roles["worker"].replicas = 4; });
  EXPECT_EQ(PlanOne(four, Live(InQueue())).action, Action::kScale);
}

TEST(JobSetTest, AWorkloadKindChangeRecreates) {
  const PlanStep step = PlanOne(JobSet(2), Live(InQueue()));
  EXPECT_EQ(step.action, Action::kUpdate);
  EXPECT_EQ(step.reason,
            "spec changed: recreate (spec.kubernetes.workload: the workload kind changes: its "
            "objects are replaced)");
}

TEST(QueuedTest, AQueueChangeRecreates) {
  const TrainingJob other = With(InQueue(), [](TrainingJob* j) { j->queue = "batch"; });
  const PlanStep step = PlanOne(other, Live(InQueue()));
  EXPECT_EQ(step.action, Action::kUpdate);
  EXPECT_EQ(step.reason,
            "spec changed: recreate (spec.queue: Kueue admits a workload through the queue it was "
            "created in)");
}

}  // namespace
}  // namespace jobsync
