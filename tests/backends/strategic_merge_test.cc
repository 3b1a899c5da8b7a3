#include "backends/kubernetes/strategic_merge.h"

#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace jobsync {
namespace {

using ::testing::HasSubstr;
using json = nlohmann::json;

// A rendered pod template as mapping.cc writes one: a training container with env, a volume.
json Template() {
  return json::parse(R"({
    "metadata": {"labels": {"jobsync.dev/job": "resnet", "team": "vision"}},
    "spec": {
      "restartPolicy": "Never",
      "subdomain": "resnet",
      "nodeSelector": {"pool": "gpu", "zone": "a"},
      "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
      "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "imagenet"}}],
      "containers": [{
        "name": "worker",
        "image": "train:1",
        "args": ["--epochs", "90"],
        "env": [{"name": "EPOCHS", "value": "90"}, {"name": "JOBSYNC_ROLE", "value": "worker"}],
        "volumeMounts": [{"name": "data", "mountPath": "/data", "readOnly": true}],
        "ports": [{"containerPort": 29500}]
      }]
    }
  })");
}

json Merge(const json& patch) {
  StatusOr<json> merged = StrategicMergePodTemplate(Template(), patch);
  EXPECT_TRUE(merged.ok()) << merged.status().ToString();
  return merged.ok() ? *merged : json();
}

TEST(StrategicMergeTest, SidecarIsAddedAndTheTrainingContainerMergedByName) {
  const json out = Merge(json::parse(R"({"spec": {"containers": [
      {"name": "worker", "image": "train:2"},
      {"name": "log-shipper", "image": "fluent-bit:3"}]}})"));
  const json& containers = out["spec"]["containers"];
  ASSERT_EQ(containers.size(), 2u);
  EXPECT_EQ(containers[0]["name"], "worker");
  EXPECT_EQ(containers[0]["image"], "train:2");
  EXPECT_EQ(containers[0]["args"], json({"--epochs", "90"}));  // kept: merged, not replaced
  EXPECT_EQ(containers[0]["env"].size(), 2u);
  EXPECT_EQ(containers[1], json({{"name", "log-shipper"}, {"image", "fluent-bit:3"}}));
}

TEST(StrategicMergeTest, TolerationsAndArgsAreReplacedNotMerged) {
  const json out = Merge(json::parse(R"({"spec": {
      "tolerations": [{"key": "spot", "operator": "Exists"}],
      "containers": [{"name": "worker", "args": ["--fast"]}]}})"));
  EXPECT_EQ(out["spec"]["tolerations"], json::parse(R"([{"key": "spot", "operator": "Exists"}])"));
  EXPECT_EQ(out["spec"]["containers"][0]["args"], json({"--fast"}));
}

TEST(StrategicMergeTest, MapsMergeAndNullDeletesAKey) {
  const json out = Merge(json::parse(R"({"spec": {
      "nodeSelector": {"zone": null, "rack": "r1"},
      "containers": [{"name": "worker", "args": null}]}})"));
  EXPECT_EQ(out["spec"]["nodeSelector"], json({{"pool", "gpu"}, {"rack", "r1"}}));
  EXPECT_FALSE(out["spec"]["containers"][0].contains("args"));
}

TEST(StrategicMergeTest, NestedListsMergeByTheirKeys) {
  const json out = Merge(json::parse(R"({"spec": {
      "volumes": [{"name": "shm", "emptyDir": {"medium": "Memory"}}],
      "containers": [{"name": "worker",
        "env": [{"name": "EPOCHS", "value": "10"}, {"name": "NCCL_DEBUG", "value": "INFO"}],
        "volumeMounts": [{"mountPath": "/data", "readOnly": false},
                         {"name": "shm", "mountPath": "/dev/shm"}],
        "ports": [{"containerPort": 29500, "name": "c10d"}]}]}})"));
  const json& container = out["spec"]["containers"][0];
  EXPECT_EQ(container["env"], json::parse(R"([{"name": "EPOCHS", "value": "10"},
      {"name": "JOBSYNC_ROLE", "value": "worker"}, {"name": "NCCL_DEBUG", "value": "INFO"}])"));
  EXPECT_EQ(container["volumeMounts"],
            json::parse(R"([{"name": "data", "mountPath": "/data", "readOnly": false},
                            {"name": "shm", "mountPath": "/dev/shm"}])"));
  EXPECT_EQ(container["ports"], json::parse(R"([{"containerPort": 29500, "name": "c10d"}])"));
  EXPECT_EQ(out["spec"]["volumes"].size(), 2u);
}

