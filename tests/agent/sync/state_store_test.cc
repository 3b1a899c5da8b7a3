#include "agent/sync/state_store.h"

#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/agent/git/git_test_util.h"

namespace jobsync {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using testing::TempDir;
using json = nlohmann::json;

AgentState SampleState() {
  AgentState state;
  state.last_applied_revision = "1111111111111111111111111111111111111111";
  state.last_attempted_revision = "2222222222222222222222222222222222222222";
  state.updated_unix = 1795370400;
  state.inventory[{BackendKind::kKubernetes, "vision", "resnet50"}] = {"sha256:aa", "rev-a", false};
  state.inventory[{BackendKind::kRay, "nlp", "bert"}] = {"sha256:bb", "rev-b", true};
  // On a cluster other than the default one: "kubernetes/vision/resnet50@gpu-east".
  state.inventory[{BackendKind::kKubernetes, "vision", "resnet50", "gpu-east"}] = {"sha256:cc",
                                                                                   "rev-c", false};
  return state;
}

void ExpectSameState(const AgentState& actual, const AgentState& expected, bool same_time = true) {
  EXPECT_EQ(actual.last_applied_revision, expected.last_applied_revision);
  EXPECT_EQ(actual.last_attempted_revision, expected.last_attempted_revision);
  if (same_time) {
    EXPECT_EQ(actual.updated_unix, expected.updated_unix);
  }
  ASSERT_EQ(actual.inventory.size(), expected.inventory.size());
  for (const auto& [key, entry] : expected.inventory) {
    auto found = actual.inventory.find(key);
    ASSERT_NE(found, actual.inventory.end()) << key.ToString();
    EXPECT_EQ(found->second.spec_hash, entry.spec_hash) << key.ToString();
    EXPECT_EQ(found->second.revision, entry.revision) << key.ToString();
    EXPECT_EQ(found->second.finished, entry.finished) << key.ToString();
  }
}

std::string ReadText(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

TEST(StateStoreJsonTest, RoundTrips) {
  const AgentState state = SampleState();
  StatusOr<AgentState> parsed = AgentStateFromJson(AgentStateToJson(state));
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  ExpectSameState(*parsed, state);
}

TEST(StateStoreJsonTest, EmptyStateRoundTrips) {
  StatusOr<AgentState> parsed = AgentStateFromJson(AgentStateToJson(AgentState{}));
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  ExpectSameState(*parsed, AgentState{});
}

TEST(StateStoreJsonTest, WritesTheDocumentedFormat) {
  EXPECT_EQ(AgentStateToJson(SampleState()), json::parse(R"({
    "version": 1,
    "lastAppliedRevision": "1111111111111111111111111111111111111111",
    "lastAttemptedRevision": "2222222222222222222222222222222222222222",
    "updated": 1795370400,
    "inventory": [
      {"key": "kubernetes/vision/resnet50", "specHash": "sha256:aa", "revision": "rev-a",
       "finished": false},
      {"key": "kubernetes/vision/resnet50@gpu-east", "specHash": "sha256:cc",
       "revision": "rev-c", "finished": false},
      {"key": "ray/nlp/bert", "specHash": "sha256:bb", "revision": "rev-b", "finished": true}
    ]})"));
}

// The document is written out directly, without a JSON tree: it must be the tree's text.
TEST(StateStoreJsonTest, TheDocumentIsTheJsonTreeIndentedByTwo) {
  AgentState odd = SampleState();
  odd.inventory[{BackendKind::kRay, "ns", "quote\"back\\slash\ttab-\u00e9"}] = {"h\n", "", true};
  odd.last_applied_revision.clear();
  for (const AgentState& state : {SampleState(), AgentState{}, odd}) {
    AgentState stamped = state;
    stamped.updated_unix = 1795370400;
    EXPECT_EQ(AgentStateDocument(state, 1795370400), AgentStateToJson(stamped).dump(2) + "\n");
  }
}

struct BadDocument {
  const char* what;
  const char* patch;  // merged into a valid document; null values remove fields
  const char* message;
};

TEST(StateStoreJsonTest, RejectsBadDocumentsNamingTheField) {
  const BadDocument cases[] = {
      {"no version", R"({"version": null})", "field 'version' is missing"},
      {"newer version", R"({"version": 2})", "field 'version' is 2"},
      {"revision not a string", R"({"lastAppliedRevision": 7})",
       "field 'lastAppliedRevision' must be a string"},
      {"no attempted revision", R"({"lastAttemptedRevision": null})",
       "field 'lastAttemptedRevision' is missing"},
      {"updated not a number", R"({"updated": "today"})", "field 'updated' must be an integer"},
      {"inventory not a list", R"({"inventory": {}})", "field 'inventory' must be an array"},
      {"entry not an object", R"({"inventory": [3]})", "field 'inventory[0]' must be an object"},
      {"unknown backend", R"({"inventory": [{"key": "slurm/ns/a", "specHash": "h",
         "revision": "r", "finished": false}]})",
       "field 'inventory[0].key' 'slurm/ns/a' has unknown backend 'slurm'"},
      {"empty cluster", R"({"inventory": [{"key": "ray/ns/a@", "specHash": "h",
         "revision": "r", "finished": false}]})",
       "is not BACKEND/NAMESPACE/NAME[@CLUSTER]"},
      {"key without backend", R"({"inventory": [{"key": "ns/a", "specHash": "h",
         "revision": "r", "finished": false}]})",
       "field 'inventory[0].key' 'ns/a' is not BACKEND/NAMESPACE/NAME"},
      {"no spec hash", R"({"inventory": [{"key": "ray/ns/a", "revision": "r",
         "finished": false}]})",
       "field 'inventory[0].specHash' is missing"},
      {"finished not a boolean", R"({"inventory": [{"key": "ray/ns/a", "specHash": "h",
         "revision": "r", "finished": "no"}]})",
       "field 'inventory[0].finished' must be true or false"},
      {"repeated job", R"({"inventory": [
         {"key": "ray/ns/a", "specHash": "h", "revision": "r", "finished": false},
         {"key": "ray/ns/a", "specHash": "h", "revision": "r", "finished": true}]})",
       "field 'inventory[1].key' repeats job ray/ns/a"},
  };
  for (const BadDocument& bad : cases) {
    json document = AgentStateToJson(SampleState());
    document.merge_patch(json::parse(bad.patch));
    StatusOr<AgentState> parsed = AgentStateFromJson(document);
    ASSERT_FALSE(parsed.ok()) << bad.what;
    EXPECT_EQ(parsed.status().code(), StatusCode::kInvalidArgument) << bad.what;
    EXPECT_THAT(parsed.status().message(), HasSubstr(bad.message)) << bad.what;
  }
  EXPECT_FALSE(AgentStateFromJson(json::array()).ok());
}

