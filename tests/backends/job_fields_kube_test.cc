// The Kubernetes mapping of every field of the job model (issue #19) against the real local
// kube-apiserver of scripts/cluster: the objects jobsync renders pass Kubernetes' own validation
// (server-side dry run), a job using every field is stored as rendered, and a patch sets or
// removes the deadline and TTL of running and finished Jobs in place. Needs
// `scripts/cluster up && eval "$(scripts/cluster env)"`; fails, never skips, without it. Each test
// works in its own namespace jf-*, deleted after, with the objects the job refers to.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include "backends/kubernetes/kubernetes_backend.h"
#include "backends/kubernetes/mapping.h"
#include "job_fields_test.h"

namespace jobsync {
namespace {

using ::jobsync::testing::EveryFieldJob;
using ::jobsync::testing::SampleJob;
using ::testing::HasSubstr;
using json = nlohmann::json;

constexpr const char* kHowToStart = "run: scripts/cluster up && eval \"$(scripts/cluster env)\"";
const ApplyContext kOurs{"jf-a", "rev-1"};

// Runs a shell command; returns its standard output, or nullopt when it exits non-zero (its
// standard error then goes to `error`, when given). Warnings on standard error are not output.
std::optional<std::string> Shell(const std::string& command, std::string* error = nullptr) {
  char error_path[] = "/tmp/jobsync-jf-stderr-XXXXXX";
  const int error_file = mkstemp(error_path);
  if (error_file < 0) return std::nullopt;
  close(error_file);
  FILE* pipe = popen((command + " 2>" + error_path).c_str(), "r");
  std::optional<std::string> out;
  if (pipe != nullptr) {
    out.emplace();
    char buffer[4096];
    size_t read = 0;
    while ((read = fread(buffer, 1, sizeof(buffer), pipe)) > 0) out->append(buffer, read);
    if (pclose(pipe) != 0) out.reset();
  }
  if (!out && error != nullptr) {
    std::ifstream in(error_path);
    error->assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  std::remove(error_path);
  return out;
}

json Kubectl(const std::string& arguments) {
  std::optional<std::string> out = Shell("kubectl " + arguments + " -o json");
  if (!out) return nullptr;
  return json::parse(*out, nullptr, false);
}

bool Eventually(const std::function<bool()>& condition,
                std::chrono::seconds timeout = std::chrono::seconds(60)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  return condition();
}

// Where `stored` (an object as the apiserver returns it) lacks or differs from something of
// `rendered`, as a path; empty when every field jobsync wrote is there with its value. Objects
// may have more keys (the apiserver's defaults); lists must have the same length.
std::string MissingFrom(const json& stored, const json& rendered, const std::string& path = "") {
  if (rendered.is_object()) {
    if (!stored.is_object()) return path + " (not an object)";
    for (const auto& [key, value] : rendered.items()) {
      if (!stored.contains(key)) return path + "." + key + " (absent)";
      std::string missing = MissingFrom(stored[key], value, path + "." + key);
      if (!missing.empty()) return missing;
    }
    return "";
  }
  if (rendered.is_array()) {
    if (!stored.is_array() || stored.size() != rendered.size()) {
      return path + " (stored " + stored.dump() + ")";
    }
    for (size_t i = 0; i < rendered.size(); ++i) {
      std::string missing =
          MissingFrom(stored[i], rendered[i], path + "[" + std::to_string(i) + "]");
      if (!missing.empty()) return missing;
    }
    return "";
  }
  return stored == rendered
             ? ""
             : path + " (stored " + stored.dump() + ", rendered " + rendered.dump() + ")";
}

class JobFieldsKubeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* kubeconfig = std::getenv("KUBECONFIG");
    ASSERT_TRUE(kubeconfig != nullptr && *kubeconfig != '\0')
        << "KUBECONFIG is not set; " << kHowToStart;
    ASSERT_TRUE(Shell("kubectl get --raw /readyz").has_value())
        << "the kube-apiserver does not answer; " << kHowToStart;
    const std::string suffix = std::to_string(getpid()) + "-" + std::to_string(++counter_);
    namespace_ = "jf-" + suffix;
    priority_class_ = "jf-training-high-" + suffix;
    KubernetesBackendOptions options;
    options.cache_sync_timeout = std::chrono::seconds(20);
    options.delete_wait = std::chrono::seconds(90);
    StatusOr<std::unique_ptr<KubernetesBackend>> backend = KubernetesBackend::FromKubeconfig(
        {kubeconfig, ""}, KubeconfigEnvironment::FromProcess(), options);
    ASSERT_TRUE(backend.ok()) << backend.status().ToString() << "; " << kHowToStart;
    backend_ = std::move(*backend);
    ASSERT_TRUE(Shell("kubectl create namespace " + namespace_).has_value());
  }

  void TearDown() override {
    backend_.reset();
    (void)Shell("kubectl delete namespace " + namespace_ + " --wait=false");
    (void)Shell("kubectl delete priorityclass " + priority_class_ + " --ignore-not-found");
  }

