#include "backends/kubernetes/mapping.h"

#include <memory>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "schemas/canonical.h"
#include "schemas/shared_specs.h"
#include "test_jobs.h"

namespace jobsync {
namespace {

using ::jobsync::testing::SampleJob;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using json = nlohmann::json;

const ApplyContext kContext{"agent-a", "0123abcd"};

// The value of env var `name` in the first container of `job_object`, or "<absent>".
json EnvOf(const json& job_object, const std::string& name) {
  for (const json& var : job_object["spec"]["template"]["spec"]["containers"][0]["env"]) {
    if (var["name"] == name) return var.contains("value") ? var["value"] : var["valueFrom"];
  }
  return "<absent>";
}

TEST(MappingTest, RoleJobIsAnIndexedJobWithEqualCompletionsAndParallelism) {
  const TrainingJob job = SampleJob("resnet", "vision", 3);
  StatusOr<json> object = RoleJobObject(job, "worker", kContext);
  ASSERT_TRUE(object.ok()) << object.status().ToString();
  EXPECT_EQ((*object)["apiVersion"], "batch/v1");
  EXPECT_EQ((*object)["kind"], "Job");
  EXPECT_EQ((*object)["metadata"]["name"], "resnet-worker");
  EXPECT_EQ((*object)["metadata"]["namespace"], "vision");
  const json& spec = (*object)["spec"];
  EXPECT_EQ(spec["completionMode"], "Indexed");
  EXPECT_EQ(spec["completions"], 3);
  EXPECT_EQ(spec["parallelism"], 3);
  EXPECT_EQ(spec["suspend"], false);
  EXPECT_EQ(spec["backoffLimitPerIndex"], kBackoffLimitPerIndex);
  const json& pod = spec["template"]["spec"];
  EXPECT_EQ(pod["restartPolicy"], "Never");
  EXPECT_EQ(pod["subdomain"], "resnet");
  const json& container = pod["containers"][0];
  EXPECT_EQ(container["image"], "registry.example/train:1");
  EXPECT_EQ(container["command"], json({"python", "train.py"}));
  EXPECT_EQ(container["resources"]["requests"], json({{"cpu", "500m"}, {"memory", "1Gi"}}));
  EXPECT_EQ(container["resources"]["limits"],
            json({{"cpu", "500m"}, {"memory", "1Gi"}, {"nvidia.com/gpu", "1"}}));
}

TEST(MappingTest, JobsCarryOwnershipLabelsAndAppliedSpecAnnotations) {
  TrainingJob job = SampleJob("resnet", "vision");
  job.suspend = true;
  StatusOr<json> object = RoleJobObject(job, "ps", kContext);
  ASSERT_TRUE(object.ok());
  const json expected_labels = {{"app.kubernetes.io/managed-by", "jobsync"},
                                {"jobsync.dev/instance", "agent-a"},
                                {"jobsync.dev/job", "resnet"},
                                {"jobsync.dev/role", "ps"},
                                {"team", "vision"}};
  EXPECT_EQ((*object)["metadata"]["labels"], expected_labels);
  EXPECT_EQ((*object)["spec"]["template"]["metadata"]["labels"], expected_labels);
  EXPECT_EQ((*object)["spec"]["suspend"], true);
  const json& annotations = (*object)["metadata"]["annotations"];
  EXPECT_EQ(annotations[kSpecAnnotation], CanonicalSpecText(job));
  EXPECT_EQ(annotations[kSpecHashAnnotation], SpecHash(job));
  EXPECT_EQ(annotations[kSourcePathAnnotation], "jobs/resnet.yaml");
  EXPECT_EQ(annotations[kRevisionAnnotation], "0123abcd");
  EXPECT_EQ(annotations[kPruneAnnotation], "false");
}

TEST(MappingTest, EnvironmentTellsEachPodItsRoleIndexAndWorld) {
  const TrainingJob job = SampleJob("resnet", "vision", 4);
  StatusOr<json> object = RoleJobObject(job, "worker", kContext);
  ASSERT_TRUE(object.ok());
  EXPECT_EQ(EnvOf(*object, "EPOCHS"), "90");
  EXPECT_EQ(EnvOf(*object, "JOBSYNC_JOB"), "resnet");
  EXPECT_EQ(EnvOf(*object, "JOBSYNC_ROLE"), "worker");  // the manifest's value is dropped
  EXPECT_EQ(EnvOf(*object, "JOBSYNC_REPLICAS_WORKER"), "4");
  EXPECT_EQ(EnvOf(*object, "JOBSYNC_REPLICAS_PS"), "1");
  EXPECT_EQ(EnvOf(*object, "JOBSYNC_WORLD_SIZE"), "5");
  EXPECT_EQ(EnvOf(*object, "JOBSYNC_SERVICE"), "resnet.vision.svc");
  EXPECT_EQ(EnvOf(*object, "JOBSYNC_RENDEZVOUS"), "resnet-ps-0.resnet.vision.svc");
  EXPECT_EQ(EnvOf(*object, "JOBSYNC_INDEX"),
            json::parse(R"({"fieldRef":{"fieldPath":)"
                        R"("metadata.annotations['batch.kubernetes.io/job-completion-index']"}})"));
  int role_vars = 0;
  for (const json& var : (*object)["spec"]["template"]["spec"]["containers"][0]["env"]) {
    if (var["name"] == "JOBSYNC_ROLE") ++role_vars;
  }
  EXPECT_EQ(role_vars, 1);
}

TEST(MappingTest, RendezvousPrefersTheChiefRole) {
  TrainingJob job = SampleJob("bert", "nlp");
  job.roles["chief"].replicas = 1;
  StatusOr<json> object = RoleJobObject(job, "worker", kContext);
  ASSERT_TRUE(object.ok());
  EXPECT_EQ(EnvOf(*object, "JOBSYNC_RENDEZVOUS"), "bert-chief-0.bert.nlp.svc");
  EXPECT_EQ(EnvOf(*object, "JOBSYNC_REPLICAS_CHIEF"), "1");
}

TEST(MappingTest, ServiceIsHeadlessAndSelectsTheJobsPods) {
  const json service = ServiceObject(SampleJob("resnet", "vision"), kContext);
  EXPECT_EQ(service["kind"], "Service");
  EXPECT_EQ(service["metadata"]["name"], "resnet");
  EXPECT_EQ(service["spec"]["clusterIP"], "None");
  EXPECT_EQ(service["spec"]["publishNotReadyAddresses"], true);
  EXPECT_EQ(service["spec"]["selector"], json({{"jobsync.dev/job", "resnet"}}));
  EXPECT_EQ(service["metadata"]["labels"]["jobsync.dev/instance"], "agent-a");
  EXPECT_FALSE(service["metadata"]["labels"].contains("jobsync.dev/role"));
}

TEST(MappingTest, RenderObjectsListsNamespaceServiceThenJobsByRole) {
  StatusOr<std::vector<json>> objects = RenderObjects(SampleJob("resnet", "vision"), kContext);
  ASSERT_TRUE(objects.ok());
  std::vector<std::string> names;
  for (const json& object : *objects) {
    names.push_back(object["kind"].get<std::string>() + "/" +
                    object["metadata"]["name"].get<std::string>());
  }
  EXPECT_THAT(names, ElementsAre("Namespace/vision", "Service/resnet", "Job/resnet-ps",
                                 "Job/resnet-worker"));
  StatusOr<std::vector<json>> without = RenderObjects(SampleJob("r", "v"), kContext, false);
  ASSERT_TRUE(without.ok());
  EXPECT_EQ((*without)[0]["kind"], "Service");
}

TEST(MappingTest, RefusesJobNamesLongerThanALabelValue) {
  TrainingJob job = SampleJob(std::string(40, 'a'), "vision");
  job.roles[std::string(30, 'b')].replicas = 1;
  StatusOr<std::vector<json>> objects = RenderObjects(job, kContext);
  ASSERT_FALSE(objects.ok());
  EXPECT_EQ(objects.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(objects.status().message(), HasSubstr("longer than 63"));
}

// Objects as the apiserver would list them: the rendered Jobs with a namespace set.
std::vector<json> ListedJobs(const TrainingJob& job, const ApplyContext& context) {
  std::vector<json> out;
  for (const auto& [role, spec] : job.roles) out.push_back(*RoleJobObject(job, role, context));
  return out;
}

TEST(MappingTest, RoundTripGivesBackTheAppliedSpecAndReplicas) {
  const TrainingJob job = SampleJob("resnet", "vision", 3);
  std::vector<LiveJob> live = LiveJobsFromObjects(ListedJobs(job, kContext));
  ASSERT_EQ(live.size(), 1u);
  EXPECT_EQ(live[0].key.ToString(), "kubernetes/vision/resnet");
  ASSERT_NE(live[0].applied, nullptr);
  EXPECT_EQ(CanonicalSpec(*live[0].applied), CanonicalSpec(job));
  EXPECT_EQ(live[0].replicas, (std::map<std::string, int>{{"ps", 1}, {"worker", 3}}));
  EXPECT_EQ(live[0].instance, "agent-a");
  EXPECT_TRUE(live[0].prune_protected);
  EXPECT_EQ(live[0].source_path, "jobs/resnet.yaml");
  EXPECT_EQ(live[0].revision, "0123abcd");
  EXPECT_EQ(live[0].phase, LivePhase::kPending);
}

TEST(MappingTest, GroupsByNamespaceAndJobAndSkipsUnlabelledAndDeletedObjects) {
  std::vector<json> objects = ListedJobs(SampleJob("a", "ns1"), kContext);
  for (json& object : ListedJobs(SampleJob("a", "ns2"), {"agent-b", "r"})) {
    objects.push_back(object);
  }
  json unlabelled = objects[0];
  unlabelled["metadata"]["labels"].erase(kJobLabel);
  objects.push_back(unlabelled);
  json deleted = *RoleJobObject(SampleJob("gone", "ns1"), "ps", kContext);
  deleted["metadata"]["deletionTimestamp"] = "2025-01-01T00:00:00Z";
  objects.push_back(deleted);

  std::vector<LiveJob> live = LiveJobsFromObjects(objects);
  ASSERT_EQ(live.size(), 2u);
  EXPECT_EQ(live[0].key.ToString(), "kubernetes/ns1/a");
  EXPECT_EQ(live[0].instance, "agent-a");
  EXPECT_EQ(live[1].key.ToString(), "kubernetes/ns2/a");
  EXPECT_EQ(live[1].instance, "agent-b");
}

// A role Job that is gone counts 0 replicas (drift, healed), unless the job has a TTL: then
// Kubernetes removed that role's finished Job, and scaling it back would run it again.
TEST(MappingTest, ARoleJobGoneCountsZeroUnlessTheJobHasATtl) {
  TrainingJob job = SampleJob("a", "ns");
  std::vector<json> objects = ListedJobs(job, kContext);
  objects.erase(objects.begin());  // one role's Job is gone
  std::vector<LiveJob> live = LiveJobsFromObjects(objects);
  ASSERT_EQ(live.size(), 1u);
  EXPECT_EQ(live[0].replicas.size(), job.roles.size());

  job.ttl_seconds_after_finished = 60;
  objects = ListedJobs(job, kContext);
  objects.erase(objects.begin());
  live = LiveJobsFromObjects(objects);
  ASSERT_EQ(live.size(), 1u);
  EXPECT_EQ(live[0].replicas.size(), job.roles.size() - 1);
  for (const auto& [role, count] : live[0].replicas) EXPECT_GT(count, 0) << role;
}

// Job objects as the Jobs' watch cache holds them (CachedJobOf): shared and immutable, each its
// record with its applied spec read as it was cached, with no SharedSpecs: every call parses anew.
std::vector<std::shared_ptr<const CachedObject>> Shared(const std::vector<json>& objects) {
  std::vector<std::shared_ptr<const CachedObject>> out;
  for (const json& object : objects) {
    out.push_back(std::make_shared<const CachedObject>(CachedJobOf(object, nullptr)));
  }
  return out;
}

TEST(MappingTest, JobRecordsReadAsTheWholeObjects) {
  std::vector<json> objects = ListedJobs(SampleJob("a", "ns"), kContext);
  for (json& object : ListedJobs(SampleJob("b", "ns"), kContext)) objects.push_back(object);
  objects[0]["metadata"]["uid"] = "uid-0";
  objects[0]["metadata"]["resourceVersion"] = "42";
  objects[0]["metadata"]["managedFields"] = json::array({{{"manager", "kubectl"}}});
  objects[0]["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"] =
      std::string(4096, 'x');
  objects[0]["metadata"]["labels"]["team"] = "vision";
  objects[0]["metadata"]["labels"][kQueueLabel] = "team-queue";
  objects[1]["status"] = {
      {"active", 2},
      {"ready", 2},
      {"conditions",
       json::array({{{"type", "Complete"}, {"status", "True"}, {"reason", "Done"}}})}};
  objects[2]["metadata"]["deletionTimestamp"] = "2025-01-01T00:00:00Z";
  objects[3]["spec"]["suspend"] = true;
  const std::vector<std::shared_ptr<const CachedObject>> cache = Shared(objects);
  for (size_t i = 0; i < objects.size(); ++i) {
    ASSERT_NE(cache[i]->job(), nullptr);
    EXPECT_EQ(cache[i]->job()->phase, JobObjectPhase(objects[i])) << i;
  }
  const std::vector<LiveJob> whole = LiveJobsFromObjects(objects);
  JobListing last;
  const std::vector<LiveJob> kept = ListCachedJobs(cache, &last);
  ASSERT_EQ(kept.size(), whole.size());
  for (size_t i = 0; i < kept.size(); ++i) {
    EXPECT_EQ(kept[i].key, whole[i].key);
    ASSERT_NE(kept[i].applied, nullptr);
    EXPECT_EQ(CanonicalSpec(*kept[i].applied), CanonicalSpec(*whole[i].applied));
    EXPECT_EQ(kept[i].replicas, whole[i].replicas);
    EXPECT_EQ(kept[i].phase, whole[i].phase);
    EXPECT_EQ(kept[i].instance, whole[i].instance);
    EXPECT_EQ(kept[i].prune_protected, whole[i].prune_protected);
    EXPECT_EQ(kept[i].source_path, whole[i].source_path);
    EXPECT_EQ(kept[i].revision, whole[i].revision);
  }
  // What the backend reads of a cached Job besides: its identity, ownership and Kueue's label.
  const JobRecord& record = *cache[0]->job();
  EXPECT_EQ(record.uid, "uid-0");
  EXPECT_EQ(cache[0]->Uid(), "uid-0");
  EXPECT_EQ(record.resource_version, "42");
  EXPECT_EQ(cache[0]->ResourceVersion(), "42");
  EXPECT_EQ(cache[0]->Key(), "ns/a-ps");
  EXPECT_TRUE(record.managed);
  EXPECT_EQ(record.instance, "agent-a");
  EXPECT_TRUE(record.queue_label);
  EXPECT_FALSE(cache[1]->job()->queue_label);
  EXPECT_TRUE(cache[2]->job()->being_deleted);
  EXPECT_TRUE(cache[3]->job()->suspended);
  EXPECT_TRUE(cache[0]->object().is_null());  // no JSON kept
}

TEST(MappingTest, AppliedSpecsAreParsedOncePerJobVersion) {
  std::vector<json> objects = ListedJobs(SampleJob("a", "ns"), kContext);  // a-ps, a-worker
  for (size_t i = 0; i < objects.size(); ++i) {
    objects[i]["metadata"]["resourceVersion"] = std::to_string(10 + i);
  }
  AppliedSpecCache parsed;
  const std::vector<LiveJob> first = LiveJobsFromObjects(objects, &parsed);
  ASSERT_EQ(first.size(), 1u);
  ASSERT_EQ(parsed.size(), 1u);  // the group's spec is read from its first Job only
  EXPECT_EQ(parsed.by_version.begin()->first, "ns/a-ps@10");
  // A second listing of the same versions takes the spec from `parsed`: a marked copy shows it.
  TrainingJob marked = *first[0].applied;
  marked.image = "from-the-cache";
  parsed.by_version.begin()->second = std::make_shared<const TrainingJob>(marked);
  const std::vector<LiveJob> second = LiveJobsFromObjects(objects, &parsed);
  EXPECT_EQ(second[0].applied->image, "from-the-cache");
  // Shared, not copied: the listing holds the cache's spec itself.
  EXPECT_EQ(second[0].applied.get(), parsed.by_version.begin()->second.get());
  // and so does every later one (the spec moves from the old cache to the new, never lost).
  EXPECT_EQ(LiveJobsFromObjects(objects, &parsed)[0].applied->image, "from-the-cache");
  EXPECT_EQ(parsed.by_version.begin()->second->image, "from-the-cache");
  // A new version is read again, and the old one is forgotten.
  objects[0]["metadata"]["resourceVersion"] = "99";
  const std::vector<LiveJob> again = LiveJobsFromObjects(objects, &parsed);
  EXPECT_EQ(again[0].applied->image, first[0].applied->image);
  ASSERT_EQ(parsed.size(), 1u);
  EXPECT_EQ(parsed.by_version.begin()->first, "ns/a-ps@99");
}

// Each Shared() parses its objects' specs anew: the same spec object in two listings of new
// cache entries shows the second took the first's LiveJob instead of reading its Jobs again.
TEST(MappingTest, AListingReadsAgainOnlyTheJobsWhoseObjectsChanged) {
  std::vector<json> objects = ListedJobs(SampleJob("a", "ns"), kContext);  // a-ps, a-worker
  for (json& object : ListedJobs(SampleJob("c", "ns"), kContext)) objects.push_back(object);
  for (size_t i = 0; i < objects.size(); ++i) {
    objects[i]["metadata"]["resourceVersion"] = std::to_string(10 + i);
  }
  std::vector<std::shared_ptr<const CachedObject>> cache = Shared(objects);
  JobListing last;
  const std::vector<LiveJob> first = ListCachedJobs(cache, &last);
  ASSERT_EQ(first.size(), 2u);
  const std::vector<LiveJob> same = ListCachedJobs(cache, &last);
  ASSERT_EQ(same.size(), 2u);
  EXPECT_EQ(same[0].applied.get(), first[0].applied.get());
  EXPECT_EQ(same[1].applied.get(), first[1].applied.get());

  // c's worker scaled (a new object at a new version): c is read again, a is not.
  objects[3]["spec"]["parallelism"] = 7;
  objects[3]["metadata"]["resourceVersion"] = "20";
  cache[3] = std::make_shared<const CachedObject>(CachedJobOf(objects[3], nullptr));
  const std::vector<LiveJob> scaled = ListCachedJobs(cache, &last);
  ASSERT_EQ(scaled.size(), 2u);
  EXPECT_EQ(scaled[0].applied.get(), first[0].applied.get());
  EXPECT_EQ(scaled[1].applied.get(), cache[2]->applied.get());  // c-ps's, the first by name
  EXPECT_EQ(scaled[1].replicas.at("worker"), 7);

  // A re-list makes new objects at the same versions: nothing is read again.
  cache = Shared(objects);
  const std::vector<LiveJob> relisted = ListCachedJobs(cache, &last);
  ASSERT_EQ(relisted.size(), 2u);
  EXPECT_EQ(relisted[0].applied.get(), first[0].applied.get());
  EXPECT_EQ(relisted[1].applied.get(), scaled[1].applied.get());
  EXPECT_EQ(relisted[1].replicas.at("worker"), 7);

  // A job added between two known ones is read; they are not. One whose role Job went is read
  // again (that role runs 0), and one whose Jobs all went is not listed.
  std::vector<std::shared_ptr<const CachedObject>> grown =
      Shared(ListedJobs(SampleJob("b", "ns"), kContext));
  grown.insert(grown.begin(), cache.begin(), cache.begin() + 2);
  grown.insert(grown.end(), cache.begin() + 2, cache.end());
  const std::vector<LiveJob> added = ListCachedJobs(grown, &last);
  ASSERT_EQ(added.size(), 3u);
  EXPECT_EQ(added[1].key.name, "b");
  EXPECT_EQ(added[0].applied.get(), first[0].applied.get());
  EXPECT_EQ(added[2].applied.get(), scaled[1].applied.get());
  grown.erase(grown.begin(), grown.begin() + 2);  // a's Jobs
  grown.pop_back();                               // c's worker
  const std::vector<LiveJob> shrunk = ListCachedJobs(grown, &last);
  ASSERT_EQ(shrunk.size(), 2u);
  EXPECT_EQ(shrunk[0].applied.get(), added[1].applied.get());
  EXPECT_EQ(shrunk[1].key.name, "c");
  EXPECT_EQ(shrunk[1].replicas.at("worker"), 0);

  // Objects without a version are the same only when they are the same objects.
  std::vector<json> unversioned = ListedJobs(SampleJob("d", "ns"), kContext);
  JobListing fresh;
  const std::vector<LiveJob> once = ListCachedJobs(Shared(unversioned), &fresh);
  const std::vector<LiveJob> twice = ListCachedJobs(Shared(unversioned), &fresh);
  ASSERT_EQ(twice.size(), 1u);
  EXPECT_NE(twice[0].applied.get(), once[0].applied.get());
}

// Past a few dozen changed objects (a re-list of a large cache) the listing groups every object
// again, still taking a job's LiveJob from the last listing when its Jobs' versions are the same.
TEST(MappingTest, AListingOfManyNewObjectsTakesTheJobsAtTheSameVersionsFromTheLast) {
  std::vector<json> objects;
  for (int i = 0; i < 50; ++i) {
    for (json& object : ListedJobs(SampleJob("j" + std::to_string(100 + i), "ns"), kContext)) {
      object["metadata"]["resourceVersion"] = std::to_string(objects.size() + 1);
      objects.push_back(object);
    }
  }
  JobListing last;
  const std::vector<LiveJob> first = ListCachedJobs(Shared(objects), &last);
  ASSERT_EQ(first.size(), 50u);
  objects[1]["spec"]["parallelism"] = 9;  // j100's worker, at a new version
  objects[1]["metadata"]["resourceVersion"] = "1000";
  const std::vector<LiveJob> relisted = ListCachedJobs(Shared(objects), &last);
  ASSERT_EQ(relisted.size(), 50u);
  EXPECT_NE(relisted[0].applied.get(), first[0].applied.get());
  EXPECT_EQ(relisted[0].replicas.at("worker"), 9);
  for (size_t i = 1; i < relisted.size(); ++i) {
    EXPECT_EQ(relisted[i].applied.get(), first[i].applied.get()) << relisted[i].key.ToString();
  }
}

TEST(MappingTest, AnAppliedSpecEqualToADesiredOneIsThatDesiredJob) {
  const auto desired = std::make_shared<const TrainingJob>(SampleJob("a", "ns"));
  std::vector<json> objects = ListedJobs(*desired, kContext);
  // The listed Jobs carry the desired job's source path: the two are one only when it matches.
  const std::string path = objects[0]["metadata"]["annotations"][kSourcePathAnnotation];
  ASSERT_EQ(desired->source.path, path);
  auto shared = std::make_shared<SharedSpecs>();
  shared->Offer({desired});
  AppliedSpecCache parsed;
  parsed.shared = shared.get();
  std::vector<LiveJob> live = LiveJobsFromObjects(objects, &parsed);
  ASSERT_EQ(live.size(), 1u);
  EXPECT_EQ(live[0].applied.get(), desired.get());  // the object itself, not a parsed copy

  // Any other text (a change not applied yet), or the same spec from another file: parsed.
  TrainingJob changed = *desired;
  changed.image = "other:2";
  std::shared_ptr<const TrainingJob> other = std::make_shared<const TrainingJob>(changed);
  TrainingJob moved = *desired;
  moved.source.path = "elsewhere.yaml";
  const auto elsewhere = std::make_shared<const TrainingJob>(moved);
  auto others = std::make_shared<SharedSpecs>();
  others->Offer({other, elsewhere});
  AppliedSpecCache fresh;
  fresh.shared = others.get();
  live = LiveJobsFromObjects(objects, &fresh);
  ASSERT_NE(live[0].applied, nullptr);
  EXPECT_NE(live[0].applied.get(), other.get());
  EXPECT_NE(live[0].applied.get(), elsewhere.get());
  EXPECT_EQ(CanonicalSpecText(*live[0].applied), CanonicalSpecText(*desired));
  EXPECT_EQ(live[0].applied->source.path, path);

  // A desired job no one holds any more is not found.
  const std::string text = CanonicalSpecText(*other);
  EXPECT_EQ(others->Find(text, changed.source.path), other);
  other.reset();
  EXPECT_EQ(others->Find(text, changed.source.path), nullptr);
  EXPECT_EQ(others->size(), 1u);
}

// The Jobs' watch cache reads each Job's applied spec as it caches it (CachedJobOf): the desired
// job itself when SharedSpecs holds it, and the annotation's text is not kept (a record has no
// place for it). A listing takes the spec from there.
TEST(MappingTest, TheJobsCacheReadsAppliedSpecsAsItCachesAndKeepsNoText) {
  const auto desired = std::make_shared<const TrainingJob>(SampleJob("a", "ns"));
  const auto other = std::make_shared<const TrainingJob>(SampleJob("b", "ns"));
  SharedSpecs shared;
  shared.Offer({desired});
  std::vector<json> objects = ListedJobs(*desired, kContext);  // a-ps, a-worker
  for (json& object : ListedJobs(*other, kContext)) objects.push_back(object);
  std::vector<std::shared_ptr<const CachedObject>> cache;
  for (const json& object : objects) {
    cache.push_back(std::make_shared<const CachedObject>(CachedJobOf(object, &shared)));
  }
  for (const auto& cached : cache) {
    ASSERT_NE(cached->job(), nullptr);
    EXPECT_EQ(cached->job()->revision, kContext.revision);
    EXPECT_TRUE(cached->object().is_null());
  }
  EXPECT_EQ(cache[0]->applied.get(), desired.get());  // the desired job, not a parsed copy
  ASSERT_NE(cache[2]->applied, nullptr);              // b is not offered: parsed
  EXPECT_EQ(CanonicalSpecText(*cache[2]->applied), CanonicalSpecText(*other));

  JobListing last;
  const std::vector<LiveJob> live = ListCachedJobs(cache, &last);
  ASSERT_EQ(live.size(), 2u);
  EXPECT_EQ(live[0].applied.get(), desired.get());
  EXPECT_EQ(live[1].applied.get(), cache[2]->applied.get());
  EXPECT_EQ(live[0].replicas, (std::map<std::string, int>{{"ps", 1}, {"worker", 2}}));

  // An annotation that does not read: no applied spec, as a listing would have found.
  json broken = objects[0];
  broken["metadata"]["annotations"][kSpecAnnotation] = "{not json";
  const CachedObject unreadable = CachedJobOf(broken, &shared);
  EXPECT_EQ(unreadable.applied, nullptr);
  // Another instance's Job: its record only, its spec not read.
  const CachedObject others = CachedJobOf(objects[2], &shared, /*read_applied=*/false);
  EXPECT_EQ(others.applied, nullptr);
  EXPECT_EQ(others.job()->job, "b");
}

TEST(MappingTest, ARoleWithoutItsJobCountsAsZeroReplicas) {
  std::vector<json> objects = ListedJobs(SampleJob("a", "ns"), kContext);
  objects.pop_back();  // the worker Job was never created
  std::vector<LiveJob> live = LiveJobsFromObjects(objects);
  ASSERT_EQ(live.size(), 1u);
  EXPECT_EQ(live[0].replicas, (std::map<std::string, int>{{"ps", 1}, {"worker", 0}}));
}

TEST(MappingTest, UnreadableAppliedSpecLeavesAppliedEmpty) {
  std::vector<json> objects = ListedJobs(SampleJob("a", "ns"), kContext);
  for (json& object : objects) object["metadata"]["annotations"][kSpecAnnotation] = "{not json";
  std::vector<LiveJob> live = LiveJobsFromObjects(objects);
  ASSERT_EQ(live.size(), 1u);
  EXPECT_EQ(live[0].applied, nullptr);
}

json WithStatus(json object, const json& status) {
  object["status"] = status;
  return object;
}

json Condition(const char* type) { return {{"type", type}, {"status", "True"}}; }

struct PhaseCase {
  const char* name;
  json status;
  bool suspend;
  LivePhase phase;
};

class JobPhaseTest : public ::testing::TestWithParam<PhaseCase> {};

TEST_P(JobPhaseTest, ReadsConditionsThenSuspendThenActivePods) {
  const PhaseCase& c = GetParam();
  json object = *RoleJobObject(SampleJob("a", "ns"), "ps", kContext);
  object["spec"]["suspend"] = c.suspend;
  EXPECT_EQ(JobObjectPhase(WithStatus(object, c.status)), c.phase);
}

INSTANTIATE_TEST_SUITE_P(
    Statuses, JobPhaseTest,
    ::testing::Values(
        PhaseCase{"Failed", {{"conditions", {Condition("Failed")}}}, false, LivePhase::kFailed},
        PhaseCase{
            "Complete", {{"conditions", {Condition("Complete")}}}, false, LivePhase::kSucceeded},
        PhaseCase{"CompleteWinsOverSuspend",
                  {{"conditions", {Condition("Complete")}}},
                  true,
                  LivePhase::kSucceeded},
        PhaseCase{"Suspended", {{"active", 0}}, true, LivePhase::kSuspended},
        PhaseCase{"Running", {{"active", 2}}, false, LivePhase::kRunning},
        PhaseCase{"Pending", json::object(), false, LivePhase::kPending},
        // Found by fuzzing (tests/fuzz/regressions/live/): conditions of the wrong shape threw.
        PhaseCase{
            "MalformedConditionsAreSkipped",
            {{"conditions",
              {"Complete", 5, nullptr, {{"type", 1}, {"status", true}}, Condition("Failed")}}},
            false,
            LivePhase::kFailed},
        PhaseCase{"OnlyMalformedConditions",
                  {{"conditions", {"Failed", json::array({"Complete", "True"})}}, {"active", 1}},
                  false,
                  LivePhase::kRunning}),
    [](const ::testing::TestParamInfo<PhaseCase>& param_info) { return param_info.param.name; });

const auto kNow = std::chrono::system_clock::from_time_t(1735689600);  // 2025-01-01T00:00:00Z
const std::chrono::seconds kGrace(300);

json Pod(const char* phase, const char* created) {
  return {{"metadata", {{"creationTimestamp", created}}}, {"status", {{"phase", phase}}}};
}

TEST(MappingHealthTest, ClassifiesJobsAndPods) {
  const std::vector<json> jobs = ListedJobs(SampleJob("a", "ns", 2), kContext);  // ps, worker
  auto with = [&](const json& ps_status, const json& worker_status) {
    return std::vector<json>{WithStatus(jobs[0], ps_status), WithStatus(jobs[1], worker_status)};
  };
  const json ready_ps = {{"active", 1}, {"ready", 1}};
  const json ready_workers = {{"active", 2}, {"ready", 2}};
  const std::vector<json> running = {Pod("Running", "2024-12-31T23:50:00Z")};

  EXPECT_EQ(HealthFromObjects({}, {}, kNow, kGrace), Health::kMissing);
  EXPECT_EQ(HealthFromObjects(with(ready_ps, ready_workers), running, kNow, kGrace),
            Health::kHealthy);
  EXPECT_EQ(HealthFromObjects(with(ready_ps, {{"active", 2}, {"ready", 1}}), running, kNow, kGrace),
            Health::kProgressing);
  EXPECT_EQ(HealthFromObjects(with(ready_ps, {{"active", 2}, {"ready", 1}, {"failed", 1}}), running,
                              kNow, kGrace),
            Health::kDegraded);
  EXPECT_EQ(HealthFromObjects(with(ready_ps, ready_workers),
                              {Pod("Pending", "2024-12-31T23:50:00Z")}, kNow, kGrace),
            Health::kDegraded);
  EXPECT_EQ(HealthFromObjects(with(ready_ps, {{"active", 2}}),
                              {Pod("Pending", "2024-12-31T23:59:00Z")}, kNow, kGrace),
            Health::kProgressing);
  EXPECT_EQ(HealthFromObjects(with({{"conditions", {Condition("Complete")}}},
                                   {{"conditions", {Condition("Complete")}}}),
                              {}, kNow, kGrace),
            Health::kSucceeded);
  EXPECT_EQ(
      HealthFromObjects(with(ready_ps, {{"conditions", {Condition("Failed")}}}), {}, kNow, kGrace),
      Health::kFailed);
  std::vector<json> suspended = with(json::object(), json::object());
  for (json& object : suspended) object["spec"]["suspend"] = true;
  EXPECT_EQ(HealthFromObjects(suspended, {}, kNow, kGrace), Health::kSuspended);
}

}  // namespace
}  // namespace jobsync
