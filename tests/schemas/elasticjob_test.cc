// DLRover ElasticJob documents read as TrainingJobs (issue #21): every mapped field, every
// warning and error at its file:line:column, the published examples as fixtures, and the spec
// hash shared with the TrainingJob `jobsync convert` prints.
#include "schemas/elasticjob.h"

#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "schemas/canonical.h"
#include "schemas/loader.h"
#include "schemas/yaml_json.h"

namespace jobsync {
namespace {

using json = nlohmann::json;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Pair;

const std::string kData = std::string(JOBSYNC_SOURCE_DIR) + "/tests/data/elasticjob/";

// An ElasticJob with every field jobsync maps: two replica types that share some settings.
constexpr const char* kEveryField = R"(apiVersion: elastic.iml.github.io/v1alpha1
kind: ElasticJob
metadata:
  name: ctr
  namespace: ads
  labels: {team: ads}
  annotations: {example.com/owner: ads-ml}
spec:
  distributionStrategy: AllreduceStrategy
  suspend: true
  envs:
    EPOCHS: {name: EPOCHS, value: "3"}
    TOKEN: {name: TOKEN, valueFrom: {secretKeyRef: {name: tok, key: t}}}
  replicaSpecs:
    worker:
      replicas: 4
      restartCount: 2
      template:
        spec:
          nodeSelector: {pool: gpu, zone: a}
          tolerations: [{key: gpu, operator: Exists, effect: NoSchedule}]
          affinity: {podAntiAffinity: {preferredDuringSchedulingIgnoredDuringExecution: [{weight: 1, podAffinityTerm: {topologyKey: zone}}]}}
          priorityClassName: high
          schedulerName: volcano
          serviceAccountName: trainer
          imagePullSecrets: [{name: regcred}]
          containers:
            - name: main
              image: trainer:2
              command: [bash, -c]
              args: ["dlrover-run --nnodes=2:$NODE_NUM train.py"]
              env:
                - {name: LR, value: "0.1"}
                - {name: POD_IP, valueFrom: {fieldRef: {fieldPath: status.podIP}}}
              envFrom: [{configMapRef: {name: cfg}}]
              resources:
                limits: {cpu: "4", memory: 16Gi, nvidia.com/gpu: "1", ephemeral-storage: 20Gi, rdma/hca: "1"}
                requests: {cpu: "4", memory: 16Gi}
              volumeMounts:
                - {name: data, mountPath: /data, readOnly: true}
                - {name: shm, mountPath: /dev/shm}
          volumes:
            - {name: data, persistentVolumeClaim: {claimName: imagenet}}
            - {name: shm, emptyDir: {medium: Memory}}
    ps:
      replicas: 2
      restartCount: 2
      template:
        spec:
          nodeSelector: {pool: cpu, zone: a}
          affinity: {podAntiAffinity: {preferredDuringSchedulingIgnoredDuringExecution: [{weight: 1, podAffinityTerm: {topologyKey: zone}}]}}
          priorityClassName: high
          schedulerName: volcano
          serviceAccountName: trainer
          imagePullSecrets: [{name: regcred}]
          containers:
            - name: main
              image: trainer:2
              command: [bash, -c]
              args: ["python ps.py"]
              env: [{name: LR, value: "0.1"}]
              resources: {limits: {cpu: "2", memory: 8Gi}}
              volumeMounts: [{name: data, mountPath: /data, readOnly: true}]
          volumes:
            - {name: data, persistentVolumeClaim: {claimName: imagenet}}
)";

// The TrainingJob kEveryField stands for, written by hand the way a team would write it.
constexpr const char* kEveryFieldAsTrainingJob = R"(apiVersion: jobsync.dev/v1alpha1
kind: TrainingJob
metadata:
  name: ctr
  namespace: ads
  labels: {team: ads}
  annotations: {example.com/owner: ads-ml}
spec:
  backend: kubernetes
  suspend: true
  image: trainer:2
  command: [bash, -c]
  env:
    EPOCHS: "3"
    TOKEN: {secretKeyRef: {name: tok, key: t}}
    LR: "0.1"
    NODE_RANK: &index {fieldRef: {fieldPath: "metadata.annotations['batch.kubernetes.io/job-completion-index']"}}
    WORKER_RANK: *index
    RANK: *index
  volumes: [{name: data, mountPath: /data, readOnly: true, persistentVolumeClaim: {claimName: imagenet}}]
  nodeSelector: {zone: a}
  affinity: {podAntiAffinity: {preferredDuringSchedulingIgnoredDuringExecution: [{weight: 1, podAffinityTerm: {topologyKey: zone}}]}}
  priorityClassName: high
  schedulerName: volcano
  serviceAccountName: trainer
  imagePullSecrets: [regcred]
  failurePolicy: {maxRestarts: 2}
  roles:
    worker:
      replicas: 4
      minReplicas: 2
      args: ["dlrover-run --nnodes=2:$NODE_NUM train.py"]
      env:
        POD_IP: {fieldRef: {fieldPath: status.podIP}}
        NODE_NUM: $(JOBSYNC_REPLICAS_WORKER)
        WORKER_NUM: $(JOBSYNC_REPLICAS_WORKER)
        WORLD_SIZE: $(JOBSYNC_REPLICAS_WORKER)
      envFrom: [{configMapRef: {name: cfg}}]
      tolerations: [{key: gpu, operator: Exists, effect: NoSchedule}]
      nodeSelector: {pool: gpu}
      volumes: [{name: shm, mountPath: /dev/shm, emptyDir: {medium: Memory}}]
      resources: {cpu: "4", memory: 16Gi, gpu: 1, ephemeralStorage: 20Gi, extended: {rdma/hca: "1"}}
    ps:
      replicas: 2
      args: ["python ps.py"]
      env:
        NODE_NUM: $(JOBSYNC_REPLICAS_PS)
        WORKER_NUM: $(JOBSYNC_REPLICAS_PS)
        WORLD_SIZE: $(JOBSYNC_REPLICAS_PS)
      nodeSelector: {pool: cpu}
      resources: {cpu: "2", memory: 8Gi}
)";

