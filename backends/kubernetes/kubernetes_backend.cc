#include "backends/kubernetes/kubernetes_backend.h"

#include <ctime>
#include <utility>

#include "backends/kubernetes/elasticjob_mapping.h"
#include "backends/kubernetes/jobset_mapping.h"
#include "backends/kubernetes/mapping.h"
#include "backends/kubernetes/object_fields.h"
#include "backends/kubernetes/rayjob_mapping.h"
#include "schemas/canonical.h"

namespace jobsync {
namespace {

using nlohmann::json;

std::string StringAt(const json& object, const char* pointer) {
  const json::json_pointer path(pointer);
  if (!object.contains(path) || !object.at(path).is_string()) return "";
  return object.at(path).get<std::string>();
}

std::string LabelOf(const json& object, const char* key) {
  const json::json_pointer path = json::json_pointer("/metadata/labels") / key;
  if (!object.contains(path) || !object.at(path).is_string()) return "";
  return object.at(path).get<std::string>();
}

std::string AnnotationOf(const json& object, const char* key) {
  const json::json_pointer path = json::json_pointer("/metadata/annotations") / key;
  if (!object.contains(path) || !object.at(path).is_string()) return "";
  return object.at(path).get<std::string>();
}

Status ForJob(const JobKey& key, const Status& status) {
  if (status.ok()) return status;
  return {status.code(), "job " + key.ToString() + ": " + status.message()};
}

bool OwnedBy(const json& object, const std::string& instance) {
  return LabelOf(object, kManagedByLabel) == kManagedByValue &&
         LabelOf(object, kInstanceLabel) == instance;
}

// True when `object[key]` is a mapping or absent, so that operator[] may write into it: json
// throws on a server's answer that has something else there.
bool WritableAt(const json& object, const char* key) {
  auto it = object.find(key);
  return it == object.end() || it->is_object() || it->is_null();
}

}  // namespace

StatusOr<std::unique_ptr<KubernetesClient>> NewKubernetesClient(
    KubeCredentials credentials, const KubernetesClientOptions& options) {
  credentials.http.default_timeout = options.request_timeout;
  StatusOr<std::unique_ptr<HttpClient>> http = NewCurlHttpClient(credentials.http);
  if (!http.ok()) {
    return Status(http.status().code(), credentials.source + ": " + http.status().message());
  }
  return std::make_unique<KubernetesClient>(std::move(*http), options);
}

StatusOr<std::unique_ptr<KubernetesBackend>> KubernetesBackend::FromKubeconfig(
    const KubeconfigOptions& kubeconfig, const KubeconfigEnvironment& environment,
    const KubernetesBackendOptions& options) {
  StatusOr<KubeCredentials> credentials = LoadKubeconfig(kubeconfig, environment);
  if (!credentials.ok()) return credentials.status();
  KubernetesClientOptions client_options = options.client;
  if (client_options.metrics == nullptr) client_options.metrics = options.metrics;
  if (client_options.server.empty()) client_options.server = credentials->http.base_url;
  StatusOr<std::unique_ptr<KubernetesClient>> client =
      NewKubernetesClient(std::move(*credentials), client_options);
  if (!client.ok()) return client.status();
  return std::make_unique<KubernetesBackend>(std::move(*client), options);
}

KubernetesBackend::KubernetesBackend(std::unique_ptr<KubernetesClient> client,
                                     KubernetesBackendOptions options)
    : client_(std::move(client)),
      options_(std::move(options)),
      jobs_{ResourceKind::kJob,  "Jobs", "jobs", ManagedSelector() + kNotJobSetChild,
            /*compact=*/nullptr, false},
      jobsets_{ResourceKind::kJobSet, "JobSets", "jobsets", ManagedSelector(),
               &CompactJobSetObject,  true},
      elasticjobs_{ResourceKind::kElasticJob, "ElasticJobs", "elasticjobs", ManagedSelector(),
                   &CompactElasticJobObject,  true},
      rayjobs_{ResourceKind::kRayJob, "RayJobs", "rayjobs", ManagedSelector(),
               &CompactRayJobObject,  true} {
  for (AppliedSpecCache* specs :
       {&jobset_applied_specs_, &elasticjob_applied_specs_, &rayjob_applied_specs_}) {
    specs->shared = options_.shared_specs.get();
  }
  for (Watched* watched : AllWatched()) {
    if (options_.namespaces.empty()) watched->scopes.emplace_back("");
    for (const std::string& namespace_name : options_.namespaces) {
      watched->scopes.emplace_back(namespace_name);
    }
  }
  if (options_.metrics != nullptr) {
    options_.metrics->Declare(kWatchRestartsMetric, MetricType::kCounter,
                              "Kubernetes watches restarted, by resource and reason (stalled, "
                              "gone, error)");
  }
}

KubernetesBackend::~KubernetesBackend() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
  cancel_.Cancel();
  for (Watched* watched : AllWatched()) {
    for (Scope& scope : watched->scopes) {
      if (scope.thread.joinable()) scope.thread.join();
    }
  }
}

