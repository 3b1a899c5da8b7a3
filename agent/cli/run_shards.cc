// `jobsync run --shard INDEX/COUNT`: the sharded agent's parts (agent/cli/shards.h).
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "agent/cli/agent_parts.h"
#include "agent/cli/run_command.h"
#include "common/logging.h"

namespace jobsync {

Status RunCommands::BuildShards(const RunSettings& settings, AgentParts& parts) const {
  StatusOr<ShardSpec> own = ParseShardSpec(shard_);
  if (!own.ok()) return own.status();
  JOBSYNC_RETURN_IF_ERROR(RequireKubernetes(
      parts.clusters, "--shard needs a Kubernetes cluster for its Leases (one per shard)"));
  StatusOr<ElectionSettings> election = ElectionSettingsFor(settings);
  if (!election.ok()) return election.status();
  // Each shard's state beside the one the agent would keep unsharded.
  const std::string base = StateLocation(state_, cluster_.instance, PodNamespace(), parts.clusters);
  std::vector<std::unique_ptr<StateStore>> stores;
  for (int i = 0; i < own->count; ++i) {
    StatusOr<std::unique_ptr<StateStore>> store = OpenStateStore(
        ShardStateLocation(base, i), cluster_.instance, PodNamespace(), parts.clusters);
    if (!store.ok()) return store.status();
    stores.push_back(std::move(*store));
  }
  ShardFactories factories;
  factories.make_election = [this, &parts, election = *election](
                                int shard, Candidacy candidacy, std::function<void(bool)> on_change,
                                std::function<void(const std::string&)> on_wake) {
    ElectionSettings mine = election;
    mine.lease_name = election.lease_name + "-shard-" + std::to_string(shard);
    mine.candidacy = candidacy;
    return NewElection(cluster_, parts.clusters, mine, std::move(on_change), std::move(on_wake));
  };
  const ReconcilerOptions options = ReconcilerOptionsFor(settings, parts);
  factories.make_term = [this, &parts, options](
                            const ShardSpec& shard, StateStore& store, Metrics& metrics,
                            std::function<bool()> may_write,
                            std::function<StatusOr<std::multimap<JobKey, ForeignEntry>>()> others)
      -> StatusOr<ShardTerm> {
    // A Git cache of its own: two sources never share one.
    GitSourceOptions git_options = ToGitSourceOptions(git_);
    git_options.cache_root =
        (git_options.cache_root.empty() ? DefaultGitCacheRoot() : git_options.cache_root) +
        "/shard-" + std::to_string(shard.index);
    StatusOr<std::unique_ptr<GitSource>> git = NewGitSource(git_options, parts.validator);
    if (!git.ok()) return git.status();
    ShardTerm term;
    term.git = std::move(*git);
    ReconcilerOptions mine = options;
    mine.may_write = std::move(may_write);
    mine.shard = shard;
    mine.other_shards = std::move(others);
    term.reconciler = std::make_unique<Reconciler>(
        *term.git, parts.backends, parts.clusters.unconfigured, store, metrics, std::move(mine));
    return term;
  };
  parts.shards = std::make_unique<Shards>(*own, std::move(stores), std::move(factories));
  // Live changes wake the shards led here; ~AgentParts removes the listener before the shards go.
  for (LiveChangeSource* source : parts.clusters.live_changes) {
    source->SetChangeListener([&parts] { parts.shards->LiveChanged(); });
  }
  LogEvent(spdlog::level::info, "sharded",
           {{"shard", std::to_string(own->index)},
            {"count", std::to_string(own->count)},
            {"leases", election->namespace_name + "/" + election->lease_name + "-shard-<i>"},
            {"state", ShardStateLocation(base, own->index)}});
  return OkStatus();
}

WebhookResult TriggerShards(WebhookResult result, Shards& shards, WebhookKind kind) {
  Status woken = shards.Trigger(std::string("webhook ") + WebhookKindName(kind));
  if (woken.ok()) return result;
  result.http_status = 503;
  result.message += "; but the leader of " + woken.message() + ": redeliver";
  return result;
}

}  // namespace jobsync
