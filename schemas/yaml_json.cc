#include "schemas/yaml_json.h"

#include <charconv>
#include <cmath>
#include <limits>

#include "schemas/ascii.h"

namespace jobsync {
namespace {

bool IsNull(const std::string& s) {
  return s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL";
}

// Parses an integer in the core schema's forms; false when `s` is not one or overflows.
bool ParseInt(const std::string& s, int64_t* out) {
  std::string_view digits = s;
  bool negative = false;
  if (!digits.empty() && (digits[0] == '-' || digits[0] == '+')) {
    negative = digits[0] == '-';
    digits.remove_prefix(1);
  }
  int base = 10;
  if (!negative && s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'o')) {
    base = s[1] == 'x' ? 16 : 8;
    digits.remove_prefix(2);
  }
  if (digits.empty()) return false;
  uint64_t value = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value, base);
  if (ec != std::errc() || end != digits.data() + digits.size()) return false;
  if (value > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return false;
  *out = negative ? -static_cast<int64_t>(value) : static_cast<int64_t>(value);
  return true;
}

// True when `s` is a YAML 1.2 core-schema float:
// [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)? Matched by a loop: std::regex recursed once
// per character and overflowed the stack on long scalars.
bool IsCoreFloat(std::string_view s) {
  size_t i = 0;
  auto digits = [&] {
    const size_t start = i;
    while (i < s.size() && IsDigit(s[i])) ++i;
    return i - start;
  };
  if (i < s.size() && (s[i] == '-' || s[i] == '+')) ++i;
  if (i < s.size() && s[i] == '.') {
    ++i;
    if (digits() == 0) return false;
  } else {
    if (digits() == 0) return false;
    if (i < s.size() && s[i] == '.') {
      ++i;
      digits();
    }
  }
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '-' || s[i] == '+')) ++i;
    if (digits() == 0) return false;
  }
  return i == s.size();
}

bool ParseFloat(const std::string& s, double* out) {
  if (s == ".inf" || s == ".Inf" || s == ".INF" || s == "+.inf") {
    *out = std::numeric_limits<double>::infinity();
    return true;
  }
  if (s == "-.inf" || s == "-.Inf" || s == "-.INF") {
    *out = -std::numeric_limits<double>::infinity();
    return true;
  }
  if (s == ".nan" || s == ".NaN" || s == ".NAN") {
    *out = std::numeric_limits<double>::quiet_NaN();
    return true;
  }
  if (!IsCoreFloat(s)) return false;
  *out = std::strtod(s.c_str(), nullptr);
  return true;
}

nlohmann::json ScalarToJson(const YamlNode& node) {
  const std::string& s = node.scalar;
  if (node.tag == "str" || (!node.plain && node.tag.empty())) return s;
  if (node.tag == "null" || (node.tag.empty() && IsNull(s))) return nullptr;
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;
  int64_t integer = 0;
  if (node.tag != "float" && ParseInt(s, &integer)) return integer;
  double number = 0;
  if (ParseFloat(s, &number)) return number;
  return s;
}

}  // namespace

nlohmann::json YamlToJson(const YamlNode& node) {
  switch (node.kind) {
    case YamlNode::Kind::kNull:
      return nullptr;
    case YamlNode::Kind::kScalar:
      return ScalarToJson(node);
    case YamlNode::Kind::kSequence: {
      nlohmann::json array = nlohmann::json::array();
      for (const YamlNodePtr& item : node.items) array.push_back(YamlToJson(*item));
      return array;
    }
    case YamlNode::Kind::kMapping: {
      nlohmann::json object = nlohmann::json::object();
      for (const YamlMapEntry& entry : node.entries) object[entry.key] = YamlToJson(*entry.value);
      return object;
    }
  }
  return nullptr;
}

