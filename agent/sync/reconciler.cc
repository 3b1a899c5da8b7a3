#include "agent/sync/reconciler.h"

#include <cstdio>
#include <ctime>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <random>
#include <string>
#include <tuple>
#include <utility>

#include <spdlog/spdlog.h>

#include "agent/sync/clusters.h"
#include "agent/sync/inventory_update.h"
#include "agent/sync/reconciler_cycle.h"
#include "common/logging.h"
#include "diff/render.h"

namespace jobsync {
namespace {

constexpr const char* kSyncRuns = "jobsync_sync_runs_total";
constexpr const char* kSyncDuration = "jobsync_sync_duration_seconds";
constexpr const char* kJobs = "jobsync_jobs";
constexpr const char* kGitDuration = "jobsync_git_duration_seconds";
constexpr const char* kGitErrors = "jobsync_git_errors_total";
constexpr const char* kSyncStageDuration = "jobsync_sync_stage_duration_seconds";
constexpr const char* kRevisionInfo = "jobsync_last_applied_revision_info";
constexpr const char* kDriftDetected = "jobsync_drift_detected_total";
constexpr const char* kWriter = "jobsync_writer";
constexpr const char* kDeletesHeld = "jobsync_deletes_held";
constexpr const char* kLastSuccess = "jobsync_last_successful_sync_timestamp_seconds";

void DeclareMetrics(Metrics& metrics) {
  metrics.Declare(kSyncRuns, MetricType::kCounter, "Sync cycles run, by result");
  metrics.Declare(kSyncDuration, MetricType::kHistogram, "Duration of sync cycles, by result",
                  DurationBuckets());
  metrics.Declare(kJobs, MetricType::kGauge, "Jobs by sync state and health, after the last cycle");
  metrics.Declare(kActions, MetricType::kCounter, "Actions applied to the clusters, by result");
  metrics.Declare(kGitDuration, MetricType::kHistogram,
                  "Duration of Git operations (check: ls-remote, fetch, load)", DurationBuckets());
  metrics.Declare(kGitErrors, MetricType::kCounter, "Failed Git operations");
  metrics.Declare(kSyncStageDuration, MetricType::kHistogram,
                  "Duration of the stages of sync cycles that planned (git_check, git_fetch, "
                  "git_load, git_log, versions, list, plan, apply, record, status, publish)",
                  DurationBuckets());
  metrics.Declare(kRevisionInfo, MetricType::kGauge,
                  "The last revision applied completely (value 1; the revision is a label)");
  metrics.Declare(kDriftDetected, MetricType::kCounter,
                  "Jobs found changed outside Git, by drift policy");
  metrics.Declare(kWriter, MetricType::kGauge,
                  "1 when this replica writes to the clusters (leader, or no election)");
  metrics.Declare(kBackendErrors, MetricType::kCounter, "Failed calls to a backend");
  metrics.Declare(kDeletesHeld, MetricType::kGauge,
                  "Deletes the mass-delete guard held back in the last plan");
  metrics.Declare(kLastSuccess, MetricType::kGauge,
                  "When the last cycle with result ok ended, in seconds since the Unix epoch "
                  "(no series before the first)");
}

// Sets jobsync_last_successful_sync_timestamp_seconds to now (wall clock, as alerts compare it
// with time()).
void RecordSuccess(Metrics& metrics) {
  const std::chrono::duration<double> since_epoch =
      std::chrono::system_clock::now().time_since_epoch();
  metrics.Set(kLastSuccess, {}, since_epoch.count());
}

std::string Short(const std::string& revision) { return revision.substr(0, 7); }

// Seconds as whole milliseconds with one decimal: "12.3".
std::string Milliseconds(double seconds) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f", seconds * 1000);
  return text;
}

nlohmann::json CommitJson(const CommitInfo& commit) {
  return {{"id", commit.id},
          {"short", commit.ShortId()},
          {"author", commit.author_name},
          {"summary", commit.summary},
          {"time", commit.time}};
}

// The Ready condition of the status (Flux's shape: type, status, reason, message) after a cycle
// that ended with `result`.
nlohmann::json ReadyCondition(const Status& result, const Status& git,
                              const std::map<Target, Status>& backends) {
  std::string reason = "Synced";
  std::string message = result.ok() ? "every job is in sync" : result.message();
  if (!git.ok()) {
    reason = "GitUnavailable";
    message = git.message();
  } else {
    for (const auto& [kind, status] : backends) {
      if (status.ok()) continue;
      reason = "BackendUnavailable";
      message = kind.ToString() + ": " + status.message();
      break;
    }
    if (reason == "Synced" && !result.ok()) reason = "SyncFailed";
  }
  return {{"type", "Ready"},
          {"status", reason == "Synced" ? "True" : "False"},
          {"reason", reason},
          {"message", message}};
}

}  // namespace

