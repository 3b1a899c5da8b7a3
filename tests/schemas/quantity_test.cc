#include "schemas/quantity.h"

#include <string>

#include <gtest/gtest.h>

namespace jobsync {
namespace {

struct PairCase {
  const char* a;
  const char* b;
};

std::string PairName(const ::testing::TestParamInfo<PairCase>& case_info) {
  return "Case" + std::to_string(case_info.index);
}

class QuantityEqualTest : public ::testing::TestWithParam<PairCase> {};

TEST_P(QuantityEqualTest, ComparesByValue) {
  auto a = Quantity::Parse(GetParam().a);
  auto b = Quantity::Parse(GetParam().b);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_EQ(*a, *b) << GetParam().a << " vs " << GetParam().b;
  EXPECT_EQ(a->ExactText(), b->ExactText());
}

// Pairs Kubernetes' Cmp calls equal.
INSTANTIATE_TEST_SUITE_P(
    Spellings, QuantityEqualTest,
    ::testing::Values(PairCase{"1Gi", "1024Mi"}, PairCase{"1", "1000m"}, PairCase{"0.5", "500m"},
                      PairCase{"1k", "1000"}, PairCase{"1e3", "1k"}, PairCase{"+2", "2"},
                      PairCase{"1Ki", "1024"}, PairCase{"1.5Gi", "1536Mi"}, PairCase{".5", "0.5"},
                      PairCase{"1e0000", "1"}, PairCase{"1E+3", "1k"}, PairCase{"1.", "1"},
                      PairCase{"0.0000000001", "1n"}, PairCase{"1500u", "1500000n"},
                      PairCase{" 4 ", "4"}, PairCase{"10Ei", "9223372036854775807"},
                      PairCase{"1e4294967296", "1"},  // Kubernetes keeps the exponent's low 32 bits
                      PairCase{"0Gi", "0"}, PairCase{"000", "0"},
                      PairCase{"12345678901234567890123", "12345678901234567890123e0"}),
    PairName);

class QuantityUnequalTest : public ::testing::TestWithParam<PairCase> {};

TEST_P(QuantityUnequalTest, DiffersByValue) {
  auto a = Quantity::Parse(GetParam().a);
  auto b = Quantity::Parse(GetParam().b);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_FALSE(*a == *b) << GetParam().a << " vs " << GetParam().b;
  EXPECT_NE(a->ExactText(), b->ExactText());
}

// Pairs Kubernetes' Cmp calls different, which a comparison at milli precision took as equal, or
// which a double could not tell apart.
INSTANTIATE_TEST_SUITE_P(
    Values, QuantityUnequalTest,
    ::testing::Values(PairCase{"1500u", "2m"}, PairCase{"0", "1n"}, PairCase{"0.1", "0.1000000001"},
                      PairCase{"1G", "1Gi"}, PairCase{"9007199254740993", "9007199254740992"},
                      PairCase{"1e100", "1e101"}, PairCase{"100n", "1m"},
                      PairCase{"12345678901234567890123", "12345678901234567890124"}),
    PairName);

TEST(QuantityTest, MilliValuesRoundUpAndSaturate) {
  EXPECT_EQ(Quantity::Parse("250m")->milli(), 250);
  EXPECT_EQ(Quantity::Parse("16Gi")->milli(), 16LL * 1024 * 1024 * 1024 * 1000);
  EXPECT_EQ(Quantity::Parse("2")->milli(), 2000);
  EXPECT_EQ(Quantity::Parse("1u")->milli(), 1);
  EXPECT_EQ(Quantity::Parse("1500u")->milli(), 2);
  EXPECT_EQ(Quantity::Parse("1e30")->milli(), INT64_MAX);
}

TEST(QuantityTest, RoundsUpToTheNanoUnit) {
  EXPECT_EQ(Quantity::Parse("0.0000000001")->ExactText(), "1n");
  EXPECT_EQ(Quantity::Parse("1.0000000001")->ExactText(), "1000000001n");
  EXPECT_EQ(Quantity::Parse("0.1Ki")->ExactText(), "102400000000n");
}

TEST(QuantityTest, ExactTextReadsBackEqual) {
  for (const char* text : {"0", "1n", "1500u", "16Gi", "1e100", "10Ei", "0.3000000000000000444",
                           "123456789012345678901234567890", "1e-20", "1e2147483647"}) {
    auto q = Quantity::Parse(text);
    ASSERT_TRUE(q.ok()) << text;
    auto back = Quantity::Parse(q->ExactText());
    ASSERT_TRUE(back.ok()) << q->ExactText();
    EXPECT_EQ(*back, *q) << text << " -> " << q->ExactText();
  }
}

TEST(QuantityTest, KeepsTheWrittenText) { EXPECT_EQ(Quantity::Parse("16Gi")->text(), "16Gi"); }

TEST(QuantityTest, RefusesWhatKubernetesRefuses) {
  for (const char* bad : {"", "1.2.3", "4 cores", "1gi", "1e", "1x", "1Ei0", "1K", "1e+-3", "0x10",
                          "1e99999999999999999999"}) {
    auto q = Quantity::Parse(bad);
    EXPECT_FALSE(q.ok()) << "'" << bad << "' parsed";
  }
  EXPECT_EQ(Quantity::Parse("4 cores").status().message(),
            "'4 cores' is not a quantity: ' cores' is not a suffix (n u m k M G T P E, Ki Mi Gi "
            "Ti Pi Ei, or an exponent such as e3; suffixes are case-sensitive) (examples: 4, "
            "\"500m\", \"16Gi\", \"1.5e3\")");
}

// Kubernetes reads these as 0 or as a negative amount; a manifest surely means something else.
TEST(QuantityTest, RefusesSureMistakes) {
  EXPECT_NE(Quantity::Parse("Gi").status().message().find("no digits"), std::string::npos);
  EXPECT_NE(Quantity::Parse(".").status().message().find("no digits"), std::string::npos);
  EXPECT_NE(Quantity::Parse("+").status().message().find("no digits"), std::string::npos);
  EXPECT_NE(Quantity::Parse("-0").status().message().find("negative zero"), std::string::npos);
  EXPECT_NE(Quantity::Parse("-0.0Gi").status().message().find("negative zero"), std::string::npos);
  EXPECT_NE(Quantity::Parse("-1").status().message().find("cannot be negative"), std::string::npos);
  // Its exact spelling, 1e2147483648, would read back as 1n: the spec would never match live.
  EXPECT_NE(Quantity::Parse("10e2147483647").status().message().find("exponent"),
            std::string::npos);
  EXPECT_TRUE(Quantity::Parse("1e2147483647").ok());
}

TEST(QuantityTest, AcceptsWhatKubernetesAccepts) {
  for (const char* good : {"1e0000", "9Ei", "99999999999999999999", "1e1000", "1.G", "+.5Gi", "1E3",
                           "1e-3", "12345678901234567890123456789012345678901234567890"}) {
    EXPECT_TRUE(Quantity::Parse(good).ok()) << good;
  }
}

TEST(QuantityTest, LongInputIsLinear) {
  const std::string digits(200000, '7');
  auto q = Quantity::Parse(digits + "Ei");
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q->ExactText(), "9223372036854775807e0");
  EXPECT_TRUE(Quantity::Parse("0." + digits).ok());
}

}  // namespace
}  // namespace jobsync
