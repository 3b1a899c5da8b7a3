// Integration tests of RayBackend against the real local Ray head (scripts/cluster up; RAY_ADDRESS
// from `eval "$(scripts/cluster env)"`). Each test uses its own instance name and namespace
// (ray-test-<pid>, it<pid>), touches only submissions carrying that instance, and deletes them at
// the end. They fail, never skip, when the dashboard cannot be reached. One test restarts the Ray
// head, so these tests hold ctest's RESOURCE_LOCK ray.
#include <chrono>
#include <cstdlib>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include "backends/http_client.h"
#include "backends/ray/ray_backend.h"
#include "backends/ray/ray_mapping.h"
#include "diff/plan.h"
#include "schemas/canonical.h"

namespace jobsync {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;
using namespace std::chrono_literals;

constexpr const char* kHint = "run: scripts/cluster up && eval \"$(scripts/cluster env)\"";

std::string Pid() { return std::to_string(::getpid()); }

// The Ray address the tests use; empty when RAY_ADDRESS is unset.
std::string RayAddress() { return ProcessEnvironment("RAY_ADDRESS").value_or(""); }

// Polls `done` every 500 ms until it returns true or `timeout` passes; returns its last answer.
bool WaitFor(const std::function<bool()>& done, std::chrono::seconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    if (done()) return true;
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(500ms);
  }
}

// Runs `command` (no single quotes) with bash in the source tree, with the cluster's environment
// (PATH holds the Ray venv's `ray`); returns its exit status.
int RunInSourceTree(const std::string& command) {
  std::string line = std::string("cd ") + JOBSYNC_SOURCE_DIR +
                     " && bash -c 'eval \"$(scripts/cluster env)\" && " + command + "'";
  return std::system(line.c_str());
}

class RayIntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    address_ = RayAddress();
    ASSERT_FALSE(address_.empty()) << "RAY_ADDRESS is not set; " << kHint;
    HttpClientConfig config;
    config.base_url = address_;
    config.default_timeout = 10s;
    StatusOr<std::unique_ptr<HttpClient>> http = NewHttpClient(config);
    ASSERT_TRUE(http.ok()) << http.status().ToString();
    http_ = std::move(http).value();
    HttpRequest version;
    version.path = "/api/version";
    StatusOr<HttpResponse> answer = http_->Send(version);
    ASSERT_TRUE(answer.ok() && answer->status == 200)
        << "the Ray dashboard at " << address_ << " does not answer ("
        << (answer.ok() ? "HTTP " + std::to_string(answer->status) : answer.status().ToString())
        << "); " << kHint;

    RayBackendOptions options;
    options.address = address_;
    options.instance = instance_;
    options.poll_interval = 250ms;
    options.stop_timeout = 60s;
    StatusOr<std::unique_ptr<RayBackend>> backend = RayBackend::Create(options);
    ASSERT_TRUE(backend.ok()) << backend.status().ToString();
    backend_ = std::move(backend).value();
  }

  // Deletes every submission of this test's instance that is still there.
  void TearDown() override {
    if (backend_ == nullptr) return;
    StatusOr<std::vector<LiveJob>> live = backend_->ListJobs();
    if (!live.ok()) return;
    for (const LiveJob& job : *live) {
      if (job.instance != instance_) continue;
      PlanStep remove;
      remove.action = Action::kDelete;
      remove.key = job.key;
      Status status = backend_->Apply(remove, context_);
      EXPECT_TRUE(status.ok()) << status.ToString();
    }
  }

  // A Ray job whose entrypoint prints its worker count and then sleeps.
  TrainingJob Job(int workers, int sleep_seconds = 600) const {
    TrainingJob job;
    job.name = "trainer";
    job.namespace_name = namespace_;
    job.backend = BackendKind::kRay;
    Role worker;
    worker.replicas = workers;
    job.roles["worker"] = worker;
    RaySpec ray;
    ray.entrypoint =
        "python -c \"import os,time; print('replicas', os.environ['JOBSYNC_REPLICAS_WORKER'], "
        "os.environ['JOBSYNC_WORLD_SIZE'], flush=True); time.sleep(" +
        std::to_string(sleep_seconds) + ")\"";
    ray.entrypoint_resources.cpu = 0.1;
    job.ray = ray;
    job.source = {"manifests/trainer.yaml", 1, 1};
    return job;
  }

  // Plans `desired` against the cluster as this instance.
  Plan PlanFor(const std::vector<TrainingJob>& desired) {
    LoadResult load;
    for (const TrainingJob& job : desired) {
      load.jobs.push_back(std::make_shared<const TrainingJob>(job));
    }
    StatusOr<std::vector<LiveJob>> live = backend_->ListJobs();
    EXPECT_TRUE(live.ok()) << live.status().ToString();
    PlanOptions options;
    options.instance = instance_;
    options.max_delete_share = 1.0;
    StatusOr<Plan> plan = BuildPlan(load, live.ok() ? *live : std::vector<LiveJob>(), options);
    EXPECT_TRUE(plan.ok()) << plan.status().ToString();
    return plan.ok() ? *plan : Plan();
  }

  // Plans `desired`, expects one step of `action` and applies it.
  void PlanAndApply(const std::vector<TrainingJob>& desired, Action action) {
    Plan plan = PlanFor(desired);
    ASSERT_EQ(plan.steps.size(), 1u);
    ASSERT_EQ(plan.steps[0].action, action) << plan.steps[0].reason;
    Status status = backend_->Apply(plan.steps[0], context_);
    ASSERT_TRUE(status.ok()) << status.ToString();
  }

  // This instance's submissions on the cluster, oldest first.
  std::vector<RaySubmission> OwnSubmissions() {
    HttpRequest list;
    list.path = "/api/jobs/";
    StatusOr<HttpResponse> answer = http_->Send(list);
    EXPECT_TRUE(answer.ok() && answer->status == 200);
    if (!answer.ok() || answer->status != 200) return {};
    StatusOr<std::vector<RaySubmission>> parsed = ParseJobList(answer->body);
    EXPECT_TRUE(parsed.ok());
    std::vector<RaySubmission> own;
    for (RaySubmission& submission : *parsed) {
      if (submission.instance == instance_) own.push_back(std::move(submission));
    }
    auto groups = GroupGenerations(std::move(own));
    return groups.empty() ? std::vector<RaySubmission>() : groups.begin()->second;
  }

  std::string Logs(const std::string& submission_id) {
    HttpRequest logs;
    logs.path = "/api/jobs/" + submission_id + "/logs";
    StatusOr<HttpResponse> answer = http_->Send(logs);
    if (!answer.ok() || answer->status != 200) return "";
    json body = json::parse(answer->body, nullptr, false);
    return body.is_object() ? body.value("logs", "") : "";
  }

  bool WaitForPhase(const JobKey& key, LivePhase phase, std::chrono::seconds timeout) {
    return WaitFor(
        [&] {
          StatusOr<std::vector<LiveJob>> live = backend_->ListJobs();
          if (!live.ok()) return false;
          for (const LiveJob& job : *live) {
            if (job.key == key) return job.phase == phase;
          }
          return false;
        },
        timeout);
  }

  Health HealthOf(const JobKey& key) {
    StatusOr<Health> health = backend_->GetHealth(key);
    EXPECT_TRUE(health.ok()) << health.status().ToString();
    return health.ok() ? *health : Health::kMissing;
  }

  const std::string instance_ = "ray-test-" + Pid();
  const std::string namespace_ = "it" + Pid();
  // Each test applies at its own revision, as each apply of the agent is at a Git commit.
  const ApplyContext context_{
      instance_,
      std::string("it-") + ::testing::UnitTest::GetInstance()->current_test_info()->name()};
  std::string address_;
  std::unique_ptr<HttpClient> http_;
  std::unique_ptr<RayBackend> backend_;
};

TEST_F(RayIntegrationTest, SubmitsListsAndNeverSubmitsTwice) {
  TrainingJob job = Job(2);
  Plan plan = PlanFor({job});
  ASSERT_EQ(plan.steps.size(), 1u);
  ASSERT_EQ(plan.steps[0].action, Action::kCreate);
  ASSERT_TRUE(backend_->Apply(plan.steps[0], context_).ok());
  Status again = backend_->Apply(plan.steps[0], context_);  // the same create step, re-applied
  ASSERT_TRUE(again.ok()) << again.ToString();

  std::vector<RaySubmission> submissions = OwnSubmissions();
  ASSERT_EQ(submissions.size(), 1u);
  EXPECT_EQ(submissions[0].submission_id, SubmissionIdBase(job, context_.revision));
  EXPECT_EQ(submissions[0].metadata.at(kSpecAnnotation), CanonicalSpecText(job));
  ASSERT_TRUE(WaitForPhase(job.key(), LivePhase::kRunning, 120s));
  EXPECT_EQ(HealthOf(job.key()), Health::kHealthy);
  EXPECT_FALSE(PlanFor({job}).HasChanges());

  StatusOr<std::vector<LiveJob>> live = backend_->ListJobs();
  ASSERT_TRUE(live.ok());
  int ours = 0;
  for (const LiveJob& l : *live) {
    if (l.instance != instance_) continue;
    ++ours;
    ASSERT_NE(l.applied, nullptr);
    EXPECT_EQ(SpecHash(*l.applied), SpecHash(job));
    EXPECT_EQ(l.replicas.at("worker"), 2);
    EXPECT_EQ(l.source_path, "manifests/trainer.yaml");
    EXPECT_EQ(l.revision, context_.revision);
  }
  EXPECT_EQ(ours, 1);
}