TEST(StrategicMergeTest, PatchReplaceDirectiveReplacesAMapOrAList) {
  const json out = Merge(json::parse(R"({"spec": {
      "nodeSelector": {"$patch": "replace", "pool": "cpu"},
      "volumes": [{"$patch": "replace"}, {"name": "scratch", "emptyDir": {}}]}})"));
  EXPECT_EQ(out["spec"]["nodeSelector"], json({{"pool", "cpu"}}));
  EXPECT_EQ(out["spec"]["volumes"], json::parse(R"([{"name": "scratch", "emptyDir": {}}])"));
}

TEST(StrategicMergeTest, PatchDeleteDirectiveDeletesAListElementOrAMap) {
  const json out = Merge(json::parse(R"({"spec": {
      "nodeSelector": {"$patch": "delete"},
      "containers": [{"name": "worker",
                      "env": [{"name": "EPOCHS", "$patch": "delete"}]}]}})"));
  EXPECT_FALSE(out["spec"].contains("nodeSelector"));
  EXPECT_EQ(out["spec"]["containers"][0]["env"],
            json::parse(R"([{"name": "JOBSYNC_ROLE", "value": "worker"}])"));
}

TEST(StrategicMergeTest, FinalizersMergeAsASet) {
  json original = Template();
  original["metadata"]["finalizers"] = {"a", "c"};
  StatusOr<json> out = StrategicMergePodTemplate(
      original, json::parse(R"({"metadata": {"finalizers": ["b", "a"]}})"));
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ((*out)["metadata"]["finalizers"], json({"a", "c", "b"}));
}

TEST(StrategicMergeTest, RefusesMalformedPatchesNamingWhere) {
  struct Case {
    const char* patch;
    const char* message;
  };
  const Case cases[] = {
      {R"({"spec": {"containers": [{"image": "x"}]}})",
       "spec.containers[0]: spec.containers merges by \"name\""},
      {R"({"spec": {"containers": [{"name": "worker", "env": ["A=1"]}]}})",
       "spec.containers[0].env[0]"},
      {R"({"spec": {"nodeSelector": {"$patch": "remove"}}})",
       "spec.nodeSelector.$patch: unknown directive \"remove\""},
      {R"({"spec": {"$setElementOrder/containers": [{"name": "worker"}]}})",
       "spec.$setElementOrder/containers: this directive is not supported"},
      {R"(["spec"])", "must be a mapping"},
      {R"({"$patch": "delete"})", "would delete the whole pod template"},
      // Directives that are not strings: an error, never an exception.
      {R"({"spec": {"nodeSelector": {"$patch": 1}}})", "unknown directive \"1\""},
      {R"({"spec": {"volumes": [{"name": "v", "$patch": true}]}})", "unknown directive \"true\""},
  };
  for (const Case& c : cases) {
    StatusOr<json> out = StrategicMergePodTemplate(Template(), json::parse(c.patch));
    ASSERT_FALSE(out.ok()) << c.patch;
    EXPECT_EQ(out.status().code(), StatusCode::kInvalidArgument) << c.patch;
    EXPECT_THAT(out.status().message(), HasSubstr(c.message)) << c.patch;
  }
}

}  // namespace
}  // namespace jobsync
