// The Backend that runs training jobs on Kubernetes as Indexed Jobs plus a headless Service
// (mapping.h says how) or as a JobSet (kubernetes.workload: jobset, jobset_mapping.h), through
// Kueue queues when a job names one (spec.queue), talking REST through KubernetesClient.
//
// Live state: the first ListJobs lists the managed Jobs (label app.kubernetes.io/managed-by=
// jobsync, leaving out the Jobs a JobSet's controller made) and the managed JobSets, and starts a
// watch of each from its list's resourceVersion on a background thread, which keeps a cache
// current; later ListJobs calls read the caches and send no request. Lists are paginated and
// compacted page by page; a watcher lists again when its watch is refused with 410 Gone or
// breaks, and watches again from the last version seen (bookmarks included) when its watch
// stalls (client.h); each restart is counted in kWatchRestartsMetric. With options.namespaces
// each kind is listed and watched in each of those namespaces separately (a thread per namespace
// and kind, one cache per kind), and ListJobs waits for all of them; without, in all namespaces
// at once. While the Job cache is not in sync (the apiserver is unreachable), ListJobs waits up
// to cache_sync_timeout (not at all after a refusal such as 403) and then fails with the last
// error, naming the namespace when one was watched alone: it never answers with stale or empty
// state. JobSets are optional: when the API is not served (no JobSet CRD: 404) or not allowed
// (403, per namespace), the JobSet cache is empty and in sync, the cause is logged once, and it
// is listed again every watch_timeout. Objects jobsync writes are put into the caches at once. For
// live jobs Kueue holds (LivePhase::kQueued), ListJobs reads the Kueue Workloads of their
// namespaces (one list per namespace) for phase_message; a failed read leaves the message empty.
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
// A Ray job with ray.cluster: kuberay (rayjob_mapping.h; its key is kubernetes/...): create makes
// the RayJob (KubeRay makes its Ray cluster); scale (suspend) and patch set spec.suspend and the
// annotations in place; update and rerun delete it (Foreground) and create it; delete deletes it.
// An ElasticJob in operator mode (elasticjob_mapping.h): create makes the ElasticJob; scale
// creates a ScalePlan for a replica change (deleting the job's older ones) and sets spec.suspend
// and the annotations in place, never the ElasticJob's replicas (DLRover's operator ignores
// them); patch sets the annotations; update and rerun delete it (Foreground) with its ScalePlans
// and create it; delete deletes both. ElasticJobs are listed and watched like JobSets, and are
// optional the same way (no DLRover CRD: none).
// A JobSet job: create makes the JobSet (the controller makes its Jobs and Service); scale
// (suspend) and patch update its annotations, spec.suspend and ttlSecondsAfterFinished in place;
// update and rerun delete it (Foreground) and create it; delete deletes it. Update and rerun
// also delete the objects of the other workload kind, so that changing kubernetes.workload
// replaces one with the other.
// A job with spec.queue (Kueue): the workload carries the queue label, and jobsync never writes
// its spec.suspend after creating it (Kueue's admission owns it): suspend and resume set the
// Kueue Workloads' spec.active (false evicts a running workload and keeps it suspended, as Kueue
// documents for stopping a workload), and creating a suspended job deactivates its Workload as
// soon as Kueue has made it (a job Kueue admits within that moment may start briefly).
// Errors name the job ("job kubernetes/ns/name: ...") and carry the server's message; one job's
// failure does not affect calls for other jobs.
//
// Thread-safe: ListJobs, Apply and GetHealth may be called from several threads at once.
#ifndef JOBSYNC_BACKENDS_KUBERNETES_KUBERNETES_BACKEND_H_
#define JOBSYNC_BACKENDS_KUBERNETES_KUBERNETES_BACKEND_H_

#include <array>
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
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "backends/backend.h"
#include "backends/http_client.h"
#include "backends/kubernetes/client.h"
#include "backends/kubernetes/kubeconfig.h"
#include "backends/kubernetes/mapping.h"
#include "backends/live_changes.h"
#include "common/metrics.h"
#include "schemas/model.h"
#include "schemas/shared_specs.h"

