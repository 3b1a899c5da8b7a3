// What a pull-request review needs from every rendering: the manifest problems with their
// file:line:column, message and hint; the resource impact at the end; and a Markdown comment
// that stays within the host's size limit however big the plan.
#include <cstdio>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "diff/render.h"
#include "plan_fixtures.h"

namespace jobsync {
namespace {

using ::jobsync::testing::Desired;
using ::jobsync::testing::K8sJob;
using ::jobsync::testing::Live;
using ::jobsync::testing::LoadYaml;
using ::jobsync::testing::Options;
using ::testing::EndsWith;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr const char* kValid = R"(apiVersion: jobsync.dev/v1alpha1
kind: TrainingJob
metadata:
  name: resnet
  namespace: vision
spec:
  backend: kubernetes
  image: trainer:v1
  roles:
    worker:
      replicas: 4
      resources: {gpu: 8, cpu: "4", memory: 16Gi}
)";

// A typo in a field name: the loader reports it with a hint.
constexpr const char* kInvalid = R"(apiVersion: jobsync.dev/v1alpha1
kind: TrainingJob
metadata:
  name: broken
  namespace: vision
spec:
  backend: kubernetes
  image: trainer:v1
  roles:
    worker:
      replicaz: 2
)";

Plan PlanWithAProblem() {
  LoadResult desired = LoadYaml({{"jobs/resnet.yaml", kValid}, {"jobs/broken.yaml", kInvalid}});
  EXPECT_FALSE(desired.diagnostics.empty());
  StatusOr<Plan> plan = BuildPlan(desired, {}, Options());
  EXPECT_TRUE(plan.ok()) << plan.status().ToString();
  return plan.ok() ? *plan : Plan{};
}

TEST(RenderReviewTest, EveryOutputCarriesEachManifestProblem) {
  const Plan plan = PlanWithAProblem();
  ASSERT_FALSE(plan.diagnostics.empty());
  EXPECT_TRUE(plan.HasErrors());
  const std::string text = RenderText(plan, false);
  const std::string markdown = RenderMarkdown(plan);
  const nlohmann::json json = nlohmann::json::parse(RenderJson(plan));
  ASSERT_EQ(json["diagnostics"].size(), plan.diagnostics.size());
  for (size_t i = 0; i < plan.diagnostics.size(); ++i) {
    const Diagnostic& d = plan.diagnostics[i];
    EXPECT_EQ(d.location.path, "jobs/broken.yaml");
    EXPECT_GT(d.location.line, 0);
    EXPECT_THAT(text, HasSubstr(d.ToString()));
    EXPECT_THAT(markdown, HasSubstr("- `" + d.location.ToString() + "`: "));
    EXPECT_EQ(json["diagnostics"][i]["file"], d.location.path);
    EXPECT_EQ(json["diagnostics"][i]["line"], d.location.line);
    EXPECT_EQ(json["diagnostics"][i]["column"], d.location.column);
    EXPECT_EQ(json["diagnostics"][i]["message"], d.message);
    if (!d.hint.empty()) {
      EXPECT_EQ(json["diagnostics"][i]["hint"], d.hint);
    }
  }
  EXPECT_THAT(markdown, HasSubstr("### Manifest problems"));
  EXPECT_THAT(markdown, HasSubstr("replicaz"));
  EXPECT_EQ(json["summary"]["diagnostics"], plan.diagnostics.size());
}

TEST(RenderReviewTest, EveryOutputEndsWithTheResourceImpact) {
  const Plan plan = PlanWithAProblem();
  const std::string line =
      "vision: +32 GPUs (0 -> 32), +16 CPUs (0 -> 16), +64Gi memory (0 -> 64Gi)";
  EXPECT_THAT(RenderText(plan, false), EndsWith("  " + line + "\n"));
  EXPECT_THAT(RenderMarkdown(plan), EndsWith("### Resource impact\n\nRequested per namespace, "
                                             "before -> after.\n\n- " +
                                             line + "\n"));
  const nlohmann::json impact = nlohmann::json::parse(RenderJson(plan))["impact"];
  ASSERT_EQ(impact.size(), 1u);
  EXPECT_EQ(impact[0]["namespace"], "vision");
  EXPECT_EQ(impact[0]["before"]["gpus"], 0);
  EXPECT_EQ(impact[0]["after"]["gpus"], 32);
  EXPECT_EQ(impact[0]["after"]["cpus"], "16");
  EXPECT_EQ(impact[0]["after"]["memory"], "64Gi");

  const TrainingJob job = K8sJob("same");
  StatusOr<Plan> unchanged = BuildPlan(Desired({job}), {Live(job)}, Options());
  ASSERT_TRUE(unchanged.ok());
  EXPECT_THAT(RenderText(*unchanged, false), EndsWith("  no change in requested resources\n"));
}

