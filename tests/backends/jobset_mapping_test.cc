// Unit tests of jobset_mapping.h (a JobSet rendered from a job and read back) and of the Kueue
// queue handling of mapping.h.
#include "backends/kubernetes/jobset_mapping.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "schemas/canonical.h"
#include "test_jobs.h"

namespace jobsync {
namespace {

using ::jobsync::testing::SampleJob;
using json = nlohmann::json;

const ApplyContext kContext{"agent-a", "rev-1"};

TrainingJob JobSetJob() {
  TrainingJob job = SampleJob("resnet", "vision", 3);
  job.workload = KubernetesWorkload::kJobSet;
  return job;
}

const json* ReplicatedJob(const json& jobset, const std::string& name) {
  for (const json& entry : jobset["spec"]["replicatedJobs"]) {
    if (entry["name"] == name) return &entry;
  }
  return nullptr;
}

TEST(JobSetMappingTest, OneReplicatedIndexedJobPerRoleWithTheRoleJobsTemplate) {
  const TrainingJob job = JobSetJob();
  StatusOr<json> object = JobSetObject(job, kContext);
  ASSERT_TRUE(object.ok()) << object.status().ToString();
  EXPECT_EQ((*object)["apiVersion"], "jobset.x-k8s.io/v1alpha2");
  EXPECT_EQ((*object)["kind"], "JobSet");
  EXPECT_EQ((*object)["metadata"]["name"], "resnet");
  EXPECT_EQ((*object)["metadata"]["labels"][kJobLabel], "resnet");
  EXPECT_EQ((*object)["metadata"]["labels"][kInstanceLabel], "agent-a");
  EXPECT_EQ((*object)["metadata"]["annotations"][kSpecHashAnnotation], SpecHash(job));
  const json& spec = (*object)["spec"];
  EXPECT_EQ(spec["suspend"], false);
  EXPECT_EQ(spec["network"]["enableDNSHostnames"], true);
  EXPECT_EQ(spec["network"]["subdomain"], "resnet");
  EXPECT_EQ(spec["network"]["publishNotReadyAddresses"], true);
  EXPECT_EQ(spec["successPolicy"]["operator"], "All");
  EXPECT_FALSE(spec.contains("failurePolicy"));
  ASSERT_EQ(spec["replicatedJobs"].size(), 2u);

  const json* worker = ReplicatedJob(*object, "worker");
  ASSERT_NE(worker, nullptr);
  EXPECT_EQ((*worker)["replicas"], 1);
  const json& template_spec = (*worker)["template"]["spec"];
  EXPECT_EQ(template_spec["completionMode"], "Indexed");
  EXPECT_EQ(template_spec["parallelism"], 3);
  EXPECT_EQ(template_spec["completions"], 3);
  EXPECT_EQ(template_spec["backoffLimitPerIndex"], kBackoffLimitPerIndex);
  EXPECT_FALSE(template_spec.contains("suspend"));  // the JobSet's
  EXPECT_EQ((*worker)["template"]["metadata"]["labels"][kRoleLabel], "worker");
  EXPECT_EQ(template_spec["template"]["metadata"]["labels"][kJobLabel], "resnet");
  EXPECT_EQ(template_spec["template"]["spec"]["subdomain"], "resnet");

  // Rendezvous goes to the first pod of the first role's Job, as the controller names it.
  std::string rendezvous;
  for (const json& env : template_spec["template"]["spec"]["containers"][0]["env"]) {
    if (env["name"] == "JOBSYNC_RENDEZVOUS") rendezvous = env["value"];
  }
  EXPECT_EQ(rendezvous, "resnet-ps-0-0.resnet.vision.svc");
}

TEST(JobSetMappingTest, MaxRestartsBecomesGangRestartsOfTheJobSet) {
  TrainingJob job = JobSetJob();
  job.max_restarts = 4;
  job.ttl_seconds_after_finished = 600;
  StatusOr<json> object = JobSetObject(job, kContext);
  ASSERT_TRUE(object.ok());
  EXPECT_EQ((*object)["spec"]["failurePolicy"]["maxRestarts"], 4);
  EXPECT_EQ((*object)["spec"]["ttlSecondsAfterFinished"], 600);
  const json& template_spec = (*ReplicatedJob(*object, "worker"))["template"]["spec"];
  EXPECT_EQ(template_spec["backoffLimit"], 0);
  EXPECT_FALSE(template_spec.contains("backoffLimitPerIndex"));
  EXPECT_FALSE(template_spec.contains("ttlSecondsAfterFinished"));
  EXPECT_EQ(template_spec["podFailurePolicy"]["rules"][0]["action"], "Ignore");
}

TEST(JobSetMappingTest, QueueLabelIsOnTheWorkloadOnlyNotItsTemplates) {
  TrainingJob job = JobSetJob();
  job.queue = "team-a";
  StatusOr<json> object = JobSetObject(job, kContext);
  ASSERT_TRUE(object.ok());
  EXPECT_EQ((*object)["metadata"]["labels"][kQueueLabel], "team-a");
  const json& worker = *ReplicatedJob(*object, "worker");
  EXPECT_FALSE(worker["template"]["metadata"]["labels"].contains(kQueueLabel));

  TrainingJob plain = SampleJob("plain", "vision");
  plain.queue = "team-a";
  StatusOr<json> role_job = RoleJobObject(plain, "worker", kContext);
  ASSERT_TRUE(role_job.ok());
  EXPECT_EQ((*role_job)["metadata"]["labels"][kQueueLabel], "team-a");
  EXPECT_FALSE((*role_job)["spec"]["template"]["metadata"]["labels"].contains(kQueueLabel));
}

// The JobSet as the apiserver would list it, with `status`.
json Listed(const TrainingJob& job, const json& status, bool suspend = false) {
  json object = *JobSetObject(job, kContext);
  object["metadata"]["uid"] = "u-1";
  object["metadata"]["resourceVersion"] = "7";
  object["spec"]["suspend"] = suspend;
  object["status"] = status;
  return CompactJobSetObject(object);
}

TEST(JobSetMappingTest, ListedJobSetIsOneLiveJobWithItsReplicasAndPhase) {
  const TrainingJob job = JobSetJob();
  const json running = Listed(job, json::parse(R"({"replicatedJobsStatus": [
      {"name": "worker", "active": 1, "ready": 0}, {"name": "ps", "active": 1}]})"));
  std::vector<LiveJob> live = LiveJobsFromJobSets(std::vector<json>{running});
  ASSERT_EQ(live.size(), 1u);
  EXPECT_EQ(live[0].key.ToString(), "kubernetes/vision/resnet");
  EXPECT_EQ(live[0].replicas, (std::map<std::string, int>{{"ps", 1}, {"worker", 3}}));
  EXPECT_EQ(live[0].phase, LivePhase::kRunning);
  EXPECT_EQ(live[0].instance, "agent-a");
  EXPECT_TRUE(live[0].prune_protected);  // SampleJob's jobsync.dev/prune: "false"
  ASSERT_NE(live[0].applied, nullptr);
  EXPECT_EQ(SpecHash(*live[0].applied), SpecHash(job));

