// How a DLRover ElasticJob run in operator mode (TrainingJob::workload kElasticJob) maps onto the
// ElasticJob object DLRover's operator runs and the ScalePlans its job master takes replica
// changes from, and how listed ElasticJobs map back onto LiveJobs. Pure functions: no I/O,
// thread-safe. docs/elasticjob.md, "Operator mode", tells users the same.
//
// The ElasticJob <name> (elastic.iml.github.io/v1alpha1) in the job's namespace:
//   - metadata: the labels and annotations of a role Job (mapping.h: the manifest's, ownership,
//     the applied spec, its hash, source path and revision);
//   - spec: the manifest's ElasticJob spec as written (TrainingJob::elastic_job_spec), with each
//     replica type's `replicas` and `suspend` from the job (roles, suspend).
// Its replicas are those it was created with: DLRover's operator ignores a later edit of them, so
// a replica change is a ScalePlan instead:
//   - a new ScalePlan <name>-scale-<random> in the job's namespace, labelled
//     elasticjob.dlrover/name=<name> and scale-type=manual (what DLRover's job master watches
//     for) plus the job's ownership labels, annotated with the job's spec hash; spec.ownerJob
//     <name> and spec.replicaResourceSpecs with every role's replicas. Each plan is complete, so
//     only the newest matters: the older ones are deleted (a restarted job master replays the
//     plans it finds; it then ends at the newest), and a plan is made again after a scale back
//     and forth (the job master takes each plan once, by uid).
// Suspend is the ElasticJob's spec.suspend; health its status.phase.
#ifndef JOBSYNC_BACKENDS_KUBERNETES_ELASTICJOB_MAPPING_H_
#define JOBSYNC_BACKENDS_KUBERNETES_ELASTICJOB_MAPPING_H_

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "backends/backend.h"
#include "backends/kubernetes/mapping.h"
#include "common/status.h"
#include "domain/live_job.h"
#include "schemas/model.h"

namespace jobsync {

// The labels DLRover's job master selects its manual ScalePlans by.
inline constexpr const char* kElasticJobNameLabel = "elasticjob.dlrover/name";
inline constexpr const char* kScaleTypeLabel = "scale-type";
inline constexpr const char* kManualScale = "manual";

// The ElasticJob of `job`. Fails with kInvalidArgument when `job` is not an ElasticJob in
// operator mode (no elastic_job_spec).
StatusOr<nlohmann::json> ElasticJobObject(const TrainingJob& job, const ApplyContext& context);

// The ScalePlan that brings `job`'s running ElasticJob to `job`'s replicas (metadata.generateName
// "<name>-scale-").
nlohmann::json ScalePlanObject(const TrainingJob& job, const ApplyContext& context);

// The label selector of the ScalePlans of the job `job_name` made by `instance`.
std::string ScalePlanSelector(const std::string& job_name, const std::string& instance);

// What the backend's cache keeps of an ElasticJob: metadata as CompactJobObject keeps it,
// spec.suspend, status.phase and the conditions (type, status, reason, message) of the JobStatus
// DLRover keeps under status.status.
nlohmann::json CompactElasticJobObject(const nlohmann::json& elastic_job);

// What one ElasticJob is doing, from status.phase: Succeeded, Failed; Suspended (or
// spec.suspend true); Running and Restarting: Running; Created, Pending or none yet: Pending.
LivePhase ElasticJobPhase(const nlohmann::json& elastic_job);

// One LiveJob per ElasticJob carrying jobsync.dev/job (being deleted: skipped), ordered by key,
// as LiveJobOfWorkloadObject reads it, with phase ElasticJobPhase and phase_message the message
// of the status condition of that phase. No live replica counts: the ElasticJob keeps the
// replicas it was created with and the job master scales its pods, so replicas are taken to be
// as applied. `parsed`: as for LiveJobsFromObjects.
std::vector<LiveJob> LiveJobsFromElasticJobs(const ObjectRefs& elastic_jobs,
                                             AppliedSpecCache* parsed = nullptr);
std::vector<LiveJob> LiveJobsFromElasticJobs(const std::vector<nlohmann::json>& elastic_jobs,
                                             AppliedSpecCache* parsed = nullptr);

// The health of an ElasticJob job from its status.phase: Succeeded, Failed, Suspended; Healthy
// while Running; Degraded while Restarting; Progressing while Created, Pending or without status.
Health HealthFromElasticJob(const nlohmann::json& elastic_job);

}  // namespace jobsync

#endif  // JOBSYNC_BACKENDS_KUBERNETES_ELASTICJOB_MAPPING_H_
