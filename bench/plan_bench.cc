// In-process benchmarks of the plan path and of the agent's no-op cycle, on a repository made by
// bench/generate_repo.py (its last commit changes one file):
//
//   cold plan      a new Git source (empty parse cache) loads HEAD~1 and HEAD and plans HEAD
//                  against HEAD~1 as if applied: parse + validate + diff, as `jobsync plan
//                  --from HEAD~1 --to HEAD` does after its fetch.
//   warm re-plan   the same source loads HEAD again (nothing changed: every file from the blob
//                  cache) and plans against live jobs made beforehand (a backend's listing).
//   one-file change  a source warmed at HEAD~1 loads HEAD (one file changed) and plans: the time
//                  from a new commit (fetched) to its plan.
//   no-op cycle    the agent's Reconciler::SyncOnce with the repository unchanged and every job
//                  live as applied (an in-memory backend standing for the watch cache and for
//                  Ray's listing digest, both unchanged): Git ls-remote (a child process), and
//                  plan and status unless nothing changed. CPU time of the process and of its
//                  children. Ray's one listing request per cycle is not in this figure.
//                  Also split into its load and its plan, each as this thread's CPU time.
//   peak RSS       of the whole run (getrusage), after the above at this N.
//
// Usage: plan_bench REPO JOBSYNC_BINARY [REPEAT] [agent]
// With "agent", only the no-op cycle runs, so that the peak RSS is the agent's alone.
// (the jobsync binary runs the Git source's network operations). Prints one JSON object per
// scenario: median, min and max in ms over the runs.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <unistd.h>

#include "agent/git/git_source.h"
#include "agent/sync/clusters.h"
#include "agent/sync/reconciler.h"
#include "agent/sync/state_store.h"
#include "bench/thread_cpu.h"
#include "common/metrics.h"
#include "diff/plan.h"
#include "schemas/schema_validator.h"

namespace jobsync {
namespace {

// Live jobs held in memory: what ListJobs returns from a watch cache, without the network.
class CachedBackend : public Backend {
 public:
  CachedBackend(BackendKind kind, std::vector<LiveJob> jobs)
      : kind_(kind), jobs_(std::move(jobs)) {}
  BackendKind kind() const override { return kind_; }
  StatusOr<std::vector<LiveJob>> ListJobs() override { return jobs_; }
  Status Apply(const PlanStep& step, const ApplyContext&) override {
    ++applies;
    return InternalError("the benchmark's cycle must be a no-op, but planned " +
                         std::string(ActionName(step.action)) + " " + step.key.ToString());
  }
  StatusOr<Health> GetHealth(const JobKey&) override { return Health::kHealthy; }
  // Kubernetes answers from a watch cache whose generation says whether anything changed; Ray
  // from a digest of one listing (RayBackend::LiveVersion: one request per cycle, not made here).
  std::optional<uint64_t> LiveVersion() override { return 1; }
  int applies = 0;

