// Each backend behind its own worker and its own deadline, so that a slow or hung cluster never
// delays another's steps (the agent's side of "faults stay where they happen").
//
// A BackendLane is one worker thread that makes the agent's calls to one backend (the quiet check's
// LiveVersion, ListJobs, and that backend's share of the plan), one piece of work at a time. The
// cycle starts work on every lane and waits for each no longer than a deadline; what a lane has
// not finished by then is left running on it (a call in flight cannot be taken back), and the
// backend counts as unavailable for the cycle: the planner holds its jobs and deletes nothing
// there (diff/plan.h). While a lane is still busy with earlier work, nothing new is started on
// it, so no job is ever applied by two calls at once; the next cycle finds it busy and holds its
// jobs again, until the call returns (the backends' clients bound every request).
#ifndef JOBSYNC_AGENT_SYNC_LANES_H_
#define JOBSYNC_AGENT_SYNC_LANES_H_

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "backends/backend.h"

namespace jobsync {

class BackendLane {
 public:
  using Clock = std::chrono::steady_clock;

  explicit BackendLane(Backend& backend);
  // Waits for the work in flight (the backends' clients time out every request), then stops.
  ~BackendLane();
  BackendLane(const BackendLane&) = delete;
  BackendLane& operator=(const BackendLane&) = delete;

  Backend& backend() const { return backend_; }

  // Starts `work` on the lane's thread. False, and nothing started, while earlier work runs.
  bool Start(std::function<void()> work);
  // Waits until the work started last has returned or `until` passes; true when it returned.
  bool WaitUntil(Clock::time_point until);
  // When the work in flight started; empty when the lane is idle.
  std::optional<Clock::time_point> BusySince() const;

 private:
  void Loop();

  Backend& backend_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::function<void()> work_;  // set while busy
  Clock::time_point since_;
  bool stopping_ = false;
  std::thread thread_;  // last: started when everything above exists
};

// "30s", or "300ms" below a second: a timeout setting as the user wrote it, for messages.
std::string TimeoutText(std::chrono::milliseconds timeout);

// What a call on a lane came to.
template <typename T>
struct LaneCall {
  std::optional<T> result;  // empty when the lane was busy or did not answer in time
  std::string problem;      // why it is empty
  bool timed_out = false;   // the call was started and did not return in time
};

// Runs `call` on every lane at once and waits until each returned or `until` passes; `timeout`
// is the setting `until` came from, for the message.
template <typename T>
std::vector<LaneCall<T>> CallOnLanes(const std::vector<BackendLane*>& lanes,
                                     const std::function<T(Backend&)>& call,
                                     BackendLane::Clock::time_point until,
                                     std::chrono::milliseconds timeout) {
  // The slots outlive the wait: a call that returns late writes into its own slot, not the
  // caller's frame.
  struct Slot {
    std::mutex mutex;
    std::optional<T> result;
  };
  std::vector<std::shared_ptr<Slot>> slots;
  std::vector<LaneCall<T>> calls(lanes.size());
  for (size_t i = 0; i < lanes.size(); ++i) {
    auto slot = std::make_shared<Slot>();
    slots.push_back(slot);
    BackendLane& lane = *lanes[i];
    std::optional<BackendLane::Clock::time_point> busy = lane.BusySince();
    const bool started = !busy && lane.Start([slot, call, &backend = lane.backend()] {
      T result = call(backend);
      std::lock_guard<std::mutex> lock(slot->mutex);
      slot->result = std::move(result);
    });
    if (!started) {
      auto since = busy.value_or(BackendLane::Clock::now());
      auto seconds =
          std::chrono::duration_cast<std::chrono::seconds>(BackendLane::Clock::now() - since)
              .count();
      calls[i].problem = "still busy with a call made " + std::to_string(seconds) +
                         "s ago that has not returned; its jobs are held until it does";
      slots[i] = nullptr;
    }
  }
  for (size_t i = 0; i < lanes.size(); ++i) {
    if (slots[i] == nullptr) continue;
    if (!lanes[i]->WaitUntil(until)) {
      calls[i].problem = "did not answer within " + TimeoutText(timeout) +
                         " (--backend-timeout); its jobs are held until it answers";
      calls[i].timed_out = true;
      continue;
    }
    std::lock_guard<std::mutex> lock(slots[i]->mutex);
    calls[i].result = std::move(slots[i]->result);
  }
  return calls;
}

}  // namespace jobsync

#endif  // JOBSYNC_AGENT_SYNC_LANES_H_
