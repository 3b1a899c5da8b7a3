// Reading fields of Kubernetes objects as the apiserver returns them (nlohmann::json), where any
// field may be absent or of another type: every accessor answers a neutral value instead of
// throwing. Pure, thread-safe.
#ifndef JOBSYNC_BACKENDS_KUBERNETES_OBJECT_FIELDS_H_
#define JOBSYNC_BACKENDS_KUBERNETES_OBJECT_FIELDS_H_

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "backends/backend.h"

namespace jobsync {

// The member `key` of `object`; null when `object` is null, not an object, or has no such member.
// Lookups by member, not by JSON pointer: a pointer is parsed into strings on every use, which at
// 10,000 Jobs per listing was most of the listing's time.
inline const nlohmann::json* Child(const nlohmann::json* object, const char* key) {
  if (object == nullptr || !object->is_object()) return nullptr;
  auto it = object->find(key);
  return it == object->end() ? nullptr : &*it;
}

// The string `value` holds, or an empty one (null, or not a string).
inline const std::string& Text(const nlohmann::json* value) {
  static const std::string kEmpty;
  return value != nullptr && value->is_string() ? value->get_ref<const std::string&>() : kEmpty;
}

// The integer `value` holds, or 0 (null, or not an integer).
inline int64_t Integer(const nlohmann::json* value) {
  return value != nullptr && value->is_number_integer() ? value->get<int64_t>() : 0;
}

// The string at `pointer` ("/metadata/name"); "" when absent or not a string.
inline std::string StringField(const nlohmann::json& object, const char* pointer) {
  const nlohmann::json::json_pointer path(pointer);
  if (!object.is_object() || !object.contains(path) || !object.at(path).is_string()) return "";
  return object.at(path).get<std::string>();
}

// The integer at `pointer`; `otherwise` when absent or not an integer.
inline int64_t IntField(const nlohmann::json& object, const char* pointer, int64_t otherwise = 0) {
  const nlohmann::json::json_pointer path(pointer);
  if (!object.is_object() || !object.contains(path) || !object.at(path).is_number_integer()) {
    return otherwise;
  }
  return object.at(path).get<int64_t>();
}

// The value of metadata.labels[key] and metadata.annotations[key]; "" when absent.
inline std::string LabelValue(const nlohmann::json& object, const char* key) {
  const auto path = nlohmann::json::json_pointer("/metadata/labels") / key;
  if (!object.is_object() || !object.contains(path) || !object.at(path).is_string()) return "";
  return object.at(path).get<std::string>();
}
inline std::string AnnotationValue(const nlohmann::json& object, const char* key) {
  const auto path = nlohmann::json::json_pointer("/metadata/annotations") / key;
  if (!object.is_object() || !object.contains(path) || !object.at(path).is_string()) return "";
  return object.at(path).get<std::string>();
}

// True when `object` carries jobsync's managed-by label and `instance`'s instance label.
inline bool OwnedByInstance(const nlohmann::json& object, const std::string& instance) {
  return LabelValue(object, kManagedByLabel) == kManagedByValue &&
         LabelValue(object, kInstanceLabel) == instance;
}

}  // namespace jobsync

#endif  // JOBSYNC_BACKENDS_KUBERNETES_OBJECT_FIELDS_H_
