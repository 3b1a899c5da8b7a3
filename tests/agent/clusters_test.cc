#include "agent/sync/clusters.h"

#include <memory>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace jobsync {
namespace {

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

}  // namespace
}  // namespace jobsync
