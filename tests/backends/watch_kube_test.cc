// Lists and watches against the real local kube-apiserver (client.h, "Lists and watches"): a
// watch stalled by a proxy that stops forwarding is restarted and counted; a watch resumed from a
// version compacted away (etcd; on the second cluster, whose apiserver has no watch cache) gets
// 410 Gone and the cache is listed afresh; a first list of 10,000 Jobs is read in pages. Needs
// `scripts/cluster up
// && eval "$(scripts/cluster env)"`; fails, never skips, without it. Each test works in its own
// namespace watch-*, deleted after.
#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backends/kubernetes/kubernetes_backend.h"
#include "backends/kubernetes/mapping.h"
#include "common/metrics.h"
#include "test_jobs.h"
#include "tests/backends/kubernetes/kube_test_util.h"

extern char** environ;

namespace jobsync {
namespace {

using ::jobsync::testing::Eventually;
using ::jobsync::testing::kHowToStart;
using ::jobsync::testing::Shell;
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;
using std::chrono::seconds;

const ApplyContext kOurs{"watch-it", "rev-1"};

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// tests/backends/stall_proxy.py in front of the apiserver, stopped (SIGTERM to its pid) when
// this goes.
class StallProxy {
 public:
  // Starts it in front of `target` (host:port) and waits until it listens.
  static ::testing::AssertionResult Start(const std::string& target,
                                          std::unique_ptr<StallProxy>* out) {
    auto proxy = std::unique_ptr<StallProxy>(new StallProxy());
    proxy->port_file_ = "/tmp/jobsync-watch-proxy-" + std::to_string(getpid()) + ".ports";
    std::remove(proxy->port_file_.c_str());
    const std::string script = std::string(JOBSYNC_SOURCE_DIR) + "/tests/backends/stall_proxy.py";
    std::vector<std::string> args = {"python3", script, target, proxy->port_file_};
    std::vector<char*> argv;
    for (std::string& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    if (posix_spawnp(&proxy->pid_, "python3", nullptr, nullptr, argv.data(), environ) != 0) {
      return ::testing::AssertionFailure() << "cannot start python3 " << script;
    }
    const bool listening = Eventually(
        [&] {
          std::ifstream in(proxy->port_file_);
          return static_cast<bool>(in >> proxy->port_ >> proxy->control_port_);
        },
        seconds(10));
    if (!listening) return ::testing::AssertionFailure() << script << " did not start listening";
    *out = std::move(proxy);
    return ::testing::AssertionSuccess();
  }
  ~StallProxy() {
    kill(pid_, SIGTERM);
    waitpid(pid_, nullptr, 0);
    std::remove(port_file_.c_str());
  }

  int port() const { return port_; }

  // Sends `command` (freeze, blackhole, heal) to the control port.
  ::testing::AssertionResult Command(const std::string& command) const {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<uint16_t>(control_port_));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    std::string answer;
    if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0) {
      const std::string line = command + "\n";
      if (write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size())) {
        char c = 0;
        while (read(fd, &c, 1) == 1 && c != '\n') answer += c;
      }
    }
    close(fd);
    if (answer.rfind("ok", 0) != 0) {
      return ::testing::AssertionFailure() << "proxy " << command << ": '" << answer << "'";
    }
    return ::testing::AssertionSuccess();
  }

 private:
  StallProxy() = default;
  pid_t pid_ = 0;
  int port_ = 0;
  int control_port_ = 0;
  std::string port_file_;
};

class WatchKubeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* kubeconfig = std::getenv("KUBECONFIG");
    ASSERT_TRUE(kubeconfig != nullptr && *kubeconfig != '\0')
        << "KUBECONFIG is not set; " << kHowToStart;
    ASSERT_TRUE(Shell("kubectl get --raw /readyz").has_value())
        << "the kube-apiserver does not answer; " << kHowToStart;
    std::string test = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::string lower;
    for (char c : test.substr(0, 24)) {
      if (std::isupper(static_cast<unsigned char>(c)) && !lower.empty()) lower += '-';
      lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    namespace_ = "watch-" + lower + "-" + std::to_string(getpid());
    direct_ = NewBackend(kubeconfig, nullptr, "");
    ASSERT_NE(direct_, nullptr);
  }

  void TearDown() override {
    proxied_.reset();
    direct_.reset();
    proxy_.reset();
    if (!proxied_kubeconfig_.empty()) std::remove(proxied_kubeconfig_.c_str());
    (void)Shell("kubectl delete namespace " + namespace_ + " --wait=false");
  }

  // A backend for the cluster of `kubeconfig` watching `watch_namespace` (empty: all), its
  // watches lasting 5 s with a 3 s stall margin, its requests timing out after 5 s.
  std::unique_ptr<KubernetesBackend> NewBackend(const std::string& kubeconfig, Metrics* metrics,
                                                const std::string& watch_namespace) {
    KubernetesBackendOptions options;
    if (!watch_namespace.empty()) options.namespaces = {watch_namespace};
    options.watch_timeout = seconds(5);
    options.client.watch_stall_margin = seconds(3);
    options.client.request_timeout = seconds(5);
    options.cache_sync_timeout = seconds(60);
    options.metrics = metrics;
    StatusOr<std::unique_ptr<KubernetesBackend>> backend = KubernetesBackend::FromKubeconfig(
        {kubeconfig, ""}, KubeconfigEnvironment::FromProcess(), options);
    EXPECT_TRUE(backend.ok()) << backend.status().ToString() << "; " << kHowToStart;
    return backend.ok() ? std::move(*backend) : nullptr;
  }

  // Starts the proxy in front of the apiserver and proxied_, a backend that reaches the
  // apiserver through it (a copy of the kubeconfig with the proxy's address) and counts into
  // metrics_.
  void StartProxied() {
    std::optional<std::string> config =
        Shell("kubectl config view --raw --minify --flatten -o json");
    ASSERT_TRUE(config.has_value()) << "kubectl config view failed; " << kHowToStart;
    json kubeconfig = json::parse(*config, nullptr, false);
    ASSERT_TRUE(kubeconfig.is_object());
    json& server = kubeconfig["clusters"][0]["cluster"]["server"];
    const std::string url = server.get<std::string>();
    ASSERT_EQ(url.rfind("https://", 0), 0u) << url;
    ASSERT_TRUE(StallProxy::Start(url.substr(8), &proxy_));
    server = "https://127.0.0.1:" + std::to_string(proxy_->port());
    proxied_kubeconfig_ = "/tmp/jobsync-watch-kubeconfig-" + std::to_string(getpid()) + ".json";
    std::ofstream(proxied_kubeconfig_) << kubeconfig.dump();
    proxied_ = NewBackend(proxied_kubeconfig_, &metrics_, namespace_);
    ASSERT_NE(proxied_, nullptr);
  }

  // A suspended job (no pods) with one role Job, created through the direct backend.
  void CreateJob(const std::string& name) {
    TrainingJob job = ::jobsync::testing::SampleJob(name, namespace_);
    job.roles.erase("ps");
    job.suspend = true;
    PlanStep step;
    step.action = Action::kCreate;
    step.key = job.key();
    step.desired = std::make_shared<const TrainingJob>(job);
    Status created = direct_->Apply(step, kOurs);
    ASSERT_TRUE(created.ok()) << created.ToString();
  }

  // Whether `backend`'s live state holds job `name` of namespace_.
  bool Sees(KubernetesBackend& backend, const std::string& name) {
    StatusOr<std::vector<LiveJob>> live = backend.ListJobs();
    if (!live.ok()) return false;
    for (const LiveJob& job : *live) {
      if (job.key.name == name && job.key.namespace_name == namespace_) return true;
    }
    return false;
  }

  double Restarts(const std::string& reason) const {
    return metrics_.Value(kWatchRestartsMetric, {{"reason", reason}, {"resource", "jobs"}});
  }

  // The version of the newest change in etcd now, as a Job list in namespace_ reports it.
  std::string CurrentVersion() {
    StatusOr<ObjectList> list = direct_->client().List(ResourceKind::kJob, namespace_, "");
    return list.ok() ? list->resource_version : "";
  }

  std::string namespace_;
  Metrics metrics_;
  std::unique_ptr<StallProxy> proxy_;
  std::string proxied_kubeconfig_;
  std::unique_ptr<KubernetesBackend> direct_;
  std::unique_ptr<KubernetesBackend> proxied_;
};

