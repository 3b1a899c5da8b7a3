#include "schemas/elasticjob.h"

#include "schemas/elasticjob_translator.h"
#include "schemas/model.h"

namespace jobsync {
namespace elasticjob_internal {

YamlNodePtr Translator::Spec(const YamlNode& spec) {
  Builder out(spec);
  const YamlNode& backend_at = kind_ != nullptr ? *kind_->value : root_;
  out.Add("backend", String("kubernetes", backend_at));
  for (const YamlMapEntry& entry : spec.entries) ReadSpecField(entry, out);
  std::vector<RoleParts> roles;
  const YamlMapEntry* replica_specs = spec.Find("replicaSpecs");
  if (replica_specs == nullptr) {
    Error(spec, "spec.replicaSpecs: an ElasticJob needs replicaSpecs (worker, ps, ...)",
          "add spec.replicaSpecs.worker with replicas and a pod template");
    return out.Build();
  }
  if (!IsMapping(replica_specs->value.get())) {
    Error(*replica_specs->value, "spec.replicaSpecs: must map replica types to their specs",
          "write replicaSpecs: {worker: {replicas: N, template: ...}}");
    return out.Build();
  }
  for (const YamlMapEntry& entry : replica_specs->value->entries) {
    if (std::optional<RoleParts> role = ReadRole(entry)) roles.push_back(std::move(*role));
  }
  WriteSettings(roles, out);
  if (job_env_ && !job_env_->empty())
    out.Add("env", Field{job_env_->Build(), job_env_key_.key_line, job_env_key_.key_column});
  WriteJobLevel(roles, out);
  Builder role_map(*replica_specs->value);
  for (RoleParts& role : roles) {
    role_map.Add(role.name, Field{role.role.Build(), role.entry->key_line, role.entry->key_column});
  }
  out.Add("roles", Field{role_map.Build(), replica_specs->key_line, replica_specs->key_column});
  return out.Build();
}

void Translator::ReadSpecField(const YamlMapEntry& entry, Builder& out) {
  const json value = YamlToJson(*entry.value);
  const std::string field = "spec." + entry.key;
  if (entry.key == "replicaSpecs") return;
  if (entry.key == "suspend") {
    out.Add("suspend", FieldOf(entry));
  } else if (entry.key == "envs") {
    if (!IsMapping(entry.value.get())) {
      Error(*entry.value, field + ": must map names to EnvVar objects",
            "write envs: {NAME: {name: NAME, value: \"text\"}}");
      return;
    }
    job_env_.emplace(*entry.value);
    job_env_key_ = FieldOf(entry);
    Builder& env = *job_env_;
    for (const YamlMapEntry& var : entry.value->entries) {
      job_env_names_.insert(var.key);
      const YamlMapEntry* value_from =
          IsMapping(var.value.get()) ? var.value->Find("valueFrom") : nullptr;
      const YamlMapEntry* literal = IsMapping(var.value.get()) ? var.value->Find("value") : nullptr;
      if (value_from != nullptr) {
        env.Add(var.key, Field{value_from->value, var.key_line, var.key_column});
      } else if (literal != nullptr) {
        env.Add(var.key, Field{literal->value, var.key_line, var.key_column});
      } else {
        env.Add(var.key, Field{String("", *var.value), var.key_line, var.key_column});
      }
    }
  } else if (entry.key == "distributionStrategy") {
    strategy_ = value.is_string() ? value.get<std::string>() : value.dump();
    if (strategy_ == "ParameterServerStrategy") {
      Warn(entry, field,
           "ParameterServerStrategy: jobsync does not write TF_CONFIG, which DLRover's job "
           "master writes for it",
           "programs find their peers through JOBSYNC_SERVICE and JOBSYNC_REPLICAS_<ROLE> "
           "(docs/kubernetes-mapping.md, \"Environment\")");
    } else if (strategy_ != "AllreduceStrategy") {
      Warn(entry, field, Quote(value) + " is not a strategy jobsync knows; ignored",
           "DLRover's strategies are AllreduceStrategy and ParameterServerStrategy");
    }
  } else if (entry.key == "optimizeMode") {
    if (value != "single-job") {
      Warn(entry, field,
           Quote(value) + ": jobsync runs the replicas Git says and optimizes nothing",
           "only optimizeMode single-job (or none) is honoured as written");
    }
  } else if (entry.key == "brainService") {
    Warn(entry, field, "jobsync does not use DLRover's Brain service; ignored", "");
  } else if (entry.key == "resourceLimits") {
    Warn(entry, field, "jobsync does not cap a job's total resources; ignored",
         "each role requests replicas x its resources; `jobsync plan` shows the total");
  } else {
    Warn(entry, field, "not a field jobsync reads; ignored", "");
  }
}

std::optional<RoleParts> Translator::ReadRole(const YamlMapEntry& entry) {
  const std::string field = "spec.replicaSpecs." + entry.key;
  if (entry.key == kMasterReplicaType) {
    Warn(entry, field, "DLRover's job master is not run by jobsync (native mode); ignored", "");
    return std::nullopt;
  }
  if (!IsMapping(entry.value.get())) {
    Error(*entry.value, field + ": must be a replica spec (replicas, template, ...)", "");
    return std::nullopt;
  }
  RoleParts role;
  role.name = entry.key;
  role.entry = &entry;
  role.role = Builder(*entry.value);
  const YamlNode& spec = *entry.value;
  const YamlMapEntry* replicas = spec.Find("replicas");
  // DLRover's ReplicaSpec.replicas: "If unspecified, defaults to 1".
  role.role.Add("replicas", replicas != nullptr
                                ? FieldOf(*replicas)
                                : Field{Integer(1, spec), entry.key_line, entry.key_column});
  bool has_template = false;
  for (const YamlMapEntry& item : spec.entries) {
    const std::string name = field + "." + item.key;
    const json value = YamlToJson(*item.value);
    if (item.key == "replicas") continue;
    if (item.key == "template") {
      has_template = true;
      ReadTemplate(*item.value, name, role);
    } else if (item.key == "restartCount") {
      if (value.is_number_integer()) {
        role.restart_count = {value.get<int64_t>(), item.value.get()};
      } else {
        Error(*item.value, name + ": must be a whole number of restarts", "");
      }
    } else if (item.key == "autoScale") {
      if (value != false) {
        Warn(item, name, "jobsync does not autoscale; replicas stay as Git says", "");
      }
    } else if (item.key == "restartPolicy") {
      Warn(item, name,
           "jobsync runs pods with restartPolicy Never and restarts a failed replica up to "
           "restartCount times; ignored",
           "");
    } else if (item.key == "restartTimeout" || item.key == "priority" ||
               item.key == "BatchScheduler") {
      Warn(item, name, "not honoured by jobsync; ignored",
           item.key == "BatchScheduler" ? "the pod template's schedulerName is honoured"
           : item.key == "priority"     ? "the pod template's priorityClassName is honoured"
                                        : "");
    } else {
      Warn(item, name, "not a field jobsync reads; ignored", "");
    }
  }
  if (!has_template) {
    Error(spec, field + ": needs a pod template with the training container",
          "add template.spec.containers with a container named main");
  }
  AddDlroverEnv(role);
  return role;
}

void Translator::AddDlroverEnv(RoleParts& role) {
  // As DLRover's master sets them on each pod, after the container's own (so they win).
  const YamlNode& at = *role.entry->value;
  const Field count{String("$(JOBSYNC_REPLICAS_" + EnvSuffix(role.name) + ")", at),
                    role.entry->key_line, role.entry->key_column};
  role.Set({Group::kEnv, "NODE_NUM"}, count);
  role.Set({Group::kEnv, "WORKER_NUM"}, count);
  Builder field_ref(at);
  field_ref.Add("fieldPath", String(kCompletionIndexPath, at));
  Builder rank(at);
  rank.Add("fieldRef", field_ref.Build());
  const Field index{rank.Build(), role.entry->key_line, role.entry->key_column};
  role.Set({Group::kEnv, "NODE_RANK"}, index);
  role.Set({Group::kEnv, "WORKER_RANK"}, index);
  if (strategy_ == "AllreduceStrategy") {
    // The kubeflow/PyTorchJob names DLRover also sets for allreduce jobs.
    role.Set({Group::kEnv, "WORLD_SIZE"}, count);
    role.Set({Group::kEnv, "RANK"}, index);
  }
}

void Translator::WriteSettings(std::vector<RoleParts>& roles, Builder& spec) {
  // A setting every role has, alike, is written once at spec level (and not for a name spec.envs
  // sets: there the container's value must stay the role's, so that it wins).
  std::set<SettingKey> shared;
  if (!roles.empty()) {
    for (const auto& [key, field] : roles.front().settings) {
      if (key.group == Group::kEnv && job_env_names_.contains(key.name)) continue;
      const json value = YamlToJson(*field.value);
      bool alike = true;
      for (const RoleParts& role : roles) {
        const Field* other = role.Get(key);
        alike = alike && other != nullptr && YamlToJson(*other->value) == value;
      }
      if (alike) shared.insert(key);
    }
  }
  auto write = [&](const std::vector<std::pair<SettingKey, Field>>& settings, bool want_shared,
                   Builder& out, Builder& env, const YamlNode& at) {
    Builder selector(at);
    Builder volumes(at, YamlNode::Kind::kSequence);
    for (const auto& [key, field] : settings) {
      if (shared.contains(key) != want_shared) continue;
      switch (key.group) {
        case Group::kWhole:
          out.Add(key.name, field);
          break;
        case Group::kEnv:
          env.Add(key.name, field);
          break;
        case Group::kNodeSelector:
          selector.Add(key.name, field);
          break;
        case Group::kVolume:
          volumes.Append(field.value);
          break;
      }
    }
    if (!volumes.empty()) out.Add("volumes", volumes.Build());
    if (!selector.empty()) out.Add("nodeSelector", selector.Build());
  };
  if (roles.empty()) return;
  const YamlMapEntry& first = *roles.front().entry;
  if (!job_env_) {
    job_env_.emplace(*first.value);
    job_env_key_ = Field{nullptr, first.key_line, first.key_column};
  }
  write(roles.front().settings, true, spec, *job_env_, *first.value);
  for (RoleParts& role : roles) {
    Builder env(*role.entry->value);
    write(role.settings, false, role.role, env, *role.entry->value);
    if (!env.empty()) role.role.Add("env", env.Build());
  }
}

void Translator::WriteJobLevel(const std::vector<RoleParts>& roles, Builder& spec) {
  // Settings a TrainingJob has once per job: every role must agree on them.
  for (const char* name : {"affinity", "priorityClassName", "schedulerName", "serviceAccountName",
                           "imagePullSecrets"}) {
    const RoleParts* first = nullptr;
    for (const RoleParts& role : roles) {
      if (role.job_level.contains(name)) {
        first = &role;
        break;
      }
    }
    if (first == nullptr) continue;
    const Field& chosen = first->job_level.at(name);
    const json value = YamlToJson(*chosen.value);
    bool agree = true;
    for (const RoleParts& role : roles) {
      auto it = role.job_level.find(name);
      if (it != role.job_level.end() && YamlToJson(*it->second.value) == value) continue;
      agree = false;
      const int line = it != role.job_level.end() ? it->second.key_line : role.entry->key_line;
      const int column =
          it != role.job_level.end() ? it->second.key_column : role.entry->key_column;
      errors_.push_back({At(line, column),
                         "spec.replicaSpecs." + role.name + ": the pod's " + name +
                             " differs from replica type " + first->name +
                             "'s; jobsync sets it once for the whole job",
                         "give every replica type the same " + std::string(name)});
    }
    if (agree) spec.Add(name, chosen);
  }
  const std::pair<int64_t, const YamlNode*>* budget = nullptr;
  for (const RoleParts& role : roles) {
    if (role.restart_count && (budget == nullptr || role.restart_count->first > budget->first)) {
      budget = &*role.restart_count;
    }
  }
  if (budget == nullptr) return;
  for (const RoleParts& role : roles) {
    if (role.restart_count && role.restart_count->first == budget->first) continue;
    warnings_.push_back(
        {At(role.entry->key_line, role.entry->key_column),
         "ElasticJob spec.replicaSpecs." + role.name + ": restartCount " +
             (role.restart_count ? std::to_string(role.restart_count->first) : "unset") +
             ", but jobsync's restart budget is one per job: every replica may restart " +
             std::to_string(budget->first) + " times (the largest restartCount)",
         "give every replica type the same restartCount", true});
  }
  Builder policy(*budget->second);
  policy.Add("maxRestarts", Integer(budget->first, *budget->second));
  spec.Add("failurePolicy", policy.Build());
}

}  // namespace elasticjob_internal

bool IsElasticJobDocument(const YamlNode& root) {
  if (root.kind != YamlNode::Kind::kMapping) return false;
  const YamlMapEntry* kind = root.Find("kind");
  return kind != nullptr && kind->value->kind == YamlNode::Kind::kScalar &&
         kind->value->scalar == kElasticJobKind;
}

ElasticJobTranslation TranslateElasticJob(const YamlNode& root, const std::string& path) {
  ElasticJobTranslation translation = elasticjob_internal::Translator(root, path).Run();
  std::sort(translation.warnings.begin(), translation.warnings.end());
  return translation;
}

const char* ElasticJobModeName(ElasticJobMode mode) {
  return mode == ElasticJobMode::kOperator ? "operator" : "native";
}

std::optional<ElasticJobMode> ParseElasticJobMode(std::string_view text) {
  if (text == "native") return ElasticJobMode::kNative;
  if (text == "operator") return ElasticJobMode::kOperator;
  return std::nullopt;
}

namespace {

// The value node of metadata.annotations[kElasticJobModeAnnotation]; null when absent.
const YamlNode* ModeAnnotation(const YamlNode& root) {
  const YamlNode* node = &root;
  for (const char* key : {"metadata", "annotations", kElasticJobModeAnnotation}) {
    if (node->kind != YamlNode::Kind::kMapping) return nullptr;
    const YamlMapEntry* entry = node->Find(key);
    if (entry == nullptr) return nullptr;
    node = entry->value.get();
  }
  return node;
}

// The ElasticJob's spec as DLRover's operator is to get it, less what the job's roles and
// suspend carry: each replica type's `replicas` (but the job master's) and `suspend`.
nlohmann::json OperatorSpec(const YamlNode& root) {
  const YamlMapEntry* spec = root.Find("spec");
  nlohmann::json out = spec != nullptr ? YamlToJson(*spec->value) : nlohmann::json::object();
  if (!out.is_object()) return nlohmann::json::object();
  out.erase("suspend");
  auto types = out.find("replicaSpecs");
  if (types != out.end() && types->is_object()) {
    for (auto& [type, replica] : types->items()) {
      if (type != elasticjob_internal::kMasterReplicaType && replica.is_object()) {
        replica.erase("replicas");
      }
    }
  }
  return out;
}

}  // namespace

DocumentToRead DocumentToLoad(const YamlNodePtr& document, const std::string& path,
                              ElasticJobMode default_mode, std::vector<Diagnostic>* errors,
                              std::vector<Diagnostic>* warnings) {
  const YamlNode* annotation = ModeAnnotation(*document);
  if (!IsElasticJobDocument(*document)) {
    if (annotation != nullptr) {
      warnings->push_back({{path, annotation->line, annotation->column},
                           std::string(kElasticJobModeAnnotation) +
                               " chooses how an ElasticJob runs; this document is not one, so "
                               "it is ignored",
                           "remove the annotation",
                           true});
    }
    return {document, nullptr};
  }
  ElasticJobMode mode = default_mode;
  if (annotation != nullptr) {
    std::optional<ElasticJobMode> chosen;
    if (annotation->kind == YamlNode::Kind::kScalar)
      chosen = ParseElasticJobMode(annotation->scalar);
    if (!chosen) {
      errors->push_back({{path, annotation->line, annotation->column},
                         std::string("metadata.annotations['") + kElasticJobModeAnnotation +
                             "']: must be native or operator",
                         "native: jobsync runs the job itself; operator: jobsync applies the "
                         "ElasticJob for DLRover's operator (docs/elasticjob.md)"});
    } else {
      mode = *chosen;
    }
  }
  ElasticJobTranslation translation = TranslateElasticJob(*document, path);
  for (Diagnostic& d : translation.errors) errors->push_back(std::move(d));
  if (mode == ElasticJobMode::kNative) {
    for (Diagnostic& d : translation.warnings) warnings->push_back(std::move(d));
  }
  if (translation.training_job == nullptr) return {document, nullptr};
  DocumentToRead read{translation.training_job, nullptr};
  if (mode == ElasticJobMode::kOperator) read.operator_spec = OperatorSpec(*document);
  return read;
}

void AddElasticJobProblems(const std::vector<Diagnostic>& errors,
                           std::vector<Diagnostic>* problems) {
  for (Diagnostic& d : *problems) {
    d.hint += std::string(d.hint.empty() ? "" : "; ") +
              "the field named is the TrainingJob's that this ElasticJob reads as (see `jobsync "
              "convert`)";
  }
  problems->insert(problems->begin(), errors.begin(), errors.end());
}

}  // namespace jobsync