class ElasticJobTest : public ::testing::Test {
 protected:
  ManifestFile Parse(const std::string& text, const std::string& path = "jobs/ej.yaml") {
    return ParseManifestFile(path, text, validator_);
  }

  // The one job of `text`, which must load without problems.
  TrainingJob LoadJob(const std::string& text) {
    ManifestFile file = Parse(text);
    EXPECT_THAT(Report(file.diagnostics), IsEmpty());
    EXPECT_EQ(file.jobs.size(), 1u);
    return file.jobs.empty() ? TrainingJob{} : *file.jobs[0].job;
  }

  // The TrainingJob document the ElasticJob `text` translates to, as YAML text.
  static std::string Convert(const std::string& text) {
    YamlFile yaml = ReadYaml(text);
    std::string out;
    for (const YamlNodePtr& doc : yaml.documents) {
      out += "---\n" + JsonToYaml(YamlToJson(*TranslateElasticJob(*doc, "ej.yaml").training_job));
    }
    return out;
  }

  static std::string Report(const std::vector<Diagnostic>& diagnostics) {
    std::string out;
    for (const Diagnostic& d : diagnostics) out += d.ToString() + "\n";
    return out;
  }

  static std::string ReadFile(const std::string& name) {
    std::ifstream in(kData + name);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
  }

  SchemaValidator validator_;
};

