#include "diff/diff.h"

#include <functional>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "plan_fixtures.h"
#include "schemas/canonical.h"

namespace jobsync {
namespace {

using ::jobsync::testing::Desired;
using ::jobsync::testing::K8sJob;
using ::jobsync::testing::kInstance;
using ::jobsync::testing::Live;
using ::jobsync::testing::LoadYaml;
using ::jobsync::testing::Q;
using ::jobsync::testing::RayJob;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using json = nlohmann::json;

FieldChange Change(std::string field, std::optional<json> from, std::optional<json> to) {
  return FieldChange{std::move(field), std::move(from), std::move(to)};
}

TEST(DiffCanonicalTest, ListsLeafChangesInPathOrder) {
  const json from = {{"spec", {{"image", "trainer:v1"}, {"env", {{"A", "1"}, {"B", "2"}}}}}};
  const json to = {{"spec", {{"image", "trainer:v2"}, {"env", {{"A", "1"}, {"C", "3"}}}}}};
  EXPECT_THAT(
      DiffCanonical(from, to),
      ElementsAre(Change("spec.env.B", "2", std::nullopt), Change("spec.env.C", std::nullopt, "3"),
                  Change("spec.image", "trainer:v1", "trainer:v2")));
}

TEST(DiffCanonicalTest, QuotesKeysThatAreNotPlainWords) {
  const json from = {{"metadata", {{"annotations", json::object()}}}};
  const json to = {{"metadata", {{"annotations", {{"jobsync.dev/prune", "false"}}}}}};
  EXPECT_THAT(
      DiffCanonical(from, to),
      ElementsAre(Change(R"(metadata.annotations["jobsync.dev/prune"])", std::nullopt, "false")));
}

TEST(DiffCanonicalTest, ComparesArraysAsWholeValues) {
  const json from = {{"command", {"torchrun", "a.py"}}};
  const json to = {{"command", {"torchrun", "b.py"}}};
  EXPECT_THAT(DiffCanonical(from, to), ElementsAre(Change("command", json({"torchrun", "a.py"}),
                                                          json({"torchrun", "b.py"}))));
}

TEST(DiffCanonicalTest, NullSideListsEveryFieldAndSkipsEmptyContainers) {
  const json spec = {{"image", "i"},
                     {"env", json::object()},
                     {"command", json::array()},
                     {"roles", {{"worker", {{"replicas", 2}}}}}};
  EXPECT_THAT(DiffCanonical(json(), spec),
              ElementsAre(Change("image", std::nullopt, "i"),
                          Change("roles.worker.replicas", std::nullopt, 2)));
  EXPECT_THAT(DiffCanonical(spec, json()),
              ElementsAre(Change("image", "i", std::nullopt),
                          Change("roles.worker.replicas", 2, std::nullopt)));
  EXPECT_THAT(DiffCanonical(spec, spec), IsEmpty());
}

TEST(DiffCanonicalTest, ReportsATypeChangeAsOneChange) {
  const json from = {{"runtimeEnv", {{"pip", {{"packages", {"torch"}}}}}}};
  const json to = {{"runtimeEnv", {{"pip", {"torch"}}}}};
  EXPECT_THAT(
      DiffCanonical(from, to),
      ElementsAre(Change("runtimeEnv.pip", json({{"packages", {"torch"}}}), json({"torch"}))));
}

// One row of DESIGN.md's plan-semantics table, or of the rules in plan.h.
struct ClassificationCase {
  const char* name;
  std::function<void(LoadResult*, std::vector<LiveJob>*)> build;
  Action action;
  bool error;
  const char* reason;  // a substring of the step's reason
  std::vector<FieldChange> changes;

