// `jobsync status`: a running agent's status document (several, merged, for the replicas of a
// sharded agent) printed as a table or as JSON.
#include <algorithm>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "agent/cli/cli.h"
#include "agent/cli/run_command.h"
#include "agent/cli/shards.h"
#include "backends/http_client.h"

namespace jobsync {
namespace {

std::string ReplicaText(const nlohmann::json& replicas) {
  if (!replicas.is_object() || replicas.empty()) return "-";
  std::string out;
  for (const auto& [role, count] : replicas.items()) {
    if (!out.empty()) out += ",";
    out += role + "=" + count.dump();
  }
  return out;
}

std::string Text(const nlohmann::json& document, const char* key, const std::string& fallback) {
  auto found = document.find(key);
  if (found == document.end() || !found->is_string() || found->get<std::string>().empty()) {
    return fallback;
  }
  return found->get<std::string>();
}

// "shards: 0 led by a, 1 led by b\n" for a sharded agent's status; "" otherwise.
std::string ShardsText(const nlohmann::json& shards) {
  if (!shards.is_array() || shards.empty()) return "";
  std::string out = "shards:";
  for (const nlohmann::json& shard : shards) {
    const std::string holder = Text(shard, "holder", "");
    out += " " + std::to_string(shard.value("index", -1)) +
           (holder.empty() ? " (no holder)" : " led by " + holder) + ",";
  }
  out.back() = '\n';
  return out;
}

// The status document the agent at `server` serves, or why not.
StatusOr<nlohmann::json> FetchStatus(std::string server) {
  HttpClientConfig config;
  while (!server.empty() && server.back() == '/') server.pop_back();
  config.base_url = server;
  config.default_timeout = std::chrono::seconds(10);
  StatusOr<std::unique_ptr<HttpClient>> client = NewHttpClient(config);
  if (!client.ok()) return client.status();
  HttpRequest request;
  request.path = "/api/v1/status";
  StatusOr<HttpResponse> response = (*client)->Send(request);
  if (!response.ok()) {
    return UnavailableError("cannot reach the agent at " + server + ": " +
                            response.status().message() +
                            " (is `jobsync run` running there? see --server)");
  }
  if (response->status != 200) {
    return UnavailableError(server + " answered HTTP " + std::to_string(response->status));
  }
  nlohmann::json status = nlohmann::json::parse(response->body, nullptr, false);
  if (status.is_discarded() || !status.is_object()) {
    return InvalidArgumentError(server + " did not answer with a status document");
  }
  return status;
}

}  // namespace

std::string FormatStatusTable(const nlohmann::json& status) {
  std::ostringstream out;
  const nlohmann::json revision = status.value("revision", nlohmann::json::object());
  out << "instance " << Text(status, "instance", "?") << ", repo " << Text(status, "repo", "?");
  if (!Text(status, "branch", "").empty()) out << " branch " << Text(status, "branch", "");
  out << "\n";
  if (revision.is_object() && revision.contains("id")) {
    out << "revision " << Text(revision, "short", "?") << " by " << Text(revision, "author", "?")
        << ": " << Text(revision, "summary", "") << "\n";
  }
  const std::string applied = Text(status, "lastAppliedRevision", "");
  out << "last applied " << (applied.empty() ? "-" : applied.substr(0, 7));
  const nlohmann::json last = status.value("lastSync", nlohmann::json::object());
  if (last.is_object() && last.contains("result")) {
    out << ", last sync " << Text(last, "result", "?");
    if (!Text(last, "message", "").empty()) out << ": " << Text(last, "message", "");
  }
  out << "\n";
  out << ShardsText(status.value("shards", nlohmann::json::array()));
  out << "\n";
  std::vector<std::vector<std::string>> rows = {
      {"JOB", "SYNC", "HEALTH", "REPLICAS (LIVE/DESIRED)", "APPLIED", "AUTHOR", "LAST ERROR"}};
  for (const nlohmann::json& job : status.value("jobs", nlohmann::json::array())) {
    std::string applied_revision = Text(job, "appliedRevision", "-");
    std::string health = Text(job, "health", "?");
    if (!Text(job, "healthMessage", "").empty()) {
      health += " (" + Text(job, "healthMessage", "") + ")";
    }
    rows.push_back({Text(job, "key", "?"), Text(job, "sync", "?"), health,
                    ReplicaText(job.value("liveReplicas", nlohmann::json())) + " / " +
                        ReplicaText(job.value("desiredReplicas", nlohmann::json())),
                    applied_revision.substr(0, 7), Text(job, "appliedAuthor", "-"),
                    Text(job, "lastError", "")});
  }
  std::vector<size_t> widths(rows.front().size(), 0);
  for (const auto& row : rows) {
    for (size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  }
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(widths[i] - row[i].size() + 2, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out << line << "\n";
  }
  return out.str();
}

int RunCommands::RunStatus(std::ostream& out, std::ostream& err) {
  std::vector<nlohmann::json> replicas;
  for (const std::string& server : servers_) {
    StatusOr<nlohmann::json> status = FetchStatus(server);
    if (!status.ok()) {
      err << "jobsync status: " << status.status().message() << "\n";
      return kExitError;
    }
    replicas.push_back(std::move(*status));
  }
  nlohmann::json status = replicas.size() == 1 ? replicas.front() : MergeShardStatus(replicas);
  if (status_output_ == "json") {
    out << status.dump(2) << "\n";
  } else {
    out << FormatStatusTable(status);
  }
  return kExitOk;
}

}  // namespace jobsync
