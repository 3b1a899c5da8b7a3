// How a TrainingJob maps onto Ray Jobs API submissions, and back: the pure half of the Ray
// backend (no I/O), so that every request body and every reading of the server's answers is
// unit-tested without a server. RayBackend (ray_backend.h) does the talking.
//
// Generations. The Jobs API cannot change a submission, so every restart (scale, update,
// resume) submits a new one; the submissions of one job are its generations. Each carries in its
// `metadata` (string values only) the ownership keys of backend.h plus kRayNamespaceKey, so a
// submission names its job. The live job is the newest generation by (start_time, submission_id).
//
// Submission ids. `jobsync-<namespace>-<name>-<first 10 hex of SpecHash(job)>-<revision>`, where
// <revision> is the first 8 characters of the Git revision applied (lower-case letters and digits
// only; left out with its '-' when none remain), and, when that id is already taken on the
// cluster (the same spec ran before at this revision: a resume to an earlier spec, or a re-run the
// planner asked for), the same with `-2`, `-3`, ... appended: the first free one. The spec hash
// covers every applied field, replica counts and suspend included, so each restart gets a new id
// and never collides with a stopped old generation, while a repeated apply of the same step
// computes the same id and the server's duplicate-id answer makes it an adoption. The revision is
// there because Ray cannot reuse an id soon after its job was stopped and deleted (the new
// submission finds the old, exiting supervisor actor of that name and fails); a job deleted and
// created again always comes from two different revisions.
//
// Suspend markers. Ray keeps no per-job state that jobsync could change after a submission, yet
// the health of a stopped job depends on whether the manifest said suspend. Suspending a job
// therefore submits a marker: a generation whose applied spec has suspend set, that carries
// kRaySuspendedKey, and whose entrypoint only echoes a line (no runtime env, no resources), so
// it ends by itself within seconds. A marker as newest generation makes the job Suspended,
// whatever the marker's own status. (A marker that could never be scheduled would be simpler,
// but Ray cannot stop a submission whose supervisor never started: it stays PENDING until Ray's
// start timeout, 15 minutes, and cannot be deleted meanwhile.)
//
// Spec records. Ray cannot change a submission's metadata either, so a patch step (only the
// job's annotations changed) leaves the running submission alone and submits a record: a
// generation that carries kRayRecordsKey (the id of the generation it speaks for, the newest
// that is not a record), the new applied spec in its metadata, and an entrypoint that only
// echoes a line. Records are never the live generation: phase and health come from the others,
// and the applied spec, prune protection, source path and revision from the newest record of the
// live generation submitted after it (a later restart makes the records stale, as its own
// metadata is newer; so does a record older than its run, which spoke for an earlier submission
// of the same id). A job whose only submissions are records (its run was deleted outside
// jobsync) has no live job: the planner creates it again, the new run adopts none of the stale
// records, and they are deleted with the job.
//
// Metadata size. Ray hands a submission's metadata and runtime env to the job driver in one
// environment variable (RAY_JOB_CONFIG_JSON_ENV_VAR), and Linux limits one environment string to
// 128 KiB (MAX_ARG_STRLEN): a larger one makes the driver fail to start. The metadata (with the
// applied spec as canonical JSON) is therefore limited to kMaxRayMetadataBytes; Ray itself sets
// no limit on metadata values.
//
// All functions are pure and thread-safe.
#ifndef JOBSYNC_BACKENDS_RAY_RAY_MAPPING_H_
#define JOBSYNC_BACKENDS_RAY_RAY_MAPPING_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "backends/backend.h"
#include "common/status.h"
#include "domain/live_job.h"
#include "schemas/model.h"