TEST_F(WatchKubeTest, ListsAndWatchesLeaveOutManagedFieldsAndWithoutTemplatesPodTemplates) {
  ASSERT_NO_FATAL_FAILURE(CreateJob("lean"));
  // The apiserver has both: kubectl shows them.
  std::optional<std::string> shown =
      Shell("kubectl get job lean-worker -n " + namespace_ + " -o json --show-managed-fields");
  ASSERT_TRUE(shown.has_value());
  const json whole = json::parse(*shown, nullptr, false);
  ASSERT_TRUE(whole.contains(json::json_pointer("/metadata/managedFields")));
  ASSERT_TRUE(whole.contains(json::json_pointer("/spec/template")));
  KubernetesClient& client = direct_->client();
  auto listed = [&](bool without_templates) {
    std::vector<json> items;
    StatusOr<std::string> version = client.ListEach(
        ResourceKind::kJob, namespace_, "", [&](json&& item) { items.push_back(std::move(item)); },
        [&] { items.clear(); }, without_templates);
    EXPECT_TRUE(version.ok()) << version.status().ToString();
    EXPECT_EQ(items.size(), 1u);
    return items.empty() ? json() : items[0];
  };
  const json plain = listed(false);
  EXPECT_FALSE(plain["metadata"].contains("managedFields"));
  EXPECT_TRUE(plain["spec"].contains("template")) << "a plain list lost the pod template";
  EXPECT_EQ(plain["metadata"]["labels"], whole["metadata"]["labels"]);
  const json lean = listed(true);
  EXPECT_FALSE(lean["metadata"].contains("managedFields"));
  EXPECT_FALSE(lean["spec"].contains("template"));
  EXPECT_EQ(lean["spec"]["parallelism"], whole["spec"]["parallelism"]);
  EXPECT_EQ(lean["metadata"]["annotations"], whole["metadata"]["annotations"]);

  // A watch from before the Job hands its ADDED event the same way.
  json event;
  HttpCancellation cancel;
  Status watched = client.Watch(
      ResourceKind::kJob, namespace_, "", "0", seconds(2),
      [&](const json& e) {
        if (e.value("type", "") != "ADDED") return true;
        event = e;
        return false;
      },
      cancel, /*without_templates=*/true);
  ASSERT_TRUE(watched.ok()) << watched.ToString();
  ASSERT_TRUE(event.is_object()) << "no ADDED event";
  EXPECT_EQ(event["object"]["metadata"]["name"], "lean-worker");
  EXPECT_FALSE(event["object"]["metadata"].contains("managedFields"));
  EXPECT_FALSE(event["object"]["spec"].contains("template"));
  EXPECT_EQ(event["object"]["spec"]["parallelism"], whole["spec"]["parallelism"]);
}

TEST_F(WatchKubeTest, AStalledWatchIsRestartedAndTheCacheCatchesUp) {
  ASSERT_NO_FATAL_FAILURE(StartProxied());
  ASSERT_NO_FATAL_FAILURE(CreateJob("before"));
  ASSERT_TRUE(Eventually([&] { return Sees(*proxied_, "before"); }, seconds(30)));
  ASSERT_EQ(Restarts("stalled"), 0);

  // Every connection goes silent without closing, those open now (the watch's among them) and
  // those opened later, until the stall is counted; then new connections work again.
  ASSERT_TRUE(proxy_->Command("blackhole"));
  const auto frozen = Clock::now();
  ASSERT_NO_FATAL_FAILURE(CreateJob("after"));
  // The watch's last line came at the latest at the freeze (or it started after it): restarted
  // within its timeout plus the margin, 5 + 3 s.
  ASSERT_TRUE(Eventually([&] { return Restarts("stalled") >= 1; }, seconds(8 + 2)))
      << "no stalled watch counted " << Seconds(Clock::now() - frozen) << " s after the freeze";
  const double restarted = Seconds(Clock::now() - frozen);
  EXPECT_FALSE(Sees(*proxied_, "after")) << "the change came through a frozen connection";
  ASSERT_TRUE(proxy_->Command("heal"));
  // The restarted watch may first be handed another frozen keep-alive connection (one more
  // stall each); then the change made during the stall arrives.
  ASSERT_TRUE(Eventually([&] { return Sees(*proxied_, "after"); }, seconds(60)));
  const double caught_up = Seconds(Clock::now() - frozen);
  std::cout << "stall counted " << restarted << " s after the freeze; the change seen after "
            << caught_up << " s; stalled restarts: " << Restarts("stalled") << "\n";
  EXPECT_EQ(Restarts("gone"), 0);
  EXPECT_EQ(proxied_->list_requests(), 1) << "a stall resumes the watch; it does not list";
}

