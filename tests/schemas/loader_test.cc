#include "schemas/loader.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace jobsync {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

const fs::path kSourceDir = JOBSYNC_SOURCE_DIR;

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// A scratch directory removed when the test ends.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "jobsync-loader-XXXXXX").string();
    path_ = mkdtemp(pattern.data());
  }
  ~TempDir() { fs::remove_all(path_); }
  const fs::path& path() const { return path_; }
  void Write(const std::string& relative, const std::string& text) const {
    fs::create_directories((path_ / relative).parent_path());
    std::ofstream(path_ / relative, std::ios::binary) << text;
  }

 private:
  fs::path path_;
};

std::string Job(const std::string& name, const std::string& ns = "default",
                const std::string& extra_spec = "") {
  return "apiVersion: jobsync.dev/v1alpha1\nkind: TrainingJob\nmetadata:\n  name: " + name +
         "\n  namespace: " + ns + "\nspec:\n  backend: kubernetes\n  image: trainer:v1\n" +
         extra_spec + "  roles:\n    worker: {replicas: 2}\n";
}

class LoaderTest : public ::testing::Test {
 protected:
  LoadResult LoadText(const std::string& path, const std::string& text) {
    std::vector<ManifestFile> files;
    files.push_back(ParseManifestFile(path, text, validator_));
    return CheckManifests(files);
  }

  SchemaValidator validator_;
};

// Every file in tests/data/invalid/ is a bad manifest; its .expected file holds the exact report.
// Set JOBSYNC_UPDATE_GOLDEN=1 to rewrite the .expected files after an intended change.
TEST_F(LoaderTest, InvalidCorpusGivesExactErrors) {
  const fs::path dir = kSourceDir / "tests/data/invalid";
  std::vector<fs::path> inputs;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.path().extension() == ".yaml") inputs.push_back(entry.path());
  }
  std::sort(inputs.begin(), inputs.end());
  ASSERT_GE(inputs.size(), 20u);
  for (const fs::path& input : inputs) {
    SCOPED_TRACE(input.filename().string());
    LoadResult result = LoadText(input.filename().string(), ReadFile(input));
    std::string report;
    for (const Diagnostic& d : result.diagnostics) report += d.ToString() + "\n";
    EXPECT_FALSE(result.ok());
    fs::path expected_path = input;
    expected_path.replace_extension(".expected");
    if (std::getenv("JOBSYNC_UPDATE_GOLDEN") != nullptr) {
      std::ofstream(expected_path, std::ios::binary) << report;
      continue;
    }
    ASSERT_TRUE(fs::exists(expected_path)) << "missing " << expected_path;
    EXPECT_EQ(report, ReadFile(expected_path));
  }
}

