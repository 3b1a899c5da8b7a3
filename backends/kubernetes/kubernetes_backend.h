// The Backend that runs training jobs on Kubernetes as Indexed Jobs plus a headless Service
// (mapping.h says how), talking REST through KubernetesClient.
//
// Live state: the first ListJobs lists the managed Jobs (label app.kubernetes.io/managed-by=
// jobsync) and starts a watch from the list's resourceVersion on a background thread, which keeps
// a cache current; later ListJobs calls read the cache and send no request. The watcher lists
// again when the watch is refused with 410 Gone or breaks. While the cache is not in sync (the
// apiserver is unreachable), ListJobs waits up to cache_sync_timeout (not at all after a refusal
// such as 403) and then fails with the last error: it never answers with stale or empty state.
// Objects jobsync writes are put into the cache at once.
//
// Apply, per action (all idempotent, so re-running a step after a crash finishes it):
//   create: the namespace if missing (create_namespaces), the Service, one Job per role. A Job
//           that exists already is fine when it is this instance's with the same spec hash;
//           one still being deleted is waited for, then created.
//   scale:  per role, completions and parallelism (set equal) and spec.suspend, the manifest's
//           annotations and the applied-spec annotations, by read-modify-write (409 re-read and
//           retried); the Service's annotations likewise; a role Job that is missing is created.
//   patch:  as scale without touching spec: only metadata.annotations of the Jobs (the
//           manifest's, with those it no longer has removed, and the applied spec, its hash,
//           source path and revision) and of the Service. The pods, the Jobs' uids and their
//           pod templates stay as they are: nothing restarts.
//   update: the job's Jobs deleted with Foreground propagation, waited for until gone (at most
//           delete_wait), then create.
//   delete: the job's Jobs (Background propagation: pods go too) and Service, skipping any
//           object not labelled with this instance.
// Errors name the job ("job kubernetes/ns/name: ...") and carry the server's message; one job's
// failure does not affect calls for other jobs.
//
// Thread-safe: ListJobs, Apply and GetHealth may be called from several threads at once.
#ifndef JOBSYNC_BACKENDS_KUBERNETES_KUBERNETES_BACKEND_H_
#define JOBSYNC_BACKENDS_KUBERNETES_KUBERNETES_BACKEND_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "backends/backend.h"
#include "backends/http_client.h"
#include "backends/kubernetes/client.h"
#include "backends/kubernetes/kubeconfig.h"
#include "backends/live_changes.h"
#include "schemas/model.h"

namespace jobsync {

struct KubernetesBackendOptions {
  // Namespace to list and watch; empty: all namespaces (needs cluster-wide list/watch of Jobs).
  std::string namespace_name;
  bool create_namespaces = true;                // create a job's namespace when it does not exist
  KubernetesClientOptions client;               // concurrency, retries, per-request timeout
  std::chrono::seconds watch_timeout{300};      // the server ends each watch after this
  std::chrono::seconds cache_sync_timeout{30};  // ListJobs waits this long for an in-sync cache
  std::chrono::seconds delete_wait{120};        // update waits this long for the old Jobs to go
  std::chrono::seconds pending_grace{300};      // a pod Pending longer is Degraded health
};

// A client for the cluster `credentials` describe (LoadKubeconfig), with per-request timeout
// options.client.request_timeout. Fails as NewHttpClient does, naming credentials.source.
StatusOr<std::unique_ptr<KubernetesClient>> NewKubernetesClient(
    KubeCredentials credentials, const KubernetesClientOptions& options);

class KubernetesBackend : public Backend, public LiveChangeSource {
 public:
  // Reads the kubeconfig (kubeconfig.h) and builds a backend for its cluster. Fails as
  // LoadKubeconfig and NewHttpClient do. Sends no request.
  static StatusOr<std::unique_ptr<KubernetesBackend>> FromKubeconfig(
      const KubeconfigOptions& kubeconfig, const KubeconfigEnvironment& environment,
      const KubernetesBackendOptions& options);

  KubernetesBackend(std::unique_ptr<KubernetesClient> client, KubernetesBackendOptions options);
  // Stops the watcher thread (cancelling its open watch) and waits for it.
  ~KubernetesBackend() override;
  KubernetesBackend(const KubernetesBackend&) = delete;
  KubernetesBackend& operator=(const KubernetesBackend&) = delete;

