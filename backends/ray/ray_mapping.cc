#include "backends/ray/ray_mapping.h"

#include <algorithm>
#include <cctype>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "schemas/canonical.h"

namespace jobsync {
namespace {

using nlohmann::json;

// Number of hex digits of the spec hash in a submission id.
constexpr std::size_t kIdHashDigits = 10;
// Number of revision characters in a submission id.
constexpr std::size_t kIdRevisionChars = 8;

// `object[key]` when it is a string, else "".
std::string StringField(const json& object, const char* key) {
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// The value of `key` in `metadata`, or "".
std::string MetadataValue(const std::map<std::string, std::string>& metadata, const char* key) {
  auto it = metadata.find(key);
  return it == metadata.end() ? std::string() : it->second;
}

// Reads one element of a job list. Returns false when it is not a jobsync submission.
bool ReadSubmission(const json& item, RaySubmission* out) {
  if (!item.is_object()) return false;
  out->submission_id = StringField(item, "submission_id");
  if (out->submission_id.empty()) return false;  // a driver job, not a submission
  auto metadata = item.find("metadata");
  if (metadata == item.end() || !metadata->is_object()) return false;
  for (const auto& [key, value] : metadata->items()) {
    if (value.is_string()) out->metadata[key] = value.get<std::string>();
  }
  if (MetadataValue(out->metadata, kManagedByLabel) != kManagedByValue) return false;
  out->key = {BackendKind::kRay, MetadataValue(out->metadata, kRayNamespaceKey),
              MetadataValue(out->metadata, kJobLabel)};
  if (out->key.namespace_name.empty() || out->key.name.empty()) return false;
  out->status = ParseRayJobStatus(StringField(item, "status"));
  auto start = item.find("start_time");
  if (start != item.end() && start->is_number_integer()) out->start_time_ms = start->get<int64_t>();
  out->instance = MetadataValue(out->metadata, kInstanceLabel);
  out->spec_hash = MetadataValue(out->metadata, kSpecHashAnnotation);
  out->suspend_marker = MetadataValue(out->metadata, kRaySuspendedKey) == "true";
  out->records = MetadataValue(out->metadata, kRayRecordsKey);
  return true;
}

// The generations that ran or suspend the job: every one but the spec records.
std::vector<RaySubmission> Runs(const std::vector<RaySubmission>& generations) {
  std::vector<RaySubmission> runs;
  std::copy_if(generations.begin(), generations.end(), std::back_inserter(runs),
               [](const RaySubmission& generation) { return generation.records.empty(); });
  return runs;
}

// True when `generations` hold a submission that ran or suspended the job, not spec records alone.
bool HasRun(const std::vector<RaySubmission>& generations) {
  return std::any_of(generations.begin(), generations.end(),
                     [](const RaySubmission& generation) { return generation.records.empty(); });
}

// The generation whose metadata says what was applied: the newest spec record of the live
// generation (the newest run) submitted after it, else the live generation itself. A record
// before its run names an earlier submission of the same id (deleted, then submitted again):
// stale. `generations` are ordered and hold a run.
const RaySubmission& AppliedSource(const std::vector<RaySubmission>& generations) {
  std::size_t live = 0;
  for (std::size_t i = 0; i < generations.size(); ++i) {
    if (generations[i].records.empty()) live = i;
  }
  const RaySubmission* source = &generations[live];
  for (std::size_t i = live + 1; i < generations.size(); ++i) {
    if (generations[i].records == generations[live].submission_id) source = &generations[i];
  }
  return *source;
}

// Cores as a decimal number without trailing zeros: 4000m -> "4", 500m -> "0.5".
std::string CoresText(int64_t milli) {
  std::string text = std::to_string(milli / 1000);
  int64_t fraction = milli % 1000;
  if (fraction == 0) return text;
  std::string digits = std::to_string(1000 + fraction).substr(1);  // "050" for 50
  while (!digits.empty() && digits.back() == '0') digits.pop_back();
  return text + "." + digits;
}

// Bytes of a memory quantity, rounded up to a whole byte.
int64_t Bytes(const Quantity& quantity) {
  const int64_t milli = quantity.milli();  // saturates at INT64_MAX: no overflow here
  return milli / 1000 + (milli % 1000 != 0 ? 1 : 0);
}

Status CheckMetadataSize(const std::map<std::string, std::string>& metadata) {
  std::size_t size = json(metadata).dump().size();
  if (size <= kMaxRayMetadataBytes) return OkStatus();
  return ResourceExhaustedError("the Ray job metadata (the applied spec as canonical JSON) is " +
                                std::to_string(size) + " bytes, more than the " +
                                std::to_string(kMaxRayMetadataBytes) +
                                " a Ray job driver can receive; make the manifest smaller "
                                "(e.g. move files out of spec.ray.runtimeEnv)");
}

// Fills `env_vars` (an object) with `vars`, replacing what is there.
void Overlay(const std::map<std::string, std::string>& vars, json* env_vars) {
  for (const auto& [name, value] : vars) (*env_vars)[name] = value;
}

}  // namespace

RayJobStatus ParseRayJobStatus(std::string_view text) {
  if (text == "PENDING") return RayJobStatus::kPending;
  if (text == "RUNNING") return RayJobStatus::kRunning;
  if (text == "STOPPED") return RayJobStatus::kStopped;
  if (text == "SUCCEEDED") return RayJobStatus::kSucceeded;
  if (text == "FAILED") return RayJobStatus::kFailed;
  return RayJobStatus::kUnknown;
}

bool IsTerminal(RayJobStatus status) {
  return status == RayJobStatus::kStopped || status == RayJobStatus::kSucceeded ||
         status == RayJobStatus::kFailed;
}

StatusOr<std::vector<RaySubmission>> ParseJobList(std::string_view body) {
  json list = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!list.is_array()) {
    return InternalError(
        "the Ray dashboard answered GET /api/jobs/ with something other than a "
        "JSON list of jobs; is the address the dashboard's?");
  }
  std::vector<RaySubmission> submissions;
  for (const json& item : list) {
    RaySubmission submission;
    if (ReadSubmission(item, &submission)) submissions.push_back(std::move(submission));
  }
  return submissions;
}

StatusOr<RayJobStatus> ParseJobStatus(std::string_view body) {
  json details = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!details.is_object()) {
    return InternalError(
        "the Ray dashboard answered GET /api/jobs/<id> with something other than "
        "a JSON object");
  }
  return ParseRayJobStatus(StringField(details, "status"));
}