class StateStoreFileTest : public ::testing::Test {
 protected:
  fs::path Path() const { return dir_.path() / "state" / "agent.state.json"; }

  TempDir dir_;
};

TEST_F(StateStoreFileTest, MissingFileLoadsEmptyState) {
  std::unique_ptr<StateStore> store = NewFileStateStore(Path().string());
  StatusOr<AgentState> loaded = store->Load();
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  ExpectSameState(*loaded, AgentState{});
  EXPECT_FALSE(fs::exists(Path()));
}

TEST_F(StateStoreFileTest, SavesAndLoadsStampingTheTime) {
  std::unique_ptr<StateStore> store = NewFileStateStore(Path().string());
  const int64_t before = static_cast<int64_t>(std::time(nullptr));
  ASSERT_TRUE(store->Save(SampleState()).ok());
  StatusOr<AgentState> loaded = NewFileStateStore(Path().string())->Load();
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  ExpectSameState(*loaded, SampleState(), /*same_time=*/false);
  EXPECT_GE(loaded->updated_unix, before);
  EXPECT_LE(loaded->updated_unix, static_cast<int64_t>(std::time(nullptr)));
}

TEST_F(StateStoreFileTest, SaveReplacesTheWholeState) {
  std::unique_ptr<StateStore> store = NewFileStateStore(Path().string());
  ASSERT_TRUE(store->Save(SampleState()).ok());
  AgentState next;
  next.last_applied_revision = "3333";
  next.inventory[{BackendKind::kKubernetes, "default", "mnist"}] = {"sha256:cc", "3333", false};
  ASSERT_TRUE(store->Save(next).ok());
  StatusOr<AgentState> loaded = store->Load();
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  ExpectSameState(*loaded, next, /*same_time=*/false);
}

