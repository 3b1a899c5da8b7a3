#include "schemas/loader.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <system_error>
#include <tuple>
#include <utility>

#include "schemas/canonical.h"
#include "schemas/elasticjob.h"
#include "schemas/job_checks.h"
#include "schemas/job_fields.h"
#include "schemas/k8s_names.h"
#include "schemas/object_names.h"
#include "schemas/yaml_json.h"

namespace jobsync {
namespace {

namespace fs = std::filesystem;

constexpr size_t kMaxObjectName = 63;

// Adds a diagnostic for every number in `value` (at `at` in the document) that is not finite:
// YAML's .inf and .nan, which the schema's types accept. JSON cannot carry them (Kubernetes and
// Ray would get null), and a spec holding NaN never equals itself, so it would be re-applied on
// every sync.
void CheckFinite(const nlohmann::json& value, std::vector<std::string>* at, const YamlNode& root,
                 const std::string& path, std::vector<Diagnostic>* out) {
  if (value.is_number_float() && !std::isfinite(value.get<double>())) {
    std::string name;
    for (const std::string& step : *at) name += (name.empty() ? "" : ".") + step;
    YamlPosition position = Locate(root, *at);
    out->push_back(
        {{path, position.line, position.column},
         name + ": " + (std::isnan(value.get<double>()) ? "NaN" : "infinity") + " is not allowed",
         "write a finite number; JSON, and so Kubernetes and Ray, cannot carry it"});
  } else if (value.is_array()) {
    for (size_t i = 0; i < value.size(); ++i) {
      at->push_back(std::to_string(i));
      CheckFinite(value[i], at, root, path, out);
      at->pop_back();
    }
  } else if (value.is_object()) {
    for (const auto& [key, item] : value.items()) {
      at->push_back(key);
      CheckFinite(item, at, root, path, out);
      at->pop_back();
    }
  }
}

// The text of a quantity field as Quantity::Parse reads it. The schema allows numbers too: for
// those the decimal scalar as written in the YAML at `at`, not the number's JSON spelling, so
// that 123456789012345678901234 keeps its digits (a double would round them).
std::string QuantityText(const nlohmann::json& value, const YamlNode& root,
                         const std::vector<std::string>& at) {
  if (value.is_string()) return value.get<std::string>();
  const YamlNode* node = &root;
  for (const std::string& step : at) {
    if (node->kind == YamlNode::Kind::kSequence) {
      const size_t index = std::stoul(step);
      if (index >= node->items.size()) return value.dump();
      node = node->items[index].get();
      continue;
    }
    const YamlMapEntry* entry = node->kind == YamlNode::Kind::kMapping ? node->Find(step) : nullptr;
    if (entry == nullptr) return value.dump();
    node = entry->value.get();
  }
  // Decimal spellings only: 0x10 and 0o7 are YAML integers that no quantity grammar knows.
  const bool decimal = node->kind == YamlNode::Kind::kScalar &&
                       node->scalar.find_first_not_of("0123456789+-.eE") == std::string::npos;
  return decimal ? node->scalar : value.dump();
}

// The paths of the quantity fields of a document: those whose value is a string or a number,
// wherever the document has the shape to hold them (it may have failed the schema elsewhere).
std::vector<std::vector<std::string>> QuantityPaths(const nlohmann::json& doc) {
  std::vector<std::vector<std::string>> out;
  auto object_at = [](const nlohmann::json& parent, const char* key) -> const nlohmann::json* {
    if (!parent.is_object()) return nullptr;
    auto it = parent.find(key);
    return it != parent.end() && it->is_object() ? &*it : nullptr;
  };
  auto add = [&](const nlohmann::json* resources, std::vector<std::string> at, const char* field) {
    if (resources == nullptr) return;
    auto it = resources->find(field);
    if (it == resources->end() || !(it->is_string() || it->is_number())) return;
    at.emplace_back(field);
    out.push_back(std::move(at));
  };
  const nlohmann::json* spec = object_at(doc, "spec");
  if (spec == nullptr) return out;
  if (const nlohmann::json* roles = object_at(*spec, "roles")) {
    for (const auto& [role_name, role] : roles->items()) {
      const nlohmann::json* resources = object_at(role, "resources");
      add(resources, {"spec", "roles", role_name, "resources"}, "cpu");
      add(resources, {"spec", "roles", role_name, "resources"}, "memory");
    }
  }
  if (const nlohmann::json* ray = object_at(*spec, "ray")) {
    add(object_at(*ray, "entrypointResources"), {"spec", "ray", "entrypointResources"}, "memory");
    if (const nlohmann::json* head = object_at(*ray, "head")) {
      add(object_at(*head, "resources"), {"spec", "ray", "head", "resources"}, "cpu");
      add(object_at(*head, "resources"), {"spec", "ray", "head", "resources"}, "memory");
    }
  }
  for (std::vector<std::string>& at : JobModelQuantityPaths(*spec)) out.push_back(std::move(at));
  return out;
}

std::string Dotted(const std::vector<std::string>& path) {
  std::string name;
  for (const std::string& step : path) name += (name.empty() ? "" : ".") + step;
  return name;
}

// Parses every quantity of a document (QuantityPaths), keyed by dotted path; a diagnostic, at
// the field, for each one Quantity::Parse refuses. Numbers the schema refuses (negative ones)
// are left to its diagnostic.
std::map<std::string, Quantity> ParseQuantities(const nlohmann::json& doc, const YamlNode& root,
                                                const std::string& path,
                                                std::vector<Diagnostic>* out) {
  std::map<std::string, Quantity> parsed;
  for (const std::vector<std::string>& at : QuantityPaths(doc)) {
    const nlohmann::json* value = &doc;
    for (const std::string& step : at) {
      value = value->is_array() ? &(*value)[std::stoul(step)] : &(*value)[step];
    }
    if (value->is_number() && value->get<double>() < 0) continue;
    StatusOr<Quantity> quantity = Quantity::Parse(QuantityText(*value, root, at));
    if (quantity.ok()) {
      parsed.emplace(Dotted(at), std::move(*quantity));
      continue;
    }
    YamlPosition position = Locate(root, at);
    out->push_back({{path, position.line, position.column},
                    Dotted(at) + ": " + quantity.status().message(),
                    "quantities are read as Kubernetes reads them; see \"Quantities\" in "
                    "docs/manifest-reference.md"});
  }
  return parsed;
}

// Builds the typed job from a document that passed the schema and whose quantities all parsed
// (`quantities`, from ParseQuantities), filling in defaults.
TrainingJob ToTrainingJob(const nlohmann::json& doc,
                          const std::map<std::string, Quantity>& quantities) {
  TrainingJob job;
  const nlohmann::json& metadata = doc["metadata"];
  const nlohmann::json& spec = doc["spec"];
  job.name = metadata["name"].get<std::string>();
  job.namespace_name = metadata.value("namespace", "default");
  if (metadata.contains("labels"))
    job.labels = metadata["labels"].get<std::map<std::string, std::string>>();
  if (metadata.contains("annotations")) {
    job.annotations = metadata["annotations"].get<std::map<std::string, std::string>>();
  }
  job.backend = spec["backend"] == "ray" ? BackendKind::kRay : BackendKind::kKubernetes;
  job.suspend = spec.value("suspend", false);
  if (spec.contains("dependsOn"))
    job.depends_on = spec["dependsOn"].get<std::vector<std::string>>();
  job.image = spec.value("image", "");
  if (spec.contains("command")) job.command = spec["command"].get<std::vector<std::string>>();
  ReadJobModelFields(spec, &job);
  auto quantity = [&](const std::string& dotted) { return quantities.at(dotted); };
  for (const auto& [role_name, r] : spec["roles"].items()) {
    Role role;
    role.replicas = r["replicas"].get<int>();
    if (r.contains("minReplicas")) role.min_replicas = r["minReplicas"].get<int>();
    if (r.contains("maxReplicas")) role.max_replicas = r["maxReplicas"].get<int>();
    if (r.contains("resources")) {
      const nlohmann::json& res = r["resources"];
      const std::string prefix = "spec.roles." + role_name + ".resources.";
      if (res.contains("cpu")) role.resources.cpu = quantity(prefix + "cpu");
      if (res.contains("memory")) role.resources.memory = quantity(prefix + "memory");
      if (res.contains("gpu")) role.resources.gpu = res["gpu"].get<int64_t>();
      if (res.contains("ephemeralStorage")) {
        role.resources.ephemeral_storage = quantity(prefix + "ephemeralStorage");
      }
      if (res.contains("extended")) {
        std::map<std::string, Quantity> extended;
        for (const auto& [name, unused] : res["extended"].items()) {
          extended.emplace(name, quantity(prefix + "extended." + name));
        }
        role.resources.extended = std::move(extended);
      }
    }
    RoleOverrides overrides;
    ReadRoleOverrides(r, &overrides);
    role.overrides = std::move(overrides);  // on the heap only when not empty
    job.roles.emplace(role_name, role);
  }
  if (spec.contains("ray")) {
    const nlohmann::json& ray = spec["ray"];
    RaySpec ray_spec;
    ray_spec.entrypoint = ray["entrypoint"].get<std::string>();
    if (ray.contains("runtimeEnv")) ray_spec.runtime_env = ray["runtimeEnv"];
    if (ray.contains("entrypointResources")) {
      const nlohmann::json& res = ray["entrypointResources"];
      if (res.contains("cpu")) ray_spec.entrypoint_resources.cpu = res["cpu"].get<double>();
      if (res.contains("gpu")) ray_spec.entrypoint_resources.gpu = res["gpu"].get<double>();
      if (res.contains("memory")) {
        ray_spec.entrypoint_resources.memory = quantity("spec.ray.entrypointResources.memory");
      }
    }
    if (ray.value("cluster", "shared") == "kuberay") ray_spec.cluster = RayCluster::kKubeRay;
    ray_spec.image = ray.value("image", "");
    if (ray.contains("head") && ray["head"].contains("resources")) {
      const nlohmann::json& res = ray["head"]["resources"];
      if (res.contains("cpu"))
        ray_spec.head_resources.cpu = quantity("spec.ray.head.resources.cpu");
      if (res.contains("memory")) {
        ray_spec.head_resources.memory = quantity("spec.ray.head.resources.memory");
      }
      if (res.contains("gpu")) ray_spec.head_resources.gpu = res["gpu"].get<int64_t>();
    }
    job.ray = std::move(ray_spec);
  }
  return job;
}

// The key of a document that failed validation, when its identity can still be read.
std::optional<JobKey> BestEffortKey(const nlohmann::json& doc) {
  if (!doc.is_object() || !doc.contains("metadata") || !doc["metadata"].is_object() ||
      !doc.contains("spec") || !doc["spec"].is_object()) {
    return std::nullopt;
  }
  const nlohmann::json& metadata = doc["metadata"];
  const nlohmann::json& spec = doc["spec"];
  if (!metadata.contains("name") || !metadata["name"].is_string()) return std::nullopt;
  JobKey key;
  key.name = metadata["name"].get<std::string>();
  key.namespace_name = "default";
  if (metadata.contains("namespace")) {
    if (!metadata["namespace"].is_string()) return std::nullopt;
    key.namespace_name = metadata["namespace"].get<std::string>();
  }
  if (!spec.contains("backend") || !spec["backend"].is_string()) return std::nullopt;
  const std::string backend = spec["backend"].get<std::string>();
  if (backend != "kubernetes" && backend != "ray") return std::nullopt;
  key.backend = backend == "ray" ? BackendKind::kRay : BackendKind::kKubernetes;
  // A KubeRay RayJob is a Kubernetes object (TrainingJob::RunsOn).
  auto ray = spec.find("ray");
  if (ray != spec.end() && ray->is_object()) {
    auto cluster = ray->find("cluster");
    if (cluster != ray->end() && cluster->is_string() && *cluster == "kuberay") {
      key.backend = BackendKind::kKubernetes;
    }
  }
  auto cluster = spec.find("cluster");
  if (cluster != spec.end() && cluster->is_string()) key.cluster = cluster->get<std::string>();
  return key;
}

size_t DecimalDigits(int value) {
  size_t digits = 1;
  for (; value >= 10; value /= 10) ++digits;
  return digits;
}

// The checks that need only one job: what the schema cannot express.
std::vector<Diagnostic> CheckJob(const TrainingJob& job, const YamlNode& root,
                                 const std::string& path) {
  std::vector<Diagnostic> out;
  auto at = [&](const std::vector<std::string>& p) {
    YamlPosition position = Locate(root, p);
    return SourceLocation{path, position.line, position.column};
  };
  for (const auto& [role_name, role] : job.roles) {
    std::vector<std::string> role_path = {"spec", "roles", role_name};
    if (role.min_replicas && *role.min_replicas > role.replicas) {
      auto p = role_path;
      p.push_back("minReplicas");
      out.push_back({at(p),
                     "spec.roles." + role_name + ": minReplicas (" +
                         std::to_string(*role.min_replicas) + ") is greater than replicas (" +
                         std::to_string(role.replicas) + ")",
                     "minReplicas <= replicas <= maxReplicas must hold"});
    }
    if (role.max_replicas && *role.max_replicas < role.replicas) {
      auto p = role_path;
      p.push_back("maxReplicas");
      out.push_back({at(p),
                     "spec.roles." + role_name + ": maxReplicas (" +
                         std::to_string(*role.max_replicas) + ") is less than replicas (" +
                         std::to_string(role.replicas) + ")",
                     "minReplicas <= replicas <= maxReplicas must hold"});
    }
    if (job.backend == BackendKind::kKubernetes) {
      // The Indexed Job "<name>-<role>" (a JobSet's: "<name>-<role>-0") names its pods'
      // hostnames "<job name>-<index>".
      int largest = std::max(role.replicas, role.max_replicas.value_or(0));
      const std::string job_name = RoleJobName(job, role_name);
      size_t length = job_name.size() + 1 + DecimalDigits(largest - 1);
      if (length > kMaxObjectName) {
        out.push_back({at({"metadata", "name"}),
                       "metadata.name: the Kubernetes Job for role '" + role_name + "' would be '" +
                           job_name + "', whose pod hostnames reach " + std::to_string(length) +
                           " characters; the limit is 63",
                       "shorten the job or role name by " +
                           std::to_string(length - kMaxObjectName) + " characters"});
      }
    }
  }
  if (job.backend == BackendKind::kKubernetes) {
    // spec.image may be left out when every role sets its own.
    std::string without_image;
    size_t roles_without_image = 0;
    for (const auto& [role_name, role] : job.roles) {
      if (role.overrides->image || !job.image.empty()) continue;
      without_image += (without_image.empty() ? "" : ", ") + role_name;
      ++roles_without_image;
    }
    if (roles_without_image == job.roles.size()) {
      out.push_back({at({"spec"}),
                     "spec: missing 'image': a Kubernetes job needs a container image",
                     "add spec.image, e.g. image: pytorch/pytorch:2.4.0"});
    } else if (roles_without_image > 0) {
      out.push_back({at({"spec"}),
                     "spec: missing 'image': there is no spec.image, and " +
                         std::string(roles_without_image == 1 ? "role " : "roles ") +
                         without_image + " set no image of their own",
                     "add spec.image, e.g. image: pytorch/pytorch:2.4.0, or an image to each "
                     "of those roles"});
    }
    if (job.ray) {
      out.push_back({at({"spec", "ray"}), "spec.ray: only allowed with backend: ray",
                     "remove spec.ray or set spec.backend: ray"});
    }
  } else if (!job.ray) {
    out.push_back({at({"spec"}), "spec: missing 'ray': a Ray job needs spec.ray.entrypoint",
                   "add spec.ray.entrypoint, e.g. entrypoint: python train.py"});
  }
  return out;
}

// What jobsync adds to the annotations of each Kubernetes Job besides the manifest's own and
// the applied spec: the keys and values of the spec hash (64), the source path and the revision
// (a commit id, 64 at most), rounded up.
constexpr size_t kOwnAnnotationsReserve = 512;

// Kubernetes' rules for the job's labels and annotations (the apiserver refuses an object that
// breaks them, later and without a location), and jobsync's reserved keys. Each problem is
// located at the key or value.
std::vector<Diagnostic> CheckMetadata(const TrainingJob& job, const YamlNode& root,
                                      const std::string& path) {
  std::vector<Diagnostic> out;
  auto at = [&](const char* map, const std::string& key, bool at_key) {
    YamlPosition position = Locate(root, {"metadata", map, key}, at_key);
    return SourceLocation{path, position.line, position.column};
  };
  auto quote = [](const std::string& text) {
    return "'" + (text.size() > 80 ? text.substr(0, 77) + "..." : text) + "'";
  };
  for (const auto& [key, value] : job.labels) {
    const std::string field = "metadata.labels." + key;
    if (std::string problem = CheckQualifiedName(key); !problem.empty()) {
      out.push_back({at("labels", key, true), "metadata.labels: key " + quote(key) + " " + problem,
                     "label keys are [prefix/]name, e.g. team or example.com/team"});
    } else if (IsJobsyncOwnKey(key, false)) {
      out.push_back({at("labels", key, true),
                     "metadata.labels: key '" + key +
                         "' is jobsync's own (it marks who owns an "
                         "object) and cannot be set in a manifest",
                     "use a key of your own, e.g. example.com/" + key.substr(key.find('/') + 1)});
    }
    if (std::string problem = CheckLabelValue(value); !problem.empty()) {
      out.push_back({at("labels", key, false), field + ": value " + quote(value) + " " + problem,
                     "put longer or free-form text in an annotation"});
    }
  }
  for (const auto& [key, value] : job.annotations) {
    if (std::string problem = CheckAnnotationKey(key); !problem.empty()) {
      out.push_back({at("annotations", key, true),
                     "metadata.annotations: key " + quote(key) + " " + problem,
                     "annotation keys are [prefix/]name, e.g. example.com/owner"});
    } else if (IsJobsyncOwnKey(key, true)) {
      out.push_back({at("annotations", key, true),
                     "metadata.annotations: key '" + key +
                         "' is jobsync's own and cannot be set "
                         "in a manifest; the jobsync.dev/ annotations a manifest may set are " +
                         std::string(kPruneAnnotation) + " and, on an ElasticJob, " +
                         kElasticJobModeAnnotation,
                     "use a key of your own, e.g. example.com/" + key.substr(key.find('/') + 1)});
    }
  }
  const size_t own = AnnotationBytes(job.annotations);
  size_t total = own;
  std::string detail;
  if (job.backend == BackendKind::kKubernetes) {
    // Each Job carries the manifest's annotations plus the applied spec (which holds them again,
    // with env and command) and jobsync's bookkeeping.
    const size_t spec = std::string_view(kSpecAnnotation).size() + CanonicalSpecText(job).size();
    total += spec + job.source.path.size() + kOwnAnnotationsReserve;
    detail = " (the manifest's " + std::to_string(own) + ", the applied spec " +
             std::to_string(spec) + ", jobsync's bookkeeping " +
             std::to_string(job.source.path.size() + kOwnAnnotationsReserve) + ")";
  }
  if (total > kMaxAnnotationBytes) {
    YamlPosition position = Locate(root, {"metadata", "annotations"});
    out.push_back({{path, position.line, position.column},
                   "metadata.annotations: the annotations of this job's Kubernetes objects would "
                   "take " +
                       std::to_string(total) + " bytes" + detail + "; Kubernetes allows " +
                       std::to_string(kMaxAnnotationBytes),
                   "shorten large annotations, env values or commands (a large configuration "
                   "belongs in a ConfigMap or the image)"});
  }
  return out;
}

}  // namespace

ManifestFile ParseManifestFile(const std::string& path, std::string_view text,
                               const SchemaValidator& validator, const LoadOptions& options) {
  ManifestFile file;
  file.path = path;
  YamlFile yaml = ReadYaml(text, options.limits);
  if (yaml.error) {
    file.unreadable = true;
    file.diagnostics.push_back(
        {{path, yaml.error->line, yaml.error->column}, yaml.error->message, yaml.error->hint});
  }
  for (const YamlNodePtr& document : yaml.documents) {
    SourceLocation start{path, document->line, document->column};
    std::vector<Diagnostic> translation_errors;  // an ElasticJob reads as a TrainingJob
    DocumentToRead read =
        DocumentToLoad(document, path, options.elasticjob, &translation_errors, &file.warnings);
    const YamlNodePtr& root = read.root;
    nlohmann::json doc = YamlToJson(*root);
    // Non-finite numbers first: the schema would report them as null.
    std::vector<Diagnostic> problems;
    std::vector<std::string> at;
    CheckFinite(doc, &at, *root, path, &problems);
    std::map<std::string, Quantity> quantities;
    if (problems.empty()) {
      problems = validator.Validate(doc, *root, path);
      quantities = ParseQuantities(doc, *root, path, &problems);
    }
    std::optional<TrainingJob> job;
    if (problems.empty()) {
      job = ToTrainingJob(doc, quantities);
      job->source = start;
      if (!read.operator_spec.is_null()) {
        job->workload = KubernetesWorkload::kElasticJob;
        job->elastic_job_spec = std::move(read.operator_spec);
      }
      problems = CheckJob(*job, *root, path);
      if (options.clusters) {
        if (auto misplaced = CheckCluster(*options.clusters, *root, path, &job->cluster)) {
          problems.push_back(std::move(*misplaced));
        }
      }
      for (Diagnostic& d : CheckMetadata(*job, *root, path)) problems.push_back(std::move(d));
      for (Diagnostic& d : CheckJobModel(*job, *root, path)) problems.push_back(std::move(d));
    }
    if (root != document || !translation_errors.empty())
      AddElasticJobProblems(translation_errors, &problems);
    YamlPosition name = Locate(*root, {"metadata", "name"});
    if (!problems.empty()) {
      std::optional<JobKey> key = BestEffortKey(doc);
      if (key && options.clusters && key->cluster == options.clusters->default_name) {
        key->cluster.clear();
      }
      file.invalid.push_back(
          {key, name.found ? SourceLocation{path, name.line, name.column} : start});
      for (Diagnostic& d : problems) file.diagnostics.push_back(std::move(d));
      continue;
    }
    ParsedJob parsed;
    parsed.name_location = {path, name.line, name.column};
    for (size_t i = 0; i < job->depends_on.size(); ++i) {
      YamlPosition dep = Locate(*root, {"spec", "dependsOn", std::to_string(i)});
      parsed.depends_on_locations.push_back({path, dep.line, dep.column});
    }
    parsed.job = std::make_shared<const TrainingJob>(std::move(*job));
    parsed.objects = GeneratedObjects(*parsed.job);
    file.jobs.push_back(std::move(parsed));
  }
  return file;
}

}  // namespace jobsync
