// Kubernetes' naming rules (schemas/k8s_names.h) and the loader's checks built on them: labels,
// annotations, jobsync's reserved keys, object-name collisions across jobs, and inputs long
// enough to have exhausted the stack of a recursive matcher.
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "schemas/k8s_names.h"
#include "schemas/loader.h"
#include "schemas/schema_validator.h"
#include "schemas/yaml_json.h"

namespace jobsync {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;

struct NameCase {
  std::string value;
  bool label_value;
  bool qualified_name;
  bool dns1123_label;
  bool dns1123_subdomain;
};

TEST(K8sNamesTest, AgreesWithKubernetesOnBoundaries) {
  const std::string a63(63, 'a');
  const std::string a64(64, 'a');
  const std::vector<NameCase> cases = {
      {"", true, false, false, false},
      {"a", true, true, true, true},
      {"A", true, true, false, false},
      {"a-b_c.d", true, true, false, false},
      {"-a", false, false, false, false},
      {"a-", false, false, false, false},
      {"_a", false, false, false, false},
      {"a.", false, false, false, false},
      {"a.b", true, true, false, true},
      {"a..b", true, true, false, false},
      {"1", true, true, true, true},
      {a63, true, true, true, true},
      {a64, false, false, false, true},
      {"example.com/a", false, true, false, false},
      {"example.com/", false, false, false, false},
      {"/a", false, false, false, false},
      {"a/b/c", false, false, false, false},
      {"Example.com/a", false, false, false, false},
      {"example.com/" + a63, false, true, false, false},
      {"example.com/" + a64, false, false, false, false},
      {std::string(254, 'a') + "/a", false, false, false, false},
      {"é", false, false, false, false},
      {"a b", false, false, false, false},
  };
  for (const NameCase& c : cases) {
    SCOPED_TRACE("'" + c.value + "'");
    EXPECT_EQ(CheckLabelValue(c.value).empty(), c.label_value);
    EXPECT_EQ(CheckQualifiedName(c.value).empty(), c.qualified_name);
    EXPECT_EQ(CheckDns1123Label(c.value).empty(), c.dns1123_label);
    EXPECT_EQ(CheckDns1123Subdomain(c.value).empty(), c.dns1123_subdomain);
  }
  // Annotation keys are checked lower-cased, as the apiserver does.
  EXPECT_EQ(CheckAnnotationKey("Example.COM/Owner"), "");
  EXPECT_NE(CheckQualifiedName("Example.COM/Owner"), "");
}

std::string JobWithMetadata(const std::string& name, const std::string& metadata,
                            const std::string& roles = "    worker: {replicas: 1}\n") {
  return "apiVersion: jobsync.dev/v1alpha1\nkind: TrainingJob\nmetadata:\n  name: " + name +
         "\n  namespace: team\n" + metadata +
         "spec:\n  backend: kubernetes\n  image: trainer:v1\n  roles:\n" + roles;
}

class LoaderRulesTest : public ::testing::Test {
 protected:
  LoadResult Load(const std::vector<std::pair<std::string, std::string>>& files) {
    std::vector<ManifestFile> parsed;
    for (const auto& [path, text] : files)
      parsed.push_back(ParseManifestFile(path, text, validator_));
    return CheckManifests(parsed);
  }
  std::vector<std::string> Messages(const LoadResult& result) {
    std::vector<std::string> out;
    for (const Diagnostic& d : result.diagnostics) out.push_back(d.ToString());
    return out;
  }

