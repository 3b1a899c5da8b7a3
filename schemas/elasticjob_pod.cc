#include "schemas/ascii.h"
#include "schemas/elasticjob_translator.h"

namespace jobsync::elasticjob_internal {
namespace {

// A --nnodes bound: a number, or DLRover's replica count ($NODE_NUM, $WORKER_NUM).
struct Bound {
  bool replicas = false;
  int64_t value = 0;
};

std::optional<Bound> ParseBound(const std::string& text) {
  for (const char* name : {"NODE_NUM", "WORKER_NUM"}) {
    if (text == std::string("$") + name || text == std::string("${") + name + "}") {
      return Bound{true, 0};
    }
  }
  if (text.empty() || text.size() > 6 || !std::all_of(text.begin(), text.end(), IsDigit)) {
    return std::nullopt;
  }
  return Bound{false, std::stoll(text)};
}

}  // namespace

void Translator::ReadTemplate(const YamlNode& pod_template, const std::string& field,
                              RoleParts& role) {
  if (!IsMapping(&pod_template)) {
    Error(pod_template, field + ": must be a pod template (metadata, spec)", "");
    return;
  }
  const YamlMapEntry* pod = pod_template.Find("spec");
  if (pod == nullptr || !IsMapping(pod->value.get())) {
    Error(pod != nullptr ? *pod->value : pod_template, field + ".spec: needs the pod's spec",
          "add spec.containers with a container named main");
  } else {
    ReadPodSpec(*pod->value, field + ".spec", role);
  }
  for (const YamlMapEntry& item : pod_template.entries) {
    if (item.key == "spec") continue;
    Warn(item, field + "." + item.key,
         item.key == "metadata" ? "pod labels and annotations are not applied by jobsync; ignored"
                                : "not a field of a pod template; ignored",
         item.key == "metadata" ? "metadata.labels of the ElasticJob reach every object and pod"
                                : "");
  }
}

void Translator::ReadPodSpec(const YamlNode& pod, const std::string& field, RoleParts& role) {
  const YamlMapEntry* containers = pod.Find("containers");
  const YamlMapEntry* volumes = pod.Find("volumes");
  const YamlNode* main = nullptr;
  if (containers == nullptr || containers->value->kind != YamlNode::Kind::kSequence ||
      containers->value->items.empty()) {
    Error(containers != nullptr ? *containers->value : pod,
          field + ".containers: needs the training container", "add a container named main");
  } else {
    const auto& items = containers->value->items;
    for (const YamlNodePtr& item : items) {
      const YamlMapEntry* name = IsMapping(item.get()) ? item->Find("name") : nullptr;
      if (name != nullptr && YamlToJson(*name->value) == "main") main = item.get();
    }
    if (main == nullptr && items.size() == 1) main = items[0].get();
    if (main == nullptr) {
      Error(*containers->value,
            field + ".containers: " + std::to_string(items.size()) +
                " containers and none named main: jobsync cannot tell the training container",
            "name the training container main, as DLRover does");
    }
    for (size_t i = 0; i < items.size(); ++i) {
      if (items[i].get() == main) continue;
      warnings_.push_back({At(items[i]->line, items[i]->column),
                           "ElasticJob " + field + ".containers[" + std::to_string(i) +
                               "]: only the training container (main) runs; ignored",
                           "a sidecar can be added with spec.kubernetes.podTemplatePatch after "
                           "`jobsync convert`",
                           true});
    }
  }
  if (IsMapping(main)) {
    size_t index = 0;
    while (containers->value->items[index].get() != main) ++index;
    ReadContainer(*main, volumes != nullptr ? volumes->value.get() : nullptr,
                  field + ".containers[" + std::to_string(index) + "]", role);
  }
  static const std::set<std::string> kJobLevel = {"affinity", "priorityClassName", "schedulerName",
                                                  "serviceAccountName", "imagePullSecrets"};
  for (const YamlMapEntry& item : pod.entries) {
    const std::string name = field + "." + item.key;
    if (item.key == "containers" || item.key == "volumes" || item.key == "restartPolicy") {
      continue;  // restartPolicy: DLRover's master sets Never on every pod, as jobsync does
    }
    if (item.key == "nodeSelector" && IsMapping(item.value.get())) {
      for (const YamlMapEntry& selector : item.value->entries) {
        role.Set({Group::kNodeSelector, selector.key}, FieldOf(selector));
      }
    } else if (item.key == "tolerations") {
      role.Set({Group::kWhole, "tolerations"}, FieldOf(item));
    } else if (kJobLevel.contains(item.key)) {
      if (item.key != "imagePullSecrets" || item.value->kind != YamlNode::Kind::kSequence) {
        role.job_level[item.key] = FieldOf(item);
        continue;
      }
      Builder names(*item.value, YamlNode::Kind::kSequence);
      for (const YamlNodePtr& secret : item.value->items) {
        const YamlMapEntry* secret_name = IsMapping(secret.get()) ? secret->Find("name") : nullptr;
        names.Append(secret_name != nullptr ? secret_name->value : secret);
      }
      role.job_level[item.key] = Field{names.Build(), item.key_line, item.key_column};
    } else {
      Warn(item, name, "this pod setting is not applied by jobsync; ignored",
           "after `jobsync convert`, spec.kubernetes.podTemplatePatch can set it");
    }
  }
}

void Translator::ReadContainer(const YamlNode& container, const YamlNode* pod_volumes,
                               const std::string& field, RoleParts& role) {
  const YamlNode* command = nullptr;
  const YamlNode* args = nullptr;
  bool mounts = false;
  for (const YamlMapEntry& item : container.entries) {
    const std::string name = field + "." + item.key;
    if (item.key == "name") continue;  // jobsync names the training container after the role
    if (item.key == "image" || item.key == "command" || item.key == "args" ||
        item.key == "envFrom") {
      role.Set({Group::kWhole, item.key}, FieldOf(item));
      if (item.key == "command") command = item.value.get();
      if (item.key == "args") args = item.value.get();
    } else if (item.key == "env" && item.value->kind == YamlNode::Kind::kSequence) {
      for (const YamlNodePtr& var : item.value->items) {
        const YamlMapEntry* var_name = IsMapping(var.get()) ? var->Find("name") : nullptr;
        const json name_value = var_name != nullptr ? YamlToJson(*var_name->value) : json();
        if (!name_value.is_string()) {
          Error(*var, name + ": every variable needs a name", "");
          continue;
        }
        const YamlMapEntry* value_from = var->Find("valueFrom");
        const YamlMapEntry* literal = var->Find("value");
        YamlNodePtr value = value_from != nullptr ? value_from->value
                            : literal != nullptr  ? literal->value
                                                  : String("", *var);
        role.Set({Group::kEnv, name_value.get<std::string>()},
                 Field{value, var_name->key_line, var_name->key_column});
      }
    } else if (item.key == "resources") {
      ReadResources(item, name, role);
    } else if (item.key == "volumeMounts") {
      mounts = true;
      ReadVolumeMounts(item, pod_volumes, name, role);
    } else {
      Warn(item, name,
           item.key == "imagePullPolicy"
               ? "jobsync leaves the pull policy to Kubernetes' default; ignored"
               : "this container setting is not applied by jobsync; ignored",
           "after `jobsync convert`, spec.kubernetes.podTemplatePatch can set it");
    }
  }
  if (!mounts && pod_volumes != nullptr && pod_volumes->kind == YamlNode::Kind::kSequence) {
    for (const YamlNodePtr& volume : pod_volumes->items) {
      warnings_.push_back({At(volume->line, volume->column),
                           "ElasticJob " + field +
                               ": a pod volume the training container does "
                               "not mount is not created; ignored",
                           "", true});
    }
  }
  ReadBounds(command, args, field, role);
}

void Translator::ReadResources(const YamlMapEntry& entry, const std::string& field,
                               RoleParts& role) {
  if (!IsMapping(entry.value.get())) {
    Error(*entry.value, field + ": must hold limits and requests", "");
    return;
  }
  const YamlMapEntry* limits = entry.value->Find("limits");
  const YamlMapEntry* requests = entry.value->Find("requests");
  for (const YamlMapEntry& item : entry.value->entries) {
    if (item.key != "limits" && item.key != "requests") {
      Warn(item, field + "." + item.key, "not applied by jobsync; ignored", "");
    }
  }
  // Each resource once: the limit when set (jobsync requests what it limits), else the request.
  std::vector<std::pair<std::string, Field>> chosen;
  for (const YamlMapEntry* source : {limits, requests}) {
    if (source == nullptr || !IsMapping(source->value.get())) continue;
    for (const YamlMapEntry& item : source->value->entries) {
      auto same = std::find_if(chosen.begin(), chosen.end(),
                               [&](const auto& c) { return c.first == item.key; });
      if (same == chosen.end()) {
        chosen.emplace_back(item.key, FieldOf(item));
      } else if (YamlToJson(*same->second.value) != YamlToJson(*item.value)) {
        Warn(item, field + ".requests." + item.key,
             "differs from the limit " + Quote(YamlToJson(*same->second.value)) +
                 ": jobsync requests what it limits, so the limit is used",
             "set requests equal to limits to silence this");
      }
    }
  }
  Builder resources(*entry.value);
  Builder extended(*entry.value);
  for (auto& [name, value] : chosen) {
    if (name == "cpu" || name == "memory") {
      resources.Add(name, value);
    } else if (name == "ephemeral-storage") {
      resources.Add("ephemeralStorage", value);
    } else if (name == "nvidia.com/gpu") {
      // Kubernetes writes counts as quantities ("1"); the TrainingJob's gpu is a whole number.
      const std::string& text = value.value->scalar;
      const bool whole = value.value->kind == YamlNode::Kind::kScalar && !text.empty() &&
                         text.size() < 10 && std::all_of(text.begin(), text.end(), IsDigit);
      if (whole) value.value = Integer(std::stoll(text), *value.value);
      resources.Add("gpu", value);
    } else {
      extended.Add(name, value);
    }
  }
  if (!extended.empty()) resources.Add("extended", extended.Build());
  if (!resources.empty()) {
    role.role.Add("resources", Field{resources.Build(), entry.key_line, entry.key_column});
  }
}

void Translator::ReadVolumeMounts(const YamlMapEntry& entry, const YamlNode* pod_volumes,
                                  const std::string& field, RoleParts& role) {
  std::map<std::string, const YamlNode*> by_name;
  if (pod_volumes != nullptr && pod_volumes->kind == YamlNode::Kind::kSequence) {
    for (const YamlNodePtr& volume : pod_volumes->items) {
      const YamlMapEntry* name = IsMapping(volume.get()) ? volume->Find("name") : nullptr;
      if (name != nullptr) by_name[YamlToJson(*name->value).dump()] = volume.get();
    }
  }
  if (entry.value->kind != YamlNode::Kind::kSequence) {
    Error(*entry.value, field + ": must be a list of mounts", "");
    return;
  }
  std::set<std::string> mounted;
  for (size_t i = 0; i < entry.value->items.size(); ++i) {
    const YamlNode& mount = *entry.value->items[i];
    const std::string name = field + "[" + std::to_string(i) + "]";
    const YamlMapEntry* volume_name = IsMapping(&mount) ? mount.Find("name") : nullptr;
    if (volume_name == nullptr) {
      Error(mount, name + ": a mount needs the name of a pod volume", "");
      continue;
    }
    const std::string key = YamlToJson(*volume_name->value).dump();
    auto volume = by_name.find(key);
    if (volume == by_name.end()) {
      Error(*volume_name->value, name + ".name: no pod volume " + key + " to mount",
            "add it to the pod template's spec.volumes");
      continue;
    }
    if (!mounted.insert(key).second) {
      Error(*volume_name->value, name + ".name: volume " + key + " is mounted twice",
            "jobsync mounts each volume once: use one mount, or two volumes");
      continue;
    }
    Builder out(mount);
    for (const YamlMapEntry& item : mount.entries) {
      if (item.key == "name" || item.key == "mountPath" || item.key == "readOnly" ||
          item.key == "subPath") {
        out.Add(item.key, FieldOf(item));
      } else {
        Warn(item, name + "." + item.key, "not applied by jobsync; ignored", "");
      }
    }
    for (const YamlMapEntry& item : volume->second->entries) {
      if (item.key != "name") out.Add(item.key, FieldOf(item));
    }
    role.Set({Group::kVolume, YamlToJson(*volume_name->value).is_string()
                                  ? YamlToJson(*volume_name->value).get<std::string>()
                                  : key},
             Field{out.Build(), mount.line, mount.column});
  }
  for (const auto& [key, volume] : by_name) {
    if (mounted.contains(key)) continue;
    warnings_.push_back({At(volume->line, volume->column),
                         "ElasticJob " + field + ": pod volume " + key +
                             " is not mounted by the training container, so not created; ignored",
                         "", true});
  }
}

void Translator::ReadBounds(const YamlNode* command, const YamlNode* args, const std::string& field,
                            RoleParts& role) {
  std::vector<const YamlNode*> words;
  for (const YamlNode* list : {command, args}) {
    if (list == nullptr || list->kind != YamlNode::Kind::kSequence) continue;
    for (const YamlNodePtr& item : list->items) {
      if (item->kind == YamlNode::Kind::kScalar) words.push_back(item.get());
    }
  }
  static const std::string kFlag = "--nnodes";
  for (size_t w = 0; w < words.size(); ++w) {
    const std::string& text = words[w]->scalar;
    const size_t at = text.find(kFlag);
    if (at == std::string::npos) continue;
    size_t start = at + kFlag.size();
    std::string value;
    if (start < text.size() && (text[start] == '=' || text[start] == ' ')) {
      ++start;
      const size_t end = text.find_first_of(" \t\n\\\"';&|)", start);
      value = text.substr(start, end == std::string::npos ? std::string::npos : end - start);
    } else if (start == text.size() && w + 1 < words.size()) {
      value = words[w + 1]->scalar;
    }
    const size_t colon = value.find(':');
    std::optional<Bound> low = ParseBound(value.substr(0, colon));
    std::optional<Bound> high =
        colon == std::string::npos ? low : ParseBound(value.substr(colon + 1));
    if (!low || !high) {
      warnings_.push_back({At(words[w]->line, words[w]->column),
                           "ElasticJob " + field + ": cannot read elastic bounds from --nnodes " +
                               "'" + value + "'; the role is not elastic",
                           "write --nnodes=MIN:MAX or --nnodes=MIN:$NODE_NUM", true});
      return;
    }
    if (colon == std::string::npos) return;  // one number of nodes: not elastic
    if (!low->replicas) role.role.Add("minReplicas", Integer(low->value, *words[w]));
    if (!high->replicas) role.role.Add("maxReplicas", Integer(high->value, *words[w]));
    return;
  }
}

}  // namespace jobsync::elasticjob_internal
