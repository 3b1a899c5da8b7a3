// The local cluster for the kube tests of the agent's Kubernetes parts (scripts/cluster up;
// KUBECONFIG from `eval "$(scripts/cluster env)"`). A test that cannot reach it fails, never skips,
// and says how to start it.
#ifndef JOBSYNC_TESTS_BACKENDS_KUBERNETES_KUBE_TEST_UTIL_H_
#define JOBSYNC_TESTS_BACKENDS_KUBERNETES_KUBE_TEST_UTIL_H_

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include <gtest/gtest.h>
#include <unistd.h>

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

// Runs a shell command; returns its standard output, or nullopt when it exits non-zero (its
// standard error then goes to `error`, when given). Warnings on standard error are not output.
inline std::optional<std::string> Shell(const std::string& command, std::string* error = nullptr) {
  char error_path[] = "/tmp/jobsync-kube-test-stderr-XXXXXX";
  const int error_file = mkstemp(error_path);
  if (error_file < 0) return std::nullopt;
  close(error_file);
  FILE* pipe = popen((command + " 2>" + error_path).c_str(), "r");
  std::optional<std::string> out;
  if (pipe != nullptr) {
    out.emplace();
    char buffer[4096];
    size_t read = 0;
    while ((read = fread(buffer, 1, sizeof(buffer), pipe)) > 0) out->append(buffer, read);
    if (pclose(pipe) != 0) out.reset();
  }
  if (!out && error != nullptr) {
    std::ifstream in(error_path);
    error->assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  std::remove(error_path);
  return out;
}

// `kubectl ARGUMENTS -o json`, parsed; null when kubectl fails (the object does not exist).
inline nlohmann::json Kubectl(const std::string& arguments) {
  std::optional<std::string> out = Shell("kubectl " + arguments + " -o json");
  if (!out) return nullptr;
  return nlohmann::json::parse(*out, nullptr, false);
}

// Polls `condition` every 250 ms until it holds or `timeout` passed; its last answer.
inline bool Eventually(const std::function<bool()>& condition,
                       std::chrono::seconds timeout = std::chrono::seconds(60)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  return condition();
}

}  // namespace jobsync::testing

#endif  // JOBSYNC_TESTS_BACKENDS_KUBERNETES_KUBE_TEST_UTIL_H_
