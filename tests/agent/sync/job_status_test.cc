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
  const CycleStatus status = DeriveJobStatuses(
      StatusInput{plan, outcomes, "abc", c.policy, commits, OkStatus(), {}, OkStatus()});
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
                                    {{BackendKind::kRay, UnavailableError("ray down")}},
                                    OkStatus()});
  EXPECT_EQ(status.result.message(), "git down");
  status = DeriveJobStatuses(StatusInput{plan,
                                         outcomes,
                                         "abc",
                                         DriftPolicy::kHeal,
                                         commits,
                                         OkStatus(),
                                         {{BackendKind::kRay, UnavailableError("ray down")}},
                                         OkStatus()});
  EXPECT_EQ(status.result.message(), "ray: ray down");
}

// A plan of one step for job a: `action`, with Git's job unless `in_git` is false, and a live job
// running Git's spec.
Plan OneStep(Action action, bool in_git = true) {
  PlanStep step;
  step.action = action;
  step.key = Job().key();
  step.reason = "why";
  if (in_git) step.desired = std::make_shared<const TrainingJob>(Job());
  LiveJob live;
  live.key = step.key;
  live.applied = std::make_shared<const TrainingJob>(Job());
  live.phase = LivePhase::kRunning;
  step.live = std::make_shared<const LiveJob>(live);
  Plan plan;
  plan.steps.push_back(step);
  return plan;
}

// Plan `plan` with its one job's live phase set to `phase`, with `message`.
Plan WithPhase(Plan plan, LivePhase phase, const std::string& message) {
  LiveJob live = *plan.steps[0].live;
  live.phase = phase;
  live.phase_message = message;
  plan.steps[0].live = std::make_shared<const LiveJob>(live);
  return plan;
}

TEST(DeriveJobStatusesTest, AQueuedJobIsSyncedAndQueuedWithKueuesReason) {
  const Plan plan = WithPhase(OneStep(Action::kNone), LivePhase::kQueued,
                              "couldn't assign flavors to pod set main: insufficient unused quota");
  const std::map<JobKey, StepOutcome> outcomes;
  const std::map<std::string, CommitInfo> commits;
  const CycleStatus status = DeriveJobStatuses(
      StatusInput{plan, outcomes, "abc", DriftPolicy::kHeal, commits, OkStatus(), {}, OkStatus()});
  ASSERT_EQ(status.jobs.size(), 1U);
  EXPECT_EQ(status.jobs[0].sync, "Synced");
  EXPECT_EQ(status.jobs[0].health, "Queued");
  EXPECT_EQ(status.jobs[0].health_message,
            "couldn't assign flavors to pod set main: insufficient unused quota");
  EXPECT_TRUE(status.result.ok()) << status.result.message();
}

TEST(DeriveJobStatusesTest, AQueuedJobScaledAndStillQueuedIsSyncedWithItsReason) {
  const Plan plan =
      WithPhase(OneStep(Action::kScale), LivePhase::kQueued, "insufficient unused quota");
  std::map<JobKey, StepOutcome> outcomes;
  outcomes[Job().key()].health = Health::kQueued;
  const std::map<std::string, CommitInfo> commits;
  const CycleStatus status = DeriveJobStatuses(
      StatusInput{plan, outcomes, "abc", DriftPolicy::kHeal, commits, OkStatus(), {}, OkStatus()});
  ASSERT_EQ(status.jobs.size(), 1U);
  EXPECT_EQ(status.jobs[0].sync, "Synced");
  EXPECT_EQ(status.jobs[0].health, "Queued");
  EXPECT_EQ(status.jobs[0].health_message, "insufficient unused quota");
  EXPECT_TRUE(status.result.ok()) << status.result.message();
}

TEST(DeriveJobStatusesTest, AHealthMessageGoesWithTheHealthItExplains) {
  // Admitted during the step: the health read after it is no longer Queued, and Kueue's old
  // reason no longer applies.
  const Plan plan =
      WithPhase(OneStep(Action::kScale), LivePhase::kQueued, "insufficient unused quota");
  std::map<JobKey, StepOutcome> outcomes;
  outcomes[Job().key()].health = Health::kProgressing;
  const std::map<std::string, CommitInfo> commits;
  const CycleStatus status = DeriveJobStatuses(
      StatusInput{plan, outcomes, "abc", DriftPolicy::kHeal, commits, OkStatus(), {}, OkStatus()});
  ASSERT_EQ(status.jobs.size(), 1U);
  EXPECT_EQ(status.jobs[0].health, "Progressing");
  EXPECT_EQ(status.jobs[0].health_message, "");
}

