// The Backend that runs training jobs as Ray Jobs API submissions on a Ray cluster's dashboard
// (`POST /api/jobs/` and friends), through HttpClient. ray_mapping.h says how a job maps onto
// submissions: generations, submission ids, metadata, environment variables, suspend markers.
//
// Live state: every ListJobs, LiveVersion and GetHealth sends one `GET /api/jobs/` and keeps the
// submissions that carry jobsync's managed-by mark; other jobs on the cluster are invisible to
// jobsync and never touched. The newest generation of each job is its live job (ToLiveJob).
// Ray has no watch, so LiveVersion is a digest of that listing: an agent whose Ray jobs did not
// change pays one request per cycle, not a plan of every job.
//
// Apply, per action; only submissions whose jobsync.dev/instance is this instance are stopped or
// deleted, and every step is idempotent (re-running it after a crash finishes it):
//   create, scale, update (desired not suspended): stop every other running or pending
//           generation, wait until each is terminal (polling, at most stop_timeout), then submit
//           the desired spec under the first free id (ray_mapping.h), unless a generation of
//           the same spec hash already runs (or, for create, exists at all: a finished job at the
//           same spec is not re-run): then that one is adopted. The server's duplicate-id
//           answer (HTTP 500 "... already exists") also means adoption, never a second submit.
//   create, scale, update (desired suspended): submit a suspend marker (unless one of the same
//           spec exists), then stop every other running or pending generation and wait until
//           each is terminal. A marker submitted first means an interrupted suspend still shows
//           the job Running (PhaseOf), so the next plan suspends again.
//   patch:  (only annotations changed) submit a spec record of the live generation (ray_mapping.h)
//           carrying the new spec, unless one of the same spec hash exists; the running
//           submission is not touched.
//   delete: stop every generation that is not terminal, wait until each is, then
//           `DELETE /api/jobs/{id}` each one.
// A submit, stop or delete answered with "No available agent" (the dashboard has just started)
// is retried with doubling backoff, agent_retries times at most.
//
// Errors: an unreachable dashboard is kUnavailable naming the address (never the token); one
// whose TLS certificate fails verification is kPermissionDenied saying so and naming
// --ray-ca-file; HTTP 401 and 403 are kPermissionDenied saying that no token was sent or which
// setting's token was refused (token_source) and which settings give one (--ray-token-file,
// RAY_AUTH_TOKEN, ...); other server refusals carry the server's last message line. Apply errors
// start with "job ray/<ns>/<name>: ".
//
// Thread-safe if the HttpClient is: the backend holds no mutable state. Two concurrent Applys for
// the same job are not coordinated beyond the duplicate-id adoption.
#ifndef JOBSYNC_BACKENDS_RAY_RAY_BACKEND_H_
#define JOBSYNC_BACKENDS_RAY_RAY_BACKEND_H_

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "backends/backend.h"
#include "backends/http_client.h"
#include "backends/ray/ray_mapping.h"
#include "backends/ray/ray_token.h"

namespace jobsync {

// How to reach a Ray dashboard and how patiently to work with it. Holds a secret
// (bearer_token): never log it.
struct RayBackendOptions {
  // The dashboard's base URL, "http://host:port" or "https://host:port" (RAY_ADDRESS).
  std::string address;
  // Sent as "Authorization: Bearer <token>" when not empty: Ray's token authentication, or a
  // dashboard behind an authenticating proxy.
  std::string bearer_token;
  // Where bearer_token came from (RayToken::source), named when the dashboard refuses it.
  std::string token_source;
  // For https: PEM certificates trusted to sign the server's (empty: the system's), or no
  // verification at all when the user's configuration asks for it.
  std::string ca_pem;
  bool insecure_skip_tls_verify = false;
  // This agent's name (the jobsync.dev/instance metadata). Required; Apply refuses a context
  // naming another instance.
  std::string instance;
  // Inactivity limit of one request.
  std::chrono::milliseconds request_timeout{30000};
  // How long a stop waits for the submission to reach a terminal state, polling every
  // poll_interval.
  std::chrono::milliseconds stop_timeout{120000};
  std::chrono::milliseconds poll_interval{500};
  // Retries of a request answered "No available agent", the first after agent_backoff, each
  // later one after twice the previous wait, at most max_agent_backoff.
  int agent_retries = 6;
  std::chrono::milliseconds agent_backoff{500};
  std::chrono::milliseconds max_agent_backoff{8000};
};

// Where the command line points jobsync at Ray; empty fields are unset.
struct RayTargetFlags {
  std::string address;     // --ray-address
  std::string token_file;  // --ray-token-file
  // --ray-ca-file. Initialised, so that callers that set only the fields above may omit it.
  std::string ca_file = {};
};

// The process environment, for ResolveRayTarget.
std::optional<std::string> ProcessEnvironment(const std::string& name);

// Environment variable ResolveRayTarget reads for the CA (the token's are in ray_token.h).
inline constexpr const char* kRayCaFileEnv = "JOBSYNC_RAY_CA_FILE";

// Sets options->address from flags.address, else RAY_ADDRESS, options->bearer_token and
// token_source as ResolveRayToken finds them (ray_token.h: --ray-token-file, then
// JOBSYNC_RAY_TOKEN_FILE, JOBSYNC_RAY_TOKEN, RAY_AUTH_TOKEN, RAY_AUTH_TOKEN_PATH,
// ~/.ray/auth_token; none: no token), and options->ca_pem (the CA trusted for an https
// dashboard) from the file flags.ca_file, else the file named by JOBSYNC_RAY_CA_FILE (none: the
// system's trust store). Fails with kInvalidArgument when no address is given, when it is not an
// http(s) URL without user info and path (Ray's own "ray://" and GCS "host:port" addresses are
// not the dashboard), when ResolveRayToken fails, or when the CA file cannot be read or holds no
// PEM certificate; messages name the setting and file, never the token.
Status ResolveRayTarget(const RayTargetFlags& flags, const EnvLookup& environment,
                        RayBackendOptions* options);

// Makes the HttpClient for a dashboard; NewHttpClient in production, a fake in tests.
using HttpClientFactory =
    std::function<StatusOr<std::unique_ptr<HttpClient>>(const HttpClientConfig& config)>;

// Waits between polls and retries; std::this_thread::sleep_for in production.
using Sleeper = std::function<void(std::chrono::milliseconds delay)>;

class RayBackend : public Backend {
 public:
  // Checks `options` (address as ResolveRayTarget does, instance not empty, positive intervals)
  // and builds a backend with the client `make_client` returns for them. Sends no request. Fails
  // with kInvalidArgument naming the bad option, or as `make_client` does.
  static StatusOr<std::unique_ptr<RayBackend>> Create(
      RayBackendOptions options, const HttpClientFactory& make_client = NewHttpClient);

