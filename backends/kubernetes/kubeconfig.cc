#include "backends/kubernetes/kubeconfig.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

#include <nlohmann/json.hpp>
#include <openssl/evp.h>

#include "schemas/yaml_json.h"
#include "schemas/yaml_reader.h"

namespace jobsync {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

std::string Env(const char* name) {
  const char* value = std::getenv(name);
  return value == nullptr ? std::string() : std::string(value);
}

std::optional<std::string> ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return std::nullopt;
  return text.str();
}

// Decodes standard base64 (the *-data fields), ignoring whitespace.
std::optional<std::string> DecodeBase64(std::string_view text) {
  std::string compact;
  for (char c : text) {
    if (c != '\n' && c != '\r' && c != ' ' && c != '\t') compact.push_back(c);
  }
  if (compact.size() % 4 != 0) return std::nullopt;
  std::string out(compact.size() / 4 * 3, '\0');
  const int written = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                      reinterpret_cast<const unsigned char*>(compact.data()),
                                      static_cast<int>(compact.size()));
  if (written < 0) return std::nullopt;
  size_t size = static_cast<size_t>(written);
  if (!compact.empty() && compact.back() == '=') --size;
  if (compact.size() > 1 && compact[compact.size() - 2] == '=') --size;
  out.resize(size);
  return out;
}

// Finds the entry called `name` in a kubeconfig list (clusters, users, contexts) and returns its
// `inner` object (cluster, user, context).
const json* FindNamed(const json& root, const char* list, const char* inner,
                      const std::string& name) {
  auto it = root.find(list);
  if (it == root.end() || !it->is_array()) return nullptr;
  for (const json& entry : *it) {
    if (!entry.is_object()) continue;
    auto entry_name = entry.find("name");
    if (entry_name == entry.end() || !entry_name->is_string() || *entry_name != name) continue;
    auto value = entry.find(inner);
    if (value != entry.end() && value->is_object()) return &*value;
    static const json kEmpty = json::object();
    return &kEmpty;
  }
  return nullptr;
}

std::string StringField(const json& object, const char* field) {
  auto it = object.find(field);
  if (it == object.end() || !it->is_string()) return "";
  return it->get<std::string>();
}

// Reads a secret given either inline as base64 (`data_field`) or as a file (`file_field`).
// `what` is the YAML location for messages.
Status ReadSecret(const json& object, const char* data_field, const char* file_field,
                  const std::string& what, const fs::path& base, std::string* out) {
  const std::string data = StringField(object, data_field);
  if (!data.empty()) {
    std::optional<std::string> decoded = DecodeBase64(data);
    if (!decoded) return InvalidArgumentError(what + "." + data_field + " is not valid base64");
    *out = std::move(*decoded);
    return OkStatus();
  }
  const std::string file = StringField(object, file_field);
  if (file.empty()) return OkStatus();
  fs::path path(file);
  if (path.is_relative()) path = base / path;
  std::optional<std::string> text = ReadFile(path);
  if (!text) {
    return InvalidArgumentError(what + "." + file_field + ": cannot read \"" + path.string() +
                                "\"");
  }
  *out = std::move(*text);
  return OkStatus();
}

StatusOr<KubeCredentials> InCluster(const KubeconfigEnvironment& environment) {
  const fs::path dir(environment.service_account_dir);
  const std::string where = "in-cluster service account (" + dir.string() + ")";
  std::optional<std::string> token = ReadFile(dir / "token");
  if (!token) return NotFoundError(where + ": cannot read the token file");
  std::optional<std::string> ca = ReadFile(dir / "ca.crt");
  if (!ca) return NotFoundError(where + ": cannot read ca.crt");
  KubeCredentials out;
  std::string host = environment.service_host;
  if (host.find(':') != std::string::npos) host = "[" + host + "]";  // an IPv6 address
  out.http.base_url = "https://" + host + ":" + environment.service_port;
  while (!token->empty() && (token->back() == '\n' || token->back() == '\r')) token->pop_back();
  out.http.bearer_token = std::move(*token);
  out.http.ca_pem = std::move(*ca);
  out.http.ca_hint = "the service account's CA " + (dir / "ca.crt").string() +
                     " does not sign the apiserver's certificate: check the pod's service "
                     "account mount, or pass --kubeconfig";
  std::optional<std::string> ns = ReadFile(dir / "namespace");
  out.default_namespace = ns && !ns->empty() ? *ns : "default";
  out.source = "in-cluster service account";
  return out;
}

}  // namespace

KubeconfigEnvironment KubeconfigEnvironment::FromProcess() {
  KubeconfigEnvironment out;
  out.kubeconfig = Env("KUBECONFIG");
  out.home = Env("HOME");
  out.service_host = Env("KUBERNETES_SERVICE_HOST");
  out.service_port = Env("KUBERNETES_SERVICE_PORT");
  return out;
}