namespace jobsync {

struct KubernetesBackendOptions {
  // Namespaces to list and watch, each with a list and a watch of its own per kind (RBAC in
  // them is enough); empty: all namespaces, one list and watch per kind (needs cluster-wide
  // list/watch of Jobs).
  std::vector<std::string> namespaces;
  // This agent's instance (jobsync.dev/instance). Another instance's objects are cached as their
  // identity only (name, namespace, version, jobsync's labels; a Job as its record, its applied
  // spec not read): the plan needs no more of them than their owner, to leave them alone.
  // Empty: every object kept as compacted.
  std::string instance;
  // The agent's desired specs (shared_specs.h): an applied spec read back that is one of them is
  // that object, not a parsed copy. Null: every applied spec is parsed.
  std::shared_ptr<const SharedSpecs> shared_specs;
  // Create a job's namespace when it does not exist (reading the Namespace first). False: no
  // request touches a Namespace object, as an identity with Roles in its namespaces only needs.
  bool create_namespaces = true;
  KubernetesClientOptions client;               // concurrency, retries, per-request timeout
  std::chrono::seconds watch_timeout{300};      // the server ends each watch after this
  std::chrono::seconds cache_sync_timeout{30};  // ListJobs waits this long for an in-sync cache
  std::chrono::seconds delete_wait{120};        // update waits this long for the old Jobs to go
  std::chrono::seconds pending_grace{300};      // a pod Pending longer is Degraded health
  // Receives jobsync_kube_watch_restarts_total, and the client's metrics (client.h) when
  // client.metrics is null; null: not counted. Not owned; must outlive the backend.
  Metrics* metrics = nullptr;
};

// Counter of watches restarted, by resource (jobs, jobsets, elasticjobs, rayjobs) and reason:
// stalled (nothing arrived for the watch's timeout plus its margin: watched again from the last
// version seen), gone (410: listed again), error (the watch broke: listed again after a backoff).
// A watch the server ends after its timeout is renewed, not counted.
inline constexpr const char* kWatchRestartsMetric = "jobsync_kube_watch_restarts_total";

// How long creating a suspended job with a queue waits for Kueue to make its Workload (to
// deactivate it).
inline constexpr std::chrono::seconds kWorkloadWait{30};

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
  // A GET of a Job that does not exist, sent to the apiserver (not the watch cache) in the first
  // watched namespace ("default" when all are): any HTTP answer (404, 403) counts; a hung
  // apiserver or etcd does not answer it.
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
  // One list and watch of a Watched kind: in one namespace, or in all (namespace_name empty),
  // with its watcher thread and how far its part of the cache is (guarded by mutex_).
  struct Scope {
    explicit Scope(std::string namespace_name_) : namespace_name(std::move(namespace_name_)) {}
    std::string namespace_name;
    bool synced = false;  // its part of the cache reflects the cluster
    bool absent = false;  // the optional API was not there (or not allowed) in it
    Status last_error;    // why its part is not in sync
    std::thread thread;
  };

  // One watched kind of object and its cache (guarded by mutex_), filled by one Scope per
  // watched namespace (options.namespaces) or by one for all of them.
  struct Watched {
    Watched(ResourceKind kind_, const char* what_, const char* resource_, std::string selector_,
            nlohmann::json (*compact_)(const nlohmann::json&), bool optional_)
        : kind(kind_),
          what(what_),
          resource(resource_),
          selector(std::move(selector_)),
          compact(compact_),
          optional(optional_) {}
    ResourceKind kind;
    const char* what;      // "Jobs", for messages
    const char* resource;  // "jobs", for metrics
    std::string selector;  // label selector of the list and watch
    // What the cache keeps of an object; null for the Jobs, cached as records with their applied
    // specs read (CachedJobOf).
    nlohmann::json (*compact)(const nlohmann::json&);
    bool optional;  // a 404 or 403 on the list: the API is absent, the cache empty and in sync
    // "namespace/name" -> what the cache keeps of the object (CachedObject).
    std::map<std::string, std::shared_ptr<const CachedObject>> cache;
    std::vector<Scope> scopes;  // set by the constructor, never resized
    // Every scope's part of the cache reflects the cluster.
    bool synced() const;
    // The scope whose list covers `namespace_name`; null when none does.
    const Scope* ScopeOf(const std::string& namespace_name) const;
  };

