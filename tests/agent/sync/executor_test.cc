#include "agent/sync/executor.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "agent/sync/clusters.h"

namespace jobsync {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// A Backend that records the steps applied to it and reports health from a table.
class FakeBackend : public Backend {
 public:
  explicit FakeBackend(BackendKind kind) : kind_(kind) {}

  BackendKind kind() const override { return kind_; }
  StatusOr<std::vector<LiveJob>> ListJobs() override { return std::vector<LiveJob>{}; }
  Status Apply(const PlanStep& step, const ApplyContext& context) override {
    applied.push_back(std::string(ActionName(step.action)) + " " + step.key.name + "@" +
                      context.revision);
    auto failure = fail.find(step.key.name);
    if (failure != fail.end()) return failure->second;
    if (step.action != Action::kDelete) {
      health[step.key.name] =
          queued.count(step.key.name) != 0 ? Health::kQueued : Health::kProgressing;
    }
    return OkStatus();
  }
  StatusOr<Health> GetHealth(const JobKey& key) override {
    ++health_reads[key.name];
    if (!health_error.ok()) return health_error;
    auto it = health.find(key.name);
    if (it == health.end()) return Health::kMissing;
    // A job becomes Healthy after `ready_after` reads, as pods would.
    if (it->second == Health::kProgressing && health_reads[key.name] > ready_after) {
      it->second = Health::kHealthy;
    }
    return it->second;
  }

  std::vector<std::string> applied;
  std::map<std::string, Status> fail;
  std::map<std::string, Health> health;
  // Jobs Kueue holds in their queue: Queued after any step but a delete.
  std::set<std::string> queued;
  std::map<std::string, int> health_reads;
  int ready_after = 0;
  Status health_error;

 private:
  BackendKind kind_;
};

PlanStep Step(Action action, const std::string& name, std::vector<std::string> depends_on = {},
              BackendKind backend = BackendKind::kKubernetes) {
  PlanStep step;
  step.action = action;
  step.key = {backend, "ns", name};
  TrainingJob job;
  job.name = name;
  job.namespace_name = "ns";
  job.backend = backend;
  job.depends_on = std::move(depends_on);
  if (action != Action::kDelete) step.desired = std::make_shared<const TrainingJob>(std::move(job));
  return step;
}

class ExecutorTest : public ::testing::Test {
 protected:
  Executor MakeExecutor(bool with_ray = false) {
    ExecutorOptions options;
    options.dependency_timeout = std::chrono::milliseconds(5000);
    options.poll_interval = std::chrono::milliseconds(1000);
    options.sleep = [this](std::chrono::milliseconds d) { slept_ += d; };
    std::map<Target, Backend*> backends{{BackendKind::kKubernetes, &kube_}};
    if (with_ray) backends[BackendKind::kRay] = &ray_;
    return Executor(backends, options);
  }

