#include "backends/kubernetes/client.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <thread>
#include <utility>

namespace jobsync {
namespace {

using nlohmann::json;

constexpr const char* kJsonType = "application/json";

std::string What(const char* verb, ResourceKind kind, const std::string& namespace_name,
                 const std::string& name) {
  std::string out = std::string(verb) + " " + ResourceKindName(kind) + " ";
  if (kind != ResourceKind::kNamespace && !namespace_name.empty()) out += namespace_name + "/";
  return out + name;
}

StatusOr<json> ParseBody(const HttpResponse& response, const std::string& what) {
  json parsed = json::parse(response.body, nullptr, false);
  if (parsed.is_discarded()) return InternalError(what + ": the server's answer is not JSON");
  return parsed;
}

bool Is2xx(int status) { return status >= 200 && status <= 299; }

// `object[key]` when `object` is an object holding a string there, else `otherwise`: answers are
// untrusted, and json::value() throws on a value of another type.
std::string StringMember(const json& object, const char* key, const char* otherwise = "") {
  if (!object.is_object()) return otherwise;
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : otherwise;
}

// `object[key]` when `object` is an object holding an integer there, else 0.
int64_t IntMember(const json& object, const char* key) {
  if (!object.is_object()) return 0;
  auto it = object.find(key);
  return it != object.end() && it->is_number_integer() ? it->get<int64_t>() : 0;
}

}  // namespace

const char* ResourceKindName(ResourceKind kind) {
  switch (kind) {
    case ResourceKind::kJob:
      return "batch/v1 Job";
    case ResourceKind::kService:
      return "v1 Service";
    case ResourceKind::kNamespace:
      return "v1 Namespace";
    case ResourceKind::kPod:
      return "v1 Pod";
    case ResourceKind::kConfigMap:
      return "v1 ConfigMap";
    case ResourceKind::kEvent:
      return "v1 Event";
    case ResourceKind::kLease:
      return "coordination.k8s.io/v1 Lease";
    case ResourceKind::kJobSet:
      return "jobset.x-k8s.io/v1alpha2 JobSet";
    case ResourceKind::kWorkload:
      return "kueue.x-k8s.io/v1beta2 Workload";
    case ResourceKind::kElasticJob:
      return "elastic.iml.github.io/v1alpha1 ElasticJob";
    case ResourceKind::kScalePlan:
      return "elastic.iml.github.io/v1alpha1 ScalePlan";
    case ResourceKind::kRayJob:
      return "ray.io/v1 RayJob";
  }
  return "object";
}

std::string ResourcePath(ResourceKind kind, const std::string& namespace_name,
                         const std::string& name) {
  std::string path;
  const char* plural = "";
  switch (kind) {
    case ResourceKind::kJob:
      path = "/apis/batch/v1";
      plural = "jobs";
      break;
    case ResourceKind::kService:
      path = "/api/v1";
      plural = "services";
      break;
    case ResourceKind::kNamespace:
      path = "/api/v1";
      plural = "namespaces";
      break;
    case ResourceKind::kPod:
      path = "/api/v1";
      plural = "pods";
      break;
    case ResourceKind::kConfigMap:
      path = "/api/v1";
      plural = "configmaps";
      break;
    case ResourceKind::kEvent:
      path = "/api/v1";
      plural = "events";
      break;
    case ResourceKind::kLease:
      path = "/apis/coordination.k8s.io/v1";
      plural = "leases";
      break;
    case ResourceKind::kJobSet:
      path = "/apis/jobset.x-k8s.io/v1alpha2";
      plural = "jobsets";
      break;
    case ResourceKind::kWorkload:
      path = "/apis/kueue.x-k8s.io/v1beta2";
      plural = "workloads";
      break;
    case ResourceKind::kElasticJob:
      path = "/apis/elastic.iml.github.io/v1alpha1";
      plural = "elasticjobs";
      break;
    case ResourceKind::kScalePlan:
      path = "/apis/elastic.iml.github.io/v1alpha1";
      plural = "scaleplans";
      break;
    case ResourceKind::kRayJob:
      path = "/apis/ray.io/v1";
      plural = "rayjobs";
      break;
  }
  if (kind != ResourceKind::kNamespace && !namespace_name.empty()) {
    path += "/namespaces/" + namespace_name;
  }
  path += std::string("/") + plural;
  if (!name.empty()) path += "/" + name;
  return path;
}

bool IsRetryableHttpStatus(int status) { return status == 429 || (status >= 500 && status <= 599); }

std::chrono::milliseconds RetryDelay(const RetryPolicy& policy, int failures, double unit_random,
                                     std::optional<std::chrono::milliseconds> retry_after) {
  if (retry_after) return std::min(*retry_after, policy.max_retry_after);
  const int exponent = std::clamp(failures - 1, 0, 30);
  const double base =
      std::min(static_cast<double>(policy.initial_backoff.count()) * std::ldexp(1.0, exponent),
               static_cast<double>(policy.max_backoff.count()));
  const double factor = 1.0 + policy.jitter * (2.0 * unit_random - 1.0);
  return std::chrono::milliseconds(static_cast<int64_t>(std::max(0.0, base * factor)));
}

std::optional<std::chrono::milliseconds> ParseRetryAfter(std::string_view header) {
  while (!header.empty() && header.front() == ' ') header.remove_prefix(1);
  while (!header.empty() && header.back() == ' ') header.remove_suffix(1);
  int64_t seconds = 0;
  auto [end, error] = std::from_chars(header.data(), header.data() + header.size(), seconds);
  if (header.empty() || error != std::errc() || end != header.data() + header.size() ||
      seconds < 0) {
    return std::nullopt;
  }
  return std::chrono::milliseconds(seconds * 1000);
}

Status StatusFromHttp(int status, std::string_view body, const std::string& what) {
  std::string message;
  std::string reason;
  json parsed = json::parse(body, nullptr, false);
  message = StringMember(parsed, "message");
  reason = StringMember(parsed, "reason");
  if (message.empty()) {
    message = std::string(body.substr(0, 300));
    if (message.empty()) message = "no message";
  }
  std::string text = what + ": " + message + " (HTTP " + std::to_string(status) + ")";
  switch (status) {
    case 400:
    case 422:
      return InvalidArgumentError(std::move(text));
    case 401:
    case 403:
      return PermissionDeniedError(std::move(text));
    case 404:
      return NotFoundError(std::move(text));
    case 409:
      if (reason == "AlreadyExists") return {StatusCode::kAlreadyExists, std::move(text)};
      return FailedPreconditionError(std::move(text));
    case 410:
      return FailedPreconditionError(std::move(text));
    default:
      break;
  }
  if (IsRetryableHttpStatus(status)) return UnavailableError(std::move(text));
  return InternalError(std::move(text));
}

KubernetesClient::KubernetesClient(std::unique_ptr<HttpClient> http,
                                   KubernetesClientOptions options)
    : http_(std::move(http)), options_(options), random_(std::random_device{}()) {}

void KubernetesClient::Acquire() {
  std::unique_lock<std::mutex> lock(mutex_);
  slot_free_.wait(lock, [this] { return in_flight_ < std::max(1, options_.max_in_flight); });
  ++in_flight_;
}

void KubernetesClient::Release() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    --in_flight_;
  }
  slot_free_.notify_one();
}

