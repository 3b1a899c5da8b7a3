#include "agent/cli/config.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "schemas/diagnostic.h"
#include "schemas/yaml_reader.h"

namespace jobsync {
namespace {

Status Located(const std::string& path, int line, int column, const std::string& message,
               const std::string& hint = "") {
  Diagnostic diagnostic{{path, line, column}, message, hint};
  return InvalidArgumentError(diagnostic.ToString());
}

// The long name of `option` without dashes ("interval"), or "" for a positional.
std::string LongName(const CLI::Option& option) {
  const std::vector<std::string>& names = option.get_lnames();
  return names.empty() ? "" : names.front();
}

}  // namespace

Status ApplyConfigText(std::string_view text, const std::string& path, CLI::App& command) {
  YamlFile file = ReadYaml(text);
  if (file.error) {
    return Located(path, file.error->line, file.error->column, file.error->message,
                   file.error->hint);
  }
  if (file.documents.empty()) return OkStatus();  // an empty file sets nothing
  if (file.documents.size() > 1) {
    return Located(path, file.documents[1]->line, file.documents[1]->column,
                   "a configuration file holds one YAML document");
  }
  const YamlNode& root = *file.documents.front();
  if (root.kind != YamlNode::Kind::kMapping) {
    return Located(path, root.line, root.column,
                   "a configuration file is a mapping of flag names to values",
                   "for example: \"repo: https://git.example.com/ml/jobs.git\"");
  }
  std::vector<std::string> known;
  for (const CLI::Option* option : command.get_options()) {
    std::string name = LongName(*option);
    if (!name.empty() && name != "help" && name != "config") known.push_back(name);
  }
  for (const YamlMapEntry& entry : root.entries) {
    CLI::Option* option = nullptr;
    if (std::find(known.begin(), known.end(), entry.key) != known.end()) {
      option = command.get_option_no_throw("--" + entry.key);
    }
    if (option == nullptr) {
      return Located(path, entry.key_line, entry.key_column, "unknown setting '" + entry.key + "'",
                     UnknownNameHint(entry.key, known,
                                     "settings are the flags of `jobsync run "
                                     "--help` without dashes:"));
    }
    if (option->count() > 0) continue;  // the command line wins
    std::vector<std::string> inputs;
    const YamlNode& value = *entry.value;
    if (value.kind == YamlNode::Kind::kScalar) {
      inputs.push_back(value.scalar);
    } else if (value.kind == YamlNode::Kind::kSequence && option->get_expected_max() > 1) {
      for (const YamlNodePtr& item : value.items) {
        if (item->kind != YamlNode::Kind::kScalar) {
          return Located(path, item->line, item->column,
                         entry.key + ": items must be plain values");
        }
        inputs.push_back(item->scalar);
      }
    } else if (value.kind == YamlNode::Kind::kNull) {
      return Located(path, entry.key_line, entry.key_column, entry.key + ": no value given");
    } else {
      return Located(path, value.line, value.column, entry.key + ": expected a single value");
    }
    try {
      for (const std::string& input : inputs) option->add_result(input);
      option->run_callback();
    } catch (const CLI::Error& error) {
      return Located(path, value.line, value.column, entry.key + ": " + error.what());
    }
  }
  return OkStatus();
}

Status ApplyConfigFile(const std::string& path, CLI::App& command) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return NotFoundError("cannot read configuration file " + path + ": " + std::strerror(errno));
  }
  std::stringstream text;
  text << in.rdbuf();
  return ApplyConfigText(text.str(), path, command);
}

StatusOr<std::chrono::milliseconds> ParseDuration(std::string_view text) {
  auto bad = [&] {
    return InvalidArgumentError(
        "invalid duration \"" + std::string(text) +
        "\": use a number with a unit, such as 500ms, 30s, 5m, 1h or 1m30s");
  };
  if (text.empty()) return bad();
  bool bare = std::all_of(text.begin(), text.end(), [](char c) { return std::isdigit(c) != 0; });
  if (bare) {
    if (text.size() > 9) return bad();
    return std::chrono::milliseconds(std::stoll(std::string(text)) * 1000);
  }
  int64_t total = 0;
  size_t i = 0;
  while (i < text.size()) {
    size_t start = i;
    while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i])) != 0) ++i;
    if (i == start || i - start > 9) return bad();
    int64_t number = std::stoll(std::string(text.substr(start, i - start)));
    size_t unit_start = i;
    while (i < text.size() && std::isalpha(static_cast<unsigned char>(text[i])) != 0) ++i;
    std::string_view unit = text.substr(unit_start, i - unit_start);
    if (unit == "ms") {
      total += number;
    } else if (unit == "s") {
      total += number * 1000;
    } else if (unit == "m") {
      total += number * 60 * 1000;
    } else if (unit == "h") {
      total += number * 3600 * 1000;
    } else {
      return bad();
    }
  }
  return std::chrono::milliseconds(total);
}

}  // namespace jobsync
