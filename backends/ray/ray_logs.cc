#include "backends/ray/ray_logs.h"

#include <algorithm>
#include <utility>

namespace jobsync {

std::vector<std::string_view> LogLines(std::string_view text, std::optional<int64_t> tail) {
  std::vector<std::string_view> lines;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    lines.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  if (tail && static_cast<int64_t>(lines.size()) > *tail) {
    lines.erase(lines.begin(), lines.end() - std::max<int64_t>(*tail, 0));
  }
  return lines;
}

std::vector<std::string> LogFollower::Feed(const std::string& log) {
  if (log.size() < emitted_) {  // rotated or lost: start over
    emitted_ = 0;
  }
  const size_t complete = log.rfind('\n');
  std::vector<std::string> out;
  if (complete != std::string::npos && complete + 1 > emitted_) {
    const std::string_view added(log.data() + emitted_, complete + 1 - emitted_);
    for (std::string_view line : LogLines(added, fed_ ? std::nullopt : tail_)) {
      out.emplace_back(line);
    }
    emitted_ = complete + 1;
  }
  pending_ = log.substr(emitted_);
  fed_ = true;
  return out;
}

std::optional<std::string> LogFollower::Finish() {
  if (pending_.empty()) return std::nullopt;
  std::string line = std::move(pending_);
  pending_.clear();
  return line;
}

RayJobLogs::RayJobLogs(std::unique_ptr<RayBackend> ray, std::chrono::milliseconds poll_interval,
                       Sleeper sleep)
    : ray_(std::move(ray)), poll_interval_(poll_interval), sleep_(std::move(sleep)) {}

StatusOr<std::string> RayJobLogs::LiveSubmission(const TrainingJob& job) {
  StatusOr<std::vector<RaySubmission>> submissions = ray_->ListSubmissions();
  if (!submissions.ok()) {
    return Status(submissions.status().code(),
                  "job " + job.key().ToString() + ": " + submissions.status().message());
  }
  std::vector<RaySubmission> own;
  for (RaySubmission& submission : *submissions) {
    if (submission.key.namespace_name == job.namespace_name && submission.key.name == job.name) {
      own.push_back(std::move(submission));
    }
  }
  auto groups = GroupGenerations(std::move(own));
  const std::vector<RaySubmission> none;
  const std::vector<RaySubmission>& generations = groups.empty() ? none : groups.begin()->second;
  bool suspended = false;
  for (auto it = generations.rbegin(); it != generations.rend(); ++it) {
    if (!it->records.empty()) continue;
    if (it->suspend_marker) {
      suspended = true;
      break;
    }
    return it->submission_id;
  }
  return FailedPreconditionError("job " + job.key().ToString() + " has no Ray submission yet" +
                                 (suspended ? ": it is suspended" : ""));
}

Status RayJobLogs::Read(const TrainingJob& job, const LogQuery& query, const LogLineSink& sink) {
  if (!query.role.empty() || query.index) {
    return InvalidArgumentError("job " + job.key().ToString() +
                                " runs on Ray and has one log, its driver's (Ray forwards its "
                                "workers' output there): --role and --index are for Kubernetes "
                                "jobs");
  }
  StatusOr<std::string> id = LiveSubmission(job);
  if (!id.ok()) return id.status();
  if (!query.follow) {
    StatusOr<std::string> log = ray_->SubmissionLogs(*id);
    if (!log.ok()) return log.status();
    for (std::string_view line : LogLines(*log, query.tail_lines)) sink(line);
    return OkStatus();
  }
  LogFollower follower(query.tail_lines);
  while (true) {
    // The status first: a terminal one means the log read after it is complete.
    StatusOr<RayJobStatus> status = ray_->SubmissionStatus(*id);
    if (!status.ok()) return status.status();
    StatusOr<std::string> log = ray_->SubmissionLogs(*id);
    if (!log.ok()) return log.status();
    for (const std::string& line : follower.Feed(*log)) sink(line);
    if (IsTerminal(*status)) break;
    sleep_(poll_interval_);
  }
  if (std::optional<std::string> last = follower.Finish()) sink(*last);
  return OkStatus();
}

}  // namespace jobsync
