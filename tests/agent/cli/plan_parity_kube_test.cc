// One plan for everyone (diff/plan.h): each case runs through the `jobsync plan` command and
// through one cycle of the agent (Reconciler::SyncOnce as a standby, which plans and reports
// without writing), against the real local kube-apiserver, the same Git repository and the same
// state file, and the steps must be the same: action, job, error and reason. The agent's status
// lists the steps that act, report an error or are drift; the command's are filtered alike.
//
// Needs `scripts/cluster up && eval "$(scripts/cluster env)"`; fails, never skips, when the
// cluster cannot be reached. Each case uses its own namespace and instance name, deleted after.
// The unavailable backend is a Ray address nobody listens on (http://127.0.0.1:1). The
// repository is a local path, read in place by both (the command runs in this process, which is
// not a jobsync binary that could run a remote's network operations).
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <functional>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include "agent/cli/cli.h"
#include "agent/cli/cluster_flags.h"
#include "agent/cli/wiring.h"
#include "agent/git/git_source.h"
#include "agent/sync/clusters.h"
#include "agent/sync/reconciler.h"
#include "agent/sync/state_store.h"
#include "backends/kubernetes/mapping.h"
#include "common/metrics.h"
#include "schemas/object_names.h"
#include "schemas/schema_validator.h"
#include "tests/agent/git/git_test_util.h"
#include "tests/backends/kubernetes/kube_test_util.h"

namespace jobsync {
namespace {

using json = nlohmann::json;
using ::jobsync::testing::JobYaml;
using ::jobsync::testing::TempDir;
using ::jobsync::testing::TestOptions;
using ::jobsync::testing::TestRepo;

// A step as both sides report it: action, job, error, reason.
using Step = std::tuple<std::string, std::string, bool, std::string>;

std::string RayYaml(const std::string& name, const std::string& ns) {
  return "apiVersion: jobsync.dev/v1alpha1\nkind: TrainingJob\nmetadata:\n  name: " + name +
         "\n  namespace: " + ns +
         "\nspec:\n  backend: ray\n  image: trainer:v1\n  roles:\n    worker: {replicas: 1}\n"
         "  ray: {entrypoint: python train.py}\n";
}

// The steps of a rendered plan (RenderJson) that act, carry an error, or are drift.
std::vector<Step> ShownSteps(const json& rendered) {
  std::vector<Step> steps;
  if (!rendered.is_object() || !rendered.contains("steps")) return steps;
  for (const json& step : rendered["steps"]) {
    if (step["action"] == "none" && !step["error"].get<bool>() && !step.value("drift", false)) {
      continue;
    }
    steps.emplace_back(step["action"], step["job"], step["error"], step["reason"]);
  }
  return steps;
}

class PlanParityKubeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(testing::ConnectTestCluster(KubernetesClientOptions{}, "default", &client_));
    static std::atomic<int> counter{0};
    ns_ = "jobsync-parity-" + std::to_string(getpid()) + "-" + std::to_string(++counter);
    repo_ = std::make_unique<TestRepo>(dir_.path() / "repo");
    state_ = (dir_.path() / "state.json").string();
  }

  void TearDown() override {
    if (client_ == nullptr) return;
    Status deleted = client_->Delete(ResourceKind::kNamespace, "", ns_, Propagation::kBackground);
    EXPECT_TRUE(deleted.ok()) << deleted.ToString();
  }

  std::string Key(const std::string& name, const std::string& backend = "kubernetes") const {
    return backend + "/" + ns_ + "/" + name;
  }

  // The flags naming the repository, the cluster, this case's instance and its state.
  std::vector<std::string> Flags() const {
    std::vector<std::string> flags = {"--repo",
                                      repo_->dir().string(),
                                      "--kubeconfig",
                                      std::getenv("KUBECONFIG"),
                                      "--instance",
                                      ns_,
                                      "--allow-namespace",
                                      ns_,
                                      "--state",
                                      state_,
                                      "--drift",
                                      drift_};
    if (ray_address_.empty()) {
      flags.insert(flags.end(), {"--allow-backend", "kubernetes"});
    } else {
      flags.insert(flags.end(), {"--ray-address", ray_address_});
    }
    if (prune_) {
      flags.insert(flags.end(), {"--prune", "--max-delete-share", std::to_string(max_share_)});
    }
    return flags;
  }

