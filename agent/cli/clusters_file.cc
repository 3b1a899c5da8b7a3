#include "agent/cli/clusters_file.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <utility>

#include "schemas/diagnostic.h"
#include "schemas/k8s_names.h"
#include "schemas/yaml_reader.h"

namespace jobsync {
namespace {

namespace fs = std::filesystem;

Status Located(const std::string& path, int line, int column, const std::string& message,
               const std::string& hint = "") {
  return InvalidArgumentError(Diagnostic{{path, line, column}, message, hint}.ToString());
}

// Reads one entry's fields; `where` is "clusters[2]".
class EntryReader {
 public:
  EntryReader(const std::string& path, const fs::path& base, std::string where)
      : path_(path), base_(base), where_(std::move(where)) {}

  Status Read(const YamlNode& node, ClusterEntry* out) {
    if (node.kind != YamlNode::Kind::kMapping) {
      return Located(path_, node.line, node.column, where_ + ": a cluster is a mapping",
                     "for example: \"- name: gpu-east\"");
    }
    static const std::vector<std::string> kKeys = {
        "name", "default", "kubeconfig", "context", "ray", "allowNamespaces", "allowBackends"};
    for (const YamlMapEntry& entry : node.entries) {
      if (std::find(kKeys.begin(), kKeys.end(), entry.key) == kKeys.end()) {
        return Located(path_, entry.key_line, entry.key_column,
                       where_ + ": unknown key '" + entry.key + "'",
                       UnknownNameHint(entry.key, kKeys, "a cluster's keys are:"));
      }
    }
    JOBSYNC_RETURN_IF_ERROR(Name(node, out));
    JOBSYNC_RETURN_IF_ERROR(Default(node, out));
    JOBSYNC_RETURN_IF_ERROR(Scalar(node, "kubeconfig", true, &out->kubeconfig));
    JOBSYNC_RETURN_IF_ERROR(Scalar(node, "context", false, &out->context));
    JOBSYNC_RETURN_IF_ERROR(Ray(node, out));
    JOBSYNC_RETURN_IF_ERROR(List(node, "allowNamespaces", &out->allow_namespaces));
    JOBSYNC_RETURN_IF_ERROR(List(node, "allowBackends", &out->allow_backends));
    for (const std::string& ns : out->allow_namespaces) {
      if (!CheckDns1123Label(ns).empty()) {
        return At(node, "allowNamespaces", "'" + ns + "' is not a namespace name");
      }
    }
    for (const std::string& backend : out->allow_backends) {
      if (backend != "kubernetes" && backend != "ray") {
        return At(node, "allowBackends", "'" + backend + "' is not a backend (kubernetes, ray)");
      }
    }
    return OkStatus();
  }

 private:
  Status At(const YamlNode& node, const std::string& key, const std::string& message,
            const std::string& hint = "") const {
    const YamlMapEntry* entry = node.Find(key);
    const int line = entry != nullptr ? entry->value->line : node.line;
    const int column = entry != nullptr ? entry->value->column : node.column;
    return Located(path_, line, column, where_ + "." + key + ": " + message, hint);
  }

  Status Name(const YamlNode& node, ClusterEntry* out) const {
    const YamlMapEntry* name = node.Find("name");
    if (name == nullptr || name->value->kind != YamlNode::Kind::kScalar) {
      return Located(path_, node.line, node.column, where_ + ".name is missing",
                     "every cluster has a name that manifests give as spec.cluster");
    }
    out->name = name->value->scalar;
    const std::string problem = CheckDns1123Label(out->name);
    if (!problem.empty()) {
      return At(node, "name", "'" + out->name + "' " + problem,
                "a cluster name is a DNS-1123 label, like a namespace name");
    }
    return OkStatus();
  }

  Status Default(const YamlNode& node, ClusterEntry* out) const {
    const YamlMapEntry* entry = node.Find("default");
    if (entry == nullptr) return OkStatus();
    const std::string& text = entry->value->scalar;
    if (entry->value->kind != YamlNode::Kind::kScalar || (text != "true" && text != "false")) {
      return At(node, "default", "must be true or false");
    }
    out->is_default = text == "true";
    return OkStatus();
  }

  // A string field; `file` makes a relative value relative to the clusters file.
  Status Scalar(const YamlNode& node, const std::string& key, bool file, std::string* out) const {
    const YamlMapEntry* entry = node.Find(key);
    if (entry == nullptr || entry->value->kind == YamlNode::Kind::kNull) return OkStatus();
    if (entry->value->kind != YamlNode::Kind::kScalar || entry->value->scalar.empty()) {
      return At(node, key, "must be a non-empty string");
    }
    *out = entry->value->scalar;
    if (file && fs::path(*out).is_relative()) *out = (base_ / *out).lexically_normal().string();
    return OkStatus();
  }

