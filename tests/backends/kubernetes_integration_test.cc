// KubernetesBackend against the real local kube-apiserver of scripts/cluster (kwok plays the
// nodes). Needs `scripts/cluster up && eval "$(scripts/cluster env)"`; fails, never skips, when
// the cluster cannot be reached. Each test works in its own namespace k8s-test-*, deleted after.
// Objects are also checked with kubectl, an independent client.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include "backends/kubernetes/kubernetes_backend.h"
#include "backends/kubernetes/mapping.h"
#include "diff/diff.h"
#include "schemas/canonical.h"
#include "schemas/shared_specs.h"
#include "test_jobs.h"
#include "tests/test_secrets.h"

namespace jobsync {
namespace {

using ::jobsync::testing::SampleJob;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;
using json = nlohmann::json;

constexpr const char* kHowToStart = "run: scripts/cluster up && eval \"$(scripts/cluster env)\"";
const ApplyContext kOurs{"it-a", "rev-1"};
const ApplyContext kTheirs{"it-b", "rev-1"};

// Runs a shell command; returns its standard output, or nullopt when it exits non-zero.
std::optional<std::string> Shell(const std::string& command) {
  FILE* pipe = popen((command + " 2>/dev/null").c_str(), "r");
  if (pipe == nullptr) return std::nullopt;
  std::string out;
  char buffer[4096];
  size_t read = 0;
  while ((read = fread(buffer, 1, sizeof(buffer), pipe)) > 0) out.append(buffer, read);
  if (pclose(pipe) != 0) return std::nullopt;
  return out;
}

json Kubectl(const std::string& arguments) {
  std::optional<std::string> out = Shell("kubectl " + arguments + " -o json");
  if (!out) return nullptr;
  return json::parse(*out, nullptr, false);
}

// Polls `condition` every 250 ms for up to `timeout`.
bool Eventually(const std::function<bool()>& condition,
                std::chrono::seconds timeout = std::chrono::seconds(60)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  return condition();
}

PlanStep Step(Action action, const TrainingJob& job) {
  PlanStep step;
  step.action = action;
  step.key = job.key();
  if (action != Action::kDelete) step.desired = std::make_shared<const TrainingJob>(job);
  return step;
}

class KubernetesIntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* kubeconfig = std::getenv("KUBECONFIG");
    ASSERT_TRUE(kubeconfig != nullptr && *kubeconfig != '\0')
        << "KUBECONFIG is not set; " << kHowToStart;
    ASSERT_TRUE(Shell("kubectl get --raw /readyz").has_value())
        << "the kube-apiserver does not answer; " << kHowToStart;
    const std::string test = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::string lower;
    for (char c : test) {
      if (std::isupper(static_cast<unsigned char>(c)) && !lower.empty()) lower += '-';
      lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    namespace_ = "k8s-test-" + lower.substr(0, 30) + "-" + std::to_string(getpid());
    backend_ = NewBackend(std::getenv("KUBECONFIG"), "");
    ASSERT_NE(backend_, nullptr);
  }

  void TearDown() override {
    backend_.reset();
    (void)Shell("kubectl delete namespace " + namespace_ + " --wait=false");
  }

  std::unique_ptr<KubernetesBackend> NewBackend(
      const std::string& kubeconfig, const std::string& watch_namespace,
      const std::string& instance = "", std::shared_ptr<const SharedSpecs> specs = nullptr) {
    KubernetesBackendOptions options;
    options.shared_specs = std::move(specs);
    if (!watch_namespace.empty()) options.namespaces = {watch_namespace};
    options.instance = instance;
    options.cache_sync_timeout = std::chrono::seconds(20);
    options.delete_wait = std::chrono::seconds(90);
    StatusOr<std::unique_ptr<KubernetesBackend>> backend = KubernetesBackend::FromKubeconfig(
        {kubeconfig, ""}, KubeconfigEnvironment::FromProcess(), options);
    EXPECT_TRUE(backend.ok()) << backend.status().ToString() << "; " << kHowToStart;
    return backend.ok() ? std::move(*backend) : nullptr;
  }

  // Pods of `job` (and `role` when given) that run and are not being deleted, as kubectl sees.
  int RunningPods(const std::string& job, const std::string& role = "") {
    std::string selector = std::string(kJobLabel) + "=" + job;
    if (!role.empty()) selector += std::string(",") + kRoleLabel + "=" + role;
    json pods = Kubectl("get pods -n " + namespace_ + " -l " + selector);
    if (!pods.is_object()) return -1;
    int running = 0;
    for (const json& pod : pods["items"]) {
      if (pod["metadata"].contains("deletionTimestamp")) continue;
      if (pod["status"].value("phase", "") == "Running") ++running;
    }
    return running;
  }

