// REST calls to a Kubernetes apiserver over HttpClient: get, list, create, update, delete and
// watch of the few kinds jobsync uses, with bounded concurrency and retries.
//
// Retry policy (per call): 429, 5xx and connection failures or timeouts are retried with
// exponential backoff and jitter, honouring Retry-After, up to RetryPolicy::max_attempts. Update
// re-reads and retries on 409 Conflict. Everything else is returned at once, mapped to a Status
// carrying the server's message: 403/401 kPermissionDenied, 400/422 kInvalidArgument, 404
// kNotFound, 409 kAlreadyExists (create) or kFailedPrecondition, 410 kFailedPrecondition.
#ifndef JOBSYNC_BACKENDS_KUBERNETES_CLIENT_H_
#define JOBSYNC_BACKENDS_KUBERNETES_CLIENT_H_

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "backends/http_client.h"
#include "common/status.h"

namespace jobsync {

// The resources jobsync reads or writes.
// kJobSet: jobset.x-k8s.io/v1alpha2 JobSet; kWorkload: kueue.x-k8s.io/v1beta2 Workload.
enum class ResourceKind {
  kJob,
  kService,
  kNamespace,
  kPod,
  kConfigMap,
  kEvent,
  kLease,
  kJobSet,
  kWorkload,
  kElasticJob,  // DLRover's elastic.iml.github.io/v1alpha1 ElasticJob
  kScalePlan,   // DLRover's elastic.iml.github.io/v1alpha1 ScalePlan
  kRayJob,      // KubeRay's ray.io/v1 RayJob
};

// "batch/v1 Job", "v1 Service", ... for messages.
const char* ResourceKindName(ResourceKind kind);

// The REST path of one object (`name` set) or a collection (`name` empty). An empty
// `namespace_name` means all namespaces; Namespace objects ignore it.
std::string ResourcePath(ResourceKind kind, const std::string& namespace_name,
                         const std::string& name);

// How often and how long to retry one call.
struct RetryPolicy {
  int max_attempts = 5;                              // including the first
  std::chrono::milliseconds initial_backoff{200};    // before the second attempt
  std::chrono::milliseconds max_backoff{5000};       // cap of the exponential growth
  double jitter = 0.2;                               // delays vary by up to this share, +/-
  std::chrono::milliseconds max_retry_after{30000};  // cap of a server's Retry-After
  // Attempts that ran into the request timeout, at most: a server that hangs (the apiserver
  // waiting on an unavailable etcd) is not waited on max_attempts times over.
  int max_timeouts = 2;
};

// True for the HTTP statuses worth retrying: 429 and 5xx.
bool IsRetryableHttpStatus(int status);

// The delay before attempt `failures + 1`, after `failures` (>= 1) failed attempts:
// initial_backoff * 2^(failures-1), capped at max_backoff, scaled by 1 + jitter * (2u - 1) for
// `unit_random` u in [0, 1). A server's `retry_after`, when given, is used instead (capped at
// max_retry_after), without jitter. Pure.
std::chrono::milliseconds RetryDelay(const RetryPolicy& policy, int failures, double unit_random,
                                     std::optional<std::chrono::milliseconds> retry_after);

// Parses a Retry-After header given in seconds ("3"). HTTP dates are not used by the apiserver
// and give nullopt, as does anything unparseable. Pure.
std::optional<std::chrono::milliseconds> ParseRetryAfter(std::string_view header);

// Maps a non-2xx response to a Status whose message is "<what>: <the server's message> (HTTP n)";
// the server's message is the `message` field of a Kubernetes Status body, else the raw body
// (shortened). Pure.
Status StatusFromHttp(int status, std::string_view body, const std::string& what);

struct KubernetesClientOptions {
  int max_in_flight = 16;  // requests sent at once, over all threads (watches not counted)
  RetryPolicy retry;
  std::chrono::milliseconds request_timeout{30000};
};

// The items of a list and the collection's resourceVersion, from which a watch starts.
struct ObjectList {
  std::vector<nlohmann::json> items;
  std::string resource_version;
};

enum class Propagation { kBackground, kForeground };

// Typed-ish REST calls to one apiserver. Owns its HttpClient. Thread-safe: calls from many
// threads share max_in_flight slots; a call waiting for a slot blocks.
class KubernetesClient {
 public:
  KubernetesClient(std::unique_ptr<HttpClient> http, KubernetesClientOptions options);
  KubernetesClient(const KubernetesClient&) = delete;
  KubernetesClient& operator=(const KubernetesClient&) = delete;

  // Returns the object; kNotFound when it does not exist.
  StatusOr<nlohmann::json> Get(ResourceKind kind, const std::string& namespace_name,
                               const std::string& name);

  // Lists objects matching `label_selector` (empty: all) in `namespace_name` (empty: all). Fails
  // with kInternal when the answer is not a JSON object with an items list.
  StatusOr<ObjectList> List(ResourceKind kind, const std::string& namespace_name,
                            const std::string& label_selector);

  // Creates `object` and returns it as stored; kAlreadyExists when the name is taken.
  StatusOr<nlohmann::json> Create(ResourceKind kind, const std::string& namespace_name,
                                  const nlohmann::json& object);

  // Reads the object, lets `mutate` change it (a non-ok Status from `mutate` stops the update
  // and is returned), and replaces it guarded by its resourceVersion; on 409 Conflict starts
  // again from a fresh read, up to RetryPolicy::max_attempts times. Returns the stored object.
  StatusOr<nlohmann::json> Update(ResourceKind kind, const std::string& namespace_name,
                                  const std::string& name,
                                  const std::function<Status(nlohmann::json&)>& mutate);

  // Deletes the object with the given propagation. An object already gone is success.
  Status Delete(ResourceKind kind, const std::string& namespace_name, const std::string& name,
                Propagation propagation);

  // Watches `kind` from `resource_version`, calling `on_event` with each event ({type, object};
  // BOOKMARK events included) until the server ends the watch after about `timeout` (ok), or
  // `on_event` returns false (ok), or `cancel` is cancelled (kUnavailable). An ERROR event or an
  // HTTP 410 ends it with kFailedPrecondition ("410 Gone": list again). Not retried.
  Status Watch(ResourceKind kind, const std::string& namespace_name,
               const std::string& label_selector, const std::string& resource_version,
               std::chrono::seconds timeout,
               const std::function<bool(const nlohmann::json&)>& on_event,
               const HttpCancellation& cancel);

 private:
  // Sends `request` with retries and the in-flight bound; returns the last response or failure.
  StatusOr<HttpResponse> Call(HttpRequest request);
  void Acquire();
  void Release();

  const std::unique_ptr<HttpClient> http_;
  const KubernetesClientOptions options_;
  std::mutex mutex_;
  std::condition_variable slot_free_;
  int in_flight_ = 0;
  std::mt19937 random_;  // guarded by mutex_
};

}  // namespace jobsync

#endif  // JOBSYNC_BACKENDS_KUBERNETES_CLIENT_H_
