// Renderer tests. The golden files under tests/data/plans/ hold the exact expected bytes; to
// rewrite them from the current output after an intended change, run
//   JOBSYNC_UPDATE_GOLDEN=1 build/tests/diff/jobsync_diff_tests --gtest_filter='RenderGolden*'
// and review the resulting diff of tests/data/plans/ before committing it.
#include "diff/render.h"

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "plan_fixtures.h"

namespace jobsync {
namespace {

using ::jobsync::testing::Desired;
using ::jobsync::testing::K8sJob;
using ::jobsync::testing::Live;
using ::jobsync::testing::Options;
using ::jobsync::testing::RayJob;
using ::testing::HasSubstr;
using ::testing::Not;

// A plan with one step of every kind: create, scale, suspend, patch, update, delete, finished,
// protected, invalid, conflict and in sync, with dependsOn between two of them.
Plan EveryKindOfStep() {
  TrainingJob resnet = K8sJob("resnet50", "vision");
  resnet.labels["team"] = "vision";
  resnet.env["DATASET"] = "s3://datasets/imagenet";

  TrainingJob corpus = K8sJob("corpus-prep", "nlp");
  TrainingJob corpus_v2 = corpus;
  corpus_v2.image = "trainer:v2";
  corpus_v2.env["SHARDS"] = "64";

  TrainingJob bert = K8sJob("bert-pretrain", "nlp");
  bert.depends_on = {"corpus-prep"};
  TrainingJob bert_scaled = bert;
  bert_scaled.roles["worker"].replicas = 6;

  TrainingJob sweep = RayJob("lr-sweep", "research");
  TrainingJob sweep_suspended = sweep;
  sweep_suspended.suspend = true;

  TrainingJob gpt = K8sJob("gpt-finetune", "nlp");
  TrainingJob gpt_kept = gpt;
  gpt_kept.annotations[kPruneAnnotation] = "false";

  TrainingJob eval = K8sJob("bleu-eval", "nlp");
  eval.run_id = "1";
  TrainingJob eval_again = eval;
  eval_again.run_id = "2";

  const TrainingJob ppo = RayJob("ppo", "research");
  const TrainingJob vit = K8sJob("vit", "vision");
  const TrainingJob shared = K8sJob("shared", "vision");
  const TrainingJob wide_deep = K8sJob("wide-deep", "recsys");
  const TrainingJob legacy = K8sJob("legacy", "recsys");

  LoadResult desired = Desired(
      {resnet, corpus_v2, bert_scaled, sweep_suspended, gpt_kept, eval_again, ppo, vit, shared});
  desired.invalid_jobs = {K8sJob("broken", "nlp").key()};
  std::vector<LiveJob> live = {Live(corpus),
                               Live(bert),
                               Live(sweep),
                               Live(gpt),
                               Live(eval, LivePhase::kSucceeded),
                               Live(ppo),
                               Live(vit, LivePhase::kSucceeded),
                               Live(shared, LivePhase::kRunning, "staging"),
                               Live(wide_deep),
                               Live(legacy)};
  live.back().prune_protected = true;
  StatusOr<Plan> plan = BuildPlan(desired, live, Options());
  EXPECT_TRUE(plan.ok()) << plan.status().ToString();
  return plan.ok() ? *plan : Plan{};
}

// Compares `actual` with tests/data/plans/`name` byte for byte, or rewrites the file when
// JOBSYNC_UPDATE_GOLDEN=1.
void ExpectGolden(const std::string& name, const std::string& actual) {
  const std::string path = std::string(JOBSYNC_SOURCE_DIR) + "/tests/data/plans/" + name;
  const char* update = std::getenv("JOBSYNC_UPDATE_GOLDEN");
  if (update != nullptr && std::string(update) == "1") {
    std::ofstream out(path, std::ios::binary);
    out << actual;
    ASSERT_TRUE(out.good()) << "cannot write " << path;
    return;
  }
  std::ifstream in(path, std::ios::binary);
  ASSERT_TRUE(in.is_open()) << "missing golden file " << path
                            << "; run with JOBSYNC_UPDATE_GOLDEN=1 to create it";
  std::ostringstream expected;
  expected << in.rdbuf();
  EXPECT_EQ(actual, expected.str()) << "output differs from " << path;
}

TEST(RenderGoldenTest, Text) { ExpectGolden("plan.txt", RenderText(EveryKindOfStep(), false)); }

TEST(RenderGoldenTest, ColouredText) {
  ExpectGolden("plan.colour.txt", RenderText(EveryKindOfStep(), true));
}

TEST(RenderGoldenTest, Markdown) { ExpectGolden("plan.md", RenderMarkdown(EveryKindOfStep())); }

TEST(RenderGoldenTest, Json) { ExpectGolden("plan.json", RenderJson(EveryKindOfStep())); }

TEST(RenderGoldenTest, NoChangesMarkdown) {
  const TrainingJob job = K8sJob("a");
  StatusOr<Plan> plan = BuildPlan(Desired({job}), {Live(job)}, Options());
  ASSERT_TRUE(plan.ok());
  ExpectGolden("no-changes.md", RenderMarkdown(*plan));
}

TEST(RenderTextTest, ColoursOnlyWhenAsked) {
  const Plan plan = EveryKindOfStep();
  EXPECT_THAT(RenderText(plan, false), Not(HasSubstr("\033[")));
  EXPECT_THAT(RenderText(plan, true), HasSubstr("\033[32m+ kubernetes/vision/resnet50\033[0m"));
}

TEST(RenderTextTest, ShowsFieldChangesUnderTheirStep) {
  const std::string text = RenderText(EveryKindOfStep(), false);
  EXPECT_THAT(text, HasSubstr("~ kubernetes/nlp/bert-pretrain: scale (replica counts changed)\n"
                              "    ~ spec.roles.worker.replicas: 2 -> 6\n"));
  EXPECT_THAT(text, HasSubstr("~ kubernetes/nlp/corpus-prep: update (spec changed: recreate "
                              "(spec.env, spec.image: a running Job's pod template cannot "
                              "change))\n"
                              "    + spec.env.SHARDS: \"64\"\n"
                              "    ~ spec.image: \"trainer:v1\" -> \"trainer:v2\"\n"));
  EXPECT_THAT(text, HasSubstr("! kubernetes/nlp/broken: none, error (manifest is invalid"));
  EXPECT_THAT(text,
              HasSubstr("~ kubernetes/nlp/gpt-finetune: patch (only annotations changed: patched "
                        "in place, nothing restarts)\n"
                        "    + metadata.annotations[\"jobsync.dev/prune\"]: \"false\"\n"));
}

TEST(RenderTextTest, ShowsARerunAndCountsItInTheSummary) {
  const std::string text = RenderText(EveryKindOfStep(), false);
  EXPECT_THAT(text, HasSubstr("~ kubernetes/nlp/bleu-eval: rerun (finished (Succeeded) and "
                              "spec.runId changed (\"1\" -> \"2\"): run again (recreate at the "
                              "same spec))\n"
                              "    ~ spec.runId: \"1\" -> \"2\"\n"));
  EXPECT_THAT(text, HasSubstr("1 to update, 1 to rerun, 1 to delete"));
  // A plan without a rerun keeps the summary it always had.
  const TrainingJob job = K8sJob("a");
  StatusOr<Plan> plan = BuildPlan(Desired({job}), {Live(job)}, Options());
  ASSERT_TRUE(plan.ok());
  EXPECT_THAT(RenderText(*plan, false),
              HasSubstr("Plan: 0 to create, 0 to scale, 0 to patch, 0 to update, 0 to delete, 1 "
                        "unchanged, 0 errors."));
}

TEST(RenderJsonTest, CarriesEveryStepAndTheSummary) {
  const Plan plan = EveryKindOfStep();
  const nlohmann::json json = nlohmann::json::parse(RenderJson(plan));
  ASSERT_EQ(json["steps"].size(), plan.steps.size());
  for (size_t i = 0; i < plan.steps.size(); ++i) {
    EXPECT_EQ(json["steps"][i]["job"], plan.steps[i].key.ToString());
    EXPECT_EQ(json["steps"][i]["action"], ActionName(plan.steps[i].action));
    EXPECT_EQ(json["steps"][i]["changes"].size(), plan.steps[i].changes.size());
  }
  EXPECT_EQ(json["summary"]["create"], 1);
  EXPECT_EQ(json["summary"]["scale"], 2);
  EXPECT_EQ(json["summary"]["patch"], 1);
  EXPECT_EQ(json["summary"]["update"], 1);
  EXPECT_EQ(json["summary"]["rerun"], 1);
  EXPECT_EQ(json["summary"]["delete"], 1);
  EXPECT_EQ(json["summary"]["errors"], 2);
  EXPECT_EQ(json["summary"]["changes"], true);
}

// A field the manifests hold but jobsync does not honour (an ElasticJob's brainService) is in
// every rendering, so a pull-request comment shows it; it is no error and no problem.
TEST(RenderTest, EveryRenderingCarriesTheManifestWarnings) {
  const TrainingJob job = K8sJob("ctr", "ads");
  LoadResult desired = Desired({job});
  desired.warnings.push_back({{"jobs/ctr.yaml", 9, 3},
                              "ElasticJob spec.brainService: jobsync does not use DLRover's Brain "
                              "service; ignored",
                              "",
                              true});
  StatusOr<Plan> plan = BuildPlan(desired, {Live(job)}, Options());
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  EXPECT_FALSE(plan->HasErrors());
  EXPECT_THAT(RenderText(*plan, false),
              HasSubstr("Manifest warnings:\n  jobs/ctr.yaml:9:3: warning: ElasticJob "
                        "spec.brainService: jobsync does not use DLRover's Brain service; "
                        "ignored\n"));
  const std::string markdown = RenderMarkdown(*plan);
  EXPECT_THAT(markdown, HasSubstr("| manifest warnings | 1 |\n"));
  EXPECT_THAT(markdown, HasSubstr("### Manifest warnings\n\nFields that load but that jobsync "
                                  "does not honour.\n\n- `jobs/ctr.yaml:9:3`: ElasticJob "
                                  "spec.brainService: "));
  ASSERT_GT(markdown.size(), 600u);  // so that the next one is summarised
  // Summarised, the section stays and counts what did not fit.
  EXPECT_THAT(RenderMarkdown(*plan, 600),
              HasSubstr("### Manifest warnings\n\nFields that load but that jobsync does not "
                        "honour.\n\n- ... and 1 more manifest warnings not shown\n"));
  const nlohmann::json json = nlohmann::json::parse(RenderJson(*plan));
  EXPECT_EQ(json["summary"]["warnings"], 1);
  EXPECT_EQ(json["warnings"][0]["line"], 9);
  EXPECT_EQ(json["summary"]["diagnostics"], 0);
}

TEST(RenderMarkdownTest, BackticksInValuesCannotCloseTheDiffBlock) {
  TrainingJob job = K8sJob("a");
  job.env["NOTE"] = "```";
  StatusOr<Plan> plan = BuildPlan(Desired({job}), {}, Options());
  ASSERT_TRUE(plan.ok());
  const std::string markdown = RenderMarkdown(*plan);
  EXPECT_THAT(markdown, HasSubstr("\n````diff\n"));
  EXPECT_THAT(markdown, HasSubstr("\n````\n"));
}

}  // namespace
}  // namespace jobsync
