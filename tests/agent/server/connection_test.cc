#include "agent/server/connection.h"

#include <array>
#include <chrono>
#include <cstdint>
#include <string>
#include <thread>

#include <gtest/gtest.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

namespace jobsync {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

TEST(ClientConnectionCounterTest, BoundsEachAddressOnItsOwn) {
  ClientConnectionCounter counter(2);
  EXPECT_TRUE(counter.TryEnter("10.0.0.1"));
  EXPECT_TRUE(counter.TryEnter("10.0.0.1"));
  EXPECT_FALSE(counter.TryEnter("10.0.0.1"));
  EXPECT_TRUE(counter.TryEnter("10.0.0.2"));
  counter.Leave("10.0.0.1");
  EXPECT_TRUE(counter.TryEnter("10.0.0.1"));
  EXPECT_FALSE(counter.TryEnter("10.0.0.1"));
}

// A connected pair of stream sockets and a wake event, closed at the end.
class DeadlineSocketTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, pair_.data()), 0);
    wake_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    ASSERT_GE(wake_, 0);
  }
  void TearDown() override {
    close(pair_[0]);
    close(pair_[1]);
    close(wake_);
  }

  std::array<int, 2> pair_{-1, -1};
  int wake_ = -1;
};

TEST_F(DeadlineSocketTest, ReadsStopAtTheRequestDeadlineWhileBytesKeepComing) {
  // A byte every 50 ms, well within any per-read timeout, for longer than the deadline.
  std::thread trickle([this] {
    for (int i = 0; i < 20; ++i) {
      if (send(pair_[1], "a", 1, MSG_NOSIGNAL) != 1) return;
      std::this_thread::sleep_for(milliseconds(50));
    }
  });
  DeadlineSocket socket(pair_[0], wake_, milliseconds(1000), 1 << 20);
  const Clock::time_point start = Clock::now();
  socket.BeginRequest(start + milliseconds(300));
  char byte = 0;
  while (socket.Read(&byte, 1) > 0) {
  }
  const auto took = Clock::now() - start;
  trickle.join();
  EXPECT_TRUE(socket.read_expired());
  EXPECT_GE(took, milliseconds(300));
  EXPECT_LT(took, milliseconds(700));
  EXPECT_GT(socket.request_bytes(), 0u);
}

TEST_F(DeadlineSocketTest, TheWakeEndsAWaitAtOnce) {
  DeadlineSocket socket(pair_[0], wake_, milliseconds(1000), 1 << 20);
  socket.BeginRequest(Clock::now() + std::chrono::seconds(30));
  std::thread waker([this] {
    std::this_thread::sleep_for(milliseconds(100));
    const uint64_t one = 1;
    EXPECT_EQ(write(wake_, &one, sizeof(one)), static_cast<ssize_t>(sizeof(one)));
  });
  const Clock::time_point start = Clock::now();
  char byte = 0;
  EXPECT_EQ(socket.Read(&byte, 1), -1);
  waker.join();
  EXPECT_LT(Clock::now() - start, milliseconds(1000));
  EXPECT_FALSE(socket.read_expired());
}

TEST_F(DeadlineSocketTest, StopsReadingPastTheRequestBound) {
  const std::string data(10000, 'x');
  ASSERT_EQ(send(pair_[1], data.data(), data.size(), 0), static_cast<ssize_t>(data.size()));
  DeadlineSocket socket(pair_[0], wake_, milliseconds(1000), 5000);
  socket.BeginRequest(Clock::now() + std::chrono::seconds(5));
  std::array<char, 1000> buffer{};
  size_t total = 0;
  for (ssize_t got = 0; (got = socket.Read(buffer.data(), buffer.size())) > 0;) {
    total += static_cast<size_t>(got);
  }
  EXPECT_GE(total, 5000u);
  EXPECT_LT(total, data.size());
  EXPECT_FALSE(socket.read_expired());
}

}  // namespace
}  // namespace jobsync
