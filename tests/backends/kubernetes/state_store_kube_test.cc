// The ConfigMap state store against the real local kube-apiserver of scripts/cluster. Needs
// `scripts/cluster up && eval "$(scripts/cluster env)"`; fails, never skips, when the cluster
// cannot be reached. Each test uses its own ConfigMap in namespace default, deleted after.
#include <atomic>
#include <cstdlib>
#include <memory>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include "backends/kubernetes/configmap_state_store.h"
#include "backends/kubernetes/kubeconfig.h"
#include "backends/kubernetes/kubernetes_backend.h"
#include "kube_test_util.h"

namespace jobsync {
namespace {

using json = nlohmann::json;
using ::testing::HasSubstr;

constexpr const char* kNamespace = "default";

AgentState SampleState() {
  AgentState state;
  state.last_applied_revision = "1111111111111111111111111111111111111111";
  state.last_attempted_revision = "2222222222222222222222222222222222222222";
  state.inventory[{BackendKind::kKubernetes, "vision", "resnet50"}] = {"sha256:aa", "rev-a", false};
  state.inventory[{BackendKind::kRay, "nlp", "bert"}] = {"sha256:bb", "rev-b", true};
  return state;
}

// The document of `state` without the time of its Save, for comparing states.
json Contents(const AgentState& state) {
  json document = AgentStateToJson(state);
  document.erase("updated");
  return document;
}

class StateStoreKubeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(testing::ConnectTestCluster(KubernetesClientOptions{}, kNamespace, &client_));
    static std::atomic<int> counter{0};
    name_ = "jobsync-test-state-" + std::to_string(getpid()) + "-" + std::to_string(++counter);
    store_ = NewConfigMapStateStore(*client_, kNamespace, name_);
  }

  void TearDown() override {
    if (client_ == nullptr) return;
    Status deleted =
        client_->Delete(ResourceKind::kConfigMap, kNamespace, name_, Propagation::kBackground);
    EXPECT_TRUE(deleted.ok()) << deleted.ToString();
  }

  void CreateConfigMap(const json& data) {
    const json object = {{"apiVersion", "v1"},
                         {"kind", "ConfigMap"},
                         {"metadata", {{"name", name_}, {"namespace", kNamespace}}},
                         {"data", data}};
    StatusOr<json> created = client_->Create(ResourceKind::kConfigMap, kNamespace, object);
    ASSERT_TRUE(created.ok()) << created.status().ToString();
  }

  std::unique_ptr<KubernetesClient> client_;
  std::string name_;
  std::unique_ptr<StateStore> store_;
};

TEST_F(StateStoreKubeTest, MissingConfigMapLoadsEmptyState) {
  StatusOr<AgentState> loaded = store_->Load();
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ(Contents(*loaded), Contents(AgentState{}));
  EXPECT_EQ(loaded->updated_unix, 0);
  EXPECT_EQ(store_->Describe(), "configmap default/" + name_);
}

TEST_F(StateStoreKubeTest, SavesAndLoadsThroughTheApiserver) {
  ASSERT_TRUE(store_->Save(SampleState()).ok());
  StatusOr<AgentState> loaded = NewConfigMapStateStore(*client_, kNamespace, name_)->Load();
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ(Contents(*loaded), Contents(SampleState()));
  EXPECT_GT(loaded->updated_unix, 0);

  // The second Save replaces the existing ConfigMap.
  AgentState next;
  next.last_applied_revision = "3333";
  next.inventory[{BackendKind::kKubernetes, "default", "mnist"}] = {"sha256:cc", "3333", true};
  ASSERT_TRUE(store_->Save(next).ok());
  loaded = store_->Load();
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ(Contents(*loaded), Contents(next));

  StatusOr<json> config_map = client_->Get(ResourceKind::kConfigMap, kNamespace, name_);
  ASSERT_TRUE(config_map.ok()) << config_map.status().ToString();
  const json stored = json::parse(config_map->at("data").value("state.json", ""), nullptr, false);
  EXPECT_EQ(stored.value("lastAppliedRevision", ""), "3333");
}

TEST_F(StateStoreKubeTest, JunkConfigMapIsAnErrorNotAnEmptyState) {
  const struct {
    const char* what;
    json data;
    const char* problem;
  } cases[] = {
      {"not JSON", {{"state.json", "{not json"}}, "not valid JSON"},
      {"not a state", {{"state.json", R"({"version": 7})"}}, "field 'version' is 7"},
      {"no state key", {{"other", "x"}}, "no data key state.json"},
  };
  for (const auto& junk : cases) {
    ASSERT_NO_FATAL_FAILURE(CreateConfigMap(junk.data)) << junk.what;
    StatusOr<AgentState> loaded = store_->Load();
    ASSERT_FALSE(loaded.ok()) << junk.what;
    EXPECT_EQ(loaded.status().code(), StatusCode::kFailedPrecondition) << junk.what;
    EXPECT_THAT(loaded.status().message(), HasSubstr("configmap default/" + name_)) << junk.what;
    EXPECT_THAT(loaded.status().message(), HasSubstr(junk.problem)) << junk.what;
    EXPECT_THAT(loaded.status().message(), HasSubstr("delete it")) << junk.what;
    ASSERT_TRUE(
        client_->Delete(ResourceKind::kConfigMap, kNamespace, name_, Propagation::kBackground)
            .ok());
  }
}

TEST_F(StateStoreKubeTest, SaveReplacesJunk) {
  ASSERT_NO_FATAL_FAILURE(CreateConfigMap({{"state.json", "{not json"}, {"other", "kept"}}));
  ASSERT_TRUE(store_->Save(SampleState()).ok());
  StatusOr<AgentState> loaded = store_->Load();
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ(Contents(*loaded), Contents(SampleState()));
}

}  // namespace
}  // namespace jobsync
