#include "agent/cli/config.h"

#include <set>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "agent/cli/cluster_flags.h"

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

// The allowlist settings as `jobsync run` registers them (AddClusterFlags).
class AllowlistConfigTest : public ::testing::Test {
 protected:
  AllowlistConfigTest() { AddClusterFlags(command_, flags_); }

  Status Parse(const std::vector<std::string>& args, const std::string& yaml) {
    std::vector<const char*> argv = {"run"};
    for (const std::string& arg : args) argv.push_back(arg.c_str());
    command_.parse(static_cast<int>(argv.size()), argv.data());
    return ApplyConfigText(yaml, "agent.yaml", command_);
  }

  CLI::App command_{"test", "run"};
  ClusterFlags flags_;
};

TEST_F(AllowlistConfigTest, ReadsTheAllowlistsAsYamlLists) {
  Status status = Parse({},
                        "allow-namespace: [team-a, team-b]\n"
                        "allow-backend:\n"
                        "  - kubernetes\n");
  ASSERT_TRUE(status.ok()) << status.ToString();
  EXPECT_EQ(flags_.allow_namespaces, (std::vector<std::string>{"team-a", "team-b"}));
  EXPECT_EQ(flags_.allow_backends, (std::vector<std::string>{"kubernetes"}));
  const PlanOptions options = ToPlanOptions(flags_);
  EXPECT_EQ(options.allowed_namespaces, (std::set<std::string>{"team-a", "team-b"}));
  EXPECT_EQ(options.allowed_backends, (std::set<BackendKind>{BackendKind::kKubernetes}));
}

TEST_F(AllowlistConfigTest, ReadsACommaListAndTheCommandLineWins) {
  Status status = Parse({"--allow-namespace", "team-c,team-d", "--allow-namespace", "team-e"},
                        "allow-namespace: team-a,team-b\n"
                        "allow-backend: ray,kubernetes\n");
  ASSERT_TRUE(status.ok()) << status.ToString();
  EXPECT_EQ(flags_.allow_namespaces, (std::vector<std::string>{"team-c", "team-d", "team-e"}));
  EXPECT_EQ(flags_.allow_backends, (std::vector<std::string>{"ray", "kubernetes"}));
}

TEST_F(AllowlistConfigTest, UnsetAllowlistsAllowEverything) {
  ASSERT_TRUE(Parse({}, "instance: prod\n").ok());
  const PlanOptions options = ToPlanOptions(flags_);
  EXPECT_TRUE(options.allowed_namespaces.empty());
  EXPECT_TRUE(options.allowed_backends.empty());
  EXPECT_TRUE(options.Allows({BackendKind::kRay, "anything", "job"}));
}

TEST_F(AllowlistConfigTest, BadItemsAreLocated) {
  Status status = Parse({}, "allow-namespace: [team-a, Team_B]\n");
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("agent.yaml:1:18: allow-namespace: "));
  EXPECT_THAT(status.message(), HasSubstr("'Team_B' is not a namespace name"));
  EXPECT_THAT(Parse({}, "allow-backend: [slurm]\n").message(),
              HasSubstr("agent.yaml:1:16: allow-backend: "));
  EXPECT_THAT(Parse({}, "allow-namespace: [[team-a]]\n").message(),
              HasSubstr("agent.yaml:1:19: allow-namespace: items must be plain values"));
}

TEST_F(AllowlistConfigTest, CreateNamespacesIsOnUnlessTurnedOff) {
  ASSERT_TRUE(Parse({}, "instance: prod\n").ok());
  EXPECT_TRUE(flags_.create_namespaces);
  flags_ = ClusterFlags{};
  ASSERT_TRUE(Parse({}, "create-namespaces: false\n").ok());
  EXPECT_FALSE(flags_.create_namespaces) << "in the configuration file";
  flags_ = ClusterFlags{};
  ASSERT_TRUE(Parse({"--no-create-namespaces"}, "").ok());
  EXPECT_FALSE(flags_.create_namespaces) << "on the command line";
}

TEST(ConfigFileTest, MissingFileIsNotFound) {
  CLI::App command{"test", "run"};
  Status status = ApplyConfigFile("/nonexistent/agent.yaml", command);
  EXPECT_EQ(status.code(), StatusCode::kNotFound);
  EXPECT_THAT(status.message(), HasSubstr("/nonexistent/agent.yaml"));
}

}  // namespace
}  // namespace jobsync
