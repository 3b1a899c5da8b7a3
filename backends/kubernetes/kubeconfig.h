// Finds and reads Kubernetes client configuration the way kubectl does: kubeconfig files, or
// the in-cluster service account when there is no kubeconfig.
//
// File choice: KubeconfigOptions::path (--kubeconfig, one file that must exist) > $KUBECONFIG >
// ~/.kube/config. $KUBECONFIG is a colon-separated list merged as kubectl merges it: the first file
// to set a cluster, user or context name wins it, and current-context comes from the first file
// that sets one; files of the list that do not exist are skipped, and a list where none exists is
// an error. Relative paths in a file (certificate-authority, client-certificate, client-key,
// tokenFile, and an exec command holding a '/') resolve against that file's directory. When no file
// exists and the process runs in a pod (KUBERNETES_SERVICE_HOST and _PORT set), the service account
// token, CA and namespace are read from /var/run/secrets/kubernetes.io/serviceaccount/.
//
// Credentials: client certificates and static tokens are read at once. tokenFile and the
// in-cluster token become a FileTokenSource (read again every minute, so rotated tokens are
// picked up) and users[].user.exec an ExecCredentialSource (exec_credential.h), both set as
// HttpClientConfig::credentials. auth-provider (removed from kubectl) is refused.
//
// Network: a cluster's proxy-url is its proxy (http:// only); without one, HTTPS_PROXY /
// HTTP_PROXY apply unless NO_PROXY covers the server (proxy.h). tls-server-name sets the name
// the server certificate is checked against (HttpClientConfig::tls_server_name).
//
// Errors name the file and the missing or bad field, never a token, key or certificate.
// All functions are thread-safe; LoadKubeconfig reads files and the environment.
#ifndef JOBSYNC_BACKENDS_KUBERNETES_KUBECONFIG_H_
#define JOBSYNC_BACKENDS_KUBERNETES_KUBECONFIG_H_

#include <string>
#include <string_view>
#include <vector>

#include "backends/http_client.h"
#include "backends/proxy.h"
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
  ProxyEnvironment proxy;  // HTTPS_PROXY, HTTP_PROXY, NO_PROXY

  static KubeconfigEnvironment FromProcess();
};

// Where and how to reach one cluster, with the secrets read into memory. Never log it whole.
struct KubeCredentials {
  HttpClientConfig http;          // server URL, CA, credentials, proxy, TLS server name
  std::string default_namespace;  // the context's namespace, or "default"
  std::string source;             // the files read (":"-separated), or "in-cluster service account"
  std::string context;            // the context used; empty in-cluster
};

// Reads kubeconfig YAML `text` as read from `path` (relative file references are resolved
// against its directory), for `context` (empty: current-context). Fails with kInvalidArgument
// naming `path` and the field when the file is not YAML, the context, cluster or user does not
// exist, the server is missing, a referenced file cannot be read, or a field has a bad value
// (exec, proxy-url, auth-provider). Does not look at proxy environment variables.
StatusOr<KubeCredentials> ParseKubeconfig(std::string_view text, const std::string& path,
                                          const std::string& context);

// One kubeconfig file's path and text, in the order of the $KUBECONFIG list.
struct KubeconfigText {
  std::string path;
  std::string text;
};

// Merges `files` as the header comment says and reads `context` from the result, as
// ParseKubeconfig does for one file. Messages name the file each entry came from.
StatusOr<KubeCredentials> ParseKubeconfigFiles(const std::vector<KubeconfigText>& files,
                                               const std::string& context);

// Chooses the files as the header comment says and parses them, or falls back to the in-cluster
// service account; then applies the environment's proxy when the cluster sets none. Fails with
// kNotFound when neither exists (naming the places looked at), and as ParseKubeconfig otherwise.
StatusOr<KubeCredentials> LoadKubeconfig(const KubeconfigOptions& options,
                                         const KubeconfigEnvironment& environment);

}  // namespace jobsync

#endif  // JOBSYNC_BACKENDS_KUBERNETES_KUBECONFIG_H_