  int PodsOf(const std::string& job) {
    json pods = Kubectl("get pods -n " + namespace_ + " -l " + kJobLabel + "=" + job);
    return pods.is_object() ? static_cast<int>(pods["items"].size()) : -1;
  }

  std::optional<LiveJob> Find(const std::string& name) {
    StatusOr<std::vector<LiveJob>> live = backend_->ListJobs();
    EXPECT_TRUE(live.ok()) << live.status().ToString();
    if (!live.ok()) return std::nullopt;
    for (const LiveJob& job : *live) {
      if (job.key.namespace_name == namespace_ && job.key.name == name) return job;
    }
    return std::nullopt;
  }

  void ApplyOk(Action action, const TrainingJob& job, const ApplyContext& context = kOurs) {
    Status status = backend_->Apply(Step(action, job), context);
    ASSERT_TRUE(status.ok()) << status.ToString();
  }

  std::string namespace_;
  std::unique_ptr<KubernetesBackend> backend_;
};

TEST_F(KubernetesIntegrationTest, CreatesIndexedJobsAndServiceAndPodsRun) {
  const TrainingJob job = SampleJob("train", namespace_, 2);
  ApplyOk(Action::kCreate, job);

  // Checked with kubectl, an independent client.
  json worker = Kubectl("get job train-worker -n " + namespace_);
  ASSERT_TRUE(worker.is_object()) << "kubectl cannot see the worker Job";
  EXPECT_EQ(worker["spec"]["completionMode"], "Indexed");
  EXPECT_EQ(worker["spec"]["completions"], 2);
  EXPECT_EQ(worker["spec"]["parallelism"], 2);
  EXPECT_EQ(worker["metadata"]["labels"][kManagedByLabel], "jobsync");
  EXPECT_EQ(worker["metadata"]["labels"][kInstanceLabel], "it-a");
  EXPECT_EQ(worker["metadata"]["annotations"][kSpecHashAnnotation], SpecHash(job));
  EXPECT_EQ(worker["metadata"]["annotations"][kRevisionAnnotation], "rev-1");
  json service = Kubectl("get service train -n " + namespace_);
  ASSERT_TRUE(service.is_object());
  EXPECT_EQ(service["spec"]["clusterIP"], "None");
  EXPECT_TRUE(Kubectl("get job train-ps -n " + namespace_).is_object());

  EXPECT_TRUE(Eventually([&] { return RunningPods("train", "worker") == 2; }));
  EXPECT_TRUE(Eventually([&] { return RunningPods("train", "ps") == 1; }));

  std::optional<LiveJob> live = Find("train");
  ASSERT_TRUE(live.has_value());
  ASSERT_NE(live->applied, nullptr);
  EXPECT_EQ(CanonicalSpec(*live->applied), CanonicalSpec(job));
  EXPECT_EQ(live->replicas, (std::map<std::string, int>{{"ps", 1}, {"worker", 2}}));
  EXPECT_EQ(live->instance, "it-a");
  EXPECT_TRUE(live->prune_protected);
  EXPECT_TRUE(Eventually([&] {
    StatusOr<Health> health = backend_->GetHealth(job.key());
    return health.ok() && *health == Health::kHealthy;
  }));
}

TEST_F(KubernetesIntegrationTest, ScalesUpAndDownAndPodsFollow) {
  TrainingJob job = SampleJob("elastic", namespace_, 2);
  ApplyOk(Action::kCreate, job);
  ASSERT_TRUE(Eventually([&] { return RunningPods("elastic", "worker") == 2; }));

  job.roles["worker"].replicas = 4;
  ApplyOk(Action::kScale, job);
  json worker = Kubectl("get job elastic-worker -n " + namespace_);
  EXPECT_EQ(worker["spec"]["completions"], 4);
  EXPECT_EQ(worker["spec"]["parallelism"], 4);
  EXPECT_EQ(worker["metadata"]["annotations"][kSpecHashAnnotation], SpecHash(job));
  EXPECT_TRUE(Eventually([&] { return RunningPods("elastic", "worker") == 4; }));

  job.roles["worker"].replicas = 1;
  ApplyOk(Action::kScale, job);
  EXPECT_TRUE(Eventually([&] { return RunningPods("elastic", "worker") == 1; }));
  EXPECT_TRUE(Eventually([&] {
    std::optional<LiveJob> live = Find("elastic");
    return live && live->replicas["worker"] == 1 && live->applied &&
           CanonicalSpec(*live->applied) == CanonicalSpec(job);
  }));
}

TEST_F(KubernetesIntegrationTest, SuspendsAndResumes) {
  TrainingJob job = SampleJob("pausable", namespace_, 2);
  ApplyOk(Action::kCreate, job);
  ASSERT_TRUE(Eventually([&] { return RunningPods("pausable") == 3; }));

  job.suspend = true;
  ApplyOk(Action::kScale, job);
  EXPECT_TRUE(Eventually([&] { return PodsOf("pausable") == 0; }));
  EXPECT_TRUE(Eventually([&] {
    std::optional<LiveJob> live = Find("pausable");
    return live && live->phase == LivePhase::kSuspended;
  }));
  StatusOr<Health> health = backend_->GetHealth(job.key());
  ASSERT_TRUE(health.ok());
  EXPECT_EQ(*health, Health::kSuspended);

  job.suspend = false;
  ApplyOk(Action::kScale, job);
  EXPECT_TRUE(Eventually([&] { return RunningPods("pausable") == 3; }));
  EXPECT_TRUE(Eventually([&] {
    std::optional<LiveJob> live = Find("pausable");
    return live && live->phase == LivePhase::kRunning;
  }));
}

// An elastic role that another controller moved within its bounds keeps its live count when a
// scale step changes another role (diff/plan.h, elastic roles); outside the bounds it gets Git's.
TEST_F(KubernetesIntegrationTest, ScalingAnotherRoleKeepsAnElasticRoleWithinItsBounds) {
  TrainingJob job = SampleJob("stretch", namespace_, 2);
  job.roles["worker"].min_replicas = 1;
  job.roles["worker"].max_replicas = 4;
  ApplyOk(Action::kCreate, job);
  ASSERT_TRUE(Shell("kubectl patch job stretch-worker -n " + namespace_ +
                    " --type merge -p '{\"spec\":{\"parallelism\":3,\"completions\":3}}'")
                  .has_value());
  ASSERT_TRUE(Eventually([&] {
    std::optional<LiveJob> live = Find("stretch");
    return live && live->replicas["worker"] == 3;
  }));

  job.roles["ps"].replicas = 2;
  PlanStep step = Step(Action::kScale, job);
  step.live = std::make_shared<const LiveJob>(*Find("stretch"));
  ASSERT_TRUE(backend_->Apply(step, kOurs).ok());
  EXPECT_EQ(Kubectl("get job stretch-worker -n " + namespace_)["spec"]["parallelism"], 3);
  EXPECT_EQ(Kubectl("get job stretch-ps -n " + namespace_)["spec"]["parallelism"], 2);

  ASSERT_TRUE(Shell("kubectl patch job stretch-worker -n " + namespace_ +
                    " --type merge -p '{\"spec\":{\"parallelism\":6,\"completions\":6}}'")
                  .has_value());
  ASSERT_TRUE(Eventually([&] {
    std::optional<LiveJob> live = Find("stretch");
    return live && live->replicas["worker"] == 6;
  }));
  step.live = std::make_shared<const LiveJob>(*Find("stretch"));
  ASSERT_TRUE(backend_->Apply(step, kOurs).ok());
  EXPECT_EQ(Kubectl("get job stretch-worker -n " + namespace_)["spec"]["parallelism"], 2);
}

// An update whose desired job cannot render (its pod template patch removes jobsync's env) fails
// before deleting anything: the live job keeps running.
TEST_F(KubernetesIntegrationTest, AnUpdateThatCannotRenderLeavesTheLiveJobRunning) {
  TrainingJob job = SampleJob("steady", namespace_, 1);
  ApplyOk(Action::kCreate, job);
  const json before = Kubectl("get job steady-worker -n " + namespace_);
  ASSERT_TRUE(before.is_object());
  job.image = "busybox:1.37";
  job.pod_template_patch =
      json::parse(R"({"spec": {"containers": [{"name": "worker", "env": null}]}})");
  Status status = backend_->Apply(Step(Action::kUpdate, job), kOurs);
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument) << status.ToString();
  const json after = Kubectl("get job steady-worker -n " + namespace_);
  ASSERT_TRUE(after.is_object()) << "the live Job was deleted";
  EXPECT_EQ(after["metadata"]["uid"], before["metadata"]["uid"]);
}