  Status Ray(const YamlNode& node, ClusterEntry* out) const {
    const YamlMapEntry* entry = node.Find("ray");
    if (entry == nullptr) return OkStatus();
    const YamlNode& ray = *entry->value;
    if (ray.kind != YamlNode::Kind::kMapping) {
      return At(node, "ray", "must be a mapping with address (and tokenFile, caFile)");
    }
    static const std::vector<std::string> kKeys = {"address", "tokenFile", "caFile"};
    for (const YamlMapEntry& key : ray.entries) {
      if (std::find(kKeys.begin(), kKeys.end(), key.key) == kKeys.end()) {
        return Located(path_, key.key_line, key.key_column,
                       where_ + ".ray: unknown key '" + key.key + "'",
                       UnknownNameHint(key.key, kKeys, "ray's keys are:"));
      }
    }
    EntryReader inner(path_, base_, where_ + ".ray");
    JOBSYNC_RETURN_IF_ERROR(inner.Scalar(ray, "address", false, &out->ray_address));
    if (out->ray_address.empty()) {
      return At(node, "ray", "address is missing", "the Ray dashboard's URL, http(s)://host:port");
    }
    JOBSYNC_RETURN_IF_ERROR(inner.Scalar(ray, "tokenFile", true, &out->ray_token_file));
    return inner.Scalar(ray, "caFile", true, &out->ray_ca_file);
  }

  Status List(const YamlNode& node, const std::string& key, std::vector<std::string>* out) const {
    const YamlMapEntry* entry = node.Find(key);
    if (entry == nullptr) return OkStatus();
    if (entry->value->kind != YamlNode::Kind::kSequence) {
      return At(node, key, "must be a list", "for example: [team-a, team-b]");
    }
    for (const YamlNodePtr& item : entry->value->items) {
      if (item->kind != YamlNode::Kind::kScalar) return At(node, key, "items must be strings");
      out->push_back(item->scalar);
    }
    return OkStatus();
  }

  const std::string& path_;
  const fs::path& base_;
  const std::string where_;
};

// Checks names are unique and picks the default.
Status CheckDefaults(const YamlNode& list, const std::string& path, ClustersFile* file) {
  std::set<std::string> seen;
  int defaults = 0;
  for (size_t i = 0; i < file->clusters.size(); ++i) {
    const ClusterEntry& entry = file->clusters[i];
    if (!seen.insert(entry.name).second) {
      return Located(
          path, list.items[i]->line, list.items[i]->column,
          "clusters[" + std::to_string(i) + "]: cluster '" + entry.name + "' is named twice",
          "cluster names are unique");
    }
    if (entry.is_default) ++defaults;
  }
  if (file->clusters.size() == 1) {
    file->clusters.front().is_default = true;
    return OkStatus();
  }
  if (defaults != 1) {
    return Located(
        path, list.line, list.column,
        defaults == 0 ? "clusters: none is the default" : "clusters: more than one is the default",
        "mark exactly one with \"default: true\": jobs without spec.cluster run there");
  }
  return OkStatus();
}

}  // namespace

const ClusterEntry& ClustersFile::default_cluster() const {
  return *std::find_if(clusters.begin(), clusters.end(),
                       [](const ClusterEntry& entry) { return entry.is_default; });
}

ClusterNames ClustersFile::Names() const {
  ClusterNames names;
  for (const ClusterEntry& entry : clusters) {
    if (entry.is_default) {
      names.default_name = entry.name;
    } else {
      names.others.insert(entry.name);
    }
  }
  return names;
}

StatusOr<ClustersFile> ParseClustersFile(std::string_view text, const std::string& path) {
  YamlFile yaml = ReadYaml(text);
  if (yaml.error) {
    return Located(path, yaml.error->line, yaml.error->column, yaml.error->message,
                   yaml.error->hint);
  }
  if (yaml.documents.size() != 1 || yaml.documents.front()->kind != YamlNode::Kind::kMapping) {
    return Located(path, 1, 1, "a clusters file is one mapping with a `clusters` list",
                   "for example: \"clusters: [{name: gpu-east, kubeconfig: east.kubeconfig}]\"");
  }
  const YamlNode& root = *yaml.documents.front();
  for (const YamlMapEntry& entry : root.entries) {
    if (entry.key != "clusters") {
      return Located(path, entry.key_line, entry.key_column, "unknown key '" + entry.key + "'",
                     UnknownNameHint(entry.key, {"clusters"}, "the only key is"));
    }
  }
  const YamlMapEntry* list = root.Find("clusters");
  if (list == nullptr || list->value->kind != YamlNode::Kind::kSequence ||
      list->value->items.empty()) {
    return Located(path, root.line, root.column, "clusters: a non-empty list is required");
  }
  const fs::path base = fs::path(path).parent_path();
  ClustersFile file;
  for (size_t i = 0; i < list->value->items.size(); ++i) {
    ClusterEntry entry;
    EntryReader reader(path, base, "clusters[" + std::to_string(i) + "]");
    JOBSYNC_RETURN_IF_ERROR(reader.Read(*list->value->items[i], &entry));
    file.clusters.push_back(std::move(entry));
  }
  JOBSYNC_RETURN_IF_ERROR(CheckDefaults(*list->value, path, &file));
  return file;
}

StatusOr<ClustersFile> ReadClustersFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFoundError("cannot read the clusters file \"" + path + "\"");
  std::ostringstream text;
  text << in.rdbuf();
  return ParseClustersFile(text.str(), path);
}

}  // namespace jobsync
