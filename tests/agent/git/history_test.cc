#include "agent/git/history.h"

#include <filesystem>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/agent/git/git_test_util.h"

namespace jobsync {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::JobYaml;
using testing::ShellQuote;
using testing::TempDir;
using testing::TestOptions;
using testing::TestRepo;

class HistoryTest : public ::testing::Test {
 protected:
  HistoryTest() : repo_(dir_.path() / "repo") {}

  StatusOr<std::vector<JobHistoryEntry>> History(const std::string& job, size_t max = 0,
                                                 const std::string& path = "") {
    GitSourceOptions options = TestOptions(repo_.dir().string(), dir_.path() / "cache");
    options.path = path;
    StatusOr<std::unique_ptr<GitSource>> created = NewGitSource(options, validator_);
    if (!created.ok()) return created.status();
    source_ = std::move(*created);
    StatusOr<std::string> tip = source_->Fetch();
    if (!tip.ok()) return tip.status();
    StatusOr<JobSelector> selector = JobSelector::Parse(job);
    if (!selector.ok()) return selector.status();
    return JobHistory(*source_, *tip, *selector, max);
  }

  // A job's life over seven commits, beside a job that never changes: created, scaled, moved
  // into a multi-document file in another folder, another job changed, image bumped, comment
  // added, deleted.
  std::vector<std::string> MakeLife() {
    std::vector<std::string> ids;
    repo_.Write("jobs/other.yaml", JobYaml("other"));
    repo_.Write("jobs/resnet.yaml", JobYaml("resnet", "vision"));
    ids.push_back(repo_.Commit("Add resnet", "Alice Example"));
    repo_.Write("jobs/resnet.yaml", JobYaml("resnet", "vision", "trainer:v1", 6));
    ids.push_back(repo_.Commit("Scale resnet", "Bob Builder"));
    repo_.Git("rm -q jobs/resnet.yaml");
    repo_.Write("jobs/vision/all.yaml",
                JobYaml("bert", "vision") + "---\n" + JobYaml("resnet", "vision", "trainer:v1", 6));
    ids.push_back(repo_.Commit("Group vision jobs"));
    repo_.Write("jobs/vision/all.yaml", JobYaml("bert", "vision", "trainer:v9") + "---\n" +
                                            JobYaml("resnet", "vision", "trainer:v1", 6));
    ids.push_back(repo_.Commit("Bump bert only"));
    repo_.Write("jobs/vision/all.yaml", JobYaml("bert", "vision", "trainer:v9") + "---\n" +
                                            JobYaml("resnet", "vision", "trainer:v2", 6));
    ids.push_back(repo_.Commit("Bump resnet image", "Carol Ops"));
    repo_.Write("jobs/vision/all.yaml", "# owned by the vision team\n" +
                                            JobYaml("bert", "vision", "trainer:v9") + "---\n" +
                                            JobYaml("resnet", "vision", "trainer:v2", 6));
    ids.push_back(repo_.Commit("Comment only"));
    repo_.Write("jobs/vision/all.yaml", JobYaml("bert", "vision", "trainer:v9"));
    ids.push_back(repo_.Commit("Retire resnet", "Dana Lead"));
    return ids;
  }

