#include "schemas/schema_validator.h"

#include <algorithm>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <utility>

#include <valijson/adapters/nlohmann_json_adapter.hpp>
#include <valijson/schema.hpp>
#include <valijson/schema_parser.hpp>
#include <valijson/validation_results.hpp>
#include <valijson/validator.hpp>

#include "schemas/k8s_names.h"
#include "schemas/yaml_json.h"

namespace jobsync {
namespace {

// "spec.roles.worker.replicas"; sequence indexes as "[0]".
std::string DottedPath(const std::vector<std::string>& path) {
  std::string out;
  for (const std::string& step : path) {
    bool index = !step.empty() && std::all_of(step.begin(), step.end(), ::isdigit);
    if (index) {
      out += "[" + step + "]";
    } else {
      if (!out.empty()) out += ".";
      out += step;
    }
  }
  return out.empty() ? "document" : out;
}

std::string JsonTypeName(const nlohmann::json& value) {
  switch (value.type()) {
    case nlohmann::json::value_t::null:
      return "null";
    case nlohmann::json::value_t::boolean:
      return "boolean";
    case nlohmann::json::value_t::number_integer:
    case nlohmann::json::value_t::number_unsigned:
      return "integer";
    case nlohmann::json::value_t::number_float:
      return "number";
    case nlohmann::json::value_t::string:
      return "string";
    case nlohmann::json::value_t::array:
      return "list";
    case nlohmann::json::value_t::object:
      return "mapping";
    default:
      return "value";
  }
}

// A short quotation of a value for messages; long values are cut.
std::string Quote(const nlohmann::json& value) {
  std::string text = value.dump();
  if (text.size() > 60) text = text.substr(0, 57) + "...";
  return text;
}

// `text` cut to 60 characters for a message.
std::string Shorten(const std::string& text) {
  return text.size() > 60 ? text.substr(0, 57) + "..." : text;
}

// Resolves a local "$ref" ("#/definitions/role") against the root schema.
const nlohmann::json& Resolve(const nlohmann::json& root, const nlohmann::json& schema) {
  const nlohmann::json* current = &schema;
  for (int hops = 0; hops < 8 && current->is_object() && current->contains("$ref"); ++hops) {
    std::string ref = (*current)["$ref"].get<std::string>();
    if (ref.rfind("#/", 0) != 0) break;
    current = &root.at(nlohmann::json::json_pointer(ref.substr(1)));
  }
  return *current;
}

// The sub-schema that governs the value at `path`, or null when none does.
const nlohmann::json* SchemaAt(const nlohmann::json& root, const std::vector<std::string>& path) {
  const nlohmann::json* schema = &Resolve(root, root);
  for (const std::string& step : path) {
    const nlohmann::json* next = nullptr;
    if (schema->contains("properties") && (*schema)["properties"].contains(step)) {
      next = &(*schema)["properties"][step];
    } else if (schema->contains("additionalProperties") &&
               (*schema)["additionalProperties"].is_object()) {
      next = &(*schema)["additionalProperties"];
    } else if (schema->contains("items") && (*schema)["items"].is_object()) {
      next = &(*schema)["items"];
    }
    if (next == nullptr) return nullptr;
    schema = &Resolve(root, *next);
  }
  return schema;
}

// The value at `path` in `document`, or null when the path does not exist.
const nlohmann::json* ValueAt(const nlohmann::json& document,
                              const std::vector<std::string>& path) {
  const nlohmann::json* value = &document;
  for (const std::string& step : path) {
    if (value->is_object() && value->contains(step)) {
      value = &(*value)[step];
    } else if (value->is_array() && !step.empty() &&
               std::all_of(step.begin(), step.end(), ::isdigit) &&
               std::stoul(step) < value->size()) {
      value = &(*value)[std::stoul(step)];
    } else {
      return nullptr;
    }
  }
  return value;
}

// What a pattern in our schema means, in words, keyed by the pattern's first characters.
std::string PatternMeaning(const std::string& pattern) {
  if (pattern.rfind("^[a-z]([-a-z0-9]", 0) == 0) {
    return "must be a DNS-1035 label: lower-case letters, digits and '-', starting with a letter "
           "and ending with a letter or digit";
  }
  if (pattern.rfind("^[a-z0-9]([-a-z0-9]", 0) == 0) {
    return "must be a DNS-1123 label: lower-case letters, digits and '-', starting and ending "
           "with a letter or digit";
  }
  if (pattern.rfind("^[A-Za-z_]", 0) == 0) {
    return "is not a valid environment variable name (letters, digits and '_', not starting "
           "with a digit)";
  }
  return "does not match the pattern " + pattern;
}

// The schema's "pattern" rules, each matched by a loop instead of a regular expression:
// std::regex matches by recursion one level per character, so a long string (a 26,000-character
// name) overflowed the stack. Returns null for a pattern that has no matcher here.
using PatternMatcher = bool (*)(std::string_view);
PatternMatcher MatcherFor(const std::string& pattern) {
  if (pattern == "^[a-z]([-a-z0-9]*[a-z0-9])?$") {
    return [](std::string_view text) { return HasDnsLabelShape(text, /*letter_first=*/true); };
  }
  if (pattern == "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$") {
    return [](std::string_view text) { return HasDnsLabelShape(text, /*letter_first=*/false); };
  }
  if (pattern == "^[A-Za-z_][A-Za-z0-9_]*$") {
    return [](std::string_view text) { return CheckEnvVarName(text).empty(); };
  }
  return nullptr;
}

// Removes every "pattern" keyword from `schema` (valijson would match them with std::regex) and
// collects their texts in `patterns`. The schema is ours and a few levels deep: recursion here
// follows the schema, never the input.
void StripPatterns(nlohmann::json& schema, std::set<std::string>* patterns) {
  if (schema.is_object()) {
    auto it = schema.find("pattern");
    if (it != schema.end() && it->is_string()) {
      patterns->insert(it->get<std::string>());
      schema.erase(it);
    }
    for (auto& [key, child] : schema.items()) {
      if (key != "enum" && key != "const" && key != "default") StripPatterns(child, patterns);
    }
  } else if (schema.is_array()) {
    for (nlohmann::json& child : schema) StripPatterns(child, patterns);
  }
}

// Appends a diagnostic for every mapping key that breaks its schema's propertyNames rule
// (valijson 1.0 checks "propertyNames" but records no error for it) and for every string that
// breaks its "pattern" rule (stripped from what valijson sees, see MatcherFor).
void CheckNamesAndPatterns(const nlohmann::json& root_schema, const nlohmann::json& schema,
                           const nlohmann::json& value, std::vector<std::string>& path,
                           const YamlNode& root, const std::string& file,
                           std::vector<Diagnostic>* out) {
  if (value.is_string() && schema.contains("pattern")) {
    const std::string pattern = schema["pattern"].get<std::string>();
    PatternMatcher matcher = MatcherFor(pattern);
    const std::string& text = value.get_ref<const std::string&>();
    if (matcher == nullptr || !matcher(text)) {
      YamlPosition position = Locate(root, path);
      out->push_back({{file, position.line, position.column},
                      DottedPath(path) + ": '" + Shorten(text) + "' " + PatternMeaning(pattern),
                      ""});
    }
  }
  if (value.is_object()) {
    if (schema.contains("propertyNames")) {
      const nlohmann::json& rule = schema["propertyNames"];
      for (const auto& [key, unused] : value.items()) {
        std::string problem;
        if (rule.contains("maxLength") && key.size() > rule["maxLength"].get<size_t>()) {
          problem = "is longer than " + rule["maxLength"].dump() + " characters";
        } else if (rule.contains("pattern")) {
          const std::string pattern = rule["pattern"].get<std::string>();
          PatternMatcher matcher = MatcherFor(pattern);
          if (matcher == nullptr || !matcher(key)) problem = PatternMeaning(pattern);
        }
        if (problem.empty()) continue;
        path.push_back(key);
        YamlPosition position = Locate(root, path, /*at_key=*/true);
        out->push_back({{file, position.line, position.column},
                        DottedPath(path) + ": name '" + Shorten(key) + "' " + problem,
                        ""});
        path.pop_back();
      }
    }
    for (const auto& [key, child] : value.items()) {
      const nlohmann::json* child_schema = nullptr;
      if (schema.contains("properties") && schema["properties"].contains(key)) {
        child_schema = &schema["properties"][key];
      } else if (schema.contains("additionalProperties") &&
                 schema["additionalProperties"].is_object()) {
        child_schema = &schema["additionalProperties"];
      }
      if (child_schema == nullptr) continue;
      path.push_back(key);
      CheckNamesAndPatterns(root_schema, Resolve(root_schema, *child_schema), child, path, root,
                            file, out);
      path.pop_back();
    }
  } else if (value.is_array() && schema.contains("items") && schema["items"].is_object()) {
    const nlohmann::json& items = Resolve(root_schema, schema["items"]);
    for (size_t i = 0; i < value.size(); ++i) {
      path.push_back(std::to_string(i));
      CheckNamesAndPatterns(root_schema, items, value[i], path, root, file, out);
      path.pop_back();
    }
  }
}

}  // namespace

struct SchemaValidator::Impl {
  nlohmann::json schema_json;
  valijson::Schema compiled;
  // The schema's "pattern" texts, which valijson does not see (CheckNamesAndPatterns does).
  std::set<std::string> patterns;
  // One valijson validator for every document (valijson's validate is not const); guarded by
  // mutex.
  std::mutex mutex;
  valijson::Validator validator{valijson::Validator::kStrongTypes};