TEST_F(RayIntegrationTest, ANewRunIdRerunsAFinishedJobAsANewSubmission) {
  // A short elastic job: it prints its bounds and ends.
  TrainingJob first = Job(2);
  first.roles["worker"].min_replicas = 1;
  first.roles["worker"].max_replicas = 3;
  first.ray->entrypoint =
      "python -c \"import os; print('bounds', os.environ['JOBSYNC_NNODES'], "
      "os.environ['JOBSYNC_MAX_REPLICAS_WORKER'], flush=True)\"";
  first.run_id = "1";
  PlanAndApply({first}, Action::kCreate);
  ASSERT_TRUE(WaitForPhase(first.key(), LivePhase::kSucceeded, 120s));
  const std::string first_id = SubmissionIdBase(first, context_.revision);
  EXPECT_NE(Logs(first_id).find("bounds 1:3 3"), std::string::npos) << Logs(first_id);
  // Finished at this spec: not run again.
  Plan same = PlanFor({first});
  ASSERT_EQ(same.steps.size(), 1u);
  EXPECT_EQ(same.steps[0].action, Action::kNone) << same.steps[0].reason;

  TrainingJob second = first;
  second.run_id = "2";
  PlanAndApply({second}, Action::kRerun);
  const std::string second_id = SubmissionIdBase(second, context_.revision);
  EXPECT_NE(second_id, first_id);
  std::vector<RaySubmission> submissions = OwnSubmissions();
  ASSERT_EQ(submissions.size(), 2u);
  EXPECT_EQ(submissions[0].submission_id, first_id);
  EXPECT_EQ(submissions[1].submission_id, second_id);
  ASSERT_TRUE(WaitForPhase(second.key(), LivePhase::kSucceeded, 120s));
  EXPECT_NE(Logs(second_id).find("bounds 1:3 3"), std::string::npos) << Logs(second_id);
  Plan after = PlanFor({second});
  ASSERT_EQ(after.steps.size(), 1u);
  EXPECT_EQ(after.steps[0].action, Action::kNone) << after.steps[0].reason;
}

TEST_F(RayIntegrationTest, ScaleRestartsWithTheNewCountsAndDeleteRemovesAll) {
  TrainingJob two = Job(2);
  TrainingJob four = Job(4);
  PlanAndApply({two}, Action::kCreate);
  const std::string old_id = SubmissionIdBase(two, context_.revision);
  ASSERT_TRUE(WaitFor([&] { return Logs(old_id).find("replicas 2 2") != std::string::npos; }, 120s))
      << Logs(old_id);

  PlanAndApply({four}, Action::kScale);

  std::vector<RaySubmission> submissions = OwnSubmissions();
  ASSERT_EQ(submissions.size(), 2u);
  EXPECT_EQ(submissions[0].submission_id, old_id);
  EXPECT_EQ(submissions[0].status, RayJobStatus::kStopped);
  const std::string new_id = SubmissionIdBase(four, context_.revision);
  EXPECT_EQ(submissions[1].submission_id, new_id);
  ASSERT_TRUE(WaitFor([&] { return Logs(new_id).find("replicas 4 4") != std::string::npos; }, 120s))
      << Logs(new_id);
  ASSERT_TRUE(WaitForPhase(four.key(), LivePhase::kRunning, 60s));
  EXPECT_FALSE(PlanFor({four}).HasChanges());

  PlanAndApply({}, Action::kDelete);
  EXPECT_TRUE(OwnSubmissions().empty());
  EXPECT_EQ(HealthOf(four.key()), Health::kMissing);
}

