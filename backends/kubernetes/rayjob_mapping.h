// How a Ray job with ray.cluster: kuberay maps onto one KubeRay RayJob (ray.io/v1), and how listed
// RayJobs map back onto LiveJobs. Pure functions: no I/O, thread-safe. docs/ray-mapping.md,
// "KubeRay", tells users the same.
//
// The RayJob <name> in the job's namespace:
//   - metadata: the labels and annotations of a role Job (mapping.h: the manifest's, ownership,
//     the applied spec, its hash, source path and revision);
//   - spec: entrypoint; runtimeEnvYAML (the runtime environment as JSON, which is YAML) when the
//     job has one; entrypointNumCpus and entrypointNumGpus from ray.entrypointResources;
//     shutdownAfterJobFinishes true (the job's Ray cluster goes when the job ends);
//     ttlSecondsAfterFinished and activeDeadlineSeconds from the job; suspend;
//   - spec.rayClusterSpec: enableInTreeAutoscaling when a role is elastic (minReplicas below
//     maxReplicas: Ray's autoscaler moves the workers within the bounds); the head group (an empty
//     rayStartParams, container ray-head with image ray.image, else spec.image, and resources
//     ray.head.resources); one worker group per role, named after it, with replicas,
//     minReplicas and maxReplicas (the bounds, else replicas), an empty rayStartParams and the
//     role's pod template of pod_spec.h (image, env, envFrom, resources, volumes, node
//     placement, service account, pull secrets) with container ray-worker: without command
//     and args (KubeRay starts the Ray processes), restartPolicy and subdomain, and without
//     JOBSYNC_INDEX, JOBSYNC_SERVICE and JOBSYNC_RENDEZVOUS (Ray places the work; there is no
//     Indexed Job or headless Service); a worker without an image takes ray.image.
// KubeRay does not carry a change of a created RayJob's cluster to it: any change but suspend
// and metadata is a delete and create (the planner says so). Suspend deletes the Ray cluster,
// resume makes it again.
#ifndef JOBSYNC_BACKENDS_KUBERNETES_RAYJOB_MAPPING_H_
#define JOBSYNC_BACKENDS_KUBERNETES_RAYJOB_MAPPING_H_

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "backends/backend.h"
#include "backends/kubernetes/mapping.h"
#include "common/status.h"
#include "domain/live_job.h"
#include "schemas/model.h"

namespace jobsync {

// True when `job` runs as a KubeRay RayJob.
bool IsRayJob(const TrainingJob& job);

// The RayJob of `job`. Fails with kInvalidArgument when `job` is not a KubeRay Ray job.
StatusOr<nlohmann::json> RayJobObject(const TrainingJob& job, const ApplyContext& context);

// What the backend's cache keeps of a RayJob: metadata as CompactJobObject keeps it,
// spec.suspend, and status jobStatus, jobDeploymentStatus, reason, message and rayClusterName.
nlohmann::json CompactRayJobObject(const nlohmann::json& rayjob);

// What one RayJob is doing: Succeeded (jobStatus SUCCEEDED), Failed (jobStatus FAILED or
// STOPPED, or jobDeploymentStatus Failed or ValidationFailed), Suspended (spec.suspend, or
// jobDeploymentStatus Suspending or Suspended), Running (jobStatus RUNNING: Ray runs it), else
// Pending (the Ray cluster being made, the job not submitted or not started yet).
LivePhase RayJobPhase(const nlohmann::json& rayjob);

// One LiveJob per RayJob carrying jobsync.dev/job (being deleted: skipped), ordered by key, as
// LiveJobOfWorkloadObject reads it, with phase RayJobPhase and phase_message KubeRay's
// status.message. No live replica counts: the autoscaler moves an elastic role's workers within
// its bounds, which is not drift.
std::vector<LiveJob> LiveJobsFromRayJobs(const ObjectRefs& rayjobs,
                                         AppliedSpecCache* parsed = nullptr);
std::vector<LiveJob> LiveJobsFromRayJobs(const std::vector<nlohmann::json>& rayjobs,
                                         AppliedSpecCache* parsed = nullptr);

// The health of a RayJob job: Succeeded, Failed, Suspended from RayJobPhase; Healthy while Ray
// runs the job (jobStatus RUNNING); Degraded while KubeRay retries it; else Progressing (the
// Ray cluster being made, the job not submitted yet).
Health HealthFromRayJob(const nlohmann::json& rayjob);

}  // namespace jobsync

#endif  // JOBSYNC_BACKENDS_KUBERNETES_RAYJOB_MAPPING_H_
