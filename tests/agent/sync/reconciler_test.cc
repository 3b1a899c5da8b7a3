// Unit tests of the reconcile loop's logic: a real Git repository (read through the real
// GitSource), the real file state store, and an in-memory backend that behaves like a cluster
// (applies change its live jobs). The same behaviours run against the real apiserver and Ray head
// in tests/cli/agent_test.sh.
#include "agent/sync/reconciler.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include "agent/git/git_source.h"
#include "agent/sync/state_store.h"
#include "common/metrics.h"
#include "schemas/schema_validator.h"
#include "tests/agent/git/git_test_util.h"

namespace jobsync {
namespace {

using ::jobsync::testing::JobYaml;
using ::jobsync::testing::TempDir;
using ::jobsync::testing::TestOptions;
using ::jobsync::testing::TestRepo;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

// A cluster in memory: Apply changes the live jobs as a real backend would.
class MemoryCluster : public Backend {
 public:
  explicit MemoryCluster(BackendKind kind = BackendKind::kKubernetes) : kind_(kind) {}
  BackendKind kind() const override { return kind_; }
  StatusOr<std::vector<LiveJob>> ListJobs() override {
    ++lists;
    if (before_list) before_list();
    if (!list_error.ok()) return list_error;
    std::vector<LiveJob> out;
    for (const auto& [key, job] : live) out.push_back(job);
    return out;
  }
  Status Apply(const PlanStep& step, const ApplyContext& context) override {
    applied.push_back(std::string(ActionName(step.action)) + " " + step.key.name);
    if (before_apply) before_apply(step);
    if (while_applying) while_applying(context);
    if (!apply_error.ok()) return apply_error;
    if (step.action == Action::kDelete) {
      live.erase(step.key);
      return OkStatus();
    }
    LiveJob& job = live[step.key];
    job.key = step.key;
    job.applied = std::make_shared<const TrainingJob>(*step.desired);
    job.replicas.clear();
    for (const auto& [name, role] : step.desired->roles) job.replicas[name] = role.replicas;
    job.phase = step.desired->suspend ? LivePhase::kSuspended : LivePhase::kRunning;
    job.instance = context.instance;
    job.revision = context.revision;
    job.source_path = step.desired->source.path;
    return OkStatus();
  }
  StatusOr<Health> GetHealth(const JobKey& key) override {
    return live.count(key) != 0 ? Health::kHealthy : Health::kMissing;
  }
  std::optional<uint64_t> LiveVersion() override { return version; }

  std::map<JobKey, LiveJob> live;
  int lists = 0;
  std::optional<uint64_t> version;  // as a watch cache would report; none by default
  std::vector<std::string> applied;
  Status list_error;
  Status apply_error;
  std::function<void(const PlanStep&)> before_apply;
  std::function<void()> before_list;
  std::function<void(const ApplyContext&)> while_applying;  // a step that waits on the cluster

 private:
  BackendKind kind_;
};

// A gate a test opens: what waits on it hangs like a cluster that accepts and never answers.
class Gate {
 public:
  void Wait() {
    std::unique_lock<std::mutex> lock(mutex_);
    opened_.wait(lock, [this] { return open_; });
  }
  void Open() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      open_ = true;
    }
    opened_.notify_all();
  }

 private:
  std::mutex mutex_;
  std::condition_variable opened_;
  bool open_ = false;
};

std::string RayJobYaml(const std::string& name) {
  return "apiVersion: jobsync.dev/v1alpha1\nkind: TrainingJob\nmetadata:\n  name: " + name +
         "\n  namespace: default\nspec:\n  backend: ray\n  roles:\n    worker: {replicas: 1}\n"
         "  ray:\n    entrypoint: python train.py\n";
}

JobKey Key(const std::string& name) { return {BackendKind::kKubernetes, "default", name}; }

class ReconcilerTest : public ::testing::Test {
 protected:
  ReconcilerTest() : repo_(dir_.path() / "repo") {
    repo_.Write("jobs/a.yaml", JobYaml("a"));
    repo_.Write("jobs/b.yaml", JobYaml("b"));
    head_ = repo_.Commit("Add a and b");
  }

  // A reconciler over the repository, the memory cluster and the state file (a new one per
  // call, like a restarted agent).
  std::unique_ptr<Reconciler> NewReconciler(DriftPolicy drift = DriftPolicy::kHeal) {
    // A file:// URL: a remote that is fetched and can become unreachable (a local path is read
    // in place and must exist when the source is made).
    auto source = NewGitSource(TestOptions("file://" + repo_.dir().string(), dir_.path() / "cache"),
                               validator_);
    EXPECT_TRUE(source.ok()) << source.status().ToString();
    source_ = std::move(*source);
    store_ = NewFileStateStore((dir_.path() / "state.json").string());
    metrics_ = std::make_unique<Metrics>();
    ReconcilerOptions options;
    options.plan.instance = "test";
    options.plan.max_delete_share = max_delete_share_;
    options.plan.drift = drift;
    options.interval = interval_;
    options.settle = settle_;
    options.may_write = may_write_;
    options.notifier = notifier_;
    options.backend_timeout = backend_timeout_;
    std::vector<Backend*> backends = {&cluster_};
    if (second_ != nullptr) backends.push_back(second_);
    auto reconciler = std::make_unique<Reconciler>(*source_, backends, std::map<Target, Status>{},
                                                   *store_, *metrics_, options);
    Status started = reconciler->Start();
    EXPECT_TRUE(started.ok()) << started.ToString();
    return reconciler;
  }