// ---- apply ------------------------------------------------------------------------------------

Status KubernetesBackend::Apply(const PlanStep& step, const ApplyContext& context) {
  if (step.action == Action::kNone) return OkStatus();
  if (step.key.backend != BackendKind::kKubernetes) {
    return InvalidArgumentError("job " + step.key.ToString() +
                                " is not for the kubernetes backend");
  }
  if (context.instance.empty()) return InvalidArgumentError("the instance name is empty");
  const bool needs_desired = step.action != Action::kDelete;
  if (needs_desired && !step.desired) {
    return InvalidArgumentError("job " + step.key.ToString() + ": a " + ActionName(step.action) +
                                " step carries no desired job");
  }
  const KubernetesWorkload workload =
      step.desired ? step.desired->workload : KubernetesWorkload::kJob;
  const bool rayjob = step.desired && IsRayJob(*step.desired);
  const bool jobset = !rayjob && workload == KubernetesWorkload::kJobSet;
  const bool elastic = !rayjob && workload == KubernetesWorkload::kElasticJob;
  switch (step.action) {
    case Action::kCreate:
      return ForJob(step.key, Create(*step.desired, context));
    case Action::kScale:
    case Action::kPatch:
      if (rayjob) return ForJob(step.key, UpdateRayJobInPlace(step, context));
      if (elastic) return ForJob(step.key, UpdateElasticJobInPlace(step, context));
      return ForJob(step.key,
                    jobset ? UpdateJobSetInPlace(step, context) : UpdateInPlace(step, context));
    case Action::kUpdate:
    case Action::kRerun: {
      // Render before deleting: a desired job that cannot map (a pod template patch that fails,
      // say) leaves the live job running instead of deleting it and creating nothing.
      Status renders = RenderObjects(*step.desired, context, false).status();
      if (!renders.ok()) return ForJob(step.key, renders);
      // The Service stays only when Jobs are to use it again.
      JOBSYNC_RETURN_IF_ERROR(
          ForJob(step.key, DeleteWorkloads(step, context, Propagation::kForeground, true,
                                           jobset || elastic || rayjob)));
      return ForJob(step.key, Create(*step.desired, context));
    }
    case Action::kDelete:
      return ForJob(step.key,
                    DeleteWorkloads(step, context, Propagation::kBackground, false, true));
    case Action::kNone:
      break;
  }
  return OkStatus();
}

