#include "diff/render.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "diff/impact.h"

namespace jobsync {
namespace {

using nlohmann::json;
using nlohmann::ordered_json;

// Every action, in the order summaries list them.
constexpr std::array<Action, 7> kActions = {Action::kCreate, Action::kScale, Action::kPatch,
                                            Action::kUpdate, Action::kRerun, Action::kDelete,
                                            Action::kNone};

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
    case Action::kPatch:
    case Action::kUpdate:
    case Action::kRerun:
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

// ", 2 manifest problems" after `separator`, or "" when the manifests have none.
std::string ProblemCount(const Plan& plan, const char* separator) {
  const size_t problems = plan.diagnostics.size();
  if (problems == 0) return "";
  return separator + std::to_string(problems) +
         (problems == 1 ? " manifest problem" : " manifest problems");
}

// "1 to create, 0 to scale, 0 to patch, 0 to update, 0 to delete, 2 unchanged, 0 errors", with
// "N to rerun, " after the updates when a step reruns (so that plans without one read as before).
std::string SummaryLine(const Plan& plan) {
  const int errors = plan.ErrorCount();
  const int reruns = plan.Count(Action::kRerun);
  return std::to_string(plan.Count(Action::kCreate)) + " to create, " +
         std::to_string(plan.Count(Action::kScale)) + " to scale, " +
         std::to_string(plan.Count(Action::kPatch)) + " to patch, " +
         std::to_string(plan.Count(Action::kUpdate)) + " to update, " +
         (reruns > 0 ? std::to_string(reruns) + " to rerun, " : "") +
         std::to_string(plan.Count(Action::kDelete)) + " to delete, " +
         std::to_string(plan.Count(Action::kNone)) + " unchanged, " + std::to_string(errors) +
         (errors == 1 ? " error" : " errors") + ProblemCount(plan, ", ");
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

// {"gpus": n, "cpus": "0.5", "memory": "64Gi"}: exact; gpus as a string only past int64.
ordered_json TotalsJson(const ResourceTotals& totals) {
  ordered_json out = ordered_json::object();
  const bool fits = totals.gpus <= INT64_MAX;
  out["gpus"] = fits ? ordered_json(static_cast<int64_t>(totals.gpus))
                     : ordered_json(FormatCount(totals.gpus));
  out["cpus"] = FormatCpus(totals.cpu_milli);
  out["memory"] = FormatMemory(totals.memory_milli);
  return out;
}

// The resource impact as lines of text; one line saying so when nothing changes.
std::vector<std::string> ImpactText(const Plan& plan) {
  std::vector<std::string> lines = ImpactLines(ComputeImpact(plan));
  if (lines.empty()) lines.push_back("no change in requested resources");
  return lines;
}

// "- `jobs/a.yaml:3:7`: message (hint: ...)": a manifest problem as a Markdown list item.
std::string MarkdownDiagnostic(const Diagnostic& d) {
  std::string out = "- `" + d.location.ToString() + "`: " + MarkdownText(d.message);
  if (!d.hint.empty()) out += " (hint: " + MarkdownText(d.hint) + ")";
  return out + "\n";
}

std::string MarkdownImpact(const Plan& plan) {
  std::string out = "\n### Resource impact\n\nRequested per namespace, before -> after.\n\n";
  // Not escaped: the lines hold namespace names (DNS labels), numbers and units only.
  for (const std::string& line : ImpactText(plan)) out += "- " + line + "\n";
  return out;
}

std::string MarkdownHeading(const Plan& plan) {
  std::string out = "## jobsync plan\n\n";
  out += plan.HasChanges() ? SummaryLine(plan) + ".\n\n"
                           : "No changes. " + SummaryLine(plan) + ".\n\n";
  out += "| action | jobs |\n| --- | ---: |\n";
  for (Action action : kActions) {
    out += "| " + std::string(ActionName(action)) + " | " + std::to_string(plan.Count(action)) +
           " |\n";
  }
  out += "| errors | " + std::to_string(plan.ErrorCount()) + " |\n";
  if (!plan.diagnostics.empty()) {
    out += "| manifest problems | " + std::to_string(plan.diagnostics.size()) + " |\n";
  }
  if (!plan.warnings.empty()) {
    out += "| manifest warnings | " + std::to_string(plan.warnings.size()) + " |\n";
  }
  return out;
}

constexpr const char* kMarkdownWarnings =
    "\n### Manifest warnings\n\nFields that load but that jobsync does not honour.\n\n";

std::string MarkdownProblems(const Plan& plan) {
  std::string out;
  if (!plan.diagnostics.empty()) out += "\n### Manifest problems\n\n";
  for (const Diagnostic& d : plan.diagnostics) out += MarkdownDiagnostic(d);
  if (!plan.warnings.empty()) out += kMarkdownWarnings;
  for (const Diagnostic& d : plan.warnings) out += MarkdownDiagnostic(d);
  return out;
}

std::string MarkdownErrorStep(const PlanStep& step) {
  return "- `" + step.key.ToString() + "`: " + MarkdownText(step.reason) + "\n";
}

// The whole plan as a comment, whatever its size.
std::string FullMarkdown(const Plan& plan) {
  std::string out = MarkdownHeading(plan) + MarkdownProblems(plan);
  if (plan.ErrorCount() > 0) {
    out += "\n### Errors\n\n";
    for (const PlanStep& step : plan.steps) {
      if (step.error) out += MarkdownErrorStep(step);
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
  return out + MarkdownImpact(plan);
}

// Appends list items to a comment while they fit in its budget; counts those that do not.
class BoundedList {
 public:
  BoundedList(std::string& out, size_t limit) : out_(out), limit_(limit) {}
  // Appends `item` when it fits with `reserve` bytes to spare, else counts it as left out.
  void Add(const std::string& item, size_t reserve) {
    if (left_out_ == 0 && out_.size() + item.size() + reserve <= limit_) {
      out_ += item;
    } else {
      ++left_out_;
    }
  }
  // "- ... and 12 more <what> not shown" when some were left out.
  void Close(const std::string& what) {
    if (left_out_ > 0) {
      out_ += "- ... and " + std::to_string(left_out_) + " more " + what + " not shown\n";
    }
    left_out_ = 0;
  }

 private:
  std::string& out_;
  size_t limit_;
  size_t left_out_ = 0;
};

// The plan summarised to fit `max_bytes`; see RenderMarkdown.
std::string SummaryMarkdown(const Plan& plan, size_t max_bytes) {
  // Room kept for what must come after each list: the impact, the closing lines.
  const std::string impact = MarkdownImpact(plan);
  const std::string footer =
      "\nThe plan has " + std::to_string(plan.steps.size()) +
      " steps, too many for one comment: run `jobsync plan` with the same revisions for all of "
      "them.\n";
  constexpr size_t kCloseLine = 64;  // "- ... and N more ... not shown"
  const size_t tail = impact.size() + footer.size() + 4 * kCloseLine;
  std::string out = MarkdownHeading(plan);
  BoundedList list(out, max_bytes);
  if (!plan.diagnostics.empty()) {
    out += "\n### Manifest problems\n\n";
    for (const Diagnostic& d : plan.diagnostics) list.Add(MarkdownDiagnostic(d), tail);
    list.Close("manifest problems");
  }
  if (!plan.warnings.empty()) {
    out += kMarkdownWarnings;
    for (const Diagnostic& d : plan.warnings) list.Add(MarkdownDiagnostic(d), tail);
    list.Close("manifest warnings");
  }
  if (plan.ErrorCount() > 0) {
    out += "\n### Errors\n\n";
    for (const PlanStep& step : plan.steps) {
      if (step.error) list.Add(MarkdownErrorStep(step), tail);
    }
    list.Close("errors");
  }
  if (plan.Count(Action::kDelete) > 0) {
    out += "\n### Deletes\n\n";
    for (const PlanStep& step : plan.steps) {
      if (step.action == Action::kDelete) list.Add(MarkdownErrorStep(step), tail);
    }
    list.Close("deletes");
  }
  const int others = plan.Count(Action::kCreate) + plan.Count(Action::kScale) +
                     plan.Count(Action::kPatch) + plan.Count(Action::kUpdate) +
                     plan.Count(Action::kRerun);
  if (others > 0) {
    out += "\n### Other changes\n\n";
    for (const PlanStep& step : plan.steps) {
      if (step.action == Action::kNone || step.action == Action::kDelete) continue;
      list.Add(
          "- " + std::string(ActionName(step.action)) + " " + MarkdownErrorStep(step).substr(2),
          tail);
    }
    list.Close("changes");
  }
  return out + footer + impact;
}

}  // namespace

std::string RenderText(const Plan& plan, bool colour, const Plan* impact_of) {
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
  if (!plan.diagnostics.empty()) {
    out += paint(kRed, "Manifest problems:") + "\n";
    for (const Diagnostic& d : plan.diagnostics) out += "  " + d.ToString() + "\n";
    out += "\n";
  }
  if (!plan.warnings.empty()) {
    out += paint(kYellow, "Manifest warnings:") + "\n";
    for (const Diagnostic& d : plan.warnings) out += "  " + d.ToString() + "\n";
    out += "\n";
  }
  out += paint(kBold, "Plan:") + " " + SummaryLine(plan) + ".\n";
  out += "\n" + paint(kBold, "Resource impact") + " (requested per namespace, before -> after):\n";
  for (const std::string& line : ImpactText(impact_of != nullptr ? *impact_of : plan)) {
    out += "  " + line + "\n";
  }
  return out;
}

std::string RenderMarkdown(const Plan& plan, size_t max_bytes) {
  std::string full = FullMarkdown(plan);
  if (full.size() <= max_bytes) return full;
  return SummaryMarkdown(plan, max_bytes);
}

std::string RenderJson(const Plan& plan, const Plan* impact_of) {
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
    s["drift"] = step.drift;
    s["held"] = step.held;
    s["changes"] = std::move(changes);
    steps.push_back(std::move(s));
  }
  auto located = [](const std::vector<Diagnostic>& list) {
    ordered_json items = ordered_json::array();
    for (const Diagnostic& d : list) {
      ordered_json item = ordered_json::object();
      item["file"] = d.location.path;
      item["line"] = d.location.line;
      item["column"] = d.location.column;
      item["message"] = d.message;
      if (!d.hint.empty()) item["hint"] = d.hint;
      items.push_back(std::move(item));
    }
    return items;
  };
  ordered_json diagnostics = located(plan.diagnostics);
  ordered_json summary = ordered_json::object();
  for (Action action : kActions) summary[ActionName(action)] = plan.Count(action);
  summary["errors"] = plan.ErrorCount();
  summary["held"] = std::count_if(plan.steps.begin(), plan.steps.end(),
                                  [](const PlanStep& step) { return step.held; });
  summary["diagnostics"] = plan.diagnostics.size();
  summary["changes"] = plan.HasChanges();
  if (!plan.warnings.empty()) summary["warnings"] = plan.warnings.size();
  ordered_json impact = ordered_json::array();
  for (const ImpactRow& row : ComputeImpact(impact_of != nullptr ? *impact_of : plan)) {
    ordered_json item = ordered_json::object();
    item["namespace"] = row.key.namespace_name;
    item["queue"] = row.key.queue;
    item["before"] = TotalsJson(row.before);
    item["after"] = TotalsJson(row.after);
    item["beforeElasticMax"] = TotalsJson(row.before_max);
    item["afterElasticMax"] = TotalsJson(row.after_max);
    impact.push_back(std::move(item));
  }
  ordered_json out = ordered_json::object();
  out["steps"] = std::move(steps);
  out["diagnostics"] = std::move(diagnostics);
  if (!plan.warnings.empty()) out["warnings"] = located(plan.warnings);
  out["summary"] = std::move(summary);
  out["impact"] = std::move(impact);
  return out.dump(2, ' ', false, ordered_json::error_handler_t::replace) + "\n";
}

}  // namespace jobsync
