// How a TrainingJob maps onto Kubernetes objects, and how listed objects map back onto LiveJobs
// and health. Pure functions: no I/O, no clock (callers pass the time), thread-safe.
//
// Per job (DESIGN.md, "Mapping onto the backends"):
//   - Namespace <namespace>, created when missing (labelled managed-by; never deleted by jobsync);
//   - Service <name>: headless (clusterIP None), selector jobsync.dev/job=<name>, publishing
//     not-ready addresses so that rendezvous works while pods start; the pods' subdomain, so pod
//     <name>-<role>-<index> resolves as <name>-<role>-<index>.<name>.<namespace>.svc;
//   - per role a batch/v1 Job <name>-<role>: Indexed, completions == parallelism == replicas,
//     spec.suspend from the manifest, backoffLimitPerIndex = failurePolicy.maxRestarts (else
//     kBackoffLimitPerIndex), activeDeadlineSeconds and ttlSecondsAfterFinished when set, and the
//     pod template of backends/kubernetes/pod_spec.h (restartPolicy Never, every container and
//     pod setting, the environment below, kubernetes.podTemplatePatch merged over it last).
// failurePolicy.maxRestarts also sets a podFailurePolicy with one rule: a pod that failed with
// the DisruptionTarget condition (preempted by a higher priority, evicted by the API or a node
// drain, its node gone: nothing the training did) is Ignored, so it is replaced without using up
// the index's restart budget; any other failure counts. A restart budget the user wrote counts
// their program's failures only, and a preemption-heavy GPU cluster would otherwise fail jobs that
// never failed themselves. The rule needs restartPolicy Never (jobsync's); the Job controller then
// replaces a failed pod once it is terminal. Jobs without maxRestarts keep the Job as before.
// Labels on every object: the manifest's labels, then app.kubernetes.io/managed-by=jobsync,
// jobsync.dev/instance, jobsync.dev/job, and jobsync.dev/role on Jobs and their pods.
// Annotations on Jobs: the manifest's annotations (so jobsync.dev/prune is copied), the applied
// spec (CanonicalSpecText), its hash, the source path and the revision. The Service carries the
// labels and the manifest's annotations only: it does not change with the spec.
// The training container's environment: pod_spec.h (the manifest's env, then jobsync's JOBSYNC_*
// variables, which win, including the elastic bounds).
#ifndef JOBSYNC_BACKENDS_KUBERNETES_MAPPING_H_
#define JOBSYNC_BACKENDS_KUBERNETES_MAPPING_H_

#include <chrono>
#include <functional>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "backends/backend.h"
#include "common/status.h"
#include "domain/live_job.h"
#include "schemas/model.h"
#include "schemas/object_names.h"
#include "schemas/shared_specs.h"

