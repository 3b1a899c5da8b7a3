// Where the agent's memory goes per Kubernetes job (issue #24): the heap bytes each structure
// the agent holds between cycles takes, per job, for a repository made by bench/generate_repo.py
// (`--kubernetes-only --one-replica`, as bench/agent_at_scale.sh makes it).
//
//   desired spec        the loaded manifests (LoadManifestPaths: what a snapshot holds)
//   whole Job object    one role's batch/v1 Job as rendered (what the apiserver sends back,
//                       less managedFields and status): for scale, not held by the agent
//   as cached           the watch cache's entry (CachedJobOf): the Job's record and the applied
//                       spec, shared with the desired one
//   another instance's  the watch cache's entry of another instance's Job (its record only)
//   applied spec        the parsed applied spec, one per Job version (AppliedSpecCache)
//   live job            a LiveJob of a listing (sharing the applied spec)
//   spec annotation     the canonical spec text a Job object carries (not kept by the cache)
//   shared applied spec the applied specs when they are the desired ones (SharedSpecs offered
//                       the loaded jobs, as the agent does): the index that finds them
//
//   last listing        what the backend keeps of one listing for the next (JobListing)
//
// And two times: the CPU the listing of the cached Jobs takes when nothing changed (what every
// cycle that plans does before planning), median of 9: read whole (LiveJobsFromObjects), and
// from the last listing (ListCachedJobs, as the agent lists).
//
// Heap bytes are glibc's mallinfo2 (in use by the program, arena and mmapped), measured around
// building each structure for all N jobs and divided by N.
// Usage: memory_breakdown REPO_DIR   (prints JSON lines)
#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>
#include <unordered_set>
#include <vector>

#include <malloc.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "backends/kubernetes/mapping.h"
#include "bench/thread_cpu.h"
#include "schemas/canonical.h"
#include "schemas/loader.h"
#include "schemas/schema_validator.h"
#include "schemas/shared_specs.h"

namespace jobsync {
namespace {

using nlohmann::json;

size_t HeapInUse() {
  malloc_trim(0);
  const struct mallinfo2 info = mallinfo2();
  return info.uordblks + info.hblkhd;
}

void Print(const char* what, size_t bytes, size_t jobs) {
  std::printf("%s\n", json{{"structure", what},
                           {"jobs", jobs},
                           {"total_mb", static_cast<double>(bytes) / (1024.0 * 1024.0)},
                           {"bytes_per_job", jobs == 0 ? 0 : bytes / jobs}}
                          .dump()
                          .c_str());
}

// The median, least and most of 9 timings, as one JSON line.
void PrintTiming(const char* what, size_t jobs, std::vector<double> cpu_ms) {
  std::sort(cpu_ms.begin(), cpu_ms.end());
  std::printf("%s\n", json{{"timing", what},
                           {"jobs", jobs},
                           {"median_ms", cpu_ms[cpu_ms.size() / 2]},
                           {"min_ms", cpu_ms.front()},
                           {"max_ms", cpu_ms.back()}}
                          .dump()
                          .c_str());
}

int Main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: memory_breakdown REPO_DIR\n");
    return 2;
  }
  spdlog::set_level(spdlog::level::warn);
  SchemaValidator validator;
  size_t before = HeapInUse();
  LoadResult loaded = LoadManifestPaths({argv[1]}, validator);
  const size_t jobs = loaded.jobs.size();
  if (!loaded.ok() || jobs == 0) {
    std::fprintf(stderr, "memory_breakdown: %s holds no valid jobs\n", argv[1]);
    return 1;
  }
  Print("desired spec (loaded manifests)", HeapInUse() - before, jobs);

  ApplyContext ours{"bench", "0123456789abcdef0123456789abcdef01234567"};
  // One role's Job per job (the repository's jobs have one; the first role otherwise), with the
  // metadata the apiserver adds.
  std::vector<json> whole;
  whole.reserve(jobs);
  before = HeapInUse();
  for (size_t i = 0; i < jobs; ++i) {
    const TrainingJob& job = *loaded.jobs[i];
    StatusOr<json> object = RoleJobObject(job, job.roles.begin()->first, ours);
    if (!object.ok()) {
      std::fprintf(stderr, "memory_breakdown: %s\n", object.status().ToString().c_str());
      return 1;
    }
    json& metadata = (*object)["metadata"];
    metadata["uid"] = "6f1c9b6e-8d0c-4c55-9a57-" + std::to_string(100000000000 + i);
    metadata["resourceVersion"] = std::to_string(1000000 + i);
    metadata["creationTimestamp"] = "2026-12-06T18:00:00Z";
    (*object)["status"] = {{"active", 1}, {"ready", 1}, {"terminating", 0}};
    whole.push_back(std::move(*object));
  }
  Print("whole Job object (not held)", HeapInUse() - before, jobs);

