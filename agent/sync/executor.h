// Carries out a Plan against the backends, step by step in plan order, and records what happened
// to each job as data (an ApplyReport), the way gitops-engine's sync records resource results.
//
// Rules:
//   - A step runs on the backend of its key's kind; a kind with no backend configured fails that
//     step (and only that step) with a message saying how to configure it.
//   - Steps of jobs outside any dependsOn relation run side by side on backends that allow it
//     (ExecutorOptions::parallelism); the others run one at a time, in plan order.
//   - One job's failure never stops the others. Jobs that depend (spec.dependsOn) on a job whose
//     step failed are skipped, with the reason.
//   - Before a create, update or rerun of a job with dependsOn, each dependency (same namespace)
//   must
//     be Healthy or Succeeded; the executor polls its health until dependency_timeout passes.
//     A health read that fails (after the backend client's own retries) fails the step at once.
//   - kNone steps are not sent to backends; their health is still read for the report.
//   - A backend that did not answer (Unavailable or DeadlineExceeded, after its client's own
//     retries) kUnansweredBeforeGivingUp steps in a row is given up on for the rest of the
//     execution: its remaining steps are skipped at once, saying why, instead of each waiting
//     out its retries against a server that is down. The next execution tries again.
#ifndef JOBSYNC_AGENT_SYNC_EXECUTOR_H_
#define JOBSYNC_AGENT_SYNC_EXECUTOR_H_

#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "backends/backend.h"
#include "common/status.h"
#include "diff/plan.h"

namespace jobsync {

// What happened to one job.
struct StepOutcome {
  PlanStep step;
  Status status;                 // ok when the step was carried out (or had nothing to do)
  bool skipped = false;          // not attempted; status says why
  std::optional<Health> health;  // read after the step; absent when it could not be read
};

// The result of executing a plan. A plain value.
struct ApplyReport {
  std::vector<StepOutcome> outcomes;  // in plan order

  // True when every step succeeded and no step was held back by an error.
  bool ok() const;
  // Keys of the jobs whose step failed, was skipped, or carried an error.
  std::vector<JobKey> FailedJobs() const;
};

struct ExecutorOptions {
  // How long a create waits for its dependencies to become Healthy or Succeeded.
  std::chrono::milliseconds dependency_timeout = std::chrono::minutes(10);
  std::chrono::milliseconds poll_interval = std::chrono::seconds(1);
  // Sleeps between polls; replaced in tests.
  std::function<void(std::chrono::milliseconds)> sleep;
  // Called after each step with its outcome (for progress output, logs and Events); may be
  // empty. Called from the thread that ran the step, several at once when steps run side by
  // side: it must be thread-safe. Not under the executor's lock: a slow call (an Event sent to a
  // server that went down, retried) holds back its own step only, never the others or the
  // executor giving up on that server.
  std::function<void(const StepOutcome&)> on_step;
  // Steps run side by side, at most this many at once, when they change jobs that no other step
  // of the plan depends on (and that depend on none) and their backend says it takes concurrent
  // calls (Backend::concurrent). Everything else runs one step at a time, in plan order, after.
  // As many as the Kubernetes client's in-flight limit starts at (client.h), which then bounds
  // what reaches the apiserver and backs off when it answers 429.
  int parallelism = 32;
  // False: kNone steps are not asked for their health (the caller has it from the watch
  // cache); their outcome's health stays empty. Dependencies are still polled.
  bool health_of_unchanged = true;
  // Asked before each step and between dependency polls; when it returns a non-ok Status the
  // execution stops there and every step not yet run is reported skipped with that Status (a
  // newer commit superseded this one, or the agent is shutting down). May be empty.
  std::function<Status()> interrupted;
};

// Executes plans. Holds non-owning pointers to the backends, which must outlive it. Not
// thread-safe: one Execute at a time. `interrupted` is called one at a time (under a lock),
// `on_step` without one; both possibly from the executor's worker threads.
class Executor {
 public:
  Executor(std::map<Target, Backend*> backends, ExecutorOptions options);

  // `elsewhere`: steps of jobs that plan's jobs may depend on, executed by another executor at
  // the same time (the agent runs each backend's steps on its own lane); their dependents wait
  // for their health like any dependency's. May be null.
  ApplyReport Execute(const Plan& plan, const ApplyContext& context,
                      const Plan* elsewhere = nullptr);

 private:
  // Ok when every dependency of `job` is Healthy or Succeeded within the timeout.
  // `outcomes` holds the steps executed so far.
  Status WaitForDependencies(const TrainingJob& job, const Plan& plan,
                             const std::vector<StepOutcome>& outcomes);
  // The step of the job `namespace_name/name` in the plan executed or elsewhere_; null if none.
  const PlanStep* FindStep(const Plan& plan, const std::string& namespace_name,
                           const std::string& name) const;

  // One step, with `before` the outcomes of the steps executed so far (for dependencies).
  StepOutcome RunStep(const PlanStep& step, const Plan& plan,
                      const std::vector<StepOutcome>& before, const ApplyContext& context);
  // options_.interrupted, remembered once it said stop.
  Status CheckInterrupted();
  // Ok unless the backend of `kind` was given up on in this execution.
  Status Unreachable(const Target& kind);
  // Counts a step's result towards giving up on its backend.
  void CountReachability(const Target& kind, const Status& status);
  void Report(const StepOutcome& outcome);

  std::map<Target, Backend*> backends_;
  ExecutorOptions options_;
  const Plan* elsewhere_ = nullptr;  // Execute's argument, while it runs
  std::mutex callback_mutex_;
  Status interruption_;  // guarded by callback_mutex_
  static constexpr int kUnansweredBeforeGivingUp = 3;
  std::map<Target, int> unanswered_;      // steps in a row without an answer; guarded
  std::map<Target, Status> unreachable_;  // backends given up on; guarded by callback_mutex_
};

}  // namespace jobsync

#endif  // JOBSYNC_AGENT_SYNC_EXECUTOR_H_
