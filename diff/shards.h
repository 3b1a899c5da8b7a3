// Sharding (`jobsync run --shard INDEX/COUNT`): several agent replicas of one instance split the
// jobs of one repository, each planning and applying only the jobs of the shards it holds. Pure:
// no I/O. The agent's side (a Lease per shard, takeover) is in agent/cli/shard_units.h.
//
// Which shard a job falls to (ShardOf): the manifest's `jobsync.dev/shard` label, a decimal
// integer, modulo the count; else the FNV-1a hash of its namespace modulo the count, so that a
// namespace's jobs stay together. Changing the label moves a job between shards without touching
// it on the cluster (the label is not copied onto the objects; diff/field_rules.cc patches it).
//
// What a shard plans (SelectShard): its jobs in Git; the live jobs whose manifest falls to it, or,
// without a manifest, whose applied spec does (so that only one shard prunes a job); its
// inventory without the jobs Git now gives to another shard (those are neither pruned nor
// touched here: they wait for their new shard to take them over).
//
// A job moving between shards (HandOff) is never applied by two at once. Each shard's inventory
// is in its own state store, which every shard can read. The shard a job moved to adopts the
// entry (spec hash, revision, finished mark) from the inventory of the shard that has it, and
// holds every step of the job while that shard's inventory still has it; the old shard, once it
// plans a commit that gives the job away, stops touching it and drops it from its inventory as
// soon as the new shard's inventory has it (ReleaseForeign). A finished job so keeps its finished
// mark and does not run again in its new shard.
#ifndef JOBSYNC_DIFF_SHARDS_H_
#define JOBSYNC_DIFF_SHARDS_H_

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "domain/inventory.h"
#include "domain/live_job.h"
#include "domain/plan_step.h"
#include "schemas/loader.h"

namespace jobsync {

// One shard of `count`: jobs whose ShardOf is `index`.
struct ShardSpec {
  int index = 0;
  int count = 1;
  friend bool operator==(const ShardSpec&, const ShardSpec&) = default;
};

// "1/3" -> {1, 3}. Fails with kInvalidArgument, saying what is expected, unless INDEX and COUNT
// are decimal integers with 0 <= INDEX < COUNT <= 1024.
StatusOr<ShardSpec> ParseShardSpec(std::string_view text);

// 32-bit FNV-1a of `text`: the namespace hash (stable across versions and machines).
uint32_t Fnv1a32(std::string_view text);

// The shard of a job with these labels in this namespace, of `count` shards (see the header
// comment). A label that is not a decimal integer counts as absent (the loader rejects it).
int ShardOf(const std::string& namespace_name, const std::map<std::string, std::string>& labels,
            int count);
int ShardOf(const TrainingJob& job, int count);
// A live job's: its applied spec's, else its namespace's.
int ShardOf(const LiveJob& job, int count);

// The inputs of PlanSync for one shard. `foreign` holds the jobs Git gives to other shards
// (key -> their shard).
struct ShardView {
  LoadResult desired;
  std::map<JobKey, InventoryEntry> inventory;
  std::map<JobKey, int> foreign;
};

// The view of `shard` (see the header comment). Removes the live jobs of other shards from
// `live` (in place: the cycle owns them). Invalid jobs, unreadable files and diagnostics stay in
// every shard: they hold jobs back, which is harmless where a job is not.
ShardView SelectShard(const LoadResult& desired, std::vector<LiveJob>& live,
                      const std::map<JobKey, InventoryEntry>& inventory, const ShardSpec& shard);

// An inventory entry another shard's state holds.
struct ForeignEntry {
  int shard = 0;
  InventoryEntry entry;
};

// After planning `shard`: for each step of a job that `others` (the other shards' inventories)
// still hold, adopts the entry (into `adopted`, when `inventory` lacks it) and holds the step
// (action kNone, error set, the reason naming the shard it waits for). Returns the number of
// steps held.
int HandOff(std::vector<PlanStep>& steps, const std::multimap<JobKey, ForeignEntry>& others,
            const ShardSpec& shard, const std::map<JobKey, InventoryEntry>& inventory,
            std::map<JobKey, InventoryEntry>* adopted);

// Drops from `inventory` the jobs Git gives to other shards (`foreign`) that their new shard's
// inventory (`others`) has adopted. Returns the keys dropped.
std::vector<JobKey> ReleaseForeign(const std::map<JobKey, int>& foreign,
                                   const std::multimap<JobKey, ForeignEntry>& others,
                                   std::map<JobKey, InventoryEntry>* inventory);

}  // namespace jobsync

#endif  // JOBSYNC_DIFF_SHARDS_H_
