#include "agent/sync/executor.h"

#include <algorithm>
#include <atomic>
#include <set>
#include <thread>
#include <utility>

namespace jobsync {
namespace {

bool IsHealthyEnough(Health health) {
  return health == Health::kHealthy || health == Health::kSucceeded;
}

std::string KindHint(const Target& target) {
  if (!target.cluster.empty()) {
    return "give cluster " + target.cluster + " its " +
           (target.backend == BackendKind::kRay ? "ray.address" : "kubeconfig") +
           " in the clusters file";
  }
  return target.backend == BackendKind::kRay ? "set RAY_ADDRESS or --ray-address"
                                             : "set KUBECONFIG or --kubeconfig";
}

}  // namespace

bool ApplyReport::ok() const { return FailedJobs().empty(); }

std::vector<JobKey> ApplyReport::FailedJobs() const {
  std::vector<JobKey> failed;
  for (const StepOutcome& outcome : outcomes) {
    if (!outcome.status.ok() || outcome.skipped || outcome.step.error) {
      failed.push_back(outcome.step.key);
    }
  }
  return failed;
}

Executor::Executor(std::map<Target, Backend*> backends, ExecutorOptions options)
    : backends_(std::move(backends)), options_(std::move(options)) {
  if (!options_.sleep) {
    options_.sleep = [](std::chrono::milliseconds d) { std::this_thread::sleep_for(d); };
  }
}

Status Executor::WaitForDependencies(const TrainingJob& job, const Plan& plan,
                                     const std::vector<StepOutcome>& outcomes) {
  for (const std::string& name : job.depends_on) {
    // The dependency's step, if it ran before this one: a failure there settles it.
    for (const StepOutcome& outcome : outcomes) {
      const JobKey& key = outcome.step.key;
      if (key.namespace_name != job.namespace_name || key.name != name) continue;
      if (!outcome.status.ok() || outcome.skipped || outcome.step.error) {
        return FailedPreconditionError("dependency " + key.ToString() +
                                       " failed: " + outcome.status.message());
      }
    }
    const PlanStep* step = FindStep(plan, job.namespace_name, name);
    if (step == nullptr) continue;
    const JobKey& key = step->key;
    auto backend = backends_.find(key.target());
    if (backend == backends_.end()) {
      return FailedPreconditionError("dependency " + key.ToString() + ": no backend configured (" +
                                     KindHint(key.target()) + ")");
    }
    std::chrono::milliseconds waited{0};
    while (true) {
      StatusOr<Health> health = backend->second->GetHealth(key);
      // A failed read has been retried by the backend's client already: waiting on would
      // only hold the step for the whole timeout while the cluster is down.
      if (!health.ok()) {
        return Status(health.status().code(),
                      "dependency " + key.ToString() +
                          ": cannot read its health: " + health.status().message());
      }
      if (IsHealthyEnough(*health)) break;
      if (waited >= options_.dependency_timeout) {
        return DeadlineExceededError("dependency " + key.ToString() +
                                     " is not Healthy or Succeeded after " +
                                     std::to_string(options_.dependency_timeout.count() / 1000) +
                                     "s (health: " + HealthName(*health) + ")");
      }
      if (options_.interrupted) JOBSYNC_RETURN_IF_ERROR(options_.interrupted());
      options_.sleep(options_.poll_interval);
      waited += options_.poll_interval;
    }
  }
  return OkStatus();
}

const PlanStep* Executor::FindStep(const Plan& plan, const std::string& namespace_name,
                                   const std::string& name) const {
  for (const Plan* steps : {&plan, elsewhere_}) {
    if (steps == nullptr) continue;
    for (const PlanStep& step : steps->steps) {
      if (step.key.namespace_name == namespace_name && step.key.name == name) return &step;
    }
  }
  return nullptr;
}

Status Executor::CheckInterrupted() {
  std::lock_guard<std::mutex> lock(callback_mutex_);
  if (interruption_.ok() && options_.interrupted) interruption_ = options_.interrupted();
  return interruption_;
}

Status Executor::Unreachable(const Target& kind) {
  std::lock_guard<std::mutex> lock(callback_mutex_);
  auto it = unreachable_.find(kind);
  return it == unreachable_.end() ? OkStatus() : it->second;
}

void Executor::CountReachability(const Target& kind, const Status& status) {
  std::lock_guard<std::mutex> lock(callback_mutex_);
  const bool no_answer =
      status.code() == StatusCode::kUnavailable || status.code() == StatusCode::kDeadlineExceeded;
  if (!no_answer) {
    unanswered_[kind] = 0;
    return;
  }
  if (++unanswered_[kind] >= kUnansweredBeforeGivingUp && unreachable_.count(kind) == 0) {
    unreachable_[kind] =
        Status(status.code(), "not attempted: " + kind.ToString() + " did not answer " +
                                  std::to_string(kUnansweredBeforeGivingUp) +
                                  " steps in a row (last: " + status.message() + ")");
  }
}

void Executor::Report(const StepOutcome& outcome) {
  if (options_.on_step) options_.on_step(outcome);
}

StepOutcome Executor::RunStep(const PlanStep& step, const Plan& plan,
                              const std::vector<StepOutcome>& before, const ApplyContext& context) {
  StepOutcome outcome;
  outcome.step = step;
  if (step.action != Action::kNone) {
    Status interrupted = CheckInterrupted();
    if (!interrupted.ok()) {
      outcome.status = interrupted;
      outcome.skipped = true;
      return outcome;
    }
  }
  auto backend = backends_.find(step.key.target());
  Backend* target = backend == backends_.end() ? nullptr : backend->second;
  Status unreachable = Unreachable(step.key.target());
  if (step.action != Action::kNone && target != nullptr && !unreachable.ok()) {
    outcome.status = unreachable;
    outcome.skipped = true;
    return outcome;
  }
  if (step.error) {
    outcome.status = FailedPreconditionError(step.reason);
    outcome.skipped = true;
  } else if (target == nullptr) {
    outcome.status = FailedPreconditionError("no " + step.key.target().ToString() +
                                             " backend configured: " + KindHint(step.key.target()));
    outcome.skipped = step.action == Action::kNone;
  } else if (step.action != Action::kNone) {
    if ((step.action == Action::kCreate || step.action == Action::kUpdate ||
         step.action == Action::kRerun) &&
        step.desired) {
      Status ready = WaitForDependencies(*step.desired, plan, before);
      if (!ready.ok()) {
        outcome.status = ready;
        outcome.skipped = true;
        Status now = CheckInterrupted();
        if (!now.ok()) outcome.status = now;
      }
    }
    if (!outcome.skipped) {
      outcome.status = target->Apply(step, context);
      CountReachability(step.key.target(), outcome.status);
    }
  }
  bool read_health = step.action != Action::kNone || options_.health_of_unchanged;
  if (step.action == Action::kCreate && outcome.status.ok() && !outcome.skipped && step.desired &&
      !step.desired->suspend) {
    // Just created: nothing of it can run yet, and asking would cost the cluster a list of
    // pods per job in a large sync.
    outcome.health = Health::kProgressing;
    read_health = false;
  }
  if (target != nullptr && !outcome.skipped && read_health) {
    StatusOr<Health> health = target->GetHealth(step.key);
    if (health.ok()) outcome.health = *health;
    // A suspended manifest with nothing live is exactly what Git asks for.
    if (outcome.health == Health::kMissing && step.desired && step.desired->suspend) {
      outcome.health = Health::kSuspended;
    }
  }
  return outcome;
}

ApplyReport Executor::Execute(const Plan& plan, const ApplyContext& context,
                              const Plan* elsewhere) {
  elsewhere_ = elsewhere;
  interruption_ = OkStatus();
  unanswered_.clear();
  unreachable_.clear();
  // Jobs in a dependsOn relation, either side: their steps keep the plan's order.
  std::set<std::pair<std::string, std::string>> related;
  for (const PlanStep& step : plan.steps) {
    const TrainingJob* job = step.desired                        ? &*step.desired
                             : (step.live && step.live->applied) ? &*step.live->applied
                                                                 : nullptr;
    if (job == nullptr || job->depends_on.empty()) continue;
    related.emplace(step.key.namespace_name, step.key.name);
    for (const std::string& name : job->depends_on) related.emplace(step.key.namespace_name, name);
  }
  // Steps that change a job no other step waits for, on a backend that takes concurrent calls,
  // run first and side by side; the rest follow one by one in plan order.
  std::vector<size_t> side_by_side;
  std::vector<size_t> in_order;
  for (size_t i = 0; i < plan.steps.size(); ++i) {
    const PlanStep& step = plan.steps[i];
    auto backend = backends_.find(step.key.target());
    bool concurrent = options_.parallelism > 1 && backend != backends_.end() &&
                      backend->second->concurrent() && !step.error &&
                      step.action != Action::kNone &&
                      related.count({step.key.namespace_name, step.key.name}) == 0;
    (concurrent ? side_by_side : in_order).push_back(i);
  }
  std::vector<StepOutcome> outcomes(plan.steps.size());
  std::atomic<size_t> next{0};
  auto worker = [&] {
    for (size_t k = next++; k < side_by_side.size(); k = next++) {
      StepOutcome outcome = RunStep(plan.steps[side_by_side[k]], plan, {}, context);
      Report(outcome);
      outcomes[side_by_side[k]] = std::move(outcome);
    }
  };
  std::vector<std::thread> workers;
  const size_t threads =
      std::min(side_by_side.size(), static_cast<size_t>(std::max(1, options_.parallelism)));
  for (size_t t = 1; t < threads; ++t) workers.emplace_back(worker);
  if (threads > 0) worker();
  for (std::thread& thread : workers) thread.join();

  std::vector<StepOutcome> finished;
  finished.reserve(plan.steps.size());
  for (size_t index : side_by_side) finished.push_back(outcomes[index]);
  for (size_t index : in_order) {
    StepOutcome outcome = RunStep(plan.steps[index], plan, finished, context);
    Report(outcome);
    finished.push_back(outcome);
    outcomes[index] = std::move(outcome);
  }
  ApplyReport report;
  report.outcomes = std::move(outcomes);
  return report;
}

}  // namespace jobsync
