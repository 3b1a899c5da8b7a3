#include "diff/impact.h"

#include <algorithm>
#include <array>
#include <map>
#include <utility>

namespace jobsync {
namespace {

struct Totals {
  ResourceTotals requested;
  ResourceTotals max;
};

// Adds `count` replicas of `resources` to `totals`.
void AddReplicas(const Resources& resources, ResourceAmount count, ResourceTotals& totals) {
  if (resources.gpu) totals.gpus += count * *resources.gpu;
  if (resources.cpu) totals.cpu_milli += count * resources.cpu->milli();
  if (resources.memory) totals.memory_milli += count * resources.memory->milli();
}

// What a job requests when its roles run `replicas` (by role name; a role missing there runs
// its spec's count).
Totals Requests(const TrainingJob& job, const std::map<std::string, int>& replicas) {
  Totals totals;
  if (job.suspend) return totals;
  for (const auto& [name, role] : job.roles) {
    auto live = replicas.find(name);
    const int count = live != replicas.end() ? live->second : role.replicas;
    AddReplicas(role.resources, std::max(count, 0), totals.requested);
    AddReplicas(role.resources, std::max(role.max_replicas.value_or(count), count), totals.max);
  }
  return totals;
}

Totals LiveRequests(const PlanStep& step) {
  if (!step.live || !step.live->applied) return {};
  const LiveJob& live = *step.live;
  if (live.phase == LivePhase::kSuspended || live.phase == LivePhase::kQueued ||
      IsFinished(live.phase)) {
    return {};
  }
  return Requests(*live.applied, live.replicas);
}

Totals DesiredRequests(const PlanStep& step) {
  if (!step.desired) return {};
  return Requests(*step.desired, {});
}

void Add(const Totals& from, ResourceTotals& requested, ResourceTotals& max) {
  requested.gpus += from.requested.gpus;
  requested.cpu_milli += from.requested.cpu_milli;
  requested.memory_milli += from.requested.memory_milli;
  max.gpus += from.max.gpus;
  max.cpu_milli += from.max.cpu_milli;
  max.memory_milli += from.max.memory_milli;
}

// Decimal digits of an amount (negative only from a live spec no manifest could hold).
std::string Digits(ResourceAmount value) {
  if (value == 0) return "0";
  if (value < 0) return "-" + Digits(-value);
  std::string out;
  for (; value > 0; value /= 10)
    out.push_back(static_cast<char>('0' + static_cast<int>(value % 10)));
  std::reverse(out.begin(), out.end());
  return out;
}

// `milli` thousandths as a decimal number without trailing zeros: 1500 -> "1.5".
std::string Thousandths(ResourceAmount milli) {
  if (milli < 0) return "-" + Thousandths(-milli);
  std::string out = Digits(milli / 1000);
  const int fraction = static_cast<int>(milli % 1000);
  if (fraction == 0) return out;
  std::string digits = std::to_string(1000 + fraction).substr(1);
  while (digits.back() == '0') digits.pop_back();
  return out + "." + digits;
}

// "+32 GPUs (0 -> 32; elastic max 64)": one resource of a row, or "" when it is zero throughout.
std::string Part(const char* noun, ResourceAmount before, ResourceAmount after,
                 ResourceAmount before_max, ResourceAmount after_max,
                 std::string (*format)(ResourceAmount)) {
  if (before == 0 && after == 0 && before_max == 0 && after_max == 0) return "";
  std::string out = FormatDelta(after - before, format) + " " + noun + " (" + format(before) +
                    " -> " + format(after);
  if (after_max != after || before_max != before) out += "; elastic max " + format(after_max);
  return out + ")";
}

}  // namespace

std::string ImpactKey::ToString() const {
  return queue.empty() ? namespace_name : namespace_name + "/" + queue;
}

std::vector<ImpactRow> ComputeImpact(const Plan& plan) {
  std::map<ImpactKey, ImpactRow> rows;
  for (const PlanStep& step : plan.steps) {
    const Totals before = LiveRequests(step);
    Totals after;
    switch (step.action) {
      case Action::kCreate:
      case Action::kScale:
      case Action::kUpdate:
      case Action::kRerun:
        after = DesiredRequests(step);
        break;
      case Action::kDelete:
        break;
      case Action::kPatch:  // metadata only: the same requests run on
      case Action::kNone:
        after = before;
        break;
    }
    ImpactKey key{step.key.namespace_name, ""};
    ImpactRow& row = rows[key];
    row.key = key;
    Add(before, row.before, row.before_max);
    Add(after, row.after, row.after_max);
  }
  std::vector<ImpactRow> out;
  const ResourceTotals zero;
  for (auto& [key, row] : rows) {
    if (row.before == zero && row.after == zero && row.before_max == zero &&
        row.after_max == zero) {
      continue;
    }
    out.push_back(std::move(row));
  }
  return out;
}

std::string FormatCount(ResourceAmount value) { return Digits(value); }

std::string FormatCpus(ResourceAmount milli) { return Thousandths(milli); }

std::string FormatMemory(ResourceAmount milli) {
  if (milli % 1000 != 0) return Thousandths(milli);
  const ResourceAmount bytes = milli / 1000;
  if (bytes == 0) return "0";
  static constexpr std::array<const char*, 6> kUnits = {"Ei", "Pi", "Ti", "Gi", "Mi", "Ki"};
  for (size_t i = 0; i < kUnits.size(); ++i) {
    const ResourceAmount unit = static_cast<ResourceAmount>(1) << (10 * (kUnits.size() - i));
    if (bytes % unit == 0) return Digits(bytes / unit) + kUnits[i];
  }
  return Digits(bytes);
}

std::string FormatDelta(ResourceAmount delta, std::string (*format)(ResourceAmount)) {
  return (delta < 0 ? "-" : "+") + format(delta < 0 ? -delta : delta);
}

std::vector<std::string> ImpactLines(const std::vector<ImpactRow>& rows) {
  std::vector<std::string> lines;
  for (const ImpactRow& row : rows) {
    if (!row.Changes()) continue;
    std::string line;
    for (const std::string& part :
         {Part("GPUs", row.before.gpus, row.after.gpus, row.before_max.gpus, row.after_max.gpus,
               FormatCount),
          Part("CPUs", row.before.cpu_milli, row.after.cpu_milli, row.before_max.cpu_milli,
               row.after_max.cpu_milli, FormatCpus),
          Part("memory", row.before.memory_milli, row.after.memory_milli,
               row.before_max.memory_milli, row.after_max.memory_milli, FormatMemory)}) {
      if (part.empty()) continue;
      line += (line.empty() ? "" : ", ") + part;
    }
    lines.push_back(row.key.ToString() + ": " + line);
  }
  return lines;
}

}  // namespace jobsync
