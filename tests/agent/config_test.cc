#include "agent/config.h"

#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace jobsync {
namespace {

using ::testing::HasSubstr;

TEST(ParseDurationTest, ReadsUnitsAndSums) {
  EXPECT_EQ(*ParseDuration("30s"), std::chrono::seconds(30));
  EXPECT_EQ(*ParseDuration("500ms"), std::chrono::milliseconds(500));
  EXPECT_EQ(*ParseDuration("1m30s"), std::chrono::seconds(90));
  EXPECT_EQ(*ParseDuration("2h"), std::chrono::hours(2));
  EXPECT_EQ(*ParseDuration("45"), std::chrono::seconds(45));
}

TEST(ParseDurationTest, RefusesWhatItCannotRead) {
  for (const char* bad : {"", "s", "10x", "1.5s", "-3s", "5 s", "99999999999s"}) {
    StatusOr<std::chrono::milliseconds> parsed = ParseDuration(bad);
    ASSERT_FALSE(parsed.ok()) << bad;
    EXPECT_THAT(parsed.status().message(), HasSubstr("such as 500ms, 30s")) << bad;
  }
}

// A command shaped like `jobsync run`: a few flags of each kind.
class ConfigTest : public ::testing::Test {
 protected:
  ConfigTest() {
    command_.add_option("--repo", repo_);
    command_.add_option("--interval", interval_);
    command_.add_option("--max-delete-share", share_)->check(CLI::Range(0.0, 1.0));
    command_.add_flag("--prune", prune_);
    command_.add_option("--path", paths_);
    command_.add_option("--config", config_);
  }

  Status Parse(std::vector<std::string> args, const std::string& yaml) {
    std::vector<const char*> argv = {"run"};
    for (const std::string& arg : args) argv.push_back(arg.c_str());
    command_.parse(static_cast<int>(argv.size()), argv.data());
    return ApplyConfigText(yaml, "agent.yaml", command_);
  }

  CLI::App command_{"test", "run"};
  std::string repo_;
  std::string interval_ = "30s";
  double share_ = 0.5;
  bool prune_ = false;
  std::vector<std::string> paths_;
  std::string config_;
};

TEST_F(ConfigTest, SetsWhatTheCommandLineLeftUnset) {
  Status status = Parse({"--interval", "5s"},
                        "repo: https://git.example.com/ml/jobs.git\n"
                        "interval: 1m\n"
                        "prune: true\n"
                        "max-delete-share: 0.25\n"
                        "path: [teams/a, teams/b]\n");
  ASSERT_TRUE(status.ok()) << status.ToString();
  EXPECT_EQ(repo_, "https://git.example.com/ml/jobs.git");
  EXPECT_EQ(interval_, "5s");  // the command line wins
  EXPECT_TRUE(prune_);
  EXPECT_EQ(share_, 0.25);
  EXPECT_EQ(paths_, (std::vector<std::string>{"teams/a", "teams/b"}));
}

TEST_F(ConfigTest, UnknownKeyIsLocatedWithASuggestion) {
  Status status = Parse({}, "repo: x\nintreval: 1m\n");
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(),
            "agent.yaml:2:1: unknown setting 'intreval' (hint: did you mean 'interval'?)");
}

TEST_F(ConfigTest, BadValueIsLocatedAtTheValue) {
  Status status = Parse({}, "repo: x\nmax-delete-share: 3\n");
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("agent.yaml:2:19: max-delete-share: "));
}

TEST_F(ConfigTest, RefusesShapesThatAreNotSettings) {
  EXPECT_THAT(Parse({}, "- repo\n").message(), HasSubstr("agent.yaml:1:1: a configuration file "
                                                         "is a mapping"));
  EXPECT_THAT(Parse({}, "repo: {url: x}\n").message(), HasSubstr("expected a single value"));
  EXPECT_THAT(Parse({}, "repo:\n").message(), HasSubstr("agent.yaml:1:1: repo: no value given"));
  EXPECT_THAT(Parse({}, "config: other.yaml\n").message(), HasSubstr("unknown setting 'config'"));
  EXPECT_THAT(Parse({}, "repo: a\nrepo: b\n").message(), HasSubstr("agent.yaml:2:1"));
}

TEST_F(ConfigTest, EmptyFileSetsNothing) {
  ASSERT_TRUE(Parse({}, "").ok());
  EXPECT_EQ(interval_, "30s");
}

TEST(ConfigFileTest, MissingFileIsNotFound) {
  CLI::App command{"test", "run"};
  Status status = ApplyConfigFile("/nonexistent/agent.yaml", command);
  EXPECT_EQ(status.code(), StatusCode::kNotFound);
  EXPECT_THAT(status.message(), HasSubstr("/nonexistent/agent.yaml"));
}

}  // namespace
}  // namespace jobsync