  // Names the case in failure messages instead of dumping its bytes.
  friend void PrintTo(const ClassificationCase& c, std::ostream* os) { *os << c.name; }
};

std::vector<ClassificationCase> ClassificationCases() {
  const TrainingJob job = K8sJob("a");
  auto with = [job](const std::function<void(TrainingJob*)>& edit) {
    TrainingJob copy = job;
    edit(&copy);
    return copy;
  };
  const TrainingJob scaled = with([](TrainingJob* j) { j->roles["worker"].replicas = 6; });
  const TrainingJob v2 = with([](TrainingJob* j) { j->image = "trainer:v2"; });
  const TrainingJob suspended = with([](TrainingJob* j) { j->suspend = true; });
  const TrainingJob equivalent = with([](TrainingJob* j) {
    j->roles["worker"].resources.cpu = Q("4000m");
    j->roles["worker"].resources.memory = Q("16384Mi");
  });
  // Every field of `job` but its identity (which the step's key carries), as added or removed.
  auto all_fields = [](bool added) {
    std::vector<FieldChange> changes;
    for (auto& [field, value] :
         std::vector<std::pair<std::string, json>>{{"spec.command", {"torchrun", "train.py"}},
                                                   {"spec.image", "trainer:v1"},
                                                   {"spec.roles.worker.replicas", 2},
                                                   {"spec.roles.worker.resources.cpu", "4"},
                                                   {"spec.roles.worker.resources.memory", "16Gi"},
                                                   {"spec.suspend", false}}) {
      changes.push_back(added ? Change(field, std::nullopt, value)
                              : Change(field, value, std::nullopt));
    }
    return changes;
  };
  return {
      {"CreatesWhenNoLiveJob", [=](LoadResult* d, std::vector<LiveJob>*) { *d = Desired({job}); },
       Action::kCreate, false, "no live job", all_fields(true)},
      {"SuspendedWithoutLiveJobCreatesNothing",
       [=](LoadResult* d, std::vector<LiveJob>*) { *d = Desired({suspended}); },
       Action::kNone,
       false,
       "suspended: nothing to run",
       {}},
      {"InSyncIsNone",
       [=](LoadResult* d, std::vector<LiveJob>* l) {
         *d = Desired({job});
         l->push_back(Live(job));
       },
       Action::kNone,
       false,
       "in sync",
       {}},
      {"EquivalentQuantitiesAreInSync",
       [=](LoadResult* d, std::vector<LiveJob>* l) {
         *d = Desired({equivalent});
         l->push_back(Live(job));
       },
       Action::kNone,
       false,
       "in sync",
       {}},
      // Field for field different, canonically equal: not the planner's fast path.
      {"DependsOnInAnotherOrderIsInSync",
       [=](LoadResult* d, std::vector<LiveJob>* l) {
         TrainingJob listed = job;
         listed.depends_on = {"prep", "data"};
         *d = Desired({listed});
         listed.depends_on = {"data", "prep", "data"};
         l->push_back(Live(listed));
       },
       Action::kNone,
       false,
       "in sync",
       {}},
      {"PendingAtSameSpecIsNone",
       [=](LoadResult* d, std::vector<LiveJob>* l) {
         *d = Desired({job});
         l->push_back(Live(job, LivePhase::kPending));
       },
       Action::kNone,
       false,
       "in sync",
       {}},
      {"ScalesWhenOnlyReplicasDiffer",
       [=](LoadResult* d, std::vector<LiveJob>* l) {
         *d = Desired({scaled});
         l->push_back(Live(job));
       },
       Action::kScale,
       false,
       "replica counts changed",
       {Change("spec.roles.worker.replicas", 2, 6)}},
      {"ScalesBackReplicaDrift",
       [=](LoadResult* d, std::vector<LiveJob>* l) {
         *d = Desired({job});
         LiveJob drifted = Live(job);
         drifted.replicas["worker"] = 5;
         l->push_back(drifted);
       },
       Action::kScale,
       false,
       "drifted from the applied spec",
       {Change("spec.roles.worker.replicas", 5, 2)}},
      {"UpdatesWhenImageDiffers",
       [=](LoadResult* d, std::vector<LiveJob>* l) {
         *d = Desired({v2});
         l->push_back(Live(job));
       },
       Action::kUpdate,
       false,
       "spec changed: recreate",
       {Change("spec.image", "trainer:v1", "trainer:v2")}},
      {"UpdatesWhenImageAndReplicasDiffer",
       [=](LoadResult* d, std::vector<LiveJob>* l) {
         *d = Desired({with([](TrainingJob* j) {
           j->image = "trainer:v2";
           j->roles["worker"].replicas = 6;
         })});
         l->push_back(Live(job));
       },
       Action::kUpdate,
       false,
       "spec changed",
       {Change("spec.image", "trainer:v1", "trainer:v2"),
        Change("spec.roles.worker.replicas", 2, 6)}},
      {"UpdatesWhenALabelChanges",
       [=](LoadResult* d, std::vector<LiveJob>* l) {
         *d = Desired({with([](TrainingJob* j) { j->labels["team"] = "vision"; })});
         l->push_back(Live(job));
       },
       Action::kUpdate,
       false,
       "spec changed",
       {Change("metadata.labels.team", std::nullopt, "vision")}},
      {"UpdatesWhenARoleIsAdded",
       [=](LoadResult* d, std::vector<LiveJob>* l) {
         *d = Desired({with([](TrainingJob* j) { j->roles["ps"] = Role{}; })});
         l->push_back(Live(job));
       },
       Action::kUpdate,
       false,
       "spec changed",
       {Change("spec.roles.ps.replicas", std::nullopt, 1)}},
      {"SuspendIsAScaleStep",
       [=](LoadResult* d, std::vector<LiveJob>* l) {
         *d = Desired({suspended});
         l->push_back(Live(job));
       },
       Action::kScale,
       false,
       "suspend: scale to zero",
       {Change("spec.suspend", false, true)}},
      {"ResumeIsAScaleStep",
       [=](LoadResult* d, std::vector<LiveJob>* l) {
         *d = Desired({job});
         l->push_back(Live(suspended, LivePhase::kSuspended));
       },
       Action::kScale,
       false,
       "resume",
       {Change("spec.suspend", true, false)}},
      {"ResumesAJobSuspendedOutsideJobsync",
       [=](LoadResult* d, std::vector<LiveJob>* l) {
         *d = Desired({job});
         l->push_back(Live(job, LivePhase::kSuspended));
       },
       Action::kScale,
       false,
       "resume (suspended outside jobsync)",
       {Change("spec.suspend", true, false)}},
      {"SuspendedAndSuspendedIsNone",
       [=](LoadResult* d, std::vector<LiveJob>* l) {
         *d = Desired({suspended});
         l->push_back(Live(suspended, LivePhase::kSuspended));
       },
       Action::kNone,
       false,
       "in sync",
       {}},
      {"SucceededAtSameSpecIsNotRerun",
       [=](LoadResult* d, std::vector<LiveJob>* l) {
         *d = Desired({job});
         l->push_back(Live(job, LivePhase::kSucceeded));
       },
       Action::kNone,
       false,
       "finished (Succeeded) at this spec: not re-run",
       {}},
      {"FailedAtSameSpecIsNotRerun",
       [=](LoadResult* d, std::vector<LiveJob>* l) {
         *d = Desired({equivalent});
         LiveJob failed = Live(job, LivePhase::kFailed);
         failed.replicas["worker"] = 0;
         l->push_back(failed);
       },
       Action::kNone,
       false,
       "finished (Failed) at this spec: not re-run",
       {}},
      {"FinishedWithSuspendToggledIsNotRerun",
       [=](LoadResult* d, std::vector<LiveJob>* l) {
         *d = Desired({suspended});
         l->push_back(Live(job, LivePhase::kSucceeded));
       },
       Action::kNone,
       false,
       "not re-run",
       {}},
      {"FinishedWithNewImageIsRecreated",
       [=](LoadResult* d, std::vector<LiveJob>* l) {
         *d = Desired({v2});
         LiveJob finished = Live(job, LivePhase::kSucceeded);
         finished.replicas["worker"] = 0;
         l->push_back(finished);
       },
       Action::kUpdate,
       false,
       "finished (Succeeded) and its spec changed: recreate",
       {Change("spec.image", "trainer:v1", "trainer:v2")}},
      {"FinishedWithNewReplicasIsRecreated",
       [=](LoadResult* d, std::vector<LiveJob>* l) {
         *d = Desired({scaled});
         l->push_back(Live(job, LivePhase::kFailed));
       },
       Action::kUpdate,
       false,
       "finished (Failed) and its spec changed",
       {Change("spec.roles.worker.replicas", 2, 6)}},
      {"NoReadableAppliedSpecIsRecreated",
       [=](LoadResult* d, std::vector<LiveJob>* l) {
         *d = Desired({job});
         LiveJob unknown = Live(job);
         unknown.applied.reset();
         l->push_back(unknown);
       },
       Action::kUpdate, false, "no readable applied spec", all_fields(true)},
      {"DeletesAnOwnedJobGoneFromGit",
       [=](LoadResult*, std::vector<LiveJob>* l) { l->push_back(Live(job)); }, Action::kDelete,
       false, "no manifest in Git", all_fields(false)},
      {"ConflictsWithAnotherInstancesJob",
       [=](LoadResult* d, std::vector<LiveJob>* l) {
         *d = Desired({v2});
         l->push_back(Live(job, LivePhase::kRunning, "staging"));
       },
       Action::kNone,
       true,
       "owned by jobsync instance 'staging', not by 'prod'",
       {}},
      {"ConflictsWithAnUnmanagedJob",
       [=](LoadResult* d, std::vector<LiveJob>* l) {
         *d = Desired({job});
         l->push_back(Live(job, LivePhase::kRunning, ""));
       },
       Action::kNone,
       true,
       "is not managed by jobsync",
       {}},
      {"InvalidManifestLeavesTheLiveJob",
       [=](LoadResult* d, std::vector<LiveJob>* l) {
         d->invalid_jobs = {job.key()};
         l->push_back(Live(job));
       },
       Action::kNone,
       true,
       "manifest is invalid (see the diagnostics); the live job is left",
       {}},
      {"InvalidManifestWithoutLiveJob",
       [=](LoadResult* d, std::vector<LiveJob>*) { d->invalid_jobs = {job.key()}; },
       Action::kNone,
       true,
       "manifest is invalid",
       {}},
      {"UnreadableSourceFileIsNotPruned",
       [=](LoadResult* d, std::vector<LiveJob>* l) {
         d->unreadable_files = {job.source.path};
         l->push_back(Live(job));
       },
       Action::kNone,
       true,
       "could not be read: not pruned",
       {}},
      {"SourceFileWithErrorsIsNotPruned",
       [=](LoadResult* d, std::vector<LiveJob>* l) {
         d->diagnostics.push_back({{job.source.path, 3, 1}, "spec.backend: not allowed", ""});
         l->push_back(Live(job));
       },
       Action::kNone,
       true,
       "has errors: not pruned",
       {}},
  };
}

class ClassificationTest : public ::testing::TestWithParam<ClassificationCase> {};

TEST_P(ClassificationTest, ClassifiesThePair) {
  const ClassificationCase& c = GetParam();
  LoadResult desired;
  std::vector<LiveJob> live;
  c.build(&desired, &live);
  StatusOr<std::vector<PlanStep>> steps = DiffJobs(desired, live, kInstance);
  ASSERT_TRUE(steps.ok()) << steps.status().ToString();
  ASSERT_EQ(steps->size(), 1u);
  const PlanStep& step = steps->front();
  EXPECT_EQ(step.key.ToString(), "kubernetes/default/a");
  EXPECT_EQ(ActionName(step.action), std::string(ActionName(c.action)));
  EXPECT_EQ(step.error, c.error);
  EXPECT_THAT(step.reason, HasSubstr(c.reason));
  EXPECT_EQ(step.changes, c.changes);
}

INSTANTIATE_TEST_SUITE_P(PlanSemantics, ClassificationTest,
                         ::testing::ValuesIn(ClassificationCases()),
                         [](const ::testing::TestParamInfo<ClassificationCase>& param_info) {
                           return param_info.param.name;
                         });

TEST(DiffJobsTest, IgnoresLiveJobsOfOtherOwnersThatGitDoesNotHave) {
  const std::vector<LiveJob> live = {Live(K8sJob("theirs"), LivePhase::kRunning, "staging"),
                                     Live(K8sJob("manual"), LivePhase::kRunning, "")};
  StatusOr<std::vector<PlanStep>> steps = DiffJobs(Desired({}), live, kInstance);
  ASSERT_TRUE(steps.ok());
  EXPECT_THAT(*steps, IsEmpty());
}

TEST(DiffJobsTest, PairsByBackendNamespaceAndName) {
  const TrainingJob k8s = K8sJob("a", "team");
  const TrainingJob ray = RayJob("a", "team");
  const TrainingJob other_namespace = K8sJob("a", "other");
  StatusOr<std::vector<PlanStep>> steps =
      DiffJobs(Desired({k8s, ray}), {Live(k8s), Live(other_namespace)}, kInstance);
  ASSERT_TRUE(steps.ok());
  ASSERT_EQ(steps->size(), 3u);
  EXPECT_EQ((*steps)[0].key.ToString(), "kubernetes/other/a");
  EXPECT_EQ((*steps)[0].action, Action::kDelete);
  EXPECT_EQ((*steps)[1].key.ToString(), "kubernetes/team/a");
  EXPECT_EQ((*steps)[1].action, Action::kNone);
  EXPECT_EQ((*steps)[2].key.ToString(), "ray/team/a");
  EXPECT_EQ((*steps)[2].action, Action::kCreate);
}

TEST(DiffJobsTest, RejectsAnEmptyInstanceName) {
  StatusOr<std::vector<PlanStep>> steps = DiffJobs(Desired({}), {Live(K8sJob("a"), {}, "")}, "");
  ASSERT_FALSE(steps.ok());
  EXPECT_EQ(steps.status().code(), StatusCode::kInvalidArgument);
}

TEST(DiffJobsTest, RejectsALiveJobReportedTwice) {
  const LiveJob live = Live(K8sJob("a"));
  StatusOr<std::vector<PlanStep>> steps = DiffJobs(Desired({}), {live, live}, kInstance);
  ASSERT_FALSE(steps.ok());
  EXPECT_THAT(steps.status().message(), HasSubstr("kubernetes/default/a is reported twice"));
}

// A document whose backend is misspelt has no readable key, so it is not in invalid_jobs; its
// file's errors still keep the live job it described from being pruned.
TEST(DiffJobsTest, ManifestWithUnreadableKeyIsNeverTakenForADeletion) {
  LoadResult desired = LoadYaml({{"jobs.yaml", R"(
apiVersion: jobsync.dev/v1alpha1
kind: TrainingJob
metadata: {name: a}
spec:
  backend: kubernets
  image: trainer:v1
  roles: {worker: {replicas: 2}}
)"}});
  ASSERT_FALSE(desired.ok());
  ASSERT_THAT(desired.invalid_jobs, IsEmpty());
  TrainingJob applied = K8sJob("a");
  applied.source.path = "jobs.yaml";
  StatusOr<std::vector<PlanStep>> steps = DiffJobs(desired, {Live(applied)}, kInstance);
  ASSERT_TRUE(steps.ok());
  ASSERT_EQ(steps->size(), 1u);
  EXPECT_EQ((*steps)[0].action, Action::kNone);
  EXPECT_TRUE((*steps)[0].error);
  EXPECT_THAT((*steps)[0].reason, HasSubstr("jobs.yaml has errors"));
}

TEST(DiffJobsTest, UnreadableYamlFileKeepsItsLiveJobs) {
  LoadResult desired = LoadYaml({{"broken.yaml", "apiVersion: [unclosed\n"}});
  ASSERT_THAT(desired.unreadable_files, ::testing::ElementsAre("broken.yaml"));
  TrainingJob applied = K8sJob("a");
  applied.source.path = "broken.yaml";
  StatusOr<std::vector<PlanStep>> steps = DiffJobs(desired, {Live(applied)}, kInstance);
  ASSERT_TRUE(steps.ok());
  ASSERT_EQ(steps->size(), 1u);
  EXPECT_EQ((*steps)[0].action, Action::kNone);
  EXPECT_THAT((*steps)[0].reason, HasSubstr("broken.yaml could not be read"));
}

TEST(DiffJobsTest, InvalidManifestFromTheLoaderIsNone) {
  LoadResult desired = LoadYaml({{"jobs.yaml", R"(
apiVersion: jobsync.dev/v1alpha1
kind: TrainingJob
metadata: {name: a}
spec:
  backend: kubernetes
  image: trainer:v1
  roles: {worker: {replicas: 0}}
)"}});
  ASSERT_EQ(desired.invalid_jobs.size(), 1u);
  StatusOr<std::vector<PlanStep>> steps = DiffJobs(desired, {Live(K8sJob("a"))}, kInstance);
  ASSERT_TRUE(steps.ok());
  ASSERT_EQ(steps->size(), 1u);
  EXPECT_EQ((*steps)[0].action, Action::kNone);
  EXPECT_TRUE((*steps)[0].error);
  EXPECT_EQ((*steps)[0].desired, nullptr);
}

// Job "a" with role "b-c" and job "a-b" with role "c" would both make the Job "a-b-c": both are
// none with an error, the live one (which made it first) is not deleted and the new one is not
// created.
TEST(DiffJobsTest, JobsWhoseObjectsCollideAreNeitherAppliedNorPruned) {
  LoadResult desired = LoadYaml({{"jobs.yaml", R"(
apiVersion: jobsync.dev/v1alpha1
kind: TrainingJob
metadata: {name: a}
spec:
  backend: kubernetes
  image: trainer:v1
  roles: {b-c: {replicas: 1}}
---
apiVersion: jobsync.dev/v1alpha1
kind: TrainingJob
metadata: {name: a-b}
spec:
  backend: kubernetes
  image: trainer:v1
  roles: {c: {replicas: 1}}
)"}});
  ASSERT_EQ(desired.invalid_jobs.size(), 2u);
  TrainingJob live_a = K8sJob("a");
  live_a.roles = {{"b-c", Role{}}};
  StatusOr<std::vector<PlanStep>> steps = DiffJobs(desired, {Live(live_a)}, kInstance);
  ASSERT_TRUE(steps.ok());
  ASSERT_EQ(steps->size(), 2u);
  for (const PlanStep& step : *steps) {
    EXPECT_EQ(step.action, Action::kNone) << step.key.ToString();
    EXPECT_TRUE(step.error) << step.key.ToString();
  }
}

TEST(DiffJobsTest, UnchangedManifestThroughTheLoaderShowsNoChange) {
  LoadResult desired = LoadYaml({{"a.yaml", R"(
apiVersion: jobsync.dev/v1alpha1
kind: TrainingJob
metadata: {name: a, labels: {b: "2", a: "1"}}
spec:
  backend: kubernetes
  image: trainer:v1
  command: [torchrun, train.py]
  roles: {worker: {replicas: 2, resources: {cpu: 4000m, memory: 16384Mi}}}
)"}});
  ASSERT_TRUE(desired.ok());
  TrainingJob applied = K8sJob("a");
  applied.labels = {{"a", "1"}, {"b", "2"}};
  StatusOr<std::vector<PlanStep>> steps = DiffJobs(desired, {Live(applied)}, kInstance);
  ASSERT_TRUE(steps.ok());
  ASSERT_EQ(steps->size(), 1u);
  EXPECT_EQ((*steps)[0].action, Action::kNone) << (*steps)[0].reason;
  EXPECT_THAT((*steps)[0].changes, IsEmpty());
}

}  // namespace
}  // namespace jobsync
