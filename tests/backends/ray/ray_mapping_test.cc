#include "backends/ray/ray_mapping.h"

#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "schemas/canonical.h"
#include "tests/backends/ray/fake_ray.h"

namespace jobsync {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;
using testing::RayTrainingJob;

const ApplyContext kContext{"prod", "0123abcd"};

TEST(RayMappingTest, SubmissionIdIsNamespaceNameSpecHashAndRevision) {
  TrainingJob job = RayTrainingJob("bert");
  const std::string base = "jobsync-team-a-bert-" + SpecHash(job).substr(0, 10);
  EXPECT_EQ(SubmissionIdBase(job, "0123ABCDef99"), base + "-0123abcd");
  EXPECT_EQ(SubmissionIdBase(job, "v1.2/rc"), base + "-v12rc");
  EXPECT_EQ(SubmissionIdBase(job, ""), base);
  EXPECT_EQ(SubmissionIdBase(job, "--"), base);
}

TEST(RayMappingTest, SubmissionIdChangesWithReplicasSuspendAndRevision) {
  TrainingJob job = RayTrainingJob("bert", 2);
  TrainingJob scaled = RayTrainingJob("bert", 4);
  TrainingJob suspended = job;
  suspended.suspend = true;
  EXPECT_NE(SubmissionIdBase(job, "r"), SubmissionIdBase(scaled, "r"));
  EXPECT_NE(SubmissionIdBase(job, "r"), SubmissionIdBase(suspended, "r"));
  EXPECT_NE(SubmissionIdBase(job, "r1"), SubmissionIdBase(job, "r2"));
  EXPECT_EQ(SubmissionIdBase(job, "r"), SubmissionIdBase(RayTrainingJob("bert", 2), "r"));
}

TEST(RayMappingTest, FirstFreeSubmissionIdAppendsCounter) {
  EXPECT_EQ(FirstFreeSubmissionId("a", {}), "a");
  EXPECT_EQ(FirstFreeSubmissionId("a", {"a", "b"}), "a-2");
  EXPECT_EQ(FirstFreeSubmissionId("a", {"a-2", "a", "a-3"}), "a-4");
}

TEST(RayMappingTest, RoleEnvSuffixUpperCasesAndReplacesDashes) {
  EXPECT_EQ(RoleEnvSuffix("worker"), "WORKER");
  EXPECT_EQ(RoleEnvSuffix("param-server-2"), "PARAM_SERVER_2");
}

TEST(RayMappingTest, EnvVarsCarryCountsWorldSizeAndResources) {
  std::map<std::string, std::string> vars = JobsyncEnvVars(RayTrainingJob("bert", 3));
  std::map<std::string, std::string> expected = {
      {"JOBSYNC_JOB", "bert"},
      {"JOBSYNC_NAMESPACE", "team-a"},
      {"JOBSYNC_WORLD_SIZE", "4"},
      {"JOBSYNC_REPLICAS_WORKER", "3"},
      {"JOBSYNC_CPU_WORKER", "1"},
      {"JOBSYNC_MEMORY_WORKER", "2147483648"},
      {"JOBSYNC_GPU_WORKER", "1"},
      {"JOBSYNC_REPLICAS_PARAM_SERVER", "1"},
      {"JOBSYNC_CPU_PARAM_SERVER", "0.5"},
  };
  EXPECT_EQ(vars, expected);
}

TEST(RayMappingTest, ElasticRolesGetTheirBoundsAndOneElasticRoleNamesNnodes) {
  TrainingJob job = RayTrainingJob("bert", 3);
  job.roles["worker"].min_replicas = 2;
  job.roles["worker"].max_replicas = 6;
  std::map<std::string, std::string> vars = JobsyncEnvVars(job);
  EXPECT_EQ(vars["JOBSYNC_MIN_REPLICAS_WORKER"], "2");
  EXPECT_EQ(vars["JOBSYNC_MAX_REPLICAS_WORKER"], "6");
  EXPECT_EQ(vars["JOBSYNC_NNODES"], "2:6");
  EXPECT_EQ(vars.count("JOBSYNC_MIN_REPLICAS_PARAM_SERVER"), 0u);

  // Two elastic roles: each has its bounds, and no one range is the job's.
  job.roles["param-server"].max_replicas = 4;
  vars = JobsyncEnvVars(job);
  EXPECT_EQ(vars["JOBSYNC_MIN_REPLICAS_PARAM_SERVER"], "1");
  EXPECT_EQ(vars["JOBSYNC_MAX_REPLICAS_PARAM_SERVER"], "4");
  EXPECT_EQ(vars.count("JOBSYNC_NNODES"), 0u);

  // They win over the manifest's env, like every JOBSYNC_ variable.
  job.env["JOBSYNC_MAX_REPLICAS_WORKER"] = "99";
  StatusOr<json> body = BuildSubmitRequest(job, kContext, "id");
  ASSERT_TRUE(body.ok()) << body.status().ToString();
  EXPECT_EQ((*body)["runtime_env"]["env_vars"]["JOBSYNC_MAX_REPLICAS_WORKER"], "6");
}

TEST(RayMappingTest, KubernetesOnlyFieldsDoNotBreakTheSubmission) {
  // The loader refuses these on Ray; a job that carries them anyway still maps.
  TrainingJob job = RayTrainingJob("bert", 2);
  job.args = {"--epochs", "3"};
  job.pod->env_refs["KEY"] = {{"secretKeyRef", {{"name", "s"}, {"key", "k"}}}};
  job.pod->volumes.push_back(
      Volume{"shm", "/dev/shm", false, "", {{"emptyDir", {{"medium", "Memory"}}}}});
  job.pod->tolerations.push_back({{"key", "gpu"}, {"operator", "Exists"}});
  job.pod->affinity = {{"nodeAffinity", json::object()}};
  job.pod->node_selector["pool"] = "gpu";
  job.active_deadline_seconds = 60;
  job.ttl_seconds_after_finished = 60;
  job.max_restarts = 2;
  job.pod_template_patch = {{"spec", {{"hostNetwork", true}}}};
  job.run_id = "7";
  StatusOr<json> body = BuildSubmitRequest(job, kContext, "id");
  ASSERT_TRUE(body.ok()) << body.status().ToString();
  EXPECT_EQ((*body)["entrypoint"], "python train.py");
  EXPECT_EQ((*body)["runtime_env"]["env_vars"].count("KEY"), 0u);
  EXPECT_EQ((*body)["metadata"][kSpecHashAnnotation], SpecHash(job));
}

TEST(RayMappingTest, ANewRunIdIsANewSubmissionId) {
  TrainingJob job = RayTrainingJob("bert", 2);
  TrainingJob again = job;
  again.run_id = "2";
  EXPECT_NE(SubmissionIdBase(job, "r"), SubmissionIdBase(again, "r"));
}

TEST(RayMappingTest, SubmitRequestHasIdEntrypointMetadataEnvAndResources) {
  TrainingJob job = RayTrainingJob("bert", 2);
  job.env["FROM_RUNTIME_ENV"] = "overridden";
  job.annotations[kPruneAnnotation] = "false";
  StatusOr<json> request = BuildSubmitRequest(job, kContext, "jobsync-team-a-bert-x");
  ASSERT_TRUE(request.ok()) << request.status().ToString();
  const json& r = *request;
  EXPECT_EQ(r["submission_id"], "jobsync-team-a-bert-x");
  EXPECT_EQ(r["entrypoint"], "python train.py");
  EXPECT_EQ(r["entrypoint_num_cpus"], 0.1);
  EXPECT_EQ(r["entrypoint_memory"], 134217728);
  EXPECT_FALSE(r.contains("entrypoint_num_gpus"));
  EXPECT_EQ(r["runtime_env"]["working_dir"], ".");
  const json& env = r["runtime_env"]["env_vars"];
  EXPECT_EQ(env["FROM_RUNTIME_ENV"], "overridden");  // spec.env wins over runtimeEnv.env_vars
  EXPECT_EQ(env["EPOCHS"], "3");
  EXPECT_EQ(env["JOBSYNC_REPLICAS_WORKER"], "2");
  EXPECT_EQ(env["JOBSYNC_WORLD_SIZE"], "3");
  const json& metadata = r["metadata"];
  for (const auto& [key, value] : metadata.items()) {
    EXPECT_TRUE(value.is_string()) << key;  // Ray accepts string values only
  }
  EXPECT_EQ(metadata[kManagedByLabel], "jobsync");
  EXPECT_EQ(metadata[kInstanceLabel], "prod");
  EXPECT_EQ(metadata[kJobLabel], "bert");
  EXPECT_EQ(metadata[kRayNamespaceKey], "team-a");
  EXPECT_EQ(metadata[kSpecHashAnnotation], SpecHash(job));
  EXPECT_EQ(metadata[kSourcePathAnnotation], "manifests/bert.yaml");
  EXPECT_EQ(metadata[kRevisionAnnotation], "0123abcd");
  EXPECT_EQ(metadata[kSpecAnnotation], CanonicalSpecText(job));
  EXPECT_EQ(metadata[kPruneAnnotation], "false");
  EXPECT_FALSE(metadata.contains(kRaySuspendedKey));
}

TEST(RayMappingTest, JobsyncVariablesWinOverUserEnv) {
  TrainingJob job = RayTrainingJob("bert", 2);
  job.env["JOBSYNC_REPLICAS_WORKER"] = "99";
  StatusOr<json> request = BuildSubmitRequest(job, kContext, "id");
  ASSERT_TRUE(request.ok());
  EXPECT_EQ((*request)["runtime_env"]["env_vars"]["JOBSYNC_REPLICAS_WORKER"], "2");
}

TEST(RayMappingTest, SubmitRequestRejectsNonStringRuntimeEnvVars) {
  TrainingJob job = RayTrainingJob("bert");
  job.ray->runtime_env["env_vars"] = {{"N", 3}};
  StatusOr<json> request = BuildSubmitRequest(job, kContext, "id");
  ASSERT_FALSE(request.ok());
  EXPECT_EQ(request.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(request.status().message(), HasSubstr("env_vars.N"));
}

TEST(RayMappingTest, SubmitRequestRefusesOversizedMetadata) {
  TrainingJob job = RayTrainingJob("bert");
  job.ray->runtime_env["big"] = std::string(kMaxRayMetadataBytes, 'x');
  StatusOr<json> request = BuildSubmitRequest(job, kContext, "id");
  ASSERT_FALSE(request.ok());
  EXPECT_EQ(request.status().code(), StatusCode::kResourceExhausted);
}

TEST(RayMappingTest, SuspendMarkerOnlyEchoesAndCarriesSuspendedSpec) {
  TrainingJob job = RayTrainingJob("bert");
  job.suspend = true;
  StatusOr<json> request = BuildSuspendMarkerRequest(job, kContext, "id");
  ASSERT_TRUE(request.ok());
  EXPECT_THAT((*request)["entrypoint"].get<std::string>(), ::testing::StartsWith("echo "));
  EXPECT_FALSE(request->contains("runtime_env"));
  EXPECT_FALSE(request->contains("entrypoint_num_cpus"));
  EXPECT_EQ((*request)["metadata"][kRaySuspendedKey], "true");
  EXPECT_EQ((*request)["metadata"][kSpecAnnotation], CanonicalSpecText(job));
}

json Item(const std::string& id, const std::string& status, int64_t start, json metadata) {
  return {{"type", "SUBMISSION"},
          {"submission_id", id},
          {"status", status},
          {"start_time", start},
          {"metadata", metadata}};
}

json Owned(const std::string& name, const std::string& instance = "prod") {
  return {{kManagedByLabel, "jobsync"},
          {kInstanceLabel, instance},
          {kJobLabel, name},
          {kRayNamespaceKey, "team-a"},
          {kSpecHashAnnotation, "h"}};
}

TEST(RayMappingTest, ParseJobListKeepsOnlyJobsyncSubmissions) {
  json list = json::array({
      Item("ours", "RUNNING", 5, Owned("bert")),
      Item("foreign", "RUNNING", 6, {{"owner", "someone"}}),
      Item("other-manager", "RUNNING", 6, {{kManagedByLabel, "argo"}, {kJobLabel, "x"}}),
      Item("no-job-key", "RUNNING", 6, {{kManagedByLabel, "jobsync"}}),
      {{"type", "DRIVER"}, {"submission_id", nullptr}, {"status", "RUNNING"}},
      Item("null-metadata", "RUNNING", 6, nullptr),
  });
  StatusOr<std::vector<RaySubmission>> parsed = ParseJobList(list.dump());
  ASSERT_TRUE(parsed.ok());
  ASSERT_EQ(parsed->size(), 1u);
  const RaySubmission& s = (*parsed)[0];
  EXPECT_EQ(s.submission_id, "ours");
  EXPECT_EQ(s.status, RayJobStatus::kRunning);
  EXPECT_EQ(s.start_time_ms, 5);
  EXPECT_EQ(s.key, (JobKey{BackendKind::kRay, "team-a", "bert"}));
  EXPECT_EQ(s.instance, "prod");
  EXPECT_EQ(s.spec_hash, "h");
  EXPECT_FALSE(s.suspend_marker);
}

TEST(RayMappingTest, ParseJobListFailsOnNonList) {
  for (const char* body : {"<html>proxy login</html>", "{}", ""}) {
    StatusOr<std::vector<RaySubmission>> parsed = ParseJobList(body);
    ASSERT_FALSE(parsed.ok()) << body;
    EXPECT_EQ(parsed.status().code(), StatusCode::kInternal);
  }
}

TEST(RayMappingTest, GroupGenerationsOrdersByStartTimeThenId) {
  std::vector<RaySubmission> submissions(3);
  submissions[0].submission_id = "c";
  submissions[0].start_time_ms = 20;
  submissions[1].submission_id = "b";
  submissions[1].start_time_ms = 10;
  submissions[2].submission_id = "a";
  submissions[2].start_time_ms = 20;
  for (RaySubmission& s : submissions) s.key = {BackendKind::kRay, "n", "j"};
  auto groups = GroupGenerations(submissions);
  ASSERT_EQ(groups.size(), 1u);
  std::vector<std::string> ids;
  for (const RaySubmission& s : groups.begin()->second) ids.push_back(s.submission_id);
  EXPECT_EQ(ids, (std::vector<std::string>{"b", "a", "c"}));
}

RaySubmission Generation(RayJobStatus status, bool marker = false) {
  RaySubmission s;
  s.status = status;
  s.suspend_marker = marker;
  return s;
}

struct PhaseCase {
  const char* name;
  std::vector<RaySubmission> generations;  // oldest first
  LivePhase phase;
  Health health;
};

TEST(RayMappingTest, PhaseAndHealthMapping) {
  using S = RayJobStatus;
  const std::vector<PhaseCase> cases = {
      {"pending", {Generation(S::kPending)}, LivePhase::kPending, Health::kProgressing},
      {"running", {Generation(S::kRunning)}, LivePhase::kRunning, Health::kHealthy},
      {"succeeded", {Generation(S::kSucceeded)}, LivePhase::kSucceeded, Health::kSucceeded},
      {"failed", {Generation(S::kFailed)}, LivePhase::kFailed, Health::kFailed},
      {"stopped outside jobsync",
       {Generation(S::kStopped)},
       LivePhase::kSuspended,
       Health::kDegraded},
      {"suspended (marker done)",
       {Generation(S::kStopped), Generation(S::kSucceeded, true)},
       LivePhase::kSuspended,
       Health::kSuspended},
      {"suspended (marker still running its echo)",
       {Generation(S::kStopped), Generation(S::kRunning, true)},
       LivePhase::kSuspended,
       Health::kSuspended},
      {"suspend interrupted: old generation still runs",
       {Generation(S::kRunning), Generation(S::kSucceeded, true)},
       LivePhase::kRunning,
       Health::kHealthy},
      {"restarted: newest runs",
       {Generation(S::kStopped), Generation(S::kRunning)},
       LivePhase::kRunning,
       Health::kHealthy},
      {"resumed",
       {Generation(S::kStopped), Generation(S::kSucceeded, true), Generation(S::kPending)},
       LivePhase::kPending,
       Health::kProgressing},
      {"unknown status", {Generation(S::kUnknown)}, LivePhase::kUnknown, Health::kProgressing},
  };
  for (const PhaseCase& c : cases) {
    EXPECT_EQ(PhaseOf(c.generations), c.phase) << c.name;
    EXPECT_EQ(HealthOf(c.generations), c.health) << c.name;
  }
  EXPECT_EQ(HealthOf({}), Health::kMissing);
}

TEST(RayMappingTest, LiveJobReadsNewestGeneration) {
  TrainingJob old_spec = RayTrainingJob("bert", 2);
  TrainingJob new_spec = RayTrainingJob("bert", 4);
  new_spec.annotations[kPruneAnnotation] = "false";
  StatusOr<json> old_request = BuildSubmitRequest(old_spec, {"prod", "r1"}, "g1");
  StatusOr<json> new_request = BuildSubmitRequest(new_spec, {"prod", "r2"}, "g2");
  ASSERT_TRUE(old_request.ok() && new_request.ok());
  json list = json::array({Item("g2", "RUNNING", 20, (*new_request)["metadata"]),
                           Item("g1", "STOPPED", 10, (*old_request)["metadata"])});
  StatusOr<std::vector<RaySubmission>> parsed = ParseJobList(list.dump());
  ASSERT_TRUE(parsed.ok());
  auto groups = GroupGenerations(*parsed);
  ASSERT_EQ(groups.size(), 1u);
  LiveJob live = ToLiveJob(groups.begin()->second);
  EXPECT_EQ(live.key, new_spec.key());
  ASSERT_NE(live.applied, nullptr);
  EXPECT_EQ(CanonicalSpec(*live.applied), CanonicalSpec(new_spec));
  EXPECT_EQ(live.replicas, (std::map<std::string, int>{{"param-server", 1}, {"worker", 4}}));
  EXPECT_EQ(live.phase, LivePhase::kRunning);
  EXPECT_EQ(live.instance, "prod");
  EXPECT_TRUE(live.prune_protected);
  EXPECT_EQ(live.source_path, "manifests/bert.yaml");
  EXPECT_EQ(live.revision, "r2");
}

TEST(RayMappingTest, LiveJobWithoutReadableSpecHasNoApplied) {
  json metadata = Owned("bert");
  metadata[kSpecAnnotation] = "{not json";
  StatusOr<std::vector<RaySubmission>> parsed =
      ParseJobList(json::array({Item("g", "RUNNING", 1, metadata)}).dump());
  ASSERT_TRUE(parsed.ok());
  LiveJob live = ToLiveJob(GroupGenerations(*parsed).begin()->second);
  EXPECT_EQ(live.applied, nullptr);
  EXPECT_TRUE(live.replicas.empty());
  EXPECT_EQ(live.phase, LivePhase::kRunning);
}

TEST(RayMappingTest, SpecRecordGivesTheAppliedSpecAndTheRunGivesThePhase) {
  const TrainingJob running = RayTrainingJob("bert", 2);
  TrainingJob protected_spec = running;
  protected_spec.annotations[kPruneAnnotation] = "false";
  StatusOr<json> run = BuildSubmitRequest(running, {"prod", "r1"}, "g1");
  StatusOr<json> record = BuildSpecRecordRequest(protected_spec, {"prod", "r2"}, "g1", "g2");
  ASSERT_TRUE(run.ok() && record.ok());
  EXPECT_THAT((*record)["entrypoint"].get<std::string>(), HasSubstr("echo"));
  EXPECT_FALSE(record->contains("runtime_env"));
  EXPECT_EQ((*record)["metadata"][kRayRecordsKey], "g1");
  json list = json::array({Item("g1", "RUNNING", 10, (*run)["metadata"]),
                           Item("g2", "SUCCEEDED", 20, (*record)["metadata"])});
  StatusOr<std::vector<RaySubmission>> parsed = ParseJobList(list.dump());
  ASSERT_TRUE(parsed.ok());
  const std::vector<RaySubmission> generations = GroupGenerations(*parsed).begin()->second;
  LiveJob live = ToLiveJob(generations);
  ASSERT_NE(live.applied, nullptr);
  EXPECT_EQ(SpecHash(*live.applied), SpecHash(protected_spec));
  EXPECT_TRUE(live.prune_protected);
  EXPECT_EQ(live.revision, "r2");
  EXPECT_EQ(live.phase, LivePhase::kRunning);
  EXPECT_EQ(HealthOf(generations), Health::kHealthy);

  // A later restart (g3) makes the record stale: its own metadata is the applied spec.
  StatusOr<json> restart = BuildSubmitRequest(running, {"prod", "r3"}, "g3");
  ASSERT_TRUE(restart.ok());
  list.push_back(Item("g3", "PENDING", 30, (*restart)["metadata"]));
  parsed = ParseJobList(list.dump());
  ASSERT_TRUE(parsed.ok());
  live = ToLiveJob(GroupGenerations(*parsed).begin()->second);
  EXPECT_FALSE(live.prune_protected);
  EXPECT_EQ(live.revision, "r3");
  EXPECT_EQ(live.phase, LivePhase::kPending);
}

// A record older than the run it names speaks for an earlier run of that id (deleted, then the
// id submitted again): it is stale, and the run's own metadata is the applied spec.
TEST(RayMappingTest, ARecordOlderThanItsRunIsStale) {
  const TrainingJob running = RayTrainingJob("bert", 2);
  TrainingJob protected_spec = running;
  protected_spec.annotations[kPruneAnnotation] = "false";
  StatusOr<json> record = BuildSpecRecordRequest(protected_spec, {"prod", "r2"}, "g1", "g2");
  StatusOr<json> run = BuildSubmitRequest(running, {"prod", "r3"}, "g1");
  ASSERT_TRUE(run.ok() && record.ok());
  json list = json::array({Item("g2", "SUCCEEDED", 20, (*record)["metadata"]),
                           Item("g1", "RUNNING", 30, (*run)["metadata"])});
  StatusOr<std::vector<RaySubmission>> parsed = ParseJobList(list.dump());
  ASSERT_TRUE(parsed.ok());
  const LiveJob live = ToLiveJob(GroupGenerations(*parsed).begin()->second);
  ASSERT_NE(live.applied, nullptr);
  EXPECT_EQ(SpecHash(*live.applied), SpecHash(running));
  EXPECT_FALSE(live.prune_protected);
  EXPECT_EQ(live.revision, "r3");
}

TEST(RayMappingTest, SpecRecordsAloneAreNoLiveJob) {
  const TrainingJob job = RayTrainingJob("bert", 2);
  StatusOr<json> record = BuildSpecRecordRequest(job, {"prod", "r2"}, "g1", "g2");
  StatusOr<json> other = BuildSubmitRequest(RayTrainingJob("gpt", 2), {"prod", "r1"}, "g3");
  ASSERT_TRUE(record.ok() && other.ok());
  StatusOr<std::vector<RaySubmission>> parsed =
      ParseJobList(json::array({Item("g2", "SUCCEEDED", 20, (*record)["metadata"]),
                                Item("g3", "RUNNING", 10, (*other)["metadata"])})
                       .dump());
  ASSERT_TRUE(parsed.ok());
  const std::vector<LiveJob> live = ToLiveJobs(*parsed);
  ASSERT_EQ(live.size(), 1u);
  EXPECT_EQ(live[0].key.name, "gpt");
}

}  // namespace
}  // namespace jobsync
