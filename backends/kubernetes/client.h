// REST calls to a Kubernetes apiserver over HttpClient: get, list, create, update, delete and
// watch of the few kinds jobsync uses, with adaptive concurrency and retries.
//
// Concurrency: requests (not watches) are sent at most AdaptiveLimit::limit() at once over all
// threads (adaptive_limit.h): the limit is cut on each burst of 429 answers and grows back one by
// one on successes, between KubernetesClientOptions::concurrency's floor and ceiling, so that a
// client sends as much as the apiserver's API Priority and Fairness lets it and backs off when it
// says too many.
//
// Retry policy (per call): 429 answers are retried up to RetryPolicy::max_throttled times (the
// server did not process the request, and the limit above keeps the retries from adding load);
// 5xx answers, connection failures and timeouts until RetryPolicy::max_attempts attempts failed
// so; both with exponential backoff and jitter, honouring Retry-After. Update
// re-reads and retries on 409 Conflict. Everything else is returned at once, mapped to a Status
// carrying the server's message: 403/401 kPermissionDenied, 400/422 kInvalidArgument, 404
// kNotFound, 409 kAlreadyExists (create) or kFailedPrecondition, 410 kFailedPrecondition.
//
// Lists and watches follow client-go's reflector and pager:
// - A list is read in pages of KubernetesClientOptions::list_page_size items (`limit`), each next
//   page asked for with the `continue` token of the one before; the collection's resourceVersion
//   is the first page's (every page of one list is read at that version). A 410 Gone on a
//   continue token (it expired: etcd compacted the version the list reads at) starts the list
//   again from its first page, once; client-go falls back to one unpaginated list instead, which
//   would hold the whole collection in one answer.
// - A watch asks for bookmarks, and is watched over by a watchdog: when nothing (no event, no
//   bookmark, no end) arrived for longer than its timeout plus watch_stall_margin, the watch is
//   taken for stalled (a half-open connection, a proxy that stopped forwarding), cancelled, and
//   ends with kDeadlineExceeded. The server ends a healthy watch after its timeout, so a healthy
//   watch never trips it.
// - 429 and 5xx answers to a list page or to the start of a watch are retried as other calls
//   are, honouring Retry-After.
#ifndef JOBSYNC_BACKENDS_KUBERNETES_CLIENT_H_
#define JOBSYNC_BACKENDS_KUBERNETES_CLIENT_H_

#include <atomic>
#include <chrono>
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
#include "backends/kubernetes/adaptive_limit.h"
#include "common/metrics.h"
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
  int max_attempts = 5;    // including the first
  int max_throttled = 10;  // 429 answers retried, at most, beside max_attempts (as client-go)
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

// Metrics of a KubernetesClient, labelled with its server (the apiserver's URL): the gauge of its
// current in-flight limit, and the counter of 429 Too Many Requests answers it was given.
inline constexpr const char* kInflightLimitMetric = "jobsync_kube_inflight_limit";
inline constexpr const char* kThrottledMetric = "jobsync_kube_throttled_total";

struct KubernetesClientOptions {
  // The adaptive in-flight limit: requests sent at once, over all threads (watches not counted).
  AdaptiveLimitOptions concurrency;
  RetryPolicy retry;
  std::chrono::milliseconds request_timeout{30000};
  // Items per list page (`limit`), as client-go's pager; 0 or less: one unpaginated answer.
  int list_page_size = 500;
  // A watch that delivered nothing for its timeout plus this long is cancelled as stalled.
  std::chrono::milliseconds watch_stall_margin{30000};
  // Receives kInflightLimitMetric and kThrottledMetric with the label server=`server`; null: not
  // reported. Not owned; must outlive the client.
  Metrics* metrics = nullptr;
  std::string server;
};

// The items of a list and the collection's resourceVersion, from which a watch starts.
struct ObjectList {
  std::vector<nlohmann::json> items;
  std::string resource_version;
};

enum class Propagation { kBackground, kForeground };

// Typed-ish REST calls to one apiserver. Owns its HttpClient. Thread-safe: calls from many
// threads share the adaptive in-flight limit; a call waiting for a slot blocks.
class KubernetesClient {
 public:
  KubernetesClient(std::unique_ptr<HttpClient> http, KubernetesClientOptions options);
  KubernetesClient(const KubernetesClient&) = delete;
  KubernetesClient& operator=(const KubernetesClient&) = delete;

  // Returns the object; kNotFound when it does not exist.
  StatusOr<nlohmann::json> Get(ResourceKind kind, const std::string& namespace_name,
                               const std::string& name);

  // Lists objects matching `label_selector` (empty: all) in `namespace_name` (empty: all), page
  // by page (see the top of this file). Fails with kInternal when an answer is not a JSON object
  // with an items list, and as the calls do when a page cannot be read.
  StatusOr<ObjectList> List(ResourceKind kind, const std::string& namespace_name,
                            const std::string& label_selector);

  // As List, but hands each item to `on_item` as its page arrives instead of collecting them,
  // so that only one page of whole objects is held at a time. When the list starts over after
  // an expired continue token, `on_restart` is called first: the items handed so far are to be
  // forgotten. Returns the collection's resourceVersion.
  // Listed and watched objects come without metadata.managedFields (nothing here reads them);
  // with `without_templates`, also without spec.template (a Job's pod template), for readers
  // that keep neither, such as the watch caches. Neither is ever built.
  StatusOr<std::string> ListEach(ResourceKind kind, const std::string& namespace_name,
                                 const std::string& label_selector,
                                 const std::function<void(nlohmann::json&& item)>& on_item,
                                 const std::function<void()>& on_restart,
                                 bool without_templates = false);

