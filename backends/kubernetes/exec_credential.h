// Exec credential plugins (a kubeconfig's users[].user.exec), run as kubectl runs them: the
// program EKS, GKE and AKS kubeconfigs name (aws eks get-token, gke-gcloud-auth-plugin,
// kubelogin) prints an ExecCredential (client.authentication.k8s.io/v1 or v1beta1) holding a
// token or a client certificate, possibly with an expiry.
//
// How the plugin runs: `command` as resolved when the kubeconfig was read (a command with a '/'
// relative to the kubeconfig's directory; else looked up in $PATH), with `args`, the process
// environment plus `env`, and KUBERNETES_EXEC_INFO holding {apiVersion, kind: ExecCredential,
// spec: {interactive: false}} plus spec.cluster when provideClusterInfo is true. Its stdin is
// /dev/null: jobsync runs unattended, so interactiveMode Never and IfAvailable run
// non-interactively and Always is refused when the kubeconfig is read. It runs in its own process
// group, killed when ExecOptions::timeout passes.
//
// Secrets: the plugin's stdout holds the credential. No message quotes it, whatever it holds;
// messages name the kubeconfig user and the command and quote the plugin's stderr, shortened.
#ifndef JOBSYNC_BACKENDS_KUBERNETES_EXEC_CREDENTIAL_H_
#define JOBSYNC_BACKENDS_KUBERNETES_EXEC_CREDENTIAL_H_

#include <chrono>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "backends/http_client.h"
#include "common/status.h"

namespace jobsync {

// users[].user.exec of a kubeconfig, checked.
struct ExecConfig {
  std::string command;  // absolute when the kubeconfig gave a path; else a name for $PATH
  std::vector<std::string> args;
  std::vector<std::pair<std::string, std::string>> env;  // added to the process environment
  std::string api_version;       // client.authentication.k8s.io/v1 or .../v1beta1
  std::string interactive_mode;  // Never or IfAvailable (Always is refused)
  std::string install_hint;      // shown when the command is not found
  bool provide_cluster_info = false;
  // What the plugin authenticates, for messages: user "<name>" in <kubeconfig file>.
  std::string user;
  std::string kubeconfig;
  // spec.cluster of KUBERNETES_EXEC_INFO when provide_cluster_info (ExecClusterJson).
  nlohmann::json cluster = nlohmann::json::object();
};

// Parses users[<user>].user.exec `exec` of kubeconfig `kubeconfig`; `base` is the directory
// that relative command paths resolve against. Fails with kInvalidArgument naming the file, the
// user and the field: no command, no or an unknown apiVersion, a v1 config without
// interactiveMode, an unknown interactiveMode, interactiveMode Always (jobsync has no terminal),
// env entries without name.
StatusOr<ExecConfig> ParseExecConfig(const nlohmann::json& exec, const std::string& user,
                                     const std::string& kubeconfig, const std::string& base);

// spec.cluster of KUBERNETES_EXEC_INFO, as client-go fills it from the kubeconfig's cluster:
// server, tls-server-name, insecure-skip-tls-verify, certificate-authority-data (base64),
// proxy-url, and config (the cluster's extension "client.authentication.k8s.io/exec").
nlohmann::json ExecClusterJson(const nlohmann::json& cluster, const std::string& ca_pem);

// The credential of one plugin answer and when it expires (nullopt: never).
struct ExecAnswer {
  HttpCredential credential;
  std::optional<std::chrono::system_clock::time_point> expiry;
};

// Parses the plugin's stdout `output` for `config`. Fails with kPermissionDenied when it is not
// a JSON ExecCredential of config.api_version with status.token or both
// status.clientCertificateData and status.clientKeyData, or when expirationTimestamp is not RFC
// 3339. The message never quotes `output`.
StatusOr<ExecAnswer> ParseExecAnswer(std::string_view output, const ExecConfig& config);

// Parses an RFC 3339 time ("2026-12-06T08:00:00Z", "...T08:00:00.5+01:00").
std::optional<std::chrono::system_clock::time_point> ParseRfc3339(std::string_view text);

// How the plugin is run and its answer kept.
struct ExecOptions {
  std::chrono::milliseconds timeout{60000};
  // A credential is renewed this long before its expiry, at most a quarter of its lifetime.
  std::chrono::seconds renew_before{10};
  // The time, for tests; the system clock when empty.
  std::function<std::chrono::system_clock::time_point()> clock;
};

// What one run of the plugin gave: stdout (the credential), stderr, and how it ended.
struct PluginRun {
  std::string out;
  std::string err;
  int exit_code = 0;  // 128 + the signal when it was killed
  bool timed_out = false;
};

// Runs the plugin of `config` once (see the header comment). Fails with kFailedPrecondition when
// the command is not found (naming $PATH and quoting install_hint) or cannot be started.
StatusOr<PluginRun> RunExecPlugin(const ExecConfig& config, std::chrono::milliseconds timeout);

// A CredentialSource that runs an exec plugin when it has no credential, when the last one is
// about to expire, and after a 401 (Invalidate), and keeps the answer otherwise. Thread-safe:
// one plugin runs at a time; concurrent callers wait for its answer.
class ExecCredentialSource : public CredentialSource {
 public:
  ExecCredentialSource(ExecConfig config, ExecOptions options);

  // CredentialSource: fails with kPermissionDenied (the plugin failed or answered badly),
  // kDeadlineExceeded (it ran past the timeout) or kFailedPrecondition (not found).
  StatusOr<HttpCredential> Current() override;
  bool Invalidate(const HttpCredential& rejected) override;
  std::string Describe() const override;

  // How many times the plugin ran; for tests and metrics.
  int runs() const;

 private:
  std::chrono::system_clock::time_point Now() const;
  // Runs the plugin and parses its answer; mutex_ held.
  StatusOr<ExecAnswer> Run();

  const ExecConfig config_;
  const ExecOptions options_;
  mutable std::mutex mutex_;
  std::optional<ExecAnswer> cached_;                  // guarded by mutex_
  std::chrono::system_clock::time_point renew_at_{};  // guarded by mutex_
  int runs_ = 0;                                      // guarded by mutex_
};

}  // namespace jobsync

#endif  // JOBSYNC_BACKENDS_KUBERNETES_EXEC_CREDENTIAL_H_
