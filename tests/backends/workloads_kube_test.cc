// The workloads platforms run (issue #20) against the real local cluster of scripts/cluster: the
// real kube-apiserver, the real JobSet controller and the real Kueue controller. A JobSet job is
// created, suspended, resumed, resized (recreated) and deleted, with the controller's Jobs
// checked; Kueue holds a job its queue has no quota for, jobsync reports it Queued with Kueue's
// reason and writes nothing to it while it waits, and Kueue admits it when quota frees up.
// Needs `scripts/cluster up && eval "$(scripts/cluster env)"`; fails, never skips, without it or
// without the controllers. Each test works in its own namespace wl-*, deleted after.
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include "backends/kubernetes/jobset_mapping.h"
#include "backends/kubernetes/kubernetes_backend.h"
#include "backends/kubernetes/mapping.h"
#include "diff/diff.h"
#include "kubernetes/kube_test_util.h"
#include "test_jobs.h"

namespace jobsync {
namespace {

using ::jobsync::testing::Eventually;
using ::jobsync::testing::kHowToStart;
using ::jobsync::testing::Kubectl;
using ::jobsync::testing::SampleJob;
using ::jobsync::testing::Shell;
using ::testing::HasSubstr;
using json = nlohmann::json;

const ApplyContext kOurs{"wl-a", "rev-1"};

class WorkloadsKubeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* kubeconfig = std::getenv("KUBECONFIG");
    ASSERT_TRUE(kubeconfig != nullptr && *kubeconfig != '\0')
        << "KUBECONFIG is not set; " << kHowToStart;
    ASSERT_TRUE(Shell("kubectl get --raw /readyz").has_value())
        << "the kube-apiserver does not answer; " << kHowToStart;
    ASSERT_TRUE(
        Shell("kubectl get crd jobsets.jobset.x-k8s.io workloads.kueue.x-k8s.io").has_value())
        << "the JobSet and Kueue CRDs are not installed; " << kHowToStart;
    namespace_ = "wl-" + std::to_string(getpid()) + "-" + std::to_string(++counter_);
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
    (void)Shell("kubectl delete clusterqueue jobsync-" + namespace_ + " --ignore-not-found");
  }

  // Plans `desired` against what the backend lists for it (as the agent does) and applies the
  // step; returns the step.
  PlanStep Sync(const TrainingJob& desired) {
    LoadResult wanted;
    wanted.jobs.push_back(std::make_shared<const TrainingJob>(desired));
    std::vector<LiveJob> same_job;
    for (LiveJob& job : Live()) {
      if (job.key.name == desired.name) same_job.push_back(std::move(job));
    }
    StatusOr<std::vector<PlanStep>> steps = DiffJobs(wanted, same_job, kOurs.instance);
    EXPECT_TRUE(steps.ok() && steps->size() == 1);
    if (!steps.ok() || steps->size() != 1) return {};
    const PlanStep step = steps->front();
    const Status applied = backend_->Apply(step, kOurs);
    EXPECT_TRUE(applied.ok()) << applied.ToString();
    return step;
  }

  std::vector<LiveJob> Live() {
    StatusOr<std::vector<LiveJob>> live = backend_->ListJobs();
    EXPECT_TRUE(live.ok()) << live.status().ToString();
    std::vector<LiveJob> out;
    for (const LiveJob& job : live.ok() ? *live : std::vector<LiveJob>{}) {
      if (job.key.namespace_name == namespace_) out.push_back(job);
    }
    return out;
  }

  std::optional<LiveJob> LiveOf(const std::string& name) {
    for (LiveJob& job : Live()) {
      if (job.key.name == name) return job;
    }
    return std::nullopt;
  }

  std::string HealthOf(const std::string& name) {
    StatusOr<Health> health = backend_->GetHealth({BackendKind::kKubernetes, namespace_, name});
    return health.ok() ? HealthName(*health) : health.status().ToString();
  }

  json Get(const std::string& what) { return Kubectl("get " + what + " -n " + namespace_); }

  static int64_t Parallelism(const json& job) {
    return job.is_object() ? job["spec"].value("parallelism", -1) : -1;
  }

  static bool Suspended(const json& object) {
    return object.is_object() && object["spec"].value("suspend", false);
  }

  std::string namespace_;
  std::unique_ptr<KubernetesBackend> backend_;
  static inline int counter_ = 0;
};

// A JobSet job with roles worker (`workers`) and ps (1).
TrainingJob JobSetJob(const std::string& name, const std::string& namespace_name, int workers) {
  TrainingJob job = SampleJob(name, namespace_name, workers);
  job.workload = KubernetesWorkload::kJobSet;
  return job;
}

