#include "backends/kubernetes/configmap_state_store.h"

#include <utility>

#include "backends/backend.h"

namespace jobsync {
namespace {

using nlohmann::json;

constexpr const char* kConfigMapKey = "state.json";

Status WithContext(const Status& status, const std::string& context) {
  return Status(status.code(), context + ": " + status.message());
}

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
    const std::string text = AgentStateDocument(state);
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
                                   name_ + ")" + kStateStartOverHint);
  }

  KubernetesClient& client_;
  const std::string namespace_;
  const std::string name_;
};

}  // namespace

std::unique_ptr<StateStore> NewConfigMapStateStore(KubernetesClient& client,
                                                   std::string namespace_name, std::string name) {
  return std::make_unique<ConfigMapStateStore>(client, std::move(namespace_name), std::move(name));
}

}  // namespace jobsync
