// The standard process metrics of Prometheus' client libraries ("standard exports"), read from
// Linux's /proc at each scrape, and jobsync_build_info, which says what binary is running.
//
//   process_cpu_seconds_total       counter  user and system CPU time (/proc/self/stat)
//   process_resident_memory_bytes   gauge    resident set size (/proc/self/stat, in pages)
//   process_virtual_memory_bytes    gauge    virtual memory size (/proc/self/stat)
//   process_open_fds                gauge    entries of /proc/self/fd
//   process_max_fds                 gauge    the soft limit "Max open files" (/proc/self/limits)
//   process_start_time_seconds      gauge    boot time (/proc/stat btime) + start time in ticks
//   jobsync_build_info              gauge 1  labels version, revision (the Git commit built, or
//                                            "unknown"), compiler
//
// Not thread-safe by themselves; Metrics is, so concurrent scrapes each set whole values.
#ifndef JOBSYNC_COMMON_PROCESS_METRICS_H_
#define JOBSYNC_COMMON_PROCESS_METRICS_H_

#include <optional>
#include <string>

#include "common/metrics.h"

namespace jobsync {

// What /proc says about one process; a value is absent when its file could not be read or
// parsed (then its metric keeps its last value, or has no series yet).
struct ProcessSample {
  std::optional<double> cpu_seconds;
  std::optional<double> resident_bytes;
  std::optional<double> virtual_bytes;
  std::optional<double> open_fds;
  std::optional<double> max_fds;  // absent too when the limit is "unlimited"
  std::optional<double> start_time_seconds;
};

// Reads `proc`/`pid`/{stat,limits,fd} and `proc`/stat. Clock ticks and the page size are this
// machine's (sysconf). Never fails: what cannot be read is left absent.
ProcessSample ReadProcessSample(const std::string& proc = "/proc", const std::string& pid = "self");

// Declares the process metrics (no series until UpdateProcessMetrics).
void DeclareProcessMetrics(Metrics& metrics);

// Sets the process metrics from a fresh ReadProcessSample(proc): call before each Render.
void UpdateProcessMetrics(Metrics& metrics, const std::string& proc = "/proc");

// What this binary is.
struct BuildInfo {
  std::string version;   // the CMake project version, as `jobsync --version` says it
  std::string revision;  // the Git commit the build was made from; "unknown" outside a checkout
  std::string compiler;  // "gcc 12.2.0", "clang 14.0.6"
};
BuildInfo ThisBuild();

// Declares jobsync_build_info and sets its one series, labelled with ThisBuild(), to 1.
void RecordBuildInfo(Metrics& metrics);

}  // namespace jobsync

#endif  // JOBSYNC_COMMON_PROCESS_METRICS_H_
