#include "agent/cli/shards.h"

#include <algorithm>
#include <set>
#include <utility>

#include "common/logging.h"

namespace jobsync {

struct Shards::Unit {
  int index = 0;
  Metrics metrics;
  std::unique_ptr<Election> election;
  std::thread thread;

  // Under mutex: the term while one runs, and whether the Lease is held.
  mutable std::mutex mutex;
  std::condition_variable changed;
  bool leading = false;
  bool stopping = false;
  Reconciler* reconciler = nullptr;
  nlohmann::json last_status = nlohmann::json::object();  // why the last term did not start
  uint64_t changes = 0;  // how often `reconciler` or `last_status` changed (StatusVersion)
};

Shards::Shards(ShardSpec own, std::vector<std::unique_ptr<StateStore>> stores,
               ShardFactories factories)
    : own_(own), stores_(std::move(stores)), factories_(std::move(factories)) {}

Shards::~Shards() { Stop(); }

Status Shards::Start() {
  for (int i = 0; i < own_.count; ++i) {
    auto unit = std::make_unique<Unit>();
    unit->index = i;
    Unit* raw = unit.get();
    auto on_change = [raw](bool leader) {
      LogEvent(spdlog::level::info, leader ? "shard acquired" : "shard released",
               {{"shard", std::to_string(raw->index)}});
      std::lock_guard<std::mutex> lock(raw->mutex);
      raw->leading = leader;
      // Losing the Lease ends the term after the step in flight (the reconciler asks may_write
      // before each write, so nothing is written meanwhile).
      if (!leader && raw->reconciler != nullptr) raw->reconciler->Stop();
      raw->changed.notify_all();
    };
    auto on_wake = [raw](const std::string& request) {
      std::lock_guard<std::mutex> lock(raw->mutex);
      if (raw->reconciler != nullptr) {
        raw->reconciler->Trigger("webhook received by another replica (" + request + ")");
      }
    };
    StatusOr<std::unique_ptr<Election>> election = factories_.make_election(
        i, i == own_.index ? Candidacy::kPreferred : Candidacy::kStandIn, on_change, on_wake);
    if (!election.ok()) return election.status();
    unit->election = std::move(*election);
    units_.push_back(std::move(unit));
  }
  for (auto& unit : units_) {
    JOBSYNC_RETURN_IF_ERROR(unit->election->relay->Start());
    unit->thread = std::thread(&Shards::RunUnit, this, std::ref(*unit));
    JOBSYNC_RETURN_IF_ERROR(unit->election->elector->Start());
  }
  return OkStatus();
}

void Shards::RunUnit(Unit& unit) {
  const ShardSpec shard{unit.index, own_.count};
  while (true) {
    {
      std::unique_lock<std::mutex> lock(unit.mutex);
      unit.changed.wait(lock, [&] { return unit.stopping || unit.leading; });
      if (unit.stopping) return;
    }
    LeaderElector& elector = *unit.election->elector;
    StatusOr<ShardTerm> term = factories_.make_term(
        shard, *stores_[unit.index], unit.metrics, [&elector] { return elector.is_leader(); },
        [this, index = unit.index] { return ReadOthers(index); });
    Status started = term.ok() ? term->reconciler->Start() : term.status();
    if (!started.ok()) {
      LogEvent(spdlog::level::err, "shard not started",
               {{"shard", std::to_string(unit.index)}, {"error", started.message()}});
      // Tried again while the Lease is held; the failure shows in the status meanwhile.
      std::unique_lock<std::mutex> lock(unit.mutex);
      unit.last_status = {{"lastSync", {{"result", "failed"}, {"message", started.message()}}}};
      ++unit.changes;
      unit.changed.wait_for(lock, std::chrono::seconds(5), [&] { return unit.stopping; });
      continue;
    }
    {
      std::lock_guard<std::mutex> lock(unit.mutex);
      if (unit.stopping || !unit.leading) continue;
      unit.reconciler = term->reconciler.get();
      ++unit.changes;
    }
    term->reconciler->Run();
    std::lock_guard<std::mutex> lock(unit.mutex);
    unit.last_status = nlohmann::json::object();
    unit.reconciler = nullptr;
    ++unit.changes;
  }
}

void Shards::Stop() {
  {
    std::unique_lock<std::mutex> lock(mutex_);
    if (stopping_) {  // a second caller waits for the first
      stopped_.wait(lock, [this] { return stopped_done_; });
      return;
    }
    stopping_ = true;
  }
  for (auto& unit : units_) {
    std::lock_guard<std::mutex> lock(unit->mutex);
    unit->stopping = true;
    if (unit->reconciler != nullptr) unit->reconciler->Stop();
    unit->changed.notify_all();
  }
  for (auto& unit : units_) {
    if (unit->thread.joinable()) unit->thread.join();
  }
  // After the terms: a Lease is released only once its shard writes nothing more.
  for (auto& unit : units_) {
    unit->election->relay->Stop();
    unit->election->elector->Stop();
  }
  std::lock_guard<std::mutex> lock(mutex_);
  stopped_done_ = true;
  stopped_.notify_all();
}

void Shards::Wait() {
  std::unique_lock<std::mutex> lock(mutex_);
  stopped_.wait(lock, [this] { return stopped_done_; });
}

Status Shards::Trigger(const std::string& why) {
  Status result = OkStatus();
  for (auto& unit : units_) {
    {
      std::lock_guard<std::mutex> lock(unit->mutex);
      if (unit->reconciler != nullptr) {
        unit->reconciler->Trigger(why);
        continue;
      }
    }
    Status woken = unit->election->relay->RequestWake();
    // No Lease yet: nobody runs the shard, nobody to wake.
    if (!woken.ok() && woken.code() != StatusCode::kNotFound && result.ok()) {
      result =
          Status(woken.code(), "shard " + std::to_string(unit->index) + ": " + woken.message());
    }
  }
  return result;
}

void Shards::LiveChanged() {
  for (auto& unit : units_) {
    std::lock_guard<std::mutex> lock(unit->mutex);
    if (unit->reconciler != nullptr) unit->reconciler->LiveChanged();
  }
}

nlohmann::json Shards::StatusJson() const {
  nlohmann::json merged = nlohmann::json::object();
  nlohmann::json jobs = nlohmann::json::array();
  nlohmann::json shards = nlohmann::json::array();
  for (const auto& unit : units_) {
    const LeaderElector& elector = *unit->election->elector;
    nlohmann::json entry = {{"index", unit->index},
                            {"holder", elector.holder()},
                            {"leading", elector.is_leader()},
                            {"own", unit->index == own_.index}};
    nlohmann::json status;
    {
      std::lock_guard<std::mutex> lock(unit->mutex);
      if (unit->reconciler == nullptr) {
        // Not run here; a term that could not start says why.
        if (unit->last_status.contains("lastSync"))
          entry["lastSync"] = unit->last_status["lastSync"];
        shards.push_back(std::move(entry));
        continue;
      }
      status = unit->reconciler->StatusJson();
    }
    for (const char* field : {"lastSync", "revision", "lastAppliedRevision", "conditions"}) {
      if (status.contains(field)) entry[field] = status[field];
    }
    for (nlohmann::json& job : status["jobs"]) {
      job["shard"] = unit->index;
      jobs.push_back(std::move(job));
    }
    status.erase("jobs");
    status.erase("shard");
    // The first led shard's view of Git, the backends and the plan stands for the replica's.
    if (merged.empty()) merged = std::move(status);
    shards.push_back(std::move(entry));
  }
  merged["shards"] = std::move(shards);
  merged["shardCount"] = own_.count;
  merged["ownShard"] = own_.index;
  merged["jobs"] = std::move(jobs);
  merged["writer"] = std::any_of(merged["shards"].begin(), merged["shards"].end(),
                                 [](const nlohmann::json& s) { return s.value("leading", false); });
  return merged;
}

std::string Shards::StatusVersion() const {
  std::string version;
  for (const auto& unit : units_) {
    // The elector is asked outside the unit's lock, which its callbacks take.
    const LeaderElector& elector = *unit->election->elector;
    version += std::to_string(unit->index) + ':' + (elector.is_leader() ? '1' : '0') + ':' +
               elector.holder() + ':';
    std::lock_guard<std::mutex> lock(unit->mutex);
    version += std::to_string(unit->changes) + ':' +
               (unit->reconciler ? std::to_string(unit->reconciler->StatusRevision()) : "-") + ';';
  }
  return version;
}

std::optional<nlohmann::json> Shards::JobDetail(const std::string& key) const {
  for (const auto& unit : units_) {
    std::lock_guard<std::mutex> lock(unit->mutex);
    if (unit->reconciler == nullptr) continue;
    std::optional<nlohmann::json> detail = unit->reconciler->JobDetail(key);
    if (!detail) continue;
    (*detail)["shard"] = unit->index;
    return detail;
  }
  return std::nullopt;
}

Readiness Shards::Ready() const {
  std::lock_guard<std::mutex> lock(mutex_);
  if (stopping_) return {false, "stopping"};
  return {true, "ok"};
}

std::string Shards::RenderMetrics(const Metrics& process) const {
  std::vector<std::pair<const Metrics*, MetricLabels>> registries = {{&process, {}}};
  for (const auto& unit : units_) {
    registries.push_back({&unit->metrics, {{"shard", std::to_string(unit->index)}}});
  }
  return Metrics::RenderAll(registries);
}

StatusOr<std::multimap<JobKey, ForeignEntry>> Shards::ReadOthers(int shard) const {
  std::multimap<JobKey, ForeignEntry> others;
  for (int i = 0; i < static_cast<int>(stores_.size()); ++i) {
    if (i == shard) continue;
    StatusOr<AgentState> state = stores_[i]->Load();
    if (!state.ok()) {
      return Status(state.status().code(), "shard " + std::to_string(i) + " (" +
                                               stores_[i]->Describe() +
                                               "): " + state.status().message());
    }
    for (auto& [key, entry] : state->inventory) others.emplace(key, ForeignEntry{i, entry});
  }
  return others;
}

std::string ShardStateLocation(const std::string& base, int index) {
  const std::string suffix = "-shard-" + std::to_string(index);
  if (base.rfind("configmap:", 0) == 0) return base + suffix;
  const size_t slash = base.find_last_of('/');
  const size_t dot = base.find_last_of('.');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash) || dot == 0 ||
      (slash != std::string::npos && dot == slash + 1)) {
    return base + suffix;
  }
  return base.substr(0, dot) + suffix + base.substr(dot);
}

