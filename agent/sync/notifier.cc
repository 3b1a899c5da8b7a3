#include "agent/sync/notifier.h"

#include <algorithm>
#include <cctype>

#include <spdlog/spdlog.h>

#include "common/logging.h"

namespace jobsync {
namespace {

constexpr const char* kSent = "jobsync_notifications_total";
constexpr const char* kDropped = "jobsync_notifications_dropped_total";
constexpr const char* kCommitStatusSink = "commit-status";
constexpr const char* kWebhookSink = "webhook";
constexpr size_t kRememberedOutcomes = 256;
// GitHub refuses longer descriptions.
constexpr size_t kMaxDescription = 140;

std::string Short(const std::string& commit) { return commit.substr(0, 7); }

// Percent-encodes everything but unreserved characters (a GitLab project path in a URL path).
std::string EncodePathSegment(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) != 0 || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    }
  }
  return out;
}

std::string Truncate(std::string text, size_t limit) {
  if (text.size() <= limit) return text;
  text.resize(limit - 3);
  return text + "...";
}

bool Retryable(const StatusOr<HttpResponse>& response) {
  if (!response.ok()) return true;  // no answer: connection refused, reset, timed out
  return response->status == 429 || response->status >= 500;
}

}  // namespace

std::optional<CommitStatusProvider> ParseCommitStatusProvider(std::string_view name) {
  if (name == "github") return CommitStatusProvider::kGitHub;
  if (name == "gitlab") return CommitStatusProvider::kGitLab;
  return std::nullopt;
}

const char* DefaultApiUrl(CommitStatusProvider provider) {
  return provider == CommitStatusProvider::kGitHub ? "https://api.github.com"
                                                   : "https://gitlab.com/api/v4";
}

Status SplitUrl(std::string_view url, std::string* base, std::string* path) {
  const size_t scheme = url.find("://");
  const std::string_view name = scheme == std::string_view::npos ? "" : url.substr(0, scheme);
  if (name != "http" && name != "https") {
    return InvalidArgumentError("not an http:// or https:// URL");
  }
  const size_t slash = url.find('/', scheme + 3);
  if (slash == scheme + 3) return InvalidArgumentError("the URL has no host");
  *base = std::string(url.substr(0, slash));
  *path = slash == std::string_view::npos ? "" : std::string(url.substr(slash));
  return OkStatus();
}

HttpNotifier::HttpNotifier(NotifierOptions options, Metrics& metrics)
    : options_(std::move(options)), metrics_(metrics) {
  metrics_.Declare(kSent, MetricType::kCounter,
                   "Notifications finished, by sink (commit-status, webhook) and result (sent, "
                   "failed)");
  metrics_.Declare(kDropped, MetricType::kCounter,
                   "Notifications dropped because the queue was full (oldest first)");
}

HttpNotifier::~HttpNotifier() { Stop(); }

Status HttpNotifier::Start() {
  auto client = [&](const std::string& base,
                    const char* what) -> StatusOr<std::unique_ptr<HttpClient>> {
    HttpClientConfig config;
    config.base_url = base;
    config.ca_pem = options_.ca_pem;
    config.default_timeout = options_.request_timeout;
    config.max_body_bytes = size_t{1} << 20;
    StatusOr<std::unique_ptr<HttpClient>> made = NewHttpClient(config);
    if (!made.ok()) {
      return Status(made.status().code(), std::string(what) + ": " + made.status().message());
    }
    return made;
  };
  if (!options_.api_url.empty()) {
    if (options_.repository.empty()) {
      return InvalidArgumentError(
          "commit status: no repository given (--status-repo: owner/repo on GitHub, the project "
          "id or group/project on GitLab)");
    }
    if (options_.token.empty()) {
      return InvalidArgumentError("commit status: no token (--status-token-file)");
    }
    std::string base;
    std::string prefix;
    Status split = SplitUrl(options_.api_url, &base, &prefix);
    if (!split.ok()) return InvalidArgumentError("--status-api-url: " + split.message());
    while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
    StatusOr<std::unique_ptr<HttpClient>> made = client(base, "--status-api-url");
    if (!made.ok()) return made.status();
    status_client_ = std::move(*made);
    status_path_prefix_ =
        options_.provider == CommitStatusProvider::kGitHub
            ? prefix + "/repos/" + options_.repository + "/statuses/"
            : prefix + "/projects/" + EncodePathSegment(options_.repository) + "/statuses/";
  }
  if (!options_.webhook_url.empty()) {
    std::string base;
    Status split = SplitUrl(options_.webhook_url, &base, &webhook_path_);
    if (!split.ok()) return InvalidArgumentError("--notify-webhook-url-file: " + split.message());
    if (webhook_path_.empty()) webhook_path_ = "/";
    StatusOr<std::unique_ptr<HttpClient>> made = client(base, "--notify-webhook-url-file");
    if (!made.ok()) return made.status();
    webhook_client_ = std::move(*made);
  }
  std::lock_guard<std::mutex> lock(mutex_);
  if (thread_.joinable() || stopping_) {
    return FailedPreconditionError("the notifier was already started");
  }
  thread_ = std::thread(&HttpNotifier::Loop, this);
  return OkStatus();
}