  // The reconciler's cycle count once it reaches `count`, or after 10 s (a running loop).
  static int64_t WaitForCycles(Reconciler& reconciler, int64_t count) {
    for (int i = 0; i < 500 && reconciler.cycles() < count; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return reconciler.cycles();
  }

  // Reports a live change until cycle `count` has run (at most 10 s), and returns the cycles.
  // The loop takes a change that arrives between a cycle's end and its next wait for the cycle's
  // own write coming back through the watch, and drops it (by design); one report right after
  // the count moved can fall there when the machine is busy, so it is repeated while no cycle
  // came. A repeat during a cycle falls before its end and is dropped with its writes' echoes.
  static int64_t LiveChangeUntilCycle(Reconciler& reconciler, int64_t count) {
    for (int i = 0; i < 20 && reconciler.cycles() < count; ++i) {
      reconciler.LiveChanged();
      for (int j = 0; j < 25 && reconciler.cycles() < count; ++j) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
    }
    return reconciler.cycles();
  }

  // The job's entry in the status document.
  nlohmann::json JobStatusOf(const Reconciler& reconciler, const std::string& name) {
    const nlohmann::json status = reconciler.StatusJson();
    for (const nlohmann::json& job : status["jobs"]) {
      if (job["name"] == name) return job;
    }
    return nullptr;
  }

  TempDir dir_;
  TestRepo repo_;
  std::string head_;
  SchemaValidator validator_;
  std::unique_ptr<GitSource> source_;
  std::unique_ptr<StateStore> store_;
  std::unique_ptr<Metrics> metrics_;
  MemoryCluster cluster_;
  std::chrono::milliseconds interval_{30000};
  std::chrono::milliseconds settle_{500};
  std::chrono::milliseconds backend_timeout_{30000};
  Backend* second_ = nullptr;  // a second cluster, when a test has one
  std::function<bool()> may_write_;
  SyncNotifier* notifier_ = nullptr;
  double max_delete_share_ = 1.0;
};

// Captures what the default logger writes while it lives.
class LogCapture {
 public:
  LogCapture() : previous_(spdlog::default_logger()) {
    spdlog::set_default_logger(std::make_shared<spdlog::logger>(
        "capture", std::make_shared<spdlog::sinks::ostream_sink_mt>(out_)));
  }
  ~LogCapture() { spdlog::set_default_logger(previous_); }
  LogCapture(const LogCapture&) = delete;
  LogCapture& operator=(const LogCapture&) = delete;

  // How many lines contain `text`.
  int Lines(const std::string& text) const {
    std::istringstream in(out_.str());
    int count = 0;
    for (std::string line; std::getline(in, line);) count += line.find(text) != std::string::npos;
    return count;
  }

