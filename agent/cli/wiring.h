// The one place where the agent meets the concrete clusters. It builds the Kubernetes and Ray
// backends from the flags, and the Kubernetes implementations of the other interfaces the agent
// reaches clusters through: the state store (backends/state_store.h), leader election
// (backends/leader_election.h), the standby's wake relay (backends/wake_relay.h) and live-change
// notifications (backends/live_changes.h). Everything else in the agent sees only those
// interfaces and Backend; no other agent file includes backends/kubernetes/ or backends/ray/
// (scripts/check-layout fails the lint when one does).
#ifndef JOBSYNC_AGENT_CLI_WIRING_H_
#define JOBSYNC_AGENT_CLI_WIRING_H_

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "agent/cli/cluster_flags.h"
#include "agent/sync/clusters.h"
#include "backends/backend.h"
#include "backends/leader_election.h"
#include "backends/live_changes.h"
#include "backends/state_store.h"
#include "backends/wake_relay.h"
#include "common/metrics.h"
#include "common/status.h"
#include "schemas/model.h"
#include "schemas/shared_specs.h"

namespace jobsync {

class KubernetesClient;

// The backends built from the flags. Building sends no request. Not thread-safe to build; the
// backends themselves are as their headers say.
struct Clusters {
  // The default cluster's backends (null when not built); its Kubernetes also holds the state
  // ConfigMap and the Lease.
  std::unique_ptr<Backend> kubernetes;
  std::unique_ptr<Backend> ray;
  // The backends of the other clusters of a clusters file, and for each the OnCluster wrapper
  // that names its cluster (agent/sync/clusters.h), owned here; `placed` are the wrappers.
  std::vector<std::unique_ptr<Backend>> others;
  std::vector<std::unique_ptr<Backend>> placed;
  // Backends that could not be built, and why (not configured, unreadable kubeconfig, ...).
  std::map<Target, Status> unconfigured;
  // Live changes every built Kubernetes backend sees through its watch.
  std::vector<LiveChangeSource*> live_changes;
  // The client the default cluster's Kubernetes backend talks through, for the Kubernetes parts
  // built on the same cluster (OpenStateStore); null when it is not built. Owned by `kubernetes`.
  KubernetesClient* kubernetes_client = nullptr;
  // The desired specs the Kubernetes backends take an applied spec from when it is one of them
  // (schemas/shared_specs.h); the agent offers each snapshot's jobs (ReconcilerOptions).
  std::shared_ptr<SharedSpecs> specs = std::make_shared<SharedSpecs>();

  // The built backends: the default cluster's (Kubernetes first), then the others' wrappers.
  std::vector<Backend*> built() const;
};

// Builds the backends `flags` name: those of each cluster of the clusters file (flags.clusters,
// read by ResolveClusters), else the default cluster of --kubeconfig, --context and --ray-*
// (RAY_ADDRESS and the token's environment variables apply to it). A cluster's Ray is not built
// when the allowlists (--allow-backend, the cluster's allowBackends) leave Ray out (it is not
// contacted at all); a clusters-file cluster without `ray` has none (unconfigured). Kubernetes
// is always built, as the default one also holds the state ConfigMap and the Lease. With exactly
// one allowed namespace (--allow-namespace, or the cluster's allowNamespaces), the cluster's
// Kubernetes backend lists and watches in that namespace only, so a Role there is enough; with
// several, it lists cluster-wide and the planner leaves out those of other namespaces.
// `metrics`, when given, receives the Kubernetes backends' watch restarts; it must outlive the
// backends.
Clusters ConnectClusters(const ClusterFlags& flags, Metrics* metrics = nullptr);

// What every backend of `clusters` runs now (agent/sync/clusters.h).
LiveState ReadLive(const Clusters& clusters);

// The namespace this process runs in as a Kubernetes pod ($POD_NAMESPACE, else the service
// account's mount); empty outside Kubernetes.
std::string PodNamespace();

// Ok when `clusters` has Kubernetes; else kFailedPrecondition "<what>: <why it is not built>".
Status RequireKubernetes(const Clusters& clusters, const std::string& what);

// The state store a --state value names: "configmap:NAMESPACE/NAME" (on the Kubernetes cluster
// of `clusters`), or a file path. Empty: a ConfigMap jobsync-<instance>-state in `pod_namespace`
// when it is not empty and Kubernetes is built (inside Kubernetes disks are not kept), else the
// file DefaultStateFile(instance). Fails with kInvalidArgument for a malformed configmap: value,
// and with kFailedPrecondition (saying why) for a ConfigMap without a Kubernetes cluster. The
// store keeps a reference into `clusters`, which must outlive it.
// Where the state is kept: `state_flag`, else the default OpenStateStore describes.
std::string StateLocation(const std::string& state_flag, const std::string& instance,
                          const std::string& pod_namespace, const Clusters& clusters);

StatusOr<std::unique_ptr<StateStore>> OpenStateStore(const std::string& state,
                                                     const std::string& instance,
                                                     const std::string& pod_namespace,
                                                     const Clusters& clusters);

// Where and as whom a replica campaigns, and how long a dead leader's hold lasts.
struct ElectionSettings {
  std::string namespace_name;  // of the Lease
  std::string lease_name;      // a DNS-1123 subdomain
  std::string identity;        // this replica; unique among the replicas
  std::chrono::milliseconds lease_duration{15000};
  Candidacy candidacy = Candidacy::kPlain;  // sharding: the shard's own replica, or a stand-in
};

// Leader election and the standby's wake relay, over one Lease. Members go in reverse order:
// the relay and the elector stop before the client they use.
struct Election {
  Election();
  ~Election();
  Election(const Election&) = delete;
  Election& operator=(const Election&) = delete;

  std::unique_ptr<KubernetesClient> client;  // the Lease's own, with short request timeouts
  std::unique_ptr<LeaderElector> elector;
  std::unique_ptr<WakeRelay> relay;
};

// Builds the election and relay on the cluster `flags` name (LeaderElector and WakeRelay say
// when `on_change` and `on_wake` are called); neither is started. The Lease gets a client of its
// own whose calls end well within the renew deadline (a fifth of the lease duration), so a hung
// apiserver cannot keep a leader that should have stepped down waiting on a request; the leader
// renews within two thirds of the lease duration and retries every seventh (at least 200ms).
// Fails with kFailedPrecondition when `clusters` has no Kubernetes, and as the kubeconfig fails.
StatusOr<std::unique_ptr<Election>> NewElection(const ClusterFlags& flags, const Clusters& clusters,
                                                const ElectionSettings& settings,
                                                std::function<void(bool)> on_change,
                                                std::function<void(const std::string&)> on_wake);

// The Kubernetes objects jobsync creates for `job` (`jobsync render`); fails as the mapping does.
StatusOr<std::vector<nlohmann::json>> RenderKubernetesObjects(const TrainingJob& job,
                                                              const ApplyContext& context);

}  // namespace jobsync

#endif  // JOBSYNC_AGENT_CLI_WIRING_H_