void HttpNotifier::Stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
    if (!queue_.empty()) {
      spdlog::warn("notifier stopping: {} notification(s) not sent", queue_.size());
    }
  }
  wake_.notify_all();
  drained_.notify_all();
  if (thread_.joinable()) thread_.join();
}

size_t HttpNotifier::pending() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return queue_.size() + (delivering_ ? 1 : 0);
}

void HttpNotifier::Drain(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mutex_);
  drained_.wait_for(lock, timeout,
                    [this] { return stopping_ || (queue_.empty() && !delivering_); });
}

void HttpNotifier::SyncFinished(const SyncReport& report) {
  const std::string outcome = report.ok ? "success" : "failure";
  std::vector<Delivery> deliveries;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    // One notification per commit and outcome, however many cycles find the same; a commit
    // whose outcome changes (a failed job fixed by hand) is reported again.
    auto [last, first_time] = outcomes_.try_emplace(report.commit, outcome);
    if (first_time || last->second != outcome) {
      last->second = outcome;
      if (first_time) outcome_order_.push_back(report.commit);
      if (outcome_order_.size() > kRememberedOutcomes) {
        outcomes_.erase(outcome_order_.front());
        outcome_order_.pop_front();
      }
      if (status_client_) deliveries.push_back(CommitStatus(report));
      if (webhook_client_) {
        std::string text =
            "jobsync " + options_.instance + ": commit " + Short(report.commit) + " (" +
            report.summary + ") " +
            (report.ok ? "synced, every job in sync" : "not in sync: " + report.message);
        deliveries.push_back(Webhook({{"text", text},
                                      {"event", "sync"},
                                      {"instance", options_.instance},
                                      {"commit", report.commit},
                                      {"result", outcome},
                                      {"message", report.message}}));
      }
    }
    // Jobs that turn Degraded or Failed, once per turn.
    std::map<std::string, std::string> health;
    for (const SyncReport::Job& job : report.jobs) {
      health[job.key] = job.health;
      const bool bad = job.health == "Degraded" || job.health == "Failed";
      auto before = health_.find(job.key);
      if (!bad || (before != health_.end() && before->second == job.health)) continue;
      if (!webhook_client_) continue;
      std::string text = "jobsync " + options_.instance + ": job " + job.key + " is " + job.health +
                         " at commit " + Short(report.commit);
      if (!job.last_error.empty()) text += ": " + job.last_error;
      deliveries.push_back(Webhook({{"text", text},
                                    {"event", "job"},
                                    {"instance", options_.instance},
                                    {"commit", report.commit},
                                    {"job", job.key},
                                    {"health", job.health},
                                    {"message", job.last_error}}));
    }
    health_ = std::move(health);
  }
  for (Delivery& delivery : deliveries) Enqueue(std::move(delivery));
}

