// DeriveJobStatuses (agent/sync/job_status.h): each row of its table, and the cycle's result.
#include "agent/sync/job_status.h"

#include <map>
#include <memory>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace jobsync {
namespace {

using ::testing::HasSubstr;

TrainingJob Job() {
  TrainingJob job;
  job.name = "a";
  job.namespace_name = "default";
  job.backend = BackendKind::kKubernetes;
  job.image = "trainer:v1";
  job.roles["worker"].replicas = 2;
  job.source = {"jobs/a.yaml", 1, 1};
  return job;
}

// What an outcome of the executor was for the row.
enum class Outcome { kNotRun, kDone, kFailed, kSkipped };

struct StatusCase {
  std::string name;
  Action action;
  bool error = false;
  bool drift = false;
  bool withheld = false;
  DriftPolicy policy = DriftPolicy::kHeal;
  Outcome outcome = Outcome::kNotRun;
  std::string sync;
  std::string last_action;  // contained
  bool fails_cycle = false;
};

std::vector<StatusCase> StatusCases() {
  return {
      {"ErrorStep", Action::kNone, true, false, false, DriftPolicy::kHeal, Outcome::kNotRun,
       "Error", "", true},
      {"WithheldUnderWarn", Action::kNone, false, true, true, DriftPolicy::kWarn, Outcome::kNotRun,
       "Drifted", "", false},
      {"WithheldUnderOff", Action::kNone, false, true, true, DriftPolicy::kOff, Outcome::kNotRun,
       "OutOfSync", "", false},
      {"InSync", Action::kNone, false, false, false, DriftPolicy::kHeal, Outcome::kNotRun, "Synced",
       "", false},
      {"PendingOnAStandby", Action::kScale, false, false, false, DriftPolicy::kHeal,
       Outcome::kNotRun, "OutOfSync", "scale pending", true},
      {"Done", Action::kCreate, false, false, false, DriftPolicy::kHeal, Outcome::kDone, "Synced",
       "create ok", false},
      {"DriftHealed", Action::kScale, false, true, false, DriftPolicy::kHeal, Outcome::kDone,
       "Synced", "scale ok (drift healed)", false},
      {"Failed", Action::kUpdate, false, false, false, DriftPolicy::kHeal, Outcome::kFailed,
       "OutOfSync", "update failed", true},
      {"Skipped", Action::kCreate, false, false, false, DriftPolicy::kHeal, Outcome::kSkipped,
       "OutOfSync", "create failed", true},
  };
}

class DeriveJobStatusesTest : public ::testing::TestWithParam<StatusCase> {};

TEST_P(DeriveJobStatusesTest, DerivesTheRow) {
  const StatusCase& c = GetParam();
  Plan plan;
  PlanStep step;
  step.action = c.action;
  step.key = Job().key();
  step.error = c.error;
  step.drift = c.drift;
  step.withheld = c.withheld;
  step.reason = "why";
  step.desired = std::make_shared<const TrainingJob>(Job());
  plan.steps.push_back(step);
  std::map<JobKey, StepOutcome> outcomes;
  if (c.outcome != Outcome::kNotRun) {
    StepOutcome outcome{step, OkStatus(), c.outcome == Outcome::kSkipped, Health::kHealthy};
    if (c.outcome != Outcome::kDone) outcome.status = UnavailableError("down");
    outcomes.emplace(step.key, outcome);
  }
  const std::map<std::string, CommitInfo> commits;
  const CycleStatus status =
      DeriveJobStatuses(StatusInput{plan, outcomes, "abc", c.policy, commits, OkStatus(), {}});
  ASSERT_EQ(status.jobs.size(), 1u);
  EXPECT_EQ(status.jobs[0].sync, c.sync);
  EXPECT_THAT(status.jobs[0].last_action, HasSubstr(c.last_action));
  EXPECT_EQ(!status.result.ok(), c.fails_cycle) << status.result.ToString();
  if (c.outcome == Outcome::kDone) {
    EXPECT_EQ(status.jobs[0].applied_revision, "abc");
    EXPECT_EQ(status.jobs[0].health, "Healthy");
  }
}

INSTANTIATE_TEST_SUITE_P(StatusTable, DeriveJobStatusesTest, ::testing::ValuesIn(StatusCases()),
                         [](const ::testing::TestParamInfo<StatusCase>& param_info) {
                           return param_info.param.name;
                         });

TEST(DeriveJobStatusesTest, AFailureBeforeTheStatusAndThenAnUnreadableBackendAreTheResult) {
  Plan plan;
  const std::map<JobKey, StepOutcome> outcomes;
  const std::map<std::string, CommitInfo> commits;
  CycleStatus status =
      DeriveJobStatuses(StatusInput{plan,
                                    outcomes,
                                    "abc",
                                    DriftPolicy::kHeal,
                                    commits,
                                    UnavailableError("git down"),
                                    {{BackendKind::kRay, UnavailableError("ray down")}}});
  EXPECT_EQ(status.result.message(), "git down");
  status = DeriveJobStatuses(StatusInput{plan,
                                         outcomes,
                                         "abc",
                                         DriftPolicy::kHeal,
                                         commits,
                                         OkStatus(),
                                         {{BackendKind::kRay, UnavailableError("ray down")}}});
  EXPECT_EQ(status.result.message(), "ray: ray down");
}

}  // namespace
}  // namespace jobsync
