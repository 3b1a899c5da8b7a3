#include "backends/kubernetes/adaptive_limit.h"

#include <algorithm>
#include <cmath>
#include <utility>

namespace jobsync {
namespace {

AdaptiveLimitOptions Sane(AdaptiveLimitOptions options) {
  options.floor = std::max(1, options.floor);
  options.ceiling = std::max(options.floor, options.ceiling);
  options.initial = std::clamp(options.initial, options.floor, options.ceiling);
  if (!(options.cut_factor > 0 && options.cut_factor < 1)) options.cut_factor = 0.5;
  return options;
}

}  // namespace

AdaptiveLimit::AdaptiveLimit(AdaptiveLimitOptions options, std::function<void(int limit)> on_change)
    : options_(Sane(options)), on_change_(std::move(on_change)), limit_(options_.initial) {
  if (on_change_) on_change_(limit_);
}

AdaptiveLimit::Ticket AdaptiveLimit::Acquire() {
  std::unique_lock<std::mutex> lock(mutex_);
  slot_free_.wait(lock, [this] { return in_flight_ < limit_; });
  ++in_flight_;
  return Ticket{epoch_};
}

void AdaptiveLimit::Release(Ticket ticket, RequestOutcome outcome) {
  bool grew = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    --in_flight_;
    if (outcome == RequestOutcome::kOverloaded && ticket.epoch == epoch_) {
      ++epoch_;
      SetLimit(
          std::max(options_.floor, static_cast<int>(std::floor(limit_ * options_.cut_factor))));
    } else if (outcome == RequestOutcome::kSuccess && ++successes_ >= limit_) {
      grew = limit_ < options_.ceiling;
      SetLimit(std::min(limit_ + 1, options_.ceiling));
    }
  }
  if (grew) {
    slot_free_.notify_all();
  } else {
    slot_free_.notify_one();
  }
}

void AdaptiveLimit::SetLimit(int limit) {
  successes_ = 0;
  if (limit == limit_) return;
  limit_ = limit;
  if (on_change_) on_change_(limit_);
}

int AdaptiveLimit::limit() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return limit_;
}

int AdaptiveLimit::in_flight() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return in_flight_;
}

int64_t AdaptiveLimit::cuts() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return static_cast<int64_t>(epoch_);
}

}  // namespace jobsync