  SchemaValidator validator_;
};

TEST_F(LoaderRulesTest, LabelKeysAndValuesAreLocated) {
  LoadResult result = Load({{"jobs/a.yaml", JobWithMetadata("a",
                                                            "  labels:\n"
                                                            "    good: ok\n"
                                                            "    -bad: x\n"
                                                            "    team: has space\n")}});
  ASSERT_EQ(result.diagnostics.size(), 2u) << ::testing::PrintToString(Messages(result));
  EXPECT_EQ(result.diagnostics[0].location.ToString(), "jobs/a.yaml:8:5");
  EXPECT_THAT(result.diagnostics[0].message, HasSubstr("key '-bad'"));
  EXPECT_EQ(result.diagnostics[1].location.ToString(), "jobs/a.yaml:9:11");
  EXPECT_THAT(result.diagnostics[1].message, HasSubstr("metadata.labels.team: value 'has space'"));
  EXPECT_THAT(result.jobs, IsEmpty());
  ASSERT_EQ(result.invalid_jobs.size(), 1u);
}

TEST_F(LoaderRulesTest, AnnotationKeysAreQualifiedNames) {
  LoadResult result = Load({{"a.yaml", JobWithMetadata("a",
                                                       "  annotations:\n"
                                                       "    Example.com/Owner: me\n"
                                                       "    a/b/c: x\n")}});
  ASSERT_EQ(result.diagnostics.size(), 1u) << ::testing::PrintToString(Messages(result));
  EXPECT_EQ(result.diagnostics[0].location.ToString(), "a.yaml:8:5");
  EXPECT_THAT(result.diagnostics[0].message, HasSubstr("key 'a/b/c'"));
}

TEST_F(LoaderRulesTest, OwnKeysAreRefusedButTheDocumentedOnesWork) {
  LoadResult refused = Load({{"a.yaml", JobWithMetadata("a",
                                                        "  labels:\n"
                                                        "    jobsync.dev/instance: other\n"
                                                        "    app.kubernetes.io/managed-by: me\n"
                                                        "  annotations:\n"
                                                        "    jobsync.dev/spec-hash: x\n")}});
  ASSERT_EQ(refused.diagnostics.size(), 3u) << ::testing::PrintToString(Messages(refused));
  EXPECT_THAT(refused.diagnostics[0].message, HasSubstr("'jobsync.dev/instance' is jobsync's own"));
  EXPECT_THAT(refused.diagnostics[1].message,
              HasSubstr("'app.kubernetes.io/managed-by' is jobsync's own"));
  EXPECT_THAT(refused.diagnostics[2].message,
              HasSubstr("'jobsync.dev/spec-hash' is jobsync's own"));

  LoadResult allowed = Load({{"a.yaml", JobWithMetadata("a",
                                                        "  labels:\n"
                                                        "    jobsync.dev/kwok-complete: \"true\"\n"
                                                        "  annotations:\n"
                                                        "    jobsync.dev/prune: \"false\"\n")}});
  EXPECT_THAT(Messages(allowed), IsEmpty());
  ASSERT_EQ(allowed.jobs.size(), 1u);
  EXPECT_EQ(allowed.jobs[0]->annotations.at("jobsync.dev/prune"), "false");
}

TEST_F(LoaderRulesTest, AnnotationSizeCountsWhatJobsyncAdds) {
  // 200 KiB of annotation passes on its own, but each Job also carries the applied spec, which
  // holds the annotation again: 400 KiB, over Kubernetes' 256 KiB.
  const std::string big(200 * 1024, 'x');
  LoadResult result =
      Load({{"a.yaml", JobWithMetadata("a", "  annotations:\n    note: " + big + "\n")}});
  ASSERT_EQ(result.diagnostics.size(), 1u) << ::testing::PrintToString(Messages(result));
  EXPECT_EQ(result.diagnostics[0].location.ToString(), "a.yaml:7:5");
  EXPECT_THAT(result.diagnostics[0].message, HasSubstr("Kubernetes allows 262144"));

  LoadResult fits = Load(
      {{"a.yaml",
        JobWithMetadata("a", "  annotations:\n    note: " + std::string(100 * 1024, 'x') + "\n")}});
  EXPECT_THAT(Messages(fits), IsEmpty());
}

TEST_F(LoaderRulesTest, GeneratedNameCollisionsInvalidateBothJobs) {
  LoadResult result = Load({{"jobs/a.yaml", JobWithMetadata("a", "", "    b-c: {replicas: 1}\n")},
                            {"jobs/a-b.yaml", JobWithMetadata("a-b", "",
                                                              "    c: {replicas: 1}\n"
                                                              "    d: {replicas: 1}\n")},
                            {"jobs/other.yaml", JobWithMetadata("x", "")}});
  ASSERT_EQ(result.diagnostics.size(), 2u) << ::testing::PrintToString(Messages(result));
  EXPECT_EQ(result.diagnostics[0].location.ToString(), "jobs/a-b.yaml:4:9");
  EXPECT_THAT(result.diagnostics[0].message,
              HasSubstr("job kubernetes/team/a-b would make the Kubernetes Job 'a-b-c', which job "
                        "kubernetes/team/a (at jobs/a.yaml:4:9) makes too"));
  EXPECT_EQ(result.diagnostics[1].location.ToString(), "jobs/a.yaml:4:9");
  EXPECT_THAT(result.diagnostics[1].message, HasSubstr("job kubernetes/team/a would make"));
  ASSERT_EQ(result.invalid_jobs.size(), 2u);
  EXPECT_EQ(result.invalid_jobs[0].name, "a");
  EXPECT_EQ(result.invalid_jobs[1].name, "a-b");
  ASSERT_EQ(result.jobs.size(), 1u);
  EXPECT_EQ(result.jobs[0]->name, "x");
}

TEST_F(LoaderRulesTest, SameNamesInOtherNamespacesDoNotCollide) {
  std::string other = JobWithMetadata("a-b", "", "    c: {replicas: 1}\n");
  other.replace(other.find("namespace: team"), 15, "namespace: elsewhere");
  LoadResult result =
      Load({{"a.yaml", JobWithMetadata("a", "", "    b-c: {replicas: 1}\n")}, {"b.yaml", other}});
  EXPECT_THAT(Messages(result), IsEmpty());
  EXPECT_EQ(result.jobs.size(), 2u);
}

TEST_F(LoaderRulesTest, QuantitiesAreLocatedWithTheirReason) {
  LoadResult result = Load({{"a.yaml", JobWithMetadata("a", "",
                                                       "    worker:\n"
                                                       "      replicas: 1\n"
                                                       "      resources: {cpu: \"-0\", "
                                                       "memory: 1e0000}\n")}});
  ASSERT_EQ(result.diagnostics.size(), 1u) << ::testing::PrintToString(Messages(result));
  EXPECT_EQ(result.diagnostics[0].location.ToString(), "a.yaml:12:24");
  EXPECT_THAT(
      result.diagnostics[0].message,
      HasSubstr("spec.roles.worker.resources.cpu: '-0' is not a quantity: a negative zero"));
}

TEST_F(LoaderRulesTest, LargeNumbersKeepTheirDigits) {
  LoadResult result = Load({{"a.yaml", JobWithMetadata("a", "",
                                                       "    worker:\n"
                                                       "      replicas: 1\n"
                                                       "      resources: {memory: "
                                                       "123456789012345678901234}\n")}});
  ASSERT_THAT(Messages(result), IsEmpty());
  EXPECT_EQ(result.jobs[0]->roles.at("worker").resources.memory->ExactText(),
            "123456789012345678901234e0");
}

// std::regex recursed once per character: a name, env key or plain scalar of some ten thousand
// characters overflowed the stack in validate and render.
TEST_F(LoaderRulesTest, LongStringsDoNotExhaustTheStack) {
  const std::string long_name(300000, 'a');
  LoadResult result = Load({{"a.yaml", JobWithMetadata(long_name, "")}});
  ASSERT_EQ(result.diagnostics.size(), 1u);
  EXPECT_THAT(result.diagnostics[0].message, HasSubstr("characters long; the limit is 63"));

  std::string env_key = JobWithMetadata("a", "");
  env_key.replace(
      env_key.find("  roles:"), 0,
      "  env:\n    ? " + std::string(100000, 'K') + "\n    : v\n");  // YAML's long-key form
  EXPECT_THAT(Messages(Load({{"b.yaml", env_key}})), IsEmpty());

  const std::string digits(300000, '1');
  YamlFile yaml = ReadYaml("value: " + digits + "\nword: " + long_name + "\n");
  ASSERT_FALSE(yaml.error);
  const nlohmann::json json = YamlToJson(*yaml.documents[0]);
  EXPECT_TRUE(json["value"].is_number());
  const std::string text = JsonToYaml(json);
  EXPECT_THAT(text, HasSubstr("word: " + long_name));
}

TEST(SchemaValidatorTest, EveryPatternHasAMatcher) {
  EXPECT_THAT(SchemaValidator().PatternsWithoutMatcher(), IsEmpty());
}

}  // namespace
}  // namespace jobsync
