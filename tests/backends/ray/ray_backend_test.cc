#include "backends/ray/ray_backend.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include "diff/plan.h"
#include "schemas/canonical.h"
#include "tests/backends/ray/fake_ray.h"
#include "tests/test_secrets.h"

namespace jobsync {
namespace {

using nlohmann::json;
using ::testing::_;
using ::testing::AnyNumber;
using ::testing::ElementsAre;
using testing::FakeRayJobs;
using ::testing::Field;
using ::testing::HasSubstr;
using testing::MockHttpClient;
using ::testing::Not;
using testing::RayTrainingJob;
using ::testing::Return;
using namespace std::chrono_literals;

constexpr const char* kAddress = "http://127.0.0.1:8265";
constexpr const char* kToken = "s3cr3t-t0ken-value";
const ApplyContext kContext{"prod", "rev1"};

RayBackendOptions TestOptions() {
  testing::RegisterTestSecret("ray_backend_test token", kToken);
  RayBackendOptions options;
  options.address = kAddress;
  options.instance = "prod";
  options.bearer_token = kToken;
  options.poll_interval = 10ms;
  options.stop_timeout = 100ms;  // 10 polls
  options.agent_retries = 3;
  options.agent_backoff = 500ms;
  options.max_agent_backoff = 800ms;
  return options;
}

// A RayBackend whose HttpClient is a mock that, unless a test says otherwise, answers from an
// in-memory FakeRayJobs; sleeps are recorded, not slept.
class RayBackendTest : public ::testing::Test {
 protected:
  RayBackendTest() {
    auto mock = std::make_unique<::testing::NiceMock<MockHttpClient>>();
    http_ = mock.get();
    ON_CALL(*http_, Send(_)).WillByDefault([this](const HttpRequest& request) {
      return fake_.Handle(request);
    });
    backend_ = std::make_unique<RayBackend>(
        std::move(mock), TestOptions(),
        [this](std::chrono::milliseconds delay) { sleeps_.push_back(delay); });
  }

  // Applies a step of `action` for `desired`, with the live job the backend reports.
  Status ApplyStep(Action action, const TrainingJob& desired) {
    PlanStep step;
    step.action = action;
    step.key = desired.key();
    step.desired = std::make_shared<const TrainingJob>(desired);
    return backend_->Apply(step, kContext);
  }

  // Plans `desired` against the backend's live jobs, as the agent does.
  Plan PlanFor(const std::vector<TrainingJob>& desired) {
    LoadResult load;
    for (const TrainingJob& job : desired) {
      load.jobs.push_back(std::make_shared<const TrainingJob>(job));
    }
    StatusOr<std::vector<LiveJob>> live = backend_->ListJobs();
    EXPECT_TRUE(live.ok()) << live.status().ToString();
    PlanOptions options;
    options.instance = "prod";
    options.max_delete_share = 1.0;
    StatusOr<Plan> plan = BuildPlan(load, live.ok() ? *live : std::vector<LiveJob>(), options);
    EXPECT_TRUE(plan.ok()) << plan.status().ToString();
    return plan.ok() ? *plan : Plan();
  }

  // Plans `desired`, expects exactly one step of `action`, and applies it.
  void PlanAndApply(const std::vector<TrainingJob>& desired, Action action) {
    Plan plan = PlanFor(desired);
    ASSERT_EQ(plan.steps.size(), 1u);
    ASSERT_EQ(plan.steps[0].action, action) << plan.steps[0].reason;
    Status status = backend_->Apply(plan.steps[0], kContext);
    ASSERT_TRUE(status.ok()) << status.ToString();
  }

  LiveJob OnlyLiveJob() {
    StatusOr<std::vector<LiveJob>> live = backend_->ListJobs();
    EXPECT_TRUE(live.ok());
    EXPECT_EQ(live.ok() ? live->size() : 0u, 1u);
    return live.ok() && live->size() == 1 ? (*live)[0] : LiveJob();
  }

  Health HealthOf(const TrainingJob& job) {
    StatusOr<Health> health = backend_->GetHealth(job.key());
    EXPECT_TRUE(health.ok()) << health.status().ToString();
    return health.ok() ? *health : Health::kMissing;
  }

