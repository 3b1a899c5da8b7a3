// A Kubernetes TrainingJob that sets every field of the job model (issue #19), for the mapping
// unit tests and the integration tests against the real apiserver.
#ifndef JOBSYNC_TESTS_BACKENDS_JOB_FIELDS_TEST_H_
#define JOBSYNC_TESTS_BACKENDS_JOB_FIELDS_TEST_H_

#include <string>

#include "test_jobs.h"

namespace jobsync::testing {

// Job `name` in `namespace_name`: worker (elastic, 2 in [1, 4], gpu) and ps (its own image,
// args, env, volume, nodeSelector, toleration, ephemeral storage and an extended resource); env
// literal and from a Secret, a ConfigMap and the downward API; envFrom; a PVC, memory-backed
// /dev/shm, ConfigMap and Secret volumes; placement, priority, scheduler, service account, pull
// secret; maxRestarts 2, deadline, TTL and runId. It names Secret "wandb" (key api-key), Secret
// "s3", ConfigMap "train-cfg" (key model), PVC "imagenet", ServiceAccount "trainer",
// PriorityClass "training-high" and Secret "regcred".
inline Volume MakeVolume(const std::string& name, const std::string& mount_path, bool read_only,
                         const std::string& sub_path, const char* source) {
  Volume volume;
  volume.name = name;
  volume.mount_path = mount_path;
  volume.read_only = read_only;
  volume.sub_path = sub_path;
  volume.source = nlohmann::json::parse(source);
  return volume;
}

inline TrainingJob EveryFieldJob(const std::string& name, const std::string& namespace_name) {
  using json = nlohmann::json;
  TrainingJob job = SampleJob(name, namespace_name);
  job.args = {"--epochs", "90"};
  job.pod->env_refs["WANDB_API_KEY"] =
      json::parse(R"({"secretKeyRef": {"name": "wandb", "key": "api-key"}})");
  job.pod->env_refs["MODEL_CFG"] =
      json::parse(R"({"configMapKeyRef": {"name": "train-cfg", "key": "model"}})");
  job.pod->env_refs["POD_IP"] = json::parse(R"({"fieldRef": {"fieldPath": "status.podIP"}})");
  job.pod->env_from = {json::parse(R"({"secretRef": {"name": "s3"}})"),
                       json::parse(R"({"configMapRef": {"name": "train-cfg"}})")};
  job.pod->volumes = {
      MakeVolume("data", "/data", true, "",
                 R"({"persistentVolumeClaim": {"claimName": "imagenet"}})"),
      MakeVolume("shm", "/dev/shm", false, "",
                 R"({"emptyDir": {"medium": "Memory", "sizeLimit": "1Gi"}})"),
      MakeVolume("cfg", "/etc/train", false, "model", R"({"configMap": {"name": "train-cfg"}})"),
      MakeVolume("creds", "/var/run/creds", true, "", R"({"secret": {"secretName": "s3"}})"),
  };
  job.pod->node_selector = {{"type", "kwok"}};
  job.pod->tolerations = {json::parse(
      R"({"key": "kwok.x-k8s.io/node", "operator": "Exists", "effect": "NoSchedule"})")};
  job.pod->affinity =
      json::parse(R"({"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution":
      {"nodeSelectorTerms": [{"matchExpressions":
        [{"key": "type", "operator": "In", "values": ["kwok"]}]}]}}})");
  job.pod->priority_class_name = "training-high";
  job.pod->scheduler_name = "default-scheduler";
  job.pod->service_account_name = "trainer";
  job.pod->image_pull_secrets = {"regcred"};
  job.max_restarts = 2;
  job.active_deadline_seconds = 86400;
  job.ttl_seconds_after_finished = 3600;
  job.run_id = "1";
  Role& worker = job.roles["worker"];
  worker.min_replicas = 1;
  worker.max_replicas = 4;
  Role& ps = job.roles["ps"];
  ps.resources.cpu = Q("250m");
  ps.resources.memory = Q("512Mi");
  ps.resources.ephemeral_storage = Q("2Gi");
  ps.resources.extended->insert_or_assign("example.com/rdma", Q("1"));
  ps.overrides->image = "registry.example/train-ps:1";
  ps.overrides->args = std::vector<std::string>{"--ps"};
  ps.overrides->env["MODEL_CFG"] = "ps-literal";
  ps.overrides->env_refs["NODE"] = json::parse(R"({"fieldRef": {"fieldPath": "spec.nodeName"}})");
  ps.overrides->env_from = {
      json::parse(R"({"configMapRef": {"name": "ps-cfg", "optional": true}})")};
  ps.overrides->volumes = {MakeVolume("shm", "/dev/shm", false, "",
                                      R"({"emptyDir": {"medium": "Memory", "sizeLimit": "2Gi"}})"),
                           MakeVolume("ckpt", "/ckpt", false, "", R"({"emptyDir": {}})")};
  ps.overrides->node_selector = {{"pool", "cpu"}};
  ps.overrides->tolerations = {json::parse(R"({"key": "spot", "operator": "Exists"})")};
  return job;
}

}  // namespace jobsync::testing

#endif  // JOBSYNC_TESTS_BACKENDS_JOB_FIELDS_TEST_H_
