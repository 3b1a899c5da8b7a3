#include "agent/server/connection.h"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

namespace jobsync {

bool ClientConnectionCounter::TryEnter(const std::string& address) {
  std::lock_guard<std::mutex> lock(mutex_);
  int& open = open_[address];
  if (open >= max_per_client_) {
    if (open == 0) open_.erase(address);
    return false;
  }
  ++open;
  return true;
}

void ClientConnectionCounter::Leave(const std::string& address) {
  std::lock_guard<std::mutex> lock(mutex_);
  const auto found = open_.find(address);
  if (found != open_.end() && --found->second <= 0) open_.erase(found);
}

std::string SocketAddress(int fd, bool peer, int* port) {
  sockaddr_storage storage{};
  socklen_t length = sizeof(storage);
  auto* name = reinterpret_cast<sockaddr*>(&storage);
  if ((peer ? getpeername(fd, name, &length) : getsockname(fd, name, &length)) != 0) {
    return "unknown";
  }
  std::array<char, INET6_ADDRSTRLEN> text{};
  const void* address = nullptr;
  if (storage.ss_family == AF_INET) {
    const auto* v4 = reinterpret_cast<const sockaddr_in*>(&storage);
    address = &v4->sin_addr;
    if (port != nullptr) *port = ntohs(v4->sin_port);
  } else if (storage.ss_family == AF_INET6) {
    const auto* v6 = reinterpret_cast<const sockaddr_in6*>(&storage);
    address = &v6->sin6_addr;
    if (port != nullptr) *port = ntohs(v6->sin6_port);
  }
  if (address == nullptr ||
      inet_ntop(storage.ss_family, address, text.data(), text.size()) == nullptr) {
    return "unknown";
  }
  return text.data();
}

void SendRefusal(int fd, int retry_after_seconds, std::string_view reason) {
  const std::string response =
      "HTTP/1.1 503 Service Unavailable\r\nRetry-After: " + std::to_string(retry_after_seconds) +
      "\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: " +
      std::to_string(reason.size()) + "\r\n\r\n" + std::string(reason);
  // A new connection's send buffer takes this whole; never wait for a client that reads nothing.
  (void)send(fd, response.data(), response.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
}

void DeadlineSocket::BeginRequest(Clock::time_point deadline) {
  read_deadline_ = deadline;
  write_deadline_ = Clock::time_point::max();
  writing_ = false;
  read_expired_ = false;
  // Bytes of the next request already buffered count towards it.
  request_bytes_ = buffered_end_ - buffered_begin_;
}

int DeadlineSocket::Wait(short events, Clock::time_point deadline) const {
  while (true) {
    const Clock::time_point now = Clock::now();
    if (now >= deadline) return 0;
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - now).count();
    std::array<pollfd, 2> entries{pollfd{fd_, events, 0}, pollfd{wake_fd_, POLLIN, 0}};
    const int ready =
        poll(entries.data(), entries.size(), static_cast<int>(std::min<int64_t>(left, 60'000)));
    if (ready < 0 && errno != EINTR) return -1;
    if (ready <= 0) continue;
    if (entries[1].revents != 0) return -1;
    // Errors and hang-ups are ready too: the read or write that follows reports them.
    if (entries[0].revents != 0) return 1;
  }
}

bool DeadlineSocket::WaitReadable() {
  if (buffered_begin_ < buffered_end_) return true;
  const int ready = Wait(POLLIN, read_deadline_);
  if (ready == 0) read_expired_ = true;
  if (ready != 1) return false;
  char byte = 0;
  return recv(fd_, &byte, 1, MSG_PEEK | MSG_DONTWAIT) > 0;
}

bool DeadlineSocket::WaitWritable() {
  if (!writing_) {
    writing_ = true;
    write_deadline_ = Clock::now() + write_timeout_;
  }
  return Wait(POLLOUT, write_deadline_) == 1;
}

ssize_t DeadlineSocket::Read(char* data, size_t size) {
  if (buffered_begin_ == buffered_end_) {
    if (request_bytes_ >= max_request_bytes_) return -1;
    while (true) {
      const int ready = Wait(POLLIN, read_deadline_);
      if (ready == 0) read_expired_ = true;
      if (ready != 1) return -1;
      const ssize_t got = recv(fd_, buffer_, sizeof(buffer_), MSG_DONTWAIT);
      if (got == 0) return 0;
      if (got > 0) {
        buffered_begin_ = 0;
        buffered_end_ = static_cast<size_t>(got);
        request_bytes_ += static_cast<size_t>(got);
        break;
      }
      if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return -1;
    }
  }
  const size_t taken = std::min(size, buffered_end_ - buffered_begin_);
  std::memcpy(data, buffer_ + buffered_begin_, taken);
  buffered_begin_ += taken;
  return static_cast<ssize_t>(taken);
}

ssize_t DeadlineSocket::Write(const char* data, size_t size) {
  size_t written = 0;
  while (written < size) {
    if (!WaitWritable()) return -1;
    const ssize_t sent = send(fd_, data + written, size - written, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (sent > 0) {
      written += static_cast<size_t>(sent);
    } else if (sent < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
      return -1;
    }
  }
  return static_cast<ssize_t>(size);
}

}  // namespace jobsync