Status KubernetesBackend::DeleteWorkloads(const PlanStep& step, const ApplyContext& context,
                                          Propagation propagation, bool wait, bool with_service) {
  const KubernetesWorkload workload =
      step.desired ? step.desired->workload : KubernetesWorkload::kJob;
  const bool rayjob = step.desired && IsRayJob(*step.desired);
  // A RayJob (a JobSet, an ElasticJob) is looked for only when there may be one: Git wants one,
  // or the cache has it or cannot tell. A cluster without the API, or an identity not allowed to
  // read it, is never asked.
  bool maybe_rayjob = rayjob;
  bool maybe_jobset = !rayjob && workload == KubernetesWorkload::kJobSet;
  bool maybe_elastic = !rayjob && workload == KubernetesWorkload::kElasticJob;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    const std::string id = step.key.namespace_name + "/" + step.key.name;
    auto may_have = [&](const Watched& watched) {
      const Scope* scope = watched.ScopeOf(step.key.namespace_name);
      return scope == nullptr || (!scope->absent && !scope->synced) || watched.cache.contains(id);
    };
    maybe_rayjob = maybe_rayjob || may_have(rayjobs_);
    maybe_jobset = maybe_jobset || may_have(jobsets_);
    maybe_elastic = maybe_elastic || may_have(elasticjobs_);
  }
  // Every workload kind goes, so that a change of kubernetes.workload, ray.cluster or an
  // ElasticJob's mode replaces one with the other.
  if (maybe_rayjob) {
    JOBSYNC_RETURN_IF_ERROR(
        DeleteObject(ResourceKind::kRayJob, rayjobs_, step.key, context, propagation, wait));
  }
  if (maybe_elastic) {
    JOBSYNC_RETURN_IF_ERROR(DeleteElasticJob(step.key, context, propagation, wait));
  }
  if (maybe_jobset) JOBSYNC_RETURN_IF_ERROR(DeleteJobSet(step.key, context, propagation, wait));
  return DeleteJobs(step.key, context, propagation, wait, with_service);
}

Status KubernetesBackend::EnsureNamespace(const std::string& namespace_name) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (known_namespaces_.count(namespace_name) != 0) return OkStatus();
  }
  auto remember = [&] {
    std::lock_guard<std::mutex> lock(mutex_);
    known_namespaces_.insert(namespace_name);
    return OkStatus();
  };
  StatusOr<json> existing = client_->Get(ResourceKind::kNamespace, "", namespace_name);
  if (existing.ok()) return remember();
  // An identity limited to its namespaces may not read Namespace objects: go on and let the
  // creates below say whether the namespace is usable.
  if (existing.status().code() == StatusCode::kPermissionDenied) return OkStatus();
  if (existing.status().code() != StatusCode::kNotFound) return existing.status();
  StatusOr<json> created =
      client_->Create(ResourceKind::kNamespace, "", NamespaceObject(namespace_name));
  if (created.ok() || created.status().code() == StatusCode::kAlreadyExists) return remember();
  return created.status();
}

Status KubernetesBackend::EnsureService(const TrainingJob& job, const json& service,
                                        const ApplyContext& context, ServiceFirst first) {
  // A new job's Service is created at once; a live job's is read first, since it is there but
  // for drift: one request, not a refused create and a read.
  StatusOr<json> existing = NotFoundError("not read");
  if (first == ServiceFirst::kRead) {
    existing = client_->Get(ResourceKind::kService, job.namespace_name, job.name);
  }
  if (!existing.ok() && existing.status().code() == StatusCode::kNotFound) {
    StatusOr<json> created = client_->Create(ResourceKind::kService, job.namespace_name, service);
    if (created.ok()) return OkStatus();
    if (created.status().code() != StatusCode::kAlreadyExists) return created.status();
    existing = client_->Get(ResourceKind::kService, job.namespace_name, job.name);
  }
  if (!existing.ok()) return existing.status();
  if (!OwnedBy(*existing, context.instance) || LabelOf(*existing, kJobLabel) != job.name) {
    return Status(StatusCode::kAlreadyExists, "Service " + job.namespace_name + "/" + job.name +
                                                  " exists and is not this instance's (labels " +
                                                  kInstanceLabel + "=" + context.instance + ", " +
                                                  kJobLabel + "=" + job.name + " expected)");
  }
  return OkStatus();
}

Status KubernetesBackend::WaitGone(ResourceKind kind, const std::string& namespace_name,
                                   const std::string& name, const ApplyContext& context) {
  const auto deadline = std::chrono::steady_clock::now() + options_.delete_wait;
  while (true) {
    StatusOr<json> existing = client_->Get(kind, namespace_name, name);
    if (!existing.ok() && existing.status().code() == StatusCode::kNotFound) return OkStatus();
    if (!existing.ok()) return existing.status();
    context.Answered();
    if (std::chrono::steady_clock::now() >= deadline) {
      return DeadlineExceededError(
          std::string(ResourceKindName(kind)) + " " + namespace_name + "/" + name +
          " still exists " + std::to_string(options_.delete_wait.count()) + "s after its deletion");
    }
    if (!SleepUnlessStopping(std::chrono::milliseconds(250))) {
      return UnavailableError("the backend is shutting down");
    }
  }
}

