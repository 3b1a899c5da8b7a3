#include "schemas/yaml_reader.h"

#include <cmath>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "schemas/yaml_json.h"

namespace jobsync {
namespace {

using ::testing::HasSubstr;

nlohmann::json Json(const std::string& text) {
  YamlFile file = ReadYaml(text);
  EXPECT_FALSE(file.error.has_value()) << file.error->message;
  EXPECT_EQ(file.documents.size(), 1u);
  return YamlToJson(*file.documents.at(0));
}

TEST(YamlReaderTest, ResolvesPlainScalarsByTheCoreSchema) {
  nlohmann::json j = Json(
      "a: 1\nb: -7\nc: 0x1f\nd: 0o17\ne: 1.5\nf: 1e3\ng: true\nh: False\ni: null\nj: ~\nk:\n"
      "l: yes\nm: on\nn: '1'\no: \"true\"\np: !!str 12\nq: .inf\nr: 1_000\ns: 09\n");
  EXPECT_EQ(j["a"], 1);
  EXPECT_EQ(j["b"], -7);
  EXPECT_EQ(j["c"], 31);
  EXPECT_EQ(j["d"], 15);
  EXPECT_EQ(j["e"], 1.5);
  EXPECT_EQ(j["f"], 1000.0);
  EXPECT_EQ(j["g"], true);
  EXPECT_EQ(j["h"], false);
  EXPECT_TRUE(j["i"].is_null());
  EXPECT_TRUE(j["j"].is_null());
  EXPECT_TRUE(j["k"].is_null());
  EXPECT_EQ(j["l"], "yes");  // YAML 1.2: not a boolean
  EXPECT_EQ(j["m"], "on");
  EXPECT_EQ(j["n"], "1");
  EXPECT_EQ(j["o"], "true");
  EXPECT_EQ(j["p"], "12");
  EXPECT_TRUE(std::isinf(j["q"].get<double>()));
  EXPECT_EQ(j["r"], "1_000");
  EXPECT_EQ(j["s"], 9);
}

TEST(YamlReaderTest, KeepsPositionsOfNodesAndKeys) {
  YamlFile file = ReadYaml("a:\n  b: [1, 2]\n");
  ASSERT_FALSE(file.error);
  const YamlNode& root = *file.documents[0];
  YamlPosition value = Locate(root, {"a", "b", "1"});
  EXPECT_TRUE(value.found);
  EXPECT_EQ(value.line, 2);
  EXPECT_EQ(value.column, 10);
  YamlPosition key = Locate(root, {"a", "b"}, /*at_key=*/true);
  EXPECT_EQ(key.line, 2);
  EXPECT_EQ(key.column, 3);
  YamlPosition missing = Locate(root, {"a", "zzz"});
  EXPECT_FALSE(missing.found);
  EXPECT_EQ(missing.line, 2);  // the deepest node that exists: a's value
}

TEST(YamlReaderTest, SharesAliasedNodesAndExpandsThemInJson) {
  YamlFile file = ReadYaml("base: &b {x: 1}\ncopy: *b\n");
  ASSERT_FALSE(file.error);
  nlohmann::json j = YamlToJson(*file.documents[0]);
  EXPECT_EQ(j["copy"]["x"], 1);
  EXPECT_EQ(file.documents[0]->entries[0].value, file.documents[0]->entries[1].value);
}

TEST(YamlReaderTest, AliasBombFailsFastWithinTheNodeLimit) {
  std::string text = "a: &a [x, x, x, x, x, x, x, x, x, x]\n";
  std::string previous = "a";
  for (char name = 'b'; name <= 'z'; ++name) {
    text += std::string(1, name) + ": &" + name + " [";
    for (int i = 0; i < 10; ++i) text += (i ? ", *" : "*") + previous;
    text += "]\n";
    previous = std::string(1, name);
  }
  YamlFile file = ReadYaml(text);
  ASSERT_TRUE(file.error.has_value());
  EXPECT_THAT(file.error->message, HasSubstr("more than 100000 YAML nodes"));
  EXPECT_EQ(file.error->line, 5);  // "e" is the first to pass 100000 nodes
}

// YAML 1.1 merge keys: keys written in the mapping win, then earlier sources over later ones.
TEST(YamlReaderTest, MergeKeysTakeWrittenKeysThenEarlierSources) {
  nlohmann::json j = Json(
      "a: &a {x: a, y: a, z: a}\n"
      "b: &b {x: b, y: b, w: b}\n"
      "m:\n"
      "  <<: [*a, *b]\n"
      "  x: m\n");
  EXPECT_EQ(j["m"], nlohmann::json::parse(R"({"x":"m","y":"a","z":"a","w":"b"})"));
  EXPECT_FALSE(j["m"].contains("<<"));
}

TEST(YamlReaderTest, MergeKeyOfOneMappingAndWrittenKeyBeforeIt) {
  nlohmann::json j = Json("d: &d {image: t:1, replicas: 1}\nr: {replicas: 4, <<: *d}\n");
  EXPECT_EQ(j["r"], nlohmann::json::parse(R"({"image":"t:1","replicas":4})"));
}

TEST(YamlReaderTest, MergeKeysNestAndMergeShallowly) {
  nlohmann::json j = Json(
      "base: &base {env: {A: '1'}, image: t:1}\n"
      "mid: &mid {<<: *base, command: [run]}\n"
      "roles:\n"
      "  - {<<: *mid, env: {B: '2'}}\n");
  // A source that merges is merged with its own merges resolved; a nested mapping is replaced,
  // not merged, as YAML's merge is one level deep.
  EXPECT_EQ(j["roles"][0],
            nlohmann::json::parse(R"({"env":{"B":"2"},"image":"t:1","command":["run"]})"));
}

TEST(YamlReaderTest, MergedKeysKeepThePositionOfTheirText) {
  YamlFile file = ReadYaml("a: &a\n  x: 1\nm:\n  <<: *a\n  y: 2\n");
  ASSERT_FALSE(file.error) << file.error->message;
  YamlPosition x = Locate(*file.documents[0], {"m", "x"});
  EXPECT_TRUE(x.found);
  EXPECT_EQ(x.line, 2);  // where x: 1 is written, under a
  EXPECT_EQ(x.column, 6);
  YamlPosition key = Locate(*file.documents[0], {"m", "x"}, /*at_key=*/true);
  EXPECT_EQ(key.line, 2);
  EXPECT_EQ(key.column, 3);
}

TEST(YamlReaderTest, QuotedMergeKeyIsAnOrdinaryKey) {
  nlohmann::json j = Json("m: {\"<<\": 1}\n");
  EXPECT_EQ(j["m"]["<<"], 1);
}

TEST(YamlReaderTest, MergeKeyOfSomethingElseThanMappingsIsAnError) {
  YamlFile scalar = ReadYaml("m:\n  <<: 1\n");
  ASSERT_TRUE(scalar.error.has_value());
  EXPECT_EQ(scalar.error->message, "the merge key '<<' needs a mapping or a list of mappings");
  EXPECT_EQ(scalar.error->line, 2);
  EXPECT_EQ(scalar.error->column, 7);
  YamlFile list = ReadYaml("a: &a {x: 1}\nm:\n  <<: [*a, [1]]\n");
  ASSERT_TRUE(list.error.has_value());
  EXPECT_EQ(list.error->message, "the merge key '<<' lists something that is not a mapping");
  EXPECT_EQ(list.error->line, 3);
  EXPECT_EQ(list.error->column, 12);
  YamlFile twice = ReadYaml("a: &a {x: 1}\nm: {<<: *a, <<: *a}\n");
  ASSERT_TRUE(twice.error.has_value());
  EXPECT_EQ(twice.error->message, "duplicate merge key '<<'");
}

// Each level merges the previous one and repeats it: the node bound holds through merges.
TEST(YamlReaderTest, MergeKeyBombFailsWithinTheNodeLimit) {
  std::string text = "a: &a {x0: [x, x, x, x, x, x, x, x, x, x]}\n";
  std::string previous = "a";
  for (char name = 'b'; name <= 'z'; ++name) {
    text += std::string(1, name) + ": &" + name + " {<<: *" + previous;
    for (int i = 1; i < 10; ++i)
      text += ", " + std::string(1, name) + std::to_string(i) + ": *" + previous;
    text += "}\n";
    previous = std::string(1, name);
  }
  YamlFile file = ReadYaml(text);
  ASSERT_TRUE(file.error.has_value());
  EXPECT_THAT(file.error->message, HasSubstr("more than 100000 YAML nodes"));
}

TEST(YamlReaderTest, CyclicAliasIsRefused) {
  YamlFile file = ReadYaml("a: &a\n  b: *a\n");
  ASSERT_TRUE(file.error.has_value());
  EXPECT_THAT(file.error->message, HasSubstr("cyclic alias"));
}

TEST(YamlReaderTest, DepthIsBoundedWithoutExhaustingTheStack) {
  std::string text(100000, '[');
  YamlFile file = ReadYaml(text);
  ASSERT_TRUE(file.error.has_value());
  EXPECT_THAT(file.error->message, HasSubstr("nesting"));
}

TEST(YamlReaderTest, LimitsAreConfigurable) {
  YamlLimits limits;
  limits.max_bytes = 10;
  EXPECT_TRUE(ReadYaml("a: 12345678901", limits).error.has_value());
  limits = YamlLimits();
  limits.max_depth = 2;
  EXPECT_FALSE(ReadYaml("a: {b: 1}", limits).error.has_value());
  EXPECT_TRUE(ReadYaml("a: {b: [1]}", limits).error.has_value());
  limits = YamlLimits();
  limits.max_nodes = 5;
  EXPECT_TRUE(ReadYaml("[1, 2, 3, 4, 5, 6]", limits).error.has_value());
}

TEST(YamlReaderTest, DuplicateKeysAreErrorsAtTheSecondKey) {
  YamlFile file = ReadYaml("a: 1\nb:\n  c: 1\n  c: 2\n");
  ASSERT_TRUE(file.error.has_value());
  EXPECT_EQ(file.error->message, "duplicate key 'c' (first defined at line 3, column 3)");
  EXPECT_EQ(file.error->line, 4);
  EXPECT_EQ(file.error->column, 3);
}

TEST(YamlReaderTest, BinaryAndInvalidUtf8AreRefused) {
  EXPECT_THAT(ReadYaml(std::string("a: \0", 4)).error->message, HasSubstr("NUL byte"));
  YamlFile file = ReadYaml("a: 1\nb: \xff\n");
  ASSERT_TRUE(file.error.has_value());
  EXPECT_THAT(file.error->message, HasSubstr("not valid UTF-8"));
  EXPECT_EQ(file.error->line, 2);
  EXPECT_EQ(file.error->column, 4);
  EXPECT_FALSE(ReadYaml("name: caf\xc3\xa9\n").error.has_value());
}

// Found by fuzzing (tests/fuzz/regressions/loader/): sequences a lenient check let through made
// nlohmann::json throw when a message quoted the value. RFC 3629 forbids them all.
TEST(YamlReaderTest, OverlongSurrogateAndOutOfRangeUtf8AreRefused) {
  for (const char* text :
       {"a: \xc0\xaf\n", "a: \xc1\x90\n", "a: \xe0\x80\xaf\n", "a: \xed\xa0\x80\n",
        "a: \xf0\x80\x80\xaf\n", "a: \xf4\x90\x80\x80\n", "a: \xf5\x80\x80\x80\n"}) {
    YamlFile file = ReadYaml(text);
    ASSERT_TRUE(file.error.has_value()) << text;
    EXPECT_THAT(file.error->message, HasSubstr("not valid UTF-8"));
    EXPECT_EQ(file.error->column, 4);
  }
  for (const char* text : {"a: \xed\x9f\xbf\n", "a: \xee\x80\x80\n", "a: \xf0\x90\x80\x80\n",
                           "a: \xf4\x8f\xbf\xbf\n"}) {
    EXPECT_FALSE(ReadYaml(text).error.has_value()) << text;
  }
}

TEST(YamlReaderTest, ReadsEveryDocumentAndDropsEmptyOnes) {
  YamlFile file = ReadYaml("a: 1\n---\n---\nb: 2\n...\n");
  ASSERT_FALSE(file.error);
  EXPECT_EQ(file.documents.size(), 2u);
}

TEST(YamlReaderTest, MalformedInputIsAnErrorWithAPosition) {
  const char* inputs[] = {"{",       "[",        "]]",        "'unterminated", "a: |\n  b\n c",
                          "a: b: c", "*unknown", "key: [1, 2"};
  for (const char* input : inputs) {
    YamlFile file = ReadYaml(input);
    ASSERT_TRUE(file.error.has_value()) << input;
    EXPECT_GE(file.error->line, 1) << input;
    EXPECT_GE(file.error->column, 1) << input;
  }
}

TEST(JsonToYamlTest, WritesBlockStyleLikeKubectl) {
  nlohmann::json object = {{"apiVersion", "batch/v1"},
                           {"metadata", {{"name", "a"}, {"labels", {{"team", "x"}}}}},
                           {"spec", {{"containers", {{{"name", "c"}, {"args", {"-v", "1"}}}}}}}};
  EXPECT_EQ(JsonToYaml(object),
            "apiVersion: batch/v1\n"
            "metadata:\n"
            "  labels:\n"
            "    team: x\n"
            "  name: a\n"
            "spec:\n"
            "  containers:\n"
            "  - args:\n"
            "    - \"-v\"\n"
            "    - \"1\"\n"
            "    name: c\n");
}

TEST(JsonToYamlTest, ReadsBackAsTheSameValue) {
  nlohmann::json value = {
      {"strings",
       {"true", "yes", "on", "1", "1.5", "", " lead", "a: b", "# c", "null", "~", "multi\nline",
        "quote\"d", "caf\u00e9", "-dash", "0x1f", "app.kubernetes.io/name"}},
      {"numbers", {1, -2, 3.25, 0}},
      {"booleans", {true, false}},
      {"nothing", nullptr},
      {"empty", {{"list", nlohmann::json::array()}, {"map", nlohmann::json::object()}}},
      {"nested", {{{"a", {{"b", {1, {2, 3}}}}}}, {4}}},
      {"weird key: #", "v"}};
  std::string yaml = JsonToYaml(value);
  YamlFile file = ReadYaml(yaml);
  ASSERT_FALSE(file.error.has_value()) << file.error->message << "\n" << yaml;
  ASSERT_EQ(file.documents.size(), 1u);
  EXPECT_EQ(YamlToJson(*file.documents[0]), value) << yaml;
}

}  // namespace
}  // namespace jobsync