namespace jobsync {

// Metadata key naming the job's namespace (Ray has no namespaces of its own for submissions).
inline constexpr const char* kRayNamespaceKey = "jobsync.dev/namespace";
// Metadata key set to "true" on a suspend marker (see the header comment).
inline constexpr const char* kRaySuspendedKey = "jobsync.dev/suspended";
// Metadata key of a spec record: the submission id of the generation it records the spec of.
inline constexpr const char* kRayRecordsKey = "jobsync.dev/records";
// Largest metadata, as compact JSON, jobsync submits (see the header comment).
inline constexpr std::size_t kMaxRayMetadataBytes = std::size_t{64} * 1024;
// Environment variables jobsync adds to every submission's runtime_env.env_vars.
inline constexpr const char* kRayEnvJob = "JOBSYNC_JOB";
inline constexpr const char* kRayEnvNamespace = "JOBSYNC_NAMESPACE";
inline constexpr const char* kRayEnvWorldSize = "JOBSYNC_WORLD_SIZE";
inline constexpr const char* kRayEnvNnodes = "JOBSYNC_NNODES";

// A submission's status as the Jobs API reports it.
enum class RayJobStatus { kPending, kRunning, kStopped, kSucceeded, kFailed, kUnknown };

// Reads "PENDING", "RUNNING", "STOPPED", "SUCCEEDED" or "FAILED"; anything else is kUnknown.
RayJobStatus ParseRayJobStatus(std::string_view text);

// True for kStopped, kSucceeded and kFailed: the submission can no longer change.
bool IsTerminal(RayJobStatus status);

// One submission carrying jobsync's managed-by mark: a generation of a job.
struct RaySubmission {
  std::string submission_id;
  RayJobStatus status = RayJobStatus::kUnknown;
  int64_t start_time_ms = 0;  // 0 when the server did not say
  std::map<std::string, std::string> metadata;