  // Creates `object` and returns it as stored; kAlreadyExists when the name is taken.
  StatusOr<nlohmann::json> Create(ResourceKind kind, const std::string& namespace_name,
                                  const nlohmann::json& object);

  // Reads the object, lets `mutate` change it (a non-ok Status from `mutate` stops the update
  // and is returned), and replaces it guarded by its resourceVersion; on 409 Conflict starts
  // again from a fresh read, up to RetryPolicy::max_attempts times. Returns the stored object.
  StatusOr<nlohmann::json> Update(ResourceKind kind, const std::string& namespace_name,
                                  const std::string& name,
                                  const std::function<Status(nlohmann::json&)>& mutate);

  // Applies `patch`, a JSON merge patch (RFC 7386: a null member removes that member, an absent
  // one is left alone), to the object and returns it as stored. A patch that names
  // metadata.resourceVersion applies to that version only: kFailedPrecondition (409 Conflict)
  // when the object changed since. One request, where Update reads first.
  StatusOr<nlohmann::json> MergePatch(ResourceKind kind, const std::string& namespace_name,
                                      const std::string& name, const nlohmann::json& patch);

  // Deletes the object with the given propagation. An object already gone is success.
  Status Delete(ResourceKind kind, const std::string& namespace_name, const std::string& name,
                Propagation propagation);

  // Watches `kind` from `resource_version`, calling `on_event` with each event ({type, object};
  // BOOKMARK events included) until the server ends the watch after about `timeout` (ok), or
  // `on_event` returns false (ok), or `cancel` is cancelled (kUnavailable). An ERROR event or an
  // HTTP 410 ends it with kFailedPrecondition ("410 Gone": list again); nothing arriving for
  // `timeout` plus watch_stall_margin ends it with kDeadlineExceeded (stalled). A 429 or 5xx
  // answer to its start is retried (Retry-After honoured); once events flow, it is not.
  // Objects as ListEach hands them (`without_templates` as there).
  Status Watch(ResourceKind kind, const std::string& namespace_name,
               const std::string& label_selector, const std::string& resource_version,
               std::chrono::seconds timeout,
               const std::function<bool(const nlohmann::json&)>& on_event,
               const HttpCancellation& cancel, bool without_templates = false);

  // Reads the log of `container` in the pod `namespace_name`/`pod` (GET .../pods/POD/log),
  // handing `on_line` each line, without its end, as it arrives: the last `tail_lines` lines
  // (nullopt: all), and with `follow` the new ones until the container ends, `on_line` returns
  // false (ok) or `cancel` is cancelled (kUnavailable). A followed log may stay silent for
  // hours: its inactivity limit is a day. Not retried (a retry would repeat lines). Fails as Get
  // does, with the apiserver's message (400 kInvalidArgument: the container is waiting to start,
  // or the node's kubelet cannot be reached; 404 kNotFound: the pod is gone).
  Status PodLog(const std::string& namespace_name, const std::string& pod,
                const std::string& container, std::optional<int64_t> tail_lines, bool follow,
                const std::function<bool(std::string_view)>& on_line,
                const HttpCancellation& cancel);

  // Number of list pages read (answers of a list or page request that were lists), over the
  // client's life. For tests and figures.
  int64_t list_pages() const { return list_pages_.load(); }
  // The current in-flight limit, and the 429 answers received over the client's life.
  int inflight_limit() const { return limit_.limit(); }
  int64_t throttled() const { return throttled_.load(); }

 private:
  // Sends `request` with retries and the in-flight bound; returns the last response or failure.
  StatusOr<HttpResponse> Call(HttpRequest request);
  // Sends `body` to `path` with `method` (POST, PATCH) and returns the object the server answers;
  // `what` names the call in errors.
  StatusOr<nlohmann::json> Write(const char* method, std::string path, const nlohmann::json& body,
                                 const char* content_type, const std::string& what);
  // One page: its items handed to `on_item`, its continue token and resourceVersion returned
  // through `next` and `version`. A 410 is returned as kFailedPrecondition.
  Status ListPage(const HttpRequest& request, const std::string& what,
                  const std::function<void(nlohmann::json&& item)>& on_item, std::string& next,
                  std::string& version, bool without_templates);
  // One watch stream under a watchdog; sets `retry_after` and `http_status` from a non-2xx
  // answer to its start.
  Status WatchStream(const HttpRequest& request, const std::string& what,
                     std::chrono::milliseconds stall_limit,
                     const std::function<bool(const nlohmann::json&)>& on_event,
                     const HttpCancellation& cancel, int& http_status,
                     std::optional<std::chrono::milliseconds>& retry_after, bool without_templates);
  // Sleeps before retry `failures + 1` of a watch start, in small steps so that `cancel` ends
  // it; false when cancelled.
  bool WaitBeforeRetry(int failures, std::optional<std::chrono::milliseconds> retry_after,
                       const HttpCancellation& cancel);
  // One attempt of `request` within the in-flight limit, told the outcome.
  StatusOr<HttpResponse> SendLimited(const HttpRequest& request);

  const std::unique_ptr<HttpClient> http_;
  const KubernetesClientOptions options_;
  std::mutex mutex_;
  std::mt19937 random_;  // guarded by mutex_
  std::atomic<int64_t> list_pages_{0};
  std::atomic<int64_t> throttled_{0};
  AdaptiveLimit limit_;  // after options_, which its gauge callback reads
};

}  // namespace jobsync

#endif  // JOBSYNC_BACKENDS_KUBERNETES_CLIENT_H_
