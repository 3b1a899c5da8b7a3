#include "agent/cli/wiring.h"

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <set>
#include <thread>
#include <utility>

#include "agent/cli/logs_wiring.h"
#include "agent/sync/state_store.h"
#include "backends/kubernetes/configmap_state_store.h"
#include "backends/kubernetes/kubeconfig.h"
#include "backends/kubernetes/kubernetes_backend.h"
#include "backends/kubernetes/lease_election.h"
#include "backends/kubernetes/lease_wake_relay.h"
#include "backends/kubernetes/mapping.h"
#include "backends/kubernetes/pod_logs.h"
#include "backends/ray/ray_backend.h"
#include "backends/ray/ray_logs.h"

namespace jobsync {
namespace {

constexpr const char* kConfigMapPrefix = "configmap:";

}  // namespace

std::vector<Backend*> Clusters::built() const {
  std::vector<Backend*> backends;
  if (kubernetes) backends.push_back(kubernetes.get());
  if (ray) backends.push_back(ray.get());
  for (const std::unique_ptr<Backend>& backend : placed) backends.push_back(backend.get());
  return backends;
}

namespace {

// Where one cluster is and what of it may be used.
struct ClusterPlace {
  std::string name;   // empty: the default cluster
  std::string shown;  // its name in the clusters file, for messages
  KubeconfigOptions kubeconfig;
  RayTargetFlags ray;
  bool has_ray = true;               // false: a clusters-file cluster without `ray`
  std::set<std::string> namespaces;  // allowed; empty: every one
  bool create_namespaces = true;     // --create-namespaces
  bool ray_allowed = true;
};

// The backends of one cluster, and why those not built are not.
struct BuiltCluster {
  std::unique_ptr<KubernetesBackend> kubernetes;
  std::unique_ptr<Backend> ray;
  std::map<BackendKind, Status> unconfigured;
};

BuiltCluster BuildCluster(const ClusterPlace& place, const std::string& instance, Metrics* metrics,
                          std::shared_ptr<const SharedSpecs> specs) {
  BuiltCluster built;
  KubernetesBackendOptions kube_options;
  kube_options.shared_specs = std::move(specs);
  kube_options.metrics = metrics;
  kube_options.instance = instance;
  kube_options.namespaces.assign(place.namespaces.begin(), place.namespaces.end());
  kube_options.create_namespaces = place.create_namespaces;
  auto kube = KubernetesBackend::FromKubeconfig(place.kubeconfig,
                                                KubeconfigEnvironment::FromProcess(), kube_options);
  if (kube.ok()) {
    built.kubernetes = std::move(*kube);
  } else {
    built.unconfigured[BackendKind::kKubernetes] = kube.status();
  }
  if (!place.ray_allowed) return built;
  if (!place.has_ray) {
    built.unconfigured[BackendKind::kRay] = FailedPreconditionError(
        "cluster " + place.shown + " has no ray in the clusters file: add ray.address there");
    return built;
  }
  RayBackendOptions ray_options;
  ray_options.instance = instance;
  Status target = ResolveRayTarget(place.ray, ProcessEnvironment, &ray_options);
  if (target.ok() && ray_options.address.empty()) {
    target = FailedPreconditionError("no Ray cluster configured: set RAY_ADDRESS or --ray-address");
  }
  if (target.ok()) {
    auto ray = RayBackend::Create(ray_options);
    if (ray.ok()) {
      built.ray = std::move(*ray);
    } else {
      target = ray.status();
    }
  }
  if (!target.ok()) built.unconfigured[BackendKind::kRay] = target;
  return built;
}

// The clusters `flags` name, the default one first.
std::vector<ClusterPlace> PlacesOf(const ClusterFlags& flags) {
  const PlanOptions options = ToPlanOptions(flags);
  auto ray_allowed = [&](const std::set<BackendKind>& own) {
    return (options.allowed_backends.empty() ||
            options.allowed_backends.count(BackendKind::kRay)) &&
           (own.empty() || own.count(BackendKind::kRay));
  };
  // The namespaces both the flags and the cluster's own list allow (one list when the other is
  // empty; an empty intersection lists nothing but the allowed, which is then none).
  auto namespaces = [&](const std::set<std::string>& own) {
    if (options.allowed_namespaces.empty()) return own;
    if (own.empty()) return options.allowed_namespaces;
    std::set<std::string> both;
    std::set_intersection(own.begin(), own.end(), options.allowed_namespaces.begin(),
                          options.allowed_namespaces.end(), std::inserter(both, both.end()));
    return both;
  };
  std::vector<ClusterPlace> places;
  if (!flags.clusters) {
    ClusterPlace place;
    place.kubeconfig = {flags.kubeconfig, flags.context};
    place.ray = {flags.ray_address, flags.ray_token_file, flags.ray_ca_file};
    place.namespaces = namespaces({});
    place.create_namespaces = flags.create_namespaces;
    place.ray_allowed = ray_allowed({});
    places.push_back(std::move(place));
    return places;
  }
  for (const ClusterEntry& entry : flags.clusters->clusters) {
    ClusterPlace place;
    place.name = entry.is_default ? "" : entry.name;
    place.shown = entry.name;
    place.kubeconfig = {entry.kubeconfig, entry.context};
    place.ray = {entry.ray_address, entry.ray_token_file, entry.ray_ca_file};
    place.has_ray = !entry.ray_address.empty();
    const auto own = options.cluster_allowlists.find(place.name);
    const PlanOptions::Allowlist none;
    const PlanOptions::Allowlist& allow =
        own != options.cluster_allowlists.end() ? own->second : none;
    place.namespaces = namespaces(allow.namespaces);
    place.create_namespaces = flags.create_namespaces;
    place.ray_allowed = ray_allowed(allow.backends);
    if (entry.is_default) {
      places.insert(places.begin(), std::move(place));
    } else {
      places.push_back(std::move(place));
    }
  }
  return places;
}

// The kubeconfig of the default cluster.
KubeconfigOptions DefaultKubeconfig(const ClusterFlags& flags) {
  if (!flags.clusters) return {flags.kubeconfig, flags.context};
  const ClusterEntry& entry = flags.clusters->default_cluster();
  return {entry.kubeconfig, entry.context};
}

}  // namespace

Clusters ConnectClusters(const ClusterFlags& flags, Metrics* metrics) {
  Clusters clusters;
  for (const ClusterPlace& place : PlacesOf(flags)) {
    BuiltCluster built = BuildCluster(place, flags.instance, metrics, clusters.specs);
    for (const auto& [kind, why] : built.unconfigured) {
      clusters.unconfigured[Target(kind, place.name)] = why;
    }
    if (built.kubernetes) clusters.live_changes.push_back(built.kubernetes.get());
    if (place.name.empty()) {
      if (built.kubernetes) clusters.kubernetes_client = &built.kubernetes->client();
      clusters.kubernetes = std::move(built.kubernetes);
      clusters.ray = std::move(built.ray);
      continue;
    }
    if (built.kubernetes) {
      clusters.others.push_back(std::move(built.kubernetes));
      clusters.placed.push_back(std::make_unique<OnCluster>(*clusters.others.back(), place.name));
    }
    if (built.ray) {
      clusters.others.push_back(std::move(built.ray));
      clusters.placed.push_back(std::make_unique<OnCluster>(*clusters.others.back(), place.name));
    }
  }
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

std::string StateLocation(const std::string& state_flag, const std::string& instance,
                          const std::string& pod_namespace, const Clusters& clusters) {
  if (!state_flag.empty()) return state_flag;
  if (!pod_namespace.empty() && clusters.kubernetes_client != nullptr) {
    return std::string(kConfigMapPrefix) + pod_namespace + "/jobsync-" + instance + "-state";
  }
  return DefaultStateFile(instance);
}

StatusOr<std::unique_ptr<StateStore>> OpenStateStore(const std::string& state_flag,
                                                     const std::string& instance,
                                                     const std::string& pod_namespace,
                                                     const Clusters& clusters) {
  const std::string state = StateLocation(state_flag, instance, pod_namespace, clusters);
  if (state.rfind(kConfigMapPrefix, 0) != 0) return NewFileStateStore(state);
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
  auto why = clusters.unconfigured.find(Target(BackendKind::kKubernetes));
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
  lease_options.retry.max_throttled = 1;  // a throttled renewal must not outlast the renew deadline
  StatusOr<KubeCredentials> credentials =
      LoadKubeconfig(DefaultKubeconfig(flags), KubeconfigEnvironment::FromProcess());
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
  options.candidacy = settings.candidacy;
  options.renew_deadline = settings.lease_duration * 2 / 3;
  options.retry_period = std::max(std::chrono::milliseconds(200), settings.lease_duration / 7);
  election->elector =
      std::make_unique<LeaseElector>(*election->client, options, std::move(on_change));
  election->relay =
      std::make_unique<LeaseWakeRelay>(*election->client, settings.namespace_name,
                                       settings.lease_name, settings.identity, std::move(on_wake));
  return election;
}

StatusOr<std::unique_ptr<JobLogReader>> OpenJobLogs(const ClusterFlags& flags,
                                                    const TrainingJob& job) {
  const std::vector<ClusterPlace> places = PlacesOf(flags);
  auto place = std::find_if(places.begin(), places.end(),
                            [&](const ClusterPlace& p) { return p.name == job.cluster; });
  if (place == places.end()) {
    return FailedPreconditionError("job " + job.key().ToString() + " runs on cluster " +
                                   job.cluster + ", which " +
                                   (flags.clusters ? "the clusters file (--clusters) does not name"
                                                   : "only a clusters file (--clusters) names"));
  }
  if (job.backend == BackendKind::kKubernetes) {
    StatusOr<KubeCredentials> credentials =
        LoadKubeconfig(place->kubeconfig, KubeconfigEnvironment::FromProcess());
    if (!credentials.ok()) return credentials.status();
    StatusOr<std::unique_ptr<KubernetesClient>> client =
        NewKubernetesClient(std::move(*credentials), KubernetesClientOptions{});
    if (!client.ok()) return client.status();
    return std::unique_ptr<JobLogReader>(std::make_unique<KubernetesJobLogs>(std::move(*client)));
  }
  if (!place->has_ray) {
    return FailedPreconditionError("cluster " + place->shown +
                                   " has no ray in the clusters file: add ray.address there");
  }
  RayBackendOptions options;
  options.instance = flags.instance;
  JOBSYNC_RETURN_IF_ERROR(ResolveRayTarget(place->ray, ProcessEnvironment, &options));
  if (options.address.empty()) {
    return FailedPreconditionError("no Ray cluster configured: set RAY_ADDRESS or --ray-address");
  }
  StatusOr<std::unique_ptr<RayBackend>> ray = RayBackend::Create(options);
  if (!ray.ok()) return ray.status();
  return std::unique_ptr<JobLogReader>(std::make_unique<RayJobLogs>(
      std::move(*ray), std::chrono::seconds(1),
      [](std::chrono::milliseconds delay) { std::this_thread::sleep_for(delay); }));
}

StatusOr<std::vector<nlohmann::json>> RenderKubernetesObjects(const TrainingJob& job,
                                                              const ApplyContext& context) {
  return RenderObjects(job, context);
}

}  // namespace jobsync