 private:
  BackendKind kind_;
  std::vector<LiveJob> jobs_;
};

double Ms(std::chrono::steady_clock::duration d) {
  return std::chrono::duration<double, std::milli>(d).count();
}

double CpuMs(int who) {
  rusage usage{};
  getrusage(who, &usage);
  return (usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) * 1000.0 +
         (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1000.0;
}

// CPU time of this process, of its children that ended, and of those still running (the Git
// helper serves many operations, so getrusage's RUSAGE_CHILDREN alone would miss it; /proc counts
// in clock ticks, so this is read over many cycles).
double AllCpuMs() {
  double total = CpuMs(RUSAGE_SELF) + CpuMs(RUSAGE_CHILDREN);
  const double tick_ms = 1000.0 / static_cast<double>(sysconf(_SC_CLK_TCK));
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    std::ifstream in(entry.path() / "stat");
    std::string text;
    if (!std::getline(in, text)) continue;
    size_t close = text.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream fields(text.substr(close + 2));
    std::string state;
    long ppid = 0;
    fields >> state >> ppid;
    if (ppid != getpid()) continue;
    std::string skip;
    for (int i = 0; i < 9; ++i) fields >> skip;  // pgrp .. cmajflt
    double utime = 0;
    double stime = 0;
    fields >> utime >> stime;
    total += (utime + stime) * tick_ms;
  }
  return total;
}

nlohmann::json Summary(const std::string& name, std::vector<double> samples,
                       nlohmann::json extra = nlohmann::json::object()) {
  std::sort(samples.begin(), samples.end());
  extra["scenario"] = name;
  extra["median_ms"] = samples[samples.size() / 2];
  extra["min_ms"] = samples.front();
  extra["max_ms"] = samples.back();
  extra["runs"] = samples.size();
  return extra;
}

void Check(const Status& status, const char* what) {
  if (status.ok()) return;
  std::fprintf(stderr, "plan_bench: %s: %s\n", what, status.ToString().c_str());
  std::exit(1);
}

int Main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: plan_bench REPO JOBSYNC_BINARY [REPEAT]\n");
    return 2;
  }
  spdlog::set_level(spdlog::level::warn);
  const std::string repo = std::filesystem::absolute(argv[1]).string();
  const std::string helper = std::filesystem::absolute(argv[2]).string();
  const int repeat = argc > 3 ? std::max(1, std::atoi(argv[3])) : 5;
  const std::filesystem::path scratch =
      std::filesystem::temp_directory_path() / ("jobsync-bench-" + std::to_string(getpid()));
  SchemaValidator validator;
  // A source at a fixed revision, or following the branch (rev empty) as the agent does.
  auto make_source = [&](const std::string& rev) {
    GitSourceOptions options;
    options.repo = repo;
    options.rev = rev;
    if (rev.empty()) options.branch = "main";
    options.cache_root = (scratch / "cache").string();
    options.helper_binary = helper;
    StatusOr<std::unique_ptr<GitSource>> source = NewGitSource(options, validator);
    Check(source.status(), "git source");
    return std::move(*source);
  };
  // The two commits, fetched once into the cache (fetching is not what is measured).
  std::string head;
  std::string base;
  {
    auto source = make_source("main");
    StatusOr<std::string> fetched = source->Fetch();
    Check(fetched.status(), "fetch");
    head = *fetched;
    auto previous = make_source("main~1");
    StatusOr<std::string> fetched_base = previous->Fetch();
    Check(fetched_base.status(), "fetch HEAD~1");
    base = *fetched_base;
  }
  PlanOptions options;
  options.instance = "bench";
  options.max_delete_share = 1.0;
  const bool agent_only = argc > 4 && std::string(argv[4]) == "agent";
  size_t jobs = 0;
  int changes = 0;

  std::vector<double> cold;
  std::vector<double> warm;
  std::vector<double> one_file;
  std::vector<double> one_file_load_cpu;
  std::vector<double> one_file_plan_cpu;
  for (int r = 0; r < (agent_only ? 0 : repeat); ++r) {
    auto source = make_source(head);
    auto start = std::chrono::steady_clock::now();
    StatusOr<Snapshot> before = source->LoadAt(base);
    StatusOr<Snapshot> after = source->LoadAt(head);
    Check(before.status(), "load HEAD~1");
    Check(after.status(), "load HEAD");
    StatusOr<Plan> plan = BuildPlan(
        after->manifests, LiveAsApplied(before->manifests, before->commit.id, "bench"), options);
    Check(plan.status(), "plan");
    cold.push_back(Ms(std::chrono::steady_clock::now() - start));
    jobs = after->manifests.jobs.size();
    changes = plan->Count(Action::kScale) + plan->Count(Action::kUpdate);

    const std::vector<LiveJob> live_at_base =
        LiveAsApplied(before->manifests, before->commit.id, "bench");
    start = std::chrono::steady_clock::now();
    StatusOr<Snapshot> again = source->LoadAt(head);
    Check(again.status(), "load HEAD again");
    StatusOr<Plan> replan = BuildPlan(again->manifests, live_at_base, options);
    Check(replan.status(), "re-plan");
    warm.push_back(Ms(std::chrono::steady_clock::now() - start));

    auto incremental = make_source(head);
    StatusOr<Snapshot> warmed = incremental->LoadAt(base);
    Check(warmed.status(), "warm up at HEAD~1");
    std::vector<LiveJob> live = LiveAsApplied(warmed->manifests, warmed->commit.id, "bench");
    start = std::chrono::steady_clock::now();
    const double load_began = ThreadCpuMs();
    StatusOr<Snapshot> next = incremental->LoadAt(head);
    Check(next.status(), "load the new commit");
    const double plan_began = ThreadCpuMs();
    StatusOr<Plan> next_plan = BuildPlan(next->manifests, live, options);
    Check(next_plan.status(), "plan the new commit");
    one_file_plan_cpu.push_back(ThreadCpuMs() - plan_began);
    one_file_load_cpu.push_back(plan_began - load_began);
    one_file.push_back(Ms(std::chrono::steady_clock::now() - start));
  }
  if (!agent_only) {
    std::printf("%s\n", Summary("cold plan (parse + validate + diff)", cold,
                                {{"jobs", jobs}, {"changes", changes}})
                            .dump()
                            .c_str());
    std::printf("%s\n", Summary("warm re-plan (nothing changed)", warm).dump().c_str());
    std::printf("%s\n", Summary("one-file change: new commit to plan", one_file).dump().c_str());
    std::printf("%s\n",
                Summary("one-file change: load, thread CPU", one_file_load_cpu).dump().c_str());
    std::printf("%s\n",
                Summary("one-file change: plan, thread CPU", one_file_plan_cpu).dump().c_str());
  }