  // The objects EveryFieldJob refers to: PVC, Secrets, ConfigMap, ServiceAccount, PriorityClass.
  void CreateReferencedObjects() {
    const std::string n = " -n " + namespace_;
    const std::vector<std::string> commands = {
        "kubectl create secret generic wandb --from-literal=api-key=k" + n,
        "kubectl create secret generic s3 --from-literal=AWS_ACCESS_KEY_ID=a" + n,
        "kubectl create secret docker-registry regcred --docker-server=registry.example "
        "--docker-username=u --docker-password=p" +
            n,
        "kubectl create configmap train-cfg --from-literal=model=resnet50" + n,
        "kubectl create serviceaccount trainer" + n,
        "kubectl create priorityclass " + priority_class_ + " --value=1000",
    };
    for (const std::string& command : commands) {
      std::string output;
      ASSERT_TRUE(Shell(command, &output).has_value()) << command << ": " << output;
    }
    const std::string pvc = R"({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
        "metadata": {"name": "imagenet"}, "spec": {"accessModes": ["ReadOnlyMany"],
        "resources": {"requests": {"storage": "1Gi"}}}})";
    std::string output;
    ASSERT_TRUE(Shell("echo '" + pvc + "' | kubectl create -f -" + n, &output).has_value())
        << output;
  }

  TrainingJob Job(const std::string& name) {
    TrainingJob job = EveryFieldJob(name, namespace_);
    job.pod->priority_class_name = priority_class_;
    return job;
  }

  // `kubectl create --dry-run=server` (the apiserver's ?dryRun=All) of `object`: the object as
  // the server would store it, or the server's refusal in `refusal`.
  json DryRun(const json& object, std::string* refusal) {
    const std::string path = "/tmp/jobsync-jf-" + namespace_ + ".json";
    std::ofstream(path) << object.dump();
    std::optional<std::string> out =
        Shell("kubectl create --dry-run=server -o json -f " + path, refusal);
    std::remove(path.c_str());
    if (!out) return nullptr;
    return json::parse(*out, nullptr, false);
  }

  void Apply(Action action, const TrainingJob& job, const TrainingJob* applied = nullptr) {
    PlanStep step;
    step.action = action;
    step.key = job.key();
    step.desired = std::make_shared<const TrainingJob>(job);
    if (applied != nullptr) {
      LiveJob live;
      live.key = job.key();
      live.applied = std::make_shared<const TrainingJob>(*applied);
      step.live = std::make_shared<const LiveJob>(live);
    }
    Status status = backend_->Apply(step, kOurs);
    ASSERT_TRUE(status.ok()) << status.ToString();
  }

  static inline int counter_ = 0;
  std::string namespace_;
  std::string priority_class_;
  std::unique_ptr<KubernetesBackend> backend_;
};

TEST_F(JobFieldsKubeTest, RenderedObjectsOfEveryFieldPassServerSideValidation) {
  CreateReferencedObjects();
  TrainingJob job = Job("every");
  job.pod_template_patch = json::parse(R"({"spec": {
      "containers": [{"name": "sidecar", "image": "busybox:1.36"}],
      "topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "kubernetes.io/hostname",
                                     "whenUnsatisfiable": "ScheduleAnyway"}]}})");
  StatusOr<std::vector<json>> objects = RenderObjects(job, kOurs, false);
  ASSERT_TRUE(objects.ok()) << objects.status().ToString();
  ASSERT_EQ(objects->size(), 3u);  // Service, ps, worker
  for (const json& object : *objects) {
    std::string refusal;
    json stored = DryRun(object, &refusal);
    ASSERT_TRUE(stored.is_object()) << object["metadata"]["name"] << ": " << refusal;
    EXPECT_EQ(MissingFrom(stored, object), "") << object["metadata"]["name"];
    if (object["kind"] != "Job") continue;
    const json& pod = stored["spec"]["template"]["spec"];
    EXPECT_EQ(pod["volumes"].size(), object["metadata"]["name"] == "every-ps" ? 5u : 4u);
    EXPECT_EQ(pod["containers"].size(), 2u);
    EXPECT_EQ(stored["spec"]["podFailurePolicy"]["rules"][0]["action"], "Ignore");
  }
  // The dry run validates for real: a pod the apiserver refuses (a container without an image).
  TrainingJob broken = Job("broken");
  broken.pod_template_patch = json::parse(R"({"spec": {"containers": [{"name": "no-image"}]}})");
  StatusOr<json> worker = RoleJobObject(broken, "worker", kOurs);
  ASSERT_TRUE(worker.ok()) << worker.status().ToString();
  std::string refusal;
  EXPECT_TRUE(DryRun(*worker, &refusal).is_null());
  EXPECT_THAT(refusal, HasSubstr("image"));
}

