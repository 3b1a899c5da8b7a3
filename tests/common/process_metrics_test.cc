#include "common/process_metrics.h"

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

namespace jobsync {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// A /proc tree written by the test: proc/stat and proc/self/{stat,limits,fd/}.
class FakeProc {
 public:
  FakeProc() {
    std::string pattern = (std::filesystem::temp_directory_path() / "proc-XXXXXX").string();
    root_ = mkdtemp(pattern.data());
    std::filesystem::create_directories(root_ / "self" / "fd");
  }
  ~FakeProc() { std::filesystem::remove_all(root_); }
  FakeProc(const FakeProc&) = delete;
  FakeProc& operator=(const FakeProc&) = delete;

  void Write(const std::string& relative, const std::string& text) const {
    std::ofstream(root_ / relative) << text;
  }
  std::string path() const { return root_.string(); }

 private:
  std::filesystem::path root_;
};

double Ticks() { return static_cast<double>(sysconf(_SC_CLK_TCK)); }
double Page() { return static_cast<double>(sysconf(_SC_PAGESIZE)); }

// proc(5): pid (comm) state, then fields 4..; utime 14, stime 15, starttime 22, vsize 23, rss 24.
// The command name holds spaces and a parenthesis, as a process may name itself.
constexpr const char* kStat =
    "4242 (job sync) x) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 150 0 0 20 0 9 0 "
    "3000 123456789 2048 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n";

TEST(ProcessMetricsTest, ReadsEveryValueFromProc) {
  FakeProc proc;
  proc.Write("stat", "cpu  1 2 3\nintr 5\nbtime 1700000000\nprocesses 9\n");
  proc.Write("self/stat", kStat);
  proc.Write("self/limits",
             "Limit                     Soft Limit           Hard Limit           Units     \n"
             "Max processes             63704                63704                processes \n"
             "Max open files            1024                 524288               files     \n");
  for (const char* fd : {"0", "1", "2", "7"}) proc.Write(std::string("self/fd/") + fd, "");

  ProcessSample sample = ReadProcessSample(proc.path());
  ASSERT_TRUE(sample.cpu_seconds && sample.resident_bytes && sample.virtual_bytes &&
              sample.open_fds && sample.max_fds && sample.start_time_seconds);
  EXPECT_DOUBLE_EQ(*sample.cpu_seconds, 400 / Ticks());
  EXPECT_DOUBLE_EQ(*sample.virtual_bytes, 123456789);
  EXPECT_DOUBLE_EQ(*sample.resident_bytes, 2048 * Page());
  EXPECT_DOUBLE_EQ(*sample.start_time_seconds, 1700000000 + 3000 / Ticks());
  EXPECT_EQ(*sample.open_fds, 4);
  EXPECT_EQ(*sample.max_fds, 1024) << "the soft limit, as setrlimit enforces it";
}

TEST(ProcessMetricsTest, LeavesOutWhatCannotBeRead) {
  FakeProc proc;
  proc.Write("self/stat", "4242 (truncated");
  proc.Write("self/limits", "Max open files            unlimited            unlimited    files\n");

  ProcessSample sample = ReadProcessSample(proc.path());
  EXPECT_FALSE(sample.cpu_seconds);
  EXPECT_FALSE(sample.resident_bytes);
  EXPECT_FALSE(sample.start_time_seconds);
  EXPECT_FALSE(sample.max_fds) << "unlimited has no number";
  EXPECT_EQ(sample.open_fds, 0);

  Metrics metrics;
  DeclareProcessMetrics(metrics);
  UpdateProcessMetrics(metrics, proc.path());
  EXPECT_THAT(metrics.Render(), Not(HasSubstr("\nprocess_cpu_seconds_total ")));
  EXPECT_THAT(metrics.Render(), HasSubstr("process_open_fds 0\n"));
}

TEST(ProcessMetricsTest, ThisProcessIsRenderedWithPrometheusNamesAndTypes) {
  Metrics metrics;
  DeclareProcessMetrics(metrics);
  UpdateProcessMetrics(metrics);
  const std::string text = metrics.Render();
  EXPECT_THAT(text, HasSubstr("# TYPE process_cpu_seconds_total counter\n"));
  for (const char* gauge : {"process_resident_memory_bytes", "process_virtual_memory_bytes",
                            "process_open_fds", "process_max_fds", "process_start_time_seconds"}) {
    EXPECT_THAT(text, HasSubstr(std::string("# TYPE ") + gauge + " gauge\n"));
    EXPECT_GT(metrics.Value(gauge, {}), 0) << gauge;
  }
  const double now =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  EXPECT_LE(metrics.Value("process_start_time_seconds", {}), now);
  EXPECT_GT(metrics.Value("process_start_time_seconds", {}), now - 3600)
      << "a test process started within the hour";
  EXPECT_GT(metrics.Value("process_resident_memory_bytes", {}), 1 << 20);
}

TEST(ProcessMetricsTest, TheCpuCounterFollowsTheKernelsTotal) {
  FakeProc proc;
  proc.Write("self/stat", kStat);
  Metrics metrics;
  DeclareProcessMetrics(metrics);
  UpdateProcessMetrics(metrics, proc.path());
  UpdateProcessMetrics(metrics, proc.path());
  EXPECT_DOUBLE_EQ(metrics.Value("process_cpu_seconds_total", {}), 400 / Ticks())
      << "set to the total at each scrape, not added to";
}

TEST(BuildInfoTest, IsOneSeriesWithVersionRevisionAndCompiler) {
  Metrics metrics;
  RecordBuildInfo(metrics);
  const BuildInfo build = ThisBuild();
  EXPECT_EQ(build.version, JOBSYNC_VERSION);
  EXPECT_THAT(build.compiler, ::testing::MatchesRegex("(gcc|clang) [0-9]+\\.[0-9]+\\.[0-9]+"));
  EXPECT_THAT(build.revision, ::testing::MatchesRegex("[0-9a-f]{40}|unknown"));
  EXPECT_EQ(metrics.Value("jobsync_build_info", {{"version", build.version},
                                                 {"revision", build.revision},
                                                 {"compiler", build.compiler}}),
            1);
  EXPECT_THAT(metrics.Render(), HasSubstr("# TYPE jobsync_build_info gauge\n"));
}

}  // namespace
}  // namespace jobsync