TEST_F(LoaderTest, ExampleRepositoryIsValid) {
  LoadResult result = LoadManifestPaths({(kSourceDir / "examples/repo").string()}, validator_);
  for (const Diagnostic& d : result.diagnostics) ADD_FAILURE() << d.ToString();
  ASSERT_EQ(result.jobs.size(), 8u);
  std::vector<std::string> keys;
  for (const auto& job : result.jobs) keys.push_back(job->key().ToString());
  EXPECT_THAT(keys, ElementsAre("kubernetes/nlp/bert-pretrain", "kubernetes/nlp/corpus-prep",
                                "kubernetes/nlp/llama-finetune", "kubernetes/recsys/wide-deep",
                                "kubernetes/vision/resnet50", "kubernetes/vision/vit-large",
                                "ray/research/lr-sweep", "ray/research/ppo-cartpole"));
  const TrainingJob& llama = *result.jobs[2];
  EXPECT_EQ(llama.roles.at("shards").overrides->image, "ghcr.io/example-ml/shard-server:1.2");
  EXPECT_EQ(llama.pod->env_refs.at("WANDB_API_KEY")["secretKeyRef"]["name"], "wandb");
  ASSERT_EQ(llama.pod->volumes.size(), 3u);
  EXPECT_EQ(llama.pod->volumes[1].source["emptyDir"]["medium"], "Memory");
  EXPECT_EQ(llama.pod->tolerations.size(), 1u);
  EXPECT_EQ(llama.max_restarts, 3);
  const TrainingJob& resnet = *result.jobs[4];
  EXPECT_EQ(resnet.roles.at("worker").replicas, 4);
  EXPECT_EQ(resnet.roles.at("worker").min_replicas, 2);
  EXPECT_EQ(resnet.roles.at("worker").max_replicas, 8);
  EXPECT_EQ(resnet.roles.at("worker").resources.memory->milli(), 16LL * 1024 * 1024 * 1024 * 1000);
  EXPECT_EQ(resnet.roles.at("worker").resources.cpu->milli(), 4000);
  EXPECT_EQ(resnet.roles.at("worker").resources.gpu, 1);
  EXPECT_EQ(resnet.env.at("EPOCHS"), "90");
  EXPECT_TRUE(result.jobs[5]->suspend);
  EXPECT_EQ(result.jobs[5]->annotations.at(kPruneAnnotation), "false");
  EXPECT_THAT(result.jobs[0]->depends_on, ElementsAre("corpus-prep"));
  ASSERT_TRUE(result.jobs[6]->ray.has_value());
  EXPECT_EQ(result.jobs[6]->ray->entrypoint_resources.cpu, 0.1);
  EXPECT_EQ(result.jobs[6]->ray->runtime_env["env_vars"]["RAY_DEDUP_LOGS"], "0");
  EXPECT_EQ(result.jobs[0]->source.path, (kSourceDir / "examples/repo/nlp/pipeline.yaml").string());
  EXPECT_EQ(result.jobs[0]->source.line, 16);
}

TEST_F(LoaderTest, FillsDefaults) {
  LoadResult result =
      LoadText("a.yaml",
               "apiVersion: jobsync.dev/v1alpha1\nkind: TrainingJob\n"
               "metadata: {name: a}\n"
               "spec: {backend: kubernetes, image: x, roles: {w: {replicas: 1}}}\n");
  ASSERT_TRUE(result.ok());
  ASSERT_EQ(result.jobs.size(), 1u);
  EXPECT_EQ(result.jobs[0]->namespace_name, "default");
  EXPECT_FALSE(result.jobs[0]->suspend);
  EXPECT_THAT(result.jobs[0]->command, IsEmpty());
  EXPECT_FALSE(result.jobs[0]->roles.at("w").resources.cpu.has_value());
}

TEST_F(LoaderTest, WalksDirectoriesAndSkipsOtherFiles) {
  TempDir dir;
  dir.Write("a/one.yaml", Job("one"));
  dir.Write("b/two.yml", Job("two") + "---\n" + Job("three"));
  dir.Write("notes.md", "not: [a manifest");
  dir.Write("config.json", "{");
  dir.Write(".git/hidden.yaml", "broken: [");
  dir.Write(".hidden.yaml", "broken: [");
  LoadResult result = LoadManifestPaths({dir.path().string()}, validator_);
  EXPECT_TRUE(result.ok()) << result.diagnostics[0].ToString();
  std::vector<std::string> names;
  for (const auto& job : result.jobs) names.push_back(job->name);
  EXPECT_THAT(names, ElementsAre("one", "three", "two"));
}

TEST_F(LoaderTest, DuplicateAcrossFilesNamesBothPlaces) {
  TempDir dir;
  dir.Write("a.yaml", Job("same", "vision"));
  dir.Write("b.yaml", Job("same", "vision"));
  LoadResult result = LoadManifestPaths({dir.path().string()}, validator_);
  ASSERT_EQ(result.diagnostics.size(), 1u);
  EXPECT_EQ(result.diagnostics[0].ToString(),
            (dir.path() / "b.yaml").string() +
                ":4:9: job kubernetes/vision/same is defined twice: first at " +
                (dir.path() / "a.yaml").string() +
                ":4:9 (hint: each backend/namespace/name must appear once; rename or remove one)");
  EXPECT_THAT(result.jobs, IsEmpty());
  ASSERT_EQ(result.invalid_jobs.size(), 1u);
  EXPECT_EQ(result.invalid_jobs[0].ToString(), "kubernetes/vision/same");
}

