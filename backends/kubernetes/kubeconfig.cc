#include "backends/kubernetes/kubeconfig.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>

#include <nlohmann/json.hpp>
#include <openssl/evp.h>

#include "backends/kubernetes/exec_credential.h"
#include "backends/kubernetes/token_file.h"
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
  auto token =
      std::make_shared<FileTokenSource>((dir / "token").string(), "the " + where + " token file");
  if (!token->Current().ok()) return NotFoundError(where + ": cannot read the token file");
  std::optional<std::string> ca = ReadFile(dir / "ca.crt");
  if (!ca) return NotFoundError(where + ": cannot read ca.crt");
  KubeCredentials out;
  std::string host = environment.service_host;
  if (host.find(':') != std::string::npos) host = "[" + host + "]";  // an IPv6 address
  out.http.base_url = "https://" + host + ":" + environment.service_port;
  out.http.credentials = std::move(token);
  out.http.ca_pem = std::move(*ca);
  out.http.ca_hint = "the service account's CA " + (dir / "ca.crt").string() +
                     " does not sign the apiserver's certificate: check the pod's service "
                     "account mount, or pass --kubeconfig";
  std::optional<std::string> ns = ReadFile(dir / "namespace");
  out.default_namespace = ns && !ns->empty() ? *ns : "default";
  out.source = "in-cluster service account";
  return out;
}

// A cluster, user or context entry of the merged configuration and the file it came from.
struct Entry {
  json value;  // the inner object: cluster, user or context
  std::string file;
};

// The kubeconfig files merged as kubectl merges them (header comment).
struct Merged {
  std::map<std::string, Entry> clusters, users, contexts;
  std::string current_context;
  std::string files;  // the files read, ":"-separated, for messages
};

// Adds the entries of `root` (from `file`) that `merged` does not have yet.
void MergeList(const json& root, const char* list, const char* inner, const std::string& file,
               std::map<std::string, Entry>* into) {
  auto it = root.find(list);
  if (it == root.end() || !it->is_array()) return;
  for (const json& entry : *it) {
    if (!entry.is_object()) continue;
    const std::string name = StringField(entry, "name");
    if (name.empty() || into->count(name) != 0) continue;
    auto value = entry.find(inner);
    (*into)[name] =
        Entry{value != entry.end() && value->is_object() ? *value : json::object(), file};
  }
}

Status MergeFile(const KubeconfigText& file, Merged* merged) {
  YamlFile yaml = ReadYaml(file.text);
  if (yaml.error) {
    return InvalidArgumentError(file.path + ":" + std::to_string(yaml.error->line) + ":" +
                                std::to_string(yaml.error->column) + ": " + yaml.error->message);
  }
  // An empty file is an empty configuration, as kubectl reads it.
  if (yaml.documents.empty()) return OkStatus();
  if (yaml.documents.size() != 1) {
    return InvalidArgumentError(file.path + ": expected one YAML document in a kubeconfig");
  }
  const json root = YamlToJson(*yaml.documents.front());
  if (root.is_null()) return OkStatus();
  if (!root.is_object()) return InvalidArgumentError(file.path + ": a kubeconfig is a mapping");
  MergeList(root, "clusters", "cluster", file.path, &merged->clusters);
  MergeList(root, "users", "user", file.path, &merged->users);
  MergeList(root, "contexts", "context", file.path, &merged->contexts);
  if (merged->current_context.empty()) {
    merged->current_context = StringField(root, "current-context");
  }
  return OkStatus();
}

std::string DirectoryOf(const std::string& file) { return fs::path(file).parent_path().string(); }