std::map<JobKey, std::vector<RaySubmission>> GroupGenerations(
    std::vector<RaySubmission> submissions) {
  std::map<JobKey, std::vector<RaySubmission>> groups;
  for (RaySubmission& submission : submissions) {
    JobKey key = submission.key;
    groups[key].push_back(std::move(submission));
  }
  for (auto& [key, generations] : groups) {
    std::sort(generations.begin(), generations.end(),
              [](const RaySubmission& a, const RaySubmission& b) {
                return std::tie(a.start_time_ms, a.submission_id) <
                       std::tie(b.start_time_ms, b.submission_id);
              });
  }
  return groups;
}

LivePhase PhaseOf(const std::vector<RaySubmission>& all) {
  const std::vector<RaySubmission> generations = Runs(all);
  if (generations.empty()) return LivePhase::kUnknown;  // spec records left alone
  const RaySubmission& newest = generations.back();
  if (newest.status == RayJobStatus::kRunning && !newest.suspend_marker) return LivePhase::kRunning;
  if (newest.status == RayJobStatus::kPending && !newest.suspend_marker) return LivePhase::kPending;
  bool older_running = false;
  bool older_pending = false;
  for (std::size_t i = 0; i + 1 < generations.size(); ++i) {
    if (generations[i].suspend_marker) continue;
    older_running |= generations[i].status == RayJobStatus::kRunning;
    older_pending |= generations[i].status == RayJobStatus::kPending;
  }
  if (older_running) return LivePhase::kRunning;
  if (older_pending) return LivePhase::kPending;
  if (newest.suspend_marker) return LivePhase::kSuspended;
  switch (newest.status) {
    case RayJobStatus::kSucceeded:
      return LivePhase::kSucceeded;
    case RayJobStatus::kFailed:
      return LivePhase::kFailed;
    case RayJobStatus::kStopped:
      // Stopped, and not by jobsync (its suspend leaves a marker; its restarts submit a newer
      // generation): someone stopped a job Git says should run. As a suspended job, the plan
      // resumes it, and the agent treats that as drift (heal, warn or off).
      return LivePhase::kSuspended;
    case RayJobStatus::kPending:
    case RayJobStatus::kRunning:
    case RayJobStatus::kUnknown:
      break;
  }
  return LivePhase::kUnknown;
}