  std::vector<Diagnostic> Describe(const valijson::ValidationResults::Error& error,
                                   const nlohmann::json& document, const YamlNode& root,
                                   const std::string& file) const;
};

SchemaValidator::SchemaValidator() : impl_(std::make_unique<Impl>()) {
  impl_->schema_json = nlohmann::json::parse(TrainingJobSchemaText());
  nlohmann::json without_patterns = impl_->schema_json;
  StripPatterns(without_patterns, &impl_->patterns);
  valijson::SchemaParser parser(valijson::SchemaParser::kDraft7);
  valijson::adapters::NlohmannJsonAdapter adapter(without_patterns);
  parser.populateSchema(adapter, impl_->compiled);
}

SchemaValidator::~SchemaValidator() = default;

const nlohmann::json& SchemaValidator::schema() const { return impl_->schema_json; }

std::vector<std::string> SchemaValidator::PatternsWithoutMatcher() const {
  std::vector<std::string> out;
  for (const std::string& pattern : impl_->patterns) {
    if (MatcherFor(pattern) == nullptr) out.push_back(pattern);
  }
  return out;
}

std::vector<Diagnostic> SchemaValidator::Validate(const nlohmann::json& document,
                                                  const YamlNode& root,
                                                  const std::string& path) const {
  valijson::ValidationResults results;
  valijson::adapters::NlohmannJsonAdapter adapter(document);
  std::vector<Diagnostic> diagnostics;
  bool valid = false;
  {
    std::lock_guard<std::mutex> lock(impl_->mutex);
    valid = impl_->validator.validate(impl_->compiled, adapter, &results);
  }
  std::vector<std::string> walk_path;
  CheckNamesAndPatterns(impl_->schema_json, Resolve(impl_->schema_json, impl_->schema_json),
                        document, walk_path, root, path, &diagnostics);
  if (valid) return diagnostics;

  std::set<std::pair<std::vector<std::string>, std::string>> seen;
  for (const auto& error : results) {
    // Wrappers restate a nested error at each enclosing level; the nested one says it all.
    const std::string& d = error.description;
    if (d.rfind("Failed to validate against", 0) == 0 ||
        d.rfind("Failed to validate item", 0) == 0 || d.rfind("Cannot validate item", 0) == 0) {
      continue;
    }
    if (!seen.insert({error.context, d}).second) continue;
    for (Diagnostic& diagnostic : impl_->Describe(error, document, root, path)) {
      diagnostics.push_back(std::move(diagnostic));
    }
  }
  if (diagnostics.empty()) {
    // The schema rejected the document without saying where; never let that pass as valid.
    diagnostics.push_back(
        {{path, root.line, root.column}, "document does not match the TrainingJob schema", ""});
  }
  std::sort(diagnostics.begin(), diagnostics.end());
  return diagnostics;
}

namespace {

// Where a schema error's path is in the YAML: at the key, or at the value.
using Locator = std::function<SourceLocation(const std::vector<std::string>& path, bool at_key)>;

// An object with keys the schema does not know: one diagnostic per unknown key, at the key, with
// the nearest known name as a hint. `field` is `path` dotted.
std::vector<Diagnostic> UnknownFields(const nlohmann::json& schema, const nlohmann::json& value,
                                      const std::vector<std::string>& path,
                                      const std::string& field, const Locator& at) {
  // One diagnostic per unknown key, at the key, with the nearest known name as a hint.
  std::vector<Diagnostic> out;
  std::vector<std::string> known;
  if (schema.contains("properties")) {
    for (const auto& [name, unused] : schema["properties"].items()) known.push_back(name);
  }
  for (const auto& [key, unused] : value.items()) {
    if (std::find(known.begin(), known.end(), key) != known.end()) continue;
    std::string hint = UnknownNameHint(key, known, "allowed fields here:");
    std::vector<std::string> key_path = path;
    key_path.push_back(key);
    std::string where = path.empty() ? "at the top level" : "in " + field;
    out.push_back({at(key_path, true), "unknown field '" + key + "' " + where, hint});
  }
  return out;
}

// "Value type not permitted": what was expected and what was found, with a hint for the usual
// slips (quoted numbers, unquoted strings, yes/no for booleans).
void DescribeTypeMismatch(const nlohmann::json& schema, const nlohmann::json& value,
                          const std::string& field, Diagnostic* diagnostic) {
  std::string expected;
  bool string_allowed = false;
  const nlohmann::json& type = schema["type"];
  for (const auto& t : type.is_array() ? type : nlohmann::json::array({type})) {
    std::string name = t.get<std::string>();
    string_allowed = string_allowed || name == "string";
    if (name == "object") name = "mapping";
    if (name == "array") name = "list";
    expected += (expected.empty() ? "" : " or ") + name;
  }
  diagnostic->message =
      field + ": expected " + expected + ", got " + JsonTypeName(value) + " " + Quote(value);
  if (value.is_string() && (expected == "integer" || expected == "number") &&
      nlohmann::json::accept(value.get<std::string>())) {
    diagnostic->hint = "remove the quotes";
  } else if (string_allowed && (value.is_number() || value.is_boolean())) {
    diagnostic->hint = "quote the value: \"" + value.dump() + "\"";
  } else if (expected == "boolean" && value.is_string()) {
    diagnostic->hint = "write true or false (YAML 1.2 reads yes/no/on/off as strings)";
  }
}

// The message (and hint) of one schema error `d` of the field at `path` (dotted: `field`), whose
// schema and value are `schema` and `value` when known.
void DescribeError(const std::string& d, const nlohmann::json* schema, const nlohmann::json* value,
                   const std::vector<std::string>& path, const std::string& field,
                   Diagnostic* diagnostic) {
  if (d.rfind("Missing required property '", 0) == 0) {
    std::string name = d.substr(27, d.find('\'', 27) - 27);
    diagnostic->message = path.empty() ? "missing required field '" + name + "'"
                                       : field + ": missing required field '" + name + "'";
  } else if (d.rfind("Value type not permitted", 0) == 0 && schema && value) {
    DescribeTypeMismatch(*schema, *value, field, diagnostic);
  } else if (d.rfind("Failed to match expected value set by 'const'", 0) == 0 && schema) {
    diagnostic->message =
        field + ": must be " + (*schema)["const"].dump() + (value ? ", got " + Quote(*value) : "");
  } else if (d.rfind("Failed to match against any enum values", 0) == 0 && schema) {
    std::string allowed;
    for (const auto& option : (*schema)["enum"])
      allowed += (allowed.empty() ? "" : ", ") + option.dump();
    diagnostic->message =
        field + ": must be one of " + allowed + (value ? ", got " + Quote(*value) : "");
  } else if (schema && (d.rfind("Expected number greater than", 0) == 0 ||
                        d.rfind("Expected number less than", 0) == 0)) {
    bool lower = d.rfind("Expected number greater than", 0) == 0;
    const char* bound = lower ? "minimum" : "maximum";
    diagnostic->message = field + ": must be at " + (lower ? "least " : "most ") +
                          (schema->contains(bound) ? (*schema)[bound].dump() : "the bound") +
                          (value ? ", got " + Quote(*value) : "");
  } else if (schema && d.rfind("String should be no fewer than", 0) == 0) {
    diagnostic->message = field + ": must not be empty";
  } else if (schema && d.rfind("String should be no more than", 0) == 0 && value &&
             value->is_string()) {
    diagnostic->message = field + ": " + Quote(*value) + " is " +
                          std::to_string(value->get<std::string>().size()) +
                          " characters long; the limit is " + (*schema)["maxLength"].dump();
  } else if (schema && d.rfind("Object should have no fewer than", 0) == 0) {
    diagnostic->message =
        field + ": must have at least " + (*schema)["minProperties"].dump() + " entry";
  } else {
    std::string text = d;
    if (!text.empty())
      text[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(text[0])));
    if (!text.empty() && text.back() == '.') text.pop_back();
    diagnostic->message = field + ": " + text;
    if (value && (value->is_primitive())) diagnostic->message += ", got " + Quote(*value);
  }
}

}  // namespace

std::vector<Diagnostic> SchemaValidator::Impl::Describe(
    const valijson::ValidationResults::Error& error, const nlohmann::json& document,
    const YamlNode& root, const std::string& file) const {
  std::vector<std::string> path;
  for (const std::string& step : error.context) {
    if (step == "<root>") continue;
    path.push_back(step.size() >= 2 && step.front() == '[' ? step.substr(1, step.size() - 2)
                                                           : step);
  }
  const nlohmann::json* schema = SchemaAt(schema_json, path);
  const nlohmann::json* value = ValueAt(document, path);
  const std::string field = DottedPath(path);
  Locator at = [&](const std::vector<std::string>& p, bool at_key) {
    YamlPosition position = Locate(root, p, at_key);
    return SourceLocation{file, position.line, position.column};
  };
  const std::string& d = error.description;
  if (d.rfind("Object contains a property that could not be validated", 0) == 0 && value &&
      value->is_object() && schema) {
    return UnknownFields(*schema, *value, path, field, at);
  }
  Diagnostic diagnostic{at(path, false), "", ""};
  DescribeError(d, schema, value, path, field, &diagnostic);
  return {diagnostic};
}

}  // namespace jobsync