TEST_F(ElasticJobTest, EveryFieldHasTheSpecOfTheEquivalentTrainingJob) {
  ManifestFile file = Parse(kEveryField);
  ASSERT_THAT(Report(file.diagnostics), IsEmpty());
  ASSERT_EQ(file.jobs.size(), 1u);
  const TrainingJob& job = *file.jobs[0].job;
  EXPECT_EQ(job.key().ToString(), "kubernetes/ads/ctr");
  EXPECT_EQ(job.source.ToString(), "jobs/ej.yaml:1:1");
  const TrainingJob by_hand = LoadJob(kEveryFieldAsTrainingJob);
  EXPECT_EQ(CanonicalSpec(job).dump(2), CanonicalSpec(by_hand).dump(2));
  EXPECT_EQ(SpecHash(job), SpecHash(by_hand));
  // Every field is honoured: no warning.
  EXPECT_EQ(Report(file.warnings), "");
}

TEST_F(ElasticJobTest, MapsEachFieldIntoTheModel) {
  const TrainingJob job = LoadJob(kEveryField);
  EXPECT_TRUE(job.suspend);
  EXPECT_THAT(job.labels, ElementsAre(Pair("team", "ads")));
  EXPECT_EQ(job.image, "trainer:2");
  EXPECT_THAT(job.env, ElementsAre(Pair("EPOCHS", "3"), Pair("LR", "0.1")));
  EXPECT_EQ(job.max_restarts, 2);
  EXPECT_EQ(job.pod->scheduler_name, "volcano");
  EXPECT_THAT(job.pod->image_pull_secrets, ElementsAre("regcred"));
  const Role& worker = job.roles.at("worker");
  EXPECT_EQ(worker.replicas, 4);
  EXPECT_EQ(worker.min_replicas, 2);
  EXPECT_EQ(worker.max_replicas, std::nullopt);  // $NODE_NUM: the bound is replicas
  EXPECT_EQ(worker.resources.gpu, 1);
  EXPECT_EQ(worker.resources.memory->text(), "16Gi");
  EXPECT_EQ(worker.overrides->env.at("NODE_NUM"), "$(JOBSYNC_REPLICAS_WORKER)");
  const RoleSettings ps = EffectiveRoleSettings(job, "ps");
  EXPECT_THAT(ps.node_selector, ElementsAre(Pair("pool", "cpu"), Pair("zone", "a")));
  EXPECT_EQ(ps.env.at("WORKER_NUM"), "$(JOBSYNC_REPLICAS_PS)");
  EXPECT_EQ(ps.volumes.size(), 1u);
  EXPECT_THAT(ps.args, ElementsAre("python ps.py"));
}

// A replica change in the ElasticJob changes nothing but that role's replicas in the model, so
// the planner scales in place (NODE_NUM refers to jobsync's count instead of holding it).
TEST_F(ElasticJobTest, ReplicaChangeChangesOnlyReplicas) {
  std::string scaled = kEveryField;
  scaled.replace(scaled.find("replicas: 4"), 11, "replicas: 6");
  TrainingJob before = LoadJob(kEveryField);
  TrainingJob after = LoadJob(scaled);
  EXPECT_EQ(after.roles.at("worker").replicas, 6);
  after.roles.at("worker").replicas = 4;
  EXPECT_EQ(CanonicalSpecText(before), CanonicalSpecText(after));
}

TEST_F(ElasticJobTest, ConvertedDocumentLoadsToTheSameJob) {
  for (const char* name : {"mnist_allreduce.yaml", "deepctr_ps_worker.yaml"}) {
    SCOPED_TRACE(name);
    const std::string text = ReadFile(name);
    ManifestFile original = Parse(text);
    ASSERT_THAT(Report(original.diagnostics), IsEmpty());
    ManifestFile converted = Parse(Convert(text), "converted.yaml");
    ASSERT_THAT(Report(converted.diagnostics), IsEmpty());
    EXPECT_THAT(Report(converted.warnings), IsEmpty());
    ASSERT_EQ(original.jobs.size(), converted.jobs.size());
    for (size_t i = 0; i < original.jobs.size(); ++i) {
      EXPECT_EQ(CanonicalSpecText(*original.jobs[i].job),
                CanonicalSpecText(*converted.jobs[i].job));
      EXPECT_EQ(SpecHash(*original.jobs[i].job), SpecHash(*converted.jobs[i].job));
    }
  }
}