// A plan of `creates` creates, `deletes` deletes and one job with an error.
Plan BigPlan(int creates, int deletes) {
  std::vector<TrainingJob> desired;
  std::vector<LiveJob> live;
  char name[32];
  for (int i = 0; i < creates; ++i) {
    std::snprintf(name, sizeof(name), "new-%05d", i);
    desired.push_back(K8sJob(name, "team-" + std::to_string(i % 7)));
  }
  for (int i = 0; i < deletes; ++i) {
    std::snprintf(name, sizeof(name), "old-%05d", i);
    live.push_back(Live(K8sJob(name, "legacy")));
  }
  for (int i = 0; i < deletes; ++i) {  // kept, so that the deletes stay under the guard's share
    std::snprintf(name, sizeof(name), "kept-%05d", i);
    desired.push_back(K8sJob(name, "legacy"));
    live.push_back(Live(desired.back()));
  }
  LoadResult result = Desired(desired);
  result.invalid_jobs = {K8sJob("broken", "nlp").key()};
  StatusOr<Plan> plan = BuildPlan(result, live, Options());
  EXPECT_TRUE(plan.ok()) << plan.status().ToString();
  return plan.ok() ? *plan : Plan{};
}

TEST(RenderReviewTest, AHugePlanIsSummarisedWithinTheCommentLimit) {
  const Plan plan = BigPlan(5000, 400);
  const std::string markdown = RenderMarkdown(plan);
  EXPECT_LE(markdown.size(), kMarkdownCommentLimit);
  EXPECT_LE(markdown.size() + 100, 65536u) << "room for the CI's marker line";
  // Counts per action, every delete and the error are listed; the rest is cut with a count.
  EXPECT_THAT(markdown, HasSubstr("| create | 5000 |"));
  EXPECT_THAT(markdown, HasSubstr("| delete | 400 |"));
  EXPECT_THAT(markdown, HasSubstr("- `kubernetes/nlp/broken`: manifest is invalid"));
  for (int i = 0; i < 400; ++i) {
    char key[64];
    std::snprintf(key, sizeof(key), "- `kubernetes/legacy/old-%05d`", i);
    ASSERT_THAT(markdown, HasSubstr(key)) << "delete " << i << " is missing";
  }
  size_t shown = 0;
  for (size_t at = markdown.find("\n- create `"); at != std::string::npos;
       at = markdown.find("\n- create `", at + 1)) {
    ++shown;
  }
  EXPECT_GT(shown, 100u);
  EXPECT_LT(shown, 5000u);
  EXPECT_THAT(markdown,
              HasSubstr("- ... and " + std::to_string(5000 - shown) + " more changes not shown\n"));
  EXPECT_THAT(markdown, HasSubstr("### Resource impact"));
  EXPECT_THAT(markdown, Not(HasSubstr("```diff")));
  // Deterministic: the same plan gives the same bytes.
  EXPECT_EQ(RenderMarkdown(BigPlan(5000, 400)), markdown);
}

TEST(RenderReviewTest, APlanThatFitsIsRenderedInFull) {
  const Plan plan = BigPlan(20, 2);
  const std::string markdown = RenderMarkdown(plan);
  EXPECT_THAT(markdown, HasSubstr("```diff"));
  EXPECT_THAT(markdown, Not(HasSubstr("not shown")));
}

TEST(RenderReviewTest, EvenProblemsAndDeletesAreCutAtTheLimitWithACount) {
  const Plan plan = BigPlan(10, 3000);
  const std::string markdown = RenderMarkdown(plan, 20000);
  EXPECT_LE(markdown.size(), 20000u);
  EXPECT_THAT(markdown, HasSubstr("more deletes not shown\n"));
  EXPECT_THAT(markdown, HasSubstr("more changes not shown\n"));
}

}  // namespace
}  // namespace jobsync
