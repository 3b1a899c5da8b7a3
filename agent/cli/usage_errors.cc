#include "agent/cli/usage_errors.h"

#include <cctype>
#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "schemas/diagnostic.h"

namespace jobsync {
namespace {

// The command line as it was typed: the command (null when none was named or the word is not a
// command) and every other word, the flags before the command included.
struct TypedLine {
  const CLI::App* command = nullptr;
  std::string command_word;  // the first word that is not a flag, known or not
  std::vector<std::string> args;
};

TypedLine ReadTypedLine(const CLI::App& app, int argc, const char* const* argv) {
  TypedLine line;
  int i = 1;
  for (; i < argc; ++i) {
    const std::string word = argv[i];
    if (word.empty() || word[0] != '-') {
      line.command_word = word;
      break;
    }
    line.args.push_back(word);
  }
  if (line.command_word.empty()) return line;
  for (const CLI::App* sub : app.get_subcommands(std::function<bool(const CLI::App*)>())) {
    if (sub->get_name() == line.command_word) line.command = sub;
  }
  if (line.command == nullptr) return line;
  for (++i; i < argc; ++i) line.args.emplace_back(argv[i]);
  return line;
}

// The visible commands of `app`, in the order --help lists them.
std::vector<std::string> CommandNames(const CLI::App& app) {
  std::vector<std::string> names;
  for (const CLI::App* sub : app.get_subcommands(std::function<bool(const CLI::App*)>())) {
    if (!sub->get_group().empty()) names.push_back(sub->get_name());
  }
  return names;
}

// Every visible flag of `command` and of the top level (--help, --version), with its dashes.
std::vector<std::string> FlagNames(const CLI::App& app, const CLI::App* command) {
  std::vector<std::string> names;
  for (const CLI::App* level : {command, &app}) {
    if (level == nullptr) continue;
    for (const CLI::Option* option : level->get_options()) {
      if (option->get_group().empty()) continue;  // hidden
      for (const std::string& name : option->get_lnames()) names.push_back("--" + name);
      for (const std::string& name : option->get_snames()) names.push_back("-" + name);
    }
  }
  return names;
}

// The flag a word names ("--flag" of "--flag=value", "-o" of "-ojson"); "" for words that are
// not flags: values, negative numbers, "-" and "--".
std::string FlagOf(const std::string& word) {
  if (word.size() < 2 || word[0] != '-' || word == "--") return "";
  if (word[1] == '-') return word.substr(0, word.find('='));
  if (std::isdigit(static_cast<unsigned char>(word[1])) != 0 || word[1] == '.') return "";
  return word.substr(0, 2);
}

// A flag without its dashes: flags are compared by the letters the user typed.
std::string Bare(const std::string& flag) { return flag.substr(flag.find_first_not_of('-')); }

std::string WithSuggestion(const std::string& what, const std::string& nearest) {
  return nearest.empty() ? what : what + "; did you mean " + nearest + "?";
}

// "unknown flag --x for plan; did you mean --y?" for each flag the command line names that
// neither the command nor the top level has; words after "--" are arguments.
std::vector<std::string> UnknownFlags(const CLI::App& app, const TypedLine& line) {
  std::vector<std::string> problems;
  const std::vector<std::string> known = FlagNames(app, line.command);
  std::vector<std::string> bare_known;
  bare_known.reserve(known.size());
  for (const std::string& name : known) bare_known.push_back(Bare(name));
  for (const std::string& word : line.args) {
    if (word == "--") break;
    const std::string flag = FlagOf(word);
    if (flag.empty() || app.get_option_no_throw(flag) != nullptr) continue;
    if (line.command != nullptr && line.command->get_option_no_throw(flag) != nullptr) continue;
    std::string what = "unknown flag " + flag;
    if (line.command != nullptr) what += " for " + line.command->get_name();
    const std::string nearest = NearestName(Bare(flag), bare_known);
    std::string suggestion;
    for (size_t i = 0; i < known.size() && !nearest.empty(); ++i) {
      if (bare_known[i] == nearest) {
        suggestion = known[i];
        break;
      }
    }
    problems.push_back(WithSuggestion(what, suggestion));
  }
  return problems;
}

// "history needs a job: NAMESPACE/NAME" for the first required positional argument the command
// did not get; "" when it got them all.
std::string MissingArgument(const CLI::App& command) {
  for (const CLI::Option* option : command.get_options()) {
    if (!option->get_positional() || !option->get_required() || option->count() > 0) continue;
    const bool many = option->get_items_expected_max() > 1;
    std::string noun = option->get_name();
    if (many && noun.size() > 1 && noun.back() == 's') noun.pop_back();
    const char* article = std::string("aeiou").find(noun[0]) == std::string::npos ? "a " : "an ";
    return command.get_name() + " needs " + article + noun + ": " + option->get_type_name() +
           (many ? " ..." : "");
  }
  return "";
}

// The first lines of the message: what is wrong, in the order of usage_errors.h.
std::vector<std::string> Problems(const CLI::App& app, const CLI::ParseError& error,
                                  const TypedLine& line) {
  const std::vector<std::string> commands = CommandNames(app);
  if (line.command == nullptr && !line.command_word.empty()) {
    return {WithSuggestion("unknown command " + line.command_word,
                           NearestName(line.command_word, commands))};
  }
  std::vector<std::string> problems = UnknownFlags(app, line);
  if (!problems.empty()) return problems;
  if (line.command == nullptr) {
    std::string list;
    for (const std::string& name : commands) list += (list.empty() ? "" : ", ") + name;
    return {"a command is required: one of " + list};
  }
  if (dynamic_cast<const CLI::RequiredError*>(&error) != nullptr) {
    std::string missing = MissingArgument(*line.command);
    if (!missing.empty()) return {missing};
  }
  return {error.what()};
}

}  // namespace

std::string NearestName(const std::string& typed, const std::vector<std::string>& known) {
  std::string nearest;
  size_t best = 3;
  for (const std::string& name : known) {
    const size_t distance = EditDistance(typed, name);
    if (distance < best && distance < typed.size()) {
      best = distance;
      nearest = name;
    }
  }
  if (!nearest.empty() || typed.size() < 3) return nearest;
  for (const std::string& name : known) {
    if (!name.starts_with(typed)) continue;
    if (!nearest.empty()) return "";  // a prefix of several: no guess
    nearest = name;
  }
  return nearest;
}

std::string DescribeUsageError(const CLI::App& app, const CLI::ParseError& error, int argc,
                               const char* const* argv) {
  const TypedLine line = ReadTypedLine(app, argc, argv);
  std::string out;
  for (const std::string& problem : Problems(app, error, line)) out += "jobsync: " + problem + "\n";
  const std::string help = line.command == nullptr
                               ? "jobsync --help"
                               : "jobsync " + line.command->get_name() + " --help";
  return out + "Run '" + help + "' for usage.\n";
}

}  // namespace jobsync
