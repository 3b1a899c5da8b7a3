// The agent's side of sharding (agent/cli/shards.h) that needs no cluster: where each shard keeps
// its state, how the replicas' statuses merge, and the shards' metrics in one exposition.
// The Leases' takeover is tested against the real apiserver (LeaderElectionKubeTest, cli.shards).
#include "agent/cli/shards.h"

#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "common/metrics.h"

namespace jobsync {
namespace {

using json = nlohmann::json;
using ::testing::HasSubstr;
using ::testing::Not;

TEST(ShardStateTest, EachShardKeepsItsStateBesideTheUnshardedOne) {
  EXPECT_EQ(ShardStateLocation("configmap:jobs/jobsync-ml-state", 2),
            "configmap:jobs/jobsync-ml-state-shard-2");
  EXPECT_EQ(ShardStateLocation("/var/lib/jobsync/state.json", 0),
            "/var/lib/jobsync/state-shard-0.json");
  EXPECT_EQ(ShardStateLocation("state", 1), "state-shard-1");
  EXPECT_EQ(ShardStateLocation("/a.b/state", 1), "/a.b/state-shard-1");
  EXPECT_EQ(ShardStateLocation("/var/.state", 1), "/var/.state-shard-1");
}

json Replica(const std::string& holder, std::vector<std::pair<int, bool>> shards,
             std::vector<std::pair<std::string, int>> jobs) {
  json status = {{"instance", "ml"}, {"shards", json::array()}, {"jobs", json::array()}};
  for (auto [index, leading] : shards) {
    status["shards"].push_back(
        {{"index", index}, {"leading", leading}, {"holder", leading ? holder : "other"}});
  }
  for (auto& [key, shard] : jobs) status["jobs"].push_back({{"key", key}, {"shard", shard}});
  return status;
}

TEST(ShardStatusTest, MergesEveryShardOnceFromTheReplicaLeadingIt) {
  // Replica a leads 0 and, standing in, 1; b leads 2 and still reports shard 1's old jobs.
  json a = Replica("a", {{0, true}, {1, true}, {2, false}}, {{"k/x/a", 0}, {"k/x/b", 1}});
  json b = Replica("b", {{0, false}, {1, false}, {2, true}}, {{"k/x/c", 2}, {"k/x/b", 1}});
  json merged = MergeShardStatus({a, b});
  ASSERT_EQ(merged["jobs"].size(), 3u);
  EXPECT_EQ(merged["jobs"][0]["key"], "k/x/a");
  EXPECT_EQ(merged["jobs"][1]["key"], "k/x/b");
  EXPECT_EQ(merged["jobs"][2]["key"], "k/x/c");
  ASSERT_EQ(merged["shards"].size(), 3u);
  EXPECT_EQ(merged["shards"][1]["holder"], "a");
  EXPECT_EQ(merged["shards"][2]["holder"], "b");
  EXPECT_EQ(merged["instance"], "ml");
}

TEST(ShardStatusTest, AShardNobodyLeadsShowsNoJobs) {
  json a = Replica("a", {{0, true}, {1, false}}, {{"k/x/a", 0}, {"k/x/b", 1}});
  json merged = MergeShardStatus({a});
  ASSERT_EQ(merged["jobs"].size(), 1u);
  EXPECT_EQ(merged["shards"][1]["leading"], false);
}

TEST(MetricsRenderAllTest, EachRegistrySeriesCarriesItsLabelsAndFamiliesAppearOnce) {
  Metrics process, shard0, shard1;
  for (Metrics* m : {&shard0, &shard1}) {
    m->Declare("jobsync_sync_runs_total", MetricType::kCounter, "Cycles run");
  }
  process.Declare("jobsync_webhooks_total", MetricType::kCounter, "Webhooks");
  process.Add("jobsync_webhooks_total", {{"kind", "github"}});
  shard0.Add("jobsync_sync_runs_total", {{"result", "ok"}}, 3);
  shard1.Add("jobsync_sync_runs_total", {{"result", "ok"}}, 5);
  const std::string text = Metrics::RenderAll(
      {{&process, {}}, {&shard0, {{"shard", "0"}}}, {&shard1, {{"shard", "1"}}}});
  EXPECT_THAT(text, HasSubstr("jobsync_sync_runs_total{result=\"ok\",shard=\"0\"} 3\n"));
  EXPECT_THAT(text, HasSubstr("jobsync_sync_runs_total{result=\"ok\",shard=\"1\"} 5\n"));
  EXPECT_THAT(text, HasSubstr("jobsync_webhooks_total{kind=\"github\"} 1\n"));
  EXPECT_EQ(text.find("# TYPE jobsync_sync_runs_total"),
            text.rfind("# TYPE jobsync_sync_runs_total"));
  EXPECT_THAT(process.Render(), Not(HasSubstr("shard")));
}

}  // namespace
}  // namespace jobsync
