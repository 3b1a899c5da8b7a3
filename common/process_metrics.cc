#include "common/process_metrics.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <system_error>
#include <vector>

#include <unistd.h>

#include "common/build_revision.h"  // generated: JOBSYNC_REVISION

#ifndef JOBSYNC_VERSION
#error "JOBSYNC_VERSION must be defined by the build"
#endif

namespace jobsync {
namespace {

constexpr const char* kCpu = "process_cpu_seconds_total";
constexpr const char* kResident = "process_resident_memory_bytes";
constexpr const char* kVirtual = "process_virtual_memory_bytes";
constexpr const char* kOpenFds = "process_open_fds";
constexpr const char* kMaxFds = "process_max_fds";
constexpr const char* kStartTime = "process_start_time_seconds";
constexpr const char* kBuildInfo = "jobsync_build_info";

std::optional<std::string> ReadWhole(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::optional<double> ToNumber(const std::string& word) {
  if (word.empty()) return std::nullopt;
  char* end = nullptr;
  const double value = std::strtod(word.c_str(), &end);
  if (end != word.c_str() + word.size()) return std::nullopt;
  return value;
}

// The fields of /proc/PID/stat after the command name, which is in parentheses and may hold
// spaces and parentheses itself: element 0 is field 3 of proc(5), the state.
std::vector<std::string> StatFields(const std::string& stat) {
  std::vector<std::string> fields;
  const size_t close = stat.rfind(')');
  if (close == std::string::npos) return fields;
  std::istringstream rest(stat.substr(close + 1));
  for (std::string field; rest >> field;) fields.push_back(field);
  return fields;
}

// proc(5)'s field number `n` (1-based, as the manual numbers them) of `fields`.
std::optional<double> StatField(const std::vector<std::string>& fields, size_t n) {
  if (n < 3 || n - 3 >= fields.size()) return std::nullopt;
  return ToNumber(fields[n - 3]);
}

// The number after `key` on the line of `text` starting with it ("btime 1700000000").
std::optional<double> KeyedNumber(const std::string& text, const std::string& key) {
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (!line.starts_with(key)) continue;
    std::istringstream words(line.substr(key.size()));
    std::string word;
    words >> word;
    return ToNumber(word);
  }
  return std::nullopt;
}

std::optional<double> CountEntries(const std::string& directory) {
  std::error_code error;
  std::filesystem::directory_iterator it(directory, error);
  if (error) return std::nullopt;
  double count = 0;
  for (; it != std::filesystem::directory_iterator(); it.increment(error)) {
    if (error) return std::nullopt;
    ++count;
  }
  return count;
}

void SetIfKnown(Metrics& metrics, const char* name, const std::optional<double>& value) {
  if (value) metrics.Set(name, {}, *value);
}

std::string Compiler() {
#if defined(__clang__)
  return "clang " + std::to_string(__clang_major__) + "." + std::to_string(__clang_minor__) + "." +
         std::to_string(__clang_patchlevel__);
#elif defined(__GNUC__)
  return "gcc " + std::to_string(__GNUC__) + "." + std::to_string(__GNUC_MINOR__) + "." +
         std::to_string(__GNUC_PATCHLEVEL__);
#else
  return "unknown";
#endif
}

}  // namespace

ProcessSample ReadProcessSample(const std::string& proc, const std::string& pid) {
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  const double page = static_cast<double>(sysconf(_SC_PAGESIZE));
  const std::string dir = proc + "/" + pid;
  ProcessSample sample;
  if (std::optional<std::string> stat = ReadWhole(dir + "/stat")) {
    const std::vector<std::string> fields = StatFields(*stat);
    std::optional<double> utime = StatField(fields, 14);
    std::optional<double> stime = StatField(fields, 15);
    if (utime && stime) sample.cpu_seconds = (*utime + *stime) / ticks;
    sample.virtual_bytes = StatField(fields, 23);
    if (std::optional<double> rss = StatField(fields, 24)) sample.resident_bytes = *rss * page;
    std::optional<double> start = StatField(fields, 22);
    std::optional<std::string> system = ReadWhole(proc + "/stat");
    std::optional<double> boot = system ? KeyedNumber(*system, "btime") : std::nullopt;
    if (start && boot) sample.start_time_seconds = *boot + *start / ticks;
  }
  sample.open_fds = CountEntries(dir + "/fd");
  if (std::optional<std::string> limits = ReadWhole(dir + "/limits")) {
    sample.max_fds = KeyedNumber(*limits, "Max open files");
  }
  return sample;
}

void DeclareProcessMetrics(Metrics& metrics) {
  metrics.Declare(kCpu, MetricType::kCounter, "Total user and system CPU time spent in seconds.");
  metrics.Declare(kResident, MetricType::kGauge, "Resident memory size in bytes.");
  metrics.Declare(kVirtual, MetricType::kGauge, "Virtual memory size in bytes.");
  metrics.Declare(kOpenFds, MetricType::kGauge, "Number of open file descriptors.");
  metrics.Declare(kMaxFds, MetricType::kGauge, "Maximum number of open file descriptors.");
  metrics.Declare(kStartTime, MetricType::kGauge,
                  "Start time of the process since unix epoch in seconds.");
}

void UpdateProcessMetrics(Metrics& metrics, const std::string& proc) {
  const ProcessSample sample = ReadProcessSample(proc);
  if (sample.cpu_seconds) metrics.SetTotal(kCpu, {}, *sample.cpu_seconds);
  SetIfKnown(metrics, kResident, sample.resident_bytes);
  SetIfKnown(metrics, kVirtual, sample.virtual_bytes);
  SetIfKnown(metrics, kOpenFds, sample.open_fds);
  SetIfKnown(metrics, kMaxFds, sample.max_fds);
  SetIfKnown(metrics, kStartTime, sample.start_time_seconds);
}

BuildInfo ThisBuild() { return {JOBSYNC_VERSION, JOBSYNC_REVISION, Compiler()}; }

void RecordBuildInfo(Metrics& metrics) {
  metrics.Declare(kBuildInfo, MetricType::kGauge,
                  "What is running (value 1; the version, Git revision and compiler are labels)");
  const BuildInfo build = ThisBuild();
  metrics.Set(
      kBuildInfo,
      {{"version", build.version}, {"revision", build.revision}, {"compiler", build.compiler}}, 1);
}

}  // namespace jobsync