TEST_F(LoaderTest, SameNameOnOtherBackendOrNamespaceIsNotADuplicate) {
  std::string ray_job =
      "apiVersion: jobsync.dev/v1alpha1\nkind: TrainingJob\nmetadata: {name: same, namespace: a}\n"
      "spec: {backend: ray, roles: {w: {replicas: 1}}, ray: {entrypoint: python x.py}}\n";
  LoadResult result =
      LoadText("a.yaml", Job("same", "a") + "---\n" + Job("same", "b") + "---\n" + ray_job);
  EXPECT_TRUE(result.ok());
  EXPECT_EQ(result.jobs.size(), 3u);
}

TEST_F(LoaderTest, InvalidDocumentKeepsItsKeyAndSparesTheRest) {
  LoadResult result =
      LoadText("a.yaml", Job("good") + "---\n" + Job("bad", "default", "  suspend: maybe\n"));
  ASSERT_EQ(result.jobs.size(), 1u);
  EXPECT_EQ(result.jobs[0]->name, "good");
  ASSERT_EQ(result.invalid_jobs.size(), 1u);
  EXPECT_EQ(result.invalid_jobs[0].ToString(), "kubernetes/default/bad");
  EXPECT_THAT(result.unreadable_files, IsEmpty());
}

TEST_F(LoaderTest, SyntaxErrorMarksFileUnreadableButKeepsEarlierDocuments) {
  LoadResult result = LoadText("a.yaml", Job("first") + "---\nmetadata: {name: [\n");
  EXPECT_THAT(result.unreadable_files, ElementsAre("a.yaml"));
  ASSERT_EQ(result.jobs.size(), 1u);
  ASSERT_EQ(result.diagnostics.size(), 1u);
  EXPECT_THAT(result.diagnostics[0].message, HasSubstr("YAML syntax error"));
  EXPECT_EQ(result.diagnostics[0].location.line, 13);
}

TEST_F(LoaderTest, DependentsOfAnInvalidJobAreNotReportedMissing) {
  // "train" depends on "prep", which is valid: no dependsOn error, both load.
  LoadResult result =
      LoadText("a.yaml", Job("prep") + "---\n" + Job("train", "default", "  dependsOn: [prep]\n"));
  EXPECT_TRUE(result.ok());
  EXPECT_EQ(result.jobs.size(), 2u);
}

TEST_F(LoaderTest, OversizedFileIsRefusedBeforeParsing) {
  TempDir dir;
  std::string big = Job("big") + "# " + std::string(2 << 20, 'x') + "\n";
  dir.Write("big.yaml", big);
  LoadResult result = LoadManifestPaths({(dir.path() / "big.yaml").string()}, validator_);
  ASSERT_EQ(result.diagnostics.size(), 1u);
  EXPECT_THAT(result.diagnostics[0].message, HasSubstr("over the limit of 1048576"));
  EXPECT_THAT(result.unreadable_files, ElementsAre((dir.path() / "big.yaml").string()));
}

TEST_F(LoaderTest, MissingPathIsAnError) {
  LoadResult result = LoadManifestPaths({"/nonexistent/jobsync"}, validator_);
  ASSERT_EQ(result.diagnostics.size(), 1u);
  EXPECT_EQ(result.diagnostics[0].ToString(), "/nonexistent/jobsync: no such file or directory");
}

