// Unit tests of elasticjob_mapping.h: the ElasticJob and ScalePlan rendered for a job in operator
// mode, and listed ElasticJobs read back into LiveJobs, phases and health.
#include "backends/kubernetes/elasticjob_mapping.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "schemas/canonical.h"
#include "test_jobs.h"

namespace jobsync {
namespace {

using ::jobsync::testing::SampleJob;
using json = nlohmann::json;

const ApplyContext kContext{"agent-a", "rev-1"};

TrainingJob OperatorJob() {
  TrainingJob job = SampleJob("ctr", "ads", 3);
  job.workload = KubernetesWorkload::kElasticJob;
  job.elastic_job_spec = json::parse(R"({"distributionStrategy": "ParameterServerStrategy",
      "replicaSpecs": {"ps": {"restartCount": 3, "template": {"spec": {"containers": [{"name": "main"}]}}},
                       "worker": {"autoScale": true, "template": {}},
                       "dlrover-master": {"template": {}}}})");
  return job;
}

// `job`'s ElasticJob as the apiserver lists it, with `status`, compacted as the cache keeps it.
json Listed(const TrainingJob& job, const json& status) {
  json object = *ElasticJobObject(job, kContext);
  object["metadata"]["resourceVersion"] = "7";
  object["metadata"]["managedFields"] = json::array({json::object()});
  object["status"] = status;
  return CompactElasticJobObject(object);
}

TEST(ElasticJobMappingTest, TheElasticJobIsTheManifestsSpecWithTheJobsReplicasAndSuspend) {
  TrainingJob job = OperatorJob();
  job.suspend = true;
  StatusOr<json> object = ElasticJobObject(job, kContext);
  ASSERT_TRUE(object.ok()) << object.status().ToString();
  EXPECT_EQ((*object)["apiVersion"], "elastic.iml.github.io/v1alpha1");
  EXPECT_EQ((*object)["kind"], "ElasticJob");
  EXPECT_EQ((*object)["metadata"]["name"], "ctr");
  EXPECT_EQ((*object)["metadata"]["namespace"], "ads");
  EXPECT_EQ((*object)["metadata"]["labels"][kJobLabel], "ctr");
  EXPECT_EQ((*object)["metadata"]["labels"][kInstanceLabel], "agent-a");
  EXPECT_EQ((*object)["metadata"]["labels"]["team"], "vision");
  EXPECT_EQ((*object)["metadata"]["annotations"][kSpecHashAnnotation], SpecHash(job));
  const json& spec = (*object)["spec"];
  EXPECT_EQ(spec["distributionStrategy"], "ParameterServerStrategy");
  EXPECT_EQ(spec["replicaSpecs"]["worker"]["replicas"], 3);
  EXPECT_EQ(spec["replicaSpecs"]["worker"]["autoScale"], true);
  EXPECT_EQ(spec["replicaSpecs"]["ps"]["replicas"], 1);
  EXPECT_EQ(spec["replicaSpecs"]["ps"]["restartCount"], 3);
  EXPECT_FALSE(spec["replicaSpecs"]["dlrover-master"].contains("replicas"));
  EXPECT_EQ(spec["suspend"], true);
}

TEST(ElasticJobMappingTest, OnlyAnOperatorModeJobMaps) {
  StatusOr<json> object = ElasticJobObject(SampleJob("ctr", "ads"), kContext);
  EXPECT_EQ(object.status().code(), StatusCode::kInvalidArgument);
}

TEST(ElasticJobMappingTest, ScalePlanCarriesEveryRolesReplicasAndDlroversLabels) {
  const TrainingJob job = OperatorJob();
  const json plan = ScalePlanObject(job, kContext);
  EXPECT_EQ(plan["kind"], "ScalePlan");
  EXPECT_EQ(plan["metadata"]["generateName"], "ctr-scale-");
  EXPECT_EQ(plan["metadata"]["namespace"], "ads");
  EXPECT_EQ(plan["metadata"]["labels"]["elasticjob.dlrover/name"], "ctr");
  EXPECT_EQ(plan["metadata"]["labels"]["scale-type"], "manual");
  EXPECT_EQ(plan["metadata"]["labels"][kInstanceLabel], "agent-a");
  EXPECT_EQ(plan["metadata"]["annotations"][kSpecHashAnnotation], SpecHash(job));
  EXPECT_EQ(plan["spec"]["ownerJob"], "ctr");
  EXPECT_EQ(plan["spec"]["replicaResourceSpecs"],
            json::parse(R"({"ps": {"replicas": 1}, "worker": {"replicas": 3}})"));
  EXPECT_EQ(ScalePlanSelector("ctr", "agent-a"),
            "elasticjob.dlrover/name=ctr,scale-type=manual,app.kubernetes.io/managed-by=jobsync,"
            "jobsync.dev/instance=agent-a");
}

TEST(ElasticJobMappingTest, ListedElasticJobIsOneLiveJobWithItsPhase) {
  const TrainingJob job = OperatorJob();
  std::vector<LiveJob> live =
      LiveJobsFromElasticJobs(std::vector<json>{Listed(job, json::object())});
  ASSERT_EQ(live.size(), 1u);
  EXPECT_EQ(live[0].key.ToString(), "kubernetes/ads/ctr");
  EXPECT_EQ(live[0].instance, "agent-a");
  EXPECT_EQ(live[0].phase, LivePhase::kPending);
  EXPECT_TRUE(live[0].replicas.empty());  // taken to run as applied
  ASSERT_NE(live[0].applied, nullptr);
  EXPECT_EQ(SpecHash(*live[0].applied), SpecHash(job));
  EXPECT_EQ(live[0].applied->workload, KubernetesWorkload::kElasticJob);

  auto phase = [&](const char* status) {
    return LiveJobsFromElasticJobs(std::vector<json>{Listed(job, json::parse(status))})[0].phase;
  };
  EXPECT_EQ(phase(R"({"phase": "Running"})"), LivePhase::kRunning);
  EXPECT_EQ(phase(R"({"phase": "Restarting"})"), LivePhase::kRunning);
  EXPECT_EQ(phase(R"({"phase": "Succeeded"})"), LivePhase::kSucceeded);
  EXPECT_EQ(phase(R"({"phase": "Failed"})"), LivePhase::kFailed);
  EXPECT_EQ(phase(R"({"phase": "Suspended"})"), LivePhase::kSuspended);
  EXPECT_EQ(phase(R"({"phase": "Created"})"), LivePhase::kPending);
  TrainingJob suspended = job;
  suspended.suspend = true;
  EXPECT_EQ(LiveJobsFromElasticJobs(std::vector<json>{Listed(suspended, json::object())})[0].phase,
            LivePhase::kSuspended);
}

TEST(ElasticJobMappingTest, FailureMessageFromDlroversJobStatus) {
  const json failed = Listed(OperatorJob(), json::parse(R"({"phase": "Failed", "status": {
      "conditions": [{"type": "Running", "status": "False", "message": "was running"},
                     {"type": "Failed", "status": "True", "message": "worker-1 exited: 137"}]}})"));
  std::vector<LiveJob> live = LiveJobsFromElasticJobs(std::vector<json>{failed});
  EXPECT_EQ(live[0].phase_message, "worker-1 exited: 137");
  EXPECT_EQ(HealthFromElasticJob(failed), Health::kFailed);
}

TEST(ElasticJobMappingTest, HealthFromStatusPhase) {
  const TrainingJob job = OperatorJob();
  auto health = [&](const char* status) {
    return HealthFromElasticJob(Listed(job, json::parse(status)));
  };
  EXPECT_EQ(health(R"({})"), Health::kProgressing);
  EXPECT_EQ(health(R"({"phase": "Pending"})"), Health::kProgressing);
  EXPECT_EQ(health(R"({"phase": "Running"})"), Health::kHealthy);
  EXPECT_EQ(health(R"({"phase": "Restarting"})"), Health::kDegraded);
  EXPECT_EQ(health(R"({"phase": "Succeeded"})"), Health::kSucceeded);
  EXPECT_EQ(health(R"({"phase": "Suspended"})"), Health::kSuspended);
}

TEST(ElasticJobMappingTest, BeingDeletedIsNotLive) {
  json object = Listed(OperatorJob(), json::object());
  object["metadata"]["deletionTimestamp"] = "2026-12-06T00:00:00Z";
  EXPECT_TRUE(LiveJobsFromElasticJobs(std::vector<json>{object}).empty());
}

}  // namespace
}  // namespace jobsync
