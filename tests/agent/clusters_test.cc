#include "agent/sync/clusters.h"

#include <memory>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "agent/cli/cluster_flags.h"

namespace jobsync {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

TrainingJob RayJob(const std::string& name) {
  TrainingJob job;
  job.name = name;
  job.namespace_name = "ml";
  job.backend = BackendKind::kRay;
  job.roles["worker"] = Role{};
  job.ray = RaySpec{"python train.py", nlohmann::json::object(), {}};
  job.source = {"jobs/" + name + ".yaml", 1, 1};
  return job;
}

TEST(PlanAgainstLiveTest, ReportsABackendOutsideTheAllowlistRatherThanUnavailable) {
  LoadResult desired;
  desired.jobs = {std::make_shared<const TrainingJob>(RayJob("sweep"))};
  LiveState live;
  live.unavailable[BackendKind::kRay] = FailedPreconditionError("no Ray cluster configured");
  ClusterFlags flags;
  StatusOr<Plan> plan = PlanAgainstLive(desired, live, ToPlanOptions(flags));
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  ASSERT_EQ(plan->steps.size(), 1u);
  EXPECT_THAT(plan->steps[0].reason, StartsWith("ray unavailable: "));

  flags.allow_backends = {"kubernetes"};
  plan = PlanAgainstLive(desired, live, ToPlanOptions(flags));
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  ASSERT_EQ(plan->steps.size(), 1u);
  EXPECT_TRUE(plan->steps[0].error);
  EXPECT_THAT(plan->steps[0].reason,
              HasSubstr("job sweep on backend ray is outside the allowlist"));
}

}  // namespace
}  // namespace jobsync
