// `jobsync run`: the agent (reconciler.h) with its HTTP endpoints (http_server.h), state
// (backends/state_store.h), leader election (backends/leader_election.h) and the standby's wake
// relay (backends/wake_relay.h), webhooks, notifications (notifier.h) and signal handling; and
// `jobsync status`, which prints a running agent's /api/v1/status as a table. The parts that
// touch a cluster come from the wiring (wiring.h).
//
// Shutdown: SIGTERM or SIGINT stops the loop after the step in flight (the executor asks between
// steps), releases the Lease, stops the server and exits 0.
#ifndef JOBSYNC_AGENT_CLI_RUN_COMMAND_H_
#define JOBSYNC_AGENT_CLI_RUN_COMMAND_H_

#include <chrono>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "agent/cli/cluster_flags.h"
#include "agent/cli/git_flags.h"
#include "agent/cli/wiring.h"
#include "agent/server/http_server.h"
#include "agent/server/webhook.h"
#include "agent/sync/notifier.h"
#include "agent/sync/reconciler.h"
#include "backends/leader_election.h"
#include "backends/wake_relay.h"

namespace CLI {
class App;
}  // namespace CLI

namespace jobsync {

struct AgentParts;
class Shards;

class RunCommands {
 public:
  void Register(CLI::App& app);
  // The exit code of the command that was parsed, or nullopt when none of these was.
  std::optional<int> RunParsed(std::ostream& out, std::ostream& err);

 private:
  // The durations the flags give, parsed.
  struct RunSettings {
    std::chrono::milliseconds interval{0};
    std::chrono::milliseconds lease_duration{0};
    std::chrono::milliseconds dependency_timeout{0};
    std::chrono::milliseconds backend_timeout{0};
    std::chrono::milliseconds sync_timeout{0};
  };

  // The flags of `run`, by group.
  void AddAgentFlags();
  void AddHighAvailabilityFlags();
  void AddWebhookFlags();
  void AddNotificationFlags();
  void AddLoggingFlags();

  int RunAgent(std::ostream& out, std::ostream& err);
  int RunStatus(std::ostream& out, std::ostream& err);

  // The steps of RunAgent, in order. Configure: the --config file, logging, the durations.
  StatusOr<RunSettings> Configure();
  // The webhook secret; registers it and the Git token as secrets, so no log line carries them.
  StatusOr<std::string> ReadSecrets() const;
  // Builds every part (the steps below), in the order AgentParts lists them.
  Status BuildAgent(const RunSettings& settings, AgentParts& parts);
  // The backends (wiring.h), wrapped for metrics.
  void ConnectBackends(AgentParts& parts) const;
  // Leader election and the wake relay from the High availability flags.
  StatusOr<ElectionSettings> ElectionSettingsFor(const RunSettings& settings) const;
  Status BuildElection(const RunSettings& settings, AgentParts& parts) const;
  // The notifier, when the Notifications flags configure one.
  Status StartNotifier(const NotifierOptions& notify, AgentParts& parts) const;
  // With --shard: a state store and an election per shard, and the terms' factory
  // (run_shards.cc; agent/cli/shards.h).
  Status BuildShards(const RunSettings& settings, AgentParts& parts) const;
  // What every reconciler is told, from the flags.
  ReconcilerOptions ReconcilerOptionsFor(const RunSettings& settings, AgentParts& parts) const;
  // The reconciler, its state loaded, woken by live changes.
  Status BuildReconciler(const RunSettings& settings, AgentParts& parts) const;
  // What the HTTP endpoints answer.
  HttpHandlers Handlers(AgentParts& parts) const;
  // After a webhook was checked: logs it, triggers a cycle, and on a standby wakes the leader.
  static WebhookResult OnWebhook(AgentParts& parts, WebhookResult result, WebhookKind kind);
  // Serves the endpoints, campaigns, and runs cycles until a signal stops the reconciler.
  Status Serve(AgentParts& parts) const;
  // The notifier's settings from the Notifications flags (reads and registers the secrets).
  StatusOr<NotifierOptions> NotifierFromFlags() const;

  CLI::App* run_ = nullptr;
  CLI::App* status_ = nullptr;

  GitFlags git_;
  ClusterFlags cluster_;
  std::string config_file_;
  std::string interval_ = "30s";
  std::string listen_ = "127.0.0.1:8080";
  std::string drift_ = "heal";
  std::string state_;
  bool leader_elect_ = false;
  std::string lease_namespace_;
  std::string lease_name_;
  std::string lease_duration_ = "15s";
  std::string shard_;
  std::string identity_;
  std::string webhook_secret_file_;
  std::string webhook_secret_env_ = "JOBSYNC_WEBHOOK_SECRET";
  std::string dependency_timeout_ = "10m";
  std::string backend_timeout_ = "30s";
  std::string sync_timeout_ = "10m";
  std::string status_provider_;
  std::string status_api_url_;
  std::string status_repo_;
  std::string status_token_file_;
  std::string status_context_;
  std::string status_target_url_;
  std::string status_ca_file_;
  std::string notify_webhook_url_file_;
  std::string log_format_ = "text";
  std::string log_level_ = "info";
  bool once_ = false;

  std::vector<std::string> servers_ = {"http://127.0.0.1:8080"};
  std::string status_output_ = "table";
};

// After a webhook that asks for a sync (result.trigger) reached a standby (`elector` does not
// lead): asks the leader to sync through `relay` and says so in the message; when the request
// cannot be sent, answers 503 so that the Git host redelivers. Unchanged on the leader, and for a
// webhook that asks for nothing.
WebhookResult RelayToLeader(WebhookResult result, const LeaderElector& elector, WakeRelay& relay);

// After a webhook that asks for a sync reached a sharded agent: the shards led here sync, the
// others' leaders are woken; 503 (redeliver) when one could not be.
WebhookResult TriggerShards(WebhookResult result, Shards& shards, WebhookKind kind);

// The table `jobsync status` prints for a status document (pure; for tests).
std::string FormatStatusTable(const nlohmann::json& status);

}  // namespace jobsync

#endif  // JOBSYNC_AGENT_CLI_RUN_COMMAND_H_