Reconciler::Reconciler(GitSource& git, std::vector<Backend*> backends,
                       std::map<Target, Status> unconfigured, StateStore& state, Metrics& metrics,
                       ReconcilerOptions options)
    : git_(git),
      backends_(std::move(backends)),
      unconfigured_(std::move(unconfigured)),
      state_store_(state),
      metrics_(metrics),
      options_(std::move(options)) {
  DeclareMetrics(metrics_);
  for (Backend* backend : backends_) lanes_.push_back(std::make_unique<BackendLane>(*backend));
}

Status Reconciler::Start() {
  StatusOr<AgentState> loaded = state_store_.Load();
  if (!loaded.ok()) return loaded.status();
  state_ = std::move(*loaded);
  if (!state_.last_applied_revision.empty()) {
    metrics_.Set(kRevisionInfo, {{"revision", state_.last_applied_revision}}, 1);
  }
  spdlog::info("state from {}: last applied {}, last attempted {}, {} jobs in the inventory",
               state_store_.Describe(),
               state_.last_applied_revision.empty() ? "-" : Short(state_.last_applied_revision),
               state_.last_attempted_revision.empty() ? "-" : Short(state_.last_attempted_revision),
               state_.inventory.size());
  return OkStatus();
}

Status Reconciler::Interrupted(const std::string& applying) {
  // Callers hold interrupt_mutex_ (several lanes apply at once; Git is asked by one at a time).
  bool check_now = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_) {
      cut_short_ = true;
      return UnavailableError("the agent is shutting down");
    }
    if (options_.may_write && !options_.may_write()) {
      cut_short_ = true;
      return UnavailableError("this replica lost the leader election");
    }
    if (triggered_) {
      triggered_ = false;
      check_now = true;
    }
  }
  auto now = std::chrono::steady_clock::now();
  if (!check_now && now - last_git_check_ < options_.interval) return OkStatus();
  last_git_check_ = now;
  StatusOr<std::string> head = git_.CheckForChange();
  if (head.ok() && *head != applying) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      triggered_ = true;  // start the next cycle at once
    }
    cut_short_ = true;
    return FailedPreconditionError("superseded by commit " + Short(*head));
  }
  return OkStatus();
}

Status Reconciler::CheckGit(StageTimes& stages) {
  auto timed_git = [&](const char* operation, auto call) {
    auto began = std::chrono::steady_clock::now();
    auto result = call();
    std::chrono::duration<double> took = std::chrono::steady_clock::now() - began;
    metrics_.Observe(kGitDuration, {{"operation", operation}}, took.count());
    if (!result.ok()) metrics_.Add(kGitErrors, {{"operation", operation}});
    stages.End(std::string("git_") + operation);
    return result;
  };
  Status git_status;
  last_git_check_ = std::chrono::steady_clock::now();
  StatusOr<std::string> head = timed_git("check", [&] { return git_.CheckForChange(); });
  if (head.ok() && (!snapshot_ || snapshot_->commit.id != *head)) {
    StatusOr<std::string> fetched = timed_git("fetch", [&] { return git_.Fetch(); });
    StatusOr<Snapshot> loaded = fetched.ok()
                                    ? timed_git("load", [&] { return git_.LoadAt(*fetched); })
                                    : StatusOr<Snapshot>(fetched.status());
    if (loaded.ok()) {
      for (const Diagnostic& d : loaded->manifests.diagnostics) {
        LogEvent(spdlog::level::warn, "invalid manifest",
                 {{"commit", loaded->commit.ShortId()}, {"error", d.ToString()}});
      }
      for (const Diagnostic& d : loaded->manifests.warnings) {
        LogEvent(spdlog::level::warn, "manifest field not honoured",
                 {{"commit", loaded->commit.ShortId()}, {"warning", d.ToString()}});
      }
      LogEvent(spdlog::level::info, "new revision",
               {{"commit", loaded->commit.ShortId()},
                {"author", loaded->commit.author_name},
                {"summary", loaded->commit.summary},
                {"jobs", std::to_string(loaded->manifests.jobs.size())}});
      StatusOr<std::vector<CommitInfo>> log = git_.FirstParentLog(loaded->commit.id, 1000);
      if (log.ok()) {
        commits_.clear();
        for (CommitInfo& commit : *log) commits_[commit.id] = std::move(commit);
      }
      stages.End("git_log");
      snapshot_ = std::move(*loaded);
      if (options_.shared_specs) {
        options_.shared_specs->Offer(snapshot_->manifests.jobs);
        stages.End("share_specs");
      }
    } else {
      git_status = loaded.status();
    }
  } else if (!head.ok()) {
    git_status = head.status();
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    git_status_ = git_status;
  }
  if (!git_status.ok()) {
    LogEvent(spdlog::level::err, "git failed", {{"error", git_status.message()}});
  }
  return git_status;
}

