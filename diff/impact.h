// What a plan costs: the resources its jobs request before and after it runs, per namespace, so
// that a reviewer reads "+32 GPUs in vision" instead of adding replicas up by hand.
//
// Pure and deterministic like the planner: a function of the Plan alone, no I/O.
//
// A job requests, per role, replicas x the role's per-replica resources (GPUs, CPU, memory), summed
// in thousandths of their unit in 128 bits: exact for every per-replica amount in whole
// thousandths up to about 8Pi (Quantity::milli; finer amounts are rounded up to a thousandth,
// larger ones saturate). A suspended job, one waiting in a Kueue queue (live phase Queued: Kueue
// holds it suspended) and a finished one request nothing. The elastic maximum is the same sum with
// each role at its maxReplicas (replicas when it has none): what the job may grow to without a new
// commit.
//
//   before: each step's live job (its applied spec with the live replica counts laid over it);
//   after:  create, scale, update, rerun: the desired job; delete: nothing; none: the live job as
//   it is
//           (none changes nothing, whatever the reason).
//
// Rows are keyed by namespace and queue. Manifests have no queue field yet, so the queue is
// empty; once jobs name one, a row per (namespace, queue) follows without changing the callers.
#ifndef JOBSYNC_DIFF_IMPACT_H_
#define JOBSYNC_DIFF_IMPACT_H_

#include <compare>
#include <string>
#include <vector>

#include "diff/plan.h"

namespace jobsync {

// A resource amount (a count, or thousandths of a unit). 128 bits: a sum of replicas x per-replica
// amounts below 2^63 thousandths cannot overflow it. (__extension__: a GCC and Clang type that
// -Wpedantic names.)
__extension__ typedef __int128 ResourceAmount;

// Requested resources of some jobs. Values in thousandths: cpu in millicores, memory in
// millibytes; gpus are whole devices.
struct ResourceTotals {
  ResourceAmount gpus = 0;
  ResourceAmount cpu_milli = 0;
  ResourceAmount memory_milli = 0;

  friend bool operator==(const ResourceTotals&, const ResourceTotals&) = default;
};

// Where requested resources are counted.
struct ImpactKey {
  std::string namespace_name;
  std::string queue;  // always empty until manifests name a queue

  // "vision", or "vision/queue" once there is a queue.
  std::string ToString() const;
  friend auto operator<=>(const ImpactKey&, const ImpactKey&) = default;
};

// One row of the impact: the requests of the jobs of one key before and after the plan.
struct ImpactRow {
  ImpactKey key;
  ResourceTotals before;
  ResourceTotals after;
  ResourceTotals before_max;  // elastic maxima
  ResourceTotals after_max;

  bool Changes() const { return before != after || before_max != after_max; }
};

// The impact of `plan`, one row per key that requests something on either side, ordered by key.
std::vector<ImpactRow> ComputeImpact(const Plan& plan);

// Formatting, shared by the renderers. Exact: no rounding.
// "32", "0.5", "12.25": CPUs from millicores.
std::string FormatCpus(ResourceAmount milli);
// "64Gi", "1536Mi", "1000", "0.5": memory from millibytes, in the largest binary unit (Ki..Ei)
// that divides it, else in bytes.
std::string FormatMemory(ResourceAmount milli);
// "32": a whole number.
std::string FormatCount(ResourceAmount value);
// "+32", "-0.5", "+0": `format` applied to the magnitude of a difference, with its sign.
std::string FormatDelta(ResourceAmount delta, std::string (*format)(ResourceAmount));

// One line per row that changes, e.g.
//   "vision: +32 GPUs (0 -> 32; elastic max 64), +128 CPUs (0 -> 128), +512Gi memory
//   (0 -> 512Gi)".
// Rows whose requests stay the same are left out; none at all gives an empty vector.
std::vector<std::string> ImpactLines(const std::vector<ImpactRow>& rows);

}  // namespace jobsync

#endif  // JOBSYNC_DIFF_IMPACT_H_
