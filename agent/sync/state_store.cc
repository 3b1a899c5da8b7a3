#include "agent/sync/state_store.h"

#include <cerrno>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <mutex>
#include <optional>
#include <system_error>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

#include "backends/backend.h"

namespace jobsync {
namespace {

using nlohmann::json;

constexpr int kStateVersion = 1;
constexpr const char* kConfigMapKey = "state.json";
constexpr const char* kStartOver =
    " to start over: the agent then re-derives which jobs it owns from their jobsync.dev/instance "
    "labels";

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

// "kubernetes/ns/name" or "ray/ns/name", as JobKey::ToString writes it.
StatusOr<JobKey> ParseJobKey(const std::string& text) {
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

// `state` with `updated_unix` set to now, as every Save stores it.
AgentState Stamped(const AgentState& state) {
  AgentState stamped = state;
  stamped.updated_unix = static_cast<int64_t>(std::time(nullptr));
  return stamped;
}

Status WithContext(const Status& status, const std::string& context) {
  return Status(status.code(), context + ": " + status.message());
}

Status ErrnoError(const std::string& what, const std::string& path, int error) {
  std::string message = what + " " + path + ": " + std::generic_category().message(error);
  if (error == EACCES || error == EPERM || error == EROFS) {
    return PermissionDeniedError(std::move(message));
  }
  return UnavailableError(std::move(message));
}

Status WriteAll(int fd, const std::string& data, const std::string& path) {
  size_t written = 0;
  while (written < data.size()) {
    const ssize_t n = ::write(fd, data.data() + written, data.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoError("cannot write", path, errno);
    written += static_cast<size_t>(n);
  }
  return OkStatus();
}

Status FsyncAndClose(int fd, const std::string& path) {
  Status status;
  if (::fsync(fd) != 0) status = ErrnoError("cannot fsync", path, errno);
  if (::close(fd) != 0 && status.ok()) status = ErrnoError("cannot close", path, errno);
  return status;
}

// StateStore over one JSON file. Thread-safe: Save calls are serialized, since they share the
// temporary file.
class FileStateStore : public StateStore {
 public:
  explicit FileStateStore(std::string path) : path_(std::move(path)) {}

  // StateStore
  StatusOr<AgentState> Load() override {
    StatusOr<std::optional<std::string>> text = ReadFile();
    if (!text.ok()) return text.status();
    if (!text->has_value()) return AgentState{};
    const json document = json::parse(**text, nullptr, false);
    if (document.is_discarded()) return Corrupt("it is not valid JSON");
    StatusOr<AgentState> state = AgentStateFromJson(document);
    if (!state.ok()) return Corrupt(state.status().message());
    return state;
  }

  Status Save(const AgentState& state) override {
    const std::string text = AgentStateToJson(Stamped(state)).dump(2) + "\n";
    const std::filesystem::path path(path_);
    const std::filesystem::path parent =
        path.parent_path().empty() ? std::filesystem::path(".") : path.parent_path();
    std::lock_guard<std::mutex> lock(mutex_);
    std::error_code error;
    std::filesystem::create_directories(parent, error);
    if (error) {
      return ErrnoError("cannot create the state directory", parent.string(), error.value());
    }
    // A fixed name: a temporary file left by a crash is simply overwritten by the next Save.
    const std::string temporary = path_ + ".tmp";
    const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return ErrnoError("cannot create", temporary, errno);
    Status written = WriteAll(fd, text, temporary);
    if (!written.ok()) {
      ::close(fd);
      ::unlink(temporary.c_str());
      return written;
    }
    Status synced = FsyncAndClose(fd, temporary);
    if (!synced.ok()) {
      ::unlink(temporary.c_str());
      return synced;
    }
    if (::rename(temporary.c_str(), path_.c_str()) != 0) {
      const int rename_error = errno;
      ::unlink(temporary.c_str());
      return ErrnoError("cannot rename " + temporary + " to", path_, rename_error);
    }
    // The rename is durable only once the directory entry is on disk.
    const int dir = ::open(parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir < 0) return ErrnoError("cannot open", parent.string(), errno);
    return FsyncAndClose(dir, parent.string());
  }

  std::string Describe() const override { return "file " + path_; }

 private:
  // The file's contents; nullopt when it does not exist.
  StatusOr<std::optional<std::string>> ReadFile() const {
    const int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT) return std::optional<std::string>();
    if (fd < 0) return ErrnoError("cannot open the state file", path_, errno);
    std::string text;
    char buffer[65536];
    while (true) {
      const ssize_t n = ::read(fd, buffer, sizeof(buffer));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        const int read_error = errno;
        ::close(fd);
        return ErrnoError("cannot read the state file", path_, read_error);
      }
      if (n == 0) break;
      text.append(buffer, static_cast<size_t>(n));
    }
    ::close(fd);
    return std::optional<std::string>(std::move(text));
  }

  Status Corrupt(const std::string& problem) const {
    return FailedPreconditionError("state file " + path_ + " is not a jobsync agent state (" +
                                   problem + "); delete it" + kStartOver);
  }

  const std::string path_;
  std::mutex mutex_;  // serializes Save
};

// StateStore over a ConfigMap's data key kConfigMapKey. Thread-safe, as KubernetesClient is.
class ConfigMapStateStore : public StateStore {
 public:
  ConfigMapStateStore(KubernetesClient& client, std::string namespace_name, std::string name)
      : client_(client), namespace_(std::move(namespace_name)), name_(std::move(name)) {}

