// The Kubernetes mapping of every field of the job model (issue #19): where each lands in a role
// Job, per-role overrides, the elastic environment, the Job's failure policy and deadlines, and
// podTemplatePatch with its refusals.
#include "backends/kubernetes/pod_spec.h"

#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "backends/kubernetes/mapping.h"
#include "job_fields_test.h"

namespace jobsync {
namespace {

using ::jobsync::testing::EveryFieldJob;
using ::jobsync::testing::SampleJob;
using ::testing::HasSubstr;
using json = nlohmann::json;

const ApplyContext kContext{"agent-a", "0123abcd"};

json RenderRole(const TrainingJob& job, const std::string& role) {
  StatusOr<json> object = RoleJobObject(job, role, kContext);
  EXPECT_TRUE(object.ok()) << object.status().ToString();
  return object.ok() ? *object : json::object();
}

// The env var `name` of `container` (the whole entry), or null.
json EnvEntry(const json& container, const std::string& name) {
  for (const json& var : container["env"]) {
    if (var["name"] == name) return var;
  }
  return nullptr;
}

// Kubernetes expands $(NAME) in an env value only from variables defined before it, so jobsync's
// come first: an ElasticJob's NODE_NUM is "$(JOBSYNC_REPLICAS_WORKER)".
TEST(PodSpecTest, JobsyncVariablesPrecedeTheManifestsSoValuesCanReferToThem) {
  TrainingJob job = SampleJob("resnet", "vision");
  job.env["NODE_NUM"] = "$(JOBSYNC_REPLICAS_WORKER)";
  const json object = RenderRole(job, "worker");
  const json& env = object["spec"]["template"]["spec"]["containers"][0]["env"];
  size_t replicas = env.size();
  size_t node_num = env.size();
  for (size_t i = 0; i < env.size(); ++i) {
    if (env[i]["name"] == "JOBSYNC_REPLICAS_WORKER") replicas = i;
    if (env[i]["name"] == "NODE_NUM") node_num = i;
  }
  ASSERT_LT(node_num, env.size());
  EXPECT_LT(replicas, node_num);
  EXPECT_EQ(env[0]["name"], "JOBSYNC_JOB");
}

TEST(PodSpecTest, EveryFieldLandsWhereTheKubernetesApiPutsIt) {
  const json object = RenderRole(EveryFieldJob("resnet", "vision"), "worker");
  const json& pod = object["spec"]["template"]["spec"];
  const json& container = pod["containers"][0];
  EXPECT_EQ(container["image"], "registry.example/train:1");
  EXPECT_EQ(container["command"], json({"python", "train.py"}));
  EXPECT_EQ(container["args"], json({"--epochs", "90"}));
  EXPECT_EQ(EnvEntry(container, "EPOCHS"), json({{"name", "EPOCHS"}, {"value", "90"}}));
  EXPECT_EQ(EnvEntry(container, "WANDB_API_KEY")["valueFrom"],
            json::parse(R"({"secretKeyRef": {"name": "wandb", "key": "api-key"}})"));
  EXPECT_EQ(EnvEntry(container, "MODEL_CFG")["valueFrom"],
            json::parse(R"({"configMapKeyRef": {"name": "train-cfg", "key": "model"}})"));
  EXPECT_EQ(EnvEntry(container, "POD_IP")["valueFrom"],
            json::parse(R"({"fieldRef": {"fieldPath": "status.podIP"}})"));
  EXPECT_EQ(
      container["envFrom"],
      json::parse(R"([{"secretRef": {"name": "s3"}}, {"configMapRef": {"name": "train-cfg"}}])"));
  EXPECT_EQ(container["volumeMounts"], json::parse(R"([
      {"name": "data", "mountPath": "/data", "readOnly": true},
      {"name": "shm", "mountPath": "/dev/shm"},
      {"name": "cfg", "mountPath": "/etc/train", "subPath": "model"},
      {"name": "creds", "mountPath": "/var/run/creds", "readOnly": true}])"));
  EXPECT_EQ(pod["volumes"], json::parse(R"([
      {"name": "data", "persistentVolumeClaim": {"claimName": "imagenet"}},
      {"name": "shm", "emptyDir": {"medium": "Memory", "sizeLimit": "1Gi"}},
      {"name": "cfg", "configMap": {"name": "train-cfg"}},
      {"name": "creds", "secret": {"secretName": "s3"}}])"));
  EXPECT_EQ(pod["nodeSelector"], json({{"type", "kwok"}}));
  EXPECT_EQ(pod["tolerations"], json::parse(R"([{"key": "kwok.x-k8s.io/node",
      "operator": "Exists", "effect": "NoSchedule"}])"));
  EXPECT_EQ(pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
               ["nodeSelectorTerms"][0]["matchExpressions"][0]["values"],
            json::array({"kwok"}));
  EXPECT_EQ(pod["priorityClassName"], "training-high");
  EXPECT_EQ(pod["schedulerName"], "default-scheduler");
  EXPECT_EQ(pod["serviceAccountName"], "trainer");
  EXPECT_EQ(pod["imagePullSecrets"], json::parse(R"([{"name": "regcred"}])"));
  EXPECT_EQ(pod["restartPolicy"], "Never");
  EXPECT_EQ(pod["subdomain"], "resnet");
}

TEST(PodSpecTest, JobCarriesRestartBudgetDeadlineAndTtl) {
  const json spec = RenderRole(EveryFieldJob("resnet", "vision"), "worker")["spec"];
  EXPECT_EQ(spec["backoffLimitPerIndex"], 2);
  EXPECT_EQ(spec["podFailurePolicy"], json::parse(R"({"rules": [{"action": "Ignore",
      "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]}]})"));
  EXPECT_EQ(spec["activeDeadlineSeconds"], 86400);
  EXPECT_EQ(spec["ttlSecondsAfterFinished"], 3600);

  TrainingJob zero = SampleJob("resnet", "vision");
  zero.max_restarts = 0;
  EXPECT_EQ(RenderRole(zero, "worker")["spec"]["backoffLimitPerIndex"], 0);
}

TEST(PodSpecTest, JobWithoutTheNewFieldsHasNoneOfTheirKeys) {
  const json object = RenderRole(SampleJob("resnet", "vision"), "worker");
  const json& spec = object["spec"];
  EXPECT_EQ(spec["backoffLimitPerIndex"], kBackoffLimitPerIndex);
  for (const char* key : {"podFailurePolicy", "activeDeadlineSeconds", "ttlSecondsAfterFinished"}) {
    EXPECT_FALSE(spec.contains(key)) << key;
  }
  const json& pod = spec["template"]["spec"];
  EXPECT_EQ(pod.size(), 3u) << pod.dump();  // restartPolicy, subdomain, containers
  EXPECT_EQ(pod["containers"][0].size(), 5u) << pod["containers"][0].dump();
}

TEST(PodSpecTest, RoleOverridesReplaceOrExtendTheSpecLevelSettings) {
  const json object = RenderRole(EveryFieldJob("resnet", "vision"), "ps");
  const json& pod = object["spec"]["template"]["spec"];
  const json& container = pod["containers"][0];
  EXPECT_EQ(container["name"], "ps");
  EXPECT_EQ(container["image"], "registry.example/train-ps:1");
  EXPECT_EQ(container["command"], json({"python", "train.py"}));  // the spec's
  EXPECT_EQ(container["args"], json::array({"--ps"}));
  // The role's literal replaces the spec's ConfigMap reference; the role adds a reference.
  EXPECT_EQ(EnvEntry(container, "MODEL_CFG"),
            json({{"name", "MODEL_CFG"}, {"value", "ps-literal"}}));
  EXPECT_EQ(EnvEntry(container, "NODE")["valueFrom"]["fieldRef"]["fieldPath"], "spec.nodeName");
  EXPECT_EQ(container["envFrom"].size(), 3u);
  EXPECT_EQ(container["envFrom"][2]["configMapRef"]["name"], "ps-cfg");
  EXPECT_EQ(pod["volumes"][1], json::parse(R"({"name": "shm",
      "emptyDir": {"medium": "Memory", "sizeLimit": "2Gi"}})"));
  EXPECT_EQ(pod["volumes"][4]["name"], "ckpt");
  EXPECT_EQ(container["volumeMounts"][4], json({{"name", "ckpt"}, {"mountPath", "/ckpt"}}));
  EXPECT_EQ(pod["nodeSelector"], json({{"pool", "cpu"}, {"type", "kwok"}}));
  ASSERT_EQ(pod["tolerations"].size(), 2u);
  EXPECT_EQ(pod["tolerations"][1]["key"], "spot");
}

TEST(PodSpecTest, EphemeralStorageAndExtendedResourcesSetRequestsAndLimits) {
  const json container = RenderRole(EveryFieldJob("resnet", "vision"),
                                    "ps")["spec"]["template"]["spec"]["containers"][0];
  EXPECT_EQ(container["resources"]["requests"], json({{"cpu", "250m"},
                                                      {"memory", "512Mi"},
                                                      {"ephemeral-storage", "2Gi"},
                                                      {"example.com/rdma", "1"}}));
  EXPECT_EQ(container["resources"]["limits"], json({{"cpu", "250m"},
                                                    {"memory", "512Mi"},
                                                    {"ephemeral-storage", "2Gi"},
                                                    {"example.com/rdma", "1"}}));
}

TEST(PodSpecTest, ElasticBoundsReachEveryContainerAndJobsyncNamesWin) {
  TrainingJob job = EveryFieldJob("resnet", "vision");
  job.env["JOBSYNC_NNODES"] = "9:9";
  job.pod->env_refs["JOBSYNC_MIN_REPLICAS_WORKER"] = {
      {"fieldRef", {{"fieldPath", "spec.nodeName"}}}};
  job.roles["data-loader"].replicas = 3;
  job.roles["data-loader"].max_replicas = 5;
  for (const std::string role : {"worker", "ps", "data-loader"}) {
    const json container = RenderRole(job, role)["spec"]["template"]["spec"]["containers"][0];
    EXPECT_EQ(EnvEntry(container, "JOBSYNC_MIN_REPLICAS_WORKER")["value"], "1") << role;
    EXPECT_EQ(EnvEntry(container, "JOBSYNC_MAX_REPLICAS_WORKER")["value"], "4") << role;
    EXPECT_EQ(EnvEntry(container, "JOBSYNC_MIN_REPLICAS_DATA_LOADER")["value"], "3") << role;
    EXPECT_EQ(EnvEntry(container, "JOBSYNC_MAX_REPLICAS_DATA_LOADER")["value"], "5") << role;
    EXPECT_EQ(EnvEntry(container, "JOBSYNC_MIN_REPLICAS_PS"), nullptr) << role;
    int named = 0;
    for (const json& var : container["env"]) named += var["name"] == "JOBSYNC_MIN_REPLICAS_WORKER";
    EXPECT_EQ(named, 1) << role;
  }
  auto nnodes = [&](const std::string& role) {
    return EnvEntry(RenderRole(job, role)["spec"]["template"]["spec"]["containers"][0],
                    "JOBSYNC_NNODES");
  };
  EXPECT_EQ(nnodes("worker")["value"], "1:4");
  EXPECT_EQ(nnodes("data-loader")["value"], "3:5");
  // ps is not elastic: jobsync sets no JOBSYNC_NNODES there, so the manifest's stays.
  EXPECT_EQ(nnodes("ps")["value"], "9:9");
}

TEST(PodSpecTest, PodTemplatePatchIsMergedLast) {
  TrainingJob job = EveryFieldJob("resnet", "vision");
  job.pod_template_patch = json::parse(R"({
      "metadata": {"annotations": {"sidecar.istio.io/inject": "false"}},
      "spec": {"tolerations": [{"key": "only", "operator": "Exists"}],
               "nodeSelector": {"type": null},
               "containers": [{"name": "worker", "env": [{"name": "NCCL_DEBUG", "value": "INFO"}]},
                              {"name": "sidecar", "image": "busybox"}]}})");
  const json template_ = RenderRole(job, "worker")["spec"]["template"];
  EXPECT_EQ(template_["metadata"]["annotations"], json({{"sidecar.istio.io/inject", "false"}}));
  EXPECT_EQ(template_["metadata"]["labels"]["jobsync.dev/role"], "worker");
  const json& pod = template_["spec"];
  EXPECT_EQ(pod["tolerations"], json::parse(R"([{"key": "only", "operator": "Exists"}])"));
  EXPECT_FALSE(pod["nodeSelector"].contains("type"));
  ASSERT_EQ(pod["containers"].size(), 2u);
  EXPECT_EQ(pod["containers"][1]["name"], "sidecar");
  EXPECT_EQ(EnvEntry(pod["containers"][0], "NCCL_DEBUG")["value"], "INFO");
  EXPECT_EQ(EnvEntry(pod["containers"][0], "JOBSYNC_ROLE")["value"], "worker");
}

