#include "agent/cli/wiring.h"

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <utility>

#include "agent/sync/state_store.h"
#include "backends/kubernetes/configmap_state_store.h"
#include "backends/kubernetes/kubeconfig.h"
#include "backends/kubernetes/kubernetes_backend.h"
#include "backends/kubernetes/lease_election.h"
#include "backends/kubernetes/lease_wake_relay.h"
#include "backends/kubernetes/mapping.h"
#include "backends/ray/ray_backend.h"

namespace jobsync {
namespace {

constexpr const char* kConfigMapPrefix = "configmap:";

}  // namespace

std::vector<Backend*> Clusters::built() const {
  std::vector<Backend*> backends;
  if (kubernetes) backends.push_back(kubernetes.get());
  if (ray) backends.push_back(ray.get());
  return backends;
}

Clusters ConnectClusters(const ClusterFlags& flags, Metrics* metrics) {
  Clusters clusters;
  const PlanOptions allowlists = ToPlanOptions(flags);
  KubernetesBackendOptions kube_options;
  kube_options.metrics = metrics;
  if (allowlists.allowed_namespaces.size() == 1) {
    kube_options.namespace_name = *allowlists.allowed_namespaces.begin();
  }
  auto kube = KubernetesBackend::FromKubeconfig({flags.kubeconfig, flags.context},
                                                KubeconfigEnvironment::FromProcess(), kube_options);
  if (kube.ok()) {
    clusters.live_changes = kube->get();
    clusters.kubernetes_client = &(*kube)->client();
    clusters.kubernetes = std::move(*kube);
  } else {
    clusters.unconfigured[BackendKind::kKubernetes] = kube.status();
  }
  if (!allowlists.allowed_backends.empty() &&
      allowlists.allowed_backends.count(BackendKind::kRay) == 0) {
    return clusters;
  }
  RayBackendOptions ray_options;
  ray_options.instance = flags.instance;
  Status target = ResolveRayTarget({flags.ray_address, flags.ray_token_file, flags.ray_ca_file},
                                   ProcessEnvironment, &ray_options);
  if (target.ok() && ray_options.address.empty()) {
    target = FailedPreconditionError("no Ray cluster configured: set RAY_ADDRESS or --ray-address");
  }
  if (target.ok()) {
    auto ray = RayBackend::Create(ray_options);
    if (ray.ok()) {
      clusters.ray = std::move(*ray);
    } else {
      target = ray.status();
    }
  }
  if (!target.ok()) clusters.unconfigured[BackendKind::kRay] = target;
  return clusters;
}

LiveState ReadLive(const Clusters& clusters) {
  return ReadLive(clusters.built(), clusters.unconfigured);
}

std::string PodNamespace() {
  if (const char* value = std::getenv("POD_NAMESPACE"); value != nullptr && *value != '\0') {
    return value;
  }
  std::ifstream in("/var/run/secrets/kubernetes.io/serviceaccount/namespace");
  std::string name;
  std::getline(in, name);
  return name;
}

StatusOr<std::unique_ptr<StateStore>> OpenStateStore(const std::string& state_flag,
                                                     const std::string& instance,
                                                     const std::string& pod_namespace,
                                                     const Clusters& clusters) {
  std::string state = state_flag;
  if (state.empty() && !pod_namespace.empty() && clusters.kubernetes_client != nullptr) {
    state = std::string(kConfigMapPrefix) + pod_namespace + "/jobsync-" + instance + "-state";
  }
  if (state.rfind(kConfigMapPrefix, 0) != 0) {
    return NewFileStateStore(state.empty() ? DefaultStateFile(instance) : state);
  }
  const std::string where = state.substr(std::string(kConfigMapPrefix).size());
  const size_t slash = where.find('/');
  if (slash == std::string::npos || slash == 0 || slash + 1 == where.size()) {
    return InvalidArgumentError("--state " + state + ": use configmap:NAMESPACE/NAME");
  }
  JOBSYNC_RETURN_IF_ERROR(
      RequireKubernetes(clusters, "--state " + state + " needs a Kubernetes cluster"));
  return NewConfigMapStateStore(*clusters.kubernetes_client, where.substr(0, slash),
                                where.substr(slash + 1));
}

Status RequireKubernetes(const Clusters& clusters, const std::string& what) {
  if (clusters.kubernetes_client != nullptr) return OkStatus();
  auto why = clusters.unconfigured.find(BackendKind::kKubernetes);
  return FailedPreconditionError(
      what + ": " +
      (why != clusters.unconfigured.end() ? why->second.message() : "none is configured"));
}

Election::Election() = default;
Election::~Election() = default;

StatusOr<std::unique_ptr<Election>> NewElection(const ClusterFlags& flags, const Clusters& clusters,
                                                const ElectionSettings& settings,
                                                std::function<void(bool)> on_change,
                                                std::function<void(const std::string&)> on_wake) {
  JOBSYNC_RETURN_IF_ERROR(
      RequireKubernetes(clusters, "--leader-elect needs a Kubernetes cluster for its Lease"));
  KubernetesClientOptions lease_options;
  lease_options.request_timeout = settings.lease_duration / 5;
  lease_options.retry.max_attempts = 2;
  StatusOr<KubeCredentials> credentials =
      LoadKubeconfig({flags.kubeconfig, flags.context}, KubeconfigEnvironment::FromProcess());
  if (!credentials.ok()) return credentials.status();
  StatusOr<std::unique_ptr<KubernetesClient>> client =
      NewKubernetesClient(std::move(*credentials), lease_options);
  if (!client.ok()) return client.status();
  auto election = std::make_unique<Election>();
  election->client = std::move(*client);
  LeaderElectionOptions options;
  options.namespace_name = settings.namespace_name;
  options.lease_name = settings.lease_name;
  options.identity = settings.identity;
  options.lease_duration = settings.lease_duration;
  options.renew_deadline = settings.lease_duration * 2 / 3;
  options.retry_period = std::max(std::chrono::milliseconds(200), settings.lease_duration / 7);
  election->elector =
      std::make_unique<LeaseElector>(*election->client, options, std::move(on_change));
  election->relay =
      std::make_unique<LeaseWakeRelay>(*election->client, settings.namespace_name,
                                       settings.lease_name, settings.identity, std::move(on_wake));
  return election;
}

StatusOr<std::vector<nlohmann::json>> RenderKubernetesObjects(const TrainingJob& job,
                                                              const ApplyContext& context) {
  return RenderObjects(job, context);
}

}  // namespace jobsync