TEST_F(ElasticJobTest, PublishedMnistExampleLoads) {
  LoadResult result = LoadManifestPaths({kData + "mnist_allreduce.yaml"}, validator_);
  ASSERT_THAT(Report(result.diagnostics), IsEmpty());
  ASSERT_EQ(result.jobs.size(), 1u);
  const TrainingJob& job = *result.jobs[0];
  EXPECT_EQ(job.key().ToString(), "kubernetes/dlrover/torch-mnist");
  EXPECT_EQ(job.image, "registry.cn-hangzhou.aliyuncs.com/intell-ai/dlrover:torch201-mnist");
  EXPECT_EQ(job.command.size(), 3u);
  const Role& worker = job.roles.at("worker");
  EXPECT_EQ(worker.replicas, 4);
  EXPECT_FALSE(ElasticBounds(worker));  // --nnodes=$WORKER_NUM: a fixed number of nodes
  EXPECT_EQ(worker.resources.cpu->text(), "1");
  EXPECT_EQ(job.env.at("WORKER_NUM"), "$(JOBSYNC_REPLICAS_WORKER)");
  EXPECT_EQ(job.env.at("WORLD_SIZE"), "$(JOBSYNC_REPLICAS_WORKER)");
  EXPECT_EQ(Report(result.warnings),
            kData +
                "mnist_allreduce.yaml:22:15: warning: ElasticJob "
                "spec.replicaSpecs.worker.template.spec.containers[0].imagePullPolicy: jobsync "
                "leaves the pull policy to Kubernetes' default; ignored (hint: after `jobsync "
                "convert`, spec.kubernetes.podTemplatePatch can set it)\n");
}

TEST_F(ElasticJobTest, PublishedParameterServerExampleLoads) {
  LoadResult result = LoadManifestPaths({kData + "deepctr_ps_worker.yaml"}, validator_);
  ASSERT_THAT(Report(result.diagnostics), IsEmpty());
  ASSERT_EQ(result.jobs.size(), 1u);
  const TrainingJob& job = *result.jobs[0];
  EXPECT_EQ(job.key().ToString(), "kubernetes/dlrover/deepctr-manual-scale");
  EXPECT_THAT(job.roles, ElementsAre(Pair("ps", testing::_), Pair("worker", testing::_)));
  EXPECT_EQ(job.roles.at("ps").replicas, 1);
  EXPECT_EQ(job.roles.at("worker").replicas, 2);
  EXPECT_EQ(job.max_restarts, 3);
  ASSERT_EQ(job.pod->volumes.size(), 1u);
  EXPECT_EQ(job.pod->volumes[0].mount_path, "/nas");
  EXPECT_EQ(job.pod->volumes[0].source.dump(),
            R"({"persistentVolumeClaim":{"claimName":"pvc-nas"}})");
  EXPECT_EQ(job.roles.at("worker").resources.memory->text(), "4Gi");
  EXPECT_EQ(job.roles.at("ps").overrides->env.at("NODE_NUM"), "$(JOBSYNC_REPLICAS_PS)");
  std::vector<std::string> where;
  for (const Diagnostic& d : result.warnings) {
    where.push_back(d.location.ToString().substr(kData.size()) + " " +
                    d.message.substr(0, d.message.find(':')));
  }
  EXPECT_THAT(where,
              ElementsAre("deepctr_ps_worker.yaml:12:3 ElasticJob spec.distributionStrategy",
                          "deepctr_ps_worker.yaml:25:15 ElasticJob "
                          "spec.replicaSpecs.ps.template.spec.containers[0].imagePullPolicy",
                          "deepctr_ps_worker.yaml:57:15 ElasticJob "
                          "spec.replicaSpecs.worker.template.spec.containers[0].imagePullPolicy",
                          "deepctr_ps_worker.yaml:79:5 ElasticJob "
                          "spec.replicaSpecs.dlrover-master"));
}

