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

// The text of a quantity field as Quantity::Parse reads it (the schema allows numbers too).
std::string QuantityText(const nlohmann::json& value) {
  return value.is_string() ? value.get<std::string>() : value.dump();
}

// The quantities Quantity::Parse refuses although the schema's pattern allows them: too large
// (over 2^53 units), too many digits, or an exponent of more than three digits. Runs on a
// document that passed the schema, before ToTrainingJob, which needs every quantity parsed.
std::vector<Diagnostic> CheckQuantities(const nlohmann::json& doc, const YamlNode& root,
                                        const std::string& path) {
  std::vector<Diagnostic> out;
  auto check = [&](const nlohmann::json& resources, std::vector<std::string> at,
                   const char* field) {
    if (!resources.contains(field)) return;
    StatusOr<Quantity> quantity = Quantity::Parse(QuantityText(resources[field]));
    if (quantity.ok()) return;
    at.emplace_back(field);
    std::string name;
    for (const std::string& step : at) name += (name.empty() ? "" : ".") + step;
    YamlPosition position = Locate(root, at);
    out.push_back({{path, position.line, position.column},
                   name + ": " + quantity.status().message(),
                   "quantities go up to 2^53 units (9 PB of memory), with at most 19 integer "
                   "digits and a three-digit exponent"});
  };
  const nlohmann::json& spec = doc["spec"];
  for (const auto& [role_name, role] : spec["roles"].items()) {
    if (role.contains("resources")) {
      check(role["resources"], {"spec", "roles", role_name, "resources"}, "cpu");
      check(role["resources"], {"spec", "roles", role_name, "resources"}, "memory");
    }
  }
  if (spec.contains("ray") && spec["ray"].contains("entrypointResources")) {
    check(spec["ray"]["entrypointResources"], {"spec", "ray", "entrypointResources"}, "memory");
  }
  return out;
}

