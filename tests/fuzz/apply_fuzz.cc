// Fuzz target: the backends' write paths, which read the server's answers to decide what to do
// next (adopt an existing Job, scale it by read-modify-write, wait for a deletion, stop and poll
// Ray submissions). Every request is answered with the same fuzzed body; the input says which
// HTTP statuses come with it.
//
// Input layout: line 1 picks the status of each answer in turn, one character per request,
// cycling ('0' 200, '1' 201, '2' 404, '3' 409, '4' 500, '5' 403, by the byte's value modulo 6;
// 200 when the line is empty); the rest of the input is every answer's body.
//
// Exercised: KubernetesBackend::Apply (create, scale, update, delete), GetHealth and RecordEvent;
// RayBackend::Apply (create, scale, suspend, update, delete) and GetHealth. What must hold,
// whatever the answers: nothing crashes, throws, trips a sanitizer, hangs or outgrows
// libFuzzer's -rss_limit_mb; every failure is a Status.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <spdlog/spdlog.h>

#include "backends/http_client.h"
#include "backends/kubernetes/client.h"
#include "backends/kubernetes/kubernetes_backend.h"
#include "backends/ray/ray_backend.h"
#include "domain/plan_step.h"
#include "schemas/model.h"
#include "schemas/quantity.h"

namespace jobsync {
namespace {

using std::chrono::milliseconds;

// Answers request i with the status line[i % size] picks and `body`. Not thread-safe.
class ScriptedServer : public HttpClient {
 public:
  ScriptedServer(std::string statuses, std::string body)
      : statuses_(std::move(statuses)), body_(std::move(body)) {}

  // HttpClient:
  StatusOr<HttpResponse> Send(const HttpRequest& /*request*/) override { return Answer(); }
  StatusOr<HttpResponse> Stream(const HttpRequest& /*request*/,
                                const std::function<bool(std::string_view)>& /*on_line*/,
                                const HttpCancellation& /*cancel*/) override {
    return Answer();
  }

 private:
  HttpResponse Answer() {
    static constexpr int kStatuses[] = {200, 201, 404, 409, 500, 403};
    int status = 200;
    if (!statuses_.empty()) {
      const auto pick = static_cast<unsigned char>(statuses_[requests_ % statuses_.size()]);
      status = kStatuses[pick % std::size(kStatuses)];
    }
    ++requests_;
    return HttpResponse{status, {}, body_};
  }

  const std::string statuses_;
  const std::string body_;
  size_t requests_ = 0;
};

TrainingJob KubernetesJob() {
  TrainingJob job;
  job.name = "fuzz";
  job.namespace_name = "ns";
  job.annotations = {{kPruneAnnotation, "false"}};
  job.image = "trainer:v1";
  job.command = {"python", "train.py"};
  job.roles["worker"].replicas = 2;
  job.roles["worker"].resources.cpu = *Quantity::Parse("500m");
  job.roles["ps"].replicas = 1;
  job.source.path = "jobs/fuzz.yaml";
  return job;
}

TrainingJob RayJob() {
  TrainingJob job = KubernetesJob();
  job.backend = BackendKind::kRay;
  job.image.clear();
  job.command.clear();
  RaySpec ray;
  ray.entrypoint = "python train.py";
  ray.entrypoint_resources.cpu = 0.5;
  job.ray = ray;
  return job;
}

// The steps of every action for `job`: create, scale (more workers), suspend, update (another
// entrypoint or image), delete.
std::vector<PlanStep> Steps(const TrainingJob& job) {
  LiveJob running;
  running.key = job.key();
  running.applied = std::make_shared<const TrainingJob>(job);
  running.instance = "prod";
  const auto live = std::make_shared<const LiveJob>(std::move(running));
  std::vector<PlanStep> steps;
  TrainingJob scaled = job;
  scaled.roles["worker"].replicas = 3;
  TrainingJob suspended = job;
  suspended.suspend = true;
  TrainingJob changed = job;
  if (changed.ray) {
    changed.ray->entrypoint = "python train.py --resume";
  } else {
    changed.image = "trainer:v2";
  }
  auto shared = [](const TrainingJob& desired) {
    return std::make_shared<const TrainingJob>(desired);
  };
  steps.push_back({Action::kCreate, job.key(), "", false, {}, shared(job), nullptr});
  steps.push_back({Action::kScale, job.key(), "", false, {}, shared(scaled), live});
  steps.push_back({Action::kScale, job.key(), "", false, {}, shared(suspended), live});
  steps.push_back({Action::kUpdate, job.key(), "", false, {}, shared(changed), live});
  steps.push_back({Action::kDelete, job.key(), "", false, {}, nullptr, live});
  return steps;
}

void FuzzKubernetes(const std::string& statuses, const std::string& body) {
  KubernetesBackendOptions options;
  options.client.retry.max_attempts = 1;
  options.delete_wait = std::chrono::seconds(0);
  KubernetesBackend backend(std::make_unique<KubernetesClient>(
                                std::make_unique<ScriptedServer>(statuses, body), options.client),
                            options);
  const ApplyContext context{"prod", "0123abcd"};
  const TrainingJob job = KubernetesJob();
  for (const PlanStep& step : Steps(job)) {
    (void)backend.Apply(step, context);
    (void)backend.RecordEvent(step, context, "Fuzzed", "a fuzzed step", false);
  }
  (void)backend.GetHealth(job.key());
}

void FuzzRay(const std::string& statuses, const std::string& body) {
  RayBackendOptions options;
  options.address = "http://ray.invalid:8265";
  options.instance = "prod";
  options.stop_timeout = milliseconds(2);
  options.poll_interval = milliseconds(1);
  options.agent_retries = 1;
  RayBackend backend(std::make_unique<ScriptedServer>(statuses, body), options,
                     [](milliseconds /*delay*/) {});
  const ApplyContext context{"prod", "0123abcd"};
  const TrainingJob job = RayJob();
  for (const PlanStep& step : Steps(job)) (void)backend.Apply(step, context);
  (void)backend.GetHealth(job.key());
}

}  // namespace
}  // namespace jobsync

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const bool quiet = [] {
    spdlog::set_level(spdlog::level::off);
    return true;
  }();
  (void)quiet;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const size_t end_of_statuses = input.find('\n');
  const std::string statuses(input.substr(0, end_of_statuses));
  const std::string body(end_of_statuses == std::string_view::npos
                             ? std::string_view()
                             : input.substr(end_of_statuses + 1));
  jobsync::FuzzKubernetes(statuses, body);
  jobsync::FuzzRay(statuses, body);
  return 0;
}