HttpNotifier::Delivery HttpNotifier::CommitStatus(const SyncReport& report) const {
  Delivery delivery;
  delivery.sink = kCommitStatusSink;
  delivery.path = status_path_prefix_ + report.commit;
  const std::string description =
      Truncate(report.ok ? "every job in sync" : "not in sync: " + report.message, kMaxDescription);
  nlohmann::json body = {{"description", description}};
  if (!options_.target_url.empty()) body["target_url"] = options_.target_url;
  if (options_.provider == CommitStatusProvider::kGitHub) {
    body["state"] = report.ok ? "success" : "failure";
    body["context"] = options_.context;
    delivery.headers = {{"Authorization", "Bearer " + options_.token},
                        {"Accept", "application/vnd.github+json"},
                        {"X-GitHub-Api-Version", "2022-11-28"}};
  } else {
    body["state"] = report.ok ? "success" : "failed";
    body["name"] = options_.context;
    delivery.headers = {{"PRIVATE-TOKEN", options_.token}};
  }
  // GitHub's API refuses requests without a User-Agent.
  delivery.headers["User-Agent"] = "jobsync";
  delivery.body = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return delivery;
}

HttpNotifier::Delivery HttpNotifier::Webhook(const nlohmann::json& payload) const {
  Delivery delivery;
  delivery.sink = kWebhookSink;
  delivery.path = webhook_path_;
  delivery.headers = {{"User-Agent", "jobsync"}};
  delivery.body = payload.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return delivery;
}

std::string HttpNotifier::Redacted(std::string text) const {
  // A server may echo what it was sent; the log must not carry it (whatever the log's own
  // scrubbing does).
  // The webhook's path is its secret part (Slack: /services/T.../B.../key); the HTTP client's
  // errors name it without the host.
  for (const std::string& secret : {options_.token, options_.webhook_url, webhook_path_}) {
    if (secret.empty() || secret == "/") continue;
    for (size_t at = text.find(secret); at != std::string::npos; at = text.find(secret, at)) {
      text.replace(at, secret.size(), "[redacted]");
    }
  }
  return text;
}

void HttpNotifier::Enqueue(Delivery delivery) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_) return;
    while (queue_.size() >= std::max<size_t>(options_.queue_capacity, 1)) {
      metrics_.Add(kDropped, {{"sink", queue_.front().sink}});
      LogEvent(spdlog::level::warn, "notification dropped: queue full",
               {{"sink", queue_.front().sink}});
      queue_.pop_front();
    }
    queue_.push_back(std::move(delivery));
  }
  wake_.notify_all();
}

void HttpNotifier::Loop() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (true) {
    wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (stopping_) return;
    Delivery delivery = std::move(queue_.front());
    queue_.pop_front();
    delivering_ = true;
    lock.unlock();
    Deliver(delivery);
    lock.lock();
    delivering_ = false;
    drained_.notify_all();
  }
}

void HttpNotifier::Deliver(const Delivery& delivery) {
  HttpClient& client = delivery.sink == kCommitStatusSink ? *status_client_ : *webhook_client_;
  HttpRequest request;
  request.method = "POST";
  request.path = delivery.path;
  request.headers = delivery.headers;
  request.body = delivery.body;
  request.content_type = "application/json";
  request.timeout = options_.request_timeout;
  std::chrono::milliseconds backoff = options_.initial_backoff;
  std::string problem;
  for (int attempt = 1; attempt <= std::max(1, options_.max_attempts); ++attempt) {
    StatusOr<HttpResponse> response = client.Send(request);
    if (response.ok() && response->status >= 200 && response->status < 300) {
      metrics_.Add(kSent, {{"sink", delivery.sink}, {"result", "sent"}});
      spdlog::debug("notification sent to {} (attempt {})", delivery.sink, attempt);
      return;
    }
    problem = response.ok() ? "HTTP " + std::to_string(response->status) + ": " +
                                  Truncate(Redacted(response->body), 200)
                            : Redacted(response.status().message());
    if (!Retryable(response) || attempt == options_.max_attempts) break;
    LogEvent(spdlog::level::info, "notification failed, retrying",
             {{"sink", delivery.sink},
              {"attempt", std::to_string(attempt)},
              {"error", problem},
              {"retry_in", std::to_string(backoff.count()) + "ms"}});
    std::unique_lock<std::mutex> lock(mutex_);
    if (wake_.wait_for(lock, backoff, [this] { return stopping_; })) return;
    backoff = std::min(backoff * 2, options_.max_backoff);
  }
  metrics_.Add(kSent, {{"sink", delivery.sink}, {"result", "failed"}});
  LogEvent(spdlog::level::warn, "notification not sent",
           {{"sink", delivery.sink}, {"error", problem}});
}

}  // namespace jobsync
