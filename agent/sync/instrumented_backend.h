// A Backend that forwards every call to another one and records its duration and failures in the
// agent's metrics: jobsync_backend_request_duration_seconds{backend,operation} and
// jobsync_backend_errors_total{backend,operation}, operation being list, apply, health or event.
#ifndef JOBSYNC_AGENT_SYNC_INSTRUMENTED_BACKEND_H_
#define JOBSYNC_AGENT_SYNC_INSTRUMENTED_BACKEND_H_

#include <string>
#include <vector>

#include "backends/backend.h"
#include "common/metrics.h"

namespace jobsync {

// Declares the two families on `metrics`.
void DeclareBackendMetrics(Metrics& metrics);

class InstrumentedBackend : public Backend {
 public:
  // `inner` and `metrics` must outlive this object. Thread-safety is the inner backend's.
  // `default_cluster` is the cluster label of a backend of the default cluster.
  InstrumentedBackend(Backend& inner, Metrics& metrics, std::string default_cluster = "default");

  BackendKind kind() const override { return inner_.kind(); }
  std::string cluster() const override { return inner_.cluster(); }
  bool concurrent() const override { return inner_.concurrent(); }
  StatusOr<std::vector<LiveJob>> ListJobs() override;
  Status Apply(const PlanStep& step, const ApplyContext& context) override;
  StatusOr<Health> GetHealth(const JobKey& key) override;
  std::optional<uint64_t> LiveVersion() override { return inner_.LiveVersion(); }
  Status Ping() override;
  Status RecordEvent(const PlanStep& step, const ApplyContext& context, const std::string& reason,
                     const std::string& message, bool warning) override;

 private:
  template <typename Call>
  auto Timed(const char* operation, Call call);

  Backend& inner_;
  Metrics& metrics_;
  const std::string default_cluster_;
};

}  // namespace jobsync

#endif  // JOBSYNC_AGENT_SYNC_INSTRUMENTED_BACKEND_H_
