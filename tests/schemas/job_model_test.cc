// The job-model fields of a manifest (issue #19): loaded into the typed model field by field,
// kept through the canonical form, and refused on Ray; and the spec hash of a manifest without
// them, unchanged since before they existed.
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "schemas/canonical.h"
#include "schemas/loader.h"

namespace jobsync {
namespace {

using json = nlohmann::json;
using ::testing::ElementsAre;
using ::testing::Pair;

// Uses every field of the manifest, shared settings through a YAML merge key.
constexpr const char* kEveryField = R"(apiVersion: jobsync.dev/v1alpha1
kind: TrainingJob
metadata:
  name: imagenet
  namespace: vision
spec:
  backend: kubernetes
  image: trainer:1.4
  command: [torchrun]
  args: [train.py, --epochs, "90"]
  env:
    EPOCHS: "90"
    WANDB_API_KEY: {secretKeyRef: {name: wandb, key: api-key, optional: true}}
    MODEL_CFG: {configMapKeyRef: {name: train-cfg, key: model}}
    POD_IP: {fieldRef: {fieldPath: status.podIP}}
    MEM: {resourceFieldRef: {resource: limits.memory, divisor: 1Mi}}
  envFrom: [{secretRef: {name: s3}}, {configMapRef: {name: train-cfg, optional: true}, prefix: CFG_}]
  volumes:
    - {name: data, mountPath: /data, readOnly: true, persistentVolumeClaim: {claimName: imagenet}}
    - {name: shm, mountPath: /dev/shm, emptyDir: {medium: Memory, sizeLimit: 16Gi}}
    - {name: cfg, mountPath: /etc/train, subPath: model, configMap: {name: train-cfg, items: [{key: model, path: model.yaml}], defaultMode: 420}}
    - {name: creds, mountPath: /var/run/creds, secret: {secretName: s3, optional: false}}
  nodeSelector: {nvidia.com/gpu.product: NVIDIA-H100-80GB-HBM3}
  tolerations: [{key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}]
  affinity:
    nodeAffinity:
      requiredDuringSchedulingIgnoredDuringExecution:
        nodeSelectorTerms: [{matchExpressions: [{key: zone, operator: In, values: [a]}]}]
  priorityClassName: training-high
  schedulerName: default-scheduler
  serviceAccountName: trainer
  imagePullSecrets: [regcred]
  failurePolicy: {maxRestarts: 3}
  activeDeadlineSeconds: 86400
  ttlSecondsAfterFinished: 3600
  runId: "1"
  roles:
    worker:
      replicas: 4
      minReplicas: 2
      maxReplicas: 8
      resources: &gpu {cpu: "8", memory: 64Gi, gpu: 1}
    ps:
      replicas: 2
      image: trainer-ps:1.4
      command: [python, ps.py]
      args: [--shards, "2"]
      env: {EPOCHS: "1", TOKEN: {secretKeyRef: {name: ps-token, key: t}}}
      envFrom: [{configMapRef: {name: ps-cfg}}]
      volumes:
        - {name: data, mountPath: /data, nfs: {server: nfs.local, path: /exports/imagenet}}
        - {name: scratch, mountPath: /scratch, hostPath: {path: /mnt/scratch, type: DirectoryOrCreate}}
      nodeSelector: {node-type: cpu}
      tolerations: [{key: dedicated, operator: Equal, value: ps, effect: NoSchedule}]
      resources:
        <<: *gpu
        gpu: 0
        ephemeralStorage: 50Gi
        extended: {rdma/hca_shared_devices_a: 1}
  kubernetes:
    podTemplatePatch:
      metadata: {labels: {example.com/team: vision}}
      spec:
        containers: [{name: worker, securityContext: {privileged: false}}]
)";

class JobModelTest : public ::testing::Test {
 protected:
  // The one job of `text`, which must pass the checks of one file without problems.
  TrainingJob LoadJob(const std::string& text) {
    ManifestFile file = ParseManifestFile("job.yaml", text, validator_);
    std::string report;
    for (const Diagnostic& d : file.diagnostics) report += d.ToString() + "\n";
    EXPECT_TRUE(file.diagnostics.empty()) << report;
    EXPECT_EQ(file.jobs.size(), 1u) << report;
    return file.jobs.empty() ? TrainingJob{} : *file.jobs[0].job;
  }

