#include "backends/kubernetes/lease_wake_relay.h"

#include <chrono>
#include <utility>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "backends/kubernetes/lease_election.h"

namespace jobsync {
namespace {

using nlohmann::json;

// The server ends each watch after this long; the loop then reads the Lease and watches again.
constexpr std::chrono::seconds kWatchSeconds{300};
constexpr std::chrono::seconds kRetry{1};

// metadata.<field> of `object` when it is a string, else "" (never throws on odd shapes).
std::string MetadataString(const json& object, const char* field) {
  if (!object.is_object()) return "";
  auto metadata = object.find("metadata");
  if (metadata == object.end() || !metadata->is_object()) return "";
  auto value = metadata->find(field);
  return value != metadata->end() && value->is_string() ? value->get<std::string>() : "";
}

std::string Annotation(const json& lease) {
  const json metadata = lease.is_object() ? lease.value("metadata", json::object()) : json();
  if (!metadata.is_object()) return "";
  const json annotations = metadata.value("annotations", json::object());
  if (!annotations.is_object()) return "";
  auto it = annotations.find(kWakeAnnotation);
  return it != annotations.end() && it->is_string() ? it->get<std::string>() : "";
}

}  // namespace

LeaseWakeRelay::LeaseWakeRelay(KubernetesClient& client, std::string namespace_name,
                               std::string lease_name, std::string identity,
                               std::function<void(const std::string&)> on_wake)
    : client_(client),
      namespace_name_(std::move(namespace_name)),
      lease_name_(std::move(lease_name)),
      identity_(std::move(identity)),
      on_wake_(std::move(on_wake)) {}

LeaseWakeRelay::~LeaseWakeRelay() { Stop(); }

Status LeaseWakeRelay::Start() {
  std::unique_lock<std::mutex> lock(mutex_);
  if (thread_.joinable() || stopping_) {
    return FailedPreconditionError("wake relay: already started");
  }
  thread_ = std::thread(&LeaseWakeRelay::Loop, this);
  changed_.wait_for(lock, std::chrono::seconds(2), [this] { return primed_ || stopping_; });
  return OkStatus();
}

void LeaseWakeRelay::Stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  cancel_.Cancel();
  changed_.notify_all();
  if (thread_.joinable()) thread_.join();
}

Status LeaseWakeRelay::RequestWake() {
  const std::string value = MicroTimeNow() + " " + identity_;
  StatusOr<json> stored =
      client_.Update(ResourceKind::kLease, namespace_name_, lease_name_, [&](json& lease) {
        json& metadata = lease["metadata"];
        if (!metadata.is_object()) metadata = json::object();
        if (!metadata["annotations"].is_object()) metadata["annotations"] = json::object();
        metadata["annotations"][kWakeAnnotation] = value;
        return OkStatus();
      });
  return stored.status();
}

void LeaseWakeRelay::Observe(const json& lease) {
  const std::string value = Annotation(lease);
  bool woken = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!primed_) {
      primed_ = true;
      last_ = value;
      changed_.notify_all();
    } else if (value != last_) {
      last_ = value;
      woken = !value.empty();
    }
  }
  if (woken && on_wake_) on_wake_(value);
}

void LeaseWakeRelay::Loop() {
  auto wait_retry = [this] {
    std::unique_lock<std::mutex> lock(mutex_);
    return changed_.wait_for(lock, kRetry, [this] { return stopping_; });
  };
  while (true) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (stopping_) return;
    }
    StatusOr<json> lease = client_.Get(ResourceKind::kLease, namespace_name_, lease_name_);
    if (!lease.ok()) {
      if (lease.status().code() == StatusCode::kNotFound) {
        // No Lease yet: nothing was requested; the first value seen is the empty one.
        Observe(json::object());
      } else {
        spdlog::debug("wake relay: {}", lease.status().message());
      }
      if (wait_retry()) return;
      continue;
    }
    Observe(*lease);
    const std::string version = MetadataString(*lease, "resourceVersion");
    Status watched = client_.Watch(
        ResourceKind::kLease, namespace_name_, "", version, kWatchSeconds,
        [this](const json& event) {
          auto object = event.is_object() ? event.find("object") : event.end();
          if (object != event.end() && MetadataString(*object, "name") == lease_name_) {
            Observe(*object);
          }
          std::lock_guard<std::mutex> lock(mutex_);
          return !stopping_;
        },
        cancel_);
    if (!watched.ok()) {
      spdlog::debug("wake relay: {}", watched.message());
      if (wait_retry()) return;
    }
  }
}

}  // namespace jobsync
