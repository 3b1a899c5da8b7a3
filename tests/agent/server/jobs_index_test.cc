#include "agent/server/jobs_index.h"

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace jobsync {
namespace {

nlohmann::json Job(const std::string& ns, const std::string& name, const std::string& team,
                   const std::string& sync, const std::string& health,
                   const std::string& error = "") {
  nlohmann::json job = {{"key", "kubernetes/" + ns + "/" + name},
                        {"backend", "kubernetes"},
                        {"namespace", ns},
                        {"name", name},
                        {"sync", sync},
                        {"health", health},
                        {"lastError", error},
                        {"labels", nlohmann::json::object()}};
  if (!team.empty()) job["labels"]["team"] = team;
  return job;
}

nlohmann::json StatusWith(std::vector<nlohmann::json> jobs) {
  return {{"instance", "prod"},
          {"writer", false},
          {"leaderElection", {{"leader", false}, {"holder", "replica-a"}}},
          {"lastSync", {{"time", 1700000000}, {"result", "ok"}}},
          {"plan", {{"steps", {{"summary", {{"create", 1}}}}}, {"text", "Plan: 1 to create\n"}}},
          {"jobs", std::move(jobs)}};
}

nlohmann::json Sample() {
  return StatusWith({Job("vision", "resnet50", "cv", "Synced", "Healthy"),
                     Job("nlp", "bert-large", "text", "OutOfSync", "Progressing"),
                     Job("vision", "ResNet101", "cv", "Error", "Missing", "image pull denied"),
                     Job("nlp", "gpt-small", "", "Synced", "Succeeded"),
                     Job("vision", "yolo", "cv", "Synced", "Healthy")});
}

nlohmann::json PageOf(const nlohmann::json& status, JobsQuery query) {
  return nlohmann::json::parse(JobsIndex::Build(status, 7)->Page(query));
}

std::vector<std::string> Names(const nlohmann::json& page) {
  std::vector<std::string> names;
  for (const auto& job : page["jobs"]) names.push_back(job["name"]);
  return names;
}

// A query with the members `set` sets.
template <typename Set>
JobsQuery With(Set set) {
  JobsQuery query;
  set(query);
  return query;
}

struct FilterCase {
  const char* what;
  JobsQuery query;
  std::vector<std::string> names;
};

TEST(JobsIndexTest, FiltersSelectTheJobsInNamespaceThenNameOrder) {
  const std::vector<FilterCase> cases = {
      {"no filter", {}, {"bert-large", "gpt-small", "ResNet101", "resnet50", "yolo"}},
      {"name in any case", With([](JobsQuery& x) { x.q = "RESNET"; }), {"ResNet101", "resnet50"}},
      {"namespace",
       With([](JobsQuery& x) { x.namespace_name = "nlp"; }),
       {"bert-large", "gpt-small"}},
      {"team label", With([](JobsQuery& x) { x.team = "cv"; }), {"ResNet101", "resnet50", "yolo"}},
      {"sync state",
       With([](JobsQuery& x) { x.sync = "Synced"; }),
       {"gpt-small", "resnet50", "yolo"}},
      {"health", With([](JobsQuery& x) { x.health = "Healthy"; }), {"resnet50", "yolo"}},
      {"all together",
       With([](JobsQuery& x) {
         x.q = "o";
         x.namespace_name = "vision";
         x.team = "cv";
         x.sync = "Synced";
         x.health = "Healthy";
       }),
       {"yolo"}},
      // The team's list is the longer one here: the team is checked on each row of the other.
      {"team and sync state",
       With([](JobsQuery& x) {
         x.team = "cv";
         x.sync = "OutOfSync";
       }),
       {}},
      {"an unknown value", With([](JobsQuery& x) { x.namespace_name = "audio"; }), {}},
      {"a name nobody has", With([](JobsQuery& x) { x.q = "llama"; }), {}},
  };
  for (const FilterCase& c : cases) {
    const nlohmann::json page = PageOf(Sample(), c.query);
    EXPECT_EQ(Names(page), c.names) << c.what;
    EXPECT_EQ(page["matched"], c.names.size()) << c.what;
    EXPECT_EQ(page["total"], 5) << c.what;
  }
}

TEST(JobsIndexTest, PagesSplitTheMatchesAndClampPastTheEnd) {
  std::vector<nlohmann::json> jobs;
  for (int i = 0; i < 23; ++i) {
    jobs.push_back(Job("ns", "job-" + std::string(i < 10 ? "0" : "") + std::to_string(i), "",
                       "Synced", "Healthy"));
  }
  const nlohmann::json status = StatusWith(jobs);
  nlohmann::json page = PageOf(status, With([](JobsQuery& x) {
                                 x.page = 3;
                                 x.limit = 10;
                               }));
  EXPECT_EQ(Names(page), (std::vector<std::string>{"job-20", "job-21", "job-22"}));
  EXPECT_EQ(page["pages"], 3);
  EXPECT_EQ(page["page"], 3);
  EXPECT_EQ(page["revision"], 7);
  page = PageOf(status, With([](JobsQuery& x) {
                  x.page = 9;
                  x.limit = 10;
                }));
  EXPECT_EQ(page["page"], 3) << "a page past the end is the last one";
  page = PageOf(status, With([](JobsQuery& x) {
                  x.q = "nothing";
                  x.page = 2;
                }));
  EXPECT_EQ(page["page"], 1);
  EXPECT_EQ(page["pages"], 1);
  EXPECT_TRUE(page["jobs"].empty());
}

TEST(JobsIndexTest, SummaryCountsStatesAndCarriesTheAgentsState) {
  const nlohmann::json summary = PageOf(Sample(), {})["summary"];
  EXPECT_EQ(summary["counts"]["sync"],
            (nlohmann::json{{"Synced", 3}, {"OutOfSync", 1}, {"Error", 1}}));
  EXPECT_EQ(summary["counts"]["health"]["Healthy"], 2);
  EXPECT_EQ(summary["counts"]["errors"], 1);
  EXPECT_EQ(summary["namespaces"], (nlohmann::json{"nlp", "vision"}));
  EXPECT_EQ(summary["teams"], (nlohmann::json{"cv", "text"}));
  EXPECT_EQ(summary["writer"], false);
  EXPECT_EQ(summary["leaderElection"]["holder"], "replica-a");
  EXPECT_EQ(summary["lastSync"]["time"], 1700000000);
  EXPECT_EQ(summary["plan"]["text"], "Plan: 1 to create\n");
  EXPECT_EQ(summary["plan"]["summary"]["create"], 1);
  EXPECT_FALSE(summary.contains("jobs"));
}

TEST(JobsIndexTest, LongPlanTextIsCutAtALineWithTheCountLeftOut) {
  nlohmann::json status = Sample();
  std::string text;
  for (int i = 0; i < 2000; ++i) text += "+ kubernetes/ns/job-" + std::to_string(i) + ": create\n";
  status["plan"]["text"] = text;
  const std::string cut = PageOf(status, {})["summary"]["plan"]["text"];
  EXPECT_LT(cut.size(), 17 * 1024u);
  EXPECT_NE(cut.find("+ kubernetes/ns/job-0: create\n"), std::string::npos);
  EXPECT_NE(cut.find("more lines: the whole plan is in GET /api/v1/status"), std::string::npos);
  EXPECT_EQ(cut.find("job-1999"), std::string::npos);
}

TEST(JobsIndexTest, RowIsFoundByKey) {
  const auto index = JobsIndex::Build(Sample(), 1);
  const std::string* row = index->Row("kubernetes/vision/ResNet101");
  ASSERT_NE(row, nullptr);
  EXPECT_EQ(nlohmann::json::parse(*row)["lastError"], "image pull denied");
  EXPECT_EQ(index->Row("kubernetes/vision/missing"), nullptr);
}

TEST(JobsIndexTest, QueryParametersAreReadAndBadPagesRefused) {
  StatusOr<JobsQuery> query = ParseJobsQuery({{"q", "res"},
                                              {"namespace", "vision"},
                                              {"team", "cv"},
                                              {"sync", "Error"},
                                              {"health", "Missing"},
                                              {"page", "2"},
                                              {"limit", "20"},
                                              {"other", "ignored"}});
  ASSERT_TRUE(query.ok()) << query.status().message();
  EXPECT_EQ(query->q, "res");
  EXPECT_EQ(query->namespace_name, "vision");
  EXPECT_EQ(query->team, "cv");
  EXPECT_EQ(query->sync, "Error");
  EXPECT_EQ(query->health, "Missing");
  EXPECT_EQ(query->page, 2);
  EXPECT_EQ(query->limit, 20);
  for (const auto& [name, value] : std::vector<std::pair<std::string, std::string>>{
           {"page", "0"}, {"page", "x"}, {"limit", "501"}, {"limit", "-1"}, {"limit", "5a"}}) {
    StatusOr<JobsQuery> bad = ParseJobsQuery({{name, value}});
    ASSERT_FALSE(bad.ok()) << name << "=" << value;
    EXPECT_NE(bad.status().message().find(name + "=\"" + value + "\""), std::string::npos);
  }
  EXPECT_NE(JobsQueryKey(With([](JobsQuery& x) { x.q = "a"; })),
            JobsQueryKey(With([](JobsQuery& x) { x.namespace_name = "a"; })));
  EXPECT_EQ(JobsQueryKey(With([](JobsQuery& x) {
              x.q = "a";
              x.page = 2;
            })),
            JobsQueryKey(With([](JobsQuery& x) {
              x.q = "a";
              x.page = 2;
            })));
}

// 10,000 jobs: the index is built once per status; a query must stay in the low milliseconds.
TEST(JobsIndexTest, QueriesOverTenThousandJobsTakeLowMilliseconds) {
  std::vector<nlohmann::json> jobs;
  for (int i = 0; i < 10000; ++i) {
    nlohmann::json job = Job("team-" + std::to_string(i % 40), "train-" + std::to_string(i),
                             "t" + std::to_string(i % 7), i % 13 == 0 ? "Error" : "Synced",
                             "Healthy", i % 13 == 0 ? "apply failed" : "");
    job["desiredReplicas"] = {{"worker", 4}};
    job["liveReplicas"] = {{"worker", 4}};
    job["appliedRevision"] = std::string(40, 'a');
    job["source"] = "jobs/team/train-" + std::to_string(i) + ".yaml";
    jobs.push_back(std::move(job));
  }
  const nlohmann::json status = StatusWith(std::move(jobs));
  const auto build_start = std::chrono::steady_clock::now();
  const auto index = JobsIndex::Build(status, 1);
  std::printf("measured index build of 10,000 jobs: %lld ms\n",
              static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                         std::chrono::steady_clock::now() - build_start)
                                         .count()));
  const std::vector<JobsQuery> queries = {{},
                                          With([](JobsQuery& x) { x.q = "99"; }),
                                          With([](JobsQuery& x) {
                                            x.namespace_name = "team-3";
                                            x.sync = "Error";
                                          }),
                                          With([](JobsQuery& x) { x.page = 200; })};
  for (const JobsQuery& query : queries) {
    const auto start = std::chrono::steady_clock::now();
    const std::string page = index->Page(query);
    const auto took = std::chrono::steady_clock::now() - start;
    const auto us = std::chrono::duration_cast<std::chrono::microseconds>(took).count();
    std::printf("measured query %s: %lld us\n", JobsQueryKey(query).c_str(),
                static_cast<long long>(us));
    EXPECT_LT(us, 20000) << JobsQueryKey(query);
    EXPECT_LT(page.size(), 100u * 1024) << JobsQueryKey(query);
  }
  EXPECT_EQ(nlohmann::json::parse(index->Page(With([](JobsQuery& x) { x.q = "99"; })))["matched"],
            280);  // 99, x99, 99x, ...
  EXPECT_EQ(
      nlohmann::json::parse(index->Page(With([](JobsQuery& x) { x.sync = "Error"; })))["matched"],
      770);  // i % 13 == 0
}

}  // namespace
}  // namespace jobsync
