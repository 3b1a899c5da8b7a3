// The ElasticJob translator's parts (schemas/elasticjob.h), shared by elasticjob.cc (the job,
// its replica specs and where each setting is written) and elasticjob_pod.cc (each replica's pod
// template). Internal to the schemas library: include schemas/elasticjob.h instead.
#ifndef JOBSYNC_SCHEMAS_ELASTICJOB_TRANSLATOR_H_
#define JOBSYNC_SCHEMAS_ELASTICJOB_TRANSLATOR_H_

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "schemas/diagnostic.h"
#include "schemas/elasticjob.h"
#include "schemas/yaml_json.h"
#include "schemas/yaml_reader.h"

namespace jobsync::elasticjob_internal {

using nlohmann::json;

inline constexpr const char* kCompletionIndexPath =
    "metadata.annotations['batch.kubernetes.io/job-completion-index']";
// DLRover's replica type for its job master's pod template: no role of the job.
inline constexpr const char* kMasterReplicaType = "dlrover-master";

// A value of the TrainingJob document with the position of the key it is written under.
struct Field {
  YamlNodePtr value;
  int key_line = 0;
  int key_column = 0;
};

inline YamlNodePtr Scalar(std::string text, bool plain, int line, int column) {
  auto node = std::make_shared<YamlNode>();
  node->kind = YamlNode::Kind::kScalar;
  node->scalar = std::move(text);
  node->plain = plain;
  node->line = line;
  node->column = column;
  return node;
}
inline YamlNodePtr String(std::string text, const YamlNode& at) {
  return Scalar(std::move(text), false, at.line, at.column);
}
inline YamlNodePtr Integer(int64_t value, const YamlNode& at) {
  return Scalar(std::to_string(value), true, at.line, at.column);
}

// A mapping or sequence of the TrainingJob document under construction.
class Builder {
 public:
  Builder(YamlNode::Kind kind, int line, int column) : node_(std::make_shared<YamlNode>()) {
    node_->kind = kind;
    node_->line = line;
    node_->column = column;
  }
  explicit Builder(const YamlNode& at, YamlNode::Kind kind = YamlNode::Kind::kMapping)
      : Builder(kind, at.line, at.column) {}

  void Add(const std::string& key, const Field& field) {
    if (field.value == nullptr) return;
    node_->entries.push_back({key, field.key_line, field.key_column, field.value});
  }
  void Add(const std::string& key, const YamlNodePtr& value) {
    if (value != nullptr) Add(key, Field{value, value->line, value->column});
  }
  void Append(YamlNodePtr value) { node_->items.push_back(std::move(value)); }
  bool empty() const { return node_->entries.empty() && node_->items.empty(); }
  YamlNodePtr Build() const { return node_; }