Status KubernetesBackend::CreateRoleJob(const TrainingJob& job, const std::string& role,
                                        const json& object, const ApplyContext& context) {
  const std::string name = RoleJobName(job.name, role);
  for (int attempt = 0; attempt < 2; ++attempt) {
    StatusOr<json> created = client_->Create(ResourceKind::kJob, job.namespace_name, object);
    if (created.ok()) {
      Remember(jobs_, *created);
      return OkStatus();
    }
    if (created.status().code() != StatusCode::kAlreadyExists) return created.status();
    StatusOr<json> existing = client_->Get(ResourceKind::kJob, job.namespace_name, name);
    if (!existing.ok()) {
      if (existing.status().code() == StatusCode::kNotFound) continue;  // gone meanwhile
      return existing.status();
    }
    if (existing->contains(json::json_pointer("/metadata/deletionTimestamp"))) {
      JOBSYNC_RETURN_IF_ERROR(WaitGone(ResourceKind::kJob, job.namespace_name, name, context));
      continue;
    }
    if (OwnedBy(*existing, context.instance) &&
        AnnotationOf(*existing, kSpecHashAnnotation) == SpecHash(job)) {
      Remember(jobs_, *existing);
      return OkStatus();  // created by an earlier, interrupted apply
    }
    return Status(StatusCode::kAlreadyExists,
                  "Job " + job.namespace_name + "/" + name +
                      " exists with another owner or spec; jobsync does not overwrite it");
  }
  return UnavailableError("Job " + job.namespace_name + "/" + name +
                          " kept reappearing while being created");
}

Status KubernetesBackend::Create(const TrainingJob& job, const ApplyContext& context) {
  if (job.roles.empty()) return InvalidArgumentError("the job has no roles");
  if (IsRayJob(job)) {
    StatusOr<json> object = RayJobObject(job, context);
    if (!object.ok()) return object.status();
    return CreateObject(ResourceKind::kRayJob, rayjobs_, *object, job, context,
                        "is the KubeRay operator installed (its CRD rayjobs.ray.io)? "
                        "ray.cluster: kuberay needs it");
  }
  if (job.workload == KubernetesWorkload::kJobSet) return CreateJobSet(job, context);
  if (job.workload == KubernetesWorkload::kElasticJob) return CreateElasticJob(job, context);
  // Render first so that a job that cannot map creates nothing at all: the Service, then each
  // role's Job in role order.
  StatusOr<std::vector<json>> objects = RenderObjects(job, context, false);
  if (!objects.ok()) return objects.status();
  if (options_.create_namespaces) JOBSYNC_RETURN_IF_ERROR(EnsureNamespace(job.namespace_name));
  Status created = EnsureService(job, (*objects)[0], context, ServiceFirst::kCreate);
  size_t index = 1;
  for (auto role = job.roles.begin(); created.ok() && role != job.roles.end(); ++role) {
    created = CreateRoleJob(job, role->first, (*objects)[index++], context);
  }
  if (created.code() == StatusCode::kNotFound) {
    // The namespace was deleted since it was seen: look again next time.
    std::lock_guard<std::mutex> lock(mutex_);
    known_namespaces_.erase(job.namespace_name);
  }
  if (created.ok() && job.suspend && !job.queue.empty()) {
    created = SetWorkloadsActive(job, false, kWorkloadWait, context);
  }
  return created;
}