Health HealthOf(const std::vector<RaySubmission>& all) {
  const std::vector<RaySubmission> generations = Runs(all);
  if (generations.empty()) return Health::kMissing;
  const LivePhase phase = PhaseOf(generations);
  if (phase == LivePhase::kSuspended && !generations.back().suspend_marker) {
    return Health::kDegraded;  // stopped outside jobsync
  }
  switch (phase) {
    case LivePhase::kPending:
    case LivePhase::kUnknown:
    case LivePhase::kQueued:  // Ray has no queue (spec.queue is refused for Ray)
      return Health::kProgressing;
    case LivePhase::kRunning:
      return Health::kHealthy;
    case LivePhase::kSucceeded:
      return Health::kSucceeded;
    case LivePhase::kSuspended:
      return Health::kSuspended;
    case LivePhase::kFailed:
      break;
  }
  return Health::kFailed;
}

std::vector<LiveJob> ToLiveJobs(std::vector<RaySubmission> submissions) {
  std::vector<LiveJob> jobs;
  for (const auto& [key, generations] : GroupGenerations(std::move(submissions))) {
    if (HasRun(generations)) jobs.push_back(ToLiveJob(generations));
  }
  return jobs;
}

LiveJob ToLiveJob(const std::vector<RaySubmission>& generations) {
  const RaySubmission& newest = AppliedSource(generations);
  LiveJob live;
  live.key = newest.key;
  StatusOr<TrainingJob> applied =
      TrainingJobFromCanonicalText(MetadataValue(newest.metadata, kSpecAnnotation));
  if (applied.ok() && applied->key() == newest.key) {
    for (const auto& [role, spec] : applied->roles) live.replicas[role] = spec.replicas;
    live.applied = std::make_shared<const TrainingJob>(std::move(applied).value());
  }
  live.phase = PhaseOf(generations);
  live.instance = newest.instance;
  live.prune_protected = MetadataValue(newest.metadata, kPruneAnnotation) == "false";
  live.source_path = MetadataValue(newest.metadata, kSourcePathAnnotation);
  live.revision = MetadataValue(newest.metadata, kRevisionAnnotation);
  return live;
}

std::string SubmissionIdBase(const TrainingJob& job, std::string_view revision) {
  std::string id = "jobsync-" + job.namespace_name + "-" + job.name + "-" +
                   SpecHash(job).substr(0, kIdHashDigits);
  std::string tag;
  for (char c : revision) {
    if (tag.size() == kIdRevisionChars) break;
    char lower = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if ((lower >= 'a' && lower <= 'z') || (lower >= '0' && lower <= '9')) tag += lower;
  }
  return tag.empty() ? id : id + "-" + tag;
}

std::string FirstFreeSubmissionId(const std::string& base, const std::vector<std::string>& taken) {
  auto is_taken = [&taken](const std::string& id) {
    return std::find(taken.begin(), taken.end(), id) != taken.end();
  };
  if (!is_taken(base)) return base;
  for (std::size_t n = 2;; ++n) {
    std::string id = base + "-" + std::to_string(n);
    if (!is_taken(id)) return id;
  }
}