TEST(PodSpecTest, PodTemplatePatchMayNotChangeWhatJobsyncOwns) {
  struct Case {
    const char* patch;
    const char* changed;
  };
  const Case cases[] = {
      {R"({"metadata": {"labels": {"jobsync.dev/job": "other"}}})",
       "metadata.labels (app.kubernetes.io/managed-by and jobsync.dev/*)"},
      {R"({"metadata": {"labels": {"app.kubernetes.io/managed-by": null}}})",
       "metadata.labels (app.kubernetes.io/managed-by and jobsync.dev/*)"},
      {R"({"metadata": {"annotations": {"jobsync.dev/spec-hash": "x"}}})",
       "metadata.annotations (app.kubernetes.io/managed-by and jobsync.dev/*)"},
      {R"({"spec": {"subdomain": "elsewhere"}})", "spec.subdomain"},
      {R"({"spec": {"restartPolicy": "OnFailure"}})", "spec.restartPolicy"},
      {R"({"spec": {"containers": [{"$patch": "replace"}, {"name": "main", "image": "x"}]}})",
       "spec.containers (the training container \"worker\" is gone or renamed)"},
      {R"({"spec": {"containers": [{"name": "worker", "$patch": "delete"}]}})",
       "spec.containers (the training container \"worker\" is gone or renamed)"},
      {R"({"spec": {"containers": [{"name": "worker",
          "env": [{"name": "JOBSYNC_WORLD_SIZE", "value": "64"}]}]}})",
       "spec.containers[name=worker].env (the JOBSYNC_* variables)"},
      {R"({"spec": {"containers": [{"name": "worker", "env": [{"name": "JOBSYNC_EXTRA", "value": "1"}]}]}})",
       "spec.containers[name=worker].env (the JOBSYNC_* variables)"},
  };
  for (const Case& c : cases) {
    TrainingJob job = SampleJob("resnet", "vision");
    job.source.line = 3;
    job.source.column = 1;
    job.pod_template_patch = json::parse(c.patch);
    StatusOr<json> object = RoleJobObject(job, "worker", kContext);
    ASSERT_FALSE(object.ok()) << c.patch;
    EXPECT_EQ(object.status().code(), StatusCode::kInvalidArgument);
    EXPECT_THAT(object.status().message(),
                HasSubstr("job kubernetes/vision/resnet (jobs/resnet.yaml:3:1), role worker: "
                          "spec.kubernetes.podTemplatePatch changes " +
                          std::string(c.changed) + ", which jobsync sets; remove that part"))
        << c.patch;
    StatusOr<std::vector<json>> all = RenderObjects(job, kContext);
    EXPECT_FALSE(all.ok()) << c.patch;
  }
}

TEST(PodSpecTest, MalformedPodTemplatePatchIsRefusedWithItsPlace) {
  TrainingJob job = SampleJob("resnet", "vision");
  job.pod_template_patch = json::parse(R"({"spec": {"volumes": [{"emptyDir": {}}]}})");
  StatusOr<json> object = RoleJobObject(job, "worker", kContext);
  ASSERT_FALSE(object.ok());
  EXPECT_THAT(object.status().message(),
              HasSubstr("role worker: spec.kubernetes.podTemplatePatch spec.volumes[0]: "
                        "spec.volumes merges by \"name\""));
}

}  // namespace
}  // namespace jobsync