  // The agent's no-op cycle: live == Git at HEAD, applied by this instance.
  {
    auto source = make_source("");
    StatusOr<Snapshot> snapshot = source->LoadAt(head);
    Check(snapshot.status(), "load HEAD for the agent");
    std::vector<LiveJob> kube;
    std::vector<LiveJob> ray;
    for (LiveJob& job : LiveAsApplied(snapshot->manifests, snapshot->commit.id, "bench")) {
      (job.key.backend == BackendKind::kRay ? ray : kube).push_back(std::move(job));
    }
    const bool ray_backend_empty = ray.empty();
    CachedBackend kube_backend(BackendKind::kKubernetes, std::move(kube));
    CachedBackend ray_backend(BackendKind::kRay, std::move(ray));
    std::unique_ptr<StateStore> store = NewFileStateStore((scratch / "state.json").string());
    Metrics metrics;
    ReconcilerOptions agent;
    agent.plan = options;
    // Only the backends the repository uses are configured, as an operator would.
    std::vector<Backend*> configured = {&kube_backend};
    if (!ray_backend_empty) configured.push_back(&ray_backend);
    Reconciler reconciler(*source, configured, {}, *store, metrics, agent);
    Check(reconciler.Start(), "agent start");
    Check(reconciler.SyncOnce(), "first cycle");   // loads the snapshot: not a no-op
    Check(reconciler.SyncOnce(), "second cycle");  // plans once more, then knows it is quiet
    std::vector<double> wall;
    std::vector<double> cpu;
    const int cycles = 50;
    for (int r = 0; r < repeat; ++r) {
      double cpu_before = AllCpuMs();
      for (int c = 0; c < cycles; ++c) {
        auto start = std::chrono::steady_clock::now();
        Check(reconciler.SyncOnce(), "no-op cycle");
        wall.push_back(Ms(std::chrono::steady_clock::now() - start));
      }
      cpu.push_back((AllCpuMs() - cpu_before) / cycles);
    }
    if (kube_backend.applies + ray_backend.applies != 0) return 1;
    std::vector<double> check_cpu;
    for (int r = 0; r < repeat; ++r) {
      double cpu_before = AllCpuMs();
      for (int c = 0; c < cycles; ++c) Check(source->CheckForChange().status(), "ls-remote");
      check_cpu.push_back((AllCpuMs() - cpu_before) / cycles);
    }
    std::printf(
        "%s\n",
        Summary("of which Git ls-remote: CPU (process + git helper)", check_cpu).dump().c_str());
    std::printf("%s\n", Summary("agent no-op cycle: wall", wall).dump().c_str());
    std::printf("%s\n", Summary("agent no-op cycle: CPU per cycle (process + git helper), mean of "
                                "50 cycles per run",
                                cpu)
                            .dump()
                            .c_str());
  }
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  std::printf("%s\n",
              nlohmann::json{{"scenario", agent_only ? "peak RSS (agent only)" : "peak RSS"},
                             {"mb", usage.ru_maxrss / 1024.0}}
                  .dump()
                  .c_str());
  std::filesystem::remove_all(scratch);
  return 0;
}

}  // namespace
}  // namespace jobsync

int main(int argc, char** argv) { return jobsync::Main(argc, argv); }