  SchemaValidator validator_;
};

Quantity Q(const char* text) { return *Quantity::Parse(text); }

// JSON values compared as their text: gtest cannot print a json value (it would recurse).
std::string D(const json& value) { return value.dump(); }
std::string D(const std::vector<json>& values) { return json(values).dump(); }
std::string D(const std::map<std::string, json>& values) { return json(values).dump(); }
std::string J(const char* text) { return json::parse(text).dump(); }

json VolumesJson(const std::vector<Volume>& volumes) {
  json out = json::array();
  for (const Volume& v : volumes) {
    out.push_back({{"name", v.name},
                   {"mountPath", v.mount_path},
                   {"readOnly", v.read_only},
                   {"subPath", v.sub_path},
                   {"source", v.source}});
  }
  return out;
}

TEST_F(JobModelTest, LoadsEveryFieldIntoTheModel) {
  TrainingJob job = LoadJob(kEveryField);
  EXPECT_EQ(job.image, "trainer:1.4");
  EXPECT_THAT(job.command, ElementsAre("torchrun"));
  EXPECT_THAT(job.args, ElementsAre("train.py", "--epochs", "90"));
  EXPECT_THAT(job.env, ElementsAre(Pair("EPOCHS", "90")));
  EXPECT_EQ(D(job.pod->env_refs), J(R"({
      "MEM": {"resourceFieldRef": {"resource": "limits.memory", "divisor": "1Mi"}},
      "MODEL_CFG": {"configMapKeyRef": {"name": "train-cfg", "key": "model"}},
      "POD_IP": {"fieldRef": {"fieldPath": "status.podIP"}},
      "WANDB_API_KEY": {"secretKeyRef": {"name": "wandb", "key": "api-key", "optional": true}}})"));
  EXPECT_EQ(D(job.pod->env_from), J(R"([{"secretRef": {"name": "s3"}},
      {"configMapRef": {"name": "train-cfg", "optional": true}, "prefix": "CFG_"}])"));
  EXPECT_EQ(D(VolumesJson(job.pod->volumes)), J(R"([
      {"name": "data", "mountPath": "/data", "readOnly": true, "subPath": "",
       "source": {"persistentVolumeClaim": {"claimName": "imagenet"}}},
      {"name": "shm", "mountPath": "/dev/shm", "readOnly": false, "subPath": "",
       "source": {"emptyDir": {"medium": "Memory", "sizeLimit": "16Gi"}}},
      {"name": "cfg", "mountPath": "/etc/train", "readOnly": false, "subPath": "model",
       "source": {"configMap": {"name": "train-cfg", "items": [{"key": "model", "path": "model.yaml"}],
                                "defaultMode": 420}}},
      {"name": "creds", "mountPath": "/var/run/creds", "readOnly": false, "subPath": "",
       "source": {"secret": {"secretName": "s3", "optional": false}}}])"));
  EXPECT_THAT(job.pod->node_selector,
              ElementsAre(Pair("nvidia.com/gpu.product", "NVIDIA-H100-80GB-HBM3")));
  EXPECT_EQ(D(job.pod->tolerations),
            J(R"([{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}])"));
  EXPECT_EQ(D(job.pod->affinity),
            J(R"({"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution":
      {"nodeSelectorTerms": [{"matchExpressions": [{"key": "zone", "operator": "In",
                                                    "values": ["a"]}]}]}}})"));
  EXPECT_EQ(job.pod->priority_class_name, "training-high");
  EXPECT_EQ(job.pod->scheduler_name, "default-scheduler");
  EXPECT_EQ(job.pod->service_account_name, "trainer");
  EXPECT_THAT(job.pod->image_pull_secrets, ElementsAre("regcred"));
  EXPECT_EQ(job.max_restarts, 3);
  EXPECT_EQ(job.active_deadline_seconds, 86400);
  EXPECT_EQ(job.ttl_seconds_after_finished, 3600);
  EXPECT_EQ(job.run_id, "1");
  EXPECT_EQ(D(job.pod_template_patch), J(R"({"metadata": {"labels": {"example.com/team": "vision"}},
      "spec": {"containers": [{"name": "worker", "securityContext": {"privileged": false}}]}})"));

