// Unit tests of ray_logs.h's pure half: the lines of a Ray log, --tail, and what each poll of a
// followed log prints.
#include "backends/ray/ray_logs.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace jobsync {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

TEST(LogLinesTest, SplitsOnLineEndsKeepingAFinalLineWithoutOne) {
  EXPECT_THAT(LogLines("a\nb\n", std::nullopt), ElementsAre("a", "b"));
  EXPECT_THAT(LogLines("a\n\nb", std::nullopt), ElementsAre("a", "", "b"));
  EXPECT_THAT(LogLines("", std::nullopt), IsEmpty());
}

TEST(LogLinesTest, TailKeepsTheLastLines) {
  EXPECT_THAT(LogLines("1\n2\n3\n4\n", 2), ElementsAre("3", "4"));
  EXPECT_THAT(LogLines("1\n2\n", 5), ElementsAre("1", "2"));
  EXPECT_THAT(LogLines("1\n2\n", 0), IsEmpty());
}

TEST(LogFollowerTest, EachPollPrintsOnlyTheNewCompleteLines) {
  LogFollower follower(std::nullopt);
  EXPECT_THAT(follower.Feed("one\ntw"), ElementsAre("one"));
  EXPECT_THAT(follower.Feed("one\ntwo\nthree\n"), ElementsAre("two", "three"));
  EXPECT_THAT(follower.Feed("one\ntwo\nthree\n"), IsEmpty());
  EXPECT_THAT(follower.Feed("one\ntwo\nthree\nlast"), IsEmpty());
  EXPECT_EQ(follower.Finish(), "last");
  EXPECT_EQ(follower.Finish(), std::nullopt);
}

TEST(LogFollowerTest, TailCutsTheFirstPollOnly) {
  LogFollower follower(1);
  EXPECT_THAT(follower.Feed("a\nb\nc\n"), ElementsAre("c"));
  EXPECT_THAT(follower.Feed("a\nb\nc\nd\ne\n"), ElementsAre("d", "e"));
}

TEST(LogFollowerTest, ALogThatShrankStartsOver) {
  LogFollower follower(std::nullopt);
  EXPECT_THAT(follower.Feed("a\nb\n"), ElementsAre("a", "b"));
  EXPECT_THAT(follower.Feed("x\n"), ElementsAre("x"));
}

}  // namespace
}  // namespace jobsync