  size_t annotation_bytes = 0;
  for (const auto& job : loaded.jobs) annotation_bytes += CanonicalSpecText(*job).capacity() + 1;
  Print("the spec annotation's text (not cached)", annotation_bytes, jobs);

  {
    std::vector<std::shared_ptr<const CachedObject>> others;
    others.reserve(jobs);
    before = HeapInUse();
    for (const json& object : whole) {
      others.push_back(std::make_shared<const CachedObject>(
          CachedJobOf(object, nullptr, /*read_applied=*/false)));
    }
    Print("another instance's Job (its record, no spec)", HeapInUse() - before, jobs);
  }

  AppliedSpecCache specs;
  before = HeapInUse();
  std::vector<LiveJob> live = LiveJobsFromObjects(whole, &specs);
  const size_t listed = HeapInUse() - before;
  if (live.size() != jobs || specs.size() != jobs) {
    std::fprintf(stderr, "memory_breakdown: %zu live jobs and %zu specs from %zu jobs\n",
                 live.size(), specs.size(), jobs);
    return 1;
  }
  before = HeapInUse();
  live.clear();
  live.shrink_to_fit();
  const size_t live_bytes = before - HeapInUse();
  Print("applied spec (AppliedSpecCache)", listed - live_bytes, jobs);
  Print("live job (a listing)", live_bytes, jobs);

  // The same listing with the desired specs offered (SharedSpecs, as the agent does): the applied
  // specs are the desired objects; the index of them is what remains.
  specs = {};
  before = HeapInUse();
  SharedSpecs shared;
  shared.Offer(loaded.jobs);
  AppliedSpecCache sharing;
  sharing.shared = &shared;
  live = LiveJobsFromObjects(whole, &sharing);
  const size_t held = HeapInUse() - before;
  std::unordered_set<const TrainingJob*> desired;
  for (const auto& job : loaded.jobs) desired.insert(job.get());
  for (const LiveJob& job : live) {
    if (desired.count(job.applied.get()) == 0) {
      std::fprintf(stderr, "memory_breakdown: %s's applied spec is not the desired one\n",
                   job.key.ToString().c_str());
      return 1;
    }
  }
  live.clear();
  live.shrink_to_fit();
  Print("applied spec shared with the desired (SharedSpecs + AppliedSpecCache)", held - live_bytes,
        jobs);

  // A listing of the whole objects again, every applied spec known (each object read into its
  // record again). This thread's CPU time (other load on the machine adds little to it), median
  // of 9.
  std::vector<double> cpu_ms;
  for (int round = 0; round < 9; ++round) {
    const double began = ThreadCpuMs();
    const std::vector<LiveJob> again = LiveJobsFromObjects(RefsOf(whole), &sharing);
    cpu_ms.push_back(ThreadCpuMs() - began);
  }
  PrintTiming("listing whole objects again, nothing changed (thread CPU)", jobs, cpu_ms);

  // The listing the agent makes (ListCachedJobs): the last listing is kept, and only the jobs
  // whose cached objects changed since are read again; here none. Its bytes are what the
  // backend keeps between cycles for that.
  // The watch cache's entries as the agent makes them (CachedJobOf): each Job's applied spec
  // read as it is cached (the desired job, SharedSpecs), the annotation's text not kept.
  std::vector<std::shared_ptr<const CachedObject>> watch_cache;
  watch_cache.reserve(whole.size());
  before = HeapInUse();
  for (const json& object : whole) {
    watch_cache.push_back(std::make_shared<const CachedObject>(CachedJobOf(object, &shared)));
  }
  Print("cached Job as the agent caches it (CachedJobOf: its record, the desired spec)",
        HeapInUse() - before, jobs);
  whole.clear();
  whole.shrink_to_fit();
  JobListing last;
  before = HeapInUse();
  live = ListCachedJobs(watch_cache, &last);
  const size_t with_listing = HeapInUse() - before;
  live.clear();
  live.shrink_to_fit();
  Print("the last listing, kept for the next (JobListing)", with_listing - live_bytes, jobs);
  cpu_ms.clear();
  for (int round = 0; round < 9; ++round) {
    const double began = ThreadCpuMs();
    const std::vector<LiveJob> again = ListCachedJobs(watch_cache, &last);
    cpu_ms.push_back(ThreadCpuMs() - began);
  }
  PrintTiming("listing again from the last listing, nothing changed (thread CPU)", jobs, cpu_ms);
  return 0;
}

}  // namespace
}  // namespace jobsync

int main(int argc, char** argv) { return jobsync::Main(argc, argv); }