// `name` from the environment, or `otherwise` when it is unset.
std::string Env(const char* name, const std::string& otherwise) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? value : otherwise;
}

// Sends `request` (a JSON body) to etcd's JSON gateway ($JOBSYNC_ETCD_URL) with the apiserver's
// etcd client certificate ($JOBSYNC_CLUSTER_PKI, else pki/ beside $KUBECONFIG); the answer, or
// null.
json Etcd(const std::string& path, const json& request) {
  const std::string config = Env("KUBECONFIG", "");
  const std::string pki =
      Env("JOBSYNC_CLUSTER_PKI", config.substr(0, config.rfind('/')) + "/pki") + "/";
  std::optional<std::string> out = Shell(
      "curl -sS --fail --cacert " + pki + "ca.crt --cert " + pki +
      "apiserver-etcd-client.crt --key " + pki + "apiserver-etcd-client.key -X POST " +
      Env("JOBSYNC_ETCD_URL", "https://127.0.0.1:29379") + path + " -d '" + request.dump() + "'");
  return out ? json::parse(*out, nullptr, false) : json();
}

// Compacts etcd at its current revision; the revision, or 0 on failure.
int64_t CompactEtcd() {
  json status = Etcd("/v3/maintenance/status", json::object());
  const json::json_pointer at("/header/revision");
  if (!status.is_object() || !status.contains(at)) return 0;
  // The gateway writes 64-bit integers as strings.
  const json& revision = status.at(at);
  const int64_t number = revision.is_string()           ? std::stoll(revision.get<std::string>())
                         : revision.is_number_integer() ? revision.get<int64_t>()
                                                        : 0;
  json compacted = Etcd("/v3/kv/compaction", {{"revision", number}, {"physical", true}});
  return compacted.is_object() ? number : 0;
}

// Whether a watch of namespace_'s Jobs from `version` is refused with 410 Gone now.
bool WatchIsGone(KubernetesClient& client, const std::string& namespace_name,
                 const std::string& version) {
  Status watched = client.Watch(
      ResourceKind::kJob, namespace_name, "", version, seconds(1), [](const json&) { return true; },
      HttpCancellation());
  return watched.code() == StatusCode::kFailedPrecondition &&
         watched.message().find("410") != std::string::npos;
}

// The second cluster of scripts/cluster, whose apiserver has no watch cache (--watch-cache=false):
// a watch from a version etcd compacted away is refused with 410 Gone at once. (The first
// apiserver serves Job watches from its watch cache, which keeps serving a compacted version until
// it ages out of the cache's window, 75 s or more; the client sees the same 410 then.)
class SecondClusterWatchKubeTest : public WatchKubeTest {
 protected:
  void SetUp() override {
    const char* second = std::getenv("JOBSYNC_SECOND_KUBECONFIG");
    ASSERT_TRUE(second != nullptr && *second != '\0')
        << "JOBSYNC_SECOND_KUBECONFIG is not set; " << kHowToStart;
    const char* first = std::getenv("KUBECONFIG");
    first_ = first == nullptr ? "" : first;
    setenv("KUBECONFIG", second, 1);
    WatchKubeTest::SetUp();
  }
  void TearDown() override {
    WatchKubeTest::TearDown();
    setenv("KUBECONFIG", first_.c_str(), 1);
  }

 private:
  std::string first_;
};

