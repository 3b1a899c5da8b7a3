#include "schemas/quantity.h"

#include <string>

#include <gtest/gtest.h>

namespace jobsync {
namespace {

struct EqualCase {
  const char* a;
  const char* b;
};

class QuantityEqualTest : public ::testing::TestWithParam<EqualCase> {};

TEST_P(QuantityEqualTest, ComparesByValue) {
  auto a = Quantity::Parse(GetParam().a);
  auto b = Quantity::Parse(GetParam().b);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_EQ(*a, *b);
}

INSTANTIATE_TEST_SUITE_P(Spellings, QuantityEqualTest,
                         ::testing::Values(EqualCase{"1Gi", "1024Mi"}, EqualCase{"1", "1000m"},
                                           EqualCase{"0.5", "500m"}, EqualCase{"1k", "1000"},
                                           EqualCase{"1e3", "1k"}, EqualCase{"+2", "2"},
                                           EqualCase{"1Ki", "1024"}, EqualCase{"1.5Gi", "1536Mi"},
                                           EqualCase{"100n", "1m"}, EqualCase{".5", "0.5"}),
                         [](const ::testing::TestParamInfo<EqualCase>& case_info) {
                           return "Case" + std::to_string(case_info.index);
                         });

TEST(QuantityTest, MilliValues) {
  EXPECT_EQ(Quantity::Parse("250m")->milli(), 250);
  EXPECT_EQ(Quantity::Parse("16Gi")->milli(), 16LL * 1024 * 1024 * 1024 * 1000);
  EXPECT_EQ(Quantity::Parse("2")->milli(), 2000);
  EXPECT_EQ(Quantity::Parse("1u")->milli(), 1);  // rounds up, as Kubernetes does
  EXPECT_NE(*Quantity::Parse("1G"), *Quantity::Parse("1Gi"));
}

TEST(QuantityTest, KeepsTheWrittenText) { EXPECT_EQ(Quantity::Parse("16Gi")->text(), "16Gi"); }

TEST(QuantityTest, RejectsMalformed) {
  for (const char* bad : {"", "-1", "1.2.3", "4 cores", "1gi", "Gi", "1e", "1e1000", "1x",
                          "99999999999999999999", "1Ei0"}) {
    auto q = Quantity::Parse(bad);
    EXPECT_FALSE(q.ok()) << "'" << bad << "' parsed";
  }
  EXPECT_EQ(Quantity::Parse("4 cores").status().message(),
            "'4 cores' is not a quantity (examples: 4, \"500m\", \"16Gi\")");
}

TEST(QuantityTest, RejectsValuesTooLargeToCompareExactly) {
  EXPECT_FALSE(Quantity::Parse("9Ei").ok());
  EXPECT_TRUE(Quantity::Parse("1Pi").ok());
}

}  // namespace
}  // namespace jobsync