Status Reconciler::SyncOnce() {
  Cycle cycle;
  cycle.start = std::chrono::steady_clock::now();
  cycle.stages.last = cycle.start;
  cut_short_ = false;
  // Fetch the followed ref, or go by the last look when only a live change woke the cycle.
  cycle.git = Fetch(cycle);
  if (!snapshot_) return Finish(cycle.git, cycle.start);
  cycle.commit = &snapshot_->commit;
  cycle.failure = cycle.git;
  // Stop here when neither the commit nor the live state changed since a quiet cycle.
  if (NothingChanged(cycle)) return Finish(OkStatus(), cycle.start);
  cycle.stages.End("versions");
  // Read the live jobs of every backend.
  cycle.live = ReadLiveJobs(cycle);
  cycle.stages.End("list");
  // Take over the state a previous leader wrote, when this replica just became the writer.
  if (Status taken = TakeOverState(cycle); !taken.ok()) return Finish(taken, cycle.start);
  // Plan the commit against the live jobs and the inventory.
  if (Status planned = PlanCycle(cycle); !planned.ok()) return Finish(planned, cycle.start);
  cycle.stages.End("plan");
  // Apply the plan, when this replica writes.
  if (Status applied = ApplyPlan(cycle); !applied.ok()) return Finish(applied, cycle.start);
  cycle.stages.End("apply");
  // Record what was applied in the inventory, and the revision once every job is in sync.
  RecordState(cycle);
  cycle.stages.End("record");
  // Derive each job's status and the cycle's result.
  CycleStatus status = DeriveStatus(cycle);
  cycle.stages.End("status");
  // Publish the status and the plan, then tell the notifier.
  PublishCycle(cycle, status);
  cycle.stages.End("publish");
  Notify(cycle, status);
  RememberQuiet(cycle, status.result);
  // Say where the time of a cycle that planned went.
  LogStages(cycle);
  return status.result;
}

void Reconciler::LogStages(const Cycle& cycle) {
  LogFields fields = {{"commit", cycle.commit->ShortId()},
                      {"steps", std::to_string(cycle.plan.steps.size())},
                      {"changes", std::to_string(cycle.outcomes.size())}};
  double total = 0;
  for (const auto& [stage, seconds] : cycle.stages.seconds) {
    metrics_.Observe(kSyncStageDuration, {{"stage", stage}}, seconds);
    fields.emplace_back(stage + "_ms", Milliseconds(seconds));
    total += seconds;
  }
  fields.emplace_back("total_ms", Milliseconds(total));
  LogEvent(spdlog::level::info, "sync cycle", fields);
}

Status Reconciler::Finish(const Status& result, std::chrono::steady_clock::time_point start) {
  RecordCycle(result, start);
  return result;
}

Status Reconciler::Fetch(Cycle& cycle) {
  // A cycle woken only by a live change (a watch event) within an interval of the last look at
  // the remote goes by what that look found: a busy cluster must not become one ls-remote per
  // burst of events against the Git host.
  const bool reuse_git =
      only_live_changed_ && snapshot_ && cycle.start - last_git_check_ < options_.interval;
  only_live_changed_ = false;
  if (!reuse_git) return CheckGit(cycle.stages);
  std::lock_guard<std::mutex> lock(mutex_);
  return git_status_;
}