namespace {

// Writes the manifest's annotations into `object` (a Job or the Service), removing `dropped`.
void SetManifestAnnotations(const TrainingJob& job, const std::vector<std::string>& dropped,
                            json& object) {
  json& annotations = object["metadata"]["annotations"];
  for (const std::string& key : dropped) annotations.erase(key);
  for (const auto& [key, value] : job.annotations) annotations[key] = value;
}

// `value` for a merge patch: null (removed) when unset.
json OrNull(const std::optional<int64_t>& value) { return value ? json(*value) : json(nullptr); }

// The replica count a scale step sets for `role`: Git's, except for an elastic role that another
// controller moved within its bounds while Git's count stayed the applied one, which keeps its
// live count (diff/plan.h, elastic roles): scaling or suspending another role must not reset it.
int ScaleTarget(const PlanStep& step, const std::string& role, const Role& desired) {
  const std::optional<ReplicaBounds> bounds = ElasticBounds(desired);
  if (!bounds || !step.live || !step.live->applied) return desired.replicas;
  auto applied = step.live->applied->roles.find(role);
  auto live = step.live->replicas.find(role);
  if (applied == step.live->applied->roles.end() || live == step.live->replicas.end() ||
      applied->second.replicas != desired.replicas) {
    return desired.replicas;
  }
  const int count = live->second;
  return count >= bounds->min && count <= bounds->max ? count : desired.replicas;
}

}  // namespace

Status KubernetesBackend::UpdateInPlace(const PlanStep& step, const ApplyContext& context) {
  const TrainingJob& job = *step.desired;
  const bool scale = step.action == Action::kScale;
  StatusOr<std::vector<json>> objects = RenderObjects(job, context, false);
  if (!objects.ok()) return objects.status();
  JOBSYNC_RETURN_IF_ERROR(EnsureService(job, (*objects)[0], context, ServiceFirst::kRead));
  const std::vector<std::string> dropped = DroppedAnnotations(step);
  // The Service changes with the annotations only (a step without the live job's applied spec
  // comes from no plan: nothing says its annotations changed).
  if (step.live && step.live->applied && step.live->applied->annotations != job.annotations) {
    JOBSYNC_RETURN_IF_ERROR(PatchServiceAnnotations(job, dropped, context));
  }
  const std::string spec_text = CanonicalSpecText(job);
  const std::string hash = SpecHash(job);
  size_t index = 0;  // of the role's Job in `objects`, after the Service
  for (const auto& [role, spec] : job.roles) {
    ++index;
    const std::string name = RoleJobName(job.name, role);
    // What changes, as a merge patch (null: removed).
    json patch = {{"spec", json::object()}, {"metadata", {{"annotations", json::object()}}}};
    json& changed = patch["spec"];
    if (scale) {
      const int replicas = ScaleTarget(step, role, spec);
      changed["parallelism"] = replicas;
      changed["completions"] = replicas;
      // Kueue owns suspend of a queued workload (SetWorkloadsActive below).
      if (job.queue.empty()) changed["suspend"] = job.suspend;
    }
    changed["activeDeadlineSeconds"] = OrNull(job.active_deadline_seconds);
    changed["ttlSecondsAfterFinished"] = OrNull(job.ttl_seconds_after_finished);
    json& annotations = patch["metadata"]["annotations"];
    for (const std::string& key : dropped) annotations[key] = nullptr;
    for (const auto& [key, value] : job.annotations) annotations[key] = value;
    annotations[kSpecAnnotation] = spec_text;
    annotations[kSpecHashAnnotation] = hash;
    annotations[kSourcePathAnnotation] = job.source.path;
    annotations[kRevisionAnnotation] = context.revision;
    StatusOr<json> updated = PatchRoleJob(job, name, std::move(patch), context);
    if (updated.ok()) {
      Remember(jobs_, *updated);
      continue;
    }
    if (updated.status().code() != StatusCode::kNotFound) return updated.status();
    if (!scale) {
      // A patch never starts pods: a role Job deleted by someone stays gone (a finished job's
      // annotations may change without running it again); the next plan sees it missing.
      return FailedPreconditionError("Job " + job.namespace_name + "/" + name +
                                     " is gone; a metadata patch does not create it");
    }
    if (job.ttl_seconds_after_finished && step.live && step.live->applied &&
        step.live->applied->roles.contains(role) &&
        step.live->applied->roles.at(role).replicas == spec.replicas) {
      continue;  // its TTL removed the finished role Job (mapping.h): not run again
    }
    JOBSYNC_RETURN_IF_ERROR(CreateRoleJob(job, role, (*objects)[index], context));
  }
  if (scale && !job.queue.empty() && step.live && step.live->applied &&
      step.live->applied->suspend != job.suspend) {
    return SetWorkloadsActive(job, !job.suspend, std::chrono::seconds(0), context);
  }
  return OkStatus();
}