  // Runs `jobsync <command> <Flags()>` in-process; returns the exit code (stderr: last_stderr_).
  int Cli(const std::string& command, std::string* out) {
    std::vector<std::string> args = {"jobsync", command};
    for (std::string& flag : Flags()) args.push_back(std::move(flag));
    if (command == "plan") args.insert(args.end(), {"-o", "json"});
    std::vector<const char*> argv;
    for (const std::string& arg : args) argv.push_back(arg.c_str());
    std::ostringstream stdout_text;
    std::ostringstream stderr_text;
    const int code = RunCli(static_cast<int>(argv.size()), argv.data(), stdout_text, stderr_text);
    if (out != nullptr) *out = stdout_text.str();
    last_stderr_ = stderr_text.str();
    return code;
  }

  // One `jobsync apply`, which records the inventory in the state file as an agent cycle does.
  void Apply() {
    std::string out;
    EXPECT_EQ(Cli("apply", &out), kExitOk) << out << last_stderr_;
  }

  // The steps `jobsync plan -o json` shows.
  std::vector<Step> PlanCommandSteps(json* rendered) {
    std::string out;
    Cli("plan", &out);
    *rendered = json::parse(out, nullptr, false);
    EXPECT_FALSE(rendered->is_discarded()) << out << last_stderr_;
    return ShownSteps(*rendered);
  }

  // The steps one cycle of a standby agent plans, built from the same flags as the command.
  std::vector<Step> AgentSteps() {
    ClusterFlags flags;
    flags.kubeconfig = std::getenv("KUBECONFIG");
    flags.instance = ns_;
    flags.allow_namespaces = {ns_};
    flags.prune = prune_;
    flags.max_delete_share = prune_ ? max_share_ : 0.5;
    flags.ray_address = ray_address_;
    if (ray_address_.empty()) flags.allow_backends = {"kubernetes"};
    Clusters clusters = ConnectClusters(flags);
    std::vector<Backend*> backends = clusters.built();
    auto source =
        NewGitSource(TestOptions(repo_->dir().string(), dir_.path() / "agent-cache"), validator_);
    EXPECT_TRUE(source.ok()) << source.status().ToString();
    if (!source.ok()) return {};
    std::unique_ptr<StateStore> store = NewFileStateStore(state_);
    Metrics metrics;
    ReconcilerOptions options;
    options.plan = ToPlanOptions(flags);
    options.plan.drift = *ParseDriftPolicy(drift_);
    options.may_write = [] { return false; };
    Reconciler agent(**source, backends, clusters.unconfigured, *store, metrics, options);
    EXPECT_TRUE(agent.Start().ok());
    (void)agent.SyncOnce();  // a standby's cycle fails when the plan acts: it did not write
    return ShownSteps(agent.StatusJson()["plan"]["steps"]);
  }

  // Changes the live replica count of `name`'s worker Job, as `kubectl scale` would.
  void ScaleOutsideGit(const std::string& name, int workers) {
    StatusOr<json> updated =
        client_->Update(ResourceKind::kJob, ns_, RoleJobName(name, "worker"), [&](json& job) {
          job["spec"]["parallelism"] = workers;
          job["spec"]["completions"] = workers;
          return OkStatus();
        });
    ASSERT_TRUE(updated.ok()) << updated.status().ToString();
  }