// Fills out->http's server, TLS and proxy settings from cluster `name`.
Status ReadCluster(const std::string& name, const Entry& cluster, KubeCredentials* out) {
  const std::string where = cluster.file + ": clusters[" + name + "].cluster";
  out->http.base_url = StringField(cluster.value, "server");
  if (out->http.base_url.empty()) return InvalidArgumentError(where + ".server is missing");
  while (!out->http.base_url.empty() && out->http.base_url.back() == '/') {
    out->http.base_url.pop_back();
  }
  auto insecure = cluster.value.find("insecure-skip-tls-verify");
  out->http.insecure_skip_tls_verify =
      insecure != cluster.value.end() && insecure->is_boolean() && insecure->get<bool>();
  JOBSYNC_RETURN_IF_ERROR(ReadSecret(cluster.value, "certificate-authority-data",
                                     "certificate-authority", where, DirectoryOf(cluster.file),
                                     &out->http.ca_pem));
  out->http.ca_hint = "set certificate-authority or certificate-authority-data of cluster \"" +
                      name + "\" in " + cluster.file +
                      " to the CA that signed the apiserver's certificate, or pass --kubeconfig "
                      "with this cluster's kubeconfig";
  out->http.tls_server_name = StringField(cluster.value, "tls-server-name");
  out->http.proxy_url = StringField(cluster.value, "proxy-url");
  if (!out->http.proxy_url.empty()) {
    ProxyUrl proxy;
    if (!ParseProxyUrl(out->http.proxy_url, &proxy) || proxy.scheme != "http") {
      return InvalidArgumentError(where + ".proxy-url \"" + RedactUrl(out->http.proxy_url) +
                                  "\" is not supported: jobsync speaks to http:// proxies "
                                  "(HTTP CONNECT), e.g. http://proxy.example:3128");
    }
  }
  return OkStatus();
}

// Fills out->http's credentials from user `name`; `cluster` feeds an exec plugin's
// KUBERNETES_EXEC_INFO.
Status ReadUser(const std::string& name, const Entry& user, const Entry& cluster,
                KubeCredentials* out) {
  const std::string where = user.file + ": users[" + name + "].user";
  const std::string base = DirectoryOf(user.file);
  if (user.value.contains("auth-provider")) {
    return InvalidArgumentError(where +
                                ".auth-provider is not supported (kubectl dropped it "
                                "too): use the cloud's exec credential plugin "
                                "(users[].user.exec), e.g. gke-gcloud-auth-plugin or kubelogin");
  }
  JOBSYNC_RETURN_IF_ERROR(ReadSecret(user.value, "client-certificate-data", "client-certificate",
                                     where, base, &out->http.client_cert_pem));
  JOBSYNC_RETURN_IF_ERROR(ReadSecret(user.value, "client-key-data", "client-key", where, base,
                                     &out->http.client_key_pem));
  if (out->http.client_cert_pem.empty() != out->http.client_key_pem.empty()) {
    return InvalidArgumentError(where + ": client-certificate and client-key must be " +
                                "given together");
  }
  out->http.bearer_token = StringField(user.value, "token");
  const std::string token_file = StringField(user.value, "tokenFile");
  if (out->http.bearer_token.empty() && !token_file.empty()) {
    fs::path path(token_file);
    if (path.is_relative()) path = fs::path(base) / path;
    auto source = std::make_shared<FileTokenSource>(
        path.string(), "tokenFile " + path.string() + " of user \"" + name + "\" in " + user.file);
    if (!source->Current().ok()) {
      return InvalidArgumentError(where + ".tokenFile: cannot read \"" + path.string() + "\"");
    }
    out->http.credentials = std::move(source);
  }
  auto exec = user.value.find("exec");
  if (exec != user.value.end() && !exec->is_null()) {
    StatusOr<ExecConfig> config = ParseExecConfig(*exec, name, user.file, base);
    if (!config.ok()) return config.status();
    if (config->provide_cluster_info)
      config->cluster = ExecClusterJson(cluster.value, out->http.ca_pem);
    out->http.credentials =
        std::make_shared<ExecCredentialSource>(std::move(*config), ExecOptions{});
  }
  return OkStatus();
}

StatusOr<KubeCredentials> Resolve(const Merged& merged, const std::string& context) {
  KubeCredentials out;
  out.source = merged.files;
  out.context = context.empty() ? merged.current_context : context;
  if (out.context.empty()) {
    return InvalidArgumentError(merged.files + ": no current-context is set; pass --context");
  }
  auto ctx = merged.contexts.find(out.context);
  if (ctx == merged.contexts.end()) {
    return InvalidArgumentError(merged.files + ": context \"" + out.context +
                                "\" is not in contexts");
  }
  const std::string cluster_name = StringField(ctx->second.value, "cluster");
  const std::string user_name = StringField(ctx->second.value, "user");
  out.default_namespace = StringField(ctx->second.value, "namespace");
  if (out.default_namespace.empty()) out.default_namespace = "default";
  if (cluster_name.empty()) {
    return InvalidArgumentError(ctx->second.file + ": context \"" + out.context +
                                "\" names no cluster");
  }
  auto cluster = merged.clusters.find(cluster_name);
  if (cluster == merged.clusters.end()) {
    return InvalidArgumentError(merged.files + ": cluster \"" + cluster_name + "\" of context \"" +
                                out.context + "\" (in " + ctx->second.file +
                                ") is not in clusters");
  }
  JOBSYNC_RETURN_IF_ERROR(ReadCluster(cluster_name, cluster->second, &out));
  if (!user_name.empty()) {
    auto user = merged.users.find(user_name);
    if (user == merged.users.end()) {
      return InvalidArgumentError(merged.files + ": user \"" + user_name + "\" of context \"" +
                                  out.context + "\" (in " + ctx->second.file + ") is not in users");
    }
    JOBSYNC_RETURN_IF_ERROR(ReadUser(user_name, user->second, cluster->second, &out));
  }
  return out;
}