namespace jobsync {

// Retries of one index before the index counts as failed.
inline constexpr int kBackoffLimitPerIndex = 3;

// The label that puts a workload (a Job, a JobSet) in a Kueue LocalQueue: set from spec.queue on
// the workload's metadata (not its pod template). A workload carrying it that is suspended while
// its applied spec is not is held by Kueue: LivePhase::kQueued, Health::kQueued.
inline constexpr const char* kQueueLabel = "kueue.x-k8s.io/queue-name";

// The labels every object of `job` carries (without the role or queue): the manifest's, then
// app.kubernetes.io/managed-by, jobsync.dev/instance and jobsync.dev/job.
nlohmann::json JobLabels(const TrainingJob& job, const ApplyContext& context);

// The annotations of a job's live object: the manifest's, the applied spec
// (CanonicalSpecText), its hash, the source path and the revision.
nlohmann::json AppliedAnnotations(const TrainingJob& job, const ApplyContext& context);

// Label selectors: every object jobsync manages, and the objects of one job. The Job listings
// of the backend add kNotJobSetChild: the Jobs a JobSet's controller made carry the JobSet's
// ownership labels, but the JobSet is the live object.
std::string ManagedSelector();
std::string JobSelector(const std::string& job_name);
inline constexpr const char* kNotJobSetChild = ",!jobset.sigs.k8s.io/jobset-name";

// The Namespace object for `namespace_name`.
nlohmann::json NamespaceObject(const std::string& namespace_name);

// The headless Service of `job`.
nlohmann::json ServiceObject(const TrainingJob& job, const ApplyContext& context);

// The Job running `role` of `job`. Fails with kInvalidArgument when the role does not exist,
// the Job name would exceed 63 characters (Kubernetes labels pods with it), or the job's
// podTemplatePatch is malformed or changes what jobsync owns (PatchedPodTemplate).
StatusOr<nlohmann::json> RoleJobObject(const TrainingJob& job, const std::string& role,
                                       const ApplyContext& context);

// Every object of `job` in apply order: the Namespace (when `include_namespace`), the Service,
// then one Job per role by role name; for a JobSet workload the Namespace and the JobSet
// (jobset_mapping.h); for an ElasticJob in operator mode the Namespace and the ElasticJob
// (elasticjob_mapping.h). Fails as RoleJobObject does.
StatusOr<std::vector<nlohmann::json>> RenderObjects(const TrainingJob& job,
                                                    const ApplyContext& context,
                                                    bool include_namespace = true);

// What one listed Job object is doing: Failed or Complete conditions, else spec.suspend, else
// Running when pods are active, else Pending.
LivePhase JobObjectPhase(const nlohmann::json& job_object);

// The phase of one job from the phases of its Job objects (JobObjectPhase): Failed if any
// failed, Succeeded if all completed, Suspended if any is suspended, Running if any runs, else
// Pending.
LivePhase GroupPhase(const std::vector<LivePhase>& phases);

// What jobsync reads of one Job object, and all that the Jobs' watch cache keeps of it: about
// twenty values as a record. As a JSON tree, even compacted to those values, a Job took 2.9 KB
// of map nodes and strings in the cache; the record takes about a fifth of that. The pod
// template, managedFields, a team's own labels and annotations, the spec hash and the applied
// spec's text (the cache keeps the spec it reads as: CachedJobOf) are not kept.
struct JobRecord {
  // metadata
  std::string namespace_name;
  std::string name;
  std::string uid;
  std::string resource_version;
  bool being_deleted = false;  // deletionTimestamp is set
  // labels
  bool managed = false;      // app.kubernetes.io/managed-by is jobsync's
  std::string instance;      // jobsync.dev/instance
  std::string job;           // jobsync.dev/job; empty: the Job belongs to no job
  std::string role;          // jobsync.dev/role
  bool queue_label = false;  // kueue.x-k8s.io/queue-name is set (HeldByKueue)
  // annotations
  std::string source_path;       // jobsync.dev/source-path
  std::string revision;          // jobsync.dev/revision
  bool prune_protected = false;  // jobsync.dev/prune is "false"
  // spec and status
  int64_t parallelism = 0;
  bool suspended = false;                 // spec.suspend
  LivePhase phase = LivePhase::kPending;  // JobObjectPhase
};

// The record of `job_object` (a Job as the apiserver returns it; any field may be absent).
JobRecord JobRecordOf(const nlohmann::json& job_object);

// True when `object` (a Job or JobSet) is suspended, carries kQueueLabel, and `applied` (its
// applied spec; null: none) is not suspended: Kueue holds it until its queue admits it.
bool HeldByKueue(const nlohmann::json& object, const TrainingJob* applied);
bool HeldByKueue(const JobRecord& job, const TrainingJob* applied);

// Groups listed Job objects by (namespace, jobsync.dev/job) into LiveJobs (backend kubernetes),
// ordered by key. Objects without the job label or being deleted are skipped. Per group: the
// applied spec from the first Job (by name) whose annotation TrainingJobFromCanonicalText reads;
// replicas per role from spec.parallelism, and 0 for a role of the applied spec that has no Job
// (so the planner scales it back into existence) unless the applied spec has
// ttlSecondsAfterFinished (Kubernetes removed that role's finished Job: not to be run again);
// phase: Failed if any Job failed, Succeeded if
// all completed, Suspended if any is suspended (Queued if one is HeldByKueue), Running if any
// runs, else Pending; instance,
// source path and revision from the first Job; prune_protected when any Job has
// jobsync.dev/prune "false".
//
// `parsed`, when given, holds the applied specs read by an earlier call, by
// "<namespace>/<name>@<resourceVersion>" of their Job object: a Job version found there is not
// parsed again, and on return it holds this call's (the JobSet, ElasticJob and RayJob caches keep
// one across listings; the Jobs' cache reads each spec as it caches the Job: ListCachedJobs).
//
// A spec not found there is taken from `parsed->shared` when that holds one with the annotation's
// text and source path (SharedSpecs: the desired job itself, not a copy), else parsed.
//
// The objects are passed by pointer (ObjectRefs): a watch cache hands its own objects over, not
// copies of them. The overloads taking values are for callers holding their own objects.
struct AppliedSpecCache {
  std::unordered_map<std::string, std::shared_ptr<const TrainingJob>> by_version;
  const SharedSpecs* shared = nullptr;  // null: every new version is parsed
  size_t size() const { return by_version.size(); }
};
using ObjectRefs = std::vector<const nlohmann::json*>;
std::vector<LiveJob> LiveJobsFromObjects(const ObjectRefs& job_objects,
                                         AppliedSpecCache* parsed = nullptr);
std::vector<LiveJob> LiveJobsFromObjects(const std::vector<nlohmann::json>& job_objects,
                                         AppliedSpecCache* parsed = nullptr);

// The applied spec `object` (a Job, JobSet, ElasticJob or RayJob) carries in its annotation:
// `shared`'s desired job when that holds one with the annotation's text and source path, else
// parsed; null when the annotation is absent or unreadable.
std::shared_ptr<const TrainingJob> ParseAppliedSpec(const nlohmann::json& object,
                                                    const SharedSpecs* shared);

// The key a watch cache files `object` under, "namespace/name" (its map is ordered by it).
std::string CacheKeyOf(const nlohmann::json& object);

// One object of a watch cache. Immutable once cached, and shared: a listing holds the objects it
// reads, not copies, and a change replaces an object instead of editing it.
//   - A Job (the Jobs' cache, CachedJobOf): its JobRecord, and the applied spec its annotation
//     carried, read as it was cached (ParseAppliedSpec with the backend's SharedSpecs: nearly
//     always the desired job the agent holds, not a copy). The annotation's text is not kept.
//   - A JobSet, ElasticJob or RayJob: the object compacted (the Watched kind's `compact`); its
//     listing reads its applied spec (AppliedSpecCache).
struct CachedObject {
  std::variant<nlohmann::json, JobRecord> kept;
  // A Job's applied spec; null: no annotation, an unreadable one, another instance's Job (not
  // read), or not a Job.
  std::shared_ptr<const TrainingJob> applied;