TEST_F(WorkloadsKubeTest, JobSetIsCreatedSuspendedResumedRecreatedOnResizeAndDeleted) {
  TrainingJob job = JobSetJob("js", namespace_, 2);
  EXPECT_STREQ(ActionName(Sync(job).action), "create");

  // The controller makes one Indexed Job per role, named <name>-<role>-0, and the Service.
  ASSERT_TRUE(Eventually([&] { return Parallelism(Get("job js-worker-0")) == 2; }))
      << Get("jobset js").dump();
  ASSERT_TRUE(Eventually([&] { return Parallelism(Get("job js-ps-0")) == 1; }));
  EXPECT_EQ(Get("job js-worker-0")["spec"].value("completionMode", ""), "Indexed");
  EXPECT_TRUE(Get("service js").is_object());
  const json jobset = Get("jobset js");
  ASSERT_TRUE(jobset.is_object());
  EXPECT_EQ(jobset["metadata"]["labels"].value(kInstanceLabel, ""), kOurs.instance);
  const std::string first_uid = jobset["metadata"]["uid"];

  // Listed once, from the JobSet (the controller's Jobs are not a second job), in sync.
  std::vector<LiveJob> live = Live();
  ASSERT_EQ(live.size(), 1u);
  EXPECT_EQ(live[0].key.name, "js");
  EXPECT_EQ(live[0].replicas, (std::map<std::string, int>{{"ps", 1}, {"worker", 2}}));
  ASSERT_NE(live[0].applied, nullptr);
  EXPECT_TRUE(live[0].applied->SameSpecAs(job) || live[0].applied->name == "js");
  EXPECT_STREQ(ActionName(Sync(job).action), "none");
  ASSERT_TRUE(Eventually([&] { return HealthOf("js") == "Healthy"; }, std::chrono::seconds(90)))
      << HealthOf("js");

  // Suspend and resume in place: the same JobSet, its Jobs suspended and resumed.
  job.suspend = true;
  EXPECT_STREQ(ActionName(Sync(job).action), "scale");
  EXPECT_TRUE(Suspended(Get("jobset js")));
  ASSERT_TRUE(Eventually([&] { return Suspended(Get("job js-worker-0")); }));
  ASSERT_TRUE(Eventually([&] { return HealthOf("js") == "Suspended"; })) << HealthOf("js");
  ASSERT_TRUE(Eventually([&] {
    std::optional<LiveJob> found = LiveOf("js");
    return found && found->phase == LivePhase::kSuspended;
  }));
  job.suspend = false;
  EXPECT_STREQ(ActionName(Sync(job).action), "scale");
  ASSERT_TRUE(Eventually([&] { return !Suspended(Get("job js-worker-0")); }));
  EXPECT_EQ(Get("jobset js")["metadata"]["uid"], first_uid);

  // A replica change recreates the JobSet: a new uid, the worker Job with the new parallelism.
  job.roles["worker"].replicas = 3;
  const PlanStep resize = Sync(job);
  EXPECT_STREQ(ActionName(resize.action), "update") << resize.reason;
  EXPECT_THAT(resize.reason, HasSubstr("JobSet"));
  ASSERT_TRUE(Eventually([&] { return Parallelism(Get("job js-worker-0")) == 3; }));
  EXPECT_NE(Get("jobset js")["metadata"]["uid"], first_uid);

  // Delete: the JobSet goes, and with it the controller's Jobs.
  PlanStep remove;
  remove.action = Action::kDelete;
  remove.key = job.key();
  ASSERT_TRUE(backend_->Apply(remove, kOurs).ok());
  EXPECT_FALSE(Get("jobset js").is_object());
  ASSERT_TRUE(Eventually([&] { return !Get("job js-worker-0").is_object(); }));
  ASSERT_TRUE(Eventually([&] { return Live().empty(); }));
}

TEST_F(WorkloadsKubeTest, JobSetHealthFollowsItsConditionsToSucceeded) {
  TrainingJob job = JobSetJob("done", namespace_, 1);
  job.labels["jobsync.dev/kwok-complete"] = "true";  // kwok completes these pods
  EXPECT_STREQ(ActionName(Sync(job).action), "create");
  ASSERT_TRUE(
      Eventually([&] { return HealthOf("done") == "Succeeded"; }, std::chrono::seconds(120)))
      << HealthOf("done") << " " << Get("jobset done").dump();
  std::optional<LiveJob> live = LiveOf("done");
  ASSERT_TRUE(live.has_value());
  EXPECT_EQ(live->phase, LivePhase::kSucceeded);
  const json jobset = Get("jobset done");
  EXPECT_EQ(jobset["status"].value("terminalState", ""), "Completed");
}

// A one-replica job in queue "main" asking for `cpu` cores and nothing Kueue does not cover.
TrainingJob QueuedJob(const std::string& name, const std::string& namespace_name,
                      KubernetesWorkload workload) {
  TrainingJob job;
  job.name = name;
  job.namespace_name = namespace_name;
  job.image = "registry.example/train:1";
  job.command = {"python", "train.py"};
  job.roles["worker"].replicas = 1;
  job.roles["worker"].resources.cpu = testing::Q("1");
  job.roles["worker"].resources.memory = testing::Q("256Mi");
  job.queue = "main";
  job.workload = workload;
  job.source.path = "jobs/" + name + ".yaml";
  return job;
}

