// Conversions between the positioned YAML tree and JSON values, and position look-ups by path.
#ifndef JOBSYNC_SCHEMAS_YAML_JSON_H_
#define JOBSYNC_SCHEMAS_YAML_JSON_H_

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "schemas/yaml_reader.h"

namespace jobsync {

// Converts a YAML tree to JSON, resolving plain scalars by the YAML 1.2 core schema: null, true/
// false, integers (decimal, 0x, 0o), floats (.inf, .nan), everything else a string. Quoted
// scalars are strings. Aliases are expanded (their size was bounded when reading).
nlohmann::json YamlToJson(const YamlNode& node);

// Where a path of mapping keys and sequence indexes ("spec", "roles", "worker") points. Returns
// the deepest node on the path that exists; when `at_key` is set and the last step is a mapping
// key that exists, the key's own position instead of its value's.
struct YamlPosition {
  int line = 0;
  int column = 0;
  bool found = false;  // the whole path exists
};
YamlPosition Locate(const YamlNode& root, const std::vector<std::string>& path,
                    bool at_key = false);

// Writes `value` as block-style YAML (one document, no "---"), the way kubectl prints objects.
// Strings are plain when YAML would read them back as the same string, otherwise double-quoted
// with JSON escapes (which YAML accepts), so YamlToJson(ReadYaml(JsonToYaml(v))) == v.
std::string JsonToYaml(const nlohmann::json& value);

}  // namespace jobsync

#endif  // JOBSYNC_SCHEMAS_YAML_JSON_H_
