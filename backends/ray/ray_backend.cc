#include "backends/ray/ray_backend.h"

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string_view>
#include <thread>
#include <utility>

#include "schemas/canonical.h"

namespace jobsync {
namespace {

using nlohmann::json;

constexpr const char* kJobsPath = "/api/jobs/";
// Longest server message excerpt put into a Status.
constexpr std::size_t kMaxExcerpt = 300;
// What Redact puts in place of the token.
constexpr std::string_view kRedacted = "<redacted>";

std::string Trim(const std::string& text) {
  const char* space = " \t\r\n";
  std::size_t begin = text.find_first_not_of(space);
  if (begin == std::string::npos) return "";
  std::size_t end = text.find_last_not_of(space);
  return text.substr(begin, end - begin + 1);
}

// Checks and normalises a dashboard address (no trailing '/'); see ResolveRayTarget.
Status CheckAddress(std::string* address) {
  while (!address->empty() && address->back() == '/') address->pop_back();
  const std::string& a = *address;
  std::size_t scheme_end = a.find("://");
  std::string scheme = scheme_end == std::string::npos ? "" : a.substr(0, scheme_end);
  std::string rest = scheme_end == std::string::npos ? "" : a.substr(scheme_end + 3);
  if (scheme != "http" && scheme != "https") {
    return InvalidArgumentError(
        "Ray address '" + a +
        "' is not the dashboard's http(s) URL; jobsync talks to the Jobs API of the Ray "
        "dashboard: set RAY_ADDRESS or --ray-address to e.g. http://127.0.0.1:8265");
  }
  if (rest.empty() || rest.find('/') != std::string::npos) {
    return InvalidArgumentError("Ray address '" + a +
                                "' must be scheme://host[:port], without a path");
  }
  if (rest.find('@') != std::string::npos) {
    return InvalidArgumentError(
        "the Ray address must not carry user info; put the bearer token in a file "
        "(--ray-token-file or " +
        std::string(kRayTokenFileEnv) + ")");
  }
  return OkStatus();
}

// The last non-empty line of a server answer (a Python traceback ends with the error), cut short.
std::string Excerpt(const std::string& body) {
  std::string text = Trim(body);
  std::size_t line = text.find_last_of('\n');
  if (line != std::string::npos) text = Trim(text.substr(line + 1));
  if (text.size() > kMaxExcerpt) text = text.substr(0, kMaxExcerpt) + "...";
  return text;
}

bool Contains(const std::string& text, const char* part) {
  return text.find(part) != std::string::npos;
}

bool IsNoAvailableAgent(const HttpResponse& response) {
  return response.status >= 500 && Contains(response.body, "No available agent");
}

bool IsDuplicateId(const HttpResponse& response) {
  return response.status >= 500 && Contains(response.body, "already exists") &&
         Contains(response.body, "submission_id");
}

HttpRequest Request(std::string method, std::string path) {
  HttpRequest request;
  request.method = std::move(method);
  request.path = std::move(path);
  return request;
}

// Prefixes a non-ok status with `context`.
Status Annotate(const Status& status, const std::string& context) {
  if (status.ok()) return status;
  return Status(status.code(), context + ": " + status.message());
}

}  // namespace

std::optional<std::string> ProcessEnvironment(const std::string& name) {
  const char* value = std::getenv(name.c_str());
  if (value == nullptr) return std::nullopt;
  return std::string(value);
}

Status ResolveRayTarget(const RayTargetFlags& flags, const EnvLookup& environment,
                        RayBackendOptions* options) {
  std::string address = flags.address;
  if (address.empty()) address = environment("RAY_ADDRESS").value_or("");
  if (address.empty()) {
    return InvalidArgumentError(
        "no Ray address: set RAY_ADDRESS or --ray-address to the dashboard's URL, e.g. "
        "http://127.0.0.1:8265");
  }
  JOBSYNC_RETURN_IF_ERROR(CheckAddress(&address));
  options->address = address;

  StatusOr<RayToken> token = ResolveRayToken(flags.token_file, environment);
  if (!token.ok()) return token.status();
  options->bearer_token = std::move(token->value);
  options->token_source = std::move(token->source);

  std::string ca_file = flags.ca_file;
  if (ca_file.empty()) ca_file = environment(kRayCaFileEnv).value_or("");
  if (!ca_file.empty()) {
    std::ifstream in(ca_file, std::ios::binary);
    if (!in) return InvalidArgumentError("cannot read the Ray CA file " + ca_file);
    std::ostringstream text;
    text << in.rdbuf();
    if (in.bad()) return InvalidArgumentError("cannot read the Ray CA file " + ca_file);
    if (text.str().find("-----BEGIN CERTIFICATE-----") == std::string::npos) {
      return InvalidArgumentError("the Ray CA file " + ca_file + " holds no PEM certificate");
    }
    options->ca_pem = text.str();
  }
  return OkStatus();
}

StatusOr<std::unique_ptr<RayBackend>> RayBackend::Create(RayBackendOptions options,
                                                         const HttpClientFactory& make_client) {
  JOBSYNC_RETURN_IF_ERROR(CheckAddress(&options.address));
  if (options.instance.empty()) {
    return InvalidArgumentError("the Ray backend needs an instance name");
  }
  if (options.request_timeout.count() <= 0 || options.stop_timeout.count() <= 0 ||
      options.poll_interval.count() <= 0 || options.agent_backoff.count() <= 0 ||
      options.max_agent_backoff.count() <= 0 || options.agent_retries < 0) {
    return InvalidArgumentError(
        "Ray backend timeouts, intervals and backoffs must be positive, retries not negative");
  }
  HttpClientConfig config;
  config.base_url = options.address;
  config.bearer_token = options.bearer_token;
  config.ca_pem = options.ca_pem;
  config.insecure_skip_tls_verify = options.insecure_skip_tls_verify;
  config.ca_hint = "pass the CA certificate that signed it with --ray-ca-file (or $" +
                   std::string(kRayCaFileEnv) + ")";
  config.default_timeout = options.request_timeout;
  StatusOr<std::unique_ptr<HttpClient>> http = make_client(config);
  if (!http.ok()) return Annotate(http.status(), "Ray dashboard " + options.address);
  return std::make_unique<RayBackend>(
      std::move(http).value(), std::move(options),
      [](std::chrono::milliseconds delay) { std::this_thread::sleep_for(delay); });
}

RayBackend::RayBackend(std::unique_ptr<HttpClient> http, RayBackendOptions options, Sleeper sleep)
    : http_(std::move(http)), options_(std::move(options)), sleep_(std::move(sleep)) {}

// Backend:

StatusOr<std::vector<LiveJob>> RayBackend::ListJobs() {
  StatusOr<std::vector<RaySubmission>> submissions = ListSubmissions();
  if (!submissions.ok()) return submissions.status();
  return ToLiveJobs(std::move(submissions).value());
}

std::optional<uint64_t> RayBackend::LiveVersion() {
  StatusOr<std::vector<RaySubmission>> submissions = ListSubmissions();
  if (!submissions.ok()) return std::nullopt;
  // FNV-1a over every field ToLiveJob reads, each one terminated so that fields cannot run into
  // each other, in submission id order (the server's order is not promised).
  std::vector<const RaySubmission*> ordered;
  ordered.reserve(submissions->size());
  for (const RaySubmission& submission : *submissions) ordered.push_back(&submission);
  std::sort(ordered.begin(), ordered.end(), [](const RaySubmission* a, const RaySubmission* b) {
    return a->submission_id < b->submission_id;
  });
  uint64_t digest = 14695981039346656037ULL;
  auto mix = [&digest](std::string_view text) {
    for (char c : text) digest = (digest ^ static_cast<unsigned char>(c)) * 1099511628211ULL;
    digest = (digest ^ 0xffU) * 1099511628211ULL;
  };
  for (const RaySubmission* submission : ordered) {
    mix(submission->submission_id);
    mix(std::to_string(static_cast<int>(submission->status)));
    mix(std::to_string(submission->start_time_ms));
    for (const auto& [key, value] : submission->metadata) {
      mix(key);
      mix(value);
    }
  }
  return digest;
}

Status RayBackend::Apply(const PlanStep& step, const ApplyContext& context) {
  return Annotate(ApplyStep(step, context), "job " + step.key.ToString());
}

StatusOr<Health> RayBackend::GetHealth(const JobKey& key) {
  if (key.backend != BackendKind::kRay) {
    return InvalidArgumentError("the Ray backend has no job " + key.ToString());
  }
  StatusOr<std::vector<RaySubmission>> submissions = ListSubmissions();
  if (!submissions.ok()) return submissions.status();
  auto groups = GroupGenerations(std::move(submissions).value());
  auto it = groups.find(key);
  return it == groups.end() ? Health::kMissing : HealthOf(it->second);
}

// Steps.

Status RayBackend::ApplyStep(const PlanStep& step, const ApplyContext& context) {
  if (step.action == Action::kNone) return OkStatus();
  if (step.key.backend != BackendKind::kRay) {
    return InvalidArgumentError("the Ray backend cannot apply a step for backend " +
                                std::string(BackendName(step.key.backend)));
  }
  if (context.instance != options_.instance) {
    return InvalidArgumentError("the step is applied as instance '" + context.instance +
                                "' but this Ray backend serves instance '" + options_.instance +
                                "'");
  }
  switch (step.action) {
    case Action::kDelete:
      return Delete(step.key, context);
    case Action::kPatch:
      if (!step.desired || step.desired->key() != step.key) {
        return InvalidArgumentError("a patch step needs the desired job of its key");
      }
      return RecordSpec(*step.desired, context);
    case Action::kCreate:
    case Action::kScale:
    case Action::kUpdate:
    case Action::kRerun:
      if (!step.desired || step.desired->key() != step.key) {
        return InvalidArgumentError(std::string("a ") + ActionName(step.action) +
                                    " step needs the desired job of its key");
      }
      if (step.desired->suspend) return Suspend(*step.desired, context);
      return Run(*step.desired, context, step.action == Action::kCreate);
    case Action::kNone:
      break;
  }
  return OkStatus();
}

Status RayBackend::Run(const TrainingJob& job, const ApplyContext& context, bool adopt_finished) {
  std::vector<std::string> taken;
  StatusOr<std::vector<RaySubmission>> generations =
      OwnGenerations(job.key(), context.instance, &taken);
  if (!generations.ok()) return generations.status();
  const std::string hash = SpecHash(job);
  std::string adopted;
  for (const RaySubmission& generation : *generations) {  // oldest first: the newest match wins
    if (!generation.suspend_marker && generation.records.empty() && generation.spec_hash == hash &&
        (adopt_finished || !IsTerminal(generation.status))) {
      adopted = generation.submission_id;
    }
  }
  // Stop the old generations first: the new one must not run beside them.
  JOBSYNC_RETURN_IF_ERROR(StopAndWait(*generations, adopted, context));
  if (!adopted.empty()) return OkStatus();
  StatusOr<json> body = BuildSubmitRequest(
      job, context, FirstFreeSubmissionId(SubmissionIdBase(job, context.revision), taken));
  if (!body.ok()) return body.status();
  return Submit(*body).status();
}

Status RayBackend::Suspend(const TrainingJob& job, const ApplyContext& context) {
  std::vector<std::string> taken;
  StatusOr<std::vector<RaySubmission>> generations =
      OwnGenerations(job.key(), context.instance, &taken);
  if (!generations.ok()) return generations.status();
  const std::string hash = SpecHash(job);
  bool marked = std::any_of(generations->begin(), generations->end(),
                            [&hash](const RaySubmission& generation) {
                              return generation.suspend_marker && generation.spec_hash == hash;
                            });
  if (!marked) {
    StatusOr<json> body = BuildSuspendMarkerRequest(
        job, context, FirstFreeSubmissionId(SubmissionIdBase(job, context.revision), taken));
    if (!body.ok()) return body.status();
    JOBSYNC_RETURN_IF_ERROR(Submit(*body).status());
  }
  std::vector<RaySubmission> runs;
  std::copy_if(generations->begin(), generations->end(), std::back_inserter(runs),
               [](const RaySubmission& generation) { return !generation.suspend_marker; });
  return StopAndWait(runs, "", context);
}

Status RayBackend::RecordSpec(const TrainingJob& job, const ApplyContext& context) {
  std::vector<std::string> taken;
  StatusOr<std::vector<RaySubmission>> generations =
      OwnGenerations(job.key(), context.instance, &taken);
  if (!generations.ok()) return generations.status();
  const RaySubmission* live = nullptr;
  for (const RaySubmission& generation : *generations) {
    if (generation.records.empty()) live = &generation;
  }
  if (live == nullptr) {
    return FailedPreconditionError(
        "no submission of this instance to record the new spec for (it was deleted meanwhile); "
        "the next sync creates the job");
  }
  const std::string hash = SpecHash(job);
  for (const RaySubmission& generation : *generations) {
    if (generation.records == live->submission_id && generation.spec_hash == hash) {
      return OkStatus();  // recorded by an earlier, interrupted apply
    }
  }
  StatusOr<json> body =
      BuildSpecRecordRequest(job, context, live->submission_id,
                             FirstFreeSubmissionId(SubmissionIdBase(job, context.revision), taken));
  if (!body.ok()) return body.status();
  return Submit(*body).status();
}

Status RayBackend::Delete(const JobKey& key, const ApplyContext& context) {
  std::vector<std::string> taken;
  StatusOr<std::vector<RaySubmission>> generations = OwnGenerations(key, context.instance, &taken);
  if (!generations.ok()) return generations.status();
  JOBSYNC_RETURN_IF_ERROR(StopAndWait(*generations, "", context));
  for (const RaySubmission& generation : *generations) {
    JOBSYNC_RETURN_IF_ERROR(DeleteSubmission(generation.submission_id, context));
  }
  return OkStatus();
}

// Requests.

StatusOr<HttpResponse> RayBackend::Send(const HttpRequest& request) {
  HttpRequest timed = request;
  timed.timeout = options_.request_timeout;
  StatusOr<HttpResponse> response = http_->Send(timed);
  if (response.ok()) return response;
  if (response.status().code() == StatusCode::kPermissionDenied) {  // an untrusted certificate
    return PermissionDeniedError("Ray dashboard " + options_.address + ": " +
                                 Redact(response.status().message()));
  }
  StatusCode code = response.status().code() == StatusCode::kDeadlineExceeded
                        ? StatusCode::kDeadlineExceeded
                        : StatusCode::kUnavailable;
  return Status(code, "Ray dashboard " + options_.address + " unreachable (" + request.method +
                          " " + request.path + "): " + Redact(response.status().message()));
}

StatusOr<HttpResponse> RayBackend::SendWithAgentRetry(const HttpRequest& request) {
  std::chrono::milliseconds backoff = options_.agent_backoff;
  for (int retry = 0;; ++retry) {
    StatusOr<HttpResponse> response = Send(request);
    if (!response.ok() || !IsNoAvailableAgent(*response) || retry >= options_.agent_retries) {
      return response;
    }
    sleep_(backoff);
    backoff = std::min(backoff * 2, options_.max_agent_backoff);
  }
}

Status RayBackend::ResponseError(const HttpRequest& request, const HttpResponse& response) const {
  std::string message = "Ray dashboard " + options_.address + " answered " + request.method + " " +
                        request.path + " with HTTP " + std::to_string(response.status);
  std::string excerpt = Redact(Excerpt(response.body));
  if (!excerpt.empty()) message += ": " + excerpt;
  if (response.status == 401 || response.status == 403) {
    if (options_.bearer_token.empty()) {
      return PermissionDeniedError(
          message +
          ". The dashboard wants a token (Ray token authentication, RAY_AUTH_MODE=token, "
          "or an authenticating proxy) and jobsync sent none: give it with " +
          RayTokenSettingsHint() + "; `ray get-auth-token` on the head prints the cluster's token");
    }
    const std::string from = options_.token_source.empty() ? "" : " from " + options_.token_source;
    return PermissionDeniedError(message + ". It refused the token" + from +
                                 ": that is not this cluster's token; correct it, or give the "
                                 "right one with " +
                                 RayTokenSettingsHint());
  }
  if (response.status == 400) return InvalidArgumentError(message);
  if (response.status == 404) return NotFoundError(message);
  if (response.status >= 500) return UnavailableError(message);
  return InternalError(message);
}

StatusOr<std::vector<RaySubmission>> RayBackend::ListSubmissions() {
  HttpRequest request = Request("GET", kJobsPath);
  StatusOr<HttpResponse> response = Send(request);
  if (!response.ok()) return response.status();
  if (response->status != 200) return ResponseError(request, *response);
  StatusOr<std::vector<RaySubmission>> submissions = ParseJobList(response->body);
  if (!submissions.ok()) {
    return Annotate(submissions.status(), "Ray dashboard " + options_.address);
  }
  return submissions;
}

StatusOr<RayJobStatus> RayBackend::SubmissionStatus(const std::string& submission_id) {
  HttpRequest request = Request("GET", kJobsPath + submission_id);
  StatusOr<HttpResponse> response = Send(request);
  if (!response.ok()) return response.status();
  if (response->status != 200) return ResponseError(request, *response);
  StatusOr<RayJobStatus> status = ParseJobStatus(response->body);
  if (!status.ok()) return Annotate(status.status(), "Ray dashboard " + options_.address);
  return status;
}

StatusOr<std::string> RayBackend::SubmissionLogs(const std::string& submission_id) {
  HttpRequest request = Request("GET", kJobsPath + submission_id + "/logs");
  StatusOr<HttpResponse> response = Send(request);
  if (!response.ok()) return response.status();
  if (response->status != 200) return ResponseError(request, *response);
  json body = json::parse(response->body, nullptr, /*allow_exceptions=*/false);
  auto logs = body.is_object() ? body.find("logs") : body.end();
  if (logs == body.end() || !logs->is_string()) {
    return InternalError("Ray dashboard " + options_.address + " answered " + request.path +
                         " with something other than a JSON object with a logs string");
  }
  return logs->get<std::string>();
}

StatusOr<std::vector<RaySubmission>> RayBackend::OwnGenerations(
    const JobKey& key, const std::string& instance, std::vector<std::string>* taken_ids) {
  HttpRequest request = Request("GET", kJobsPath);
  StatusOr<HttpResponse> response = Send(request);
  if (!response.ok()) return response.status();
  if (response->status != 200) return ResponseError(request, *response);
  json list = json::parse(response->body, nullptr, /*allow_exceptions=*/false);
  if (list.is_array()) {
    for (const json& item : list) {
      auto id = item.is_object() ? item.find("submission_id") : item.end();
      if (item.is_object() && id != item.end() && id->is_string()) {
        taken_ids->push_back(id->get<std::string>());
      }
    }
  }
  StatusOr<std::vector<RaySubmission>> submissions = ParseJobList(response->body);
  if (!submissions.ok()) {
    return Annotate(submissions.status(), "Ray dashboard " + options_.address);
  }
  std::vector<RaySubmission> own;
  for (RaySubmission& submission : *submissions) {
    if (submission.key == key && submission.instance == instance) {
      own.push_back(std::move(submission));
    }
  }
  auto groups = GroupGenerations(std::move(own));
  return groups.empty() ? std::vector<RaySubmission>() : std::move(groups.begin()->second);
}

StatusOr<RayBackend::SubmitOutcome> RayBackend::Submit(const json& body) {
  HttpRequest request = Request("POST", kJobsPath);
  request.body = body.dump(-1, ' ', false, json::error_handler_t::replace);
  request.content_type = "application/json";
  StatusOr<HttpResponse> response = SendWithAgentRetry(request);
  if (!response.ok()) return response.status();
  if (response->status == 200) return SubmitOutcome::kSubmitted;
  // The id is taken: an earlier apply of this step submitted it. Adopt, never submit twice.
  if (IsDuplicateId(*response)) return SubmitOutcome::kAlreadyExists;
  return ResponseError(request, *response);
}

Status RayBackend::Stop(const std::string& submission_id) {
  HttpRequest request = Request("POST", kJobsPath + submission_id + "/stop");
  StatusOr<HttpResponse> response = SendWithAgentRetry(request);
  if (!response.ok()) return response.status();
  if (response->status == 200 || response->status == 404) return OkStatus();
  return ResponseError(request, *response);
}

Status RayBackend::WaitTerminal(const std::string& submission_id, const ApplyContext& context) {
  HttpRequest request = Request("GET", kJobsPath + submission_id);
  const int64_t polls = std::max<int64_t>(1, options_.stop_timeout / options_.poll_interval);
  for (int64_t poll = 0;; ++poll) {
    StatusOr<HttpResponse> response = Send(request);
    if (!response.ok()) return response.status();
    if (response->status == 404) return OkStatus();  // deleted meanwhile: nothing runs
    if (response->status != 200) return ResponseError(request, *response);
    StatusOr<RayJobStatus> status = ParseJobStatus(response->body);
    if (!status.ok()) return Annotate(status.status(), "Ray dashboard " + options_.address);
    if (IsTerminal(*status)) return OkStatus();
    context.Answered();
    if (poll >= polls) break;
    sleep_(options_.poll_interval);
  }
  return DeadlineExceededError(
      "Ray submission " + submission_id + " did not reach a terminal state within " +
      std::to_string(options_.stop_timeout.count()) +
      " ms of being stopped (a PENDING submission stops only once Ray has scheduled it)");
}

Status RayBackend::StopAndWait(const std::vector<RaySubmission>& generations,
                               const std::string& keep, const ApplyContext& context) {
  std::vector<std::string> stopped;
  for (const RaySubmission& generation : generations) {
    if (generation.submission_id == keep || IsTerminal(generation.status)) continue;
    JOBSYNC_RETURN_IF_ERROR(Stop(generation.submission_id));
    stopped.push_back(generation.submission_id);
  }
  for (const std::string& submission_id : stopped) {
    JOBSYNC_RETURN_IF_ERROR(WaitTerminal(submission_id, context));
  }
  return OkStatus();
}

Status RayBackend::DeleteSubmission(const std::string& submission_id, const ApplyContext& context) {
  // Ray (seen with 2.60) records the death of a stopped job's supervisor actor a few seconds
  // after the job turned terminal, and that write brings a deleted submission back (as FAILED,
  // without metadata). So the delete is checked over a short settle window and repeated when the
  // submission reappears.
  constexpr int kDeleteAttempts = 5;
  constexpr int kSettlePolls = 8;
  HttpRequest request = Request("DELETE", kJobsPath + submission_id);
  for (int attempt = 0; attempt < kDeleteAttempts; ++attempt) {
    StatusOr<HttpResponse> response = SendWithAgentRetry(request);
    if (!response.ok()) return response.status();
    if (response->status != 200 && response->status != 404)
      return ResponseError(request, *response);
    bool reappeared = false;
    for (int poll = 0; poll < kSettlePolls && !reappeared; ++poll) {
      sleep_(options_.poll_interval);
      StatusOr<HttpResponse> check = Send(Request("GET", kJobsPath + submission_id));
      if (!check.ok()) return check.status();
      reappeared = check->status == 200;
      context.Answered();
    }
    if (!reappeared) return OkStatus();
  }
  return UnavailableError("Ray submission " + submission_id + " keeps reappearing after " +
                          std::to_string(kDeleteAttempts) + " deletes");
}

std::string RayBackend::Redact(std::string text) const {
  const std::string& token = options_.bearer_token;
  if (token.empty()) return text;
  for (std::size_t at = text.find(token); at != std::string::npos;
       at = text.find(token, at + kRedacted.size())) {
    text.replace(at, token.size(), kRedacted);
  }
  return text;
}

}  // namespace jobsync