  EXPECT_TRUE(job.pod.boxed());

  const Role& worker = job.roles.at("worker");
  EXPECT_TRUE(worker.overrides == RoleOverrides{});
  EXPECT_FALSE(worker.overrides.boxed()) << "a role without overrides takes no heap for them";
  EXPECT_TRUE(worker.resources == (Resources{Q("8"), Q("64Gi"), 1, std::nullopt, {}}));

  const Role& ps = job.roles.at("ps");
  EXPECT_EQ(ps.overrides->image, "trainer-ps:1.4");
  EXPECT_EQ(ps.overrides->command, (std::vector<std::string>{"python", "ps.py"}));
  EXPECT_EQ(ps.overrides->args, (std::vector<std::string>{"--shards", "2"}));
  EXPECT_THAT(ps.overrides->env, ElementsAre(Pair("EPOCHS", "1")));
  EXPECT_EQ(D(ps.overrides->env_refs),
            J(R"({"TOKEN": {"secretKeyRef": {"name": "ps-token", "key": "t"}}})"));
  EXPECT_EQ(D(ps.overrides->env_from), J(R"([{"configMapRef": {"name": "ps-cfg"}}])"));
  EXPECT_EQ(D(VolumesJson(ps.overrides->volumes)), J(R"([
      {"name": "data", "mountPath": "/data", "readOnly": false, "subPath": "",
       "source": {"nfs": {"server": "nfs.local", "path": "/exports/imagenet"}}},
      {"name": "scratch", "mountPath": "/scratch", "readOnly": false, "subPath": "",
       "source": {"hostPath": {"path": "/mnt/scratch", "type": "DirectoryOrCreate"}}}])"));
  EXPECT_THAT(ps.overrides->node_selector, ElementsAre(Pair("node-type", "cpu")));
  EXPECT_EQ(
      D(ps.overrides->tolerations),
      J(R"([{"key": "dedicated", "operator": "Equal", "value": "ps", "effect": "NoSchedule"}])"));
  // The merge key brought cpu and memory; gpu written beside it wins.
  Resources ps_resources{Q("8"), Q("64Gi"), 0, Q("50Gi"),
                         std::map<std::string, Quantity>{{"rdma/hca_shared_devices_a", Q("1")}}};
  EXPECT_TRUE(ps.resources == ps_resources);
}

TEST_F(JobModelTest, EveryFieldSurvivesTheCanonicalRoundTrip) {
  TrainingJob job = LoadJob(kEveryField);
  json canonical = CanonicalSpec(job);
  StatusOr<TrainingJob> back = TrainingJobFromCanonical(canonical);
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(D(CanonicalSpec(*back)), D(canonical));
  EXPECT_TRUE(back->SameSpecAs(job));
  EXPECT_EQ(D(canonical["spec"]["runId"]), "\"1\"");
  EXPECT_EQ(D(canonical["spec"]["roles"]["ps"]["image"]), "\"trainer-ps:1.4\"");
  // Read back from the canonical form (an applied spec), too, a role without overrides holds
  // none on the heap: at 10,000 jobs, 320 bytes each.
  EXPECT_FALSE(back->roles.at("worker").overrides.boxed());
  EXPECT_TRUE(back->roles.at("ps").overrides.boxed());
  EXPECT_FALSE(back->ray.has_value());
}

TEST_F(JobModelTest, RoleImagesReplaceSpecImageOnKubernetes) {
  TrainingJob job = LoadJob(R"(apiVersion: jobsync.dev/v1alpha1
kind: TrainingJob
metadata: {name: split}
spec:
  backend: kubernetes
  roles:
    worker: {replicas: 2, image: trainer:1}
    ps: {replicas: 1, image: trainer-ps:1}
)");
  EXPECT_EQ(job.image, "");
  EXPECT_EQ(EffectiveRoleSettings(job, "ps").image, "trainer-ps:1");
}

