// This thread's CPU time, for the in-process benchmarks: what a step costs, little changed by
// other load on the machine (unlike wall time on a shared 2-core box).
#ifndef JOBSYNC_BENCH_THREAD_CPU_H_
#define JOBSYNC_BENCH_THREAD_CPU_H_

#include <ctime>

namespace jobsync {

inline double ThreadCpuMs() {
  timespec now{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
  return static_cast<double>(now.tv_sec) * 1e3 + static_cast<double>(now.tv_nsec) / 1e6;
}

}  // namespace jobsync

#endif  // JOBSYNC_BENCH_THREAD_CPU_H_
