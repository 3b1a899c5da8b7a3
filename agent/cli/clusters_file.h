// The agent's clusters file (--clusters FILE, or `clusters: FILE` in the agent's configuration):
// the clusters one agent serves, each a Kubernetes cluster (by kubeconfig and context) and
// optionally a shared Ray cluster (by address and token), one of them the default. A manifest
// picks one with spec.cluster; without it the job runs on the default cluster.
//
//   clusters:
//   - name: gpu-east                  # a DNS-1123 label; the default cluster keeps job
//     default: true                   #   identities as without a clusters file
//     kubeconfig: east.kubeconfig     # relative to this file; absent: $KUBECONFIG, ~/.kube/config
//     context: east-admin             # absent: the kubeconfig's current-context
//     ray:                            # absent: no shared Ray cluster here
//       address: https://ray-east.example.com:8265
//       tokenFile: ray-east.token
//       caFile: ray-east-ca.pem
//     allowNamespaces: [team-a]       # per-cluster allowlists, on top of --allow-namespace
//     allowBackends: [kubernetes]     #   and --allow-backend
//   - name: gpu-west
//     kubeconfig: west.kubeconfig
//
// Errors are located ("clusters.yaml:7:11: clusters[0].kubeconfig: ... (hint: ...)").
#ifndef JOBSYNC_AGENT_CLI_CLUSTERS_FILE_H_
#define JOBSYNC_AGENT_CLI_CLUSTERS_FILE_H_

#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "schemas/loader.h"

namespace jobsync {

// One entry of the file, paths made absolute (resolved against the file's directory).
struct ClusterEntry {
  std::string name;
  bool is_default = false;
  std::string kubeconfig;   // empty: the usual lookup
  std::string context;      // empty: current-context
  std::string ray_address;  // empty: no shared Ray cluster
  std::string ray_token_file;
  std::string ray_ca_file;
  std::vector<std::string> allow_namespaces;
  std::vector<std::string> allow_backends;  // "kubernetes", "ray"
};

struct ClustersFile {
  std::vector<ClusterEntry> clusters;  // as written; exactly one is_default

  // The default entry.
  const ClusterEntry& default_cluster() const;
  // The names, for the loader (LoadOptions::clusters).
  ClusterNames Names() const;
};

// Parses `text` as read from `path`. Fails with kInvalidArgument, located: not a mapping with a
// `clusters` list, an unknown key (with a did-you-mean hint), a missing or malformed name, a
// name twice, no default among several clusters or more than one, a malformed allowlist value.
StatusOr<ClustersFile> ParseClustersFile(std::string_view text, const std::string& path);

// Reads and parses the file at `path`; kNotFound when it cannot be read.
StatusOr<ClustersFile> ReadClustersFile(const std::string& path);

}  // namespace jobsync

#endif  // JOBSYNC_AGENT_CLI_CLUSTERS_FILE_H_