  // The submit bodies the fake received, in order.
  std::vector<json> Submitted() {
    std::vector<std::pair<int64_t, json>> by_time;
    for (const auto& [id, job] : fake_.jobs) by_time.emplace_back(job.start_time, job.request);
    std::sort(by_time.begin(), by_time.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
    std::vector<json> out;
    for (auto& [time, request] : by_time) out.push_back(request);
    return out;
  }

  FakeRayJobs fake_;
  ::testing::NiceMock<MockHttpClient>* http_ = nullptr;
  std::vector<std::chrono::milliseconds> sleeps_;
  std::unique_ptr<RayBackend> backend_;
};

TEST_F(RayBackendTest, CreateSubmitsTheJobAndListJobsReportsIt) {
  TrainingJob job = RayTrainingJob("bert", 2);
  PlanAndApply({job}, Action::kCreate);

  ASSERT_EQ(fake_.Requests("POST /api/jobs/").size(), 1u);
  json request = Submitted().at(0);
  EXPECT_EQ(request["submission_id"], SubmissionIdBase(job, "rev1"));
  EXPECT_EQ(request["runtime_env"]["env_vars"]["JOBSYNC_REPLICAS_WORKER"], "2");
  EXPECT_EQ(request["metadata"][kInstanceLabel], "prod");
  EXPECT_EQ(request["metadata"][kRevisionAnnotation], "rev1");
  EXPECT_EQ(request["entrypoint_num_cpus"], 0.1);

  LiveJob live = OnlyLiveJob();
  EXPECT_EQ(live.key, job.key());
  EXPECT_EQ(live.phase, LivePhase::kRunning);
  EXPECT_EQ(live.instance, "prod");
  ASSERT_NE(live.applied, nullptr);
  EXPECT_EQ(SpecHash(*live.applied), SpecHash(job));
  EXPECT_EQ(HealthOf(job), Health::kHealthy);
  EXPECT_FALSE(PlanFor({job}).HasChanges());
}

TEST_F(RayBackendTest, LiveVersionChangesWhenTheManagedSubmissionsDo) {
  TrainingJob job = RayTrainingJob("bert");
  PlanAndApply({job}, Action::kCreate);
  const std::optional<uint64_t> version = backend_->LiveVersion();
  ASSERT_TRUE(version.has_value());
  EXPECT_EQ(backend_->LiveVersion(), version);
  // Jobs jobsync does not manage are not part of it.
  fake_.Add("someone-elses", json::object(), "RUNNING", 5);
  EXPECT_EQ(backend_->LiveVersion(), version);
  for (auto& [id, submission] : fake_.jobs) submission.status = "SUCCEEDED";
  const std::optional<uint64_t> finished = backend_->LiveVersion();
  ASSERT_TRUE(finished.has_value());
  EXPECT_NE(finished, version);
  fake_.down = true;
  EXPECT_EQ(backend_->LiveVersion(), std::nullopt);
}

TEST_F(RayBackendTest, ApplyingTheSameCreateTwiceSubmitsOnce) {
  TrainingJob job = RayTrainingJob("bert");
  ASSERT_TRUE(ApplyStep(Action::kCreate, job).ok());
  ASSERT_TRUE(ApplyStep(Action::kCreate, job).ok());
  EXPECT_EQ(fake_.Requests("POST /api/jobs/").size(), 1u);
  EXPECT_EQ(fake_.jobs.size(), 1u);
}

TEST_F(RayBackendTest, FinishedJobIsNotResubmittedByARepeatedCreate) {
  TrainingJob job = RayTrainingJob("bert");
  ASSERT_TRUE(ApplyStep(Action::kCreate, job).ok());
  fake_.jobs.begin()->second.status = "SUCCEEDED";
  ASSERT_TRUE(ApplyStep(Action::kCreate, job).ok());
  EXPECT_EQ(fake_.jobs.size(), 1u);
  EXPECT_FALSE(PlanFor({job}).HasChanges());
  EXPECT_EQ(HealthOf(job), Health::kSucceeded);
}

TEST_F(RayBackendTest, DuplicateSubmissionIdIsAdoptedNotSubmittedAgain) {
  TrainingJob job = RayTrainingJob("bert");
  ASSERT_TRUE(ApplyStep(Action::kCreate, job).ok());
  // A stale listing (the earlier submit is not visible yet): the submit hits the duplicate id.
  EXPECT_CALL(*http_, Send(_)).Times(AnyNumber());
  EXPECT_CALL(*http_, Send(AllOf(Field(&HttpRequest::method, "GET"),
                                 Field(&HttpRequest::path, "/api/jobs/"))))
      .WillOnce(Return(HttpResponse{200, {}, "[]"}));
  Status status = ApplyStep(Action::kCreate, job);
  EXPECT_TRUE(status.ok()) << status.ToString();
  EXPECT_EQ(fake_.Requests("POST /api/jobs/").size(), 2u);
  EXPECT_EQ(fake_.jobs.size(), 1u);
}

TEST_F(RayBackendTest, NoAvailableAgentIsRetriedWithDoublingBackoff) {
  fake_.no_agent_failures = 2;
  Status status = ApplyStep(Action::kCreate, RayTrainingJob("bert"));
  ASSERT_TRUE(status.ok()) << status.ToString();
  EXPECT_EQ(fake_.Requests("POST /api/jobs/").size(), 3u);
  EXPECT_THAT(sleeps_, ElementsAre(500ms, 800ms));  // doubled, capped at max_agent_backoff
  EXPECT_EQ(fake_.jobs.size(), 1u);
}

TEST_F(RayBackendTest, NoAvailableAgentGivesUpAfterTheRetries) {
  fake_.no_agent_failures = 100;
  Status status = ApplyStep(Action::kCreate, RayTrainingJob("bert"));
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.code(), StatusCode::kUnavailable);
  EXPECT_THAT(status.message(), HasSubstr("job ray/team-a/bert"));
  EXPECT_THAT(status.message(), HasSubstr("No available agent"));
  EXPECT_EQ(fake_.Requests("POST /api/jobs/").size(), 4u);  // 1 + agent_retries
}

TEST_F(RayBackendTest, ScaleStopsWaitsUntilTerminalThenSubmitsNewGeneration) {
  TrainingJob two = RayTrainingJob("bert", 2);
  TrainingJob four = RayTrainingJob("bert", 4);
  PlanAndApply({two}, Action::kCreate);
  const std::string old_id = SubmissionIdBase(two, "rev1");
  fake_.polls_until_stopped = 2;
  fake_.log.clear();

  PlanAndApply({four}, Action::kScale);

  // Planning lists; the step lists, stops, polls until STOPPED, then submits.
  EXPECT_THAT(fake_.log,
              ElementsAre("GET /api/jobs/", "GET /api/jobs/", "POST /api/jobs/" + old_id + "/stop",
                          "GET /api/jobs/" + old_id, "GET /api/jobs/" + old_id,
                          "GET /api/jobs/" + old_id, "POST /api/jobs/"));
  EXPECT_THAT(sleeps_, ElementsAre(10ms, 10ms));
  EXPECT_EQ(fake_.jobs.at(old_id).status, "STOPPED");
  json submitted = Submitted().back();
  EXPECT_EQ(submitted["submission_id"], SubmissionIdBase(four, "rev1"));
  EXPECT_EQ(submitted["runtime_env"]["env_vars"]["JOBSYNC_REPLICAS_WORKER"], "4");
  EXPECT_EQ(submitted["runtime_env"]["env_vars"]["JOBSYNC_WORLD_SIZE"], "5");

  LiveJob live = OnlyLiveJob();
  EXPECT_EQ(live.phase, LivePhase::kRunning);
  EXPECT_EQ(live.replicas.at("worker"), 4);
  EXPECT_FALSE(PlanFor({four}).HasChanges());
}

TEST_F(RayBackendTest, UpdateRecreatesWithTheNewSpec) {
  TrainingJob job = RayTrainingJob("bert");
  PlanAndApply({job}, Action::kCreate);
  TrainingJob changed = job;
  changed.ray->entrypoint = "python train.py --lr 0.1";
  PlanAndApply({changed}, Action::kUpdate);
  EXPECT_EQ(fake_.jobs.at(SubmissionIdBase(job, "rev1")).status, "STOPPED");
  EXPECT_EQ(Submitted().back()["entrypoint"], "python train.py --lr 0.1");
  EXPECT_FALSE(PlanFor({changed}).HasChanges());
}

TEST_F(RayBackendTest, StopThatNeverEndsIsDeadlineExceededAndSubmitsNothing) {
  TrainingJob two = RayTrainingJob("bert", 2);
  ASSERT_TRUE(ApplyStep(Action::kCreate, two).ok());
  fake_.polls_until_stopped = 1000;
  Status status = ApplyStep(Action::kScale, RayTrainingJob("bert", 4));
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.code(), StatusCode::kDeadlineExceeded);
  EXPECT_EQ(fake_.Requests("POST /api/jobs/").size(), 2u);  // the create and the stop only
  EXPECT_EQ(sleeps_.size(), 10u);                           // stop_timeout / poll_interval
}

TEST_F(RayBackendTest, SuspendStopsAndReportsSuspendedThenResumeResubmits) {
  TrainingJob job = RayTrainingJob("bert");
  PlanAndApply({job}, Action::kCreate);
  TrainingJob suspended = job;
  suspended.suspend = true;
  fake_.log.clear();

  PlanAndApply({suspended}, Action::kScale);
  // The marker is submitted before the stop, so an interrupted suspend still shows Running.
  std::vector<std::string> mutations = fake_.Requests("POST ");
  ASSERT_EQ(mutations.size(), 2u);
  EXPECT_EQ(mutations[0], "POST /api/jobs/");
  EXPECT_EQ(mutations[1], "POST /api/jobs/" + SubmissionIdBase(job, "rev1") + "/stop");
  EXPECT_EQ(fake_.jobs.at(SubmissionIdBase(job, "rev1")).status, "STOPPED");
  json marker = Submitted().back();
  EXPECT_EQ(marker["metadata"][kRaySuspendedKey], "true");
  EXPECT_FALSE(marker.contains("runtime_env"));
  fake_.jobs.at(marker["submission_id"].get<std::string>()).status = "SUCCEEDED";

  EXPECT_EQ(OnlyLiveJob().phase, LivePhase::kSuspended);
  EXPECT_EQ(HealthOf(suspended), Health::kSuspended);
  EXPECT_FALSE(PlanFor({suspended}).HasChanges());

  PlanAndApply({job}, Action::kScale);  // resume: the same spec as the first generation
  json resumed = Submitted().back();
  EXPECT_EQ(resumed["submission_id"], SubmissionIdBase(job, "rev1") + "-2");
  EXPECT_EQ(OnlyLiveJob().phase, LivePhase::kRunning);
  EXPECT_EQ(HealthOf(job), Health::kHealthy);
  EXPECT_FALSE(PlanFor({job}).HasChanges());
}

TEST_F(RayBackendTest, JobStoppedOutsideJobsyncIsDegradedAndResumedByThePlan) {
  TrainingJob job = RayTrainingJob("bert");
  PlanAndApply({job}, Action::kCreate);
  fake_.jobs.begin()->second.status = "STOPPED";
  EXPECT_EQ(HealthOf(job), Health::kDegraded);
  Plan plan = PlanFor({job});
  ASSERT_EQ(plan.steps.size(), 1u);
  EXPECT_EQ(plan.steps[0].action, Action::kScale);  // resume: a new submission
  // A job that failed by itself has finished: it is not run again.
  fake_.jobs.begin()->second.status = "FAILED";
  EXPECT_EQ(HealthOf(job), Health::kFailed);
  EXPECT_FALSE(PlanFor({job}).HasChanges());
}

TEST_F(RayBackendTest, PatchRecordsTheSpecWithoutStoppingTheRunningSubmission) {
  TrainingJob job = RayTrainingJob("bert", 2);
  PlanAndApply({job}, Action::kCreate);
  const std::string running = SubmissionIdBase(job, "rev1");
  job.annotations[kPruneAnnotation] = "false";
  fake_.log.clear();

  PlanAndApply({job}, Action::kPatch);
  ASSERT_TRUE(ApplyStep(Action::kPatch, job).ok());  // re-applied: recorded once

  std::vector<std::string> mutations;
  for (const std::string& entry : fake_.log) {
    if (entry.rfind("GET", 0) != 0) mutations.push_back(entry);
  }
  EXPECT_THAT(mutations, ElementsAre("POST /api/jobs/"));
  ASSERT_EQ(Submitted().size(), 2u);
  EXPECT_EQ(Submitted()[1]["metadata"][kRayRecordsKey], running);
  const LiveJob live = OnlyLiveJob();
  EXPECT_TRUE(live.prune_protected);
  EXPECT_EQ(live.phase, LivePhase::kRunning);
  EXPECT_FALSE(PlanFor({job}).HasChanges());

  ASSERT_TRUE(ApplyStep(Action::kDelete, job).ok());  // the record goes with the job
  EXPECT_TRUE(fake_.jobs.empty());
}

// The run a spec record speaks for was deleted outside jobsync: the record alone is no live job,
// so the plan creates the job again; the new run does not take the stale record's spec, and a
// delete removes the stale record with the job.
TEST_F(RayBackendTest, ASpecRecordWhoseRunIsGoneIsNoLiveJob) {
  TrainingJob job = RayTrainingJob("bert", 2);
  PlanAndApply({job}, Action::kCreate);
  const std::string running = SubmissionIdBase(job, "rev1");
  TrainingJob patched = job;
  patched.annotations[kPruneAnnotation] = "false";
  PlanAndApply({patched}, Action::kPatch);
  ASSERT_EQ(fake_.jobs.erase(running), 1u);  // deleted outside jobsync: only the record is left
  ASSERT_EQ(fake_.jobs.size(), 1u);

  StatusOr<std::vector<LiveJob>> live = backend_->ListJobs();
  ASSERT_TRUE(live.ok()) << live.status().ToString();
  EXPECT_TRUE(live->empty());
  EXPECT_EQ(HealthOf(job), Health::kMissing);
  PlanAndApply({job}, Action::kCreate);
  const LiveJob created = OnlyLiveJob();
  EXPECT_FALSE(created.prune_protected);  // the stale record's spec is not adopted
  EXPECT_EQ(created.phase, LivePhase::kRunning);
  EXPECT_FALSE(PlanFor({job}).HasChanges());

  PlanAndApply({}, Action::kDelete);
  EXPECT_TRUE(fake_.jobs.empty());
}

TEST_F(RayBackendTest, DeleteStopsWaitsThenDeletesEveryGeneration) {
  TrainingJob two = RayTrainingJob("bert", 2);
  PlanAndApply({two}, Action::kCreate);
  PlanAndApply({RayTrainingJob("bert", 4)}, Action::kScale);
  ASSERT_EQ(fake_.jobs.size(), 2u);
  fake_.log.clear();

  PlanAndApply({}, Action::kDelete);

  std::vector<std::string> mutations;
  for (const std::string& entry : fake_.log) {
    if (entry.rfind("GET", 0) != 0) mutations.push_back(entry);
  }
  const std::string new_id = SubmissionIdBase(RayTrainingJob("bert", 4), "rev1");
  EXPECT_THAT(mutations, ElementsAre("POST /api/jobs/" + new_id + "/stop",
                                     "DELETE /api/jobs/" + SubmissionIdBase(two, "rev1"),
                                     "DELETE /api/jobs/" + new_id));
  EXPECT_TRUE(fake_.jobs.empty());
  EXPECT_EQ(HealthOf(two), Health::kMissing);
}

TEST_F(RayBackendTest, JobsOfOtherOwnersAreInvisibleAndUntouched) {
  fake_.Add("someone-elses", {{"team", "nlp"}}, "RUNNING", 1);
  json other_instance = {{kManagedByLabel, "jobsync"},
                         {kInstanceLabel, "staging"},
                         {kJobLabel, "bert"},
                         {kRayNamespaceKey, "team-a"}};
  fake_.Add("staging-bert", other_instance, "RUNNING", 2);

  StatusOr<std::vector<LiveJob>> live = backend_->ListJobs();
  ASSERT_TRUE(live.ok());
  ASSERT_EQ(live->size(), 1u);  // the other instance's job is reported, the foreign one is not
  EXPECT_EQ((*live)[0].instance, "staging");

  PlanStep remove;
  remove.action = Action::kDelete;
  remove.key = {BackendKind::kRay, "team-a", "bert"};
  ASSERT_TRUE(backend_->Apply(remove, kContext).ok());
  for (const std::string& entry : fake_.log) {
    EXPECT_THAT(entry, Not(HasSubstr("someone-elses")));
    EXPECT_THAT(entry, Not(HasSubstr("staging-bert")));
  }
  EXPECT_EQ(fake_.jobs.size(), 2u);
}

TEST_F(RayBackendTest, ApplyRefusesAnotherInstanceAndAnotherBackend) {
  TrainingJob job = RayTrainingJob("bert");
  PlanStep step;
  step.action = Action::kCreate;
  step.key = job.key();
  step.desired = std::make_shared<const TrainingJob>(job);
  Status status = backend_->Apply(step, {"staging", "rev"});
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  step.key.backend = BackendKind::kKubernetes;
  EXPECT_EQ(backend_->Apply(step, kContext).code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(fake_.log.empty());
}

TEST_F(RayBackendTest, UnreachableDashboardIsUnavailableWithAddressAndNoToken) {
  fake_.down = true;
  StatusOr<std::vector<LiveJob>> live = backend_->ListJobs();
  ASSERT_FALSE(live.ok());
  EXPECT_EQ(live.status().code(), StatusCode::kUnavailable);
  EXPECT_THAT(live.status().message(), HasSubstr(kAddress));
  EXPECT_THAT(live.status().message(), Not(HasSubstr(kToken)));
  Status apply = ApplyStep(Action::kCreate, RayTrainingJob("bert"));
  EXPECT_EQ(apply.code(), StatusCode::kUnavailable);
  EXPECT_EQ(backend_->GetHealth(RayTrainingJob("bert").key()).status().code(),
            StatusCode::kUnavailable);
}

TEST_F(RayBackendTest, ServerAnswersNeverLeakTheToken) {
  EXPECT_CALL(*http_, Send(_))
      .WillOnce(Return(HttpResponse{401, {}, std::string("bad token ") + kToken}))
      .WillOnce(Return(UnavailableError(std::string("proxy said ") + kToken)));
  StatusOr<std::vector<LiveJob>> refused = backend_->ListJobs();
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kPermissionDenied);
  EXPECT_THAT(refused.status().message(), Not(HasSubstr(kToken)));
  StatusOr<std::vector<LiveJob>> broken = backend_->ListJobs();
  ASSERT_FALSE(broken.ok());
  EXPECT_THAT(broken.status().message(), Not(HasSubstr(kToken)));
}

TEST_F(RayBackendTest, NonJsonListingIsAnError) {
  EXPECT_CALL(*http_, Send(_)).WillOnce(Return(HttpResponse{200, {}, "<html>login</html>"}));
  StatusOr<std::vector<LiveJob>> live = backend_->ListJobs();
  ASSERT_FALSE(live.ok());
  EXPECT_EQ(live.status().code(), StatusCode::kInternal);
}

TEST(RayBackendCreateTest, PassesAddressTokenAndTimeoutToTheClient) {
  std::optional<HttpClientConfig> seen;
  RayBackendOptions options = TestOptions();
  options.address = "https://ray.example:8443/";
  options.ca_pem = "-----BEGIN CERTIFICATE-----";
  StatusOr<std::unique_ptr<RayBackend>> backend =
      RayBackend::Create(options, [&seen](const HttpClientConfig& config) {
        seen = config;
        return StatusOr<std::unique_ptr<HttpClient>>(std::make_unique<MockHttpClient>());
      });
  ASSERT_TRUE(backend.ok()) << backend.status().ToString();
  ASSERT_TRUE(seen.has_value());
  EXPECT_EQ(seen->base_url, "https://ray.example:8443");
  EXPECT_EQ(seen->bearer_token, kToken);
  EXPECT_EQ(seen->default_timeout, options.request_timeout);
  EXPECT_EQ(seen->ca_pem, options.ca_pem);
  EXPECT_THAT(seen->ca_hint, HasSubstr("--ray-ca-file"));
  EXPECT_EQ((*backend)->kind(), BackendKind::kRay);
}

TEST(RayBackendCreateTest, RejectsBadOptions) {
  struct Case {
    const char* address;
    const char* instance;
  };
  for (const Case& c : std::vector<Case>{{"ray://127.0.0.1:10001", "prod"},
                                         {"127.0.0.1:6379", "prod"},
                                         {"auto", "prod"},
                                         {"http://user:pw@127.0.0.1:8265", "prod"},
                                         {"http://127.0.0.1:8265/api", "prod"},
                                         {"http://127.0.0.1:8265", ""}}) {
    RayBackendOptions options = TestOptions();
    options.address = c.address;
    options.instance = c.instance;
    bool called = false;
    StatusOr<std::unique_ptr<RayBackend>> backend =
        RayBackend::Create(options, [&called](const HttpClientConfig&) {
          called = true;
          return StatusOr<std::unique_ptr<HttpClient>>(std::make_unique<MockHttpClient>());
        });
    ASSERT_FALSE(backend.ok()) << c.address;
    EXPECT_EQ(backend.status().code(), StatusCode::kInvalidArgument) << c.address;
    EXPECT_THAT(backend.status().message(), Not(HasSubstr("pw@"))) << c.address;
    EXPECT_FALSE(called);
  }
}

// An environment made of a map.
EnvLookup Environment(std::map<std::string, std::string> values) {
  return [values](const std::string& name) -> std::optional<std::string> {
    auto it = values.find(name);
    if (it == values.end()) return std::nullopt;
    return it->second;
  };
}

TEST(ResolveRayTargetTest, FlagWinsOverRayAddress) {
  RayBackendOptions options;
  ASSERT_TRUE(ResolveRayTarget({"http://flag:1", ""},
                               Environment({{"RAY_ADDRESS", "http://env:2"}}), &options)
                  .ok());
  EXPECT_EQ(options.address, "http://flag:1");
  ASSERT_TRUE(ResolveRayTarget({}, Environment({{"RAY_ADDRESS", "http://env:2/"}}), &options).ok());
  EXPECT_EQ(options.address, "http://env:2");
  EXPECT_TRUE(options.bearer_token.empty());
}

TEST(ResolveRayTargetTest, NoAddressIsAnError) {
  RayBackendOptions options;
  Status status = ResolveRayTarget({}, Environment({}), &options);
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("RAY_ADDRESS"));
}