StatusOr<HttpResponse> KubernetesClient::Call(HttpRequest request) {
  request.headers["Accept"] = kJsonType;
  if (request.timeout.count() == 0) request.timeout = options_.request_timeout;
  const int attempts = std::max(1, options_.retry.max_attempts);
  int timeouts = 0;
  for (int attempt = 1;; ++attempt) {
    Acquire();
    StatusOr<HttpResponse> response = http_->Send(request);
    Release();
    std::optional<std::chrono::milliseconds> retry_after;
    bool retry = false;
    if (!response.ok()) {
      const StatusCode code = response.status().code();
      if (code == StatusCode::kDeadlineExceeded) ++timeouts;
      retry = code == StatusCode::kUnavailable ||
              (code == StatusCode::kDeadlineExceeded && timeouts < options_.retry.max_timeouts);
    } else if (IsRetryableHttpStatus(response->status)) {
      retry = true;
      auto header = response->headers.find("retry-after");
      if (header != response->headers.end()) retry_after = ParseRetryAfter(header->second);
    }
    if (!retry || attempt >= attempts) return response;
    double unit = 0;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      unit = std::uniform_real_distribution<double>(0.0, 1.0)(random_);
    }
    std::this_thread::sleep_for(RetryDelay(options_.retry, attempt, unit, retry_after));
  }
}

StatusOr<json> KubernetesClient::Get(ResourceKind kind, const std::string& namespace_name,
                                     const std::string& name) {
  const std::string what = What("get", kind, namespace_name, name);
  HttpRequest request;
  request.path = ResourcePath(kind, namespace_name, name);
  StatusOr<HttpResponse> response = Call(std::move(request));
  if (!response.ok()) return response.status();
  if (!Is2xx(response->status)) return StatusFromHttp(response->status, response->body, what);
  return ParseBody(*response, what);
}

StatusOr<ObjectList> KubernetesClient::List(ResourceKind kind, const std::string& namespace_name,
                                            const std::string& label_selector) {
  const std::string what = What("list", kind, namespace_name, "(" + label_selector + ")");
  HttpRequest request;
  request.path = ResourcePath(kind, namespace_name, "");
  if (!label_selector.empty()) request.query.emplace_back("labelSelector", label_selector);
  StatusOr<HttpResponse> response = Call(std::move(request));
  if (!response.ok()) return response.status();
  if (!Is2xx(response->status)) return StatusFromHttp(response->status, response->body, what);
  StatusOr<json> body = ParseBody(*response, what);
  if (!body.ok()) return body.status();
  // An answer without an items list is not an empty list: callers take a list as the truth.
  auto items = body->is_object() ? body->find("items") : body->end();
  if (items == body->end() || !items->is_array()) {
    return InternalError(what + ": the server's answer is not a list (no items array)");
  }
  ObjectList out;
  auto metadata = body->find("metadata");
  if (metadata != body->end()) out.resource_version = StringMember(*metadata, "resourceVersion");
  for (json& item : *items) out.items.push_back(std::move(item));
  return out;
}