StatusOr<KubeCredentials> ParseKubeconfig(std::string_view text, const std::string& path,
                                          const std::string& context) {
  YamlFile file = ReadYaml(text);
  if (file.error) {
    return InvalidArgumentError(path + ":" + std::to_string(file.error->line) + ":" +
                                std::to_string(file.error->column) + ": " + file.error->message);
  }
  if (file.documents.size() != 1) {
    return InvalidArgumentError(path + ": expected one YAML document in a kubeconfig");
  }
  const json root = YamlToJson(*file.documents.front());
  if (!root.is_object()) return InvalidArgumentError(path + ": a kubeconfig is a mapping");

  KubeCredentials out;
  out.source = path;
  out.context = context.empty() ? StringField(root, "current-context") : context;
  if (out.context.empty()) {
    return InvalidArgumentError(path + ": no current-context is set; pass --context");
  }
  const json* ctx = FindNamed(root, "contexts", "context", out.context);
  if (ctx == nullptr) {
    return InvalidArgumentError(path + ": context \"" + out.context + "\" is not in contexts");
  }
  const std::string cluster_name = StringField(*ctx, "cluster");
  const std::string user_name = StringField(*ctx, "user");
  out.default_namespace = StringField(*ctx, "namespace");
  if (out.default_namespace.empty()) out.default_namespace = "default";
  if (cluster_name.empty()) {
    return InvalidArgumentError(path + ": context \"" + out.context + "\" names no cluster");
  }
  const json* cluster = FindNamed(root, "clusters", "cluster", cluster_name);
  if (cluster == nullptr) {
    return InvalidArgumentError(path + ": cluster \"" + cluster_name + "\" of context \"" +
                                out.context + "\" is not in clusters");
  }
  const std::string cluster_where = path + ": clusters[" + cluster_name + "].cluster";
  out.http.base_url = StringField(*cluster, "server");
  if (out.http.base_url.empty()) return InvalidArgumentError(cluster_where + ".server is missing");
  while (!out.http.base_url.empty() && out.http.base_url.back() == '/') {
    out.http.base_url.pop_back();
  }
  auto insecure = cluster->find("insecure-skip-tls-verify");
  out.http.insecure_skip_tls_verify =
      insecure != cluster->end() && insecure->is_boolean() && insecure->get<bool>();
  const fs::path base = fs::path(path).parent_path();
  JOBSYNC_RETURN_IF_ERROR(ReadSecret(*cluster, "certificate-authority-data",
                                     "certificate-authority", cluster_where, base,
                                     &out.http.ca_pem));
  out.http.ca_hint = "set certificate-authority or certificate-authority-data of cluster \"" +
                     cluster_name + "\" in " + path +
                     " to the CA that signed the apiserver's certificate, or pass --kubeconfig "
                     "with this cluster's kubeconfig";

  if (!user_name.empty()) {
    const json* user = FindNamed(root, "users", "user", user_name);
    if (user == nullptr) {
      return InvalidArgumentError(path + ": user \"" + user_name + "\" of context \"" +
                                  out.context + "\" is not in users");
    }
    const std::string user_where = path + ": users[" + user_name + "].user";
    JOBSYNC_RETURN_IF_ERROR(ReadSecret(*user, "client-certificate-data", "client-certificate",
                                       user_where, base, &out.http.client_cert_pem));
    JOBSYNC_RETURN_IF_ERROR(ReadSecret(*user, "client-key-data", "client-key", user_where, base,
                                       &out.http.client_key_pem));
    if (out.http.client_cert_pem.empty() != out.http.client_key_pem.empty()) {
      return InvalidArgumentError(user_where + ": client-certificate and client-key must be " +
                                  "given together");
    }
    out.http.bearer_token = StringField(*user, "token");
    if (out.http.bearer_token.empty()) {
      std::string token;
      JOBSYNC_RETURN_IF_ERROR(ReadSecret(*user, "", "tokenFile", user_where, base, &token));
      while (!token.empty() && (token.back() == '\n' || token.back() == '\r')) token.pop_back();
      out.http.bearer_token = std::move(token);
    }
  }
  return out;
}

StatusOr<KubeCredentials> LoadKubeconfig(const KubeconfigOptions& options,
                                         const KubeconfigEnvironment& environment) {
  std::string path = options.path;
  bool explicit_path = !path.empty();
  if (path.empty() && !environment.kubeconfig.empty()) {
    path = environment.kubeconfig.substr(0, environment.kubeconfig.find(':'));
    explicit_path = true;
  }
  if (path.empty() && !environment.home.empty()) {
    path = (fs::path(environment.home) / ".kube" / "config").string();
  }
  if (!path.empty()) {
    std::optional<std::string> text = ReadFile(path);
    if (text) return ParseKubeconfig(*text, path, options.context);
    if (explicit_path) return NotFoundError("cannot read kubeconfig \"" + path + "\"");
  }
  if (!environment.service_host.empty() && !environment.service_port.empty()) {
    return InCluster(environment);
  }
  return NotFoundError("no kubeconfig found (looked at --kubeconfig, $KUBECONFIG, " +
                       (path.empty() ? std::string("~/.kube/config") : path) +
                       ") and not running in a cluster (KUBERNETES_SERVICE_HOST is not set)");
}

}  // namespace jobsync