TEST_F(ElasticJobTest, SpecHashIsStable) {
  // The hash of a manifest is what the agent compares with the applied spec: a change of the
  // translation that changes it would recreate every ElasticJob's Jobs.
  LoadResult result = LoadManifestPaths({kData + "mnist_allreduce.yaml"}, validator_);
  ASSERT_EQ(result.jobs.size(), 1u);
  EXPECT_EQ(SpecHash(*result.jobs[0]),
            SpecHash(*LoadManifestPaths({kData + "mnist_allreduce.yaml"}, validator_).jobs[0]));
  EXPECT_EQ(SpecHash(*result.jobs[0]),
            "76faaab76ffd6b6af995340b508eae2e273db8a1b42f43f3f4ad5849e192d064");
}

struct BoundsCase {
  const char* args;
  std::optional<int> min;
  std::optional<int> max;
  const char* warning;  // "" for none
};

TEST_F(ElasticJobTest, ElasticBoundsFromNnodes) {
  const BoundsCase cases[] = {
      {"dlrover-run --nnodes=2:8 train.py", 2, 8, ""},
      {"dlrover-run --nnodes=1:$NODE_NUM train.py", 1, std::nullopt, ""},
      {"torchrun --nnodes 3:${WORKER_NUM} train.py", 3, std::nullopt, ""},
      {"dlrover-run --nnodes=$NODE_NUM train.py", std::nullopt, std::nullopt, ""},
      {"dlrover-run --nnodes=4 train.py", std::nullopt, std::nullopt, ""},
      {"python train.py", std::nullopt, std::nullopt, ""},
      {"dlrover-run --nnodes=$MIN:4 train.py", std::nullopt, std::nullopt,
       "jobs/ej.yaml:13:22: warning: ElasticJob "
       "spec.replicaSpecs.worker.template.spec.containers[0]: cannot read elastic bounds from "
       "--nnodes '$MIN:4'; the role is not elastic (hint: write --nnodes=MIN:MAX or "
       "--nnodes=MIN:$NODE_NUM)\n"},
  };
  for (const BoundsCase& c : cases) {
    SCOPED_TRACE(c.args);
    const std::string text = std::string(R"(apiVersion: elastic.iml.github.io/v1alpha1
kind: ElasticJob
metadata: {name: b}
spec:
  replicaSpecs:
    worker:
      replicas: 4
      template:
        spec:
          containers:
            - name: main
              image: t
              args: [")") + c.args +
                             "\"]\n";
    ManifestFile file = Parse(text);
    ASSERT_THAT(Report(file.diagnostics), IsEmpty());
    ASSERT_EQ(file.jobs.size(), 1u);
    const Role& worker = file.jobs[0].job->roles.at("worker");
    EXPECT_EQ(worker.min_replicas, c.min);
    EXPECT_EQ(worker.max_replicas, c.max);
    EXPECT_EQ(Report(file.warnings), c.warning);
  }
}

// A base ElasticJob with one line added at `spec` (two-space indent) or in the worker's pod
// spec, container or replica spec.
std::string WithField(const std::string& where, const std::string& line) {
  std::string text = R"(apiVersion: elastic.iml.github.io/v1alpha1
kind: ElasticJob
metadata:
  name: w
spec:
#spec
  replicaSpecs:
    worker:
#replica
      replicas: 2
      template:
#template
        spec:
#pod
          containers:
            - name: main
#container
              image: t
)";
  const std::string marker = "#" + where + "\n";
  text.replace(text.find(marker), marker.size(), line + "\n");
  for (const char* other : {"#spec\n", "#replica\n", "#template\n", "#pod\n", "#container\n"}) {
    if (text.find(other) != std::string::npos)
      text.erase(text.find(other), std::string(other).size());
  }
  return text;
}

struct WarningCase {
  const char* where;
  const char* line;
  const char* warning;  // the whole warning, located at the field's key
};