 private:
  std::shared_ptr<YamlNode> node_;
};

inline Field FieldOf(const YamlMapEntry& entry) {
  return {entry.value, entry.key_line, entry.key_column};
}

inline bool IsMapping(const YamlNode* node) {
  return node != nullptr && node->kind == YamlNode::Kind::kMapping;
}

inline std::string Quote(const json& value) {
  return value.is_string() ? "'" + value.get<std::string>() + "'" : value.dump();
}

// "WORKER" for "worker", "EVAL_SET" for "eval-set": the suffix of JOBSYNC_REPLICAS_<ROLE>.
inline std::string EnvSuffix(const std::string& role) {
  std::string out;
  for (char c : role) {
    out.push_back(c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
  }
  return out;
}

// What a setting of the TrainingJob is, for writing it once at spec level when every role has it
// alike: a whole field (image, command, args, envFrom, tolerations) or one entry of a keyed one
// (env, nodeSelector by key; volumes by name).
enum class Group { kWhole, kEnv, kNodeSelector, kVolume };
struct SettingKey {
  Group group;
  std::string name;  // the field (kWhole) or the entry's key
  friend auto operator<=>(const SettingKey&, const SettingKey&) = default;
};

// One role read from replicaSpecs.<name>.
struct RoleParts {
  std::string name;
  const YamlMapEntry* entry = nullptr;
  Builder role{YamlNode::Kind::kMapping, 0, 0};
  std::vector<std::pair<SettingKey, Field>> settings;  // in the order read
  std::map<std::string, Field> job_level;              // affinity, schedulerName, ...
  std::optional<std::pair<int64_t, const YamlNode*>> restart_count;

  void Set(SettingKey key, Field field) {
    for (auto& [have, value] : settings) {
      if (have == key) {
        value = std::move(field);
        return;
      }
    }
    settings.emplace_back(std::move(key), std::move(field));
  }
  const Field* Get(const SettingKey& key) const {
    for (const auto& [have, value] : settings) {
      if (have == key) return &value;
    }
    return nullptr;
  }
};

// Reads one ElasticJob document into its TrainingJob document, collecting errors and warnings
// (Run, once). Holds references to the document and the path, which must outlive it; one thread.
class Translator {
 public:
  Translator(const YamlNode& root, const std::string& path) : root_(root), path_(path) {}

  ElasticJobTranslation Run() {
    ElasticJobTranslation out;
    Builder doc(root_);
    for (const YamlMapEntry& entry : root_.entries) {
      if (entry.key == "apiVersion") {
        CheckApiVersion(entry);
        doc.Add("apiVersion",
                Field{String(kApiVersion, *entry.value), entry.key_line, entry.key_column});
      } else if (entry.key == "kind") {
        kind_ = &entry;
        doc.Add("kind", Field{String(kKind, *entry.value), entry.key_line, entry.key_column});
      } else if (entry.key == "metadata") {
        doc.Add("metadata", Field{Metadata(entry), entry.key_line, entry.key_column});
      } else if (entry.key == "spec") {
        spec_entry_ = &entry;
      } else {
        Warn(entry, entry.key,
             entry.key == "status" ? "the status is DLRover's operator's to write; ignored"
                                   : "not a field of an ElasticJob; ignored",
             "");
      }
    }
    if (spec_entry_ == nullptr || !IsMapping(spec_entry_->value.get())) {
      const YamlNode& at = spec_entry_ != nullptr ? *spec_entry_->value : root_;
      Error(at, "spec: an ElasticJob needs a spec with replicaSpecs",
            "see docs/elasticjob.md for the fields jobsync reads");
    } else {
      doc.Add("spec",
              Field{Spec(*spec_entry_->value), spec_entry_->key_line, spec_entry_->key_column});
    }
    out.training_job = doc.Build();
    out.errors = std::move(errors_);
    out.warnings = std::move(warnings_);
    return out;
  }

 private:
  SourceLocation At(int line, int column) const { return {path_, line, column}; }

  void Error(const YamlNode& at, std::string message, std::string hint) {
    errors_.push_back({At(at.line, at.column), std::move(message), std::move(hint)});
  }
  // A warning at the key of `entry`: "<field>: <message>".
  void Warn(const YamlMapEntry& entry, const std::string& field, const std::string& message,
            std::string hint) {
    warnings_.push_back({At(entry.key_line, entry.key_column),
                         "ElasticJob " + field + ": " + message, std::move(hint), true});
  }

  void CheckApiVersion(const YamlMapEntry& entry) {
    const json value = YamlToJson(*entry.value);
    if (value == kElasticJobApiVersion) return;
    Error(*entry.value,
          "apiVersion: " + Quote(value) + " is not an ElasticJob version jobsync reads",
          std::string("DLRover's ElasticJob is apiVersion ") + kElasticJobApiVersion);
  }

  YamlNodePtr Metadata(const YamlMapEntry& metadata_entry) {
    const YamlNode& metadata = *metadata_entry.value;
    if (!IsMapping(&metadata)) return metadata_entry.value;  // the schema says what is wrong
    Builder out(metadata);
    for (const YamlMapEntry& entry : metadata.entries) {
      if (entry.key == "name" || entry.key == "namespace" || entry.key == "labels" ||
          entry.key == "annotations") {
        out.Add(entry.key, FieldOf(entry));
      } else {
        Warn(entry, "metadata." + entry.key, "not applied by jobsync; ignored", "");
      }
    }
    return out.Build();
  }

  YamlNodePtr Spec(const YamlNode& spec);
  void ReadSpecField(const YamlMapEntry& entry, Builder& out);
  std::optional<RoleParts> ReadRole(const YamlMapEntry& entry);
  void ReadTemplate(const YamlNode& pod_template, const std::string& field, RoleParts& role);
  void ReadPodSpec(const YamlNode& pod, const std::string& field, RoleParts& role);
  void ReadContainer(const YamlNode& container, const YamlNode* pod_volumes,
                     const std::string& field, RoleParts& role);
  void ReadResources(const YamlMapEntry& entry, const std::string& field, RoleParts& role);
  void ReadVolumeMounts(const YamlMapEntry& entry, const YamlNode* pod_volumes,
                        const std::string& field, RoleParts& role);
  void ReadBounds(const YamlNode* command, const YamlNode* args, const std::string& field,
                  RoleParts& role);
  void AddDlroverEnv(RoleParts& role);
  void WriteSettings(std::vector<RoleParts>& roles, Builder& spec);
  void WriteJobLevel(const std::vector<RoleParts>& roles, Builder& spec);

  const YamlNode& root_;
  const std::string& path_;
  const YamlMapEntry* kind_ = nullptr;
  const YamlMapEntry* spec_entry_ = nullptr;
  std::string strategy_;
  std::optional<Builder> job_env_;       // spec.env: spec.envs, then what every role sets alike
  Field job_env_key_;                    // where spec.env is written
  std::set<std::string> job_env_names_;  // spec.envs: the containers' same names stay per role
  std::vector<Diagnostic> errors_;
  std::vector<Diagnostic> warnings_;
};

}  // namespace jobsync::elasticjob_internal

#endif  // JOBSYNC_SCHEMAS_ELASTICJOB_TRANSLATOR_H_
