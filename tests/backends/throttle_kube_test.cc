// The adaptive in-flight limit (adaptive_limit.h) against the real local kube-apiserver's API
// Priority and Fairness: a FlowSchema sends the requests of the test's own ServiceAccount to a
// PriorityLevelConfiguration of one nominal share (a few seats), nothing to borrow, that rejects
// what it cannot seat (limitResponse Reject: HTTP 429 at once). 48 threads then create ConfigMaps
// through one KubernetesClient, as the executor's workers create jobs: every object must arrive,
// the client must have been answered 429 and have cut its limit. Needs `scripts/cluster up &&
// eval "$(scripts/cluster env)"`; fails, never skips, without it. The namespace, FlowSchema and
// PriorityLevelConfiguration are named scalepeer-throttle-<pid> and deleted after.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include "backends/kubernetes/client.h"
#include "backends/kubernetes/kubernetes_backend.h"
#include "common/metrics.h"
#include "tests/backends/kubernetes/kube_test_util.h"
#include "tests/test_secrets.h"

namespace jobsync {
namespace {

using ::jobsync::testing::Eventually;
using ::jobsync::testing::kHowToStart;
using ::jobsync::testing::Kubectl;
using ::jobsync::testing::Shell;
using json = nlohmann::json;

constexpr int kThreads = 48;
constexpr int kObjects = 480;

// The APF objects: one nominal share of the server's seats (about 3 of 600), none lent or
// borrowed, and a 429 for whatever finds no seat.
std::string FlowControlYaml(const std::string& name, const std::string& ns) {
  return "apiVersion: flowcontrol.apiserver.k8s.io/v1\n"
         "kind: PriorityLevelConfiguration\n"
         "metadata: {name: " +
         name +
         "}\n"
         "spec:\n"
         "  type: Limited\n"
         "  limited:\n"
         "    nominalConcurrencyShares: 1\n"
         "    lendablePercent: 0\n"
         "    borrowingLimitPercent: 0\n"
         "    limitResponse: {type: Reject}\n"
         "---\n"
         "apiVersion: flowcontrol.apiserver.k8s.io/v1\n"
         "kind: FlowSchema\n"
         "metadata: {name: " +
         name +
         "}\n"
         "spec:\n"
         "  matchingPrecedence: 500\n"
         "  priorityLevelConfiguration: {name: " +
         name +
         "}\n"
         "  distinguisherMethod: {type: ByUser}\n"
         "  rules:\n"
         "  - subjects:\n"
         "    - kind: ServiceAccount\n"
         "      serviceAccount: {name: throttled, namespace: " +
         ns +
         "}\n"
         "    resourceRules:\n"
         "    - {verbs: [\"*\"], apiGroups: [\"*\"], resources: [\"*\"], namespaces: [\"*\"]}\n";
}

// The apiserver's count of requests it rejected at priority level `name`, from its APF debug
// dump (columns: PriorityLevelName, ..., RejectedRequests as the 8th); nullopt when the level
// is not (yet) in the dump.
std::optional<long> RejectedAtLevel(const std::string& name) {
  std::optional<std::string> dump =
      Shell("kubectl get --raw /debug/api_priority_and_fairness/dump_priority_levels");
  if (!dump) return std::nullopt;
  size_t at = dump->find("\n" + name + ",");
  if (at == std::string::npos) return std::nullopt;
  std::string line = dump->substr(at + 1, dump->find('\n', at + 1) - at - 1);
  std::vector<std::string> columns;
  for (size_t start = 0, comma = 0; comma != std::string::npos; start = comma + 1) {
    comma = line.find(',', start);
    columns.push_back(line.substr(start, comma - start));
  }
  if (columns.size() < 8) return std::nullopt;
  return std::strtol(columns[7].c_str(), nullptr, 10);
}

class ThrottleKubeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* kubeconfig = std::getenv("KUBECONFIG");
    ASSERT_TRUE(kubeconfig != nullptr && *kubeconfig != '\0')
        << "KUBECONFIG is not set; " << kHowToStart;
    StatusOr<KubeCredentials> admin = LoadKubeconfig({kubeconfig, ""}, {});
    ASSERT_TRUE(admin.ok()) << admin.status().ToString() << "; " << kHowToStart;
    credentials_ = *admin;
    const std::string ns = name_;
    std::string error;
    ASSERT_TRUE(Shell("kubectl create namespace " + ns, &error)) << error << "; " << kHowToStart;
    created_ = true;
    ASSERT_TRUE(Shell("kubectl -n " + ns + " create serviceaccount throttled", &error)) << error;
    ASSERT_TRUE(Shell(
        "kubectl -n " + ns + " create role throttled --verb=create,get,list --resource=configmaps",
        &error))
        << error;
    ASSERT_TRUE(Shell("kubectl -n " + ns +
                          " create rolebinding throttled --role=throttled --serviceaccount=" + ns +
                          ":throttled",
                      &error))
        << error;
    std::optional<std::string> token =
        Shell("kubectl -n " + ns + " create token throttled --duration=10m", &error);
    ASSERT_TRUE(token) << error;
    while (!token->empty() && token->back() == '\n') token->pop_back();
    testing::RegisterTestSecret("throttle_kube_test service account token", *token);
    // The ServiceAccount's identity instead of the kubeconfig's (system:masters is exempt
    // from APF: it is never throttled).
    credentials_.http.client_cert_pem.clear();
    credentials_.http.client_key_pem.clear();
    credentials_.http.credentials = nullptr;
    credentials_.http.bearer_token = *token;
    ASSERT_TRUE(
        Shell("printf '%s' '" + FlowControlYaml(name_, ns) + "' | kubectl apply -f -", &error))
        << error << " (the apiserver must serve flowcontrol.apiserver.k8s.io/v1: API Priority "
        << "and Fairness on, as it is by default)";
    // The apiserver's APF controller picks the new level up within moments.
    ASSERT_TRUE(
        Eventually([&] { return RejectedAtLevel(name_).has_value(); }, std::chrono::seconds(30)))
        << "priority level " << name_ << " never appeared in the apiserver's APF dump";
  }