TEST(ResolveRayTargetTest, TokenFromFileOrEnvironment) {
  const std::string path = ::testing::TempDir() + "/ray-token-" + std::to_string(::getpid());
  {
    std::ofstream out(path);
    out << "  " << kToken << "\n";
  }
  RayBackendOptions options;
  ASSERT_TRUE(
      ResolveRayTarget({"http://h:1", path}, Environment({{kRayTokenEnv, "other"}}), &options)
          .ok());
  EXPECT_EQ(options.bearer_token, kToken);
  ASSERT_TRUE(ResolveRayTarget({"http://h:1", ""},
                               Environment({{kRayTokenFileEnv, path}, {kRayTokenEnv, "other"}}),
                               &options)
                  .ok());
  EXPECT_EQ(options.bearer_token, kToken);
  ASSERT_TRUE(
      ResolveRayTarget({"http://h:1", ""}, Environment({{kRayTokenEnv, "from-env"}}), &options)
          .ok());
  EXPECT_EQ(options.bearer_token, "from-env");
  std::remove(path.c_str());

  Status missing = ResolveRayTarget({"http://h:1", path}, Environment({}), &options);
  EXPECT_EQ(missing.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(missing.message(), HasSubstr(path));
}

TEST(ResolveRayTargetTest, CaFileFromFlagOrEnvironment) {
  const std::string base = ::testing::TempDir() + "/ray-ca-" + std::to_string(::getpid());
  const std::string pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
  std::ofstream(base + ".crt") << pem;
  std::ofstream(base + ".txt") << "not a certificate\n";
  RayBackendOptions options;
  ASSERT_TRUE(ResolveRayTarget({"https://h:1", "", base + ".crt"},
                               Environment({{kRayCaFileEnv, base + ".txt"}}), &options)
                  .ok());
  EXPECT_EQ(options.ca_pem, pem);
  options.ca_pem.clear();
  ASSERT_TRUE(
      ResolveRayTarget({"https://h:1", ""}, Environment({{kRayCaFileEnv, base + ".crt"}}), &options)
          .ok());
  EXPECT_EQ(options.ca_pem, pem);

  Status not_pem = ResolveRayTarget({"https://h:1", "", base + ".txt"}, Environment({}), &options);
  EXPECT_EQ(not_pem.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(not_pem.message(), HasSubstr(base + ".txt holds no PEM certificate"));
  std::remove((base + ".crt").c_str());
  std::remove((base + ".txt").c_str());
  Status missing = ResolveRayTarget({"https://h:1", "", base + ".crt"}, Environment({}), &options);
  EXPECT_EQ(missing.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(missing.message(), HasSubstr("cannot read the Ray CA file " + base + ".crt"));
}

}  // namespace
}  // namespace jobsync
