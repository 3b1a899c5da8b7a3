// The local cluster for the kube tests of the agent's Kubernetes parts (scripts/cluster up;
// KUBECONFIG from `eval "$(scripts/cluster env)"`). A test that cannot reach it fails, never skips,
// and says how to start it.
#ifndef JOBSYNC_TESTS_BACKENDS_KUBERNETES_KUBE_TEST_UTIL_H_
#define JOBSYNC_TESTS_BACKENDS_KUBERNETES_KUBE_TEST_UTIL_H_

#include <cstdlib>
#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "backends/kubernetes/kubeconfig.h"
#include "backends/kubernetes/kubernetes_backend.h"

namespace jobsync::testing {

inline constexpr const char* kHowToStart =
    "run: scripts/cluster up && eval \"$(scripts/cluster env)\"";

// A client of the cluster $KUBECONFIG names, checked to answer by reading `namespace_name`.
inline ::testing::AssertionResult ConnectTestCluster(const KubernetesClientOptions& options,
                                                     const std::string& namespace_name,
                                                     std::unique_ptr<KubernetesClient>* client) {
  const char* kubeconfig = std::getenv("KUBECONFIG");
  if (kubeconfig == nullptr || *kubeconfig == '\0') {
    return ::testing::AssertionFailure() << "KUBECONFIG is not set; " << kHowToStart;
  }
  StatusOr<KubeCredentials> credentials =
      LoadKubeconfig({kubeconfig, ""}, KubeconfigEnvironment::FromProcess());
  if (!credentials.ok()) {
    return ::testing::AssertionFailure() << credentials.status().ToString() << "; " << kHowToStart;
  }
  StatusOr<std::unique_ptr<KubernetesClient>> made = NewKubernetesClient(*credentials, options);
  if (!made.ok()) return ::testing::AssertionFailure() << made.status().ToString();
  StatusOr<nlohmann::json> ns = (*made)->Get(ResourceKind::kNamespace, "", namespace_name);
  if (!ns.ok()) {
    return ::testing::AssertionFailure()
           << "the kube-apiserver does not answer: " << ns.status().ToString() << "; "
           << kHowToStart;
  }
  *client = std::move(*made);
  return ::testing::AssertionSuccess();
}

}  // namespace jobsync::testing

#endif  // JOBSYNC_TESTS_BACKENDS_KUBERNETES_KUBE_TEST_UTIL_H_