TEST_F(JobFieldsKubeTest, JobUsingEveryFieldIsStoredFieldByField) {
  CreateReferencedObjects();
  const TrainingJob job = Job("every");
  Apply(Action::kCreate, job);
  for (const std::string role : {"ps", "worker"}) {
    StatusOr<json> rendered = RoleJobObject(job, role, kOurs);
    ASSERT_TRUE(rendered.ok());
    json stored = Kubectl("get job every-" + role + " -n " + namespace_);
    ASSERT_TRUE(stored.is_object()) << "kubectl cannot see Job every-" << role;
    const json& spec = stored["spec"];
    EXPECT_EQ(spec["backoffLimitPerIndex"], 2) << role;
    EXPECT_EQ(spec["activeDeadlineSeconds"], 86400) << role;
    EXPECT_EQ(spec["ttlSecondsAfterFinished"], 3600) << role;
    EXPECT_EQ(spec["podFailurePolicy"]["rules"][0]["onPodConditions"][0]["type"],
              "DisruptionTarget");
    const json& pod = spec["template"]["spec"];
    const json& want = (*rendered)["spec"]["template"]["spec"];
    for (const char* field :
         {"volumes", "nodeSelector", "tolerations", "affinity", "priorityClassName",
          "schedulerName", "serviceAccountName", "imagePullSecrets"}) {
      EXPECT_EQ(MissingFrom(pod[field], want[field]), "") << role << " spec." << field;
    }
    const json& container = pod["containers"][0];
    for (const char* field :
         {"name", "image", "command", "args", "env", "envFrom", "volumeMounts", "resources"}) {
      EXPECT_EQ(MissingFrom(container[field], want["containers"][0][field]), "")
          << role << " container " << field;
    }
  }
  json ps = Kubectl("get job every-ps -n " + namespace_);
  EXPECT_EQ(ps["spec"]["template"]["spec"]["containers"][0]["image"],
            "registry.example/train-ps:1");
  EXPECT_EQ(
      ps["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]["example.com/rdma"],
      "1");
}

TEST_F(JobFieldsKubeTest, PatchSetsAndRemovesDeadlineAndTtlInPlaceOnRunningAndFinishedJobs) {
  // A running job and one that kwok completes (its opt-in completion label).
  TrainingJob running = SampleJob("running", namespace_, 1);
  running.roles["worker"].resources = {};
  TrainingJob finished = SampleJob("finished", namespace_, 1);
  finished.roles["worker"].resources = {};
  finished.labels["jobsync.dev/kwok-complete"] = "true";
  Apply(Action::kCreate, running);
  Apply(Action::kCreate, finished);
  auto condition = [&](const std::string& job, const char* type) {
    json object = Kubectl("get job " + job + " -n " + namespace_);
    if (!object.is_object()) return false;
    for (const json& c : object["status"].value("conditions", json::array())) {
      if (c["type"] == type && c["status"] == "True") return true;
    }
    return false;
  };
  auto active = [&](const std::string& job) {
    json object = Kubectl("get job " + job + " -n " + namespace_);
    return object.is_object() && object["status"].value("active", 0) > 0;
  };
  ASSERT_TRUE(Eventually([&] { return active("running-worker"); }));
  ASSERT_TRUE(Eventually([&] {
    return condition("finished-worker", "Complete") && condition("finished-ps", "Complete");
  }));

  for (TrainingJob* job : {&running, &finished}) {
    const std::string worker = job->name + "-worker";
    const std::string uid = Kubectl("get job " + worker + " -n " + namespace_)["metadata"]["uid"];
    const TrainingJob before = *job;
    job->active_deadline_seconds = 86400;
    job->ttl_seconds_after_finished = 7200;
    Apply(Action::kPatch, *job, &before);
    for (const std::string role : {"worker", "ps"}) {
      json object = Kubectl("get job " + job->name + "-" + role + " -n " + namespace_);
      ASSERT_TRUE(object.is_object()) << job->name << "-" << role;
      EXPECT_EQ(object["spec"]["activeDeadlineSeconds"], 86400) << job->name << "-" << role;
      EXPECT_EQ(object["spec"]["ttlSecondsAfterFinished"], 7200) << job->name << "-" << role;
    }
    json patched = Kubectl("get job " + worker + " -n " + namespace_);
    EXPECT_EQ(patched["metadata"]["uid"], uid) << worker << " was recreated";

    const TrainingJob with = *job;
    job->active_deadline_seconds.reset();
    job->ttl_seconds_after_finished.reset();
    Apply(Action::kPatch, *job, &with);
    json removed = Kubectl("get job " + worker + " -n " + namespace_);
    EXPECT_FALSE(removed["spec"].contains("activeDeadlineSeconds")) << worker;
    EXPECT_FALSE(removed["spec"].contains("ttlSecondsAfterFinished")) << worker;
    EXPECT_EQ(removed["metadata"]["uid"], uid) << worker << " was recreated";
  }
  EXPECT_TRUE(active("running-worker"));
  EXPECT_TRUE(condition("finished-worker", "Complete"));
}

}  // namespace
}  // namespace jobsync