StatusOr<json> KubernetesBackend::PatchRoleJob(const TrainingJob& job, const std::string& name,
                                               json patch, const ApplyContext& context) {
  std::shared_ptr<const CachedObject> cached = Cached(jobs_, job.namespace_name, name);
  const JobRecord* record = cached ? cached->job() : nullptr;
  const std::string version = record != nullptr ? record->resource_version : "";
  if (record != nullptr && record->managed && record->instance == context.instance &&
      !version.empty()) {
    patch["metadata"]["resourceVersion"] = version;
    StatusOr<json> patched =
        client_->MergePatch(ResourceKind::kJob, job.namespace_name, name, patch);
    // Changed since the cache saw it (409): read it, as below.
    if (patched.ok() || patched.status().code() != StatusCode::kFailedPrecondition) return patched;
    patch["metadata"].erase("resourceVersion");
  }
  return client_->Update(ResourceKind::kJob, job.namespace_name, name, [&](json& object) {
    if (!OwnedBy(object, context.instance)) {
      return FailedPreconditionError("Job " + job.namespace_name + "/" + name +
                                     " is not this instance's; not changing it");
    }
    if (!WritableAt(object, "spec") || !WritableAt(object["metadata"], "annotations")) {
      return InternalError("Job " + job.namespace_name + "/" + name +
                           " as the server returned it has no spec or annotations "
                           "mapping; not changing it");
    }
    object.merge_patch(patch);
    return OkStatus();
  });
}

Status KubernetesBackend::PatchServiceAnnotations(const TrainingJob& job,
                                                  const std::vector<std::string>& dropped,
                                                  const ApplyContext& context) {
  StatusOr<json> updated =
      client_->Update(ResourceKind::kService, job.namespace_name, job.name, [&](json& object) {
        if (!OwnedBy(object, context.instance) || LabelOf(object, kJobLabel) != job.name) {
          return FailedPreconditionError("Service " + job.namespace_name + "/" + job.name +
                                         " is not this instance's; not changing it");
        }
        if (!WritableAt(object["metadata"], "annotations")) {
          return InternalError("Service " + job.namespace_name + "/" + job.name +
                               " as the server returned it has no annotations mapping");
        }
        SetManifestAnnotations(job, dropped, object);
        return OkStatus();
      });
  return updated.status();
}

Status KubernetesBackend::DeleteJobs(const JobKey& key, const ApplyContext& context,
                                     Propagation propagation, bool wait, bool with_service) {
  StatusOr<ObjectList> jobs = client_->List(ResourceKind::kJob, key.namespace_name,
                                            JobSelector(key.name) + kNotJobSetChild);
  if (!jobs.ok()) return jobs.status();
  std::vector<std::string> deleted;
  std::vector<std::string> foreign;
  for (const json& object : jobs->items) {
    const std::string name = StringAt(object, "/metadata/name");
    if (!OwnedBy(object, context.instance)) {
      foreign.push_back(name);
      continue;
    }
    JOBSYNC_RETURN_IF_ERROR(
        client_->Delete(ResourceKind::kJob, key.namespace_name, name, propagation));
    deleted.push_back(name);
  }
  if (with_service) {
    StatusOr<json> service = client_->Get(ResourceKind::kService, key.namespace_name, key.name);
    if (service.ok() && OwnedBy(*service, context.instance) &&
        LabelOf(*service, kJobLabel) == key.name) {
      JOBSYNC_RETURN_IF_ERROR(client_->Delete(ResourceKind::kService, key.namespace_name, key.name,
                                              Propagation::kBackground));
    } else if (!service.ok() && service.status().code() != StatusCode::kNotFound) {
      return service.status();
    }
  }
  if (wait) {
    for (const std::string& name : deleted) {
      JOBSYNC_RETURN_IF_ERROR(WaitGone(ResourceKind::kJob, key.namespace_name, name, context));
    }
  }
  if (!foreign.empty()) {
    std::string names;
    for (const std::string& name : foreign) names += (names.empty() ? "" : ", ") + name;
    return FailedPreconditionError("left Jobs of another instance alone: " + names);
  }
  return OkStatus();
}