  // A watcher thread of one scope: lists the scope's objects into the cache, then watches from
  // the list's version, listing again after a 410 Gone or a failure (with backoff), watching
  // again from the last version seen after a stall, until the backend stops.
  void WatchLoop(Watched& watched, Scope& scope);
  // Lists the scope's objects into the cache (replacing its part once the whole list is read,
  // each item compacted as its page arrives) and returns the list's resourceVersion; on failure
  // marks the scope out of sync with the error, and returns it.
  StatusOr<std::string> ListIntoCache(Watched& watched, Scope& scope);
  // An optional API found absent in the scope (`why`): its part of the cache empty and in sync;
  // logged the first time.
  void MarkAbsent(Watched& watched, Scope& scope, const Status& why);
  // Adds one to kWatchRestartsMetric for `watched` and `reason`.
  void CountWatchRestart(const Watched& watched, const char* reason);
  // Applies one watch event to the cache, moves `version` to the event's, tells the listener.
  void ApplyWatchEvent(Watched& watched, const nlohmann::json& event, std::string& version);
  // True once the destructor began.
  bool Stopping();
  // What the cache keeps of `object`: a Job's record with its applied spec (CachedJobOf), or
  // `watched.compact`'s; another instance's (options_.instance) identity only.
  CachedObject Kept(const Watched& watched, const nlohmann::json& object) const;
  // Puts `object` into the cache unless the cache holds a newer version of it.
  void Remember(Watched& watched, const nlohmann::json& object);
  // The cached `namespace_name`/`name` of `watched`; null when the cache has none.
  std::shared_ptr<const CachedObject> Cached(const Watched& watched,
                                             const std::string& namespace_name,
                                             const std::string& name);
  // Sets phase_message of the kQueued jobs in `live` from their Kueue Workloads.
  void AddQueueMessages(std::vector<LiveJob>& live);
  // Sleeps `delay` unless the backend is stopping; returns false when it is.
  bool SleepUnlessStopping(std::chrono::milliseconds delay);

  Status Create(const TrainingJob& job, const ApplyContext& context);
  // Scale and patch: the step's desired job written into the live Jobs and Service in place:
  // on every role Job the annotations, spec.activeDeadlineSeconds and
  // spec.ttlSecondsAfterFinished (removed when the job leaves them unset; the apiserver accepts
  // both on a running and a finished Job), and for a scale parallelism, completions and suspend.
  Status UpdateInPlace(const PlanStep& step, const ApplyContext& context);
  // Applies `patch` (a JSON merge patch) to the role Job `name` of `job` when it is this
  // instance's, and returns it as stored. One PATCH guarded by the resourceVersion the watch
  // cache holds, when the cache has the Job as this instance's; else, or when the Job changed
  // since (409), a read, the ownership check and a write guarded by the version read.
  StatusOr<nlohmann::json> PatchRoleJob(const TrainingJob& job, const std::string& name,
                                        nlohmann::json patch, const ApplyContext& context);
  // Sets the Service's annotations to the manifest's, removing `dropped`.
  Status PatchServiceAnnotations(const TrainingJob& job, const std::vector<std::string>& dropped,
                                 const ApplyContext& context);
  Status DeleteJobs(const JobKey& key, const ApplyContext& context, Propagation propagation,
                    bool wait, bool with_service);
  // Deletes every workload object of the step's job (RayJob, ElasticJob, JobSet, Jobs, and the
  // Service when `with_service`), each kind only when there may be one.
  Status DeleteWorkloads(const PlanStep& step, const ApplyContext& context, Propagation propagation,
                         bool wait, bool with_service);
  // JobSet jobs (workloads.cc).
  Status CreateJobSet(const TrainingJob& job, const ApplyContext& context);
  Status UpdateJobSetInPlace(const PlanStep& step, const ApplyContext& context);
  // Deletes the job's JobSet when there is one of this instance; waits until gone if `wait`.
  Status DeleteJobSet(const JobKey& key, const ApplyContext& context, Propagation propagation,
                      bool wait);
  StatusOr<Health> JobSetHealth(const JobKey& key);
  // The one object that stands for a whole job (workloads.cc). CreateObject: creates `object`
  // (of `kind`, `job`'s), or accepts the one there when it is this instance's with `job`'s spec
  // hash, waiting out one being deleted; a 404 says `missing_api`. DeleteObject: deletes the
  // job's object of `kind` when it is this instance's (none: nothing to do); waits until gone
  // if `wait`.
  Status CreateObject(ResourceKind kind, Watched& watched, const nlohmann::json& object,
                      const TrainingJob& job, const ApplyContext& context,
                      const std::string& missing_api);
  Status DeleteObject(ResourceKind kind, Watched& watched, const JobKey& key,
                      const ApplyContext& context, Propagation propagation, bool wait);
  // KubeRay RayJobs (rayjob_workload.cc, rayjob_mapping.h): scale (suspend) and patch write
  // spec.suspend and the annotations in place.
  Status UpdateRayJobInPlace(const PlanStep& step, const ApplyContext& context);
  StatusOr<Health> RayJobHealth(const JobKey& key);
  // ElasticJobs in operator mode (elasticjob_workload.cc, elasticjob_mapping.h).
  Status CreateElasticJob(const TrainingJob& job, const ApplyContext& context);
  // Scale: a new ScalePlan when the replicas change (older ones deleted), then spec.suspend and
  // the annotations; patch: the annotations only.
  Status UpdateElasticJobInPlace(const PlanStep& step, const ApplyContext& context);
  // Makes the ScalePlan for `job`'s replicas unless the newest plan of the job is for them, and
  // deletes every other plan of the job.
  Status EnsureScalePlan(const TrainingJob& job, const ApplyContext& context);
  // Deletes the job's ElasticJob when there is one of this instance, and its ScalePlans; waits
  // until the ElasticJob is gone if `wait`.
  Status DeleteElasticJob(const JobKey& key, const ApplyContext& context, Propagation propagation,
                          bool wait);
  // Deletes the job's ScalePlans of this instance but `keep` (a name; empty: none).
  Status DeleteScalePlans(const JobKey& key, const ApplyContext& context, const std::string& keep);
  StatusOr<Health> ElasticJobHealth(const JobKey& key);
  // Kueue (workloads.cc): sets spec.active of the Workloads Kueue made for the job's workload
  // objects. `wait_for`: how long to wait for Kueue to make them (zero: fail at once when there
  // is none).
  Status SetWorkloadsActive(const TrainingJob& job, bool active, std::chrono::seconds wait_for,
                            const ApplyContext& context);