std::string RoleEnvSuffix(std::string_view role) {
  std::string suffix(role);
  for (char& c : suffix) {
    c = c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  return suffix;
}

std::map<std::string, std::string> JobsyncEnvVars(const TrainingJob& job) {
  std::map<std::string, std::string> vars;
  vars[kRayEnvJob] = job.name;
  vars[kRayEnvNamespace] = job.namespace_name;
  int64_t world_size = 0;
  std::vector<std::string> elastic;  // "<min>:<max>" of each elastic role
  for (const auto& [role, spec] : job.roles) {
    const std::string suffix = RoleEnvSuffix(role);
    world_size += spec.replicas;
    vars["JOBSYNC_REPLICAS_" + suffix] = std::to_string(spec.replicas);
    const Resources& resources = spec.resources;
    if (resources.cpu) vars["JOBSYNC_CPU_" + suffix] = CoresText(resources.cpu->milli());
    if (resources.memory)
      vars["JOBSYNC_MEMORY_" + suffix] = std::to_string(Bytes(*resources.memory));
    if (resources.gpu) vars["JOBSYNC_GPU_" + suffix] = std::to_string(*resources.gpu);
    if (std::optional<ReplicaBounds> bounds = ElasticBounds(spec)) {
      vars["JOBSYNC_MIN_REPLICAS_" + suffix] = std::to_string(bounds->min);
      vars["JOBSYNC_MAX_REPLICAS_" + suffix] = std::to_string(bounds->max);
      elastic.push_back(std::to_string(bounds->min) + ":" + std::to_string(bounds->max));
    }
  }
  vars[kRayEnvWorldSize] = std::to_string(world_size);
  // One driver runs every role, so JOBSYNC_NNODES names a rendezvous only when one role is
  // elastic; with several, the per-role bounds say it all.
  if (elastic.size() == 1) vars[kRayEnvNnodes] = elastic.front();
  return vars;
}

std::map<std::string, std::string> SubmissionMetadata(const TrainingJob& job,
                                                      const ApplyContext& context) {
  std::map<std::string, std::string> metadata;
  metadata[kManagedByLabel] = kManagedByValue;
  metadata[kInstanceLabel] = context.instance;
  metadata[kJobLabel] = job.name;
  metadata[kRayNamespaceKey] = job.namespace_name;
  metadata[kSpecHashAnnotation] = SpecHash(job);
  metadata[kSourcePathAnnotation] = job.source.path;
  metadata[kRevisionAnnotation] = context.revision;
  metadata[kSpecAnnotation] = CanonicalSpecText(job);
  auto prune = job.annotations.find(kPruneAnnotation);
  if (prune != job.annotations.end()) metadata[kPruneAnnotation] = prune->second;
  if (job.suspend) metadata[kRaySuspendedKey] = "true";
  return metadata;
}

StatusOr<json> BuildSubmitRequest(const TrainingJob& job, const ApplyContext& context,
                                  const std::string& submission_id) {
  if (!job.ray) return InvalidArgumentError("spec.ray is required for backend ray");
  const RaySpec& ray = *job.ray;
  json runtime_env = ray.runtime_env.is_object() ? ray.runtime_env : json::object();
  json env_vars = json::object();
  if (auto own = runtime_env.find("env_vars"); own != runtime_env.end()) {
    if (!own->is_object()) {
      return InvalidArgumentError("spec.ray.runtimeEnv.env_vars must be a map of strings");
    }
    for (const auto& [name, value] : own->items()) {
      if (!value.is_string()) {
        return InvalidArgumentError("spec.ray.runtimeEnv.env_vars." + name +
                                    " must be a string (Ray accepts only string values)");
      }
    }
    env_vars = *own;
  }
  Overlay(job.env, &env_vars);
  Overlay(JobsyncEnvVars(job), &env_vars);
  runtime_env["env_vars"] = std::move(env_vars);

  std::map<std::string, std::string> metadata = SubmissionMetadata(job, context);
  JOBSYNC_RETURN_IF_ERROR(CheckMetadataSize(metadata));
  json request = {{"entrypoint", ray.entrypoint},
                  {"submission_id", submission_id},
                  {"runtime_env", std::move(runtime_env)},
                  {"metadata", std::move(metadata)}};
  const RayEntrypointResources& resources = ray.entrypoint_resources;
  if (resources.cpu) request["entrypoint_num_cpus"] = *resources.cpu;
  if (resources.gpu) request["entrypoint_num_gpus"] = *resources.gpu;
  if (resources.memory) request["entrypoint_memory"] = Bytes(*resources.memory);
  return request;
}

StatusOr<json> BuildSuspendMarkerRequest(const TrainingJob& job, const ApplyContext& context,
                                         const std::string& submission_id) {
  std::map<std::string, std::string> metadata = SubmissionMetadata(job, context);
  metadata[kRaySuspendedKey] = "true";
  JOBSYNC_RETURN_IF_ERROR(CheckMetadataSize(metadata));
  return json{{"entrypoint", "echo 'jobsync: " + job.namespace_name + "/" + job.name +
                                 " suspended; this submission only records that'"},
              {"submission_id", submission_id},
              {"metadata", std::move(metadata)}};
}

StatusOr<json> BuildSpecRecordRequest(const TrainingJob& job, const ApplyContext& context,
                                      const std::string& live_submission_id,
                                      const std::string& submission_id) {
  std::map<std::string, std::string> metadata = SubmissionMetadata(job, context);
  metadata.erase(kRaySuspendedKey);  // a record never suspends: the generation it records does
  metadata[kRayRecordsKey] = live_submission_id;
  JOBSYNC_RETURN_IF_ERROR(CheckMetadataSize(metadata));
  return json{{"entrypoint", "echo 'jobsync: " + job.namespace_name + "/" + job.name +
                                 " metadata changed; this submission only records the spec of " +
                                 live_submission_id + "'"},
              {"submission_id", submission_id},
              {"metadata", std::move(metadata)}};
}

}  // namespace jobsync