TEST_F(KubernetesIntegrationTest, UpdateRecreatesTheJobsWithTheNewImage) {
  TrainingJob job = SampleJob("upd", namespace_, 1);
  ApplyOk(Action::kCreate, job);
  ASSERT_TRUE(Eventually([&] { return RunningPods("upd") == 2; }));
  const std::string old_uid = Kubectl("get job upd-worker -n " + namespace_)["metadata"]["uid"];

  job.image = "registry.example/train:2";
  ApplyOk(Action::kUpdate, job);
  json worker = Kubectl("get job upd-worker -n " + namespace_);
  ASSERT_TRUE(worker.is_object());
  EXPECT_NE(worker["metadata"]["uid"], old_uid);
  EXPECT_EQ(worker["spec"]["template"]["spec"]["containers"][0]["image"],
            "registry.example/train:2");
  EXPECT_TRUE(Eventually([&] {
    json pods = Kubectl("get pods -n " + namespace_ + " -l jobsync.dev/job=upd");
    int running_new = 0;
    for (const json& pod : pods["items"]) {
      if (pod["spec"]["containers"][0]["image"] == "registry.example/train:2" &&
          pod["status"].value("phase", "") == "Running") {
        ++running_new;
      }
    }
    return running_new == 2 && pods["items"].size() == 2;
  }));
}