nlohmann::json MergeShardStatus(const std::vector<nlohmann::json>& replicas) {
  nlohmann::json merged = replicas.empty() ? nlohmann::json::object() : replicas.front();
  std::map<int, nlohmann::json> shards;  // index -> its entry, from the replica leading it
  std::map<int, size_t> leader;          // index -> that replica
  for (size_t r = 0; r < replicas.size(); ++r) {
    for (const nlohmann::json& shard : replicas[r].value("shards", nlohmann::json::array())) {
      const int index = shard.value("index", -1);
      const bool leading = shard.value("leading", false);
      if (leading && leader.count(index) == 0) leader[index] = r;
      if (shards.count(index) == 0 || (leading && leader[index] == r)) shards[index] = shard;
    }
  }
  nlohmann::json jobs = nlohmann::json::array();
  for (size_t r = 0; r < replicas.size(); ++r) {
    for (const nlohmann::json& job : replicas[r].value("jobs", nlohmann::json::array())) {
      auto led = leader.find(job.value("shard", -1));
      if (led != leader.end() && led->second == r) jobs.push_back(job);
    }
  }
  std::sort(jobs.begin(), jobs.end(), [](const nlohmann::json& a, const nlohmann::json& b) {
    return a.value("key", "") < b.value("key", "");
  });
  nlohmann::json list = nlohmann::json::array();
  for (auto& [index, shard] : shards) list.push_back(std::move(shard));
  merged["shards"] = std::move(list);
  merged["jobs"] = std::move(jobs);
  return merged;
}

}  // namespace jobsync
