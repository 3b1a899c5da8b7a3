// The per-field rules of diff/plan.h ("Per-field actions", "Elastic roles", and the TTL row of
// "7. Inventory"): which action each field's change gives, with which reason; rerun; patch of the
// deadline and TTL; elastic replica counts moved within and outside their bounds.
#include <functional>
#include <map>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "diff/plan.h"
#include "plan_fixtures.h"
#include "schemas/canonical.h"

namespace jobsync {
namespace {

using ::jobsync::testing::Desired;
using ::jobsync::testing::FindStep;
using ::jobsync::testing::K8sJob;
using ::jobsync::testing::Live;
using ::jobsync::testing::Options;
using ::jobsync::testing::RayJob;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using json = nlohmann::json;

FieldChange Change(std::string field, std::optional<json> from, std::optional<json> to) {
  return FieldChange{std::move(field), std::move(from), std::move(to)};
}

// The one step of planning `desired` against `live`.
PlanStep PlanOne(const TrainingJob& desired, const LiveJob& live,
                 const std::map<JobKey, InventoryEntry>& inventory = {}) {
  const LoadResult load = Desired({desired});
  const std::vector<LiveJob> lives = {live};
  const std::map<Target, Status> unavailable;
  StatusOr<Plan> plan = PlanSync(PlanInput{load, lives, unavailable, inventory}, Options());
  EXPECT_TRUE(plan.ok()) << plan.status().message();
  if (!plan.ok() || plan->steps.size() != 1) {
    ADD_FAILURE() << "expected one step";
    return PlanStep{};
  }
  return plan->steps[0];
}

TrainingJob With(TrainingJob job, const std::function<void(TrainingJob*)>& edit) {
  edit(&job);
  return job;
}

// One field edited between the applied and the desired spec of a running Kubernetes job: the
// action and the exact reason.
struct FieldCase {
  const char* name;
  std::function<void(TrainingJob*)> edit;
  Action action;
  const char* reason;

