// `jobsync run --shard INDEX/COUNT`: the agent's side of sharding (diff/shards.h says which jobs a
// shard plans and how a job moving between shards is handed over).
//
// Every replica runs one unit per shard, each a candidate for that shard's own Lease
// (<lease name>-shard-<i>). A replica is its own shard's preferred candidate and a stand-in for
// the others (backends/kubernetes/lease_election.h): the shard's own replica leads it while it
// lives; when it dies, a stand-in takes the shard over within the lease duration; when it comes
// back, it claims the Lease and the stand-in hands the shard back at its next renewal.
//
// A unit runs its shard only while it leads: on becoming leader it makes a term (a Git source and
// a Reconciler planning that shard, whose state it loads from the shard's own state store) and
// runs its cycles; on losing the Lease it stops the term after the step in flight. Each shard has
// its own state store (inventory, revisions), metrics (series labelled shard="i"), mass-delete
// guard (its plan holds only its jobs) and status (jobs labelled with their shard; the status
// document lists every shard and who holds it). Thread-safe.
#ifndef JOBSYNC_AGENT_CLI_SHARDS_H_
#define JOBSYNC_AGENT_CLI_SHARDS_H_

#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "agent/cli/wiring.h"
#include "agent/git/git_source.h"
#include "agent/sync/reconciler.h"
#include "backends/state_store.h"
#include "common/metrics.h"
#include "common/readiness.h"
#include "diff/shards.h"

namespace jobsync {

// One term of a shard: what runs it while its unit leads. The reconciler goes before the source.
struct ShardTerm {
  std::unique_ptr<GitSource> git;
  std::unique_ptr<Reconciler> reconciler;
};

// How the agent makes a shard's parts. MakeElection: the shard's election (its callbacks given);
// MakeTerm: a term for `shard` with its state store and metrics, writing while `may_write` and
// reading the other shards' inventories through `others` (ReconcilerOptions::other_shards).
struct ShardFactories {
  std::function<StatusOr<std::unique_ptr<Election>>(
      int shard, Candidacy candidacy, std::function<void(bool)> on_change,
      std::function<void(const std::string&)> on_wake)>
      make_election;
  std::function<StatusOr<ShardTerm>(
      const ShardSpec& shard, StateStore& store, Metrics& metrics, std::function<bool()> may_write,
      std::function<StatusOr<std::multimap<JobKey, ForeignEntry>>()> others)>
      make_term;
};

class Shards {
 public:
  // `stores[i]` is shard i's state store; there are own.count of them.
  Shards(ShardSpec own, std::vector<std::unique_ptr<StateStore>> stores, ShardFactories factories);
  ~Shards();
  Shards(const Shards&) = delete;
  Shards& operator=(const Shards&) = delete;

  // Makes every shard's election and starts campaigning; fails as an election cannot be made.
  Status Start();
  // Stops every term after its step in flight, then the elections (releasing the Leases held).
  // Idempotent; a second caller returns once the first is done.
  void Stop();
  // Waits until Stop() is done.
  void Wait();

  // A webhook: the shards led here sync now; the others' leaders are woken through their Lease.
  // Fails (the sender should redeliver) when a shard's leader could not be woken.
  Status Trigger(const std::string& why);
  // A live change: the shards led here sync soon.
  void LiveChanged();

  // {"shards": [{"index", "holder", "leading", "lastSync"...}], "jobs": [every led shard's jobs,
  // each with "shard"], ...}: the merged status of the shards led here (what the status page and
  // `jobsync status` read; `jobsync status --server A --server B` merges replicas).
  nlohmann::json StatusJson() const;
  // Changes whenever StatusJson() may have changed (a term started or ended, a shard's status
  // revision, its leader): for the jobs API's cache.
  std::string StatusVersion() const;
  // Reconciler::JobDetail from the shard led here that planned `key`, with "shard" (its index);
  // nullopt when none did.
  std::optional<nlohmann::json> JobDetail(const std::string& key) const;
  Readiness Ready() const;
  // Every shard's metrics, labelled shard="i", after `process`'s.
  std::string RenderMetrics(const Metrics& process) const;

  // Every other shard's inventory: what ReconcilerOptions::other_shards reads.
  StatusOr<std::multimap<JobKey, ForeignEntry>> ReadOthers(int shard) const;

 private:
  struct Unit;
  void RunUnit(Unit& unit);

  const ShardSpec own_;
  const std::vector<std::unique_ptr<StateStore>> stores_;
  const ShardFactories factories_;
  std::vector<std::unique_ptr<Unit>> units_;

  mutable std::mutex mutex_;
  std::condition_variable stopped_;
  bool stopping_ = false;
  bool stopped_done_ = false;
};

// The state store of shard `index`: `base`'s document beside it, its name suffixed "-shard-<i>"
// (a file "state.json" -> "state-shard-1.json"; a ConfigMap "ns/name" -> "ns/name-shard-1").
std::string ShardStateLocation(const std::string& base, int index);

// The status documents of several replicas (`jobsync status --server A --server B`) as one: every
// shard's jobs once, from the replica that leads it.
nlohmann::json MergeShardStatus(const std::vector<nlohmann::json>& replicas);

}  // namespace jobsync

#endif  // JOBSYNC_AGENT_CLI_SHARDS_H_
