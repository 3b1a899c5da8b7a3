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

// Parses a list page or a watch event whose objects' keys sit at `object_depth` (the depth
// nlohmann's parser callback gives them: 3 in a list's items, 2 in an event's object), leaving
// out what no reader of lists and watches uses: each object's metadata.managedFields (the field
// managers' records, often as large as the rest of the object), and with `without_templates` its
// spec.template (a Job's pod template, which the watch caches do not keep). What is left out is
// never built, so the whole object is never held.
json ParseListed(std::string_view text, int object_depth, bool without_templates) {
  enum Parent : char { kOther, kMetadata, kSpec };
  std::vector<Parent> parent;  // parent[d]: which key was read last at depth d
  auto at = [&parent](int depth) -> Parent& {
    const size_t d = static_cast<size_t>(depth);
    if (parent.size() <= d) parent.resize(d + 1, kOther);
    return parent[d];
  };
  return json::parse(
      text,
      [&](int depth, json::parse_event_t event, json& parsed) {
        if (event == json::parse_event_t::array_start) {
          at(depth + 1) = kOther;  // an array's elements have no key
          return true;
        }
        if (event != json::parse_event_t::key) return true;
        const std::string& key = parsed.get_ref<const std::string&>();
        if (depth == object_depth + 1) {
          const Parent of = at(depth - 1);
          if (of == kMetadata && key == "managedFields") return false;
          if (without_templates && of == kSpec && key == "template") return false;
        }
        at(depth) = key == "metadata" ? kMetadata : key == "spec" ? kSpec : kOther;
        return true;
      },
      false);
}

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

// The kFailedPrecondition an ERROR event of a watch ends it with ("410 Gone": list again).
Status WatchErrorEvent(const json& event, const std::string& what) {
  const json object = event.value("object", json::object());
  const int64_t code = IntMember(object, "code");
  return FailedPreconditionError(what + ": " + StringMember(object, "message", "watch error") +
                                 " (" + std::to_string(code) + (code == 410 ? " Gone)" : ")"));
}

// How often a watchdog looks at its clock and at the caller's cancellation.
constexpr std::chrono::milliseconds kWatchDogTick{100};

// Watches over one watch stream: cancels stream() when nothing was fed for `limit`, or when the
// caller's `outer` cancellation is cancelled (the stream has its own, so that the watchdog can end
// it alone). Fed() may be called from the stream's thread while the watchdog's own thread runs.
class WatchDog {
 public:
  WatchDog(std::chrono::milliseconds limit, const HttpCancellation& outer)
      : limit_(limit), outer_(outer), last_fed_(Now()), thread_([this] { Run(); }) {}
  ~WatchDog() { Stop(); }
  WatchDog(const WatchDog&) = delete;
  WatchDog& operator=(const WatchDog&) = delete;

  const HttpCancellation& stream() const { return stream_; }
  void Fed() { last_fed_.store(Now()); }
  // Ends the watchdog; true when it cancelled the stream for want of data.
  bool Stop() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopped_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
    return fired_;
  }

 private:
  static int64_t Now() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }

  void Run() {
    std::unique_lock<std::mutex> lock(mutex_);
    while (!stopped_) {
      if (outer_.cancelled()) {
        stream_.Cancel();
        return;
      }
      if (Now() - last_fed_.load() >= limit_.count()) {
        fired_ = true;
        stream_.Cancel();
        return;
      }
      wake_.wait_for(lock, kWatchDogTick);
    }
  }

  const std::chrono::milliseconds limit_;
  const HttpCancellation outer_;
  HttpCancellation stream_;
  std::atomic<int64_t> last_fed_;  // milliseconds of the steady clock
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopped_ = false;  // guarded by mutex_
  bool fired_ = false;    // written by the thread before it ends; read after join
  std::thread thread_;    // last: starts once the members above are ready
};

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