  friend void PrintTo(const FieldCase& c, std::ostream* os) { *os << c.name; }
};

class FieldRuleTest : public ::testing::TestWithParam<FieldCase> {};

TEST_P(FieldRuleTest, ActionAndReason) {
  const TrainingJob applied = With(K8sJob("a"), [](TrainingJob* j) { j->run_id = "1"; });
  const PlanStep step = PlanOne(With(applied, GetParam().edit), Live(applied));
  EXPECT_EQ(ActionName(step.action), std::string(ActionName(GetParam().action)));
  EXPECT_EQ(step.reason, GetParam().reason);
}

constexpr const char* kPodTemplate = "a running Job's pod template cannot change";

INSTANTIATE_TEST_SUITE_P(
    Fields, FieldRuleTest,
    ::testing::Values(
        FieldCase{"RunId", [](TrainingJob* j) { j->run_id = "2"; }, Action::kRerun,
                  R"(spec.runId changed ("1" -> "2"): run again (recreate at the same spec))"},
        FieldCase{"RunIdWithSuspendAndAnnotations",
                  [](TrainingJob* j) {
                    j->run_id = "2";
                    j->suspend = true;
                    j->annotations["owner"] = "ml";
                  },
                  Action::kRerun,
                  R"(spec.runId changed ("1" -> "2"): run again (recreate at the same spec))"},
        FieldCase{"RunIdWithImage",
                  [](TrainingJob* j) {
                    j->run_id = "2";
                    j->image = "trainer:v2";
                  },
                  Action::kUpdate,
                  "spec changed: recreate (spec.image: a running Job's pod template cannot "
                  "change; spec.runId: a new run of the same spec)"},
        FieldCase{
            "VolumesAndTolerations",
            [](TrainingJob* j) {
              j->pod->volumes.push_back(Volume{
                  "data", "/data", true, "", {{"persistentVolumeClaim", {{"claimName", "x"}}}}});
              j->pod->tolerations.push_back({{"key", "gpu"}, {"operator", "Exists"}});
            },
            Action::kUpdate,
            "spec changed: recreate (spec.tolerations, spec.volumes: a running Job's pod "
            "template cannot change)"},
        FieldCase{"FailurePolicy", [](TrainingJob* j) { j->max_restarts = 3; }, Action::kUpdate,
                  "spec changed: recreate (spec.failurePolicy: a Job's backoffLimitPerIndex and "
                  "podFailurePolicy cannot change)"},
        FieldCase{"Label", [](TrainingJob* j) { j->labels["team"] = "vision"; }, Action::kUpdate,
                  "spec changed: recreate (metadata.labels: labels are copied onto the pods, and "
                  "a running Job's pod template cannot change)"},
        FieldCase{"EnvAndRoleResources",
                  [](TrainingJob* j) {
                    j->env["EPOCHS"] = "90";
                    j->roles["worker"].resources.gpu = 8;
                  },
                  Action::kUpdate,
                  "spec changed: recreate (spec.env, spec.roles.worker.resources: a running "
                  "Job's pod template cannot change)"},
        FieldCase{"ElasticBounds", [](TrainingJob* j) { j->roles["worker"].max_replicas = 8; },
                  Action::kUpdate,
                  "spec changed: recreate (spec.roles.worker.maxReplicas: elastic bounds reach "
                  "the pods as environment, and a running Job's pod template cannot change)"},
        FieldCase{"RoleAdded", [](TrainingJob* j) { j->roles["ps"] = Role{}; }, Action::kUpdate,
                  "spec changed: recreate (spec.roles.ps: a role added or removed adds or "
                  "removes its Jobs)"},
        FieldCase{"PodTemplatePatch",
                  [](TrainingJob* j) {
                    j->pod_template_patch = {{"spec", {{"hostNetwork", true}}}};
                  },
                  Action::kUpdate,
                  "spec changed: recreate (spec.kubernetes.podTemplatePatch: a running Job's pod "
                  "template cannot change)"},
        FieldCase{"Ttl", [](TrainingJob* j) { j->ttl_seconds_after_finished = 3600; },
                  Action::kPatch,
                  "only spec.ttlSecondsAfterFinished changed: patched in place, nothing restarts"},
        FieldCase{"DeadlineAndAnnotations",
                  [](TrainingJob* j) {
                    j->active_deadline_seconds = 86400;
                    j->annotations["owner"] = "ml";
                  },
                  Action::kPatch,
                  "only annotations, spec.activeDeadlineSeconds changed: patched in place, "
                  "nothing restarts"},
        FieldCase{"ReplicasAndTtl",
                  [](TrainingJob* j) {
                    j->roles["worker"].replicas = 4;
                    j->ttl_seconds_after_finished = 60;
                  },
                  Action::kScale,
                  "replica counts changed; spec.ttlSecondsAfterFinished patched in place"}),
    [](const ::testing::TestParamInfo<FieldCase>& param_info) {
      return std::string(param_info.param.name);
    });

// An ElasticJob in operator mode: a replica change is a scale (a ScalePlan), a change of the
// ElasticJob's own spec a recreate saying why.
TEST(FieldRuleTest, ElasticJobInOperatorMode) {
  const TrainingJob applied = With(K8sJob("a"), [](TrainingJob* j) {
    j->workload = KubernetesWorkload::kElasticJob;
    j->elastic_job_spec = {{"brainService", "brain:1"},
                           {"replicaSpecs", {{"worker", json::object()}}}};
  });
  const PlanStep scaled = PlanOne(
      With(applied, [](TrainingJob* j) { j->roles.begin()->second.replicas += 2; }), Live(applied));
  EXPECT_EQ(scaled.action, Action::kScale);
  const PlanStep changed = PlanOne(
      With(applied, [](TrainingJob* j) { j->elastic_job_spec["brainService"] = "brain:2"; }),
      Live(applied));
  EXPECT_EQ(changed.action, Action::kUpdate);
  EXPECT_THAT(changed.reason,
              HasSubstr("spec.kubernetes.elasticJob: DLRover's operator takes replica changes (as "
                        "ScalePlans) and suspend on a created ElasticJob, nothing else"));
}

// A KubeRay RayJob: KubeRay does not change its Ray cluster once made, so a replica change
// recreates it (saying so); suspend stays in place.
TEST(FieldRuleTest, KubeRayRayJob) {
  const TrainingJob applied = With(RayJob("t"), [](TrainingJob* j) {
    j->ray->cluster = RayCluster::kKubeRay;
    j->ray->image = "rayproject/ray:2.52.0";
  });
  ASSERT_EQ(applied.key().backend, BackendKind::kKubernetes);
  const PlanStep scaled = PlanOne(
      With(applied, [](TrainingJob* j) { j->roles.begin()->second.replicas += 1; }), Live(applied));
  EXPECT_EQ(scaled.action, Action::kUpdate);
  EXPECT_THAT(scaled.reason, HasSubstr("KubeRay does not change a RayJob's Ray cluster once made"));
  const PlanStep entrypoint = PlanOne(
      With(applied, [](TrainingJob* j) { j->ray->entrypoint = "python other.py"; }), Live(applied));
  EXPECT_THAT(entrypoint.reason, HasSubstr("KubeRay does not change a RayJob's Ray cluster"));
  const PlanStep suspended =
      PlanOne(With(applied, [](TrainingJob* j) { j->suspend = true; }), Live(applied));
  EXPECT_EQ(suspended.action, Action::kScale);
}

TEST(FieldRuleTest, PodTemplateWhyIsTheDefault) {
  const TrainingJob applied = K8sJob("a");
  const PlanStep step = PlanOne(
      With(applied, [](TrainingJob* j) { j->pod->scheduler_name = "volcano"; }), Live(applied));
  EXPECT_EQ(step.reason,
            "spec changed: recreate (spec.schedulerName: " + std::string(kPodTemplate) + ")");
}

// A role's empty command runs the image's entrypoint, not the job's command: a change, although
// an empty list and an absent field are alike elsewhere in the canonical JSON.
TEST(FieldRuleTest, ARoleCommandSetToEmptyIsAChange) {
  TrainingJob applied = K8sJob("a");
  applied.command = {"torchrun", "train.py"};
  const PlanStep step = PlanOne(
      With(applied, [](TrainingJob* j) { j->roles.begin()->second.overrides->command.emplace(); }),
      Live(applied));
  EXPECT_EQ(step.action, Action::kUpdate);
  ASSERT_EQ(step.changes.size(), 1u);
  EXPECT_EQ(step.changes[0].field, "spec.roles." + applied.roles.begin()->first + ".command");
  // On a finished job an empty-looking difference is no patch with an empty field list.
  LiveJob finished = Live(applied, LivePhase::kSucceeded);
  const PlanStep none =
      PlanOne(With(applied, [](TrainingJob* j) { j->pod->affinity = json::object(); }), finished);
  EXPECT_EQ(none.action, Action::kNone);
}

TEST(RerunTest, RunIdOfARunningJobReruns) {
  const TrainingJob applied = K8sJob("a");
  const PlanStep step =
      PlanOne(With(applied, [](TrainingJob* j) { j->run_id = "2"; }), Live(applied));
  EXPECT_EQ(step.action, Action::kRerun);
  EXPECT_THAT(step.changes, ElementsAre(Change("spec.runId", std::nullopt, "2")));
  EXPECT_EQ(step.reason,
            R"(spec.runId changed ((none) -> "2"): run again (recreate at the same spec))");
}

TEST(RerunTest, RunIdOfAFinishedJobRerunsIt) {
  for (LivePhase phase : {LivePhase::kSucceeded, LivePhase::kFailed}) {
    const TrainingJob applied = With(K8sJob("a"), [](TrainingJob* j) { j->run_id = "1"; });
    LiveJob live = Live(applied, phase);
    live.replicas["worker"] = 0;  // a finished job runs nothing
    const PlanStep step = PlanOne(With(applied, [](TrainingJob* j) { j->run_id = "2"; }), live);
    EXPECT_EQ(step.action, Action::kRerun) << LivePhaseName(phase);
    EXPECT_THAT(step.changes, ElementsAre(Change("spec.runId", "1", "2")));
    EXPECT_EQ(step.reason, "finished (" + std::string(LivePhaseName(phase)) +
                               R"() and spec.runId changed ("1" -> "2"): run again (recreate at )"
                               R"(the same spec))");
  }
}

TEST(RerunTest, RunIdWithDriftedReplicasStillReruns) {
  // The live count moved outside Git; the rerun recreates at Git's count anyway.
  const TrainingJob applied = K8sJob("a");
  LiveJob live = Live(applied);
  live.replicas["worker"] = 5;
  const PlanStep step = PlanOne(With(applied, [](TrainingJob* j) { j->run_id = "7"; }), live);
  EXPECT_EQ(step.action, Action::kRerun);
}

TEST(RerunTest, FinishedJobWithTheSameRunIdIsNotRerun) {
  const TrainingJob applied = With(K8sJob("a"), [](TrainingJob* j) { j->run_id = "1"; });
  const PlanStep step = PlanOne(applied, Live(applied, LivePhase::kSucceeded));
  EXPECT_EQ(step.action, Action::kNone);
  EXPECT_EQ(step.reason, "finished (Succeeded) at this spec: not re-run");
}

TEST(RerunTest, RayRunIdReruns) {
  const TrainingJob applied = RayJob("r");
  const PlanStep step = PlanOne(With(applied, [](TrainingJob* j) { j->run_id = "2"; }),
                                Live(applied, LivePhase::kSucceeded));
  EXPECT_EQ(step.action, Action::kRerun);
}

TEST(PatchTest, FinishedJobDeadlineAndTtlArePatchedNotRerun) {
  const TrainingJob applied = K8sJob("a");
  const PlanStep step = PlanOne(With(applied,
                                     [](TrainingJob* j) {
                                       j->ttl_seconds_after_finished = 600;
                                       j->active_deadline_seconds = 3600;
                                     }),
                                Live(applied, LivePhase::kSucceeded));
  EXPECT_EQ(step.action, Action::kPatch);
  EXPECT_THAT(step.changes, ElementsAre(Change("spec.activeDeadlineSeconds", std::nullopt, 3600),
                                        Change("spec.ttlSecondsAfterFinished", std::nullopt, 600)));
  EXPECT_EQ(step.reason,
            "finished (Succeeded) and only spec.activeDeadlineSeconds, "
            "spec.ttlSecondsAfterFinished changed: patched in place, nothing restarts; not "
            "re-run");
}

TEST(PatchTest, RayRecreatesForTheKubernetesOnlyDeadline) {
  // The loader refuses the field on Ray; a hand-built input still plans safely.
  const TrainingJob applied = RayJob("r");
  const PlanStep step = PlanOne(
      With(applied, [](TrainingJob* j) { j->active_deadline_seconds = 60; }), Live(applied));
  EXPECT_EQ(step.action, Action::kUpdate);
  EXPECT_EQ(step.reason,
            "spec changed: recreate (spec.activeDeadlineSeconds: a Ray submission cannot "
            "change: it is stopped and submitted again)");
}

// A job whose worker role is elastic in [2, 8] with Git's replicas 4.
TrainingJob Elastic() {
  return With(K8sJob("a"), [](TrainingJob* j) {
    j->roles["worker"].replicas = 4;
    j->roles["worker"].min_replicas = 2;
    j->roles["worker"].max_replicas = 8;
  });
}

TEST(ElasticTest, CountMovedWithinBoundsIsInSync) {
  for (int count : {2, 3, 6, 8}) {
    LiveJob live = Live(Elastic());
    live.replicas["worker"] = count;
    const PlanStep step = PlanOne(Elastic(), live);
    EXPECT_EQ(step.action, Action::kNone) << count;
    EXPECT_EQ(step.reason,
              "in sync (elastic: worker runs " + std::to_string(count) + " within [2, 8])");
    EXPECT_THAT(step.changes, IsEmpty());
  }
}

TEST(ElasticTest, CountMovedWithinBoundsIsNotDriftWithAnInventory) {
  LiveJob live = Live(Elastic());
  live.replicas["worker"] = 7;
  const std::map<JobKey, InventoryEntry> inventory = {
      {Elastic().key(), {SpecHash(Elastic()), "r1", false}}};
  for (DriftPolicy policy : {DriftPolicy::kHeal, DriftPolicy::kWarn}) {
    PlanOptions options = Options();
    options.drift = policy;
    const LoadResult load = Desired({Elastic()});
    const std::vector<LiveJob> lives = {live};
    const std::map<Target, Status> unavailable;
    StatusOr<Plan> plan = PlanSync(PlanInput{load, lives, unavailable, inventory}, options);
    ASSERT_TRUE(plan.ok());
    const PlanStep& step = plan->steps.at(0);
    EXPECT_EQ(step.action, Action::kNone);
    EXPECT_FALSE(step.drift);
    EXPECT_FALSE(step.withheld);
  }
}

TEST(ElasticTest, CountOutsideBoundsIsHealedToGit) {
  for (int count : {1, 9}) {
    LiveJob live = Live(Elastic());
    live.replicas["worker"] = count;
    const std::map<JobKey, InventoryEntry> inventory = {
        {Elastic().key(), {SpecHash(Elastic()), "r1", false}}};
    const PlanStep step = PlanOne(Elastic(), live, inventory);
    EXPECT_EQ(step.action, Action::kScale) << count;
    EXPECT_TRUE(step.drift);
    EXPECT_THAT(step.changes, ElementsAre(Change("spec.roles.worker.replicas", count, 4)));
    EXPECT_EQ(step.reason, "worker runs " + std::to_string(count) +
                               ", outside its elastic bounds [2, 8]: scale back to 4");
  }
}

TEST(ElasticTest, GitChangeScalesToGitsCountEvenWithinBounds) {
  LiveJob live = Live(Elastic());  // applied at 4
  live.replicas["worker"] = 6;     // moved by an elastic trainer
  const PlanStep step =
      PlanOne(With(Elastic(), [](TrainingJob* j) { j->roles["worker"].replicas = 5; }), live);
  EXPECT_EQ(step.action, Action::kScale);
  EXPECT_THAT(step.changes, ElementsAre(Change("spec.roles.worker.replicas", 6, 5)));
  EXPECT_EQ(step.reason, "replica counts changed");
}

TEST(ElasticTest, RoleWithoutBoundsIsStillScaledBack) {
  TrainingJob job = Elastic();
  job.roles["ps"].replicas = 1;
  LiveJob live = Live(job);
  live.replicas["worker"] = 6;  // elastic, within bounds: accepted
  live.replicas["ps"] = 3;      // not elastic: drift
  const PlanStep step = PlanOne(job, live);
  EXPECT_EQ(step.action, Action::kScale);
  EXPECT_THAT(step.changes, ElementsAre(Change("spec.roles.ps.replicas", 3, 1)));
  EXPECT_EQ(step.reason,
            "live replica counts drifted from the applied spec: scale back (elastic: worker runs "
            "6 within [2, 8])");
}

TEST(TtlTest, JobGoneAfterItsTtlIsNotRerun) {
  // Applied at this spec, never listed finished (its Jobs went within the TTL before a listing
  // saw them complete, or while the agent was down): gone now.
  const TrainingJob job = With(K8sJob("a"), [](TrainingJob* j) {
    j->ttl_seconds_after_finished = 0;
    j->run_id = "1";
  });
  const LoadResult load = Desired({job});
  const std::vector<LiveJob> none;
  const std::map<Target, Status> unavailable;
  const std::map<JobKey, InventoryEntry> inventory = {{job.key(), {SpecHash(job), "r1", false}}};
  StatusOr<Plan> plan = PlanSync(PlanInput{load, none, unavailable, inventory}, Options());
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->steps.at(0).action, Action::kNone);
  EXPECT_THAT(plan->steps.at(0).reason, HasSubstr("ttlSecondsAfterFinished"));
  EXPECT_THAT(plan->steps.at(0).reason, HasSubstr("change spec.runId to run it again"));

  // A new runId runs it again: a create, as nothing is live.
  const LoadResult rerun = Desired({With(job, [](TrainingJob* j) { j->run_id = "2"; })});
  StatusOr<Plan> again = PlanSync(PlanInput{rerun, none, unavailable, inventory}, Options());
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->steps.at(0).action, Action::kCreate);
}

TEST(TtlTest, JobWithoutTtlGoneIsStillHealedAsDrift) {
  const TrainingJob job = K8sJob("a");
  const LoadResult load = Desired({job});
  const std::vector<LiveJob> none;
  const std::map<Target, Status> unavailable;
  const std::map<JobKey, InventoryEntry> inventory = {{job.key(), {SpecHash(job), "r1", false}}};
  StatusOr<Plan> plan = PlanSync(PlanInput{load, none, unavailable, inventory}, Options());
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->steps.at(0).action, Action::kCreate);
  EXPECT_TRUE(plan->steps.at(0).drift);
}

}  // namespace
}  // namespace jobsync