class KueueKubeTest : public WorkloadsKubeTest,
                      public ::testing::WithParamInterface<KubernetesWorkload> {
 protected:
  void SetUp() override {
    WorkloadsKubeTest::SetUp();
    if (HasFatalFailure()) return;
    std::string error;
    ASSERT_TRUE(
        Shell(std::string(JOBSYNC_SOURCE_DIR) + "/scripts/cluster queue " + namespace_ + " 1",
              &error)
            .has_value())
        << "scripts/cluster queue failed: " << error << "; " << kHowToStart;
    ASSERT_TRUE(Eventually([&] { return Get("localqueue main").is_object(); }));
  }

  // The workload object Kueue manages for a job: its Job, or its JobSet.
  json Workload(const std::string& name) {
    return GetParam() == KubernetesWorkload::kJobSet ? Get("jobset " + name)
                                                     : Get("job " + name + "-worker");
  }
};

TEST_P(KueueKubeTest, QueuedJobIsNeverResumedAndIsAdmittedWhenQuotaFrees) {
  const TrainingJob first = QueuedJob("first", namespace_, GetParam());
  const TrainingJob second = QueuedJob("second", namespace_, GetParam());
  EXPECT_STREQ(ActionName(Sync(first).action), "create");
  ASSERT_TRUE(Eventually([&] { return !Suspended(Workload("first")); }))
      << "Kueue did not admit the first job: " << Workload("first").dump();
  EXPECT_STREQ(ActionName(Sync(second).action), "create");
  ASSERT_TRUE(Eventually([&] {
    std::optional<LiveJob> live = LiveOf("second");
    return live && live->phase == LivePhase::kQueued && !live->phase_message.empty();
  })) << "the second job is not reported Queued with Kueue's reason";
  std::optional<LiveJob> queued = LiveOf("second");
  ASSERT_TRUE(queued.has_value());
  EXPECT_THAT(queued->phase_message, HasSubstr("insufficient"));
  EXPECT_EQ(HealthOf("second"), "Queued");
  EXPECT_TRUE(Suspended(Workload("second")));

  // Ten sync cycles: nothing planned for the queued job, and nothing written to it.
  const std::string version = Workload("second")["metadata"]["resourceVersion"];
  for (int cycle = 0; cycle < 10; ++cycle) {
    const PlanStep step = Sync(second);
    EXPECT_STREQ(ActionName(step.action), "none") << "cycle " << cycle << ": " << step.reason;
  }
  EXPECT_EQ(Workload("second")["metadata"]["resourceVersion"], version);

  // The first job leaves: Kueue admits the second, with no write from jobsync.
  PlanStep remove;
  remove.action = Action::kDelete;
  remove.key = first.key();
  ASSERT_TRUE(backend_->Apply(remove, kOurs).ok());
  ASSERT_TRUE(Eventually([&] { return !Suspended(Workload("second")); }, std::chrono::seconds(90)))
      << Workload("second").dump();
  ASSERT_TRUE(Eventually([&] {
    std::optional<LiveJob> live = LiveOf("second");
    return live && live->phase != LivePhase::kQueued;
  }));
  EXPECT_STREQ(ActionName(Sync(second).action), "none");
}

TEST_P(KueueKubeTest, SuspendInGitDeactivatesTheKueueWorkloadAndResumeRequeuesIt) {
  TrainingJob job = QueuedJob("held", namespace_, GetParam());
  EXPECT_STREQ(ActionName(Sync(job).action), "create");
  ASSERT_TRUE(Eventually([&] { return !Suspended(Workload("held")); }));

  job.suspend = true;
  EXPECT_STREQ(ActionName(Sync(job).action), "scale");
  // Kueue evicts the deactivated workload and suspends it; it stays so.
  ASSERT_TRUE(Eventually([&] { return Suspended(Workload("held")); }, std::chrono::seconds(60)))
      << Workload("held").dump();
  const json workloads = Get("workloads.kueue.x-k8s.io");
  ASSERT_TRUE(workloads.is_object());
  ASSERT_EQ(workloads["items"].size(), 1u);
  EXPECT_FALSE(workloads["items"][0]["spec"].value("active", true));
  std::this_thread::sleep_for(std::chrono::seconds(3));
  EXPECT_TRUE(Suspended(Workload("held")));
  ASSERT_TRUE(Eventually([&] {
    std::optional<LiveJob> live = LiveOf("held");
    return live && live->phase == LivePhase::kSuspended;
  }));
  EXPECT_STREQ(ActionName(Sync(job).action), "none");

  job.suspend = false;
  EXPECT_STREQ(ActionName(Sync(job).action), "scale");
  ASSERT_TRUE(Eventually([&] { return !Suspended(Workload("held")); }, std::chrono::seconds(60)))
      << Workload("held").dump();
  EXPECT_TRUE(Get("workloads.kueue.x-k8s.io")["items"][0]["spec"].value("active", false));
}

INSTANTIATE_TEST_SUITE_P(Workloads, KueueKubeTest,
                         ::testing::Values(KubernetesWorkload::kJob, KubernetesWorkload::kJobSet),
                         [](const ::testing::TestParamInfo<KubernetesWorkload>& param) {
                           return std::string(KubernetesWorkloadName(param.param));
                         });

}  // namespace
}  // namespace jobsync