TEST_F(ElasticJobTest, WarnsOfEveryFieldItDoesNotHonour) {
  const WarningCase cases[] = {
      {"spec", "  brainService: brain.dlrover:50001",
       "jobs/ej.yaml:6:3: warning: ElasticJob spec.brainService: jobsync does not use DLRover's "
       "Brain service; ignored"},
      {"spec", "  optimizeMode: cluster",
       "jobs/ej.yaml:6:3: warning: ElasticJob spec.optimizeMode: 'cluster': jobsync runs the "
       "replicas Git says and optimizes nothing (hint: only optimizeMode single-job (or none) is "
       "honoured as written)"},
      {"spec", "  resourceLimits: {cpu: \"100\"}",
       "jobs/ej.yaml:6:3: warning: ElasticJob spec.resourceLimits: jobsync does not cap a job's "
       "total resources; ignored (hint: each role requests replicas x its resources; `jobsync "
       "plan` shows the total)"},
      {"spec", "  distributionStrategy: MeshStrategy",
       "jobs/ej.yaml:6:3: warning: ElasticJob spec.distributionStrategy: 'MeshStrategy' is not a "
       "strategy jobsync knows; ignored (hint: DLRover's strategies are AllreduceStrategy and "
       "ParameterServerStrategy)"},
      {"spec", "  cleanPodPolicy: All",
       "jobs/ej.yaml:6:3: warning: ElasticJob spec.cleanPodPolicy: not a field jobsync reads; "
       "ignored"},
      {"replica", "      BatchScheduler: volcano",
       "jobs/ej.yaml:8:7: warning: ElasticJob spec.replicaSpecs.worker.BatchScheduler: not "
       "honoured by jobsync; ignored (hint: the pod template's schedulerName is honoured)"},
      {"replica", "      priority: high",
       "jobs/ej.yaml:8:7: warning: ElasticJob spec.replicaSpecs.worker.priority: not honoured by "
       "jobsync; ignored (hint: the pod template's priorityClassName is honoured)"},
      {"replica", "      restartTimeout: 300",
       "jobs/ej.yaml:8:7: warning: ElasticJob spec.replicaSpecs.worker.restartTimeout: not "
       "honoured by jobsync; ignored"},
      {"replica", "      autoScale: true",
       "jobs/ej.yaml:8:7: warning: ElasticJob spec.replicaSpecs.worker.autoScale: jobsync does "
       "not autoscale; replicas stay as Git says"},
      {"replica", "      restartPolicy: OnFailure",
       "jobs/ej.yaml:8:7: warning: ElasticJob spec.replicaSpecs.worker.restartPolicy: jobsync "
       "runs pods with restartPolicy Never and restarts a failed replica up to restartCount "
       "times; ignored"},
      {"template", "        metadata: {labels: {a: b}}",
       "jobs/ej.yaml:10:9: warning: ElasticJob spec.replicaSpecs.worker.template.metadata: pod "
       "labels and annotations are not applied by jobsync; ignored (hint: metadata.labels of the "
       "ElasticJob reach every object and pod)"},
      {"pod", "          hostNetwork: true",
       "jobs/ej.yaml:11:11: warning: ElasticJob "
       "spec.replicaSpecs.worker.template.spec.hostNetwork: this pod setting is not applied by "
       "jobsync; ignored (hint: after `jobsync convert`, spec.kubernetes.podTemplatePatch can "
       "set it)"},
      {"container", "              workingDir: /w",
       "jobs/ej.yaml:13:15: warning: ElasticJob "
       "spec.replicaSpecs.worker.template.spec.containers[0].workingDir: this container setting "
       "is not applied by jobsync; ignored (hint: after `jobsync convert`, "
       "spec.kubernetes.podTemplatePatch can set it)"},
  };
  for (const WarningCase& c : cases) {
    SCOPED_TRACE(c.line);
    ManifestFile file = Parse(WithField(c.where, c.line));
    EXPECT_THAT(Report(file.diagnostics), IsEmpty());
    EXPECT_EQ(file.jobs.size(), 1u);
    EXPECT_EQ(Report(file.warnings), std::string(c.warning) + "\n");
  }
}