TEST_F(KubernetesIntegrationTest, DeleteRemovesOnlyThisInstancesObjects) {
  const TrainingJob ours = SampleJob("ours", namespace_, 1);
  const TrainingJob theirs = SampleJob("theirs", namespace_, 1);
  ApplyOk(Action::kCreate, ours);
  ApplyOk(Action::kCreate, theirs, kTheirs);
  ASSERT_TRUE(
      Shell("kubectl create job unlabelled -n " + namespace_ + " --image=busybox").has_value());
  ASSERT_TRUE(Eventually([&] { return RunningPods("ours") == 2; }));

  StatusOr<std::vector<LiveJob>> live = backend_->ListJobs();
  ASSERT_TRUE(live.ok()) << live.status().ToString();
  int mine = 0;
  for (const LiveJob& job : *live) {
    if (job.key.namespace_name != namespace_) continue;
    ++mine;
    EXPECT_EQ(job.instance, job.key.name == "ours" ? "it-a" : "it-b");
  }
  EXPECT_EQ(mine, 2) << "the unlabelled Job must not be listed";

  // A delete for a job of another instance leaves it alone.
  Status foreign = backend_->Apply(Step(Action::kDelete, theirs), kOurs);
  EXPECT_EQ(foreign.code(), StatusCode::kFailedPrecondition) << foreign.ToString();
  EXPECT_THAT(foreign.message(), HasSubstr("kubernetes/" + namespace_ + "/theirs"));

  ApplyOk(Action::kDelete, ours);
  EXPECT_TRUE(Eventually([&] { return PodsOf("ours") == 0; }));
  EXPECT_TRUE(
      Eventually([&] { return !Kubectl("get job ours-worker -n " + namespace_).is_object(); }));
  EXPECT_FALSE(Kubectl("get service ours -n " + namespace_).is_object());
  EXPECT_TRUE(Kubectl("get job theirs-worker -n " + namespace_).is_object());
  EXPECT_TRUE(Kubectl("get service theirs -n " + namespace_).is_object());
  EXPECT_TRUE(Kubectl("get job unlabelled -n " + namespace_).is_object());
  ApplyOk(Action::kDelete, ours);  // deleting again is fine
  StatusOr<Health> health = backend_->GetHealth(ours.key());
  ASSERT_TRUE(health.ok());
  EXPECT_EQ(*health, Health::kMissing);
}

// Another instance's Jobs are cached as their records: listed with their owner (what the plan's
// conflict check reads), without the applied spec the cache would otherwise parse and hold.
TEST_F(KubernetesIntegrationTest, AnotherInstancesJobsAreCachedWithoutTheirSpecs) {
  ApplyOk(Action::kCreate, SampleJob("ours", namespace_, 2));
  ApplyOk(Action::kCreate, SampleJob("theirs", namespace_, 2), kTheirs);
  std::unique_ptr<KubernetesBackend> scoped =
      NewBackend(std::getenv("KUBECONFIG"), namespace_, kOurs.instance);
  ASSERT_NE(scoped, nullptr);
  StatusOr<std::vector<LiveJob>> live = scoped->ListJobs();
  ASSERT_TRUE(live.ok()) << live.status().ToString();
  ASSERT_EQ(live->size(), 2u);
  const LiveJob& ours = (*live)[0].key.name == "ours" ? (*live)[0] : (*live)[1];
  const LiveJob& theirs = (*live)[0].key.name == "ours" ? (*live)[1] : (*live)[0];
  EXPECT_EQ(ours.instance, "it-a");
  ASSERT_NE(ours.applied, nullptr);
  EXPECT_EQ(ours.replicas.at("worker"), 2);
  EXPECT_EQ(theirs.key.name, "theirs");
  EXPECT_EQ(theirs.instance, "it-b");
  EXPECT_EQ(theirs.applied, nullptr) << "another instance's spec was read";
  EXPECT_EQ(theirs.replicas.at("worker"), 2);
  // The backend of no instance (the test fixture's) keeps every Job whole.
  std::optional<LiveJob> whole = Find("theirs");
  ASSERT_TRUE(whole.has_value());
  EXPECT_NE(whole->applied, nullptr);
}

