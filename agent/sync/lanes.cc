#include "agent/sync/lanes.h"

#include <utility>

namespace jobsync {

std::string TimeoutText(std::chrono::milliseconds timeout) {
  if (timeout.count() % 1000 != 0) return std::to_string(timeout.count()) + "ms";
  return std::to_string(timeout.count() / 1000) + "s";
}

BackendLane::BackendLane(Backend& backend) : backend_(backend), thread_([this] { Loop(); }) {}

BackendLane::~BackendLane() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
  thread_.join();
}

bool BackendLane::Start(std::function<void()> work) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (work_ || stopping_) return false;
    work_ = std::move(work);
    since_ = Clock::now();
  }
  changed_.notify_all();
  return true;
}

bool BackendLane::WaitUntil(Clock::time_point until) {
  std::unique_lock<std::mutex> lock(mutex_);
  return changed_.wait_until(lock, until, [this] { return !work_; });
}

std::optional<BackendLane::Clock::time_point> BackendLane::BusySince() const {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!work_) return std::nullopt;
  return since_;
}

void BackendLane::Loop() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (true) {
    changed_.wait(lock, [this] { return stopping_ || work_; });
    if (!work_) return;  // stopping, nothing in flight
    std::function<void()> work = work_;
    lock.unlock();
    work();
    lock.lock();
    work_ = nullptr;
    changed_.notify_all();
  }
}

}  // namespace jobsync
