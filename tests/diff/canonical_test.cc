#include "schemas/canonical.h"

#include <ostream>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "plan_fixtures.h"

namespace jobsync {
namespace {

using ::jobsync::testing::K8sJob;
using ::jobsync::testing::LoadYaml;
using ::jobsync::testing::Q;
using ::jobsync::testing::RayJob;
using ::testing::HasSubstr;

struct QuantityCase {
  const char* written;
  const char* cpu;     // canonical spelling as a cpu
  const char* memory;  // canonical spelling as a memory size

  // Names the case in failure messages instead of dumping its bytes.
  friend void PrintTo(const QuantityCase& c, std::ostream* os) { *os << c.written; }
};

class CanonicalQuantityTest : public ::testing::TestWithParam<QuantityCase> {};

TEST_P(CanonicalQuantityTest, SpellsQuantitiesByValue) {
  const QuantityCase& c = GetParam();
  TrainingJob job = K8sJob("a");
  job.roles["worker"].resources.cpu = Q(c.written);
  job.roles["worker"].resources.memory = Q(c.written);
  const nlohmann::json resources = CanonicalSpec(job)["spec"]["roles"]["worker"]["resources"];
  EXPECT_EQ(resources["cpu"], c.cpu);
  EXPECT_EQ(resources["memory"], c.memory);
}

INSTANTIATE_TEST_SUITE_P(
    Spellings, CanonicalQuantityTest,
    ::testing::Values(
        QuantityCase{"1", "1", "1"}, QuantityCase{"1000m", "1", "1"},
        QuantityCase{"0.5", "500m", "500m"}, QuantityCase{"1500m", "1500m", "1500m"},
        QuantityCase{"0", "0", "0"}, QuantityCase{"1Gi", "1073741824", "1Gi"},
        QuantityCase{"1024Mi", "1073741824", "1Gi"}, QuantityCase{"1.5Gi", "1610612736", "1536Mi"},
        QuantityCase{"1G", "1000000000", "1G"}, QuantityCase{"1000M", "1000000000", "1G"},
        QuantityCase{"1e3", "1000", "1k"}, QuantityCase{"2048", "2048", "2Ki"},
        QuantityCase{"1000Ki", "1024000", "1000Ki"}, QuantityCase{"999", "999", "999"},
        // Not a whole number of thousandths, or above 2^53: spelt exactly, as Kubernetes keeps it.
        QuantityCase{"1500u", "1500000n", "1500000n"}, QuantityCase{"1n", "1n", "1n"},
        QuantityCase{"0.1000000001", "100000001n", "100000001n"},
        QuantityCase{"1e20", "1e20", "1e20"},
        QuantityCase{"10Ei", "9223372036854775807e0", "9223372036854775807e0"}));

// Kubernetes' Cmp decides: equal quantities give one hash (no plan), unequal ones two (a plan),
// including those a comparison at milli precision, or in doubles, confused.
TEST(CanonicalSpecTest, HashFollowsKubernetesQuantityEquality) {
  auto hash_with = [](const char* cpu) {
    TrainingJob job = K8sJob("a");
    job.roles["worker"].resources.cpu = Q(cpu);
    return SpecHash(job);
  };
  EXPECT_NE(hash_with("1500u"), hash_with("2m"));
  EXPECT_NE(hash_with("0"), hash_with("1n"));
  EXPECT_NE(hash_with("0.1"), hash_with("0.1000000001"));
  EXPECT_NE(hash_with("9007199254740993"), hash_with("9007199254740992"));
  EXPECT_EQ(hash_with("1e0000"), hash_with("1"));
  EXPECT_EQ(hash_with("1500u"), hash_with("1.5m"));
  EXPECT_EQ(hash_with("10Ei"), hash_with("9223372036854775807"));
}

TEST(CanonicalSpecTest, EquivalentSpellingsGiveEqualJsonAndHash) {
  TrainingJob a = K8sJob("a");
  TrainingJob b = K8sJob("a");
  a.roles["worker"].resources.memory = Q("1Gi");
  b.roles["worker"].resources.memory = Q("1024Mi");
  a.roles["worker"].resources.cpu = Q("1");
  b.roles["worker"].resources.cpu = Q("1000m");
  a.depends_on = {"x", "y"};
  b.depends_on = {"y", "x"};
  b.source = {"elsewhere/moved.yaml", 40, 1};
  EXPECT_EQ(CanonicalSpec(a), CanonicalSpec(b));
  EXPECT_EQ(SpecHash(a), SpecHash(b));
}

TEST(CanonicalSpecTest, LoaderDefaultsAndMapOrderDoNotChangeTheSpec) {
  LoadResult explicit_form = LoadYaml({{"a.yaml", R"(
apiVersion: jobsync.dev/v1alpha1
kind: TrainingJob
metadata:
  name: a
  namespace: default
  labels: {team: vision, tier: gold}
spec:
  backend: kubernetes
  suspend: false
  image: trainer:v1
  env: {A: "1", B: "2"}
  roles:
    worker: {replicas: 2, resources: {cpu: 1000m, memory: 1024Mi}}
)"}});
  LoadResult short_form = LoadYaml({{"b.yaml", R"(
apiVersion: jobsync.dev/v1alpha1
kind: TrainingJob
metadata:
  labels: {tier: gold, team: vision}
  name: a
spec:
  roles:
    worker: {resources: {memory: 1Gi, cpu: 1}, replicas: 2}
  env: {B: "2", A: "1"}
  image: trainer:v1
  backend: kubernetes
)"}});
  ASSERT_TRUE(explicit_form.ok());
  ASSERT_TRUE(short_form.ok());
  ASSERT_EQ(explicit_form.jobs.size(), 1u);
  ASSERT_EQ(short_form.jobs.size(), 1u);
  EXPECT_EQ(CanonicalSpecText(*explicit_form.jobs[0]), CanonicalSpecText(*short_form.jobs[0]));
}

TEST(CanonicalSpecTest, AnyAppliedChangeChangesTheHash) {
  const TrainingJob base = K8sJob("a");
  std::vector<TrainingJob> variants(6, base);
  variants[0].image = "trainer:v2";
  variants[1].roles["worker"].replicas = 3;
  variants[2].labels["team"] = "vision";
  variants[3].annotations["note"] = "x";
  variants[4].suspend = true;
  variants[5].env["EPOCHS"] = "90";
  for (const TrainingJob& variant : variants) {
    EXPECT_NE(SpecHash(variant), SpecHash(base)) << CanonicalSpecText(variant);
  }
}

// The canonical text is stored on live objects and hashed: changing its format would make every
// live job look changed after an upgrade, so this pins it.
TEST(CanonicalSpecTest, CanonicalFormIsStable) {
  const TrainingJob job = K8sJob("a");
  EXPECT_EQ(
      CanonicalSpecText(job),
      R"({"apiVersion":"jobsync.dev/v1alpha1","kind":"TrainingJob","metadata":{"annotations":{},)"
      R"("labels":{},"name":"a","namespace":"default"},"spec":{"backend":"kubernetes",)"
      R"("command":["torchrun","train.py"],"dependsOn":[],"env":{},"image":"trainer:v1",)"
      R"("roles":{"worker":{"replicas":2,"resources":{"cpu":"4","memory":"16Gi"}}},)"
      R"("suspend":false}})");
  EXPECT_EQ(SpecHash(job), "ff997674eeb76849a7c52b19d85d83dc25e280a128c391c2b16076c698a8d46b");
}

TEST(CanonicalSpecTest, SpecHashIsLowerCaseHexSha256) {
  const std::string hash = SpecHash(RayJob("r"));
  EXPECT_EQ(hash.size(), 64u);
  EXPECT_EQ(hash.find_first_not_of("0123456789abcdef"), std::string::npos);
}

TEST(CanonicalSpecTest, RoundTripsThroughTheCanonicalForm) {
  TrainingJob k8s = K8sJob("a", "vision");
  k8s.labels = {{"team", "vision"}};
  k8s.annotations = {{kPruneAnnotation, "false"}};
  k8s.suspend = true;
  k8s.depends_on = {"prep"};
  k8s.env = {{"EPOCHS", "90"}};
  k8s.roles["worker"].min_replicas = 1;
  k8s.roles["worker"].max_replicas = 8;
  k8s.roles["worker"].resources.gpu = 1;
  k8s.roles["ps"].replicas = 2;
  TrainingJob ray = RayJob("r");
  ray.ray->runtime_env = {{"pip", {"torch"}}, {"env_vars", {{"A", "1"}}}};
  ray.ray->entrypoint_resources.gpu = 1;
  ray.ray->entrypoint_resources.memory = Q("512Mi");
  for (const TrainingJob& job : {k8s, ray}) {
    StatusOr<TrainingJob> back = TrainingJobFromCanonicalText(CanonicalSpecText(job));
    ASSERT_TRUE(back.ok()) << back.status().ToString();
    EXPECT_EQ(CanonicalSpec(*back), CanonicalSpec(job));
    EXPECT_EQ(back->key(), job.key());
    EXPECT_EQ(back->roles, job.roles);
    EXPECT_EQ(back->ray, job.ray);
  }
}

// JSON is YAML, so the canonical text can go through the real loader: it must be a valid manifest
// that loads back to the same canonical form.
TEST(CanonicalSpecTest, CanonicalFormIsAValidManifest) {
  TrainingJob k8s = K8sJob("a", "vision");
  k8s.labels = {{"team", "vision"}};
  k8s.roles["worker"].resources.memory = Q("1.5Gi");
  k8s.roles["worker"].resources.cpu = Q("250m");
  TrainingJob ray = RayJob("r");
  ray.ray->runtime_env = {{"pip", {"torch"}}};
  for (const TrainingJob& job : {k8s, ray}) {
    LoadResult loaded = LoadYaml({{"canonical.yaml", CanonicalSpecText(job)}});
    ASSERT_TRUE(loaded.ok()) << loaded.diagnostics.front().ToString();
    ASSERT_EQ(loaded.jobs.size(), 1u);
    EXPECT_EQ(CanonicalSpecText(*loaded.jobs[0]), CanonicalSpecText(job));
  }
}

struct BadCanonicalCase {
  const char* name;
  const char* text;
  const char* message;

  // Names the case in failure messages instead of dumping its bytes.
  friend void PrintTo(const BadCanonicalCase& c, std::ostream* os) { *os << c.name; }
};

class BadCanonicalTest : public ::testing::TestWithParam<BadCanonicalCase> {};

TEST_P(BadCanonicalTest, RejectsWithTheFieldNamed) {
  StatusOr<TrainingJob> job = TrainingJobFromCanonicalText(GetParam().text);
  ASSERT_FALSE(job.ok());
  EXPECT_EQ(job.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(job.status().message(), HasSubstr(GetParam().message));
}

constexpr const char* kHead = R"({"apiVersion":"jobsync.dev/v1alpha1","kind":"TrainingJob",)";

INSTANTIATE_TEST_SUITE_P(
    Cases, BadCanonicalTest,
    ::testing::Values(
        BadCanonicalCase{"NotJson", "{", "not valid JSON"},
        BadCanonicalCase{"NotObject", "[1]", "not a JSON object"},
        BadCanonicalCase{"OtherVersion", R"({"apiVersion":"jobsync.dev/v2","kind":"TrainingJob"})",
                         "jobsync.dev/v2"},
        BadCanonicalCase{"NoMetadata",
                         R"({"apiVersion":"jobsync.dev/v1alpha1","kind":"TrainingJob"})",
                         "metadata is missing"},
        BadCanonicalCase{"NoName",
                         R"({"apiVersion":"jobsync.dev/v1alpha1","kind":"TrainingJob",)"
                         R"("metadata":{},"spec":{}})",
                         "metadata.name is missing"},
        BadCanonicalCase{"BadBackend",
                         R"({"apiVersion":"jobsync.dev/v1alpha1","kind":"TrainingJob",)"
                         R"("metadata":{"name":"a"},"spec":{"backend":"slurm","roles":{}}})",
                         "slurm"},
        BadCanonicalCase{"ReplicasNotInteger",
                         R"({"apiVersion":"jobsync.dev/v1alpha1","kind":"TrainingJob",)"
                         R"("metadata":{"name":"a"},"spec":{"backend":"ray",)"
                         R"("roles":{"w":{"replicas":"two"}}}})",
                         "spec.roles.w.replicas must be an integer"},
        BadCanonicalCase{"BadQuantity",
                         R"({"apiVersion":"jobsync.dev/v1alpha1","kind":"TrainingJob",)"
                         R"("metadata":{"name":"a"},"spec":{"backend":"kubernetes",)"
                         R"("roles":{"w":{"replicas":1,"resources":{"cpu":"lots"}}}}})",
                         "spec.roles.w.resources.cpu"},
        BadCanonicalCase{"LabelNotString",
                         R"({"apiVersion":"jobsync.dev/v1alpha1","kind":"TrainingJob",)"
                         R"("metadata":{"name":"a","labels":{"x":1}},"spec":{}})",
                         "metadata.labels must be an object of strings"}),
    [](const ::testing::TestParamInfo<BadCanonicalCase>& param_info) {
      return param_info.param.name;
    });

TEST(CanonicalSpecTest, ToleratesAbsentListsAndDefaults) {
  StatusOr<TrainingJob> job = TrainingJobFromCanonicalText(
      std::string(kHead) + R"("metadata":{"name":"a"},"spec":{"backend":"kubernetes","image":"i",)"
                           R"("roles":{"worker":{"replicas":3}}}})");
  ASSERT_TRUE(job.ok()) << job.status().ToString();
  EXPECT_EQ(job->namespace_name, "default");
  EXPECT_FALSE(job->suspend);
  EXPECT_TRUE(job->command.empty());
  EXPECT_EQ(job->roles.at("worker").replicas, 3);
}

}  // namespace
}  // namespace jobsync