  // Waits until `name`'s worker Job has finished (kwok completes labelled pods): its Complete
  // condition, which is what jobsync reads. The controller sets it after status.succeeded, later
  // still while it is busy (a benchmark's 10,000 Jobs going).
  void WaitFinished(const std::string& name) {
    for (int i = 0; i < 300; ++i) {
      StatusOr<json> job = client_->Get(ResourceKind::kJob, ns_, RoleJobName(name, "worker"));
      if (job.ok() && JobObjectPhase(*job) == LivePhase::kSucceeded) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    FAIL() << "job " << name << " did not finish within 60 s (is kwok running?)";
  }

  // Deletes `name`'s worker Job and Service outside Git, and waits until the Job is gone.
  void DeleteOutsideGit(const std::string& name) {
    ASSERT_TRUE(
        client_
            ->Delete(ResourceKind::kJob, ns_, RoleJobName(name, "worker"), Propagation::kBackground)
            .ok());
    for (int i = 0; i < 300; ++i) {
      if (!client_->Get(ResourceKind::kJob, ns_, RoleJobName(name, "worker")).ok()) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    FAIL() << "job " << name << " was not deleted within 60 s";
  }

  // Plans through the command and through the agent; both must show `expected` (action, job,
  // error, and a reason containing the given text), and exactly the same steps.
  void ExpectSamePlan(
      const std::vector<std::tuple<std::string, std::string, bool, std::string>>& expected) {
    json rendered;
    const std::vector<Step> command = PlanCommandSteps(&rendered);
    const std::vector<Step> agent = AgentSteps();
    EXPECT_EQ(command, agent) << "jobsync plan:\n" << rendered.dump(2);
    ASSERT_EQ(command.size(), expected.size()) << rendered.dump(2);
    for (size_t i = 0; i < expected.size(); ++i) {
      EXPECT_EQ(std::get<0>(command[i]), std::get<0>(expected[i])) << std::get<3>(command[i]);
      EXPECT_EQ(std::get<1>(command[i]), std::get<1>(expected[i]));
      EXPECT_EQ(std::get<2>(command[i]), std::get<2>(expected[i]));
      EXPECT_THAT(std::get<3>(command[i]), ::testing::HasSubstr(std::get<3>(expected[i])));
    }
  }

  TempDir dir_;
  std::unique_ptr<TestRepo> repo_;
  std::unique_ptr<KubernetesClient> client_;
  SchemaValidator validator_;
  std::string ns_;
  std::string state_;
  std::string last_stderr_;  // of the last command
  std::string drift_ = "heal";
  std::string ray_address_;
  bool prune_ = false;
  double max_share_ = 1.0;  // --max-delete-share with --prune
};

TEST_F(PlanParityKubeTest, Create) {
  repo_->Write("jobs/a.yaml", JobYaml("a", ns_));
  repo_->Commit("Add a");
  ExpectSamePlan({{"create", Key("a"), false, ""}});
}

TEST_F(PlanParityKubeTest, ScaleFromGit) {
  repo_->Write("jobs/a.yaml", JobYaml("a", ns_));
  repo_->Commit("Add a");
  Apply();
  repo_->Write("jobs/a.yaml", JobYaml("a", ns_, "trainer:v1", 3));
  repo_->Commit("Scale a");
  ExpectSamePlan({{"scale", Key("a"), false, ""}});
}

TEST_F(PlanParityKubeTest, PatchFromGit) {
  repo_->Write("jobs/a.yaml", JobYaml("a", ns_));
  repo_->Commit("Add a");
  Apply();
  std::string kept = JobYaml("a", ns_);
  kept.insert(kept.find("spec:"), "  annotations: {jobsync.dev/prune: \"false\"}\n");
  repo_->Write("jobs/a.yaml", kept);
  repo_->Commit("Keep a");
  ExpectSamePlan({{"patch", Key("a"), false, "only annotations changed"}});
  Apply();
  ExpectSamePlan({});
}

TEST_F(PlanParityKubeTest, UpdateFromGit) {
  repo_->Write("jobs/a.yaml", JobYaml("a", ns_));
  repo_->Commit("Add a");
  Apply();
  repo_->Write("jobs/a.yaml", JobYaml("a", ns_, "trainer:v2"));
  repo_->Commit("New image");
  ExpectSamePlan({{"update", Key("a"), false, ""}});
}

TEST_F(PlanParityKubeTest, Prune) {
  prune_ = true;
  repo_->Write("jobs/a.yaml", JobYaml("a", ns_));
  repo_->Write("jobs/b.yaml", JobYaml("b", ns_));
  repo_->Commit("Add a and b");
  Apply();
  repo_->Git("rm -q jobs/b.yaml");
  repo_->Commit("Remove b");
  ExpectSamePlan({{"delete", Key("b"), false, ""}});
}

TEST_F(PlanParityKubeTest, DriftIsHealed) {
  repo_->Write("jobs/a.yaml", JobYaml("a", ns_));
  repo_->Commit("Add a");
  Apply();
  ScaleOutsideGit("a", 4);
  ExpectSamePlan({{"scale", Key("a"), false, ""}});
}

TEST_F(PlanParityKubeTest, DriftUnderWarnIsWithheld) {
  drift_ = "warn";
  repo_->Write("jobs/a.yaml", JobYaml("a", ns_));
  repo_->Commit("Add a");
  Apply();
  ScaleOutsideGit("a", 4);
  ExpectSamePlan({{"none", Key("a"), false, "changed outside Git"}});
}

TEST_F(PlanParityKubeTest, DriftUnderOffIsWithheld) {
  drift_ = "off";
  repo_->Write("jobs/a.yaml", JobYaml("a", ns_));
  repo_->Commit("Add a");
  Apply();
  ScaleOutsideGit("a", 4);
  ExpectSamePlan({{"none", Key("a"), false, "drift policy off"}});
}

TEST_F(PlanParityKubeTest, AFinishedJobDeletedOutsideGitIsNotRunAgain) {
  std::string yaml = JobYaml("a", ns_);
  yaml.insert(yaml.find("spec:"), "  labels: {jobsync.dev/kwok-complete: \"true\"}\n");
  repo_->Write("jobs/a.yaml", yaml);
  repo_->Commit("Add a, which finishes");
  Apply();
  WaitFinished("a");
  Apply();  // sees it finished: the inventory says so
  DeleteOutsideGit("a");
  json rendered;
  PlanCommandSteps(&rendered);
  ASSERT_EQ(rendered["steps"].size(), 1u) << rendered.dump(2);
  EXPECT_EQ(rendered["steps"][0]["action"], "none");
  EXPECT_EQ(rendered["steps"][0]["reason"], "finished at this spec; not run again");
  ExpectSamePlan({});
}

TEST_F(PlanParityKubeTest, AnUnavailableBackendHoldsBackItsJobs) {
  ray_address_ = "http://127.0.0.1:1";
  repo_->Write("jobs/a.yaml", JobYaml("a", ns_));
  repo_->Write("jobs/r.yaml", RayYaml("r", ns_));
  repo_->Commit("Add a and r");
  ExpectSamePlan(
      {{"create", Key("a"), false, ""}, {"none", Key("r", "ray"), true, "ray unavailable: "}});
}

TEST_F(PlanParityKubeTest, AnInvalidManifestIsAnErrorNotADeletion) {
  prune_ = true;
  repo_->Write("jobs/a.yaml", JobYaml("a", ns_));
  repo_->Write("jobs/b.yaml", JobYaml("b", ns_));
  repo_->Commit("Add a and b");
  Apply();
  repo_->Write("jobs/b.yaml", JobYaml("b", ns_, "trainer:v1", -1));
  repo_->Commit("Break b");
  ExpectSamePlan({{"none", Key("b"), true, ""}});
}

// A commit deleting 80% of the jobs and scaling another: both plans hold the four deletes back
// and scale; `jobsync apply` scales the real Job, deletes nothing, and exits 1 saying why.
TEST_F(PlanParityKubeTest, AMassDeleteHoldsOnlyTheDeletes) {
  prune_ = true;
  max_share_ = 0.5;
  for (const char* name : {"a", "b", "c", "d", "e"}) {
    repo_->Write(std::string("jobs/") + name + ".yaml", JobYaml(name, ns_));
  }
  repo_->Commit("Add a to e");
  Apply();
  repo_->Git("rm -q jobs/b.yaml jobs/c.yaml jobs/d.yaml jobs/e.yaml");
  repo_->Write("jobs/a.yaml", JobYaml("a", ns_, "trainer:v1", 3));
  repo_->Commit("Drop b to e, scale a");
  const std::string held =
      "delete held by the mass-delete guard: this plan would delete 4 of the 5";
  ExpectSamePlan({{"scale", Key("a"), false, ""},
                  {"none", Key("b"), true, held},
                  {"none", Key("c"), true, held},
                  {"none", Key("d"), true, held},
                  {"none", Key("e"), true, held}});
  std::string out;
  EXPECT_EQ(Cli("apply", &out), kExitChanges) << out << last_stderr_;
  EXPECT_THAT(last_stderr_, ::testing::HasSubstr("4 deletes held by the mass-delete guard"));
  StatusOr<json> a = client_->Get(ResourceKind::kJob, ns_, RoleJobName("a", "worker"));
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(a->value("/spec/parallelism"_json_pointer, 0), 3);
  for (const char* name : {"b", "c", "d", "e"}) {
    EXPECT_TRUE(client_->Get(ResourceKind::kJob, ns_, RoleJobName(name, "worker")).ok()) << name;
  }
}

}  // namespace
}  // namespace jobsync