StatusOr<json> KubernetesClient::Create(ResourceKind kind, const std::string& namespace_name,
                                        const json& object) {
  const std::string what =
      What("create", kind, namespace_name, object.value(json::json_pointer("/metadata/name"), ""));
  HttpRequest request;
  request.method = "POST";
  request.path = ResourcePath(kind, namespace_name, "");
  request.body = object.dump();
  request.content_type = kJsonType;
  StatusOr<HttpResponse> response = Call(std::move(request));
  if (!response.ok()) return response.status();
  if (!Is2xx(response->status)) return StatusFromHttp(response->status, response->body, what);
  return ParseBody(*response, what);
}

StatusOr<json> KubernetesClient::Update(ResourceKind kind, const std::string& namespace_name,
                                        const std::string& name,
                                        const std::function<Status(json&)>& mutate) {
  const std::string what = What("update", kind, namespace_name, name);
  const int attempts = std::max(1, options_.retry.max_attempts);
  for (int attempt = 1;; ++attempt) {
    StatusOr<json> current = Get(kind, namespace_name, name);
    if (!current.ok()) return current.status();
    JOBSYNC_RETURN_IF_ERROR(mutate(*current));
    HttpRequest request;
    request.method = "PUT";
    request.path = ResourcePath(kind, namespace_name, name);
    request.body = current->dump();
    request.content_type = kJsonType;
    StatusOr<HttpResponse> response = Call(std::move(request));
    if (!response.ok()) return response.status();
    if (Is2xx(response->status)) return ParseBody(*response, what);
    if (response->status != 409 || attempt >= attempts) {
      return StatusFromHttp(response->status, response->body, what);
    }
  }
}

Status KubernetesClient::Delete(ResourceKind kind, const std::string& namespace_name,
                                const std::string& name, Propagation propagation) {
  const std::string what = What("delete", kind, namespace_name, name);
  HttpRequest request;
  request.method = "DELETE";
  request.path = ResourcePath(kind, namespace_name, name);
  request.body = json{{"apiVersion", "v1"},
                      {"kind", "DeleteOptions"},
                      {"propagationPolicy",
                       propagation == Propagation::kForeground ? "Foreground" : "Background"}}
                     .dump();
  request.content_type = kJsonType;
  StatusOr<HttpResponse> response = Call(std::move(request));
  if (!response.ok()) return response.status();
  if (Is2xx(response->status) || response->status == 404) return OkStatus();
  return StatusFromHttp(response->status, response->body, what);
}

Status KubernetesClient::Watch(ResourceKind kind, const std::string& namespace_name,
                               const std::string& label_selector,
                               const std::string& resource_version, std::chrono::seconds timeout,
                               const std::function<bool(const json&)>& on_event,
                               const HttpCancellation& cancel) {
  const std::string what = What("watch", kind, namespace_name, "(" + label_selector + ")");
  HttpRequest request;
  request.path = ResourcePath(kind, namespace_name, "");
  request.query = {{"watch", "true"},
                   {"allowWatchBookmarks", "true"},
                   {"resourceVersion", resource_version},
                   {"timeoutSeconds", std::to_string(timeout.count())}};
  if (!label_selector.empty()) request.query.emplace_back("labelSelector", label_selector);
  request.headers["Accept"] = kJsonType;
  // The HTTP timeout is an inactivity timer: let the server end the watch first.
  request.timeout =
      std::chrono::duration_cast<std::chrono::milliseconds>(timeout) + std::chrono::seconds(30);
  Status ended;
  StatusOr<HttpResponse> response = http_->Stream(
      request,
      [&](std::string_view line) {
        json event = json::parse(line, nullptr, false);
        if (!event.is_object()) {
          ended = InternalError(what + ": a watch event is not JSON");
          return false;
        }
        if (StringMember(event, "type") == "ERROR") {
          const json object = event.value("object", json::object());
          const int64_t code = IntMember(object, "code");
          ended =
              FailedPreconditionError(what + ": " + StringMember(object, "message", "watch error") +
                                      " (" + std::to_string(code) + (code == 410 ? " Gone)" : ")"));
          return false;
        }
        return on_event(event);
      },
      cancel);
  if (!response.ok()) return response.status();
  if (!Is2xx(response->status)) return StatusFromHttp(response->status, response->body, what);
  return ended;
}

}  // namespace jobsync
