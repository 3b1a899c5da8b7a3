#include "backends/state_store.h"

#include <algorithm>
#include <cstdint>
#include <ctime>
#include <vector>

namespace jobsync {
namespace {

using nlohmann::json;

constexpr int kStateVersion = 1;

Status FieldError(const std::string& field, const std::string& problem) {
  return InvalidArgumentError("agent state: field '" + field + "' " + problem);
}

// Reads string field `name` of `object` into `out`; `where` prefixes the field in messages.
Status ReadString(const json& object, const std::string& where, const char* name,
                  std::string& out) {
  auto it = object.find(name);
  if (it == object.end()) return FieldError(where + name, "is missing");
  if (!it->is_string()) return FieldError(where + name, "must be a string");
  out = it->get<std::string>();
  return OkStatus();
}

// "kubernetes/ns/name" or "ray/ns/name", with "@cluster" after it on a cluster other than the
// default one, as JobKey::ToString writes it.
StatusOr<JobKey> ParseJobKey(const std::string& full_text) {
  const size_t at = full_text.find('@');
  const std::string text = full_text.substr(0, at);
  std::string cluster = at == std::string::npos ? "" : full_text.substr(at + 1);
  if (at != std::string::npos && (cluster.empty() || cluster.find('/') != std::string::npos)) {
    return InvalidArgumentError("'" + full_text + "' is not BACKEND/NAMESPACE/NAME[@CLUSTER]");
  }
  std::vector<std::string> parts;
  size_t begin = 0;
  while (true) {
    const size_t slash = text.find('/', begin);
    parts.push_back(text.substr(begin, slash - begin));
    if (slash == std::string::npos) break;
    begin = slash + 1;
  }
  if (parts.size() != 3 || parts[1].empty() || parts[2].empty()) {
    return InvalidArgumentError("'" + text + "' is not BACKEND/NAMESPACE/NAME");
  }
  JobKey key;
  if (parts[0] == BackendName(BackendKind::kKubernetes)) {
    key.backend = BackendKind::kKubernetes;
  } else if (parts[0] == BackendName(BackendKind::kRay)) {
    key.backend = BackendKind::kRay;
  } else {
    return InvalidArgumentError("'" + text + "' has unknown backend '" + parts[0] +
                                "' (kubernetes or ray)");
  }
  key.namespace_name = parts[1];
  key.name = parts[2];
  key.cluster = std::move(cluster);
  return key;
}

// One element of "inventory"; `where` ("inventory[3].") prefixes its fields in messages.
StatusOr<InventoryEntry> ParseEntry(const json& item, const std::string& where, JobKey& key) {
  std::string key_text;
  JOBSYNC_RETURN_IF_ERROR(ReadString(item, where, "key", key_text));
  StatusOr<JobKey> parsed = ParseJobKey(key_text);
  if (!parsed.ok()) return FieldError(where + "key", parsed.status().message());
  key = *parsed;
  InventoryEntry entry;
  JOBSYNC_RETURN_IF_ERROR(ReadString(item, where, "specHash", entry.spec_hash));
  JOBSYNC_RETURN_IF_ERROR(ReadString(item, where, "revision", entry.revision));
  auto finished = item.find("finished");
  if (finished == item.end()) return FieldError(where + "finished", "is missing");
  if (!finished->is_boolean()) return FieldError(where + "finished", "must be true or false");
  entry.finished = finished->get<bool>();
  return entry;
}

// Appends `text` as a JSON string, as nlohmann's dump writes it: plain ASCII as it is, anything
// else escaped by the library itself.
void AppendString(std::string& out, const std::string& text) {
  const bool plain = std::all_of(text.begin(), text.end(), [](char c) {
    return c >= 0x20 && c < 0x7f && c != '"' && c != '\\';
  });
  if (!plain) {
    out += json(text).dump();
    return;
  }
  out += '"';
  out += text;
  out += '"';
}

}  // namespace

json AgentStateToJson(const AgentState& state) {
  json inventory = json::array();
  for (const auto& [key, entry] : state.inventory) {
    inventory.push_back({{"key", key.ToString()},
                         {"specHash", entry.spec_hash},
                         {"revision", entry.revision},
                         {"finished", entry.finished}});
  }
  return {{"version", kStateVersion},
          {"lastAppliedRevision", state.last_applied_revision},
          {"lastAttemptedRevision", state.last_attempted_revision},
          {"updated", state.updated_unix},
          {"inventory", std::move(inventory)}};
}

StatusOr<AgentState> AgentStateFromJson(const json& document) {
  if (!document.is_object()) {
    return InvalidArgumentError("agent state: the document is not an object");
  }
  auto version = document.find("version");
  if (version == document.end()) return FieldError("version", "is missing");
  if (!version->is_number_integer() || version->get<int64_t>() != kStateVersion) {
    return FieldError("version", "is " + version->dump() + "; this jobsync reads version " +
                                     std::to_string(kStateVersion));
  }
  AgentState state;
  JOBSYNC_RETURN_IF_ERROR(
      ReadString(document, "", "lastAppliedRevision", state.last_applied_revision));
  JOBSYNC_RETURN_IF_ERROR(
      ReadString(document, "", "lastAttemptedRevision", state.last_attempted_revision));
  auto updated = document.find("updated");
  if (updated == document.end()) return FieldError("updated", "is missing");
  if (!updated->is_number_integer()) return FieldError("updated", "must be an integer");
  state.updated_unix = updated->get<int64_t>();
  auto inventory = document.find("inventory");
  if (inventory == document.end()) return FieldError("inventory", "is missing");
  if (!inventory->is_array()) return FieldError("inventory", "must be an array");
  for (size_t i = 0; i < inventory->size(); ++i) {
    const std::string element = "inventory[" + std::to_string(i) + "]";
    const json& item = (*inventory)[i];
    if (!item.is_object()) return FieldError(element, "must be an object");
    JobKey key;
    StatusOr<InventoryEntry> entry = ParseEntry(item, element + ".", key);
    if (!entry.ok()) return entry.status();
    if (!state.inventory.emplace(key, *entry).second) {
      return FieldError(element + ".key", "repeats job " + key.ToString());
    }
  }
  return state;
}

std::string AgentStateDocument(const AgentState& state) {
  return AgentStateDocument(state, static_cast<int64_t>(std::time(nullptr)));
}

std::string AgentStateDocument(const AgentState& state, int64_t updated_unix) {
  // Written out directly, byte for byte as AgentStateToJson(state).dump(2) (members in name
  // order): a save of 10,000 jobs, before every apply and after it, built and freed a tree of
  // 50,000 values and copied the state to stamp it.
  std::string out;
  out.reserve(160 + state.inventory.size() * 220);
  out += "{\n  \"inventory\": [";
  for (auto it = state.inventory.begin(); it != state.inventory.end(); ++it) {
    const auto& [key, entry] = *it;
    out += it == state.inventory.begin() ? "\n" : ",\n";
    out += "    {\n      \"finished\": ";
    out += entry.finished ? "true" : "false";
    out += ",\n      \"key\": ";
    AppendString(out, key.ToString());
    out += ",\n      \"revision\": ";
    AppendString(out, entry.revision);
    out += ",\n      \"specHash\": ";
    AppendString(out, entry.spec_hash);
    out += "\n    }";
  }
  out += state.inventory.empty() ? "]" : "\n  ]";
  out += ",\n  \"lastAppliedRevision\": ";
  AppendString(out, state.last_applied_revision);
  out += ",\n  \"lastAttemptedRevision\": ";
  AppendString(out, state.last_attempted_revision);
  out += ",\n  \"updated\": " + std::to_string(updated_unix);
  out += ",\n  \"version\": " + std::to_string(kStateVersion);
  out += "\n}\n";
  return out;
}

}  // namespace jobsync
