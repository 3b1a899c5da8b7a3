// What bounds one HTTP connection, apart from the HTTP library: the count of connections per
// client address, an answer for connections refused at once, and a socket whose reads stop at
// a deadline for a whole request (every read of its headers and body together) instead of a
// timeout per read, which a client sending a byte at a time never reaches.
#ifndef JOBSYNC_AGENT_SERVER_CONNECTION_H_
#define JOBSYNC_AGENT_SERVER_CONNECTION_H_

#include <chrono>
#include <cstddef>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include <sys/types.h>

namespace jobsync {

// Counts the open connections of each client address and refuses those beyond a bound.
// Thread-safe.
class ClientConnectionCounter {
 public:
  explicit ClientConnectionCounter(int max_per_client) : max_per_client_(max_per_client) {}

  // Counts a connection from `address`. False, counting nothing, when the address already
  // holds max_per_client connections.
  bool TryEnter(const std::string& address);
  // Uncounts a connection that TryEnter counted.
  void Leave(const std::string& address);

 private:
  std::mutex mutex_;
  const int max_per_client_;
  std::unordered_map<std::string, int> open_;
};

// The address of a connected socket's peer (`peer`) or its own end: "127.0.0.1", "::1";
// "unknown" when there is none. Sets *port when given.
std::string SocketAddress(int fd, bool peer, int* port = nullptr);

// Answers a connection that will not be served: a whole "503" response with Retry-After and
// `reason` as its body, sent without waiting (what the socket buffer does not take is dropped).
// Leaves the descriptor open.
void SendRefusal(int fd, int retry_after_seconds, std::string_view reason);

// One connection's socket, read through a buffer and written against deadlines: each request's
// reads stop at its deadline (and after max_request_bytes), each response's writes at
// write_timeout from its first byte. A wake descriptor that becomes readable (the server
// stopping) ends every wait at once. Does not own either descriptor; not thread-safe.
class DeadlineSocket {
 public:
  using Clock = std::chrono::steady_clock;

  DeadlineSocket(int fd, int wake_fd, std::chrono::milliseconds write_timeout,
                 size_t max_request_bytes)
      : fd_(fd),
        wake_fd_(wake_fd),
        write_timeout_(write_timeout),
        max_request_bytes_(max_request_bytes) {}

  // Starts a request: reads until `deadline`; the next response gets write_timeout.
  void BeginRequest(Clock::time_point deadline);
  // Waits for the request's first byte (the idle time of a kept-alive connection). False at the
  // deadline, the wake, the end of the stream or an error.
  bool WaitReadable();
  // Waits until a write can proceed, up to the response's deadline.
  bool WaitWritable();
  // Up to `size` bytes: more than 0 read, 0 at the end of the stream, -1 at the deadline (then
  // read_expired()), past max_request_bytes, at the wake, or on an error.
  ssize_t Read(char* data, size_t size);
  // Writes all of `data`: `size`, or -1 at the response's deadline, the wake or an error.
  ssize_t Write(const char* data, size_t size);

  // True once a read of this request stopped at its deadline.
  bool read_expired() const { return read_expired_; }
  // Bytes of this request read so far.
  size_t request_bytes() const { return request_bytes_; }
  int fd() const { return fd_; }

 private:
  // Waits for `events` on the socket until `deadline`: 1 ready, 0 the deadline passed, -1 the
  // wake or an error.
  int Wait(short events, Clock::time_point deadline) const;

  const int fd_;
  const int wake_fd_;
  const std::chrono::milliseconds write_timeout_;
  const size_t max_request_bytes_;
  Clock::time_point read_deadline_ = Clock::time_point::max();
  Clock::time_point write_deadline_ = Clock::time_point::max();
  bool writing_ = false;
  bool read_expired_ = false;
  size_t request_bytes_ = 0;
  char buffer_[4096] = {};
  size_t buffered_begin_ = 0;
  size_t buffered_end_ = 0;
};

}  // namespace jobsync

#endif  // JOBSYNC_AGENT_SERVER_CONNECTION_H_