 private:
  std::ostringstream out_;
  std::shared_ptr<spdlog::logger> previous_;
};

// Records what the reconciler reports.
struct RecordingNotifier : SyncNotifier {
  void SyncFinished(const SyncReport& report) override { reports.push_back(report); }
  std::vector<SyncReport> reports;
};

TEST_F(ReconcilerTest, FirstCycleCreatesEverythingAndTheNextDoesNothing) {
  auto reconciler = NewReconciler();
  Status first = reconciler->SyncOnce();
  ASSERT_TRUE(first.ok()) << first.ToString();
  EXPECT_THAT(cluster_.applied, ElementsAre("create a", "create b"));
  EXPECT_EQ(cluster_.live[Key("a")].revision, head_);

  cluster_.applied.clear();
  EXPECT_TRUE(reconciler->SyncOnce().ok());
  EXPECT_THAT(cluster_.applied, IsEmpty());
  nlohmann::json status = reconciler->StatusJson();
  EXPECT_EQ(status["lastAppliedRevision"], head_);
  EXPECT_EQ(JobStatusOf(*reconciler, "a")["sync"], "Synced");
  EXPECT_EQ(JobStatusOf(*reconciler, "a")["appliedAuthor"], "Alice Example");
  EXPECT_EQ(metrics_->Value("jobsync_applied_actions_total",
                            {{"cluster", "default"}, {"action", "create"}, {"result", "ok"}}),
            2);
  EXPECT_TRUE(reconciler->Ready().ready) << reconciler->Ready().reason;
}

TEST_F(ReconcilerTest, NothingChangedMeansNoListingAndNoPlanning) {
  cluster_.version = 7;
  auto reconciler = NewReconciler();
  ASSERT_TRUE(reconciler->SyncOnce().ok());  // creates
  ASSERT_TRUE(reconciler->SyncOnce().ok());  // plans: nothing to do
  int lists = cluster_.lists;
  ASSERT_TRUE(reconciler->SyncOnce().ok());
  ASSERT_TRUE(reconciler->SyncOnce().ok());
  EXPECT_EQ(cluster_.lists, lists);  // same commit, same live version: not even listed
  // A live change (the watch moved the version) is seen at once.
  cluster_.live[Key("a")].replicas["worker"] = 7;
  cluster_.version = 8;
  cluster_.applied.clear();
  ASSERT_TRUE(reconciler->SyncOnce().ok());
  EXPECT_THAT(cluster_.applied, ElementsAre("scale a"));
  // So is a new commit.
  ASSERT_TRUE(reconciler->SyncOnce().ok());
  repo_.Write("jobs/b.yaml", JobYaml("b", "default", "trainer:v1", 3));
  repo_.Commit("Scale b");
  ASSERT_TRUE(reconciler->SyncOnce().ok());
  EXPECT_THAT(cluster_.applied, ElementsAre("scale a", "scale b"));
}

TEST_F(ReconcilerTest, FollowsANewCommit) {
  auto reconciler = NewReconciler(DriftPolicy::kWarn);
  ASSERT_TRUE(reconciler->SyncOnce().ok());
  repo_.Write("jobs/a.yaml", JobYaml("a", "default", "trainer:v1", 5));
  repo_.Git("rm -q jobs/b.yaml");
  std::string second = repo_.Commit("Scale a, drop b", "Bob Example");
  cluster_.applied.clear();
  ASSERT_TRUE(reconciler->SyncOnce().ok());
  // A change in Git is not drift, whatever the drift policy.
  EXPECT_THAT(cluster_.applied, ElementsAre("scale a", "delete b"));
  EXPECT_EQ(cluster_.live[Key("a")].replicas["worker"], 5);
  EXPECT_EQ(JobStatusOf(*reconciler, "a")["appliedAuthor"], "Bob Example");
  EXPECT_EQ(reconciler->StatusJson()["lastAppliedRevision"], second);
}

TEST_F(ReconcilerTest, TheJobViewShowsEachStepWithTheAppliedAndTheDesiredSpec) {
  auto reconciler = NewReconciler();
  ASSERT_TRUE(reconciler->SyncOnce().ok());
  repo_.Write("jobs/a.yaml", JobYaml("a", "default", "trainer:v1", 5));
  repo_.Commit("Scale a");
  ASSERT_TRUE(reconciler->SyncOnce().ok());
  // The step that scaled a, from the spec applied before (2 workers) to Git's (5).
  std::optional<nlohmann::json> a = reconciler->JobDetail(Key("a").ToString());
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ((*a)["step"]["action"], "scale");
  EXPECT_EQ((*a)["appliedSpec"]["spec"]["roles"]["worker"]["replicas"], 2);
  EXPECT_EQ((*a)["desiredSpec"]["spec"]["roles"]["worker"]["replicas"], 5);
  // A job in sync: its step does nothing, and both specs are shown, equal.
  std::optional<nlohmann::json> b = reconciler->JobDetail(Key("b").ToString());
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ((*b)["step"]["action"], "none");
  EXPECT_FALSE((*b)["appliedSpec"].is_null());
  EXPECT_EQ((*b)["appliedSpec"], (*b)["desiredSpec"]);
  EXPECT_FALSE(reconciler->JobDetail(Key("nope").ToString()).has_value());
  // Only the key's exact text finds it: not a prefix, a longer text, another cluster or backend.
  for (const std::string near : {"kubernetes/default/", "kubernetes/default/a@gpu-east",
                                 "kubernetes/default/ab", "ray/default/a", "kubernetes/a/a"}) {
    EXPECT_FALSE(reconciler->JobDetail(near).has_value()) << near;
  }
  JobKey elsewhere = Key("a");
  elsewhere.cluster = "gpu-east";
  EXPECT_FALSE(reconciler->JobDetail(elsewhere.ToString()).has_value());
}

TEST_F(ReconcilerTest, HealsDriftByDefault) {
  auto reconciler = NewReconciler();
  ASSERT_TRUE(reconciler->SyncOnce().ok());
  cluster_.live[Key("a")].replicas["worker"] = 7;  // scaled by hand
  cluster_.live.erase(Key("b"));                   // deleted by hand
  cluster_.applied.clear();
  ASSERT_TRUE(reconciler->SyncOnce().ok());
  EXPECT_THAT(cluster_.applied, ElementsAre("scale a", "create b"));
  EXPECT_EQ(cluster_.live[Key("a")].replicas["worker"], 2);
  EXPECT_EQ(metrics_->Value("jobsync_drift_detected_total", {{"policy", "heal"}}), 2);
}

TEST_F(ReconcilerTest, WarnReportsDriftWithoutRevertingIt) {
  auto reconciler = NewReconciler(DriftPolicy::kWarn);
  ASSERT_TRUE(reconciler->SyncOnce().ok());
  cluster_.live[Key("a")].replicas["worker"] = 7;
  cluster_.applied.clear();
  EXPECT_TRUE(reconciler->SyncOnce().ok());
  EXPECT_THAT(cluster_.applied, IsEmpty());
  EXPECT_EQ(cluster_.live[Key("a")].replicas["worker"], 7);
  nlohmann::json a = JobStatusOf(*reconciler, "a");
  EXPECT_EQ(a["sync"], "Drifted");
  EXPECT_THAT(a["lastError"].get<std::string>(), HasSubstr("changed outside Git"));
  EXPECT_EQ(JobStatusOf(*reconciler, "b")["sync"], "Synced");
}

TEST_F(ReconcilerTest, ACommitAppliedByARunThatCrashedBeforeSavingIsNotDrift) {
  ASSERT_TRUE(NewReconciler(DriftPolicy::kWarn)->SyncOnce().ok());  // the inventory: a at 2
  repo_.Write("jobs/a.yaml", JobYaml("a", "default", "trainer:v1", 5));
  repo_.Commit("Scale a to 5");
  // A run applied that commit and was killed before it saved its state.
  LiveJob& a = cluster_.live[Key("a")];
  TrainingJob applied = *a.applied;
  applied.roles["worker"].replicas = 5;
  a.applied = std::make_shared<const TrainingJob>(std::move(applied));
  a.replicas["worker"] = 5;
  repo_.Write("jobs/a.yaml", JobYaml("a"));
  repo_.Commit("Scale a back to 2");
  cluster_.applied.clear();
  auto restarted = NewReconciler(DriftPolicy::kWarn);
  ASSERT_TRUE(restarted->SyncOnce().ok());
  EXPECT_THAT(cluster_.applied, ElementsAre("scale a"));
  EXPECT_EQ(cluster_.live[Key("a")].replicas["worker"], 2);
  EXPECT_EQ(metrics_->Value("jobsync_drift_detected_total", {{"policy", "warn"}}), 0);
}

TEST_F(ReconcilerTest, OffLeavesDriftAlone) {
  auto reconciler = NewReconciler(DriftPolicy::kOff);
  ASSERT_TRUE(reconciler->SyncOnce().ok());
  cluster_.live.erase(Key("b"));
  cluster_.applied.clear();
  (void)reconciler->SyncOnce();
  EXPECT_THAT(cluster_.applied, IsEmpty());
  EXPECT_EQ(JobStatusOf(*reconciler, "b")["sync"], "OutOfSync");
}

TEST_F(ReconcilerTest, AFinishedJobThatDisappearsIsNotRunAgain) {
  auto reconciler = NewReconciler();
  ASSERT_TRUE(reconciler->SyncOnce().ok());
  cluster_.live[Key("a")].phase = LivePhase::kSucceeded;
  ASSERT_TRUE(reconciler->SyncOnce().ok());  // the inventory notes that `a` finished
  cluster_.live.erase(Key("a"));             // a TTL controller, or a person, removed it
  cluster_.applied.clear();
  ASSERT_TRUE(reconciler->SyncOnce().ok());
  EXPECT_THAT(cluster_.applied, IsEmpty());
  // A changed spec runs it again: that is what the commit asks for.
  repo_.Write("jobs/a.yaml", JobYaml("a", "default", "trainer:v2"));
  repo_.Commit("New image for a");
  ASSERT_TRUE(reconciler->SyncOnce().ok());
  EXPECT_THAT(cluster_.applied, ElementsAre("create a"));
}

TEST_F(ReconcilerTest, ARestartedAgentRerunsNothingAndStillKnowsItsInventory) {
  {
    auto reconciler = NewReconciler();
    ASSERT_TRUE(reconciler->SyncOnce().ok());
    cluster_.live[Key("a")].phase = LivePhase::kSucceeded;
    ASSERT_TRUE(reconciler->SyncOnce().ok());
  }
  cluster_.live.erase(Key("a"));
  cluster_.applied.clear();
  auto restarted = NewReconciler();
  ASSERT_TRUE(restarted->SyncOnce().ok());
  EXPECT_THAT(cluster_.applied, IsEmpty());
  cluster_.live[Key("b")].replicas["worker"] = 9;
  ASSERT_TRUE(restarted->SyncOnce().ok());
  EXPECT_THAT(cluster_.applied, ElementsAre("scale b"));
}

TEST_F(ReconcilerTest, AnUnreachableRemoteKeepsTheLastSnapshotAndDeletesNothing) {
  auto reconciler = NewReconciler();
  ASSERT_TRUE(reconciler->SyncOnce().ok());
  std::filesystem::rename(repo_.dir(), dir_.path() / "moved");
  cluster_.live[Key("a")].replicas["worker"] = 7;
  cluster_.applied.clear();
  Status result = reconciler->SyncOnce();
  EXPECT_FALSE(result.ok());
  // Drift is still healed from the last snapshot; nothing is taken for deleted.
  EXPECT_THAT(cluster_.applied, ElementsAre("scale a"));
  nlohmann::json status = reconciler->StatusJson();
  EXPECT_EQ(status["git"]["ok"], false);
  // A Git outage is a condition, not unreadiness: every replica would leave service at once.
  EXPECT_TRUE(reconciler->Ready().ready);
  EXPECT_EQ(status["conditions"][0]["type"], "Ready");
  EXPECT_EQ(status["conditions"][0]["status"], "False");
  EXPECT_EQ(status["conditions"][0]["reason"], "GitUnavailable");
  EXPECT_EQ(metrics_->Value("jobsync_git_errors_total", {{"operation", "check"}}), 1);
}

TEST_F(ReconcilerTest, TheLastSuccessfulSyncTimeMovesOnlyWithCyclesThatSucceed) {
  const char* kLastSuccess = "jobsync_last_successful_sync_timestamp_seconds";
  auto reconciler = NewReconciler();
  EXPECT_EQ(metrics_->Render().find("\n" + std::string(kLastSuccess) + " "), std::string::npos)
      << "no series before the first cycle";
  const double before =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  ASSERT_TRUE(reconciler->SyncOnce().ok());
  const double first = metrics_->Value(kLastSuccess, {});
  EXPECT_GE(first, before);
  EXPECT_LE(first, before + 60);

  std::filesystem::rename(repo_.dir(), dir_.path() / "moved");
  EXPECT_FALSE(reconciler->SyncOnce().ok());
  EXPECT_EQ(metrics_->Value(kLastSuccess, {}), first) << "a failed cycle is not a success";
}

TEST_F(ReconcilerTest, WhileGitCannotBeReadEveryJobIsUnknown) {
  auto reconciler = NewReconciler();
  ASSERT_TRUE(reconciler->SyncOnce().ok());
  EXPECT_EQ(JobStatusOf(*reconciler, "a")["sync"], "Synced");
  std::filesystem::rename(repo_.dir(), dir_.path() / "moved");
  EXPECT_FALSE(reconciler->SyncOnce().ok());
  for (const char* name : {"a", "b"}) {
    const nlohmann::json job = JobStatusOf(*reconciler, name);
    EXPECT_EQ(job["sync"], "Unknown") << name;
    EXPECT_THAT(job["lastError"].get<std::string>(), HasSubstr("Git cannot be read: ")) << name;
  }
  std::filesystem::rename(dir_.path() / "moved", repo_.dir());
  ASSERT_TRUE(reconciler->SyncOnce().ok());
  EXPECT_EQ(JobStatusOf(*reconciler, "a")["sync"], "Synced");
}

// A commit that deletes 80% of the jobs and scales another: the scale is applied, the deletes
// are held and listed, and the status still lists every job.
TEST_F(ReconcilerTest, AMassDeleteHoldsTheDeletesAndAppliesTheRest) {
  for (const char* name : {"c", "d", "e"})
    repo_.Write(std::string("jobs/") + name + ".yaml", JobYaml(name));
  repo_.Commit("Add c, d and e");
  max_delete_share_ = 0.5;
  auto reconciler = NewReconciler();
  ASSERT_TRUE(reconciler->SyncOnce().ok());
  repo_.Git("rm -q jobs/b.yaml jobs/c.yaml jobs/d.yaml jobs/e.yaml");
  repo_.Write("jobs/a.yaml", JobYaml("a", "default", "trainer:v1", 4));
  repo_.Commit("Drop four jobs, scale a");
  cluster_.applied.clear();
  const Status result = reconciler->SyncOnce();
  EXPECT_THAT(cluster_.applied, ElementsAre("scale a"));
  EXPECT_EQ(cluster_.live[Key("a")].replicas["worker"], 4);
  EXPECT_EQ(cluster_.live.size(), 5u);
  EXPECT_THAT(result.message(), HasSubstr("--allow-mass-delete"));
  const nlohmann::json status = reconciler->StatusJson();
  ASSERT_EQ(status["jobs"].size(), 5u) << status["jobs"].dump();
  EXPECT_EQ(JobStatusOf(*reconciler, "a")["sync"], "Synced");
  for (const char* name : {"b", "c", "d", "e"}) {
    const nlohmann::json job = JobStatusOf(*reconciler, name);
    EXPECT_EQ(job["sync"], "OutOfSync") << name;
    EXPECT_THAT(job["lastError"].get<std::string>(),
                HasSubstr("would delete 4 of the 5 live jobs owned by instance 'test' (80%)"));
  }
  const std::string plan_text = status["plan"]["text"].get<std::string>();
  EXPECT_THAT(plan_text, HasSubstr("kubernetes/default/e: none, error (delete held"));
  EXPECT_EQ(plan_text.find("plan refused: plan refused"), std::string::npos);
  EXPECT_EQ(status["plan"]["steps"]["summary"]["held"], 4);
  EXPECT_EQ(metrics_->Value("jobsync_deletes_held", {}), 4);
  // Not in sync: the revision is not recorded as applied.
  EXPECT_NE(status["lastAppliedRevision"], repo_.Git("rev-parse HEAD").substr(0, 40));
}

TEST_F(ReconcilerTest, AJobKeptByThePruneAnnotationIsKeptAndLoggedOnce) {
  auto reconciler = NewReconciler();
  ASSERT_TRUE(reconciler->SyncOnce().ok());
  cluster_.live[Key("b")].prune_protected = true;
  repo_.Git("rm -q jobs/b.yaml");
  repo_.Commit("Drop b");
  LogCapture logs;
  ASSERT_TRUE(reconciler->SyncOnce().ok());
  cluster_.live[Key("a")].replicas["worker"] = 3;  // a change, so that the next cycle plans
  ASSERT_TRUE(reconciler->SyncOnce().ok());
  EXPECT_THAT(cluster_.applied, ElementsAre("create a", "create b", "scale a"));
  const nlohmann::json b = JobStatusOf(*reconciler, "b");
  EXPECT_EQ(b["sync"], "Kept");
  EXPECT_THAT(b["lastAction"].get<std::string>(), HasSubstr("prune skipped: protected"));
  EXPECT_EQ(logs.Lines("prune skipped"), 1);
}

TEST_F(ReconcilerTest, ASecondWritersScaleRevertedIsDriftInStatusAndMetrics) {
  auto reconciler = NewReconciler();
  ASSERT_TRUE(reconciler->SyncOnce().ok());
  cluster_.live[Key("a")].replicas["worker"] = 1;  // a second writer scales a to 1
  LogCapture logs;
  ASSERT_TRUE(reconciler->SyncOnce().ok());
  EXPECT_EQ(cluster_.live[Key("a")].replicas["worker"], 2);
  EXPECT_EQ(JobStatusOf(*reconciler, "a")["drift"], true);
  EXPECT_EQ(JobStatusOf(*reconciler, "b")["drift"], false);
  EXPECT_EQ(metrics_->Value("jobsync_drift_detected_total", {{"policy", "heal"}}), 1);
  EXPECT_EQ(logs.Lines("drift: healing"), 1);
}

TEST_F(ReconcilerTest, WithoutAnySnapshotNothingIsPlanned) {
  std::filesystem::rename(repo_.dir(), dir_.path() / "moved");
  auto reconciler = NewReconciler();
  cluster_.live[Key("old")] = {};
  cluster_.live[Key("old")].key = Key("old");
  cluster_.live[Key("old")].instance = "test";
  EXPECT_FALSE(reconciler->SyncOnce().ok());
  EXPECT_THAT(cluster_.applied, IsEmpty());
  EXPECT_TRUE(reconciler->Ready().ready);
  EXPECT_EQ(reconciler->StatusJson()["conditions"][0]["reason"], "GitUnavailable");
}

TEST_F(ReconcilerTest, AnUnreadableClusterIsReportedAndNotWritten) {
  auto reconciler = NewReconciler();
  cluster_.list_error = UnavailableError("connection refused");
  Status result = reconciler->SyncOnce();
  EXPECT_FALSE(result.ok());
  EXPECT_THAT(result.message(), HasSubstr("connection refused"));
  EXPECT_THAT(cluster_.applied, IsEmpty());
  EXPECT_EQ(reconciler->StatusJson()["backends"]["kubernetes"]["ok"], false);
  EXPECT_TRUE(reconciler->Ready().ready);
  EXPECT_EQ(reconciler->StatusJson()["conditions"][0]["reason"], "BackendUnavailable");
  EXPECT_EQ(reconciler->StatusJson()["conditions"][0]["status"], "False");
}

TEST_F(ReconcilerTest, TellsTheNotifierTheOutcomeWhenItWritesAndGitAnswered) {
  RecordingNotifier recorder;
  notifier_ = &recorder;
  auto reconciler = NewReconciler();
  ASSERT_TRUE(reconciler->SyncOnce().ok());
  ASSERT_EQ(recorder.reports.size(), 1u);
  EXPECT_EQ(recorder.reports[0].commit, head_);
  EXPECT_TRUE(recorder.reports[0].ok);
  ASSERT_EQ(recorder.reports[0].jobs.size(), 2u);
  EXPECT_EQ(recorder.reports[0].jobs[0].key, Key("a").ToString());

  cluster_.apply_error = InternalError("quota exceeded");
  repo_.Write("jobs/c.yaml", JobYaml("c"));
  repo_.Commit("Add c");
  EXPECT_FALSE(reconciler->SyncOnce().ok());
  ASSERT_EQ(recorder.reports.size(), 2u);
  EXPECT_FALSE(recorder.reports[1].ok);
  EXPECT_NE(recorder.reports[1].commit, head_);
  EXPECT_THAT(recorder.reports[1].message, HasSubstr("quota exceeded"));

  // Git unreachable: no outcome of a commit to report.
  std::filesystem::rename(repo_.dir(), dir_.path() / "moved");
  EXPECT_FALSE(reconciler->SyncOnce().ok());
  EXPECT_EQ(recorder.reports.size(), 2u);

  // A standby reports nothing: the leader does.
  std::filesystem::rename(dir_.path() / "moved", repo_.dir());
  RecordingNotifier standby_recorder;
  notifier_ = &standby_recorder;
  may_write_ = [] { return false; };
  auto standby = NewReconciler();
  (void)standby->SyncOnce();  // plans, writes nothing
  EXPECT_TRUE(standby_recorder.reports.empty());
}

TEST_F(ReconcilerTest, IsReadyUntilStoppedWhateverTheCycleFound) {
  auto reconciler = NewReconciler();
  EXPECT_TRUE(reconciler->Ready().ready);
  ASSERT_TRUE(reconciler->SyncOnce().ok());
  EXPECT_EQ(reconciler->StatusJson()["conditions"][0]["status"], "True");
  EXPECT_EQ(reconciler->StatusJson()["conditions"][0]["reason"], "Synced");
  reconciler->Stop();
  EXPECT_FALSE(reconciler->Ready().ready);
  EXPECT_EQ(reconciler->Ready().reason, "shutting down");
}

TEST_F(ReconcilerTest, ANewCommitSupersedesTheSyncInFlight) {
  repo_.Write("jobs/c.yaml", JobYaml("c"));
  repo_.Commit("Add c");
  interval_ = std::chrono::milliseconds(0);  // check Git before every step
  RecordingNotifier recorder;
  notifier_ = &recorder;
  auto reconciler = NewReconciler();
  std::string newer;
  cluster_.before_apply = [&](const PlanStep& step) {
    if (step.key.name != "a") return;
    repo_.Write("jobs/c.yaml", JobYaml("c", "default", "trainer:v1", 4));
    newer = repo_.Commit("Scale c");
  };
  Status result = reconciler->SyncOnce();
  EXPECT_FALSE(result.ok());
  EXPECT_THAT(result.message(), HasSubstr("superseded by commit " + newer.substr(0, 7)));
  EXPECT_THAT(cluster_.applied, ElementsAre("create a"));
  // A superseded commit did not fail: no status says so.
  EXPECT_TRUE(recorder.reports.empty());
  cluster_.before_apply = nullptr;
  ASSERT_TRUE(reconciler->SyncOnce().ok());
  EXPECT_THAT(cluster_.applied, ElementsAre("create a", "create b", "create c"));
  EXPECT_EQ(cluster_.live[Key("c")].replicas["worker"], 4);
  ASSERT_EQ(recorder.reports.size(), 1u);
  EXPECT_EQ(recorder.reports[0].commit, newer);
  EXPECT_TRUE(recorder.reports[0].ok);
}

TEST_F(ReconcilerTest, ACycleCutShortByLosingLeadershipNotifiesNobody) {
  bool leader = true;
  may_write_ = [&] { return leader; };
  RecordingNotifier recorder;
  notifier_ = &recorder;
  auto reconciler = NewReconciler();
  cluster_.before_apply = [&](const PlanStep&) { leader = false; };
  Status result = reconciler->SyncOnce();
  EXPECT_THAT(result.message(), HasSubstr("lost the leader election"));
  EXPECT_THAT(cluster_.applied, ElementsAre("create a"));
  // The next leader finishes the commit and reports it; a late "failed" from here would stand
  // against the commit after the new leader's success.
  EXPECT_TRUE(recorder.reports.empty());
}

// The status lists only the steps that do something, but its resource totals are every job's.
TEST_F(ReconcilerTest, StatusShowsTheResourceTotalsOfEveryJob) {
  const auto gpu_job = [](const std::string& name, int workers) {
    return "apiVersion: jobsync.dev/v1alpha1\nkind: TrainingJob\nmetadata:\n  name: " + name +
           "\nspec:\n  backend: kubernetes\n  image: trainer:v1\n  roles:\n    worker: "
           "{replicas: " +
           std::to_string(workers) + ", resources: {gpu: 1}}\n";
  };
  repo_.Write("jobs/a.yaml", gpu_job("a", 2));
  repo_.Write("jobs/b.yaml", gpu_job("b", 2));
  repo_.Commit("GPUs");
  auto reconciler = NewReconciler();
  ASSERT_TRUE(reconciler->SyncOnce().ok());
  repo_.Write("jobs/b.yaml", gpu_job("b", 3));
  repo_.Commit("Scale b");
  ASSERT_TRUE(reconciler->SyncOnce().ok());
  const nlohmann::json plan = reconciler->StatusJson()["plan"];
  EXPECT_THAT(plan["text"].get<std::string>(), HasSubstr("default: +1 GPUs (4 -> 5"));
  EXPECT_EQ(plan["steps"]["impact"][0]["before"]["gpus"], 4);
  EXPECT_EQ(plan["steps"]["impact"][0]["after"]["gpus"], 5);
}

// The status's plan lists a create without its fields (they are the manifest's: a first sync of
// thousands of jobs would publish every field of each) and a scale with the fields it changes.
TEST_F(ReconcilerTest, StatusListsCreatesWithoutTheirFieldsAndScalesWithThem) {
  auto reconciler = NewReconciler();
  ASSERT_TRUE(reconciler->SyncOnce().ok());
  nlohmann::json plan = reconciler->StatusJson()["plan"];
  ASSERT_EQ(plan["steps"]["steps"].size(), 2u) << plan.dump();
  EXPECT_EQ(plan["steps"]["steps"][0]["action"], "create");
  EXPECT_THAT(plan["steps"]["steps"][0]["changes"], IsEmpty());
  EXPECT_THAT(plan["text"].get<std::string>(), HasSubstr("kubernetes/default/a: create"));
  EXPECT_THAT(plan["text"].get<std::string>(), Not(HasSubstr("trainer:v1")));
  repo_.Write("jobs/a.yaml", JobYaml("a", "default", "trainer:v1", 5));
  repo_.Commit("Scale a");
  ASSERT_TRUE(reconciler->SyncOnce().ok());
  plan = reconciler->StatusJson()["plan"];
  ASSERT_EQ(plan["steps"]["steps"].size(), 1u) << plan.dump();
  EXPECT_EQ(plan["steps"]["steps"][0]["action"], "scale");
  EXPECT_EQ(plan["steps"]["steps"][0]["changes"][0]["field"], "spec.roles.worker.replicas");
  EXPECT_THAT(plan["text"].get<std::string>(), HasSubstr("spec.roles.worker.replicas: 2 -> 5"));
}

// The status is one JSON document: the members asked for are added, and bytes that are not UTF-8
// (a branch name, a commit message) are replaced rather than making it unreadable.
TEST_F(ReconcilerTest, StatusTextIsOneDocumentWithTheMembersAdded) {
  auto reconciler = NewReconciler();
  EXPECT_EQ(nlohmann::json::parse(reconciler->StatusText()), nlohmann::json::object());
  ASSERT_TRUE(reconciler->SyncOnce().ok());
  const std::string text =
      reconciler->StatusText({{"leaderElection", {{"leader", true}}}, {"note", "bad \xff byte"}});
  const nlohmann::json status = nlohmann::json::parse(text, nullptr, false);
  ASSERT_FALSE(status.is_discarded()) << text;
  EXPECT_EQ(status["leaderElection"]["leader"], true);
  EXPECT_EQ(status["note"], "bad \xef\xbf\xbd byte");
  EXPECT_EQ(status["jobs"].size(), 2u);
  EXPECT_EQ(status["plan"]["steps"]["summary"]["create"], 2);
  EXPECT_EQ(status["lastSync"]["result"], "ok");
}

// The jobs are published in pieces of about 64 KB (Reconciler::TextPieces); the status page is
// still one document with every job once, in order.
TEST_F(ReconcilerTest, TheStatusOfMoreJobsThanOnePieceHoldsIsOneDocument) {
  std::vector<std::string> names;
  for (int i = 0; i < 300; ++i) {
    names.push_back("many-" + std::to_string(1000 + i));
    repo_.Write("jobs/" + names.back() + ".yaml", JobYaml(names.back()));
  }
  repo_.Commit("Add 300 jobs");
  auto reconciler = NewReconciler();
  ASSERT_TRUE(reconciler->SyncOnce().ok());
  const std::string text = reconciler->StatusText();
  ASSERT_GT(text.size(), size_t{3} * 64 * 1024);  // the jobs took more than two pieces
  const nlohmann::json status = nlohmann::json::parse(text, nullptr, false);
  ASSERT_FALSE(status.is_discarded()) << text.substr(0, 2000);
  std::vector<std::string> listed;
  for (const nlohmann::json& job : status["jobs"]) listed.push_back(job["name"]);
  names.insert(names.begin(), {"a", "b"});
  EXPECT_EQ(listed, names);
  EXPECT_EQ(status["plan"]["steps"]["summary"]["create"], 302);
}

TEST_F(ReconcilerTest, AStandbyPlansButDoesNotWrite) {
  bool leader = false;
  may_write_ = [&] { return leader; };
  auto reconciler = NewReconciler();
  (void)reconciler->SyncOnce();
  EXPECT_THAT(cluster_.applied, IsEmpty());
  EXPECT_EQ(JobStatusOf(*reconciler, "a")["sync"], "OutOfSync");
  EXPECT_EQ(reconciler->StatusJson()["writer"], false);
  leader = true;
  ASSERT_TRUE(reconciler->SyncOnce().ok());
  EXPECT_THAT(cluster_.applied, ElementsAre("create a", "create b"));
}

TEST_F(ReconcilerTest, ANewLeaderRetriesTheStateItCouldNotLoad) {
  bool leader = false;
  may_write_ = [&] { return leader; };
  auto standby = NewReconciler();  // starts with the empty state
  auto standby_source = std::move(source_);
  auto standby_store = std::move(store_);
  auto standby_metrics = std::move(metrics_);
  may_write_ = nullptr;
  {
    auto old_leader = NewReconciler();
    ASSERT_TRUE(old_leader->SyncOnce().ok());
    cluster_.live[Key("a")].phase = LivePhase::kSucceeded;
    ASSERT_TRUE(old_leader->SyncOnce().ok());  // its state: `a` finished
  }
  cluster_.live.erase(Key("a"));
  cluster_.applied.clear();
  const std::filesystem::path state = dir_.path() / "state.json";
  std::filesystem::copy_file(state, dir_.path() / "state.good");
  { std::ofstream(state, std::ios::trunc) << "{not json"; }
  leader = true;
  EXPECT_FALSE(standby->SyncOnce().ok());  // the state cannot be read: nothing is applied
  EXPECT_THAT(cluster_.applied, IsEmpty());
  std::filesystem::copy_file(dir_.path() / "state.good", state,
                             std::filesystem::copy_options::overwrite_existing);
  ASSERT_TRUE(standby->SyncOnce().ok());
  // The state was read this time: `a` ran to its end and is not run again.
  EXPECT_THAT(cluster_.applied, IsEmpty());
}

TEST_F(ReconcilerTest, RunCyclesOnTriggerAndStops) {
  interval_ = std::chrono::hours(1);
  auto reconciler = NewReconciler();
  std::thread loop([&] { reconciler->Run(); });
  auto wait_cycles = [&](int64_t count) { return WaitForCycles(*reconciler, count); };
  EXPECT_EQ(wait_cycles(1), 1);
  reconciler->Trigger("test");
  EXPECT_EQ(wait_cycles(2), 2);
  reconciler->Stop();
  loop.join();
  EXPECT_THAT(cluster_.applied, ElementsAre("create a", "create b"));
}

TEST_F(ReconcilerTest, AWebhookIsServedAtOnceWhileLiveChangesSettle) {
  interval_ = std::chrono::hours(1);
  settle_ = std::chrono::hours(1);
  auto reconciler = NewReconciler();
  std::thread loop([&] { reconciler->Run(); });
  ASSERT_EQ(WaitForCycles(*reconciler, 1), 1);
  reconciler->LiveChanged();  // the loop now lets further watch events gather for an hour
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  reconciler->Trigger("webhook");
  EXPECT_EQ(WaitForCycles(*reconciler, 2), 2);
  reconciler->Stop();
  loop.join();
}

TEST_F(ReconcilerTest, LiveChangesWithinAnIntervalDoNotAskTheRemoteAgain) {
  interval_ = std::chrono::hours(1);
  auto reconciler = NewReconciler();
  std::thread loop([&] { reconciler->Run(); });
  auto wait_cycles = [&](int64_t count) { return WaitForCycles(*reconciler, count); };
  ASSERT_EQ(wait_cycles(1), 1);
  const int64_t checks = source_->stats().remote_checks;
  cluster_.live[Key("a")].replicas["worker"] = 7;  // drift, seen through a watch event
  EXPECT_EQ(LiveChangeUntilCycle(*reconciler, 2), 2);
  EXPECT_EQ(LiveChangeUntilCycle(*reconciler, 3), 3);
  EXPECT_EQ(source_->stats().remote_checks, checks) << "watch events must not cost an ls-remote";
  reconciler->Trigger("webhook");
  EXPECT_EQ(wait_cycles(4), 4);
  EXPECT_EQ(source_->stats().remote_checks, checks + 1) << "a webhook always looks at the remote";
  reconciler->Stop();
  loop.join();
  EXPECT_THAT(cluster_.applied, ElementsAre("create a", "create b", "scale a"));
}

}  // namespace
}  // namespace jobsync

