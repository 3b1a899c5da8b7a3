// A small Prometheus metrics registry: counters, gauges and histograms with labels, rendered in
// the Prometheus text exposition format (version 0.0.4) for the agent's /metrics endpoint.
//
// Families are declared once (name, help, type; histograms also their bucket bounds) and then
// updated by label values. Names carry the `jobsync_` prefix by convention of the caller; this
// registry checks names and label names against Prometheus' rules when declared.
//
// Thread-safe: every method may be called from any thread.
#ifndef JOBSYNC_COMMON_METRICS_H_
#define JOBSYNC_COMMON_METRICS_H_

#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace jobsync {

// Label name -> value, e.g. {{"result", "ok"}}. Order does not matter; rendering sorts by name.
using MetricLabels = std::vector<std::pair<std::string, std::string>>;

enum class MetricType { kCounter, kGauge, kHistogram };

class Metrics {
 public:
  // Declares a family. Declaring the same name twice with the same type is a no-op; a bad name
  // or a different type is a programming error (aborts with a message). Histograms without
  // buckets get DurationBuckets().
  void Declare(const std::string& name, MetricType type, const std::string& help,
               std::vector<double> buckets = {});

  // Counter: adds `value` (>= 0) to the series with `labels`.
  void Add(const std::string& name, const MetricLabels& labels, double value = 1);
  // Counter: sets the series to a total counted elsewhere that only goes up (the CPU time the
  // kernel counts for the process), read afresh at each scrape.
  void SetTotal(const std::string& name, const MetricLabels& labels, double value);
  // Gauge: sets the series with `labels`.
  void Set(const std::string& name, const MetricLabels& labels, double value);
  // Gauge: removes every series of the family (before setting a fresh snapshot of values).
  void Clear(const std::string& name);
  // Histogram: records one observation.
  void Observe(const std::string& name, const MetricLabels& labels, double value);

  // Current value of a counter or gauge series; 0 when the series is absent (the family must be
  // declared). For tests and status.
  double Value(const std::string& name, const MetricLabels& labels) const;

  // The text exposition: for each family in name order, # HELP, # TYPE and its series (label
  // values escaped: backslash, double quote, newline); histograms as _bucket{le=...} (cumulative,
  // ending with le="+Inf"), _sum and _count.
  std::string Render() const;
  // The exposition of several registries as one: a family of the same name in several is listed
  // once (HELP and TYPE from the first), with the series of each registry carrying that
  // registry's `extra` labels too (e.g. {"shard", "1"}).
  static std::string RenderAll(
      const std::vector<std::pair<const Metrics*, MetricLabels>>& registries);

 private:
  struct Series {
    double value = 0;                 // counter or gauge
    std::vector<double> bucket_hits;  // histogram: per bucket, not cumulative
    double sum = 0;
    double count = 0;
  };
  struct Family {
    MetricType type = MetricType::kCounter;
    std::string help;
    std::vector<double> buckets;
    std::map<MetricLabels, Series> series;  // labels sorted by name
  };
  Family& FamilyOf(const std::string& name, MetricType type);

  mutable std::mutex mutex_;
  std::map<std::string, Family> families_;
};

// Default histogram buckets for durations in seconds: 5 ms .. 60 s.
std::vector<double> DurationBuckets();

}  // namespace jobsync

#endif  // JOBSYNC_COMMON_METRICS_H_