  TempDir dir_;
  TestRepo repo_;
  SchemaValidator validator_;
  std::unique_ptr<GitSource> source_;
};

std::vector<std::string> Summaries(const std::vector<JobHistoryEntry>& history) {
  std::vector<std::string> out;
  for (const JobHistoryEntry& entry : history) out.push_back(entry.commit.summary);
  return out;
}

TEST_F(HistoryTest, FollowsRenamesAndMovesNewestFirst) {
  std::vector<std::string> ids = MakeLife();
  StatusOr<std::vector<JobHistoryEntry>> history = History("vision/resnet");
  ASSERT_TRUE(history.ok()) << history.status().ToString();
  EXPECT_THAT(Summaries(*history), ElementsAre("Retire resnet", "Bump resnet image",
                                               "Group vision jobs", "Scale resnet", "Add resnet"));
  const auto& h = *history;
  EXPECT_THAT(h[0].changes, ElementsAre("deleted"));
  EXPECT_EQ(h[0].path, "jobs/vision/all.yaml");
  EXPECT_EQ(h[0].commit.author_name, "Dana Lead");
  EXPECT_THAT(h[1].changes, ElementsAre("image trainer:v1 -> trainer:v2"));
  EXPECT_THAT(h[2].changes, ElementsAre("moved jobs/resnet.yaml -> jobs/vision/all.yaml"));
  EXPECT_THAT(h[3].changes, ElementsAre("worker replicas 2 -> 6"));
  EXPECT_EQ(h[3].commit.id, ids[1]);
  EXPECT_THAT(h[4].changes, ElementsAre("created"));
  EXPECT_EQ(h[4].path, "jobs/resnet.yaml");
  EXPECT_EQ(h[4].commit.author_name, "Alice Example");
}

TEST_F(HistoryTest, WalkingHistoryParsesEachBlobOnce) {
  MakeLife();
  ASSERT_TRUE(History("vision/resnet").ok());
  // Seven commits of two files: each of the seven versions of resnet's file is parsed once, and
  // the file that never changed only once (not seven times).
  EXPECT_EQ(source_->stats().files_parsed, 8);
}

TEST_F(HistoryTest, LimitsTheCommitsLookedAt) {
  MakeLife();
  StatusOr<std::vector<JobHistoryEntry>> history = History("vision/resnet", 3);
  ASSERT_TRUE(history.ok()) << history.status().ToString();
  EXPECT_THAT(Summaries(*history), ElementsAre("Retire resnet", "Bump resnet image"));
}

TEST_F(HistoryTest, SelectsTheBackend) {
  MakeLife();
  StatusOr<std::vector<JobHistoryEntry>> ray = History("ray/vision/resnet");
  ASSERT_TRUE(ray.ok());
  EXPECT_TRUE(ray->empty());
  StatusOr<std::vector<JobHistoryEntry>> kubernetes = History("kubernetes/vision/resnet");
  ASSERT_TRUE(kubernetes.ok());
  EXPECT_EQ(kubernetes->size(), 5u);
}

TEST_F(HistoryTest, ReportsInvalidManifests) {
  repo_.Write("jobs/a.yaml", JobYaml("a"));
  repo_.Commit("Add a");
  repo_.Write("jobs/a.yaml", JobYaml("a") + "  bogus: true\n");
  repo_.Commit("Break a");
  repo_.Write("jobs/a.yaml", JobYaml("a", "default", "trainer:v3"));
  repo_.Commit("Fix a");
  StatusOr<std::vector<JobHistoryEntry>> history = History("default/a");
  ASSERT_TRUE(history.ok()) << history.status().ToString();
  ASSERT_EQ(history->size(), 3u);
  EXPECT_THAT((*history)[0].changes, ElementsAre("manifest valid again"));
  EXPECT_THAT((*history)[1].changes, ElementsAre(HasSubstr("became invalid")));
}

TEST_F(HistoryTest, PathAddedLaterStillListsTheJob) {
  repo_.Write("README.md", "jobs come later\n");
  repo_.Commit("Start");
  repo_.Write("jobs/a.yaml", JobYaml("a"));
  repo_.Commit("Add a");
  StatusOr<std::vector<JobHistoryEntry>> history = History("default/a", 0, "jobs");
  ASSERT_TRUE(history.ok()) << history.status().ToString();
  EXPECT_THAT(Summaries(*history), ElementsAre("Add a"));
}

TEST_F(HistoryTest, RendersTextAndJson) {
  MakeLife();
  StatusOr<std::vector<JobHistoryEntry>> history = History("vision/resnet");
  ASSERT_TRUE(history.ok());
  JobSelector job = *JobSelector::Parse("vision/resnet");
  std::string text = FormatHistoryText(job, *history);
  EXPECT_THAT(text, HasSubstr((*history)[3].commit.ShortId() +
                              "  2024-05-01 12:00:00 +0200  Bob Builder  Scale resnet\n"
                              "    worker replicas 2 -> 6\n"));
  nlohmann::json json = HistoryToJson(job, *history);
  EXPECT_EQ(json["job"], "vision/resnet");
  ASSERT_EQ(json["commits"].size(), 5u);
  const nlohmann::json& scale = json["commits"][3];
  EXPECT_EQ(scale["commit"], (*history)[3].commit.id);
  EXPECT_EQ(scale["short"], (*history)[3].commit.ShortId());
  EXPECT_EQ(scale["time"], "2024-05-01T12:00:00+02:00");
  EXPECT_EQ(scale["author"], "Bob Builder");
  EXPECT_EQ(scale["email"], "alice@example.com");
  EXPECT_EQ(scale["summary"], "Scale resnet");
  EXPECT_EQ(scale["path"], "jobs/resnet.yaml");
  EXPECT_EQ(scale["changes"], nlohmann::json::array({"worker replicas 2 -> 6"}));
}

TEST_F(HistoryTest, CommandLinePrintsJsonAndFailsOnErrors) {
  MakeLife();
  std::string base = std::string(JOBSYNC_BINARY) + " history --repo " +
                     ShellQuote(repo_.dir().string()) + " --cache-dir " +
                     ShellQuote((dir_.path() / "cli-cache").string());
  std::string output;
  ASSERT_EQ(testing::RunShell(base + " -o json vision/resnet", &output), 0) << output;
  nlohmann::json json = nlohmann::json::parse(output, nullptr, false);
  ASSERT_FALSE(json.is_discarded()) << output;
  EXPECT_EQ(json["commits"].size(), 5u);
  ASSERT_EQ(testing::RunShell(base + " vision/resnet", &output), 0) << output;
  EXPECT_THAT(output, HasSubstr("Scale resnet\n    worker replicas 2 -> 6\n"));
  EXPECT_EQ(testing::RunShell(base + " --path nope vision/resnet", &output), 2);
  EXPECT_THAT(output, HasSubstr("--path nope does not exist"));
  EXPECT_EQ(testing::RunShell(base + " resnet", &output), 2);
  EXPECT_THAT(output, HasSubstr("NAMESPACE/NAME"));
}

TEST(JobSelectorTest, ParsesBothForms) {
  StatusOr<JobSelector> short_form = JobSelector::Parse("vision/resnet");
  ASSERT_TRUE(short_form.ok());
  EXPECT_FALSE(short_form->backend.has_value());
  EXPECT_TRUE(short_form->Matches({BackendKind::kRay, "vision", "resnet"}));
  StatusOr<JobSelector> long_form = JobSelector::Parse("ray/vision/resnet");
  ASSERT_TRUE(long_form.ok());
  EXPECT_TRUE(long_form->Matches({BackendKind::kRay, "vision", "resnet"}));
  EXPECT_FALSE(long_form->Matches({BackendKind::kKubernetes, "vision", "resnet"}));
  EXPECT_EQ(long_form->ToString(), "ray/vision/resnet");
  for (const char* bad : {"resnet", "a/b/c/d", "/resnet", "vision/", "slurm/vision/resnet"}) {
    EXPECT_FALSE(JobSelector::Parse(bad).ok()) << bad;
  }
}

TEST(DescribeJobChangesTest, NamesEachChangedField) {
  TrainingJob before;
  before.name = "resnet";
  before.image = "trainer:v1";
  before.command = {"torchrun", "train.py"};
  before.env = {{"EPOCHS", "90"}, {"LR", "0.1"}};
  before.roles["worker"].replicas = 2;
  before.roles["ps"].replicas = 1;
  TrainingJob after = before;
  EXPECT_TRUE(DescribeJobChanges(before, after).empty());
  after.source.path = "elsewhere.yaml";
  EXPECT_TRUE(DescribeJobChanges(before, after).empty());

  after.suspend = true;
  after.command = {"python", "train.py"};
  after.env.erase("LR");
  after.env["SEED"] = "7";
  after.roles.erase("ps");
  after.roles["worker"].replicas = 6;
  after.roles["worker"].max_replicas = 8;
  after.roles["evaluator"].replicas = 1;
  after.depends_on = {"data-prep"};
  EXPECT_THAT(
      DescribeJobChanges(before, after),
      ElementsAre("suspend false -> true", "command [torchrun, train.py] -> [python, train.py]",
                  "dependsOn [] -> [data-prep]", "env LR 0.1 -> unset", "env SEED unset -> 7",
                  "role evaluator added with 1 replicas", "role ps removed",
                  "worker replicas 2 -> 6", "worker maxReplicas unset -> 8"));
}

}  // namespace
}  // namespace jobsync
