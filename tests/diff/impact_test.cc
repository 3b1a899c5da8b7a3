// The resource impact of a plan: requested GPUs, CPUs and memory per namespace, before and after.
#include "diff/impact.h"

#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "plan_fixtures.h"

namespace jobsync {
namespace {

using ::jobsync::testing::Desired;
using ::jobsync::testing::K8sJob;
using ::jobsync::testing::Live;
using ::jobsync::testing::Options;
using ::jobsync::testing::Q;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

// A job of `workers` workers, each with `gpus` GPUs, 4 CPUs and 16Gi.
TrainingJob GpuJob(const std::string& name, const std::string& ns, int workers, int gpus) {
  TrainingJob job = K8sJob(name, ns);
  job.roles["worker"].replicas = workers;
  job.roles["worker"].resources.gpu = gpus;
  return job;
}

std::vector<std::string> Lines(const LoadResult& desired, const std::vector<LiveJob>& live) {
  StatusOr<Plan> plan = BuildPlan(desired, live, Options());
  EXPECT_TRUE(plan.ok()) << plan.status().ToString();
  return plan.ok() ? ImpactLines(ComputeImpact(*plan)) : std::vector<std::string>{};
}

TEST(ImpactTest, CountsReplicasTimesPerReplicaResourcesPerNamespace) {
  EXPECT_THAT(Lines(Desired({GpuJob("resnet", "vision", 4, 8), K8sJob("bert", "nlp")}), {}),
              ElementsAre("nlp: +8 CPUs (0 -> 8), +32Gi memory (0 -> 32Gi)",
                          "vision: +32 GPUs (0 -> 32), +16 CPUs (0 -> 16), +64Gi memory "
                          "(0 -> 64Gi)"));
}

TEST(ImpactTest, ScaleUpdateAndDeleteCountTheLiveSideAsBefore) {
  const TrainingJob small = GpuJob("resnet", "vision", 2, 8);
  const TrainingJob big = GpuJob("resnet", "vision", 6, 8);
  const TrainingJob gone = GpuJob("vit", "vision", 1, 4);
  const TrainingJob kept = GpuJob("kept", "vision", 1, 1);
  EXPECT_THAT(Lines(Desired({big, kept}), {Live(small), Live(gone), Live(kept)}),
              ElementsAre("vision: +28 GPUs (21 -> 49), +12 CPUs (16 -> 28), +48Gi memory "
                          "(64Gi -> 112Gi)"));
}

TEST(ImpactTest, SuspendedAndFinishedJobsRequestNothing) {
  TrainingJob suspended = GpuJob("paused", "vision", 4, 8);
  suspended.suspend = true;
  const TrainingJob finished = GpuJob("done", "vision", 4, 8);
  // Suspending a running job frees its GPUs; a finished job holds none either side.
  EXPECT_THAT(Lines(Desired({suspended, finished}), {Live(GpuJob("paused", "vision", 4, 8)),
                                                     Live(finished, LivePhase::kSucceeded)}),
              ElementsAre("vision: -32 GPUs (32 -> 0), -16 CPUs (16 -> 0), -64Gi memory "
                          "(64Gi -> 0)"));
}

TEST(ImpactTest, ShowsElasticMaximaBeside) {
  TrainingJob elastic = GpuJob("elastic", "vision", 2, 8);
  elastic.roles["worker"].min_replicas = 1;
  elastic.roles["worker"].max_replicas = 8;
  elastic.roles["worker"].resources.cpu.reset();
  elastic.roles["worker"].resources.memory.reset();
  EXPECT_THAT(Lines(Desired({elastic}), {}),
              ElementsAre("vision: +16 GPUs (0 -> 16; elastic max 64)"));
}

TEST(ImpactTest, SumsQuantitiesExactly) {
  TrainingJob job = K8sJob("tiny", "default");
  job.roles["worker"].replicas = 3;
  job.roles["worker"].resources.cpu = Q("0.1");  // 0.1 + 0.1 + 0.1 in floating point is not 0.3
  job.roles["worker"].resources.memory = Q("1.5Gi");  // 3 x 1.5Gi = 4.5Gi = 4608Mi
  EXPECT_THAT(Lines(Desired({job}), {}),
              ElementsAre("default: +0.3 CPUs (0 -> 0.3), +4608Mi memory (0 -> 4608Mi)"));
}

TEST(ImpactTest, HugeRequestsDoNotOverflow) {
  TrainingJob job = K8sJob("huge", "default");
  job.roles["worker"].replicas = 10000;
  job.roles["worker"].resources.cpu = Q("500m");
  job.roles["worker"].resources.memory = Q("8Pi");  // 2^53 bytes, the largest quantity
  std::vector<ImpactRow> rows = ComputeImpact(*BuildPlan(Desired({job}), {}, Options()));
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(FormatMemory(rows[0].after.memory_milli), "80000Pi");
  EXPECT_EQ(FormatCpus(rows[0].after.cpu_milli), "5000");
  EXPECT_TRUE(rows[0].key.queue.empty());
}

TEST(ImpactTest, NoChangeGivesNoLines) {
  const TrainingJob job = GpuJob("same", "vision", 2, 1);
  EXPECT_THAT(Lines(Desired({job}), {Live(job)}), IsEmpty());
}

TEST(ImpactFormatTest, FormatsExactly) {
  EXPECT_EQ(FormatCpus(1500), "1.5");
  EXPECT_EQ(FormatCpus(1), "0.001");
  EXPECT_EQ(FormatMemory(static_cast<ResourceAmount>(1024) * 1024 * 1000), "1Mi");
  EXPECT_EQ(FormatMemory(1000000), "1000");
  EXPECT_EQ(FormatMemory(500), "0.5");
  EXPECT_EQ(FormatDelta(-1500, FormatCpus), "-1.5");
  EXPECT_EQ(FormatDelta(0, FormatCount), "+0");
  // Negative only from a live spec no manifest could hold; shown, not mangled.
  EXPECT_EQ(FormatCpus(-1500), "-1.5");
  EXPECT_EQ(FormatCount(-3), "-3");
}

}  // namespace
}  // namespace jobsync