// Builds the typed job from a document that passed the schema and CheckQuantities, filling in
// defaults.
TrainingJob ToTrainingJob(const nlohmann::json& doc) {
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
  if (spec.contains("env")) job.env = spec["env"].get<std::map<std::string, std::string>>();
  auto quantity = [](const nlohmann::json& value) { return *Quantity::Parse(QuantityText(value)); };
  for (const auto& [role_name, r] : spec["roles"].items()) {
    Role role;
    role.replicas = r["replicas"].get<int>();
    if (r.contains("minReplicas")) role.min_replicas = r["minReplicas"].get<int>();
    if (r.contains("maxReplicas")) role.max_replicas = r["maxReplicas"].get<int>();
    if (r.contains("resources")) {
      const nlohmann::json& res = r["resources"];
      if (res.contains("cpu")) role.resources.cpu = quantity(res["cpu"]);
      if (res.contains("memory")) role.resources.memory = quantity(res["memory"]);
      if (res.contains("gpu")) role.resources.gpu = res["gpu"].get<int64_t>();
    }
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
      if (res.contains("memory")) ray_spec.entrypoint_resources.memory = quantity(res["memory"]);
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
      // The Indexed Job "<name>-<role>" names its pods' hostnames "<name>-<role>-<index>".
      int largest = std::max(role.replicas, role.max_replicas.value_or(0));
      size_t length = job.name.size() + 1 + role_name.size() + 1 + DecimalDigits(largest - 1);
      if (length > kMaxObjectName) {
        out.push_back({at({"metadata", "name"}),
                       "metadata.name: the Kubernetes Job for role '" + role_name + "' would be '" +
                           job.name + "-" + role_name + "', whose pod hostnames reach " +
                           std::to_string(length) + " characters; the limit is 63",
                       "shorten the job or role name by " +
                           std::to_string(length - kMaxObjectName) + " characters"});
      }
    }
  }
  if (job.backend == BackendKind::kKubernetes) {
    if (job.image.empty()) {
      out.push_back({at({"spec"}),
                     "spec: missing 'image': a Kubernetes job needs a container image",
                     "add spec.image, e.g. image: pytorch/pytorch:2.4.0"});
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

}  // namespace

ManifestFile ParseManifestFile(const std::string& path, std::string_view text,
                               const SchemaValidator& validator, const YamlLimits& limits) {
  ManifestFile file;
  file.path = path;
  YamlFile yaml = ReadYaml(text, limits);
  if (yaml.error) {
    file.unreadable = true;
    file.diagnostics.push_back(
        {{path, yaml.error->line, yaml.error->column}, yaml.error->message, yaml.error->hint});
  }
  for (const YamlNodePtr& root : yaml.documents) {
    SourceLocation start{path, root->line, root->column};
    nlohmann::json doc = YamlToJson(*root);
    // Non-finite numbers first: the schema would report them as null.
    std::vector<Diagnostic> problems;
    std::vector<std::string> at;
    CheckFinite(doc, &at, *root, path, &problems);
    if (problems.empty()) problems = validator.Validate(doc, *root, path);
    std::optional<TrainingJob> job;
    if (problems.empty()) problems = CheckQuantities(doc, *root, path);
    if (problems.empty()) {
      job = ToTrainingJob(doc);
      problems = CheckJob(*job, *root, path);
    }
    YamlPosition name = Locate(*root, {"metadata", "name"});
    if (!problems.empty()) {
      file.invalid.push_back(
          {BestEffortKey(doc), name.found ? SourceLocation{path, name.line, name.column} : start});
      for (Diagnostic& d : problems) file.diagnostics.push_back(std::move(d));
      continue;
    }
    ParsedJob parsed;
    parsed.name_location = {path, name.line, name.column};
    for (size_t i = 0; i < job->depends_on.size(); ++i) {
      YamlPosition dep = Locate(*root, {"spec", "dependsOn", std::to_string(i)});
      parsed.depends_on_locations.push_back({path, dep.line, dep.column});
    }
    job->source = start;
    parsed.job = std::make_shared<const TrainingJob>(std::move(*job));
    file.jobs.push_back(std::move(parsed));
  }
  return file;
}

LoadResult CheckManifests(const std::vector<ManifestFile>& files) {
  std::vector<const ManifestFile*> pointers;
  pointers.reserve(files.size());
  for (const ManifestFile& file : files) pointers.push_back(&file);
  return CheckManifests(pointers);
}

LoadResult CheckManifests(const std::vector<const ManifestFile*>& files) {
  LoadResult result;
  std::set<JobKey> invalid;
  std::vector<const ParsedJob*> jobs;
  // Every definition of each key, valid or not, in file order: duplicates are reported either way.
  std::map<JobKey, std::vector<SourceLocation>> definitions;
  for (const ManifestFile* file_pointer : files) {
    const ManifestFile& file = *file_pointer;
    if (file.unreadable) result.unreadable_files.push_back(file.path);
    for (const Diagnostic& d : file.diagnostics) result.diagnostics.push_back(d);
    for (const InvalidManifest& m : file.invalid) {
      if (!m.key) continue;
      invalid.insert(*m.key);
      definitions[*m.key].push_back(m.location);
    }
    for (const ParsedJob& job : file.jobs) {
      jobs.push_back(&job);
      definitions[job.job->key()].push_back(job.name_location);
    }
  }

  // The same backend/namespace/name defined twice: report every extra definition, naming the first.
  for (auto& [key, locations] : definitions) {
    std::sort(locations.begin(), locations.end(),
              [](const SourceLocation& a, const SourceLocation& b) {
                return std::tie(a.path, a.line, a.column) < std::tie(b.path, b.line, b.column);
              });
    for (size_t i = 1; i < locations.size(); ++i) {
      result.diagnostics.push_back(
          {locations[i],
           "job " + key.ToString() + " is defined twice: first at " + locations[0].ToString(),
           "each backend/namespace/name must appear once; rename or remove one"});
    }
    if (locations.size() > 1) invalid.insert(key);
  }

  // dependsOn: names in the same namespace (any backend) that exist, and no cycle.
  std::map<std::pair<std::string, std::string>, std::vector<const ParsedJob*>> by_name;
  for (const ParsedJob* job : jobs)
    by_name[{job->job->namespace_name, job->job->name}].push_back(job);
  for (const ParsedJob* job : jobs) {
    for (size_t i = 0; i < job->job->depends_on.size(); ++i) {
      const std::string& dep = job->job->depends_on[i];
      if (by_name.count({job->job->namespace_name, dep})) continue;
      result.diagnostics.push_back(
          {job->depends_on_locations[i],
           "spec.dependsOn: job '" + dep + "' does not exist in namespace '" +
               job->job->namespace_name + "'",
           "dependsOn names jobs of the same namespace; check the spelling or add the job"});
      invalid.insert(job->job->key());
    }
  }
  // Depth-first search with colours; a grey node met again closes a cycle.
  std::map<const ParsedJob*, int> colour;  // 0 white, 1 grey, 2 black
  std::vector<const ParsedJob*> stack;
  std::set<std::vector<std::string>> reported;
  auto visit = [&](auto&& self, const ParsedJob* job) -> void {
    colour[job] = 1;
    stack.push_back(job);
    for (const std::string& dep : job->job->depends_on) {
      auto it = by_name.find({job->job->namespace_name, dep});
      if (it == by_name.end()) continue;
      for (const ParsedJob* next : it->second) {
        if (colour[next] == 1) {
          auto begin = std::find(stack.begin(), stack.end(), next);
          std::vector<std::string> cycle;
          for (auto p = begin; p != stack.end(); ++p) cycle.push_back((*p)->job->name);
          std::vector<std::string> canonical = cycle;
          std::rotate(canonical.begin(), std::min_element(canonical.begin(), canonical.end()),
                      canonical.end());
          for (auto p = begin; p != stack.end(); ++p) invalid.insert((*p)->job->key());
          if (!reported.insert(canonical).second) continue;
          std::string text;
          for (const std::string& name : canonical) text += name + " -> ";
          text += canonical.front();
          result.diagnostics.push_back({(*begin)->name_location,
                                        "spec.dependsOn: dependency cycle: " + text,
                                        "remove one of the dependsOn entries to break the cycle"});
        } else if (colour[next] == 0) {
          self(self, next);
        }
      }
    }
    stack.pop_back();
    colour[job] = 2;
  };
  for (const ParsedJob* job : jobs) {
    if (colour[job] == 0) visit(visit, job);
  }

  // Ordered by key: the comparison reads the key's fields in place (JobKey's order).
  result.jobs.reserve(jobs.size());
  for (const ParsedJob* job : jobs) {
    if (invalid.empty() || !invalid.count(job->job->key())) result.jobs.push_back(job->job);
  }
  std::sort(result.jobs.begin(), result.jobs.end(), [](const auto& a, const auto& b) {
    return std::tie(a->backend, a->namespace_name, a->name) <
           std::tie(b->backend, b->namespace_name, b->name);
  });
  result.invalid_jobs.assign(invalid.begin(), invalid.end());
  std::sort(result.unreadable_files.begin(), result.unreadable_files.end());
  std::sort(result.diagnostics.begin(), result.diagnostics.end());
  return result;
}

LoadResult LoadManifestPaths(const std::vector<std::string>& paths,
                             const SchemaValidator& validator, const YamlLimits& limits) {
  std::vector<ManifestFile> files;
  std::vector<Diagnostic> access_errors;
  auto is_manifest = [](const fs::path& p) {
    return p.extension() == ".yaml" || p.extension() == ".yml";
  };
  auto load_file = [&](const fs::path& p) {
    std::error_code ec;
    auto size = fs::file_size(p, ec);
    if (!ec && size > limits.max_bytes) {
      ManifestFile file;
      file.path = p.string();
      file.unreadable = true;
      file.diagnostics.push_back({{p.string(), 1, 1},
                                  "file is " + std::to_string(size) + " bytes, over the limit of " +
                                      std::to_string(limits.max_bytes),
                                  "split the manifests into several files"});
      files.push_back(std::move(file));
      return;
    }
    std::ifstream in(p, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    if (!in.is_open() || in.bad()) {
      ManifestFile file;
      file.path = p.string();
      file.unreadable = true;
      file.diagnostics.push_back({{p.string(), 0, 0}, "cannot read file", "check its permissions"});
      files.push_back(std::move(file));
      return;
    }
    files.push_back(ParseManifestFile(p.string(), text.str(), validator, limits));
  };
  for (const std::string& arg : paths) {
    std::error_code ec;
    fs::file_status status = fs::status(arg, ec);
    if (ec || !fs::exists(status)) {
      access_errors.push_back({{arg, 0, 0}, "no such file or directory", ""});
      continue;
    }
    if (fs::is_regular_file(status)) {
      load_file(arg);
      continue;
    }
    std::vector<fs::path> found;
    fs::recursive_directory_iterator it(arg, fs::directory_options::skip_permission_denied, ec);
    for (; !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      const fs::path& p = it->path();
      if (p.filename().string().rfind('.', 0) == 0) {
        if (it->is_directory()) it.disable_recursion_pending();
        continue;
      }
      if (it->is_regular_file() && is_manifest(p)) found.push_back(p);
    }
    if (ec) access_errors.push_back({{arg, 0, 0}, "cannot list directory: " + ec.message(), ""});
    std::sort(found.begin(), found.end());
    for (const fs::path& p : found) load_file(p);
  }
  LoadResult result = CheckManifests(files);
  for (Diagnostic& d : access_errors) result.diagnostics.push_back(std::move(d));
  std::sort(result.diagnostics.begin(), result.diagnostics.end());
  return result;
}

}  // namespace jobsync
