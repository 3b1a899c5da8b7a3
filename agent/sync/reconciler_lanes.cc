// The Reconciler's stages that talk to the clusters: the quiet check's LiveVersion, the listing,
// and the apply, each backend on its own lane (lanes.h) within its deadlines, and the per-step
// report. The stages' contract is in reconciler.h.
#include <algorithm>
#include <iterator>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include <spdlog/spdlog.h>

#include "agent/sync/reconciler.h"
#include "agent/sync/reconciler_cycle.h"
#include "common/logging.h"
#include "diff/render.h"

namespace jobsync {
namespace {

const char* EventReason(Action action) {
  switch (action) {
    case Action::kCreate:
      return "Created";
    case Action::kScale:
      return "Scaled";
    case Action::kPatch:
      return "Patched";
    case Action::kUpdate:
      return "Recreated";
    case Action::kRerun:
      return "Rerun";
    case Action::kDelete:
      return "Pruned";
    case Action::kNone:
      break;
  }
  return "Synced";
}

}  // namespace

bool Reconciler::NothingChanged(Cycle& cycle) {
  // Versions are read before listing, so a change during the listing shows next time.
  cycle.may_write = !options_.may_write || options_.may_write();
  // A backend that stopped answering is not waited for until it answers a Ping again.
  std::vector<BackendLane*> lanes;
  for (const auto& lane : lanes_) {
    std::string why;
    if (NotAnswering(*lane, &why)) {
      cycle.lane_problems[TargetOf(lane->backend())] = why;
    } else {
      lanes.push_back(lane.get());
    }
  }
  std::vector<LaneCall<std::optional<uint64_t>>> versions = CallOnLanes<std::optional<uint64_t>>(
      lanes, [](Backend& backend) { return backend.LiveVersion(); },
      std::chrono::steady_clock::now() + options_.backend_timeout, options_.backend_timeout);
  std::map<Target, std::optional<uint64_t>> by_kind;
  for (size_t i = 0; i < lanes.size(); ++i) {
    const Target kind = TargetOf(lanes[i]->backend());
    if (versions[i].timed_out) MissedDeadline(kind, versions[i].problem);
    if (!versions[i].result) {
      cycle.lane_problems[kind] = versions[i].problem;
    } else {
      by_kind[kind] = *versions[i].result;
    }
  }
  for (Backend* backend : backends_) {
    auto version = by_kind.find(TargetOf(*backend));
    cycle.versions.push_back(version == by_kind.end() ? std::nullopt : version->second);
    cycle.all_versioned = cycle.all_versioned && cycle.versions.back().has_value();
  }
  if (cycle.all_versioned && cycle.git.ok() && quiet_commit_ == cycle.commit->id &&
      quiet_versions_ == cycle.versions && quiet_writer_ == cycle.may_write) {
    // Same commit, same live state, same role as a cycle that had nothing to do: the plan would
    // be the same, so it is not made again (the no-op cycle of a large repository costs one
    // ls-remote).
    return true;
  }
  quiet_commit_.clear();
  planned_ = true;
  return false;
}

LiveState Reconciler::ReadLiveJobs(const Cycle& cycle) {
  // A lane that failed the quiet check is still busy with it: asking again would only wait.
  LiveState live;
  live.unavailable = unconfigured_;
  std::vector<BackendLane*> lanes;
  for (const auto& lane : lanes_) {
    const Target kind = TargetOf(lane->backend());
    auto problem = cycle.lane_problems.find(kind);
    if (problem == cycle.lane_problems.end()) {
      lanes.push_back(lane.get());
    } else {
      live.unavailable[kind] = UnavailableError(problem->second);
    }
  }
  std::vector<LaneCall<StatusOr<std::vector<LiveJob>>>> listed =
      CallOnLanes<StatusOr<std::vector<LiveJob>>>(
          lanes, [](Backend& backend) { return backend.ListJobs(); },
          std::chrono::steady_clock::now() + options_.backend_timeout, options_.backend_timeout);
  for (size_t i = 0; i < lanes.size(); ++i) {
    Backend& backend = lanes[i]->backend();
    if (!listed[i].result) {
      live.unavailable[TargetOf(backend)] = UnavailableError(listed[i].problem);
    } else if (!listed[i].result->ok()) {
      live.unavailable[TargetOf(backend)] = listed[i].result->status();
    } else {
      live.readable[TargetOf(backend)] = &backend;
      // Moved whole, or appended to what other backends listed: never grown one job at a time
      // (a LiveJob holds its applied spec in place: a grown listing of 10,000 is moved again).
      std::vector<LiveJob>& jobs = **listed[i].result;
      if (live.jobs.empty()) {
        live.jobs = std::move(jobs);
      } else {
        live.jobs.insert(live.jobs.end(), std::make_move_iterator(jobs.begin()),
                         std::make_move_iterator(jobs.end()));
      }
    }
  }
  for (size_t i = 0; i < lanes.size(); ++i) {
    if (listed[i].timed_out) MissedDeadline(TargetOf(lanes[i]->backend()), listed[i].problem);
  }
  std::lock_guard<std::mutex> lock(mutex_);
  std::map<Target, Status> before = std::move(backend_status_);
  backend_status_.clear();
  for (Backend* backend : backends_) backend_status_[TargetOf(*backend)] = OkStatus();
  for (const auto& [kind, status] : live.unavailable) {
    if (unconfigured_.count(kind) == 0) backend_status_[kind] = status;
  }
  // Logged when a backend stops or starts answering, not on every cycle in between.
  for (const auto& [kind, status] : backend_status_) {
    auto was = before.find(kind);
    const bool was_ok = was == before.end() || was->second.ok();
    if (was_ok && !status.ok()) {
      LogEvent(spdlog::level::err, "backend unavailable",
               {{"backend", kind.ToString()}, {"error", status.message()}});
    } else if (!was_ok && status.ok()) {
      LogEvent(spdlog::level::info, "backend available again", {{"backend", kind.ToString()}});
    }
  }
  return live;
}

// One backend's share of an apply: the lane's executor fills it in; the cycle reads it once the
// lane is done, or gives up on it (abandoned) and never reads it.
struct Reconciler::LaneApply {
  Plan plan;
  std::atomic<bool> abandoned{false};  // set under interrupt_mutex_
  // When the share started or last finished a step (steady_clock ticks).
  std::atomic<std::chrono::steady_clock::rep> progress{0};
  std::vector<StepOutcome> outcomes;  // written by the lane before it returns
};

Status Reconciler::ApplyPlan(Cycle& cycle) {
  if (!cycle.may_write || !cycle.plan.HasChanges()) return OkStatus();
  const CommitInfo& commit = *cycle.commit;
  if (state_.last_attempted_revision != commit.id) {
    state_.last_attempted_revision = commit.id;
    JOBSYNC_RETURN_IF_ERROR(state_store_.Save(state_));
  }
  // Each backend's steps, in plan order; dependencies are looked up in the whole plan.
  std::map<Target, Plan> shares;
  for (const PlanStep& step : cycle.plan.steps) shares[step.key.target()].steps.push_back(step);
  std::vector<std::pair<Target, std::shared_ptr<LaneApply>>> started;
  started.reserve(shares.size());
  for (auto& [kind, share] : shares) {
    started.emplace_back(kind, StartShare(cycle, kind, std::move(share)));
  }
  for (auto& [kind, share] : started) AwaitShare(cycle, kind, *share);
  return OkStatus();
}

std::shared_ptr<Reconciler::LaneApply> Reconciler::StartShare(Cycle& cycle, const Target& kind,
                                                              Plan share) {
  auto apply = std::make_shared<LaneApply>();
  apply->plan = std::move(share);
  apply->progress = std::chrono::steady_clock::now().time_since_epoch().count();
  BackendLane* lane = nullptr;
  for (const auto& candidate : lanes_) {
    if (TargetOf(candidate->backend()) == kind) lane = candidate.get();
  }
  // The other backends' steps of jobs this share depends on (dependsOn may cross backends).
  Plan others;
  for (const PlanStep& step : apply->plan.steps) {
    if (!step.desired) continue;
    for (const std::string& name : step.desired->depends_on) {
      for (const PlanStep& other : cycle.plan.steps) {
        if (other.key.target() != kind && other.key.namespace_name == step.key.namespace_name &&
            other.key.name == name) {
          others.steps.push_back(other);
        }
      }
    }
  }
  // The lane's work owns what it uses: the cycle may stop waiting for it.
  auto work = [this, apply, others = std::move(others), commit = *cycle.commit,
               readable = cycle.live.readable] {
    ExecutorOptions options = options_.executor;
    options.health_of_unchanged = false;
    // Asked before each step and between a dependency's health polls: the backend answered.
    options.interrupted = [this, apply, id = commit.id]() -> Status {
      apply->progress = std::chrono::steady_clock::now().time_since_epoch().count();
      std::lock_guard<std::mutex> lock(interrupt_mutex_);
      if (apply->abandoned) {
        return DeadlineExceededError("not attempted: the cycle stopped waiting for this backend");
      }
      return Interrupted(id);
    };
    options.on_step = [this, apply, &commit, &readable](const StepOutcome& outcome) {
      apply->progress = std::chrono::steady_clock::now().time_since_epoch().count();
      StepDone(outcome, commit, readable);
    };
    Executor executor(readable, options);
    ApplyReport report = executor.Execute(
        apply->plan,
        {options_.plan.instance, commit.id,
         [apply] {
           apply->progress = std::chrono::steady_clock::now().time_since_epoch().count();
         }},
        &others);
    apply->outcomes = std::move(report.outcomes);
  };
  // A backend that could not be read has only held steps: nothing to ask it, nothing to wait for.
  if (lane == nullptr || cycle.live.readable.count(kind) == 0) {
    work();
  } else if (!lane->Start(work)) {
    apply->outcomes.clear();  // cannot happen: the listing found the lane idle, and it waited
  }
  return apply;
}

void Reconciler::AwaitShare(Cycle& cycle, const Target& kind, LaneApply& share) {
  BackendLane* lane = nullptr;
  for (const auto& candidate : lanes_) {
    if (TargetOf(candidate->backend()) == kind) lane = candidate.get();
  }
  const auto sync_deadline = cycle.start + options_.sync_timeout;
  std::string missed;
  while (lane != nullptr && cycle.live.readable.count(kind) != 0) {
    const auto progress = std::chrono::steady_clock::time_point(
        std::chrono::steady_clock::duration(share.progress.load()));
    const auto step_deadline = progress + options_.backend_timeout;
    if (lane->WaitUntil(std::min(step_deadline, sync_deadline))) break;
    const auto now = std::chrono::steady_clock::now();
    if (now >= sync_deadline) {
      missed = "did not finish applying within " + TimeoutText(options_.sync_timeout) +
               " (--sync-timeout)";
    } else if (share.progress.load() == progress.time_since_epoch().count()) {
      missed = "did not finish a step within " + TimeoutText(options_.backend_timeout) +
               " (--backend-timeout)";
    } else {
      continue;  // a step finished meanwhile: its next step gets the whole timeout
    }
    std::lock_guard<std::mutex> lock(interrupt_mutex_);
    share.abandoned = true;
    break;
  }
  if (missed.empty()) {
    for (StepOutcome& outcome : share.outcomes) {
      cycle.outcomes[outcome.step.key] = std::move(outcome);
    }
    return;
  }
  // Given up on: its steps are planned again next cycle; the call in flight returns on its own.
  const Status unavailable = DeadlineExceededError(
      kind.ToString() + " " + missed + "; its remaining steps are planned again by the next cycle");
  MissedDeadline(kind, unavailable.message());
  cycle.live.unavailable[kind] = unavailable;
  NoteBackendTrouble(kind, unavailable);
  LogEvent(spdlog::level::err, "backend unavailable",
           {{"backend", kind.ToString()}, {"error", unavailable.message()}});
  for (const PlanStep& step : share.plan.steps) {
    StepOutcome outcome;
    outcome.step = step;
    outcome.status = unavailable;
    outcome.skipped = true;
    cycle.outcomes[step.key] = std::move(outcome);
  }
}

// A Ping's outcome, written by the lane when it returns.
struct PingResult {
  std::mutex mutex;
  bool done = false;
  Status status;
};

void Reconciler::MissedDeadline(const Target& kind, const std::string& why) {
  metrics_.Add(kBackendErrors, {{"backend", BackendName(kind.backend)},
                                {"cluster", ClusterName(kind.cluster)},
                                {"operation", "deadline"}});
  // The call that missed it is still on the lane: the first Ping starts once it returns.
  silent_[kind] = Silence{why, std::make_shared<PingResult>()};
}

bool Reconciler::NotAnswering(BackendLane& lane, std::string* why) {
  auto found = silent_.find(TargetOf(lane.backend()));
  if (found == silent_.end()) return false;
  Silence& silence = found->second;
  std::string answer;
  {
    std::lock_guard<std::mutex> lock(silence.ping->mutex);
    if (silence.ping->done && silence.ping->status.ok()) {
      silent_.erase(found);  // it answers again: waited for like any other from now on
      return false;
    }
    if (silence.ping->done) answer = silence.ping->status.message();
  }
  auto ping = std::make_shared<PingResult>();
  if (lane.Start([ping, &backend = lane.backend()] {
        Status status = backend.Ping();
        std::lock_guard<std::mutex> lock(ping->mutex);
        ping->status = std::move(status);
        ping->done = true;
      })) {
    silence.ping = ping;
  }
  *why = silence.why + (answer.empty() ? "" : "; asked again: " + answer);
  return true;
}

void Reconciler::StepDone(const StepOutcome& outcome, const CommitInfo& commit,
                          const std::map<Target, Backend*>& writable) {
  if (outcome.step.action == Action::kNone) return;
  const std::string action = ActionName(outcome.step.action);
  const std::string result_name =
      outcome.skipped ? "skipped" : (outcome.status.ok() ? "ok" : "failed");
  metrics_.Add(kActions, {{"cluster", ClusterName(outcome.step.key.cluster)},
                          {"action", action},
                          {"result", result_name}});
  LogFields fields = {{"job", outcome.step.key.ToString()},
                      {"action", action},
                      {"commit", commit.ShortId()},
                      {"result", result_name}};
  if (!outcome.status.ok()) fields.emplace_back("error", outcome.status.message());
  LogEvent(outcome.status.ok() ? spdlog::level::info : spdlog::level::warn, "apply", fields);
  const StatusCode code = outcome.status.code();
  if (code == StatusCode::kUnavailable || code == StatusCode::kDeadlineExceeded) {
    // The backend did not answer: say so now, not when the cycle ends, and do not send it an
    // Event it would not answer either.
    NoteBackendTrouble(outcome.step.key.target(), outcome.status);
    return;
  }
  if (outcome.skipped) return;
  auto backend = writable.find(outcome.step.key.target());
  if (backend == writable.end()) return;
  std::string message = "jobsync " + options_.plan.instance + " " + action + " at " +
                        commit.ShortId() + ": " + ChangeSummary(outcome.step);
  if (!outcome.status.ok()) message += ": " + outcome.status.message();
  Status recorded = backend->second->RecordEvent(
      outcome.step, {options_.plan.instance, commit.id},
      outcome.status.ok() ? EventReason(outcome.step.action) : "SyncFailed", message,
      !outcome.status.ok());
  if (!recorded.ok()) spdlog::debug("event not recorded: {}", recorded.message());
}

}  // namespace jobsync