TEST_F(LoaderTest, EmptyFileAndEmptyDocumentsHoldNoJobs) {
  LoadResult result = LoadText("a.yaml", "---\n---\n# only a comment\n");
  EXPECT_TRUE(result.ok());
  EXPECT_THAT(result.jobs, IsEmpty());
}

TEST_F(LoaderTest, AllowsQuantitiesAsNumbersAndStrings) {
  LoadResult result =
      LoadText("a.yaml",
               "apiVersion: jobsync.dev/v1alpha1\nkind: TrainingJob\nmetadata: {name: a}\n"
               "spec:\n  backend: kubernetes\n  image: x\n  roles:\n"
               "    w: {replicas: 1, resources: {cpu: 0.5, memory: \"1e9\"}}\n");
  ASSERT_TRUE(result.ok()) << result.diagnostics[0].ToString();
  EXPECT_EQ(result.jobs[0]->roles.at("w").resources.cpu->milli(), 500);
  EXPECT_EQ(result.jobs[0]->roles.at("w").resources.memory->milli(), 1000000000000LL);
}

// Quantities beyond 2^53 units, with long exponents or more than 19 digits were refused, though
// Kubernetes accepts them: they are held exactly, binary ones capped at 2^63-1 as Kubernetes
// caps them.
TEST_F(LoaderTest, QuantitiesBeyondDoublesAreHeldExactly) {
  const std::string text =
      "apiVersion: jobsync.dev/v1alpha1\nkind: TrainingJob\nmetadata: {name: a}\n"
      "spec:\n  backend: ray\n  roles:\n"
      "    w: {replicas: 1, resources: {cpu: \"99999999999999999999\", memory: 64Ei}}\n"
      "    x: {replicas: 1, resources: {memory: \"1e0001\"}}\n"
      "  ray: {entrypoint: python x.py, entrypointResources: {memory: 10Ei}}\n";
  LoadResult result = LoadText("a.yaml", text);
  ASSERT_TRUE(result.ok()) << result.diagnostics[0].ToString();
  ASSERT_EQ(result.jobs.size(), 1u);
  const TrainingJob& job = *result.jobs[0];
  EXPECT_EQ(job.roles.at("w").resources.cpu->ExactText(), "99999999999999999999e0");
  EXPECT_EQ(*job.roles.at("w").resources.memory, *job.ray->entrypoint_resources.memory);
  EXPECT_EQ(job.roles.at("x").resources.memory->ExactText(), "10000000000n");
}

// Found with the loader fuzz target's round-trip check (tests/fuzz/regressions/loader/): .inf
// and .nan passed the schema; the applied spec then read back differently (null), and a NaN
// never equals itself.
TEST_F(LoaderTest, InfinityAndNaNAreErrorsAtTheirPosition) {
  const std::string text =
      "apiVersion: jobsync.dev/v1alpha1\nkind: TrainingJob\nmetadata: {name: a}\n"
      "spec:\n  backend: ray\n  roles: {w: {replicas: 1, resources: {cpu: .inf}}}\n"
      "  ray:\n    entrypoint: python x.py\n    entrypointResources: {gpu: -.inf}\n"
      "    runtimeEnv: {env_vars: {A: \"1\"}, config: [1, .nan]}\n";
  LoadResult result = LoadText("a.yaml", text);
  EXPECT_THAT(result.jobs, IsEmpty());
  std::vector<std::string> reports;
  for (const Diagnostic& d : result.diagnostics) reports.push_back(d.ToString());
  EXPECT_THAT(reports,
              ElementsAre(HasSubstr("a.yaml:6:45: spec.roles.w.resources.cpu: infinity is not "
                                    "allowed (hint: write a finite number"),
                          HasSubstr("a.yaml:9:32: spec.ray.entrypointResources.gpu: infinity"),
                          HasSubstr("a.yaml:10:50: spec.ray.runtimeEnv.config.1: NaN is not "
                                    "allowed")));
}

}  // namespace
}  // namespace jobsync
