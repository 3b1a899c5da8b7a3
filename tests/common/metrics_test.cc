#include "common/metrics.h"

#include <cmath>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace jobsync {
namespace {

TEST(MetricsTest, RendersCounterWithLabelsSortedByName) {
  Metrics metrics;
  metrics.Declare("jobsync_syncs_total", MetricType::kCounter, "Syncs run, by result.");
  metrics.Add("jobsync_syncs_total", {{"result", "ok"}, {"job", "train"}});
  metrics.Add("jobsync_syncs_total", {{"job", "train"}, {"result", "ok"}}, 2);
  metrics.Add("jobsync_syncs_total", {{"result", "failed"}, {"job", "eval"}});

  EXPECT_EQ(metrics.Render(),
            "# HELP jobsync_syncs_total Syncs run, by result.\n"
            "# TYPE jobsync_syncs_total counter\n"
            "jobsync_syncs_total{job=\"eval\",result=\"failed\"} 1\n"
            "jobsync_syncs_total{job=\"train\",result=\"ok\"} 3\n");
  EXPECT_EQ(metrics.Value("jobsync_syncs_total", {{"result", "ok"}, {"job", "train"}}), 3);
}

TEST(MetricsTest, RendersFamiliesInNameOrderAndSeriesWithoutLabels) {
  Metrics metrics;
  metrics.Declare("jobsync_b", MetricType::kGauge, "B.");
  metrics.Declare("jobsync_a", MetricType::kCounter, "A.");
  metrics.Set("jobsync_b", {}, 7);

  EXPECT_EQ(metrics.Render(),
            "# HELP jobsync_a A.\n"
            "# TYPE jobsync_a counter\n"
            "# HELP jobsync_b B.\n"
            "# TYPE jobsync_b gauge\n"
            "jobsync_b 7\n");
}

TEST(MetricsTest, EscapesLabelValuesAndHelp) {
  Metrics metrics;
  metrics.Declare("jobsync_info", MetricType::kGauge, "Path C:\\jobs\nsecond line \"quoted\"");
  metrics.Set("jobsync_info", {{"message", "a\\b \"c\"\nd"}}, 1);

  EXPECT_EQ(metrics.Render(),
            "# HELP jobsync_info Path C:\\\\jobs\\nsecond line \"quoted\"\n"
            "# TYPE jobsync_info gauge\n"
            "jobsync_info{message=\"a\\\\b \\\"c\\\"\\nd\"} 1\n");
}

TEST(MetricsTest, RendersNumbersLikePrometheusClients) {
  struct Case {
    double value;
    std::string text;
  };
  const std::vector<Case> cases = {
      {0, "0"},
      {3, "3"},
      {-2, "-2"},
      {1234567890, "1234567890"},
      {0.5, "0.5"},
      {0.1, "0.1"},
      {-0.25, "-0.25"},
      {1e20, "1e+20"},
      {std::numeric_limits<double>::infinity(), "+Inf"},
      {-std::numeric_limits<double>::infinity(), "-Inf"},
      {std::numeric_limits<double>::quiet_NaN(), "NaN"},
  };
  for (const Case& c : cases) {
    Metrics metrics;
    metrics.Declare("jobsync_value", MetricType::kGauge, "V.");
    metrics.Set("jobsync_value", {}, c.value);
    EXPECT_EQ(metrics.Render(), "# HELP jobsync_value V.\n# TYPE jobsync_value gauge\n" +
                                    std::string("jobsync_value ") + c.text + "\n")
        << c.text;
  }
}

TEST(MetricsTest, RendersHistogramBucketsCumulativeWithInfSumAndCount) {
  Metrics metrics;
  metrics.Declare("jobsync_sync_seconds", MetricType::kHistogram, "Sync duration.", {0.25, 1});
  // 1 lands in le="1": bounds are inclusive.
  for (double seconds : {0.0625, 0.5, 1.0, 3.0}) {
    metrics.Observe("jobsync_sync_seconds", {{"job", "train"}}, seconds);
  }

  EXPECT_EQ(metrics.Render(),
            "# HELP jobsync_sync_seconds Sync duration.\n"
            "# TYPE jobsync_sync_seconds histogram\n"
            "jobsync_sync_seconds_bucket{job=\"train\",le=\"0.25\"} 1\n"
            "jobsync_sync_seconds_bucket{job=\"train\",le=\"1\"} 3\n"
            "jobsync_sync_seconds_bucket{job=\"train\",le=\"+Inf\"} 4\n"
            "jobsync_sync_seconds_sum{job=\"train\"} 4.5625\n"
            "jobsync_sync_seconds_count{job=\"train\"} 4\n");
}

TEST(MetricsTest, HistogramWithoutBucketsUsesDurationBuckets) {
  Metrics metrics;
  metrics.Declare("jobsync_d", MetricType::kHistogram, "D.");
  metrics.Observe("jobsync_d", {}, 0.003);

  EXPECT_EQ(metrics.Render(),
            "# HELP jobsync_d D.\n"
            "# TYPE jobsync_d histogram\n"
            "jobsync_d_bucket{le=\"0.005\"} 1\n"
            "jobsync_d_bucket{le=\"0.01\"} 1\n"
            "jobsync_d_bucket{le=\"0.025\"} 1\n"
            "jobsync_d_bucket{le=\"0.05\"} 1\n"
            "jobsync_d_bucket{le=\"0.1\"} 1\n"
            "jobsync_d_bucket{le=\"0.25\"} 1\n"
            "jobsync_d_bucket{le=\"0.5\"} 1\n"
            "jobsync_d_bucket{le=\"1\"} 1\n"
            "jobsync_d_bucket{le=\"2.5\"} 1\n"
            "jobsync_d_bucket{le=\"5\"} 1\n"
            "jobsync_d_bucket{le=\"10\"} 1\n"
            "jobsync_d_bucket{le=\"30\"} 1\n"
            "jobsync_d_bucket{le=\"60\"} 1\n"
            "jobsync_d_bucket{le=\"+Inf\"} 1\n"
            "jobsync_d_sum 0.003\n"
            "jobsync_d_count 1\n");
}

TEST(MetricsTest, DurationBucketsSpanFiveMillisecondsToOneMinute) {
  EXPECT_EQ(DurationBuckets(),
            (std::vector<double>{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}));
}

TEST(MetricsTest, ClearRemovesEveryGaugeSeries) {
  Metrics metrics;
  metrics.Declare("jobsync_jobs", MetricType::kGauge, "Jobs by state.");
  metrics.Set("jobsync_jobs", {{"state", "synced"}}, 3);
  metrics.Set("jobsync_jobs", {{"state", "failed"}}, 1);
  metrics.Clear("jobsync_jobs");
  metrics.Set("jobsync_jobs", {{"state", "synced"}}, 4);

  EXPECT_EQ(metrics.Render(),
            "# HELP jobsync_jobs Jobs by state.\n"
            "# TYPE jobsync_jobs gauge\n"
            "jobsync_jobs{state=\"synced\"} 4\n");
  EXPECT_EQ(metrics.Value("jobsync_jobs", {{"state", "failed"}}), 0);
}

TEST(MetricsTest, RedeclaringWithTheSameTypeKeepsFamilyAndSeries) {
  Metrics metrics;
  metrics.Declare("jobsync_polls_total", MetricType::kCounter, "Polls.");
  metrics.Add("jobsync_polls_total", {}, 2);
  metrics.Declare("jobsync_polls_total", MetricType::kCounter, "Other help.");

  EXPECT_EQ(metrics.Value("jobsync_polls_total", {}), 2);
  EXPECT_EQ(metrics.Render(),
            "# HELP jobsync_polls_total Polls.\n"
            "# TYPE jobsync_polls_total counter\n"
            "jobsync_polls_total 2\n");
}

TEST(MetricsTest, ValueOfAnAbsentSeriesIsZero) {
  Metrics metrics;
  metrics.Declare("jobsync_errors_total", MetricType::kCounter, "Errors.");
  EXPECT_EQ(metrics.Value("jobsync_errors_total", {{"kind", "git"}}), 0);
}

TEST(MetricsTest, ConcurrentUpdatesAreAllCounted) {
  Metrics metrics;
  metrics.Declare("jobsync_requests_total", MetricType::kCounter, "Requests.");
  metrics.Declare("jobsync_latency_seconds", MetricType::kHistogram, "Latency.", {1});
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&metrics] {
      for (int i = 0; i < 1000; ++i) {
        metrics.Add("jobsync_requests_total", {{"path", "/metrics"}});
        metrics.Observe("jobsync_latency_seconds", {}, 0.5);
        metrics.Render();
      }
    });
  }
  for (std::thread& thread : threads) thread.join();

  EXPECT_EQ(metrics.Value("jobsync_requests_total", {{"path", "/metrics"}}), 4000);
  EXPECT_NE(metrics.Render().find("jobsync_latency_seconds_count 4000\n"), std::string::npos);
}