// ---- health -----------------------------------------------------------------------------------

StatusOr<Health> KubernetesBackend::GetHealth(const JobKey& key) {
  bool jobset = false;
  bool elastic = false;
  bool rayjob = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    rayjob = rayjobs_.cache.contains(key.namespace_name + "/" + key.name);
    jobset = jobsets_.cache.contains(key.namespace_name + "/" + key.name);
    elastic = elasticjobs_.cache.contains(key.namespace_name + "/" + key.name);
  }
  if (rayjob) return RayJobHealth(key);
  if (elastic) return ElasticJobHealth(key);
  if (jobset) return JobSetHealth(key);
  StatusOr<ObjectList> jobs = client_->List(ResourceKind::kJob, key.namespace_name,
                                            JobSelector(key.name) + kNotJobSetChild);
  if (!jobs.ok()) return ForJob(key, jobs.status());
  std::vector<json> live;
  for (json& object : jobs->items) {
    if (!object.contains(json::json_pointer("/metadata/deletionTimestamp"))) {
      live.push_back(std::move(object));
    }
  }
  if (live.empty()) return Health::kMissing;
  StatusOr<ObjectList> pods =
      client_->List(ResourceKind::kPod, key.namespace_name, JobSelector(key.name));
  if (!pods.ok()) return ForJob(key, pods.status());
  return HealthFromObjects(live, pods->items, std::chrono::system_clock::now(),
                           options_.pending_grace);
}

}  // namespace jobsync

namespace jobsync {
namespace {

// RFC 3339 in UTC with seconds, as Event timestamps are written.
std::string NowRfc3339() {
  std::time_t now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return text;
}

}  // namespace

void KubernetesBackend::SetChangeListener(std::function<void()> listener) {
  std::lock_guard<std::mutex> lock(listener_mutex_);
  change_listener_ = std::move(listener);
}

Status KubernetesBackend::RecordEvent(const PlanStep& step, const ApplyContext& context,
                                      const std::string& reason, const std::string& message,
                                      bool warning) {
  const TrainingJob* job = step.desired                        ? &*step.desired
                           : (step.live && step.live->applied) ? &*step.live->applied
                                                               : nullptr;
  if (job == nullptr) return OkStatus();  // nothing names the Jobs
  const std::string& namespace_name = step.key.namespace_name;
  const bool elastic = job->workload == KubernetesWorkload::kElasticJob;
  // An ElasticJob's event goes on the ElasticJob (DLRover names its pods), else on each role Job.
  std::map<std::string, json> involved_objects;
  if (elastic) {
    involved_objects[job->name] = {{"apiVersion", "elastic.iml.github.io/v1alpha1"},
                                   {"kind", "ElasticJob"}};
  } else {
    for (const auto& [role, spec] : job->roles) {
      involved_objects[RoleJobName(*job, role)] = {{"apiVersion", "batch/v1"}, {"kind", "Job"}};
    }
  }
  Status result;
  for (auto& [name, involved] : involved_objects) {
    involved["namespace"] = namespace_name;
    involved["name"] = name;
    if (std::shared_ptr<const CachedObject> cached =
            Cached(elastic ? elasticjobs_ : jobs_, namespace_name, name)) {
      const std::string& uid = cached->Uid();
      if (!uid.empty()) involved["uid"] = uid;
    }
    const std::string now = NowRfc3339();
    json event = {
        {"apiVersion", "v1"},
        {"kind", "Event"},
        {"metadata", {{"generateName", name + "."}, {"namespace", namespace_name}}},
        {"involvedObject", involved},
        {"reason", reason},
        {"message", message},
        {"type", warning ? "Warning" : "Normal"},
        {"source", {{"component", "jobsync"}}},
        {"reportingComponent", "jobsync.dev/agent"},
        {"reportingInstance", context.instance},
        {"firstTimestamp", now},
        {"lastTimestamp", now},
        {"count", 1},
    };
    StatusOr<json> created = client_->Create(ResourceKind::kEvent, namespace_name, event);
    if (!created.ok()) result = created.status();
  }
  return result;
}

}  // namespace jobsync
