#include "agent/cli/cluster_flags.h"

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>

#include "schemas/k8s_names.h"

namespace jobsync {
namespace {

// Accepts a DNS-1123 label, the form of a Kubernetes namespace name.
CLI::Validator NamespaceName() {
  return CLI::Validator(
      [](const std::string& name) -> std::string {
        const bool valid = !name.empty() && name.size() <= 63 && name.front() != '-' &&
                           name.back() != '-' && std::all_of(name.begin(), name.end(), [](char c) {
                             return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
                           });
        if (valid) return "";
        return "'" + name +
               "' is not a namespace name: lower-case letters, digits and '-', starting and ending "
               "with a letter or digit, at most 63 characters";
      },
      "", "namespace name");
}

// Registers --prune, --allow-mass-delete, --max-delete-share, --allow-namespace,
// --allow-backend and --create-namespaces (group "Safety").
void AddSafetyFlags(CLI::App& command, ClusterFlags& flags);

}  // namespace

CLI::Validator InstanceName() {
  return CLI::Validator(
      [](const std::string& name) -> std::string {
        std::string problem = name.empty() ? "must not be empty" : CheckLabelValue(name);
        if (problem.empty()) return "";
        return "'" + name + "' is not an instance name: it is the jobsync.dev/instance label " +
               "value, which " + problem;
      },
      "", "instance name");
}

void AddClusterFlags(CLI::App& command, ClusterFlags& flags) {
  const char* group = "Clusters";
  command
      .add_option("--clusters", flags.clusters_file,
                  "Clusters file: the clusters this agent serves, each by kubeconfig and context "
                  "and optionally a Ray address and token, one the default; a manifest picks one "
                  "with spec.cluster (see docs/clusters.md). Replaces --kubeconfig, --context "
                  "and --ray-*")
      ->type_name("FILE")
      ->group(group);
  command
      .add_option("--kubeconfig", flags.kubeconfig,
                  "Kubeconfig file (default: $KUBECONFIG, then ~/.kube/config, then the "
                  "in-cluster service account)")
      ->group(group);
  command.add_option("--context", flags.context, "Kubeconfig context (default: current-context)")
      ->group(group);
  command
      .add_option("--ray-address", flags.ray_address,
                  "Ray dashboard URL, http(s)://host:port (default: $RAY_ADDRESS)")
      ->group(group);
  command
      .add_option("--ray-token-file", flags.ray_token_file,
                  "File whose first line is the token of a Ray cluster with token "
                  "authentication (RAY_AUTH_MODE=token, Ray 2.52+) or of an authenticating "
                  "proxy, sent as \"Authorization: Bearer\". Without it: the file "
                  "$JOBSYNC_RAY_TOKEN_FILE, $JOBSYNC_RAY_TOKEN, then Ray's own sources in Ray's "
                  "order: $RAY_AUTH_TOKEN, the file $RAY_AUTH_TOKEN_PATH, ~/.ray/auth_token "
                  "(the first found wins). Never printed")
      ->group(group);
  command
      .add_option("--ray-ca-file", flags.ray_ca_file,
                  "PEM file of the CAs trusted for an https:// Ray dashboard, instead of the "
                  "system's (default: $JOBSYNC_RAY_CA_FILE)")
      ->group(group);
  command
      .add_option("--instance", flags.instance,
                  "This agent's name: the jobsync.dev/instance label on what it creates. Only "
                  "jobs with this label are changed or pruned. A label value: at most 63 "
                  "letters, digits, '-', '_' and '.', starting and ending with a letter or digit")
      ->capture_default_str()
      ->check(InstanceName())
      ->group(group);
  AddSafetyFlags(command, flags);
}

namespace {

void AddSafetyFlags(CLI::App& command, ClusterFlags& flags) {
  const char* safety = "Safety";
  command
      .add_flag("--prune", flags.prune,
                "Delete live jobs of this instance whose manifests are gone from Git (off by "
                "default; a job annotated jobsync.dev/prune: \"false\" is never pruned)")
      ->group(safety);
  command
      .add_flag("--allow-mass-delete", flags.allow_mass_delete,
                "Allow a plan that deletes more than --max-delete-share of the owned jobs. "
                "Without it such a plan's deletes are held back (listed, with why) and the rest "
                "of the plan proceeds; moving a job to another namespace (same name and "
                "backend) is not a delete here")
      ->group(safety);
  command
      .add_option("--max-delete-share", flags.max_delete_share,
                  "Largest share of this instance's live jobs one plan may delete, 0..1")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1.0))
      ->group(safety);
  command
      .add_option(
          "--allow-namespace", flags.allow_namespaces,
          "Only manage jobs in these namespaces (repeat the flag, or give a comma-separated "
          "list). A manifest in another namespace is refused with an error, and live jobs "
          "in other namespaces are never changed or pruned. Kubernetes objects are then "
          "listed and watched in each of these namespaces (RBAC in them is enough). Default: "
          "every namespace")
      ->delimiter(',')
      ->check(NamespaceName())
      ->type_name("NS")
      ->group(safety);
  command
      .add_option("--allow-backend", flags.allow_backends,
                  "Only manage jobs on these backends: kubernetes, ray (repeat the flag, or give a "
                  "comma-separated list). A manifest for another backend is refused with an error; "
                  "Ray, when left out, is not contacted. Default: both")
      ->delimiter(',')
      ->check(CLI::IsMember({"kubernetes", "ray"}))
      ->type_name("BACKEND")
      ->group(safety);
  command
      .add_flag("--create-namespaces,!--no-create-namespaces", flags.create_namespaces,
                "Create a manifest's namespace when it does not exist (on by default). "
                "--no-create-namespaces (config: create-namespaces: false): never read or "
                "create Namespace objects, for an identity with Roles in its namespaces only; "
                "the namespaces must exist")
      ->group(safety);
}

}  // namespace

