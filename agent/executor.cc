#include "agent/executor.h"

#include <thread>
#include <utility>

namespace jobsync {
namespace {

bool IsHealthyEnough(Health health) {
  return health == Health::kHealthy || health == Health::kSucceeded;
}

std::string KindHint(BackendKind kind) {
  return kind == BackendKind::kRay ? "set RAY_ADDRESS or --ray-address"
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

Executor::Executor(std::map<BackendKind, Backend*> backends, ExecutorOptions options)
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
    for (const PlanStep& step : plan.steps) {
      const JobKey& key = step.key;
      if (key.namespace_name != job.namespace_name || key.name != name) continue;
      auto backend = backends_.find(key.backend);
      if (backend == backends_.end()) {
        return FailedPreconditionError("dependency " + key.ToString() +
                                       ": no backend configured (" + KindHint(key.backend) + ")");
      }
      std::chrono::milliseconds waited{0};
      while (true) {
        StatusOr<Health> health = backend->second->GetHealth(key);
        if (health.ok() && IsHealthyEnough(*health)) break;
        if (waited >= options_.dependency_timeout) {
          return DeadlineExceededError(
              "dependency " + key.ToString() + " is not Healthy or Succeeded after " +
              std::to_string(options_.dependency_timeout.count() / 1000) + "s (health: " +
              (health.ok() ? HealthName(*health) : health.status().message()) + ")");
        }
        if (options_.interrupted) JOBSYNC_RETURN_IF_ERROR(options_.interrupted());
        options_.sleep(options_.poll_interval);
        waited += options_.poll_interval;
      }
    }
  }
  return OkStatus();
}

ApplyReport Executor::Execute(const Plan& plan, const ApplyContext& context) {
  ApplyReport report;
  Status interruption;
  for (const PlanStep& step : plan.steps) {
    StepOutcome outcome;
    outcome.step = step;
    if (interruption.ok() && options_.interrupted && step.action != Action::kNone) {
      interruption = options_.interrupted();
    }
    if (!interruption.ok()) {
      outcome.status = interruption;
      outcome.skipped = true;
      if (options_.on_step) options_.on_step(outcome);
      report.outcomes.push_back(std::move(outcome));
      continue;
    }
    auto backend = backends_.find(step.key.backend);
    Backend* target = backend == backends_.end() ? nullptr : backend->second;
    if (step.error) {
      outcome.status = FailedPreconditionError(step.reason);
      outcome.skipped = true;
    } else if (target == nullptr) {
      outcome.status =
          FailedPreconditionError("no " + std::string(BackendName(step.key.backend)) +
                                  " backend configured: " + KindHint(step.key.backend));
      outcome.skipped = step.action == Action::kNone;
    } else if (step.action != Action::kNone) {
      if ((step.action == Action::kCreate || step.action == Action::kUpdate) && step.desired) {
        Status ready = WaitForDependencies(*step.desired, plan, report.outcomes);
        if (!ready.ok()) {
          outcome.status = ready;
          outcome.skipped = true;
        }
        if (options_.interrupted && !ready.ok()) {
          Status now = options_.interrupted();
          if (!now.ok()) interruption = outcome.status = now;
        }
      }
      if (!outcome.skipped) outcome.status = target->Apply(step, context);
    }
    bool read_health = step.action != Action::kNone || options_.health_of_unchanged;
    if (target != nullptr && !outcome.skipped && read_health) {
      StatusOr<Health> health = target->GetHealth(step.key);
      if (health.ok()) outcome.health = *health;
      // A suspended manifest with nothing live is exactly what Git asks for.
      if (outcome.health == Health::kMissing && step.desired && step.desired->suspend) {
        outcome.health = Health::kSuspended;
      }
    }
    if (options_.on_step) options_.on_step(outcome);
    report.outcomes.push_back(std::move(outcome));
  }
  return report;
}

}  // namespace jobsync
