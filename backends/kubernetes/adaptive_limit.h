// An in-flight limit that adapts to the server's answers, as TCP's congestion window does
// (additive increase, multiplicative decrease): the Kubernetes client sends at most limit()
// requests at once, and learns from each answer how many the apiserver takes.
//
// Rules:
//   - The limit starts at AdaptiveLimitOptions::initial and stays within [floor, ceiling].
//   - An overload answer (HTTP 429 Too Many Requests: API Priority and Fairness rejected or
//     timed out the request in its queue, or --max-requests-inflight was reached) cuts the limit
//     to limit * cut_factor, rounded down, at least floor. Requests sent before the last cut were
//     sent at the old limit, so their overload answers do not cut again: one cut per congestion
//     event, however many requests were in flight when it began.
//   - Successes grow the limit by one for each limit() successes in a row since the last change
//     (about one step per round trip while the pipe is full), up to ceiling.
//   - Other answers (errors, timeouts) leave it as it is: they say nothing about load.
//
// Thread-safe: Acquire blocks the calling thread until a request may be sent.
#ifndef JOBSYNC_BACKENDS_KUBERNETES_ADAPTIVE_LIMIT_H_
#define JOBSYNC_BACKENDS_KUBERNETES_ADAPTIVE_LIMIT_H_

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>

namespace jobsync {

struct AdaptiveLimitOptions {
  int initial = 32;         // clamped into [floor, ceiling]
  int floor = 1;            // at least 1
  int ceiling = 64;         // at least floor
  double cut_factor = 0.5;  // on overload; in (0, 1)
};

// What became of one request, for AdaptiveLimit::Release.
enum class RequestOutcome { kSuccess, kOverloaded, kOther };

class AdaptiveLimit {
 public:
  // `on_change` is called with each new limit (under the limiter's lock: it must not call back
  // into the limiter); may be empty.
  explicit AdaptiveLimit(AdaptiveLimitOptions options,
                         std::function<void(int limit)> on_change = nullptr);
  AdaptiveLimit(const AdaptiveLimit&) = delete;
  AdaptiveLimit& operator=(const AdaptiveLimit&) = delete;

  // A request's permission to be in flight: which cut it was sent after.
  struct Ticket {
    uint64_t epoch = 0;
  };

  // Blocks until fewer than limit() requests are in flight, then counts one more.
  Ticket Acquire();
  // Counts the request as answered and adapts the limit to `outcome` (see the rules above).
  void Release(Ticket ticket, RequestOutcome outcome);

  int limit() const;
  int in_flight() const;
  // Cuts made over the limiter's life.
  int64_t cuts() const;

 private:
  void SetLimit(int limit);  // with mutex_ held

  const AdaptiveLimitOptions options_;
  const std::function<void(int)> on_change_;
  mutable std::mutex mutex_;
  std::condition_variable slot_free_;
  int limit_;
  int in_flight_ = 0;
  int successes_ = 0;   // in a row since the limit last changed
  uint64_t epoch_ = 0;  // cuts so far
};

}  // namespace jobsync

#endif  // JOBSYNC_BACKENDS_KUBERNETES_ADAPTIVE_LIMIT_H_