  FakeBackend kube_{BackendKind::kKubernetes};
  FakeBackend ray_{BackendKind::kRay};
  std::chrono::milliseconds slept_{0};
  ApplyContext context_{"agent", "abc123"};
};

TEST_F(ExecutorTest, RunsStepsInPlanOrderOnTheirBackend) {
  Plan plan;
  plan.steps = {Step(Action::kCreate, "a"), Step(Action::kCreate, "r", {}, BackendKind::kRay),
                Step(Action::kDelete, "old"), Step(Action::kNone, "same")};
  ApplyReport report = MakeExecutor(/*with_ray=*/true).Execute(plan, context_);
  EXPECT_TRUE(report.ok());
  EXPECT_THAT(kube_.applied, ElementsAre("create a@abc123", "delete old@abc123"));
  EXPECT_THAT(ray_.applied, ElementsAre("create r@abc123"));
  ASSERT_EQ(report.outcomes.size(), 4u);
  // A job just created is Progressing without asking the cluster; others are read.
  EXPECT_EQ(report.outcomes[0].health, Health::kProgressing);
  EXPECT_EQ(kube_.health_reads["a"], 0);
  EXPECT_EQ(report.outcomes[2].health, Health::kMissing);
}

TEST_F(ExecutorTest, OneFailureDoesNotStopOtherJobs) {
  kube_.fail["b"] = PermissionDeniedError("job kubernetes/ns/b: forbidden");
  Plan plan;
  plan.steps = {Step(Action::kCreate, "a"), Step(Action::kCreate, "b"), Step(Action::kCreate, "c")};
  ApplyReport report = MakeExecutor().Execute(plan, context_);
  EXPECT_FALSE(report.ok());
  EXPECT_THAT(kube_.applied, ElementsAre("create a@abc123", "create b@abc123", "create c@abc123"));
  ASSERT_EQ(report.FailedJobs().size(), 1u);
  EXPECT_EQ(report.FailedJobs()[0].name, "b");
  EXPECT_EQ(report.outcomes[1].status.code(), StatusCode::kPermissionDenied);
}

TEST_F(ExecutorTest, DependentOfAFailedJobIsSkipped) {
  kube_.fail["prep"] = UnavailableError("apiserver down");
  Plan plan;
  plan.steps = {Step(Action::kCreate, "prep"), Step(Action::kCreate, "train", {"prep"})};
  ApplyReport report = MakeExecutor().Execute(plan, context_);
  EXPECT_THAT(kube_.applied, ElementsAre("create prep@abc123"));
  EXPECT_TRUE(report.outcomes[1].skipped);
  EXPECT_THAT(report.outcomes[1].status.message(),
              HasSubstr("dependency kubernetes/ns/prep failed"));
}

TEST_F(ExecutorTest, WaitsForDependenciesToBecomeHealthy) {
  kube_.ready_after = 3;  // prep turns Healthy on its fourth health read: the wait's fourth poll
  Plan plan;
  plan.steps = {Step(Action::kCreate, "prep"), Step(Action::kCreate, "train", {"prep"})};
  ApplyReport report = MakeExecutor().Execute(plan, context_);
  EXPECT_TRUE(report.ok()) << report.outcomes[1].status.ToString();
  EXPECT_THAT(kube_.applied, ElementsAre("create prep@abc123", "create train@abc123"));
  EXPECT_EQ(slept_, std::chrono::milliseconds(3000));
}

TEST_F(ExecutorTest, GivesUpOnADependencyThatNeverBecomesHealthy) {
  kube_.health["prep"] = Health::kDegraded;
  Plan plan;
  plan.steps = {Step(Action::kNone, "prep"), Step(Action::kCreate, "train", {"prep"})};
  ApplyReport report = MakeExecutor().Execute(plan, context_);
  EXPECT_TRUE(report.outcomes[1].skipped);
  EXPECT_EQ(report.outcomes[1].status.code(), StatusCode::kDeadlineExceeded);
  EXPECT_THAT(report.outcomes[1].status.message(), HasSubstr("health: Degraded"));
  EXPECT_THAT(kube_.applied, ::testing::IsEmpty());
}

TEST_F(ExecutorTest, AQueuedDependencyIsWaitedForLikeOneNotYetHealthy) {
  kube_.health["prep"] = Health::kQueued;
  Plan plan;
  plan.steps = {Step(Action::kNone, "prep"), Step(Action::kCreate, "train", {"prep"})};
  ApplyReport report = MakeExecutor().Execute(plan, context_);
  EXPECT_TRUE(report.outcomes[1].skipped);
  EXPECT_EQ(report.outcomes[1].status.code(), StatusCode::kDeadlineExceeded);
  EXPECT_THAT(report.outcomes[1].status.message(), HasSubstr("health: Queued"));
  EXPECT_EQ(slept_, std::chrono::milliseconds(5000));
  EXPECT_THAT(kube_.applied, ::testing::IsEmpty());
}

TEST_F(ExecutorTest, AJobQueuedAfterItsStepIsNotAFailure) {
  kube_.queued = {"q"};
  Plan plan;
  plan.steps = {Step(Action::kScale, "q")};
  ApplyReport report = MakeExecutor().Execute(plan, context_);
  EXPECT_TRUE(report.ok()) << report.outcomes[0].status.ToString();
  ASSERT_EQ(report.outcomes.size(), 1U);
  EXPECT_TRUE(report.outcomes[0].status.ok());
  EXPECT_EQ(report.outcomes[0].health, Health::kQueued);
}

TEST_F(ExecutorTest, AnUnreadableDependencyFailsAtOnceInsteadOfWaitingOutTheTimeout) {
  kube_.health_error = UnavailableError("connection refused");
  Plan plan;
  plan.steps = {Step(Action::kNone, "prep"), Step(Action::kCreate, "train", {"prep"})};
  ApplyReport report = MakeExecutor().Execute(plan, context_);
  EXPECT_TRUE(report.outcomes[1].skipped);
  EXPECT_EQ(report.outcomes[1].status.code(), StatusCode::kUnavailable);
  EXPECT_THAT(
      report.outcomes[1].status.message(),
      HasSubstr("dependency kubernetes/ns/prep: cannot read its health: connection refused"));
  EXPECT_EQ(slept_, std::chrono::milliseconds(0));
  EXPECT_THAT(kube_.applied, ::testing::IsEmpty());
}

TEST_F(ExecutorTest, GivesUpOnABackendThatStopsAnsweringAndGoesOnWithTheOthers) {
  for (const char* name : {"a", "b", "c", "d", "e"}) {
    kube_.fail[name] = UnavailableError("connection refused");
  }
  Plan plan;
  plan.steps = {Step(Action::kCreate, "a"), Step(Action::kCreate, "b"),
                Step(Action::kCreate, "c"), Step(Action::kCreate, "d"),
                Step(Action::kCreate, "e"), Step(Action::kCreate, "r", {}, BackendKind::kRay)};
  ApplyReport report = MakeExecutor(/*with_ray=*/true).Execute(plan, context_);
  EXPECT_THAT(kube_.applied, ElementsAre("create a@abc123", "create b@abc123", "create c@abc123"));
  EXPECT_TRUE(report.outcomes[3].skipped);
  EXPECT_EQ(report.outcomes[3].status.code(), StatusCode::kUnavailable);
  EXPECT_THAT(report.outcomes[3].status.message(),
              HasSubstr("not attempted: kubernetes did not answer 3 steps in a row (last: "
                        "connection refused)"));
  EXPECT_TRUE(report.outcomes[4].skipped);
  EXPECT_TRUE(report.outcomes[5].status.ok()) << "the Ray backend still answers";
}

TEST_F(ExecutorTest, AnAnswerBetweenFailuresKeepsTheBackendInUse) {
  kube_.fail["a"] = UnavailableError("timeout");
  kube_.fail["b"] = UnavailableError("timeout");
  kube_.fail["d"] = UnavailableError("timeout");
  kube_.fail["e"] = UnavailableError("timeout");
  Plan plan;
  for (const char* name : {"a", "b", "c", "d", "e", "f"}) {
    plan.steps.push_back(Step(Action::kCreate, name));
  }
  ApplyReport report = MakeExecutor().Execute(plan, context_);
  EXPECT_EQ(kube_.applied.size(), 6u);
  EXPECT_TRUE(report.outcomes[5].status.ok());
}

TEST_F(ExecutorTest, MissingBackendFailsOnlyItsJobs) {
  Plan plan;
  plan.steps = {Step(Action::kCreate, "r", {}, BackendKind::kRay), Step(Action::kCreate, "k")};
  ApplyReport report = MakeExecutor(/*with_ray=*/false).Execute(plan, context_);
  EXPECT_THAT(report.outcomes[0].status.message(), HasSubstr("set RAY_ADDRESS"));
  EXPECT_TRUE(report.outcomes[1].status.ok());
  EXPECT_THAT(kube_.applied, ElementsAre("create k@abc123"));
}

TEST_F(ExecutorTest, StepsWithErrorsAreNeverApplied) {
  PlanStep broken = Step(Action::kNone, "broken");
  broken.error = true;
  broken.reason = "invalid manifest";
  Plan plan;
  plan.steps = {broken};
  ApplyReport report = MakeExecutor().Execute(plan, context_);
  EXPECT_FALSE(report.ok());
  EXPECT_THAT(kube_.applied, ::testing::IsEmpty());
  EXPECT_EQ(report.outcomes[0].status.message(), "invalid manifest");
}

TEST_F(ExecutorTest, SuspendedJobWithNothingLiveIsReportedSuspended) {
  PlanStep step = Step(Action::kNone, "paused");
  TrainingJob suspended = *step.desired;
  suspended.suspend = true;
  step.desired = std::make_shared<const TrainingJob>(std::move(suspended));
  PlanStep gone = Step(Action::kDelete, "gone");
  Plan plan;
  plan.steps = {step, gone};
  ApplyReport report = MakeExecutor().Execute(plan, context_);
  EXPECT_EQ(report.outcomes[0].health, Health::kSuspended);
  EXPECT_EQ(report.outcomes[1].health, Health::kMissing);
}

}  // namespace
}  // namespace jobsync

