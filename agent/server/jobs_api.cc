#include "agent/server/jobs_api.h"

#include <cstdio>
#include <random>
#include <string_view>
#include <utility>

namespace jobsync {
namespace {

constexpr auto kReplace = nlohmann::json::error_handler_t::replace;

// 64-bit FNV-1a: spreads the request over the ETag; not a defence against anything.
uint64_t Fnv1a(const std::string& text) {
  uint64_t hash = 14695981039346656037ull;
  for (unsigned char c : text) {
    hash ^= c;
    hash *= 1099511628211ull;
  }
  return hash;
}

ApiResponse Error(int status, const std::string& message) {
  return {status, nlohmann::json{{"error", message}}.dump(-1, ' ', false, kReplace), ""};
}

// `text` with every byte outside RFC 3986's unreserved set and '/' percent-encoded.
std::string EncodePath(const std::string& text) {
  std::string out;
  for (unsigned char c : text) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '.' || c == '_' || c == '~' || c == '/') {
      out += static_cast<char>(c);
    } else {
      char escaped[4];
      std::snprintf(escaped, sizeof(escaped), "%%%02X", c);
      out += escaped;
    }
  }
  return out;
}

std::string StringMember(const nlohmann::json& object, const char* name) {
  const auto found = object.find(name);
  return found != object.end() && found->is_string() ? found->get<std::string>() : "";
}

}  // namespace

JobsApi::JobsApi(JobsSource source)
    : source_(std::move(source)), process_(static_cast<uint32_t>(std::random_device{}())) {}

JobsApi::~JobsApi() {
  {
    std::lock_guard<std::mutex> lock(warm_mutex_);
    stopping_ = true;
  }
  warm_wake_.notify_all();
  if (warm_.joinable()) warm_.join();
}

void JobsApi::Warm(std::chrono::milliseconds every) {
  if (warm_.joinable()) return;
  warm_ = std::thread([this, every] {
    std::unique_lock<std::mutex> lock(warm_mutex_);
    while (!warm_wake_.wait_for(lock, every, [this] { return stopping_; })) {
      const int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                              std::chrono::steady_clock::now().time_since_epoch())
                              .count();
      const int64_t last = last_request_.load();
      if (last == 0 || now - last > 60) continue;
      lock.unlock();
      Current();
      lock.lock();
    }
  });
}

std::shared_ptr<const JobsIndex> JobsApi::Current() {
  const std::string version = source_.version();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (index_ && version == version_) return index_;
  }
  // One build at a time: requests that arrive meanwhile wait for it, then find it current.
  std::lock_guard<std::mutex> build(build_mutex_);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (index_ && version == version_) return index_;
  }
  // The version is read before the status: a change in between only builds again next time.
  nlohmann::json status =
      nlohmann::json::parse(source_.status(), nullptr, /*allow_exceptions=*/false);
  if (status.is_discarded()) status = nlohmann::json::object();
  std::lock_guard<std::mutex> lock(mutex_);
  index_ = JobsIndex::Build(status, ++revisions_);
  version_ = version;
  return index_;
}

ApiResponse JobsApi::Serve(const ApiRequest& request) {
  last_request_ = std::chrono::duration_cast<std::chrono::seconds>(
                      std::chrono::steady_clock::now().time_since_epoch())
                      .count();
  const std::shared_ptr<const JobsIndex> index = Current();
  if (request.subpath.empty() || request.subpath == "/") return List(*index, request);
  return Job(*index, request);
}

std::string JobsApi::ETag(const JobsIndex& index, const std::string& what) const {
  char tag[64];
  std::snprintf(tag, sizeof(tag), "W/\"%08x-%llu-%016llx\"", process_,
                static_cast<unsigned long long>(index.revision()),
                static_cast<unsigned long long>(Fnv1a(what)));
  return tag;
}

