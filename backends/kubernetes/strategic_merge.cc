#include "backends/kubernetes/strategic_merge.h"

#include <algorithm>
#include <string>
#include <utility>

namespace jobsync {
namespace {

using nlohmann::json;

constexpr const char* kPatchDirective = "$patch";

// The object types of a PodTemplateSpec whose fields carry patch strategies; kOther for the rest.
enum class Type { kOther, kPodTemplate, kObjectMeta, kPodSpec, kContainer };

// How the patch of one field merges: into an object of `type`, or as a list merged on
// `merge_key` (a list of objects) or as a set (`set`, a list of strings); else replaced.
struct FieldRule {
  Type type = Type::kOther;
  const char* merge_key = nullptr;
  bool set = false;
};

// The patch strategies of core/v1 (patchStrategy/patchMergeKey in the API reference).
FieldRule RuleOf(Type type, const std::string& field) {
  switch (type) {
    case Type::kPodTemplate:
      if (field == "metadata") return {Type::kObjectMeta};
      if (field == "spec") return {Type::kPodSpec};
      break;
    case Type::kObjectMeta:
      if (field == "ownerReferences") return {Type::kOther, "uid"};
      if (field == "finalizers") return {Type::kOther, nullptr, true};
      break;
    case Type::kPodSpec:
      if (field == "containers" || field == "initContainers" || field == "ephemeralContainers") {
        return {Type::kContainer, "name"};
      }
      if (field == "volumes" || field == "imagePullSecrets" || field == "resourceClaims" ||
          field == "schedulingGates") {
        return {Type::kOther, "name"};
      }
      if (field == "hostAliases") return {Type::kOther, "ip"};
      if (field == "topologySpreadConstraints") return {Type::kOther, "topologyKey"};
      break;
    case Type::kContainer:
      if (field == "env") return {Type::kOther, "name"};
      if (field == "volumeMounts") return {Type::kOther, "mountPath"};
      if (field == "volumeDevices") return {Type::kOther, "devicePath"};
      if (field == "ports") return {Type::kOther, "containerPort"};
      break;
    case Type::kOther:
      break;
  }
  return {};
}

std::string Child(const std::string& path, const std::string& field) {
  return path.empty() ? field : path + "." + field;
}

// `value` without $patch directives (a new map or element from the patch).
json Stripped(const json& value) {
  if (value.is_object()) {
    json out = json::object();
    for (const auto& [key, member] : value.items()) {
      if (key != kPatchDirective && !member.is_null()) out[key] = Stripped(member);
    }
    return out;
  }
  if (value.is_array()) {
    json out = json::array();
    for (const json& member : value) out.push_back(Stripped(member));
    return out;
  }
  return value;
}

Status MergeMap(json& target, const json& patch, Type type, const std::string& path, bool* deleted);

// The $patch directive of `object` (a mapping), or `fallback` when it has none. A directive that is
// not a string comes back as its JSON text, which no rule matches: an unknown-directive error,
// never an exception.
std::string Directive(const json& object, const char* fallback) {
  auto it = object.find(kPatchDirective);
  if (it == object.end()) return fallback;
  return it->is_string() ? it->get<std::string>() : it->dump();
}

// Merges `patch` (a list) into `target` on `merge_key`, per the header's list rules.
Status MergeList(json& target, const json& patch, const char* merge_key, Type type,
                 const std::string& path) {
  for (const json& element : patch) {
    if (element.is_object() && Directive(element, "") == "replace") {
      json replaced = json::array();
      for (const json& other : patch) {
        if (&other != &element) replaced.push_back(Stripped(other));
      }
      target = std::move(replaced);
      return OkStatus();
    }
  }
  if (!target.is_array()) target = json::array();
  for (size_t i = 0; i < patch.size(); ++i) {
    const json& element = patch[i];
    const std::string at = path + "[" + std::to_string(i) + "]";
    if (!element.is_object() || !element.contains(merge_key)) {
      return InvalidArgumentError("podTemplatePatch " + at + ": " + path + " merges by \"" +
                                  merge_key + "\", so each element must be a mapping with \"" +
                                  merge_key + "\"; add it, or replace the whole list with an " +
                                  "element {\"$patch\": \"replace\"}");
    }
    const json& key = element[merge_key];
    json::iterator same = target.begin();
    while (same != target.end() && !(same->is_object() && same->value(merge_key, json()) == key)) {
      ++same;
    }
    const std::string directive = Directive(element, "merge");
    if (directive == "delete") {
      if (same != target.end()) target.erase(same);
      continue;
    }
    json merged = same != target.end() ? *same : json::object();
    bool gone = false;
    JOBSYNC_RETURN_IF_ERROR(MergeMap(merged, element, type, at, &gone));
    if (same == target.end()) {
      if (!gone) target.push_back(std::move(merged));
    } else if (gone) {
      target.erase(same);
    } else {
      *same = std::move(merged);
    }
  }
  return OkStatus();
}

// Merges `patch` (a map) into `target`; sets *deleted when the patch says {"$patch": "delete"}.
Status MergeMap(json& target, const json& patch, Type type, const std::string& path,
                bool* deleted) {
  *deleted = false;
  const std::string directive = Directive(patch, "merge");
  if (directive == "delete") {
    *deleted = true;
    return OkStatus();
  }
  if (directive == "replace") {
    target = Stripped(patch);
    return OkStatus();
  }
  if (directive != "merge") {
    return InvalidArgumentError("podTemplatePatch " + (path.empty() ? "" : path + ".") +
                                "$patch: unknown directive \"" + directive +
                                "\"; use replace, delete or merge");
  }
  if (!target.is_object()) target = json::object();
  for (const auto& [field, value] : patch.items()) {
    if (field == kPatchDirective) continue;
    const std::string at = Child(path, field);
    if (!field.empty() && field[0] == '$') {
      return InvalidArgumentError("podTemplatePatch " + at +
                                  ": this directive is not supported; write the list or map "
                                  "in full with $patch: replace instead");
    }
    const FieldRule rule = RuleOf(type, field);
    if (value.is_null()) {
      target.erase(field);
    } else if (value.is_object()) {
      json merged = target.contains(field) ? target[field] : json::object();
      bool gone = false;
      JOBSYNC_RETURN_IF_ERROR(MergeMap(merged, value, rule.type, at, &gone));
      if (gone) {
        target.erase(field);
      } else {
        target[field] = std::move(merged);
      }
    } else if (value.is_array() && rule.merge_key != nullptr) {
      json merged = target.contains(field) ? target[field] : json::array();
      JOBSYNC_RETURN_IF_ERROR(MergeList(merged, value, rule.merge_key, rule.type, at));
      target[field] = std::move(merged);
    } else if (value.is_array() && rule.set) {
      json merged =
          target.contains(field) && target[field].is_array() ? target[field] : json::array();
      for (const json& member : value) {
        if (std::find(merged.begin(), merged.end(), member) == merged.end()) {
          merged.push_back(member);
        }
      }
      target[field] = std::move(merged);
    } else {
      target[field] = Stripped(value);
    }
  }
  return OkStatus();
}

}  // namespace

StatusOr<json> StrategicMergePodTemplate(const json& original, const json& patch) {
  if (!patch.is_object()) {
    return InvalidArgumentError(
        "podTemplatePatch must be a mapping of a pod template ({metadata, spec}), not " +
        std::string(patch.type_name()));
  }
  json out = original;
  bool deleted = false;
  JOBSYNC_RETURN_IF_ERROR(MergeMap(out, patch, Type::kPodTemplate, "", &deleted));
  if (deleted) {
    return InvalidArgumentError(
        "podTemplatePatch: $patch: delete at the top would delete the whole pod template; "
        "patch its fields instead");
  }
  return out;
}

}  // namespace jobsync