TEST_F(StateStoreFileTest, CreatesParentDirectories) {
  const fs::path deep = dir_.path() / "a" / "b" / "c" / "state.json";
  ASSERT_TRUE(NewFileStateStore(deep.string())->Save(SampleState()).ok());
  EXPECT_TRUE(fs::is_regular_file(deep));
}

TEST_F(StateStoreFileTest, CorruptFileIsAnErrorNotAnEmptyState) {
  const struct {
    const char* what;
    const char* text;
    const char* problem;
  } cases[] = {
      {"not JSON", "{\"version\": 1, \"inventory\": [", "not valid JSON"},
      {"empty file", "", "not valid JSON"},
      {"not a state", R"({"version": 1})", "field 'lastAppliedRevision' is missing"},
  };
  for (const auto& corrupt : cases) {
    dir_.Write("state/agent.state.json", corrupt.text);
    StatusOr<AgentState> loaded = NewFileStateStore(Path().string())->Load();
    ASSERT_FALSE(loaded.ok()) << corrupt.what;
    EXPECT_EQ(loaded.status().code(), StatusCode::kFailedPrecondition) << corrupt.what;
    EXPECT_THAT(loaded.status().message(), HasSubstr(Path().string())) << corrupt.what;
    EXPECT_THAT(loaded.status().message(), HasSubstr(corrupt.problem)) << corrupt.what;
    EXPECT_THAT(loaded.status().message(), HasSubstr("delete it to start over")) << corrupt.what;
  }
}

TEST_F(StateStoreFileTest, LeftoverTemporaryFileDoesNotMatter) {
  std::unique_ptr<StateStore> store = NewFileStateStore(Path().string());
  ASSERT_TRUE(store->Save(SampleState()).ok());
  // What a crash between writing the temporary file and the rename leaves behind.
  const fs::path temporary = Path().string() + ".tmp";
  dir_.Write("state/agent.state.json.tmp", "{\"version\": 1, \"lastApp");
  StatusOr<AgentState> loaded = store->Load();
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  ExpectSameState(*loaded, SampleState(), /*same_time=*/false);

  AgentState next;
  next.last_attempted_revision = "4444";
  ASSERT_TRUE(store->Save(next).ok());
  EXPECT_FALSE(fs::exists(temporary));
  loaded = store->Load();
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  ExpectSameState(*loaded, next, /*same_time=*/false);
  EXPECT_TRUE(json::accept(ReadText(Path())));
}

TEST_F(StateStoreFileTest, DescribesItself) {
  EXPECT_EQ(NewFileStateStore("/var/lib/jobsync/a.json")->Describe(),
            "file /var/lib/jobsync/a.json");
}

// Sets an environment variable for one test and restores it after.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value != nullptr) {
      setenv(name, value, 1);
    } else {
      unsetenv(name);
    }
  }
  ~ScopedEnv() {
    if (old_) {
      setenv(name_, old_->c_str(), 1);
    } else {
      unsetenv(name_);
    }
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  const char* name_;
  std::optional<std::string> old_;
};

TEST(StateStoreDefaultFileTest, FollowsXdgStateHome) {
  ScopedEnv home("HOME", "/home/ada");
  {
    ScopedEnv state_home("XDG_STATE_HOME", "/srv/state");
    EXPECT_EQ(DefaultStateFile("prod"), "/srv/state/jobsync/prod.state.json");
  }
  {
    ScopedEnv state_home("XDG_STATE_HOME", nullptr);
    EXPECT_EQ(DefaultStateFile("prod"), "/home/ada/.local/state/jobsync/prod.state.json");
  }
  {
    ScopedEnv state_home("XDG_STATE_HOME", "");
    EXPECT_EQ(DefaultStateFile("prod"), "/home/ada/.local/state/jobsync/prod.state.json");
  }
}

}  // namespace
}  // namespace jobsync
