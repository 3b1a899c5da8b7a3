#include "backends/kubernetes/adaptive_limit.h"

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace jobsync {
namespace {

using ::testing::ElementsAre;

AdaptiveLimitOptions Options(int initial, int floor, int ceiling) {
  AdaptiveLimitOptions options;
  options.initial = initial;
  options.floor = floor;
  options.ceiling = ceiling;
  return options;
}

// Sends `count` (at most the limit) requests at once, all acquired before any is answered, all
// answered `outcome`.
void Burst(AdaptiveLimit& limit, int count, RequestOutcome outcome) {
  std::vector<AdaptiveLimit::Ticket> tickets;
  for (int i = 0; i < count; ++i) tickets.push_back(limit.Acquire());
  for (const AdaptiveLimit::Ticket& ticket : tickets) limit.Release(ticket, outcome);
}

TEST(AdaptiveLimitTest, StartsAtInitialClampedIntoFloorAndCeiling) {
  EXPECT_EQ(AdaptiveLimit(Options(32, 1, 64)).limit(), 32);
  EXPECT_EQ(AdaptiveLimit(Options(100, 1, 64)).limit(), 64);
  EXPECT_EQ(AdaptiveLimit(Options(0, 2, 64)).limit(), 2);
  EXPECT_EQ(AdaptiveLimit(Options(5, 0, 0)).limit(), 1) << "floor and ceiling at least 1";
}

TEST(AdaptiveLimitTest, ABurstOfOverloadAnswersCutsOnce) {
  AdaptiveLimit limit(Options(8, 1, 64));
  Burst(limit, 8, RequestOutcome::kOverloaded);
  EXPECT_EQ(limit.limit(), 4) << "the 8 were sent at the old limit: one cut, not eight";
  EXPECT_EQ(limit.cuts(), 1);
  EXPECT_EQ(limit.in_flight(), 0);
}

TEST(AdaptiveLimitTest, OverloadAfterACutCutsAgainDownToTheFloor) {
  AdaptiveLimit limit(Options(8, 1, 64));
  std::vector<int> seen;
  for (int i = 0; i < 5; ++i) {
    Burst(limit, 1, RequestOutcome::kOverloaded);
    seen.push_back(limit.limit());
  }
  EXPECT_THAT(seen, ElementsAre(4, 2, 1, 1, 1));
  AdaptiveLimit floored(Options(8, 3, 64));
  for (int i = 0; i < 5; ++i) Burst(floored, 1, RequestOutcome::kOverloaded);
  EXPECT_EQ(floored.limit(), 3);
}

TEST(AdaptiveLimitTest, SuccessesGrowItByOnePerLimitsWorth) {
  AdaptiveLimit limit(Options(4, 1, 64));
  Burst(limit, 3, RequestOutcome::kSuccess);
  EXPECT_EQ(limit.limit(), 4);
  Burst(limit, 1, RequestOutcome::kSuccess);
  EXPECT_EQ(limit.limit(), 5);
  Burst(limit, 4, RequestOutcome::kSuccess);
  EXPECT_EQ(limit.limit(), 5) << "5 successes per step at 5";
  Burst(limit, 1, RequestOutcome::kSuccess);
  EXPECT_EQ(limit.limit(), 6);
}

TEST(AdaptiveLimitTest, GrowsBackAfterACutUpToTheCeilingOnly) {
  AdaptiveLimit limit(Options(8, 1, 10));
  Burst(limit, 1, RequestOutcome::kOverloaded);
  ASSERT_EQ(limit.limit(), 4);
  for (int i = 0; i < 200; ++i) Burst(limit, 1, RequestOutcome::kSuccess);
  EXPECT_EQ(limit.limit(), 10);
}

TEST(AdaptiveLimitTest, OtherAnswersChangeNothing) {
  AdaptiveLimit limit(Options(4, 1, 64));
  Burst(limit, 3, RequestOutcome::kSuccess);
  for (int i = 0; i < 20; ++i) Burst(limit, 1, RequestOutcome::kOther);
  EXPECT_EQ(limit.limit(), 4);
  EXPECT_EQ(limit.cuts(), 0);
}

TEST(AdaptiveLimitTest, ReportsEachNewLimit) {
  std::vector<int> reported;
  AdaptiveLimit limit(Options(4, 1, 64), [&](int value) { reported.push_back(value); });
  Burst(limit, 1, RequestOutcome::kOverloaded);
  Burst(limit, 2, RequestOutcome::kSuccess);
  EXPECT_THAT(reported, ElementsAre(4, 2, 3));
}

TEST(AdaptiveLimitTest, AcquireWaitsWhileTheLimitIsInFlight) {
  AdaptiveLimit limit(Options(2, 1, 64));
  AdaptiveLimit::Ticket first = limit.Acquire();
  AdaptiveLimit::Ticket second = limit.Acquire();
  std::atomic<bool> third_sent{false};
  std::thread third([&] {
    AdaptiveLimit::Ticket ticket = limit.Acquire();
    third_sent = true;
    limit.Release(ticket, RequestOutcome::kOther);
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_FALSE(third_sent.load()) << "two in flight at a limit of 2";
  // A cut to 1 with two in flight: the third waits until both are answered.
  limit.Release(first, RequestOutcome::kOverloaded);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_FALSE(third_sent.load()) << "one in flight at a limit of 1";
  limit.Release(second, RequestOutcome::kOther);
  third.join();
  EXPECT_TRUE(third_sent.load());
  EXPECT_EQ(limit.in_flight(), 0);
}

}  // namespace
}  // namespace jobsync