  Status EnsureNamespace(const std::string& namespace_name);
  // The job's Service exists and is this instance's, created as `service` (its rendered object)
  // when missing: kCreate tries the create first (a new job), kRead reads it first (a live job,
  // whose Service is there).
  enum class ServiceFirst { kCreate, kRead };
  Status EnsureService(const TrainingJob& job, const nlohmann::json& service,
                       const ApplyContext& context, ServiceFirst first);
  // Creates the Job of `role`, `object` as RenderObjects rendered it; an identical one left by an
  // interrupted apply counts as created.
  Status CreateRoleJob(const TrainingJob& job, const std::string& role,
                       const nlohmann::json& object, const ApplyContext& context);
  // Polls until the Job is gone (delete_wait at most), telling context each answer.
  Status WaitGone(ResourceKind kind, const std::string& namespace_name, const std::string& name,
                  const ApplyContext& context);

  const std::unique_ptr<KubernetesClient> client_;
  const KubernetesBackendOptions options_;
  std::atomic<int64_t> list_requests_{0};

  std::mutex mutex_;
  std::condition_variable changed_;  // a Watched's synced or stopping_ changed
  bool started_ = false;             // the watcher threads run
  bool stopping_ = false;
  Watched jobs_;
  Watched jobsets_;
  Watched elasticjobs_;
  Watched rayjobs_;
  // The four above.
  std::array<Watched*, 4> AllWatched() { return {&jobs_, &jobsets_, &elasticjobs_, &rayjobs_}; }
  // The applied specs ListJobs read last time, by object version, for the kinds whose cache
  // does not read them (the Jobs' does: CachedJobOf).
  std::mutex applied_specs_mutex_;
  JobListing job_listing_;  // the last listing of the Jobs' cache (ListCachedJobs)
  AppliedSpecCache jobset_applied_specs_;
  AppliedSpecCache elasticjob_applied_specs_;
  AppliedSpecCache rayjob_applied_specs_;
  uint64_t cache_generation_ = 0;  // incremented on every change of cache_
  // Namespaces seen to exist (one read per namespace, not per job); one is forgotten when a
  // create in it finds it gone.
  std::set<std::string> known_namespaces_;
  std::mutex listener_mutex_;              // held while the listener runs
  std::function<void()> change_listener_;  // guarded by listener_mutex_
  HttpCancellation cancel_;
};

}  // namespace jobsync

#endif  // JOBSYNC_BACKENDS_KUBERNETES_KUBERNETES_BACKEND_H_