TEST(DeriveJobStatusesTest, EveryJobIsUnknownWhileGitCannotBeRead) {
  Plan plan = OneStep(Action::kNone);
  plan.steps.push_back(OneStep(Action::kScale).steps[0]);
  plan.steps[1].key.name = "b";
  const std::map<JobKey, StepOutcome> outcomes = {
      {plan.steps[1].key, StepOutcome{plan.steps[1], OkStatus(), false, Health::kHealthy}}};
  const std::map<std::string, CommitInfo> commits;
  const Status git = UnavailableError("ls-remote: connection refused");
  const StatusInput input{plan, outcomes, "abc", DriftPolicy::kHeal, commits, git, {}, git};
  const CycleStatus status = DeriveJobStatuses(input);
  ASSERT_EQ(status.jobs.size(), 2u);
  for (const JobStatus& job : status.jobs) {
    EXPECT_EQ(job.sync, "Unknown") << job.key.ToString();
    EXPECT_EQ(job.last_error,
              "Git cannot be read: ls-remote: connection refused; the status is that of the last "
              "commit read");
  }
  EXPECT_EQ(status.jobs[1].last_action, "scale ok");  // what was done is still said
  EXPECT_EQ(status.result.message(), "ls-remote: connection refused");
}

TEST(DeriveJobStatusesTest, AJobKeptByThePruneAnnotationIsKeptAndDoesNotFailTheCycle) {
  Plan plan = OneStep(Action::kNone, false);
  LiveJob protected_live = *plan.steps[0].live;
  protected_live.prune_protected = true;
  plan.steps[0].live = std::make_shared<const LiveJob>(protected_live);
  plan.steps[0].reason = "protected: jobsync.dev/prune: \"false\" on the live object";
  const std::map<JobKey, StepOutcome> outcomes;
  const std::map<std::string, CommitInfo> commits;
  CycleStatus status = DeriveJobStatuses(
      StatusInput{plan, outcomes, "abc", DriftPolicy::kHeal, commits, OkStatus(), {}, OkStatus()});
  ASSERT_EQ(status.jobs.size(), 1u);
  EXPECT_EQ(status.jobs[0].sync, "Kept");
  EXPECT_THAT(status.jobs[0].last_action, HasSubstr("prune skipped: protected"));
  EXPECT_TRUE(status.result.ok()) << status.result.ToString();
  EXPECT_TRUE(IsKept(plan.steps[0]));
  // Protected by the manifest it was applied from: kept too.
  TrainingJob annotated = Job();
  annotated.annotations[kPruneAnnotation] = "false";
  LiveJob applied_protected = *OneStep(Action::kNone).steps[0].live;
  applied_protected.applied = std::make_shared<const TrainingJob>(annotated);
  plan.steps[0].live = std::make_shared<const LiveJob>(applied_protected);
  status = DeriveJobStatuses(
      StatusInput{plan, outcomes, "abc", DriftPolicy::kHeal, commits, OkStatus(), {}, OkStatus()});
  EXPECT_EQ(status.jobs[0].sync, "Kept");
  // A job still in Git is Synced, protected or not.
  EXPECT_FALSE(IsKept(OneStep(Action::kNone).steps[0]));
}

TEST(DeriveJobStatusesTest, AHeldDeleteIsOutOfSyncWithItsReasonAndFailsTheCycle) {
  Plan plan = OneStep(Action::kNone, false);
  plan.steps[0].error = true;
  plan.steps[0].held = true;
  plan.steps[0].reason = "delete held by the mass-delete guard: ... pass --allow-mass-delete";
  const std::map<JobKey, StepOutcome> outcomes;
  const std::map<std::string, CommitInfo> commits;
  const CycleStatus status = DeriveJobStatuses(
      StatusInput{plan, outcomes, "abc", DriftPolicy::kHeal, commits, OkStatus(), {}, OkStatus()});
  ASSERT_EQ(status.jobs.size(), 1u);
  EXPECT_EQ(status.jobs[0].sync, "OutOfSync");
  EXPECT_EQ(status.jobs[0].last_error, plan.steps[0].reason);
  EXPECT_THAT(status.result.message(), HasSubstr("--allow-mass-delete"));
}

TEST(DeriveJobStatusesTest, DriftIsFlaggedWhetherHealedOrWithheld) {
  for (DriftPolicy policy : {DriftPolicy::kHeal, DriftPolicy::kWarn}) {
    Plan plan = OneStep(policy == DriftPolicy::kHeal ? Action::kScale : Action::kNone);
    plan.steps[0].drift = true;
    plan.steps[0].withheld = policy != DriftPolicy::kHeal;
    std::map<JobKey, StepOutcome> outcomes;
    if (policy == DriftPolicy::kHeal) {
      outcomes.emplace(plan.steps[0].key,
                       StepOutcome{plan.steps[0], OkStatus(), false, Health::kHealthy});
    }
    const std::map<std::string, CommitInfo> commits;
    const CycleStatus status = DeriveJobStatuses(
        StatusInput{plan, outcomes, "abc", policy, commits, OkStatus(), {}, OkStatus()});
    ASSERT_EQ(status.jobs.size(), 1u);
    EXPECT_TRUE(status.jobs[0].drift) << DriftPolicyName(policy);
    EXPECT_EQ(status.jobs[0].sync, policy == DriftPolicy::kHeal ? "Synced" : "Drifted");
  }
  EXPECT_FALSE(DeriveJobStatuses(StatusInput{OneStep(Action::kNone),
                                             {},
                                             "abc",
                                             DriftPolicy::kHeal,
                                             {},
                                             OkStatus(),
                                             {},
                                             OkStatus()})
                   .jobs[0]
                   .drift);
}

}  // namespace
}  // namespace jobsync