namespace {

// Declares the client's metrics and returns the callback that sets its limit gauge.
std::function<void(int)> LimitGauge(const KubernetesClientOptions& options) {
  Metrics* metrics = options.metrics;
  if (metrics == nullptr) return nullptr;
  metrics->Declare(kInflightLimitMetric, MetricType::kGauge,
                   "Requests a Kubernetes client sends at once, now (cut on 429 answers, grown "
                   "back on successes)");
  metrics->Declare(kThrottledMetric, MetricType::kCounter,
                   "429 Too Many Requests answers a Kubernetes client received");
  MetricLabels labels = {{"server", options.server}};
  return [metrics, labels](int limit) { metrics->Set(kInflightLimitMetric, labels, limit); };
}

}  // namespace

KubernetesClient::KubernetesClient(std::unique_ptr<HttpClient> http,
                                   KubernetesClientOptions options)
    : http_(std::move(http)),
      options_(std::move(options)),
      random_(std::random_device{}()),
      limit_(options_.concurrency, LimitGauge(options_)) {}

StatusOr<HttpResponse> KubernetesClient::SendLimited(const HttpRequest& request) {
  const AdaptiveLimit::Ticket ticket = limit_.Acquire();
  StatusOr<HttpResponse> response = http_->Send(request);
  RequestOutcome outcome = RequestOutcome::kOther;
  if (response.ok() && response->status == 429) {
    outcome = RequestOutcome::kOverloaded;
    ++throttled_;
    if (options_.metrics != nullptr) {
      options_.metrics->Add(kThrottledMetric, {{"server", options_.server}});
    }
  } else if (response.ok() && response->status < 500) {
    outcome = RequestOutcome::kSuccess;  // answered: 404 or 409 also say the server kept up
  }
  limit_.Release(ticket, outcome);
  return response;
}

