#include "agent/sync/instrumented_backend.h"

#include <chrono>
#include <utility>

namespace jobsync {
namespace {

constexpr const char* kDuration = "jobsync_backend_request_duration_seconds";
constexpr const char* kErrors = "jobsync_backend_errors_total";

bool Failed(const Status& status) { return !status.ok(); }
template <typename T>
bool Failed(const StatusOr<T>& result) {
  return !result.ok();
}

}  // namespace

void DeclareBackendMetrics(Metrics& metrics) {
  metrics.Declare(kDuration, MetricType::kHistogram,
                  "Duration of calls to a backend (list, apply, health, event)", DurationBuckets());
  metrics.Declare(kErrors, MetricType::kCounter, "Failed calls to a backend");
}

InstrumentedBackend::InstrumentedBackend(Backend& inner, Metrics& metrics,
                                         std::string default_cluster)
    : inner_(inner), metrics_(metrics), default_cluster_(std::move(default_cluster)) {}

template <typename Call>
auto InstrumentedBackend::Timed(const char* operation, Call call) {
  const std::string cluster = inner_.cluster();
  const MetricLabels labels = {{"backend", BackendName(inner_.kind())},
                               {"cluster", cluster.empty() ? default_cluster_ : cluster},
                               {"operation", operation}};
  auto start = std::chrono::steady_clock::now();
  auto result = call();
  std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
  metrics_.Observe(kDuration, labels, took.count());
  if (Failed(result)) metrics_.Add(kErrors, labels);
  return result;
}

StatusOr<std::vector<LiveJob>> InstrumentedBackend::ListJobs() {
  return Timed("list", [&] { return inner_.ListJobs(); });
}

Status InstrumentedBackend::Apply(const PlanStep& step, const ApplyContext& context) {
  return Timed("apply", [&] { return inner_.Apply(step, context); });
}

Status InstrumentedBackend::Ping() {
  return Timed("ping", [&] { return inner_.Ping(); });
}

StatusOr<Health> InstrumentedBackend::GetHealth(const JobKey& key) {
  return Timed("health", [&] { return inner_.GetHealth(key); });
}

Status InstrumentedBackend::RecordEvent(const PlanStep& step, const ApplyContext& context,
                                        const std::string& reason, const std::string& message,
                                        bool warning) {
  return Timed("event",
               [&] { return inner_.RecordEvent(step, context, reason, message, warning); });
}

}  // namespace jobsync