namespace jobsync {
namespace {

// A cluster that accepts and never answers (a frozen Ray dashboard, a hung apiserver) holds its
// own jobs only: the other cluster's changes are applied in the same cycle, which ends within
// --backend-timeout, and the status says which cluster did not answer and why.
class HungClusterTest : public ReconcilerTest {
 protected:
  HungClusterTest() : ray_(BackendKind::kRay) {
    repo_.Write("jobs/r.yaml", RayJobYaml("r"));
    head_ = repo_.Commit("Add the Ray job r");
    backend_timeout_ = std::chrono::milliseconds(300);
    second_ = &ray_;
  }
  ~HungClusterTest() override { gate_.Open(); }

  MemoryCluster ray_;
  Gate gate_;
};

TEST_F(HungClusterTest, AListingThatNeverReturnsHoldsOnlyThatClustersJobs) {
  backend_timeout_ = std::chrono::seconds(2);
  auto reconciler = NewReconciler();
  ray_.before_list = [this] { gate_.Wait(); };
  auto began = std::chrono::steady_clock::now();
  Status result = reconciler->SyncOnce();
  auto took = std::chrono::steady_clock::now() - began;
  EXPECT_FALSE(result.ok());
  EXPECT_THAT(cluster_.applied, ElementsAre("create a", "create b"));
  EXPECT_LT(took, std::chrono::seconds(5));
  nlohmann::json status = reconciler->StatusJson();
  EXPECT_EQ(status["backends"]["kubernetes"]["ok"], true);
  EXPECT_EQ(status["backends"]["ray"]["ok"], false);
  EXPECT_THAT(status["backends"]["ray"]["error"].get<std::string>(),
              HasSubstr("did not answer within"));
  EXPECT_EQ(JobStatusOf(*reconciler, "a")["sync"], "Synced");
  EXPECT_NE(JobStatusOf(*reconciler, "r")["sync"], "Synced");
  EXPECT_TRUE(reconciler->Ready().ready);  // readiness is "can serve"; the reason says more
  EXPECT_THAT(reconciler->Ready().reason, HasSubstr("ray unavailable: did not answer within"));

  // Still hung: the next cycles do not wait for it again (it is asked a Ping in the background),
  // and a new Kubernetes job is created at once.
  repo_.Write("jobs/c.yaml", JobYaml("c"));
  repo_.Commit("Add c");
  for (int i = 0; i < 2; ++i) {
    began = std::chrono::steady_clock::now();
    EXPECT_FALSE(reconciler->SyncOnce().ok());
    EXPECT_LT(std::chrono::steady_clock::now() - began, backend_timeout_);
  }
  EXPECT_THAT(cluster_.applied, ElementsAre("create a", "create b", "create c"));
  EXPECT_THAT(reconciler->StatusJson()["backends"]["ray"]["error"].get<std::string>(),
              HasSubstr("did not answer within 2s"));

  // Answering again: its job is created.
  gate_.Open();
  for (int i = 0; i < 100 && ray_.applied.empty(); ++i) {
    (void)reconciler->SyncOnce();
    if (ray_.applied.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_THAT(ray_.applied, ElementsAre("create r"));
  EXPECT_TRUE(reconciler->SyncOnce().ok());
}

TEST_F(HungClusterTest, AStepThatWaitsOnAClusterThatAnswersIsNotGivenUpOn) {
  // A recreate waiting for the old Job to go, a Ray stop waiting for the job to end: ten times
  // --backend-timeout, with the cluster answering every poll.
  auto reconciler = NewReconciler();
  ray_.while_applying = [this](const ApplyContext& context) {
    for (int poll = 0; poll < 30; ++poll) {
      std::this_thread::sleep_for(backend_timeout_ / 3);
      context.Answered();
    }
  };
  EXPECT_TRUE(reconciler->SyncOnce().ok());
  EXPECT_THAT(ray_.applied, ElementsAre("create r"));
  EXPECT_EQ(reconciler->StatusJson()["backends"]["ray"]["ok"], true);
  EXPECT_EQ(
      metrics_->Value("jobsync_backend_errors_total",
                      {{"backend", "ray"}, {"cluster", "default"}, {"operation", "deadline"}}),
      0);
}

TEST_F(HungClusterTest, AnApplyThatNeverReturnsIsGivenUpOnAndNeverRunTwiceAtOnce) {
  auto reconciler = NewReconciler();
  std::atomic<int> in_flight{0};
  std::atomic<int> most{0};
  ray_.before_apply = [&](const PlanStep&) {
    most = std::max(most.load(), ++in_flight);
    gate_.Wait();
    --in_flight;
  };
  auto began = std::chrono::steady_clock::now();
  Status result = reconciler->SyncOnce();
  EXPECT_LT(std::chrono::steady_clock::now() - began, std::chrono::seconds(5));
  EXPECT_FALSE(result.ok());
  EXPECT_THAT(cluster_.applied, ElementsAre("create a", "create b"));
  nlohmann::json status = reconciler->StatusJson();
  EXPECT_EQ(status["backends"]["ray"]["ok"], false);
  EXPECT_THAT(status["backends"]["ray"]["error"].get<std::string>(),
              HasSubstr("did not finish a step within"));
  EXPECT_EQ(
      metrics_->Value("jobsync_backend_errors_total",
                      {{"backend", "ray"}, {"cluster", "default"}, {"operation", "deadline"}}),
      1);

  // While the call is in flight, later cycles hold the job instead of applying it again.
  for (int i = 0; i < 3; ++i) EXPECT_FALSE(reconciler->SyncOnce().ok());
  EXPECT_EQ(ray_.applied.size(), 1U);
  EXPECT_EQ(most, 1);

  gate_.Open();
  for (int i = 0; i < 100 && !reconciler->SyncOnce().ok(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_TRUE(reconciler->SyncOnce().ok());
  EXPECT_EQ(ray_.applied.size(), 1U);  // the first call's create stands: not created again
}

}  // namespace
}  // namespace jobsync