  // The Job's record; null when not a Job.
  const JobRecord* job() const { return std::get_if<JobRecord>(&kept); }
  // The compacted object; null (a JSON null) for a Job.
  const nlohmann::json& object() const;
  // The key the cache files it under, "namespace/name" (CacheKeyOf).
  std::string Key() const;
  // metadata.resourceVersion and metadata.uid; "" when absent.
  const std::string& ResourceVersion() const;
  const std::string& Uid() const;
};

// A Job for the Jobs' watch cache: its record (JobRecordOf) and, when `read_applied`, the applied
// spec of its annotation (ParseAppliedSpec with `shared`).
CachedObject CachedJobOf(const nlohmann::json& job_object, const SharedSpecs* shared,
                         bool read_applied = true);

// What one listing of a watch cache made, for the next (ListCachedJobs): each job's LiveJob with
// the Job objects it was read from, ordered by key, and those objects themselves (`held` keeps
// them alive, so that an object of the next listing at the same address is the same object).
struct JobListing {
  struct Job {
    std::vector<const CachedObject*> objects;  // in name order, as grouped
    LiveJob live;
  };
  std::vector<Job> jobs;
  std::vector<std::shared_ptr<const CachedObject>> held;
};

// LiveJobsFromObjects over the Jobs' watch cache (CachedJobOf's entries, shared and immutable),
// ordered by their key as the cache's map holds them, each job's applied spec the one its first
// Job was cached with, reading again only the jobs whose objects changed since `last`: a job
// whose Job objects are, one for one, those `last` read it from (the same cached objects, or the
// same name at the same resourceVersion, as after a re-list) is `last`'s LiveJob. On return
// `last` holds this listing. Between two cycles of 10,000 Jobs, a handful changed: the rest are
// not read again, and only where the two listings differ are keys read.
std::vector<LiveJob> ListCachedJobs(std::vector<std::shared_ptr<const CachedObject>> objects,
                                    JobListing* last);

// Pointers to each of `objects`, for the functions taking ObjectRefs.
ObjectRefs RefsOf(const std::vector<nlohmann::json>& objects);
// Of the compacted objects of a JobSet, ElasticJob or RayJob cache.
ObjectRefs RefsOf(const std::vector<std::shared_ptr<const CachedObject>>& objects);

// Copies the members named in `keys` that `from` (an object) has into `to`.
void KeepMembers(const nlohmann::json& from, nlohmann::json& to,
                 std::initializer_list<const char*> keys);

// What the watch caches keep of an object's metadata, into out["metadata"]: name, namespace,
// uid, resourceVersion, deletionTimestamp, the labels jobsync reads (jobsync.dev/,
// app.kubernetes.io/managed-by, Kueue's queue name) and the jobsync.dev/ annotations but the spec
// hash (nothing when `object` has no metadata object).
void KeepCompactMetadata(const nlohmann::json& object, nlohmann::json& out);

// The annotations an in-place update of `step` removes: those the manifest had when the live job
// was applied and no longer has. Empty when the live job's applied spec is unknown.
std::vector<std::string> DroppedAnnotations(const PlanStep& step);

// The LiveJob of one object that stands for a whole job (a JobSet, an ElasticJob), from its
// metadata: key (backend kubernetes, its namespace, jobsync.dev/job), instance, source path,
// revision, prune protection and the applied spec, taken from `parsed` when that holds it under
// "<kind>:<namespace>/<name>@<resourceVersion>", else read from its annotation, and recorded in
// `seen` under that id. nullopt for an object without jobsync.dev/job or being deleted.
std::optional<LiveJob> LiveJobOfWorkloadObject(const nlohmann::json& object, const char* kind,
                                               const AppliedSpecCache* parsed,
                                               AppliedSpecCache& seen);

// One LiveJob per object of `objects` that LiveJobOfWorkloadObject reads (`kind` as there),
// ordered by key, each completed by `complete(object, live)` (phase, phase_message); `parsed`
// as for LiveJobsFromObjects.
std::vector<LiveJob> LiveJobsFromWorkloadObjects(
    const ObjectRefs& objects, const char* kind, AppliedSpecCache* parsed,
    const std::function<void(const nlohmann::json&, LiveJob&)>& complete);

// The health of one job from its Job objects and their pods, at time `now`: Missing without
// Jobs; Failed, Succeeded or Suspended as the grouped phase says (Queued when a suspended Job is
// HeldByKueue by its applied-spec annotation); Degraded when a pod failed or
// has been Pending longer than `pending_grace`; Healthy when every Job has all its pods ready;
// else Progressing.
Health HealthFromObjects(const std::vector<nlohmann::json>& job_objects,
                         const std::vector<nlohmann::json>& pods,
                         std::chrono::system_clock::time_point now,
                         std::chrono::seconds pending_grace);

}  // namespace jobsync

#endif  // JOBSYNC_BACKENDS_KUBERNETES_MAPPING_H_