// The files of a $KUBECONFIG list that exist, read; kNotFound when none does.
StatusOr<std::vector<KubeconfigText>> ReadList(const std::string& list) {
  std::vector<KubeconfigText> out;
  std::vector<std::string> seen;
  size_t start = 0;
  while (start <= list.size()) {
    const size_t colon = std::min(list.find(':', start), list.size());
    const std::string path = list.substr(start, colon - start);
    start = colon + 1;
    if (path.empty() || std::find(seen.begin(), seen.end(), path) != seen.end()) continue;
    seen.push_back(path);
    std::error_code error;
    if (!fs::exists(path, error)) continue;  // kubectl skips missing files of the list
    std::optional<std::string> text = ReadFile(path);
    if (!text)
      return InvalidArgumentError("cannot read kubeconfig \"" + path + "\" of $KUBECONFIG");
    out.push_back({path, std::move(*text)});
  }
  if (out.empty()) {
    return NotFoundError(
        "none of the files in $KUBECONFIG (" + list +
        ") exists; set KUBECONFIG to your kubeconfig file(s) or pass --kubeconfig");
  }
  return out;
}

}  // namespace

KubeconfigEnvironment KubeconfigEnvironment::FromProcess() {
  KubeconfigEnvironment out;
  out.kubeconfig = Env("KUBECONFIG");
  out.home = Env("HOME");
  out.service_host = Env("KUBERNETES_SERVICE_HOST");
  out.service_port = Env("KUBERNETES_SERVICE_PORT");
  out.proxy = ProxyEnvironment::FromProcess();
  return out;
}

StatusOr<KubeCredentials> ParseKubeconfigFiles(const std::vector<KubeconfigText>& files,
                                               const std::string& context) {
  Merged merged;
  for (const KubeconfigText& file : files) {
    JOBSYNC_RETURN_IF_ERROR(MergeFile(file, &merged));
    merged.files += (merged.files.empty() ? "" : ":") + file.path;
  }
  return Resolve(merged, context);
}

StatusOr<KubeCredentials> ParseKubeconfig(std::string_view text, const std::string& path,
                                          const std::string& context) {
  return ParseKubeconfigFiles({KubeconfigText{path, std::string(text)}}, context);
}

StatusOr<KubeCredentials> LoadKubeconfig(const KubeconfigOptions& options,
                                         const KubeconfigEnvironment& environment) {
  StatusOr<KubeCredentials> out = NotFoundError("");
  std::string looked_at = "~/.kube/config";
  if (!options.path.empty()) {
    std::optional<std::string> text = ReadFile(options.path);
    if (!text) return NotFoundError("cannot read kubeconfig \"" + options.path + "\"");
    out = ParseKubeconfig(*text, options.path, options.context);
  } else if (!environment.kubeconfig.empty()) {
    StatusOr<std::vector<KubeconfigText>> files = ReadList(environment.kubeconfig);
    if (!files.ok()) return files.status();
    out = ParseKubeconfigFiles(*files, options.context);
  } else {
    const std::string home_config =
        environment.home.empty() ? "" : (fs::path(environment.home) / ".kube" / "config").string();
    if (!home_config.empty()) looked_at = home_config;
    std::optional<std::string> text;
    if (!home_config.empty()) text = ReadFile(home_config);
    if (text) {
      out = ParseKubeconfig(*text, home_config, options.context);
    } else if (!environment.service_host.empty() && !environment.service_port.empty()) {
      out = InCluster(environment);
    } else {
      return NotFoundError("no kubeconfig found (looked at --kubeconfig, $KUBECONFIG, " +
                           looked_at +
                           ") and not running in a cluster (KUBERNETES_SERVICE_HOST is not set)");
    }
  }
  if (out.ok() && out->http.proxy_url.empty()) {
    out->http.proxy_url = ProxyFromEnvironment(out->http.base_url, environment.proxy);
  }
  return out;
}

}  // namespace jobsync