Status Reconciler::TakeOverState(Cycle& cycle) {
  metrics_.Set(kWriter, {}, cycle.may_write ? 1 : 0);
  const bool became_writer = cycle.may_write && !was_writer_ && options_.may_write;
  if (!became_writer) {
    was_writer_ = cycle.may_write;
    return OkStatus();
  }
  // A standby that just became leader: the previous leader wrote the state since Start(). Until
  // it is read, this replica writes nothing, and the next cycle tries again.
  StatusOr<AgentState> loaded = state_store_.Load();
  if (!loaded.ok()) return loaded.status();
  state_ = std::move(*loaded);
  was_writer_ = true;
  return OkStatus();
}

Status Reconciler::PlanCycle(Cycle& cycle) {
  StatusOr<Plan> planned = PlanShare(cycle);
  if (!planned.ok()) {
    // The jobs of the last published status stay: a plan that could not be made says nothing
    // about them.
    LogEvent(spdlog::level::err, "plan failed",
             {{"commit", cycle.commit->ShortId()}, {"error", planned.status().message()}});
    const nlohmann::json failed = {{"text", "plan failed: " + planned.status().message() + "\n"},
                                   {"steps", nullptr}};
    auto text = std::make_shared<const TextPieces>(
        TextPieces{failed.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)});
    std::lock_guard<std::mutex> lock(mutex_);
    plan_text_ = std::move(text);
    return planned.status();
  }
  cycle.plan = std::move(*planned);
  if (Status handed = HandOver(cycle); !handed.ok()) {
    LogEvent(spdlog::level::err, "plan failed",
             {{"commit", cycle.commit->ShortId()}, {"error", handed.message()}});
    return handed;
  }
  const char* policy = DriftPolicyName(options_.plan.drift);
  int held = 0;
  std::set<JobKey> kept;
  for (const PlanStep& step : cycle.plan.steps) {
    if (step.held && held++ == 0) {
      LogEvent(spdlog::level::err, "deletes held",
               {{"commit", cycle.commit->ShortId()}, {"reason", step.reason}});
    }
    if (IsKept(step)) {
      // Logged when a job becomes kept, not on every cycle it stays so.
      if (kept_.count(step.key) == 0) {
        LogEvent(spdlog::level::info, "prune skipped",
                 {{"job", step.key.ToString()}, {"reason", step.reason}});
      }
      kept.insert(step.key);
    }
    if (!step.drift) continue;
    metrics_.Add(kDriftDetected, {{"policy", policy}});
    if (options_.plan.drift == DriftPolicy::kHeal) {
      LogEvent(spdlog::level::warn, "drift: healing",
               {{"job", step.key.ToString()}, {"change", DriftSummary(step)}});
    } else if (options_.plan.drift == DriftPolicy::kWarn) {
      LogEvent(spdlog::level::warn, "drift: changed outside Git (drift policy warn: not reverted)",
               {{"job", step.key.ToString()}, {"change", step.reason}});
    }
  }
  metrics_.Set(kDeletesHeld, {}, held);
  kept_ = std::move(kept);
  return OkStatus();
}

void Reconciler::RecordState(Cycle& cycle) {
  const CommitInfo& commit = *cycle.commit;
  const AgentState saved_state = state_;
  const bool jobs_in_sync = RecordInventory(cycle.plan, cycle.outcomes, commit.id,
                                            options_.plan.instance, &state_.inventory);
  if (options_.shard) {
    state_.inventory.merge(cycle.adopted);
    for (const JobKey& key : ReleaseForeign(cycle.foreign, cycle.others, &state_.inventory)) {
      LogEvent(spdlog::level::info, "handed over",
               {{"job", key.ToString()}, {"shard", std::to_string(cycle.foreign.at(key))}});
    }
    for (const auto& [key, shard] : cycle.foreign) {
      cycle.handing_over = cycle.handing_over || state_.inventory.count(key) != 0;
    }
  }
  cycle.in_sync =
      jobs_in_sync && cycle.git.ok() && cycle.live.unavailable.size() == unconfigured_.size();
  if (cycle.in_sync) {
    if (state_.last_applied_revision != commit.id) {
      LogEvent(spdlog::level::info, "in sync", {{"commit", commit.ShortId()}});
      metrics_.Clear(kRevisionInfo);
      metrics_.Set(kRevisionInfo, {{"revision", commit.id}}, 1);
    }
    state_.last_applied_revision = commit.id;
  }
  if (!cycle.may_write || state_ == saved_state) return;
  Status saved = state_store_.Save(state_);
  if (!saved.ok()) {
    LogEvent(spdlog::level::err, "state not saved",
             {{"store", state_store_.Describe()}, {"error", saved.message()}});
    if (cycle.failure.ok()) cycle.failure = saved;
  }
}

