// `jobsync run`: the agent (reconciler.h) with its HTTP endpoints (http_server.h), state
// (state_store.h), leader election (leader_election.h) and the standby's wake relay
// (wake_relay.h), webhooks, notifications (notifier.h) and signal handling; and
// `jobsync status`, which prints a running agent's /api/v1/status as a table.
//
// Shutdown: SIGTERM or SIGINT stops the loop after the step in flight (the executor asks between
// steps), releases the Lease, stops the server and exits 0.
#ifndef JOBSYNC_AGENT_CLI_RUN_COMMAND_H_
#define JOBSYNC_AGENT_CLI_RUN_COMMAND_H_

#include <optional>
#include <ostream>
#include <string>

#include <nlohmann/json.hpp>

#include "agent/cli/git_flags.h"
#include "agent/sync/clusters.h"
#include "agent/sync/notifier.h"

namespace CLI {
class App;
}  // namespace CLI

namespace jobsync {

class RunCommands {
 public:
  void Register(CLI::App& app);
  // The exit code of the command that was parsed, or nullopt when none of these was.
  std::optional<int> RunParsed(std::ostream& out, std::ostream& err);

 private:
  int RunAgent(std::ostream& out, std::ostream& err);
  int RunStatus(std::ostream& out, std::ostream& err);
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
  std::string identity_;
  std::string webhook_secret_file_;
  std::string webhook_secret_env_ = "JOBSYNC_WEBHOOK_SECRET";
  std::string dependency_timeout_ = "10m";
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

  std::string server_ = "http://127.0.0.1:8080";
  std::string status_output_ = "table";
};

// The table `jobsync status` prints for a status document (pure; for tests).
std::string FormatStatusTable(const nlohmann::json& status);

}  // namespace jobsync

#endif  // JOBSYNC_AGENT_CLI_RUN_COMMAND_H_
