// The wiring of the agent to the clusters (agent/cli/wiring.h), without a cluster: which backends
// the flags build, and which state store a --state value names. Building sends no request, so a
// kubeconfig naming an unreachable server is enough.
#include "agent/cli/wiring.h"

#include <memory>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "agent/sync/state_store.h"
#include "tests/agent/git/git_test_util.h"

namespace jobsync {
namespace {

using ::testing::HasSubstr;
using testing::TempDir;

// Flags naming a kubeconfig whose cluster is never contacted (port 1), and no Ray.
ClusterFlags KubeOnly(const TempDir& dir) {
  dir.Write("kubeconfig", R"(apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: {server: "https://127.0.0.1:1", insecure-skip-tls-verify: true}
users:
- name: u
  user: {token: not-a-real-token}
contexts:
- name: x
  context: {cluster: c, user: u}
current-context: x
)");
  ClusterFlags flags;
  flags.kubeconfig = (dir.path() / "kubeconfig").string();
  flags.instance = "team-a";
  flags.allow_backends = {"kubernetes"};
  return flags;
}

// Flags under which Kubernetes cannot be built.
ClusterFlags NoKubernetes() {
  ClusterFlags flags;
  flags.kubeconfig = "/nonexistent/kubeconfig";
  flags.allow_backends = {"kubernetes"};
  return flags;
}

TEST(ConnectClustersTest, DoesNotBuildRayOutsideTheAllowlist) {
  ClusterFlags flags;
  flags.kubeconfig = "/nonexistent/kubeconfig";
  flags.ray_address = "http://127.0.0.1:1";
  Clusters clusters = ConnectClusters(flags);
  EXPECT_NE(clusters.ray, nullptr);

  flags.allow_backends = {"kubernetes"};
  clusters = ConnectClusters(flags);
  EXPECT_EQ(clusters.ray, nullptr);
  EXPECT_EQ(clusters.unconfigured.count(BackendKind::kRay), 0u);
  EXPECT_EQ(clusters.unconfigured.count(BackendKind::kKubernetes), 1u);
}

TEST(ConnectClustersTest, HandsOutKubernetesLiveChangesOnlyWhenBuilt) {
  TempDir dir;
  Clusters clusters = ConnectClusters(KubeOnly(dir));
  ASSERT_NE(clusters.kubernetes, nullptr)
      << clusters.unconfigured[BackendKind::kKubernetes].ToString();
  EXPECT_EQ(clusters.live_changes.size(), 1u);
  EXPECT_EQ(clusters.built(), std::vector<Backend*>{clusters.kubernetes.get()});

  clusters = ConnectClusters(NoKubernetes());
  EXPECT_EQ(clusters.kubernetes, nullptr);
  EXPECT_TRUE(clusters.live_changes.empty());
  EXPECT_TRUE(clusters.built().empty());
}

TEST(ConnectClustersTest, BuildsEveryClusterOfTheClustersFile) {
  TempDir dir;
  ClusterFlags flags = KubeOnly(dir);  // writes the kubeconfig
  flags.allow_backends.clear();
  flags.kubeconfig.clear();
  dir.Write("clusters.yaml",
            "clusters:\n- {name: home, default: true, kubeconfig: kubeconfig}\n"
            "- {name: west, kubeconfig: kubeconfig, ray: {address: \"http://127.0.0.1:1\"}}\n"
            "- {name: east, kubeconfig: /nonexistent/kubeconfig}\n");
  flags.clusters_file = (dir.path() / "clusters.yaml").string();
  ASSERT_TRUE(ResolveClusters(flags).ok());
  Clusters clusters = ConnectClusters(flags);
  ASSERT_NE(clusters.kubernetes, nullptr);
  EXPECT_EQ(clusters.ray, nullptr);
  std::vector<Target> built;
  for (Backend* backend : clusters.built()) built.push_back(TargetOf(*backend));
  EXPECT_EQ(built, (std::vector<Target>{Target(BackendKind::kKubernetes),
                                        Target(BackendKind::kKubernetes, "west"),
                                        Target(BackendKind::kRay, "west")}));
  EXPECT_EQ(clusters.live_changes.size(), 2u);
  EXPECT_THAT(clusters.unconfigured[Target(BackendKind::kRay)].message(),
              HasSubstr("cluster home has no ray in the clusters file"));
  EXPECT_EQ(clusters.unconfigured.count(Target(BackendKind::kKubernetes, "east")), 1u);
  EXPECT_EQ(clusters.unconfigured.count(Target(BackendKind::kRay, "east")), 1u);
}

TEST(OpenStateStoreTest, DefaultsToAConfigMapInThePodsNamespaceWhenKubernetesIsBuilt) {
  TempDir dir;
  Clusters clusters = ConnectClusters(KubeOnly(dir));
  StatusOr<std::unique_ptr<StateStore>> store = OpenStateStore("", "team-a", "ml", clusters);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  EXPECT_EQ((*store)->Describe(), "configmap ml/jobsync-team-a-state");
}

TEST(OpenStateStoreTest, DefaultsToTheStateFileOutsideAPodOrWithoutKubernetes) {
  TempDir dir;
  Clusters kube = ConnectClusters(KubeOnly(dir));
  StatusOr<std::unique_ptr<StateStore>> store = OpenStateStore("", "team-a", "", kube);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  EXPECT_EQ((*store)->Describe(), "file " + DefaultStateFile("team-a"));

  Clusters none = ConnectClusters(NoKubernetes());
  store = OpenStateStore("", "team-a", "ml", none);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  EXPECT_EQ((*store)->Describe(), "file " + DefaultStateFile("team-a"));
}

TEST(OpenStateStoreTest, TakesAnExplicitFileOrConfigMap) {
  TempDir dir;
  Clusters clusters = ConnectClusters(KubeOnly(dir));
  StatusOr<std::unique_ptr<StateStore>> store =
      OpenStateStore("/var/lib/jobsync/state.json", "team-a", "ml", clusters);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  EXPECT_EQ((*store)->Describe(), "file /var/lib/jobsync/state.json");
  store = OpenStateStore("configmap:ops/agent-state", "team-a", "ml", clusters);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  EXPECT_EQ((*store)->Describe(), "configmap ops/agent-state");
}

TEST(OpenStateStoreTest, RefusesAMalformedConfigMapSaysHowToWriteIt) {
  TempDir dir;
  Clusters clusters = ConnectClusters(KubeOnly(dir));
  for (const char* state : {"configmap:ops", "configmap:/name", "configmap:ops/"}) {
    StatusOr<std::unique_ptr<StateStore>> store = OpenStateStore(state, "team-a", "", clusters);
    ASSERT_FALSE(store.ok()) << state;
    EXPECT_EQ(store.status().code(), StatusCode::kInvalidArgument) << state;
    EXPECT_THAT(store.status().message(), HasSubstr("use configmap:NAMESPACE/NAME")) << state;
  }
}

TEST(OpenStateStoreTest, AConfigMapWithoutKubernetesSaysWhyKubernetesIsMissing) {
  Clusters clusters = ConnectClusters(NoKubernetes());
  StatusOr<std::unique_ptr<StateStore>> store =
      OpenStateStore("configmap:ops/agent-state", "team-a", "", clusters);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(store.status().message(),
              HasSubstr("--state configmap:ops/agent-state needs a Kubernetes cluster: "));
  EXPECT_THAT(store.status().message(), HasSubstr("/nonexistent/kubeconfig"));
}

TEST(NewElectionTest, NeedsKubernetesForItsLease) {
  Clusters clusters = ConnectClusters(NoKubernetes());
  ElectionSettings settings{"ml", "jobsync-team-a", "replica-1", std::chrono::seconds(15)};
  StatusOr<std::unique_ptr<Election>> election =
      NewElection(NoKubernetes(), clusters, settings, nullptr, nullptr);
  ASSERT_FALSE(election.ok());
  EXPECT_EQ(election.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(election.status().message(),
              HasSubstr("--leader-elect needs a Kubernetes cluster for its Lease: "));
}

TEST(NewElectionTest, BuildsAnElectorAndARelayThatAreNotStarted) {
  TempDir dir;
  const ClusterFlags flags = KubeOnly(dir);
  Clusters clusters = ConnectClusters(flags);
  ElectionSettings settings{"ml", "jobsync-team-a", "replica-1", std::chrono::seconds(15)};
  StatusOr<std::unique_ptr<Election>> election =
      NewElection(flags, clusters, settings, nullptr, nullptr);
  ASSERT_TRUE(election.ok()) << election.status().ToString();
  ASSERT_NE((*election)->elector, nullptr);
  ASSERT_NE((*election)->relay, nullptr);
  EXPECT_FALSE((*election)->elector->is_leader());
  EXPECT_EQ((*election)->elector->holder(), "");
}

}  // namespace
}  // namespace jobsync