  void TearDown() override {
    Shell("kubectl delete flowschema " + name_ + " --ignore-not-found");
    Shell("kubectl delete prioritylevelconfiguration " + name_ + " --ignore-not-found");
    if (created_) Shell("kubectl delete namespace " + name_ + " --wait=false");
  }

  const std::string name_ = "scalepeer-throttle-" + std::to_string(getpid());
  KubeCredentials credentials_;
  bool created_ = false;
};

TEST_F(ThrottleKubeTest, ConcurrentCreatesBackOffOnTooManyRequestsAndLoseNothing) {
  Metrics metrics;
  KubernetesClientOptions options;
  options.concurrency.initial = 32;
  options.concurrency.ceiling = 64;
  options.metrics = &metrics;
  options.server = credentials_.http.base_url;
  StatusOr<std::unique_ptr<KubernetesClient>> made = NewKubernetesClient(credentials_, options);
  ASSERT_TRUE(made.ok()) << made.status().ToString();
  KubernetesClient& client = **made;
  const MetricLabels labels = {{"server", options.server}};
  const long rejected_before = RejectedAtLevel(name_).value_or(0);

  std::atomic<int> next{0};
  std::atomic<bool> done{false};
  std::mutex failures_mutex;
  std::vector<std::string> failures;
  auto worker = [&] {
    for (int i = next++; i < kObjects; i = next++) {
      json object = {{"metadata", {{"name", "cm-" + std::to_string(i)}}},
                     {"data", {{"index", std::to_string(i)}}}};
      StatusOr<json> created = client.Create(ResourceKind::kConfigMap, name_, object);
      if (!created.ok()) {
        std::lock_guard<std::mutex> lock(failures_mutex);
        failures.push_back(created.status().ToString());
      }
    }
  };
  // The gauge, sampled while the creates run: its lowest value.
  double lowest = metrics.Value(kInflightLimitMetric, labels);
  std::thread sampler([&] {
    while (!done) {
      lowest = std::min(lowest, metrics.Value(kInflightLimitMetric, labels));
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  });
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) threads.emplace_back(worker);
  for (std::thread& thread : threads) thread.join();
  done = true;
  sampler.join();

  EXPECT_THAT(failures, ::testing::IsEmpty()) << failures.size() << " creates failed";
  json listed = Kubectl("-n " + name_ + " get configmaps -l '!kubernetes.io/description'");
  ASSERT_TRUE(listed.is_object()) << "kubectl get configmaps failed";
  int ours = 0;
  for (const json& item : listed["items"]) {
    ours += item["metadata"]["name"].get<std::string>().rfind("cm-", 0) == 0;
  }
  EXPECT_EQ(ours, kObjects) << "every ConfigMap created, none lost";
  const double throttled = metrics.Value(kThrottledMetric, labels);
  EXPECT_GT(throttled, 0) << "the apiserver never answered 429: is the FlowSchema in effect?";
  EXPECT_EQ(throttled, static_cast<double>(client.throttled()));
  EXPECT_GT(RejectedAtLevel(name_).value_or(0), rejected_before)
      << "the apiserver's own count of rejections at " << name_;
  EXPECT_LT(lowest, 32) << "the limit was never cut below its start";
  EXPECT_GE(lowest, 1);
  std::cout << "429 answers: " << throttled << ", lowest limit: " << lowest
            << ", limit at the end: " << client.inflight_limit() << "\n";
}

}  // namespace
}  // namespace jobsync
