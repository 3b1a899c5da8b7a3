#include "diff/render.h"

#include <algorithm>
#include <array>
#include <string_view>
#include <utility>

#include <nlohmann/json.hpp>

namespace jobsync {
namespace {

using nlohmann::json;
using nlohmann::ordered_json;

// Every action, in the order summaries list them.
constexpr std::array<Action, 5> kActions = {Action::kCreate, Action::kScale, Action::kUpdate,
                                            Action::kDelete, Action::kNone};

constexpr const char* kReset = "\033[0m";
constexpr const char* kGreen = "\033[32m";
constexpr const char* kYellow = "\033[33m";
constexpr const char* kRed = "\033[31m";
constexpr const char* kBold = "\033[1m";

// A value as compact JSON; invalid UTF-8 is replaced rather than thrown on.
std::string Show(const json& value) {
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

char StepSymbol(const PlanStep& step) {
  switch (step.action) {
    case Action::kCreate:
      return '+';
    case Action::kScale:
    case Action::kUpdate:
      return '~';
    case Action::kDelete:
      return '-';
    case Action::kNone:
      break;
  }
  return step.error ? '!' : ' ';
}

const char* SymbolColour(char symbol) {
  switch (symbol) {
    case '+':
      return kGreen;
    case '~':
      return kYellow;
    case '-':
    case '!':
      return kRed;
    default:
      return "";
  }
}

// The symbol of a field change: '+' added, '-' removed, '~' changed.
char ChangeSymbol(const FieldChange& change) {
  if (!change.from) return '+';
  if (!change.to) return '-';
  return '~';
}

// "2 -> 6", "\"v2\"" or "\"v1\"": the values of a change after its field name.
std::string ChangeValues(const FieldChange& change) {
  if (change.from && change.to) return Show(*change.from) + " -> " + Show(*change.to);
  return Show(change.from ? *change.from : *change.to);
}

// "1 to create, 0 to scale, 0 to update, 0 to delete, 2 unchanged, 0 errors".
std::string SummaryLine(const Plan& plan) {
  const int errors = plan.ErrorCount();
  return std::to_string(plan.Count(Action::kCreate)) + " to create, " +
         std::to_string(plan.Count(Action::kScale)) + " to scale, " +
         std::to_string(plan.Count(Action::kUpdate)) + " to update, " +
         std::to_string(plan.Count(Action::kDelete)) + " to delete, " +
         std::to_string(plan.Count(Action::kNone)) + " unchanged, " + std::to_string(errors) +
         (errors == 1 ? " error" : " errors");
}

// Escapes the characters that Markdown would read as formatting in running text.
std::string MarkdownText(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (std::string_view("\\`*_[]<>|#").find(c) != std::string_view::npos) out.push_back('\\');
    out.push_back(c);
  }
  return out;
}

// A code fence longer than any run of backticks in `body`, so the body cannot close it.
std::string FenceFor(const std::string& body) {
  size_t longest = 0;
  size_t run = 0;
  for (char c : body) {
    run = c == '`' ? run + 1 : 0;
    longest = std::max(longest, run);
  }
  return std::string(std::max<size_t>(3, longest + 1), '`');
}

}  // namespace

std::string RenderText(const Plan& plan, bool colour) {
  auto paint = [colour](const char* code, const std::string& text) {
    return colour && *code != '\0' ? code + text + kReset : text;
  };
  std::string out;
  for (const PlanStep& step : plan.steps) {
    const char symbol = StepSymbol(step);
    std::string head = std::string(1, symbol) + " " + step.key.ToString();
    std::string action = ActionName(step.action);
    if (step.error) action += ", error";
    out += paint(SymbolColour(symbol), head) + ": " + action + " (" + step.reason + ")\n";
    for (const FieldChange& change : step.changes) {
      const char change_symbol = ChangeSymbol(change);
      out +=
          "    " +
          paint(SymbolColour(change_symbol), std::string(1, change_symbol) + " " + change.field) +
          ": " + ChangeValues(change) + "\n";
    }
  }
  if (!plan.steps.empty()) out += "\n";
  out += paint(kBold, "Plan:") + " " + SummaryLine(plan) + ".\n";
  return out;
}

std::string RenderMarkdown(const Plan& plan) {
  std::string out = "## jobsync plan\n\n";
  out += plan.HasChanges() ? SummaryLine(plan) + ".\n\n"
                           : "No changes. " + SummaryLine(plan) + ".\n\n";
  out += "| action | jobs |\n| --- | ---: |\n";
  for (Action action : kActions) {
    out += "| " + std::string(ActionName(action)) + " | " + std::to_string(plan.Count(action)) +
           " |\n";
  }
  out += "| errors | " + std::to_string(plan.ErrorCount()) + " |\n";

  if (plan.ErrorCount() > 0) {
    out += "\n### Errors\n\n";
    for (const PlanStep& step : plan.steps) {
      if (step.error) out += "- `" + step.key.ToString() + "`: " + MarkdownText(step.reason) + "\n";
    }
  }

  for (const PlanStep& step : plan.steps) {
    if (step.action == Action::kNone) continue;
    out += "\n### " + std::string(ActionName(step.action)) + " `" + step.key.ToString() + "`\n\n";
    out += MarkdownText(step.reason) + "\n";
    if (step.changes.empty()) continue;
    std::string body;
    for (const FieldChange& change : step.changes) {
      if (change.from) body += "- " + change.field + ": " + Show(*change.from) + "\n";
      if (change.to) body += "+ " + change.field + ": " + Show(*change.to) + "\n";
    }
    const std::string fence = FenceFor(body);
    out += "\n" + fence + "diff\n" + body + fence + "\n";
  }

  const int unchanged = plan.Count(Action::kNone) - plan.ErrorCount();
  if (unchanged > 0) {
    out += "\n<details><summary>" + std::to_string(unchanged) + " job" +
           (unchanged == 1 ? "" : "s") + " without changes</summary>\n\n";
    for (const PlanStep& step : plan.steps) {
      if (step.action != Action::kNone || step.error) continue;
      out += "- `" + step.key.ToString() + "`: " + MarkdownText(step.reason) + "\n";
    }
    out += "\n</details>\n";
  }
  return out;
}

std::string RenderJson(const Plan& plan) {
  ordered_json steps = ordered_json::array();
  for (const PlanStep& step : plan.steps) {
    ordered_json changes = ordered_json::array();
    for (const FieldChange& change : step.changes) {
      ordered_json c = ordered_json::object();
      c["field"] = change.field;
      if (change.from) c["from"] = ordered_json(*change.from);
      if (change.to) c["to"] = ordered_json(*change.to);
      changes.push_back(std::move(c));
    }
    ordered_json s = ordered_json::object();
    s["action"] = ActionName(step.action);
    s["job"] = step.key.ToString();
    s["reason"] = step.reason;
    s["error"] = step.error;
    s["changes"] = std::move(changes);
    steps.push_back(std::move(s));
  }
  ordered_json summary = ordered_json::object();
  for (Action action : kActions) summary[ActionName(action)] = plan.Count(action);
  summary["errors"] = plan.ErrorCount();
  summary["changes"] = plan.HasChanges();
  ordered_json out = ordered_json::object();
  out["steps"] = std::move(steps);
  out["summary"] = std::move(summary);
  return out.dump(2, ' ', false, ordered_json::error_handler_t::replace) + "\n";
}

}  // namespace jobsync