TEST_F(KubernetesIntegrationTest, AnAppliedSpecThatIsTheDesiredOneIsHeldOnce) {
  const auto desired = std::make_shared<const TrainingJob>(SampleJob("same", namespace_, 2));
  TrainingJob changed = SampleJob("changed", namespace_, 2);
  ApplyOk(Action::kCreate, *desired);
  ApplyOk(Action::kCreate, changed);
  changed.image = "changed-in-git:2";  // Git moved on; the cluster runs what was applied
  auto specs = std::make_shared<SharedSpecs>();
  specs->Offer({desired, std::make_shared<const TrainingJob>(changed)});
  std::unique_ptr<KubernetesBackend> sharing =
      NewBackend(std::getenv("KUBECONFIG"), namespace_, kOurs.instance, specs);
  ASSERT_NE(sharing, nullptr);
  StatusOr<std::vector<LiveJob>> live = sharing->ListJobs();
  ASSERT_TRUE(live.ok()) << live.status().ToString();
  ASSERT_EQ(live->size(), 2u);
  const LiveJob& applied_changed = (*live)[0];
  const LiveJob& same = (*live)[1];
  ASSERT_EQ(same.key.name, "same");
  EXPECT_EQ(same.applied.get(), desired.get()) << "the applied spec was parsed into a copy";
  ASSERT_NE(applied_changed.applied, nullptr);
  EXPECT_EQ(applied_changed.applied->image, SampleJob("changed", namespace_, 2).image);
}

TEST_F(KubernetesIntegrationTest, CreateAfterACrashFinishesWithoutDuplicates) {
  const TrainingJob job = SampleJob("crash", namespace_, 2);
  ASSERT_TRUE(Shell("kubectl create namespace " + namespace_).has_value());
  // The crashed apply had created only the worker Job.
  const std::string file = "/tmp/" + namespace_ + "-worker.json";
  std::ofstream(file) << RoleJobObject(job, "worker", kOurs)->dump();
  ASSERT_TRUE(Shell("kubectl create -f " + file).has_value());
  std::remove(file.c_str());
  const std::string uid = Kubectl("get job crash-worker -n " + namespace_)["metadata"]["uid"];

  ApplyOk(Action::kCreate, job);
  ApplyOk(Action::kCreate, job);
  json jobs = Kubectl("get jobs -n " + namespace_);
  EXPECT_EQ(jobs["items"].size(), 2u);
  EXPECT_EQ(Kubectl("get job crash-worker -n " + namespace_)["metadata"]["uid"], uid);
  EXPECT_TRUE(Kubectl("get service crash -n " + namespace_).is_object());

  // A different spec under the same name is not taken for ours.
  TrainingJob changed = job;
  changed.image = "other:1";
  Status status = backend_->Apply(Step(Action::kCreate, changed), kOurs);
  EXPECT_EQ(status.code(), StatusCode::kAlreadyExists) << status.ToString();
}

TEST_F(KubernetesIntegrationTest, WatchCacheFollowsKubectlChangesWithoutListing) {
  const TrainingJob job = SampleJob("cached", namespace_, 2);
  ApplyOk(Action::kCreate, job);
  ASSERT_TRUE(Find("cached").has_value());
  const int64_t lists = backend_->list_requests();
  EXPECT_EQ(lists, 1);

  ASSERT_TRUE(Shell("kubectl patch job cached-worker -n " + namespace_ +
                    " --type merge -p '{\"spec\":{\"parallelism\":3,\"completions\":3}}'")
                  .has_value());
  EXPECT_TRUE(Eventually([&] {
    std::optional<LiveJob> live = Find("cached");
    return live && live->replicas["worker"] == 3;
  }));
  ASSERT_TRUE(Shell("kubectl delete job cached-ps -n " + namespace_ + " --wait=true").has_value());
  EXPECT_TRUE(Eventually([&] {
    std::optional<LiveJob> live = Find("cached");
    return live && live->replicas["ps"] == 0;
  }));
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(backend_->ListJobs().ok());
  EXPECT_EQ(backend_->list_requests(), lists);
}