namespace jobsync {
namespace {

// A backend that takes concurrent calls and records how many overlapped.
class SlowConcurrentBackend : public Backend {
 public:
  BackendKind kind() const override { return BackendKind::kKubernetes; }
  bool concurrent() const override { return true; }
  StatusOr<std::vector<LiveJob>> ListJobs() override { return std::vector<LiveJob>{}; }
  Status Apply(const PlanStep& step, const ApplyContext&) override {
    int now = ++in_flight;
    int seen = max_in_flight.load();
    while (now > seen && !max_in_flight.compare_exchange_weak(seen, now)) {
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    {
      std::lock_guard<std::mutex> lock(mutex);
      order.push_back(step.key.name);
    }
    --in_flight;
    return OkStatus();
  }
  StatusOr<Health> GetHealth(const JobKey&) override { return Health::kHealthy; }

  std::atomic<int> in_flight{0};
  std::atomic<int> max_in_flight{0};
  std::mutex mutex;
  std::vector<std::string> order;
};

TEST(ExecutorConcurrencyTest, IndependentStepsRunSideBySideAndDependentOnesInOrder) {
  SlowConcurrentBackend backend;
  ExecutorOptions options;
  options.parallelism = 4;
  Executor executor({{BackendKind::kKubernetes, &backend}}, options);
  Plan plan;
  for (int i = 0; i < 8; ++i)
    plan.steps.push_back(Step(Action::kCreate, "free" + std::to_string(i)));
  plan.steps.push_back(Step(Action::kCreate, "base"));
  plan.steps.push_back(Step(Action::kCreate, "top", {"base"}));
  ApplyReport report = executor.Execute(plan, {"test", "rev"});
  ASSERT_TRUE(report.ok());
  EXPECT_GT(backend.max_in_flight.load(), 1);
  EXPECT_LE(backend.max_in_flight.load(), 4);
  // The report keeps plan order; the related pair ran last, one after the other.
  ASSERT_EQ(report.outcomes.size(), 10u);
  EXPECT_EQ(report.outcomes[9].step.key.name, "top");
  ASSERT_EQ(backend.order.size(), 10u);
  EXPECT_EQ(backend.order[8], "base");
  EXPECT_EQ(backend.order[9], "top");
}

TEST(ExecutorConcurrencyTest, BackendsWithoutConcurrencyRunOneStepAtATime) {
  SlowConcurrentBackend backend;
  ExecutorOptions options;
  options.parallelism = 1;
  Executor executor({{BackendKind::kKubernetes, &backend}}, options);
  Plan plan;
  for (int i = 0; i < 4; ++i) plan.steps.push_back(Step(Action::kCreate, "j" + std::to_string(i)));
  ASSERT_TRUE(executor.Execute(plan, {"test", "rev"}).ok());
  EXPECT_EQ(backend.max_in_flight.load(), 1);
  EXPECT_THAT(backend.order, ElementsAre("j0", "j1", "j2", "j3"));
}

// The agent's on_step sends an Event for the step; with the apiserver gone that call takes its
// retries (seconds). Reports of steps run side by side overlap, so that one slow report never
// holds the others back: behind one lock, 30 steps in flight took 87 s to fail (fault suite).
TEST(ExecutorConcurrencyTest, ReportsOfStepsRunSideBySideDoNotWaitForEachOther) {
  SlowConcurrentBackend backend;
  ExecutorOptions options;
  options.parallelism = 4;
  std::mutex mutex;
  std::condition_variable entered;
  int reporting = 0;
  int most_reporting = 0;
  options.on_step = [&](const StepOutcome&) {
    std::unique_lock<std::mutex> lock(mutex);
    most_reporting = std::max(most_reporting, ++reporting);
    entered.notify_all();
    // Held until another report comes in, as a report blocked on a dead server would be.
    entered.wait_for(lock, std::chrono::seconds(5), [&] { return most_reporting >= 2; });
    --reporting;
  };
  Executor executor({{BackendKind::kKubernetes, &backend}}, options);
  Plan plan;
  for (int i = 0; i < 4; ++i) plan.steps.push_back(Step(Action::kCreate, "j" + std::to_string(i)));
  ASSERT_TRUE(executor.Execute(plan, {"test", "rev"}).ok());
  EXPECT_GE(most_reporting, 2);
}

// A backend that lists one job, and records the keys it is handed.
class ListingBackend : public FakeBackend {
 public:
  ListingBackend() : FakeBackend(BackendKind::kKubernetes) {}
  StatusOr<std::vector<LiveJob>> ListJobs() override {
    LiveJob job;
    job.key = {BackendKind::kKubernetes, "ns", "listed"};
    return std::vector<LiveJob>{job};
  }
  Status Apply(const PlanStep& step, const ApplyContext& context) override {
    seen.push_back(step.key.ToString());
    return FakeBackend::Apply(step, context);
  }
  std::vector<std::string> seen;
};

TEST(OnClusterTest, StepsGoToTheClusterTheirKeyNamesAndKeysCarryIt) {
  ListingBackend home;
  ListingBackend west_inner;
  OnCluster west(west_inner, "west");
  EXPECT_EQ(TargetOf(west), Target(BackendKind::kKubernetes, "west"));
  StatusOr<std::vector<LiveJob>> listed = west.ListJobs();
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].key.ToString(), "kubernetes/ns/listed@west");

  Executor executor({{TargetOf(home), &home}, {TargetOf(west), &west}}, ExecutorOptions{});
  Plan plan;
  plan.steps.push_back(Step(Action::kCreate, "a"));
  PlanStep away = Step(Action::kCreate, "b");
  away.key.cluster = "west";
  plan.steps.push_back(away);
  PlanStep nowhere = Step(Action::kCreate, "c");
  nowhere.key.cluster = "east";
  plan.steps.push_back(nowhere);
  ApplyReport report = executor.Execute(plan, {"prod", "rev1"});
  EXPECT_THAT(home.applied, ElementsAre("create a@rev1"));
  EXPECT_THAT(west_inner.applied, ElementsAre("create b@rev1"));
  // The backend itself sees keys without the cluster.
  EXPECT_THAT(west_inner.seen, ElementsAre("kubernetes/ns/b"));
  ASSERT_EQ(report.outcomes.size(), 3u);
  EXPECT_THAT(report.outcomes[2].status.message(),
              HasSubstr("no kubernetes@east backend configured: give cluster east its "
                        "kubeconfig in the clusters file"));
}

}  // namespace
}  // namespace jobsync