TEST_F(ElasticJobTest, WarnsOfStatusMetadataSidecarsAndDifferingRequests) {
  ManifestFile file = Parse(R"(apiVersion: elastic.iml.github.io/v1alpha1
kind: ElasticJob
metadata:
  name: w
  uid: "111-222"
spec:
  replicaSpecs:
    worker:
      restartCount: 3
      template:
        spec:
          containers:
            - name: main
              image: t
              resources: {limits: {cpu: "2"}, requests: {cpu: "1"}}
            - name: sidecar
              image: s
    ps:
      template:
        spec:
          containers: [{name: main, image: t}]
status:
  phase: Running
)");
  EXPECT_THAT(Report(file.diagnostics), IsEmpty());
  ASSERT_EQ(file.jobs.size(), 1u);
  EXPECT_EQ(file.jobs[0].job->roles.at("ps").replicas, 1);  // DLRover's default
  EXPECT_EQ(file.jobs[0].job->roles.at("worker").resources.cpu->text(), "2");
  EXPECT_EQ(Report(file.warnings),
            "jobs/ej.yaml:5:3: warning: ElasticJob metadata.uid: not applied by jobsync; ignored\n"
            "jobs/ej.yaml:15:58: warning: ElasticJob "
            "spec.replicaSpecs.worker.template.spec.containers[0].resources.requests.cpu: differs "
            "from the limit '2': jobsync requests what it limits, so the limit is used (hint: set "
            "requests equal to limits to silence this)\n"
            "jobs/ej.yaml:16:15: warning: ElasticJob "
            "spec.replicaSpecs.worker.template.spec.containers[1]: only the training container "
            "(main) runs; ignored (hint: a sidecar can be added with "
            "spec.kubernetes.podTemplatePatch after `jobsync convert`)\n"
            "jobs/ej.yaml:18:5: warning: ElasticJob spec.replicaSpecs.ps: restartCount unset, but "
            "jobsync's restart budget is one per job: every replica may restart 3 times (the "
            "largest restartCount) (hint: give every replica type the same restartCount)\n"
            "jobs/ej.yaml:22:1: warning: ElasticJob status: the status is DLRover's operator's to "
            "write; ignored\n");
}

struct ErrorCase {
  const char* name;
  const char* text;
  const char* error;  // the first diagnostic, whole
};

