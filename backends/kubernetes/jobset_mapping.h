// How a TrainingJob with kubernetes.workload: jobset maps onto one JobSet
// (jobset.x-k8s.io/v1alpha2), and how listed JobSets map back onto LiveJobs. Pure functions: no
// I/O, thread-safe. docs/kubernetes-mapping.md, "JobSet", tells users the same.
//
// The JobSet <name> in the job's namespace:
//   - metadata: the labels and annotations of a role Job (mapping.h: the manifest's, ownership,
//     the applied spec, its hash, source path and revision), plus kueue.x-k8s.io/queue-name
//     when the job has spec.queue;
//   - spec.replicatedJobs: one per role, named after the role, replicas 1, whose template is the
//     role Job of mapping.h (Indexed, completions == parallelism == the role's replicas, the
//     same pod template) without suspend and ttlSecondsAfterFinished, which the JobSet holds;
//     its metadata carries the ownership labels and jobsync.dev/role, so the controller's Jobs
//     and pods carry them too. The controller names the role's Job <name>-<role>-0 and its pods'
//     hostnames <name>-<role>-0-<index> (schemas/object_names.h, RoleJobName);
//   - spec.network: DNS hostnames on, subdomain <name>, not-ready addresses published (the
//     controller makes the headless Service <name>), so rendezvous works as with Jobs;
//   - spec.failurePolicy: with failurePolicy.maxRestarts, {maxRestarts}: a failed pod fails its
//     Job at once (backoffLimit 0; preemptions still ignored by the podFailurePolicy) and the
//     controller restarts the whole JobSet, every role together, up to maxRestarts times: the
//     gang restart distributed training needs. Without it, the Jobs keep their per-index
//     retries (kBackoffLimitPerIndex) and the first failed Job fails the JobSet;
//   - spec.successPolicy {operator: All}, spec.startupPolicy {startupPolicyOrder: AnyOrder},
//     spec.suspend, spec.ttlSecondsAfterFinished: written out (the webhook's defaults), so that
//     a JobSet made without the webhook is the same object.
// JobSet's webhook refuses any change of spec.replicatedJobs of a created JobSet: a replica or
// template change is a delete and create (the planner says so); suspend, the ttl and metadata
// change in place.
#ifndef JOBSYNC_BACKENDS_KUBERNETES_JOBSET_MAPPING_H_
#define JOBSYNC_BACKENDS_KUBERNETES_JOBSET_MAPPING_H_

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "backends/backend.h"
#include "backends/kubernetes/mapping.h"
#include "common/status.h"
#include "domain/live_job.h"
#include "schemas/model.h"

namespace jobsync {

// The label JobSet's controller puts on the Jobs it makes; the backend's Job listings leave those
// Jobs out (the JobSet is the live object).
inline constexpr const char* kJobSetNameLabel = "jobset.sigs.k8s.io/jobset-name";

// The JobSet of `job`. Fails as RoleJobObject does.
StatusOr<nlohmann::json> JobSetObject(const TrainingJob& job, const ApplyContext& context);

// The parts of a JobSet the backend's cache and LiveJobsFromJobSets read: metadata as
// CompactJobObject keeps it; spec.suspend; each replicated job's name, replicas and template
// parallelism; status conditions (type, status, reason, message), terminalState and
// replicatedJobsStatus.
nlohmann::json CompactJobSetObject(const nlohmann::json& jobset);

// What one JobSet is doing: Failed or Completed (condition or terminalState), else Suspended
// when spec.suspend, else Running when a replicated job has active or ready Jobs, else Pending.
LivePhase JobSetPhase(const nlohmann::json& jobset);

// One LiveJob per JobSet carrying jobsync.dev/job (being deleted: skipped), ordered by key:
// applied spec, instance, source path, revision and prune protection from its metadata, replicas
// per role from the replicated job's parallelism times its replicas, phase from JobSetPhase (a
// Suspended JobSet of a job with a queue label whose applied spec is not suspended is kQueued:
// Kueue holds it). `parsed`: as for LiveJobsFromObjects.
std::vector<LiveJob> LiveJobsFromJobSets(const ObjectRefs& jobsets,
                                         AppliedSpecCache* parsed = nullptr);
std::vector<LiveJob> LiveJobsFromJobSets(const std::vector<nlohmann::json>& jobsets,
                                         AppliedSpecCache* parsed = nullptr);

// The health of a JobSet job: Failed, Succeeded or Suspended from JobSetPhase (kQueued: Queued);
// else as HealthFromObjects over the controller's Jobs and their pods (Progressing while the
// controller has made no Job yet).
Health HealthFromJobSet(const nlohmann::json& jobset, const std::vector<nlohmann::json>& jobs,
                        const std::vector<nlohmann::json>& pods,
                        std::chrono::system_clock::time_point now,
                        std::chrono::seconds pending_grace);

}  // namespace jobsync

#endif  // JOBSYNC_BACKENDS_KUBERNETES_JOBSET_MAPPING_H_
