#include "diff/shards.h"

#include <algorithm>
#include <charconv>

namespace jobsync {
namespace {

constexpr int kMaxShards = 1024;

// A decimal integer without sign or spaces, or nullopt.
std::optional<int64_t> DecimalValue(std::string_view text) {
  if (text.empty() || text.size() > 18) return std::nullopt;
  int64_t value = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size() || value < 0) return std::nullopt;
  return value;
}

// The valid desired job with `key`, or null; `jobs` are ordered by key.
const TrainingJob* FindDesired(const std::vector<std::shared_ptr<const TrainingJob>>& jobs,
                               const JobKey& key) {
  auto it = std::lower_bound(jobs.begin(), jobs.end(), key,
                             [](const std::shared_ptr<const TrainingJob>& job, const JobKey& k) {
                               return job->key() < k;
                             });
  return it != jobs.end() && (*it)->key() == key ? it->get() : nullptr;
}

}  // namespace

StatusOr<ShardSpec> ParseShardSpec(std::string_view text) {
  const size_t slash = text.find('/');
  std::optional<int64_t> index, count;
  if (slash != std::string_view::npos) {
    index = DecimalValue(text.substr(0, slash));
    count = DecimalValue(text.substr(slash + 1));
  }
  if (!index || !count || *count < 1 || *count > kMaxShards || *index >= *count) {
    return InvalidArgumentError("--shard '" + std::string(text) +
                                "': expected INDEX/COUNT with 0 <= INDEX < COUNT <= " +
                                std::to_string(kMaxShards) + ", e.g. --shard 0/3");
  }
  return ShardSpec{static_cast<int>(*index), static_cast<int>(*count)};
}

uint32_t Fnv1a32(std::string_view text) {
  uint32_t hash = 2166136261u;
  for (unsigned char c : text) {
    hash ^= c;
    hash *= 16777619u;
  }
  return hash;
}

int ShardOf(const std::string& namespace_name, const std::map<std::string, std::string>& labels,
            int count) {
  if (count <= 1) return 0;
  auto label = labels.find(kShardLabel);
  if (label != labels.end()) {
    if (std::optional<int64_t> value = DecimalValue(label->second)) {
      return static_cast<int>(*value % count);
    }
  }
  return static_cast<int>(Fnv1a32(namespace_name) % static_cast<uint32_t>(count));
}

int ShardOf(const TrainingJob& job, int count) {
  return ShardOf(job.namespace_name, job.labels, count);
}

int ShardOf(const LiveJob& job, int count) {
  if (job.applied) return ShardOf(*job.applied, count);
  return ShardOf(job.key.namespace_name, {}, count);
}

ShardView SelectShard(const LoadResult& desired, std::vector<LiveJob>& live,
                      const std::map<JobKey, InventoryEntry>& inventory, const ShardSpec& shard) {
  ShardView view;
  view.desired.invalid_jobs = desired.invalid_jobs;
  view.desired.unreadable_files = desired.unreadable_files;
  view.desired.diagnostics = desired.diagnostics;
  view.desired.warnings = desired.warnings;
  for (const std::shared_ptr<const TrainingJob>& job : desired.jobs) {
    const int owner = ShardOf(*job, shard.count);
    if (owner == shard.index) {
      view.desired.jobs.push_back(job);
    } else {
      view.foreign.emplace(job->key(), owner);
    }
  }
  std::erase_if(live, [&](const LiveJob& job) {
    const TrainingJob* wanted = FindDesired(desired.jobs, job.key);
    return (wanted != nullptr ? ShardOf(*wanted, shard.count) : ShardOf(job, shard.count)) !=
           shard.index;
  });
  for (const auto& [key, entry] : inventory) {
    if (view.foreign.count(key) == 0) view.inventory.emplace(key, entry);
  }
  return view;
}

int HandOff(std::vector<PlanStep>& steps, const std::multimap<JobKey, ForeignEntry>& others,
            const ShardSpec& shard, const std::map<JobKey, InventoryEntry>& inventory,
            std::map<JobKey, InventoryEntry>* adopted) {
  int held = 0;
  for (PlanStep& step : steps) {
    auto [first, last] = others.equal_range(step.key);
    if (first == last) continue;
    if (inventory.count(step.key) == 0) adopted->try_emplace(step.key, first->second.entry);
    if (step.action == Action::kNone) continue;
    step.reason = "waiting for shard " + std::to_string(first->second.shard) +
                  " to let this job go: Git gives it to shard " + std::to_string(shard.index) +
                  ", which carries out the " + ActionName(step.action) + " once shard " +
                  std::to_string(first->second.shard) + " no longer holds it";
    step.action = Action::kNone;
    step.error = true;
    step.changes.clear();
    ++held;
  }
  return held;
}

std::vector<JobKey> ReleaseForeign(const std::map<JobKey, int>& foreign,
                                   const std::multimap<JobKey, ForeignEntry>& others,
                                   std::map<JobKey, InventoryEntry>* inventory) {
  std::vector<JobKey> released;
  for (auto it = inventory->begin(); it != inventory->end();) {
    auto moved = foreign.find(it->first);
    bool adopted = false;
    if (moved != foreign.end()) {
      auto [first, last] = others.equal_range(it->first);
      adopted = std::any_of(first, last, [&](const std::pair<const JobKey, ForeignEntry>& other) {
        return other.second.shard == moved->second;
      });
    }
    if (adopted) {
      released.push_back(it->first);
      it = inventory->erase(it);
    } else {
      ++it;
    }
  }
  return released;
}

}  // namespace jobsync
