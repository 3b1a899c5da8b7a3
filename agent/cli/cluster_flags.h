// The command-line flags that name the clusters a sync talks to, the instance, and the safety
// rules; shared by `plan`, `apply` and `run`.
#ifndef JOBSYNC_AGENT_CLI_CLUSTER_FLAGS_H_
#define JOBSYNC_AGENT_CLI_CLUSTER_FLAGS_H_

#include <optional>
#include <string>
#include <vector>

#include "agent/cli/clusters_file.h"
#include "diff/plan.h"

namespace CLI {
class App;
class Validator;
}  // namespace CLI

namespace jobsync {

// Which clusters, which instance, and the safety rules.
struct ClusterFlags {
  std::string clusters_file;  // --clusters
  // The clusters file once ResolveClusters has read it; nullopt without --clusters.
  std::optional<ClustersFile> clusters;
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
  bool create_namespaces = true;            // --create-namespaces
};

// Registers the flags above on `command` (groups "Clusters" and "Safety").
void AddClusterFlags(CLI::App& command, ClusterFlags& flags);

// Reads --clusters into flags.clusters. Fails when the file cannot be read or is malformed
// (located), and when --kubeconfig, --context or a --ray-* flag comes with it (the file says
// where each cluster is).
Status ResolveClusters(ClusterFlags& flags);

// The name the default cluster is shown by: its name in the clusters file, else "default".
std::string DefaultClusterName(const ClusterFlags& flags);

// The names of the clusters `flags` give, for the loader: those of the clusters file, or only
// the default cluster (no name) without one.
ClusterNames ClusterNamesOf(const ClusterFlags& flags);

// The check of an --instance value: a non-empty Kubernetes label value (it becomes the
// jobsync.dev/instance label of everything the instance creates, and its selector), so that a
// bad name fails at the command line instead of at the apiserver, per object.
CLI::Validator InstanceName();

// The planner's options the flags set (instance, pruning, mass-delete guard, allowlists, those of
// the clusters file included).
PlanOptions ToPlanOptions(const ClusterFlags& flags);

}  // namespace jobsync

#endif  // JOBSYNC_AGENT_CLI_CLUSTER_FLAGS_H_