// A scale patches each role Job guarded by the version the watch cache holds, and reads the Job
// when the apiserver refuses that version: the refusal this relies on, from the real apiserver,
// and a scale right after a change the cache may not have seen yet.
TEST_F(KubernetesIntegrationTest, AMergePatchGuardedByAnOldVersionIsRefusedAndAScaleStillLands) {
  TrainingJob job = SampleJob("guarded", namespace_, 1);
  ApplyOk(Action::kCreate, job);
  const std::string old_version =
      Kubectl("get job guarded-worker -n " + namespace_)["metadata"]["resourceVersion"];
  ASSERT_TRUE(
      Shell("kubectl annotate job guarded-worker -n " + namespace_ + " team=b").has_value());
  KubernetesClient& client = backend_->client();
  const json patch = {{"metadata", {{"resourceVersion", old_version}}},
                      {"spec", {{"parallelism", 3}}}};
  StatusOr<json> refused =
      client.MergePatch(ResourceKind::kJob, namespace_, "guarded-worker", patch);
  EXPECT_EQ(refused.status().code(), StatusCode::kFailedPrecondition)
      << refused.status().ToString();
  EXPECT_EQ(Kubectl("get job guarded-worker -n " + namespace_)["spec"]["parallelism"], 1);

  ASSERT_TRUE(Shell("kubectl annotate job guarded-worker -n " + namespace_ + " team=c --overwrite")
                  .has_value());
  job.roles["worker"].replicas = 3;
  ApplyOk(Action::kScale, job);
  json worker = Kubectl("get job guarded-worker -n " + namespace_);
  EXPECT_EQ(worker["spec"]["parallelism"], 3);
  EXPECT_EQ(worker["spec"]["completions"], 3);
  EXPECT_EQ(worker["metadata"]["annotations"]["team"], "c") << "another's annotation kept";
  EXPECT_EQ(worker["metadata"]["annotations"][kSpecHashAnnotation], SpecHash(job));
}

TEST_F(KubernetesIntegrationTest, LimitedIdentityGetsPermissionDeniedNamingTheJob) {
  const char* limited = std::getenv("JOBSYNC_LIMITED_KUBECONFIG");
  ASSERT_TRUE(limited != nullptr) << "JOBSYNC_LIMITED_KUBECONFIG is not set; " << kHowToStart;
  ASSERT_TRUE(Shell("kubectl create namespace " + namespace_).has_value());
  std::unique_ptr<KubernetesBackend> backend = NewBackend(limited, "");
  ASSERT_NE(backend, nullptr);

  const TrainingJob job = SampleJob("denied", namespace_, 1);
  Status status = backend->Apply(Step(Action::kCreate, job), kOurs);
  EXPECT_EQ(status.code(), StatusCode::kPermissionDenied) << status.ToString();
  EXPECT_THAT(status.message(), HasSubstr("job kubernetes/" + namespace_ + "/denied"));
  EXPECT_THAT(status.message(), HasSubstr("forbidden"));
  EXPECT_FALSE(Kubectl("get job denied-ps -n " + namespace_).is_object());

  StatusOr<std::vector<LiveJob>> cluster_wide = backend->ListJobs();
  ASSERT_FALSE(cluster_wide.ok());
  EXPECT_EQ(cluster_wide.status().code(), StatusCode::kPermissionDenied)
      << cluster_wide.status().ToString();

  // In its own namespace the same identity works, namespace-scoped.
  std::unique_ptr<KubernetesBackend> scoped = NewBackend(limited, "team-a");
  ASSERT_NE(scoped, nullptr);
  const TrainingJob allowed = SampleJob("allowed-" + std::to_string(getpid()), "team-a", 1);
  Status created = scoped->Apply(Step(Action::kCreate, allowed), kOurs);
  EXPECT_TRUE(created.ok()) << created.ToString();
  StatusOr<std::vector<LiveJob>> live = scoped->ListJobs();
  ASSERT_TRUE(live.ok()) << live.status().ToString();
  bool found = false;
  for (const LiveJob& entry : *live) found = found || entry.key == allowed.key();
  EXPECT_TRUE(found);
  Status deleted = scoped->Apply(Step(Action::kDelete, allowed), kOurs);
  EXPECT_TRUE(deleted.ok()) << deleted.ToString();
}