TEST_F(RayIntegrationTest, AnnotationChangeKeepsTheSameSubmissionRunning) {
  TrainingJob job = Job(2);
  PlanAndApply({job}, Action::kCreate);
  const std::string running_id = SubmissionIdBase(job, context_.revision);
  ASSERT_TRUE(WaitForPhase(job.key(), LivePhase::kRunning, 120s));

  for (const bool protect : {true, false}) {
    SCOPED_TRACE(protect ? "adding the prune annotation" : "removing it");
    if (protect) job.annotations[kPruneAnnotation] = "false";
    if (!protect) job.annotations.erase(kPruneAnnotation);
    Plan plan = PlanFor({job});
    ASSERT_EQ(plan.steps.size(), 1u);
    ASSERT_STREQ(ActionName(plan.steps[0].action), "patch") << plan.steps[0].reason;
    ASSERT_TRUE(backend_->Apply(plan.steps[0], context_).ok());

    // The submission that ran before runs still; the job reads as the new spec.
    bool still_running = false;
    for (const RaySubmission& submission : OwnSubmissions()) {
      if (submission.submission_id == running_id) {
        still_running = submission.status == RayJobStatus::kRunning;
      } else {
        EXPECT_NE(submission.status, RayJobStatus::kRunning) << submission.submission_id;
      }
    }
    EXPECT_TRUE(still_running);
    StatusOr<std::vector<LiveJob>> live = backend_->ListJobs();
    ASSERT_TRUE(live.ok());
    for (const LiveJob& l : *live) {
      if (l.key != job.key()) continue;
      EXPECT_EQ(l.prune_protected, protect);
      EXPECT_EQ(l.phase, LivePhase::kRunning);
      ASSERT_NE(l.applied, nullptr);
      EXPECT_EQ(SpecHash(*l.applied), SpecHash(job));
    }
    EXPECT_EQ(HealthOf(job.key()), Health::kHealthy);
    EXPECT_FALSE(PlanFor({job}).HasChanges());
  }
}

TEST_F(RayIntegrationTest, SuspendStopsAndResumeRunsAgain) {
  TrainingJob job = Job(2);
  PlanAndApply({job}, Action::kCreate);
  ASSERT_TRUE(WaitForPhase(job.key(), LivePhase::kRunning, 120s));

  TrainingJob suspended = job;
  suspended.suspend = true;
  PlanAndApply({suspended}, Action::kScale);
  std::vector<RaySubmission> submissions = OwnSubmissions();
  ASSERT_EQ(submissions.size(), 2u);
  EXPECT_EQ(submissions[0].status, RayJobStatus::kStopped);
  EXPECT_TRUE(submissions[1].suspend_marker);
  ASSERT_TRUE(WaitForPhase(job.key(), LivePhase::kSuspended, 30s));
  EXPECT_EQ(HealthOf(job.key()), Health::kSuspended);
  EXPECT_FALSE(PlanFor({suspended}).HasChanges());
  // The marker runs nothing but an echo and ends by itself.
  ASSERT_TRUE(WaitFor([&] { return IsTerminal(OwnSubmissions().back().status); }, 60s));

  PlanAndApply({job}, Action::kScale);
  submissions = OwnSubmissions();
  ASSERT_EQ(submissions.size(), 3u);
  EXPECT_EQ(submissions[2].submission_id, SubmissionIdBase(job, context_.revision) + "-2");
  ASSERT_TRUE(WaitForPhase(job.key(), LivePhase::kRunning, 120s));
  EXPECT_EQ(HealthOf(job.key()), Health::kHealthy);
  EXPECT_FALSE(PlanFor({job}).HasChanges());
}

TEST_F(RayIntegrationTest, RecoversFromAHeadRestartBetweenApplies) {
  TrainingJob job = Job(2, 120);
  PlanAndApply({job}, Action::kCreate);
  ASSERT_TRUE(WaitForPhase(job.key(), LivePhase::kRunning, 120s));

  ASSERT_EQ(RunInSourceTree("ray stop >/dev/null 2>&1"), 0);
  StatusOr<std::vector<LiveJob>> down = backend_->ListJobs();
  ASSERT_FALSE(down.ok()) << "ListJobs answered while the Ray head was stopped";
  EXPECT_EQ(down.status().code(), StatusCode::kUnavailable);
  EXPECT_THAT(down.status().message(), HasSubstr(address_));

  ASSERT_EQ(RunInSourceTree("scripts/cluster up"), 0);
  ASSERT_TRUE(WaitFor([&] { return backend_->ListJobs().ok(); }, 120s));
  // Ray keeps no job history across a head restart: the job is gone and the next plan recreates.
  EXPECT_TRUE(OwnSubmissions().empty());
  EXPECT_EQ(HealthOf(job.key()), Health::kMissing);
  PlanAndApply({job}, Action::kCreate);
  ASSERT_TRUE(WaitForPhase(job.key(), LivePhase::kRunning, 120s));
  EXPECT_FALSE(PlanFor({job}).HasChanges());
}

}  // namespace
}  // namespace jobsync