CycleStatus Reconciler::DeriveStatus(const Cycle& cycle) {
  std::map<Target, Status> unavailable;
  for (const auto& [kind, status] : cycle.live.unavailable) {
    if (unconfigured_.count(kind) == 0) unavailable[kind] = status;
  }
  CycleStatus status = DeriveJobStatuses(StatusInput{cycle.plan, cycle.outcomes, cycle.commit->id,
                                                     options_.plan.drift, commits_, cycle.failure,
                                                     unavailable, cycle.git});
  metrics_.Clear(kJobs);
  std::map<std::tuple<std::string, std::string, std::string>, int> counts;
  for (const JobStatus& job : status.jobs) {
    ++counts[{ClusterName(job.key.cluster), job.sync, job.health}];
  }
  for (const auto& [labels, count] : counts) {
    const auto& [cluster, sync, health] = labels;
    metrics_.Set(kJobs, {{"cluster", cluster}, {"sync", sync}, {"health", health}}, count);
  }
  return status;
}

void Reconciler::PublishCycle(const Cycle& cycle, const CycleStatus& status) {
  // The status shows the steps that do something or report a problem; thousands of "in sync"
  // lines would hide them (and cost memory on every cycle). A create step is shown without its
  // fields: they are the whole manifest, which Git has and `jobsync plan` lists; a first sync of
  // thousands of jobs would otherwise publish every field of every job, twice.
  Plan shown;
  auto steps = std::make_shared<ShownSteps>();
  steps->reserve(cycle.plan.steps.size());
  for (const PlanStep& step : cycle.plan.steps) {
    ShownStep& kept = steps->emplace_back();
    kept.step = step;
    kept.step.live = nullptr;
    if (step.live) kept.applied = step.live->applied;
    if (step.action == Action::kCreate) kept.step.changes.clear();
    if (step.action == Action::kNone && !step.error && !step.withheld) continue;
    shown.steps.push_back(kept.step);
  }
  const size_t unchanged = cycle.plan.steps.size() - shown.steps.size();
  Publish(status.jobs,
          RenderText(shown, false, &cycle.plan) + std::to_string(unchanged) + " job" +
              (unchanged == 1 ? "" : "s") + " in sync, not listed.\n",
          RenderJson(shown, &cycle.plan), std::move(steps));
  RecordCycle(status.result, cycle.start);
}

void Reconciler::Notify(const Cycle& cycle, const CycleStatus& status) {
  // Nobody hears a cycle whose apply was cut short (a newer commit's outcome, or the next
  // leader's, follows), nor one of a replica that stopped being the writer meanwhile.
  const bool still_writer = !options_.may_write || options_.may_write();
  if (options_.notifier == nullptr || !cycle.may_write || !still_writer || !cycle.git.ok() ||
      cut_short_) {
    return;
  }
  const Status& result = status.result;
  SyncReport report{cycle.commit->id,
                    cycle.commit->summary,
                    result.ok(),
                    result.ok() ? "" : result.message(),
                    {}};
  for (const JobStatus& job : status.jobs) {
    report.jobs.push_back({job.key.ToString(), job.health, job.last_error});
  }
  options_.notifier->SyncFinished(report);
}

void Reconciler::RememberQuiet(Cycle& cycle, const Status& result) {
  if (!result.ok() || !cycle.outcomes.empty() || cycle.plan.HasChanges() || !cycle.all_versioned ||
      cycle.handing_over) {
    return;
  }
  quiet_commit_ = cycle.commit->id;
  quiet_versions_ = std::move(cycle.versions);
  quiet_writer_ = cycle.may_write;
}