// Which apiserver certificate is trusted is the kubeconfig's certificate-authority: the cluster's
// own CA connects; a CA made here, or none (the system's trust store), fails at once with a
// message that says so, names the server, the kubeconfig and the field to fix, and holds no
// credential of the kubeconfig.
TEST_F(KubernetesIntegrationTest, VerifiesTheApiserverCertificateWithTheKubeconfigCa) {
  const std::string dir = ::testing::TempDir() + "jobsync-k8s-ca-" + std::to_string(getpid());
  struct RemoveDir {
    std::string path;
    ~RemoveDir() { (void)Shell("rm -rf '" + path + "'"); }
  } remove{dir};
  const std::string in_dir = "mkdir -p '" + dir + "' && cd '" + dir + "' && ";
  ASSERT_TRUE(Shell(in_dir +
                    "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
                    "-keyout wrong-ca.key -out wrong-ca.crt -days 1 -subj /CN=jobsync-wrong-ca")
                  .has_value());
  testing::RegisterTestPrivateKey("kubernetes test wrong CA key", dir + "/wrong-ca.key");
  const std::string view = "kubectl config view --raw --minify -o jsonpath=";
  ASSERT_TRUE(Shell(in_dir + view +
                    "'{.clusters[0].cluster.certificate-authority-data}' | base64 -d >right-ca.crt")
                  .has_value());
  const std::optional<std::string> cluster = Shell(view + "'{.clusters[0].name}'");
  const std::optional<std::string> server = Shell(view + "'{.clusters[0].cluster.server}'");
  const std::optional<std::string> key =
      Shell(view + "'{.users[0].user.client-key-data}' | base64 -d");
  ASSERT_TRUE(cluster && server && key && !key->empty());

  struct Case {
    std::string name;
    std::string ca_file;  // empty: no certificate authority in the kubeconfig
    std::string trusted;  // what the message says was trusted; empty: the connection works
  };
  const std::vector<Case> cases = {
      {"right", "right-ca.crt", ""},
      {"wrong", "wrong-ca.crt", "the configured certificate authority"},
      {"none", "", "the system's trust store"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name + " CA");
    // The cluster's kubeconfig, with its certificate authority replaced.
    const std::string kubeconfig = dir + "/" + c.name + ".kubeconfig";
    const std::string edit = "KUBECONFIG='" + kubeconfig + "' kubectl config ";
    ASSERT_TRUE(
        Shell("kubectl config view --raw --minify >'" + kubeconfig + "' && " + edit +
              "unset clusters." + *cluster + ".certificate-authority-data" +
              (c.ca_file.empty() ? ""
                                 : " && " + edit + "set-cluster " + *cluster +
                                       " --certificate-authority='" + dir + "/" + c.ca_file + "'"))
            .has_value());
    std::unique_ptr<KubernetesBackend> backend = NewBackend(kubeconfig, "");
    ASSERT_NE(backend, nullptr);
    const auto start = std::chrono::steady_clock::now();
    StatusOr<std::vector<LiveJob>> live = backend->ListJobs();
    if (c.trusted.empty()) {
      EXPECT_TRUE(live.ok()) << live.status().ToString();
      continue;
    }
    ASSERT_FALSE(live.ok());
    // A refusal, not an outage: neither retried nor waited out.
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
    EXPECT_EQ(live.status().code(), StatusCode::kPermissionDenied) << live.status().ToString();
    EXPECT_THAT(live.status().message(),
                AllOf(HasSubstr("TLS certificate verification failed"), HasSubstr(*server),
                      HasSubstr(c.trusted), HasSubstr("certificate-authority"),
                      HasSubstr(kubeconfig), HasSubstr("--kubeconfig")));
    std::istringstream key_lines(*key);
    for (std::string line; std::getline(key_lines, line);) {
      if (!line.empty()) {
        EXPECT_THAT(live.status().message(), Not(HasSubstr(line)));
      }
    }
  }
}

TEST_F(KubernetesIntegrationTest, APatchNeverCreatesARoleJobThatIsGone) {
  TrainingJob job = SampleJob("gone", namespace_, 2);
  job.annotations.clear();
  ApplyOk(Action::kCreate, job);
  ASSERT_TRUE(Eventually([&] { return RunningPods("gone") == 3; }));
  ASSERT_TRUE(Kubectl("get job gone-ps -n " + namespace_).is_object());
  (void)Shell("kubectl delete job gone-ps -n " + namespace_ + " --wait=true");
  ASSERT_TRUE(Eventually([&] { return !Kubectl("get job gone-ps -n " + namespace_).is_object(); }));

  job.annotations[kPruneAnnotation] = "false";
  PlanStep step;
  step.key = {BackendKind::kKubernetes, namespace_, "gone"};
  step.action = Action::kPatch;
  step.desired = std::make_shared<const TrainingJob>(job);
  Status patched = backend_->Apply(step, {"it-a", "rev-2"});
  EXPECT_FALSE(patched.ok());
  EXPECT_THAT(patched.message(), HasSubstr("a metadata patch does not create it"));
  EXPECT_FALSE(Kubectl("get job gone-ps -n " + namespace_).is_object());
}

}  // namespace
}  // namespace jobsync