  // Read from metadata: the job (backend ray), the owning instance, the applied spec's hash,
  // and whether this is a suspend marker.
  JobKey key;
  std::string instance;
  std::string spec_hash;
  bool suspend_marker = false;
  // For a spec record (see the header comment): the id of the generation it records; else "".
  std::string records;
};

// Parses the body of `GET /api/jobs/` (a JSON list of job details) and keeps the submissions that
// carry app.kubernetes.io/managed-by=jobsync and name their job (kJobLabel and kRayNamespaceKey);
// every other job is left out, never touched. Fails with kInternal when the body is not a JSON
// list of objects. Never throws.
StatusOr<std::vector<RaySubmission>> ParseJobList(std::string_view body);

// Parses the body of `GET /api/jobs/{id}` (one job's details) for its status. Fails with kInternal
// when the body is not a JSON object.
StatusOr<RayJobStatus> ParseJobStatus(std::string_view body);

// Groups `submissions` by job key, each group ordered oldest first by (start_time_ms,
// submission_id): the last element is the live generation.
std::map<JobKey, std::vector<RaySubmission>> GroupGenerations(
    std::vector<RaySubmission> submissions);

// The phase of a job from its generations (ordered, not empty; spec records are left out, and
// records alone are kUnknown, though ToLiveJobs makes no live job of them): the newest
// generation's, where a marker means kSuspended and STOPPED means kFailed (the job was stopped
// outside jobsync, or a restart was interrupted between stop and submit: finished, so not re-run at
// the same spec), except that while an older non-marker generation is still PENDING or RUNNING (a
// restart or suspend interrupted part-way) the job is reported kRunning or kPending, so the planner
// acts.
LivePhase PhaseOf(const std::vector<RaySubmission>& generations);

// The health of a job from its generations (ordered; spec records left out; none means kMissing):
// PENDING Progressing, RUNNING Healthy, SUCCEEDED Succeeded, FAILED Failed, a marker Suspended,
// STOPPED Degraded.
Health HealthOf(const std::vector<RaySubmission>& generations);

// The LiveJob for one job's generations (ordered, holding at least one generation that is not a
// spec record): phase as PhaseOf; applied spec (absent when unreadable), replica counts from it,
// instance, prune protection (metadata jobsync.dev/prune = "false"), source path and revision
// read from the newest spec record of the newest generation that is not a record, submitted after
// that generation, else from that generation itself (see "Spec records" above).
LiveJob ToLiveJob(const std::vector<RaySubmission>& generations);

// The live jobs of `submissions`: GroupGenerations, then ToLiveJob of each group that holds a
// generation that is not a spec record, in key order. A job with spec records alone (its run was
// deleted outside jobsync) is absent, so the planner creates it again.
std::vector<LiveJob> ToLiveJobs(std::vector<RaySubmission> submissions);

// "jobsync-<namespace>-<name>-<first 10 hex of SpecHash(job)>-<revision>" (see the header comment).
std::string SubmissionIdBase(const TrainingJob& job, std::string_view revision);

// The first of `base`, `base-2`, `base-3`, ... that is not in `taken`.
std::string FirstFreeSubmissionId(const std::string& base, const std::vector<std::string>& taken);

// The suffix of a role's environment variables: upper case, '-' as '_' ("param-server" ->
// "PARAM_SERVER").
std::string RoleEnvSuffix(std::string_view role);

// The environment variables jobsync sets for `job`: JOBSYNC_JOB, JOBSYNC_NAMESPACE,
// JOBSYNC_WORLD_SIZE (the sum of all replicas), and per role JOBSYNC_REPLICAS_<ROLE> and, when the
// role requests them, JOBSYNC_CPU_<ROLE> (cores, decimal: "0.5"), JOBSYNC_MEMORY_<ROLE> (bytes)
// and JOBSYNC_GPU_<ROLE> (devices). Per elastic role (ElasticBounds set):
// JOBSYNC_MIN_REPLICAS_<ROLE> and JOBSYNC_MAX_REPLICAS_<ROLE>; and when exactly one role is
// elastic, JOBSYNC_NNODES=<min>:<max> of it (torchrun's --nnodes), since one Ray driver runs every
// role: with several elastic roles no one range is the job's, so it is left out.
std::map<std::string, std::string> JobsyncEnvVars(const TrainingJob& job);

// The metadata of a submission of `job`: kManagedByLabel=jobsync, kInstanceLabel, kJobLabel,
// kRayNamespaceKey, kSpecHashAnnotation, kSourcePathAnnotation, kRevisionAnnotation,
// kSpecAnnotation (CanonicalSpecText), kPruneAnnotation when the manifest has it, and
// kRaySuspendedKey when `job.suspend`.
std::map<std::string, std::string> SubmissionMetadata(const TrainingJob& job,
                                                      const ApplyContext& context);

// The body of `POST /api/jobs/` that runs `job` (not suspended, with a ray section) as
// `submission_id`: entrypoint; runtime_env from spec.ray.runtimeEnv with env_vars merged (its
// own env_vars, then spec.env, then JobsyncEnvVars, later ones winning); metadata;
// entrypoint_num_cpus / entrypoint_num_gpus / entrypoint_memory (bytes, rounded up) when
// spec.ray.entrypointResources sets them. Fails with kInvalidArgument when the job has no ray
// section or runtimeEnv.env_vars is not a map of strings, and with kResourceExhausted when the
// metadata exceeds kMaxRayMetadataBytes.
StatusOr<nlohmann::json> BuildSubmitRequest(const TrainingJob& job, const ApplyContext& context,
                                            const std::string& submission_id);

// The body of `POST /api/jobs/` that records `job` (suspended) as a suspend marker: metadata as
// SubmissionMetadata, an entrypoint that only echoes, no runtime env and no resources. Fails like
// BuildSubmitRequest on size.
StatusOr<nlohmann::json> BuildSuspendMarkerRequest(const TrainingJob& job,
                                                   const ApplyContext& context,
                                                   const std::string& submission_id);

// The body of `POST /api/jobs/` that records `job` as the applied spec of the running
// generation `live_submission_id` (a spec record, see the header comment): metadata as
// SubmissionMetadata without kRaySuspendedKey, plus kRayRecordsKey; an entrypoint that only
// echoes; no runtime env and no resources. Fails like BuildSubmitRequest on size.
StatusOr<nlohmann::json> BuildSpecRecordRequest(const TrainingJob& job, const ApplyContext& context,
                                                const std::string& live_submission_id,
                                                const std::string& submission_id);

}  // namespace jobsync

#endif  // JOBSYNC_BACKENDS_RAY_RAY_MAPPING_H_