  const json done = Listed(job, json::parse(R"({"terminalState": "Completed",
      "conditions": [{"type": "Completed", "status": "True"}]})"));
  EXPECT_EQ(LiveJobsFromJobSets(std::vector<json>{done})[0].phase, LivePhase::kSucceeded);
  const json failed = Listed(job, json::parse(R"({"conditions": [
      {"type": "Failed", "status": "True", "reason": "ReachedMaxRestarts"}]})"));
  EXPECT_EQ(LiveJobsFromJobSets(std::vector<json>{failed})[0].phase, LivePhase::kFailed);
  EXPECT_EQ(LiveJobsFromJobSets(std::vector<json>{Listed(job, json::object(), true)})[0].phase,
            LivePhase::kSuspended);
  EXPECT_EQ(LiveJobsFromJobSets(std::vector<json>{Listed(job, json::object())})[0].phase,
            LivePhase::kPending);
}

TEST(JobSetMappingTest, SuspendedQueuedWorkloadIsQueuedUnlessGitSuspendedIt) {
  TrainingJob job = JobSetJob();
  job.queue = "main";
  EXPECT_EQ(LiveJobsFromJobSets(std::vector<json>{Listed(job, json::object(), true)})[0].phase,
            LivePhase::kQueued);
  job.suspend = true;
  EXPECT_EQ(LiveJobsFromJobSets(std::vector<json>{Listed(job, json::object(), true)})[0].phase,
            LivePhase::kSuspended);

  // The same for a role Job Kueue's webhook suspended.
  TrainingJob plain = SampleJob("plain", "vision");
  plain.queue = "main";
  std::vector<json> jobs;
  for (const std::string role : {"ps", "worker"}) {
    json object = *RoleJobObject(plain, role, kContext);
    object["metadata"]["resourceVersion"] = "3";
    object["spec"]["suspend"] = true;
    jobs.push_back(object);
  }
  EXPECT_EQ(LiveJobsFromObjects(jobs)[0].phase, LivePhase::kQueued);
  std::vector<std::shared_ptr<const CachedObject>> cache;  // as the Jobs' watch cache holds them
  for (const json& role_job : jobs) {
    cache.push_back(std::make_shared<const CachedObject>(CachedJobOf(role_job, nullptr)));
  }
  JobListing last;
  EXPECT_EQ(ListCachedJobs(cache, &last)[0].phase, LivePhase::kQueued);
  EXPECT_EQ(HealthFromObjects(jobs, {}, std::chrono::system_clock::now(), std::chrono::seconds(60)),
            Health::kQueued);
  plain.queue.clear();
  jobs.clear();
  json object = *RoleJobObject(plain, "worker", kContext);
  object["spec"]["suspend"] = true;
  jobs.push_back(object);
  EXPECT_EQ(LiveJobsFromObjects(jobs)[0].phase, LivePhase::kSuspended);
}

TEST(JobSetMappingTest, HealthFromTheJobSetFirstThenItsJobsAndPods) {
  const TrainingJob job = JobSetJob();
  const auto now = std::chrono::system_clock::now();
  const std::chrono::seconds grace(60);
  const json done = Listed(job, json::parse(R"({"terminalState": "Completed"})"));
  EXPECT_EQ(HealthFromJobSet(done, {}, {}, now, grace), Health::kSucceeded);
  const json running = Listed(job, json::object());
  EXPECT_EQ(HealthFromJobSet(running, {}, {}, now, grace), Health::kProgressing);
  // A failed child Job of a JobSet that is not Failed waits for its restart: Degraded.
  json failed_job = json::parse(R"({"metadata": {"name": "resnet-worker-0"},
      "spec": {"parallelism": 3}, "status": {"conditions": [{"type": "Failed", "status": "True"}]}})");
  EXPECT_EQ(HealthFromJobSet(running, {failed_job}, {}, now, grace), Health::kDegraded);
  json ready_job = json::parse(R"({"metadata": {"name": "resnet-worker-0"},
      "spec": {"parallelism": 3}, "status": {"active": 3, "ready": 3}})");
  EXPECT_EQ(HealthFromJobSet(running, {ready_job}, {}, now, grace), Health::kHealthy);
}

}  // namespace
}  // namespace jobsync