namespace jobsync {
namespace {

// Plans `desired` against what the backend lists for it, as the agent does (DiffJobs).
PlanStep PlanAgainstLive(KubernetesBackend& backend, const TrainingJob& desired) {
  LoadResult wanted;
  wanted.jobs.push_back(std::make_shared<const TrainingJob>(desired));
  StatusOr<std::vector<LiveJob>> live = backend.ListJobs();
  EXPECT_TRUE(live.ok()) << live.status().ToString();
  std::vector<LiveJob> same_namespace;
  for (const LiveJob& job : live.ok() ? *live : std::vector<LiveJob>{}) {
    if (job.key.namespace_name == desired.namespace_name) same_namespace.push_back(job);
  }
  StatusOr<std::vector<PlanStep>> steps = DiffJobs(wanted, same_namespace, kOurs.instance);
  EXPECT_TRUE(steps.ok() && steps->size() == 1);
  return steps.ok() && steps->size() == 1 ? steps->front() : PlanStep{};
}

TEST_F(KubernetesIntegrationTest, PruneAnnotationAddedAndRemovedIsPatchedInPlace) {
  TrainingJob job = SampleJob("keep", namespace_, 2);
  job.annotations.clear();
  ApplyOk(Action::kCreate, job);
  ASSERT_TRUE(Eventually([&] { return RunningPods("keep") == 3; }));
  const json worker_before = Kubectl("get job keep-worker -n " + namespace_);
  const json pods_before = Kubectl("get pods -n " + namespace_ + " -l jobsync.dev/job=keep");
  ASSERT_TRUE(worker_before.is_object() && pods_before.is_object());

  for (const bool protect : {true, false}) {
    SCOPED_TRACE(protect ? "adding the prune annotation" : "removing it");
    if (protect) job.annotations[kPruneAnnotation] = "false";
    if (!protect) job.annotations.erase(kPruneAnnotation);
    const PlanStep step = PlanAgainstLive(*backend_, job);
    ASSERT_STREQ(ActionName(step.action), "patch") << step.reason;
    ASSERT_TRUE(backend_->Apply(step, {"it-a", "rev-2"}).ok());

    for (const char* role : {"worker", "ps"}) {
      const json object = Kubectl("get job keep-" + std::string(role) + " -n " + namespace_);
      ASSERT_TRUE(object.is_object());
      const json& annotations = object["metadata"]["annotations"];
      EXPECT_EQ(annotations.contains(kPruneAnnotation), protect) << role;
      EXPECT_EQ(annotations[kSpecHashAnnotation], SpecHash(job)) << role;
      EXPECT_EQ(annotations[kRevisionAnnotation], "rev-2") << role;
      EXPECT_EQ(object["metadata"]["labels"]["team"], "vision") << role;
    }
    const json worker = Kubectl("get job keep-worker -n " + namespace_);
    EXPECT_EQ(worker["metadata"]["uid"], worker_before["metadata"]["uid"]);
    EXPECT_EQ(worker["spec"]["parallelism"], 2);
    const json service = Kubectl("get service keep -n " + namespace_);
    ASSERT_TRUE(service.is_object());
    // The Service has no other annotation: without this one it has none (a const operator[] on
    // the missing key is undefined; the sanitizer tree's assertions stopped here).
    EXPECT_EQ(service["metadata"].value("annotations", json::object()).contains(kPruneAnnotation),
              protect);
    EXPECT_TRUE(Eventually([&] {
      std::optional<LiveJob> live = Find("keep");
      return live && live->prune_protected == protect;
    }));
    EXPECT_EQ(PlanAgainstLive(*backend_, job).action, Action::kNone);
  }
  // The very pods that ran before still run: nothing restarted.
  const json pods_after = Kubectl("get pods -n " + namespace_ + " -l jobsync.dev/job=keep");
  std::set<std::string> before;
  std::set<std::string> after;
  for (const json& pod : pods_before["items"]) before.insert(pod["metadata"]["uid"]);
  for (const json& pod : pods_after["items"]) after.insert(pod["metadata"]["uid"]);
  EXPECT_EQ(after, before);
}

}  // namespace
}  // namespace jobsync
