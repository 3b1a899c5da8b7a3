// Unit tests of rayjob_mapping.h: the KubeRay RayJob rendered for a Ray job with ray.cluster:
// kuberay, and listed RayJobs read back into LiveJobs, phases and health.
#include "backends/kubernetes/rayjob_mapping.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "schemas/canonical.h"
#include "test_jobs.h"

namespace jobsync {
namespace {

using ::jobsync::testing::Q;
using json = nlohmann::json;

const ApplyContext kContext{"agent-a", "rev-1"};

TrainingJob KubeRayJob() {
  TrainingJob job;
  job.name = "tune";
  job.namespace_name = "search";
  job.labels = {{"team", "search"}};
  job.backend = BackendKind::kRay;
  job.env = {{"EPOCHS", "3"}};
  job.pod->node_selector = {{"pool", "cpu"}};
  RaySpec ray;
  ray.cluster = RayCluster::kKubeRay;
  ray.entrypoint = "python tune.py";
  ray.runtime_env = {{"env_vars", {{"MODE", "fast"}}}};
  ray.entrypoint_resources.cpu = 1;
  ray.image = "rayproject/ray:2.52.0";
  ray.head_resources.cpu = Q("1");
  ray.head_resources.memory = Q("2Gi");
  job.ray = ray;
  job.roles["worker"].replicas = 2;
  job.roles["worker"].min_replicas = 1;
  job.roles["worker"].max_replicas = 4;
  job.roles["worker"].resources.gpu = 1;
  job.roles["worker"].overrides->image = "rayproject/ray:2.52.0-gpu";
  job.roles["cpu"].replicas = 3;
  return job;
}

const json& Group(const json& rayjob, const std::string& name) {
  for (const json& group : rayjob["spec"]["rayClusterSpec"]["workerGroupSpecs"]) {
    if (group["groupName"] == name) return group;
  }
  static const json kNone;
  return kNone;
}

TEST(RayJobMappingTest, KeyIsTheKubernetesObjects) {
  EXPECT_EQ(KubeRayJob().key().ToString(), "kubernetes/search/tune");
  EXPECT_TRUE(IsRayJob(KubeRayJob()));
  TrainingJob shared = KubeRayJob();
  shared.ray->cluster = RayCluster::kShared;
  EXPECT_EQ(shared.key().ToString(), "ray/search/tune");
  EXPECT_FALSE(IsRayJob(shared));
  EXPECT_EQ(RayJobObject(shared, kContext).status().code(), StatusCode::kInvalidArgument);
}

TEST(RayJobMappingTest, RayJobWithHeadAndAWorkerGroupPerRole) {
  const TrainingJob job = KubeRayJob();
  StatusOr<json> object = RayJobObject(job, kContext);
  ASSERT_TRUE(object.ok()) << object.status().ToString();
  EXPECT_EQ((*object)["apiVersion"], "ray.io/v1");
  EXPECT_EQ((*object)["kind"], "RayJob");
  EXPECT_EQ((*object)["metadata"]["labels"][kJobLabel], "tune");
  EXPECT_EQ((*object)["metadata"]["labels"]["team"], "search");
  EXPECT_EQ((*object)["metadata"]["annotations"][kSpecHashAnnotation], SpecHash(job));
  const json& spec = (*object)["spec"];
  EXPECT_EQ(spec["entrypoint"], "python tune.py");
  EXPECT_EQ(spec["runtimeEnvYAML"], R"({"env_vars":{"MODE":"fast"}})");
  EXPECT_EQ(spec["entrypointNumCpus"], 1.0);
  EXPECT_EQ(spec["shutdownAfterJobFinishes"], true);
  EXPECT_EQ(spec["suspend"], false);
  EXPECT_FALSE(spec.contains("ttlSecondsAfterFinished"));
  const json& cluster = spec["rayClusterSpec"];
  EXPECT_EQ(cluster["enableInTreeAutoscaling"], true);  // worker is elastic
  const json& head = cluster["headGroupSpec"]["template"]["spec"]["containers"][0];
  EXPECT_EQ(head["name"], "ray-head");
  EXPECT_EQ(head["image"], "rayproject/ray:2.52.0");
  EXPECT_EQ(head["resources"]["limits"]["memory"], "2Gi");
  EXPECT_EQ(cluster["headGroupSpec"]["rayStartParams"], json::object());

  const json& worker = Group(*object, "worker");
  EXPECT_EQ(worker["replicas"], 2);
  EXPECT_EQ(worker["minReplicas"], 1);
  EXPECT_EQ(worker["maxReplicas"], 4);
  const json& pod = worker["template"]["spec"];
  EXPECT_FALSE(pod.contains("restartPolicy"));
  EXPECT_FALSE(pod.contains("subdomain"));
  EXPECT_EQ(pod["nodeSelector"]["pool"], "cpu");
  const json& container = pod["containers"][0];
  EXPECT_EQ(container["name"], "ray-worker");
  EXPECT_EQ(container["image"], "rayproject/ray:2.52.0-gpu");
  EXPECT_FALSE(container.contains("command"));
  EXPECT_EQ(container["resources"]["limits"]["nvidia.com/gpu"], "1");
  std::set<std::string> names;
  for (const json& var : container["env"]) names.insert(var["name"].get<std::string>());
  EXPECT_TRUE(names.contains("EPOCHS"));
  EXPECT_TRUE(names.contains("JOBSYNC_REPLICAS_WORKER"));
  EXPECT_FALSE(names.contains("JOBSYNC_INDEX"));
  EXPECT_FALSE(names.contains("JOBSYNC_SERVICE"));
  // A role without an image of its own or from spec.image takes ray.image; fixed bounds.
  const json& cpu = Group(*object, "cpu");
  EXPECT_EQ(cpu["template"]["spec"]["containers"][0]["image"], "rayproject/ray:2.52.0");
  EXPECT_EQ(cpu["minReplicas"], 3);
  EXPECT_EQ(cpu["maxReplicas"], 3);
}

TEST(RayJobMappingTest, NoAutoscalerWithoutElasticRolesAndTheJobsLimits) {
  TrainingJob job = KubeRayJob();
  job.roles.erase("worker");
  job.suspend = true;
  job.ttl_seconds_after_finished = 600;
  job.active_deadline_seconds = 3600;
  job.ray->runtime_env = json::object();
  const json spec = (*RayJobObject(job, kContext))["spec"];
  EXPECT_FALSE(spec["rayClusterSpec"].contains("enableInTreeAutoscaling"));
  EXPECT_FALSE(spec.contains("runtimeEnvYAML"));
  EXPECT_EQ(spec["suspend"], true);
  EXPECT_EQ(spec["ttlSecondsAfterFinished"], 600);
  EXPECT_EQ(spec["activeDeadlineSeconds"], 3600);
}

json Listed(const TrainingJob& job, const json& status, bool suspend = false) {
  json object = *RayJobObject(job, kContext);
  object["metadata"]["resourceVersion"] = "9";
  object["spec"]["suspend"] = suspend;
  object["status"] = status;
  return CompactRayJobObject(object);
}

TEST(RayJobMappingTest, ListedRayJobIsOneLiveJobWithItsPhase) {
  const TrainingJob job = KubeRayJob();
  std::vector<LiveJob> live = LiveJobsFromRayJobs(std::vector<json>{Listed(job, json::object())});
  ASSERT_EQ(live.size(), 1u);
  EXPECT_EQ(live[0].key.ToString(), "kubernetes/search/tune");
  EXPECT_EQ(live[0].phase, LivePhase::kPending);
  EXPECT_TRUE(live[0].replicas.empty());  // the autoscaler's moves are not drift
  ASSERT_NE(live[0].applied, nullptr);
  EXPECT_EQ(SpecHash(*live[0].applied), SpecHash(job));
  EXPECT_EQ(live[0].applied->key(), job.key());
  EXPECT_FALSE(Listed(job, json::object())["spec"].contains("rayClusterSpec"));  // compacted

  auto phase = [&](const char* status, bool suspend = false) {
    return LiveJobsFromRayJobs(std::vector<json>{Listed(job, json::parse(status), suspend)})[0]
        .phase;
  };
  EXPECT_EQ(phase(R"({"jobDeploymentStatus": "Initializing"})"), LivePhase::kPending);
  EXPECT_EQ(phase(R"({"jobDeploymentStatus": "Running"})"), LivePhase::kPending);
  EXPECT_EQ(phase(R"({"jobDeploymentStatus": "Running", "jobStatus": "RUNNING"})"),
            LivePhase::kRunning);
  EXPECT_EQ(phase(R"({"jobDeploymentStatus": "Complete", "jobStatus": "SUCCEEDED"})"),
            LivePhase::kSucceeded);
  EXPECT_EQ(phase(R"({"jobDeploymentStatus": "Failed", "reason": "DeadlineExceeded"})"),
            LivePhase::kFailed);
  EXPECT_EQ(phase(R"({"jobDeploymentStatus": "Complete", "jobStatus": "STOPPED"})"),
            LivePhase::kFailed);
  EXPECT_EQ(phase(R"({"jobDeploymentStatus": "Suspended"})"), LivePhase::kSuspended);
  EXPECT_EQ(phase(R"({})", true), LivePhase::kSuspended);
}

TEST(RayJobMappingTest, HealthAndKubeRaysMessage) {
  const TrainingJob job = KubeRayJob();
  auto health = [&](const char* status) {
    return HealthFromRayJob(Listed(job, json::parse(status)));
  };
  EXPECT_EQ(health(R"({})"), Health::kProgressing);
  EXPECT_EQ(health(R"({"jobDeploymentStatus": "Running"})"), Health::kProgressing);
  EXPECT_EQ(health(R"({"jobDeploymentStatus": "Running", "jobStatus": "RUNNING"})"),
            Health::kHealthy);
  EXPECT_EQ(health(R"({"jobDeploymentStatus": "Retrying"})"), Health::kDegraded);
  EXPECT_EQ(health(R"({"jobStatus": "SUCCEEDED"})"), Health::kSucceeded);
  const json failed = Listed(job, json::parse(R"({"jobDeploymentStatus": "Failed",
      "reason": "AppFailed", "message": "Job tune failed: exit code 1"})"));
  EXPECT_EQ(HealthFromRayJob(failed), Health::kFailed);
  EXPECT_EQ(LiveJobsFromRayJobs(std::vector<json>{failed})[0].phase_message,
            "Job tune failed: exit code 1");
}

}  // namespace
}  // namespace jobsync