TEST_F(SecondClusterWatchKubeTest, AVersionCompactedAwayGivesGoneAndAFreshList) {
  ASSERT_NO_FATAL_FAILURE(StartProxied());
  ASSERT_NO_FATAL_FAILURE(CreateJob("old"));
  ASSERT_TRUE(Eventually([&] { return Sees(*proxied_, "old"); }, seconds(30)));

  // The watch goes down: nothing reaches it, nothing is refused. Its version is at most `stale`.
  ASSERT_TRUE(proxy_->Command("blackhole"));
  const std::string stale = CurrentVersion();
  ASSERT_FALSE(stale.empty());
  // Changes it misses: "old" goes, "new" comes.
  PlanStep remove;
  remove.action = Action::kDelete;
  remove.key = {BackendKind::kKubernetes, namespace_, "old"};
  ASSERT_TRUE(direct_->Apply(remove, kOurs).ok());
  ASSERT_NO_FATAL_FAILURE(CreateJob("new"));
  ASSERT_GT(CompactEtcd(), std::stoll(stale)) << "cannot compact etcd through its JSON gateway";
  ASSERT_TRUE(WatchIsGone(direct_->client(), namespace_, stale))
      << "a watch from " << stale << " was still served after etcd compacted past it";

  // The watch comes back: its version is gone, so it lists afresh.
  ASSERT_TRUE(proxy_->Command("heal"));
  const auto healed = Clock::now();
  EXPECT_TRUE(Eventually([&] { return Restarts("gone") >= 1; }, seconds(60)))
      << "no 410 Gone counted";
  EXPECT_TRUE(
      Eventually([&] { return Sees(*proxied_, "new") && !Sees(*proxied_, "old"); }, seconds(60)));
  EXPECT_GE(proxied_->list_requests(), 2) << "no fresh list";
  std::cout << "caught up " << Seconds(Clock::now() - healed) << " s after the proxy healed; "
            << "restarts: stalled " << Restarts("stalled") << ", gone " << Restarts("gone")
            << ", error " << Restarts("error") << "\n";
}

TEST_F(WatchKubeTest, AFirstListOfThousandsOfJobsIsReadInPages) {
  constexpr int kJobs = 3000;  // 6 pages of 500; the 10,000-job figures are bench/agent_at_scale.sh's
  ASSERT_TRUE(
      direct_->client().Create(ResourceKind::kNamespace, "", NamespaceObject(namespace_)).ok());
  // 1. Create the Jobs, suspended (no pods), from 8 threads.
  const auto start = Clock::now();
  std::atomic<int> next{0};
  std::atomic<int> failed{0};
  std::vector<std::thread> creators;
  for (int t = 0; t < 8; ++t) {
    creators.emplace_back([&] {
      for (int i = next++; i < kJobs; i = next++) {
        TrainingJob job = ::jobsync::testing::SampleJob("j" + std::to_string(i), namespace_);
        job.roles.erase("ps");
        job.suspend = true;
        StatusOr<json> object = RoleJobObject(job, "worker", kOurs);
        if (!object.ok() ||
            !direct_->client().Create(ResourceKind::kJob, namespace_, *object).ok()) {
          ++failed;
        }
      }
    });
  }
  for (std::thread& creator : creators) creator.join();
  ASSERT_EQ(failed.load(), 0);
  const double created = Seconds(Clock::now() - start);

  // 2. A backend watching the namespace lists them into its cache, page by page.
  std::unique_ptr<KubernetesBackend> backend =
      NewBackend(std::getenv("KUBECONFIG"), nullptr, namespace_);
  ASSERT_NE(backend, nullptr);
  const auto listing = Clock::now();
  StatusOr<std::vector<LiveJob>> live = backend->ListJobs();
  const double listed = Seconds(Clock::now() - listing);
  ASSERT_TRUE(live.ok()) << live.status().ToString();
  EXPECT_EQ(live->size(), static_cast<size_t>(kJobs));
  const int64_t pages = backend->client().list_pages();
  EXPECT_GE(pages, kJobs / 500) << "the Jobs were not read in pages of 500";
  EXPECT_EQ(backend->list_requests(), 1);
  std::cout << kJobs << " Jobs created in " << created << " s; the first ListJobs took " << listed
            << " s over " << pages << " list pages\n";
}

}  // namespace
}  // namespace jobsync
