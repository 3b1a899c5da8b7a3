// NearestName, the suggestion behind "did you mean" for mistyped commands and flags. The messages
// themselves are tested as a user sees them in tests/cli/usage_test.sh.
#include "agent/cli/usage_errors.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace jobsync {
namespace {

struct NearestCase {
  std::string typed;
  std::string expected;
};

TEST(NearestNameTest, SuggestsWithinTwoEditsOrByAUniquePrefix) {
  const std::vector<std::string> commands = {"validate", "convert", "history", "plan",
                                             "apply",    "render",  "run",     "status"};
  const std::vector<NearestCase> cases = {
      {"valdate", "validate"},  // a letter left out
      {"plna", "plan"},         // two letters swapped: two edits
      {"aply", "apply"},
      {"rn", "run"},
      {"hist", "history"},  // a prefix, too far for edits
      {"stat", "status"},   // two letters left out
      {"re", ""},           // a prefix of render, but too short to guess from
      {"x", ""},            // as many edits as letters: no guess
      {"frobnicate", ""},
      {"plan", "plan"},
  };
  for (const NearestCase& c : cases) {
    EXPECT_EQ(NearestName(c.typed, commands), c.expected) << c.typed;
  }
}

TEST(NearestNameTest, APrefixOfSeveralNamesIsNoGuess) {
  EXPECT_EQ(NearestName("allow", {"allow-backend", "allow-namespace"}), "");
  EXPECT_EQ(NearestName("allow-b", {"allow-backend", "allow-namespace"}), "allow-backend");
}

TEST(NearestNameTest, TiesGoToTheFirstKnownName) {
  EXPECT_EQ(NearestName("rux", {"run", "rug"}), "run");
}

}  // namespace
}  // namespace jobsync
