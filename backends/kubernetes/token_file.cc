#include "backends/kubernetes/token_file.h"

#include <fstream>
#include <sstream>
#include <utility>

namespace jobsync {

FileTokenSource::FileTokenSource(std::string path, std::string description,
                                 std::chrono::milliseconds refresh, Clock clock)
    : path_(std::move(path)),
      description_(std::move(description)),
      refresh_(refresh),
      clock_(std::move(clock)) {}

std::chrono::steady_clock::time_point FileTokenSource::Now() const {
  return clock_ ? clock_() : std::chrono::steady_clock::now();
}

std::string FileTokenSource::Describe() const { return description_; }

bool FileTokenSource::Read() {
  read_at_ = Now();
  std::ifstream in(path_, std::ios::binary);
  if (!in) return false;
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return false;
  std::string token = text.str();
  while (!token.empty() && (token.back() == '\n' || token.back() == '\r')) token.pop_back();
  if (token.empty()) return false;
  token_ = std::move(token);
  return true;
}

StatusOr<HttpCredential> FileTokenSource::Current() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!token_ || Now() - read_at_ >= refresh_) {
    if (!Read() && !token_) {
      return PermissionDeniedError("cannot read the token of " + description_ +
                                   " (missing, unreadable or empty)");
    }
  }
  HttpCredential out;
  out.bearer_token = *token_;
  return out;
}

bool FileTokenSource::Invalidate(const HttpCredential& rejected) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (token_ && *token_ != rejected.bearer_token) return true;  // already read again
  Read();
  return token_ && *token_ != rejected.bearer_token;
}

}  // namespace jobsync