  // Backend:
  BackendKind kind() const override { return BackendKind::kKubernetes; }
  bool concurrent() const override { return true; }
  StatusOr<std::vector<LiveJob>> ListJobs() override;
  Status Apply(const PlanStep& step, const ApplyContext& context) override;
  StatusOr<Health> GetHealth(const JobKey& key) override;
  // The cache's generation while it is in sync (counts every change the watch or a write made);
  // nullopt while it is not, or before the first ListJobs started the watch.
  std::optional<uint64_t> LiveVersion() override;
  // A GET of a Job that does not exist, sent to the apiserver (not the watch cache): any HTTP
  // answer (404, 403) counts; a hung apiserver or etcd does not answer it.
  Status Ping() override;
  // A v1 Event on each role's Job (involvedObject with the Job's uid when the cache has it, so
  // `kubectl describe job` lists it), source component "jobsync".
  Status RecordEvent(const PlanStep& step, const ApplyContext& context, const std::string& reason,
                     const std::string& message, bool warning) override;

  // LiveChangeSource: calls `listener` on the watcher thread after each change the watch
  // delivers (none before the first ListJobs started the watch).
  void SetChangeListener(std::function<void()> listener) override;

  // The client this backend talks through, for the other Kubernetes parts the agent's wiring
  // builds on the same cluster (the state ConfigMap).
  KubernetesClient& client() { return *client_; }

  // Number of Job list requests the cache has sent (the first list and every re-list).
  int64_t list_requests() const { return list_requests_.load(); }

 private:
  // The watcher thread: lists the Jobs into the cache, then watches from the list's version,
  // listing again after a 410 Gone or a failure (with backoff), until the backend stops.
  void WatchLoop();
  // Lists the Jobs into the cache (replacing it) and returns the list's resourceVersion; on
  // failure marks the cache out of sync with the error, and returns it.
  StatusOr<std::string> ListIntoCache();
  // Applies one watch event to the cache, moves `version` to the event's, tells the listener.
  void ApplyWatchEvent(const nlohmann::json& event, std::string& version);
  // True once the destructor began.
  bool Stopping();
  // Puts `object` into the cache unless the cache holds a newer version of it.
  void Remember(const nlohmann::json& object);
  // Sleeps `delay` unless the backend is stopping; returns false when it is.
  bool SleepUnlessStopping(std::chrono::milliseconds delay);

  Status Create(const TrainingJob& job, const ApplyContext& context);
  // Scale and patch: the step's desired job written into the live Jobs and Service in place:
  // on every role Job the annotations, spec.activeDeadlineSeconds and
  // spec.ttlSecondsAfterFinished (removed when the job leaves them unset; the apiserver accepts
  // both on a running and a finished Job), and for a scale parallelism, completions and suspend.
  Status UpdateInPlace(const PlanStep& step, const ApplyContext& context);
  // Sets the Service's annotations to the manifest's, removing `dropped`.
  Status PatchServiceAnnotations(const TrainingJob& job, const std::vector<std::string>& dropped,
                                 const ApplyContext& context);
  Status DeleteJobs(const JobKey& key, const ApplyContext& context, Propagation propagation,
                    bool wait, bool with_service);
  Status EnsureNamespace(const std::string& namespace_name);
  Status EnsureService(const TrainingJob& job, const ApplyContext& context);
  Status CreateRoleJob(const TrainingJob& job, const std::string& role,
                       const ApplyContext& context);
  // Polls until the Job is gone (delete_wait at most), telling context each answer.
  Status WaitGone(const std::string& namespace_name, const std::string& name,
                  const ApplyContext& context);

  const std::unique_ptr<KubernetesClient> client_;
  const KubernetesBackendOptions options_;
  std::atomic<int64_t> list_requests_{0};

  std::mutex mutex_;
  std::condition_variable changed_;  // synced_ or stopping_ changed
  bool started_ = false;             // the watcher thread runs
  bool synced_ = false;              // the cache reflects the cluster
  bool stopping_ = false;
  Status last_error_;                            // why the cache is not in sync
  std::map<std::string, nlohmann::json> cache_;  // "namespace/name" -> Job object
  // The applied specs ListJobs read last time, by Job version (LiveJobsFromObjects).
  std::mutex applied_specs_mutex_;
  std::unordered_map<std::string, std::optional<TrainingJob>> applied_specs_;
  uint64_t cache_generation_ = 0;  // incremented on every change of cache_
  // Namespaces seen to exist (one read per namespace, not per job); one is forgotten when a
  // create in it finds it gone.
  std::set<std::string> known_namespaces_;
  std::mutex listener_mutex_;              // held while the listener runs
  std::function<void()> change_listener_;  // guarded by listener_mutex_
  HttpCancellation cancel_;
  std::thread watcher_;
};

}  // namespace jobsync

#endif  // JOBSYNC_BACKENDS_KUBERNETES_KUBERNETES_BACKEND_H_