TEST_F(ElasticJobTest, LocatesWhatItCannotRead) {
  const ErrorCase cases[] = {
      {"wrong apiVersion", R"(apiVersion: elastic.pytorch.org/v1alpha1
kind: ElasticJob
metadata: {name: e}
spec: {replicaSpecs: {worker: {template: {spec: {containers: [{name: main, image: t}]}}}}}
)",
       "jobs/ej.yaml:1:13: apiVersion: 'elastic.pytorch.org/v1alpha1' is not an ElasticJob "
       "version jobsync reads (hint: DLRover's ElasticJob is apiVersion "
       "elastic.iml.github.io/v1alpha1)"},
      {"no replicaSpecs", R"(apiVersion: elastic.iml.github.io/v1alpha1
kind: ElasticJob
metadata: {name: e}
spec:
  optimizeMode: single-job
)",
       "jobs/ej.yaml:5:3: spec.replicaSpecs: an ElasticJob needs replicaSpecs (worker, ps, ...) "
       "(hint: add spec.replicaSpecs.worker with replicas and a pod template)"},
      {"two containers, none main", R"(apiVersion: elastic.iml.github.io/v1alpha1
kind: ElasticJob
metadata: {name: e}
spec:
  replicaSpecs:
    worker:
      template:
        spec:
          containers: [{name: a, image: t}, {name: b, image: t}]
)",
       "jobs/ej.yaml:9:23: spec.replicaSpecs.worker.template.spec.containers: 2 containers and "
       "none named main: jobsync cannot tell the training container (hint: name the training "
       "container main, as DLRover does)"},
      {"mount of a missing volume", R"(apiVersion: elastic.iml.github.io/v1alpha1
kind: ElasticJob
metadata: {name: e}
spec:
  replicaSpecs:
    worker:
      template:
        spec:
          containers:
            - name: main
              image: t
              volumeMounts: [{name: data, mountPath: /data}]
)",
       "jobs/ej.yaml:12:37: spec.replicaSpecs.worker.template.spec.containers[0].volumeMounts[0]"
       ".name: no pod volume \"data\" to mount (hint: add it to the pod template's spec.volumes)"},
      {"roles differ in a per-job setting", R"(apiVersion: elastic.iml.github.io/v1alpha1
kind: ElasticJob
metadata: {name: e}
spec:
  replicaSpecs:
    ps:
      template:
        spec:
          schedulerName: volcano
          containers: [{name: main, image: t}]
    worker:
      template:
        spec:
          containers: [{name: main, image: t}]
)",
       "jobs/ej.yaml:11:5: spec.replicaSpecs.worker: the pod's schedulerName differs from "
       "replica type ps's; jobsync sets it once for the whole job (hint: give every replica type "
       "the same schedulerName)"},
      {"replicas not a number", R"(apiVersion: elastic.iml.github.io/v1alpha1
kind: ElasticJob
metadata: {name: e}
spec:
  replicaSpecs:
    worker:
      replicas: four
      template: {spec: {containers: [{name: main, image: t}]}}
)",
       "jobs/ej.yaml:7:17: spec.roles.worker.replicas: expected integer, got string \"four\" "
       "(hint: "
       "the field named is the TrainingJob's that this ElasticJob reads as (see `jobsync "
       "convert`))"},
      {"lower bound above replicas", R"(apiVersion: elastic.iml.github.io/v1alpha1
kind: ElasticJob
metadata: {name: e}
spec:
  replicaSpecs:
    worker:
      replicas: 2
      template:
        spec:
          containers:
            - name: main
              image: t
              command: [dlrover-run, --nnodes=3:8, train.py]
)",
       "jobs/ej.yaml:13:38: spec.roles.worker: minReplicas (3) is greater than replicas (2) "
       "(hint: minReplicas <= replicas <= maxReplicas must hold; the field named is the "
       "TrainingJob's that this ElasticJob reads as (see `jobsync convert`))"},
  };
  for (const ErrorCase& c : cases) {
    SCOPED_TRACE(c.name);
    ManifestFile file = Parse(c.text);
    EXPECT_TRUE(file.jobs.empty());
    ASSERT_FALSE(file.diagnostics.empty());
    EXPECT_EQ(file.diagnostics[0].ToString(), c.error) << Report(file.diagnostics);
    ASSERT_EQ(file.invalid.size(), 1u);
    ASSERT_TRUE(file.invalid[0].key.has_value());
    EXPECT_EQ(file.invalid[0].key->ToString(), "kubernetes/default/e");
  }
}

TEST_F(ElasticJobTest, StandsBesideTrainingJobsInOneFile) {
  LoadResult result =
      CheckManifests(std::vector<ManifestFile>{Parse(std::string(R"(apiVersion: jobsync.dev/v1alpha1
kind: TrainingJob
metadata: {name: prep, namespace: ads}
spec:
  backend: kubernetes
  image: t
  roles: {worker: {replicas: 1}}
---
)") + kEveryField)});
  EXPECT_THAT(Report(result.diagnostics), IsEmpty());
  ASSERT_EQ(result.jobs.size(), 2u);
  EXPECT_EQ(result.jobs[0]->key().ToString(), "kubernetes/ads/ctr");
  EXPECT_EQ(result.jobs[1]->key().ToString(), "kubernetes/ads/prep");
  EXPECT_EQ(result.jobs[0]->source.ToString(), "jobs/ej.yaml:9:1");
}

}  // namespace
}  // namespace jobsync
