// Finds and reads Kubernetes client configuration the way kubectl does: a kubeconfig file, or
// the in-cluster service account when there is no kubeconfig.
//
// File choice: KubeconfigOptions::path (--kubeconfig) > $KUBECONFIG > ~/.kube/config. kubectl
// merges every file of a colon-separated $KUBECONFIG; jobsync reads only the first one, which is
// enough for the usual single-file setups. When none of them exists and the process runs in a pod
// (KUBERNETES_SERVICE_HOST and _PORT set), the service account token, CA and namespace are read
// from /var/run/secrets/kubernetes.io/serviceaccount/.
//
// Errors name the file and the missing or bad field, never a token, key or certificate.
// All functions are thread-safe; LoadKubeconfig reads files and the environment.
#ifndef JOBSYNC_BACKENDS_KUBERNETES_KUBECONFIG_H_
#define JOBSYNC_BACKENDS_KUBERNETES_KUBECONFIG_H_

#include <string>
#include <string_view>

#include "backends/http_client.h"
#include "common/status.h"

namespace jobsync {

// The user's choices on the command line.
struct KubeconfigOptions {
  std::string path;     // --kubeconfig; empty: look it up
  std::string context;  // --context; empty: the file's current-context
};

// The parts of the process environment kubeconfig lookup depends on; FromProcess reads them.
struct KubeconfigEnvironment {
  std::string kubeconfig;    // $KUBECONFIG
  std::string home;          // $HOME
  std::string service_host;  // $KUBERNETES_SERVICE_HOST
  std::string service_port;  // $KUBERNETES_SERVICE_PORT
  std::string service_account_dir = "/var/run/secrets/kubernetes.io/serviceaccount";

  static KubeconfigEnvironment FromProcess();
};

// Where and how to reach one cluster, with the secrets read into memory. Never log it whole.
struct KubeCredentials {
  HttpClientConfig http;          // server URL, CA, client identity, token, insecure flag
  std::string default_namespace;  // the context's namespace, or "default"
  std::string source;             // the file read, or "in-cluster service account"
  std::string context;            // the context used; empty in-cluster
};

// Reads kubeconfig YAML `text` as read from `path` (relative file references are resolved
// against its directory), for `context` (empty: current-context). Fails with kInvalidArgument
// naming `path` and the field when the file is not YAML, the context, cluster or user does not
// exist, the server is missing, or a referenced file cannot be read.
StatusOr<KubeCredentials> ParseKubeconfig(std::string_view text, const std::string& path,
                                          const std::string& context);

// Chooses the file as the header comment says and parses it, or falls back to the in-cluster
// service account. Fails with kNotFound when neither exists (naming the places looked at), and
// as ParseKubeconfig otherwise.
StatusOr<KubeCredentials> LoadKubeconfig(const KubeconfigOptions& options,
                                         const KubeconfigEnvironment& environment);

}  // namespace jobsync

#endif  // JOBSYNC_BACKENDS_KUBERNETES_KUBECONFIG_H_