ApiResponse JobsApi::List(const JobsIndex& index, const ApiRequest& request) const {
  StatusOr<JobsQuery> query = ParseJobsQuery(request.params);
  if (!query.ok()) return Error(400, query.status().message());
  ApiResponse response;
  response.etag = ETag(index, "list" + JobsQueryKey(*query));
  if (IfNoneMatchHolds(request.if_none_match, response.etag)) {
    response.status = 304;
    return response;
  }
  response.body = index.Page(*query);
  return response;
}

ApiResponse JobsApi::Job(const JobsIndex& index, const ApiRequest& request) const {
  const std::string key = request.subpath.substr(1);
  const std::string* row = index.Row(key);
  if (row == nullptr) {
    return Error(404, "no job " + key +
                          " in the agent's status; a job is named <backend>/<namespace>/<name>"
                          " (and @<cluster> off the default cluster), as GET /api/v1/jobs lists "
                          "it in \"key\"");
  }
  ApiResponse response;
  response.etag = ETag(index, "job" + key);
  if (IfNoneMatchHolds(request.if_none_match, response.etag)) {
    response.status = 304;
    return response;
  }
  nlohmann::json job = nlohmann::json::parse(*row);
  const std::string namespace_name = StringMember(job, "namespace");
  const std::string name = StringMember(job, "name");
  nlohmann::json history = {{"command", "jobsync history " + namespace_name + "/" + name}};
  const std::string url =
      HistoryUrl(StringMember(index.summary(), "repo"), StringMember(job, "appliedRevision"),
                 StringMember(job, "source"));
  if (!url.empty()) history["url"] = url;
  std::optional<nlohmann::json> detail;
  if (source_.detail) detail = source_.detail(key);
  response.body = nlohmann::json{{"revision", index.revision()},
                                 {"job", std::move(job)},
                                 {"detail", detail ? *std::move(detail) : nlohmann::json()},
                                 {"history", std::move(history)}}
                      .dump(-1, ' ', false, kReplace);
  return response;
}

bool IfNoneMatchHolds(const std::string& header, const std::string& etag) {
  const auto opaque = [](std::string_view tag) {
    while (!tag.empty() && (tag.front() == ' ' || tag.front() == '\t')) tag.remove_prefix(1);
    while (!tag.empty() && (tag.back() == ' ' || tag.back() == '\t')) tag.remove_suffix(1);
    if (tag.starts_with("W/")) tag.remove_prefix(2);
    return tag;
  };
  const std::string_view own = opaque(etag);
  std::string_view rest = header;
  while (!rest.empty()) {
    const size_t comma = rest.find(',');
    const std::string_view tag = opaque(rest.substr(0, comma));
    if (tag == "*" || (!tag.empty() && tag == own)) return true;
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
  return false;
}

std::string HistoryUrl(const std::string& repo, const std::string& revision,
                       const std::string& path) {
  constexpr std::string_view kHttps = "https://";
  if (revision.empty() || path.empty() || !repo.starts_with(kHttps)) return "";
  std::string base = repo;
  while (base.ends_with('/')) base.pop_back();
  if (base.ends_with(".git")) base.resize(base.size() - 4);
  const size_t host_end = base.find('/', kHttps.size());
  if (host_end == std::string::npos) return "";
  // The host, without any user or port, lower-cased; a user is left out of the link too.
  std::string host = base.substr(kHttps.size(), host_end - kHttps.size());
  if (const size_t at = host.rfind('@'); at != std::string::npos) {
    host.erase(0, at + 1);
    base.erase(kHttps.size(), at + 1);
  }
  if (const size_t colon = host.find(':'); colon != std::string::npos) host.resize(colon);
  for (char& c : host) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  const bool github = host == "github.com" || host.starts_with("github.");
  const bool gitlab = host == "gitlab.com" || host.starts_with("gitlab.");
  if (!github && !gitlab) return "";
  return base + (gitlab ? "/-/commits/" : "/commits/") + EncodePath(revision) + "/" +
         EncodePath(path);
}

}  // namespace jobsync