void Reconciler::RecordCycle(const Status& result, std::chrono::steady_clock::time_point start) {
  std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
  const char* name = result.ok() ? "ok" : "failed";
  metrics_.Add(kSyncRuns, {{"result", name}});
  metrics_.Observe(kSyncDuration, {{"result", name}}, took.count());
  if (result.ok()) RecordSuccess(metrics_);
  std::lock_guard<std::mutex> lock(mutex_);
  ++cycles_;
  ++status_revision_;
  status_["lastSync"] = {{"time", static_cast<int64_t>(std::time(nullptr))},
                         {"durationSeconds", took.count()},
                         {"result", name},
                         {"message", result.ok() ? "" : result.message()}};
  nlohmann::json git = {{"ok", git_status_.ok()}};
  if (!git_status_.ok()) git["error"] = git_status_.message();
  status_["git"] = git;
  nlohmann::json backends = nlohmann::json::object();
  for (const auto& [kind, status] : backend_status_) {
    nlohmann::json entry = {{"ok", status.ok()}};
    if (!status.ok()) entry["error"] = status.message();
    backends[kind.ToString()] = entry;
  }
  status_["backends"] = backends;
  status_["conditions"] =
      nlohmann::json::array({ReadyCondition(result, git_status_, backend_status_)});
  status_["lastAppliedRevision"] = state_.last_applied_revision;
  status_["lastAttemptedRevision"] = state_.last_attempted_revision;
  status_["writer"] = !options_.may_write || options_.may_write();
  if (options_.shard) {
    status_["shard"] = {{"index", options_.shard->index}, {"count", options_.shard->count}};
  }
  if (snapshot_) {
    status_["revision"] = CommitJson(snapshot_->commit);
  }
}

std::string Reconciler::ClusterName(const std::string& cluster) const {
  return cluster.empty() ? options_.default_cluster : cluster;
}

void Reconciler::NoteBackendTrouble(const Target& kind, const Status& status) {
  std::lock_guard<std::mutex> lock(mutex_);
  backend_status_[kind] = status;
  ++status_revision_;
  status_["backends"][kind.ToString()] = {{"ok", false}, {"error", status.message()}};
}

void Reconciler::Run() {
  std::mt19937 random(std::random_device{}());
  std::uniform_real_distribution<double> spread(1 - options_.jitter, 1 + options_.jitter);
  while (true) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (stopping_) return;
      triggered_ = false;
    }
    Status result = SyncOnce();
    if (!result.ok()) spdlog::debug("cycle: {}", result.message());
#ifdef __GLIBC__
    // A cycle that planned freed a plan, a listing and a status of every job; glibc keeps freed
    // memory in the arenas of the threads that used it (8 apply threads) unless asked to return
    // it. Quiet cycles allocate next to nothing and skip this.
    if (planned_) malloc_trim(0);
#endif
    planned_ = false;
    auto wait =
        std::chrono::duration_cast<std::chrono::milliseconds>(options_.interval * spread(random));
    std::unique_lock<std::mutex> lock(mutex_);
    // Changes the cycle itself made come back through the watch: they are not a reason to run
    // again.
    live_changed_ = false;
    wake_.wait_for(lock, wait, [this] { return stopping_ || triggered_ || live_changed_; });
    if (live_changed_ && !triggered_) {
      // Let a burst of watch events (a kubectl apply of many objects) settle into one cycle; a
      // webhook arriving meanwhile is not made to wait for it.
      wake_.wait_for(lock, options_.settle, [this] { return stopping_ || triggered_; });
    }
    if (triggered_ && !trigger_reason_.empty()) {
      spdlog::info("sync triggered: {}", trigger_reason_);
      trigger_reason_.clear();
    }
    only_live_changed_ = live_changed_ && !triggered_;
    live_changed_ = false;
  }
}

void Reconciler::Trigger(const std::string& why) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    triggered_ = true;
    trigger_reason_ = why;
  }
  wake_.notify_all();
}

void Reconciler::LiveChanged() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    live_changed_ = true;
  }
  wake_.notify_all();
}

void Reconciler::Stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
}

Readiness Reconciler::Ready() const {
  // Readiness is "can serve" (as Argo CD's and Flux's controllers answer it): a Git or cluster
  // outage would make every replica unready at once and take the status page, /metrics and the
  // webhooks out of service just when they are needed. Those failures are in the status's
  // conditions instead, and named here as detail ("ok; ray unavailable: ...").
  std::lock_guard<std::mutex> lock(mutex_);
  if (stopping_) return {false, "shutting down"};
  std::string reason = "ok";
  for (const auto& [kind, status] : backend_status_) {
    if (!status.ok())
      reason += std::string("; ") + kind.ToString() + " unavailable: " + status.message();
  }
  return {true, reason};
}

int64_t Reconciler::cycles() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return cycles_;
}

}  // namespace jobsync