// The spec hashes of manifests without any job-model field, computed with the code of 94de2e5
// (the parent of 36521ae, which added the fields to the model) by building its schemas/canonical.cc
// and calling SpecHash on the same jobs. A different hash here would make every agent that
// upgrades recreate every running job it manages.
TEST_F(JobModelTest, SpecHashOfAManifestWithoutNewFieldsIsUnchangedSinceBeforeThem) {
  TrainingJob kubernetes = LoadJob(R"(apiVersion: jobsync.dev/v1alpha1
kind: TrainingJob
metadata:
  name: resnet50
  namespace: vision
  labels: {team: vision}
  annotations: {example.com/owner: ml-platform}
spec:
  backend: kubernetes
  dependsOn: [data-prep]
  image: pytorch/pytorch:2.4.0
  command: [torchrun, train.py]
  env: {EPOCHS: "90"}
  roles:
    worker:
      replicas: 4
      minReplicas: 2
      maxReplicas: 8
      resources: {cpu: "4", memory: 16Gi, gpu: 1}
    ps:
      replicas: 2
)");
  EXPECT_EQ(SpecHash(kubernetes),
            "07c2b9e9e70ec7eeb056c0a74a5b77cac306d346d061a4defa1ba7161b2754d5");
  TrainingJob ray = LoadJob(R"(apiVersion: jobsync.dev/v1alpha1
kind: TrainingJob
metadata: {name: tune}
spec:
  backend: ray
  env: {EPOCHS: "3"}
  roles: {worker: {replicas: 2}}
  ray:
    entrypoint: python train.py
    runtimeEnv: {working_dir: .}
    entrypointResources: {cpu: 1}
)");
  EXPECT_EQ(SpecHash(ray), "b7fc662d9ff8a6aa18dcb48a984cc13c267daa0b96c1d457d21f385f7e9f1f75");
}

// A job that sets no pod setting, ephemeral storage or extended resource holds none of them on
// the heap, loaded or read back from its canonical form (an applied spec): inline, they took some
// 400 bytes in each of 10,000 jobs. One setting boxes them, and the job differs from one without.
TEST_F(JobModelTest, UnsetPodSettingsAndRareResourcesTakeNoHeap) {
  const std::string plain = R"(apiVersion: jobsync.dev/v1alpha1
kind: TrainingJob
metadata: {name: plain}
spec:
  backend: kubernetes
  image: trainer:1
  env: {EPOCHS: "90"}
  roles:
    worker: {replicas: 2, resources: {cpu: "4", memory: 16Gi, gpu: 1}}
)";
  TrainingJob job = LoadJob(plain);
  StatusOr<TrainingJob> back = TrainingJobFromCanonical(CanonicalSpec(job));
  ASSERT_TRUE(back.ok()) << back.status().message();
  for (const TrainingJob* read : {&job, &*back}) {
    EXPECT_FALSE(read->pod.boxed());
    const Resources& resources = read->roles.at("worker").resources;
    EXPECT_FALSE(resources.ephemeral_storage.has_value());
    EXPECT_FALSE(resources.extended.boxed());
  }
  EXPECT_TRUE(back->SameSpecAs(job));

  TrainingJob with_account = LoadJob(plain + "  serviceAccountName: trainer\n");
  EXPECT_TRUE(with_account.pod.boxed());
  EXPECT_EQ(with_account.pod->service_account_name, "trainer");
  EXPECT_FALSE(with_account.SameSpecAs(job));
  EXPECT_NE(SpecHash(with_account), SpecHash(job));
}

TEST_F(JobModelTest, RayKeepsLiteralEnvAndRunId) {
  TrainingJob job = LoadJob(R"(apiVersion: jobsync.dev/v1alpha1
kind: TrainingJob
metadata: {name: tune}
spec:
  backend: ray
  image: ignored:1
  command: [ignored]
  env: {EPOCHS: "3"}
  runId: "7"
  roles: {worker: {replicas: 2}}
  ray: {entrypoint: python train.py}
)");
  EXPECT_EQ(job.run_id, "7");
  EXPECT_THAT(job.env, ElementsAre(Pair("EPOCHS", "3")));
  EXPECT_TRUE(job.pod->env_refs.empty());
}

}  // namespace
}  // namespace jobsync
