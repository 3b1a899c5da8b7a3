// The clusters a sync talks to, shared by `plan`, `apply` and `run`: the flags that name them,
// connecting to them, and reading their live jobs.
//
// A backend that is configured but cannot be read (its ListJobs fails), or is not configured at
// all (no kubeconfig; no RAY_ADDRESS), is listed in LiveState::unavailable with why; the planner
// (diff/plan.h, "Unavailable backends") holds back every job Git has on it as an error step and
// deletes nothing there, while the other backends proceed.
#ifndef JOBSYNC_AGENT_SYNC_CLUSTERS_H_
#define JOBSYNC_AGENT_SYNC_CLUSTERS_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "agent/git/git_source.h"
#include "backends/backend.h"
#include "backends/kubernetes/kubernetes_backend.h"
#include "common/status.h"
#include "diff/plan.h"
#include "schemas/loader.h"

namespace CLI {
class App;
class Validator;
}  // namespace CLI

namespace jobsync {

// Which clusters, which instance, and the safety rules.
struct ClusterFlags {
  std::string kubeconfig;
  std::string context;
  std::string ray_address;
  std::string ray_token_file;
  std::string ray_ca_file;
  std::string instance = "jobsync";
  bool prune = false;
  bool allow_mass_delete = false;
  double max_delete_share = 0.5;
  // Allowlists: empty allows every namespace / backend. Values are checked by the flags.
  std::vector<std::string> allow_namespaces;
  std::vector<std::string> allow_backends;  // "kubernetes", "ray"
};

// Registers the flags above on `command` (groups "Clusters" and "Safety").
void AddClusterFlags(CLI::App& command, ClusterFlags& flags);

// The check of an --instance value: a non-empty Kubernetes label value (it becomes the
// jobsync.dev/instance label of everything the instance creates, and its selector), so that a
// bad name fails at the command line instead of at the apiserver, per object.
CLI::Validator InstanceName();

PlanOptions ToPlanOptions(const ClusterFlags& flags);

// The backends built from the flags. Building sends no request.
struct Clusters {
  std::unique_ptr<KubernetesBackend> kubernetes;
  std::unique_ptr<Backend> ray;
  // Backends that could not be built, and why (not configured, unreadable kubeconfig, ...).
  std::map<BackendKind, Status> unconfigured;
};

// Builds the backends `flags` name. Ray is not built when --allow-backend leaves it out (it is
// not contacted at all); Kubernetes always is, as it also holds the state ConfigMap and the Lease.
// With exactly one --allow-namespace, the Kubernetes backend lists and watches Jobs in that
// namespace only, so a Role there is enough; with several, it lists them cluster-wide and the
// planner leaves out those of other namespaces.
Clusters ConnectClusters(const ClusterFlags& flags);

// What the clusters run now.
struct LiveState {
  std::map<BackendKind, Backend*> readable;   // backends whose ListJobs succeeded
  std::map<BackendKind, Status> unavailable;  // the others (unconfigured ones included)
  std::vector<LiveJob> jobs;                  // of the readable backends
};

// Lists the jobs of each of `backends`; `unconfigured` start out unavailable.
LiveState ReadLive(const std::vector<Backend*>& backends,
                   const std::map<BackendKind, Status>& unconfigured);
// The same for every backend of `clusters`.
LiveState ReadLive(const Clusters& clusters);

}  // namespace jobsync

#endif  // JOBSYNC_AGENT_SYNC_CLUSTERS_H_
