// HeapOptional and HeapValue (common/boxed.h): values on the heap that copy and compare as the
// std::optional and the plain member they replace.
#include "common/boxed.h"

#include <map>
#include <optional>
#include <string>

#include <gtest/gtest.h>

namespace jobsync {
namespace {

struct Settings {
  std::string image;
  std::map<std::string, std::string> env;
  friend bool operator==(const Settings&, const Settings&) = default;
};

TEST(HeapOptionalTest, BehavesAsAnOptionalWhoseCopiesAreIndependent) {
  HeapOptional<Settings> none;
  EXPECT_FALSE(none.has_value());
  EXPECT_FALSE(static_cast<bool>(none));
  EXPECT_THROW((void)none.value(), std::bad_optional_access);

  HeapOptional<Settings> set = Settings{"trainer:1", {{"EPOCHS", "3"}}};
  ASSERT_TRUE(set.has_value());
  EXPECT_EQ(set->image, "trainer:1");
  HeapOptional<Settings> copy = set;
  copy->env["EPOCHS"] = "4";
  EXPECT_EQ(set->env.at("EPOCHS"), "3") << "a copy holds its own value";
  EXPECT_FALSE(copy == set);
  copy->env["EPOCHS"] = "3";
  EXPECT_TRUE(copy == set) << "equal values compare equal, wherever they are";
  EXPECT_FALSE(none == set);

  copy = std::nullopt;
  EXPECT_TRUE(copy == none);
  copy.emplace().image = "trainer:2";
  EXPECT_EQ(copy.value().image, "trainer:2");
  copy.reset();
  EXPECT_FALSE(copy.has_value());
  HeapOptional<Settings> moved = std::move(set);
  EXPECT_EQ(moved->image, "trainer:1");
}

TEST(HeapValueTest, ReadsAsEmptyUntilWrittenAndComparesByValue) {
  const HeapValue<Settings> unset;
  EXPECT_FALSE(unset.boxed());
  EXPECT_TRUE(unset->image.empty());
  EXPECT_TRUE(unset == Settings{});

  HeapValue<Settings> written;
  written->image = "trainer:1";
  EXPECT_TRUE(written.boxed());
  EXPECT_FALSE(written == unset);

  HeapValue<Settings> emptied;
  emptied.mutable_value();  // made, but holding T{}: the same value as an unset one
  EXPECT_TRUE(emptied.boxed());
  EXPECT_TRUE(emptied == unset);

  HeapValue<Settings> copy = written;
  copy->image = "trainer:2";
  EXPECT_EQ(written->image, "trainer:1") << "a copy holds its own value";
  copy = written;
  EXPECT_TRUE(copy == written);
  HeapValue<Settings> copy_of_unset = unset;
  EXPECT_FALSE(copy_of_unset.boxed()) << "copying an unset value takes no heap";
  copy_of_unset->image = "trainer:3";
  EXPECT_TRUE(unset->image.empty());

  // Assigned a T: held only when it is not T{}.
  HeapValue<Settings> assigned;
  assigned = Settings{};
  EXPECT_FALSE(assigned.boxed()) << "an empty value took heap";
  Settings read;
  read.image = "trainer:4";
  assigned = read;
  EXPECT_TRUE(assigned.boxed());
  EXPECT_EQ(assigned->image, "trainer:4");
  const HeapValue<Settings> made_empty(Settings{});
  EXPECT_FALSE(made_empty.boxed());
}

}  // namespace
}  // namespace jobsync