TEST(MetricsDeathTest, AbortsOnMisuse) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  Metrics metrics;
  metrics.Declare("jobsync_total", MetricType::kCounter, "T.");
  metrics.Declare("jobsync_gauge", MetricType::kGauge, "G.");
  metrics.Declare("jobsync_hist", MetricType::kHistogram, "H.");

  EXPECT_DEATH(metrics.Declare("jobsync-total", MetricType::kCounter, "T."),
               "invalid metric name \"jobsync-total\"");
  EXPECT_DEATH(metrics.Declare("1jobsync", MetricType::kCounter, "T."), "invalid metric name");
  EXPECT_DEATH(metrics.Declare("", MetricType::kCounter, "T."), "invalid metric name");
  EXPECT_DEATH(metrics.Declare("jobsync_total", MetricType::kGauge, "T."),
               "declared as gauge but already declared as counter");
  EXPECT_DEATH(metrics.Declare("jobsync_b", MetricType::kHistogram, "B.", {1, 0.5}),
               "increasing order");
  EXPECT_DEATH(metrics.Declare("jobsync_c", MetricType::kCounter, "C.", {1}),
               "only histograms have buckets");
  EXPECT_DEATH(metrics.Add("jobsync_total", {{"bad-label", "x"}}), "invalid label name");
  EXPECT_DEATH(metrics.Add("jobsync_total", {{"job:name", "x"}}), "invalid label name");
  EXPECT_DEATH(metrics.Add("jobsync_total", {{"__reserved", "x"}}), "invalid label name");
  EXPECT_DEATH(metrics.Add("jobsync_total", {{"job", "a"}, {"job", "b"}}), "given twice");
  EXPECT_DEATH(metrics.Observe("jobsync_hist", {{"le", "1"}}, 1), "reserved");
  EXPECT_DEATH(metrics.Add("jobsync_total", {}, -1), "can only go up");
  EXPECT_DEATH(metrics.Add("jobsync_gauge", {}), "is a gauge, used as a counter");
  EXPECT_DEATH(metrics.Set("jobsync_total", {}, 1), "is a counter, used as a gauge");
  EXPECT_DEATH(metrics.Observe("jobsync_total", {}, 1), "is a counter, used as a histogram");
  EXPECT_DEATH(metrics.Add("jobsync_missing", {}), "used before it was declared");
  EXPECT_DEATH(metrics.Value("jobsync_hist", {}), "has no single value");
}

}  // namespace
}  // namespace jobsync