  // A backend that sends through `http` (already configured for options.address and its token)
  // and waits with `sleep`. `options` are taken as valid (Create checks them).
  RayBackend(std::unique_ptr<HttpClient> http, RayBackendOptions options, Sleeper sleep);

  // Backend:
  BackendKind kind() const override { return BackendKind::kRay; }
  StatusOr<std::vector<LiveJob>> ListJobs() override;
  Status Apply(const PlanStep& step, const ApplyContext& context) override;
  StatusOr<Health> GetHealth(const JobKey& key) override;
  // A digest of the managed submissions (ids, statuses, start times, metadata), read with one
  // listing; nullopt when the listing fails (ListJobs then reports why).
  std::optional<uint64_t> LiveVersion() override;

  // For reading logs (ray_logs.h), failing as ListJobs does: every managed submission
  // (`GET /api/jobs/`), one submission's status (`GET /api/jobs/{id}`), and its driver's log so
  // far (`GET /api/jobs/{id}/logs`, the `logs` member of the answer).
  StatusOr<std::vector<RaySubmission>> ListSubmissions();
  StatusOr<RayJobStatus> SubmissionStatus(const std::string& submission_id);
  StatusOr<std::string> SubmissionLogs(const std::string& submission_id);

 private:
  // What a submit found: a new submission, or one with that id already there.
  enum class SubmitOutcome { kSubmitted, kAlreadyExists };

  Status ApplyStep(const PlanStep& step, const ApplyContext& context);
  // Runs `job` (not suspended); `adopt_finished`: a finished generation at the same spec counts.
  Status Run(const TrainingJob& job, const ApplyContext& context, bool adopt_finished);
  Status Suspend(const TrainingJob& job, const ApplyContext& context);
  // A patch: a spec record of the live generation (ray_mapping.h), leaving it running.
  Status RecordSpec(const TrainingJob& job, const ApplyContext& context);
  Status Delete(const JobKey& key, const ApplyContext& context);

  // Sends `request` and converts transport failures (naming the address, never the token).
  StatusOr<HttpResponse> Send(const HttpRequest& request);
  // Sends a mutating `request`, retrying while the dashboard answers "No available agent".
  StatusOr<HttpResponse> SendWithAgentRetry(const HttpRequest& request);
  // The Status for a response the caller did not expect.
  Status ResponseError(const HttpRequest& request, const HttpResponse& response) const;

  // This instance's generations of `key`, oldest first, and every submission id on the cluster.
  StatusOr<std::vector<RaySubmission>> OwnGenerations(const JobKey& key,
                                                      const std::string& instance,
                                                      std::vector<std::string>* taken_ids);
  StatusOr<SubmitOutcome> Submit(const nlohmann::json& body);
  Status Stop(const std::string& submission_id);
  // The waits below tell context each answer (ApplyContext::Answered).
  Status WaitTerminal(const std::string& submission_id, const ApplyContext& context);
  // Stops every submission of `generations` that is not terminal and not `keep`, then waits for
  // each to be terminal. Stops all requests before the first wait.
  Status StopAndWait(const std::vector<RaySubmission>& generations, const std::string& keep,
                     const ApplyContext& context);
  Status DeleteSubmission(const std::string& submission_id, const ApplyContext& context);

  // `text` with the bearer token replaced, for messages built from server answers.
  std::string Redact(std::string text) const;

  const std::unique_ptr<HttpClient> http_;
  const RayBackendOptions options_;
  const Sleeper sleep_;
};

}  // namespace jobsync

#endif  // JOBSYNC_BACKENDS_RAY_RAY_BACKEND_H_