Status ResolveClusters(ClusterFlags& flags) {
  if (flags.clusters_file.empty()) return OkStatus();
  const std::vector<std::pair<const char*, const std::string*>> replaced = {
      {"--kubeconfig", &flags.kubeconfig},
      {"--context", &flags.context},
      {"--ray-address", &flags.ray_address},
      {"--ray-token-file", &flags.ray_token_file},
      {"--ray-ca-file", &flags.ray_ca_file}};
  for (const auto& [flag, value] : replaced) {
    if (!value->empty()) {
      return InvalidArgumentError(std::string(flag) + " cannot be used with --clusters: the " +
                                  "clusters file " + flags.clusters_file +
                                  " says where each cluster is");
    }
  }
  StatusOr<ClustersFile> file = ReadClustersFile(flags.clusters_file);
  if (!file.ok()) return file.status();
  flags.clusters = std::move(*file);
  return OkStatus();
}

std::string DefaultClusterName(const ClusterFlags& flags) {
  return flags.clusters ? flags.clusters->default_cluster().name : "default";
}

ClusterNames ClusterNamesOf(const ClusterFlags& flags) {
  return flags.clusters ? flags.clusters->Names() : ClusterNames{};
}

PlanOptions ToPlanOptions(const ClusterFlags& flags) {
  PlanOptions options;
  options.instance = flags.instance;
  options.prune = flags.prune;
  options.max_delete_share = flags.max_delete_share;
  options.allow_mass_delete = flags.allow_mass_delete;
  options.allowed_namespaces.insert(flags.allow_namespaces.begin(), flags.allow_namespaces.end());
  for (const std::string& name : flags.allow_backends) {
    options.allowed_backends.insert(name == "ray" ? BackendKind::kRay : BackendKind::kKubernetes);
  }
  if (!flags.clusters) return options;
  for (const ClusterEntry& entry : flags.clusters->clusters) {
    if (entry.allow_namespaces.empty() && entry.allow_backends.empty()) continue;
    PlanOptions::Allowlist& own = options.cluster_allowlists[entry.is_default ? "" : entry.name];
    own.namespaces.insert(entry.allow_namespaces.begin(), entry.allow_namespaces.end());
    for (const std::string& name : entry.allow_backends) {
      own.backends.insert(name == "ray" ? BackendKind::kRay : BackendKind::kKubernetes);
    }
  }
  return options;
}

}  // namespace jobsync