namespace {

// True when `text` can be written unquoted and reads back as the same string.
bool IsPlainSafe(const std::string& text) {
  // [A-Za-z_/][A-Za-z0-9_./-]*, by a loop (see IsCoreFloat).
  auto letter = [](char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_'; };
  if (text.empty() || !(letter(text[0]) || text[0] == '/')) return false;
  for (char c : text) {
    if (!(letter(c) || IsDigit(c) || c == '.' || c == '/' || c == '-')) return false;
  }
  YamlNode probe;
  probe.kind = YamlNode::Kind::kScalar;
  probe.scalar = text;
  nlohmann::json read = ScalarToJson(probe);
  // YAML 1.1 readers take these as booleans; quote them for every reader's sake.
  static const char* const kAmbiguous[] = {"y",  "Y",  "yes", "Yes", "YES", "n",   "N",   "no",
                                           "No", "NO", "on",  "On",  "ON",  "off", "Off", "OFF"};
  for (const char* word : kAmbiguous) {
    if (text == word) return false;
  }
  return read.is_string() && read.get<std::string>() == text;
}

std::string Scalar(const nlohmann::json& value) {
  if (value.is_string()) {
    const std::string& text = value.get_ref<const std::string&>();
    return IsPlainSafe(text) ? text : value.dump();
  }
  return value.dump();
}

bool IsEmptyOrScalar(const nlohmann::json& value) { return value.is_primitive() || value.empty(); }

void EmitBlock(const nlohmann::json& value, int indent, std::string& out);

// Writes the part after "key:" or "- ": a scalar on the same line, a collection below.
void EmitValue(const nlohmann::json& value, int indent, std::string& out) {
  if (IsEmptyOrScalar(value)) {
    out += " " + (value.is_primitive() ? Scalar(value) : value.is_array() ? "[]" : "{}") + "\n";
    return;
  }
  out += "\n";
  EmitBlock(value, value.is_array() ? indent : indent + 2, out);
}

void EmitBlock(const nlohmann::json& value, int indent, std::string& out) {
  const std::string pad(indent, ' ');
  if (value.is_object()) {
    for (const auto& [key, child] : value.items()) {
      out += pad + Scalar(key) + ":";
      EmitValue(child, indent, out);
    }
    return;
  }
  for (const nlohmann::json& item : value) {
    if (item.is_object() && !item.empty()) {
      // The first key shares the "- " line; the rest align under it.
      std::string nested;
      EmitBlock(item, indent + 2, nested);
      out += pad + "- " + nested.substr(indent + 2);
    } else if (item.is_array() && !item.empty()) {
      out += pad + "-\n";
      EmitBlock(item, indent + 2, out);
    } else {
      out += pad + "-";
      EmitValue(item, indent, out);
    }
  }
}

}  // namespace

std::string JsonToYaml(const nlohmann::json& value) {
  std::string out;
  if (IsEmptyOrScalar(value)) {
    EmitValue(value, 0, out);
    return out.substr(1);
  }
  EmitBlock(value, 0, out);
  return out;
}

YamlPosition Locate(const YamlNode& root, const std::vector<std::string>& path, bool at_key) {
  const YamlNode* node = &root;
  YamlPosition position{root.line, root.column, true};
  for (size_t i = 0; i < path.size(); ++i) {
    const std::string& step = path[i];
    const YamlNode* next = nullptr;
    if (node->kind == YamlNode::Kind::kMapping) {
      if (const YamlMapEntry* entry = node->Find(step)) {
        next = entry->value.get();
        if (at_key && i + 1 == path.size()) return {entry->key_line, entry->key_column, true};
      }
    } else if (node->kind == YamlNode::Kind::kSequence) {
      size_t index = 0;
      auto [end, ec] = std::from_chars(step.data(), step.data() + step.size(), index);
      if (ec == std::errc() && end == step.data() + step.size() && index < node->items.size()) {
        next = node->items[index].get();
      }
    }
    if (next == nullptr) return {position.line, position.column, false};
    node = next;
    position = {node->line, node->column, true};
  }
  return position;
}

}  // namespace jobsync
