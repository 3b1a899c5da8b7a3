// What `jobsync run` is made of (run_command.cc builds it; run_shards.cc the sharded variant).
// Private to agent/cli.
#ifndef JOBSYNC_AGENT_CLI_AGENT_PARTS_H_
#define JOBSYNC_AGENT_CLI_AGENT_PARTS_H_

#include <memory>
#include <string>
#include <vector>

#include "agent/cli/shards.h"
#include "agent/cli/wiring.h"
#include "agent/git/git_source.h"
#include "agent/sync/instrumented_backend.h"
#include "agent/sync/notifier.h"
#include "agent/sync/reconciler.h"
#include "backends/live_changes.h"
#include "backends/state_store.h"
#include "common/metrics.h"
#include "schemas/schema_validator.h"

namespace jobsync {

// The agent's parts, in the order they are built; they go in reverse, so each outlives what uses
// it. The destructor first silences what calls back into the reconciler from other threads.
struct AgentParts {
  AgentParts() = default;
  ~AgentParts() {
    if (shards) shards->Stop();
    if (election) election->relay->Stop();
    for (LiveChangeSource* source : clusters.live_changes) source->SetChangeListener(nullptr);
    if (election) election->elector->Stop();
  }
  AgentParts(const AgentParts&) = delete;
  AgentParts& operator=(const AgentParts&) = delete;

  std::string webhook_secret;
  SchemaValidator validator;
  std::unique_ptr<GitSource> git;
  Metrics metrics;
  Clusters clusters;
  std::vector<std::unique_ptr<InstrumentedBackend>> wrapped;  // for metrics
  std::vector<Backend*> backends;                             // the wrapped ones
  std::unique_ptr<StateStore> store;
  std::unique_ptr<HttpNotifier> notifier;  // null unless configured
  std::unique_ptr<Election> election;      // null without --leader-elect
  std::unique_ptr<Reconciler> reconciler;  // null with --shard
  std::unique_ptr<Shards> shards;  // with --shard (shards.h): the shards' terms and elections
};

}  // namespace jobsync

#endif  // JOBSYNC_AGENT_CLI_AGENT_PARTS_H_