StatusOr<HttpResponse> KubernetesClient::Call(HttpRequest request) {
  request.headers["Accept"] = kJsonType;
  if (request.timeout.count() == 0) request.timeout = options_.request_timeout;
  const int attempts = std::max(1, options_.retry.max_attempts);
  int failures = 0;   // attempts that failed other than by a 429
  int throttled = 0;  // attempts answered 429
  int timeouts = 0;
  for (int attempt = 1;; ++attempt) {
    StatusOr<HttpResponse> response = SendLimited(request);
    std::optional<std::chrono::milliseconds> retry_after;
    bool retry = false;
    bool exhausted = false;
    if (!response.ok()) {
      const StatusCode code = response.status().code();
      if (code == StatusCode::kDeadlineExceeded) ++timeouts;
      retry = code == StatusCode::kUnavailable ||
              (code == StatusCode::kDeadlineExceeded && timeouts < options_.retry.max_timeouts);
      exhausted = ++failures >= attempts;
    } else if (IsRetryableHttpStatus(response->status)) {
      retry = true;
      auto header = response->headers.find("retry-after");
      if (header != response->headers.end()) retry_after = ParseRetryAfter(header->second);
      exhausted = response->status == 429 ? ++throttled > options_.retry.max_throttled
                                          : ++failures >= attempts;
    }
    if (!retry || exhausted) return response;
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
  ObjectList out;
  StatusOr<std::string> version = ListEach(
      kind, namespace_name, label_selector,
      [&out](json&& item) { out.items.push_back(std::move(item)); }, [&out] { out.items.clear(); });
  if (!version.ok()) return version.status();
  out.resource_version = std::move(*version);
  return out;
}

StatusOr<std::string> KubernetesClient::ListEach(ResourceKind kind,
                                                 const std::string& namespace_name,
                                                 const std::string& label_selector,
                                                 const std::function<void(json&& item)>& on_item,
                                                 const std::function<void()>& on_restart,
                                                 bool without_templates) {
  const std::string what = What("list", kind, namespace_name, "(" + label_selector + ")");
  HttpRequest first;
  first.path = ResourcePath(kind, namespace_name, "");
  if (!label_selector.empty()) first.query.emplace_back("labelSelector", label_selector);
  if (options_.list_page_size > 0) {
    first.query.emplace_back("limit", std::to_string(options_.list_page_size));
  }
  for (bool restarted = false;; restarted = true) {
    std::string version;
    std::string next;
    JOBSYNC_RETURN_IF_ERROR(ListPage(first, what, on_item, next, version, without_templates));
    Status page = OkStatus();
    while (page.ok() && !next.empty()) {
      HttpRequest request = first;
      request.query.emplace_back("continue", next);
      // Every later page is read at the first page's version; its own is not used.
      std::string same_version;
      page = ListPage(request, what, on_item, next, same_version, without_templates);
    }
    if (page.ok()) return version;
    // An expired continue token (410 Gone, kFailedPrecondition): start over, once.
    if (page.code() != StatusCode::kFailedPrecondition || restarted) return page;
    on_restart();
  }
}

Status KubernetesClient::ListPage(const HttpRequest& request, const std::string& what,
                                  const std::function<void(json&& item)>& on_item,
                                  std::string& next, std::string& version, bool without_templates) {
  StatusOr<json> body = InternalError(what + ": no answer");
  {
    // The page's text goes as soon as it is parsed: one page is held at a time, once.
    StatusOr<HttpResponse> response = Call(request);
    if (!response.ok()) return response.status();
    if (!Is2xx(response->status)) return StatusFromHttp(response->status, response->body, what);
    json parsed = ParseListed(response->body, 3, without_templates);
    if (parsed.is_discarded()) return InternalError(what + ": the server's answer is not JSON");
    body = std::move(parsed);
  }
  if (!body.ok()) return body.status();
  // An answer without an items list is not an empty list: callers take a list as the truth.
  auto items = body->is_object() ? body->find("items") : body->end();
  if (items == body->end() || !items->is_array()) {
    return InternalError(what + ": the server's answer is not a list (no items array)");
  }
  ++list_pages_;
  auto metadata = body->find("metadata");
  next.clear();
  if (metadata != body->end()) {
    version = StringMember(*metadata, "resourceVersion");
    next = StringMember(*metadata, "continue");
  }
  for (json& item : *items) on_item(std::move(item));
  return OkStatus();
}

StatusOr<json> KubernetesClient::Create(ResourceKind kind, const std::string& namespace_name,
                                        const json& object) {
  const std::string what =
      What("create", kind, namespace_name, object.value(json::json_pointer("/metadata/name"), ""));
  return Write("POST", ResourcePath(kind, namespace_name, ""), object, kJsonType, what);
}

StatusOr<json> KubernetesClient::Write(const char* method, std::string path, const json& body,
                                       const char* content_type, const std::string& what) {
  HttpRequest request;
  request.method = method;
  request.path = std::move(path);
  request.body = body.dump();
  request.content_type = content_type;
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

StatusOr<json> KubernetesClient::MergePatch(ResourceKind kind, const std::string& namespace_name,
                                            const std::string& name, const json& patch) {
  return Write("PATCH", ResourcePath(kind, namespace_name, name), patch,
               "application/merge-patch+json", What("patch", kind, namespace_name, name));
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
                               const HttpCancellation& cancel, bool without_templates) {
  const std::string what = What("watch", kind, namespace_name, "(" + label_selector + ")");
  HttpRequest request;
  request.path = ResourcePath(kind, namespace_name, "");
  request.query = {{"watch", "true"},
                   {"allowWatchBookmarks", "true"},
                   {"resourceVersion", resource_version},
                   {"timeoutSeconds", std::to_string(timeout.count())}};
  if (!label_selector.empty()) request.query.emplace_back("labelSelector", label_selector);
  request.headers["Accept"] = kJsonType;
  const auto stall_limit =
      std::chrono::duration_cast<std::chrono::milliseconds>(timeout) + options_.watch_stall_margin;
  // The HTTP inactivity timer is a backstop behind the watchdog, which acts first.
  request.timeout = stall_limit + options_.watch_stall_margin;
  const int attempts = std::max(1, options_.retry.max_attempts);
  for (int attempt = 1;; ++attempt) {
    int http_status = 0;
    std::optional<std::chrono::milliseconds> retry_after;
    Status result = WatchStream(request, what, stall_limit, on_event, cancel, http_status,
                                retry_after, without_templates);
    if (!IsRetryableHttpStatus(http_status) || attempt >= attempts) return result;
    if (!WaitBeforeRetry(attempt, retry_after, cancel)) {
      return UnavailableError(what + ": cancelled");
    }
  }
}

Status KubernetesClient::WatchStream(const HttpRequest& request, const std::string& what,
                                     std::chrono::milliseconds stall_limit,
                                     const std::function<bool(const json&)>& on_event,
                                     const HttpCancellation& cancel, int& http_status,
                                     std::optional<std::chrono::milliseconds>& retry_after,
                                     bool without_templates) {
  Status ended;
  StatusOr<HttpResponse> response = InternalError(what + ": not sent");
  bool stalled = false;
  {
    WatchDog dog(stall_limit, cancel);
    response = http_->Stream(
        request,
        [&](std::string_view line) {
          dog.Fed();
          json event = ParseListed(line, 2, without_templates);
          if (!event.is_object()) {
            ended = InternalError(what + ": a watch event is not JSON");
            return false;
          }
          if (StringMember(event, "type") == "ERROR") {
            ended = WatchErrorEvent(event, what);
            return false;
          }
          return on_event(event);
        },
        dog.stream());
    stalled = dog.Stop();
  }
  if (stalled) {
    const int64_t tenths = stall_limit.count() / 100;
    return DeadlineExceededError(what + ": nothing arrived (no event, no bookmark) for " +
                                 std::to_string(tenths / 10) +
                                 (tenths % 10 != 0 ? "." + std::to_string(tenths % 10) : "") +
                                 "s, the watch's timeout plus its margin: the watch stalled and "
                                 "was cancelled");
  }
  if (!response.ok()) return response.status();
  if (!Is2xx(response->status)) {
    http_status = response->status;
    auto header = response->headers.find("retry-after");
    if (header != response->headers.end()) retry_after = ParseRetryAfter(header->second);
    return StatusFromHttp(response->status, response->body, what);
  }
  return ended;
}

Status KubernetesClient::PodLog(const std::string& namespace_name, const std::string& pod,
                                const std::string& container, std::optional<int64_t> tail_lines,
                                bool follow, const std::function<bool(std::string_view)>& on_line,
                                const HttpCancellation& cancel) {
  const std::string what =
      What("read the log of", ResourceKind::kPod, namespace_name, pod + " (" + container + ")");
  HttpRequest request;
  request.path = ResourcePath(ResourceKind::kPod, namespace_name, pod) + "/log";
  request.query = {{"container", container}};
  if (tail_lines) request.query.emplace_back("tailLines", std::to_string(*tail_lines));
  if (follow) {
    request.query.emplace_back("follow", "true");
    request.timeout = std::chrono::hours(24);
  }
  StatusOr<HttpResponse> response = http_->Stream(request, on_line, cancel);
  if (!response.ok()) {
    return Status(response.status().code(), what + ": " + response.status().message());
  }
  if (!Is2xx(response->status)) return StatusFromHttp(response->status, response->body, what);
  return OkStatus();
}

bool KubernetesClient::WaitBeforeRetry(int failures,
                                       std::optional<std::chrono::milliseconds> retry_after,
                                       const HttpCancellation& cancel) {
  double unit = 0;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    unit = std::uniform_real_distribution<double>(0.0, 1.0)(random_);
  }
  const auto until =
      std::chrono::steady_clock::now() + RetryDelay(options_.retry, failures, unit, retry_after);
  while (std::chrono::steady_clock::now() < until) {
    if (cancel.cancelled()) return false;
    std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(
        kWatchDogTick, until - std::chrono::steady_clock::now()));
  }
  return !cancel.cancelled();
}

}  // namespace jobsync