  // StateStore
  StatusOr<AgentState> Load() override {
    StatusOr<json> config_map = client_.Get(ResourceKind::kConfigMap, namespace_, name_);
    if (!config_map.ok() && config_map.status().code() == StatusCode::kNotFound) {
      return AgentState{};
    }
    if (!config_map.ok()) return WithContext(config_map.status(), "load state from " + Describe());
    const json data =
        config_map->is_object() ? config_map->value("data", json::object()) : json::object();
    auto text = data.find(kConfigMapKey);
    if (text == data.end() || !text->is_string()) {
      return Corrupt(std::string("it has no data key ") + kConfigMapKey);
    }
    const json document = json::parse(text->get<std::string>(), nullptr, false);
    if (document.is_discarded()) return Corrupt(std::string(kConfigMapKey) + " is not valid JSON");
    StatusOr<AgentState> state = AgentStateFromJson(document);
    if (!state.ok()) return Corrupt(state.status().message());
    return state;
  }

  Status Save(const AgentState& state) override {
    const std::string text = AgentStateToJson(Stamped(state)).dump(2) + "\n";
    auto replace = [&] {
      return client_.Update(ResourceKind::kConfigMap, namespace_, name_, [&](json& config_map) {
        if (!config_map["data"].is_object()) config_map["data"] = json::object();
        config_map["data"][kConfigMapKey] = text;
        return OkStatus();
      });
    };
    StatusOr<json> replaced = replace();
    if (!replaced.ok() && replaced.status().code() == StatusCode::kNotFound) {
      const json object = {{"apiVersion", "v1"},
                           {"kind", "ConfigMap"},
                           {"metadata",
                            {{"name", name_},
                             {"namespace", namespace_},
                             {"labels", {{kManagedByLabel, kManagedByValue}}}}},
                           {"data", {{kConfigMapKey, text}}}};
      StatusOr<json> created = client_.Create(ResourceKind::kConfigMap, namespace_, object);
      // Another writer created it since our read: replace theirs, as a Save always does.
      if (!created.ok() && created.status().code() == StatusCode::kAlreadyExists) {
        replaced = replace();
      } else {
        replaced = std::move(created);
      }
    }
    if (!replaced.ok()) return WithContext(replaced.status(), "save state to " + Describe());
    return OkStatus();
  }

  std::string Describe() const override { return "configmap " + namespace_ + "/" + name_; }

 private:
  Status Corrupt(const std::string& problem) const {
    return FailedPreconditionError(Describe() + " does not hold a jobsync agent state (" + problem +
                                   "); delete it (kubectl delete configmap -n " + namespace_ + " " +
                                   name_ + ")" + kStartOver);
  }

  KubernetesClient& client_;
  const std::string namespace_;
  const std::string name_;
};

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

std::unique_ptr<StateStore> NewFileStateStore(std::string path) {
  return std::make_unique<FileStateStore>(std::move(path));
}

std::unique_ptr<StateStore> NewConfigMapStateStore(KubernetesClient& client,
                                                   std::string namespace_name, std::string name) {
  return std::make_unique<ConfigMapStateStore>(client, std::move(namespace_name), std::move(name));
}

std::string DefaultStateFile(const std::string& instance) {
  const char* state_home = std::getenv("XDG_STATE_HOME");
  std::string base;
  if (state_home != nullptr && *state_home != '\0') {
    base = state_home;
  } else {
    const char* home = std::getenv("HOME");
    base = std::string(home != nullptr ? home : "") + "/.local/state";
  }
  return base + "/jobsync/" + instance + ".state.json";
}

}  // namespace jobsync
